"""The cockpit's frame: sidebar, title bar with the stale badge, status bar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from hoox_tui.fmt import STALE_STYLE, ago
from hoox_tui.store import Conn

if TYPE_CHECKING:
    from hoox_tui.context import CockpitContext

LIVE_STYLE = "bold white on red"

VIEW_ORDER = ("dashboard", "workers", "worker-detail", "trades", "logs", "services", "config", "setup", "settings")
VIEW_TITLES = {
    "dashboard": "Dashboard", "workers": "Workers", "worker-detail": "Worker detail", "trades": "Trade monitor",
    "logs": "Logs", "services": "Service manager", "config": "Config editor", "setup": "Setup wizard",
    "settings": "Settings",
}


class Sidebar(Static):
    DEFAULT_CSS = """
    Sidebar { width: 24; height: 1fr; background: $panel; padding: 1 1; }
    """

    def __init__(self, current: str) -> None:
        super().__init__(id="sidebar")
        self.current = current

    def render(self) -> Text:
        t = Text()
        t.append("hoox cockpit\n\n", style="bold")
        for i, vid in enumerate(VIEW_ORDER, 1):
            line = f"F{i} {VIEW_TITLES[vid]}\n"
            t.append(line, style="reverse bold" if vid == self.current else "")
        t.append("\n^P palette  ^B sidebar\n^R refresh  ^Q quit\nK  kill switch", style="dim")
        return t

    async def on_click(self, event: object) -> None:
        y = getattr(event, "y", -1) - 3  # border/padding/title rows
        if 0 <= y < len(VIEW_ORDER):
            await self.app.run_action(f"view('{VIEW_ORDER[y]}')")


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


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; dock: bottom; background: $panel; padding: 0 1; }
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

    def render(self) -> Text:
        store = self.ctx.store
        sym, style = self.dot()
        t = Text()
        t.append(f"{sym} ", style=style)
        state = store.state
        label = state.value.upper()
        if state == Conn.RECONNECTING and store.next_attempt_at is not None:
            from hoox_edge.shared import clock

            label += f" (attempt {store.failures + 1} in {max(0, store.next_attempt_at - clock.now()):.0f}s)"
        elif state == Conn.OFFLINE:
            label += f" (probing every {store.probe_seconds:g}s; ^R now)"
        t.append(label, style=style)
        st = store.status
        if st is not None:
            ks = st.killSwitch
            t.append("  kill switch ")
            t.append("ON" if ks.on else "off", style="bold white on red" if ks.on else "green")
            if st.tradingMode == "paper":
                t.append("  PAPER", style="bold magenta")
            else:
                t.append("  ")
                t.append(f" {st.tradingMode.upper()} ", style=LIVE_STYLE)
        client = self.ctx.client
        if client is not None:
            t.append(f"  {client.base_url}", style="dim")
        if self.ctx.local_runtime_started:
            t.append("  embedded runtime, stopped on exit", style="cyan")
        if self.note:
            t.append(f"  {self.note}", style="cyan")
        if self.ctx.safe_mode:
            t.append("  SAFE MODE (no live feeds)", style="bold yellow")
        if store.last_error and state != Conn.CONNECTED:
            t.append(f"  {store.last_error[:60]}", style="dim red")
        return t
