"""Snapshots (SVG, 120×40) of the cockpit's shell and its five live views, from fixture data with a
frozen clock. Update after a deliberate change with `pytest tests/test_tui_snapshots.py --snapshot-update`
and look at the SVGs under snapshots/ before committing them.

Before each screenshot the test waits until the screen shows what the snapshot is of (the view's
data delivered by the store's flush, the focus where it settles), never for a guessed time."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Log, Static

sys.path.insert(0, str(Path(__file__).parent))
from tui_support import WORKERS, by_size, fixture_ctx, frozen_clock, plain, shown, tables_settled, until

from hoox_tui.app import HooxApp
from hoox_tui.dialogs import KillSwitchScreen
from hoox_tui.views.logs import LogsView
from hoox_tui.views.workers import WorkerCard

Ready = Callable[[HooxApp], bool]


def text(app: HooxApp, selector: str) -> str:
    return plain(app.screen.query_one(selector, Static))


def dashboard_ready(app: HooxApp) -> bool:
    return (app.current_mode == "dashboard" and "trade-worker" in text(app, "#grid")
            and "PAPER" in text(app, "#figures") and "kill switch turned ON" in text(app, "#alert-lines")
            and "btc-trend" in text(app, "#watchdog") and "equity +11.34" in text(app, "#equity-note")
            and bool(app.screen.query_one("#equity-chart").display)
            and "ETHUSDT" in text(app, "#reconciliation-text"))


def workers_ready(app: HooxApp) -> bool:
    cards = list(app.screen.query(WorkerCard))
    return app.current_mode == "workers" and len(cards) == len(WORKERS) and app.focused is cards[0]


def worker_detail_ready(app: HooxApp) -> bool:
    return (app.current_mode == "worker-detail" and "uptime" in text(app, "#metrics-text")
            and "IdempotencyStore" in text(app, "#durable") and "CONFIG_KV" in text(app, "#bindings")
            and app.screen.query_one("#live-log", Log).line_count > 0
            and "p50" in text(app, "#latency-note") and bool(app.screen.query_one("#latency-chart").display)
            and "cpu 5m" in text(app, "#metrics-text")
            and (app.size.height < 50 or bool(app.screen.query_one("#load-chart").display)))


def worker_detail_ready_load(app: HooxApp) -> bool:
    return (app.current_mode == "worker-detail" and "memory" in text(app, "#metrics-text")
            and "req/min" in text(app, "#load-note") and bool(app.screen.query_one("#load-chart").display)
            and app.screen.query_one("#live-log", Log).line_count > 0)


def trades_ready(app: HooxApp) -> bool:
    return (app.current_mode == "trades" and app.screen.query_one("#feed", DataTable).row_count == 6
            and app.screen.query_one("#positions", DataTable).row_count == 1
            and "win rate" in text(app, "#winloss-text") and "SOLUSDT" in text(app, "#risk-text"))


def logs_searched(app: HooxApp) -> bool:
    view = app.views["logs"]
    assert isinstance(view, LogsView)
    wanted = sum(1 for r in app.ctx.store.logs if view.matches(r))
    return (app.screen.query_one("#search", Input).value == "sgnl 3" and view.query_text == "sgnl 3"
            and 0 < view.query_one("#stream", Log).line_count == wanted)


def kill_switch_ready(app: HooxApp) -> bool:
    screen = app.screen
    return (isinstance(screen, KillSwitchScreen) and "Kill switch is OFF" in text(app, "#state")
            and app.focused is screen.query_one("#reason"))  # typed at once, Enter confirms


def shot(*keys: str, ready: Ready, what: str, after: Callable[[Any], Awaitable[None]] | None = None) -> Any:
    async def run_before(pilot: Any) -> None:
        app = pilot.app
        await until(pilot, lambda: dashboard_ready(app), "the dashboard shows the fixture")
        await pilot.press(*keys)
        if after is not None:
            await after(pilot)
        await until(pilot, lambda: ready(app), what)
        await until(pilot, lambda: tables_settled(app), "the tables measured their rows")
        for inp in app.screen.query(Input):
            inp.cursor_blink = False
    return run_before


@pytest.fixture
def app() -> Any:
    with frozen_clock():
        yield HooxApp(fixture_ctx(), run_store=False)


@by_size
def test_shell_and_dashboard(snap_compare: Any, app: HooxApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=shot(ready=dashboard_ready, what="the dashboard"))


@by_size
def test_workers(snap_compare: Any, app: HooxApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size,
                        run_before=shot("f2", ready=workers_ready, what="nine worker cards, the first focused"))


@by_size
def test_worker_detail(snap_compare: Any, app: HooxApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size,
                        run_before=shot("f3", ready=worker_detail_ready, what="the detail of hoox"))


def test_worker_detail_load_chart(snap_compare: Any, app: HooxApp) -> None:
    """At the minimum size one chart fits: `g` shows the load chart (at 160×50 both are drawn)."""
    assert snap_compare(app, terminal_size=(100, 30),
                        run_before=shot("f3", "g", ready=worker_detail_ready_load, what="the load chart of hoox"))


@by_size
def test_trade_monitor(snap_compare: Any, app: HooxApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size,
                        run_before=shot("f4", ready=trades_ready, what="six trades, one position, the figures"))


@by_size
def test_logs_filtered_by_search(snap_compare: Any, app: HooxApp, size: tuple[int, int]) -> None:
    async def search(pilot: Any) -> None:
        await until(pilot, lambda: pilot.app.current_mode == "logs" and shown(pilot.app, "#search"),
                    "the logs view's search field")
        await pilot.click("#search")
        await until(pilot, lambda: pilot.app.screen.query_one("#search", Input).has_focus, "the search has focus")
        await pilot.press(*"sgnl 3")
    assert snap_compare(app, terminal_size=size,
                        run_before=shot("f5", after=search, ready=logs_searched, what="the log lines matching"))


def deployed_app() -> HooxApp:
    """The fixture as a deployed edge: Cloudflare's figures as the core reads them (five data centres,
    one with errors, one the IATA table does not have)."""
    from test_tui_usage import deployed_store

    from hoox_cli.core.cf_usage import CloudflareUsage, ColoUsage, ScriptUsage

    store = deployed_store()
    store.apply_cf_usage(CloudflareUsage(
        "2026-01-05T11:56:00.000Z", "2026-01-05T12:01:00.000Z", "5m",
        {"hoox": ScriptUsage("hoox", 130, 0, 1.1, 14.2), "trade-worker": ScriptUsage("trade-worker", 36, 2, 3.4, 9.8)},
        [ColoUsage("FRA", 70, 1), ColoUsage("SJC", 41, 0), ColoUsage("SIN", 30, 1), ColoUsage("GRU", 20, 0),
         ColoUsage("QQQ", 5, 0)]))
    return HooxApp(fixture_ctx(store), run_store=False)


def edge_map_ready(app: HooxApp) -> bool:
    from hoox_tui.edge_map import EdgeMap

    return (app.current_mode == "services" and "FRA" in text(app, "#edge-list")
            and "●" in app.screen.query_one("#edge-map", EdgeMap).render().plain and tables_settled(app))


@by_size
def test_service_manager_edge_map(snap_compare: Any, size: tuple[int, int]) -> None:
    with frozen_clock():
        assert snap_compare(deployed_app(), terminal_size=size,
                            run_before=shot("f6", ready=edge_map_ready, what="the Cloudflare data centres"))


@by_size
def test_workers_on_cloudflare(snap_compare: Any, size: tuple[int, int]) -> None:
    with frozen_clock():
        assert snap_compare(deployed_app(), terminal_size=size,
                            run_before=shot("f2", ready=workers_ready, what="the cards with Cloudflare's CPU"))


class IdleClient:
    """An edge client the store never calls (run_store=False): without any client, K only shows
    "no edge is configured" (a toast that goes after 5 s), not the dialog."""

    base_url = "http://127.0.0.1:8787"


@by_size
def test_kill_switch_dialog_over_the_shell(snap_compare: Any, size: tuple[int, int]) -> None:
    with frozen_clock():
        app = HooxApp(fixture_ctx(client=IdleClient()), run_store=False)
        assert snap_compare(app, terminal_size=size,
                            run_before=shot("K", ready=kill_switch_ready, what="the kill switch dialog"))


@pytest.mark.parametrize("no_color", [True, False])
async def test_the_cockpit_honours_no_color(no_color: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR (no-color.org) set by the user: the cockpit draws in shades of grey only; without it, in colour."""
    import re

    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    with frozen_clock():
        app = HooxApp(fixture_ctx(), run_store=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: dashboard_ready(app), "the dashboard shows the fixture")
            svg = app.export_screenshot()
    # the cells' backgrounds (<rect fill=...>) and text (CSS `fill: ...`), not the window's three buttons
    found = re.findall(r'<rect[^>]*fill="#([0-9a-fA-F]{6})"', svg) + re.findall(r"fill: #([0-9a-fA-F]{6})", svg)
    colours = {(int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)) for h in found}
    tinted = {c for c in colours if max(c) - min(c) > 8}  # not a grey
    assert colours and (not tinted if no_color else tinted)
