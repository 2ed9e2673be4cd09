"""`GET /v1/signals/{requestId}/timeline`: every stage one signal went through, in order, in one answer.

"What happened to my alert?" is answered from the records each worker already keeps under the
request id — nothing here is inferred or estimated:

- the ledger: the `trade_signals` row (when it was received, the normalised signal, its state now),
  the `trades` row (its order, attempts, fill), `balances` snapshots of its fills, `alerts` raised for it,
  and the other signals that repeated it (a resend names its original; an original lists its resends);
- `system_logs` rows of the request, each classified by what its writer records (validated, lock
  taken, queued, picked up from the queue, retry scheduled, order sent, filled, position change,
  rejected, dead-lettered ...);
- Analytics Engine (through analytics-worker's `/query`): the `api-call` points of each worker's
  request with this id (the webhook itself, trade-worker's `/process`, ...) and the `exchange-call`
  points of every call to the exchange (live or paper) with its latency and answer. Their start
  times in ms (double4 / double5) place them among the ledger's times;
- the queues (local runtime's `QUEUE_ADMIN`): a message of the request still waiting in the trade
  queue, or held in the dead-letter queue.

A source that cannot be read (analytics-worker down, Cloudflare's queues, which a worker cannot
inspect) is named in `unavailable` with the reason; the stages of the others are still shown.
Every stage's details pass the secret redaction (`shared.redact.redact`): a secret of this
deployment, and any value under a key, signature, token or password field, shows as `***`.

The output is bounded: at most `MAX_STAGES` stages (`truncated` says when some were left out: the
earliest are kept) and the signal's state now is always the last stage.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from hoox_edge import catalog
from hoox_edge.ledger import split_error
from hoox_edge.operator import shapes
from hoox_edge.ports import Env, QueueAdminUnavailable
from hoox_edge.shared import calls, clock
from hoox_edge.shared.errors import NOT_FOUND, VALIDATION_ERROR, ApiError
from hoox_edge.shared.redact import REQUEST_ID_CHARS, preview, redact

MAX_STAGES = 200
PREFIX_MIN = 8  # as `hoox orders cancel`: a shorter start could name another signal
CANDIDATES_SHOWN = 5
RESENDS_SHOWN = 20
QUEUE_SCAN = 500  # messages of a queue looked at for this request
AMBIGUOUS_REQUEST_ID = "AMBIGUOUS_REQUEST_ID"
_ID_TABLES = ("trade_signals", "trades", "system_logs")  # each has an index on request_id
QUERY_BUDGET_S = 4.0

# What each log row records, by the start of the message its writer gives it (gateway, execution,
# trade-worker's queue consumer). First match wins; anything else is shown as a plain `log` stage.
_LOG_KINDS: tuple[tuple[str, shapes.StageKind], ...] = (
    ("signal received", "validated"),
    ("idempotency lock taken", "locked"),
    ("signal refused: duplicate of", "resend"),
    ("resend of", "resend"),
    ("signal enqueued", "queued"),
    ("Queued signal picked up", "queue-delivery"),
    ("Retry ", "retry"),
    ("Dead-lettered", "dead-letter"),
    ("Order sent", "order"),
    ("Swap sent", "order"),
    ("Swap filled", "fill"),
    ("Retrying order", "order"),
    ("Order filled", "fill"),
    ("Order resting", "resting"),
    ("Order ended", "ended"),
    ("Exchange unavailable", "exchange-unavailable"),
    ("Rejected", "rejected"),
    ("signal refused", "rejected"),
    ("signal rejected", "rejected"),
    ("signal not delivered", "rejected"),
    ("webhook rejected", "rejected"),
)
# Order of stages recorded in the same millisecond: the pipeline's own order.
_RANK = {kind: i for i, kind in enumerate((
    "received", "validated", "rejected", "locked", "resend", "delivered", "queued", "queue-delivery", "order",
    "exchange-call", "exchange-unavailable", "fill", "position", "balance", "resting", "ended", "retry",
    "dead-letter", "queue", "log", "call", "alert", "answered"))}


def log_kind(message: str) -> shapes.StageKind:
    for start, kind in _LOG_KINDS:
        if message.startswith(start):
            return kind
    return "log"


# --------------------------------------------------------------------------- resolving the id
async def resolve(env: Env, wanted: str) -> str:
    """The request id `wanted` names: itself when a record has it, else the one request id that
    starts with it (at least `PREFIX_MIN` characters). 404 when none does, 400 when several do."""
    db = env.DB
    for table in _ID_TABLES:
        if await db.prepare(f"SELECT 1 AS x FROM {table} WHERE request_id = ? LIMIT 1").bind(wanted).first():
            return wanted
    quoted = preview(wanted, limit=REQUEST_ID_CHARS)  # what the user typed, whole (unless key-like)
    if len(wanted) < PREFIX_MIN:
        raise ApiError(400, VALIDATION_ERROR,
                       f"requestId: no signal has the request id {quoted}; give the whole id or at least "
                       f"its first {PREFIX_MIN} characters.",
                       [{"field": "requestId", "issue": f"unknown, and shorter than {PREFIX_MIN} characters"}])
    # A range on the request_id index (binary text order): every id that starts with `wanted`.
    upper = wanted[:-1] + chr(ord(wanted[-1]) + 1)
    found: set[str] = set()
    for table in _ID_TABLES:
        rows = (await db.prepare(
            f"SELECT DISTINCT request_id FROM {table} WHERE request_id >= ? AND request_id < ? LIMIT ?"
        ).bind(wanted, upper, CANDIDATES_SHOWN + 1).all())["results"]
        found.update(r["request_id"] for r in rows)
    if not found:
        raise ApiError(404, NOT_FOUND, f"No signal or log has a request id that is or starts with {quoted}.")
    if len(found) > 1:
        shown = sorted(found)[:CANDIDATES_SHOWN]
        raise ApiError(400, AMBIGUOUS_REQUEST_ID,
                       f"{quoted} starts the request ids of several signals ({', '.join(shown)}"
                       + (", ..." if len(found) > CANDIDATES_SHOWN else "") + "): give more of it.",
                       [{"field": "requestId", "issue": "ambiguous", "candidates": shown}])
    return found.pop()


# --------------------------------------------------------------------------- stages
def _stage(at: str | None, kind: shapes.StageKind, summary: str, *, worker: str | None, source: shapes.StageSource,
           level: str | None = None, details: Any = None) -> shapes.TimelineStage:
    return {"at": at, "offsetMs": None, "kind": kind, "worker": worker, "level": level, "summary": summary,
            "details": details, "source": source}


def _num(v: Any) -> str:
    """A figure as the ledger's logs print it: no float noise, no trailing zeros."""
    if v is None:
        return "?"
    if isinstance(v, float):
        text = f"{v:.10f}".rstrip("0").rstrip(".")
        return text or "0"
    return str(v)


def _position(p: Any) -> str:
    if not isinstance(p, dict):
        return "flat"
    return f"{p.get('side')} {_num(p.get('size'))} @ {_num(p.get('entryPrice'))}"


def _signal_text(row: dict[str, Any], sig: dict[str, Any] | None) -> str:
    s = sig or {}
    if s.get("exchange") == "dex":
        return f"SWAP {s.get('quantity')} {s.get('tokenIn')} -> {s.get('tokenOut')} on dex ({s.get('chain')})"
    action = s.get("action") or row.get("action") or "?"
    symbol = s.get("symbol") or row.get("symbol") or "?"
    qty = s.get("quantity", row.get("quantity"))
    where = s.get("exchange") or row.get("exchange")
    text = f"{action} {symbol}" + (f" {_num(qty)}" if qty is not None else "")
    if where:
        text += f" on {where}"
    return text


def _ledger_stages(sig: dict[str, Any] | None, signal: dict[str, Any] | None) -> list[shapes.TimelineStage]:
    if sig is None:
        return []
    summary = f"{sig.get('source') or 'webhook'} signal {_signal_text(sig, signal)}"
    if sig.get("reason"):
        summary += f" (sent by the desk: {sig['reason']})"
    return [_stage(sig["created_at"], "received", summary, worker="hoox" if sig.get("source") == "webhook" else None,
                   source="ledger", details={"source": sig.get("source"), "idempotencyKey": sig.get("idempotency_key"),
                                             "payload": _json(sig.get("payload"))})]


def _swap(sig: dict[str, Any]) -> shapes.SwapRecord | None:
    """A swap's recorded outcome (trade_signals.result), as the ledger keeps it."""
    value = _json(sig.get("result"))
    return value if isinstance(value, dict) else None  # type: ignore[return-value]


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _log_stages(rows: Iterable[dict[str, Any]], signal: dict[str, Any] | None) -> list[shapes.TimelineStage]:
    out: list[shapes.TimelineStage] = []
    for r in rows:
        kind = log_kind(r["message"])
        details = _json(r.get("details"))
        summary = r["message"]
        if kind == "validated" and signal:
            extra = ", ".join(f"{k} {signal[k]}" for k in ("market", "orderType", "leverage") if signal.get(k))
            summary = f"valid signal: {_signal_text({}, signal)}" + (f" ({extra})" if extra else "")
        elif kind == "rejected" and isinstance(details, dict):
            summary += _refusal(details)
        elif kind == "locked" and isinstance(details, dict):
            summary = f"idempotency lock taken ({details.get('key')} key, held {_num(details.get('ttlSeconds'))} s)"
        out.append(_stage(r["created_at"], kind, summary, worker=r["worker"], level=r["level"], source="log",
                          details=details))
        if kind == "fill" and isinstance(details, dict) and "positionAfter" in details:
            before, after = details.get("positionBefore"), details.get("positionAfter")
            text = (f"{details.get('mode')} {details.get('exchange')} {details.get('symbol')} position: "
                    f"{_position(before)} -> {_position(after)}")
            if details.get("realizedPnl"):
                text += f", realised P&L {_num(details['realizedPnl'])}"
            out.append(_stage(r["created_at"], "position", text, worker=r["worker"], source="log",
                              details={"before": before, "after": after, "realizedPnl": details.get("realizedPnl")}))
    return out


def _refusal(details: dict[str, Any]) -> str:
    """` (CODE: field: issue; ...)`: what a refusal's log details say, on its line."""
    parts = [str(details["code"])] if isinstance(details.get("code"), str) else []
    issues = details.get("details")
    if isinstance(issues, list):
        parts += [f"{d.get('field')}: {d.get('issue')}" for d in issues[:3] if isinstance(d, dict)]
    return f" ({'; '.join(parts)})" if parts else ""


def _balance_stages(rows: Iterable[dict[str, Any]]) -> list[shapes.TimelineStage]:
    return [_stage(r["created_at"], "balance",
                   f"{r['mode']} {r['exchange']} {r['asset']} balance after the fill: {_num(r['total'])} "
                   f"({_num(r['free'])} free, {_num(r['locked'])} locked)",
                   worker="trade-worker", source="ledger",
                   details={k: r[k] for k in ("exchange", "asset", "free", "locked", "total", "mode")})
            for r in rows]


def _alert_stages(rows: Iterable[dict[str, Any]]) -> list[shapes.TimelineStage]:
    return [_stage(r["created_at"], "alert", f"alert ({r['level']}, {r['delivery']}): {r['message']}",
                   worker=r["source"], level=r["level"], source="ledger",
                   details={"delivery": r["delivery"], "error": r["error"]})
            for r in rows]


def _at_ms(ms: Any, fallback: Any) -> str | None:
    """An analytics point's time: its start in ms when it carries one, else its whole-second timestamp."""
    if isinstance(ms, (int, float)) and ms > 0:
        return clock.iso(float(ms) / 1000)
    if fallback:
        return str(fallback).replace(" ", "T")[:19] + ".000Z"
    return None


def _analytics_stages(points: Iterable[dict[str, Any]]) -> list[shapes.TimelineStage]:
    out: list[shapes.TimelineStage] = []
    for p in points:
        worker, latency = p.get("worker") or None, float(p.get("d1") or 0)
        if p["kind"] == "exchange-call":
            exchange, op, outcome, mode = p.get("b3"), p.get("b4"), p.get("b5"), p.get("b6") or ""
            status = int(p.get("d3") or 0)
            text = f"{mode} {exchange} {op}: {outcome} in {latency:.1f} ms".strip()
            if status:
                text += f" (HTTP {status})"
            details: dict[str, Any] = {"exchange": exchange, "operation": op, "mode": mode or None,
                                       "outcome": outcome, "latencyMs": latency, "httpStatus": status or None}
            if p.get("b7"):
                details["rateLimit"] = _json(p["b7"])
            at = _at_ms(p.get("d5"), p.get("timestamp"))
            out.append(_stage(at, "exchange-call", text, worker=worker, source="analytics",
                              level="info" if outcome == "ok" else "warning", details=details))
            continue
        path, status = p.get("b3") or "?", int(p.get("d2") or 0)
        start = _at_ms(p.get("d4"), p.get("timestamp"))
        details = {"path": path, "httpStatus": status, "latencyMs": latency}
        if worker == "hoox" and path == "/webhook":
            out.append(_stage(start, "received", "webhook request reached the gateway", worker=worker,
                              source="analytics", details=details))
            began = clock.parse(start)
            end = clock.iso(began + latency / 1000) if began is not None else start
            out.append(_stage(end, "answered", f"the gateway answered the sender: HTTP {status} after {latency:.1f} ms",
                              worker=worker, source="analytics", details=details,
                              level="info" if status < 400 else "warning"))
        elif path == "/process":
            out.append(_stage(start, "delivered", f"delivered to {worker} {path}: HTTP {status} after {latency:.1f} ms",
                              worker=worker, source="analytics", details=details))
        else:
            out.append(_stage(start, "call", f"{worker} {path}: HTTP {status} after {latency:.1f} ms", worker=worker,
                              source="analytics", details=details))
    return out


async def _analytics(env: Env, rid: str) -> tuple[list[dict[str, Any]], str | None, bool]:
    """(points, why they could not be read, capped) of the request's api-call and exchange-call points."""
    if not env.has("ANALYTICS_SERVICE"):
        return [], f"{env.worker} has no binding to analytics-worker", False
    query = ("SELECT blob1 AS kind, blob2 AS worker, blob3 AS b3, blob4 AS b4, blob5 AS b5, blob6 AS b6, blob7 AS b7, "
             "double1 AS d1, double2 AS d2, double3 AS d3, double4 AS d4, double5 AS d5, timestamp "
             "FROM hoox_telemetry WHERE index1 = ? AND (blob1 = ? OR (blob1 = ? AND blob5 = ?)) "
             f"ORDER BY timestamp LIMIT {MAX_STAGES + 1}")
    try:
        resp = await calls.call(env, "ANALYTICS_SERVICE", "POST", "/query", request_id=None,
                                payload={"query": query, "params": [rid, "exchange-call", "api-call", "http"]},
                                timeout=QUERY_BUDGET_S)
    except Exception as exc:
        return [], f"analytics-worker unreachable ({type(exc).__name__})", False
    body = resp.json() if resp.body else None
    if resp.status != 200 or not isinstance(body, dict):
        err = (body or {}).get("error") if isinstance(body, dict) else None
        msg = err.get("message") if isinstance(err, dict) else resp.text()[:200]
        return [], f"analytics-worker /query answered {resp.status}: {msg}", False
    points = list(body.get("results") or [])
    return points[:MAX_STAGES], None, len(points) > MAX_STAGES


async def _queue_stages(env: Env, rid: str) -> tuple[list[shapes.TimelineStage], str | None]:
    admin = env.get("QUEUE_ADMIN")
    if admin is None:
        return [], f"{env.worker} cannot read the queues here (Cloudflare shows a worker no queue's messages)"
    out: list[shapes.TimelineStage] = []
    try:
        for queue in (catalog.TRADE_QUEUE, catalog.TRADE_DLQ):
            for m in await admin.list(queue, limit=QUEUE_SCAN):
                body = m.get("body") if isinstance(m.get("body"), dict) else {}
                if body.get("requestId") != rid:
                    continue
                details = {"queue": queue, "messageId": m["id"], "attempts": m.get("attempts"),
                           "lastError": body.get("lastError") or m.get("last_error"), "inFlight": m.get("in_flight")}
                if queue == catalog.TRADE_DLQ:
                    at = m.get("dead_lettered_at") or m.get("enqueued_at")
                    text = (f"held in {queue} (message {m['id']}): replay it with "
                            f"`hoox monitor queues --replay {m['id']}`")
                else:
                    at = m.get("enqueued_at")
                    visible = m.get("visible_at")
                    text = (f"in {queue} now: " + ("being delivered" if m.get("in_flight") else
                            f"next delivery at {clock.iso(visible)}" if visible else "waiting")
                            + f" (delivered {m.get('attempts') or 0} times so far)")
                out.append(_stage(clock.iso(at) if at else None, "queue", text, worker=None, source="queue",
                                  details=details))
    except QueueAdminUnavailable as exc:
        return [], str(exc)
    return out, None


async def _related(env: Env, rid: str, sig: dict[str, Any] | None,
                   logs: list[dict[str, Any]]) -> tuple[shapes.RelatedSignal | None, list[shapes.RelatedSignal]]:
    """(the original this request repeated, the resends that repeated it)."""
    db = env.DB
    original: shapes.RelatedSignal | None = None
    for r in logs:
        details = _json(r.get("details"))
        holder = details.get("original") if isinstance(details, dict) else None
        if isinstance(holder, str) and holder != rid:
            row = await db.prepare("SELECT request_id, status, error_code, created_at FROM trade_signals "
                                   "WHERE request_id = ?").bind(holder).first()
            original = {"requestId": holder, "status": row["status"] if row else None,
                        "errorCode": row["error_code"] if row else None, "at": row["created_at"] if row else None}
            break
    resends: list[shapes.RelatedSignal] = []
    if sig is not None and sig.get("lock_key"):
        # A resend shares the lock of its original and can only meet it while the lock lives (24 h at most).
        until = clock.iso((clock.parse(sig["created_at"]) or 0) + 24 * 3600 + 60)
        rows = (await db.prepare(
            "SELECT request_id, status, error_code, error, created_at FROM trade_signals WHERE created_at >= ? "
            "AND created_at <= ? AND lock_key = ? AND request_id != ? AND error_code = 'DUPLICATE_REQUEST' "
            "ORDER BY created_at LIMIT ?").bind(sig["created_at"], until, sig["lock_key"], rid, RESENDS_SHOWN).all()
        )["results"]
        resends = [{"requestId": r["request_id"], "status": r["status"], "errorCode": r["error_code"],
                    "at": r["created_at"]} for r in rows if rid in (r.get("error") or "")]
    return original, resends


def _outcome(rid: str, sig: dict[str, Any] | None, trade: dict[str, Any] | None,
             logs: list[dict[str, Any]]) -> shapes.TimelineStage:
    """The last stage: the signal's state now (final or not)."""
    if sig is not None:
        status, code, error = sig["status"], sig.get("error_code"), sig.get("error")
        final = status in ("Filled", "Cancelled", "Expired", "Rejected", "DeadLettered")
        text = status + (f" {code}" if code else "") + (f": {error}" if error else "")
        swap = _json(sig.get("result"))
        if isinstance(swap, dict) and swap.get("txHash"):
            text += f" (tx {swap['txHash']})"
        if not final:
            text += " (not final yet)"
        return _stage(sig["updated_at"], "outcome", text, worker=None, source="ledger",
                      level="info" if status in ("Filled", "Resting") or not final else "warning",
                      details={"status": status, "errorCode": code, "error": error, "final": final})
    if trade is not None:
        code, message = split_error(trade.get("error"))
        return _stage(trade["updated_at"], "outcome", f"order {trade['status']}" + (f": {trade['error']}" if trade.get(
            "error") else ""), worker="trade-worker", source="ledger",
            details={"status": trade["status"], "errorCode": code, "error": message if trade.get("error") else None,
                     "final": trade["status"] not in ("TRADE_PENDING", "Resting")})
    last = logs[-1] if logs else None
    return _stage(last["created_at"] if last else None, "outcome",
                  "never became a signal: no ledger row was written for this request (its log says why)",
                  worker=last["worker"] if last else None, source="log", level="warning",
                  details={"status": None, "errorCode": None, "error": None, "final": True})


def _key(s: shapes.TimelineStage) -> tuple[str, int]:
    return s["at"] or "", _RANK.get(s["kind"], len(_RANK))


def _merge(logs: list[shapes.TimelineStage], others: list[shapes.TimelineStage]) -> list[shapes.TimelineStage]:
    """One list in time order. Log rows keep the order they were written in (their ids), whatever
    their kinds: a retry can follow a fill of the same millisecond. The other records are sorted by
    time and placed among them; in a tie the pipeline's order of kinds (`_RANK`) decides."""
    others = sorted(others, key=_key)
    out: list[shapes.TimelineStage] = []
    i = j = 0
    while i < len(logs) and j < len(others):
        if _key(others[j]) < _key(logs[i]):
            out.append(others[j])
            j += 1
        else:
            out.append(logs[i])
            i += 1
    return [*out, *logs[i:], *others[j:]]


# --------------------------------------------------------------------------- the timeline
async def timeline(env: Env, wanted: str) -> shapes.SignalTimeline:
    rid = await resolve(env, wanted)
    db = env.DB
    sig = await db.prepare("SELECT * FROM trade_signals WHERE request_id = ?").bind(rid).first()
    trade = await db.prepare("SELECT * FROM trades WHERE request_id = ?").bind(rid).first()
    logs = (await db.prepare(
        "SELECT id, created_at, level, worker, message, details FROM system_logs WHERE request_id = ? "
        "ORDER BY id LIMIT ?").bind(rid, MAX_STAGES + 1).all())["results"]
    alerts = (await db.prepare(
        "SELECT created_at, level, source, message, delivery, error FROM alerts WHERE request_id = ? "
        "ORDER BY id LIMIT ?").bind(rid, MAX_STAGES + 1).all())["results"]
    balances: list[dict[str, Any]] = []
    if trade is not None:  # the index on (exchange, asset, id) narrows the search to the trade's exchange
        balances = (await db.prepare(
            "SELECT created_at, exchange, asset, free, locked, total, mode FROM balances WHERE exchange = ? "
            "AND request_id = ? ORDER BY id LIMIT ?").bind(trade["exchange"], rid, MAX_STAGES + 1).all())["results"]
    signal = _json(sig.get("signal")) if sig else None
    signal = signal if isinstance(signal, dict) else None
    points, analytics_error, points_capped = await _analytics(env, rid)
    queued, queue_error = await _queue_stages(env, rid)
    original, resends = await _related(env, rid, sig, logs)

    capped = points_capped or any(len(rows) > MAX_STAGES for rows in (logs, alerts, balances))
    logs, alerts, balances = logs[:MAX_STAGES], alerts[:MAX_STAGES], balances[:MAX_STAGES]
    received = _ledger_stages(sig, signal)
    measured = _analytics_stages(points)
    arrival = next((s for s in measured if s["kind"] == "received"), None)
    if arrival is not None and received:
        # The webhook's own record times the arrival (the ledger row is written after the checks).
        arrival["summary"] = received[0]["summary"] + " reached the gateway"
        arrival["details"] = {**received[0]["details"], **arrival["details"]}
        received = []
    others = [*received, *_balance_stages(balances), *_alert_stages(alerts), *measured, *queued]
    if original is not None:
        others.append(_stage(sig["created_at"] if sig else None, "resend",
                             f"a resend of request {original['requestId']} ({original['status']})", worker="hoox",
                             source="ledger", details=original))
    for r in resends:
        others.append(_stage(r["at"], "resend", f"resent as request {r['requestId']} ({r['status']} "
                                                f"{r['errorCode']}): answered with this signal's outcome",
                             worker="hoox", source="ledger", details=r))
    stages = _merge(_log_stages(logs, signal), others)
    truncated = capped or len(stages) > MAX_STAGES - 1
    stages = stages[:MAX_STAGES - 1]
    stages.append(_outcome(rid, sig, trade, logs))
    start = clock.parse(stages[0]["at"]) if stages and stages[0]["at"] else None
    for s in stages:
        t = clock.parse(s["at"]) if s["at"] else None
        s["offsetMs"] = round((t - start) * 1000, 3) if t is not None and start is not None else None

    unavailable: list[shapes.Unavailable] = []
    if analytics_error:
        unavailable.append({"source": "analytics", "reason": analytics_error + ": the webhook's arrival, the "
                            "deliveries between workers and the exchange calls are not shown"})
    if queue_error:
        unavailable.append({"source": "queues", "reason": queue_error})
    out: shapes.SignalTimeline = {
        "requestId": rid,
        "signal": None if sig is None else {
            "status": sig["status"], "errorCode": sig.get("error_code"), "error": sig.get("error"),
            "source": sig.get("source"), "exchange": sig.get("exchange"), "symbol": sig.get("symbol"),
            "action": sig.get("action"), "quantity": sig.get("quantity"), "reason": sig.get("reason"),
            "createdAt": sig["created_at"], "updatedAt": sig["updated_at"], "swap": _swap(sig)},
        "trade": None if trade is None else {
            "status": trade["status"], "mode": trade["mode"], "exchange": trade["exchange"],
            "symbol": trade["symbol"], "side": trade["side"], "quantity": trade["quantity"],
            "filledQty": trade["filled_qty"], "price": trade["price"], "fee": trade["fee"],
            "realizedPnl": trade["realized_pnl"], "orderId": trade["order_id"],
            "clientOrderId": trade["client_order_id"], "attempts": trade["attempts"]},
        "original": original,
        "resends": resends,
        "stages": stages,
        "truncated": truncated,
        "maxStages": MAX_STAGES,
        "unavailable": unavailable,
        "time": clock.iso(),
    }
    return redact(out, env.secret_values())
