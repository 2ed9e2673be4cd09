"""Issue 11 item 6, the cockpit: the trade monitor's risk panel (stops, distances, next targets, the
drawdown gauge, the last run and its age, stale in amber), the dashboard's reconciliation issues, and
the `risk` stream event (the panel re-read at once; a run that acted or failed is an alert line and a
notification).

Against a real local edge (loopback, free ports, the fake clock): the risk manager's runs are fired
through the runtime's cron handler or agent-worker's /agent/run, and the cockpit re-reads /v1/risk
only on the stream's risk events (its polling set to an hour). With fixture data: the rendering of
every state the edge can answer (break-even and unseen positions, amber and tripped gauges, no limit,
an age past twice the interval, /v1/risk failing). Every wait is on a condition (`until`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from fake_exchanges import FakeExchange, FakePosition
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from hoox_edge.shared import settings
from order_support import paper_position
from rich.table import Table
from rich.text import Text
from test_risk_live import _start_fakes
from test_tui_orders import notes
from textual.widgets import Static
from tui_support import (
    NOW,
    cockpit_settings,  # noqa: F401  (autouse)
    fed_store,
    fixture_ctx,
    frozen_clock,
    make_ctx,
    plain,
    risk_json,
    sse,
    until,
)

from hoox_cli.core import models as m
from hoox_cli.core.client import HooxApiError
from hoox_tui.app import HooxApp
from hoox_tui.fmt import STALE_STYLE
from hoox_tui.views.dashboard import DashboardView
from hoox_tui.views.trades import TradesView

GW = "hoox"
AGENT = "agent-worker"
SIZE = (120, 40)


def squeeze(text: str) -> str:
    return " ".join(text.split())


def panel_lines(app: HooxApp, view: str, selector: str) -> list[str]:
    """The lines a panel shows, as wide as it is on screen (a cut cell would show as cut here)."""
    widget = app.views[view].query_one(selector, Static)
    return [squeeze(ln) for ln in plain(widget, width=widget.content_region.width).splitlines() if ln.strip()]


def risk_lines(app: HooxApp) -> list[str]:
    return panel_lines(app, "trades", "#risk-text")


def line_of(lines: list[str], needle: str) -> str:
    found = [ln for ln in lines if needle in ln]
    assert len(found) == 1, f"{needle!r} in {lines}"
    return found[0]


def trades_view(app: HooxApp) -> TradesView:
    view = app.views["trades"]
    assert isinstance(view, TradesView)
    return view


# ========================================================================== fixture data
async def test_the_panel_shows_each_positions_stop_distance_next_target_and_a_gauge_per_book() -> None:
    with frozen_clock():
        app = HooxApp(fixture_ctx(), run_store=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f4")
            await until(pilot, lambda: "trades" in app.views and any("SOLUSDT" in ln for ln in risk_lines(app)),
                        "the risk panel filled")
            lines = risk_lines(app)
            assert lines[0] == "last run #41 2m 30s ago (cron, ok): 2 seen, 0 actions, 0 errors"
            assert line_of(lines, "BTCUSDT") == "bybit BTCUSDT LONG 58,653.00 trailing 2% 2.00% #1 61,210.20 0/2"
            assert line_of(lines, "ETHUSDT") == "LIVE binance ETHUSDT SHORT 3,001.50 break-even 1.75% #2 2,850.00 1/2"
            # no run has seen it: no stop, no distance — said, not invented
            assert line_of(lines, "SOLUSDT") == "bybit SOLUSDT LONG not seen yet — — #1 142.80 0/2"
            # 1.2 % of 5 % is 24 % of the gauge (5 of 20 cells); 4.2 % is 84 % (17 cells, amber)
            assert line_of(lines, "paper bybit") == "drawdown paper bybit █████░░░░░░░░░░░░░░░ 1.20% of 5.00%"
            assert line_of(lines, "live binance") == "drawdown live binance █████████████████░░░ 4.20% of 5.00%"
            view = trades_view(app)
            assert view.query_one("#risk").border_subtitle == (
                "prices sampled every 5 min: a wick between runs is not seen")
            assert view.render_risk_run().style == ""  # fresh: not amber
            gauges = view.render_drawdowns(m.RiskStatus.model_validate(risk_json()))
            assert isinstance(gauges, Table)
            bars = gauges.columns[1]._cells
            assert [b.spans[0].style for b in bars] == ["green", "yellow"]


def test_a_tripped_gauge_is_red_and_a_limit_of_zero_shows_off() -> None:
    base = risk_json()
    tripped = base["drawdowns"][1] | {"drawdownPercent": 6.5, "trippedAt": "2026-01-05T11:58:31.000Z"}
    gauges = TradesView.render_drawdowns(m.RiskStatus.model_validate(base | {"drawdowns": [tripped]}))
    assert isinstance(gauges, Table)
    [bar], [figures] = gauges.columns[1]._cells, gauges.columns[2]._cells
    assert isinstance(bar, Text) and isinstance(figures, Text)
    assert str(bar) == "█" * 20 and bar.spans[0].style == "bold red"  # past the limit: a full red bar
    assert str(figures) == "6.50% of 5.00% TRIPPED 11:58:31" and figures.style == "bold red"

    off = [d | {"limitPercent": 0.0} for d in base["drawdowns"]]
    settings_off = base["settings"] | {"maxDailyDrawdownPercent": 0.0}
    gauges = TradesView.render_drawdowns(m.RiskStatus.model_validate(base | {"drawdowns": off,
                                                                            "settings": settings_off}))
    assert isinstance(gauges, Table)
    assert [str(c).strip() for c in gauges.columns[1]._cells] == ["off", "off"]
    assert [str(c) for c in gauges.columns[2]._cells] == ["1.20% today, no limit set", "4.20% today, no limit set"]

    none_today = TradesView.render_drawdowns(m.RiskStatus.model_validate(base | {"drawdowns": []}))
    assert str(none_today) == "daily drawdown: not measured today yet (limit 5.00%)"


async def test_the_last_run_is_amber_when_none_ran_or_it_is_older_than_twice_the_interval() -> None:
    store = fed_store()
    store.apply_risk(m.RiskStatus.model_validate(risk_json(lastRun=None, stale=True, drawdowns=[])))
    with frozen_clock():
        app = HooxApp(fixture_ctx(store), run_store=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f4")
            await until(pilot, lambda: "trades" in app.views and any("STALE" in ln for ln in risk_lines(app)),
                        "the panel says no run happened")
            line = trades_view(app).render_risk_run()
            assert str(line) == "STALE — no risk run yet: no stop is watched (a run every 5 min)"
            assert line.style == STALE_STYLE

    # The edge said fresh (8m 20s, under 10 min), but no answer came for 2 min since: 10m 20s is stale.
    store = fed_store()
    run = risk_json()["lastRun"] | {"ageSeconds": 500.0}
    with frozen_clock():
        store.apply_risk(m.RiskStatus.model_validate(risk_json(lastRun=run)))
    with frozen_clock(NOW + 120):
        app = HooxApp(fixture_ctx(store), run_store=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f4")
            await until(pilot, lambda: "trades" in app.views and any("#41" in ln for ln in risk_lines(app)),
                        "the panel filled")
            line = trades_view(app).render_risk_run()
            assert str(line).startswith("STALE — last run #41 10m 20s ago") and line.style == STALE_STYLE


class FailingRisk:
    """An edge whose /v1/risk answers an error (the rest of the poll does not matter here)."""

    base_url = "http://127.0.0.1:9"

    def __init__(self) -> None:
        from tui_support import status_json

        self._status = m.StatusResult.model_validate(status_json())

    async def status(self) -> m.StatusResult:
        return self._status

    def __getattr__(self, name: str) -> Any:
        async def failing(*_: Any, **__: Any) -> Any:
            raise HooxApiError(500, "INTERNAL_ERROR", f"{name} failed on the edge")
        return failing


async def test_when_v1_risk_fails_the_panels_show_the_error_and_no_older_figures() -> None:
    client = FailingRisk()
    with frozen_clock():
        app = HooxApp(fixture_ctx(fed_store(client), client=client), run_store=False)
        async with app.run_test(size=SIZE) as pilot:
            store = app.ctx.store
            await until(pilot, lambda: "dashboard" in app.views and any(
                "ETHUSDT" in ln for ln in panel_lines(app, "dashboard", "#reconciliation-text")),
                "the fixture's issue shown")
            store.active_topics = frozenset({"risk"})
            await store.poll()
            assert store.risk is not None and store.errors["risk"] == "INTERNAL_ERROR (500): risk failed on the edge"
            await until(pilot, lambda: panel_lines(app, "dashboard", "#reconciliation-text") == [
                "reconciliation not available: INTERNAL_ERROR (500): risk failed on the edge"], "the dashboard says so")
            dash = app.views["dashboard"]
            assert isinstance(dash, DashboardView) and "unknown" in dash.reconciliation_title()
            await pilot.press("f4")
            await until(pilot, lambda: "trades" in app.views and risk_lines(app) == [
                "risk status not available: INTERNAL_ERROR (500): risk failed on the edge"],
                "the trade monitor says so")


async def test_a_risk_run_that_acted_or_failed_is_an_alert_line_and_a_notification_a_quiet_one_is_not() -> None:
    with frozen_clock():
        app = HooxApp(fixture_ctx(), run_store=False)
        async with app.run_test(size=SIZE) as pilot:
            store = app.ctx.store
            await until(pilot, lambda: "dashboard" in app.views, "the dashboard")
            before = len(store.alerts)
            store.ingest(sse(500, {"type": "risk", "runId": 42, "trigger": "cron", "status": "ok", "actions": 0,
                                   "errors": 0, "positionsSeen": 3, "createdAt": "2026-01-05T12:00:50.000Z"}))
            assert len(store.alerts) == before and not notes(app)  # a quiet run is no news
            store.ingest(sse(501, {"type": "risk", "runId": 43, "trigger": "cron", "status": "error", "actions": 1,
                                   "errors": 1, "positionsSeen": 3, "createdAt": "2026-01-05T12:00:55.000Z",
                                   "reconciliation": {"openIssues": 2, "opened": 1, "cleared": 0}}))
            await until(pilot, lambda: any(n.startswith("Risk run #43") for n in notes(app)), "the notification")
            [toast] = [n for n in app._notifications if n.title == "Risk run #43"]
            assert toast.severity == "error" and toast.message.startswith(
                "1 action, 1 error, 3 positions seen; 1 new reconciliation issue")
            # the same failure again: a line, no second notification; after a clean run, a new failure is news
            for event_id, run_id, errors in ((502, 44, 1), (503, 45, 0), (504, 46, 2)):
                store.ingest(sse(event_id, {"type": "risk", "runId": run_id, "trigger": "cron", "actions": 0,
                                            "errors": errors, "positionsSeen": 3,
                                            "createdAt": f"2026-01-05T12:00:5{event_id - 496}.000Z"}))
            await until(pilot, lambda: any(n.startswith("Risk run #46") for n in notes(app)), "the new failure told")
            assert not any(n.startswith(("Risk run #44", "Risk run #45")) for n in notes(app))
            assert [a.message.split(":")[0] for a in store.alerts if a.id < 0] == [
                "risk run #43 (cron)", "risk run #44 (cron)", "risk run #46 (cron)"]
            console = app.views["dashboard"].query_one("#alert-lines", Static)
            await until(pilot, lambda: "#46" in plain(console, width=300), "the alert lines")
            lines = [squeeze(ln) for ln in plain(console, width=300).splitlines()]
            assert [ln.split(":")[3] for ln in lines[:2]] == [" risk run #46 (cron)", " risk run #44 (cron)"]
            assert lines[2] == ("12:00:55 ERROR agent-worker: risk run #43 (cron): 1 action, 1 error, 3 positions "
                                "seen; 1 new reconciliation issue")  # the newest first: #46, #44, #43


# ========================================================================== a real edge
@pytest.fixture(autouse=True)
def _fixed_time(clock: Any) -> Any:
    """The fake clock: the runtime's own cron fires nothing unless a test moves time."""
    return clock


async def kv(rt: LocalRuntime, key: str, value: Any) -> None:
    await settings.put(rt.env(GW).CONFIG_KV, key, value)


async def agent_run(rt: LocalRuntime) -> dict[str, Any]:
    r = await rt.request(AGENT, "POST", "/agent/run", json={},
                         headers={"X-Internal-Auth-Key": rt.env(AGENT).INTERNAL_KEY_BINDING})
    assert r.status == 200, r.json()
    return dict(r.json()["result"])


async def test_the_panel_follows_the_risk_managers_runs_on_a_real_edge(edge: LocalRuntime, workspace: Workspace,
                                                                       clock: Any) -> None:
    await kv(edge, "trade:trailing_stop_percent", 2)
    await kv(edge, "trade:take_profit_targets", [
        {"profit_percent": 3, "close_fraction": 0.5, "move_stop_to_break_even": True},
        {"profit_percent": 6, "close_fraction": 0.5}])
    await kv(edge, "trade:max_daily_drawdown_percent", 5)
    await kv(edge, "exchanges:paper:price:BTCUSDT", 60000)
    await paper_position(edge)  # bybit BTCUSDT LONG 0.01
    # Polling once an hour: after the first read, only a risk event can bring new figures.
    ctx = make_ctx(workspace, edge, refresh_seconds=3600)
    store = ctx.store
    app = HooxApp(ctx)
    async with app.run_test(size=(100, 30)) as pilot:  # the smallest cockpit: nothing may be cut
        await pilot.press("f4")
        await until(pilot, lambda: store.stream_connected and "risk" in store.updated_at and "trades" in app.views
                    and any("STALE" in ln for ln in risk_lines(app)), "the panel read, the stream up")
        assert store.risk is not None
        [pos] = store.risk.positions
        target = f"{pos.entryPrice * 1.03:,.2f}"
        lines = risk_lines(app)
        assert lines[0] == "STALE — no risk run yet: no stop is watched (a run every 5 min)"
        assert trades_view(app).render_risk_run().style == STALE_STYLE
        assert line_of(lines, "BTCUSDT") == f"bybit BTCUSDT LONG not seen yet — — #1 {target} 0/2"
        assert "daily drawdown: not measured today yet (limit 5.00%)" in lines

        await edge.run_cron(AGENT)  # the runtime's cron handler: due, as no run happened yet
        await until(pilot, lambda: risk_lines(app)[0].startswith("last run #1"), "the run's event re-read the panel")
        lines = risk_lines(app)
        assert lines[0] == "last run #1 0m 0s ago (cron, ok): 1 seen, 0 actions, 0 errors"
        assert trades_view(app).render_risk_run().style == ""
        # the edge's figures: watermark 60000, stop 60000 × 0.98, distance (60000 − 58800) / 60000
        assert line_of(lines, "BTCUSDT") == f"bybit BTCUSDT LONG 58,800.00 trailing 2% 2.00% #1 {target} 0/2"
        assert line_of(lines, "paper bybit") == "drawdown paper bybit ░░░░░░░░░░░░░░░░░░░░ 0.00% of 5.00%"
        [dd] = store.risk.drawdowns
        assert (dd.mode, dd.exchange, dd.limitPercent, dd.trippedAt) == ("paper", "bybit", 5, None)

        # The pullback: the next run (the runtime's cron, or ours) closes the position on its stop.
        await kv(edge, "exchanges:paper:price:BTCUSDT", 58700)
        clock.advance(5 * 60)
        await edge.run_cron(AGENT)
        await until(pilot, lambda: any("Risk run #2" in n for n in notes(app)), "the run's notification")
        # the close's trade event may re-read the panel while run #2 still runs: wait for its finished figures
        await until(pilot, lambda: risk_lines(app)[0] == "last run #2 0m 0s ago (cron, ok): 1 seen, 1 action, 0 errors",
                    "the finished run re-read")
        assert "no open position (paper and live books)" in risk_lines(app)
        line = next(a for a in store.alerts if a.message.startswith("risk run #2"))
        assert (line.level, line.source, line.message) == (
            "warning", "agent-worker", "risk run #2 (cron): 1 action, 0 errors, 1 position seen")
        assert app.views["trades"].error is None and app.crash is None


@pytest.fixture
async def edge_fakes(edge: LocalRuntime) -> AsyncIterator[dict[str, FakeExchange]]:
    async for f in _start_fakes(edge):
        yield f


async def test_a_reconciliation_issue_shows_on_the_dashboard_until_it_clears(
        edge: LocalRuntime, workspace: Workspace, edge_fakes: dict[str, FakeExchange]) -> None:
    body = {"apiKey": edge.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT",
            "quantity": 0.01}
    r = await edge.request(GW, "POST", "/webhook", json=body)
    assert r.status == 200 and r.json()["result"]["mode"] == "live", r.json()
    assert (await agent_run(edge))["reconciliation"]["openIssues"] == 0
    ctx = make_ctx(workspace, edge, refresh_seconds=3600)
    store = ctx.store
    app = HooxApp(ctx)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: store.stream_connected and "dashboard" in app.views and panel_lines(
            app, "dashboard", "#reconciliation-text") == [
            "none open — each risk run checks the live book against the exchanges"], "the empty state")
        dash = app.views["dashboard"]
        assert isinstance(dash, DashboardView) and dash.reconciliation_title().endswith("[green]none open[/]")

        bybit = edge_fakes["bybit"]
        bybit.positions["BTCUSDT"] = FakePosition(size=Decimal("0.03"), entry=Decimal("60000"))  # behind our back
        assert (await agent_run(edge))["reconciliation"]["openIssues"] == 1
        await until(pilot, lambda: any("BTCUSDT" in ln for ln in panel_lines(app, "dashboard", "#reconciliation-text")),
                    "the issue shown, on the run's event")
        [issue] = store.risk.reconciliation.openIssues if store.risk else []
        header, row = panel_lines(app, "dashboard", "#reconciliation-text")
        assert header == "exchange symbol issue ledger at exchange since"
        assert row == f"bybit BTCUSDT size differs LONG 0.01 LONG 0.03 {issue.firstSeenAt[11:19]} (0m 0s)"
        assert dash.reconciliation_title().endswith("[b white on red] 1 OPEN [/]")

        bybit.positions["BTCUSDT"].size = Decimal("0.01")  # put right at the exchange
        assert (await agent_run(edge))["reconciliation"]["openIssues"] == 0
        await until(pilot, lambda: panel_lines(app, "dashboard", "#reconciliation-text") == [
            "none open — each risk run checks the live book against the exchanges"], "cleared")
        assert app.crash is None
