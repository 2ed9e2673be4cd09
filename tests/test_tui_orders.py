"""Pilot tests of the cockpit's order actions and books against a real local edge (loopback, free ports):
open orders listed and cancelled, flatten with its outcomes, the kill switch with flatten, and the
book switch. Every wait is on a condition (`until`), never on a guessed time."""

from __future__ import annotations

from typing import Any

import pytest
from hoox_edge import catalog
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from hoox_edge.shared import settings
from order_support import gateway_url, ledger_status, live_position, paper_position, resting_order
from textual.css.query import NoMatches
from textual.widgets import Checkbox, DataTable, Input, Static
from tui_support import (
    by_size,
    cockpit_settings,  # noqa: F401  (autouse)
    make_ctx,
    plain,
    tables_settled,
    until,
)

from hoox_cli.core.client import AsyncHooxClient
from hoox_tui.app import HooxApp
from hoox_tui.dialogs import ConfirmScreen, FlattenResultScreen, FlattenScreen, KillSwitchScreen
from hoox_tui.store import Conn

SIZE = (120, 40)


def notes(app: HooxApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def text(app: HooxApp, selector: str) -> str:
    return plain(app.screen.query_one(selector, Static))


async def open_positions(rt: LocalRuntime, mode: str) -> list[tuple[str, str]]:
    rows = (await rt.d1(catalog.TRADE_DB).prepare(
        "SELECT exchange, symbol FROM positions WHERE status = 'OPEN' AND mode = ? ORDER BY exchange").bind(
        mode).all())["results"]
    return [(r["exchange"], r["symbol"]) for r in rows]


# ------------------------------------------------------------------------------------------ open orders
async def test_a_resting_order_appears_on_its_event_and_is_cancelled_after_a_confirmation(
        edge: LocalRuntime, workspace: Workspace) -> None:
    # No polling after the first round: the order can only appear through its trade event.
    ctx = make_ctx(workspace, edge, refresh_seconds=3600)
    store = ctx.store
    app = HooxApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await until(pilot, lambda: store.stream_connected and "orders" in store.updated_at, "stream up, orders read")
        table = app.views["trades"].query_one("#orders", DataTable)
        assert table.row_count == 0 and "Open orders (none)" in str(table.border_title)

        rid = await resting_order(edge)
        await until(pilot, lambda: rid in table.rows, "the resting order listed")
        assert "Open orders (1) — every book" in str(table.border_title)
        row = [str(c) for c in table.get_row(rid)]
        assert row[:3] == ["PAPER", "bybit", "BTCUSDT"] and row[6] == "1,000.00"

        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        question = text(app, "#question")
        assert rid in question and "bybit BTCUSDT BUY 0.01 @ 1,000.00" in question and "paper book" in question
        await pilot.press("n")  # kept: nothing is sent
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the dialog closed")
        assert await ledger_status(edge, rid) == "Resting" and rid in table.rows

        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation again")
        await pilot.press("y")
        await until(pilot, lambda: rid not in table.rows, "the order gone from the list")
        assert await ledger_status(edge, rid) == "Cancelled"
        await until(pilot, lambda: any("cancelled" in n for n in notes(app)), "the outcome told")
        assert app.views["trades"].error is None and app.crash is None


async def test_cancelling_an_order_that_is_not_resting_any_more_shows_the_edges_answer(
        edge: LocalRuntime, workspace: Workspace) -> None:
    rid = await resting_order(edge)
    # One poll when the view opens, no stream: the list still shows the order after it ended elsewhere.
    ctx = make_ctx(workspace, edge, refresh_seconds=3600, live_stream=False)
    app = HooxApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        table = app.views["trades"].query_one("#orders", DataTable)
        await until(pilot, lambda: rid in table.rows, "the resting order listed")
        async with AsyncHooxClient(gateway_url(edge), workspace.secrets()["OPERATOR_API_KEY"]) as c:
            await c.cancel_order(rid)  # behind the cockpit's back
        table.focus()
        await until(pilot, lambda: table.has_focus, "the orders table focused")
        await pilot.press("enter")  # Enter on an order cancels it too
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: any("ORDER_NOT_OPEN" in n for n in notes(app)), "the edge's refusal shown")
        assert any(n.startswith("Order not cancelled") for n in notes(app))
        await until(pilot, lambda: rid not in table.rows, "the list caught up with the edge")
        assert app.is_running and app.views["trades"].error is None and app.crash is None


# ------------------------------------------------------------------------------------------ flatten
async def test_flatten_lists_what_it_closes_then_shows_each_outcome(edge: LocalRuntime,
                                                                    workspace: Workspace) -> None:
    await paper_position(edge)  # bybit BTCUSDT LONG
    await paper_position(edge, exchange="binance", symbol="ETHUSDT", action="SHORT", quantity=0.1)
    rid = await resting_order(edge, symbol="ETHUSDT", exchange="binance")
    ctx = make_ctx(workspace, edge, refresh_seconds=0.3)
    app = HooxApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Flatten: cancel resting orders, close positions" in titles  # the palette has it too
        await pilot.press("f4")
        positions = app.views["trades"].query_one("#positions", DataTable)
        await until(pilot, lambda: positions.row_count == 2, "both positions shown")

        await pilot.press("X")
        await until(pilot, lambda: isinstance(app.screen, FlattenScreen), "the flatten dialog")
        plan = text(app, "#plan")
        assert "Resting orders to cancel (1)" in plan and rid[:8] in plan
        assert "Open positions to close at the market (2)" in plan and "bybit" in plan and "binance" in plan
        await pilot.click("#scope-live")  # nothing of the live book is open: nothing to flatten there
        await until(pilot, lambda: "Nothing to flatten in the LIVE book" in text(app, "#plan"), "the live scope")
        assert app.screen.query_one("#confirm").disabled
        await pilot.click("#scope-all")
        await until(pilot, lambda: not app.screen.query_one("#confirm").disabled, "every book again")
        await pilot.click("#reason")
        await pilot.press(*"desk closes")
        await pilot.click("#confirm")

        # the screen is current before its children are composed: wait for its text, not only the screen
        await until(pilot, lambda: isinstance(app.screen, FlattenResultScreen) and text(app, "#outcome"),
                    "the outcomes")
        outcome = text(app, "#outcome")
        assert "2/2 position(s) closed, 1 resting order(s) handled" in outcome
        assert outcome.count("Filled") == 2 and "bybit" in outcome and "binance" in outcome
        assert "Cancelled" in outcome and "NOT closed" not in outcome
        assert await open_positions(edge, "paper") == [] and await ledger_status(edge, rid) == "Cancelled"
        reasons = (await edge.d1(catalog.TRADE_DB).prepare(
            "SELECT DISTINCT reason FROM trade_signals WHERE source = 'operator'").all())["results"]
        assert [r["reason"] for r in reasons] == ["flatten: desk closes"]  # the operator's words, identifiable

        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, FlattenResultScreen), "the outcomes closed")
        await until(pilot, lambda: positions.row_count == 0, "no position left on screen")
        assert app.crash is None


async def test_a_flatten_that_finds_everything_closed_meanwhile_says_so(edge: LocalRuntime,
                                                                         workspace: Workspace) -> None:
    # the cockpit's dialog lists a position; another flatten (`hoox monitor flatten --yes`) closes it first
    await paper_position(edge)
    ctx = make_ctx(workspace, edge, refresh_seconds=3600)
    app = HooxApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await until(pilot, lambda: "positions" in ctx.store.updated_at, "positions read")
        await pilot.press("X")
        await until(pilot, lambda: isinstance(app.screen, FlattenScreen) and "(1)" in text(app, "#plan"),
                    "the flatten dialog lists the position")
        async with AsyncHooxClient(gateway_url(edge), workspace.secrets()["OPERATOR_API_KEY"], retries=0) as other:
            first = await other.flatten(reason="other desk")
        assert first.closed == 1 and await open_positions(edge, "paper") == []
        await pilot.click("#confirm")

        await until(pilot, lambda: isinstance(app.screen, FlattenResultScreen) and text(app, "#outcome"),
                    "the outcomes")
        heading, outcome = text(app, "#heading"), text(app, "#outcome")
        assert "closed or cancelled meanwhile" in heading and "found nothing left" in heading
        assert "nothing to close or cancel" in outcome and "0/0" not in outcome, outcome
        assert app.crash is None


async def test_kill_switch_on_with_flatten_every_book(edge: LocalRuntime, workspace: Workspace) -> None:
    await paper_position(edge)
    await live_position(edge)  # no API key for the live exchange: it cannot be closed
    ctx = make_ctx(workspace, edge, refresh_seconds=0.3)
    app = HooxApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ctx.store.status is not None, "first status")
        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, KillSwitchScreen), "the kill switch dialog")
        await pilot.click("#reason")
        await pilot.press(*"incident")
        await pilot.click("#flatten")
        await until(pilot, lambda: app.screen.query_one("#flatten", Checkbox).value, "flatten ticked")
        await pilot.click("#confirm")

        await until(pilot, lambda: isinstance(app.screen, FlattenResultScreen) and text(app, "#outcome"),
                    "the flatten outcomes")
        heading, outcome = text(app, "#heading"), text(app, "#outcome")
        assert "Kill switch is now ON: incident" in heading
        assert "1/2 position(s) closed" in outcome and "1 position(s) NOT closed" in outcome
        assert "Filled" in outcome and "Rejected" in outcome and "mexc" in outcome and "API key" in outcome
        assert await settings.get(edge.kv(catalog.CONFIG_KV), "trade:kill_switch") is True
        assert await open_positions(edge, "paper") == [] and await open_positions(edge, "live") == [
            ("mexc", "ETHUSDT")]
        assert ctx.store.status is not None and ctx.store.status.killSwitch.on
        await pilot.press("escape")

        # turning it off offers no flatten
        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, KillSwitchScreen), "the dialog again")
        assert not app.screen.query(Checkbox) and not app.screen.query(Input)
        await pilot.click("#confirm")
        await until(pilot, lambda: not ctx.store.status.killSwitch.on, "the switch off")  # type: ignore[union-attr]
        assert app.crash is None


# ------------------------------------------------------------------------------------------ books
async def test_the_book_switch_changes_the_figures_and_is_kept_across_views(edge: LocalRuntime,
                                                                           workspace: Workspace) -> None:
    await paper_position(edge)  # the paper book: bybit BTCUSDT, one fill, net realized = -its fee
    await live_position(edge)  # the live book: mexc ETHUSDT, one closing fill of +12.5 with a 0.3 fee
    ctx = make_ctx(workspace, edge, refresh_seconds=0.3)
    store = ctx.store
    app = HooxApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        dash = app.views["dashboard"]
        await until(pilot, lambda: store.state == Conn.CONNECTED and store.stats is not None, "paper figures")
        figures = dash.query_one("#figures", Static)
        await until(pilot, lambda: "paper book" in plain(figures), "the dashboard names the paper book")
        assert store.shown_book["stats"] == "paper" and "+12.20" not in plain(figures)
        assert "Session — paper book" in str(figures.border_title)

        await pilot.press("b")  # paper -> live
        await until(pilot, lambda: store.shown_book.get("stats") == "live" and "+12.20" in plain(figures),
                    "the live figures")
        assert "LIVE book" in plain(figures) and "Session — LIVE book" in str(figures.border_title)

        await pilot.press("f4")  # the book is kept for the session
        trades = app.views["trades"]
        positions = trades.query_one("#positions", DataTable)
        await until(pilot, lambda: store.shown_book.get("positions") == "live" and positions.row_count == 1,
                    "the live position")
        assert [str(c) for c in positions.get_row_at(0)[:2]] == ["mexc", "LIVE ETHUSDT"]
        assert "Open positions — LIVE book" in str(positions.border_title)
        await until(pilot, lambda: "+12.20" in plain(trades.query_one("#winloss-text", Static)), "live win/loss")
        assert "Win / loss — LIVE book" in str(trades.query_one("#winloss").border_title)

        await pilot.press("b")  # live -> both
        await until(pilot, lambda: store.shown_book.get("positions") == "all" and positions.row_count == 2,
                    "both books")
        assert "paper + live books" in str(positions.border_title)
        assert str(next(iter(positions.columns.values())).label) == "book"  # both books: each row names its own
        await pilot.press("b")  # both -> paper
        await until(pilot, lambda: store.shown_book.get("positions") == "paper" and positions.row_count == 1,
                    "the paper position")
        assert [str(c) for c in positions.get_row_at(0)[:2]] == ["bybit", "BTCUSDT"]
        assert app.crash is None


# ------------------------------------------------------------------------------------------ snapshots
# Fixture data shaped like the operator API's answers (parsed by the same models), a frozen clock.
def _order(i: int, mode: str) -> dict[str, Any]:
    return {"requestId": f"5e1f0c2{i}-aaaa-4bbb-8ccc-00000000000{i}", "tradeId": f"t-rest-{i}", "orderId": f"o-{i}",
            "clientOrderId": f"hxrest{i}", "exchange": ("bybit", "binance", "mexc")[i], "symbol": "BTCUSDT",
            "side": "BUY", "action": "LONG", "orderType": "LIMIT", "quantity": 0.01, "filledQty": 0.004 * (i == 1),
            "limitPrice": 55000.0 + 500 * i, "avgPrice": None, "fee": 0.0, "mode": mode, "status": "Resting",
            "reason": None, "createdAt": "2026-01-05T11:50:00.000Z", "updatedAt": "2026-01-05T11:50:00.000Z",
            "expiresAt": "2026-01-06T11:50:00.000Z"}


ORDERS = {"items": [_order(0, "paper"), _order(1, "paper"), _order(2, "live")], "nextCursor": None}


def _outcome(request_id: str, exchange: str, mode: str, side: str, status: str, **rest: Any) -> dict[str, Any]:
    return {"requestId": request_id, "exchange": exchange, "symbol": "BTCUSDT", "mode": mode, "side": side,
            "status": status, **rest}


FLATTENED = {
    "scope": {"mode": "all", "exchange": None, "symbol": None}, "closed": 1, "failed": 1,
    "time": "2026-01-05T12:01:00.000Z",
    "cancelled": [_outcome(_order(0, "paper")["requestId"], "bybit", "paper", "BUY", "Cancelled")],
    "closes": [
        _outcome("c1", "bybit", "paper", "LONG", "Filled", size=0.02,
                 result={"price": 59850.0, "realizedPnl": -3.2}),
        _outcome("c2", "mexc", "live", "LONG", "Rejected", size=1.0,
                 error={"code": "EXCHANGE_ERROR", "message": "live trading on mexc needs its API key"}),
    ],
}


def test_flatten_outcomes_say_already_flat_and_closing_as_such_not_as_failures() -> None:
    from hoox_cli.core import models as m
    from hoox_tui.dialogs import outcome_text

    result = m.FlattenResult.model_validate({
        "scope": {"mode": "all", "exchange": "binance", "symbol": None}, "closed": 0, "alreadyFlat": 1,
        "closing": 1, "failed": 0, "time": "2026-01-05T12:01:00.000Z", "cancelled": [],
        "closes": [_outcome("c1", "binance", "paper", "LONG", "already_flat", size=0.01,
                            note="already flat: closed by request r-9"),
                   _outcome("c2", "binance", "paper", "SHORT", "closing", size=0.2,
                            note="closing in request c2 (another close of the desk, under way)")]})
    text = outcome_text(result)
    assert "0/2 position(s) closed, 1 already flat, 1 being closed by another request" in text.plain
    assert "already flat: closed by request r-9" in text.plain and "closing in request c2" in text.plain
    assert "NOT closed" not in text.plain
    assert not any("red" in str(span.style) for span in text.spans)


@pytest.fixture
def fixture_app() -> Any:
    from tui_support import fixture_ctx, frozen_clock

    from hoox_cli.core import models as m

    with frozen_clock():
        ctx = fixture_ctx()
        ctx.store.apply_orders(m.OrdersResult.model_validate(ORDERS))
        yield HooxApp(ctx, run_store=False)


def shoot(act: Any, ready: Any) -> Any:
    """run_before for snap_compare: the shell with its figures, then `act(pilot)`, then wait until
    `ready(app)` holds; no blinking cursor."""
    async def run_before(pilot: Any) -> None:
        def holds(cond: Any) -> Any:
            def check() -> bool:
                try:
                    return bool(cond(pilot.app))
                except NoMatches:  # not composed yet
                    return False
            return check

        await until(pilot, holds(lambda app: "net realized" in plain(app.views["dashboard"].query_one("#figures"))),
                    "the dashboard with its figures")
        await act(pilot)
        await until(pilot, holds(ready), "the screen to shoot")
        await until(pilot, holds(tables_settled), "the tables measured their rows")
        for inp in pilot.app.screen.query(Input):
            inp.cursor_blink = False
    return run_before


@by_size
def test_snapshot_trade_monitor_with_open_orders(snap_compare: Any, fixture_app: HooxApp,
        size: tuple[int, int]) -> None:
    async def act(pilot: Any) -> None:
        await pilot.press("f4")

    def ready(app: HooxApp) -> bool:
        return app.current_mode == "trades" and app.views["trades"].query_one("#orders", DataTable).row_count == 3
    assert snap_compare(fixture_app, terminal_size=size, run_before=shoot(act, ready))


@by_size
def test_snapshot_flatten_dialog(snap_compare: Any, fixture_app: HooxApp,
        size: tuple[int, int]) -> None:
    from hoox_cli.core import models as m

    async def act(pilot: Any) -> None:
        orders = [m.OpenOrder.model_validate(o) for o in ORDERS["items"]]
        pilot.app.push_screen(FlattenScreen(pilot.app.ctx.store.positions, orders))

    def ready(app: HooxApp) -> bool:
        return isinstance(app.screen, FlattenScreen) and "Open positions" in text(app, "#plan")
    assert snap_compare(fixture_app, terminal_size=size, run_before=shoot(act, ready))


@by_size
def test_snapshot_flatten_outcomes(snap_compare: Any, fixture_app: HooxApp,
        size: tuple[int, int]) -> None:
    from hoox_cli.core import models as m

    async def act(pilot: Any) -> None:
        pilot.app.push_screen(FlattenResultScreen(m.FlattenResult.model_validate(FLATTENED)))

    def ready(app: HooxApp) -> bool:
        return isinstance(app.screen, FlattenResultScreen) and app.screen.query_one("#close").has_focus
    assert snap_compare(fixture_app, terminal_size=size, run_before=shoot(act, ready))


@by_size
def test_snapshot_kill_switch_dialog_offers_flatten(snap_compare: Any, fixture_app: HooxApp,
        size: tuple[int, int]) -> None:
    async def act(pilot: Any) -> None:
        pilot.app.push_screen(KillSwitchScreen(False, None))

    def ready(app: HooxApp) -> bool:
        return isinstance(app.screen, KillSwitchScreen) and app.screen.query_one("#reason").has_focus
    assert snap_compare(fixture_app, terminal_size=size, run_before=shoot(act, ready))
