"""Issue 9's "Must show" in one local runtime: every signal reaches one final state — resends,
resting orders followed to their end, cancels, the reconciler after a stop, two books, flatten.

Everything runs in process (service bindings, the queue, Durable Objects, the paper exchange and the
loopback fake exchanges); time moves only through the fake clock.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from fake_exchanges.bybit import FakeBybit
from hoox_edge import exchanges, lifecycle, reconcile
from hoox_edge.exchanges.base import OrderRequest
from hoox_edge.exchanges.paper import PaperProvider
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.shared import clock as clock_module
from hoox_edge.shared import settings
from order_support import hold_first_closes

from hoox_cli.core import models

GW = "hoox"
TRADE = "trade-worker"


@pytest.fixture(autouse=True)
def _fixed_time(clock):
    return clock


def signal(rt, **changes) -> dict:
    body = {"apiKey": rt.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT",
            "quantity": 0.01}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def send(rt, **changes):
    return await rt.request(GW, "POST", "/webhook", json=signal(rt, **changes))


async def kv_set(rt, key, value) -> None:
    await settings.put(rt.env(GW).CONFIG_KV, key, value)


async def rows(rt, sql, *args) -> list[dict]:
    return (await rt.env(GW).DB.prepare(sql).bind(*args).all())["results"]


async def v1(rt, method: str, path: str, body=None):
    token = rt.env(GW).OPERATOR_API_KEY
    return await rt.request(GW, method, "/v1" + path, json=body, headers={"Authorization": f"Bearer {token}"})


async def v1_result(rt, method: str, path: str, model=None, body=None):
    r = await v1(rt, method, path, body)
    assert r.status == 200, r.json()
    res = r.json()["result"]
    if model is not None:
        model.model_validate(res)
    return res


async def paper_orders(rt, account="bybit") -> list[dict]:
    return await PaperProvider(rt.env(TRADE), account)._rpc("orders", {"limit": 1000}, None)


async def signal_row(rt, rid) -> dict:
    [row] = await rows(rt, "SELECT status, error_code, error, lock_key FROM trade_signals WHERE request_id = ?", rid)
    return row


def open_states() -> str:
    return ", ".join(f"'{s}'" for s in lifecycle.OPEN)


# =========================================================================== resends
async def test_a_rejected_signal_can_be_fixed_and_sent_again_at_once(runtime):
    """502: the paper exchange does not know the symbol; the user pins a price; the same signal goes through."""
    r = await send(runtime, symbol="XRPUSDT", quantity=100)
    assert r.status == 502 and r.json()["error"]["code"] == "EXCHANGE_ERROR", r.json()
    assert (await signal_row(runtime, r.json()["requestId"]))["status"] == "Rejected"

    await kv_set(runtime, "exchanges:paper:price:XRPUSDT", 0.5)
    again = await send(runtime, symbol="XRPUSDT", quantity=100)  # identical: same implicit key, within 60 s
    assert again.status == 200, again.json()
    assert again.json()["result"]["status"] == "Filled" and again.json()["requestId"] != r.json()["requestId"]


async def test_a_finished_signal_resent_with_its_key_answers_409_with_the_original_outcome(runtime):
    first = await send(runtime, idempotencyKey="tv-7")
    assert first.status == 200
    again = await send(runtime, idempotencyKey="tv-7")
    assert again.status == 409
    body = again.json()
    assert body["error"]["code"] == "DUPLICATE_REQUEST"
    original = body["original"]
    assert original["requestId"] == first.json()["requestId"] and original["status"] == "Filled"
    assert original["result"] == first.json()["result"]
    assert len(await paper_orders(runtime)) == 1

    # A rejected signal with an explicit key is final too: its resend learns why, and nothing runs again.
    bad = await send(runtime, symbol="DOGEUSDT", idempotencyKey="tv-8")
    assert bad.status == 502
    resent = await send(runtime, symbol="DOGEUSDT", idempotencyKey="tv-8")
    assert resent.status == 409 and resent.json()["original"]["status"] == "Rejected"
    assert resent.json()["original"]["error"]["code"] == "EXCHANGE_ERROR"


async def test_the_lock_name_is_a_hash_never_the_key_as_sent(runtime):
    r = await send(runtime, idempotencyKey="my-secret-looking-key-123")
    row = await signal_row(runtime, r.json()["requestId"])
    assert row["lock_key"].startswith("explicit:") and "my-secret-looking-key-123" not in row["lock_key"]


# =========================================================================== resting orders
async def test_a_limit_order_rests_then_fills_when_the_price_crosses_and_another_is_cancelled(runtime):
    await kv_set(runtime, "exchanges:paper:price:BTCUSDT", 60000)
    r = await send(runtime, orderType="LIMIT", price=59000, idempotencyKey="dip-buy")
    assert r.status == 202, r.json()
    body = r.json()
    assert body["status"] == "Resting" and "rests on the exchange's book" in body["message"]
    rid = body["requestId"]
    gateway_logs = [x["message"] for x in await rows(
        runtime, "SELECT message FROM system_logs WHERE request_id = ? AND worker = 'hoox'", rid)]
    assert not any("fill" in m.lower() for m in gateway_logs)  # resting, never "filled"
    assert (await signal_row(runtime, rid))["status"] == "Resting"
    listed = await v1_result(runtime, "GET", "/orders", models.OrdersResult)
    assert [(o["requestId"], o["limitPrice"], o["filledQty"]) for o in listed["items"]] == [(rid, 59000.0, 0.0)]
    assert await rows(runtime, "SELECT * FROM positions") == []

    other = await send(runtime, orderType="LIMIT", price=58000, quantity=0.02, idempotencyKey="deeper")
    assert other.status == 202
    other_rid = other.json()["requestId"]

    # The market comes down through the first limit; the follower (trade-worker's cron) records the fill.
    await kv_set(runtime, "exchanges:paper:price:BTCUSDT", 58500)
    await runtime.run_cron(TRADE)
    assert (await signal_row(runtime, rid))["status"] == "Filled"
    [trade] = await rows(runtime, "SELECT status, filled_qty, price FROM trades WHERE request_id = ?", rid)
    assert trade == {"status": "Filled", "filled_qty": 0.01, "price": 59000.0}
    [pos] = await rows(runtime, "SELECT side, size, entry_price, mode FROM positions WHERE status = 'OPEN'")
    assert pos == {"side": "LONG", "size": 0.01, "entry_price": 59000.0, "mode": "paper"}

    # The other one is cancelled by the operator: at the exchange and in the ledger.
    cancelled = await v1_result(runtime, "DELETE", f"/orders/{other_rid}")
    assert cancelled["status"] == "Cancelled" and cancelled["executedQty"] == 0
    assert (await signal_row(runtime, other_rid))["status"] == "Cancelled"
    assert {o["clientOrderId"]: o["status"] for o in await paper_orders(runtime)}[
        exchanges.client_order_id(other_rid)] == "Cancelled"
    assert (await v1_result(runtime, "GET", "/orders"))["items"] == []
    again = await v1(runtime, "DELETE", f"/orders/{rid}")  # filled: nothing to cancel
    assert again.status == 409 and again.json()["error"]["code"] == "ORDER_NOT_OPEN"
    assert (await v1(runtime, "DELETE", "/orders/no-such-request")).status == 404
    # The price crossing the cancelled order's limit later changes nothing.
    await kv_set(runtime, "exchanges:paper:price:BTCUSDT", 57000)
    await runtime.run_cron(TRADE)
    assert [p["size"] for p in await rows(runtime, "SELECT size FROM positions WHERE status = 'OPEN'")] == [0.01]


async def test_a_resting_order_expires_after_its_time_on_the_book(runtime, clock):
    await kv_set(runtime, "trade:resting_order_ttl_minutes", 30)
    await kv_set(runtime, "exchanges:paper:price:BTCUSDT", 60000)
    r = await send(runtime, orderType="LIMIT", price=55000)
    rid = r.json()["requestId"]
    assert r.json()["result"]["expiresAt"] == clock_module.iso(clock_module.now() + 1800)
    clock.advance(29 * 60)
    await runtime.run_cron(TRADE)
    assert (await signal_row(runtime, rid))["status"] == "Resting"
    clock.advance(2 * 60)
    await runtime.run_cron(TRADE)
    assert (await signal_row(runtime, rid))["status"] == "Expired"
    [order] = await paper_orders(runtime)
    assert order["status"] == "Cancelled"  # taken off the exchange's book


# =========================================================================== the reconciler
async def _stopped_runtime_left(rt: LocalRuntime, rid: str, *, trade: bool, placed: bool) -> None:
    """What a runtime killed mid-signal leaves: a Received row (and its lock); with `trade` the pending
    order row its attempt wrote; with `placed` the order the paper exchange took before the kill."""
    env = rt.env(GW)
    payload = {"exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT", "quantity": 0.01, "leverage": 1.0,
               "orderType": "MARKET", "price": None, "quantityType": "contracts", "market": "futures",
               "source": "webhook", "idempotencyKey": f"k-{rid}"}
    lock_key, ttl = lifecycle.lock_for(f"k-{rid}", "")
    past = clock_module.iso(clock_module.now() - 120)
    await lifecycle.insert_statement(
        env.DB, request_id=rid, source="webhook", stored_payload=payload, idempotency_key=f"k-{rid}",
        exchange="bybit", symbol="BTCUSDT", action="LONG", quantity=0.01, signal=payload, lock_key=lock_key,
        now=past).run()
    assert (await lifecycle.lock_stub(env, lock_key).acquire(lock_key, ttl, rid))["acquired"]
    coid = exchanges.client_order_id(rid)
    if trade:
        await env.DB.prepare(
            "INSERT INTO trades (id, request_id, exchange, symbol, action, side, quantity, client_order_id, mode,"
            " status, attempts, lease_owner, lease_until, attempt_started_at, created_at, updated_at)"
            " VALUES (?,?,'bybit','BTCUSDT','LONG','BUY',0.01,?,'paper','TRADE_PENDING',1,'runtime:gone',?,?,?,?)"
        ).bind(str(uuid.uuid4()), rid, coid, clock_module.iso(clock_module.now() + 30), past, past, past).run()
        await lifecycle.move_statement(env.DB, rid, lifecycle.EXECUTING, (lifecycle.RECEIVED,)).run()
    if placed:
        await PaperProvider(rt.env(TRADE), "bybit").place_order(
            OrderRequest(symbol="BTCUSDT", side="BUY", quantity=0.01, client_order_id=coid))


async def test_the_reconciler_settles_what_a_stopped_runtime_left(runtime):
    await _stopped_runtime_left(runtime, "r-filled-unrecorded", trade=True, placed=True)
    await _stopped_runtime_left(runtime, "r-pending-unplaced", trade=True, placed=False)
    await _stopped_runtime_left(runtime, "r-never-delivered", trade=False, placed=False)

    summary = await reconcile.run(runtime.env(TRADE))
    assert summary["recorded"] == ["r-filled-unrecorded"]
    assert sorted(summary["notPlaced"]) == ["r-never-delivered", "r-pending-unplaced"]
    assert (await signal_row(runtime, "r-filled-unrecorded"))["status"] == "Filled"
    [trade] = await rows(runtime, "SELECT status, filled_qty FROM trades WHERE request_id = 'r-filled-unrecorded'")
    assert trade == {"status": "Filled", "filled_qty": 0.01}
    for rid in ("r-pending-unplaced", "r-never-delivered"):
        row = await signal_row(runtime, rid)
        assert (row["status"], row["error_code"]) == ("Rejected", "NOT_PLACED")
    assert await rows(runtime, f"SELECT request_id FROM trade_signals WHERE status IN ({open_states()})") == []
    assert len(await paper_orders(runtime)) == 1  # the exchange's orders equal the ledger's fills

    # Run again: nothing moves, nothing is counted twice.
    again = await reconcile.run(runtime.env(TRADE))
    assert again["recorded"] == [] and again["notPlaced"] == []
    assert [p["size"] for p in await rows(runtime, "SELECT size FROM positions WHERE status = 'OPEN'")] == [0.01]

    # A signal that was never placed may be sent again with its key: it runs now.
    r = await send(runtime, idempotencyKey="k-r-never-delivered")
    assert r.status == 200 and r.json()["result"]["status"] == "Filled"
    # One that filled answers 409 with its outcome, however its fill was learned.
    r = await send(runtime, idempotencyKey="k-r-filled-unrecorded")
    assert r.status == 409 and r.json()["original"]["status"] == "Filled"


async def test_a_resend_resumes_a_stranded_signal_and_finds_its_order(runtime):
    await _stopped_runtime_left(runtime, "r-stranded", trade=True, placed=True)
    r = await send(runtime, idempotencyKey="k-r-stranded")
    assert r.status == 200, r.json()
    assert r.json()["requestId"] == "r-stranded" and r.json()["result"]["status"] == "Filled"
    assert len(await paper_orders(runtime)) == 1  # found by its client order id, not placed again
    [resend] = await rows(runtime, "SELECT status, error_code FROM trade_signals WHERE request_id != 'r-stranded'")
    assert resend == {"status": "Rejected", "error_code": "DUPLICATE_REQUEST"}


# =========================================================================== two books
@pytest.fixture
async def live_bybit(runtime) -> AsyncIterator[FakeBybit]:
    fake = FakeBybit()
    await fake.start()
    runtime.workspace.set_secret("BYBIT_API_KEY", fake.api_key)
    runtime.workspace.set_secret("BYBIT_API_SECRET", fake.api_secret)
    await kv_set(runtime, "exchanges:bybit:base_url", fake.url)
    try:
        yield fake
    finally:
        await fake.stop()


async def test_paper_and_live_are_two_books(runtime, live_bybit):
    assert (await send(runtime, quantity=0.03, idempotencyKey="paper-1")).status == 200  # paper: 0.03 LONG

    await kv_set(runtime, "trade:mode", "live")
    assert (await send(runtime, quantity=0.01, idempotencyKey="live-1")).status == 200
    close = await send(runtime, action="CLOSE", idempotencyKey="live-close")
    assert close.status == 200, close.json()
    assert close.json()["result"]["executedQty"] == 0.01  # exactly the live size, not the 0.04 of both books
    [sell] = [o for o in live_bybit.orders.values() if o.side == "SELL"]
    assert sell.qty == Decimal("0.01") and live_bybit.positions["BTCUSDT"].size == 0

    open_rows = await rows(runtime, "SELECT mode, size FROM positions WHERE status = 'OPEN'")
    assert open_rows == [{"mode": "paper", "size": 0.03}]  # the paper position is untouched
    live_stats = await v1_result(runtime, "GET", "/stats", models.StatsResult)  # the desk trades live now
    assert live_stats["mode"] == "live" and live_stats["tradeCount"] == 2 and live_stats["openPositions"] == 0
    paper_stats = await v1_result(runtime, "GET", "/stats?mode=paper", models.StatsResult)
    assert paper_stats["tradeCount"] == 1 and paper_stats["openPositions"] == 1
    assert (await v1_result(runtime, "GET", "/positions"))["items"] == []
    assert len((await v1_result(runtime, "GET", "/positions?mode=paper"))["items"]) == 1


async def test_a_resting_live_order_fills_in_parts_and_a_cancel_keeps_what_filled(runtime, live_bybit):
    await kv_set(runtime, "trade:mode", "live")
    r = await send(runtime, orderType="LIMIT", price=59000, quantity=0.05)
    assert r.status == 202 and r.json()["status"] == "Resting"
    rid = r.json()["requestId"]
    coid = exchanges.client_order_id(rid)

    live_bybit.fill_part(coid, Decimal("0.02"))
    await runtime.run_cron(TRADE)
    [trade] = await rows(runtime, "SELECT status, filled_qty, price FROM trades WHERE request_id = ?", rid)
    assert trade == {"status": "Resting", "filled_qty": 0.02, "price": 59000.0}
    [pos] = await rows(runtime, "SELECT size, mode FROM positions WHERE status = 'OPEN'")
    assert pos == {"size": 0.02, "mode": "live"}
    await runtime.run_cron(TRADE)  # followed again: nothing new, nothing counted twice
    assert [p["size"] for p in await rows(runtime, "SELECT size FROM positions WHERE status = 'OPEN'")] == [0.02]

    live_bybit.fill_part(coid, Decimal("0.01"))
    cancelled = await v1_result(runtime, "DELETE", f"/orders/{rid}")
    assert cancelled["status"] == "Cancelled" and cancelled["executedQty"] == 0.03
    assert [p["size"] for p in await rows(runtime, "SELECT size FROM positions WHERE status = 'OPEN'")] == [0.03]
    assert live_bybit.orders[coid].status == "CANCELLED"
    assert (await signal_row(runtime, rid))["status"] == "Cancelled"


async def test_a_cancel_while_the_exchange_is_unreachable_is_503_and_the_order_still_rests(runtime):
    await kv_set(runtime, "exchanges:paper:price:BTCUSDT", 60000)
    r = await send(runtime, orderType="LIMIT", price=50000)
    assert r.status == 202 and r.json()["status"] == "Resting"
    rid = r.json()["requestId"]
    await kv_set(runtime, "exchanges:paper:fault", "outage")

    answer = await v1(runtime, "DELETE", f"/orders/{rid}")
    assert answer.status == 503, answer.json()
    err = answer.json()["error"]
    assert err["code"] == "EXCHANGE_UNAVAILABLE" and err["details"]["retryable"] is True
    assert "paper exchange outage" in err["message"] and "cancel it again" in err["message"]
    assert (await signal_row(runtime, rid))["status"] == "Resting"  # still followed
    res = await v1_result(runtime, "POST", "/positions/flatten", models.FlattenResult, {})
    [c] = res["cancelled"]
    assert (c["status"], c["error"]["code"]) == ("Resting", "EXCHANGE_UNAVAILABLE")
    assert "paper exchange outage" in c["error"]["message"]

    await kv_set(runtime, "exchanges:paper:fault", "")
    assert (await v1_result(runtime, "DELETE", f"/orders/{rid}"))["status"] == "Cancelled"


# =========================================================================== flatten
async def test_flatten_closes_three_positions_on_two_exchanges_and_reports_each(runtime):
    await kv_set(runtime, "webhooks:rate_limit_per_minute", 100)
    await kv_set(runtime, "exchanges:paper:price:SOLUSDT", 150)
    for ex, sym, qty, action in (("bybit", "BTCUSDT", 0.01, "LONG"), ("bybit", "ETHUSDT", 0.1, "SHORT"),
                                 ("binance", "SOLUSDT", 1, "LONG")):
        assert (await send(runtime, exchange=ex, symbol=sym, quantity=qty, action=action)).status == 200
    rest = await send(runtime, exchange="binance", symbol="SOLUSDT", orderType="LIMIT", price=100, quantity=1)
    assert rest.status == 202

    res = await v1_result(runtime, "POST", "/positions/flatten", models.FlattenResult, {})
    assert res["scope"] == {"mode": "all", "exchange": None, "symbol": None}
    assert [(c["requestId"], c["status"]) for c in res["cancelled"]] == [(rest.json()["requestId"], "Cancelled")]
    closes = {(c["exchange"], c["symbol"]): c for c in res["closes"]}
    assert set(closes) == {("bybit", "BTCUSDT"), ("bybit", "ETHUSDT"), ("binance", "SOLUSDT")}
    assert all(c["status"] == "Filled" and c["result"]["executedQty"] == c["size"] for c in closes.values())
    assert (res["closed"], res["failed"]) == (3, 0)
    assert await rows(runtime, "SELECT * FROM positions WHERE status = 'OPEN'") == []
    # Each close is a signal of its own, on the same path, with its reason.
    for c in closes.values():
        [sig] = await rows(runtime, "SELECT source, reason, status FROM trade_signals WHERE request_id = ?",
                           c["requestId"])
        assert sig == {"source": "operator", "reason": "flatten", "status": "Filled"}
        [trade] = await rows(runtime, "SELECT reason, action FROM trades WHERE request_id = ?", c["requestId"])
        assert trade == {"reason": "flatten", "action": "CLOSE"}
    assert (await v1_result(runtime, "POST", "/positions/flatten", None, {}))["closes"] == []  # nothing left


async def test_flatten_scope_and_the_kill_switch_with_flatten(runtime):
    await kv_set(runtime, "webhooks:rate_limit_per_minute", 100)
    assert (await send(runtime, symbol="BTCUSDT")).status == 200
    assert (await send(runtime, symbol="ETHUSDT", quantity=0.1)).status == 200
    res = await v1_result(runtime, "POST", "/positions/flatten", models.FlattenResult, {"symbol": "eth/usdt"})
    assert [c["symbol"] for c in res["closes"]] == ["ETHUSDT"]
    assert (await v1(runtime, "POST", "/positions/flatten", {"mode": "both"})).status == 400
    assert (await v1(runtime, "POST", "/kill-switch", {"on": False, "flatten": True})).status == 400

    on = await v1_result(runtime, "POST", "/kill-switch", models.KillSwitch,
                         {"on": True, "reason": "incident", "flatten": True})
    assert on["on"] is True and [c["symbol"] for c in on["flatten"]["closes"]] == ["BTCUSDT"]
    assert on["flatten"]["closes"][0]["status"] == "Filled"
    assert await rows(runtime, "SELECT * FROM positions WHERE status = 'OPEN'") == []
    assert (await send(runtime)).status == 503  # the switch stays on


async def test_a_flatten_close_the_exchange_cannot_take_is_not_placed_and_said_so(runtime):
    assert (await send(runtime)).status == 200
    await kv_set(runtime, "exchanges:paper:fault", "outage")
    res = await v1_result(runtime, "POST", "/positions/flatten", models.FlattenResult, {})
    [c] = res["closes"]
    assert c["status"] == "Rejected" and c["error"]["code"] == "NOT_PLACED" and res["failed"] == 1
    assert (await signal_row(runtime, c["requestId"]))["error_code"] == "NOT_PLACED"
    assert len(await rows(runtime, "SELECT * FROM positions WHERE status = 'OPEN'")) == 1
    [alert] = await rows(runtime, "SELECT level, message FROM alerts WHERE message LIKE 'flatten%'")
    assert alert["level"] == "critical" and "NOT closed: paper bybit BTCUSDT" in alert["message"]


async def flatten_alarms(rt) -> list[dict]:
    return await rows(rt, "SELECT level, message FROM system_logs WHERE message LIKE 'flatten%' AND level = 'critical'")


async def test_concurrent_flattens_close_each_position_once_and_none_reports_a_failure(runtime, monkeypatch):
    # The tester's repro: three flattens of binance at once; one closed 2/2, the others said "closed 0,
    # failed 2" (reduce-only rejected, NO_OPEN_POSITION), alarmed CRITICAL and left Rejected rows.
    await kv_set(runtime, "webhooks:rate_limit_per_minute", 100)
    for sym, qty, action in (("ETHUSDT", 0.2, "SHORT"), ("BTCUSDT", 0.01, "LONG")):
        assert (await send(runtime, exchange="binance", symbol=sym, quantity=qty, action=action)).status == 200
    held, release = hold_first_closes(monkeypatch, 2)
    first = asyncio.create_task(v1(runtime, "POST", "/positions/flatten", {"exchange": "binance"}))
    await held.wait()  # the first flatten's two closes are on their way to the exchange
    others = await asyncio.gather(*(v1(runtime, "POST", "/positions/flatten", {"exchange": "binance"})
                                    for _ in range(2)))
    release.set()
    answers = [await first, *others]
    results = [a.json()["result"] for a in answers]
    for res in results:
        models.FlattenResult.model_validate(res)
    won, *rest = results
    assert [c["status"] for c in won["closes"]] == ["Filled", "Filled"] and won["closed"] == 2
    closers = {c["symbol"]: c["requestId"] for c in won["closes"]}
    for res in rest:  # nothing sent: each position is being closed by the first flatten's close
        assert (res["closed"], res["closing"], res["failed"]) == (0, 2, 0), res
        assert {c["symbol"]: (c["status"], c["requestId"]) for c in res["closes"]} == {
            s: ("closing", rid) for s, rid in closers.items()}
        assert all(f"closing in request {c['requestId']}" in c["note"] for c in res["closes"])
    assert await flatten_alarms(runtime) == []
    assert await rows(runtime, "SELECT request_id FROM trades WHERE status = 'Rejected'") == []
    assert len(await paper_orders(runtime, "binance")) == 4  # two opens, two closes: nothing twice
    assert await rows(runtime, "SELECT * FROM positions WHERE status = 'OPEN'") == []
    # Once they are closed, another flatten finds nothing to close.
    assert (await v1_result(runtime, "POST", "/positions/flatten", None, {"exchange": "binance"}))["closes"] == []


async def test_a_flatten_while_another_close_is_unconfirmed_sends_nothing_and_names_that_close(runtime, clock):
    # A paper "timeout": the close is placed but not confirmed. A second flatten sent another close
    # (which ended Rejected); it must point at the first instead and send nothing.
    assert (await send(runtime)).status == 200
    await kv_set(runtime, "exchanges:paper:fault", "timeout")
    [c1] = (await v1_result(runtime, "POST", "/positions/flatten", models.FlattenResult, {}))["closes"]
    assert c1["status"] == "in_progress"
    await kv_set(runtime, "exchanges:paper:fault", "")

    second = await v1_result(runtime, "POST", "/positions/flatten", models.FlattenResult, {})
    [c2] = second["closes"]
    assert (c2["status"], c2["requestId"]) == ("closing", c1["requestId"])
    assert (second["failed"], second["closing"]) == (0, 1)
    assert len(await paper_orders(runtime)) == 2  # the open and the first close only
    assert await rows(runtime, "SELECT COUNT(*) AS n FROM trade_signals WHERE action = 'CLOSE'") == [{"n": 1}]
    [alert] = await rows(runtime, "SELECT level, message FROM alerts WHERE message LIKE 'flatten%' ORDER BY id DESC"
                                  " LIMIT 1")
    assert alert["level"] == "warning" and f"closing: paper bybit BTCUSDT in {c1['requestId']}" in alert["message"]

    clock.advance(lifecycle.LEASE_SECONDS + lifecycle.RECEIVE_WINDOW_SECONDS + 1)
    await reconcile.run(runtime.env(TRADE))  # settles the first close by its client order id
    assert (await signal_row(runtime, c1["requestId"]))["status"] == "Filled"
    assert await rows(runtime, "SELECT * FROM positions WHERE status = 'OPEN'") == []


async def test_a_close_of_a_position_closed_meanwhile_is_already_flat_and_sends_nothing(runtime, monkeypatch):
    from hoox_edge.operator import orders

    assert (await send(runtime)).status == 200
    [pos] = await rows(runtime, "SELECT id, exchange, symbol, side, size, mode, request_id FROM positions")
    [c] = (await v1_result(runtime, "POST", "/positions/flatten", models.FlattenResult, {}))["closes"]
    out = await orders.close(runtime.env(GW), pos, reason="flatten", operator_rid="op-late")  # read before that
    assert (out["status"], out["requestId"]) == ("already_flat", c["requestId"]) and "error" not in out
    assert len(await paper_orders(runtime)) == 2

    # A trader's CLOSE wins the race against the desk's close already on its way: not a failure either.
    assert (await send(runtime, quantity=0.02)).status == 200
    held, release = hold_first_closes(monkeypatch, 1)
    flat = asyncio.create_task(v1(runtime, "POST", "/positions/flatten", {}))
    await held.wait()
    trader = await send(runtime, action="CLOSE", quantity=None)
    assert trader.status == 200, trader.json()
    release.set()
    res = (await flat).json()["result"]
    [c] = res["closes"]
    assert (c["status"], res["failed"], res["alreadyFlat"]) == ("already_flat", 0, 1), res
    assert c["requestId"] == trader.json()["requestId"] and "on its way" in c["note"]  # as every already_flat
    assert await flatten_alarms(runtime) == []


async def test_a_flattens_orders_are_found_by_their_reason_with_the_operators_words(runtime):
    await kv_set(runtime, "webhooks:rate_limit_per_minute", 100)
    assert (await send(runtime, symbol="BTCUSDT")).status == 200
    rest = (await send(runtime, symbol="BTCUSDT", orderType="LIMIT", price=1000)).json()["requestId"]
    await v1_result(runtime, "POST", "/positions/flatten", models.FlattenResult, {"reason": "desk drill"})
    assert (await send(runtime, symbol="ETHUSDT", quantity=0.1)).status == 200
    await v1_result(runtime, "POST", "/kill-switch", models.KillSwitch, {"on": True, "reason": "incident",
                                                                        "flatten": True})
    found = await rows(runtime, "SELECT symbol, reason FROM trades WHERE action = 'CLOSE' AND reason LIKE 'flatten%'"
                                " ORDER BY symbol")
    assert found == [{"symbol": "BTCUSDT", "reason": "flatten: desk drill"},
                     {"symbol": "ETHUSDT", "reason": "flatten: kill switch"}]
    [cancel] = await rows(runtime, "SELECT details FROM system_logs WHERE request_id = ? AND message LIKE "
                                   "'Order cancel%'", rest)
    assert json.loads(cancel["details"])["reason"] == "flatten: desk drill"


# =========================================================================== no intermediate state left
async def test_every_signal_of_a_burst_ends_in_one_final_state(runtime):
    await kv_set(runtime, "webhooks:rate_limit_per_minute", 1000)
    answers = await asyncio.gather(*(send(runtime, idempotencyKey=f"b-{i % 20}", quantity=0.001)
                                     for i in range(60)))
    assert {a.status for a in answers} <= {200, 202, 409}
    assert await rows(runtime, f"SELECT request_id FROM trade_signals WHERE status IN ({open_states()})") == []
    filled = await rows(runtime, "SELECT request_id FROM trades WHERE status = 'Filled'")
    assert len(filled) == 20 == len(await paper_orders(runtime))
    keys = await rows(runtime, "SELECT idempotency_key, COUNT(*) AS n FROM trade_signals WHERE status = 'Filled'"
                      " GROUP BY idempotency_key")
    assert all(k["n"] == 1 for k in keys) and len(keys) == 20
    assert json.dumps(await rows(runtime, "SELECT * FROM trade_signals")).count(
        runtime.env(GW).WEBHOOK_API_KEY) == 0
