"""Orders and books for the tests of the operator's surfaces (client, CLI, cockpit), on a real edge.

- a resting order: a paper LIMIT far below the market rests on the paper exchange's book;
- a paper position: a MARKET signal that fills on the paper exchange;
- a live position: rows written into the ledger directly (no test reaches a real exchange), with
  its exchange pointed at a loopback port nothing listens on, so its mark price is never asked of
  the internet. Closing it fails (no API key is set): the case of a flatten that could not close;
- closes held at the paper exchange: a flatten whose closes are on their way while another runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from hoox_edge import catalog
from hoox_edge.exchanges.base import OrderRequest, OrderResult
from hoox_edge.exchanges.paper import PaperProvider
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.shared import settings
from netutil import free_port

GW = "hoox"
FAR_BELOW = 1000.0  # a limit price no paper BTCUSDT or ETHUSDT market reaches during a test


def gateway_url(rt: LocalRuntime) -> str:
    return f"http://127.0.0.1:{rt.ports[GW]}"


async def webhook(rt: LocalRuntime, **changes: Any) -> httpx.Response:
    body = {"apiKey": rt.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT",
            "quantity": 0.01} | changes
    async with httpx.AsyncClient(timeout=30) as c:
        return await c.post(gateway_url(rt) + "/webhook", json=body)


async def resting_order(rt: LocalRuntime, **changes: Any) -> str:
    """A paper limit order that rests on the book; its request id."""
    r = await webhook(rt, orderType="LIMIT", price=FAR_BELOW, **changes)
    assert r.status_code == 202 and r.json()["status"] == "Resting", r.text
    return str(r.json()["requestId"])


async def paper_position(rt: LocalRuntime, **changes: Any) -> str:
    """A filled paper MARKET signal (a position in the paper book); its request id."""
    r = await webhook(rt, **changes)
    assert r.status_code == 200 and r.json()["status"] == "Filled", r.text
    return str(r.json()["requestId"])


async def live_position(rt: LocalRuntime, *, exchange: str = "mexc", symbol: str = "ETHUSDT", side: str = "LONG",
                        size: float = 1.0, entry: float = 3000.0, fee: float = 0.3,
                        realized_pnl: float = 12.5) -> None:
    """An open position of the live book, and a live closing fill in the ledger (live figures)."""
    db = rt.env(GW).DB
    await settings.put(rt.env(GW).CONFIG_KV, f"exchanges:{exchange}:base_url", f"http://127.0.0.1:{free_port()}")
    at = "2026-01-05T09:00:00.000Z"
    await db.prepare(
        "INSERT INTO positions (exchange, symbol, side, size, entry_price, leverage, mode, status, request_id, "
        "opened_at, updated_at) VALUES (?,?,?,?,?,2,'live','OPEN','rid-live-open',?,?)"
    ).bind(exchange, symbol, side, size, entry, at, at).run()
    await db.prepare(
        "INSERT INTO trades (id, request_id, exchange, symbol, action, side, quantity, price, fee, realized_pnl, "
        "leverage, order_id, client_order_id, mode, status, attempts, created_at, updated_at, filled_qty) "
        "VALUES ('t-live-close','rid-live-close',?,?,'CLOSE','SELL',?,?,?,?,2,'o-live','hxlive','live','Filled',1,"
        "?,?,?)"
    ).bind(exchange, symbol, size, entry, fee, realized_pnl, at, at, size).run()


async def ledger_status(rt: LocalRuntime, request_id: str) -> str:
    row = await rt.d1(catalog.TRADE_DB).prepare("SELECT status FROM trades WHERE request_id = ?").bind(
        request_id).first()
    assert row is not None, f"no trade for {request_id}"
    return str(row["status"])


def hold_first_closes(monkeypatch: pytest.MonkeyPatch, n: int) -> tuple[asyncio.Event, asyncio.Event]:
    """The first `n` reduce-only orders wait at the paper exchange until `release` is set; `held`
    is set once all of them wait there (closes on their way: a condition, no sleeping)."""
    place = PaperProvider.place_order
    waiting: list[OrderRequest] = []
    held, release = asyncio.Event(), asyncio.Event()

    async def held_close(self: PaperProvider, order: OrderRequest) -> OrderResult:
        if order.reduce_only and len(waiting) < n:
            waiting.append(order)
            if len(waiting) == n:
                held.set()
            await release.wait()
        return await place(self, order)

    monkeypatch.setattr(PaperProvider, "place_order", held_close)
    return held, release
