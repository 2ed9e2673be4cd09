"""View 2: a card per worker; Enter (or a click) opens its detail."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.widgets import Static

from hoox_cli.core import models as m
from hoox_tui.boundary import Guarded
from hoox_tui.context import url_label
from hoox_tui.fmt import ago, duration, num
from hoox_tui.store import Store
from hoox_tui.usage import cpu, memory
from hoox_tui.views.base import View

STATUS_STYLE = {"online": "green", "degraded": "yellow", "offline": "red", "not available": "dim",
                "disabled": "dim"}


class WorkerCard(Guarded, Static, can_focus=True):
    BINDINGS: ClassVar = [Binding("enter", "open", "Open detail", id="workers.open")]
    DEFAULT_CSS = """
    WorkerCard { height: 12; border: round $panel-lighten-2; padding: 0 1; }
    WorkerCard:focus { border: double $accent; }
    """

    def __init__(self, worker: m.WorkerDetail, store: Store, url: str = "") -> None:
        super().__init__(id=f"card-{worker.name}")
        self.worker = worker
        self.store = store
        self.url = url  # its public URL, or why there is none (hoox_tui.context.url_label)

    def set_worker(self, worker: m.WorkerDetail, url: str = "") -> None:
        self.worker = worker
        self.url = url
        self.refresh()

    def render(self) -> Text:
        w = self.worker
        t = Text()
        t.append(w.name, style="bold")
        shown = m.status_label(w.status, w.features, w.healthError)
        label = shown if shown in ("not available", "disabled") else w.status
        if label == "disabled":
            t.append("  ○ disabled\n", style="dim")
        elif not self.store.live:  # the edge away: what it said last is no news of now
            t.append(f"  ○ unknown · {ago(self.store.age('status'))}\n", style="dim")
        else:
            t.append(f"  ● {label}\n", style=STATUS_STYLE.get(label, ""))
        # one line, cut with an ellipsis on a narrow card (the worker detail shows it whole)
        link = Text(self.url, style="" if self.url.startswith("https://") else "dim")
        if self.content_size.width:  # 0 before the first layout
            link.truncate(self.content_size.width, overflow="ellipsis")
        t.append_text(link)
        t.append("\n")
        t.append(f"uptime   {duration(w.uptimeSeconds) if w.uptimeSeconds is not None else 'n/a'}\n")
        fig = (w.traffic or {}).get("5m")
        if fig is not None:
            t.append(f"requests {num(fig.requests)} (5m)\n")
            # 5xx: the worker failed; 4xx: the caller's fault (refused: a wrong token or IP)
            t.append(f"errors   {num(fig.errors)}", style="red" if fig.errors else "")
            t.append(f"  4xx {num(fig.clientErrors)}")
            t.append(f" ({num(fig.refused)} refused)\n" if fig.refused else "\n")
            t.append(f"p50      {'—' if fig.p50Ms is None else f'{fig.p50Ms:.1f} ms'}\n")
        else:
            t.append(f"traffic  n/a {w.trafficError or ''}\n", style="dim")
        c = cpu(w, self.store)
        t.append(f"{c.short}\n", style=c.style)
        mem = memory(w)
        t.append(f"{mem.short}\n", style=mem.style)
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
    poll_topics: ClassVar[frozenset[str]] = frozenset({"workers"})

    DEFAULT_CSS = """
    WorkersView Grid { grid-size: 3; grid-gutter: 0 1; height: auto; }
    WorkersView #empty { padding: 1 2; color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield Static("waiting for the edge…", id="empty")
        yield Grid(id="cards")

    async def on_data(self, topics: frozenset[str]) -> None:
        if not topics & {"workers", "status"}:  # status: the connection changed (cards go grey)
            return
        workers = self.ctx.store.workers
        empty = self.query_one("#empty", Static)
        empty.display = not workers
        empty.update(self.ctx.store.waiting_text())
        grid = self.query_one("#cards", Grid)
        cards = {c.worker.name: c for c in grid.query(WorkerCard)}
        urls = {w.name: url_label(self.ctx.workspace, w.name, w.public) for w in workers}
        new = [WorkerCard(w, self.ctx.store, urls[w.name]) for w in workers if w.name not in cards]
        for w in workers:
            if w.name in cards:
                cards[w.name].set_worker(w, urls[w.name])
        if new:
            await grid.mount_all(new)
            if self.app.focused is None or not isinstance(self.app.focused, WorkerCard):
                grid.query(WorkerCard).first().focus()
