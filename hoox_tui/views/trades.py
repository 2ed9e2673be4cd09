"""View 4: live fills feed, open positions, win/loss figures; paper trading is labelled as paper."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from hoox_tui.fmt import hms, money, num, pct, pnl_text
from hoox_tui.views.base import View

STATUS_STYLE = {"Filled": "green", "TRADE_PENDING": "yellow", "Rejected": "red", "Failed": "bold red"}


class TradesView(View):
    view_id = "trades"
    title = "Trade monitor"
    poll_topics: ClassVar[frozenset[str]] = frozenset({"trades", "positions", "stats"})
    DEFAULT_CSS = """
    TradesView #mode-banner { height: 1; padding: 0 1; }
    TradesView #feed { height: 1fr; border: round $primary; }
    TradesView #lower { height: 14; }
    TradesView #positions { width: 1fr; border: round $secondary; }
    TradesView #winloss { width: 32; border: round $accent; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="mode-banner")
        feed: DataTable[str | Text] = DataTable(id="feed", cursor_type="row", zebra_stripes=True)
        yield feed
        with Horizontal(id="lower"):
            pos: DataTable[str | Text] = DataTable(id="positions", cursor_type="row")
            yield pos
            with Vertical(id="winloss"):
                yield Static("", id="winloss-text")

    def on_mount(self) -> None:
        feed = self.query_one("#feed", DataTable)
        feed.border_title = "Fills and orders (newest first)"
        feed.add_columns("time", "mode", "exchange", "symbol", "side", "qty", "price", "fee", "P&L", "status")
        pos = self.query_one("#positions", DataTable)
        pos.border_title = "Open positions"
        pos.add_columns("symbol", "side", "size", "entry", "mark", "uPnL", "liq.est")
        self.query_one("#winloss").border_title = "Win / loss"

    async def on_data(self, topics: frozenset[str]) -> None:
        store = self.ctx.store
        if "status" in topics or "trades" in topics:
            self.query_one("#mode-banner", Static).update(self.render_banner())
        if "trades" in topics:
            self.fill_feed()
        if "positions" in topics:
            self.fill_positions()
        if topics & {"stats", "positions"}:
            self.query_one("#winloss-text", Static).update(self.render_winloss())
        if "trades" in store.errors and "trades" in topics:
            self.notify(store.errors["trades"], title="Trades", severity="error")

    def render_banner(self) -> Text:
        st = self.ctx.store.status
        if st is None:
            return Text("")
        if st.tradingMode == "paper":
            return Text(" PAPER TRADING — fills are simulated by the paper exchange; no real money moves ",
                        style="bold black on magenta")
        ex = st.exchanges
        if ex is None or not ex.available:
            where = "exchanges unknown" + (f": {ex.error}" if ex is not None and ex.error else "")
        else:
            live = [f"{e.name} ({e.endpoint})" for e in ex.items if e.live]
            idle = [e.name for e in ex.items if not e.live]
            where = ("live on " + ", ".join(live) if live else "no exchange has its keys set") + (
                f"; not configured: {', '.join(idle)}" if idle else "")
        return Text(f" LIVE TRADING — real orders: {where} ", style="bold white on red")

    def fill_feed(self) -> None:
        feed = self.query_one("#feed", DataTable)
        rows = list(self.ctx.store.trades.values())[::-1]  # the ring buffer already holds at most 500
        feed.clear()
        for r in rows:
            feed.add_row(
                hms(r.created_at), Text(r.mode.upper(), style="magenta" if r.mode == "paper" else "bold red"),
                r.exchange, r.symbol, Text(r.side, style="green" if r.side.upper() in ("BUY", "LONG") else "red"),
                num(r.quantity, 4), num(r.price), num(r.fee, 4),
                pnl_text(r.realized_pnl),
                Text(r.status + (f" {r.error}" if r.error and r.status != "Filled" else ""),
                     style=STATUS_STYLE.get(r.status, "")),
                key=r.id,
            )

    def fill_positions(self) -> None:
        pos = self.query_one("#positions", DataTable)
        positions = self.ctx.store.positions
        paper = bool(positions) and all(p.mode == "paper" for p in positions)
        pos.border_title = "Open positions" + (" (PAPER)" if paper else "")
        pos.clear()
        for p in self.ctx.store.positions:
            pos.add_row(
                Text(p.symbol) if p.mode == "paper" else Text(f"LIVE {p.symbol}", style="bold red"),
                Text(p.side, style="green" if p.side == "LONG" else "red"), num(p.size, 4), _price(p.entryPrice),
                _price(p.markPrice) if p.markPrice is not None else Text("n/a", style="dim"),
                pnl_text(p.unrealizedPnl), _price(p.liquidationPrice),
                key=str(p.id),
            )

    def render_winloss(self) -> Table | Text:
        stats = self.ctx.store.stats
        if stats is None:
            return Text(self.ctx.store.errors.get("stats", "waiting for the edge…"), style="dim")
        t = Table(box=None, show_header=False)
        t.add_column(style="dim")
        t.add_column(justify="right")
        t.add_row("wins / losses", f"{stats.wins} / {stats.losses}")
        t.add_row("win rate", pct(stats.winRate))
        t.add_row("realized P&L", pnl_text(stats.realizedPnl))
        t.add_row("fees", money(stats.fees, signed=False))
        t.add_row("net realized", pnl_text(stats.netRealizedPnl))
        t.add_row("unrealized", pnl_text(stats.unrealizedPnl))
        t.add_row("max drawdown", money(stats.maxDrawdown, signed=False))
        t.add_row("Sharpe (daily)", num(stats.sharpeRatio))
        if stats.dailyPnl:
            today = stats.dailyPnl[-1]
            t.add_row(f"today ({today.date})", pnl_text(today.pnl))
        if stats.unpricedPositions:
            t.add_row("unpriced", ", ".join(stats.unpricedPositions))
        return t


def _price(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"
