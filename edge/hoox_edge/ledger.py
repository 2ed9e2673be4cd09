"""The trade ledger: order sizing, position math and the D1 writes that record a trade.

The math is pure and works in `Decimal` (built from the shortest `str` of each float), so
`0.1 + 0.2` contracts is `0.3` and a quantity on the step stays on the step; figures are stored
as REAL. The D1 helpers read the ledger and build the position statements of a fill; the state of
a signal and its order is written by `hoox_edge.lifecycle` alone.

Position rules (one-way mode, one OPEN row per book — paper or live —, exchange and symbol):
- a fill on the side of the open position (or with none open) opens or increases it, the entry
  price becoming the volume-weighted average;
- a fill against it reduces it and realises (exit - entry) × qty × (+1 LONG, -1 SHORT); fees of
  every fill accumulate on the row they belong to;
- a fill equal to the open size closes the row (status CLOSED, `closed_at`; it keeps the size
  and entry it had, so the history shows what was closed); a larger fill closes it and opens the
  remainder on the other side, the fee split between the two by quantity.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Literal

from hoox_edge.ports import D1Database, D1PreparedStatement

PosSide = Literal["LONG", "SHORT"]
OrderSide = Literal["BUY", "SELL"]
Number = Decimal | float | int | str

ZERO = Decimal(0)
ONE = Decimal(1)

def dec(x: Number) -> Decimal:
    """A Decimal of the number as written (`0.1` -> `Decimal('0.1')`, not the binary expansion)."""
    if isinstance(x, Decimal):
        return x
    if isinstance(x, bool):
        raise TypeError("a boolean is not a quantity")
    return Decimal(str(x))


# A Decimal as the float stored in the ledger and sent in JSON (`float` itself: ~30 calls a fill).
num: Callable[[Decimal], float] = float


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


async def open_position(db: D1Database, mode: str, exchange: str, symbol: str) -> PositionState | None:
    """The open position of one book (paper or live) on one exchange and symbol."""
    row = await db.prepare(
        "SELECT * FROM positions WHERE mode = ? AND exchange = ? AND symbol = ? AND status = 'OPEN'"
    ).bind(mode, exchange, symbol).first()
    return PositionState.from_row(row) if row else None


# --------------------------------------------------------------------------- D1 writes
def position_statements(db: D1Database, mode: str, exchange: str, symbol: str, request_id: str,
                        before: PositionState | None, out: FillOutcome, now: str) -> list[D1PreparedStatement]:
    """The position rows a fill changes (see `apply_fill`): the open row updated or closed, a new
    row for what opens. The caller guards them (the position must still be `before`)."""
    stmts = []
    if out.updated is not None and before is not None:
        u = out.updated
        stmts.append(db.prepare(
            "UPDATE positions SET size = ?, entry_price = ?, leverage = ?, realized_pnl = ?, fees = ?,"
            " request_id = ?, updated_at = ?, status = ?, closed_at = ? WHERE id = ?"
        ).bind(num(u.size), num(u.entry_price), num(u.leverage), num(u.realized_pnl), num(u.fees),
               request_id, now, "CLOSED" if out.closes_existing else "OPEN",
               now if out.closes_existing else None, before.id))
    if out.opened is not None:
        o = out.opened
        stmts.append(db.prepare(
            "INSERT INTO positions (exchange, symbol, side, size, entry_price, leverage, realized_pnl, fees,"
            " mode, status, request_id, opened_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,'OPEN',?,?,?)"
        ).bind(exchange, symbol, o.side, num(o.size), num(o.entry_price), num(o.leverage),
               num(o.realized_pnl), num(o.fees), mode, request_id, now, now))
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
        "quantity": row["quantity"],
        "executedQty": row["filled_qty"],
        "price": row["price"],
        "limitPrice": row.get("limit_price"),
        "fee": row["fee"],
        "realizedPnl": row["realized_pnl"],
        "leverage": row["leverage"],
        "mode": row["mode"],
        "reason": row.get("reason"),
        "expiresAt": row.get("expires_at"),
        "timestamp": row["updated_at"],
    }
