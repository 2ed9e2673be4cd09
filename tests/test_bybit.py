"""The Bybit v5 connector against a loopback fake that checks every signature from Bybit's rule."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from fake_exchanges import Instrument
from fake_exchanges.bybit import FakeBybit
from hoox_edge.exchanges import live, live_connector, provider_for
from hoox_edge.exchanges.base import ExchangeError, OrderRequest
from hoox_edge.exchanges.bybit import Bybit, sign_payload
from hoox_edge.exchanges.live import Credentials
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.shared import settings

W = "trade-worker"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBybit]:
    f = FakeBybit()
    await f.start()
    try:
        yield f
    finally:
        await f.stop()


def connector(runtime: LocalRuntime, fake: FakeBybit, market: str = "futures", timeout: float = 5.0) -> Bybit:
    return Bybit(runtime.env(W), base_url=fake.url, creds=Credentials(fake.api_key, fake.api_secret),
                 market=market, timeout=timeout)  # type: ignore[arg-type]


def order(cid: str, side: str = "BUY", qty: float = 0.01, **kw) -> OrderRequest:
    return OrderRequest(symbol="BTCUSDT", side=side, quantity=qty, client_order_id=cid, **kw)  # type: ignore[arg-type]


async def test_signature_follows_bybit_rule() -> None:
    # timestamp + key + recvWindow + payload, hex HMAC-SHA256 (computed here by hand for one request).
    import hashlib
    import hmac

    msg = "1658384314791" + "XXXXXXXXXX" + "5000" + "category=option&symbol=BTC-29JUL22-25000-C"
    want = hmac.new(b"secret", msg.encode(), hashlib.sha256).hexdigest()
    assert sign_payload("secret", 1658384314791, "XXXXXXXXXX", "5000",
                        "category=option&symbol=BTC-29JUL22-25000-C") == want


async def test_open_with_leverage_then_close(runtime, fake) -> None:
    bb = connector(runtime, fake)
    await bb.set_margin_mode("BTCUSDT", "isolated")
    await bb.set_leverage("BTCUSDT", 10)
    await bb.set_leverage("BTCUSDT", 10)  # 110043 "not modified" is success
    opened = await bb.place_order(order("hxopen1"))
    assert (opened.status, opened.executed_qty, opened.avg_price) == ("Filled", 0.01, 60000.0)
    assert opened.fee == pytest.approx(0.01 * 60000 * 0.00055)
    assert fake.margin_mode == "ISOLATED_MARGIN" and fake.leverage["BTCUSDT"] == Decimal(10)
    [pos] = await bb.positions("BTCUSDT")
    assert (pos.side, pos.size, pos.entry_price, pos.leverage) == ("LONG", 0.01, 60000.0, 10.0)
    closed = await bb.place_order(order("hxclose1", side="SELL", reduce_only=True))
    assert closed.status == "Filled"
    assert await bb.positions("BTCUSDT") == []
    create = [c["body"] for c in fake.calls if c["path"] == "/v5/order/create"]
    assert create[0]["category"] == "linear" and create[0]["qty"] == "0.01" and "reduceOnly" not in create[0]
    assert create[1]["reduceOnly"] is True and create[1]["orderLinkId"] == "hxclose1"
    assert fake.bad_signatures == 0
    await bb.aclose()


async def test_limit_order_rests_and_is_found_by_client_order_id(runtime, fake) -> None:
    bb = connector(runtime, fake)
    res = await bb.place_order(order("hxlimit1", order_type="LIMIT", price=55000.5))
    assert res.status == "New" and res.executed_qty == 0
    body = next(c["body"] for c in fake.calls if c["path"] == "/v5/order/create")
    assert (body["orderType"], body["price"], body["timeInForce"]) == ("Limit", "55000.5", "GTC")
    again = await bb.get_order("BTCUSDT", "hxlimit1")
    assert again is not None and again.order_id == res.order_id
    assert await bb.get_order("BTCUSDT", "hxnever") is None
    await bb.aclose()


async def test_rate_limit_is_retryable_with_the_reset_time(runtime, fake) -> None:
    bb = connector(runtime, fake)
    fake.rate_limit_next(1)
    with pytest.raises(ExchangeError) as e:
        await bb.place_order(order("hxrl1"))
    assert e.value.kind == "rate_limited" and e.value.retryable and e.value.code == "10006"
    assert e.value.retry_after is not None and e.value.retry_after > 0
    assert fake.orders == {}  # nothing was placed
    res = await bb.place_order(order("hxrl1"))  # recovered
    assert res.status == "Filled"
    await bb.aclose()


async def test_http_403_is_an_ip_rate_limit() -> None:
    bb = Bybit.__new__(Bybit)
    err = bb.classify(403, {}, "<html>Forbidden</html>")
    assert err is not None and err.kind == "rate_limited" and err.retry_after == 600


@pytest.mark.parametrize("code,kind", [(110043, None), (110025, None), (110026, None), (10006, "rate_limited"),
                                       (10002, "clock_skew"), (110007, "rejected"), (10003, "rejected"),
                                       (10004, "rejected"), (10005, "rejected"), (10010, "rejected"),
                                       (110072, "duplicate_order"), (10016, "unavailable")])
def test_codes_by_meaning(code, kind) -> None:
    bb = Bybit.__new__(Bybit)
    err = bb.classify(200, {}, {"retCode": code, "retMsg": "m", "result": {}})
    assert (err.kind if err else None) == kind


async def test_timeout_after_the_exchange_accepted_leaves_one_order(runtime, fake) -> None:
    bb = connector(runtime, fake, timeout=0.3)
    fake.accept_then_timeout(1, seconds=1.0)
    with pytest.raises(ExchangeError) as e:
        await bb.place_order(order("hxslow1"))
    assert e.value.kind == "timeout" and e.value.retryable
    # The retry looks the order up by its id first and finds the fill.
    found = await bb.get_order("BTCUSDT", "hxslow1")
    assert found is not None and found.status == "Filled" and found.executed_qty == 0.01
    # Placing it again is refused as a duplicate, never filled twice.
    with pytest.raises(ExchangeError) as e:
        await bb.place_order(order("hxslow1"))
    assert e.value.kind == "duplicate_order"
    assert len(fake.orders) == 1 and fake.positions["BTCUSDT"].size == Decimal("0.01")
    await bb.aclose()


async def test_clock_skew_resyncs_once_and_succeeds(runtime, fake) -> None:
    fake.skew_ms = 20_000  # the exchange's clock is 20 s ahead: our timestamps fall outside recvWindow
    bb = connector(runtime, fake)
    res = await bb.place_order(order("hxskew1"))
    assert res.status == "Filled"
    assert abs(bb.offset_ms - 20_000) < 1000
    assert [c["path"] for c in fake.calls][:3] == ["/v5/order/create", "/v5/market/time", "/v5/order/create"]
    await bb.aclose()


async def test_insufficient_balance_is_a_rejection(runtime, fake) -> None:
    fake.balance = Decimal("10")
    bb = connector(runtime, fake)
    with pytest.raises(ExchangeError) as e:
        await bb.place_order(order("hxpoor1"))
    assert e.value.kind == "rejected" and not e.value.retryable and e.value.code == "110007"
    assert "not enough" in e.value.message
    await bb.aclose()


async def test_instrument_rules_are_read_and_cached_in_kv(runtime, fake) -> None:
    fake.instruments["ETHUSDT"] = Instrument(qty_step="0.01", min_qty="0.05", min_notional="20", tick_size="0.01")
    bb = connector(runtime, fake)
    rules = await bb.instrument("ETHUSDT")
    assert (rules.qty_step, rules.min_qty, rules.min_notional, rules.tick_size) == (0.01, 0.05, 20.0, 0.01)
    fake.instruments["ETHUSDT"] = Instrument(qty_step="1", min_qty="1", min_notional="1", tick_size="1")
    assert (await bb.instrument("ETHUSDT")).qty_step == 0.01  # kept by the connector
    assert (await connector(runtime, fake).instrument("ETHUSDT")).qty_step == 0.01  # a new one reads the KV cache
    assert sum(c["path"] == "/v5/market/instruments-info" for c in fake.calls) == 1
    spot = connector(runtime, fake, market="spot")
    assert (await spot.instrument("ETHUSDT")).qty_step == 1.0  # spot has its own rules and cache entry
    await bb.aclose()
    await spot.aclose()


async def test_spot_market_buy_counts_the_base_coin(runtime, fake) -> None:
    bb = connector(runtime, fake, market="spot")
    await bb.set_leverage("BTCUSDT", 1)  # spot: nothing to set
    res = await bb.place_order(order("hxspot1"))
    assert res.status == "Filled"
    body = next(c["body"] for c in fake.calls if c["path"] == "/v5/order/create")
    assert (body["category"], body["marketUnit"]) == ("spot", "baseCoin") and "positionIdx" not in body
    with pytest.raises(ExchangeError) as e:
        await bb.set_leverage("BTCUSDT", 3)
    assert e.value.kind == "rejected"
    await bb.aclose()


async def test_every_call_is_logged_to_r2_without_secrets_and_counted(runtime, fake) -> None:
    bb = connector(runtime, fake)
    bb.request_id = "rid-logs-1"
    await bb.place_order(order("hxlog1"))
    bucket = runtime.env(W).SYSTEM_LOGS_BUCKET
    listed = await bucket.list(prefix="logs/bybit/BTCUSDT/")
    assert any(o.key.endswith("-order_create.json") for o in listed.objects)
    for info in listed.objects:
        text = (await bucket.get(info.key)).text()
        assert fake.api_secret not in text and fake.api_key not in text
        doc = json.loads(text)
        assert doc["request"]["headers"].get("X-BAPI-SIGN") in (None, "***")
    points = await runtime.analytics_sql().query(
        "SELECT * FROM hoox_telemetry WHERE index1 = 'rid-logs-1' AND blob1 = 'exchange-call'")
    assert {p["blob4"] for p in points} >= {"order_create", "order_realtime"}
    create = next(p for p in points if p["blob4"] == "order_create")
    assert create["blob5"] == "ok" and create["double3"] == 200 and create["double4"] == 9
    assert "X-Bapi-Limit" in create["blob7"] or "x-bapi-limit" in create["blob7"]
    await bb.aclose()


async def test_r2_request_logs_cap_each_body_at_4_kb(runtime, fake) -> None:
    bb = connector(runtime, fake)
    bb.request_id = "rid-big-1"
    big = {"list": [{"symbol": f"S{i}USDT", "note": "word " * 20} for i in range(200)]}  # ~25 KB
    await bb._record("GET", "/v5/market/instruments-info", "instruments", {"category": "linear"}, big, {}, 200, {},
                     big, None, 1.0)
    [info] = (await runtime.env(W).SYSTEM_LOGS_BUCKET.list(prefix="logs/bybit/")).objects
    doc = json.loads((await runtime.env(W).SYSTEM_LOGS_BUCKET.get(info.key)).text())
    for part in ("request", "response"):
        body = doc[part]["body"]
        assert body["truncated"] is True and body["bytes"] > 4096
        assert len(json.dumps(body, ensure_ascii=False).encode()) <= 4096
    await bb.aclose()


async def test_provider_for_live_needs_the_secrets_and_follows_kv_hosts(runtime, fake) -> None:
    env = runtime.env(W)
    with pytest.raises(ExchangeError) as e:
        await provider_for(env, "bybit", "live")
    assert e.value.code == "NO_CREDENTIALS" and "BYBIT_API_KEY" in e.value.message
    runtime.workspace.set_secret("BYBIT_API_KEY", fake.api_key)
    runtime.workspace.set_secret("BYBIT_API_SECRET", fake.api_secret)
    env = runtime.env(W)
    assert live.credentials(env, "bybit") == Credentials(fake.api_key, fake.api_secret)
    p = await provider_for(env, "bybit", "live")
    assert isinstance(p, Bybit) and p.base_url == "https://api.bybit.com" and p.mode == "live"
    await settings.put(env.CONFIG_KV, "exchanges:bybit:testnet", True)
    assert (await provider_for(env, "bybit", "live")).base_url == "https://api-testnet.bybit.com"  # type: ignore[attr-defined]
    await settings.put(env.CONFIG_KV, "exchanges:bybit:base_url", fake.url)
    p = await provider_for(env, "bybit", "live", "spot")
    assert p.base_url == fake.url and p.market == "spot"  # type: ignore[attr-defined]
    assert await p.ticker("BTCUSDT") == 60000.0
    assert live_connector("bybit", "spot") is Bybit
    await p.aclose()  # type: ignore[attr-defined]
