"""Trading figures computed from ledger rows. Money is summed in `Decimal`; ratios are floats.

Definitions (docs/operator-api.md repeats them for the operator):

- a **fill** is a `trades` row with status `Filled`; `tradeCount` counts fills;
- a **closing fill** is a fill that reduced a position: action `CLOSE`, or a non-zero `realized_pnl`
  (a LONG against an open SHORT, or the reverse); a **win** is a closing fill with
  `realized_pnl > 0`; **win rate** = wins / closing fills (null when there is none);
- **realized P&L** = Σ `realized_pnl` of fills (gross: before fees); **fees** = Σ `fee` of fills;
  **net realized P&L** = realized P&L − fees;
- **unrealized P&L** = Σ over open positions of (mark − entry) × size × (+1 LONG, −1 SHORT);
- **daily P&L** of a UTC day = Σ (realized_pnl − fee) of the fills of that day (a fill's time is its
  row's `updated_at`, when it was recorded as filled); the series runs from the first fill's day to
  the last day asked for (today), days without fills being 0;
- **Sharpe ratio** = mean(daily P&L) / sample standard deviation(daily P&L) × √365, risk-free rate 0.
  Daily returns are daily P&L over a constant capital base, and a constant base cancels out of the
  ratio, so no capital figure is needed. Crypto trades every day, hence 365. Null with fewer than
  two days or a zero deviation;
- **holding time** of a closed position = its `closed_at` − `opened_at` (one `positions` row is one
  round trip, open to flat); average, longest and shortest over the book's closed positions;
- **maximum drawdown** = the largest fall of the cumulative net realized P&L curve (one point per
  fill, in fill order, starting from 0) from its running peak, in quote currency (USDT), ≥ 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hoox_edge.ledger import dec, num
from hoox_edge.operator import shapes
from hoox_edge.shared import clock

ZERO = Decimal(0)
TRADING_DAYS_PER_YEAR = 365


def _d(v: Any) -> Decimal:
    return ZERO if v is None else dec(v)


def is_closing(row: Mapping[str, Any]) -> bool:
    return row.get("action") == "CLOSE" or _d(row.get("realized_pnl")) != ZERO


def fill_day(row: Mapping[str, Any]) -> str:
    return str(row["updated_at"])[:10]


def daily_series(fills: Iterable[Mapping[str, Any]], until: str | None) -> list[shapes.DailyPnl]:
    """`[{"date", "pnl", "fees", "fills", "cumulative"}]` per UTC day, gaps filled with 0."""
    per_day: dict[str, list[Decimal]] = {}
    for r in fills:
        d = per_day.setdefault(fill_day(r), [ZERO, ZERO, ZERO])
        d[0] += _d(r.get("realized_pnl")) - _d(r.get("fee"))
        d[1] += _d(r.get("fee"))
        d[2] += 1
    if not per_day:
        return []
    first = date.fromisoformat(min(per_day))
    last = date.fromisoformat(max(max(per_day), until or ""))
    out: list[shapes.DailyPnl] = []
    cumulative = ZERO
    day = first
    while day <= last:
        key = day.isoformat()
        pnl, fees, n = per_day.get(key, [ZERO, ZERO, ZERO])
        cumulative += pnl
        out.append({"date": key, "pnl": num(pnl), "fees": num(fees), "fills": int(n),
                    "cumulative": num(cumulative)})
        day += timedelta(days=1)
    return out


def sharpe(daily_pnl: list[float]) -> float | None:
    n = len(daily_pnl)
    if n < 2:
        return None
    values = [dec(v) for v in daily_pnl]
    mean = sum(values, ZERO) / n
    var = sum(((v - mean) ** 2 for v in values), ZERO) / (n - 1)
    if var == 0:
        return None
    return float(mean) / math.sqrt(float(var)) * math.sqrt(TRADING_DAYS_PER_YEAR)


def max_drawdown(fills_in_order: Iterable[Mapping[str, Any]]) -> Decimal:
    equity = peak = ZERO
    worst = ZERO
    for r in fills_in_order:
        equity += _d(r.get("realized_pnl")) - _d(r.get("fee"))
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
    return worst


def total_unrealized(positions: list[shapes.OpenPosition]) -> Decimal:
    return sum((dec(p["unrealizedPnl"]) for p in positions if p["unrealizedPnl"] is not None), ZERO)


def holding_times(closed: Iterable[Mapping[str, Any]]) -> shapes.HoldingTimes:
    """Holding times of closed `positions` rows (`opened_at`, `closed_at`)."""
    spans = []
    for row in closed:
        opened, shut = clock.parse(row.get("opened_at")), clock.parse(row.get("closed_at"))
        if opened is not None and shut is not None:
            spans.append(max(0.0, shut - opened))
    return {"closedPositions": len(spans),
            "averageSeconds": sum(spans) / len(spans) if spans else None,
            "longestSeconds": max(spans) if spans else None,
            "shortestSeconds": min(spans) if spans else None}


def stats(fills: list[Mapping[str, Any]], open_positions: list[shapes.OpenPosition], *, today: str,
          mode: str, closed_positions: Iterable[Mapping[str, Any]] = ()) -> shapes.StatsResult:
    """The figures of `GET /v1/stats` of the book `mode` from Filled trade rows (oldest first), its
    open positions (their unrealized P&L) and its closed positions (holding times)."""
    closing = [r for r in fills if is_closing(r)]
    wins = sum(1 for r in closing if _d(r.get("realized_pnl")) > ZERO)
    realized = sum((_d(r.get("realized_pnl")) for r in fills), ZERO)
    fees = sum((_d(r.get("fee")) for r in fills), ZERO)
    series = daily_series(fills, today)
    return {
        "mode": mode,
        "tradeCount": len(fills),
        "closingTrades": len(closing),
        "wins": wins,
        "losses": len(closing) - wins,
        "winRate": (wins / len(closing)) if closing else None,
        "realizedPnl": num(realized),
        "fees": num(fees),
        "netRealizedPnl": num(realized - fees),
        "unrealizedPnl": num(total_unrealized(open_positions)),
        "dailyPnl": series,
        "sharpeRatio": sharpe([d["pnl"] for d in series]),
        "maxDrawdown": num(max_drawdown(fills)),
        "openPositions": len(open_positions),
        "unpricedPositions": [f"{p['exchange']}:{p['symbol']}" for p in open_positions if p["markPrice"] is None],
        "holding": holding_times(closed_positions),
    }


MAX_EQUITY_POINTS = 500
DEFAULT_EQUITY_POINTS = 200


def equity_curve(fills_in_order: Iterable[Mapping[str, Any]], *, mode: str, since: str | None = None,
                 max_points: int = DEFAULT_EQUITY_POINTS) -> shapes.EquityCurve:
    """The equity curve of `GET /v1/stats/equity`: the cumulative net realized P&L (realized_pnl − fee)
    after each fill, its running peak (from 0) and the drawdown below that peak — the curve whose
    largest drawdown is `maxDrawdown` of /v1/stats.

    Fills before `since` are not points but still count: the curve goes on from where they left it.
    With more than `max_points` fills, consecutive fills are grouped into at most `max_points`
    points: each is the state after its group's last fill, with the largest drawdown inside the group,
    so no trough is lost."""
    equity = peak = worst = ZERO
    closed = 0
    raw: list[tuple[str, Decimal, Decimal, Decimal, bool]] = []  # time, equity, peak, drawdown, closing
    for r in fills_in_order:
        equity += _d(r.get("realized_pnl")) - _d(r.get("fee"))
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
        t = str(r["updated_at"])
        if since is None or t >= since:
            raw.append((t, equity, peak, peak - equity, is_closing(r)))
            closed += is_closing(r)
    size = -(-len(raw) // max_points) if raw else 1  # fills per point (ceil)
    points: list[shapes.EquityPoint] = []
    for i in range(0, len(raw), size):
        group = raw[i:i + size]
        t, eq, pk, _, _ = group[-1]
        points.append({"t": t, "equity": num(eq), "peak": num(pk), "drawdown": num(max(g[3] for g in group)),
                       "fills": len(group), "closing": sum(1 for g in group if g[4])})
    return {
        "mode": mode,
        "since": since,
        "points": points,
        "fills": len(raw),
        "closingTrades": closed,
        "fillsPerPoint": size,
        "netRealizedPnl": num(equity),
        "maxDrawdown": num(max((p[3] for p in raw), default=ZERO)),
        "maxDrawdownAllTime": num(worst),
    }
