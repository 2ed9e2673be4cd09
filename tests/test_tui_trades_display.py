"""The trade monitor tells positions apart, shows low prices with their digits, and is readable at the
minimum of 100 x 30: positions of one symbol and side on two exchanges (and in both books), a coin at
0.00001234, four positions in the risk panel, every win / loss figure."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Static
from tui_support import (
    fed_store,
    fixture_ctx,
    frozen_clock,
    plain,
    positions_json,
    risk_json,
    tables_settled,
    trade_json,
    until,
)

from hoox_cli.core import models as m
from hoox_tui import fmt
from hoox_tui.app import HooxApp
from hoox_tui.dialogs import FlattenScreen, plan_text
from hoox_tui.store import Store

PEPE = 0.00001234


def two_exchanges_store(book: str = "all") -> Store:
    """The fixture plus BTCUSDT LONG on binance (same symbol and side as bybit's), a PEPEUSDT at
    0.00001234 with a loss too small for cents, a live BTCUSDT SHORT; a PEPEUSDT fill; four positions
    in the risk panel."""
    store = fed_store()
    result = positions_json()
    btc = result["items"][0]
    result["items"] += [
        btc | {"id": 2, "exchange": "binance", "markPrice": 59900.0, "unrealizedPnl": -2.2},
        btc | {"id": 3, "symbol": "PEPEUSDT", "size": 1000000.0, "entryPrice": PEPE, "markPrice": 0.00001233,
               "unrealizedPnl": -0.0001, "liquidationPrice": 0.00000988},
        btc | {"id": 4, "exchange": "binance", "mode": "live", "side": "SHORT"},
    ]
    if book != "all":
        result["items"] = [p for p in result["items"] if p["mode"] == book]
    store.apply_positions(m.PositionsResult.model_validate(result | {"mode": book}))
    fill = trade_json(7) | {"symbol": "PEPEUSDT", "quantity": 1000000.0, "price": PEPE, "fee": 0.0068,
                            "realizedPnl": -0.0012, "status": "Cancelled", "side": "SELL"}
    store.apply_trades(m.TradesPage.model_validate({"items": [fill] + [trade_json(s) for s in range(6, 0, -1)],
                                                    "nextCursor": None}))
    risk = risk_json()
    risk["positions"].append(risk["positions"][0] | {"positionId": 3, "symbol": "PEPEUSDT", "entryPrice": PEPE,
                                                     "markPrice": 0.00001233, "stopPrice": 0.0000121})
    store.apply_risk(m.RiskStatus.model_validate(risk))
    return store


def row_texts(table: DataTable[Any]) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def test_prices_keep_their_significant_digits_and_a_tiny_loss_is_not_zero() -> None:
    assert [fmt.price(v) for v in (PEPE, 60010.0, 65000.5, 1.23456789, 0.1 + 0.2, 1e12, -0.0)] == [
        "0.00001234", "60,010.00", "65,000.50", "1.2345679", "0.30", "1,000,000,000,000.00", "0.00"]
    assert [fmt.qty(v) for v in (1000000.0, 0.01, 0.00015, 0.0)] == ["1,000,000", "0.01", "0.00015", "0"]
    assert [fmt.money(v) for v in (-0.0001, 0.0004, -3.2, 0.0, -0.0)] == [
        "-0.0001", "+0.0004", "-3.20", "+0.00", "+0.00"]
    assert fmt.num(0.0000068, 4) == "0.0000068" and fmt.num(0.36, 4) == "0.3600"


async def test_positions_name_their_exchange_and_book_and_low_prices_show_their_digits() -> None:
    with frozen_clock():
        app = HooxApp(fixture_ctx(two_exchanges_store()), run_store=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f4")
            positions = app.screen.query_one("#positions", DataTable)
            await until(pilot, lambda: app.current_mode == "trades" and positions.row_count == 4, "four positions")
            assert [str(c.label) for c in positions.columns.values()] == [
                "book", "exchange", "symbol", "side", "size", "entry", "mark", "uPnL", "liq.est"]
            rows = row_texts(positions)
            assert rows[0][:4] == ["PAPER", "bybit", "BTCUSDT", "LONG"]
            assert rows[1][:4] == ["PAPER", "binance", "BTCUSDT", "LONG"]  # no longer a twin of the first
            assert rows[2] == ["PAPER", "bybit", "PEPEUSDT", "LONG", "1,000,000", "0.00001234", "0.00001233",
                               "-0.0001", "0.00000988"]
            assert rows[3][:4] == ["LIVE", "binance", "BTCUSDT", "SHORT"]

            feed = app.screen.query_one("#feed", DataTable)
            await until(pilot, lambda: feed.row_count == 7, "the fills")
            assert row_texts(feed)[0][2:] == ["bybit", "PEPEUSDT", "SELL", "1,000,000", "0.00001234", "0.0068",
                                              "-0.0012", "Cancelled"]
            risk_text = app.screen.query_one("#risk-text", Static)
            # the panels are filled as their data arrive, not with the tables
            await until(pilot, lambda: "bybit PEPEUSDT" in plain(risk_text), "the risk panel")
            assert "0.0000121" in plain(risk_text)

            store = app.ctx.store  # the dialog of `X`, with what the edge would list (no edge here)
            await app.push_screen(FlattenScreen(store.positions, store.orders))
            await until(pilot, lambda: isinstance(app.screen, FlattenScreen), "the flatten dialog")
            plan = plain(app.screen.query_one("#plan", Static))
            assert "paper  bybit    PEPEUSDT  LONG  1,000,000  entry 0.00001234  uPnL -0.0001" in plan
            assert "paper  binance  BTCUSDT   LONG  0.02  entry 60,010.00  uPnL -2.20" in plan
            assert "live   binance  BTCUSDT   SHORT 0.02  entry 60,010.00" in plan


async def test_one_book_has_no_book_column_and_its_live_rows_stay_marked() -> None:
    with frozen_clock():
        app = HooxApp(fixture_ctx(two_exchanges_store("live")), run_store=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f4")
            positions = app.screen.query_one("#positions", DataTable)
            await until(pilot, lambda: app.current_mode == "trades" and positions.row_count == 1, "the live one")
            assert [str(c.label) for c in positions.columns.values()][:2] == ["exchange", "symbol"]
            assert row_texts(positions)[0][:3] == ["binance", "LIVE BTCUSDT", "SHORT"]


def test_plan_text_prices_a_low_coin_with_its_digits() -> None:
    store = two_exchanges_store()
    plan = plan_text(store.positions, [], "every book").plain
    assert "entry 0.00" not in plan.replace("entry 0.00001234", "") and "uPnL -0.00 " not in plan


async def test_the_trade_monitor_is_readable_at_100x30() -> None:
    """No panel cut to a row or two: the feed has rows and no horizontal scrollbar, the risk panel lists
    all four positions, the win / loss figures are all on screen lines, nothing wrapped."""
    with frozen_clock():
        app = HooxApp(fixture_ctx(two_exchanges_store()), run_store=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f4")
            view = app.views["trades"]
            feed = view.query_one("#feed", DataTable)
            await until(pilot, lambda: app.current_mode == "trades" and feed.row_count == 7
                        and view.query_one("#positions", DataTable).row_count == 4 and tables_settled(app)
                        and "PEPEUSDT" in plain(view.query_one("#risk-text", Static))
                        and "wins / losses" in plain(view.query_one("#winloss-text", Static), width=200),
                        "the trade monitor filled")
            await pilot.pause()  # one more refresh: the layout of what the last flush filled
            assert not feed.show_horizontal_scrollbar
            assert feed.scrollable_content_region.height - 1 >= 5  # the header, then five fills at least

            risk = view.query_one("#risk")
            assert risk.max_scroll_y == 0  # every position of the risk panel shown, none scrolled away
            winloss = view.query_one("#winloss")
            assert winloss.max_scroll_y == 0 and winloss.outer_size.height >= 6  # its 4 lines of figures, whole
            shown = plain(view.query_one("#winloss-text", Static), width=winloss.scrollable_content_region.width)
            for figure in ("wins / losses  2 / 1", "net realized", "+11.34", "unrealized", "-3.20", "max drawdown",
                           "4.20", "shortest held"):
                assert figure in shown, (figure, shown)
            positions = view.query_one("#positions", DataTable)
            assert not positions.show_horizontal_scrollbar and positions.max_scroll_y == 0


async def test_the_feed_fits_the_view_whatever_the_status_note() -> None:
    """A fill pending with a long error, then Cancelled with the edge's long note: the feed never scrolls
    sideways (a scrollbar ate a row and cut "Cancelled" to "Cancelle"): the note is cut with "…" to the
    room left, and a refill gives the columns back the width the longer cells took (DataTable.clear
    keeps the widest cell a column ever held)."""
    with frozen_clock():
        store = two_exchanges_store()
        pending = trade_json(8) | {"symbol": "PEPEUSDT", "quantity": 1000000.0, "price": PEPE, "fee": 0.0068,
                                   "realizedPnl": 0.0, "status": "TRADE_PENDING",
                                   "error": "no answer from the exchange yet: it is asked again"}
        store.apply_trades(m.TradesPage.model_validate({"items": [pending], "nextCursor": None}))
        app = HooxApp(fixture_ctx(store), run_store=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f4")
            view = app.views["trades"]
            feed = view.query_one("#feed", DataTable)
            await until(pilot, lambda: app.current_mode == "trades" and feed.row_count == 8
                        and tables_settled(app), "the fills")
            await pilot.pause()
            assert row_texts(feed)[0][-1].startswith("TRADE_PENDING")  # the widest status: no room for its note

            note = "order paper-bybit-00000004 cancelled on the exchange with nothing filled"
            done = pending | {"status": "Cancelled", "error": note, "realizedPnl": -0.0012}
            store.apply_trades(m.TradesPage.model_validate({"items": [done], "nextCursor": None}))
            view.fill_feed()
            await until(pilot, lambda: row_texts(feed)[0][-1].startswith("Cancelled") and tables_settled(app),
                        "the cancel")
            await pilot.pause()
            assert not feed.show_horizontal_scrollbar

            await pilot.resize_terminal(140, 30)  # room for the start of the note
            await until(pilot, lambda: row_texts(feed)[0][-1].startswith("Cancelled order"), "the note")
            status = row_texts(feed)[0][-1]
            assert status.endswith("…") and note.startswith(status[len("Cancelled "):-1])
            await pilot.pause()
            assert not feed.show_horizontal_scrollbar
