"""telegram-worker: operator alerts, delivered through the Telegram Bot API or kept in a local outbox.

`POST /alert` (internal key) takes `{"message", "level", "source", "chatId"?, "parseMode"?}`, bare or
in the internal `{"requestId", "payload"}` envelope, and answers `{"alertId", "delivery", "messageId"}`:

1. The alert is first written to the `alerts` table with delivery `outbox`, so it is never lost,
   whatever happens to the delivery.
2. Without `TELEGRAM_BOT_TOKEN` it stays there: delivery `outbox` (the cockpit shows the outbox).
3. With a token and a chat id (`chatId`, else `TELEGRAM_CHAT_ID`) it is sent with `sendMessage`; the
   row becomes `sent` with Telegram's message id, or `failed` with the error. A failed delivery still
   answers 200: an alert that could not be delivered must never fail the trade that raised it.
   A token without any chat id is a `failed` delivery that says so.

Formatting: without `parseMode` the message is plain text; it is sent in HTML parse mode under a
bold `[LEVEL] source` header with `&`, `<` and `>` escaped, so any text arrives as written. With
`parseMode` (`HTML`, `MarkdownV2` or `Markdown`) the message is already formatted by the caller and is
sent as is. Telegram takes at most 4096 characters: longer text is cut and ends in `…`.

The Bot API base URL is `https://api.telegram.org` unless the var `TELEGRAM_API_BASE` points elsewhere
(tests use a loopback fake). The token is part of the request URL, so no error text or log line
ever carries the URL: errors are rebuilt from Telegram's answer and redacted.

`/telegram/...` (the bot's command webhook) is a later issue and answers 501 NOT_AVAILABLE.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hoox_edge.ports import Env
from hoox_edge.shared import clock
from hoox_edge.shared.app import env_of, envelope_request_id, json_body, make_app
from hoox_edge.shared.auth import require_internal
from hoox_edge.shared.checks import Check, Fields, Invalid, one_of, optional, text, whole
from hoox_edge.shared.errors import NOT_AVAILABLE, VALIDATION_ERROR, ApiError, ok
from hoox_edge.shared.http import http_client
from hoox_edge.shared.logs import log
from hoox_edge.shared.redact import MASK, redact

WORKER = "telegram-worker"
DEFAULT_API_BASE = "https://api.telegram.org"
MAX_TEXT = 4096
# The caller (shared.calls.best_effort) waits 5 s; answer before it gives up so the row is final.
SEND_TIMEOUT_S = 4.0

_BOT_PATH = re.compile(r"/bot[^/\s]+")


class _HideBotToken(logging.Filter):
    """httpx logs every request URL at INFO; the Bot API URL carries the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "/bot" in text:
            record.msg, record.args = _BOT_PATH.sub(f"/bot{MASK}", text), None
        return True


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, _HideBotToken) for f in _httpx_log.filters):
    _httpx_log.addFilter(_HideBotToken())


Level = Literal["info", "warning", "error", "critical"]
ParseMode = Literal["HTML", "MarkdownV2", "Markdown"]
# A chat id is a number (a user or group) or text (@channelname); a number is kept a number.
_CHAT_ID = Check("a chat id: a whole number or a string",
                 lambda v: v if isinstance(v, str) else whole.convert(v))


@dataclass(frozen=True, kw_only=True)
class Alert:
    message: str
    level: Level = "info"
    source: str
    chatId: str | int | None = None
    parseMode: ParseMode | None = None  # None: plain text

    @classmethod
    def parse(cls, raw: Any) -> Alert:
        f = Fields(raw)
        return f.build(cls, message=f.required("message", text(min_len=1)),
                       level=f.optional("level", one_of(*get_args(Level)), "info"),
                       source=f.required("source", text(min_len=1, max_len=100)),
                       chatId=f.optional("chatId", optional(_CHAT_ID), None),
                       parseMode=f.optional("parseMode", optional(one_of(*get_args(ParseMode))), None))


def escape_html(text: str) -> str:
    """Telegram's HTML mode needs exactly these three escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut_escaped(text: str, budget: int) -> str:
    """Escape `text` into at most `budget` characters, never splitting an entity."""
    out, used = [], 0
    for ch in text:
        piece = escape_html(ch)
        if used + len(piece) > budget:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out)


def format_text(alert: Alert) -> tuple[str, str]:
    """(text, parse_mode) as sent to Telegram, at most MAX_TEXT characters."""
    if alert.parseMode:
        text = alert.message
        return (text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"), alert.parseMode
    header = f"<b>[{alert.level.upper()}]</b> {escape_html(alert.source)}\n"
    body = escape_html(alert.message)
    if len(header) + len(body) > MAX_TEXT:
        body = _cut_escaped(alert.message, MAX_TEXT - len(header) - 1) + "…"
    return header + body, "HTML"


def _scrub(text: str, env: Env, token: str) -> str:
    text = _BOT_PATH.sub(f"/bot{MASK}", text)
    return redact(text, [token, *env.secret_values()])


async def send_message(env: Env, token: str, chat_id: str | int, text: str,
                       parse_mode: str) -> tuple[int | None, str | None]:
    """(message_id, None) when Telegram took the message, else (None, error without the token)."""
    base = (env.get("TELEGRAM_API_BASE") or DEFAULT_API_BASE).rstrip("/")
    payload = {"chat_id": chat_id, "text": text, "parse_mode": parse_mode, "disable_web_page_preview": True}
    try:
        async with http_client(timeout=SEND_TIMEOUT_S) as client:
            resp = await client.post(f"{base}/bot{token}/sendMessage", json=payload)
    except httpx.TimeoutException:
        return None, f"Telegram did not answer within {SEND_TIMEOUT_S:g} s"
    except Exception as exc:  # any transport failure is a failed delivery, never a failed request
        return None, _scrub(f"could not reach the Telegram Bot API ({type(exc).__name__}: {exc})", env, token)
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("ok") is True:
        mid = (data.get("result") or {}).get("message_id")
        return (int(mid) if isinstance(mid, int) else None), None
    if isinstance(data, dict):
        desc = data.get("description") or "no description"
        code = data.get("error_code", resp.status_code)
        return None, _scrub(f"Telegram API error {code}: {desc}", env, token)
    return None, f"Telegram API answered HTTP {resp.status_code} without a JSON body"


async def deliver(env: Env, alert: Alert, request_id: str | None) -> dict[str, Any]:
    """Store the alert, deliver it if a bot is configured, and record the outcome."""
    db = env.DB
    secrets = env.secret_values()
    res = await db.prepare(
        "INSERT INTO alerts (created_at, level, source, request_id, message, delivery)"
        " VALUES (?,?,?,?,?,'outbox')"
    ).bind(clock.iso(), alert.level, alert.source, request_id, redact(alert.message, secrets)).run()
    alert_id = res["meta"]["last_row_id"]

    token = env.get("TELEGRAM_BOT_TOKEN") or None
    if not token:
        return {"alertId": alert_id, "delivery": "outbox", "messageId": None}

    chat_id = alert.chatId if alert.chatId not in (None, "") else (env.get("TELEGRAM_CHAT_ID") or None)
    message_id: int | None
    error: str | None
    if chat_id is None:
        message_id, error = None, "no chat id: set TELEGRAM_CHAT_ID or pass chatId"
    else:
        text, mode = format_text(alert)
        message_id, error = await send_message(env, token, chat_id, redact(text, secrets), mode)

    delivery = "failed" if error else "sent"
    await db.prepare("UPDATE alerts SET delivery = ?, telegram_message_id = ?, error = ? WHERE id = ?").bind(
        delivery, message_id, error, alert_id).run()
    if error:
        await log(env, "warning", f"Telegram delivery of alert {alert_id} failed: {error}",
                  request_id=request_id,
                  details={"alertId": alert_id, "level": alert.level, "source": alert.source})
    return {"alertId": alert_id, "delivery": delivery, "messageId": message_id}


async def post_alert(request: Request) -> JSONResponse:
    require_internal(request)
    body = await json_body(request)
    rid = envelope_request_id(body, request)
    if isinstance(body, dict) and isinstance(body.get("payload"), dict):
        body = body["payload"]
    try:
        alert = Alert.parse(body)
    except Invalid as exc:
        raise ApiError(400, VALIDATION_ERROR, "Invalid alert.", exc.details) from None
    return ok(await deliver(env_of(request), alert, rid), request_id=rid)


async def telegram_webhook(request: Request) -> JSONResponse:
    require_internal(request)
    raise ApiError(501, NOT_AVAILABLE,
                   "Telegram bot commands are not available in this version; "
                   "telegram-worker only sends alerts.")


async def health(request: Request) -> JSONResponse:
    env = env_of(request)
    has_token = bool(env.get("TELEGRAM_BOT_TOKEN"))
    return JSONResponse({
        "success": True,
        "status": "ok",
        "worker": WORKER,
        "botToken": "configured" if has_token else "not configured",
        "defaultChat": "configured" if env.get("TELEGRAM_CHAT_ID") else "not configured",
        "delivery": "telegram" if has_token else "outbox",
    })


_ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]

app = make_app(WORKER, [
    Route("/health", health, methods=["GET"]),
    Route("/alert", post_alert, methods=["POST"]),
    Route("/telegram", telegram_webhook, methods=_ANY),
    Route("/telegram/{rest:path}", telegram_webhook, methods=_ANY),
])
