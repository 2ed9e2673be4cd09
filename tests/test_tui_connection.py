"""The cockpit's connection to its edge and the kill-switch dialog: a refused token is a state of its
own (no retry storm), a down edge greys the worker rows, the status bar's segments never overlap."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from order_support import gateway_url
from textual.widgets import Input
from tui_support import (
    DEADLINE,
    cockpit_settings,  # noqa: F401  (autouse)
    make_ctx,
    until,
)

from hoox_cli.core.client import AsyncHooxClient
from hoox_tui.app import HooxApp
from hoox_tui.context import CockpitContext
from hoox_tui.dialogs import KillSwitchScreen
from hoox_tui.settings import UserSettings
from hoox_tui.store import Store

GW = "hoox"


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
        async with AsyncHooxClient(gateway_url(edge), workspace.secrets()["OPERATOR_API_KEY"]) as c:
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


# ------------------------------------------------------------------------------------------ refused token
async def test_a_refused_token_is_unauthorized_backs_off_and_says_which_token_and_how_to_set_it(
        edge: LocalRuntime, workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from hoox_edge.shared import clock

    from hoox_cli.core.client import resolve_config
    from hoox_tui.store import Conn
    from hoox_tui.widgets import StatusBar

    monkeypatch.setenv("HOOX_API_TOKEN", "not-this-edges-key")  # as a user with a stale token would
    cfg = resolve_config(None, workspace=workspace)
    assert cfg.token_source == "HOOX_API_TOKEN"
    client = AsyncHooxClient(cfg.base_url, cfg.token, source=cfg.source, retries=0, token_source=cfg.token_source)
    base, cap = 0.1, 0.4
    store = Store(client, refresh_seconds=0.05, backoff_base=base, backoff_cap=cap, rand=lambda: 0.0)
    ctx = CockpitContext(store=store, workspace=workspace, settings=UserSettings(), safe_mode=False,
                         local_runtime_started=False)
    states: list[Conn] = []
    refusals: list[float] = []
    set_state, refused = store._set_state, store._refused

    def record_state(state: Conn) -> None:
        states.append(state)
        set_state(state)

    def record_refusal(exc: Any) -> float:
        refusals.append(clock.now())
        return refused(exc)

    monkeypatch.setattr(store, "_set_state", record_state)
    monkeypatch.setattr(store, "_refused", record_refusal)
    app = HooxApp(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(refusals) >= 7, "seven refusals")
        assert store.state == Conn.UNAUTHORIZED
        # never CONNECTED on a refused token, never flipping through RECONNECTING
        assert Conn.CONNECTED not in states and Conn.RECONNECTING not in states, states
        # no retry storm: one request per attempt, and the waits grow to the cap and stay there
        assert store.attempts <= len(refusals) + 1
        gaps = [b - a for a, b in itertools.pairwise(refusals)]
        # (the first two waits may be cut short by the dashboard's first refresh, asked as it shows)
        for n, gap in list(enumerate(gaps))[2:]:
            assert gap >= min(base * 2 ** n, cap) * 0.95, (n, gaps)
        bar = app.screen.query_one(StatusBar)
        text = str(bar.render())
        assert "UNAUTHORIZED" in text and "token refused" in text and "CONNECTED" not in text
        # the whole advice: which token (HOOX_API_TOKEN), whose edge, how to set it; never the token
        advice = store.refused_advice or ""
        assert "refused the operator token from HOOX_API_TOKEN" in advice and cfg.base_url in advice
        assert "Set HOOX_API_TOKEN to this edge's OPERATOR_API_KEY" in advice and "unset it" in advice
        assert [n for n in notes(app) if advice in n], notes(app)
        assert "not-this-edges-key" not in advice and not any("not-this-edges-key" in n for n in notes(app))
        grid = app.screen.query_one("#grid")
        await until(pilot, lambda: str(grid.content) == advice, "the dashboard shows the advice in full")

        # the edge's figures: the refused requests are client errors, not edge errors. The edge
        # records a request's figures after answering it: wait for those of every refusal seen so far.
        seen = len(refusals)
        loop = asyncio.get_running_loop()
        end = loop.time() + DEADLINE
        async with AsyncHooxClient(gateway_url(edge), workspace.secrets()["OPERATOR_API_KEY"]) as good:
            while True:
                fig = ((await good.worker(GW)).traffic or {})["5m"]
                if (fig.refused or 0) >= seen or loop.time() > end:
                    break
                await pilot.pause(0.05)
        assert fig.refused is not None and fig.refused >= seen
        assert fig.errors == 0 and fig.clientErrors >= fig.refused


async def test_the_workspace_key_refused_says_where_it_came_from(workspace: Workspace,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from hoox_cli.core.client import resolve_config

    monkeypatch.delenv("HOOX_API_TOKEN", raising=False)
    cfg = resolve_config(None, workspace=workspace)
    assert cfg.token_source == f"OPERATOR_API_KEY in {workspace.dev_vars_path}"
    client = AsyncHooxClient(cfg.base_url, cfg.token, source=cfg.source, token_source=cfg.token_source)
    advice = client.refused_advice()
    assert f"refused the operator token from OPERATOR_API_KEY in {workspace.dev_vars_path}" in advice
    assert "another workspace" in advice and "HOOX_API_TOKEN" in advice
    await client.aclose()


# ------------------------------------------------------------------------------------------ edge away
def _screen_line(app: HooxApp, y: int) -> str:
    """What the terminal shows on row `y` (negative: from the bottom), as composed by Textual."""
    strips = app.screen._compositor.render_strips()
    return strips[y].text


@pytest.mark.parametrize("size", [(100, 30), (160, 50)])
async def test_edge_down_greys_every_worker_with_the_age_of_the_last_answer_and_alerts(
        size: tuple[int, int]) -> None:
    from tui_support import NOW, fixture_ctx, frozen_clock, plain, status_json

    from hoox_cli.core import models as m
    from hoox_tui.store import Conn

    with frozen_clock():
        ctx = fixture_ctx()
        store = ctx.store
        failing = status_json()
        failing["workers"][1] |= {"status": "offline", "latencyMs": None, "error": "no answer within 2 s"}
        store.apply_status(m.StatusResult.model_validate(failing))
        app = HooxApp(ctx, run_store=False)
        async with app.run_test(size=size) as pilot:
            grid = app.screen.query_one("#grid")
            await until(pilot, lambda: "hoox" in plain(grid, size[0]), "the services grid")
            text = plain(grid, size[0])
            # connected: a failing worker is offline; one hoox.toml does not enable is "disabled", not offline
            assert "● offline" in text.splitlines()[2] and "trade-worker" in text.splitlines()[2]
            disabled = [ln for ln in text.splitlines() if ln.split() and ln.split()[0] in
                        ("web3-wallet-worker", "agent-worker", "email-worker", "report-worker")]
            assert len(disabled) == 4 and all("○ disabled" in ln and "offline" not in ln for ln in disabled)

            # the edge goes away: its last answer (2 minutes old) is no news of now
            store.updated_at["status"] = NOW - 125
            store.state = Conn.OFFLINE
            store.mark("status")
            await until(pilot, lambda: "unknown" in plain(grid, size[0]), "the rows going grey")
            text = plain(grid, size[0])
            assert "operational" not in text and "● offline" not in text
            running = [ln for ln in text.splitlines() if ln.split() and ln.split()[0] in
                       ("hoox", "trade-worker", "telegram-worker", "d1-worker", "analytics-worker")]
            assert len(running) == 5 and all("○ unknown 2m" in ln for ln in running), text
            alerts = plain(app.screen.query_one("#alert-lines"), size[0])
            assert "ERROR" in alerts.splitlines()[0] and "cockpit: The edge is unreachable (last answer 2m ago)" \
                in " ".join(alerts.split()), alerts

            await pilot.press("f2")  # the worker cards say the same
            await until(pilot, lambda: app.current_mode == "workers" and bool(app.screen.query("#card-hoox")),
                        "the worker cards")
            card = app.screen.query_one("#card-hoox")
            assert "○ unknown · 2m ago" in plain(card.render())
            assert "○ disabled" in plain(app.screen.query_one("#card-email-worker").render())

            store.state = Conn.CONNECTED  # back: live states again
            store.mark("status")
            await until(pilot, lambda: "● online" in plain(card.render()), "the card live again")


# ------------------------------------------------------------------------------------------ status bar
@pytest.mark.parametrize("size", [(100, 30), (160, 50)])
async def test_status_bar_segments_never_overlap(size: tuple[int, int]) -> None:
    from tui_support import NOW, fixture_ctx, frozen_clock

    from hoox_tui.store import Conn
    from hoox_tui.widgets import STATE_WIDTH, StatusBar

    class Client:  # the status bar reads only the URL of the client
        base_url = "http://127.0.0.1:21200"

    width = size[0]
    with frozen_clock():
        ctx = fixture_ctx(client=Client())
        ctx.local_runtime_started = True
        store = ctx.store
        app = HooxApp(ctx, run_store=False)
        async with app.run_test(size=size) as pilot:
            bar = app.screen.query_one(StatusBar)
            cases = [
                (Conn.CONNECTED, None, False),
                (Conn.RECONNECTING, "ConnectError: nothing answers at http://127.0.0.1:21200", False),
                (Conn.OFFLINE, "The hoox edge at http://127.0.0.1:21200 did not answer GET /v1/status", True),
                (Conn.UNAUTHORIZED, "UNAUTHORIZED (401): Access denied", True),
                (Conn.CONNECTED, None, True),
            ]
            for state, error, kill_on in cases:
                store.state, store.last_error = state, error
                store.next_attempt_at = NOW + 4 if state in (Conn.RECONNECTING, Conn.UNAUTHORIZED) else None
                ks = store.status.killSwitch.model_copy(update={"on": kill_on})  # type: ignore[union-attr]
                store.status = store.status.model_copy(update={"killSwitch": ks})  # type: ignore[union-attr]
                app.status_note = "created a workspace in /tmp/a/rather/long/folder/name/for/a/workspace"
                bar.refresh()
                label = state.value.upper()
                kill = f"kill switch {'ON' if kill_on else 'off'}"
                await until(pilot, lambda label=label, kill=kill: _screen_line(app, -1).startswith(
                    f" ● {label.ljust(STATE_WIDTH)}") and kill in _screen_line(app, -1), f"the bar in {label}")
                line = _screen_line(app, -1)
                assert len(line.rstrip()) <= width - 2, line  # its last column stays empty
                # each segment whole, two spaces apart: the kill switch never runs into the state
                assert f"{label.ljust(STATE_WIDTH)}  " in line
                assert f"  {kill}  PAPER  " in line, line
                assert "CONNECTEkill" not in line and "CONNECTEDkill" not in line
                if width >= 160:  # room for the rest, in full
                    assert "embedded runtime, stopped on exit" in line and Client.base_url in line, line
