"""The cockpit's assistant panel (the palette: "Assistant: ask about the desk"): a question to the AI
gateway (`/v1/agent/chat` with `desk: true`: answered from the ledger, through its read-only tools
where the provider calls tools), the answer as it arrives, then the provider that served it, any
that failed before it, the desk tools it called and the tokens used. The assistant never
places an order; it may suggest a hoox command to run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from hoox_cli.core.client import HooxError
from hoox_cli.core.models import tool_call_label
from hoox_cli.core.redact import redact
from hoox_tui.boundary import Guarded

Chat = Callable[[str], AsyncIterator[dict[str, Any]]]
MAX_QUESTION = 4000


def trail_text(trail: list[dict[str, Any]]) -> str:
    return "; ".join(f"{t.get('provider')}: {t.get('error')}" for t in trail)


class AssistantScreen(Guarded, ModalScreen[None]):
    """Ask; the answer streams into the pane; Esc closes (and cancels a running answer)."""

    DEFAULT_CSS = """
    AssistantScreen { align: center middle; }
    AssistantScreen > Vertical { width: 90%; height: 80%; border: thick $accent; background: $surface; padding: 1 2; }
    AssistantScreen #answer-pane { height: 1fr; border: round $panel; }
    AssistantScreen #trail { height: auto; color: $text-muted; }
    AssistantScreen #error { height: auto; color: $error; }
    """
    BINDINGS: ClassVar = [Binding("escape", "close", "Close", id="assistant.close")]

    def __init__(self, chat: Chat) -> None:
        super().__init__()
        self._chat = chat
        self.answer = ""
        self.provider: str | None = None
        self.done = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Assistant — ask about the desk (answers quote the ledger; it never trades).",
                         id="title")
            yield Input(placeholder="average entry on SOL?  win rate today?", id="question")
            with VerticalScroll(id="answer-pane"):
                yield Static("", id="answer")
            yield Static("", id="trail")
            yield Static("", id="error")

    def on_mount(self) -> None:
        self.query_one("#question", Input).focus()

    @on(Input.Submitted, "#question")
    def ask(self, event: Input.Submitted) -> None:
        question = event.value.strip()[:MAX_QUESTION]
        if not question:
            return
        self.answer, self.provider, self.done = "", None, False
        self.query_one("#answer", Static).update("")
        self.query_one("#trail", Static).update("asking…")
        self.query_one("#error", Static).update("")
        self.run_answer(question)

    @work(exclusive=True, exit_on_error=False, group="assistant")
    async def run_answer(self, question: str) -> None:
        answer = self.query_one("#answer", Static)
        trail = self.query_one("#trail", Static)
        error = self.query_one("#error", Static)
        try:
            async for ev in self._chat(question):
                if ev["event"] == "provider":
                    self.provider = ev["provider"]
                    before = f" (after {trail_text(ev['trail'])})" if ev.get("trail") else ""
                    trail.update(redact(f"{ev['provider']} ({ev['model']}) answering{before}"))
                elif ev["event"] == "tool":
                    trail.update(redact(f"{self.provider} read the ledger: {tool_call_label(ev)}"))
                elif ev["event"] == "token":
                    self.answer += ev["text"]
                    answer.update(redact(self.answer))
                elif ev["event"] == "usage":
                    before = f" — after {trail_text(ev['trail'])}" if ev.get("trail") else ""
                    cost = "no price set" if ev.get("cost") is None else f"${ev['cost']:.6f}"
                    tools = "; ".join(tool_call_label(t) for t in ev.get("tools") or [])
                    read = f" — read {tools}" if tools else (
                        " — from the ledger's facts (this provider calls no tools)" if ev.get("grounding") == "facts"
                        else "")
                    trail.update(redact(f"{ev['provider']} ({ev['model']}): {ev['inputTokens']} in / "
                                        f"{ev['outputTokens']} out tokens, {cost}, {ev['latencyMs']} ms{read}{before}"))
                elif ev["event"] == "error":
                    trail.update("")
                    error.update(redact(f"{ev['message']}"))
        except HooxError as exc:
            trail.update("")
            error.update(redact(str(exc)))
        finally:
            self.done = True

    def action_close(self) -> None:
        self.workers.cancel_group(self, "assistant")
        self.dismiss(None)
