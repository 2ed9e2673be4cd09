"""Issue 2's "Must show", end to end: webhook -> gateway -> trade-worker -> paper exchange -> ledger.

Everything runs in one local runtime (in-process service calls, real SQLite state, the real queue
and Durable Objects); time moves only through the fake clock.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from hoox_edge.local.service import background_tasks
from hoox_edge.shared import settings

GW = "hoox"
TRADE_QUEUE = "trade-execution"
DLQ = "trade-execution-dlq"


def signal(runtime, **changes) -> dict:
    body = {"apiKey": runtime.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG",
            "symbol": "BTCUSDT", "quantity": 0.01}
    body.update(changes)
    return body


async def send(runtime, payload):
    return await runtime.request(GW, "POST", "/webhook", json=payload)


async def kv_set(runtime, key, value) -> None:
    await settings.put(runtime.env(GW).CONFIG_KV, key, value)


async def rows(runtime, sql, *args) -> list[dict]:
    return (await runtime.env(GW).DB.prepare(sql).bind(*args).all())["results"]


async def paper_orders(runtime, account="bybit") -> list[dict]:
    """What the paper exchange itself holds: the orders that really reached it."""
    ns = runtime.env("trade-worker").PAPER_EXCHANGE
    raw = await ns.get(ns.id_from_name(account)).orders(json.dumps({"config": {"account": account},
                                                                    "limit": 1000}))
    answer = json.loads(raw)
    assert answer["ok"], answer
    return answer["result"]


async def data_points(runtime, rid, kind) -> list[dict]:
    return await runtime.analytics_sql().query(
        f"SELECT * FROM hoox_telemetry WHERE index1 = '{rid}' AND blob1 = '{kind}'")


@pytest.fixture(autouse=True)
def _fixed_time(clock):
    """Every test here runs on the fake clock (retry delays and lock windows move with it)."""
    return clock


async def test_a_valid_signal_fills_once_and_every_record_carries_its_request_id(runtime):
    r = await send(runtime, signal(runtime, symbol="btc/usdt", leverage=5))
    assert r.status == 200, r.json()
    body = r.json()
    rid = body["requestId"]
    assert body["success"] is True and body["error"] is None
    assert (body["exchange"], body["symbol"], body["action"]) == ("bybit", "BTCUSDT", "LONG")
    result = body["result"]
    assert result["status"] == "Filled" and result["mode"] == "paper"
    assert result["executedQty"] == 0.01 and result["price"] > 0 and result["fee"] > 0
    assert result["orderId"]

    [trade] = await rows(runtime, "SELECT * FROM trades")
    assert (trade["request_id"], trade["status"], trade["order_id"]) == (rid, "Filled", result["orderId"])
    assert trade["client_order_id"] == "hx" + rid.replace("-", "")[:30]
    [position] = await rows(runtime, "SELECT * FROM positions")
    assert (position["request_id"], position["status"], position["side"]) == (rid, "OPEN", "LONG")
    assert position["size"] == 0.01 and position["entry_price"] == result["price"]
    [alert] = await rows(runtime, "SELECT * FROM alerts")
    assert (alert["request_id"], alert["delivery"]) == (rid, "outbox")
    assert len(await data_points(runtime, rid, "trade")) == 1
    assert len(await data_points(runtime, rid, "signal")) == 1
    [sig] = await rows(runtime, "SELECT * FROM trade_signals")
    assert (sig["request_id"], sig["status"], sig["symbol"]) == (rid, "Filled", "BTCUSDT")
    assert len(await paper_orders(runtime)) == 1
    logged = await rows(runtime, "SELECT DISTINCT worker FROM system_logs WHERE request_id = ?", rid)
    assert {row["worker"] for row in logged} >= {"hoox", "trade-worker"}
    key = runtime.env(GW).WEBHOOK_API_KEY
    for table in ("system_logs", "trade_signals", "trades", "alerts"):
        assert key not in json.dumps(await rows(runtime, f"SELECT * FROM {table}")), table


def assert_one_signal_answered(answers: list) -> str:
    """50 copies of one signal: one fill, and every copy answers that same request — its fill (the
    first, or a resend that resumed it as it finished), in progress while it runs (never a second
    order), or 409 with its outcome once it is final."""
    fills = {(a.json()["requestId"], a.json()["result"]["orderId"]) for a in answers if a.status == 200}
    assert len(fills) == 1, fills
    [(rid, _)] = fills
    for a in answers:
        body = a.json()
        if a.status == 202:
            assert body["status"] == "in_progress" and body["requestId"] == rid, body
        elif a.status == 409:
            assert body["error"]["code"] == "DUPLICATE_REQUEST", body
            assert body["original"]["requestId"] == rid and body["original"]["status"] == "Filled", body
        else:
            assert a.status == 200, body
    return rid


async def test_50_concurrent_copies_of_one_signal_make_one_order(runtime):
    await kv_set(runtime, "webhooks:rate_limit_per_minute", 100)
    copies = [signal(runtime, idempotencyKey="tv-burst-1") for _ in range(50)]
    answers = await asyncio.gather(*(send(runtime, c) for c in copies))
    rid = assert_one_signal_answered(answers)
    [trade] = await rows(runtime, "SELECT * FROM trades")
    assert trade["request_id"] == rid
    [position] = await rows(runtime, "SELECT * FROM positions WHERE status = 'OPEN'")
    assert position["size"] == 0.01
    assert len(await paper_orders(runtime)) == 1


async def test_50_concurrent_copies_without_a_key_make_one_order_too(runtime):
    await kv_set(runtime, "webhooks:rate_limit_per_minute", 100)
    answers = await asyncio.gather(*(send(runtime, signal(runtime)) for _ in range(50)))
    assert_one_signal_answered(answers)
    assert len(await paper_orders(runtime)) == 1


async def test_outage_with_queue_failover_enqueues_then_fills_exactly_once(runtime, clock):
    await kv_set(runtime, "webhooks:retry_schedule_seconds", [2, 2, 2])
    await kv_set(runtime, "exchanges:paper:fault", "outage")
    r = await send(runtime, signal(runtime, idempotencyKey="outage-1"))
    assert r.status == 202
    assert r.json()["status"] == "Enqueued" and r.json()["success"] is True
    rid = r.json()["requestId"]
    [sig] = await rows(runtime, "SELECT status FROM trade_signals")
    assert sig["status"] == "Enqueued"
    assert runtime.queue_store.depth(TRADE_QUEUE) == 1

    # Still down: the queue retries on the (shortened) schedule and nothing is placed.
    assert await runtime.drain_queues() == 1
    assert await paper_orders(runtime) == []
    assert await runtime.drain_queues() == 0  # not due before its delay

    await kv_set(runtime, "exchanges:paper:fault", "")
    clock.advance(2)
    assert await runtime.drain_queues() == 1
    [trade] = await rows(runtime, "SELECT * FROM trades")
    assert (trade["request_id"], trade["status"]) == (rid, "Filled")
    [sig] = await rows(runtime, "SELECT status FROM trade_signals")
    assert sig["status"] == "Filled"
    assert len(await paper_orders(runtime)) == 1
    assert runtime.queue_store.depth(TRADE_QUEUE) == 0

    # Nothing left to deliver, and the same key is still a duplicate.
    clock.advance(60)
    assert await runtime.drain_queues() == 0
    assert (await send(runtime, signal(runtime, idempotencyKey="outage-1"))).status == 409
    assert len(await paper_orders(runtime)) == 1


async def test_an_order_whose_answer_was_lost_is_queued_and_recorded_once(runtime, clock):
    # The paper exchange takes the CLOSE order and its answer is lost (fault "timeout"); the gateway
    # queues the signal and the retry finds the order by its client order id instead of placing a
    # second one. (A CLOSE goes straight to the order: an opening signal would time out earlier, on
    # the instrument lookup, before anything is placed.)
    opened = await send(runtime, signal(runtime, quantity=0.02))
    assert opened.status == 200
    await kv_set(runtime, "webhooks:retry_schedule_seconds", [1, 1, 1])
    await kv_set(runtime, "exchanges:paper:fault", "timeout")
    r = await send(runtime, signal(runtime, action="CLOSE", quantity=None))
    assert r.status == 202, r.json()
    assert len(await paper_orders(runtime)) == 2  # the close did reach the exchange

    await kv_set(runtime, "exchanges:paper:fault", "")
    clock.advance(1)
    assert await runtime.drain_queues() == 1
    closing = await rows(runtime, "SELECT * FROM trades WHERE request_id = ?", r.json()["requestId"])
    assert [(t["status"], t["quantity"]) for t in closing] == [("Filled", 0.02)]
    assert len(await paper_orders(runtime)) == 2
    assert await rows(runtime, "SELECT * FROM positions WHERE status = 'OPEN'") == []
    rid = r.json()["requestId"]
    [sig] = await rows(runtime, "SELECT status FROM trade_signals WHERE request_id = ?", rid)
    assert sig["status"] == "Filled"


@pytest.mark.parametrize("first", ["direct call", "queued retry"])
async def test_a_direct_call_over_the_time_budget_is_queued_and_fills_once(runtime, monkeypatch, first):
    # trade-worker is held at the door of /process until the gateway has given up waiting (50 ms);
    # the late direct call and the queued retry then race, in either order, for one order.
    gate = asyncio.Event()
    real_app = runtime.app

    def app_for(worker):
        inner = real_app(worker)
        if worker != "trade-worker":
            return inner

        async def held(scope, receive, send):
            if scope.get("path") == "/process":
                await gate.wait()
            await inner(scope, receive, send)
        return held

    monkeypatch.setattr(runtime, "app", app_for)
    await kv_set(runtime, "webhooks:direct_timeout_ms", 50)
    r = await send(runtime, signal(runtime, idempotencyKey="slow-1"))
    assert r.status == 202 and r.json()["status"] == "Enqueued"
    [msg] = runtime.queue_store.list(TRADE_QUEUE)
    body = msg["body"] if isinstance(msg["body"], dict) else json.loads(msg["body"])
    assert "did not answer within 50 ms" in body["reason"]

    late = list(background_tasks())
    if first == "direct call":
        gate.set()
        await asyncio.gather(*late)
        assert await runtime.drain_queues() == 1
    else:
        assert await runtime.drain_queues() == 1
        gate.set()
        await asyncio.gather(*late)
    [trade] = await rows(runtime, "SELECT * FROM trades")
    assert trade["status"] == "Filled" and trade["request_id"] == r.json()["requestId"]
    assert len(await paper_orders(runtime)) == 1
    [position] = await rows(runtime, "SELECT * FROM positions WHERE status = 'OPEN'")
    assert position["size"] == 0.01
    [sig] = await rows(runtime, "SELECT status FROM trade_signals")
    assert sig["status"] == "Filled"


async def test_a_signal_that_keeps_failing_is_dead_lettered_with_a_critical_alert(runtime, clock):
    await kv_set(runtime, "webhooks:retry_schedule_seconds", [1, 1])
    await kv_set(runtime, "exchanges:paper:fault", "outage")
    r = await send(runtime, signal(runtime, idempotencyKey="doomed-1"))
    assert r.status == 202
    rid = r.json()["requestId"]

    for _ in range(6):
        await runtime.drain_queues()
        clock.advance(2)
    assert runtime.queue_store.depth(TRADE_QUEUE) == 0
    [dead] = runtime.queue_store.list(DLQ)
    body = dead["body"] if isinstance(dead["body"], dict) else json.loads(dead["body"])
    assert body["requestId"] == rid and body["payload"]["symbol"] == "BTCUSDT"
    assert body["attempts"] == 3 and "outage" in body["lastError"]
    assert "apiKey" not in json.dumps(body)

    assert await rows(runtime, "SELECT status FROM trades") == []  # no order ever reached the exchange
    [sig] = await rows(runtime, "SELECT status, error_code FROM trade_signals")
    assert (sig["status"], sig["error_code"]) == ("DeadLettered", "EXCHANGE_UNAVAILABLE")
    critical = await rows(runtime, "SELECT * FROM alerts WHERE level = 'critical' AND request_id = ?", rid)
    assert len(critical) == 1
    assert await paper_orders(runtime) == []


async def test_close_flattens_the_open_position_exactly(runtime):
    first = await send(runtime, signal(runtime, quantity=0.015, idempotencyKey="open-1"))
    second = await send(runtime, signal(runtime, quantity=0.01, idempotencyKey="open-2"))
    assert first.status == 200 and second.status == 200
    [position] = await rows(runtime, "SELECT * FROM positions WHERE status = 'OPEN'")
    assert position["size"] == pytest.approx(0.025)

    close = await send(runtime, {"apiKey": runtime.env(GW).WEBHOOK_API_KEY, "exchange": "bybit",
                                 "action": "close", "symbol": "BTC-USDT"})
    assert close.status == 200, close.json()
    result = close.json()["result"]
    assert result["executedQty"] == pytest.approx(0.025) and result["side"] == "SELL"
    assert await rows(runtime, "SELECT * FROM positions WHERE status = 'OPEN'") == []
    positions = json.loads(await _paper_positions(runtime))
    assert positions["result"] == []

    again = await send(runtime, {"apiKey": runtime.env(GW).WEBHOOK_API_KEY, "exchange": "bybit",
                                 "action": "CLOSE", "symbol": "BTCUSDT", "idempotencyKey": "close-2"})
    assert again.status == 422 and again.json()["error"]["code"] == "NO_OPEN_POSITION"
    assert len(await paper_orders(runtime)) == 3


async def _paper_positions(runtime, account="bybit") -> str:
    ns = runtime.env("trade-worker").PAPER_EXCHANGE
    return await ns.get(ns.id_from_name(account)).positions(json.dumps({"config": {"account": account}}))


async def test_quantity_is_rounded_down_to_the_step_and_too_small_is_rejected(runtime):
    r = await send(runtime, signal(runtime, quantity=0.0159))
    assert r.status == 200, r.json()
    assert r.json()["result"]["executedQty"] == 0.015

    small = await send(runtime, signal(runtime, quantity=0.0004))
    assert small.status == 400
    err = small.json()["error"]
    assert err["code"] == "VALIDATION_ERROR" and "minimum" in err["message"].lower()
    rid = small.json()["requestId"]
    [sig] = await rows(runtime, "SELECT status FROM trade_signals WHERE request_id = ?", rid)
    assert sig["status"] == "Rejected"
    assert len(await paper_orders(runtime)) == 1
    assert len(await rows(runtime, "SELECT * FROM trades WHERE status = 'Filled'")) == 1


@pytest.mark.parametrize("order", ["market", "limit"])
async def test_a_queued_signal_is_refused_once_the_kill_switch_is_on_and_may_be_sent_again_after(
        runtime, clock, order):
    # The tester's repro: queued during an outage, the exchange back, the switch turned on: the
    # queued signal must not fill (nor a queued LIMIT rest) while the switch is on.
    await kv_set(runtime, "webhooks:retry_schedule_seconds", [2, 2])
    await kv_set(runtime, "exchanges:paper:fault", "outage")
    extra = {"orderType": "LIMIT", "price": 6000.0} if order == "limit" else {}  # a SELL far above: rests
    sent = signal(runtime, symbol="ETHUSDT", action="SHORT", quantity=0.2, exchange="binance",
                  idempotencyKey="q3", **extra)
    r = await send(runtime, sent)
    assert r.status == 202 and r.json()["status"] == "Enqueued"
    rid = r.json()["requestId"]
    await kv_set(runtime, "exchanges:paper:fault", "")
    await kv_set(runtime, "trade:kill_switch", True)
    await kv_set(runtime, "trade:kill_switch_reason", "halt all")

    clock.advance(2)
    assert await runtime.drain_queues() == 1
    assert await paper_orders(runtime, "binance") == []
    [sig] = await rows(runtime, "SELECT status, error_code, error FROM trade_signals WHERE request_id = ?", rid)
    assert (sig["status"], sig["error_code"]) == ("Rejected", "KILL_SWITCH_ACTIVE")
    assert "halt all" in sig["error"]
    assert runtime.queue_store.depth(TRADE_QUEUE) == 0 and runtime.queue_store.depth(DLQ) == 0

    # Off again: the same key is not a duplicate (nothing was placed under it) and trades now.
    await kv_set(runtime, "trade:kill_switch", False)
    again = await send(runtime, sent)
    assert again.status in (200, 202) and again.json()["requestId"] != rid, again.json()
    assert again.json()["status"] == ("Filled" if order == "market" else "Resting")
    assert len(await paper_orders(runtime, "binance")) == 1
