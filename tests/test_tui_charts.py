"""Pilot tests of the cockpit's charts against a real local edge (loopback, free ports): the
dashboard's equity curve and drawdown from real paper fills, per book; a worker's latency history
from the edge's analytics, there in a cockpit started after the requests were made."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from hoox_edge.shared import settings
from order_support import gateway_url
from textual.widgets import Static
from tui_support import (
    cockpit_settings,  # noqa: F401  (autouse)
    make_ctx,
    plain,
    until,
)

from hoox_cli.core.client import AsyncHooxClient
from hoox_tui.app import HooxApp
from hoox_tui.charts import EquityChart, LatencyChart, epoch

GW = "hoox"


async def trade(rt: LocalRuntime, action: str, quantity: float, price: float) -> None:
    """A paper signal filled at `price` (the paper market's price pinned in KV first); each has its own
    idempotency key, so the same order twice is two orders."""
    await settings.put(rt.env(GW).CONFIG_KV, "exchanges:paper:price:BTCUSDT", price)
    body = {"apiKey": rt.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "action": action, "symbol": "BTCUSDT",
            "quantity": quantity, "idempotencyKey": f"chart-{uuid.uuid4()}"}
    async with httpx.AsyncClient(timeout=15) as c:
        r = await c.post(gateway_url(rt) + "/webhook", json=body)
    assert r.status_code == 200, r.text


def expected_curve(trades: list[Any]) -> tuple[list[float], list[float], list[float]]:
    """(times, equity, drawdown) worked out from the ledger's fills: equity is the running sum of
    realized P&L less fees, in fill order; drawdown its distance below the running peak (from 0)."""
    equity = peak = Decimal(0)
    ts, eq, dd = [], [], []
    for t in sorted(trades, key=lambda t: (t.updatedAt, t.seq)):
        equity += Decimal(str(t.realizedPnl)) - Decimal(str(t.fee))
        peak = max(peak, equity)
        ts.append(epoch(t.updatedAt))
        eq.append(float(equity))
        dd.append(float(peak - equity))
    return ts, eq, dd


def note(app: HooxApp) -> str:
    return plain(app.screen.query_one("#equity-note", Static))


async def test_the_dashboard_charts_the_equity_and_drawdown_of_the_book_shown(edge: LocalRuntime,
                                                                            workspace: Workspace) -> None:
    ctx = make_ctx(workspace, edge, refresh_seconds=0.3)
    app = HooxApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        chart = app.screen.query_one("#equity-chart", EquityChart)
        await until(pilot, lambda: "no closed trades in the paper book yet" in note(app),
                    "the empty paper book says so")
        assert not chart.display  # no flat line for an empty book

        await trade(edge, "LONG", 0.01, 60000)
        await until(pilot, lambda: "1 opening fill" in note(app), "an opening fill is not a closed trade")
        assert "no closed trades in the paper book yet" in note(app) and not chart.display
        await trade(edge, "CLOSE", 0.01, 61000)  # a profit
        await trade(edge, "LONG", 0.02, 61000)
        await trade(edge, "CLOSE", 0.02, 60000)  # a loss: the drawdown
        await trade(edge, "LONG", 0.03, 60000)
        await trade(edge, "CLOSE", 0.03, 60400)  # part of it back

        token = workspace.secrets()["OPERATOR_API_KEY"]
        async with AsyncHooxClient(gateway_url(edge), token) as c:
            fills = [t for t in (await c.trades(mode="paper", limit=50)).items if t.filledQty > 0]
        assert len(fills) == 6
        ts, eq, dd = expected_curve(fills)
        assert eq[1] > 0 and max(dd) > 0 and dd[-1] < max(dd)  # a profit, a fall, a partial recovery
        await until(pilot, lambda: chart.display and len(chart.series.get("equity", [])) == 6,
                    "the chart shows the six fills")
        assert chart.series["t"] == ts
        assert chart.series["equity"] == pytest.approx(eq, abs=1e-9)
        assert chart.series["drawdown"] == pytest.approx(dd, abs=1e-9)
        text = note(app)
        assert f"equity {eq[-1]:+,.2f}" in text and f"drawdown {dd[-1]:,.2f}" in text, text
        box = app.screen.query_one("#equity")
        assert "paper book" in str(box.border_title)
        assert f"max drawdown {max(dd):,.2f}" in str(box.border_subtitle) and "3 closed" in str(box.border_subtitle)

        # A live fill (recorded as trade-worker records one) is in the live book only.
        await edge.env(GW).DB.prepare(
            "INSERT INTO trades (id, request_id, exchange, symbol, action, side, quantity, price, fee, realized_pnl, "
            "client_order_id, mode, status, created_at, updated_at, filled_qty) VALUES ('lv1','rid-lv1','bybit',"
            "'ETHUSDT','CLOSE','SELL',1,3000,1.5,12.5,'c-lv1','live','Filled','2030-01-01T00:00:00.000Z',"
            "'2030-01-01T00:00:00.000Z',1)").run()
        await pilot.press("b")  # paper -> live
        await until(pilot, lambda: "LIVE book" in str(box.border_title) and chart.series.get("equity") == [11.0],
                    "the live book's own curve")
        assert chart.series["drawdown"] == [0.0]
        await pilot.press("b")  # live -> both books
        await until(pilot, lambda: "paper + live" in str(box.border_title)
                    and len(chart.series.get("equity", [])) == 7, "both books' curve")
        assert chart.series["equity"] == pytest.approx([*eq, eq[-1] + 11.0], abs=1e-9)
        await pilot.press("b")  # back to paper
        await until(pilot, lambda: "paper book" in str(box.border_title)
                    and chart.series.get("equity") == pytest.approx(eq, abs=1e-9), "the paper curve again")


async def test_the_latency_history_is_there_in_a_cockpit_started_after_the_requests(
        edge: LocalRuntime, workspace: Workspace) -> None:
    token = workspace.secrets()["OPERATOR_API_KEY"]
    # Requests before any cockpit runs: the gateway records each one in the analytics data.
    async with AsyncHooxClient(gateway_url(edge), token) as c:
        for _ in range(5):
            await c.status()
        before = await c.worker_latency(GW)
    earlier = sum(b.requests for b in before.buckets)
    assert before.available and earlier >= 5

    for run in (1, 2):  # a cockpit, then a second one started afresh: both see the edge's history
        await see_history(workspace, edge, run, earlier)


async def see_history(workspace: Workspace, edge: LocalRuntime, run: int, earlier: int) -> None:
    """A cockpit started now draws the gateway's latency history, holding at least `earlier` requests."""
    ctx = make_ctx(workspace, edge, refresh_seconds=0.3)
    app = HooxApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: bool(ctx.store.workers), "the workers are known")
        await pilot.press("f3")
        chart = app.screen.query_one("#latency-chart", LatencyChart)
        await until(pilot, lambda: app.current_mode == "worker-detail" and chart.display
                    and bool(chart.series.get("p50")), f"cockpit {run} draws the latency history")
        # every poll brings a newer history (the polls are requests too): stop polling, then the chart
        # shows the last one the store got
        ctx.store.refresh_seconds = 3600

        def served() -> list[Any]:
            return [b for b in ctx.store.latency[GW].buckets if b.p50Ms is not None]

        def drawn() -> bool:  # both lines: a poll already in flight may bring a history with a new p95 only
            return (chart.series.get("p50") == [b.p50Ms for b in served()]
                    and chart.series.get("p95") == [b.p95Ms for b in served()])

        await until(pilot, drawn, "the chart shows the store's latest history")
        history = ctx.store.latency[GW]
        # the first answer the cockpit got already holds every request made before it started
        assert sum(b.requests for b in history.buckets) >= earlier
        served_now = served()
        assert chart.series["p50"] == [b.p50Ms for b in served_now]
        assert chart.series["p95"] == [b.p95Ms for b in served_now]
        assert all(p50 <= p95 for p50, p95 in zip(chart.series["p50"], chart.series["p95"], strict=True))
        assert "p50" in plain(app.screen.query_one("#latency-note", Static))
