"""View 1: service status grid, session figures (of one book: b switches), the signal watchdog's
sources (last signal and its age against the expectation, quiet ones in red), the open
reconciliation issues (live ledger vs exchanges, from /v1/risk; their count also in the figures), the
web3 wallet's balance on each chain (/v1/wallet/balances; shown only while web3-wallet-worker runs), the
book's equity curve and drawdown (a chart, from GET /v1/stats/equity), alert console (with a line for
each risk run that acted or failed)."""

from __future__ import annotations

from typing import ClassVar

from hoox_edge.shared import clock
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from hoox_cli.core.models import EquityCurve, ReconciliationIssue, WatchdogSource, status_label
from hoox_tui.charts import DRAWDOWN_COLOR, EQUITY_COLOR, EquityChart
from hoox_tui.fmt import (
    ago,
    book_label,
    book_text,
    duration,
    hms,
    money,
    num,
    pct,
    pnl_text,
    qty,
    seconds_between,
)
from hoox_tui.store import AlertRow, Conn
from hoox_tui.views.base import View

STATUS_STYLE = {"operational": "green", "operational (partial)": "green", "not available": "dim",
                "degraded": "yellow", "offline": "red", "disabled": "dim"}
STALE_SECONDS = 1.0  # while the edge is away, the age of its last answer is redrawn this often
LEVEL_STYLE = {"critical": "bold white on red", "error": "bold red", "warning": "yellow", "info": "cyan",
               "debug": "dim"}
WATCHDOG_STYLE = {"ok": "green", "quiet": "bold white on red", "outside_hours": "dim", "no_expectation": "dim"}
WATCHDOG_LABEL = {"ok": "ok", "quiet": "QUIET", "outside_hours": "outside hours", "no_expectation": "not watched"}
ISSUE_LABEL = {"size": "size differs", "side": "side differs", "missing_at_exchange": "not at exchange",
               "not_in_ledger": "not in ledger"}


class DashboardView(View):
    view_id = "dashboard"
    poll_topics: ClassVar[frozenset[str]] = frozenset({"stats", "equity", "workers", "queues", "watchdog", "risk",
                                                       "alerts", "wallet"})

    DEFAULT_CSS = """
    DashboardView #top { height: auto; }
    DashboardView #grid { width: 1fr; height: auto; border: round $primary; border-title-color: $primary; }
    DashboardView #figures { width: 36; height: auto; border: round $secondary; }
    DashboardView #watchdog { height: auto; max-height: 9; border: round $warning; }
    DashboardView #reconciliation { height: auto; max-height: 8; border: round $error 70%; }
    DashboardView #reconciliation-text { padding: 0 1; }
    DashboardView #wallet { height: auto; max-height: 6; border: round $secondary; padding: 0 1; }
    DashboardView #bottom { height: 1fr; }
    DashboardView #equity { width: 1fr; border: round $success; }
    DashboardView #equity-chart { height: 1fr; }
    DashboardView #equity-note { height: auto; }
    DashboardView #alerts { width: 1fr; border: round $accent; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            grid = Static("waiting for the edge…", id="grid")
            grid.border_title = "Services (req / 5xx: last 5 min)"
            yield grid
            figures = Static("", id="figures")
            figures.border_title = "Session"
            yield figures
        watchdog = Static("waiting for the edge…", id="watchdog")
        watchdog.border_title = "Signal watchdog (last signal · age / expected gap)"
        yield watchdog
        wallet = Static("waiting for the edge…", id="wallet")
        wallet.border_title = "Wallet (web3-wallet-worker)"
        wallet.display = False  # only while the worker runs
        yield wallet
        with VerticalScroll(id="reconciliation") as rec:
            rec.border_title = "Reconciliation (live ledger vs exchanges)"
            yield Static("waiting for the edge…", id="reconciliation-text")
        with Horizontal(id="bottom"):
            with Vertical(id="equity") as equity:
                equity.border_title = "Equity"
                yield Static("waiting for the edge…", id="equity-note")
                chart = EquityChart(id="equity-chart")
                chart.display = False
                yield chart
            with VerticalScroll(id="alerts") as alerts:
                alerts.border_title = "Alerts"
                yield Static("", id="alert-lines")

    def on_mount(self) -> None:
        self.set_interval(STALE_SECONDS, self.guard(self._age_tick), name="stale-age")

    def _age_tick(self) -> None:
        if not self.ctx.store.live and self.ctx.store.status is not None:
            self.query_one("#grid", Static).update(self.render_grid())
            self.query_one("#alert-lines", Static).update(self.render_alerts())

    async def on_data(self, topics: frozenset[str]) -> None:
        if topics & {"status", "workers"}:
            self.query_one("#grid", Static).update(self.render_grid())
        if topics & {"stats", "status", "workers", "queues"}:
            figures = self.query_one("#figures", Static)
            figures.update(self.render_figures())
            figures.border_title = f"Session — {book_label(self.ctx.store.book_of('stats'))}"
        if "equity" in topics:
            self.show_equity()
        if "watchdog" in topics:
            self.query_one("#watchdog", Static).update(self.render_watchdog())
        if "risk" in topics:
            self.query_one("#reconciliation-text", Static).update(self.render_reconciliation())
            self.query_one("#reconciliation").border_title = self.reconciliation_title()
        if topics & {"alerts", "status"}:
            self.query_one("#alert-lines", Static).update(self.render_alerts())
        if topics & {"wallet", "status"}:
            wallet = self.query_one("#wallet", Static)
            wallet.display = self.ctx.store.wallet_enabled()
            if wallet.display:
                wallet.update(self.render_wallet())

    def render_wallet(self) -> Table | Text:
        store = self.ctx.store
        w = store.wallet
        if w is None:
            error = store.errors.get("wallet")
            return Text(f"wallet not available: {error}" if error else "waiting for the edge…",
                        style="red" if error else "dim")
        if w.error:
            return Text(f"wallet not available: {w.error}", style="red")
        if not w.items:
            return Text("no chain configured: set web3:chains (see `hoox wallet --help`)", style="dim")
        t = Table(expand=True, box=None, padding=(0, 1), show_header=False)
        t.add_column("chain", no_wrap=True)
        t.add_column("balance", justify="right", no_wrap=True)
        t.add_column("address", overflow="ellipsis", no_wrap=True)
        for row in w.items:
            if row.error:
                t.add_row(row.chain, Text("—", style="dim"), Text(row.error, style="red"))
            else:
                t.add_row(row.chain, f"{row.balance} {row.symbol}", Text(row.address or "", style="dim"))
        return t

    def render_grid(self) -> Table | Text:
        store = self.ctx.store
        st = store.status
        if st is None:
            return Text(store.waiting_text(), style="red" if store.state == Conn.UNAUTHORIZED else "dim")
        # The edge away: its last answer is no news of now. Every row goes grey with that answer's
        # age, never a green "operational" the edge may no longer be (the alerts say why).
        live = store.live
        last = ago(store.age("status")).removesuffix(" ago")  # short: the column is narrow at 100 x 30
        traffic = {w.name: w for w in store.workers}
        t = Table(expand=True, box=None, padding=(0, 1))
        t.add_column("worker", no_wrap=True, min_width=18)
        t.add_column("status", min_width=13, overflow="fold")  # folds before the figures are cut (100 columns)
        t.add_column("probe", justify="right", no_wrap=True, min_width=5)
        t.add_column("req", justify="right", no_wrap=True, min_width=4)
        t.add_column("5xx", justify="right", no_wrap=True, min_width=4)
        for w in st.workers:
            label = status_label(w.status, w.features, w.error)
            fig = (traffic[w.name].traffic or {}).get("5m") if w.name in traffic else None
            cells = ["—" if w.latencyMs is None else f"{w.latencyMs:.0f} ms",
                     num(fig.requests) if fig else "—", num(fig.errors) if fig else "—"]
            if label == "disabled":
                t.add_row(w.name, Text("○ disabled", style="dim"), "—", *cells[1:], style="dim")
            elif not live:
                t.add_row(w.name, Text(f"○ unknown {last}", style="dim"), *cells, style="dim")
            else:
                t.add_row(w.name, Text(f"● {label}", style=STATUS_STYLE.get(label, "")), *cells)
        return t

    def render_figures(self) -> Table | Text:
        store = self.ctx.store
        stats, st = store.stats, store.status
        t = Table(box=None, show_header=False, padding=(0, 1))
        t.add_column(style="dim", no_wrap=True)
        t.add_column(justify="right", no_wrap=True)
        if st is not None:
            mode = st.tradingMode
            t.add_row("trading", Text("PAPER (sim)" if mode == "paper" else f"{mode.upper()} (real)",
                                      style="bold magenta" if mode == "paper" else "bold red"))
            ks = st.killSwitch
            t.add_row("kill switch", Text("ON" if ks.on else "off", style="bold red" if ks.on else "green"))
        book = store.book_of("stats")
        if book is not None:
            t.add_row("figures of", book_text(book))
        if stats is not None:
            t.add_row("net realized", pnl_text(stats.netRealizedPnl))
            t.add_row("unrealized P&L", pnl_text(stats.unrealizedPnl))
            t.add_row("win rate", pct(stats.winRate))
            t.add_row("Sharpe (daily)", num(stats.sharpeRatio))
            t.add_row("fills", num(stats.tradeCount))
        elif "stats" in store.errors:
            t.add_row("figures", Text(store.errors["stats"], style="red"))
        if store.workers:
            calls = [((w.traffic or {}).get("1h")) for w in store.workers]
            known = [c.requests for c in calls if c is not None]
            t.add_row("API calls 1h", num(sum(known)) if known else "—")
        if st is not None:
            q = st.queues
            t.add_row("queue depth", num(q.depth) if q.available else Text("n/a", style="dim"))
            if q.available and q.deadLetters:
                t.add_row("dead letters", Text(num(q.deadLetters), style="bold red"))
            t.add_row("last signal", hms(st.lastSignalAt))
        return t

    def show_equity(self) -> None:
        """The chart of the book's closed trades, or why there is none (never a flat line)."""
        store = self.ctx.store
        curve, book = store.equity, store.book_of("equity")
        box = self.query_one("#equity")
        box.border_title = f"Equity — {book_label(book)}"
        box.border_subtitle = (f"max drawdown {num(curve.maxDrawdown)} · {num(curve.closingTrades)} closed"
                               if curve is not None and curve.closingTrades else "")
        chart = self.query_one("#equity-chart", EquityChart)
        drawn = curve is not None and curve.closingTrades > 0
        chart.display = drawn
        self.query_one("#equity-note", Static).update(self.render_equity_note(curve, book))
        if drawn:
            assert curve is not None
            chart.show(curve)

    def render_equity_note(self, curve: EquityCurve | None, book: str | None) -> Text:
        if curve is None:
            error = self.ctx.store.errors.get("equity")
            return Text(error, style="red") if error else Text("waiting for the edge…", style="dim")
        if curve.closingTrades == 0:
            where = "either book" if book == "all" else f"the {book_label(book)}"
            note = Text(f"no closed trades in {where} yet", style="dim")
            if curve.fills:
                note.append(f" ({num(curve.fills)} opening fill{'s' if curve.fills != 1 else ''}, "
                            f"net of fees {money(curve.netRealizedPnl)})", style="dim")
            return note
        last = curve.points[-1]
        t = Text()
        t.append("━ equity ", style=EQUITY_COLOR)
        t.append_text(pnl_text(curve.netRealizedPnl))
        t.append("  ━ drawdown ", style=DRAWDOWN_COLOR)
        t.append(num(last.peak - last.equity))
        return t

    def open_issues(self) -> list[ReconciliationIssue] | None:
        """The open reconciliation issues, or None while they are not known (not read yet, or the read failed)."""
        store = self.ctx.store
        if store.risk is None or "risk" in store.errors:
            return None
        return store.risk.reconciliation.openIssues

    def reconciliation_title(self) -> str:
        """The panel's title, with the count of open issues at a glance (markup: red when any is open)."""
        issues = self.open_issues()
        what = "Reconciliation (live ledger vs exchanges)"
        if issues is None:
            return what + (" — [b]unknown[/]" if "risk" in self.ctx.store.errors else "")
        if not issues:
            return f"{what} — [green]none open[/]"
        return f"{what} — [b white on red] {len(issues)} OPEN [/]"

    def render_reconciliation(self) -> Table | Text:
        store = self.ctx.store
        error = store.errors.get("risk")
        if error:  # not "none open": the issues are unknown
            return Text(f"reconciliation not available: {error}", style="bold red")
        if store.risk is None:
            return Text("waiting for the edge…", style="dim")
        issues = store.risk.reconciliation.openIssues
        if not issues:
            return Text("none open — each risk run checks the live book against the exchanges", style="dim")
        # ages against the edge's own time, plus the time since its answer came: no clock skew
        since_answer = max(0.0, clock.now() - store.updated_at.get("risk", clock.now()))
        t = Table(expand=True, box=None, padding=(0, 1), collapse_padding=True, pad_edge=False, header_style="bold")
        for name in ("exchange", "symbol", "issue", "ledger", "at exchange", "since"):
            t.add_column(name, no_wrap=True)
        for i in issues:
            age = seconds_between(i.firstSeenAt, store.risk.at)
            t.add_row(i.exchange, i.symbol, Text(ISSUE_LABEL.get(i.kind, i.kind), style="bold red"),
                      _holding(i.ledgerSide, i.ledgerSize), _holding(i.exchangeSide, i.exchangeSize),
                      f"{hms(i.firstSeenAt)} ({duration(None if age is None else age + since_answer)})")
        return t

    def render_watchdog(self) -> Table | Text:
        store = self.ctx.store
        result = store.watchdog
        if result is None:
            error = store.errors.get("watchdog")
            return Text(error, style="red") if error else Text("waiting for the edge…", style="dim")
        if not result.sources:
            return Text("no signal yet and no expectation (hoox watchdog expect SOURCE --max-gap-minutes N)",
                        style="dim")
        # The age the edge measured, plus the time since its answer arrived: no clock skew with the edge.
        since_answer = max(0.0, clock.now() - store.updated_at.get("watchdog", clock.now()))
        t = Table(expand=True, box=None, padding=(0, 1))
        pending = any(s.pendingAlerts for s in result.sources)
        t.add_column("source", no_wrap=True, min_width=12)
        t.add_column("state", no_wrap=True, min_width=13)
        t.add_column("last signal", no_wrap=True, min_width=18)
        t.add_column("age / expected", no_wrap=True)
        if pending:  # an alert telegram-worker has not taken yet (the next check retries it)
            t.add_column("alerts", no_wrap=True)
        for s in result.sources:
            row: list[str | Text] = [
                s.source, Text(WATCHDOG_LABEL[s.state], style=WATCHDOG_STYLE[s.state]),
                f"{hms(s.lastSignalAt)} {s.lastKind}" if s.lastSignalAt else "never",
                self._age_against(s, since_answer)]
            if pending:
                row.append(Text(", ".join(f"{p.kind} pending" for p in s.pendingAlerts), style="yellow"))
            t.add_row(*row)
        return t

    @staticmethod
    def _age_against(s: WatchdogSource, since_answer: float) -> Text:
        age = "—" if s.ageSeconds is None else duration(s.ageSeconds + since_answer)
        if s.expectationError:
            return Text(f"{age} / invalid expectation", style="red")
        if not s.expectation:
            return Text(age, style="dim")
        want = f"{age} / ≤ {s.expectation.get('maxGapMinutes')}m"
        hours = s.expectation.get("hours")
        if hours:
            want += f" ({hours.get('days')} {hours.get('from')}-{hours.get('to')} {hours.get('tz') or 'UTC'})"
        return Text(want, style="bold red" if s.state == "quiet" else "")

    def render_alerts(self) -> Text:
        store = self.ctx.store
        alerts = list(store.alerts)
        problem = store.edge_problem()
        out = Text()
        if problem:  # the cockpit's own alert, first, for as long as it lasts
            out.append(f"{hms(clock.iso())} ", style="dim")
            out.append(f"{'ERROR':<8}", style=LEVEL_STYLE["error"])
            out.append(" cockpit: ", style="bold")
            out.append(problem + "\n")
        if not alerts:
            return out if problem else Text("no alerts yet", style="dim")
        for a in reversed(alerts):
            out.append(f"{hms(a.created_at)} ", style="dim")
            out.append(f"{a.level.upper():<8}", style=LEVEL_STYLE.get(a.level, ""))
            out.append(f" {a.source}: ", style="bold")
            out.append(a.message)
            state = delivery_label(a)
            if state:
                out.append(f"  [{state[0]}]", style=state[1])
            out.append("\n")
        return out


def delivery_label(a: AlertRow) -> tuple[str, str] | None:
    """Where an alert's Telegram delivery stands, in words, and its style; None when not known."""
    if a.delivery == "sent":
        return "sent", "dim green"
    if a.delivery == "pending":
        when = f", next try {hms(a.next_attempt_at)}" if a.next_attempt_at else ""
        return f"pending{when}" + (f": {a.error}" if a.error else ""), "yellow"
    if a.delivery == "failed":
        return f"failed: {a.error or 'no reason recorded'}", "red"
    if a.delivery == "muted":
        return "muted", "dim"
    if a.delivery == "outbox":
        return "not sent: no bot token", "dim"
    if a.delivery == "raised":
        return "raised: telegram-worker routes it on its next drain", "yellow"
    return None


def _holding(side: str | None, size: float | None) -> str:
    return "nothing" if not side and not size else f"{side or '?'} {qty(size)}"
