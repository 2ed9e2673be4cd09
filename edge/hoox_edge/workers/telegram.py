"""telegram-worker: operator alerts, delivered through the Telegram Bot API or kept in a local outbox.

`POST /alert` (internal key) takes `{"message", "level"?, "source"?, "chatId"?, "parseMode"?}` (the
seeds' `{chatId, message, parseMode}` too: no level is info, no source is `unknown`), bare or in the
internal `{"requestId", "payload"}` envelope, and answers `{"alertId", "delivery", "messageId",
"nextAttemptAt", "error"}`. The alert goes to the durable outbox first (`hoox_edge.alerts.outbox`:
routing and mute per kind from KV `telegram:alerts:*`, in-order delivery per chat, 429 `retry_after`
and backoff for 5xx and timeouts), then that chat's outbox is drained at once within a 3 s budget;
the cron (every minute) sends what is left. `delivery` is `sent`, `pending` (Telegram is away or
rate-limiting: `nextAttemptAt`), `failed` (`error` says why), `muted`, or `outbox` (no
`TELEGRAM_BOT_TOKEN`: kept locally). An alert that could not be delivered never fails the request
that raised it: the answer is 200. Formatting and the split of long text: `hoox_edge.alerts.format`.

`POST /alert/drain` (internal key) routes the alerts other workers wrote `raised` in their own batches
(trade-worker's fills) and sends what is due within the same 3 s budget; it answers `{"sent", "retrying",
"failed"}`. The cron does the same every minute.

`/telegram/update` and `/telegram/send` are the bot's desk (`hoox_edge.desk.inbox`): the gateway's
`/telegram-webhook` offers each update here (secret token, allowed chats, update_id once) and runs the
command; the replies are sent from here, where the bot token is.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hoox_edge.alerts import outbox
from hoox_edge.alerts.outbox import Alert
from hoox_edge.desk import inbox as desk_inbox
from hoox_edge.ports import Env
from hoox_edge.shared.app import env_of, envelope_request_id, json_body, make_app
from hoox_edge.shared.auth import require_internal
from hoox_edge.shared.checks import Invalid
from hoox_edge.shared.errors import VALIDATION_ERROR, ApiError, ok

WORKER = "telegram-worker"


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
    return ok((await outbox.deliver(env_of(request), alert, rid)).answer(), request_id=rid)


async def drain_alerts(request: Request) -> JSONResponse:
    """Route the alerts other workers raised in their own batches and send what is due, within the
    inline budget (what it leaves is the cron's)."""
    require_internal(request)
    body = await json_body(request)
    rid = envelope_request_id(body, request)
    report = await outbox.drain(env_of(request), budget_s=outbox.INLINE_BUDGET_S)
    return ok(report.as_dict(), request_id=rid)


async def scheduled(cron: str, env: Env) -> None:
    """Every minute: the alert outbox's retries (and what an enqueue's own drain left)."""
    await outbox.drain(env)


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


app = make_app(WORKER, [
    Route("/health", health, methods=["GET"]),
    Route("/alert", post_alert, methods=["POST"]),
    Route("/alert/drain", drain_alerts, methods=["POST"]),
    # The bot's desk (hoox_edge.desk.inbox): the gateway offers Telegram's updates, this worker sends the replies.
    Route("/telegram/update", desk_inbox.take_update, methods=["POST"]),
    Route("/telegram/send", desk_inbox.send, methods=["POST"]),
    Route("/telegram/photo", desk_inbox.photo, methods=["POST"]),
])
