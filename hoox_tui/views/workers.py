"""View 2: a card per worker; Enter (or a click) opens its detail."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.widgets import Static

from hoox_cli import models as m
from hoox_tui.fmt import duration, num
from hoox_tui.views.base import View

STATUS_STYLE = {"online": "green", "degraded": "yellow", "offline": "red", "not available": "dim"}


class WorkerCard(Static, can_focus=True):
    BINDINGS: ClassVar = [Binding("enter", "open", "Open detail", id="workers.open")]
    DEFAULT_CSS = """
    WorkerCard { height: 10; border: round $panel-lighten-2; padding: 0 1; }
    WorkerCard:focus { border: double $accent; }
    """

    def __init__(self, worker: m.WorkerDetail) -> None:
        super().__init__(id=f"card-{worker.name}")
        self.worker = worker

    def set_worker(self, worker: m.WorkerDetail) -> None:
        self.worker = worker
        self.refresh()

    def render(self) -> Text:
        w = self.worker
        t = Text()
        t.append(w.name, style="bold")
        label = "not available" if m.status_label(w.status, w.features) == "not available" else w.status
        t.append(f"  ● {label}\n", style=STATUS_STYLE.get(label, ""))
        t.append(f"uptime   {duration(w.uptimeSeconds) if w.uptimeSeconds is not None else 'n/a'}\n")
        fig = (w.traffic or {}).get("5m")
        if fig is not None:
            t.append(f"requests {num(fig.requests)} (5m)\n")
            t.append(f"errors   {num(fig.errors)}", style="red" if fig.errors else "")
            t.append(f"  4xx {num(fig.clientErrors)}\n")
            t.append(f"p50      {'—' if fig.p50Ms is None else f'{fig.p50Ms:.1f} ms'}\n")
        else:
            t.append(f"traffic  n/a {w.trafficError or ''}\n", style="dim")
        locks = [d.instances for d in w.durableObjects if d.instances is not None]
        t.append(f"DO locks {num(sum(locks)) if locks else '—'}\n")
        t.append(f"signals  {num(w.signalsProcessed) if w.signalsProcessed is not None else '—'}\n")
        return t

    def action_open(self) -> None:
        self.app.open_worker(self.worker.name)  # type: ignore[attr-defined]

    def on_click(self) -> None:
        self.action_open()


class WorkersView(View):
    view_id = "workers"
    title = "Workers"
    poll_topics: ClassVar[frozenset[str]] = frozenset({"workers"})

    DEFAULT_CSS = """
    WorkersView Grid { grid-size: 3; grid-gutter: 0 1; height: auto; }
    WorkersView #empty { padding: 1 2; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield Static("waiting for the edge…", id="empty")
        yield Grid(id="cards")

    async def on_data(self, topics: frozenset[str]) -> None:
        if "workers" not in topics:
            return
        workers = self.ctx.store.workers
        self.query_one("#empty", Static).display = not workers
        grid = self.query_one("#cards", Grid)
        cards = {c.worker.name: c for c in grid.query(WorkerCard)}
        new = [WorkerCard(w) for w in workers if w.name not in cards]
        for w in workers:
            if w.name in cards:
                cards[w.name].set_worker(w)
        if new:
            await grid.mount_all(new)
            if self.app.focused is None or not isinstance(self.app.focused, WorkerCard):
                grid.query(WorkerCard).first().focus()
