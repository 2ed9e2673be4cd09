"""After placement: resting orders followed until they end, cancels, and the reconciler that
resolves what a crash left behind.

The reconciler runs when trade-worker starts (locally), on its cron every minute and, for one
signal, whenever a resend of the same idempotency key resumes it. For every signal left in an
intermediate state whose owner is gone (see `hoox_edge.lifecycle`):

- Received with no order row: the gateway never handed it over, so nothing was placed → Rejected
  NOT_PLACED (and its idempotency lock released) once its webhook request is surely over;
- Executing whose attempt's lease lapsed: the exchange is asked for the order by its client order
  id; an order found is recorded (fill, resting, end) exactly once; one not found after the
  placement deadline was provably never placed → Rejected NOT_PLACED; before it, left for later;
- Resting: the order follower asks the exchange for the order's state and records new fills and
  its end; an order past its expiry (KV `trade:resting_order_ttl_minutes`) is cancelled → Expired.
- a swap (`"exchange": "dex"`, no order row) Executing whose attempt's lease (`lifecycle.SWAP_LEASE_SECONDS`
  from its start, or a stopped local runtime) lapsed: delivered again to `dex.execute` under its request
  id. web3-wallet-worker answers a request id it already sent with that transaction (and looks for its
  receipt again), so the swap is recorded, never sent twice. Received with nothing in the wallet's
  ledger: never handed over → Rejected NOT_PLACED, as an order's.

Enqueued signals belong to the queue (a consumer's lease expires and the message comes again), so
the reconciler leaves them alone.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any, Literal

from hoox_edge import dex, execution, lifecycle
from hoox_edge.exchanges.base import ExchangeError
from hoox_edge.ports import Env
from hoox_edge.shared import calls, clock
from hoox_edge.shared.errors import EXCHANGE_ERROR, EXCHANGE_UNAVAILABLE, NOT_FOUND, ApiError
from hoox_edge.shared.logs import log
from hoox_edge.shared.signal import is_dex

_py = logging.getLogger("hoox.edge")
BATCH = 200  # signals looked at per run (the oldest first); the next run takes the rest
FollowAction = Literal["check", "cancel", "expire"]
ORDER_NOT_OPEN = "ORDER_NOT_OPEN"


def _market(state: lifecycle.SignalState) -> str:
    return str((state.signal or {}).get("market") or "futures")


async def follow(env: Env, request_id: str, action: FollowAction = "check") -> dict[str, Any]:
    """Ask the exchange for a request's order (cancelling or expiring it first) and record its state."""
    state = await lifecycle.load(env.DB, request_id)
    if state is None or state.trade is None:
        raise ApiError(404, NOT_FOUND, f"No order for request {request_id}.")
    trade = state.trade
    if action != "check" and trade["status"] != lifecycle.RESTING:
        raise ApiError(409, ORDER_NOT_OPEN, f"Order of request {request_id} is {trade['status']}, not resting: "
                       "only a resting order can be cancelled.", details=state.outcome())
    p = await execution.provider(env, trade["exchange"], trade["mode"], _market(state), request_id=request_id)
    try:
        result = None
        if action != "check":
            try:
                result = await p.cancel_order(trade["symbol"], trade["client_order_id"])
            except ExchangeError as exc:
                if exc.retryable:
                    raise
                result = None  # not open any more (filled meanwhile?): read what it is
        if result is None:
            result = await p.get_order(trade["symbol"], trade["client_order_id"])
        if result is None:
            text = f"the exchange no longer knows order {trade['order_id']}"
            await lifecycle.finish(env, request_id, lifecycle.CANCELLED, None, text, frm=(lifecycle.RESTING,))
            await log(env, "warning", f"Order gone: {text}", request_id=request_id)
            return execution.replay(await _state(env, request_id))
        if action == "expire" and result.status == "Cancelled":
            result = dataclasses.replace(result, status="Expired")
        return await execution.record_order(env, request_id, result, provider=p)
    finally:
        await execution.close_provider(p)


async def cancel(env: Env, request_id: str, *, reason: str = "operator") -> dict[str, Any]:
    """Cancel a resting order. Its fills so far stay recorded; an order that filled meanwhile is
    recorded as filled and answered 409 ORDER_NOT_OPEN with its outcome. An exchange that cannot
    be reached answers 503 EXCHANGE_UNAVAILABLE (the order still rests: cancel it again later), one
    that refuses the look-up 502 EXCHANGE_ERROR; the order stays Resting and followed either way."""
    try:
        result = await follow(env, request_id, "cancel")
    except ExchangeError as exc:
        raise _cancel_failed(await _state(env, request_id), exc) from None
    state = await _state(env, request_id)
    await log(env, "warning", f"Order cancel ({reason}): {state.status}", request_id=request_id,
              details={"reason": reason, "status": state.status})
    if state.status != lifecycle.CANCELLED:
        raise ApiError(409, ORDER_NOT_OPEN, f"Order of request {request_id} is {state.status}: it could not be "
                       "cancelled.", details=state.outcome())
    return result


def _cancel_failed(state: lifecycle.SignalState, exc: ExchangeError) -> ApiError:
    """The error answer of a cancel the exchange did not take, in the words of the exchange."""
    trade = state.trade or {}
    venue = f"{trade.get('exchange')} ({trade.get('mode')})"
    text = exc.message if exc.code is None else f"{exc.message} (exchange code {exc.code})"
    details = {"retryable": exc.retryable, "retryAfter": exc.retry_after, "exchangeCode": exc.code,
               "kind": exc.kind, "status": state.status}
    if exc.retryable:
        headers = {"Retry-After": str(math.ceil(exc.retry_after))} if exc.retry_after else None
        return ApiError(503, EXCHANGE_UNAVAILABLE, f"{venue} could not be reached to cancel the order of request "
                        f"{state.request_id}: {text}. The order may still rest on the book (it is still followed): "
                        "cancel it again once the exchange answers.", details=details, headers=headers)
    return ApiError(502, EXCHANGE_ERROR, f"{venue} refused the cancel of the order of request {state.request_id}: "
                    f"{text}. It is still followed; look at it with GET /v1/orders.", details=details)


async def _state(env: Env, request_id: str) -> lifecycle.SignalState:
    state = await lifecycle.load(env.DB, request_id)
    assert state is not None
    return state


def _stranded(env: Env, since: str, budget: float = lifecycle.STRANDED_AFTER_SECONDS) -> bool:
    """Is the owner of what started at `since` gone? Older than its budget, or older than this local
    runtime (which started after the one that owned it stopped)."""
    started = clock.parse(since) or 0.0
    info = env.get("RUNTIME_INFO")
    if info is not None and info.started_at() is not None and started < info.started_at():
        return True
    return started + budget < clock.now()


async def _resolve_swap(env: Env, state: lifecycle.SignalState) -> str:
    """A swap left Received or Executing: delivered again once its owner is gone (see the module)."""
    rid = state.request_id
    if state.status == lifecycle.RECEIVED:
        if not _stranded(env, state.created_at):
            return "in progress"
        sent = await env.DB.prepare("SELECT 1 AS x FROM wallet_transactions WHERE request_id IN (?, ?)").bind(
            rid, f"{rid}:approve").first()
        if not sent:
            text = "the swap never reached trade-worker (the gateway stopped first), so nothing was sent"
            done = await lifecycle.reject(env, rid, lifecycle.NOT_PLACED, text, frm=(lifecycle.RECEIVED,))
            return "not placed" if done else "moved"
    elif not _stranded(env, state.updated_at, lifecycle.SWAP_LEASE_SECONDS):
        return "in progress"
    await log(env, "warning", "Swap delivered again by the reconciler: its attempt stopped before recording it",
              request_id=rid, details={"status": state.status, "since": state.updated_at})
    try:
        await dex.execute(env, rid, state.signal)
    except execution.InProgress:
        return "in progress"  # the transaction is out, its receipt not in yet: looked at on a later run
    except ApiError as exc:
        if exc.status == 503 and isinstance(exc.details, dict) and exc.details.get("retryable"):
            raise  # not decided: counted as an error of this run, tried again on the next
        return "recorded"  # rejected, and recorded so
    return "recorded"


async def resolve(env: Env, request_id: str) -> str:
    """Resolve one signal whose owner is gone; returns what was done (for logs and tests)."""
    state = await lifecycle.load(env.DB, request_id)
    if state is None or state.final:
        return "final"
    trade = state.trade
    if state.status == lifecycle.RESTING or (trade is not None and trade["status"] == lifecycle.RESTING):
        await follow(env, request_id)
        return "followed"
    if state.status not in (lifecycle.RECEIVED, lifecycle.EXECUTING):
        return "owned"  # Enqueued: the queue owns it
    if is_dex(state.signal):
        return await _resolve_swap(env, state)
    if trade is None:
        if not _stranded(env, state.created_at):
            return "in progress"
        text = "the signal never reached trade-worker (the gateway stopped first), so no order was placed"
        done = await lifecycle.reject(env, request_id, lifecycle.NOT_PLACED, text, frm=(lifecycle.RECEIVED,))
        return "not placed" if done else "moved"
    if lifecycle.lease_alive(env, trade):
        return "in progress"
    p = await execution.provider(env, trade["exchange"], trade["mode"], _market(state), request_id=request_id)
    try:
        found = await p.get_order(trade["symbol"], trade["client_order_id"])
        if found is not None:
            await execution.record_order(env, request_id, found, provider=p)
            return "recorded"
    finally:
        await execution.close_provider(p)
    if not lifecycle.placement_deadline_passed(env, trade):
        return "waiting for the deadline"
    text = (f"the exchange has no order {trade['client_order_id']} and none can arrive any more (the attempt "
            "stopped before placing it), so it was not placed")
    done = await lifecycle.finish(env, request_id, lifecycle.REJECTED, lifecycle.NOT_PLACED, text,
                                  frm=(lifecycle.EXECUTING, lifecycle.RECEIVED), attempts=int(trade["attempts"]))
    return "not placed" if done else "moved"


async def run(env: Env) -> dict[str, Any]:
    """One pass: every stranded signal and every resting order. Never raises; returns a summary."""
    db = env.DB
    summary: dict[str, Any] = {"looked": 0, "notPlaced": [], "recorded": [], "followed": 0, "expired": [],
                               "errors": []}
    rows = (await db.prepare(
        "SELECT request_id FROM trade_signals WHERE status IN ('Received', 'Executing') ORDER BY id LIMIT ?"
    ).bind(BATCH).all())["results"]
    for r in rows:
        rid = r["request_id"]
        summary["looked"] += 1
        try:
            what = await resolve(env, rid)
        except Exception as exc:
            summary["errors"].append({"requestId": rid, "error": _error_text(exc)})
            continue
        if what == "not placed":
            summary["notPlaced"].append(rid)
        elif what == "recorded":
            summary["recorded"].append(rid)
    now = clock.iso()
    resting = (await db.prepare(
        "SELECT request_id, expires_at FROM trades WHERE status = 'Resting' ORDER BY created_at LIMIT ?"
    ).bind(BATCH).all())["results"]
    for r in resting:
        rid = r["request_id"]
        action: FollowAction = "expire" if r["expires_at"] and r["expires_at"] <= now else "check"
        try:
            await follow(env, rid, action)
            summary["followed"] += 1
            if action == "expire":
                summary["expired"].append(rid)
        except Exception as exc:
            summary["errors"].append({"requestId": rid, "error": _error_text(exc)})
    if summary["notPlaced"] or summary["recorded"] or summary["expired"] or summary["errors"]:
        level = "warning" if summary["errors"] or summary["notPlaced"] else "info"
        await log(env, level, f"Reconciler: {len(summary['recorded'])} recorded, {len(summary['notPlaced'])} not "
                  f"placed, {len(summary['expired'])} expired, {len(summary['errors'])} errors", details=summary)
        if summary["notPlaced"]:
            await calls.alert(env, f"{len(summary['notPlaced'])} signal(s) left by a stop were never placed and are "
                              "now Rejected (NOT_PLACED); their senders may send them again.", level="warning")
    return summary


def _error_text(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
