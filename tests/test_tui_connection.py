"""The cockpit's connection to its edge and the kill-switch dialog: a refused token is a state of its
own (no retry storm), a down edge greys the worker rows, the status bar's segments never overlap."""

from __future__ import annotations

from typing import Any

import pytest
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from textual.widgets import Input
from tui_support import until

from hoox_cli.client import AsyncHooxClient
from hoox_tui.app import HooxApp
from hoox_tui.context import CockpitContext
from hoox_tui.dialogs import KillSwitchScreen
from hoox_tui.settings import UserSettings
from hoox_tui.store import Store

GW = "hoox"


@pytest.fixture(autouse=True)
def cockpit_settings(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cockpit's settings file inside the test's workspace, never the user's."""
    monkeypatch.setattr("hoox_tui.settings.config_path", lambda: workspace.root / "cockpit-test.toml")


def url(rt: LocalRuntime) -> str:
    return f"http://127.0.0.1:{rt.ports[GW]}"


def make_ctx(ws: Workspace, rt: LocalRuntime, token: str | None = None, **store_kw: Any) -> CockpitContext:
    client = AsyncHooxClient(url(rt), token or ws.secrets()["OPERATOR_API_KEY"], source="workspace", retries=0)
    return CockpitContext(store=Store(client, **store_kw), client=client, workspace=ws, settings=UserSettings(),
                          safe_mode=False, local_runtime_started=False)


def notes(app: HooxApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


# ------------------------------------------------------------------------------------------ kill switch
async def test_kill_switch_dialog_takes_a_reason_typed_at_once_and_enter_turns_it_on(
        edge: LocalRuntime, workspace: Workspace) -> None:
    ctx = make_ctx(workspace, edge, refresh_seconds=0.3)
    app = HooxApp(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: ctx.store.status is not None, "first status")
        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, KillSwitchScreen), "kill switch dialog")
        reason = app.screen.query_one("#reason", Input)
        await until(pilot, lambda: reason.has_focus, "the reason field has the focus when the dialog opens")
        await pilot.press(*"exchange incident", "enter")  # typed at once, no click: Enter confirms
        await until(pilot, lambda: not isinstance(app.screen, KillSwitchScreen), "the dialog closed")
        await until(pilot, lambda: ctx.store.status is not None and ctx.store.status.killSwitch.on, "switch on")
        async with AsyncHooxClient(url(edge), workspace.secrets()["OPERATOR_API_KEY"]) as c:
            ks = await c.kill_switch()
        assert ks.on is True and ks.reason == "exchange incident"
        await until(pilot, lambda: any("Kill switch is now ON: exchange incident" in n for n in notes(app)),
                    "a notification says what happened")

        # turning it off keeps the safe answer focused; Escape says nothing changed
        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, KillSwitchScreen), "kill switch dialog again")
        await until(pilot, lambda: app.focused is not None and app.focused.id == "cancel", "Cancel focused")
        await pilot.press("escape")
        await until(pilot, lambda: any("Kill switch not changed: it is still ON" in n for n in notes(app)),
                    "a cancelled dialog says the switch is unchanged")
        assert ctx.store.status.killSwitch.on  # type: ignore[union-attr]
