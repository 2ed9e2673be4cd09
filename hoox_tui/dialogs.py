"""Modal dialogs: a yes/no confirmation, the kill switch, and flatten (what it will close, then what
became of each order)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, RadioButton, RadioSet, Static

from hoox_tui.boundary import Guarded
from hoox_tui.fmt import book_label, book_text, mode_cell, money, price, qty

if TYPE_CHECKING:
    from hoox_cli.core import models as m

_CSS = """
{cls} {{ align: center middle; }}
{cls} > Vertical {{ width: 64; height: auto; border: thick $accent; background: $surface; padding: 1 2; }}
{cls} Horizontal {{ height: auto; margin-top: 1; }}
{cls} Button {{ margin-right: 2; }}
"""


class ConfirmScreen(Guarded, ModalScreen[bool]):
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


@dataclass(frozen=True)
class KillSwitchAnswer:
    on: bool
    reason: str
    flatten: bool = False  # turning on: then flatten every book


class KillSwitchScreen(Guarded, ModalScreen["KillSwitchAnswer | None"]):
    """Shows the kill switch's current state; confirming flips it (with a reason, and optionally a
    flatten of every book, when turning on)."""

    DEFAULT_CSS = _CSS.format(cls="KillSwitchScreen") + """
    KillSwitchScreen Checkbox { margin-top: 1; }
    """
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
                # the label fits the dialog: cancels every resting order too (see FlattenResultScreen)
                yield Checkbox("Also flatten every book: close all positions", id="flatten")
            with Horizontal():
                yield Button("Turn OFF" if self.on else "Turn ON", id="confirm", variant="error")
                yield Button("Cancel", id="cancel", variant="primary")

    def on_mount(self) -> None:
        # Turning it ON: the operator types a reason at once and Enter confirms (Input.Submitted).
        # Turning it OFF resumes trading: the safe answer keeps the focus there.
        reasons = self.query("#reason")
        (reasons.first() if reasons else self.query_one("#cancel", Button)).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "confirm" or self.on is None:
            self.dismiss(None)
            return
        if self.on:
            self.dismiss(KillSwitchAnswer(on=False, reason=""))
            return
        self.dismiss(KillSwitchAnswer(on=True, reason=self.query_one("#reason", Input).value.strip(),
                                      flatten=self.query_one("#flatten", Checkbox).value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#confirm", Button).press()

    def action_cancel(self) -> None:
        self.dismiss(None)


# ------------------------------------------------------------------------------------------ flatten
@dataclass(frozen=True)
class FlattenChoice:
    mode: str | None  # the book to flatten; None: every book
    reason: str | None


FLATTEN_SCOPES: tuple[tuple[str, str | None], ...] = (("every book", None), ("paper book", "paper"),
                                                      ("LIVE book", "live"))
_WIDE = """
{cls} > Vertical {{ width: 92; max-height: 100%; }}
{cls} .plan {{ height: auto; max-height: 12; margin-top: 1; }}
"""


def plan_text(positions: list[m.OpenPosition], orders: list[m.OpenOrder], scope: str) -> Text:
    """What a flatten of `scope` will cancel and close, one line each."""
    if not positions and not orders:
        return Text(f"Nothing to flatten in {scope}: no open position, no resting order.", style="dim")
    out = Text()
    if orders:
        out.append(f"Resting orders to cancel ({len(orders)}):\n", style="bold")
        for o in orders:
            out.append("  ")
            out.append_text(mode_cell(o.mode, f"{o.mode:<6}"))
            out.append(f" {o.exchange:<8} {o.symbol:<9} {o.side:<5} {qty(o.quantity)} @ {price(o.limitPrice)}"
                       f"  filled {qty(o.filledQty)}  ")
            out.append(f"{o.requestId[:8]}\n", style="dim")
    if positions:
        out.append(f"Open positions to close at the market ({len(positions)}):\n", style="bold")
        for p in positions:
            out.append("  ")
            out.append_text(mode_cell(p.mode, f"{p.mode:<6}"))
            out.append(f" {p.exchange:<8} {p.symbol:<9} {p.side:<5} {qty(p.size)}  entry {price(p.entryPrice)}  ")
            out.append("uPnL " + money(p.unrealizedPnl) if p.unrealizedPnl is not None else "no mark price")
            out.append("\n")
    out.rstrip()
    return out


class FlattenScreen(Guarded, ModalScreen["FlattenChoice | None"]):
    """Flatten, behind a confirmation that lists what it will cancel and close in the chosen scope
    (every book by default). Flatten is disabled when there is nothing in the scope."""

    DEFAULT_CSS = _CSS.format(cls="FlattenScreen") + _WIDE.format(cls="FlattenScreen") + """
    FlattenScreen RadioSet { layout: horizontal; width: 100%; height: auto; margin-top: 1; }
    FlattenScreen RadioButton { width: auto; margin-right: 2; }
    """
    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, positions: list[m.OpenPosition], orders: list[m.OpenOrder]) -> None:
        super().__init__()
        self.positions = positions
        self.orders = orders
        self.mode: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Flatten: cancel the resting orders, then close the open positions at the market, "
                         "each in its own book.", markup=False)
            with RadioSet(id="scope"):
                for i, (label, mode) in enumerate(FLATTEN_SCOPES):
                    yield RadioButton(label, value=i == 0, id=f"scope-{mode or 'all'}")
            with VerticalScroll(classes="plan"):
                yield Static("", id="plan")
            yield Input(placeholder="reason (optional, kept with each close)", id="reason", max_length=64)
            with Horizontal():
                yield Button("Flatten", id="confirm", variant="error")
                yield Button("Cancel", id="cancel", variant="primary")

    def on_mount(self) -> None:
        self._show()
        self.query_one("#cancel", Button).focus()

    def in_scope(self) -> tuple[list[m.OpenPosition], list[m.OpenOrder]]:
        keep = (lambda mode: True) if self.mode is None else (lambda mode: mode == self.mode)
        return [p for p in self.positions if keep(p.mode)], [o for o in self.orders if keep(o.mode)]

    def _show(self) -> None:
        positions, orders = self.in_scope()
        scope = "every book" if self.mode is None else f"the {book_label(self.mode)}"
        self.query_one("#plan", Static).update(plan_text(positions, orders, scope))
        self.query_one("#confirm", Button).disabled = not (positions or orders)

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self.mode = FLATTEN_SCOPES[event.index][1]
        self._show()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm":
            self.dismiss(FlattenChoice(self.mode, self.query_one("#reason", Input).value.strip() or None))
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        confirm = self.query_one("#confirm", Button)
        if not confirm.disabled:
            confirm.press()

    def action_cancel(self) -> None:
        self.dismiss(None)


def _outcome_line(o: m.OrderOutcome, *, close: bool) -> Text:
    ok = o.status in ("Filled", "Cancelled", "Expired", "already_flat")
    style = "green" if ok else "yellow" if o.status in ("in_progress", "closing") else "bold red"
    line = Text("  ")
    line.append(f"{o.status:<12}", style=style)
    line.append_text(mode_cell(o.mode, f"{o.mode:<6}"))
    line.append(f" {o.exchange:<8} {o.symbol:<9} {o.side:<5}")
    if close:
        line.append(f" {qty(o.size)}")
    result = o.result or {}
    if result.get("price") is not None:
        line.append(f"  at {price(result['price'])}")
        if close:
            line.append(f"  P&L {money(result.get('realizedPnl'))}")
    if o.status == "in_progress":
        line.append(f"  may still fill: follow request {o.requestId}", style="yellow")
    elif o.status in ("already_flat", "closing") and o.note:
        line.append(f"  {o.note}", style="green" if ok else "yellow")
    elif o.error:
        line.append(f"  {o.error.get('code') or ''} {o.error.get('message') or ''}".rstrip(), style="red")
    return line


def outcome_text(result: m.FlattenResult) -> Text:
    """Every cancel and close of a flatten with its outcome; what was not closed stands out."""
    scope = result.scope
    where = " ".join(x for x in (scope.exchange, scope.symbol) if x)
    out = Text()
    out.append("Flatten of ")
    out.append_text(book_text(scope.mode) if scope.mode != "all" else Text("every book", style="bold"))
    if not result.closes and not result.cancelled:
        # "0/0 position(s) closed" read as a flatten that did nothing to the positions it had listed
        out.append(f"{' ' + where if where else ''}: nothing to close or cancel — no open position and no "
                   "resting order was left when it ran")
        return out
    others = (f", {result.alreadyFlat} already flat" if result.alreadyFlat else "") + (
        f", {result.closing} being closed by another request" if result.closing else "")
    out.append(f"{' ' + where if where else ''}: {result.closed}/{len(result.closes)} position(s) closed{others}, "
               f"{len(result.cancelled)} resting order(s) handled\n")
    if result.failed:
        out.append(f"{result.failed} position(s) NOT closed: see below\n", style="bold white on red")
    for title, items, close in (("Cancels", result.cancelled, False), ("Closes", result.closes, True)):
        if items:
            out.append(f"{title}:\n", style="bold")
            for o in items:
                out.append_text(_outcome_line(o, close=close))
                out.append("\n")
    out.rstrip()
    return out


class FlattenResultScreen(Guarded, ModalScreen[None]):
    """What became of each order of a flatten (from the cockpit, or the kill switch's)."""

    DEFAULT_CSS = _CSS.format(cls="FlattenResultScreen") + _WIDE.format(cls="FlattenResultScreen")
    BINDINGS: ClassVar = [Binding("escape", "close", "Close", id="dialog.cancel"),
                          Binding("enter", "close", show=False)]

    def __init__(self, result: m.FlattenResult, heading: str | None = None) -> None:
        super().__init__()
        self.result = result
        self.heading = heading

    def compose(self) -> ComposeResult:
        with Vertical():
            if self.heading:
                yield Static(self.heading, id="heading", markup=False)
            with VerticalScroll(classes="plan"):
                yield Static(outcome_text(self.result), id="outcome")
            with Horizontal():
                yield Button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
