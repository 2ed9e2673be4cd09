"""View 1: service status grid, session figures (of one book: b switches), the signal watchdog's
sources (last signal and its age against the expectation, quiet ones in red), alert console."""

from __future__ import annotations

from typing import ClassVar

from hoox_edge.shared import clock
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from hoox_cli.models import WatchdogSource, status_label
from hoox_tui.fmt import ago, book_label, book_text, duration, hms, num, pct, pnl_text
from hoox_tui.store import Conn
from hoox_tui.views.base import View

STATUS_STYLE = {"operational": "green", "operational (partial)": "green", "not available": "dim",
                "degraded": "yellow", "offline": "red", "disabled": "dim"}
STALE_SECONDS = 1.0  # while the edge is away, the age of its last answer is redrawn this often
LEVEL_STYLE = {"critical": "bold white on red", "error": "bold red", "warning": "yellow", "info": "cyan",
               "debug": "dim"}
WATCHDOG_STYLE = {"ok": "green", "quiet": "bold white on red", "outside_hours": "dim", "no_expectation": "dim"}
WATCHDOG_LABEL = {"ok": "ok", "quiet": "QUIET", "outside_hours": "outside hours", "no_expectation": "not watched"}


class DashboardView(View):
    view_id = "dashboard"
    title = "Dashboard"
    poll_topics: ClassVar[frozenset[str]] = frozenset({"stats", "workers", "queues", "watchdog"})

    DEFAULT_CSS = """
    DashboardView #top { height: auto; }
    DashboardView #grid { width: 1fr; height: auto; border: round $primary; border-title-color: $primary; }
    DashboardView #figures { width: 36; height: auto; border: round $secondary; }
    DashboardView #watchdog { height: auto; max-height: 9; border: round $warning; }
    DashboardView #alerts { height: 1fr; border: round $accent; }
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
        with VerticalScroll(id="alerts") as alerts:
            alerts.border_title = "Alerts"
            yield Static("", id="alert-lines")

    def on_mount(self) -> None:
        self.set_interval(STALE_SECONDS, self._age_tick, name="stale-age")

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
        if "watchdog" in topics:
            self.query_one("#watchdog", Static).update(self.render_watchdog())
        if topics & {"alerts", "status"}:
            self.query_one("#alert-lines", Static).update(self.render_alerts())

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
        t.add_column("status", no_wrap=True, min_width=13)
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
            out.append(a.message + "\n")
        return out
