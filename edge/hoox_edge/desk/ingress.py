"""The gateway's Telegram ingress: `POST /telegram-webhook` (Telegram's secret token in
`X-Telegram-Bot-Api-Secret-Token`) and the seeds' `POST /telegram/{secret}` (the secret in the path).

1. the body: at most 64 KB, a JSON object (400 otherwise);
2. telegram-worker takes it or not (`desk.inbox.take_update`: the secret in constant time -> 401, a
   redelivered update_id or a stranger's chat -> a silent 200); telegram-worker down, not running or
   not bound -> 503 TELEGRAM_UNAVAILABLE, so Telegram delivers the update again later;
3. a taken update runs the desk's handler here (`desk.commands.handle`), whose replies telegram-worker
   sends with the bot token.

`ingest` is steps 2-3 for an update fetched by long polling (`via="polling"`, no secret token).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hoox_edge.desk import commands
from hoox_edge.desk.inbox import SECRET_HEADER
from hoox_edge.desk.updates import parse
from hoox_edge.ports import Env
from hoox_edge.shared import bodies, calls
from hoox_edge.shared.app import env_of, request_id_of
from hoox_edge.shared.auth import INTERNAL_HEADER, REQUEST_ID_HEADER
from hoox_edge.shared.errors import VALIDATION_ERROR, ApiError
from hoox_edge.shared.logs import log
from hoox_edge.shared.redact import MASK

BINDING = "TELEGRAM_SERVICE"
UNAVAILABLE = "TELEGRAM_UNAVAILABLE"
TIMEOUT_S = 10.0


async def _worker(env: Env, path: str, payload: dict[str, Any], rid: str, secret: str | None = None) -> Any:
    """A call to telegram-worker; 503 TELEGRAM_UNAVAILABLE when it cannot be reached."""
    if not env.has(BINDING):
        raise ApiError(503, UNAVAILABLE, f"telegram-worker is not bound to {env.worker} ({BINDING}).")
    headers = {INTERNAL_HEADER: env.get("INTERNAL_KEY_BINDING") or "", "Content-Type": "application/json",
               REQUEST_ID_HEADER: rid}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    try:
        return await env.get(BINDING).fetch("POST", path, json={"requestId": rid, "payload": payload},
                                            headers=headers, timeout=TIMEOUT_S)
    except Exception as exc:
        why = str(exc) if type(exc).__name__ == "ServiceUnavailable" else type(exc).__name__
        raise ApiError(503, UNAVAILABLE, f"telegram-worker is unavailable ({why}); Telegram will deliver the "
                                         "update again.", headers={"Retry-After": "30"}) from None


async def ingest(env: Env, update: Any, *, via: str, rid: str, submit: commands.Submit,
                 secret: str | None = None) -> dict[str, Any]:
    """Offer `update` to telegram-worker; run the handler on a taken one and send its replies.
    `{"taken", "reason", "replies"}`."""
    resp = await _worker(env, "/telegram/update", {"update": update, "via": via}, rid, secret)
    body, err, _ = calls.envelope(resp)
    if resp.status != 200:
        if resp.status >= 500:
            raise ApiError(503, UNAVAILABLE, f"telegram-worker answered {resp.status}: {err.get('message') or ''}")
        raise ApiError(resp.status, err.get("code") or VALIDATION_ERROR, err.get("message") or "refused",
                       err.get("details"))
    verdict = body.get("result") or {}
    if not verdict.get("take"):
        return {"taken": False, "reason": verdict.get("reason"), "replies": 0}
    replies = await commands.handle(env, parse(update), submit)
    if replies:
        for start in range(0, len(replies), 20):  # telegram-worker takes at most 20 calls at once
            sent = await _worker(env, "/telegram/send", {"calls": replies[start:start + 20]}, rid)
            if sent.status != 200:
                await log(env, "warning", f"telegram desk replies not sent: telegram-worker answered {sent.status}",
                          request_id=rid)
    return {"taken": True, "reason": verdict.get("reason"), "replies": len(replies)}


async def _receive(request: Request, secret: str | None, submit: commands.Submit) -> JSONResponse:
    env = env_of(request)
    rid = request_id_of(request)
    raw = await bodies.read_body(request, bodies.WEBHOOK_MAX_BYTES)
    try:
        update = bodies.parse_json(raw)
    except ValueError:
        raise ApiError(400, VALIDATION_ERROR, "The body must be a Telegram Update (a JSON object).",
                       [{"field": "(body)", "issue": "must be JSON"}]) from None
    if not isinstance(update, dict):
        raise ApiError(400, VALIDATION_ERROR, "The body must be a Telegram Update (a JSON object).",
                       [{"field": "(body)", "issue": "must be a JSON object"}])
    out = await ingest(env, update, via="webhook", rid=rid, submit=submit, secret=secret)
    return JSONResponse({"ok": True, "taken": out["taken"]})


def routes(submit: commands.Submit) -> list[Route]:
    """The gateway's two webhook routes; `submit` is its own signal path (`gateway.submit_signal`)."""

    async def telegram_webhook(request: Request) -> JSONResponse:
        return await _receive(request, request.headers.get(SECRET_HEADER), submit)

    async def telegram_path_webhook(request: Request) -> JSONResponse:
        secret = request.path_params["secret"]
        # The path is recorded (api-call data points) and the gateway does not hold this secret to mask it.
        request.scope["path"] = f"/telegram/{MASK}"
        return await _receive(request, secret, submit)

    return [Route("/telegram-webhook", telegram_webhook, methods=["POST"]),
            Route("/telegram/{secret}", telegram_path_webhook, methods=["POST"])]
