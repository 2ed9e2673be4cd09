"""The cockpit's signal timeline: opened from a fill or an open order in the trade monitor, or from a
pasted request id (T, the palette), against a real local edge; and its snapshot at the minimum size.
Every wait is on a condition (`until`)."""

from __future__ import annotations

from typing import Any

import pytest
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from order_support import paper_position, resting_order, webhook
from textual.css.query import NoMatches
from textual.widgets import DataTable, Input, Static
from tui_support import (
    cockpit_settings,  # noqa: F401  (autouse)
    make_ctx,
    plain,
    tables_settled,
    until,
)

from hoox_cli.core import models as m
from hoox_tui.app import HooxApp
from hoox_tui.timeline import RequestIdScreen, TimelineScreen

SIZE = (100, 30)  # the documented minimum


def stage_kinds(screen: TimelineScreen) -> list[str]:
    assert screen.timeline is not None
    return [s.kind for s in screen.timeline.stages]


def loaded(app: HooxApp, rid: str | None = None) -> bool:
    screen = app.screen
    return (isinstance(screen, TimelineScreen) and screen.timeline is not None
            and (rid is None or screen.timeline.requestId == rid))


async def test_a_fill_opens_its_signals_timeline_from_the_trade_monitor(edge: LocalRuntime,
                                                                        workspace: Workspace) -> None:
    rid = await paper_position(edge)
    ctx = make_ctx(workspace, edge, refresh_seconds=3600)
    app = HooxApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        feed = app.views["trades"].query_one("#feed", DataTable)
        await until(pilot, lambda: any(t.request_id == rid for t in ctx.store.trades.values()), "the fill listed")
        trade_id = next(t.id for t in ctx.store.trades.values() if t.request_id == rid)
        await until(pilot, lambda: trade_id in feed.rows, "the fill in the feed")
        feed.focus()
        feed.move_cursor(row=feed.get_row_index(trade_id))
        await until(pilot, lambda: feed.has_focus, "the feed focused")

        await pilot.press("t")
        await until(pilot, lambda: loaded(app, rid), "the fill's timeline")
        screen = app.screen
        assert isinstance(screen, TimelineScreen)
        kinds = stage_kinds(screen)
        for kind in ("received", "validated", "locked", "delivered", "order", "exchange-call", "fill", "position"):
            assert kind in kinds
        assert kinds.index("received") < kinds.index("order") < kinds.index("fill") and kinds[-1] == "outcome"
        table = screen.query_one("#stages", DataTable)
        assert table.row_count == len(kinds)
        assert rid in plain(screen.query_one("#heading", Static), 100) and "Filled" in plain(
            screen.query_one("#heading", Static), 100)
        # The selected stage's whole text and details are in the pane below the list.
        table.move_cursor(row=kinds.index("position"))
        await until(pilot, lambda: "position: flat -> LONG 0.01" in plain(screen.query_one("#detail", Static), 98),
                    "the position change in the detail pane")
        for value in workspace.secrets().values():
            assert len(value) < 4 or value not in plain(screen.query_one("#detail", Static), 98)

        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TimelineScreen), "the timeline closed")
        await pilot.press("enter")  # Enter on the fill opens it too
        await until(pilot, lambda: loaded(app, rid), "the fill's timeline by Enter")
        assert app.views["trades"].error is None and app.crash is None


async def test_an_open_order_opens_its_timeline_which_shows_it_resting(edge: LocalRuntime,
                                                                       workspace: Workspace) -> None:
    rid = await resting_order(edge)
    ctx = make_ctx(workspace, edge, refresh_seconds=3600)
    app = HooxApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        orders = app.views["trades"].query_one("#orders", DataTable)
        await until(pilot, lambda: rid in orders.rows, "the resting order listed")
        orders.focus()
        await until(pilot, lambda: orders.has_focus, "the orders table focused")
        await pilot.press("t")
        await until(pilot, lambda: loaded(app, rid), "the order's timeline")
        screen = app.screen
        assert isinstance(screen, TimelineScreen)
        kinds = stage_kinds(screen)
        assert "resting" in kinds and kinds[-1] == "outcome"
        assert screen.timeline is not None and screen.timeline.stages[-1].summary.startswith("Resting")


async def test_a_pasted_request_id_is_checked_then_its_timeline_opens(edge: LocalRuntime,
                                                                      workspace: Workspace) -> None:
    refused = await webhook(edge, quantity=-1)
    rid = refused.json()["requestId"]
    ctx = make_ctx(workspace, edge, refresh_seconds=3600)
    app = HooxApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.current_mode == "dashboard", "the cockpit up")
        palette = {c.title: c for c in app.get_system_commands(app.screen)}
        assert "Signal timeline: paste a request id" in palette  # the palette offers it too
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, RequestIdScreen), "the request id dialog")
        field = app.screen.query_one("#request-id", Input)
        await until(pilot, lambda: field.has_focus, "the field focused for a paste")
        await pilot.press(*rid[:5], "enter")  # too short: refused, nothing lost
        await until(pilot, lambda: "at least its first 8" in plain(app.screen.query_one("#problem", Static)),
                    "the problem said")
        assert isinstance(app.screen, RequestIdScreen) and field.value == rid[:5]
        field.value = rid[:8]
        await pilot.press("enter")
        await until(pilot, lambda: loaded(app, rid), "the pasted id's timeline (from its first 8 characters)")
        screen = app.screen
        assert isinstance(screen, TimelineScreen) and screen.timeline is not None
        last = screen.timeline.stages[-1]
        assert last.kind == "outcome" and last.summary.startswith("Rejected VALIDATION_ERROR")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TimelineScreen), "closed")

        # An id no signal has: the edge's answer, in the screen.
        app.action_signal_timeline("ffffffff-not-a-signal")
        await until(pilot, lambda: isinstance(app.screen, TimelineScreen) and app.screen.problem is not None,
                    "the refusal shown")
        assert "NOT_FOUND" in plain(app.screen.query_one("#heading", Static), 100)
        assert app.crash is None


# ------------------------------------------------------------------------------------------ snapshot
TIMELINE = {
    "requestId": "5795d255-82fb-449e-8320-ed7cd56e1a71",
    "signal": {"status": "Filled", "errorCode": None, "error": None, "source": "webhook", "exchange": "bybit",
               "symbol": "BTCUSDT", "action": "LONG", "quantity": 0.01, "reason": None,
               "createdAt": "2026-01-05T12:00:00.004Z", "updatedAt": "2026-01-05T12:00:00.108Z"},
    "trade": {"status": "Filled", "mode": "paper", "exchange": "bybit", "symbol": "BTCUSDT", "side": "BUY",
              "quantity": 0.01, "filledQty": 0.01, "price": 60012.0, "fee": 0.3301, "realizedPnl": 0.0,
              "orderId": "paper-bybit-00000001", "clientOrderId": "hx5795d25582fb449e8320ed7cd56e1a71",
              "attempts": 1},
    "original": None, "resends": [], "truncated": False, "maxStages": 200, "unavailable": [],
    "time": "2026-01-05T12:01:00.000Z",
    "stages": [
        {"at": f"2026-01-05T12:00:00.{ms:03d}Z", "offsetMs": float(ms), "kind": kind, "worker": worker,
         "level": "info", "summary": summary, "details": details, "source": source}
        for ms, kind, worker, summary, details, source in [
            (0, "received", "hoox", "webhook signal LONG BTCUSDT 0.01 on bybit reached the gateway",
             {"path": "/webhook", "httpStatus": 200, "latencyMs": 112.4}, "analytics"),
            (4, "validated", "hoox", "valid signal: LONG BTCUSDT 0.01 on bybit (market futures, orderType MARKET, "
             "leverage 1.0)", {"ip": "127.0.0.1", "queueMode": "queue_failover"}, "log"),
            (7, "locked", "hoox", "idempotency lock taken (implicit key, held 60 s)",
             {"key": "implicit", "ttlSeconds": 60}, "log"),
            (10, "delivered", "trade-worker", "delivered to trade-worker /process: HTTP 200 after 101.2 ms",
             {"path": "/process", "httpStatus": 200, "latencyMs": 101.2}, "analytics"),
            (49, "exchange-call", "trade-worker", "paper bybit quote: ok in 45.1 ms",
             {"exchange": "bybit", "operation": "quote", "mode": "paper", "outcome": "ok", "latencyMs": 45.1},
             "analytics"),
            (94, "order", "trade-worker", "Order sent: paper bybit LONG BTCUSDT BUY 0.01", None, "log"),
            (106, "exchange-call", "trade-worker", "paper bybit execute: ok in 1.2 ms",
             {"exchange": "bybit", "operation": "execute", "mode": "paper", "outcome": "ok", "latencyMs": 1.2},
             "analytics"),
            (108, "fill", "trade-worker", "Order filled: paper bybit LONG BTCUSDT BUY 0.01 at 60012.0 "
             "(order paper-bybit-00000001)", None, "log"),
            (108, "position", "trade-worker", "paper bybit BTCUSDT position: flat -> LONG 0.01 @ 60012",
             {"before": None, "after": {"side": "LONG", "size": 0.01, "entryPrice": 60012.0}}, "log"),
            (111, "alert", "trade-worker", "alert (info, outbox): paper bybit LONG BTCUSDT 0.01 filled at 60012.0",
             {"delivery": "outbox", "error": None}, "ledger"),
            (112, "answered", "hoox", "the gateway answered the sender: HTTP 200 after 112.4 ms",
             {"path": "/webhook", "httpStatus": 200, "latencyMs": 112.4}, "analytics"),
            (108, "outcome", None, "Filled", {"status": "Filled", "errorCode": None, "error": None, "final": True},
             "ledger"),
        ]
    ],
}


@pytest.fixture
def fixture_app() -> Any:
    from tui_support import fixture_ctx, frozen_clock

    with frozen_clock():
        yield HooxApp(fixture_ctx(), run_store=False)


def test_snapshot_signal_timeline_at_the_minimum_size(snap_compare: Any, fixture_app: HooxApp) -> None:
    async def fetch(request_id: str) -> m.SignalTimeline:
        return m.SignalTimeline.model_validate(TIMELINE)

    async def run_before(pilot: Any) -> None:
        await until(pilot, lambda: fixture_app.current_mode == "dashboard", "the shell")
        fixture_app.push_screen(TimelineScreen(fetch, TIMELINE["requestId"][:8]))

        def ready() -> bool:
            try:
                return loaded(fixture_app) and "flat -> LONG" not in plain(
                    fixture_app.screen.query_one("#detail", Static), 98) and "received" in plain(
                    fixture_app.screen.query_one("#detail", Static), 98)
            except NoMatches:
                return False
        await until(pilot, ready, "the timeline with its first stage selected")
        await until(pilot, lambda: tables_settled(fixture_app), "the tables measured their rows")
    assert snap_compare(fixture_app, terminal_size=SIZE, run_before=run_before)
