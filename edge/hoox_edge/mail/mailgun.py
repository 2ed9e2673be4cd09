"""The gateway's `POST /webhook/mailgun` (and `/webhook/mailgun/mime`, the URL to give Mailgun's inbound
route: one ending in `mime` gets the raw message).

1. the body: an e-mail of at most 1 MB in its form, `multipart/form-data` or
   `application/x-www-form-urlencoded` (413/400);
2. `timestamp`, `token`, `signature` (400 naming a missing field); the signature is the hex
   HMAC-SHA256 of timestamp + token with the webhook signing key (secret `MAILGUN_SIGNING_KEY`),
   compared in constant time -> 401 UNAUTHORIZED (also when no key is set);
3. a timestamp more than `WINDOW_S` away from now -> 401 (stale: a captured request cannot be
   replayed later); a token already seen within the window -> 406 DUPLICATE_REQUEST (Mailgun does
   not retry a 406). Tokens are kept in D1 (`email_mailgun_tokens`, hashed) for the window, so a
   restart does not forget them;
4. the e-mail: `body-mime` (a route whose URL ends in `mime`), else rebuilt from `message-headers`
   and `body-plain` / `body-html`; then the one path (`mail.intake`, via `mailgun`). Answered 200 with
   the recorded outcome, whatever it is: sending the e-mail again would not change it.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import hmac
import json
import urllib.parse

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hoox_edge.mail import intake
from hoox_edge.ports import Env
from hoox_edge.shared import bodies, clock
from hoox_edge.shared.app import env_of
from hoox_edge.shared.errors import DUPLICATE_REQUEST, UNAUTHORIZED, VALIDATION_ERROR, ApiError
from hoox_edge.shared.logs import log

SECRET = "MAILGUN_SIGNING_KEY"
WINDOW_S = 300
MAX_BYTES = 1024 * 1024 + 64 * 1024  # the e-mail (mail.message.MAX_BYTES) and the form around it


def signature(key: str, timestamp: str, token: str) -> str:
    return hmac.new(key.encode("utf-8"), (timestamp + token).encode("utf-8"), hashlib.sha256).hexdigest()


def _bad(field: str, issue: str) -> ApiError:
    return ApiError(400, VALIDATION_ERROR, f"Invalid Mailgun webhook: {field} {issue}.",
                    [{"field": field, "issue": issue}])


def parse_form(content_type: str, raw: bytes) -> dict[str, str]:
    """The form's text fields (files left out)."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        try:
            pairs = urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                                           max_num_fields=200)
        except (UnicodeDecodeError, ValueError):
            raise _bad("(body)", "must be a URL-encoded form in UTF-8") from None
        return dict(pairs)
    if ctype != "multipart/form-data":
        raise _bad("(body)", "must be multipart/form-data or application/x-www-form-urlencoded (Mailgun's forms)")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not msg.is_multipart():
        raise _bad("(body)", "is not a readable multipart form")
    out: dict[str, str] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            out[name] = payload.decode(part.get_content_charset() or "utf-8", "replace")
    return out


def mime_of(form: dict[str, str]) -> bytes:
    """The e-mail as bytes: Mailgun's `body-mime`, else rebuilt from its parsed fields."""
    if form.get("body-mime"):
        return form["body-mime"].encode("utf-8")
    try:
        headers = json.loads(form.get("message-headers") or "[]")
    except ValueError:
        raise _bad("message-headers", "must be a JSON list of [name, value] pairs") from None
    if not isinstance(headers, list) or not all(isinstance(h, list) and len(h) == 2 for h in headers):
        raise _bad("message-headers", "must be a JSON list of [name, value] pairs")
    keep = [(str(k), str(v).replace("\r", " ").replace("\n", " ")) for k, v in headers
            if str(k).lower() not in ("content-type", "content-transfer-encoding", "mime-version")]
    if form.get("body-plain"):
        ctype, body = "text/plain", form["body-plain"]
    elif form.get("body-html"):
        ctype, body = "text/html", form["body-html"]
    else:
        raise _bad("body-mime", "is missing (and so are body-plain and body-html)")
    lines = [f"{k}: {v}" for k, v in keep] + ["MIME-Version: 1.0", f'Content-Type: {ctype}; charset="utf-8"',
                                               "Content-Transfer-Encoding: 8bit", "", body]
    return "\r\n".join(lines).encode("utf-8")


async def _token_is_new(env: Env, token: str, timestamp: int) -> bool:
    """Remember `token` (hashed) for the window; False when it was already seen."""
    now = int(clock.now())
    await env.DB.prepare("DELETE FROM email_mailgun_tokens WHERE timestamp < ?").bind(now - 2 * WINDOW_S).run()
    res = await env.DB.prepare(
        "INSERT INTO email_mailgun_tokens (token_hash, timestamp, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
    ).bind(hashlib.sha256(token.encode("utf-8")).hexdigest(), timestamp, clock.iso()).run()
    return bool((res.get("meta") or {}).get("changes"))


def routes(submit: intake.Submit) -> list[Route]:
    async def mailgun_webhook(request: Request) -> JSONResponse:
        env = env_of(request)
        raw = await bodies.read_body(request, MAX_BYTES)
        form = parse_form(request.headers.get("content-type") or "", raw)
        for name in ("timestamp", "token", "signature"):
            if not form.get(name):
                raise _bad(name, "is required (Mailgun signs every webhook)")
        ts_text, token, sig = form["timestamp"], form["token"], form["signature"]
        key = env.get(SECRET)
        if not isinstance(key, str) or not key or not hmac.compare_digest(
                signature(key, ts_text, token).encode(), sig.strip().lower().encode("utf-8", "replace")):
            await log(env, "warning", "mailgun webhook refused: the signature does not match"
                      + ("" if key else f" ({SECRET} is not set)"))
            raise ApiError(401, UNAUTHORIZED, "The Mailgun signature does not match (signing key "
                                              f"{'set' if key else 'not set'}: secret {SECRET}).")
        if not ts_text.isdigit() or abs(int(ts_text) - clock.now()) > WINDOW_S:
            await log(env, "warning", "mailgun webhook refused: stale timestamp")
            raise ApiError(401, UNAUTHORIZED, f"The Mailgun timestamp is more than {WINDOW_S} s from now: a "
                                              "stale webhook is not taken.",
                           [{"field": "timestamp", "issue": f"within {WINDOW_S} s of now"}])
        raw_mime = mime_of(form)  # a form without the e-mail is refused before its token is spent
        if not await _token_is_new(env, token, int(ts_text)):
            await log(env, "warning", "mailgun webhook refused: replayed token")
            raise ApiError(406, DUPLICATE_REQUEST, "This Mailgun token was already used: a replayed webhook is "
                                                   "not taken.", [{"field": "token", "issue": "used once"}])
        out = await intake.handle(env, raw_mime, via="mailgun", submit=submit)
        return JSONResponse({"ok": True, "outcome": out["outcome"], "reason": out["reason"],
                             "requestId": out["requestId"]})

    # Mailgun posts the raw message (body-mime) to a forward URL that ends in "mime".
    return [Route("/webhook/mailgun", mailgun_webhook, methods=["POST"]),
            Route("/webhook/mailgun/mime", mailgun_webhook, methods=["POST"])]
