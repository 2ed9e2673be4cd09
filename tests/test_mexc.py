"""The MEXC spot v3 connector against a loopback fake that checks every signature from MEXC's
documented rule. MEXC futures order placement is closed to the public API: those signals are
refused with the reason, before anything is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from fake_exchanges import Instrument
from fake_exchanges.mexc import FakeMexc
from hoox_edge.exchanges import live_connector, provider_for
from hoox_edge.exchanges.base import ExchangeError, OrderRequest
from hoox_edge.exchanges.live import Credentials
from hoox_edge.exchanges.mexc import MexcSpot
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.shared import settings

W = "trade-worker"


@pytest.fixture
async def fake() -> AsyncIterator[FakeMexc]:
    f = FakeMexc()
    await f.start()
    try:
        yield f
    finally:
        await f.stop()


def mexc(runtime: LocalRuntime, fake: FakeMexc, market: str = "spot", timeout: float = 5.0,
         secret: str | None = None, key: str | None = None) -> MexcSpot:
    return MexcSpot(runtime.env(W), base_url=fake.url, market=market, timeout=timeout,  # type: ignore[arg-type]
                    creds=Credentials(key or fake.api_key, secret or fake.api_secret))


def order(cid: str, side: str = "BUY", qty: float = 0.01, **kw) -> OrderRequest:
    kw.setdefault("market", "spot")
    return OrderRequest(symbol="BTCUSDT", side=side, quantity=qty, client_order_id=cid, **kw)  # type: ignore[arg-type]


def posts(fake: FakeMexc) -> list[dict[str, str]]:
    return [c["params"] for c in fake.calls if c["path"] == "/api/v3/order" and c["method"] == "POST"]


async def test_spot_buy_then_sell_with_fees_from_the_trades(runtime, fake) -> None:
    mx = mexc(runtime, fake)
    await mx.set_leverage("BTCUSDT", 1)  # spot at 1x: nothing to set
    bought = await mx.place_order(order("hxbuy1"))
    assert (bought.status, bought.executed_qty, bought.avg_price) == ("Filled", 0.01, 60000.0)
    assert bought.fee == pytest.approx(0.01 * 60000 * 0.0005) and bought.client_order_id == "hxbuy1"
    [p] = posts(fake)
    assert (p["type"], p["quantity"], p["newClientOrderId"]) == ("MARKET", "0.01", "hxbuy1")
    assert "reduceOnly" not in p
    assert (await mx.balance("BTC")).free == 0.01
    assert (await mx.balance("USDT")).free == pytest.approx(10000 - 600 - 0.3)
    sold = await mx.place_order(order("hxsell1", side="SELL", reduce_only=True))
    assert sold.status == "Filled" and sold.side == "SELL"
    assert (await mx.balance("BTC")).free == 0.0
    assert await mx.positions() == []
    signed = [c["query"] for c in fake.calls if "signature=" in c["query"]]
    assert signed and all(q.rsplit("&", 1)[1].startswith("signature=") for q in signed)
    assert fake.bad_signatures == 0
    await mx.aclose()


@pytest.mark.parametrize("market,side,leverage", [("futures", "BUY", 1), ("spot", "SELL", 1), ("spot", "BUY", 5)])
async def test_futures_short_or_leveraged_signals_are_refused_with_the_reason(runtime, fake, market, side,
                                                                               leverage) -> None:
    mx = mexc(runtime, fake, market=market)
    with pytest.raises(ExchangeError) as e:
        await mx.place_order(order("hxfut1", side=side, leverage=leverage, market=market))
    assert e.value.kind == "rejected" and not e.value.retryable
    assert "MEXC futures order placement is closed to the public API" in e.value.message
    assert posts(fake) == []  # refused before anything was sent
    with pytest.raises(ExchangeError):
        await mx.set_margin_mode("BTCUSDT", "isolated")
    await mx.aclose()


async def test_limit_order_rests_on_the_tick_and_is_found_by_client_order_id(runtime, fake) -> None:
    mx = mexc(runtime, fake)
    res = await mx.place_order(order("hxlim1", order_type="LIMIT", price=55000.57))
    assert res.status == "New" and res.executed_qty == 0 and res.avg_price is None
    assert posts(fake)[0]["price"] == "55000.5"  # tick 0.1 (quotePrecision 1), rounded down for a BUY
    again = await mx.get_order("BTCUSDT", "hxlim1")
    assert again is not None and again.order_id == res.order_id
    assert await mx.get_order("BTCUSDT", "hxnever") is None  # -2013
    await mx.aclose()


async def test_rate_limit_429_then_418_then_recovery(runtime, fake) -> None:
    mx = mexc(runtime, fake)
    fake.rate_limit_next(2)
    for _ in range(2):
        with pytest.raises(ExchangeError) as e:
            await mx.place_order(order("hxrl1"))
        assert (e.value.kind, e.value.retry_after) == ("rate_limited", 3.0) and e.value.retryable
    assert fake.orders == {}
    res = await mx.place_order(order("hxrl1"))
    assert res.status == "Filled" and len(fake.orders) == 1
    await mx.aclose()


async def test_timeout_after_the_exchange_accepted_leaves_one_order(runtime, fake) -> None:
    mx = mexc(runtime, fake, timeout=0.3)
    fake.accept_then_timeout(1, seconds=1.0)
    with pytest.raises(ExchangeError) as e:
        await mx.place_order(order("hxslow1"))
    assert e.value.kind == "timeout" and e.value.retryable
    found = await mx.get_order("BTCUSDT", "hxslow1")
    assert found is not None and found.status == "Filled" and found.executed_qty == 0.01
    with pytest.raises(ExchangeError) as e:  # the id is taken: the order is ours, never placed twice
        await mx.place_order(order("hxslow1"))
    assert e.value.kind == "duplicate_order"
    assert len(fake.orders) == 1 and fake.positions["BTCUSDT"].size == Decimal("0.01")
    await mx.aclose()


async def test_clock_skew_resyncs_once_and_succeeds(runtime, fake) -> None:
    fake.skew_ms = 30_000
    mx = mexc(runtime, fake)
    res = await mx.place_order(order("hxskew1"))
    assert res.status == "Filled" and abs(mx.offset_ms - 30_000) < 1000
    assert [c["path"] for c in fake.calls if c["path"] != "/api/v3/exchangeInfo"][:3] == \
        ["/api/v3/order", "/api/v3/time", "/api/v3/order"]
    await mx.aclose()


async def test_insufficient_balance_is_a_rejection(runtime, fake) -> None:
    fake.balance = Decimal("100")
    mx = mexc(runtime, fake)
    with pytest.raises(ExchangeError) as e:
        await mx.place_order(order("hxpoor1"))
    assert (e.value.kind, e.value.code, e.value.retryable) == ("rejected", "10101", False)
    assert "Insufficient balance" in e.value.message
    assert fake.orders == {}
    await mx.aclose()


async def test_instrument_rules_from_mexc_precisions_and_minimums(runtime, fake) -> None:
    fake.instruments["ETHUSDT"] = Instrument(qty_step="0.0001", min_qty="0.001", min_notional="5", tick_size="0.01")
    mx = mexc(runtime, fake)
    rules = await mx.instrument("ETHUSDT")
    assert (rules.qty_step, rules.min_qty, rules.min_notional, rules.tick_size) == (0.0001, 0.001, 5.0, 0.01)
    fake.instruments["ETHUSDT"] = Instrument(qty_step="1", min_qty="1", min_notional="1", tick_size="1")
    assert (await mx.instrument("ETHUSDT")).qty_step == 0.0001  # kept by the connector
    assert (await mexc(runtime, fake).instrument("ETHUSDT")).qty_step == 0.0001  # a new one reads the KV cache
    assert sum(c["path"] == "/api/v3/exchangeInfo" for c in fake.calls) == 1
    with pytest.raises(ExchangeError) as e:
        await mx.instrument("NOPEUSDT")
    assert (e.value.kind, e.value.code) == ("rejected", "-1121")
    with pytest.raises(ExchangeError) as e:  # below MEXC's minimum order value
        await mx.place_order(order("hxsmall", qty=0.00005))
    assert (e.value.kind, e.value.code) == ("rejected", "30002")
    await mx.aclose()


async def test_bad_signature_and_bad_key_are_rejections(runtime, fake) -> None:
    mx = mexc(runtime, fake, secret="wrong")
    with pytest.raises(ExchangeError) as e:
        await mx.balance()
    assert (e.value.kind, e.value.code) == ("rejected", "700002") and fake.bad_signatures == 1
    other = mexc(runtime, fake, key="someone-else")
    with pytest.raises(ExchangeError) as e:
        await other.balance()
    assert (e.value.kind, e.value.code) == ("rejected", "10072")
    await mx.aclose()
    await other.aclose()


async def test_provider_for_routes_mexc_and_it_has_no_testnet(runtime, fake) -> None:
    runtime.workspace.set_secret("MEXC_API_KEY", fake.api_key)
    runtime.workspace.set_secret("MEXC_API_SECRET", fake.api_secret)
    env = runtime.env(W)
    assert live_connector("mexc", "spot") is MexcSpot and live_connector("mexc", "futures") is MexcSpot
    await settings.put(env.CONFIG_KV, "exchanges:mexc:testnet", True)
    with pytest.raises(ExchangeError) as e:
        await provider_for(env, "mexc", "live", "spot")
    assert e.value.code == "NO_TESTNET"
    await settings.put(env.CONFIG_KV, "exchanges:mexc:base_url", fake.url)
    p = await provider_for(env, "mexc", "live", "futures")
    with pytest.raises(ExchangeError) as e:
        await p.set_leverage("BTCUSDT", 1)  # a futures signal: refused with the reason
    assert e.value.code == "MEXC_FUTURES_CLOSED"
    p = await provider_for(env, "mexc", "live", "spot")
    assert await p.ticker("BTCUSDT") == 60000.0 and await p.mark_price("BTCUSDT") == 60000.0
    await p.aclose()  # type: ignore[attr-defined]
