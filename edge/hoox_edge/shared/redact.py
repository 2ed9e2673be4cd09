"""Strip secrets from anything that is about to be logged, stored or shown.

- `redact` masks sensitive fields and every known secret value (what is logged and stored).
- `preview` / `field_name` quote a bad value or an unknown field name back in an error message:
  a short prefix, never a token that looks like a credential, never a known secret.
- `secret_fields` finds the fields of a request whose name or value *is* a configured secret (the
  caller refuses the request); `stored_payload` is what of a signal may be kept.
- `cap_json` / `cap_text` bound what a stored snippet may weigh (a row, a log, an R2 object).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any

from hoox_edge.shared.memo import Memo

MASK = "***"
# tokenIn / tokenOut name the ERC-20s of a swap signal (public addresses), not credentials.
_SENSITIVE = re.compile(r"(api[-_]?key|secret|token(?!(in|out)$)|signature|password|passphrase|mnemonic|sign$"
                        r"|authorization)", re.IGNORECASE)
# What `_SENSITIVE` matches, as it shows in lowercased ASCII JSON text: a name ending in "sign" is
# followed by its closing quote ("token" counts before "in"/"out" too). A regex search costs far more.
_SENSITIVE_WORDS = ("api-key", "api_key", "apikey", "secret", "token", "signature", 'sign"', "password",
                    "passphrase", "mnemonic", "authorization")
_JSON_PLAIN = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII but the quote and the backslash: JSON writes it as is
MIN_SECRET_CHARS = 4  # shorter values are not treated as secrets (they would mask ordinary words)
PREVIEW_CHARS = 16  # the most of a bad value an error message quotes
NAME_CHARS = 40  # the most of an unknown field name that is reported or stored
REQUEST_ID_CHARS = 36  # an error quotes a request id (a UUID) back whole: the user sees what they typed
SNIPPET_BYTES = 4096  # the most a stored request snippet (log details, payload, R2 body) weighs
SUBSTRING_SECRET_CHARS = 16  # a secret this long inside a request value refuses it (see `secret_fields`)

# Lone UTF-16 surrogates cannot be encoded as UTF-8 (JSON's `"\ud800"` decodes to one); control
# characters garble a terminal. Both are replaced when text is quoted back.
_UNPRINTABLE = re.compile(r"[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f]")
# Separators between the words of a text; a credential is one long word.
_WORD = re.compile(r"[^\s\"'`,;&=(){}\[\]<>|]+")
_PASSKEY_TEXT = re.compile(r"""(api[-_ ]?key["']?\s*[:=]\s*["']?)([^"'\s,;&}]*)""", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)  # the same few field names, on every log row and stored payload
def is_sensitive_name(name: str) -> bool:
    return bool(_SENSITIVE.search(name))


class Known(list[str]):
    """The secret values worth matching, longest first, and the length of the shortest: a text
    shorter than that cannot hold one and is not searched (most of a signal's strings)."""

    def __init__(self, values: Iterable[str]) -> None:
        super().__init__(sorted(values, key=len, reverse=True))
        self.shortest = len(self[-1]) if self else 1 << 62
        self.json_plain = all(map(_JSON_PLAIN.fullmatch, self))  # see `redact_json`


def known_secrets(secrets: Iterable[str]) -> Known:
    """The secret values worth matching, longest first (so a secret inside another is masked whole)."""
    if isinstance(secrets, Known):
        return secrets
    given = tuple(secrets)
    known = _known.get(given)
    if known is None:  # the same few secrets are asked about on every call: sorted once
        known = _known.keep(given, Known({s for s in given if isinstance(s, str) and len(s) >= MIN_SECRET_CHARS}))
    return known


_known: Memo[tuple[str, ...], Known] = Memo(64)


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of `value` with sensitive fields masked and every known secret value replaced."""
    return _walk(value, known_secrets(secrets))


def _walk(value: Any, known: Known) -> Any:
    # A loop, not comprehensions calling `_walk` per item: a signal's documents are walked a dozen
    # times, and most of their items are numbers or texts too short to hold a secret.
    shortest = known.shortest
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, str) and is_sensitive_name(k) and v not in (None, ""):
                v = MASK
            elif isinstance(v, str):
                if len(v) >= shortest:
                    v = _mask_text(v, known)
            elif isinstance(v, (dict, list, tuple)):
                v = _walk(v, known)
            if isinstance(k, str) and len(k) >= shortest:
                k = _mask_text(k, known)
            out[k] = v
        return out
    if isinstance(value, (list, tuple)):
        return [_walk(v, known) if isinstance(v, (str, dict, list, tuple)) else v for v in value]
    if isinstance(value, str) and len(value) >= shortest:
        return _mask_text(value, known)
    return value


def redact_json(value: Any, secrets: Iterable[str] = (), *, encoder: json.JSONEncoder) -> str:
    """`encoder`'s JSON text of `redact(value, secrets)`: the same text, usually without the copy.

    Most documents hold nothing to mask, so their text is searched instead of walking them. The
    text stands for the document when it is ASCII with no escape (a backslash: an escaped character
    could hide a match) and no known secret would be escaped in JSON: then every field name the
    walk masks, and every secret in a name or value, shows verbatim in it, and any hit takes the walk."""
    known = known_secrets(secrets)
    text = encoder.encode(value)
    if not text.isascii() or "\\" in text or not known.json_plain or holds_secret(text, known):
        return encoder.encode(_walk(value, known))
    lowered = text.lower()
    return encoder.encode(_walk(value, known)) if any(w in lowered for w in _SENSITIVE_WORDS) else text


def holds_secret(text: str, secrets: Iterable[str]) -> bool:
    """Does `text` hold one of the secret values worth matching (`known_secrets`)?"""
    known = known_secrets(secrets)
    return len(text) >= known.shortest and any(s in text for s in known)


def _mask_text(text: str, known: list[str]) -> str:
    for s in known:
        if s in text:
            text = text.replace(s, MASK)
    return text


def printable(text: str) -> str:
    """`text` without lone surrogates and control characters (each becomes U+FFFD)."""
    return _UNPRINTABLE.sub("\ufffd", text)


_CREDENTIAL_CHARS = 16  # a shorter word never looks like a credential


# Long words that are never credentials: a request id (a UUID hoox makes) or its start (`hoox signal show`,
# `orders cancel` and `wallet tx` take one, and an error quotes a cut one), and an ISO-8601 time.
_NOT_A_KEY = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{0,12}"
                        r"|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){0,2}-[0-9a-fA-F]{0,4}"
                        r"|\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?")


def looks_like_credential(word: str) -> bool:
    """A long word with a part mixing letters and digits (API keys, tokens, hex and base64 strings), or
    a very long word that is not a name of short parts: what must never be quoted back even in part. A
    request id, a time, a symbol (`1000000BABYDOGEUSDT`) or a name joining short words (a KV key, a path,
    a worker or strategy name) is not one (a configured secret of any shape is masked anyway:
    `known_secrets`)."""
    if len(word) < _CREDENTIAL_CHARS or _NOT_A_KEY.fullmatch(word):
        return False
    if _TELEGRAM_TOKEN.fullmatch(word):
        return True  # whatever its secret's `-` and `_` cut it into
    parts = [part for part in _NAME_PART.findall(word) if not _PLAIN_PART.fullmatch(part)]
    if len(word) >= 32 and (len(parts) < 2 or any(len(part) >= _CREDENTIAL_CHARS for part in parts)):
        return True  # a long run of one word: a secret of any alphabet (`xoxb-1234567890-abcdefghijklmnop`)
    return any(len(part) >= 8 and _mixes_letters_and_digits(part) for part in parts)


# A Telegram bot token: the bot's id, then its secret in base64url.
_TELEGRAM_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
# A name joins short parts with `-`, `_`, `:`, `/`, `.` or `@` (`web3-wallet-worker`, `risk_v2_limits`,
# `exchanges:paper:price:1000000MOGUSDT`, a path, a host): a part that mixes letters and digits is key-like
# only from 8 characters, and a very long word made of short parts is a name, not a credential.
_NAME_PART = re.compile(r"[^-_:/.@]+")
# Parts of a name that mix letters and digits without being key-like: a market's symbol, letters of one
# case with one run of digits (a multiplier: `1000000BABYDOGEUSDT`, `SHIB1000USDT`), and a compact ISO time
# (`20260105T090000Z` in an idempotency key or a file name). A key's digits are scattered among letters
# of both cases.
_PLAIN_PART = re.compile(r"[A-Z]*\d+[A-Z]+|[a-z]*\d+[a-z]+|\d+T\d+Z?")


def _mixes_letters_and_digits(part: str) -> bool:
    return any(c.isdigit() for c in part) and any(c.isalpha() for c in part)


# A word's parts between the marks that join names (`exchanges:paper:price:BTCUSDT`, a path, a host), and
# the ellipsis `preview` ends a cut value with (`'1000000BABYDOGEU…'`: the cut word is judged, not the mark).
_SEGMENT = re.compile(r"[^\s\"'`,;&=(){}\[\]<>|:/.@…]+")


def mask_key_like(text: str) -> str:
    """`text` with every part of a word that looks like a credential replaced by what it was: for
    messages that may quote what a client sent anywhere (a path, a field name, a database's words)."""
    if len(text) < _CREDENTIAL_CHARS:
        return text
    return _SEGMENT.sub(lambda m: _hidden(len(m.group())) if looks_like_credential(m.group()) else m.group(), text)


def has_credential_word(text: str) -> bool:
    """Does free text (a reason, a note) hold a word that looks like a credential: a key pasted
    where words belong, which must not be stored or echoed."""
    return len(text) >= _CREDENTIAL_CHARS and any(looks_like_credential(w) for w in _WORD.findall(text))


def _hidden(n: int, what: str = "value") -> str:
    return f"a {n}-character {what} (not shown)"


def _safe_prefix(text: str, limit: int, known: list[str]) -> str | None:
    """The longest prefix of `text` (at most `limit` characters) that stops before any word that
    looks like a credential; None when that leaves nothing or `text` holds a known secret."""
    if holds_secret(text, known):
        return None
    cut = min(len(text), limit)
    for m in _WORD.finditer(text):
        if m.start() >= cut:
            break
        if looks_like_credential(m.group()):
            cut = m.start()
            break
    head = text[:cut].rstrip()
    if not head:
        return None
    return head + ("…" if len(head) < len(text) else "")


def preview(value: Any, secrets: Iterable[str] = (), *, limit: int = PREVIEW_CHARS) -> str:
    """How an error message quotes a bad value: `'lots'`, `12.5`, `true`, a short prefix with `…`,
    or "a 40-character value (not shown)" when the value looks like (or holds) a credential."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= 24 else f"a number of {len(text)} characters (not shown)"
    if isinstance(value, str):
        head = _safe_prefix(printable(value), limit, known_secrets(secrets))
        return _hidden(len(value)) if head is None else repr(head)
    return f"a JSON {_json_kind(value)}"


def field_name(name: Any, secrets: Iterable[str] = (), *, limit: int = NAME_CHARS) -> str:
    """An unknown field's name as it may be reported or stored: cut to `limit` characters, masked
    when it looks like a credential (a key pasted where a name belongs)."""
    text = printable(name if isinstance(name, str) else str(name))
    # Most names are shorter than any secret and any credential: nothing to search.
    if holds_secret(text, secrets) or has_credential_word(text):
        return f"{MASK}({len(text)} characters)"
    return text if len(text) <= limit else text[:limit] + "…"


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return type(value).__name__


def body_preview(raw: bytes, secrets: Iterable[str] = (), *, limit: int = 80) -> str:
    """How a body that is not JSON starts, for the error that says so: passkey-looking assignments
    masked, credential-looking words and known secrets replaced, at most `limit` characters."""
    text = printable(raw[: limit * 4].decode("utf-8", errors="replace")).strip()
    text = _PASSKEY_TEXT.sub(lambda m: m.group(1) + (MASK if m.group(2) else ""), text)
    text = _mask_text(text, known_secrets(secrets))
    text = _WORD.sub(lambda m: MASK if looks_like_credential(m.group()) else m.group(), text)
    return text[:limit] + ("…" if len(text) > limit or len(raw) > limit * 4 else "")


# --------------------------------------------------------------------------- secrets in requests
def secret_fields(body: Any, secrets: Iterable[str], *, allowed: dict[str, str] | None = None,
                  path: str = "") -> list[dict[str, str]]:
    """`{field, issue}` for every field name or value (at any depth) that is a configured secret,
    or holds one of at least `SUBSTRING_SECRET_CHARS` characters, except `allowed` (field -> the
    secret it is meant to carry, e.g. the passkey). Shorter secrets (a chat id) count only when
    the whole value equals them: inside other text they would refuse ordinary numbers."""
    known = set(known_secrets(secrets))
    long_ones = [s for s in known if len(s) >= SUBSTRING_SECRET_CHARS]
    out: list[dict[str, str]] = []
    issue = "holds a secret of this deployment: refused, and the value was not stored"

    def is_secret(text: str) -> bool:  # most values are too short to hold a long secret: not searched
        return text in known or (len(text) >= SUBSTRING_SECRET_CHARS and any(s in text for s in long_ones))

    def label(where: tuple[str | int, ...]) -> str:
        # Made only for a field that is reported: `field_name` is the costly part of the walk.
        text = path
        for step in where:
            name = f"[{step}]" if isinstance(step, int) else field_name(step, known)
            text = f"{text}{name}" if isinstance(step, int) or not text else f"{text}.{name}"
        return text

    def visit(value: Any, where: tuple[str | int, ...], top: bool) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                name = k if isinstance(k, str) else str(k)
                if is_secret(name):
                    out.append({"field": label((*where, name)), "issue": f"the field name {issue}"})
                if top and allowed and allowed.get(name) == v:
                    continue
                visit(v, (*where, name), False)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                visit(v, (*where, i), False)
        elif isinstance(value, str) and is_secret(value):
            out.append({"field": label(where) or "(body)", "issue": issue})

    if known:
        visit(body, (), True)
    return out


def mask_credentials(value: Any, *, keep: Iterable[str] = ()) -> Any:
    """A copy of `value` with every credential-looking word in its strings (any depth) replaced by
    the mask, except in the top-level `keep` fields (an idempotency key looks like one by design):
    a key pasted into the wrong field must not reach a log row, a stored payload or a backup."""
    kept = set(keep)

    def walk(v: Any, top: bool) -> Any:
        if isinstance(v, dict):
            return {k: (item if top and k in kept else walk(item, False)) for k, item in v.items()}
        if isinstance(v, list):
            return [walk(item, False) for item in v]
        if isinstance(v, str) and len(v) >= _CREDENTIAL_CHARS:  # a shorter text holds no credential
            return _WORD.sub(lambda m: MASK if looks_like_credential(m.group()) else m.group(), v)
        return v

    return walk(value, True)


def stored_payload(raw: Any, secrets: Iterable[str], *, drop: Iterable[str] = (), redacted: bool = False) -> Any:
    """A request object as it may be stored: the `drop` fields (any case) removed, field names cut
    and masked like `field_name`, sensitive fields and known secrets masked (`redact`; not again
    when `raw` is `redacted` already with these secrets)."""
    if not isinstance(raw, dict):
        return redact(raw, secrets)
    gone = {d.lower() for d in drop}
    known = known_secrets(secrets)
    out: dict[str, Any] = {}
    for k, v in raw.items():
        name = k if isinstance(k, str) else str(k)
        if name.lower() in gone:
            continue
        safe = field_name(name, known)
        while safe in out:  # two masked names must not overwrite each other
            safe += "'"
        out[safe] = MASK if is_sensitive_name(name) and v not in (None, "") else v if redacted else _walk(v, known)
    return out


# --------------------------------------------------------------------------- stored snippets
def cap_text(text: str, limit: int = SNIPPET_BYTES) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, with a note saying how much was left out."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    note = f"… [{len(data)} bytes, cut to {limit}]"
    head = data[: max(0, limit - len(note.encode("utf-8")))].decode("utf-8", errors="ignore")
    return head + note


_SNIPPET_JSON = json.JSONEncoder(default=str, ensure_ascii=False)  # json.dumps with options builds one a call


def cap_json(value: Any, limit: int = SNIPPET_BYTES) -> str:
    """`value` as JSON text of at most `limit` bytes; a larger one is stored as
    `{"truncated": true, "bytes": N, "head": "<the start of its JSON text>"}` (still JSON)."""
    text = _SNIPPET_JSON.encode(value)
    text = printable(text) if _UNPRINTABLE.search(text) else text
    size = len(text.encode("utf-8"))
    if size <= limit:
        return text
    budget = limit - 80  # room for the wrapper; escaping the head's quotes may need more: shrink and retry
    while True:
        doc = json.dumps({"truncated": True, "bytes": size, "head": cap_text(text, budget)}, ensure_ascii=False)
        over = len(doc.encode("utf-8")) - limit
        if over <= 0:
            return doc
        budget -= max(64, over)


def capped(value: Any, limit: int = SNIPPET_BYTES) -> Any:
    """`value` itself when its JSON fits `limit` bytes and is printable (most: not decoded back from
    its text), else what `cap_json` makes of it (the wrapper, or the printable text) as an object."""
    text = _SNIPPET_JSON.encode(value)
    if len(text.encode("utf-8")) <= limit and not _UNPRINTABLE.search(text):
        return value
    return json.loads(cap_json(value, limit))
