"""The P&L report of a period, per book (paper and live), from ledger rows only.

Every figure is the operator API's (`operator/figures.py`) over the fills of the period:
- fills: `trades` rows with `filled_qty > 0` whose `updated_at` (when they were recorded as filled) is
  in [since, until); `figures.stats` gives trade count, wins, win rate, gross (realized) P&L, fees,
  net P&L, the maximum drawdown and holding times (positions closed in the period);
- best / worst trade: the closing fill with the highest / lowest net P&L (realized_pnl − fee);
- per symbol: the same sums over each symbol's fills;
- the equity curve: `figures.equity_curve` of the period's fills (cumulative net P&L from 0 at the
  period's start, its peak and the drawdown below it), drawn as inline SVG;
- open positions now, valued at the mark price (`operator/positions.py`).

The HTML is one self-contained page (inline CSS and SVG, a Content-Security-Policy that forbids any
fetch), so a headless browser renders it offline.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hoox_edge.ledger import dec, num
from hoox_edge.operator import figures, shapes
from hoox_edge.operator import positions as positions_mod
from hoox_edge.ports import Env
from hoox_edge.shared import clock

PERIODS: dict[str, int] = {"12h": 12 * 3600, "24h": 24 * 3600, "7d": 7 * 24 * 3600}
BOOKS = ("paper", "live")
ZERO = Decimal(0)
CHART_POINTS = 200


@dataclass(frozen=True)
class TradeLine:
    symbol: str
    exchange: str
    at: str
    net: float  # realized_pnl - fee


@dataclass(frozen=True)
class SymbolLine:
    symbol: str
    fills: int
    closing: int
    wins: int
    realized: float
    fees: float
    net: float

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.closing if self.closing else None


@dataclass
class Book:
    mode: str
    stats: shapes.StatsResult
    equity: shapes.EquityCurve
    best: TradeLine | None
    worst: TradeLine | None
    symbols: list[SymbolLine]
    positions: list[shapes.OpenPosition]

    @property
    def empty(self) -> bool:
        return self.stats["tradeCount"] == 0 and not self.positions


@dataclass
class Report:
    period: str
    since: str
    until: str
    current_mode: str | None
    books: list[Book] = field(default_factory=list)


def _d(v: Any) -> Decimal:
    return ZERO if v is None else dec(v)


def best_and_worst(fills: Sequence[Mapping[str, Any]]) -> tuple[TradeLine | None, TradeLine | None]:
    lines = [TradeLine(str(r["symbol"]), str(r["exchange"]), str(r["updated_at"]),
                       num(_d(r.get("realized_pnl")) - _d(r.get("fee"))))
             for r in fills if figures.is_closing(r)]
    if not lines:
        return None, None
    return max(lines, key=lambda t: t.net), min(lines, key=lambda t: t.net)


def per_symbol(fills: Sequence[Mapping[str, Any]]) -> list[SymbolLine]:
    sums: dict[str, list[Any]] = {}
    for r in fills:
        s = sums.setdefault(str(r["symbol"]), [0, 0, 0, ZERO, ZERO])
        pnl, fee = _d(r.get("realized_pnl")), _d(r.get("fee"))
        s[0] += 1
        if figures.is_closing(r):
            s[1] += 1
            s[2] += pnl > ZERO
        s[3] += pnl
        s[4] += fee
    return [SymbolLine(sym, n, c, w, num(p), num(f), num(p - f)) for sym, (n, c, w, p, f) in sorted(sums.items())]


async def book(env: Env, mode: str, since: str, until: str) -> Book:
    """The figures of one book over [since, until)."""
    db = env.DB
    fills = (await db.prepare(
        "SELECT request_id, exchange, symbol, action, realized_pnl, fee, mode, created_at, updated_at FROM trades "
        "WHERE filled_qty > 0 AND mode = ? AND updated_at >= ? AND updated_at < ? ORDER BY updated_at, rowid"
    ).bind(mode, since, until).all())["results"]
    closed = (await db.prepare(
        "SELECT opened_at, closed_at FROM positions WHERE status = 'CLOSED' AND mode = ? "
        "AND closed_at >= ? AND closed_at < ?").bind(mode, since, until).all())["results"]
    open_pos = await positions_mod.open_positions(env, mode=mode)
    stats = figures.stats(fills, open_pos, today=until[:10], mode=mode, closed_positions=closed)
    best, worst = best_and_worst(fills)
    return Book(mode=mode, stats=stats, equity=figures.equity_curve(fills, mode=mode, max_points=CHART_POINTS),
                best=best, worst=worst, symbols=per_symbol(fills), positions=open_pos)


async def build(env: Env, period: str, *, now: float | None = None, current_mode: str | None = None) -> Report:
    """The report of the `period` (12h, 24h or 7d) that ends now."""
    end = clock.now() if now is None else now
    until, since = clock.iso(end), clock.iso(end - PERIODS[period])
    report = Report(period=period, since=since, until=until, current_mode=current_mode)
    for mode in BOOKS:
        report.books.append(await book(env, mode, since, until))
    return report


# =========================================================================== formatting
def money(v: float | None) -> str:
    """A quote-currency amount: two decimals (four under 1, so a small fee is not shown as 0.00)."""
    if v is None:
        return "—"
    places = 4 if 0 < abs(v) < 1 else 2
    return f"{v:,.{places}f}"


def signed(v: float | None) -> str:
    text = money(v)
    return "+" + text if v is not None and v > 0 else text


def percent(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.1f} %"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    m = int(seconds // 60)
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min"


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


# =========================================================================== the plain-text summary
def summary_text(report: Report, *, note: str | None = None) -> str:
    """The report in a few lines: the Telegram caption/message, and the whole report when no PDF."""
    lines = [f"hoox P&L report, last {report.period}", f"{report.since[:16]}Z to {report.until[:16]}Z UTC"]
    for b in report.books:
        s = b.stats
        head = f"{b.mode.upper()} book" + (" (trading now)" if b.mode == report.current_mode else "")
        if b.empty:
            lines.append(f"{head}: no fills and no open positions")
            continue
        lines.append(f"{head}: net P&L {signed(s['netRealizedPnl'])} USDT (gross {signed(s['realizedPnl'])}, "
                     f"fees {money(s['fees'])})")
        lines.append(f"  trades {s['tradeCount']}, win rate {percent(s['winRate'])} "
                     f"({s['wins']} of {s['closingTrades']} closing), max drawdown {money(s['maxDrawdown'])}")
        if b.best and b.worst:
            lines.append(f"  best {b.best.symbol} {signed(b.best.net)}, worst {b.worst.symbol} {signed(b.worst.net)}")
        if b.positions:
            lines.append(f"  open positions {len(b.positions)}, unrealized {signed(s['unrealizedPnl'])}"
                         + (f" ({len(s['unpricedPositions'])} without a mark price)" if s["unpricedPositions"]
                            else ""))
    if note:
        lines.append(note)
    return "\n".join(lines)


# =========================================================================== charts
W, H, PAD = 640, 150, 6


def _scale(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(0.0, *values), max(0.0, *values)
    return lo, (hi if hi > lo else lo + 1.0)


def _points(values: Sequence[float], lo: float, hi: float) -> str:
    n = len(values)
    step = (W - 2 * PAD) / max(1, n - 1)
    return " ".join(f"{PAD + i * step:.1f},{PAD + (hi - v) / (hi - lo) * (H - 2 * PAD):.1f}"
                    for i, v in enumerate(values))


def _y(v: float, lo: float, hi: float) -> float:
    return PAD + (hi - v) / (hi - lo) * (H - 2 * PAD)


def _labels(lo: float, hi: float) -> str:
    """The scale: the top and bottom values of the chart, at its right edge."""
    return (f'<text x="{W - PAD}" y="{PAD + 9}" class="axis">{_e(money(hi))}</text>'
            f'<text x="{W - PAD}" y="{H - PAD - 2}" class="axis">{_e(money(lo))}</text>')


def equity_svg(curve: shapes.EquityCurve) -> str:
    """The cumulative net P&L after each fill (from 0 at the period's start) and its running peak."""
    equity = [0.0] + [p["equity"] for p in curve["points"]]
    peak = [0.0] + [p["peak"] for p in curve["points"]]
    lo, hi = _scale(equity + peak)
    return (f'<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
            f'aria-label="equity curve">'
            f'<line x1="0" x2="{W}" y1="{_y(0, lo, hi):.1f}" y2="{_y(0, lo, hi):.1f}" class="zero"/>'
            f'<polyline points="{_points(peak, lo, hi)}" class="peak"/>'
            f'<polyline points="{_points(equity, lo, hi)}" class="equity"/>{_labels(lo, hi)}</svg>')


def drawdown_svg(curve: shapes.EquityCurve) -> str:
    """The drawdown below the running peak after each fill, drawn downwards from 0."""
    values = [0.0] + [-p["drawdown"] for p in curve["points"]]
    lo, hi = _scale(values)
    pts = _points(values, lo, hi)
    base = _y(0, lo, hi)
    return (f'<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="drawdown">'
            f'<polygon points="{PAD:.1f},{base:.1f} {pts} {W - PAD:.1f},{base:.1f}" class="dd"/>'
            f'<line x1="0" x2="{W}" y1="{base:.1f}" y2="{base:.1f}" class="zero"/>{_labels(lo, hi)}</svg>')


# =========================================================================== HTML
_CSS = """
body { font-family: 'DejaVu Sans', Arial, sans-serif; color: #1b1f24; margin: 0; font-size: 11pt; }
h1 { font-size: 18pt; margin: 0 0 2pt 0; } h2 { font-size: 14pt; margin: 16pt 0 4pt 0; border-bottom: 1pt solid #888; }
h3 { font-size: 11pt; margin: 10pt 0 3pt 0; } .muted { color: #555; } .note { background: #fff4d6; padding: 4pt 6pt; }
.grid { display: grid; grid-template-columns: repeat(4, 1fr); gap: 4pt 10pt; }
.fig { border: 0.5pt solid #bbb; padding: 3pt 5pt; }
.fig .k { color: #555; font-size: 9pt; } .fig .v { font-size: 12pt; }
table { border-collapse: collapse; width: 100%; font-size: 9.5pt; }
th, td { padding: 2pt 4pt; border-bottom: 0.5pt solid #ccc; }
th { text-align: left; } td.n { text-align: right; } .pos { color: #0a7a2f; } .neg { color: #b3261e; }
svg.chart { width: 100%; height: auto; border: 0.5pt solid #ccc; } .zero { stroke: #999; stroke-width: 0.7; }
.equity { fill: none; stroke: #1f5fbf; stroke-width: 1.6; } .peak { fill: none; stroke: #999; stroke-dasharray: 3 2; }
.dd { fill: #e7a29c; stroke: #b3261e; stroke-width: 0.8; } .axis { font-size: 10px; fill: #555; text-anchor: end; }
.grid, svg.chart, h3, tr { break-inside: avoid; } h2, h3 { break-after: avoid; }
"""


def _cls(v: float | None) -> str:
    return "" if v is None or v == 0 else (' class="n pos"' if v > 0 else ' class="n neg"')


def _fig(key: str, value: str) -> str:
    return f'<div class="fig"><div class="k">{_e(key)}</div><div class="v">{_e(value)}</div></div>'


def _book_html(b: Book, current: bool) -> str:
    s = b.stats
    title = f"{b.mode.capitalize()} book" + (" (the book the desk trades in now)" if current else "")
    out = [f'<section class="book"><h2>{_e(title)}</h2>']
    if b.empty:
        out.append("<p>No fills in this period and no open positions in this book.</p></section>")
        return "".join(out)
    h = s["holding"]
    out.append('<div class="grid">' + "".join([
        _fig("Net P&L (USDT)", signed(s["netRealizedPnl"])),
        _fig("Gross P&L (USDT)", signed(s["realizedPnl"])),
        _fig("Fees (USDT)", money(s["fees"])),
        _fig("Win rate", percent(s["winRate"])),
        _fig("Trades (fills)", str(s["tradeCount"])),
        _fig("Wins / losses", f"{s['wins']} / {s['losses']}"),
        _fig("Max drawdown (USDT)", money(s["maxDrawdown"])),
        _fig("Unrealized P&L (USDT)", signed(s["unrealizedPnl"]) if b.positions else "—"),
        _fig("Best trade", f"{b.best.symbol} {signed(b.best.net)}" if b.best else "—"),
        _fig("Worst trade", f"{b.worst.symbol} {signed(b.worst.net)}" if b.worst else "—"),
        _fig("Positions closed", str(h["closedPositions"])),
        _fig("Average holding", duration(h["averageSeconds"])),
    ]) + "</div>")
    if b.symbols:
        out.append("<h3>Per symbol</h3><table><tr><th>Symbol</th><th>Fills</th><th>Closing</th><th>Win rate</th>"
                   "<th>Gross P&amp;L</th><th>Fees</th><th>Net P&amp;L</th></tr>")
        for line in b.symbols:
            out.append(f"<tr><td>{_e(line.symbol)}</td><td class=\"n\">{line.fills}</td>"
                       f"<td class=\"n\">{line.closing}</td><td class=\"n\">{_e(percent(line.win_rate))}</td>"
                       f"<td{_cls(line.realized)}>{_e(signed(line.realized))}</td>"
                       f"<td class=\"n\">{_e(money(line.fees))}</td>"
                       f"<td{_cls(line.net)}>{_e(signed(line.net))}</td></tr>")
        out.append("</table>")
        out.append("<h3>Equity curve (cumulative net P&amp;L, dashed: its peak)</h3>" + equity_svg(b.equity))
        out.append("<h3>Drawdown below the peak</h3>" + drawdown_svg(b.equity))
    else:
        out.append("<p>No fills in this period.</p>")
    if b.positions:
        out.append("<h3>Open positions (at the mark price now)</h3><table><tr><th>Exchange</th><th>Symbol</th>"
                   "<th>Side</th><th>Size</th><th>Entry</th><th>Mark</th><th>Unrealized P&amp;L</th></tr>")
        for p in b.positions:
            upnl = p["unrealizedPnl"]
            mark = money(p["markPrice"]) if p["markPrice"] is not None else f"unavailable: {p['markError'] or '?'}"
            out.append(f"<tr><td>{_e(p['exchange'])}</td><td>{_e(p['symbol'])}</td><td>{_e(p['side'])}</td>"
                       f"<td class=\"n\">{_e(p['size'])}</td><td class=\"n\">{_e(money(p['entryPrice']))}</td>"
                       f"<td class=\"n\">{_e(mark)}</td><td{_cls(upnl)}>{_e(signed(upnl))}</td></tr>")
        out.append("</table>")
    out.append("</section>")
    return "".join(out)


def render_html(report: Report, *, note: str | None = None) -> str:
    """The whole report as one self-contained HTML page; `note` (e.g. why there is no PDF) on top."""
    books = "".join(_book_html(b, b.mode == report.current_mode) for b in report.books)
    note_html = f'<p class="note">{_e(note)}</p>' if note else ""
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>hoox P&amp;L report {_e(report.until[:13])}h UTC</title><style>{_CSS}</style></head><body>"
        f"<h1>hoox P&amp;L report: last {_e(report.period)}</h1>"
        f"<p class=\"muted\">From {_e(report.since)} to {_e(report.until)} (UTC). Every figure is computed from "
        "the ledger's fills in this period; amounts in the quote currency (USDT). Win rate: winning closing "
        "fills over closing fills. Net P&amp;L: gross (realized) P&amp;L minus fees.</p>"
        f"{note_html}{books}</body></html>")
