"""Cockpit behaviour without an edge: error boundaries, store buffers and connection states,
settings, themes, the crash report, and import hygiene."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
from rich.table import Table
from textual.app import ComposeResult
from textual.widgets import Button, Static, TextArea

from hoox_cli.core import models as m
from hoox_cli.core.client import HooxConnectionError
from hoox_cli.core.redact import remember_secrets
from hoox_tui.app import HooxApp
from hoox_tui.crash import write_crash_report
from hoox_tui.dialogs import ConfirmScreen
from hoox_tui.settings import UserSettings
from hoox_tui.store import ALERTS_MAX, LOGS_MAX, STORE_TOPICS, TRADES_MAX, Conn, Store
from hoox_tui.themes import load_themes
from hoox_tui.views.base import ErrorPanel, View
from hoox_tui.views.dashboard import DashboardView
from hoox_tui.views.logs import fuzzy_match
from hoox_tui.views.trades import FigureGrid, TradesView
from hoox_tui.widgets import StatusBar

sys.path.insert(0, str(Path(__file__).parent))
from tui_support import (
    DEADLINE,
    fed_store,
    fixture_ctx,
    frozen_clock,
    plain,
    positions_json,
    risk_json,
    sse,
    stats_json,
    status_json,
    trade_json,
    until,
    worker_json,
)


# ------------------------------------------------------------------------------------------ boundaries
class FlakyTrades(TradesView):
    broken = True

    async def on_data(self, topics: frozenset[str]) -> None:
        if FlakyTrades.broken:
            raise RuntimeError("feed exploded; Authorization: Bearer sekrit-token-123")
        await super().on_data(topics)


class ButtonView(View):
    """A view whose handler raises: no explicit guard, the boundary wraps every handler a view defines."""

    view_id = "logs"
    poll_topics: ClassVar[frozenset[str]] = frozenset()

    def compose(self) -> ComposeResult:
        yield Button("explode", id="explode")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        raise ValueError("handler failed")


async def test_a_failing_view_shows_its_error_panel_and_the_rest_keeps_working(monkeypatch: Any) -> None:
    FlakyTrades.broken = True
    with frozen_clock():
        ctx = fixture_ctx()
        app = HooxApp(ctx, run_store=False, view_factories={"trades": FlakyTrades, "logs": ButtonView})
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f4")
            # the error is recorded at once; the panel shows it once mounted with its content
            await until(pilot, lambda: "trades" in app.views and app.views["trades"].error_text() is not None,
                        "the trades view shows its error panel")
            trades = app.views["trades"]
            assert isinstance(trades.error, RuntimeError)
            panel_text = trades.error_text() or ""
            assert "feed exploded" in panel_text and "sekrit-token-123" not in panel_text
            assert len(app.screen.query(ErrorPanel)) == 1 and not trades.display

            await pilot.press("f1")  # another view, the sidebar and the status bar still work
            await until(pilot, lambda: app.current_mode == "dashboard" and "dashboard" in app.views
                        and "trade-worker" in plain(app.views["dashboard"].query_one("#grid", Static)),
                        "the dashboard shows the workers")
            dash = app.views["dashboard"]
            assert dash.error is None
            ctx.store.ingest(sse(500, {"type": "alert", "alertId": 9, "level": "error", "source": "hoox",
                                       "message": "still alive", "createdAt": "2026-01-05T12:00:59.000Z"}))
            await until(pilot, lambda: "still alive" in plain(dash.query_one("#alert-lines", Static)),
                        "the alert reaches the dashboard")
            assert "CONNECTED" in str(app.screen.query_one(StatusBar).render())

            await pilot.press("f5")  # a raw widget handler raising is contained too
            await until(pilot, lambda: app.current_mode == "logs" and app.screen.query_one("#explode").region,
                        "the logs view shows its button")
            await pilot.click("#explode")
            await until(pilot, lambda: isinstance(app.views["logs"].error, ValueError)
                        and app.views["logs"].error_text() is not None, "the logs view shows its error panel")
            assert app.is_running
            logs = app.views["logs"]
            await until(pilot, lambda: app.focused is logs.error_panel and not logs.display,
                        "the logs panel focused in the view's place")
            await pilot.press("r")
            await until(pilot, lambda: app.views["logs"] is not logs and app.views["logs"].is_mounted
                        and not app.screen.query(ErrorPanel), "Retry builds a fresh logs view")
            assert app.screen.query_one("#explode", Button).parent is app.views["logs"]

            FlakyTrades.broken = False  # the cause went away: Retry brings the view back
            await pilot.press("f4")
            await until(pilot, lambda: app.current_mode == "trades" and app.focused is trades.error_panel,
                        "back on the trades view, its error panel focused")
            await pilot.press("r")
            await until(pilot, lambda: app.views["trades"] is not trades, "Retry builds a fresh view")
            fresh = app.views["trades"]
            assert fresh is not trades and fresh.error is None and not app.screen.query(ErrorPanel)
            assert fresh.query_one("#feed").row_count == 6  # type: ignore[attr-defined]
        assert app.crash is None


async def test_the_error_panel_takes_the_views_place_only_once_it_is_complete() -> None:
    # Mounting registers the panel at once but composes its children on the panel's own task:
    # until then neither the user nor error_text() may see a panel without its text.
    with frozen_clock():
        app = HooxApp(fixture_ctx(), run_store=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: "dashboard" in app.views and app.views["dashboard"].is_mounted,
                        "the dashboard is mounted")
            dash = app.views["dashboard"]
            dash.show_error(RuntimeError("boom"))
            registered = list(app.screen.query(ErrorPanel))  # nothing has run since: not composed yet
            assert len(registered) == 1 and not registered[0].display and not registered[0].children
            assert dash.display and dash.error_panel is None and dash.error_text() is None
            await until(pilot, lambda: dash.error_panel is not None, "the error panel is mounted")
            panel = dash.error_panel
            assert panel is registered[0] and panel.display and not dash.display
            assert "RuntimeError: boom" in (dash.error_text() or "")
            await until(pilot, lambda: app.focused is panel, "the error panel has the focus (r retries)")


class ExplodingDialog(ConfirmScreen):
    """A dialog whose handler raises: dialogs are outside every view, so that is a crash."""

    def on_mount(self) -> None:
        raise IndexError("dialog")


async def test_an_error_outside_any_view_ends_the_app_for_the_crash_screen(monkeypatch: Any) -> None:
    # An app timer's callback raising (the status-bar tick), a worker of the app failing, a dialog's
    # handler raising: each ends the app through App.exit(return_code=1), with `crash` set for the
    # launcher's crash screen (and no Textual traceback, which would print local variables).
    def explode() -> None:
        raise KeyError("app-level")

    async def fail() -> None:
        raise LookupError("app worker")

    expected = {"timer": KeyError, "worker": LookupError, "dialog": IndexError}
    for start, error in expected.items():
        with frozen_clock():
            app = HooxApp(fixture_ctx(), run_store=False)
            if start == "timer":
                monkeypatch.setattr(app, "_refresh_frame", explode)
            async with app.run_test(size=(120, 40)) as pilot:
                if start == "worker":
                    app.run_worker(fail(), exit_on_error=False)
                elif start == "dialog":
                    app.push_screen(ExplodingDialog("Sure?"))
                loop = asyncio.get_running_loop()
                end = loop.time() + DEADLINE
                while app.is_running and loop.time() < end:
                    await pilot.pause(0.02)
                assert not app.is_running
        assert isinstance(app.crash, error) and app.return_code == 1, start


async def test_quitting_while_the_timers_tick_is_not_a_crash() -> None:
    # Quitting prunes the screens while the app's flush and tick timers still run: a tick that
    # meets a screen without its status bar, or a view without its children, must let them be.
    with frozen_clock():
        ctx = fixture_ctx()
        store = ctx.store
        flushes = 0
        real_take = store.take_changes

        def counting_take() -> frozenset[str]:
            nonlocal flushes
            flushes += 1
            return real_take()

        store.take_changes = counting_take  # type: ignore[method-assign]
        held: list[int] = []

        class LingeringDashboard(DashboardView):
            async def on_unmount(self) -> None:
                # Its children are pruned by now; hold the teardown open until the status bar is
                # gone too and the flush timer has run twice with changes to hand out.
                start = flushes
                store.mark(*STORE_TOPICS)
                loop = asyncio.get_running_loop()
                end = loop.time() + DEADLINE
                while (self.app.screen.query(StatusBar) or flushes < start + 2) and loop.time() < end:
                    await asyncio.sleep(0.01)
                held.append(flushes - start)

        app = HooxApp(ctx, run_store=False, view_factories={"dashboard": LingeringDashboard})
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: "dashboard" in app.views
                        and "trade-worker" in plain(app.views["dashboard"].query_one("#grid", Static)),
                        "the dashboard shows the workers")
    assert len(held) == 1 and held[0] >= 2, held  # the timers did tick during the teardown
    assert app.crash is None and app.views["dashboard"].error is None


def test_crash_report_has_the_traceback_without_locals_and_redacted(tmp_path: Path) -> None:
    remember_secrets(["op-token-abcdef123"])
    secret_local = "op-token-abcdef123"  # noqa: F841 — a local that must not be written

    try:
        raise RuntimeError("failed calling edge with op-token-abcdef123")
    except RuntimeError as exc:
        path = write_crash_report(exc, tmp_path / "logs")
    text = path.read_text()
    assert path.name == "crash-report.log" and "RuntimeError" in text and "test_tui_views.py" in text
    assert "op-token-abcdef123" not in text and "secret_local" not in text


# ------------------------------------------------------------------------------------------ store
def test_ring_buffers_stay_bounded_and_a_status_change_updates_a_trade() -> None:
    store = Store(None)
    for i in range(1, TRADES_MAX + 50):
        store.ingest(sse(i, {"type": "trade", "tradeId": f"t{i}", "symbol": "BTCUSDT", "status": "Filled"}))
    n = TRADES_MAX + 50
    for i in range(n, n + LOGS_MAX + 10):
        store.ingest(sse(i, {"type": "log", "logId": i, "level": "info", "worker": "hoox", "message": "m"}))
    for i in range(n + LOGS_MAX + 10, n + LOGS_MAX + 10 + ALERTS_MAX + 5):
        store.ingest(sse(i, {"type": "alert", "alertId": i, "level": "warning", "source": "x", "message": "a"}))
    assert len(store.trades) == TRADES_MAX and "t1" not in store.trades and f"t{TRADES_MAX + 49}" in store.trades
    assert len(store.logs) == LOGS_MAX and len(store._log_ids) == LOGS_MAX
    assert len(store.alerts) == ALERTS_MAX
    store.ingest(sse(10**6, {"type": "trade", "tradeId": "t100", "status": "Rejected"}))
    assert list(store.trades)[-1] == "t100" and store.trades["t100"].status == "Rejected"
    assert store.last_event_id == 10**6


class DownClient:
    """An edge that is away: every call is refused."""

    calls = 0

    async def status(self) -> Any:
        DownClient.calls += 1
        raise HooxConnectionError("refused", url="http://127.0.0.1:1")


def test_failures_back_off_then_go_offline_and_probe() -> None:
    store = Store(DownClient(), backoff_base=1.0, backoff_cap=30.0, rand=lambda: 0.0)  # type: ignore[arg-type]
    waits = [store._failed("refused") for _ in range(6)]
    assert waits[:4] == [1.0, 2.0, 4.0, 8.0] and store.state == Conn.OFFLINE
    assert waits[4:] == [30.0, 30.0]
    store.live_stream = False
    store._connected()
    assert store.state == Conn.CONNECTED and store.failures == 0


async def test_the_store_loop_survives_an_edge_that_is_away() -> None:
    store = Store(DownClient(), backoff_base=0.01, backoff_cap=0.02, probe_seconds=0.02,  # type: ignore[arg-type]
                  live_stream=False)
    DownClient.calls = 0
    task = asyncio.create_task(store.run())
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE  # a deadline, not a count of sleeps: a loaded machine is slower
    while not (store.state == Conn.OFFLINE and DownClient.calls >= 7) and not task.done():
        assert loop.time() < end, f"still {store.state} after {DownClient.calls} calls"
        await asyncio.sleep(0.01)  # polls the condition; the store's own timers move it
    assert store.state == Conn.OFFLINE and not task.done()  # 5 failures, then probing goes on
    task.cancel()


class RecordingClient:
    """An edge that answers with the fixture and records which routes the store asked for."""

    base_url = "http://edge.test"

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def status(self) -> m.StatusResult:
        self.calls.append("status")
        return m.StatusResult.model_validate(status_json())

    async def workers(self) -> m.WorkersResult:
        self.calls.append("workers")
        return m.WorkersResult.model_validate({"items": [worker_json("hoox", 0)], "nextCursor": None})

    async def trades(self, limit: int) -> m.TradesPage:
        self.calls.append("trades")
        return m.TradesPage.model_validate({"items": [trade_json(1)], "nextCursor": None})

    async def positions(self, mode: str | None = None) -> m.PositionsResult:
        self.calls.append("positions")
        return m.PositionsResult.model_validate(positions_json())

    async def stats(self, mode: str | None = None) -> m.StatsResult:
        self.calls.append("stats")
        return m.StatsResult.model_validate(stats_json())

    async def orders(self) -> m.OrdersResult:
        self.calls.append("orders")
        return m.OrdersResult.model_validate({"items": [], "nextCursor": None})

    async def risk(self) -> m.RiskStatus:
        self.calls.append("risk")
        return m.RiskStatus.model_validate(risk_json())


async def test_only_the_visible_view_is_polled() -> None:
    with frozen_clock():
        client = RecordingClient()
        ctx = fixture_ctx(client=client)
        ctx.store._loaded_history = True  # the history is fetched once, on the first round
        app = HooxApp(ctx, run_store=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f4")
            await until(pilot, lambda: app.current_mode == "trades" and "trades" in ctx.store.active_topics,
                        "the trade monitor is the visible view")
            await ctx.store.poll()
            assert client.calls == ["status", "trades", "positions", "stats", "orders", "risk"]
            client.calls.clear()
            await pilot.press("f2")  # the trade monitor is hidden now: its routes are not asked for
            await until(pilot, lambda: app.current_mode == "workers" and "workers" in ctx.store.active_topics,
                        "the workers view is the visible view")
            await ctx.store.poll()
            assert client.calls == ["status", "workers"]


def test_fuzzy_search_matches_subsequences_of_every_word() -> None:
    assert fuzzy_match("sgnl btc", "signal 3 processed for BTCUSDT")
    assert not fuzzy_match("sgnl eth", "signal 3 processed for BTCUSDT")


# ------------------------------------------------------------------------------------------ settings, themes
def test_settings_round_trip_and_a_bad_file_falls_back_with_problems(tmp_path: Path) -> None:
    path = tmp_path / "cockpit.toml"
    UserSettings(theme="hoox-light", refresh_seconds=2.5, keymap={"quit": "ctrl+x"}).save(path)
    s = UserSettings.load(path)
    assert (s.theme, s.refresh_seconds, s.keymap, s.problems) == ("hoox-light", 2.5, {"quit": "ctrl+x"}, [])
    path.write_text('theme = 3\nrefresh_seconds = "fast"\n')
    s = UserSettings.load(path)
    assert s.theme == "hoox-dark" and s.refresh_seconds == 5.0
    assert any("'theme'" in p for p in s.problems) and any("'refresh_seconds'" in p for p in s.problems)
    path.write_text("not = [toml")
    assert UserSettings.load(path).problems


def test_shipped_themes_load_and_a_bad_theme_names_file_and_field(tmp_path: Path) -> None:
    themes, problems = load_themes()
    assert {"hoox-dark", "hoox-light", "hoox-high-contrast"} <= {t.name for t in themes} and problems == []
    (tmp_path / "ok.toml").write_text('name = "mine"\n[colors]\nprimary = "#112233"\n')
    (tmp_path / "bad.toml").write_text('name = "oops"\n[colors]\nprimary = "#112233"\nsurface = "blurple"\n')
    themes, problems = load_themes(tmp_path)
    assert [t.name for t in themes] == ["mine"]
    assert problems == ["theme bad.toml: field 'colors.surface' = 'blurple' is not a colour"]


async def test_theme_switch_at_runtime_is_persisted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hoox_tui.settings.config_path", lambda: tmp_path / "cockpit.toml")
    with frozen_clock():
        ctx = fixture_ctx()
        app = HooxApp(ctx, run_store=False)
        async with app.run_test(size=(120, 40)) as pilot:
            assert app.theme == "hoox-dark"
            app.action_theme("hoox-high-contrast")
            await until(pilot, lambda: app.current_theme.name == "hoox-high-contrast", "the theme is switched")
    assert UserSettings.load(tmp_path / "cockpit.toml").theme == "hoox-high-contrast"


async def test_user_keymap_remaps_a_binding_by_id() -> None:
    with frozen_clock():
        ctx = fixture_ctx()
        ctx.settings.keymap = {"view.trades": "f12"}
        app = HooxApp(ctx, run_store=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f12")
            await until(pilot, lambda: app.current_mode == "trades", "f12 opens the trade monitor")
            await pilot.press("f2", "ctrl+b")
            await until(pilot, lambda: app.current_mode == "workers" and not app.screen.query_one("#sidebar").display,
                        "f2 opens workers and ctrl+b hides the sidebar")


class EditorView(View):
    view_id = "config"
    title = "Editor"

    def compose(self) -> ComposeResult:
        yield TextArea("x = 1", id="editor")


async def test_view_keys_switch_views_even_from_a_focused_text_editor() -> None:
    # TextArea binds F6 and F7 itself; the cockpit's view keys must still win.
    with frozen_clock():
        app = HooxApp(fixture_ctx(), run_store=False, view_factories={"config": EditorView})
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f7")
            await until(pilot, lambda: app.current_mode == "config", "f7 opens the editor view")
            editor = app.screen.query_one("#editor", TextArea)
            editor.focus()
            await until(pilot, lambda: editor.has_focus, "the editor has focus")
            await pilot.press("f6")
            await until(pilot, lambda: app.current_mode == "services", "f6 switches views from the editor")


async def test_palette_lists_views_actions_signal_kill_switch_and_themes() -> None:
    with frozen_clock():
        app = HooxApp(fixture_ctx(), run_store=False)
        async with app.run_test(size=(120, 40)):
            titles = [c.title for c in app.get_system_commands(app.screen)]
    for want in ("View: Dashboard", "View: Settings", "Refresh and reconnect now", "Toggle sidebar",
                 "Kill switch: turn ON (halt trading)", "Kill switch: turn off (resume trading)",
                 "Send a test signal (paper)", "Assistant: ask about the desk", "Theme: hoox-light", "Quit"):
        assert want in titles


async def test_dashboard_shows_paper_mode_and_figures_from_the_store() -> None:
    with frozen_clock():
        app = HooxApp(fixture_ctx(), run_store=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: "dashboard" in app.views
                        and "PAPER" in plain(app.views["dashboard"].query_one("#figures", Static)),
                        "the dashboard shows the session figures")
            dash = app.views["dashboard"]
            assert isinstance(dash, DashboardView)
            figures = plain(dash.query_one("#figures", Static))
            assert "+11.34" in figures and "66.7%" in figures


async def test_the_services_grid_keeps_its_figures_at_100_columns() -> None:
    with frozen_clock():
        ctx = fixture_ctx()
        st = ctx.store.status
        assert st is not None  # a partial worker has the longest status label
        st.workers = [w.model_copy(update={"status": "online", "features": "partial", "error": None})
                      if w.name == "agent-worker" else w for w in st.workers]
        app = HooxApp(ctx, run_store=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: "dashboard" in app.views
                        and "agent-worker" in plain(app.views["dashboard"].query_one("#grid", Static)),
                        "the services grid")
            grid = app.views["dashboard"].query_one("#grid", Static)
            lines = plain(grid, width=grid.content_region.width).splitlines()
            assert lines[0].split()[-3:] == ["probe", "req", "5xx"]  # no figure column cut
            assert any("operational" in ln for ln in lines) and any("(partial)" in ln for ln in lines)


async def test_dashboard_shows_each_watchdog_source_against_its_expectation_quiet_ones_highlighted() -> None:
    with frozen_clock():
        app = HooxApp(fixture_ctx(), run_store=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: "dashboard" in app.views
                        and "btc-trend" in plain(app.views["dashboard"].query_one("#watchdog", Static)),
                        "the dashboard shows the watchdog's sources")
            dash = app.views["dashboard"]
            assert isinstance(dash, DashboardView)
            lines = {ln.split()[0]: " ".join(ln.split()) for ln in
                     plain(dash.query_one("#watchdog", Static)).splitlines() if ln.strip()}
            assert lines["btc-trend"] == "btc-trend QUIET 11:14:00 signal 47m 0s / ≤ 30m"
            assert lines["webhook"] == "webhook ok 12:00:30 heartbeat 0m 30s / ≤ 60m"
            assert lines["eth-weekend"] == ("eth-weekend outside hours 16:30:00 heartbeat 19h 31m / ≤ 60m "
                                            "(sat-sun 09:00-17:00 UTC)")
            assert lines["manual"] == "manual not watched 10:00:00 signal 2h 1m"
            table = dash.render_watchdog()
            assert isinstance(table, Table)
            states = {str(src): cell for src, cell in zip(table.columns[0]._cells, table.columns[1]._cells,
                                                           strict=True)}
            assert states["btc-trend"].style == "bold white on red" and states["webhook"].style == "green"
            ages = dict(zip([str(c) for c in table.columns[0]._cells], table.columns[3]._cells, strict=True))
            assert ages["btc-trend"].style == "bold red" and ages["webhook"].style == ""


async def test_the_store_reads_the_watchdog_from_a_real_edge(edge: Any, clock: Any) -> None:
    from hoox_edge.shared import settings

    from hoox_cli.core.client import AsyncHooxClient

    env = edge.env("hoox")
    await settings.put(env.CONFIG_KV, "watchdog:expect:webhook", {"maxGapMinutes": 5})
    r = await edge.request("hoox", "POST", "/webhook", json={"apiKey": env.WEBHOOK_API_KEY, "action": "HEARTBEAT"})
    assert r.status == 200
    clock.advance(6 * 60)
    await edge.run_cron("hoox")
    async with AsyncHooxClient.from_env() as client:
        store = Store(client)
        store.active_topics = frozenset({"watchdog"})
        await store.poll()
    assert store.watchdog is not None
    [s] = store.watchdog.sources
    assert (s.source, s.state, s.ageSeconds, s.alerted) == ("webhook", "quiet", 360.0, True)


# ------------------------------------------------------------------------------------------ import hygiene
def test_cli_command_modules_do_not_import_textual() -> None:
    code = ("import sys, hoox_cli.main, hoox_cli.core.client, hoox_cli.commands.monitor, hoox_cli.commands.logs, "
            "hoox_cli.commands.config, hoox_cli.commands.dev, hoox_cli.core.process\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'hoox_tui'))\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == ""
    help_out = subprocess.run([sys.executable, "-X", "importtime", "-m", "hoox_cli", "tui", "--help"],
                              capture_output=True, text=True, timeout=60, check=True)
    assert "--remote" in help_out.stdout and "--safe-mode" in help_out.stdout
    assert not [ln for ln in help_out.stderr.splitlines() if ln.rstrip().endswith((" textual", " hoox_tui"))]


def test_live_trading_banner_names_the_exchanges_that_trade_for_real() -> None:
    store = Store(None)
    live = status_json() | {"tradingMode": "live", "exchanges": {"available": True, "items": [
        {"name": "bybit", "credentials": True, "secrets": ["BYBIT_API_KEY", "BYBIT_API_SECRET"],
         "endpoint": "testnet", "live": True},
        {"name": "binance", "credentials": False, "secrets": ["BINANCE_API_KEY", "BINANCE_API_SECRET"],
         "endpoint": "production", "live": False}]}}
    store.apply_status(m.StatusResult.model_validate(live))
    banner = TradesView(fixture_ctx(store)).render_banner().plain
    assert "LIVE TRADING" in banner
    assert "live on bybit (testnet)" in banner and "not configured: binance" in banner


def test_win_loss_panel_shows_the_win_rate_and_the_day_as_gauges_and_the_holding_times() -> None:
    store = fed_store()  # 2 wins, 1 loss; days +5.00 then +6.34; held 41 min on average, 1 h 30 to 10 min
    panel = TradesView(fixture_ctx(store)).render_winloss()
    assert isinstance(panel, FigureGrid)
    rows = {label: cell for label, cell in panel.rows}

    def cells(text: Any, style: str) -> int:  # the gauge's cells drawn in `style`
        return sum(text.plain[span.start:span.end].count("█") for span in text.spans if span.style == style)

    win = rows["win rate"]  # 2/3 of 8 cells green, the rest red, then the rate
    assert (cells(win, "green"), cells(win, "red"), win.plain.split()[-1]) == (5, 3, "66.7%")
    today = rows["today 01-05"]  # the best day so far: the whole bar, green
    assert cells(today, "green") == 8 and "+6.34" in today.plain
    assert rows["held, average"] == "41m 0s" and rows["longest held"] == "1h 30m" and rows["shortest held"] == "10m 0s"

    losing = m.StatsResult.model_validate(stats_json() | {"dailyPnl": [
        {"date": "2026-01-04", "pnl": 8.0, "fees": 1.0, "fills": 2, "cumulative": 8.0},
        {"date": "2026-01-05", "pnl": -2.0, "fees": 1.0, "fills": 1, "cumulative": 6.0}], "winRate": None})
    store.stats = losing
    panel = TradesView(fixture_ctx(store)).render_winloss()
    assert isinstance(panel, FigureGrid)
    rows = {label: cell for label, cell in panel.rows}
    assert cells(rows["today 01-05"], "red") == 2 and "-2.00" in rows["today 01-05"].plain  # 2/8 of the best day
    assert rows["win rate"].plain == "no closed trade"


def test_alert_history_and_streamed_alerts_merge_once_in_order() -> None:
    store = Store(None)
    store.ingest(sse(90, {"type": "alert", "id": 90, "alertId": 3, "level": "critical", "source": "trade-worker",
                          "message": "dead-lettered"}))
    history = m.AlertsPage.model_validate({"items": [
        {"id": i, "createdAt": f"2026-01-05T12:00:0{i}.000Z", "level": "warning", "source": "hoox",
         "message": f"alert {i}", "delivery": "outbox"} for i in (3, 2, 1)], "nextCursor": None})
    store.apply_alerts(history)  # the console shows what happened before the cockpit opened, once
    assert [(a.id, a.message) for a in store.alerts] == [(1, "alert 1"), (2, "alert 2"), (3, "dead-lettered")]
