"""The webhook as stages (gateway.STAGES): what each stage's refusal tells the sender is what the
ledger records, and a signal is parsed once, by the gateway, for the ledger and the exchange alike.

Signals run the whole way (gateway -> trade-worker -> paper exchange) in one local runtime.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hoox_edge.exchanges.paper import PaperProvider
from hoox_edge.local.service import background_tasks
from hoox_edge.shared import signal as signal_mod
from hoox_edge.workers import gateway
from test_pipeline import kv_set, paper_orders, rows, send, signal

GW = "hoox"
TRADE = "trade-worker"


async def logged(runtime, rid: str) -> list[dict[str, Any]]:
    return await rows(runtime, "SELECT worker, level, message, details FROM system_logs WHERE request_id = ?"
                      " ORDER BY id", rid)


@pytest.fixture(autouse=True)
def _fixed_time(clock):
    return clock


def test_the_stages_run_in_the_documented_order():
    assert [s.__name__ for s in gateway.STAGES] == [
        "read_body", "parse_body", "check_origin", "authenticate", "refuse_secrets", "heartbeat", "kill_switch",
        "rate_limit", "validate", "receive", "dedup", "execute"]


# --------------------------------------------------------------------------- before authentication
async def _too_large(runtime) -> dict[str, Any]:
    return {"body": b'{"pad": "' + b"x" * (70 * 1024) + b'"}'}


async def _not_json(runtime) -> dict[str, Any]:
    return {"body": b"BTCUSDT crossing up", "headers": {"Content-Type": "text/plain"}}


async def _wrong_origin(runtime) -> dict[str, Any]:
    await kv_set(runtime, "webhook:tradingview:ip_check", True)
    return {"json": signal(runtime)}


async def _wrong_passkey(runtime) -> dict[str, Any]:
    return {"json": signal(runtime, apiKey="not-the-passkey")}


@pytest.mark.parametrize(("make", "status", "code", "reason"), [
    (_too_large, 413, "PAYLOAD_TOO_LARGE", "body refused"),
    (_not_json, 400, "VALIDATION_ERROR", "body is not JSON"),
    (_wrong_origin, 403, "FORBIDDEN_IP", "address not allowed"),
    (_wrong_passkey, 401, "UNAUTHORIZED", "wrong apiKey"),
])
async def test_a_refusal_before_authentication_is_answered_and_logged_but_never_a_signal(
        runtime, make, status, code, reason):
    r = await runtime.request(GW, "POST", "/webhook", **await make(runtime))
    assert r.status == status, r.text()
    body = r.json()
    rid = body["requestId"]
    assert body["error"]["code"] == code and r.headers["x-request-id"] == rid
    assert await rows(runtime, "SELECT * FROM trade_signals") == []  # anyone can send anything
    [row] = await logged(runtime, rid)
    assert row["message"] == f"webhook rejected before authentication: {reason}"
    assert json.loads(row["details"])["code"] == code


# --------------------------------------------------------------------------- after authentication
async def _secret_in_a_field(runtime) -> dict[str, Any]:
    return signal(runtime, strategy=runtime.env(GW).OPERATOR_API_KEY)


async def _kill_switch(runtime) -> dict[str, Any]:
    await kv_set(runtime, "trade:kill_switch", True)
    await kv_set(runtime, "trade:kill_switch_reason", "maintenance")
    return signal(runtime)


async def _rate_limited(runtime) -> dict[str, Any]:
    await kv_set(runtime, "webhooks:rate_limit_per_minute", 1)
    assert (await send(runtime, signal(runtime, idempotencyKey="first"))).status == 200
    return signal(runtime, idempotencyKey="second")


async def _invalid(runtime) -> dict[str, Any]:
    return signal(runtime, quantity=-1, symbol="!!")


async def _duplicate(runtime) -> dict[str, Any]:
    assert (await send(runtime, signal(runtime, idempotencyKey="once"))).status == 200
    return signal(runtime, idempotencyKey="once")


async def _nothing_to_close(runtime) -> dict[str, Any]:
    return signal(runtime, action="CLOSE", quantity=None)


@pytest.mark.parametrize(("make", "status", "code", "writer"), [
    (_secret_in_a_field, 400, "VALIDATION_ERROR", "hoox"),  # refuse_secrets
    (_kill_switch, 503, "KILL_SWITCH_ACTIVE", "hoox"),  # kill_switch
    (_rate_limited, 429, "RATE_LIMITED", "hoox"),  # rate_limit
    (_invalid, 400, "VALIDATION_ERROR", "hoox"),  # validate
    (_duplicate, 409, "DUPLICATE_REQUEST", "hoox"),  # dedup
    (_nothing_to_close, 422, "NO_OPEN_POSITION", "trade-worker"),  # execute: trade-worker decides
])
async def test_each_stage_refusal_reaches_the_sender_and_the_ledger_alike(runtime, make, status, code, writer):
    payload = await make(runtime)
    r = await send(runtime, payload)
    assert r.status == status, r.text()
    body = r.json()
    rid = body["requestId"]
    assert r.headers["x-request-id"] == rid and body["error"]["code"] == code
    [row] = await rows(runtime, "SELECT * FROM trade_signals WHERE request_id = ?", rid)
    assert (row["status"], row["error_code"]) == ("Rejected", code)
    if writer == "hoox":
        assert row["error"] == body["error"]["message"][:1000]
    # A log row says why, from the worker that decided (the gateway notes what it passed on); never a secret.
    why = [x for x in await logged(runtime, rid) if x["level"] == "warning"]
    assert any(x["worker"] == writer for x in why), why
    if writer == "hoox":
        assert json.loads(why[-1]["details"])["code"] == code
    if status == 429:
        assert int(r.headers["retry-after"]) > 0
    if status == 409:
        assert body["original"]["status"] == "Filled"
    assert runtime.env(GW).OPERATOR_API_KEY not in json.dumps(await rows(runtime, "SELECT * FROM trade_signals"))


async def test_a_refused_heartbeat_is_logged_for_the_watchdog_and_is_never_a_signal(runtime):
    r = await send(runtime, {"apiKey": runtime.env(GW).WEBHOOK_API_KEY, "action": "HEARTBEAT", "symbol": "BTCUSDT"})
    assert r.status == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    assert await rows(runtime, "SELECT * FROM trade_signals") == []
    [row] = await logged(runtime, r.json()["requestId"])
    assert row["message"].startswith("heartbeat refused: ")
    [source] = await rows(runtime, "SELECT * FROM watchdog_sources")
    assert source["source"] == "webhook"  # authenticated: the sender is alive


# --------------------------------------------------------------------------- one parse
async def test_the_symbol_is_normalised_once_and_the_ledger_and_the_exchange_order_carry_it(runtime, monkeypatch):
    calls: list[str] = []
    normalize = signal_mod.normalize_symbol

    def counted(raw: str) -> str:
        calls.append(raw)
        return normalize(raw)

    monkeypatch.setattr(signal_mod, "normalize_symbol", counted)
    r = await send(runtime, signal(runtime, symbol="BYBIT:btc-usdt.P"))
    assert r.status == 200, r.text()
    rid = r.json()["requestId"]
    assert calls == ["BYBIT:btc-usdt.P"]  # the gateway's parse; trade-worker checks, never re-parses
    [sig] = await rows(runtime, "SELECT symbol, signal FROM trade_signals WHERE request_id = ?", rid)
    [trade] = await rows(runtime, "SELECT symbol FROM trades WHERE request_id = ?", rid)
    [order] = [o for o in await paper_orders(runtime) if o["clientOrderId"] == "hx" + rid.replace("-", "")[:30]]
    assert {sig["symbol"], json.loads(sig["signal"])["symbol"], trade["symbol"], order["symbol"],
            r.json()["symbol"]} == {"BTCUSDT"}


@pytest.mark.parametrize(("field", "value"), [("symbol", "btc/usdt"), ("action", "long"), ("quantity", "0.01"),
                                              ("exchange", "BYBIT")])
async def test_trade_worker_refuses_a_signal_that_is_not_in_its_normal_form(runtime, field, value):
    payload = {"exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT", "quantity": 0.01, field: value}
    r = await runtime.request(TRADE, "POST", "/process", json={"requestId": f"raw-{field}", "payload": payload},
                              headers={"X-Internal-Auth-Key": runtime.env(TRADE).INTERNAL_KEY_BINDING})
    assert r.status == 400, r.text()
    assert [d["field"] for d in r.json()["error"]["details"]] == [field]
    assert await rows(runtime, "SELECT * FROM trades") == []


# --------------------------------------------------------------------------- one writer per state
async def test_a_timed_out_direct_call_leaves_the_signal_to_its_attempt(runtime, monkeypatch, clock):
    """The gateway queues a signal whose direct call outlived its budget, but the row an attempt took
    (Executing) stays the attempt's: the queued message waits for its lease and finds it Filled."""
    reached, gate = asyncio.Event(), asyncio.Event()
    place = PaperProvider.place_order

    async def held(self: PaperProvider, order: Any) -> Any:
        reached.set()
        await gate.wait()
        return await place(self, order)

    monkeypatch.setattr(PaperProvider, "place_order", held)
    await kv_set(runtime, "webhooks:direct_timeout_ms", 1000)
    r = await send(runtime, signal(runtime, idempotencyKey="held-1"))
    assert r.status == 202 and r.json()["status"] == "Enqueued", r.text()
    assert reached.is_set()  # the attempt took the order before the gateway gave up waiting
    rid = r.json()["requestId"]
    state = "SELECT status FROM trade_signals WHERE request_id = ?"
    assert (await rows(runtime, state, rid))[0]["status"] == "Executing"
    assert await runtime.drain_queues() == 1  # the consumer finds the attempt in progress: retried later
    assert (await rows(runtime, state, rid))[0]["status"] == "Executing"

    gate.set()
    await asyncio.gather(*background_tasks())  # the late direct call records its fill
    assert (await rows(runtime, state, rid))[0]["status"] == "Filled"
    clock.advance(120)
    assert await runtime.drain_queues() == 1  # answered from the ledger, no second order
    assert runtime.queue_store.depth("trade-execution") == 0
    [trade] = await rows(runtime, "SELECT status FROM trades WHERE request_id = ?", rid)
    assert trade["status"] == "Filled"
    assert len(await paper_orders(runtime)) == 1
