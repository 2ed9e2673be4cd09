"""Open positions of the ledger, valued at the exchange's mark price.

- mark price: `(await provider_for(env, exchange, mode)).mark_price(symbol)` (the paper exchange's market
  for paper positions); when it cannot be read, `markPrice` is null and `markError` says why;
- unrealized P&L = (mark − entry) × size × (+1 LONG, −1 SHORT), in Decimal;
- estimated liquidation price (isolated margin, maintenance margin rate 0.5 %, as the paper
  exchange computes it): LONG entry × (1 − 1/leverage + 0.005), SHORT entry × (1 + 1/leverage − 0.005);
  null for a long that cannot be liquidated (leverage 1 or less would need a price ≤ 0);
- margin = entry × size / leverage; notional = mark × size (entry when the mark is unknown).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from hoox_edge.exchanges import provider_for
from hoox_edge.ledger import dec, num
from hoox_edge.operator import shapes
from hoox_edge.paper.market import MAINTENANCE_MARGIN_RATE
from hoox_edge.ports import Env

ZERO = Decimal(0)
ONE = Decimal(1)


def liquidation_price(side: str, entry: Decimal, leverage: Decimal) -> Decimal | None:
    mmr = dec(MAINTENANCE_MARGIN_RATE)
    lev = leverage if leverage > 0 else ONE
    if side == "LONG":
        p = entry * (ONE - ONE / lev + mmr)
        return p if p > 0 else None
    return entry * (ONE + ONE / lev - mmr)


def unrealized(side: str, size: Decimal, entry: Decimal, mark: Decimal) -> Decimal:
    return (mark - entry) * size * (ONE if side == "LONG" else -ONE)


async def _mark(env: Env, exchange: str, mode: str, symbol: str) -> tuple[float | None, str | None]:
    try:
        provider = await provider_for(env, exchange, mode, need_credentials=False)
        try:
            return float(await provider.mark_price(symbol)), None
        finally:
            if hasattr(provider, "aclose"):
                await provider.aclose()
    except Exception as exc:  # one unreadable market must not hide the other positions
        return None, (getattr(exc, "message", None) or str(exc) or type(exc).__name__)[:300]


async def open_positions(env: Env, *, mode: str | None = None) -> list[shapes.OpenPosition]:
    """Open positions of one book (`mode` paper or live) or of both (None)."""
    clause, args = (" AND mode = ?", [mode]) if mode else ("", [])
    rows = (await env.DB.prepare(
        "SELECT id, exchange, symbol, side, size, entry_price, leverage, realized_pnl, fees, mode, "
        f"request_id, opened_at, updated_at FROM positions WHERE status = 'OPEN'{clause} ORDER BY id"
    ).bind(*args).all())["results"]
    marks = await asyncio.gather(*(_mark(env, r["exchange"], r["mode"], r["symbol"]) for r in rows))
    out: list[shapes.OpenPosition] = []
    for r, (mark, error) in zip(rows, marks, strict=True):
        size, entry, lev = dec(r["size"]), dec(r["entry_price"]), dec(r["leverage"])
        m = dec(mark) if mark is not None else None
        liq = liquidation_price(r["side"], entry, lev)
        out.append({
            "id": r["id"], "exchange": r["exchange"], "symbol": r["symbol"], "side": r["side"],
            "size": r["size"], "entryPrice": r["entry_price"], "leverage": r["leverage"], "mode": r["mode"],
            "markPrice": mark, "markError": error,
            "unrealizedPnl": num(unrealized(r["side"], size, entry, m)) if m is not None else None,
            "liquidationPrice": num(liq) if liq is not None else None,
            "margin": num(entry * size / (lev if lev > 0 else ONE)),
            "notional": num((m if m is not None else entry) * size),
            "realizedPnl": r["realized_pnl"], "fees": r["fees"],
            "requestId": r["request_id"], "openedAt": r["opened_at"], "updatedAt": r["updated_at"],
        })  # fmt: skip
    return out

