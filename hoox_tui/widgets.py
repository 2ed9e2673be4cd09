"""The cockpit's frame: sidebar, title bar with the stale badge, status bar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from hoox_tui.boundary import Guarded
from hoox_tui.fmt import STALE_STYLE, ago
from hoox_tui.store import Conn
from hoox_tui.views import VIEWS

if TYPE_CHECKING:
    from hoox_tui.context import CockpitContext

LIVE_STYLE = "bold white on red"


class Sidebar(Guarded, Static):
    DEFAULT_CSS = """
    Sidebar { width: 24; height: 1fr; background: $panel; padding: 1 1; }
    """

    def __init__(self, current: str) -> None:
        super().__init__(id="sidebar")
        self.current = current

    def render(self) -> Text:
        t = Text()
        t.append("hoox cockpit\n\n", style="bold")
        for v in VIEWS:
            t.append(f"{v.label} {v.title}\n", style="reverse bold" if v.id == self.current else "")
        t.append("\n^P palette  ^B sidebar\n^R refresh  ^Q quit\nK  kill switch", style="dim")
        return t

    async def on_click(self, event: object) -> None:
        y = getattr(event, "y", -1) - 3  # border/padding/title rows
        if 0 <= y < len(VIEWS):
            await self.app.run_action(f"view('{VIEWS[y].id}')")


class TitleBar(Static):
    """The view's title, and "stale — updated Xm ago" while the data is not live."""

    DEFAULT_CSS = """
    TitleBar { height: 1; background: $primary 20%; padding: 0 1; }
    """

    def __init__(self, ctx: CockpitContext, title: str) -> None:
        super().__init__(classes="title-bar")
        self.ctx = ctx
        self.title_text = title

    def render(self) -> Text:
        store = self.ctx.store
        t = Text(self.title_text, style="bold")
        if store.state in (Conn.RECONNECTING, Conn.OFFLINE) or (store.state == Conn.CONNECTING
                                                                 and store.updated_at):
            t.append("   ")
            t.append(f" stale — updated {ago(store.age('status'))} ", style=STALE_STYLE)
        if store.status is not None and store.status.tradingMode == "live":
            # on every view, not only the trade monitor: a live desk must never pass for a paper one
            t.append("   ")
            t.append(" LIVE TRADING — real orders ", style=LIVE_STYLE)
        shown = getattr(self.app, "sidebar_shown", None)
        if shown is not None and not shown():
            t.append("   F1–F9 views · ^B menu · ^P palette", style="dim")
        return t


STATE_WIDTH = max(len(c.value) for c in Conn)  # every state name takes this room: a change moves nothing
SEPARATOR = "  "


class StatusBar(Static):
    """One line of segments: connection state, kill switch, trading mode, whose runtime, URL, note,
    last error. Built as one Text, segment after segment, so two segments can never be drawn over
    each other; the state name is padded to the widest one, so a state change moves nothing; a
    segment that does not fit is left out whole (the least important first: error, note, URL), never
    cut in the middle; and the last column stays empty, so a terminal that draws an ambiguous-width
    glyph (●) two cells wide does not wrap or scroll the screen."""

    DEFAULT_CSS = """
    StatusBar { height: 1; dock: bottom; background: $panel; padding: 0 1; text-wrap: nowrap; }
    """

    def __init__(self, ctx: CockpitContext) -> None:
        super().__init__(id="status-bar")
        self.ctx = ctx
        self.pulse = False
        self.note: str | None = None  # e.g. "starting the local runtime…"

    def dot(self) -> tuple[str, str]:
        state = self.ctx.store.state
        if state == Conn.CONNECTED:
            return "●", "bold green"
        if state in (Conn.RECONNECTING, Conn.CONNECTING):
            return ("●" if self.pulse else "○"), "bold yellow"
        return "●", "bold red"

    def segments(self) -> list[tuple[int, Text]]:
        """(priority, text) in display order; a lower priority number is kept longer."""
        from hoox_edge.shared import clock

        store = self.ctx.store
        sym, style = self.dot()
        state = store.state
        segs: list[tuple[int, Text]] = [(0, Text.assemble((f"{sym} ", style),
                                                          (state.value.upper().ljust(STATE_WIDTH), style)))]
        wait = None if store.next_attempt_at is None else max(0.0, store.next_attempt_at - clock.now())
        if state == Conn.RECONNECTING and wait is not None:
            segs.append((1, Text(f"attempt {store.failures + 1} in {wait:.0f}s", style=style)))
        elif state == Conn.OFFLINE:
            segs.append((1, Text(f"probing every {store.probe_seconds:g}s; ^R now", style=style)))
        elif state == Conn.UNAUTHORIZED:
            retry = f"retry in {wait:.0f}s; " if wait is not None else ""
            segs.append((1, Text(f"token refused ({retry}^R now)", style=style)))
        st = store.status
        if st is not None:
            ks = st.killSwitch
            segs.append((0, Text.assemble("kill switch ", ("ON" if ks.on else "off",
                                                          "bold white on red" if ks.on else "green"))))
            paper = st.tradingMode == "paper"  # a live desk is unmistakable: red, padded like a badge
            segs.append((0, Text("PAPER", style="bold magenta") if paper
                         else Text(f" {st.tradingMode.upper()} ", style=LIVE_STYLE)))
        label = self.ctx.runtime_label()
        if label:
            segs.append((2, Text(label, style="cyan")))
        url = store.edge_url
        if url is not None:
            segs.append((3, Text(url, style="dim")))
        if self.ctx.safe_mode:
            segs.append((2, Text("SAFE MODE (no live feeds)", style="bold yellow")))
        if self.note:
            segs.append((4, Text(self.note, style="cyan")))
        if store.last_error and state not in (Conn.CONNECTED, Conn.UNAUTHORIZED):  # UNAUTHORIZED: notified
            segs.append((5, Text(store.last_error, style="dim red")))
        return segs

    def render(self) -> Text:
        segs = self.segments()
        width = self.content_size.width or self.app.size.width - 2
        room = max(0, width - 1)  # the last column stays empty (see the class docstring)
        kept: set[int] = set()
        used = 0
        for i in sorted(range(len(segs)), key=lambda i: (segs[i][0], i)):
            need = segs[i][1].cell_len + (len(SEPARATOR) if kept else 0)
            if used + need <= room:
                kept.add(i)
                used += need
        t = Text(no_wrap=True, overflow="crop")
        for i, (_, seg) in enumerate(segs):
            if i in kept:
                if t:
                    t.append(SEPARATOR)
                t.append_text(seg)
        return t
