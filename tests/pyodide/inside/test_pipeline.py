"""The whole pipeline in Pyodide: the gateway's and trade-worker's Default classes (entry.py, the
path Cloudflare takes) on Miniflare's D1, KV and queue producer, a Miniflare service binding between
them, the Durable Objects in their documented shape (tests/pyodide/durable.mjs); a signal is placed
on a loopback Binance over HTTP through the fetch transport and written to the ledger, and the
operator stream answers SSE through asgi.fetch."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import js  # type: ignore[import-not-found]
from harness_plugin import fresh_bindings
from hoox_edge import migrations
from hoox_edge.cloudflare.d1 import CloudflareD1
from hoox_edge.cloudflare.kv import CloudflareKV
from hoox_edge.shared import settings
from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]

EDGE = Path("/hoox/edge")
SECRETS = {"WEBHOOK_API_KEY": "wh-" + "k" * 30, "INTERNAL_KEY_BINDING": "in-" + "i" * 30,
           "OPERATOR_API_KEY": "op-" + "o" * 30}


def _entry(package_dir: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"pipeline_{package_dir.replace('-', '_')}",
                                                  EDGE / package_dir / "entry.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _obj(values: dict[str, Any]) -> Any:
    return to_js(values, dict_converter=js.Object.fromEntries)


def _ctx() -> Any:
    return _obj({"waitUntil": create_proxy(lambda p: None), "passThroughOnException": create_proxy(lambda: None)})


def _request(path: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None) -> Any:
    init: dict[str, Any] = {"method": method, "headers": _obj(headers or {})}
    if body is not None:
        init["body"] = json.dumps(body)
    return js.Request.new("https://hoox.example" + path, _obj(init))


class Desk:
    """The two workers as Cloudflare builds them, over one Miniflare."""

    def __init__(self) -> None:
        self.trade: Any = None
        self.gw_module = _entry("hoox")
        self.trade_module = _entry("trade-worker")
        self.b = fresh_bindings(d1Databases=["DB"], kvNamespaces=["CONFIG_KV", "SESSIONS_KV"],
                                queueProducers={"TRADE_QUEUE": {"queueName": "trade-execution"}},
                                services={"TRADE_SERVICE": create_proxy(self._to_trade)})
        durable = js.hooxHarness.durable
        common = {"DB": self.b.DB, "CONFIG_KV": self.b.CONFIG_KV, **SECRETS}
        gw_env: dict[str, Any] = {**common, "SESSIONS_KV": self.b.SESSIONS_KV, "TRADE_QUEUE": self.b.TRADE_QUEUE,
                                  "TRADE_SERVICE": self.b.TRADE_SERVICE}
        trade_env: dict[str, Any] = {**common, "BINANCE_API_KEY": os.environ["HOOX_BINANCE_KEY"],
                                     "BINANCE_API_SECRET": os.environ["HOOX_BINANCE_SECRET"]}
        self.gw_env_js = _obj(gw_env)
        for name, cls in (("IDEMPOTENCY_STORE", "IdempotencyStore"), ("RATE_LIMITER", "RateLimiter")):
            klass = getattr(self.gw_module, cls)
            ns = durable.namespace(cls, create_proxy(lambda state, k=klass: k(state, self.gw_env_js)))
            setattr(self.gw_env_js, name, ns)
        self.trade_env_js = _obj(trade_env)
        self.gateway = self.gw_module.Default(_ctx(), self.gw_env_js)
        self.trade = self.trade_module.Default(_ctx(), self.trade_env_js)

    async def _to_trade(self, request: Any) -> Any:
        return await self.trade.fetch(request)

    async def prepare(self) -> None:
        await migrations.apply(CloudflareD1(self.b.DB))
        kv = CloudflareKV(self.b.CONFIG_KV)
        await settings.put(kv, "trade:mode", "live")
        await settings.put(kv, "exchanges:binance:base_url", os.environ["HOOX_BINANCE_URL"])


async def test_a_signal_goes_from_the_gateway_to_a_loopback_exchange_and_into_the_ledger() -> None:
    desk = Desk()
    await desk.prepare()
    signal = {"apiKey": SECRETS["WEBHOOK_API_KEY"], "exchange": "binance", "action": "LONG", "symbol": "btc/usdt",
              "quantity": 0.01, "idempotencyKey": "pyodide-pipeline-1"}
    resp = await desk.gateway.fetch(_request("/webhook", "POST", signal, {"content-type": "application/json"}))
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

    again = await desk.gateway.fetch(_request("/webhook", "POST", signal, {"content-type": "application/json"}))
    assert again.status == 409  # the same key again: the original outcome, no second order

    # The operator stream: an SSE response through asgi.fetch, replaying the fill from the start.
    stream = await desk.gateway.fetch(_request("/v1/stream?topics=trades", headers={
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
    await reader.cancel()
    assert "id:" in text and rid in text, text
