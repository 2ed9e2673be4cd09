"""The trade ledger: order sizing, position math and the D1 writes that record a trade.

The math is pure and works in `Decimal` (built from the shortest `str` of each float), so
`0.1 + 0.2` contracts is `0.3` and a quantity on the step stays on the step; figures are stored
as REAL. The D1 helpers take the `DB` port and are shared by trade-worker and the operator API.

Position rules (one-way mode, one OPEN row per exchange and symbol):
- a fill on the side of the open position (or with none open) opens or increases it, the entry
  price becoming the volume-weighted average;
- a fill against it reduces it and realises (exit - entry) × qty × (+1 LONG, -1 SHORT); fees of
  every fill accumulate on the row they belong to;
- a fill equal to the open size closes the row (status CLOSED, `closed_at`; it keeps the size
  and entry it had, so the history shows what was closed); a larger fill closes it and opens the
  remainder on the other side, the fee split between the two by quantity.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Literal

from hoox_edge.ports import D1Database, D1PreparedStatement

PosSide = Literal["LONG", "SHORT"]
OrderSide = Literal["BUY", "SELL"]
Number = Decimal | float | int | str

ZERO = Decimal(0)
ONE = Decimal(1)

PENDING = "TRADE_PENDING"
FILLED = "Filled"
REJECTED = "Rejected"
FAILED = "Failed"
# A row in one of these states may still (or again) reach the exchange.
RETRIABLE_STATES = (PENDING, FAILED)


def dec(x: Number) -> Decimal:
    """A Decimal of the number as written (`0.1` -> `Decimal('0.1')`, not the binary expansion)."""
    if isinstance(x, Decimal):
        return x
    if isinstance(x, bool):
        raise TypeError("a boolean is not a quantity")
    return Decimal(str(x))


def num(x: Decimal) -> float:
    """A Decimal as the float stored in the ledger and sent in JSON."""
    return float(x)


def fmt(x: Number) -> str:
    """A figure for people: no exponent, no trailing zeros beyond one decimal."""
    d = dec(x).normalize()
    text = format(d, "f")
    return text if "." in text else text + ".0"


# --------------------------------------------------------------------------- actions and sides
def side_for(action: str, open_side: PosSide | None = None) -> OrderSide:
    """The seeds' translation table: LONG -> BUY, SHORT -> SELL, CLOSE -> against the open position."""
    if action == "LONG":
        return "BUY"
    if action == "SHORT":
        return "SELL"
    if action == "CLOSE":
        if open_side is None:
            raise ValueError("CLOSE needs an open position")
        return "SELL" if open_side == "LONG" else "BUY"
    raise ValueError(f"unknown action {action!r}")


def position_side_of(side: OrderSide) -> PosSide:
    return "LONG" if side == "BUY" else "SHORT"


# --------------------------------------------------------------------------- sizing
def round_down(qty: Number, step: Number) -> Decimal:
    """`qty` rounded down to a whole number of `step`s (no rounding when the step is 0)."""
    q, s = dec(qty), dec(step)
    if s <= 0:
        return q
    return (q / s).to_integral_value(rounding=ROUND_FLOOR) * s


def contracts_for_usdt(usdt: Number, leverage: Number, price: Number) -> Decimal:
    """Contract quantity for an order sized in USDT: usdt × leverage / price (before rounding)."""
    p = dec(price)
    if p <= 0:
        raise ValueError("price must be positive to size an order in USDT")
    return dec(usdt) * dec(leverage) / p


@dataclass(frozen=True)
class Sizing:
    quantity: Decimal  # rounded down to the step; what would be sent
    asked: Decimal  # contracts before rounding
    rejection: str | None  # why the order may not be sent, or None


def size_order(*, symbol: str, quantity: Number, quantity_type: str, leverage: Number, price: Number | None,
               qty_step: Number, min_qty: Number, min_notional: Number) -> Sizing:
    """Contracts to send for a signal, rounded down to the step and checked against the minimums.

    `price` is the limit price or the last price (needed for USDT sizing and the notional check).
    """
    if quantity_type == "usdt":
        if price is None:
            raise ValueError("a price is needed to size an order in USDT")
        asked = contracts_for_usdt(quantity, leverage, price)
    else:
        asked = dec(quantity)
    qty = round_down(asked, qty_step)
    rejection = None
    if qty <= 0 or qty < dec(min_qty):
        rejection = (f"Quantity {fmt(asked)} {symbol} rounds down to {fmt(qty)} at the step {fmt(qty_step)}, "
                     f"below the minimum order size {fmt(min_qty)}.")
    elif price is not None and dec(min_notional) > 0 and qty * dec(price) < dec(min_notional):
        rejection = (f"Order value {fmt(qty * dec(price))} USDT ({fmt(qty)} {symbol} at {fmt(price)}) "
                     f"is below the minimum order value {fmt(min_notional)} USDT.")
    return Sizing(quantity=qty, asked=asked, rejection=rejection)


# --------------------------------------------------------------------------- position math
@dataclass(frozen=True)
class PositionState:
    side: PosSide
    size: Decimal
    entry_price: Decimal
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    leverage: Decimal = ONE
    id: int | None = None  # ledger row id, None until written
    request_id: str | None = None  # the signal that last changed the row (also its version)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> PositionState:
        return cls(side=row["side"], size=dec(row["size"]), entry_price=dec(row["entry_price"]),
                   realized_pnl=dec(row["realized_pnl"] or 0), fees=dec(row["fees"] or 0),
                   leverage=dec(row["leverage"] or 1), id=row["id"], request_id=row["request_id"])


@dataclass(frozen=True)
class Fill:
    side: OrderSide
    quantity: Decimal
    price: Decimal
    fee: Decimal = ZERO
    leverage: Decimal = ONE


@dataclass(frozen=True)
class FillOutcome:
    realized_pnl: Decimal  # realised by this fill (before fees)
    updated: PositionState | None  # new state of the row that was open, if there was one
    closes_existing: bool  # that row is now CLOSED
    opened: PositionState | None  # a new OPEN row (nothing was open, or the remainder of a flip)

    @property
    def open_after(self) -> PositionState | None:
        """The position left open after the fill."""
        if self.opened is not None:
            return self.opened
        return None if self.closes_existing else self.updated


def apply_fill(pos: PositionState | None, fill: Fill) -> FillOutcome:
    """How a fill changes the open position (see the module docstring for the rules)."""
    q, p, fee = dec(fill.quantity), dec(fill.price), dec(fill.fee)
    if q <= 0:
        raise ValueError("a fill has a positive quantity")
    fill_side = position_side_of(fill.side)
    if pos is None:
        return FillOutcome(ZERO, None, False, PositionState(fill_side, q, p, ZERO, fee, dec(fill.leverage)))
    if pos.side == fill_side:
        size = pos.size + q
        entry = (pos.size * pos.entry_price + q * p) / size
        updated = replace(pos, size=size, entry_price=entry, fees=pos.fees + fee, leverage=dec(fill.leverage))
        return FillOutcome(ZERO, updated, False, None)
    sign = ONE if pos.side == "LONG" else -ONE
    closing = min(q, pos.size)
    pnl = (p - pos.entry_price) * closing * sign
    if q < pos.size:
        updated = replace(pos, size=pos.size - q, realized_pnl=pos.realized_pnl + pnl, fees=pos.fees + fee)
        return FillOutcome(pnl, updated, False, None)
    if q == pos.size:
        closed = replace(pos, realized_pnl=pos.realized_pnl + pnl, fees=pos.fees + fee)
        return FillOutcome(pnl, closed, True, None)
    # Flip: close the old position with its share of the fee, open the rest the other way.
    close_fee = fee * closing / q
    closed = replace(pos, realized_pnl=pos.realized_pnl + pnl, fees=pos.fees + close_fee)
    opened = PositionState(fill_side, q - closing, p, ZERO, fee - close_fee, dec(fill.leverage))
    return FillOutcome(pnl, closed, True, opened)


# --------------------------------------------------------------------------- error text
_CODED = re.compile(r"^([A-Z][A-Z_]+): (.*)$", re.DOTALL)


def coded_error(code: str, message: str) -> str:
    """`trades.error` text: the error code first, so a replay can answer with the same status."""
    return f"{code}: {message}"


def split_error(text: str | None) -> tuple[str | None, str]:
    if not text:
        return None, ""
    m = _CODED.match(text)
    return (m.group(1), m.group(2)) if m else (None, text)


# --------------------------------------------------------------------------- D1 reads
async def get_trade(db: D1Database, request_id: str) -> dict[str, Any] | None:
    return await db.prepare("SELECT * FROM trades WHERE request_id = ?").bind(request_id).first()


async def open_position(db: D1Database, exchange: str, symbol: str) -> PositionState | None:
    row = await db.prepare(
        "SELECT * FROM positions WHERE exchange = ? AND symbol = ? AND status = 'OPEN'"
    ).bind(exchange, symbol).first()
    return PositionState.from_row(row) if row else None


# --------------------------------------------------------------------------- D1 writes
async def begin_attempt(db: D1Database, *, trade_id: str, request_id: str, exchange: str, symbol: str,
                        action: str, side: str, order_type: str, quantity: float, leverage: float,
                        client_order_id: str, mode: str, now: str) -> bool:
    """Insert the TRADE_PENDING row, or count another attempt on a pending/failed one.

    False when the row already holds a final outcome (another attempt recorded it first).
    """
    res = await db.prepare(
        "INSERT INTO trades (id, request_id, exchange, symbol, action, side, order_type, quantity, leverage,"
        " client_order_id, mode, status, attempts, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,'TRADE_PENDING',1,?,?)"
        " ON CONFLICT(request_id) DO UPDATE SET attempts = trades.attempts + 1, status = 'TRADE_PENDING',"
        " updated_at = excluded.updated_at WHERE trades.status IN ('TRADE_PENDING', 'Failed')"
    ).bind(trade_id, request_id, exchange, symbol, action, side, order_type, quantity, leverage,
           client_order_id, mode, now, now).run()
    return bool(res["meta"].get("changes"))


async def set_order_plan(db: D1Database, request_id: str, *, side: str, quantity: float, leverage: float,
                         now: str) -> None:
    """The order about to be sent (quantity after rounding), on the pending row."""
    await db.prepare(
        "UPDATE trades SET side = ?, quantity = ?, leverage = ?, updated_at = ?"
        " WHERE request_id = ? AND status = 'TRADE_PENDING'"
    ).bind(side, quantity, leverage, now, request_id).run()


async def note_error(db: D1Database, request_id: str, error: str, now: str) -> None:
    """A retryable failure: the row stays TRADE_PENDING with the error noted."""
    await db.prepare(
        "UPDATE trades SET error = ?, updated_at = ? WHERE request_id = ? AND status = 'TRADE_PENDING'"
    ).bind(error, now, request_id).run()


def signal_status_statement(db: D1Database, request_id: str, status: str, error: str | None,
                            now: str) -> D1PreparedStatement:
    return db.prepare(
        "UPDATE trade_signals SET status = ?, error = ?, updated_at = ? WHERE request_id = ?"
    ).bind(status, error, now, request_id)


async def finish(db: D1Database, request_id: str, status: str, error: str, now: str) -> bool:
    """Pending -> Rejected or Failed, with the signal's row, atomically. False if it was no longer pending."""
    res = await db.batch([
        db.prepare(
            "UPDATE trades SET status = ?, error = ?, updated_at = ?"
            " WHERE request_id = ? AND status = 'TRADE_PENDING'"
        ).bind(status, error, now, request_id),
        signal_status_statement(db, request_id, status, error, now),
    ])
    return bool(res[0]["meta"].get("changes"))


@dataclass(frozen=True)
class FillRecord:
    """Everything one fill writes, in one batch."""

    request_id: str
    exchange: str
    symbol: str
    mode: str
    order_id: str
    executed_qty: Decimal
    avg_price: Decimal
    fee: Decimal
    before: PositionState | None  # the open position the math started from
    outcome: FillOutcome
    balance: tuple[str, float, float] | None  # asset, free, locked
    log_message: str
    log_details: dict[str, Any]
    now: str
    worker: str = "trade-worker"


def fill_statements(db: D1Database, rec: FillRecord) -> list[D1PreparedStatement]:
    """The statements of one fill, guarded so the batch fails as a whole when the ledger moved.

    The first statement writes the "order filled" system log row; its `created_at` is NULL (so
    NOT NULL aborts the whole batch) unless the trade is still pending and the open position is
    still the one the math started from. D1 batches cannot branch, so this is how a concurrent
    writer makes the batch fail instead of double-counting; the caller then re-reads and decides.
    """
    if rec.before is None:
        pos_cond = ("NOT EXISTS (SELECT 1 FROM positions"
                    " WHERE exchange = ? AND symbol = ? AND status = 'OPEN')",
                    (rec.exchange, rec.symbol))
    else:
        pos_cond = ("EXISTS (SELECT 1 FROM positions WHERE id = ? AND status = 'OPEN' AND request_id = ?)",
                    (rec.before.id, rec.before.request_id))
    stmts = [db.prepare(
        "INSERT INTO system_logs (created_at, level, worker, request_id, message, details) VALUES ("
        " CASE WHEN (SELECT status FROM trades WHERE request_id = ?) IN ('TRADE_PENDING', 'Failed')"
        f" AND {pos_cond[0]} THEN ? ELSE NULL END, 'info', ?, ?, ?, ?)"
    ).bind(rec.request_id, *pos_cond[1], rec.now, rec.worker, rec.request_id, rec.log_message,
           json.dumps(rec.log_details, default=str))]

    out = rec.outcome
    if out.updated is not None and rec.before is not None:
        u = out.updated
        stmts.append(db.prepare(
            "UPDATE positions SET size = ?, entry_price = ?, leverage = ?, realized_pnl = ?, fees = ?,"
            " request_id = ?, updated_at = ?, status = ?, closed_at = ? WHERE id = ?"
        ).bind(num(u.size), num(u.entry_price), num(u.leverage), num(u.realized_pnl), num(u.fees),
               rec.request_id, rec.now, "CLOSED" if out.closes_existing else "OPEN",
               rec.now if out.closes_existing else None, rec.before.id))
    if out.opened is not None:
        o = out.opened
        stmts.append(db.prepare(
            "INSERT INTO positions (exchange, symbol, side, size, entry_price, leverage, realized_pnl, fees,"
            " mode, status, request_id, opened_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,'OPEN',?,?,?)"
        ).bind(rec.exchange, rec.symbol, o.side, num(o.size), num(o.entry_price), num(o.leverage),
               num(o.realized_pnl), num(o.fees), rec.mode, rec.request_id, rec.now, rec.now))
    if rec.balance is not None:
        asset, free, locked = rec.balance
        stmts.append(db.prepare(
            "INSERT INTO balances (exchange, asset, free, locked, total, mode, request_id, created_at)"
            " VALUES (?,?,?,?,?,?,?,?)"
        ).bind(rec.exchange, asset, free, locked, num(dec(free) + dec(locked)), rec.mode, rec.request_id,
               rec.now))
    stmts.append(db.prepare(
        "UPDATE trades SET status = 'Filled', order_id = ?, quantity = ?, price = ?, fee = ?,"
        " realized_pnl = ?, error = NULL, updated_at = ?"
        " WHERE request_id = ? AND status IN ('TRADE_PENDING', 'Failed')"
    ).bind(rec.order_id, num(rec.executed_qty), num(rec.avg_price), num(rec.fee), num(out.realized_pnl),
           rec.now, rec.request_id))
    stmts.append(signal_status_statement(db, rec.request_id, FILLED, None, rec.now))
    return stmts


def trade_result(row: dict[str, Any]) -> dict[str, Any]:
    """The `/process` result of a filled trade row (also what a replay answers)."""
    return {
        "orderId": row["order_id"],
        "clientOrderId": row["client_order_id"],
        "status": row["status"],
        "exchange": row["exchange"],
        "symbol": row["symbol"],
        "side": row["side"],
        "action": row["action"],
        "executedQty": row["quantity"],
        "price": row["price"],
        "fee": row["fee"],
        "realizedPnl": row["realized_pnl"],
        "leverage": row["leverage"],
        "mode": row["mode"],
        "timestamp": row["updated_at"],
    }
