"""The signal state machine: the one module that writes a signal's state to the ledger.

A signal is a `trade_signals` row; once trade-worker starts an order for it, a `trades` row too.

    state (trade_signals.status)   trades.status    owner: who moves it on
    Received                       (none)           the gateway's request; after a crash, the reconciler
    Enqueued                       any open         the queue consumer (a crashed consumer's lease expires)
    Executing                      TRADE_PENDING    the attempt holding the lease; when it lapses, the next
                                                    taker: a queue redelivery, a resend, the reconciler
    Resting                        Resting          the order follower (cron and reconciler), a cancel
    Filled | Cancelled | Expired | Rejected (error_code) | DeadLettered      final

A swap (`"exchange": "dex"`, `hoox_edge.dex`) has no trades row: its attempt marks the signal
Executing itself (`swap_started`), its outcome is the row's `result`, and the wallet's own ledger
(one transaction per request id) is what keeps it from being sent twice.

Every update names the states it may move from, so a late or repeated writer can never move a
final state back, and each state has one writer, its owner above, through the functions here: a
signal's sender makes its row (`insert_statement`: the gateway for a webhook, the desk for its own
orders); the gateway moves its own Received row (its refusals, Enqueued) and, as the next taker, a signal
whose attempt answered that nothing was placed (NOT_PLACED); never a row an attempt holds.
trade-worker writes from Executing on (the lease, the fill, the rejection).

Exactly once: an attempt takes a lease on the trades row (compare-and-set on the lease it saw)
before it may reach the exchange, and every order carries the client order id of its request.
A lease that lapsed, or whose owner is a stopped local runtime, may be taken over; the taker first
looks the client order id up at the exchange. An order request signed during an attempt cannot be
accepted after the attempt's lease plus the exchanges' receive window, so after that deadline an
order the exchange does not know was provably never placed (`NOT_PLACED`).

The kill switch: trade-worker places no new order while it is on, whoever delivers the signal (the
queue, a dead letter replayed, a resend, the reconciler never places). A signal with no order yet is
`Rejected` `KILL_SWITCH_ACTIVE` at once, as the gateway refuses a new one; one whose earlier attempt
may have placed its order is looked up by its client order id and recorded if found, else refused so
once the placement deadline has passed. The desk's own closes (flatten, the risk manager) go through.

Idempotency locks (the gateway's IdempotencyStore): an explicit key is given back only when its
signal was provably not placed (`NOT_PLACED`, or refused by the kill switch: the sender may send
it again once it is off); an implicit (hash) key also when its
signal ended without a fill, so a rejected signal can be fixed and sent again at once. The gateway
gives a lock back itself: at once when it decides the signal, else when the next signal with the
same key finds the holder in such a final state (trade-worker does not bind the lock store: the
gateway binds trade-worker, and a binding back would make their deploys depend on each other).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hoox_edge import ledger
from hoox_edge.ports import D1Database, D1PreparedStatement, Env
from hoox_edge.shared import clock, errors
from hoox_edge.shared.logs import row_statement
from hoox_edge.shared.redact import capped, stored_payload

# trade_signals.status
RECEIVED = "Received"
ENQUEUED = "Enqueued"
EXECUTING = "Executing"
RESTING = "Resting"
FILLED = "Filled"
CANCELLED = "Cancelled"
EXPIRED = "Expired"
REJECTED = "Rejected"
DEAD_LETTERED = "DeadLettered"
FINAL = (FILLED, CANCELLED, EXPIRED, REJECTED, DEAD_LETTERED)
OPEN = (RECEIVED, ENQUEUED, EXECUTING, RESTING)
# trades.status (the order record)
PENDING = "TRADE_PENDING"
NOT_PLACED = errors.NOT_PLACED
# Final codes decided while no order of the signal could exist: its lock is given back whatever its key.
PROVABLY_NOT_PLACED = (NOT_PLACED, errors.KILL_SWITCH_ACTIVE)
LEASE_SECONDS = 60.0  # an attempt's exclusive hold on its order (covers ~a dozen 5 s exchange calls)
RECEIVE_WINDOW_SECONDS = 30.0  # an exchange refuses an order request older than its recvWindow (5 s) + skew
STRANDED_AFTER_SECONDS = 30.0  # a Received row older than this outlived its webhook request (3 s budget)
SWAP_LEASE_SECONDS = 150.0  # a swap's attempt: trade-worker's wait on the wallet (120 s) and slack
EXPLICIT_KEY_TTL_S = 24 * 3600
IMPLICIT_KEY_TTL_S = 60

_isolate: str | None = None


def owner(env: Env) -> str:
    """Who holds a lease: the local runtime's instance id, else this isolate's own random id (made
    lazily: Cloudflare snapshots module top levels at deploy, so nothing random may run at import)."""
    info = env.get("RUNTIME_INFO")
    if info is not None:
        return f"runtime:{info.instance_id}"
    global _isolate
    if _isolate is None:
        _isolate = f"isolate:{uuid.uuid4().hex}"
    return _isolate


def owner_gone(env: Env, lease_owner: str | None) -> bool:
    """True when the lease holder is a local runtime that is not this one: one runtime runs per
    workspace, so any other has stopped (and its attempts with it). Unknowable on Cloudflare."""
    info = env.get("RUNTIME_INFO")
    return info is not None and bool(lease_owner) and lease_owner != owner(env)


def lease_alive(env: Env, trade: dict[str, Any], now: float | None = None) -> bool:
    until = clock.parse(trade.get("lease_until"))
    if until is None or owner_gone(env, trade.get("lease_owner")):
        return False
    return until > (clock.now() if now is None else now)


def placement_deadline(env: Env, trade: dict[str, Any]) -> float:
    """Until when (epoch seconds) an order request of this trade's attempts could still be accepted
    by the exchange: the last attempt's lease end (or its runtime's stop) plus the receive window;
    0 for the paper exchange of a stopped local runtime, which ran inside that runtime."""
    gone = owner_gone(env, trade.get("lease_owner"))
    if gone and trade.get("mode") == "paper":
        return 0.0
    end = next((t for t in map(clock.parse, (trade.get("lease_until"), trade.get("attempt_started_at"),
                                            trade.get("updated_at"))) if t is not None), None)
    info = env.get("RUNTIME_INFO")
    if gone and info is not None and info.started_at() is not None:
        end = min(end or info.started_at(), info.started_at())
    return 0.0 if end is None else end + RECEIVE_WINDOW_SECONDS


def placement_deadline_passed(env: Env, trade: dict[str, Any], now: float | None = None) -> bool:
    """Could an order request of this trade's attempts still be accepted by the exchange? No once
    its `placement_deadline` has passed."""
    return placement_deadline(env, trade) < (clock.now() if now is None else now)


# --------------------------------------------------------------------------- idempotency locks
def lock_for(idempotency_key: str | None, canonical: str) -> tuple[str, int]:
    """(lock name, seconds) of a signal: its explicit key for 24 h, else the hash of the normalised
    signal for 60 s. Hashed either way, so a key never lands in storage as sent (it may be a secret
    pasted by mistake) and a name is always short."""
    if idempotency_key is not None:
        return "explicit:" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest(), EXPLICIT_KEY_TTL_S
    return "implicit:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest(), IMPLICIT_KEY_TTL_S


def lock_stub(env: Env, lock_key: str) -> Any:
    ns = env.IDEMPOTENCY_STORE
    return ns.get(ns.id_from_name(lock_key))


def should_release(state: SignalState) -> bool:
    """Does this (final) signal give its idempotency lock back?"""
    if not state.lock_key or not state.final:
        return False
    if state.error_code in PROVABLY_NOT_PLACED:
        return True
    filled = state.trade is not None and (state.trade.get("filled_qty") or 0) > 0
    return state.lock_key.startswith("implicit:") and state.status != FILLED and not filled


async def release_lock(env: Env, state: SignalState) -> bool:
    """Give the lock back when the rules above say so; True when it was released. Never raises: a
    lock that stays is re-checked (and released) by the next resend of the same signal."""
    if not should_release(state) or not env.has("IDEMPOTENCY_STORE"):
        return False
    try:
        res = await lock_stub(env, state.lock_key).release(state.lock_key, state.request_id)  # type: ignore[arg-type]
        return bool(res.get("released"))
    except Exception:
        return False


# --------------------------------------------------------------------------- reading a signal
@dataclass(frozen=True)
class SignalState:
    request_id: str
    status: str
    error_code: str | None
    error: str | None
    lock_key: str | None
    signal: dict[str, Any] | None  # the normalised signal, as trade-worker's /process takes it
    source: str
    reason: str | None
    created_at: str
    updated_at: str
    trade: dict[str, Any] | None  # its trades row, once an order was started
    result: dict[str, Any] | None = None  # a swap's recorded outcome (trade_signals.result)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def outcome(self) -> dict[str, Any]:
        """What a sender is told about this signal: `{requestId, status, result | error}`."""
        out: dict[str, Any] = {"requestId": self.request_id, "status": self.status}
        if self.trade is not None and (self.status in (FILLED, RESTING) or (self.trade.get("filled_qty") or 0) > 0):
            out["result"] = ledger.trade_result(self.trade)
        elif self.result is not None:
            out["result"] = self.result
        if self.status in (REJECTED, DEAD_LETTERED, CANCELLED, EXPIRED) or self.error:
            out["error"] = {"code": self.error_code, "message": self.error}
        return out


async def load(db: D1Database, request_id: str) -> SignalState | None:
    # Whether it has a trade in the same read: a new signal (the usual case) is one statement.
    row = await db.prepare("SELECT *, EXISTS (SELECT 1 FROM trades WHERE request_id = ?1) AS has_trade_ "
                           "FROM trade_signals WHERE request_id = ?1").bind(request_id).first()
    trade = await ledger.get_trade(db, request_id) if row is None or row["has_trade_"] else None
    if row is None:
        if trade is None:
            return None
        # An order started by a direct caller of trade-worker that wrote no signal row.
        row = {"request_id": request_id, "status": _signal_status_of(trade["status"]), "error_code": None,
               "error": trade.get("error"), "lock_key": None, "signal": None, "source": "internal",
               "reason": trade.get("reason"), "created_at": trade["created_at"], "updated_at": trade["updated_at"]}
    return SignalState(request_id=request_id, status=row["status"], error_code=row.get("error_code"),
                       error=row.get("error"), lock_key=row.get("lock_key"), signal=_object(row.get("signal")),
                       source=row.get("source") or "webhook", reason=row.get("reason"),
                       created_at=row["created_at"], updated_at=row["updated_at"], trade=trade,
                       result=_object(row.get("result")))


def _object(text: Any) -> dict[str, Any] | None:
    """A JSON object column, or None (absent, or not an object)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _signal_status_of(trade_status: str) -> str:
    return EXECUTING if trade_status == PENDING else trade_status


# --------------------------------------------------------------------------- signal rows
def insert_statement(db: D1Database, *, request_id: str, source: str, stored_payload: Any,
                     idempotency_key: str | None, exchange: str | None, symbol: str | None, action: str | None,
                     quantity: float | None, signal: dict[str, Any] | None = None, lock_key: str | None = None,
                     status: str = RECEIVED, error_code: str | None = None, error: str | None = None,
                     reason: str | None = None, now: str | None = None, if_absent: bool = False,
                     only_if: tuple[str, Sequence[Any]] | None = None) -> D1PreparedStatement:
    """A new signal row: Received, or already final (a refusal is decided before it is written). The
    only statement that makes a `trade_signals` row; its sender makes it (the gateway, the desk).
    `only_if` (an SQL condition and its arguments): the row is made only while it holds, in the same
    statement, so two senders checking the same thing cannot both pass (`changes` says which did)."""
    now = now or clock.iso()
    values = "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    if only_if is not None:
        values = f"SELECT ?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,? WHERE {only_if[0]}"
    return db.prepare(
        f"INSERT{' OR IGNORE' if if_absent else ''} INTO trade_signals (request_id, source, idempotency_key,"
        " exchange, symbol, action, quantity, "
        f"payload, signal, lock_key, status, error_code, error, reason, created_at, updated_at) {values}"
    ).bind(request_id, source, idempotency_key, exchange, symbol, action, quantity,
           json.dumps(stored_payload, default=str), json.dumps(signal) if signal is not None else None,
           lock_key, status, error_code, error, reason, now, now, *(only_if[1] if only_if else ()))


async def ensure(db: D1Database, request_id: str, payload: Any, secrets: Sequence[str]) -> None:
    """A Received row for a signal that reached trade-worker without one (a direct internal caller,
    which did not make it as a sender should). Nothing checked it yet: it is stored as the gateway
    stores a webhook's, sensitive fields and the workspace's secrets masked."""
    p = stored_payload(payload, secrets) if isinstance(payload, dict) else {}
    text = lambda k: p.get(k) if isinstance(p.get(k), str) else None  # noqa: E731
    await insert_statement(db, request_id=request_id, source=text("source") or "internal", stored_payload=capped(p),
                           idempotency_key=None, exchange=text("exchange"), symbol=text("symbol"),
                           action=text("action"), quantity=None, reason=text("reason"), if_absent=True).run()


def move_statement(db: D1Database, request_id: str, to: str, frm: tuple[str, ...], *,
                   error_code: str | None = None, error: str | None = None, now: str | None = None,
                   attempts: int | None = None, result: dict[str, Any] | None = None) -> D1PreparedStatement:
    """trade_signals: `frm` -> `to` (the error columns follow the new state). With `attempts`, only
    while the order is still pending (or dead-lettered) after that many attempts (no attempt started
    since it was read).
    With `result`, a swap's outcome is recorded on the row too."""
    marks = ",".join("?" * len(frm))
    guard, args = "", []
    if attempts is not None:
        guard = (" AND EXISTS (SELECT 1 FROM trades WHERE request_id = ? AND status IN ('TRADE_PENDING',"
                 " 'DeadLettered') AND attempts = ?)")
        args = [request_id, attempts]
    sets, values = "", []
    if result is not None:
        sets, values = ", result = ?", [json.dumps(result, default=str)]
    return db.prepare(
        f"UPDATE trade_signals SET status = ?, error_code = ?, error = ?, updated_at = ?{sets} "
        f"WHERE request_id = ? AND status IN ({marks}){guard}"
    ).bind(to, error_code, error, now or clock.iso(), *values, request_id, *frm, *args)


def swap_started(db: D1Database, request_id: str) -> D1PreparedStatement:
    """A swap's attempt takes the signal: Executing, `updated_at` its start (the reconciler re-delivers
    it once that is older than `SWAP_LEASE_SECONDS`). From Executing too: a later attempt (queue,
    resend, reconciler) takes over, and the wallet answers it the transaction already sent."""
    return move_statement(db, request_id, EXECUTING, (RECEIVED, ENQUEUED, EXECUTING, DEAD_LETTERED))


async def enqueued(db: D1Database, request_id: str) -> None:
    """The queue owns the signal now (the message is sent first: a crash in between leaves a
    Received row that the consumer still executes, never an Enqueued row with no message). Only
    from Received: a signal an attempt took (Executing) is that attempt's, and the queued message
    takes it over only once its lease lapses."""
    await move_statement(db, request_id, ENQUEUED, (RECEIVED,)).run()


async def reject(env: Env, request_id: str, code: str, message: str, *,
                 frm: tuple[str, ...] = (RECEIVED, ENQUEUED, EXECUTING), attempts: int | None = None) -> bool:
    """Final `Rejected` for the signal and its pending order (if any); gives the lock back per the
    rules; `attempts` as in `move_statement`. False when the signal was no longer in `frm` (someone
    else decided it first)."""
    return await finish(env, request_id, REJECTED, code, message, frm=frm, attempts=attempts)


async def finish(env: Env, request_id: str, status: str, code: str | None, message: str | None, *,
                 frm: tuple[str, ...], trade_from: tuple[str, ...] = (PENDING, RESTING, DEAD_LETTERED),
                 attempts: int | None = None, also: Sequence[D1PreparedStatement] = (),
                 release: bool = True, result: dict[str, Any] | None = None) -> bool:
    """Move the signal (from `frm`) and its order (from `trade_from`) to a final `status` in one
    batch, with the statements `also` (its log row); `attempts` as in `move_statement`. The lock is
    given back per the rules unless `release` is False (the caller never held it); `result` is a
    swap's outcome. False when the signal was not in `frm`."""
    db = env.DB
    now = clock.iso()
    error = ledger.coded_error(code, message) if code and message else message
    tmarks = ",".join("?" * len(trade_from))
    res = await db.batch([
        move_statement(db, request_id, status, frm, error_code=code, error=message, now=now, attempts=attempts,
                       result=result),
        # Only when the signal moved (the statement above), so a refused move changes nothing.
        db.prepare(f"UPDATE trades SET status = ?, error = ?, lease_until = NULL, updated_at = ? "
                   f"WHERE request_id = ? AND status IN ({tmarks})"
                   " AND EXISTS (SELECT 1 FROM trade_signals WHERE request_id = ? AND status = ?)"
                   ).bind(status, error, now, request_id, *trade_from, request_id, status),
        *also,
    ])
    if not res[0]["meta"].get("changes"):
        return False
    if release and env.has("IDEMPOTENCY_STORE"):  # the gateway holds the locks (see the module docstring)
        state = await load(db, request_id)
        if state is not None:
            await release_lock(env, state)
    return True


# --------------------------------------------------------------------------- order attempts
@dataclass(frozen=True)
class Attempt:
    owner: str
    started_at: str


def begin_attempt_statements(db: D1Database, *, request_id: str, exchange: str, symbol: str, action: str,
                             side: str, order_type: str, quantity: float, limit_price: float | None,
                             leverage: float, client_order_id: str, mode: str, reason: str | None,
                             seen: dict[str, Any] | None, attempt: Attempt,
                             log: D1PreparedStatement) -> list[D1PreparedStatement]:
    """Take the order's lease: insert the TRADE_PENDING row, or take over one whose lease lapsed
    (compare-and-set on the lease `seen`), and move the signal to Executing — with the log row of
    the attempt, all in one batch (the second statement's `changes` says whether it was taken; the
    first returns the trade row as the batch left it, when it was)."""
    now = attempt.started_at
    until = clock.iso(clock.now() + LEASE_SECONDS)
    lease_owner = seen.get("lease_owner") if seen else None
    lease_until = seen.get("lease_until") if seen else None
    claimed = "EXISTS (SELECT 1 FROM trades WHERE request_id = ? AND lease_owner = ? AND attempt_started_at = ?)"
    return [
        db.prepare(
            "INSERT INTO trades (id, request_id, exchange, symbol, action, side, order_type, quantity, limit_price,"
            " leverage, client_order_id, mode, reason, status, attempts, lease_owner, lease_until,"
            " attempt_started_at, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,'TRADE_PENDING',1,?,?,?,?,?)"
            " ON CONFLICT(request_id) DO UPDATE SET attempts = trades.attempts + 1, status = 'TRADE_PENDING',"
            " lease_owner = excluded.lease_owner, lease_until = excluded.lease_until,"
            " attempt_started_at = excluded.attempt_started_at, updated_at = excluded.updated_at"
            " WHERE trades.status IN ('TRADE_PENDING', 'DeadLettered')"
            " AND trades.lease_owner IS ? AND trades.lease_until IS ? RETURNING *"
        ).bind(str(uuid.uuid4()), request_id, exchange, symbol, action, side, order_type, quantity, limit_price,
               leverage, client_order_id, mode, reason, attempt.owner, until, now, now, now,
               lease_owner, lease_until),
        db.prepare(
            "UPDATE trade_signals SET status = 'Executing', error_code = NULL, error = NULL, updated_at = ?"
            f" WHERE request_id = ? AND status IN ('Received', 'Enqueued', 'Executing', 'DeadLettered') AND {claimed}"
        ).bind(now, request_id, request_id, attempt.owner, now),
        log,
    ]


async def attempt_failed(db: D1Database, request_id: str, attempt: Attempt, error: str, *,
                         to_queue: bool) -> None:
    """A retryable failure: the order stays pending with the error noted and its lease given up
    (the next attempt looks the order up first); with `to_queue` the queue owns the signal again."""
    now = clock.iso()
    stmts = [db.prepare(
        "UPDATE trades SET error = ?, lease_until = ?, updated_at = ?"
        " WHERE request_id = ? AND status = 'TRADE_PENDING' AND lease_owner = ? AND attempt_started_at = ?"
    ).bind(error, now, now, request_id, attempt.owner, attempt.started_at)]
    if to_queue:
        stmts.append(move_statement(db, request_id, ENQUEUED, (EXECUTING, RECEIVED), now=now))
    await db.batch(stmts)


# --------------------------------------------------------------------------- fills
@dataclass(frozen=True)
class FillRecord:
    """Everything one fill (a whole order, or the new part of a resting one) writes, in one batch."""

    request_id: str
    exchange: str
    symbol: str
    mode: str
    order_id: str
    fill: ledger.Fill  # this fill only (the increment)
    before: ledger.PositionState | None  # the open position the math started from
    outcome: ledger.FillOutcome
    trade_from: tuple[str, ...]  # trade statuses the row may be in
    prev_filled: Decimal  # trades.filled_qty the math started from
    status_after: str  # FILLED, RESTING, CANCELLED or EXPIRED
    totals: tuple[Decimal, Decimal, Decimal, Decimal]  # filled qty, average price, fee, realised P&L after
    balance: tuple[str, float, float] | None  # asset, free, locked
    log_message: str
    log_details: str  # the log row's details as JSON text, redacted
    now: str
    worker: str = "trade-worker"


def fill_statements(db: D1Database, rec: FillRecord) -> list[D1PreparedStatement]:
    """The statements of one fill, guarded so the batch fails as a whole when the ledger moved.

    The first statement writes the fill's system log row; its `created_at` is NULL (so NOT NULL
    aborts the whole batch) unless the trade is still in `trade_from` with the fill the math started
    from and the open position of its book is still the one the math started from. D1 batches
    cannot branch, so this is how a concurrent writer makes the batch fail instead of counting a
    fill twice; the caller then re-reads and decides.
    """
    tmarks = ",".join("?" * len(rec.trade_from))
    pos_cond: tuple[str, tuple[Any, ...]]
    if rec.before is None:
        pos_cond = ("NOT EXISTS (SELECT 1 FROM positions"
                    " WHERE mode = ? AND exchange = ? AND symbol = ? AND status = 'OPEN')",
                    (rec.mode, rec.exchange, rec.symbol))
    else:
        pos_cond = ("EXISTS (SELECT 1 FROM positions WHERE id = ? AND status = 'OPEN' AND request_id = ?)",
                    (rec.before.id, rec.before.request_id))
    guard = (f"EXISTS (SELECT 1 FROM trades WHERE request_id = ? AND status IN ({tmarks}) AND filled_qty = ?)"
             f" AND {pos_cond[0]}")
    stmts = [db.prepare(
        "INSERT INTO system_logs (created_at, level, worker, request_id, message, details) VALUES ("
        f" CASE WHEN {guard} THEN ? ELSE NULL END, 'info', ?, ?, ?, ?)"
    ).bind(rec.request_id, *rec.trade_from, ledger.num(rec.prev_filled), *pos_cond[1], rec.now, rec.worker,
           rec.request_id, rec.log_message, rec.log_details)]
    stmts.extend(ledger.position_statements(db, rec.mode, rec.exchange, rec.symbol, rec.request_id, rec.before,
                                            rec.outcome, rec.now))
    if rec.balance is not None:
        asset, free, locked = rec.balance
        stmts.append(db.prepare(
            "INSERT INTO balances (exchange, asset, free, locked, total, mode, request_id, created_at)"
            " VALUES (?,?,?,?,?,?,?,?)"
        ).bind(rec.exchange, asset, free, locked, ledger.num(ledger.dec(free) + ledger.dec(locked)), rec.mode,
               rec.request_id, rec.now))
    filled, avg, fee, pnl = rec.totals
    stmts.append(db.prepare(
        "UPDATE trades SET status = ?, order_id = ?, filled_qty = ?, price = ?, fee = ?, realized_pnl = ?,"
        " error = NULL, lease_until = NULL, updated_at = ?"
        f" WHERE request_id = ? AND status IN ({tmarks})"
    ).bind(rec.status_after, rec.order_id, ledger.num(filled), ledger.num(avg), ledger.num(fee), ledger.num(pnl),
           rec.now, rec.request_id, *rec.trade_from))
    stmts.append(move_statement(db, rec.request_id, rec.status_after, (RECEIVED, ENQUEUED, EXECUTING, RESTING,
                                                                       DEAD_LETTERED), now=rec.now))
    return stmts


def resting_statements(db: D1Database, request_id: str, order_id: str, note: str, log: D1PreparedStatement,
                       expires_at: str | None) -> list[D1PreparedStatement]:
    """An order the exchange keeps on its book with nothing filled: Resting, followed from now on."""
    now = clock.iso()
    return [
        db.prepare(
            "UPDATE trades SET status = 'Resting', order_id = ?, error = NULL, lease_until = NULL, expires_at = ?,"
            " updated_at = ? WHERE request_id = ? AND status = 'TRADE_PENDING'"
        ).bind(order_id, expires_at, now, request_id),
        db.prepare(
            "UPDATE trade_signals SET status = 'Resting', error_code = NULL, error = ?, updated_at = ?"
            " WHERE request_id = ? AND status IN ('Received', 'Enqueued', 'Executing', 'DeadLettered')"
            " AND EXISTS (SELECT 1 FROM trades WHERE request_id = ? AND status = 'Resting')"
        ).bind(note, now, request_id, request_id),
        log,
    ]


def log_statement(db: D1Database, env: Env, level: str, message: str, request_id: str | None,
                  details: dict[str, Any] | None = None) -> D1PreparedStatement:
    """A system_logs row to write in the same batch as a state change (see shared.logs for the rules)."""
    return row_statement(db, env, level, message, request_id=request_id, details=details)
