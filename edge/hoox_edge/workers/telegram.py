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

Calls go through `shared.telegram_api` (the one Bot API client; it keeps the token out of every error
and log line). `TELEGRAM_CHAT_ID` may list several chats (comma-separated): alerts go to the first.

`/telegram/update` and `/telegram/send` are the bot's desk (`hoox_edge.desk.inbox`): the gateway's
`/telegram-webhook` offers each update here (secret token, allowed chats, update_id once) and runs the
command; the replies are sent from here, where the bot token is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hoox_edge.desk import inbox as desk_inbox
from hoox_edge.ports import Env
from hoox_edge.shared import clock
from hoox_edge.shared import telegram_api as bot_api
from hoox_edge.shared.app import env_of, envelope_request_id, json_body, make_app
from hoox_edge.shared.auth import require_internal
from hoox_edge.shared.checks import Check, Fields, Invalid, one_of, optional, text, whole
from hoox_edge.shared.errors import VALIDATION_ERROR, ApiError, ok
from hoox_edge.shared.logs import log
from hoox_edge.shared.redact import redact
from hoox_edge.shared.telegram_api import MAX_TEXT, escape_html

WORKER = "telegram-worker"


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


async def send_message(env: Env, token: str, chat_id: str | int, text: str,
                       parse_mode: str) -> tuple[int | None, str | None]:
    """(message_id, None) when Telegram took the message, else (None, error without the token)."""
    answer = await bot_api.call(env, token, "sendMessage", {
        "chat_id": chat_id, "text": text, "parse_mode": parse_mode, "disable_web_page_preview": True})
    if not answer.ok:
        return None, answer.error
    mid = (answer.result or {}).get("message_id") if isinstance(answer.result, dict) else None
    return (int(mid) if isinstance(mid, int) else None), None


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

    chats = bot_api.chat_ids(env)
    chat_id = alert.chatId if alert.chatId not in (None, "") else (chats[0] if chats else None)
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
    # The bot's desk (hoox_edge.desk.inbox): the gateway offers Telegram's updates, this worker sends the replies.
    Route("/telegram/update", desk_inbox.take_update, methods=["POST"]),
    Route("/telegram/send", desk_inbox.send, methods=["POST"]),
])
