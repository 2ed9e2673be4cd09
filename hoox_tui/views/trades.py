"""View 4: live fills feed, open (resting) orders, the risk manager, open positions, win/loss figures.

Paper trading is labelled as paper. The risk panel (/v1/risk, both books) shows the last risk run and
its age (amber when stale: no run, or none for twice the interval), today's drawdown per book and
exchange as a gauge against the limit, and per open position its stop, the distance to it, the next
take-profit target and the targets done; a position no run has seen yet has no stop and says so.
Positions and figures are of one book (b switches: paper, live, both), named in their panels; the
open orders are of every book. `c` (or Enter on an order) cancels the selected order, `X` flattens;
both ask first and name what they act on. `t` (or Enter on a fill)
opens the selected fill's (or order's) timeline: every stage of its signal (`hoox_tui.timeline`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import ClassVar

from hoox_edge.shared import clock
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Static

from hoox_cli.core.client import HooxError
from hoox_cli.core.models import DailyPnl, OpenOrder, RiskDrawdown, RiskPosition, RiskStatus
from hoox_cli.core.redact import redact
from hoox_tui.dialogs import ConfirmScreen
from hoox_tui.fmt import (
    STALE_STYLE,
    book_label,
    count,
    duration,
    hms,
    mode_cell,
    money,
    num,
    pct,
    percent,
    pnl_text,
    price,
    qty,
    seconds_until,
)
from hoox_tui.store import TradeRow
from hoox_tui.views.base import View

STATUS_STYLE = {"Filled": "green", "TRADE_PENDING": "yellow", "Resting": "cyan", "Rejected": "red",
                "Failed": "bold red", "DeadLettered": "bold red"}
STOP_KIND = {"trailing": "trailing", "break_even": "break-even"}
FEED_COLUMNS = ("time", "mode", "exchange", "symbol", "side", "qty", "price", "fee", "P&L", "status")
POSITION_COLUMNS = ("exchange", "symbol", "side", "size", "entry", "mark", "uPnL", "liq.est")
GAUGE_CELLS = 20
GAUGE_WARN = 0.8  # of the limit: amber before it trips
RISK_SAMPLING = "prices sampled every {} min: a wick between runs is not seen"


class TradesView(View):
    view_id = "trades"
    poll_topics: ClassVar[frozenset[str]] = frozenset({"trades", "positions", "stats", "orders", "risk"})
    BINDINGS: ClassVar = [
        Binding("c", "cancel_order", "Cancel order", id="trades.cancel"),
        Binding("X", "app.flatten", "Flatten", id="trades.flatten"),
        Binding("t", "timeline", "Timeline", id="trades.timeline"),
    ]
    DEFAULT_CSS = """
    TradesView #mode-banner { height: 1; padding: 0 1; }
    TradesView #feed { height: 1fr; min-height: 5; border: round $primary; }
    TradesView #orders { height: auto; max-height: 8; border: round $warning; }
    TradesView #risk { height: auto; max-height: 12; border: round $error 70%; }
    TradesView #risk-text { padding: 0 1; }
    TradesView #winloss-text { padding: 0 1; }
    TradesView #lower { height: 15; }
    TradesView #positions { width: 1fr; border: round $secondary; }
    TradesView #winloss { width: 34; border: round $accent; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="mode-banner")
        feed: DataTable[str | Text] = DataTable(id="feed", cursor_type="row", zebra_stripes=True)
        yield feed
        orders: DataTable[str | Text] = DataTable(id="orders", cursor_type="row")
        yield orders
        with VerticalScroll(id="risk"):
            yield Static("waiting for the edge…", id="risk-text")
        with Horizontal(id="lower"):
            pos: DataTable[str | Text] = DataTable(id="positions", cursor_type="row")
            yield pos
            with VerticalScroll(id="winloss"):
                yield Static("", id="winloss-text")

    def on_mount(self) -> None:
        feed = self.query_one("#feed", DataTable)
        feed.border_title = "Fills and orders (newest first)"
        feed.border_subtitle = "Enter / t the selected fill's timeline"
        feed.add_columns(*FEED_COLUMNS)
        orders = self.query_one("#orders", DataTable)
        orders.add_columns("book", "exchange", "symbol", "side", "qty", "filled", "limit", "expires in")
        orders.border_title = self.orders_title()
        orders.border_subtitle = "c cancel the selected order · X flatten"
        pos = self.query_one("#positions", DataTable)
        pos.border_title = "Open positions"
        pos.border_subtitle = "b switches the book"
        risk = self.query_one("#risk")
        risk.border_title = "Risk manager — paper + live books"
        risk.border_subtitle = RISK_SAMPLING.format("N")
        self.query_one("#winloss").border_title = "Win / loss"
        self.fill_positions()  # its columns: the book column only when both books are shown

    async def on_data(self, topics: frozenset[str]) -> None:
        store = self.ctx.store
        if "status" in topics or "trades" in topics:
            self.query_one("#mode-banner", Static).update(self.render_banner())
        if "trades" in topics:
            self.fill_feed()
        if "orders" in topics:
            self.fill_orders()
        if "positions" in topics:
            self.fill_positions()
        if "risk" in topics:
            self.query_one("#risk-text", Static).update(self.render_risk())
            if store.risk is not None:
                self.query_one("#risk").border_subtitle = RISK_SAMPLING.format(store.risk.intervalMinutes)
        if topics & {"stats", "positions"}:
            self.query_one("#winloss-text", Static).update(self.render_winloss())
            self.query_one("#winloss").border_title = f"Win / loss — {book_label(store.book_of('stats'))}"
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
        cells = [[hms(r.created_at), mode_cell(r.mode), r.exchange, r.symbol,
                  Text(r.side, style="green" if r.side.upper() in ("BUY", "LONG") else "red"),
                  qty(r.quantity), price(r.price), num(r.fee, 4), pnl_text(r.realized_pnl)] for r in rows]
        # the status takes what the other columns leave, its note (a rejection's error, a cancel's
        # reason) cut with "…" to fit: a note wider than the view made the feed scroll sideways, a row
        # lost to the scrollbar and the status itself cut ("Cancelle")
        widths = [max([len(FEED_COLUMNS[i]), *(Text(str(c)).cell_len for c in col)])
                  for i, col in enumerate(zip(*cells, strict=True))] if cells else []
        used = sum(widths) + 2 * feed.cell_padding * len(FEED_COLUMNS)
        room = self.feed_width() - used
        _clear(feed)
        for r, row in zip(rows, cells, strict=True):
            status = Text(r.status, style=STATUS_STYLE.get(r.status, ""), no_wrap=True)
            note = r.error if r.error and r.status != "Filled" else ""
            if note and room > status.cell_len + 2:
                status.append(" " + note)
                status.truncate(max(room, len(r.status)), overflow="ellipsis")
            feed.add_row(*row, status, key=r.id)

    def feed_width(self) -> int:
        """The feed's width for its columns: inside its border, less a vertical scrollbar even when none is
        shown yet (the rows to come may bring one)."""
        feed = self.query_one("#feed", DataTable)
        inner = feed.scrollable_content_region.width or self.app.size.width - 2  # before its first layout
        return inner - (0 if feed.show_vertical_scrollbar else feed.styles.scrollbar_size_vertical)

    def on_resize(self) -> None:
        self.call_after_refresh(self.fill_feed)  # the room for a status's note changes with the width

    def orders_title(self) -> str:
        store = self.ctx.store
        title = f"Open orders ({len(store.orders) or 'none'}) — every book"
        return title + (f" — not refreshed: {store.errors['orders'][:60]}" if "orders" in store.errors else "")

    def fill_orders(self) -> None:
        table = self.query_one("#orders", DataTable)
        selected = self.selected_order()
        _clear(table)
        for o in self.ctx.store.orders:
            left = seconds_until(o.expiresAt)
            table.add_row(
                mode_cell(o.mode), o.exchange, o.symbol,
                Text(o.side, style="green" if o.side.upper() == "BUY" else "red"), qty(o.quantity),
                qty(o.filledQty), price(o.limitPrice), "due" if left is not None and left <= 0 else duration(left),
                key=o.requestId,
            )
        if selected is not None and selected.requestId in table.rows:  # a refresh keeps the selection
            table.move_cursor(row=table.get_row_index(selected.requestId))
        table.border_title = self.orders_title()

    def selected_order(self) -> OpenOrder | None:
        table = self.query_one("#orders", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((o for o in self.ctx.store.orders if o.requestId == key), None)

    def action_cancel_order(self) -> None:
        """Cancel the selected open order, after a confirmation that names it."""
        order = self.selected_order()
        if order is None:
            self.notify("There is no open order to cancel.", severity="warning")
            return
        if not self.ctx.store.has_edge:
            self.notify("No edge is configured: orders cannot be cancelled.", severity="warning")
            return
        question = (f"Cancel the resting order of request {order.requestId}?\n\n{order.exchange} {order.symbol} "
                    f"{order.side} {qty(order.quantity)} @ {price(order.limitPrice)} — {book_label(order.mode)}, "
                    f"{qty(order.filledQty)} filled so far (that stays in the book).")

        def answer(yes: bool | None) -> None:
            if yes:
                self.run_guarded(functools.partial(self._cancel, order), group="cancel", exclusive=False)

        self.app.push_screen(ConfirmScreen(question, yes="Cancel order", no="Keep it"), self.guard(answer))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "orders":
            self.action_cancel_order()
        elif event.data_table.id == "feed":
            self.action_timeline()

    def selected_fill(self) -> TradeRow | None:
        feed = self.query_one("#feed", DataTable)
        if not feed.row_count:
            return None
        key = feed.coordinate_to_cell_key(feed.cursor_coordinate).row_key.value
        return self.ctx.store.trades.get(str(key))

    def action_timeline(self) -> None:
        """The timeline of the selected open order (when that table has the focus), else of the selected fill."""
        orders = self.query_one("#orders", DataTable)
        order = self.selected_order() if orders.has_focus else None
        fill = None if order is not None else self.selected_fill()
        rid = order.requestId if order is not None else fill.request_id if fill is not None else None
        if rid is None:
            self.notify("Select a fill (or an open order) first: its signal's timeline opens.", severity="warning")
            return
        self.app.action_signal_timeline(rid)  # type: ignore[attr-defined]

    async def _cancel(self, order: OpenOrder) -> None:
        try:
            result = await self.ctx.store.cancel_order(order.requestId)
        except HooxError as exc:  # the edge's word (ORDER_NOT_OPEN: it filled meanwhile), not a view failure
            self.notify(redact(str(exc)), title="Order not cancelled", severity="error", timeout=15)
            return
        self.notify(f"Order of request {order.requestId[:8]} {result.status.lower()}: {result.exchange} "
                    f"{result.symbol} {result.side} {qty(result.quantity)} @ {price(result.limitPrice)}, "
                    f"{qty(result.executedQty)} filled")

    def fill_positions(self) -> None:
        pos = self.query_one("#positions", DataTable)
        book = self.ctx.store.book_of("positions")
        pos.border_title = f"Open positions — {book_label(book)}"
        # the same symbol and side can be open on two exchanges (and in both books): each row names its own
        both = book == "all"
        columns = [*(["book"] if both else []), *POSITION_COLUMNS]
        if [str(c.label) for c in pos.columns.values()] != columns:
            pos.clear(columns=True)
            pos.add_columns(*columns)
        _clear(pos)
        for p in self.ctx.store.positions:
            live = p.mode != "paper"
            symbol = Text(f"LIVE {p.symbol}", style="bold red") if live and not both else Text(p.symbol)
            pos.add_row(
                *([mode_cell(p.mode)] if both else []), p.exchange, symbol,
                Text(p.side, style="green" if p.side == "LONG" else "red"), qty(p.size), price(p.entryPrice),
                price(p.markPrice) if p.markPrice is not None else Text("n/a", style="dim"),
                pnl_text(p.unrealizedPnl), price(p.liquidationPrice),
                key=str(p.id),
            )

    def render_winloss(self) -> FigureGrid | Text:
        stats = self.ctx.store.stats
        if stats is None:
            return Text(self.ctx.store.errors.get("stats", "waiting for the edge…"), style="dim")
        rows: list[tuple[str, RenderableType]] = [
            ("wins / losses", f"{stats.wins} / {stats.losses}"),
            ("win rate", _share_gauge(stats.winRate)),
            ("realized P&L", pnl_text(stats.realizedPnl)),
            ("fees", money(stats.fees, signed=False)),
            ("net realized", pnl_text(stats.netRealizedPnl)),
            ("unrealized", pnl_text(stats.unrealizedPnl)),
            ("max drawdown", money(stats.maxDrawdown, signed=False)),
            ("Sharpe (daily)", num(stats.sharpeRatio)),
        ]
        if stats.dailyPnl:
            today = stats.dailyPnl[-1]
            rows.append((f"today {today.date[5:]}", _day_gauge(today.pnl, stats.dailyPnl)))
        held = stats.holding
        rows += [("held, average", duration(held.averageSeconds)), ("longest held", duration(held.longestSeconds)),
                 ("shortest held", duration(held.shortestSeconds))]
        if stats.unpricedPositions:
            rows.append(("unpriced", ", ".join(stats.unpricedPositions)))
        return FigureGrid(rows)

    # ---------------------------------------------------------------- risk manager
    def render_risk(self) -> RenderableType:
        store = self.ctx.store
        error = store.errors.get("risk")
        if error:  # the last figures read would pass for current ones: only the error is shown
            return Text(f"risk status not available: {error}", style="bold red")
        r = store.risk
        if r is None:
            return Text("waiting for the edge…", style="dim")
        parts: list[RenderableType] = [self.render_risk_run()]
        parts += [Text(f"setting error (its default applies): {e}", style="red") for e in r.settings.errors]
        parts += [self.render_drawdowns(r), self.render_risk_positions(r)]
        return Group(*parts)

    def render_risk_run(self) -> Text:
        """The last run and its age — the whole line amber when stale (no run, or none for twice the interval)."""
        store = self.ctx.store
        r = store.risk
        if r is None:
            return Text("")
        run = r.lastRun
        # the age the edge measured, plus the time since its answer came: no clock skew with the edge
        since_answer = max(0.0, clock.now() - store.updated_at.get("risk", clock.now()))
        age = None if run is None or run.ageSeconds is None else run.ageSeconds + since_answer
        stale = r.stale or age is None or age > 2 * r.intervalMinutes * 60
        if run is None:
            line = f"no risk run yet: no stop is watched (a run every {r.intervalMinutes} min)"
        else:
            line = (f"last run #{run.id} {duration(age)} ago ({run.trigger}, {run.status}): "
                    f"{run.positionsSeen} seen, {count(run.actions, 'action')}, {count(run.errors, 'error')}")
        if stale:
            return Text(f"STALE — {line}", style=STALE_STYLE)
        return Text(line, style="red" if run is not None and run.status == "error" else "")

    @staticmethod
    def render_drawdowns(r: RiskStatus) -> Table | Text:
        limit = r.settings.maxDailyDrawdownPercent
        if not r.drawdowns:
            return Text(f"daily drawdown: not measured today yet (limit {percent(limit) if limit else 'off'})",
                        style="dim")
        t = Table(box=None, show_header=False, padding=(0, 1), collapse_padding=True, pad_edge=False)
        t.add_column(no_wrap=True)
        t.add_column(no_wrap=True)
        t.add_column(no_wrap=True)
        for d in r.drawdowns:
            t.add_row(f"drawdown {d.mode} {d.exchange}", *_gauge(d))
        return t

    @staticmethod
    def render_risk_positions(r: RiskStatus) -> Table | Text:
        if not r.positions:
            return Text("no open position (paper and live books)", style="dim")
        t = Table(box=None, padding=(0, 1), collapse_padding=True, pad_edge=False, header_style="bold")
        for name in ("position", "side", "stop", "kind", "to stop", "next target", "done"):
            t.add_column(name, no_wrap=True, justify="right" if name in ("stop", "to stop", "done") else "left")
        for p in r.positions:
            t.add_row(
                Text(f"{p.exchange} {p.symbol}") if p.mode == "paper" else Text(f"LIVE {p.exchange} {p.symbol}",
                                                                                 style="bold red"),
                Text(p.side, style="green" if p.side == "LONG" else "red"), *_stop_cells(p),
                f"#{p.nextTarget.number} {price(p.nextTarget.price)}" if p.nextTarget else
                ("all done" if p.targetsTotal else "none set"),
                f"{p.targetsDone}/{p.targetsTotal}" if p.targetsTotal else "—")
        return t


def _stop_cells(p: RiskPosition) -> tuple[Text, str, Text]:
    """stop, kind, distance to it — nothing invented for a position no run has seen."""
    if not p.seenByRun:
        return Text("not seen yet", style="yellow"), "—", Text("—")
    kind = STOP_KIND.get(p.stopKind or "", p.stopKind or "")
    if kind == "trailing":
        kind += f" {p.trailingPercent:g}%"
    if p.stopPrice is None:
        return Text("none"), "trailing off" if not p.trailingPercent else "—", Text("—")
    if p.closing:
        distance = Text("closing", style="bold red")
    elif p.distanceToStopPercent is None:
        distance = Text("no mark", style="dim")  # the mark price could not be read
    elif p.distanceToStopPercent <= 0:
        distance = Text("crossed", style="bold red")  # the next run closes it
    else:
        distance = Text(percent(p.distanceToStopPercent), style="yellow" if p.distanceToStopPercent < 0.5 else "")
    return Text(price(p.stopPrice)), kind, distance


def _gauge(d: RiskDrawdown) -> tuple[Text, Text]:
    """The day's drawdown as a bar of the limit: red when tripped, "off" when no limit is set."""
    if not d.limitPercent:
        return Text("off".ljust(GAUGE_CELLS), style="dim"), Text(f"{percent(d.drawdownPercent)} today, no limit set",
                                                                 style="dim")
    share = max(0.0, d.drawdownPercent) / d.limitPercent
    cells = min(GAUGE_CELLS, round(share * GAUGE_CELLS))
    style = "bold red" if d.trippedAt else "yellow" if share >= GAUGE_WARN else "green"
    bar = Text()
    bar.append("█" * cells, style=style)
    bar.append("░" * (GAUGE_CELLS - cells), style="dim")
    figures = f"{percent(d.drawdownPercent)} of {percent(d.limitPercent)}"
    if d.trippedAt:
        return bar, Text(f"{figures} TRIPPED {hms(d.trippedAt)}", style="bold red")
    return bar, Text(figures)


WINLOSS_CELLS = 8  # the Win / loss panel's gauges


class FigureGrid:
    """Label / value pairs, as many side by side as the width holds (up to three): one column in the Win / loss
    panel beside the positions, two or three across the view when it is stacked under them (under 40 rows)."""

    MAX_PER_ROW = 3
    UNBOUNDED = 10_000

    def __init__(self, rows: list[tuple[str, RenderableType]]) -> None:
        self.rows = rows

    def table(self, per_row: int) -> Table:
        t = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False, collapse_padding=True)
        for i in range(per_row):
            t.add_column(style="dim", no_wrap=True)  # the label
            t.add_column(justify="right", no_wrap=True)
            if i < per_row - 1:
                t.add_column(width=1)  # a gap between pairs wider than between a label and its value
        for start in range(0, len(self.rows), per_row):
            cells: list[RenderableType] = []
            for i, (label, value) in enumerate(self.rows[start:start + per_row]):
                cells += [label, value] + ([""] if i < per_row - 1 else [])
            t.add_row(*cells)
        return t

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # the widest layout whose figures all fit whole: a figure cut or wrapped would be misread
        for per_row in range(min(self.MAX_PER_ROW, len(self.rows)), 1, -1):
            t = self.table(per_row)
            unbounded = options.update_width(self.UNBOUNDED)  # Measurement.get clamps to the width it is given
            if Measurement.get(console, unbounded, t).maximum <= options.max_width:
                yield t
                return
        yield self.table(1)


def _share_gauge(share: float | None) -> Text:
    """The win rate as a bar: wins green, losses red."""
    if share is None:
        return Text("no closed trade", style="dim")
    wins = round(share * WINLOSS_CELLS)
    bar = Text()
    bar.append("█" * wins, style="green")
    bar.append("█" * (WINLOSS_CELLS - wins), style="red")
    bar.append(f" {pct(share)}")
    return bar


def _day_gauge(pnl: float, days: Sequence[DailyPnl]) -> Text:
    """Today's net P&L as a bar against the book's largest daily move (gain or loss) so far."""
    largest = max(abs(d.pnl) for d in days)
    cells = round(abs(pnl) / largest * WINLOSS_CELLS) if largest else 0
    bar = Text()
    bar.append("█" * cells, style="green" if pnl >= 0 else "red")
    bar.append("░" * (WINLOSS_CELLS - cells), style="dim")
    bar.append(" ")
    return bar + pnl_text(pnl)


def _clear(table: DataTable[str | Text]) -> None:
    """Empty `table` for a refill, its columns back to their labels' width: DataTable.clear keeps the widest
    cell a column ever held, so a status once "TRADE_PENDING" or an error kept the feed wider than the view
    (a horizontal scrollbar ate a row and cut "Cancelled" to "Cancelle")."""
    table.clear()
    for column in table.columns.values():
        column.content_width = column.label.cell_len
