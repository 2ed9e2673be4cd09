"""The P&L reports in the cockpit: report-worker's stored reports (`GET /v1/reports`, the same list as
`hoox report list`), opened in the system's viewer.

`ReportsScreen` opens from anywhere with `R` or the command palette ("Reports: …"). Enter (or `o`) on a
report downloads its file (the PDF, else the HTML: `GET /v1/reports/{name}`) into the workspace's
`reports/` folder (a temporary folder when the cockpit has no workspace) and asks the system to open
it; `l` opens the latest; `n` makes one now (24 h, sent to Telegram too: asks first); `r` reloads.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from hoox_cli.core import models as m
from hoox_cli.core.client import Download, HooxApiError, HooxError
from hoox_cli.core.redact import redact
from hoox_tui.boundary import Guarded
from hoox_tui.dialogs import ConfirmScreen

Opener = Callable[[str], bool]


@dataclass(frozen=True)
class ReportsEdge:
    """What the screen asks of the edge (the store's actions)."""

    reports: Callable[[], Awaitable[m.ReportsList]]
    report_file: Callable[[str], Awaitable[Download]]
    make_report: Callable[[str], Awaitable[m.ReportResult]]


def _size(n: int | None) -> str:
    return "—" if n is None else (f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} B")


def _span(r: m.ReportItem) -> str:
    if not r.since or not r.until:
        return ""
    return f"{r.since[5:16].replace('T', ' ')} → {r.until[5:16].replace('T', ' ')}"


class ReportsScreen(Guarded, ModalScreen[None]):
    """The stored reports, newest first; Enter opens one, l the latest, n makes one, r reloads, Esc closes."""

    DEFAULT_CSS = """
    ReportsScreen { align: center middle; }
    ReportsScreen > Vertical { width: 100%; height: 100%; border: thick $accent; background: $surface; padding: 0 1; }
    ReportsScreen #heading { height: auto; }
    ReportsScreen #reports { height: 1fr; min-height: 5; }
    ReportsScreen #outcome { height: auto; }
    ReportsScreen #keys { height: 1; color: $text-muted; }
    """
    BINDINGS: ClassVar = [
        Binding("escape", "close", "Close", id="dialog.cancel"),
        Binding("o", "open", "Open", id="reports.open"),
        Binding("l", "open_latest", "Open the latest", id="reports.latest"),
        Binding("n", "make", "Make one now", id="reports.make"),
        Binding("r", "reload", "Reload", id="reports.reload"),
    ]

    def __init__(self, edge: ReportsEdge, folder: Path, *, opener: Opener, open_latest: bool = False) -> None:
        super().__init__()
        self.edge = edge
        self.folder = folder
        self.opener = opener
        self.open_latest_on_load = open_latest
        self.items: list[m.ReportItem] = []
        self.loaded = False
        self.problem: str | None = None
        self.opened: Path | None = None  # the file last written (and handed to the viewer)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("P&L reports: loading…", id="heading", markup=False)
            table: DataTable[str | Text] = DataTable(id="reports", cursor_type="row", zebra_stripes=True)
            yield table
            yield Static("", id="outcome")
            yield Static("Enter/o open · l open the latest · n make one now · r reload · Esc close", id="keys",
                         markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#reports", DataTable)
        table.add_columns("report", "period", "covers (UTC)", "PDF", "HTML")
        table.focus()
        self.action_reload()

    # ---------------------------------------------------------------- list
    def action_reload(self) -> None:
        self.run_worker(self.guard(self._load)(), group="reports", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        try:
            listed = await self.edge.reports()
        except HooxError as exc:
            self._problem(str(exc))
            return
        self.problem = None
        self.items = list(listed.items)
        self.loaded = True
        self._fill(listed.retentionDays)
        if self.open_latest_on_load:
            self.open_latest_on_load = False
            self.action_open_latest()

    def _problem(self, text: str) -> None:
        self.problem = redact(text)
        self.loaded = True
        self.query_one("#heading", Static).update(Text(f"P&L reports: not available.\n{self.problem}",
                                                       style="bold red"))

    def _fill(self, retention: int) -> None:
        heading = (f"P&L reports: {len(self.items)} kept ({retention} days), newest first"
                   if self.items else "No report yet: n makes one now (report-worker's cron makes one at "
                                      "06:00 and 18:00 UTC).")
        self.query_one("#heading", Static).update(heading)
        table = self.query_one("#reports", DataTable)
        table.clear()
        for r in self.items:
            pdf = Text(_size(r.pdfBytes)) if r.pdfBytes is not None else Text("none", style="yellow")
            table.add_row(r.name, r.period or "?", _span(r), pdf, _size(r.htmlBytes), key=r.name)

    def _say(self, text: str, style: str = "") -> None:
        self.query_one("#outcome", Static).update(Text(redact(text), style=style))

    # ---------------------------------------------------------------- open
    def selected(self) -> m.ReportItem | None:
        table = self.query_one("#reports", DataTable)
        if not self.items or table.cursor_row >= len(self.items):
            return None
        return self.items[table.cursor_row]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        item = self.selected()
        if item is None:
            self._say("No report to open: n makes one now.", "yellow")
            return
        self.run_worker(self.guard(self._open)(item.name), group="reports-open", exclusive=True,
                        exit_on_error=False)

    def action_open_latest(self) -> None:
        if not self.items:
            self._say("No report yet: n makes one now.", "yellow")
            return
        self.query_one("#reports", DataTable).move_cursor(row=0)
        self.action_open()

    async def _open(self, name: str) -> None:
        try:
            file = await self.edge.report_file(name)
        except HooxError as exc:
            self._say(f"Could not download {name}: {exc}", "bold red")
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / file.filename
        part = target.with_name(target.name + ".part")
        part.write_bytes(file.content)
        os.replace(part, target)
        self.opened = target
        try:
            shown = bool(self.opener(target.as_uri()))
        except Exception:  # no viewer, no display: the file is still there
            shown = False
        self._say(f"Saved {file.filename} to {target}" + (" and opened it." if shown else
                                                           " (no viewer could open it here: open the file)."),
                  "green" if shown else "yellow")

    # ---------------------------------------------------------------- make
    def action_make(self) -> None:
        def answer(yes: bool | None) -> None:
            if yes:
                self._say("Making the report (a PDF takes a few seconds)…")
                self.run_worker(self.guard(self._make)(), group="reports-make", exclusive=True,
                                exit_on_error=False)

        self.app.push_screen(ConfirmScreen("Make a P&L report of the last 24 h now? It is stored and sent to "
                                           "the Telegram chat, like the cron's.", yes="Make it"),
                             self.guard(answer))

    async def _make(self) -> None:
        try:
            result = await self.edge.make_report("24h")
        except HooxApiError as exc:
            self._say(f"{exc.code}: {exc.message}", "bold red")
            return
        except HooxError as exc:
            self._say(f"The edge did not answer: {exc}", "bold red")
            return
        rep = result.report
        what = "PDF and HTML" if rep.pdfBytes is not None else f"HTML only ({rep.pdfError})"
        self._say(f"Made {rep.name}: {what}; Telegram: {result.telegram.channel}.", "green")
        await self._load()

    def action_close(self) -> None:
        self.dismiss(None)
