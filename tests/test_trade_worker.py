"""trade-worker end to end on the local runtime: /process, the queue consumer, the ledger it writes.

Prices are pinned through KV, so every figure is worked out by hand from the paper exchange's
defaults: taker fee 0.055 % of notional, market slippage 2 bps against the trader, BTCUSDT step
0.001, minimum 0.001 and 5 USDT.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hoox_edge.exchanges.paper import PaperProvider
from hoox_edge.shared import clock as clock_module

TRADE = "trade-worker"
QUEUE = "trade-execution"
DLQ = "trade-execution-dlq"


# --------------------------------------------------------------------------- helpers
def signal(**kw: Any) -> dict[str, Any]:
    s = {"exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT", "quantity": 0.01, "leverage": 1,
         "orderType": "MARKET", "price": None, "quantityType": "contracts", "market": "futures",
         "source": "webhook", "idempotencyKey": None}
    s.update(kw)
    return s


def auth(rt) -> dict[str, str]:
    return {"X-Internal-Auth-Key": rt.env(TRADE).INTERNAL_KEY_BINDING}


async def process(rt, rid: str, **kw: Any):
    return await rt.request(TRADE, "POST", "/process", json={"requestId": rid, "payload": signal(**kw)},
                            headers={**auth(rt), "X-Request-Id": rid})


async def rows(rt, sql: str, *args: Any) -> list[dict[str, Any]]:
    return (await rt.env(TRADE).DB.prepare(sql).bind(*args).all())["results"]


async def log_messages(rt, rid: str) -> list[str]:
    return [x["message"] for x in await rows(rt, "SELECT message FROM system_logs WHERE request_id = ?", rid)]


async def kv_put(rt, key: str, value: str) -> None:
    await rt.env(TRADE).CONFIG_KV.put(key, value)


async def paper_orders(rt, exchange: str = "bybit") -> list[dict[str, Any]]:
    """Every order the paper account holds (read with any injected fault lifted for the look)."""
    kv = rt.env(TRADE).CONFIG_KV
    fault = await kv.get("exchanges:paper:fault")
    await kv.put("exchanges:paper:fault", "")
    try:
        return await PaperProvider(rt.env(TRADE), exchange)._rpc("orders", {}, None)
    finally:
        if fault is not None:
            await kv.put("exchanges:paper:fault", fault)


async def received(rt, rid: str, **kw: Any) -> None:
    """The trade_signals row the gateway writes before it hands a signal over."""
    now = clock_module.iso()
    await rt.env(TRADE).DB.prepare(
        "INSERT INTO trade_signals (request_id, source, exchange, symbol, action, quantity, payload, status,"
        " created_at, updated_at) VALUES (?, 'webhook', 'bybit', 'BTCUSDT', ?, 0.01, ?, 'Enqueued', ?, ?)"
    ).bind(rid, kw.get("action", "LONG"), json.dumps(signal(**kw)), now, now).run()


async def enqueue(rt, rid: str, **kw: Any) -> None:
    await rt.queue_store.producer(QUEUE).send(
        {"requestId": rid, "payload": signal(**kw), "enqueuedAt": clock_module.iso(), "reason": "test"})


async def signal_status(rt, rid: str) -> str:
    return (await rows(rt, "SELECT status FROM trade_signals WHERE request_id = ?", rid))[0]["status"]


@pytest.fixture
async def rt(clock, runtime):
    await kv_put(runtime, "exchanges:paper:price:BTCUSDT", "60000")
    return runtime


# --------------------------------------------------------------------------- auth and health
async def test_process_requires_the_internal_key(rt):
    body = {"requestId": "r-auth", "payload": signal()}
    missing = await rt.request(TRADE, "POST", "/process", json=body)
    wrong = await rt.request(TRADE, "POST", "/process", json=body, headers={"X-Internal-Auth-Key": "nope"})
    assert missing.status == 401 and wrong.status == 401
    assert missing.json()["error"]["code"] == "UNAUTHORIZED"
    assert await rows(rt, "SELECT * FROM trades") == []
    assert await paper_orders(rt) == []


async def test_health_reports_mode(rt):
    r = await rt.request(TRADE, "GET", "/health")
    assert r.status == 200
    assert r.json()["result"]["status"] == "healthy" and r.json()["result"]["mode"] == "paper"


# --------------------------------------------------------------------------- fills
async def test_long_fills_with_trade_position_balance_alert_and_data_point(rt):
    await received(rt, "r-long")
    r = await process(rt, "r-long")
    assert r.status == 200, r.text()
    res = r.json()["result"]
    # 60000 + 2 bps slippage = 60012.0; fee 0.01 × 60012 × 0.00055 = 0.330066
    assert res["status"] == "Filled" and res["side"] == "BUY" and res["mode"] == "paper"
    assert res["executedQty"] == 0.01 and res["price"] == 60012.0
    assert res["fee"] == pytest.approx(0.330066, abs=1e-12)
    assert res["clientOrderId"] == "hxrlong"

    (trade,) = await rows(rt, "SELECT * FROM trades WHERE request_id = 'r-long'")
    assert trade["status"] == "Filled" and trade["order_id"] == res["orderId"] and trade["attempts"] == 1
    (pos,) = await rows(rt, "SELECT * FROM positions")
    assert (pos["status"], pos["side"], pos["size"], pos["entry_price"]) == ("OPEN", "LONG", 0.01, 60012.0)
    assert pos["request_id"] == "r-long" and pos["fees"] == pytest.approx(0.330066)
    (bal,) = await rows(rt, "SELECT * FROM balances")
    # Wallet 10000 - fee; margin 600.12 at 1x is locked.
    assert bal["request_id"] == "r-long"
    assert bal["total"] == pytest.approx(10000 - 0.330066) and bal["locked"] == pytest.approx(600.12)
    assert await signal_status(rt, "r-long") == "Filled"

    (alert,) = await rows(rt, "SELECT * FROM alerts WHERE request_id = 'r-long'")
    assert alert["message"] == "paper bybit LONG BTCUSDT 0.01 filled at 60012.0"
    assert alert["delivery"] == "outbox" and alert["level"] == "info"
    points = await rt.analytics_sql().query("SELECT * FROM hoox_telemetry WHERE index1 = 'r-long'")
    trade_points = [p for p in points if p["blob1"] == "trade"]
    assert len(trade_points) == 1 and trade_points[0]["double2"] == 60012.0
    logs = await log_messages(rt, "r-long")
    assert any(m.startswith("Order sent") for m in logs) and any(m.startswith("Order filled") for m in logs)


async def test_same_request_id_again_returns_the_recorded_result_without_a_new_order(rt):
    first = await process(rt, "r-again")
    await kv_put(rt, "exchanges:paper:price:BTCUSDT", "65000")  # a new order would fill elsewhere
    second = await process(rt, "r-again")
    assert first.status == second.status == 200
    assert second.json()["result"] == first.json()["result"]
    assert len(await paper_orders(rt)) == 1
    assert len(await rows(rt, "SELECT * FROM trades")) == 1
    assert (await rows(rt, "SELECT size FROM positions"))[0]["size"] == 0.01


async def test_concurrent_copies_of_one_request_place_one_order(rt):
    results = await asyncio.gather(*(process(rt, "r-race") for _ in range(5)))
    # One attempt holds the order; a copy that arrives while it runs is told so, never a second order.
    assert 200 in {r.status for r in results} and {r.status for r in results} <= {200, 202}
    assert all(r.json()["status"] == "in_progress" for r in results if r.status == 202)
    assert len(await paper_orders(rt)) == 1
    again = await process(rt, "r-race")  # once it is recorded, every copy answers the fill
    filled = {r.json()["result"]["orderId"] for r in results if r.status == 200}
    assert again.status == 200 and filled == {again.json()["result"]["orderId"]}
    (pos,) = await rows(rt, "SELECT * FROM positions")
    assert pos["size"] == 0.01
    assert len(await rows(rt, "SELECT * FROM balances")) == 1


async def test_close_flattens_exactly_with_realised_pnl(rt):
    await process(rt, "r-open1", quantity=0.01)
    await kv_put(rt, "exchanges:paper:price:BTCUSDT", "62000")
    await process(rt, "r-open2", quantity=0.02)  # buys at 62012.4
    await kv_put(rt, "exchanges:paper:price:BTCUSDT", "61000")
    r = await process(rt, "r-close", action="CLOSE", quantity=None)
    assert r.status == 200, r.text()
    res = r.json()["result"]
    # entry = (0.01 × 60012 + 0.02 × 62012.4) / 0.03 = 61345.6; exit 61000 - 2 bps = 60987.8
    # realised = (60987.8 - 61345.6) × 0.03 = -10.734
    assert res["side"] == "SELL" and res["executedQty"] == 0.03 and res["price"] == 60987.8
    assert res["realizedPnl"] == pytest.approx(-10.734, abs=1e-9)
    (order,) = [o for o in await paper_orders(rt) if o["clientOrderId"] == res["clientOrderId"]]
    assert order["reduceOnly"] is True and order["quantity"] == 0.03

    (pos,) = await rows(rt, "SELECT * FROM positions")
    assert pos["status"] == "CLOSED" and pos["closed_at"] is not None
    assert pos["entry_price"] == pytest.approx(61345.6)
    assert pos["realized_pnl"] == pytest.approx(-10.734, abs=1e-9)
    fees = 0.01 * 60012 * 0.00055 + 0.02 * 62012.4 * 0.00055 + 0.03 * 60987.8 * 0.00055
    assert pos["fees"] == pytest.approx(fees, abs=1e-9)
    assert await rows(rt, "SELECT * FROM positions WHERE status = 'OPEN'") == []
    assert len(await rows(rt, "SELECT * FROM balances")) == 3


async def test_close_without_a_position_is_422_and_places_nothing(rt):
    await received(rt, "r-close0", action="CLOSE")
    r = await process(rt, "r-close0", action="CLOSE", quantity=None)
    assert r.status == 422
    assert r.json()["error"]["code"] == "NO_OPEN_POSITION"
    assert await rows(rt, "SELECT * FROM trades") == []
    assert await paper_orders(rt) == []
    (sig,) = await rows(rt, "SELECT status, error FROM trade_signals WHERE request_id = 'r-close0'")
    assert sig["status"] == "Rejected" and "No open BTCUSDT position" in sig["error"]


async def test_short_larger_than_the_long_flips_the_position(rt):
    await process(rt, "r-f1", quantity=0.01)
    r = await process(rt, "r-f2", action="SHORT", quantity=0.03)  # sells at 59988.0
    assert r.status == 200
    # Closes 0.01: (59988 - 60012) × 0.01 = -0.24; opens a 0.02 SHORT at 59988.
    assert r.json()["result"]["realizedPnl"] == pytest.approx(-0.24)
    closed, opened = await rows(rt, "SELECT * FROM positions ORDER BY id")
    assert closed["status"] == "CLOSED" and closed["realized_pnl"] == pytest.approx(-0.24)
    assert (opened["status"], opened["side"]) == ("OPEN", "SHORT")
    assert (opened["size"], opened["entry_price"]) == (0.02, 59988.0)


async def test_an_invalid_signal_is_rejected_with_every_issue_and_places_nothing(rt):
    await received(rt, "r-bad")
    r = await process(rt, "r-bad", action="HOLD", quantity=-1, orderType="LIMIT")
    assert r.status == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    fields = {d["field"] for d in r.json()["error"]["details"]}
    assert fields == {"action", "quantity", "price"}
    assert await signal_status(rt, "r-bad") == "Rejected"
    spot = await process(rt, "r-spot", market="spot", action="SHORT", leverage=3)
    assert spot.status == 400
    assert {d["field"] for d in spot.json()["error"]["details"]} == {"market", "leverage"}
    assert await paper_orders(rt) == []


# --------------------------------------------------------------------------- sizing
async def test_quantity_is_rounded_down_to_the_step(rt):
    r = await process(rt, "r-round", quantity=0.0159)
    assert r.status == 200
    assert r.json()["result"]["executedQty"] == 0.015
    assert (await paper_orders(rt))[0]["quantity"] == 0.015


async def test_below_minimum_after_rounding_is_rejected_without_an_order(rt):
    await received(rt, "r-tiny")
    r = await process(rt, "r-tiny", quantity=0.0009)
    assert r.status == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "below the minimum order size 0.001" in r.json()["error"]["message"]
    # Decided before any order existed: the signal is Rejected, and there is no order row.
    assert await rows(rt, "SELECT * FROM trades WHERE request_id = 'r-tiny'") == []
    (sig,) = await rows(rt, "SELECT status, error_code, error FROM trade_signals WHERE request_id = 'r-tiny'")
    assert (sig["status"], sig["error_code"]) == ("Rejected", "VALIDATION_ERROR")
    assert "below the minimum order size" in sig["error"]
    assert await paper_orders(rt) == []
    again = await process(rt, "r-tiny", quantity=0.0009)  # the recorded rejection, same answer
    assert again.status == 400 and again.json()["error"]["message"] == r.json()["error"]["message"]

    await kv_put(rt, "exchanges:paper:price:BTCUSDT", "3000")
    low = await process(rt, "r-notional", quantity=0.001)  # 3 USDT < 5 USDT
    assert low.status == 400 and "minimum order value 5.0 USDT" in low.json()["error"]["message"]
    assert await paper_orders(rt) == []


async def test_usdt_sized_order_with_leverage(rt):
    r = await process(rt, "r-usdt", quantity=100, quantityType="usdt", leverage=5)
    assert r.status == 200, r.text()
    # 100 USDT × 5 / 60000 = 0.00833.. -> 0.008
    assert r.json()["result"]["executedQty"] == 0.008
    (pos,) = await PaperProvider(rt.env(TRADE), "bybit").positions("BTCUSDT")
    assert pos.leverage == 5 and pos.size == 0.008
    (ledger_pos,) = await rows(rt, "SELECT leverage FROM positions")
    assert ledger_pos["leverage"] == 5


# --------------------------------------------------------------------------- routing and mode
async def test_routing_override_and_default(rt):
    await kv_put(rt, "exchanges:routing:BTCUSDT", "binance")
    r = await process(rt, "r-route", exchange="bybit")
    assert r.json()["result"]["exchange"] == "binance"
    assert len(await paper_orders(rt, "binance")) == 1 and await paper_orders(rt, "bybit") == []

    await rt.env(TRADE).CONFIG_KV.delete("exchanges:routing:BTCUSDT")
    await kv_put(rt, "exchanges:default_routing", "mexc")
    r = await process(rt, "r-default", exchange=None)
    assert r.json()["result"]["exchange"] == "mexc"
    assert len(await paper_orders(rt, "mexc")) == 1


async def test_live_mode_without_credentials_is_a_clear_rejection(rt):
    await kv_put(rt, "trade:mode", "live")
    r = await process(rt, "r-live")
    assert r.status == 502
    err = r.json()["error"]
    assert err["code"] == "EXCHANGE_ERROR" and err["details"]["retryable"] is False
    assert "BYBIT_API_KEY" in err["message"] and "BYBIT_API_SECRET" in err["message"]
    assert await rows(rt, "SELECT * FROM trades") == []  # no order could be started
    assert await signal_status(rt, "r-live") == "Rejected"
    assert await paper_orders(rt) == []


async def test_exchange_rejection_is_recorded_alerted_and_not_retried(rt):
    await received(rt, "r-broke")
    await enqueue(rt, "r-broke", quantity=1.0)  # 60012 USDT of margin > 10000 USDT balance
    assert await rt.drain_queues() == 1
    (trade,) = await rows(rt, "SELECT status, error FROM trades")
    assert trade["status"] == "Rejected" and "insufficient balance" in trade["error"]
    assert await signal_status(rt, "r-broke") == "Rejected"
    (alert,) = await rows(rt, "SELECT level, message FROM alerts")
    assert alert["level"] == "warning" and "insufficient balance" in alert["message"]
    assert rt.queue_store.depth(QUEUE) == 0 and rt.queue_store.depth(DLQ) == 0
    r = await process(rt, "r-broke", quantity=1.0)
    assert r.status == 502 and r.json()["error"]["details"]["retryable"] is False


# --------------------------------------------------------------------------- outages and retries
async def test_outage_gives_503_then_queue_retries_on_schedule_and_fills_once(rt, clock):
    await kv_put(rt, "webhooks:retry_schedule_seconds", "10,20,30")
    await kv_put(rt, "exchanges:paper:fault", "outage")
    await received(rt, "r-out")
    r = await process(rt, "r-out")
    assert r.status == 503
    err = r.json()["error"]
    assert err["code"] == "EXCHANGE_UNAVAILABLE" and err["details"]["retryable"] is True
    assert "outage" in err["message"]
    assert await rows(rt, "SELECT * FROM trades") == []  # the exchange did not answer its sizing reads

    await enqueue(rt, "r-out")  # what the gateway does with a 503
    assert await rt.drain_queues() == 1  # attempt 1 fails -> retry in 10 s
    assert await rt.drain_queues() == 0
    clock.advance(9)
    assert await rt.drain_queues() == 0
    clock.advance(1)
    assert await rt.drain_queues() == 1  # attempt 2 fails -> retry in 20 s
    await kv_put(rt, "exchanges:paper:fault", "")
    clock.advance(19)
    assert await rt.drain_queues() == 0
    clock.advance(1)
    assert await rt.drain_queues() == 1  # attempt 3 fills

    (trade,) = await rows(rt, "SELECT status, attempts FROM trades")
    assert trade == {"status": "Filled", "attempts": 1}  # the one attempt that reached the exchange
    assert len(await paper_orders(rt)) == 1
    assert await signal_status(rt, "r-out") == "Filled"
    assert rt.queue_store.depth(QUEUE) == 0 and rt.queue_store.depth(DLQ) == 0
    logs = await log_messages(rt, "r-out")
    assert sum(m.startswith("Retry 1/3 scheduled in 10s") for m in logs) == 1
    assert sum(m.startswith("Retry 2/3 scheduled in 20s") for m in logs) == 1


async def test_message_that_keeps_failing_is_dead_lettered(rt, clock):
    await kv_put(rt, "webhooks:retry_schedule_seconds", "5,5")
    await kv_put(rt, "exchanges:paper:fault", "outage")
    await received(rt, "r-dead")
    await enqueue(rt, "r-dead")
    for _ in range(3):
        assert await rt.drain_queues() == 1
        clock.advance(5)
    assert await rt.drain_queues() == 0

    (dead,) = rt.queue_store.list(DLQ)
    body = dead["body"]
    assert body["requestId"] == "r-dead" and body["attempts"] == 3 and body["payload"]["symbol"] == "BTCUSDT"
    assert "outage" in body["lastError"] and body["deadLetteredAt"]
    assert rt.queue_store.depth(QUEUE) == 0
    (sig,) = await rows(rt, "SELECT status, error_code, error FROM trade_signals")
    assert (sig["status"], sig["error_code"]) == ("DeadLettered", "EXCHANGE_UNAVAILABLE")
    assert "gave up after 3 attempts" in sig["error"]
    (alert,) = await rows(rt, "SELECT level, message FROM alerts WHERE level = 'critical'")
    assert "dead-lettered after 3 attempts" in alert["message"]
    assert await paper_orders(rt) == []


def lose_the_order_answer(rt, monkeypatch):
    """The paper exchange places the next order, and the answer is lost (a timeout); the original
    `place_order` is returned, to put back."""
    place = PaperProvider.place_order

    async def place_then_lose_the_answer(self, order):
        # The timeout fault hits the order call itself (sizing reads before it still answer).
        await kv_put(rt, "exchanges:paper:fault", "timeout")
        return await place(self, order)

    monkeypatch.setattr(PaperProvider, "place_order", place_then_lose_the_answer)
    return place


async def test_timeout_retry_finds_the_order_by_client_order_id(rt, monkeypatch):
    place = lose_the_order_answer(rt, monkeypatch)
    r = await process(rt, "r-timeout")
    assert r.status == 503  # the order was placed, but the answer was lost
    assert len(await paper_orders(rt)) == 1
    assert await rows(rt, "SELECT * FROM positions") == []

    monkeypatch.setattr(PaperProvider, "place_order", place)  # the exchange answers again
    await kv_put(rt, "exchanges:paper:fault", "")
    await enqueue(rt, "r-timeout")
    assert await rt.drain_queues() == 1
    (order,) = await paper_orders(rt)  # still exactly one order at the exchange
    (trade,) = await rows(rt, "SELECT * FROM trades")
    assert trade["status"] == "Filled" and trade["order_id"] == order["orderId"]
    assert trade["attempts"] == 2
    (pos,) = await rows(rt, "SELECT size, entry_price FROM positions")
    assert pos == {"size": 0.01, "entry_price": 60012.0}
    logs = [x["message"] for x in await rows(rt, "SELECT message FROM system_logs")]
    assert any("found by client order id" in m for m in logs)


async def test_unexpected_error_in_the_queue_handler_keeps_the_message(rt, clock):
    await kv_put(rt, "webhooks:retry_schedule_seconds", "5")
    await kv_put(rt, "trade:mode", "bogus")  # unreadable setting: an internal error, not a rejection
    await enqueue(rt, "r-bug")
    assert await rt.drain_queues() == 1
    assert rt.queue_store.depth(QUEUE) == 1
    await kv_put(rt, "trade:mode", "paper")
    clock.advance(5)
    assert await rt.drain_queues() == 1
    assert (await rows(rt, "SELECT status FROM trades"))[0]["status"] == "Filled"
    assert len(await paper_orders(rt)) == 1


# --------------------------------------------------------------------------- request log
async def test_r2_request_log_has_no_secret(rt, workspace):
    workspace.set_secret("BYBIT_API_SECRET", "bybit-secret-value-123")
    internal = rt.env(TRADE).INTERNAL_KEY_BINDING
    r = await process(rt, "r-r2", apiKey="webhook-passkey-xyz", comment="bybit-secret-value-123")
    assert r.status == 200
    bucket = rt.env(TRADE).SYSTEM_LOGS_BUCKET
    obj = await bucket.get("trades/bybit/BTCUSDT/2026-01-05/r-r2.json")
    assert obj is not None
    text = obj.text()
    doc = json.loads(text)
    assert doc["outcome"] == "Filled" and doc["response"]["order"]["avg_price"] == 60012.0
    assert doc["request"]["order"]["client_order_id"] == "hxrr2"
    assert "bybit-secret-value-123" not in text and "webhook-passkey-xyz" not in text and internal not in text


# --------------------------------------------------------------------------- ledger guard
async def test_a_fill_batch_computed_from_a_stale_position_writes_nothing(rt):
    """Two fills racing on one symbol: the one whose math started from an old position must fail whole."""
    from decimal import Decimal as D

    from hoox_edge import ledger, lifecycle
    from hoox_edge.ports import D1Error

    db, env = rt.env(TRADE).DB, rt.env(TRADE)
    await received(rt, "r-stale")
    attempt = lifecycle.Attempt(lifecycle.owner(env), clock_module.iso())
    res = await db.batch(lifecycle.begin_attempt_statements(
        db, request_id="r-stale", exchange="bybit", symbol="BTCUSDT", action="LONG", side="BUY",
        order_type="MARKET", quantity=0.01, limit_price=None, leverage=1, client_order_id="hxrstale",
        mode="paper", reason=None, seen=None, attempt=attempt,
        log=lifecycle.log_statement(db, env, "info", "Order sent", "r-stale")))
    assert res[0]["meta"]["changes"] == 1
    stale_before = None  # read before another fill opened the position
    await process(rt, "r-first")  # opens 0.01 LONG meanwhile
    fill = ledger.Fill("BUY", D("0.01"), D("60012"), D("0.33"))
    rec = lifecycle.FillRecord(
        request_id="r-stale", exchange="bybit", symbol="BTCUSDT", mode="paper", order_id="o-stale", fill=fill,
        before=stale_before, outcome=ledger.apply_fill(stale_before, fill),
        trade_from=(lifecycle.PENDING,), prev_filled=D(0), status_after=lifecycle.FILLED,
        totals=(D("0.01"), D("60012"), D("0.33"), D(0)), balance=("USDT", 1.0, 0.0), log_message="filled",
        log_details="{}", now=clock_module.iso())
    with pytest.raises(D1Error, match="NOT NULL"):
        await db.batch(lifecycle.fill_statements(db, rec))
    assert (await ledger.get_trade(db, "r-stale"))["status"] == "TRADE_PENDING"
    assert len(await rows(rt, "SELECT * FROM positions")) == 1
    assert len(await rows(rt, "SELECT * FROM balances")) == 1
    assert await log_messages(rt, "r-stale") == ["Order sent"]

    # Recomputed from the current position, the same fill goes through and adds to it.
    before = await ledger.open_position(db, "paper", "bybit", "BTCUSDT")
    rec2 = lifecycle.FillRecord(**{**rec.__dict__, "before": before, "outcome": ledger.apply_fill(before, fill)})
    await db.batch(lifecycle.fill_statements(db, rec2))
    (pos,) = await rows(rt, "SELECT size, entry_price FROM positions")
    assert pos == {"size": 0.02, "entry_price": 60012.0}
    assert (await ledger.get_trade(db, "r-stale"))["status"] == "Filled"
    assert await signal_status(rt, "r-stale") == "Filled"


# --------------------------------------------------------------------------- the kill switch
async def _kill_switch(rt, on: bool) -> None:
    await kv_put(rt, "trade:kill_switch", "true" if on else "false")
    await kv_put(rt, "trade:kill_switch_reason", "halt all")


async def test_a_redelivery_places_nothing_while_the_kill_switch_is_on_and_refuses_after_the_deadline(
        rt, clock, monkeypatch):
    from hoox_edge.exchanges.base import ExchangeError

    async def unreachable(self, order):  # the attempt took its lease; the order call fails
        raise ExchangeError("unavailable", "connection refused")

    monkeypatch.setattr(PaperProvider, "place_order", unreachable)
    await received(rt, "r-halt")
    assert (await process(rt, "r-halt")).status == 503
    monkeypatch.undo()
    await _kill_switch(rt, True)

    await enqueue(rt, "r-halt")
    assert await rt.drain_queues() == 1  # before the deadline: looked up, not placed, left for later
    assert await paper_orders(rt) == [] and rt.queue_store.depth(QUEUE) == 1
    (trade,) = await rows(rt, "SELECT status, attempts FROM trades")
    assert trade == {"status": "TRADE_PENDING", "attempts": 1}  # no new attempt was started
    clock.advance(31)
    assert await rt.drain_queues() == 1  # past it: nothing can arrive any more -> refused
    assert await paper_orders(rt) == [] and rt.queue_store.depth(QUEUE) == 0
    (sig,) = await rows(rt, "SELECT status, error_code FROM trade_signals")
    assert sig == {"status": "Rejected", "error_code": "KILL_SWITCH_ACTIVE"}
    (trade,) = await rows(rt, "SELECT status FROM trades")
    assert trade["status"] == "Rejected"


async def test_a_taken_over_order_already_placed_is_recorded_while_the_kill_switch_is_on(rt, monkeypatch):
    lose_the_order_answer(rt, monkeypatch)
    await received(rt, "r-placed")
    assert (await process(rt, "r-placed")).status == 503
    monkeypatch.undo()
    await kv_put(rt, "exchanges:paper:fault", "")
    await _kill_switch(rt, True)

    await enqueue(rt, "r-placed")
    assert await rt.drain_queues() == 1
    (order,) = await paper_orders(rt)
    (trade,) = await rows(rt, "SELECT status, order_id FROM trades")
    assert trade == {"status": "Filled", "order_id": order["orderId"]}
    assert await signal_status(rt, "r-placed") == "Filled"


async def test_the_desks_own_closes_go_through_while_the_kill_switch_is_on(rt):
    assert (await process(rt, "r-open", quantity=0.02)).status == 200
    await _kill_switch(rt, True)
    assert (await process(rt, "r-webhook-long")).json()["error"]["code"] == "KILL_SWITCH_ACTIVE"
    r = await process(rt, "r-risk", action="CLOSE", quantity=0.01, source="risk", mode="paper", reason="drawdown")
    assert r.status == 200 and r.json()["result"]["executedQty"] == 0.01
    r = await process(rt, "r-flat", action="CLOSE", quantity=None, source="operator", mode="paper",
                      reason="flatten")
    assert r.status == 200
    assert await rows(rt, "SELECT * FROM positions WHERE status = 'OPEN'") == []
    assert len(await paper_orders(rt)) == 3


# --------------------------------------------------------------------------- a LIMIT close
async def test_a_limit_close_rests_reduce_only_at_its_price_then_fills_and_closes_the_position(rt):
    assert (await process(rt, "r-open-long", quantity=0.02)).status == 200
    r = await process(rt, "r-limit-close", action="CLOSE", quantity=None, orderType="LIMIT", price=61000.0)
    assert r.status == 202, r.text()
    res = r.json()["result"]
    assert (res["status"], res["limitPrice"], res["side"], res["quantity"]) == ("Resting", 61000.0, "SELL", 0.02)
    (order,) = [o for o in await paper_orders(rt) if o["status"] == "New"]
    assert order["reduceOnly"] is True and order["price"] == 61000.0
    (pos,) = await rows(rt, "SELECT status, size FROM positions")
    assert pos == {"status": "OPEN", "size": 0.02}

    await kv_put(rt, "exchanges:paper:price:BTCUSDT", "61500")
    await rt.run_cron(TRADE)  # the order follower
    assert await signal_status(rt, "r-limit-close") == "Filled"
    (trade,) = await rows(rt, "SELECT status, price, filled_qty FROM trades WHERE request_id = 'r-limit-close'")
    assert trade == {"status": "Filled", "price": 61000.0, "filled_qty": 0.02}
    assert await rows(rt, "SELECT * FROM positions WHERE status = 'OPEN'") == []
