"""A raw MIME e-mail read into what the rules need: sender, subject, text, Message-ID and what the
receiving server's `Authentication-Results` says (RFC 8601).

Only the topmost `Authentication-Results` header is believed: it is the one the receiving server
(Mailgun, the IMAP provider) prepended; any below it came with the message and could be
forged by the sender. DKIM must pass for the sender's domain (`header.d` / `header.i`) and SPF for it
(`smtp.mailfrom`), a subdomain of it counting as the domain.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from html.parser import HTMLParser

MAX_BYTES = 1024 * 1024  # an e-mail signal is a few KB; a megabyte bounds what is parsed


class Unreadable(ValueError):
    """The bytes are not an e-mail the parser can read (the reason is said)."""


@dataclass(frozen=True)
class Auth:
    dkim: str | None  # the result for the sender's domain: pass, fail, none, ... (None: not stated)
    spf: str | None
    header: str | None  # the header as read (for `hoox email test`)

    @property
    def passed(self) -> bool:
        return self.dkim == "pass" and self.spf == "pass"


@dataclass(frozen=True)
class Mail:
    sender: str  # the From address, lower case
    subject: str
    text: str  # the plain text (an HTML-only e-mail's text without its tags)
    message_id: str  # the Message-ID, or sha256 of the bytes when there is none
    auth: Auth
    html_only: bool = False
    parts: list[str] = field(default_factory=list)  # content types read, in order

    @property
    def domain(self) -> str:
        return self.sender.rpartition("@")[2]


class _Text(HTMLParser):
    """The visible text of an HTML part (script and style dropped, blocks on their own lines)."""

    _SKIP = frozenset({"script", "style", "head", "title"})
    _BLOCK = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "table", "td"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def html_text(html: str) -> str:
    p = _Text()
    p.feed(html)
    p.close()
    return re.sub(r"[ \t]+", " ", re.sub(r"\n\s*\n+", "\n", "".join(p.out))).strip()


def _domain_of(value: str) -> str:
    value = value.strip().strip("<>").lower()
    return value.rpartition("@")[2] if "@" in value else value


def _covers(found: str, domain: str) -> bool:
    return bool(found) and (domain == found or domain.endswith("." + found) or found.endswith("." + domain))


_METHOD = re.compile(r"\b(dkim|spf)\s*=\s*([a-z]+)", re.I)
_PROP = re.compile(r"\b(header\.d|header\.i|smtp\.mailfrom|smtp\.helo)\s*=\s*([^\s;()]+)", re.I)


def read_auth(header: str | None, domain: str) -> Auth:
    """The DKIM and SPF results that concern `domain` in one Authentication-Results header."""
    if not header:
        return Auth(None, None, None)
    dkim: str | None = None
    spf: str | None = None
    # Each result is a `method=result prop=value ...` clause between semicolons.
    for clause in re.sub(r"\([^()]*\)", " ", header).split(";"):
        m = _METHOD.search(clause)
        if not m:
            continue
        method, result = m.group(1).lower(), m.group(2).lower()
        props = {k.lower(): _domain_of(v) for k, v in _PROP.findall(clause)}
        if method == "dkim":
            d = props.get("header.d") or props.get("header.i") or ""
            if _covers(d, domain) and dkim != "pass":
                dkim = result
            elif dkim is None:
                dkim = f"{result} for {d or 'another domain'}" if result == "pass" else result
        else:
            d = props.get("smtp.mailfrom") or props.get("smtp.helo") or ""
            if _covers(d, domain) and spf != "pass":
                spf = result
            elif spf is None:
                spf = f"{result} for {d or 'another domain'}" if result == "pass" else result
    return Auth(dkim, spf, header[:500])


def _decode_part(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, AssertionError):  # an unknown or lying charset
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def parse(raw: bytes) -> Mail:
    """`raw` (RFC 5322 bytes) read; Unreadable with the reason when it cannot be."""
    try:
        return _parse(raw)
    except (IndexError, AttributeError, ValueError, LookupError, TypeError, AssertionError) as exc:
        if isinstance(exc, Unreadable):
            raise
        # The stdlib's header parser raises these on some malformed headers (mutation-tested): an
        # unreadable e-mail, never a crash of the route.
        raise Unreadable(f"a header or part could not be decoded ({type(exc).__name__})") from None


def _parse(raw: bytes) -> Mail:
    if len(raw) > MAX_BYTES:
        raise Unreadable(f"the e-mail is {len(raw)} bytes, more than the {MAX_BYTES} read")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if not isinstance(msg, EmailMessage) or not msg.keys():
        raise Unreadable("no e-mail headers were found")
    from_header = str(msg.get("From") or "")
    subject = str(msg.get("Subject") or "")
    sender = parseaddr(from_header)[1].strip().lower()
    if "@" not in sender:
        raise Unreadable("the From header names no e-mail address")
    # The message's own body (RFC 2046 alternatives, attachments and forwarded messages left out).
    plain_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    kinds = [p.get_content_type() for p in (plain_part, html_part) if p is not None]
    if plain_part is not None:
        text = _decode_part(plain_part)  # type: ignore[arg-type]
    elif html_part is not None:
        text = html_text(_decode_part(html_part))  # type: ignore[arg-type]
    else:
        raise Unreadable("the e-mail has no text/plain or text/html body")
    message_id = str(msg.get("Message-ID") or "").strip()
    if not message_id:
        message_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    headers = msg.get_all("Authentication-Results") or []
    auth = read_auth(str(headers[0]) if headers else None, _domain_of(sender))
    return Mail(sender=sender, subject=" ".join(subject.split()), text=text, message_id=message_id[:998],
                auth=auth, html_only=plain_part is None, parts=kinds)
