"""Pilot tests of the cockpit's key flows against a real local edge (loopback, free ports)."""

from __future__ import annotations

from typing import Any

import httpx
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from order_support import gateway_url
from textual.widgets import DataTable, Input
from tui_support import (
    cockpit_settings,  # noqa: F401  (autouse)
    make_ctx,
    shown,
    until,
)

from hoox_cli.core.client import AsyncHooxClient
from hoox_tui.app import HooxApp, ViewScreen
from hoox_tui.dialogs import ConfirmScreen, KillSwitchScreen
from hoox_tui.store import Conn
from hoox_tui.widgets import StatusBar, TitleBar

GW = "hoox"


async def signal(rt: LocalRuntime, **changes: Any) -> dict[str, Any]:
    body = {"apiKey": rt.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT",
            "quantity": 0.001} | changes
    async with httpx.AsyncClient(timeout=15) as c:
        r = await c.post(gateway_url(rt) + "/webhook", json=body)
    assert r.status_code == 200, r.text
    return r.json()


# ------------------------------------------------------------------------------------------ kill switch
async def test_kill_switch_asks_shows_the_state_and_flips_it_on_the_edge(edge: LocalRuntime,
                                                                         workspace: Workspace) -> None:
    ctx = make_ctx(workspace, edge, refresh_seconds=0.3)
    token = workspace.secrets()["OPERATOR_API_KEY"]
    app = HooxApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: ctx.store.status is not None, "first status")
        assert "kill switch off" in str(app.screen.query_one(StatusBar).render())

        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, KillSwitchScreen), "kill switch dialog")
        assert "Kill switch is OFF" in str(app.screen.query_one("#state").render())
        await pilot.press("escape")  # cancelled: nothing changes
        await until(pilot, lambda: not isinstance(app.screen, KillSwitchScreen), "dialog closed")
        async with AsyncHooxClient(gateway_url(edge), token) as c:
            assert (await c.kill_switch()).on is False

        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, KillSwitchScreen) and shown(app, "#reason"),
                    "kill switch dialog")
        await pilot.click("#reason")
        reason = app.screen.query_one("#reason", Input)
        await until(pilot, lambda: reason.has_focus, "the reason field has the focus")
        await pilot.press(*"exchange incident")
        await until(pilot, lambda: reason.value == "exchange incident", "the reason is typed")
        await pilot.click("#confirm")
        await until(pilot, lambda: ctx.store.status is not None and ctx.store.status.killSwitch.on, "switch on")
        async with AsyncHooxClient(gateway_url(edge), token) as c:
            ks = await c.kill_switch()
        assert ks.on is True and ks.reason == "exchange incident"
        async with httpx.AsyncClient() as c:  # and the gateway now refuses signals
            r = await c.post(gateway_url(edge) + "/webhook", json={"apiKey": edge.env(GW).WEBHOOK_API_KEY,
                                                           "action": "LONG", "symbol": "BTCUSDT", "quantity": 1})
        assert r.status_code == 503 and r.json()["error"]["code"] == "KILL_SWITCH_ACTIVE"
        await until(pilot, lambda: "kill switch ON" in str(app.screen.query_one(StatusBar).render()),
                    "the status bar shows the switch ON")

        await pilot.press("K")  # the dialog shows the current state and its reason
        await until(pilot, lambda: isinstance(app.screen, KillSwitchScreen) and shown(app, "#confirm"),
                    "kill switch dialog")
        text = str(app.screen.query_one("#state").render())
        assert "Kill switch is ON" in text and "exchange incident" in text
        await pilot.click("#confirm")
        await until(pilot, lambda: not ctx.store.status.killSwitch.on, "switch off")  # type: ignore[union-attr]
        async with AsyncHooxClient(gateway_url(edge), token) as c:
            assert (await c.kill_switch()).on is False


async def test_quit_asks_first(edge: LocalRuntime, workspace: Workspace) -> None:
    app = HooxApp(make_ctx(workspace, edge))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "quit asks first")
        assert "Quit the hoox cockpit?" in str(app.screen.query_one("#question").render())
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, ViewScreen), "the answer no closes the dialog")
        assert app.is_running
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "quit asks again")
        await pilot.press("y")
        await until(pilot, lambda: not app.is_running, "the answer yes ends the app")
    assert app.return_code == 0 and app.crash is None


# ------------------------------------------------------------------------------------------ reconnect
async def test_edge_away_goes_offline_and_back_connected_with_the_missed_fills(
        edge: LocalRuntime, workspace: Workspace) -> None:
    ctx = make_ctx(workspace, edge, refresh_seconds=0.2, backoff_base=0.05, backoff_cap=0.2, probe_seconds=0.3)
    store = ctx.store
    app = HooxApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f4")
        await until(pilot, lambda: store.state == Conn.CONNECTED and store.stream_connected,
                    "connected, stream open")
        first = (await signal(edge))["requestId"]
        await until(pilot, lambda: any(t.request_id == first and t.status == "Filled" for t in store.trades.values()),
                    "the first fill on screen")
        await pilot.press("f1")  # the dashboard polls no trades: missed fills can only come from the stream

        await edge.stop()
        await until(pilot, lambda: store.state == Conn.OFFLINE, "OFFLINE after 5 failures")
        bar = str(app.screen.query_one(StatusBar).render())
        assert "OFFLINE" in bar
        assert "stale — updated" in str(app.screen.query_one(TitleBar).render())
        assert app.screen.query_one(StatusBar).dot()[1] == "bold red"

        # the desk keeps trading while the cockpit cannot see it
        away = LocalRuntime(workspace)
        await away.start(serve_http=False)
        missed = []
        for qty in (0.002, 0.003):
            r = await away.request(GW, "POST", "/webhook", json={
                "apiKey": away.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG",
                "symbol": "BTCUSDT", "quantity": qty})
            missed.append(r.json()["requestId"])
        await away.stop()
        assert not any(t.request_id in missed for t in store.trades.values())

        back = LocalRuntime(workspace)
        await back.start(serve_http=True)
        try:
            app.action_refresh()  # Ctrl+R: reconnect now instead of at the next probe
            await until(pilot, lambda: store.state == Conn.CONNECTED, "CONNECTED again")
            await until(pilot, lambda: all(any(t.request_id == rid and t.status == "Filled"
                                               for t in store.trades.values()) for rid in missed),
                        "the fills made while away")
            await pilot.press("f4")
            missed_ids = [t.id for t in store.trades.values() if t.request_id in missed]
            await until(pilot, lambda: app.current_mode == "trades" and all(
                tid in app.screen.query_one("#feed", DataTable).rows for tid in missed_ids),
                "the missed fills are in the trade feed")
            table = app.screen.query_one("#feed", DataTable)
            rows = [table.get_row(t.id) for t in store.trades.values() if t.request_id in missed]
            assert sorted(str(r[5]) for r in rows) == ["0.002", "0.003"]  # the missed fills, on screen
            assert all(str(r[-1]) == "Filled" for r in rows)
            assert app.screen.query_one(StatusBar).dot()[1] == "bold green"
        finally:
            await back.stop()
