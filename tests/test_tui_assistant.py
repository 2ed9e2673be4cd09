"""Issue 15 item 5: the cockpit's assistant panel (the palette) against a real local edge whose AI
providers are loopback fakes (tests/fake_ai.py): the answer, the provider trail, the tokens; an error
said plainly. Every wait is on a condition (`until`)."""

from __future__ import annotations

import pytest
from fake_ai import FakeAI
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from hoox_edge.shared import settings
from textual.widgets import Input, Static
from tui_support import (
    cockpit_settings,  # noqa: F401  (autouse)
    make_ctx,
    until,
)

from hoox_tui.app import HooxApp
from hoox_tui.assistant import AssistantScreen

KEY = "sk-ant-tui-test-5a4b3c2d1e0f99887766"


@pytest.fixture
def fake(workspace: Workspace):
    with FakeAI(keys={"anthropic": KEY}) as f:
        workspace.set_secret("ANTHROPIC_API_KEY", KEY)
        yield f


async def test_the_assistant_answers_with_the_provider_trail_and_says_an_error_plainly(
        edge: LocalRuntime, workspace: Workspace, fake: FakeAI) -> None:
    await settings.put(edge.env("hoox").CONFIG_KV, "agent:config", {
        "order": ["openai", "anthropic"], "retries": 0, "timeoutMs": 3000,
        "providers": {"openai": {"kind": "openai", "model": "gpt-4o-mini", "baseUrl": fake.url + "/v1"},
                      "anthropic": {"kind": "anthropic", "model": "claude-3-5-haiku-latest", "baseUrl": fake.url}}})
    fake.script("anthropic", {"text": ["No open ", "positions."], "usage": (50, 4)})
    ctx = make_ctx(workspace, edge, refresh_seconds=3600)
    app = HooxApp(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        app.action_assistant()
        await until(pilot, lambda: isinstance(app.screen, AssistantScreen)
                    and bool(app.screen.query("#question")) and app.screen.query_one("#question").has_focus,
                    "the assistant open, its question focused")
        screen = app.screen
        assert isinstance(screen, AssistantScreen)
        screen.query_one("#question", Input).value = "any open positions?"
        await pilot.press("enter")
        await until(pilot, lambda: screen.done, "the answer")
        assert str(screen.query_one("#answer", Static).render()) == "No open positions."
        trail = str(screen.query_one("#trail", Static).render())
        assert "anthropic (claude-3-5-haiku-latest): 50 in / 4 out tokens" in trail
        assert "after openai: not_configured" in trail  # no OPENAI_API_KEY here
        # a desk question: the ledger's read-only tools went along
        assert {t["name"] for t in fake.calls_to("anthropic")[0].body["tools"]} >= {"desk_positions", "desk_stats"}

        fake.script("anthropic", {"tool_calls": [{"name": "desk_stats", "arguments": {"since": "today"}}]},
                    {"quote_tool": "tradeCount", "usage": (60, 5)})
        screen.query_one("#question", Input).value = "how many fills today?"
        await pilot.press("enter")
        await until(pilot, lambda: screen.done and "tradeCount" in str(screen.query_one("#answer", Static).render()),
                    "the answer read from the tools")
        assert str(screen.query_one("#answer", Static).render()) == "tradeCount: 0\ntradeCount: 0\n"  # both books
        assert "read desk_stats(since=today): ok" in str(screen.query_one("#trail", Static).render())

        fake.script("anthropic", {"status": 500})
        screen.query_one("#question", Input).value = "and now?"
        await pilot.press("enter")
        await until(pilot, lambda: screen.done and str(screen.query_one("#error", Static).render()) != "",
                    "the error")
        assert "every AI provider failed" in str(screen.query_one("#error", Static).render())
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, AssistantScreen), "the assistant closed")
