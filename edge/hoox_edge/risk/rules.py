"""The risk manager's rules as pure functions (no I/O): trailing stops, take-profit targets, the
break-even stop and the daily drawdown. Prices and sizes are `Decimal` (see `hoox_edge.ledger`).

- Watermark: the highest mark price seen since the position was first seen (LONG), the lowest (SHORT).
- Trailing stop: LONG peak × (1 − t/100), SHORT trough × (1 + t/100). A stop never loosens: a LONG's
  stop only moves up, a SHORT's only down (`tighter`).
- Take-profit target i fires when the profit of the mark over the entry,
  (mark − entry) / entry × 100 × (+1 LONG, −1 SHORT), reaches its `profit_percent`; it closes
  `close_fraction` of the size the position had when first seen, rounded down to the instrument's
  step (below the minimum size: skipped, with the reason logged).
- Break-even stop: the entry moved by the fees the position has paid so far, spread over what is
  left: LONG entry + fees / size, SHORT entry − fees / size.
- Daily drawdown % = (start − current) / start × 100, equity = balance total + unrealised P&L at mark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeGuard

from hoox_edge.ledger import dec, round_down

HUNDRED = Decimal(100)
ONE = Decimal(1)
MAX_TARGETS = 10
TARGET_FIELDS = ("profit_percent", "close_fraction", "move_stop_to_break_even")


@dataclass(frozen=True)
class Target:
    profit_percent: Decimal
    close_fraction: Decimal
    move_stop_to_break_even: bool


def _finite(v: Any) -> TypeGuard[int | float]:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def targets_problem(value: Any) -> str | None:
    """Why `value` is not a valid `trade:take_profit_targets`, or None."""
    if not isinstance(value, list):
        return "must be a JSON list of {profit_percent, close_fraction, move_stop_to_break_even}"
    if len(value) > MAX_TARGETS:
        return f"may hold at most {MAX_TARGETS} targets, got {len(value)}"
    total = Decimal(0)
    last: float | None = None
    for i, t in enumerate(value, 1):
        if not isinstance(t, dict):
            return f"target {i} must be an object {{profit_percent, close_fraction, move_stop_to_break_even}}"
        unknown = [k for k in t if k not in TARGET_FIELDS]
        if unknown:
            return f"target {i} has unknown fields ({', '.join(str(k)[:40] for k in unknown)}); " \
                   f"accepted: {', '.join(TARGET_FIELDS)}"
        p, f, be = t.get("profit_percent"), t.get("close_fraction"), t.get("move_stop_to_break_even", False)
        if not _finite(p) or not 0 < p <= 10_000:
            return f"target {i}: profit_percent must be a number above 0 and at most 10000"
        if not _finite(f) or not 0 < f <= 1:
            return f"target {i}: close_fraction must be a number above 0 and at most 1"
        if not isinstance(be, bool):
            return f"target {i}: move_stop_to_break_even must be true or false"
        if last is not None and p <= last:
            return f"target {i}: profit_percent must be above the previous target's ({last:g}): percents ascend"
        last = p
        total += dec(f)
    if total > 1:
        return f"the close_fractions add up to {total}, more than 1 (the whole position)"
    return None


def parse_targets(value: Any) -> list[Target]:
    problem = targets_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return [Target(dec(t["profit_percent"]), dec(t["close_fraction"]), bool(t.get("move_stop_to_break_even", False)))
            for t in value]


def sign(side: str) -> Decimal:
    return ONE if side == "LONG" else -ONE


def new_watermark(side: str, watermark: Decimal | None, mark: Decimal) -> Decimal:
    if watermark is None:
        return mark
    return max(watermark, mark) if side == "LONG" else min(watermark, mark)


def trailing_stop(side: str, watermark: Decimal, percent: Decimal) -> Decimal:
    t = percent / HUNDRED
    return watermark * (ONE - t) if side == "LONG" else watermark * (ONE + t)


def tighter(side: str, a: Decimal | None, b: Decimal | None) -> Decimal | None:
    """The tighter of two stops (the higher for a LONG, the lower for a SHORT); None is no stop."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b) if side == "LONG" else min(a, b)


def breached(side: str, stop: Decimal | None, mark: Decimal) -> bool:
    if stop is None:
        return False
    return mark <= stop if side == "LONG" else mark >= stop


def profit_percent(side: str, entry: Decimal, mark: Decimal) -> Decimal:
    return (mark - entry) / entry * HUNDRED * sign(side)


def break_even(side: str, entry: Decimal, fees: Decimal, size: Decimal) -> Decimal:
    per_unit = fees / size if size > 0 else Decimal(0)
    return entry + per_unit if side == "LONG" else entry - per_unit


@dataclass(frozen=True)
class TargetSize:
    quantity: Decimal  # what to close (0 when skipped)
    skipped: str | None  # why nothing is closed, or None
    closes_all: bool  # the quantity is the whole remaining size


def target_size(initial: Decimal, remaining: Decimal, fraction: Decimal, step: Decimal, min_qty: Decimal,
                min_notional: Decimal, price: Decimal, is_last_share: bool) -> TargetSize:
    """The size of one target's close: `fraction` of the initial size, rounded down to the step,
    at most what remains (the last target of fractions adding up to 1 closes the rest)."""
    if is_last_share:
        return TargetSize(remaining, None, True)
    qty = round_down(initial * fraction, step)
    if qty >= remaining:
        return TargetSize(remaining, None, True)
    if qty <= 0 or qty < min_qty:
        return TargetSize(Decimal(0), f"{initial * fraction} rounds down to {qty} at the step {step}, below the "
                          f"minimum order size {min_qty}", False)
    if min_notional > 0 and qty * price < min_notional:
        return TargetSize(Decimal(0), f"{qty} at {price} is worth {qty * price} USDT, below the minimum order "
                          f"value {min_notional} USDT", False)
    left = remaining - qty
    if left < min_qty:  # what would be left could never be closed on its own: close it all now
        return TargetSize(remaining, None, True)
    return TargetSize(qty, None, False)


def drawdown_percent(start: Decimal, current: Decimal) -> Decimal:
    """(start − current) / start × 100; 0 when the start is not positive (nothing to lose)."""
    if start <= 0:
        return Decimal(0)
    return (start - current) / start * HUNDRED
