"""The paper exchange's market model: instrument rules, price rounding and the seeded random walk.

Pure functions (no storage, no clock), so the Durable Object in `exchange.py` owns all state and
the numbers here can be checked by hand.

Instruments. A symbol trades on paper when it is listed in KV `exchanges:paper:instruments`
(defaults `settings.PAPER_INSTRUMENTS`: start price, qtyStep, minQty, minNotional, tickSize), or
when it is not listed but has a pinned price in KV `exchanges:paper:price:{SYMBOL}`. Such a symbol
gets rules derived from its price (`derive_rules`):

    tickSize    = 10 ** (floor(log10(price)) - 5)      (six significant digits: 60000 -> 0.1)
    qtyStep     = 10 ** floor(log10(100 / price))      (one step is worth 10..100 USDT: 60000 -> 0.001)
    minQty      = qtyStep
    minNotional = 5 USDT

which reproduces the listed defaults (BTC 0.001 / ETH 0.01 / SOL 0.1). Any other symbol is
rejected as unknown, like a real exchange does.

Price. A pinned price is used exactly. Otherwise the price follows a geometric random walk with
volatility `SIGMA_PER_SQRT_SECOND` (about 3 % a day), advanced in whole seconds of elapsed time:
from price p observed at second t0 to second t1 the log-price moves by
sigma * sqrt(t1 - t0) * z, where z is a standard normal drawn from SHA-256 of
(seed, symbol, t0, t1). So the same seed and the same observation times always give the same
prices, the walk never jumps more than its volatility allows between two close calls, and it needs
no random state beyond the last (price, second) the exchange stored.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

SIGMA_PER_SQRT_SECOND = 0.0001  # 0.0001 * sqrt(86400) ~ 2.9 % daily volatility
MAINTENANCE_MARGIN_RATE = 0.005  # 0.5 %, used by the liquidation estimate
DERIVED_MIN_NOTIONAL = 5.0
_EPS = 1e-9  # relative tolerance for "is a multiple of the step"


class RulesError(ValueError):
    """An instrument entry in KV is malformed; the message names it."""


@dataclass(frozen=True)
class Rules:
    symbol: str
    start_price: float
    qty_step: float
    min_qty: float
    min_notional: float
    tick_size: float
    derived: bool = False  # True when the rules come from a pinned price, not the instrument list

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "startPrice": self.start_price,
            "qtyStep": self.qty_step,
            "minQty": self.min_qty,
            "minNotional": self.min_notional,
            "tickSize": self.tick_size,
            "derived": self.derived,
        }


def listed_rules(symbol: str, entry: Any) -> Rules:
    """Rules of a symbol listed in `exchanges:paper:instruments`."""
    if not isinstance(entry, dict):
        raise RulesError(f"exchanges:paper:instruments[{symbol}] must be an object, got {entry!r}")
    vals: dict[str, float] = {}
    for name in ("price", "qtyStep", "minQty", "minNotional", "tickSize"):
        v = entry.get(name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            raise RulesError(f"exchanges:paper:instruments[{symbol}].{name} must be a number, got {v!r}")
        if v < 0 or (v == 0 and name != "minNotional"):
            raise RulesError(f"exchanges:paper:instruments[{symbol}].{name} must be positive, got {v!r}")
        vals[name] = float(v)
    return Rules(
        symbol=symbol,
        start_price=vals["price"],
        qty_step=vals["qtyStep"],
        min_qty=vals["minQty"],
        min_notional=vals["minNotional"],
        tick_size=vals["tickSize"],
    )


def derive_rules(symbol: str, price: float) -> Rules:
    """Rules for an unlisted symbol whose price is pinned (see the module docstring)."""
    if not price > 0:
        raise RulesError(f"exchanges:paper:price:{symbol} must be positive to trade it, got {price!r}")
    tick = _pow10(math.floor(math.log10(price)) - 5)
    step = _pow10(math.floor(math.log10(100.0 / price)))
    return Rules(symbol, price, step, step, DERIVED_MIN_NOTIONAL, tick, derived=True)


def rules_for(symbol: str, instruments: Any, pinned_price: float | None) -> Rules | None:
    """The symbol's rules, or None when it does not trade on paper."""
    if isinstance(instruments, dict) and symbol in instruments:
        return listed_rules(symbol, instruments[symbol])
    if pinned_price is not None:
        return derive_rules(symbol, pinned_price)
    return None


def unknown_symbol_message(symbol: str) -> str:
    return (
        f"unknown symbol {symbol!r} on the paper exchange: add it to KV exchanges:paper:instruments "
        f"or pin its price with KV exchanges:paper:price:{symbol}"
    )


# ------------------------------------------------------------------ rounding
def _pow10(n: int) -> float:
    # float(Decimal) gives the shortest exact-looking value (1e-05, not 1.0000000000000001e-05).
    return float(Decimal(1).scaleb(n))


@functools.lru_cache(maxsize=256)  # a few steps and ticks, asked on every fill and quote
def decimals(step: float) -> int:
    """Digits after the point that a multiple of `step` needs (0.001 -> 3, 0.5 -> 1, 10 -> 0)."""
    exp = Decimal(repr(step)).normalize().as_tuple().exponent
    return max(0, -int(exp))


def round_to(value: float, step: float, mode: str = "nearest") -> float:
    """`value` as a multiple of `step`: "nearest", "down" (towards -inf) or "up" (towards +inf).

    A value already within float noise of a multiple stays on it whatever the mode.
    """
    n = value / step
    near = round(n)
    if abs(n - near) <= _EPS * max(1.0, abs(n)):
        k = near
    elif mode == "down":
        k = math.floor(n)
    elif mode == "up":
        k = math.ceil(n)
    else:
        k = near
    return round(k * step, decimals(step) + 2) if k else 0.0


def is_multiple(value: float, step: float) -> bool:
    n = value / step
    return abs(n - round(n)) <= _EPS * max(1.0, abs(n))


def clean(x: float) -> float:
    """Drop float noise from sums of money and sizes (1e-10 is far below any step or cent)."""
    return round(x, 10) + 0.0


# ------------------------------------------------------------------ random walk
def _normal(seed: int, symbol: str, t0: int, t1: int) -> float:
    digest = hashlib.sha256(f"hoox-paper|{seed}|{symbol}|{t0}|{t1}".encode()).digest()
    u1 = (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 1)  # in (0, 1): log is finite
    u2 = int.from_bytes(digest[8:16], "big") / 2**64
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def walk(price: float, t0: int, t1: int, seed: int, symbol: str) -> float:
    """The walk's price at second t1, given `price` at second t0 (t1 <= t0: unchanged)."""
    if t1 <= t0:
        return price
    z = _normal(seed, symbol, t0, t1)
    return price * math.exp(SIGMA_PER_SQRT_SECOND * math.sqrt(t1 - t0) * z)


def quote(raw_price: float, tick: float) -> float:
    """A walk price as the market shows it: on the tick, never below one tick."""
    return max(tick, round_to(raw_price, tick))


# ------------------------------------------------------------------ risk
def liquidation_price(
    *,
    size: float,
    entry: float,
    leverage: float,
    margin_mode: str,
    margin: float,
    free: float,
    mmr: float = MAINTENANCE_MARGIN_RATE,
) -> float | None:
    """Estimated liquidation price of a one-way position (signed `size`).

    isolated: LONG entry * (1 - 1/leverage + mmr), SHORT entry * (1 + 1/leverage - mmr): the price
              at which the loss has eaten the margin down to the maintenance margin.
    cross:    the whole free balance backs the position too: the price p where
              margin + free + size * (p - entry) = mmr * |size| * p.
    None when the position could not be liquidated (a cross long whose balance covers its whole
    notional).
    """
    if size == 0:
        return None
    if margin_mode == "cross":
        equity = margin + free
        p = (size * entry - equity) / (size * (1 - mmr if size > 0 else 1 + mmr))
        return p if p > 0 else None
    if size > 0:
        p = entry * (1 - 1 / leverage + mmr)
        return p if p > 0 else None
    return entry * (1 + 1 / leverage - mmr)
