"""View 3: one worker in four quadrants — metrics with two charts, live logs (`p` pauses), Durable
Objects, bindings. The charts: its latency history (from the edge's analytics, so it is there when the
cockpit starts) and its load: request velocity and the runtime's resident memory over time. A tall
quadrant shows both; a short one shows one, `g` switches."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.widgets import Log, Static

from hoox_cli.core.models import LatencyHistory, status_label
from hoox_tui import usage
from hoox_tui.charts import MEMORY_COLOR, P50_COLOR, P95_COLOR, VELOCITY_COLOR, LatencyChart, LoadChart
from hoox_tui.fmt import duration, hms, num, seconds_until
from hoox_tui.views.base import View

LOG_LINES = 1_000


class WorkerDetailView(View):
    view_id = "worker-detail"
    poll_topics: ClassVar[frozenset[str]] = frozenset({"worker", "workers", "latency"})
    BINDINGS: ClassVar = [
        Binding("p", "pause", "Pause logs", id="detail.pause"),
        Binding("g", "switch_chart", "Latency/load chart", id="detail.chart"),
        Binding("left_square_bracket", "cycle(-1)", "Previous worker", id="detail.prev"),
        Binding("right_square_bracket", "cycle(1)", "Next worker", id="detail.next"),
        Binding("escape", "back", "Back to workers", id="detail.back"),
    ]
    DEFAULT_CSS = """
    WorkerDetailView Grid { grid-size: 2 2; grid-gutter: 0 1; }
    WorkerDetailView .quad { border: round $primary; height: 1fr; }
    WorkerDetailView #metrics-text { height: auto; }
    WorkerDetailView #latency-note { height: auto; }
    WorkerDetailView #latency-chart { height: 1fr; min-height: 5; }
    WorkerDetailView #load-note { height: auto; }
    WorkerDetailView #load-chart { height: 1fr; min-height: 5; }
    """
    BOTH_CHARTS_ROWS = 20  # the metrics quadrant's inner height from which both charts fit

    def __init__(self, ctx, **kw) -> None:
        super().__init__(ctx, **kw)
        self.paused = False
        self._shown: str | None = None
        self._seen_total = 0
        self._held: list[str] = []
        self.chart = "latency"  # the chart a short quadrant shows (`g` switches)

    def compose(self) -> ComposeResult:
        with Grid():
            with Vertical(id="metrics", classes="quad"):
                yield Static("", id="metrics-text")
                yield Static("", id="latency-note")
                chart = LatencyChart(id="latency-chart")
                chart.display = False
                yield chart
                yield Static("", id="load-note")
                load = LoadChart(id="load-chart")
                load.display = False
                yield load
            log = Log(id="live-log", max_lines=LOG_LINES, classes="quad")
            yield log
            yield Static("", id="durable", classes="quad")
            yield Static("", id="bindings", classes="quad")

    def on_mount(self) -> None:
        self.query_one("#metrics").border_title = "Metrics"
        self.query_one("#live-log").border_title = "Live logs (p pauses)"
        self.query_one("#durable").border_title = "Durable Objects"
        self.query_one("#bindings").border_title = "Bindings and config"

    @property
    def name_shown(self) -> str:
        store = self.ctx.store
        if store.focus_worker is None:
            names = [w.name for w in store.workers] or ([w.name for w in store.status.workers]
                                                        if store.status else [])
            store.focus_worker = names[0] if names else None
        return store.focus_worker or ""

    async def on_data(self, topics: frozenset[str]) -> None:
        name = self.name_shown
        if name != self._shown:
            self._shown = name
            self._seen_total = 0
            self._held.clear()
            self.query_one("#live-log", Log).clear()
            self.ctx.store.refresh_now()
        detail = self.ctx.store.worker_details.get(name)
        if topics & {"worker", "workers"}:
            self.query_one("#metrics-text", Static).update(self.render_metrics(name, detail))
            self.query_one("#durable", Static).update(self.render_durable(detail))
            self.query_one("#bindings", Static).update(self.render_bindings(detail, name))
        if topics & {"latency", "worker", "workers"}:
            self.show_charts(name)
        if "logs" in topics:
            self.write_logs(name)

    def _both_fit(self) -> bool:
        return self.query_one("#metrics").content_region.height >= self.BOTH_CHARTS_ROWS

    def show_charts(self, name: str) -> None:
        both = self._both_fit()
        history = self.ctx.store.latency.get(name)
        detail = self.ctx.store.worker_details.get(name)
        samples = detail.memory.samples if detail is not None and detail.memory is not None else []
        latency_on = both or self.chart == "latency"
        load_on = both or self.chart == "load"
        chart = self.query_one("#latency-chart", LatencyChart)
        drawn = history is not None and history.available and any(b.requests for b in history.buckets)
        chart.display = drawn and latency_on
        note = self.query_one("#latency-note", Static)
        note.display = latency_on
        note.update(self.render_latency_note(name, history))
        if drawn and latency_on:
            assert history is not None
            chart.show(history)
        load = self.query_one("#load-chart", LoadChart)
        load_drawn = bool(samples) or drawn
        load.display = load_drawn and load_on
        load_note = self.query_one("#load-note", Static)
        load_note.display = load_on
        load_note.update(self.render_load_note(name, history, detail, drawn))
        if load_drawn and load_on:
            load.show(history if drawn else None, samples)

    def render_load_note(self, name: str, h: LatencyHistory | None, d, requests: bool) -> Text:
        if d is None and h is None:
            return Text("load: loading…" if name else "", style="dim")
        t = Text("load: ")
        if requests and h is not None:
            t.append("━ req/min ", style=VELOCITY_COLOR)
        else:
            t.append("no requests to chart ", style="dim")
        if d is not None and d.memory is not None and d.memory.samples:
            t.append("━ MB (right, whole runtime)", style=MEMORY_COLOR)
        else:
            t.append(f"memory: {usage.memory(d).long.removeprefix('memory: ') if d is not None else 'loading…'}",
                     style="dim")
        return t

    def action_switch_chart(self) -> None:
        self.chart = "load" if self.chart == "latency" else "latency"
        if self._both_fit():
            self.app.notify("Both charts are shown: the quadrant is tall enough.", timeout=3)
        self.show_charts(self.name_shown)

    def on_resize(self) -> None:
        self.show_charts(self.name_shown)

    def render_latency_note(self, name: str, h: LatencyHistory | None) -> Text:
        if h is None:
            return Text("latency history: loading…" if name else "", style="dim")
        if not h.available:
            return Text(f"latency history n/a: {h.error or 'analytics could not be read'}", style="dim")
        served = sum(b.requests for b in h.buckets)
        if not served:
            return Text(f"no request to {name} in the last {h.window}", style="dim")
        per = f"{h.bucketSeconds // 60} min" if h.bucketSeconds % 60 == 0 else f"{h.bucketSeconds} s"
        t = Text(f"{h.window} per {per}: ")
        t.append("━ p50 ", style=P50_COLOR)
        t.append("━ p95 ", style=P95_COLOR)
        t.append(f"ms · {num(served)} req{' (truncated)' if h.truncated else ''}", style="dim")
        return t

    def write_logs(self, name: str) -> None:
        store = self.ctx.store
        rows = store.logs_since(self._seen_total)
        self._seen_total = store.logs_total
        lines = [f"{hms(r.created_at)} {r.level.upper():<8} {r.message}" for r in rows if r.worker == name]
        if self.paused:
            self._held.extend(lines)
            self._held = self._held[-LOG_LINES:]
            return
        if lines:
            self.query_one("#live-log", Log).write_lines(lines)  # one batch per flush

    def render_metrics(self, name: str, d) -> Text:
        t = Text()
        t.append(f"{name or '—'}", style="bold")
        if d is None:
            t.append("\nloading…" if name else "\nno worker selected (Workers view → Enter)", style="dim")
            return t
        shown = status_label(d.status, d.features, d.healthError)
        shown = shown if shown in ("not available", "disabled") else d.status
        styles = {"online": "green", "degraded": "yellow", "not available": "dim", "disabled": "dim"}
        t.append(f"  ● {shown}", style=styles.get(shown, "red"))
        t.append(f"   uptime {duration(d.uptimeSeconds) if d.uptimeSeconds is not None else 'n/a'}")
        if d.signalsProcessed is not None:
            t.append(f"   signals {num(d.signalsProcessed)}")
        t.append("\n")
        for window in ("5m", "1h"):
            fig = (d.traffic or {}).get(window)
            if fig is None:
                continue
            p50 = "—" if fig.p50Ms is None else f"{fig.p50Ms:.1f}"
            p95 = "—" if fig.p95Ms is None else f"{fig.p95Ms:.1f}"
            t.append(f"{window:>3}: {num(fig.requests)} req, {num(fig.errors)} err, p50 {p50} ms, p95 {p95} ms\n")
        if d.traffic is None:
            t.append(f"traffic n/a: {d.trafficError or ''}\n", style="dim")
        c = usage.cpu(d, self.ctx.store)
        t.append(f"{c.long}\n", style=c.style)
        mem = usage.memory(d)
        t.append(mem.long, style=mem.style)
        return t

    def render_durable(self, d) -> Table | Text:
        if d is None:
            return Text("")
        if not d.durableObjects:
            return Text("this worker defines no Durable Object class", style="dim")
        t = Table(box=None, expand=True)
        t.add_column("class")
        t.add_column("instances", justify="right")
        t.add_column("alarms", justify="right")
        t.add_column("next alarm")
        for do in d.durableObjects:
            left = seconds_until(do.nextAlarm)
            nxt = "—" if do.nextAlarm is None else f"{hms(do.nextAlarm)}" + (
                f" (in {duration(left)})" if left is not None and left > 0 else "")
            t.add_row(do.className, num(do.instances) if do.instances is not None else "n/a",
                      num(do.pendingAlarms) if do.pendingAlarms is not None else "n/a", do.note or nxt)
        return t

    def public_label(self, name: str, public: bool) -> str:
        """"no", or where the internet reaches the worker (hoox_cli.core.domains.public_url) when the
        workspace knows it, else "yes"."""
        ws = self.ctx.workspace
        if not public:
            return "no"
        if ws is None or not ws.exists:
            return "yes"
        from hoox_cli.core.domains import public_url

        try:
            return public_url(ws, name) or "yes"
        except Exception:  # a hoox.toml being edited: the caption is no place for its error
            return "yes"

    def render_bindings(self, d, name: str = "") -> Table | Text:
        if d is None:
            return Text("")
        t = Table(box=None, expand=True)
        t.add_column("binding")
        t.add_column("kind")
        t.add_column("resource", overflow="ellipsis")
        for b in d.bindings:
            t.add_row(b.name, b.kind, b.resource)
        t.caption = f"public: {self.public_label(name, d.public)}   crons: {', '.join(d.crons) or 'none'}"
        return t

    def action_pause(self) -> None:
        self.paused = not self.paused
        log = self.query_one("#live-log", Log)
        log.border_title = "Live logs — PAUSED (p resumes)" if self.paused else "Live logs (p pauses)"
        if not self.paused and self._held:
            log.write_lines(self._held)
            self._held.clear()

    async def action_cycle(self, step: int) -> None:
        names = [w.name for w in self.ctx.store.workers]
        if not names:
            return
        cur = self.ctx.store.focus_worker
        i = names.index(cur) if cur in names else -step
        self.ctx.store.focus_worker = names[(i + step) % len(names)]
        await self.deliver(frozenset({"worker", "workers", "logs"}))

    async def action_back(self) -> None:
        await self.app.run_action("view('workers')")
