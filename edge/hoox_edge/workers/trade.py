"""trade-worker: the execution engine.

Routes (internal: `X-Internal-Auth-Key`):
- `POST /process` `{"requestId", "payload": signal}`: execute once per request id
  (`hoox_edge.execution`): 200 with the fill, 202 `Resting` (the order rests on the book) or 202
  `in_progress` (another attempt holds it), 400/422/502 rejections (recorded, never retried), 503
  EXCHANGE_UNAVAILABLE (retryable: the gateway queues it);
- `POST /orders/cancel` `{"payload": {"requestId"}}`: cancel a resting order (`hoox_edge.reconcile`);
- `POST /reconcile`: run the reconciler and order follower now (as the cron does);
- `POST /dex` `{"requestId", "payload": {"exchange": "dex", "chain", "router", "tokenIn", "tokenOut",
  "quantity", "slippageBps"?, "deadlineSeconds"?, "to"?, "account"?}}` (a `DexSignal`, as the gateway
  sends it): a swap of `quantity` tokenIn for tokenOut through a Uniswap V2-style router
  (swapExactTokensForTokens, at least the router's quote less slippageBps, default 50), signed and sent
  by web3-wallet-worker (WEB3_SERVICE), exactly once per request id, its outcome recorded on the
  signal's row (`hoox_edge.dex`): 200 Filled, 202 in_progress, 400/422/502 rejections, 503 retryable;
- `GET /health`.

The `trade-execution` queue consumer runs the same `execute` (a swap's: `dex.execute`); a retryable
failure is retried on KV `webhooks:retry_schedule_seconds`, then dead-lettered to TRADE_DLQ with a
critical alert. The cron (every minute) and the local runtime's start run the reconciler.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hoox_edge import dex as swaps
from hoox_edge import lifecycle, reconcile
from hoox_edge.exchanges import live
from hoox_edge.execution import InProgress, Retryable, execute
from hoox_edge.ports import Env, MessageBatch, QueueMessage
from hoox_edge.shared import calls, clock, settings
from hoox_edge.shared.app import env_of, envelope_request_id, json_body, make_app, payload_of
from hoox_edge.shared.auth import require_internal
from hoox_edge.shared.errors import EXCHANGE_UNAVAILABLE, VALIDATION_ERROR, ApiError, ok
from hoox_edge.shared.logs import log
from hoox_edge.shared.signal import is_dex

WORKER = "trade-worker"
MAX_QUEUE_DELAY = 12 * 3600  # Cloudflare Queues' longest retry delay


def answer(rid: str | None, result: dict[str, Any]) -> JSONResponse:
    """200 for a fill; 202 for an order that rests on the book (with what filled of it so far)."""
    if result.get("status") == lifecycle.FILLED:
        return ok(result, request_id=rid)
    return ok(result, request_id=rid, status=202)


def in_progress(exc: InProgress) -> JSONResponse:
    return JSONResponse({"success": True, "requestId": exc.request_id, "status": "in_progress",
                         "message": str(exc), "result": None, "error": None}, status_code=202)


# --------------------------------------------------------------------------- HTTP
async def process(request: Request) -> JSONResponse:
    require_internal(request)
    env = env_of(request)
    body = await json_body(request)
    payload = payload_of(body)
    # The signal's request id keys its ledger row: taken from the envelope, else the header; never made up.
    given = body.get("requestId") or request.headers.get("X-Request-Id")
    rid = envelope_request_id({"requestId": given}, request) if given else None
    try:
        result = await execute(env, rid, payload)
    except InProgress as exc:
        return in_progress(exc)
    return answer(rid, result)


async def dex(request: Request) -> JSONResponse:
    require_internal(request)
    env = env_of(request)
    body = await json_body(request)
    payload = payload_of(body)
    rid = envelope_request_id(body, request)
    if not is_dex(payload):
        raise ApiError(400, VALIDATION_ERROR, 'A /dex signal has "exchange": "dex".',
                       [{"field": "exchange", "issue": 'Must be "dex" on /dex.'}])
    try:
        result = await swaps.execute(env, rid, payload)
    except InProgress as exc:
        return in_progress(exc)
    return ok(result, request_id=rid)


async def cancel_order(request: Request) -> JSONResponse:
    require_internal(request)
    env = env_of(request)
    payload = payload_of(await json_body(request))
    rid = payload.get("requestId") if isinstance(payload, dict) else None
    reason = payload.get("reason") if isinstance(payload, dict) else None
    if not isinstance(rid, str) or not rid or len(rid) > 128:
        raise ApiError(400, VALIDATION_ERROR, 'Expected {"payload": {"requestId": "..."}}.')
    result = await reconcile.cancel(env, rid, reason=reason if isinstance(reason, str) else "operator")
    return ok(result, request_id=rid)


async def run_reconciler(request: Request) -> JSONResponse:
    require_internal(request)
    return ok(await reconcile.run(env_of(request)))


async def health(request: Request) -> JSONResponse:
    env = env_of(request)
    checks: dict[str, str] = {}
    mode = None
    try:
        await env.DB.prepare("SELECT 1 AS ok").first()
        checks["db"] = "ok"
    except Exception as exc:
        checks["db"] = f"error ({type(exc).__name__})"
    try:
        mode = await settings.get(env.CONFIG_KV, settings.TRADE_MODE)
        checks["kv"] = "ok"
    except Exception as exc:
        checks["kv"] = f"error ({type(exc).__name__})"
    healthy = all(v == "ok" for v in checks.values())
    return ok({"worker": env.worker, "status": "healthy" if healthy else "degraded", "mode": mode,
               "checks": checks, "exchanges": await exchange_status(env, mode)}, status=200 if healthy else 503)


async def exchange_status(env: Env, mode: str | None) -> list[dict[str, Any]]:
    """Per exchange: are its API keys set (never their values), where live orders go, and whether
    signals routed to it trade live now (trade:mode live and keys set)."""
    out = []
    for name in settings.EXCHANGES:
        has_keys = live.credentials(env, name) is not None
        try:
            base_url = await settings.get(env.CONFIG_KV, settings.base_url_of(name))
            testnet = await settings.get(env.CONFIG_KV, settings.testnet_of(name))
            endpoint = "custom" if base_url else "testnet" if testnet else "production"
        except Exception:
            endpoint = "invalid setting"
        out.append({"name": name, "credentials": has_keys, "secrets": list(live.secret_names(name)),
                    "endpoint": endpoint, "live": mode == "live" and has_keys})
    return out


app = make_app(WORKER, [
    Route("/process", process, methods=["POST"]),
    Route("/orders/cancel", cancel_order, methods=["POST"]),
    Route("/reconcile", run_reconciler, methods=["POST"]),
    Route("/dex", dex, methods=["POST"]),
    Route("/health", health, methods=["GET"]),
])


# --------------------------------------------------------------------------- cron and start
async def scheduled(cron: str, env: Env) -> None:
    """Every minute: the reconciler and the order follower."""
    await reconcile.run(env)


async def on_start(env: Env) -> None:
    """The local runtime calls this once it serves: what a stopped runtime left is resolved now."""
    await reconcile.run(env)


# --------------------------------------------------------------------------- queue
async def retry_schedule(env: Env) -> list[int]:
    try:
        return list(await settings.get(env.CONFIG_KV, settings.RETRY_SCHEDULE))
    except Exception:  # a corrupt setting must not lose messages: fall back to the default
        return list(settings.known(settings.RETRY_SCHEDULE).default)


async def queue(batch: MessageBatch, env: Env) -> None:
    """Consumer of `trade-execution`: the same path as /process, retried on the KV schedule."""
    for message in batch.messages:
        await consume(env, message)


async def consume(env: Env, message: QueueMessage) -> None:
    body = message.body
    rid = body.get("requestId") if isinstance(body, dict) else None
    payload = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(rid, str) or not rid or not isinstance(payload, dict):
        # It can never run; keep it where an operator sees it instead of retrying it.
        await _dead_letter(env, message, rid if isinstance(rid, str) else None, payload,
                           "malformed queue message: expected {requestId, payload}")
        return
    await log(env, "info", f"Queued signal picked up (delivery {message.attempts}): {_what(payload)}",
              request_id=rid, details={"attempt": message.attempts, "messageId": message.id,
                                       "reason": body.get("reason")})
    try:
        if is_dex(payload):
            await swaps.execute(env, rid, payload)
        else:
            await execute(env, rid, payload, queued=True)
        message.ack()
    except InProgress as exc:
        # Another attempt (a direct call that outlived the gateway's wait) holds it: look again
        # once its lease is over; that attempt records the outcome meanwhile.
        until = clock.parse(exc.lease_until) or clock.now()
        message.retry(delay_seconds=min(MAX_QUEUE_DELAY, max(1, math.ceil(until - clock.now()) + 1)))
    except Retryable as exc:
        await _retry_or_dead_letter(env, message, rid, payload, exc.message, exc.retry_after)
    except ApiError:
        message.ack()  # rejected: recorded and alerted by execute, never retried
    except Exception as exc:
        await log(env, "error", f"Unexpected {type(exc).__name__} while executing a queued signal",
                  request_id=rid, details={"attempt": message.attempts})
        await _retry_or_dead_letter(env, message, rid, payload, f"internal error ({type(exc).__name__})", None)


def _what(sig: dict[str, Any]) -> str:
    if is_dex(sig):
        return f"swap {sig.get('quantity')} {sig.get('tokenIn')} -> {sig.get('tokenOut')} on {sig.get('chain')}"
    return f"{sig.get('action', '?')} {sig.get('symbol', '?')}"


async def _retry_or_dead_letter(env: Env, message: QueueMessage, rid: str, payload: Any, error: str,
                                retry_after: float | None) -> None:
    schedule = await retry_schedule(env)
    n = message.attempts
    if n <= len(schedule):
        delay = min(MAX_QUEUE_DELAY, max(schedule[n - 1], math.ceil(retry_after or 0)))
        message.retry(delay_seconds=delay)
        await log(env, "warning", f"Retry {n}/{len(schedule)} scheduled in {delay}s: {error}", request_id=rid,
                  details={"attempt": n, "delaySeconds": delay, "retryAfter": retry_after})
        return
    await _dead_letter(env, message, rid, payload, error)


async def _dead_letter(env: Env, message: QueueMessage, rid: str | None, payload: Any, error: str) -> None:
    """To TRADE_DLQ, then the ledger and a critical alert; acked only once the DLQ holds it."""
    try:
        await env.TRADE_DLQ.send({"requestId": rid, "payload": payload, "lastError": error,
                                  "attempts": message.attempts, "deadLetteredAt": clock.iso()})
    except Exception as exc:
        await log(env, "error", f"Could not dead-letter the message ({type(exc).__name__}); retrying it",
                  request_id=rid)
        schedule = await retry_schedule(env)
        message.retry(delay_seconds=min(MAX_QUEUE_DELAY, schedule[-1] if schedule else 60))
        return
    text = f"gave up after {message.attempts} attempts: {error}"
    try:
        if rid:
            await lifecycle.finish(env, rid, lifecycle.DEAD_LETTERED, EXCHANGE_UNAVAILABLE, text,
                                   frm=(lifecycle.RECEIVED, lifecycle.ENQUEUED, lifecycle.EXECUTING),
                                   trade_from=(lifecycle.PENDING,))
    except Exception as exc:  # the DLQ holds the message; the ledger catches up on a re-drive
        await log(env, "error", f"Could not mark the signal DeadLettered ({type(exc).__name__})", request_id=rid)
    what = _what(payload if isinstance(payload, dict) else {})
    await log(env, "critical", f"Dead-lettered {what}: {text}", request_id=rid,
              details={"attempts": message.attempts, "queue": "trade-execution-dlq"})
    await calls.alert(env, f"Trade {what} dead-lettered after {message.attempts} attempts: {error}. "
                      f"Request {rid}; it is in the dead-letter queue.", level="critical", request_id=rid)
    message.ack()
