"""The whole pipeline in Pyodide: the gateway's and trade-worker's Default classes (entry.py, the
path Cloudflare takes) on Miniflare's D1, KV and queue producer, a Miniflare service binding between
them, the Durable Objects in their documented shape (tests/pyodide/durable.mjs); a signal is placed
on a loopback Binance over HTTP through the fetch transport and written to the ledger, and the
operator stream answers SSE through asgi.fetch. A queued signal goes through Miniflare's real
producer and reaches trade-worker's `Default.queue` as a documented MessageBatch; the cron enters
`Default.scheduled` and the reconciler settles a stranded signal."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import js  # type: ignore[import-not-found]
from hoox_edge import lifecycle, migrations
from hoox_edge.cloudflare.d1 import CloudflareD1
from hoox_edge.cloudflare.kv import CloudflareKV
from hoox_edge.shared import clock, settings
from hoox_edge.workers import stream as sse
from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]
from workers import asgi as workers_asgi  # type: ignore[import-not-found]
from workers_js import ctx, entry, gateway_bindings, js_object, request

SECRETS = {"WEBHOOK_API_KEY": "wh-" + "k" * 30, "INTERNAL_KEY_BINDING": "in-" + "i" * 30,
           "OPERATOR_API_KEY": "op-" + "o" * 30}


class Desk:
    """The two workers as Cloudflare builds them, over one Miniflare."""

    def __init__(self) -> None:
        self.trade: Any = None
        self.queued: list[Any] = []  # what the gateway sent to TRADE_QUEUE, as the consumer receives it
        self.gw_module = entry("hoox")
        self.trade_module = entry("trade-worker")
        self.b = gateway_bindings(TRADE_SERVICE=self._to_trade)
        durable = js.hooxHarness.durable
        common = {"DB": self.b.DB, "CONFIG_KV": self.b.CONFIG_KV, **SECRETS}
        producer = durable.producer(self.b.TRADE_QUEUE, create_proxy(lambda body, delay: self.queued.append(body)))
        gw_env: dict[str, Any] = {**common, "SESSIONS_KV": self.b.SESSIONS_KV, "TRADE_QUEUE": producer,
                                  "TRADE_SERVICE": self.b.TRADE_SERVICE}
        trade_env: dict[str, Any] = {**common, "BINANCE_API_KEY": os.environ["HOOX_BINANCE_KEY"],
                                     "BINANCE_API_SECRET": os.environ["HOOX_BINANCE_SECRET"]}
        self.gw_env_js = js_object(gw_env)
        for name, cls in (("IDEMPOTENCY_STORE", "IdempotencyStore"), ("RATE_LIMITER", "RateLimiter")):
            klass = getattr(self.gw_module, cls)
            ns = durable.namespace(cls, create_proxy(lambda state, k=klass: k(state, self.gw_env_js)))
            setattr(self.gw_env_js, name, ns)
        self.trade_env_js = js_object(trade_env)
        self.gateway = self.gw_module.Default(ctx(), self.gw_env_js)
        self.trade = self.trade_module.Default(ctx(), self.trade_env_js)

    async def _to_trade(self, request: Any) -> Any:
        return await self.trade.fetch(request)

    async def prepare(self) -> None:
        await migrations.apply(CloudflareD1(self.b.DB))
        kv = CloudflareKV(self.b.CONFIG_KV)
        await settings.put(kv, "trade:mode", "live")
        await settings.put(kv, "exchanges:binance:base_url", os.environ["HOOX_BINANCE_URL"])
        # The direct path is what these tests follow: Pyodide on a busy machine can take longer
        # than TradingView's 2.5 s budget, which would queue the signal instead.
        await settings.put(kv, "webhooks:direct_timeout_ms", 30_000)

    async def signal(self, key: str) -> tuple[int, dict[str, Any]]:
        body = {"apiKey": SECRETS["WEBHOOK_API_KEY"], "exchange": "binance", "action": "LONG",
                "symbol": "btc/usdt", "quantity": 0.01, "idempotencyKey": key}
        resp = await self.gateway.fetch(request("/webhook", "POST", body, {"content-type": "application/json"}))
        return resp.status, json.loads(await resp.text())

    async def status_of(self, rid: str) -> str:
        row = await CloudflareD1(self.b.DB).prepare("SELECT status FROM trade_signals WHERE request_id = ?").bind(
            rid).first()
        return row["status"]


async def test_a_signal_goes_from_the_gateway_to_a_loopback_exchange_and_into_the_ledger(monkeypatch: Any) -> None:
    desk = Desk()
    await desk.prepare()
    signal = {"apiKey": SECRETS["WEBHOOK_API_KEY"], "exchange": "binance", "action": "LONG", "symbol": "btc/usdt",
              "quantity": 0.01, "idempotencyKey": "pyodide-pipeline-1"}
    resp = await desk.gateway.fetch(request("/webhook", "POST", signal, {"content-type": "application/json"}))
    answer = json.loads(await resp.text())
    assert resp.status == 200, answer
    assert answer["status"] == "Filled"
    rid = answer["requestId"]

    ledger = CloudflareD1(desk.b.DB)
    row = await ledger.prepare("SELECT status, exchange, symbol FROM trade_signals WHERE request_id = ?").bind(
        rid).first()
    assert row == {"status": "Filled", "exchange": "binance", "symbol": "BTCUSDT"}
    position = await ledger.prepare("SELECT side, size, mode FROM positions WHERE symbol = 'BTCUSDT'").first()
    assert position == {"side": "LONG", "size": 0.01, "mode": "live"}

    again = await desk.gateway.fetch(request("/webhook", "POST", signal, {"content-type": "application/json"}))
    assert again.status == 409  # the same key again: the original outcome, no second order

    # The operator stream: an SSE response through asgi.fetch, replaying the fill from the start.
    # Neither asgi bridge tells the app that the client went; its next write fails and ends it: a
    # short heartbeat makes that write come soon.
    monkeypatch.setattr(sse, "HEARTBEAT_SECONDS", 0.05)
    stream = await desk.gateway.fetch(request("/v1/stream?topics=trades", headers={
        "authorization": "Bearer " + SECRETS["OPERATOR_API_KEY"], "last-event-id": "0"}))
    assert stream.status == 200
    assert stream.headers.get("content-type").startswith("text/event-stream")
    reader = stream.body.getReader()
    decoder = js.TextDecoder.new()
    text = ""
    for _ in range(50):  # chunks, not time: the replay comes first
        chunk = await reader.read()
        if chunk.done:
            break
        text += decoder.decode(chunk.value)
        if rid in text:
            break
    # A reason, as a runtime gives: a promise rejected with `undefined` cannot become a Python
    # exception (Pyodide: "invalid exception object"), and the awaiting write would never return.
    await reader.cancel(js.Error.new("the operator closed the stream"))
    assert "id:" in text and rid in text, text
    while workers_asgi.background_tasks:  # the stream's task ends once its write to the closed body fails
        await asyncio.sleep(0.01)


async def test_a_queued_signal_reaches_trade_workers_queue_handler_and_fills() -> None:
    desk = Desk()
    await desk.prepare()
    await settings.put(CloudflareKV(desk.b.CONFIG_KV), "webhooks:queue_mode", "queue_everywhere")
    status, answer = await desk.signal("pyodide-queued-1")
    assert (status, answer["status"]) == (202, "Enqueued"), answer
    rid = answer["requestId"]
    assert await desk.status_of(rid) == "Enqueued"
    assert [m.requestId for m in desk.queued] == [rid]  # accepted by Miniflare's producer (a JS object)

    batch = js.hooxHarness.durable.batch("trade-execution", to_js(
        [{"id": "m1", "timestamp": clock.now_ms(), "body": desk.queued[0], "attempts": 1}],
        dict_converter=js.Object.fromEntries))
    await desk.trade.queue(batch, desk.trade_env_js, ctx())
    decided = batch.outcome.explicit.get("m1")
    assert decided is not None and decided.ack  # the consumer acked it: no redelivery
    assert await desk.status_of(rid) == "Filled"


async def test_the_cron_enters_scheduled_and_the_reconciler_settles_a_stranded_signal() -> None:
    desk = Desk()
    await desk.prepare()
    db = CloudflareD1(desk.b.DB)
    # A signal whose webhook request died after the row was written (no order was ever started).
    old = clock.iso(clock.now() - lifecycle.STRANDED_AFTER_SECONDS - 60)
    await lifecycle.insert_statement(db, request_id="stranded-1", source="webhook", stored_payload={},
                                     idempotency_key=None, exchange="binance", symbol="BTCUSDT", action="LONG",
                                     quantity=0.01, now=old).run()
    controller = js_object({"cron": "* * * * *", "scheduledTime": clock.now_ms()})
    await desk.trade.scheduled(controller, desk.trade_env_js, ctx())
    row = await db.prepare("SELECT status, error_code FROM trade_signals WHERE request_id = 'stranded-1'").first()
    assert row == {"status": "Rejected", "error_code": "NOT_PLACED"}
