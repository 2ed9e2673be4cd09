"""Modal dialogs: a yes/no confirmation and the kill switch."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

_CSS = """
{cls} {{ align: center middle; }}
{cls} > Vertical {{ width: 64; height: auto; border: thick $accent; background: $surface; padding: 1 2; }}
{cls} Horizontal {{ height: auto; margin-top: 1; }}
{cls} Button {{ margin-right: 2; }}
"""


class ConfirmScreen(ModalScreen[bool]):
    """A question; y / Enter on "Yes" confirms, n / Esc cancels."""

    DEFAULT_CSS = _CSS.format(cls="ConfirmScreen")
    BINDINGS: ClassVar = [
        Binding("escape", "answer(False)", "Cancel", id="dialog.cancel"),
        Binding("n", "answer(False)", show=False),
        Binding("y", "answer(True)", show=False),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question = question
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="question", markup=False)
            with Horizontal():
                yield Button(f"{self.yes} (y)", id="yes", variant="error")
                yield Button(f"{self.no} (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # the safe answer is the default

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class KillSwitchScreen(ModalScreen["tuple[bool, str] | None"]):
    """Shows the kill switch's current state; confirming flips it (with a reason when turning on)."""

    DEFAULT_CSS = _CSS.format(cls="KillSwitchScreen")
    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, on: bool | None, reason: str | None) -> None:
        super().__init__()
        self.on = on
        self.reason = reason

    def compose(self) -> ComposeResult:
        with Vertical():
            if self.on is None:
                yield Static("Kill switch: state unknown (the edge has not answered yet).", markup=False)
                yield Button("Close", id="cancel")
                return
            if self.on:
                yield Static(f"Kill switch is ON — trading is halted.\nReason: {self.reason or '—'}", id="state",
                             markup=False)
                yield Static("Turn it OFF and let signals trade again?", markup=False)
            else:
                yield Static("Kill switch is OFF — signals are being executed.", id="state", markup=False)
                yield Static("Turn it ON? Every webhook will be refused with 503 until it is turned off.",
                             markup=False)
                yield Input(placeholder="reason (optional)", id="reason")
            with Horizontal():
                yield Button("Turn OFF" if self.on else "Turn ON", id="confirm", variant="error")
                yield Button("Cancel", id="cancel", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "confirm" or self.on is None:
            self.dismiss(None)
            return
        reason = ""
        if not self.on:
            reason = self.query_one("#reason", Input).value.strip()
        self.dismiss((not self.on, reason))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#confirm", Button).press()

    def action_cancel(self) -> None:
        self.dismiss(None)
