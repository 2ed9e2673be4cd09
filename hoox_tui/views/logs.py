"""View 5: the live log stream with severity toggles, a worker filter and fuzzy search.

New lines are written to the Log widget in one batch per flush (write_lines), never one by one.
Changing a filter rewrites the widget from the store's ring buffer (at most 10,000 lines).
"""

from __future__ import annotations

from itertools import islice

from hoox_edge.shared.logs import LEVELS
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Checkbox, Input, Log, Select

from hoox_tui.fmt import hms
from hoox_tui.store import LOGS_MAX, LogRow
from hoox_tui.views.base import View


def fuzzy_match(query: str, text: str) -> bool:
    """Every word of the query appears in `text` as a subsequence of its letters (case-insensitive)."""
    hay = text.lower()
    for word in query.lower().split():
        pos = 0
        for ch in word:
            pos = hay.find(ch, pos)
            if pos < 0:
                return False
            pos += 1
    return True


class LogsView(View):
    view_id = "logs"
    DEFAULT_CSS = """
    LogsView #levels { height: 1; }
    LogsView #filters { height: 3; }
    LogsView Checkbox { width: auto; height: 1; border: none; padding: 0 1; }
    LogsView Checkbox:focus { border: none; text-style: bold; }
    LogsView #worker { width: 30; }
    LogsView #search { width: 1fr; }
    LogsView #stream { height: 1fr; border: round $primary; }
    """

    def __init__(self, ctx, **kw) -> None:
        super().__init__(ctx, **kw)
        self.levels = {lv: True for lv in LEVELS}
        self.levels["debug"] = False
        self.worker: str | None = None
        self.query_text = ""
        self._seen_total = 0
        self._workers_known: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        with Horizontal(id="levels"):
            for lv in LEVELS:
                yield Checkbox(lv.upper(), self.levels[lv], id=f"lv-{lv}")
        with Horizontal(id="filters"):
            yield Select([], prompt="all workers", id="worker", allow_blank=True)
            yield Input(placeholder="fuzzy search…", id="search")
        yield Log(id="stream", max_lines=LOGS_MAX)

    def on_mount(self) -> None:
        self.query_one("#stream", Log).border_title = "Live log stream"

    def matches(self, r: LogRow) -> bool:
        if not self.levels.get(r.level, True):
            return False
        if self.worker and r.worker != self.worker:
            return False
        return not self.query_text or fuzzy_match(self.query_text, f"{r.worker} {r.message}")

    @staticmethod
    def line(r: LogRow) -> str:
        return f"{hms(r.created_at)} {r.level.upper():<8} {r.worker:<18} {r.message}"

    async def on_data(self, topics: frozenset[str]) -> None:
        self._update_workers()
        if "logs" not in topics:
            return
        store = self.ctx.store
        rows = store.logs_since(self._seen_total)
        self._seen_total = store.logs_total
        lines = [self.line(r) for r in rows if self.matches(r)]
        if lines:
            self.query_one("#stream", Log).write_lines(lines)

    def _update_workers(self) -> None:
        st = self.ctx.store.status
        names = tuple(w.name for w in st.workers) if st else ()
        recent = {r.worker for r in islice(reversed(self.ctx.store.logs), 500)}
        names = tuple(dict.fromkeys(names + tuple(sorted(recent))))
        if names != self._workers_known:
            self._workers_known = names
            sel = self.query_one("#worker", Select)
            with self.prevent(Select.Changed):
                sel.set_options([(n, n) for n in names])
                if self.worker in names:
                    sel.value = self.worker

    def rewrite(self) -> None:
        log = self.query_one("#stream", Log)
        log.clear()
        store = self.ctx.store
        log.write_lines([self.line(r) for r in store.logs if self.matches(r)])
        self._seen_total = store.logs_total

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        lv = (event.checkbox.id or "").removeprefix("lv-")
        if lv in self.levels:
            self.levels[lv] = event.value
            self.rewrite()

    def on_select_changed(self, event: Select.Changed) -> None:
        self.worker = None if event.value is Select.NULL else str(event.value)
        self.rewrite()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value.strip()
        self.rewrite()
