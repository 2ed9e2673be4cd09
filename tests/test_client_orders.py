"""HooxClient's order actions and books against a real local edge (the `edge` fixture: every
worker served over loopback HTTP on free ports): open orders, cancel, flatten, the kill switch with
flatten, and positions, stats and trades per book."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hoox_edge.local.runtime import LocalRuntime
from order_support import gateway_url, live_position, paper_position, resting_order

from hoox_cli.core import models as m
from hoox_cli.core.client import AsyncHooxClient, HooxApiError, HooxClient


async def test_orders_cancel_flatten_and_books_on_a_real_edge(edge: LocalRuntime) -> None:
    token = edge.env("hoox").OPERATOR_API_KEY
    resting = await resting_order(edge)
    filled = await paper_position(edge, exchange="binance", symbol="ETHUSDT", action="SHORT", quantity=0.1)
    await live_position(edge)
    async with AsyncHooxClient(gateway_url(edge), token) as c:
        orders = await c.orders()
        assert [(o.requestId, o.status, o.limitPrice, o.mode) for o in orders.items] == [
            (resting, "Resting", 1000.0, "paper")]
        assert (await c.orders(symbol="btc/usdt", exchange="bybit", mode="paper")).items == orders.items
        assert (await c.orders(mode="live")).items == [] and (await c.orders(exchange="binance")).items == []

        assert {t.requestId for t in (await c.trades(mode="paper")).items} == {resting, filled}
        assert [t.requestId for t in (await c.trades(mode="live")).items] == ["rid-live-close"]
        assert len((await c.trades(mode="all")).items) == 3

        desk = await c.positions()  # the desk trades paper: its book is the default
        assert desk.mode == "paper" and [(p.exchange, p.mode) for p in desk.items] == [("binance", "paper")]
        live = await c.positions(mode="live")
        assert live.mode == "live" and [(p.exchange, p.symbol) for p in live.items] == [("mexc", "ETHUSDT")]
        assert (await c.positions(mode="all")).mode == "all" and len((await c.positions(mode="all")).items) == 2
        live_stats = await c.stats(mode="live")
        assert (live_stats.mode, live_stats.tradeCount, live_stats.netRealizedPnl) == ("live", 1, 12.2)
        assert (await c.stats()).mode == "paper" and (await c.stats(mode="all")).openPositions == 2
        with pytest.raises(HooxApiError) as bad:
            await c.positions(mode="both")
        assert bad.value.status == 400 and bad.value.code == "VALIDATION_ERROR"

        cancelled = await c.cancel_order(resting)
        assert isinstance(cancelled, m.OrderResult) and cancelled.status == "Cancelled"
        assert (cancelled.symbol, cancelled.limitPrice, cancelled.executedQty) == ("BTCUSDT", 1000.0, 0.0)
        with pytest.raises(HooxApiError) as again:
            await c.cancel_order(resting)
        assert again.value.status == 409 and again.value.code == "ORDER_NOT_OPEN"
        assert again.value.details["status"] == "Cancelled"
        with pytest.raises(HooxApiError) as missing:
            await c.cancel_order("no-such-request")
        assert missing.value.status == 404

        paper = await c.flatten(mode="paper", reason="client test")
        assert (paper.scope.mode, paper.closed, paper.failed, paper.cancelled) == ("paper", 1, 0, [])
        [close] = paper.closes
        assert (close.exchange, close.symbol, close.side, close.size, close.status) == (
            "binance", "ETHUSDT", "SHORT", 0.1, "Filled")
        assert (await c.positions(mode="paper")).items == []

        on = await c.set_kill_switch(True, "incident", flatten=True)
        assert on.on is True and on.flatten is not None and on.flatten.scope.mode == "all"
        [live_close] = on.flatten.closes  # live: no API key is set, so it cannot close
        assert (live_close.mode, live_close.status, on.flatten.failed) == ("live", "Rejected", 1)
        assert (await c.set_kill_switch(False)).flatten is None

    def sync_calls() -> tuple[Any, Any]:
        with HooxClient(gateway_url(edge), token) as sc:
            return sc.orders(mode="all"), sc.flatten(mode="paper")

    sync_orders, sync_flat = await asyncio.to_thread(sync_calls)
    assert sync_orders.items == [] and sync_flat.closes == [] and sync_flat.failed == 0
