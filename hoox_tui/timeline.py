"""A signal's timeline in the cockpit: every stage it went through across the workers, from
`GET /v1/signals/{requestId}/timeline` (the same answer `hoox signal show` prints).

`TimelineScreen` opens from the trade monitor (Enter or `t` on a fill, `t` on an open order) or, with
a pasted request id, from `RequestIdScreen` (the command palette, or `T` anywhere). The stage list
keeps one line per stage; the selected stage's whole text and its details (secrets redacted by the
edge, and again here) are in the pane below it, so nothing is cut.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Static
from textual.widgets.data_table import ColumnKey

from hoox_cli.core import models as m
from hoox_cli.core.client import HooxApiError, HooxError
from hoox_cli.core.redact import redact
from hoox_tui.boundary import Guarded
from hoox_tui.fmt import price, qty

PREFIX_MIN = 8  # the edge resolves a unique start of 8+ characters, as `hoox signal show` does
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")  # the edge's rule for a request id
KIND_STYLE = {"rejected": "bold red", "dead-letter": "bold red", "exchange-unavailable": "yellow", "retry": "yellow",
              "queued": "yellow", "queue": "yellow", "fill": "green", "position": "green", "exchange-call": "cyan",
              "alert": "magenta", "outcome": "bold"}
Fetch = Callable[[str], Awaitable[m.SignalTimeline]]
_COLUMNS = (("time", 7), ("stage", 20), ("worker", 15), ("what happened", 40))  # the last: see `_fit`


def request_id_problem(text: str) -> str | None:
    """Why `text` cannot name a signal, or None."""
    if not text:
        return "Paste a request id (as the webhook answered it, or its first 8 characters)."
    if not _REQUEST_ID.match(text):
        return "A request id holds only letters, digits and . _ : - (at most 128 characters)."
    if len(text) < PREFIX_MIN:
        return f"Give the whole request id or at least its first {PREFIX_MIN} characters."
    return None


def offset(ms: float | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"+{ms:.0f}ms"
    if ms < 60_000:
        return f"+{ms / 1000:.2f}s"
    minutes, seconds = divmod(int(ms / 1000), 60)
    return f"+{minutes}m{seconds:02d}s"


_DIALOG_CSS = """
{cls} {{ align: center middle; }}
{cls} > Vertical {{ width: 64; height: auto; border: thick $accent; background: $surface; padding: 1 2; }}
{cls} Horizontal {{ height: auto; margin-top: 1; }}
{cls} Button {{ margin-right: 2; }}
"""


class RequestIdScreen(Guarded, ModalScreen["str | None"]):
    """Paste a request id; Enter shows its timeline. A malformed id is refused here and stays in the field."""

    DEFAULT_CSS = _DIALOG_CSS.format(cls="RequestIdScreen") + """
    RequestIdScreen #problem { color: $error; height: auto; }
    """
    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Signal timeline: paste the request id of a signal (the webhook's answer, the logs and "
                         "`hoox signal send` show it), or its first 8 characters.", markup=False)
            yield Input(placeholder="request id", id="request-id", max_length=128)
            yield Static("", id="problem", markup=False)
            with Horizontal():
                yield Button("Show", id="show", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#request-id", Input).focus()  # paste at once

    def _submit(self) -> None:
        text = self.query_one("#request-id", Input).value.strip()
        problem = request_id_problem(text)
        if problem:
            self.query_one("#problem", Static).update(problem)
            return
        self.dismiss(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "show":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TimelineScreen(Guarded, ModalScreen[None]):
    """One signal's stages, in order; the selected stage's text and details below. r reloads, Esc closes."""

    DEFAULT_CSS = """
    TimelineScreen { align: center middle; }
    TimelineScreen > Vertical { width: 100%; height: 100%; border: thick $accent; background: $surface;
                                padding: 0 1; }
    TimelineScreen #heading { height: auto; }
    TimelineScreen #stages { height: 1fr; min-height: 5; }
    TimelineScreen #detail-box { height: 8; border: round $secondary; }
    TimelineScreen #keys { height: 1; color: $text-muted; }
    """
    BINDINGS: ClassVar = [
        Binding("escape", "close", "Close", id="dialog.cancel"),
        Binding("r", "reload", "Reload", id="timeline.reload"),
    ]

    def __init__(self, fetch: Fetch, request_id: str) -> None:
        super().__init__()
        self.fetch = fetch
        self.request_id = request_id
        self.timeline: m.SignalTimeline | None = None
        self.problem: str | None = None  # why it could not be shown

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Signal {self.request_id}: loading its timeline…", id="heading", markup=False)
            table: DataTable[str | Text] = DataTable(id="stages", cursor_type="row", zebra_stripes=True)
            yield table
            with VerticalScroll(id="detail-box"):
                yield Static("", id="detail", markup=False)
            yield Static("↑↓ select a stage · r reload · Esc close", id="keys", markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#stages", DataTable)
        for label, width in _COLUMNS:
            table.add_column(label, width=width, key=label)
        self.query_one("#detail-box").border_title = "Selected stage"
        table.focus()
        self.action_reload()

    def action_reload(self) -> None:
        self.run_worker(self.guard(self._load)(), group="timeline", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        try:
            t = await self.fetch(self.request_id)
        except HooxApiError as exc:  # the edge's word: not found, ambiguous, too short
            self._show_problem(f"{exc.code}: {exc.message}")
            return
        except HooxError as exc:
            self._show_problem(f"The edge did not answer: {exc}")
            return
        self.problem = None
        self.timeline = t
        self.request_id = t.requestId  # a start of an id resolves to the whole one
        self._fill(t)

    def _show_problem(self, text: str) -> None:
        self.problem = redact(text)
        self.query_one("#heading", Static).update(Text(f"Signal {self.request_id}: no timeline.\n{self.problem}",
                                                       style="bold red"))

    def _fill(self, t: m.SignalTimeline) -> None:
        self.query_one("#heading", Static).update(heading(t))
        table = self.query_one("#stages", DataTable)
        keep = table.cursor_row
        table.clear()
        self._fit()
        for i, s in enumerate(t.stages):
            last = s.kind == "outcome"
            table.add_row(Text("now" if last else offset(s.offsetMs)),
                          Text("state" if last else s.kind, style=KIND_STYLE.get(s.kind, "")),
                          s.worker or "", Text(redact(s.summary), style="bold" if last else "", no_wrap=True,
                                               overflow="ellipsis"), key=str(i))
        if t.stages:
            table.move_cursor(row=min(keep, len(t.stages) - 1))
        self._detail()

    def _fit(self) -> None:
        """The summary column takes the width the others leave (its whole text is in the pane below)."""
        table = self.query_one("#stages", DataTable)
        width = table.size.width or self.app.size.width - 4
        # each column has 1 cell of padding either side; keep 2 for the vertical scrollbar
        rest = width - sum(w + 2 for _, w in _COLUMNS[:-1]) - 2 - 2
        table.columns[ColumnKey("what happened")].width = max(20, rest)
        table.refresh()

    def on_resize(self) -> None:
        if self.timeline is not None:
            self._fill(self.timeline)

    @on(DataTable.RowHighlighted, "#stages")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def _detail(self) -> None:
        t = self.timeline
        detail = self.query_one("#detail", Static)
        table = self.query_one("#stages", DataTable)
        if t is None or not t.stages or table.cursor_row >= len(t.stages):
            detail.update("")
            return
        s = t.stages[table.cursor_row]
        lines = [f"{s.at or 'time unknown'}  {s.kind}" + (f"  {s.worker}" if s.worker else "")
                 + f"  (from the {s.source})", s.summary]
        if s.details not in (None, {}, []):
            lines.append(json.dumps(s.details, indent=2, default=str))
        detail.update(redact("\n".join(lines)))

    def action_close(self) -> None:
        self.dismiss(None)


def heading(t: m.SignalTimeline) -> Text:
    """Who the signal is and where it stands, above its stages."""
    out = Text()
    out.append(f"Signal {t.requestId}", style="bold")
    sig, trade = t.signal, t.trade
    if sig is not None:
        what = " ".join(str(v) for v in (sig.action, sig.symbol, sig.quantity) if v is not None)
        out.append(f"  {sig.source or 'webhook'} {what}" + (f" on {sig.exchange}" if sig.exchange else ""))
        out.append(f"  {sig.status}" + (f" {sig.errorCode}" if sig.errorCode else ""),
                   style="green" if sig.status == "Filled" else "bold red" if sig.status in (
                       "Rejected", "DeadLettered") else "yellow")
        if sig.swap is not None:
            out.append("\n" + sig.swap.summary())
    else:
        out.append("  never became a signal", style="bold red")
    if trade is not None:
        out.append(f"\norder: {trade.mode} {trade.exchange} {trade.side} {qty(trade.filledQty)}/{qty(trade.quantity)} "
                   f"filled" + (f" at {price(trade.price)}" if trade.price is not None else "")
                   + f", {trade.attempts} attempt(s)")
    if t.original is not None:
        out.append(f"\na resend of request {t.original.requestId} ({t.original.status})", style="yellow")
    for r in t.resends:
        out.append(f"\nresent as request {r.requestId}", style="yellow")
    if t.truncated:
        out.append(f"\nonly the first {t.maxStages} stages are shown", style="yellow")
    for u in t.unavailable:
        out.append(f"\nnot shown ({u.source}): {u.reason}", style="yellow")
    return out
