"""telegram-worker's side of the desk: it holds the bot's secrets, so it decides which updates are taken
and makes the Bot API calls the gateway's handler asks for.

`POST /telegram/update` (internal key) `{"update", "via": "webhook"|"polling"}` with Telegram's
secret token in `X-Telegram-Bot-Api-Secret-Token` (webhook only: a polled update was fetched with the
bot token itself):
1. the secret token against `TELEGRAM_WEBHOOK_SECRET` in constant time -> 401 (also when the secret
   is not set: a webhook nobody can authenticate takes nothing);
2. the update parsed -> 400 naming the field;
3. the update_id recorded in `telegram_updates`; one already there is a redelivery -> `take: false`;
4. the chat must be one of `TELEGRAM_CHAT_ID` (a comma list) -> else `take: false` and a warning
   log row marked `security` (Telegram is answered 200 all the same: a stranger learns nothing).
Answers `{"take": bool, "reason": "allowed"|"duplicate"|"stranger"|"no chat"}`.

`POST /telegram/send` (internal key) `{"calls": [{"method", "params"}]}`: the calls, in order, with
the bot token; messages only to the allowed chats. Answers each call's outcome.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from hoox_edge.desk.updates import BadUpdate, parse
from hoox_edge.shared import clock
from hoox_edge.shared import telegram_api as bot_api
from hoox_edge.shared.app import env_of, envelope_request_id, json_body, payload_of
from hoox_edge.shared.auth import require_internal, secret_matches
from hoox_edge.shared.errors import UNAUTHORIZED, VALIDATION_ERROR, ApiError, ok
from hoox_edge.shared.logs import log

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
VIAS = ("webhook", "polling")
# What the desk's handler may ask for: replies, never anything that changes the bot.
SEND_METHODS = ("sendMessage", "answerCallbackQuery", "editMessageText", "editMessageReplyMarkup",
                "sendChatAction")  # the typing indicator while the AI gateway answers
MAX_CALLS = 20


async def take_update(request: Request) -> JSONResponse:
    require_internal(request)
    env = env_of(request)
    body = await json_body(request)
    rid = envelope_request_id(body, request)
    payload = payload_of(body)
    via = payload.get("via") if isinstance(payload, dict) else None
    if via not in VIAS:
        raise ApiError(400, VALIDATION_ERROR, "via must be webhook or polling.",
                       [{"field": "via", "issue": "must be webhook or polling"}])
    if via == "webhook" and not secret_matches(request.headers.get(SECRET_HEADER), env.get("TELEGRAM_WEBHOOK_SECRET")):
        why = ("TELEGRAM_WEBHOOK_SECRET is not set on telegram-worker" if not env.get("TELEGRAM_WEBHOOK_SECRET")
               else "missing or wrong secret token")
        await log(env, "warning", f"telegram webhook refused: {why}", request_id=rid, details={"security": True})
        raise ApiError(401, UNAUTHORIZED, f"Access denied: missing or wrong {SECRET_HEADER}.")
    try:
        update = parse(payload.get("update"))
    except BadUpdate as exc:
        raise ApiError(400, VALIDATION_ERROR, f"Not a Telegram update: {exc}",
                       [{"field": f"update.{exc.field}", "issue": exc.issue}]) from None
    allowed = update.chat_id is not None and str(update.chat_id) in bot_api.chat_ids(env)
    res = await env.DB.prepare(
        "INSERT OR IGNORE INTO telegram_updates (update_id, received_at, via, chat_id, kind, allowed)"
        " VALUES (?,?,?,?,?,?)"
    ).bind(update.update_id, clock.iso(), via, None if update.chat_id is None else str(update.chat_id),
           update.kind, 1 if allowed else 0).run()
    if not res["meta"].get("changes"):
        return ok({"take": False, "reason": "duplicate", "updateId": update.update_id}, request_id=rid)
    if update.chat_id is None:  # e.g. a my_chat_member update: nothing to answer
        return ok({"take": False, "reason": "no chat", "updateId": update.update_id}, request_id=rid)
    if not allowed:
        why = "TELEGRAM_CHAT_ID is not set" if not bot_api.chat_ids(env) else "the chat is not in TELEGRAM_CHAT_ID"
        await log(env, "warning", f"telegram update {update.update_id} from chat {update.chat_id} dropped: {why}",
                  request_id=rid, details={"security": True, "chatId": str(update.chat_id),
                                           "updateId": update.update_id, "kind": update.kind, "via": via})
        return ok({"take": False, "reason": "stranger", "updateId": update.update_id}, request_id=rid)
    return ok({"take": True, "reason": "allowed", "updateId": update.update_id}, request_id=rid)


async def send(request: Request) -> JSONResponse:
    require_internal(request)
    env = env_of(request)
    body = await json_body(request)
    rid = envelope_request_id(body, request)
    payload = payload_of(body)
    items = payload.get("calls") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_CALLS:
        raise ApiError(400, VALIDATION_ERROR, f"calls must be a list of 1 to {MAX_CALLS} Bot API calls.",
                       [{"field": "calls", "issue": f"a list of 1 to {MAX_CALLS} {{method, params}}"}])
    allowed = bot_api.chat_ids(env)
    for i, c in enumerate(items):
        if not isinstance(c, dict) or c.get("method") not in SEND_METHODS or not isinstance(c.get("params"), dict):
            raise ApiError(400, VALIDATION_ERROR, f"calls[{i}] must be {{method, params}} with method one of "
                           f"{', '.join(SEND_METHODS)}.", [{"field": f"calls[{i}]", "issue": "unknown method"}])
        chat = c["params"].get("chat_id")
        if c["method"] != "answerCallbackQuery" and str(chat) not in allowed:
            raise ApiError(400, VALIDATION_ERROR, f"calls[{i}].params.chat_id is not one of TELEGRAM_CHAT_ID.",
                           [{"field": f"calls[{i}].params.chat_id", "issue": "must be an allowed chat"}])
    token = bot_api.bot_token(env)
    results: list[dict[str, Any]] = []
    for c in items:
        if token is None:
            results.append({"method": c["method"], "ok": False, "error": "TELEGRAM_BOT_TOKEN is not set"})
            continue
        answer = await bot_api.call(env, token, c["method"], c["params"])
        mid = answer.result.get("message_id") if isinstance(answer.result, dict) else None
        results.append({"method": c["method"], "ok": answer.ok, "error": answer.error, "messageId": mid})
        if not answer.ok:
            await log(env, "warning", f"telegram desk reply ({c['method']}) not delivered: {answer.error}",
                      request_id=rid)
    return ok({"results": results}, request_id=rid)


MAX_PHOTO_BYTES = 5 * 1024 * 1024  # a chart screenshot; the Bot API serves files up to 20 MB


async def photo(request: Request) -> JSONResponse:
    """`{"fileId"}` of a photo sent to the bot: its bytes (base64) through getFile and the file URL,
    which holds the bot token and so never leaves this worker."""
    import base64

    from hoox_edge.shared.http import http_client

    require_internal(request)
    env = env_of(request)
    body = await json_body(request)
    rid = envelope_request_id(body, request)
    payload = payload_of(body)
    file_id = payload.get("fileId") if isinstance(payload, dict) else None
    if not isinstance(file_id, str) or not 1 <= len(file_id) <= 200:
        raise ApiError(400, VALIDATION_ERROR, "fileId must be a Telegram file_id.",
                       [{"field": "fileId", "issue": "a string of 1 to 200 characters"}])
    token = bot_api.bot_token(env)
    if token is None:
        raise ApiError(503, "NOT_AVAILABLE", "TELEGRAM_BOT_TOKEN is not set.")
    answer = await bot_api.call(env, token, "getFile", {"file_id": file_id})
    info = answer.result if isinstance(answer.result, dict) else {}
    path = info.get("file_path")
    if not answer.ok or not isinstance(path, str):
        raise ApiError(502, "TELEGRAM_ERROR", f"getFile failed: {answer.error or 'no file_path'}")
    if isinstance(info.get("file_size"), int) and info["file_size"] > MAX_PHOTO_BYTES:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"The photo is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB.")
    base = (env.get("TELEGRAM_API_BASE") or bot_api.DEFAULT_API_BASE).rstrip("/")
    try:
        async with http_client(timeout=20) as client:
            resp = await client.get(f"{base}/file/bot{token}/{path}")
    except Exception as exc:
        raise ApiError(502, "TELEGRAM_ERROR", f"the photo could not be downloaded ({type(exc).__name__})") from None
    if resp.status_code != 200 or len(resp.content) > MAX_PHOTO_BYTES:
        raise ApiError(502, "TELEGRAM_ERROR", f"the photo could not be downloaded (HTTP {resp.status_code})")
    mime = "image/png" if path.lower().endswith(".png") else "image/jpeg"  # Telegram re-encodes photos as JPEG
    return ok({"mimeType": mime, "image": base64.b64encode(resp.content).decode(), "bytes": len(resp.content)},
              request_id=rid)
