"""Open orders and flatten, for the operator API (`/v1/orders`, `/v1/positions/flatten`, the kill
switch's `flatten`).

Every order the desk sends itself goes the same way as a trader's signal: a `trade_signals` row
(source `operator`, its `reason`) and trade-worker's idempotent `/process` under its own request
id, so it is recorded, followed and reconciled like any other (see `hoox_edge.lifecycle`).

Flatten, in a scope (every book by default, or one `mode`; optionally one exchange and/or symbol):
first every resting order in the scope is cancelled (a resting order could otherwise open a new
position after the flatten), then every open position of the scope's books is closed with a CLOSE in
the mode of its own book — a live position is closed on the live exchange even while the desk
trades paper. The answer lists each cancel and each close with its outcome. A close the exchange
could not take now is reported as such (`NOT_PLACED`, nothing was sent) or, when it may have reached
the exchange, as `in_progress` — the reconciler then settles it by its client order id.

One close per position at a time: a flatten's close is recorded only while the position is still open
and no other close of the desk for its book is under way (one statement: two flattens cannot both
pass). Otherwise nothing is sent and the position is reported `already_flat` (with the request that
closed it) or `closing` (with the request closing it) — neither is a failed close.

Every close of a flatten records the reason `flatten`, or `flatten: <the operator's words>` (the
kill switch's `flatten: kill switch`), and every cancel logs it, so a flatten's orders are found by
their reason.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from hoox_edge import lifecycle
from hoox_edge.operator import shapes
from hoox_edge.ports import Env, ServiceResponse
from hoox_edge.shared import calls, clock
from hoox_edge.shared.errors import NOT_PLACED
from hoox_edge.shared.logs import log

CALL_TIMEOUT_S = 30.0  # one close or cancel: several exchange calls of at most 5 s each
MODES = ("paper", "live")
FLATTEN = "flatten"
ALREADY_FLAT = "already_flat"  # a close's outcome: the position was closed before this one was sent
CLOSING = "closing"  # a close's outcome: another close of the desk is closing it now
CLAIM_TRIES = 3  # a close recorded while another one of the position just ended without closing it
# The desk's closes of a whole position, still undecided: another one for the same book waits for them.
_CLOSE_UNDER_WAY = (
    "SELECT request_id FROM trade_signals WHERE action = 'CLOSE' AND source IN ('operator', 'risk')"
    " AND exchange = ? AND symbol = ? AND status IN ('Received', 'Enqueued', 'Executing')"
    " AND json_extract(signal, '$.mode') = ? AND json_extract(signal, '$.quantity') IS NULL")


def flatten_reason(words: str | None) -> str:
    """What a flatten's orders record as their reason: `flatten`, or `flatten: <words>`."""
    words = (words or "").strip()
    return FLATTEN if words in ("", FLATTEN) else f"{FLATTEN}: {words}"


def order_item(r: dict[str, Any]) -> shapes.OpenOrder:
    """A trades row as an open order."""
    return {
        "requestId": r["request_id"], "tradeId": r["id"], "orderId": r["order_id"],
        "clientOrderId": r["client_order_id"], "exchange": r["exchange"], "symbol": r["symbol"],
        "side": r["side"], "action": r["action"], "orderType": r["order_type"], "quantity": r["quantity"],
        "filledQty": r["filled_qty"], "limitPrice": r["limit_price"], "avgPrice": r["price"], "fee": r["fee"],
        "mode": r["mode"], "status": r["status"], "reason": r["reason"], "createdAt": r["created_at"],
        "updatedAt": r["updated_at"], "expiresAt": r["expires_at"],
    }  # fmt: skip


def _scope_sql(mode: str | None, exchange: str | None, symbol: str | None) -> tuple[str, list[Any]]:
    where, args = [], []
    for column, value in (("mode", mode), ("exchange", exchange), ("symbol", symbol)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    return "".join(f" AND {w}" for w in where), args


async def open_orders(env: Env, *, mode: str | None = None, exchange: str | None = None,
                      symbol: str | None = None) -> list[shapes.OpenOrder]:
    clause, args = _scope_sql(mode, exchange, symbol)
    rows = (await env.DB.prepare(
        f"SELECT * FROM trades WHERE status = 'Resting'{clause} ORDER BY created_at DESC, id"
    ).bind(*args).all())["results"]
    return [order_item(r) for r in rows]


async def cancel(env: Env, request_id: str, *, reason: str, operator_rid: str | None) -> ServiceResponse:
    """trade-worker's cancel of one resting order, as it answered."""
    return await calls.call(env, "TRADE_SERVICE", "POST", "/orders/cancel", request_id=operator_rid,
                            payload={"requestId": request_id, "reason": reason}, timeout=CALL_TIMEOUT_S)


async def _cancel_one(env: Env, order: shapes.OpenOrder, reason: str, operator_rid: str) -> shapes.OrderOutcome:
    out: shapes.OrderOutcome = {"requestId": order["requestId"], "exchange": order["exchange"],
                                "symbol": order["symbol"], "mode": order["mode"], "side": order["side"],
                                "status": "unknown"}
    try:
        resp = await cancel(env, order["requestId"], reason=reason, operator_rid=operator_rid)
    except Exception as exc:
        out["error"] = {"code": "TRADE_SERVICE_UNAVAILABLE",
                        "message": f"trade-worker did not answer ({type(exc).__name__})"}
        return out
    body, err, outcome = calls.envelope(resp)
    if resp.status == 200:
        out.update({"status": lifecycle.CANCELLED, "result": body.get("result")})
        return out
    out.update({"status": outcome.get("status") or "error", "result": outcome.get("result"),
                "error": {"code": err.get("code"), "message": err.get("message") or f"HTTP {resp.status}"}})
    return out


async def _market_of(env: Env, request_id: str) -> str:
    """The market (futures or spot) of the signal that last moved a position: the CLOSE goes there."""
    raw = await env.DB.prepare("SELECT signal FROM trade_signals WHERE request_id = ?").bind(request_id).first("signal")
    try:
        market = (json.loads(raw) if raw else {}).get("market")
    except ValueError:
        market = None
    return market if market in ("futures", "spot") else "futures"


async def _not_sent(env: Env, pos: dict[str, Any], out: shapes.OrderOutcome) -> shapes.OrderOutcome | None:
    """Why a close of this position was not recorded: another close under way, or the position is
    flat. None when neither holds any more (the other close ended without closing it): try again."""
    book = (pos["exchange"], pos["symbol"], pos["mode"])
    other = await env.DB.prepare(_CLOSE_UNDER_WAY + " ORDER BY id LIMIT 1").bind(*book).first("request_id")
    if other:
        out.update({"requestId": other, "status": CLOSING,
                    "note": f"closing in request {other} (another close of the desk, under way)"})
        return out
    row = await _position_now(env, pos)
    if row is not None and row["status"] == "OPEN":
        return None
    return _already_flat(out, row)


def _already_flat(out: shapes.OrderOutcome, row: dict[str, Any] | None, why: str = "") -> shapes.OrderOutcome:
    """`out` as a close that found the position closed (`row`: the position now) by another request."""
    by = row["request_id"] if row else None
    out.update({"requestId": by or out["requestId"], "status": ALREADY_FLAT,
                "note": (f"already flat: closed by request {by}" if by else "already flat") + why})
    return out


async def _position_now(env: Env, pos: dict[str, Any]) -> dict[str, Any] | None:
    """The position's row as it is now: its status and the request that last moved (or closed) it."""
    return await env.DB.prepare("SELECT status, request_id FROM positions WHERE id = ?").bind(pos["id"]).first()


async def close(env: Env, pos: dict[str, Any], *, reason: str, operator_rid: str) -> shapes.OrderOutcome:
    """Close one open position with a CLOSE of its own book, through trade-worker's idempotent path;
    nothing is sent when the position is flat already or another close of it is under way."""
    rid = str(uuid.uuid4())
    payload = {"exchange": pos["exchange"], "action": "CLOSE", "symbol": pos["symbol"],
               "market": await _market_of(env, pos["request_id"]), "mode": pos["mode"], "reason": reason,
               "source": "operator"}
    out: shapes.OrderOutcome = {"requestId": rid, "exchange": pos["exchange"], "symbol": pos["symbol"],
                                "mode": pos["mode"], "side": pos["side"], "size": pos["size"],
                                "status": "in_progress"}
    guard = (f"EXISTS (SELECT 1 FROM positions WHERE id = ? AND status = 'OPEN') AND NOT EXISTS ({_CLOSE_UNDER_WAY})",
             [pos["id"], pos["exchange"], pos["symbol"], pos["mode"]])
    for _ in range(CLAIM_TRIES):
        res = await lifecycle.insert_statement(
            env.DB, request_id=rid, source="operator", stored_payload=payload, idempotency_key=None,
            exchange=pos["exchange"], symbol=pos["symbol"], action="CLOSE", quantity=pos["size"], signal=payload,
            reason=reason, only_if=guard).run()
        if res["meta"].get("changes"):
            break
        if (seen := await _not_sent(env, pos, out)) is not None:
            return seen
    else:  # other closes kept starting and ending without closing it: nothing of this one was sent
        out.update({"status": "error", "error": {
            "code": NOT_PLACED, "message": f"other closes of {pos['symbol']} kept starting and failing meanwhile; "
                                           "nothing was sent: flatten again"}})
        return out
    try:
        resp = await calls.call(env, "TRADE_SERVICE", "POST", "/process", request_id=rid, payload=payload,
                                timeout=CALL_TIMEOUT_S)
    except Exception as exc:
        # It may still be running: the reconciler settles it by its client order id.
        out["error"] = {"code": "TRADE_SERVICE_UNAVAILABLE",
                        "message": f"no answer yet ({type(exc).__name__}); follow request {rid}"}
        return out
    body, err, details = calls.envelope(resp)
    if resp.status in (200, 202):
        result = body.get("result")
        status = (result or {}).get("status") if isinstance(result, dict) else body.get("status")
        out.update({"status": status or "in_progress", "result": result})
        return out
    if details.get("retryable"):
        if details.get("orderMayExist"):
            out["error"] = {"code": err.get("code"), "message": err.get("message")}
            return out
        await lifecycle.reject(env, rid, NOT_PLACED, f"flatten: the exchange could not take the close now "
                               f"({err.get('message')}); nothing was sent")
        out.update({"status": lifecycle.REJECTED, "error": {"code": NOT_PLACED, "message": err.get("message")}})
        return out
    out.update({"status": lifecycle.REJECTED, "error": {"code": err.get("code"), "message": err.get("message")}})
    row = await _position_now(env, pos)
    if row is None or row["status"] != "OPEN":  # another order (not the desk's) closed it first: nothing failed
        return _already_flat(out, row, f" while request {rid} was on its way ({err.get('code')})")
    return out


async def flatten(env: Env, *, mode: str | None, exchange: str | None, symbol: str | None, reason: str,
                  operator_rid: str) -> shapes.FlattenResult:
    """Cancel the resting orders, then close the open positions, of a scope (see the module docstring).
    `reason`: the operator's words (its orders record `flatten_reason(reason)`)."""
    tag = flatten_reason(reason)
    scope: shapes.FlattenScope = {"mode": mode or "all", "exchange": exchange, "symbol": symbol}
    resting = await open_orders(env, mode=mode, exchange=exchange, symbol=symbol)
    cancelled = list(await asyncio.gather(*(_cancel_one(env, o, tag, operator_rid) for o in resting)))
    clause, args = _scope_sql(mode, exchange, symbol)
    positions = (await env.DB.prepare(
        f"SELECT id, exchange, symbol, side, size, mode, request_id FROM positions WHERE status = 'OPEN'{clause}"
        " ORDER BY mode, exchange, symbol"
    ).bind(*args).all())["results"]
    closes = list(await asyncio.gather(*(close(env, p, reason=tag, operator_rid=operator_rid)
                                         for p in positions)))
    done = sum(1 for c in closes if c["status"] == lifecycle.FILLED)
    flat = sum(1 for c in closes if c["status"] == ALREADY_FLAT)
    closing = [c for c in closes if c["status"] == CLOSING]
    failed = [c for c in closes if c["status"] not in (lifecycle.FILLED, ALREADY_FLAT, CLOSING)]
    summary = (f"flatten ({reason}) of {scope['mode']}"
               + (f" {exchange}" if exchange else "") + (f" {symbol}" if symbol else "")
               + f": {done}/{len(closes)} positions closed"
               + (f", {flat} already flat" if flat else "") + (f", {len(closing)} being closed by another "
                                                                  "request" if closing else "")
               + f", {len(cancelled)} resting orders cancelled")
    await log(env, "critical" if failed else "warning", summary, request_id=operator_rid,
              details={"scope": scope, "closes": [{k: c.get(k) for k in ("requestId", "symbol", "mode", "status")}
                                                  for c in closes]})
    left = ", ".join(f"{c['mode']} {c['exchange']} {c['symbol']}" for c in failed)
    others = ", ".join(f"{c['mode']} {c['exchange']} {c['symbol']} in {c['requestId']}" for c in closing)
    await calls.alert(env, summary + (f"; NOT closed: {left}" if failed else "")
                      + (f"; closing: {others}" if closing else ""),
                      level="critical" if failed else "warning", request_id=operator_rid)
    return {"scope": scope, "cancelled": cancelled, "closes": closes, "closed": done, "alreadyFlat": flat,
            "closing": len(closing), "failed": len(failed), "time": clock.iso()}
