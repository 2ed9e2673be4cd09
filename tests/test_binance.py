"""The Binance connectors (USDⓈ-M futures and spot) against a loopback fake that checks every
signature from Binance's documented rule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from fake_exchanges import Instrument
from fake_exchanges.binance import FakeBinance
from hoox_edge.exchanges import live_connector, provider_for
from hoox_edge.exchanges.base import ExchangeError, OrderRequest
from hoox_edge.exchanges.binance import BinanceFutures, BinanceSpot, _BinanceStyle
from hoox_edge.exchanges.live import Credentials
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.shared import settings

W = "trade-worker"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    f = FakeBinance()
    await f.start()
    try:
        yield f
    finally:
        await f.stop()


def futures(runtime: LocalRuntime, fake: FakeBinance, timeout: float = 5.0, secret: str | None = None
            ) -> BinanceFutures:
    return BinanceFutures(runtime.env(W), base_url=fake.url, timeout=timeout,
                          creds=Credentials(fake.api_key, secret or fake.api_secret))


def spot(runtime: LocalRuntime, fake: FakeBinance) -> BinanceSpot:
    return BinanceSpot(runtime.env(W), base_url=fake.url, creds=Credentials(fake.api_key, fake.api_secret),
                       market="spot")


def order(cid: str, side: str = "BUY", qty: float = 0.01, **kw) -> OrderRequest:
    return OrderRequest(symbol="BTCUSDT", side=side, quantity=qty, client_order_id=cid, **kw)  # type: ignore[arg-type]


def sent(fake: FakeBinance, path: str, method: str = "POST") -> list[dict[str, str]]:
    return [c["params"] for c in fake.calls if c["path"] == path and c["method"] == method]


async def test_open_with_leverage_then_close_reduce_only(runtime, fake) -> None:
    bf = futures(runtime, fake)
    await bf.set_margin_mode("BTCUSDT", "isolated")
    await bf.set_margin_mode("BTCUSDT", "isolated")  # -4046 "No need to change margin type." is success
    await bf.set_leverage("BTCUSDT", 10)
    opened = await bf.place_order(order("hxopen1"))
    assert (opened.status, opened.executed_qty, opened.avg_price) == ("Filled", 0.01, 60000.0)
    assert opened.fee == pytest.approx(0.01 * 60000 * 0.00055)  # from the order's trades
    assert opened.client_order_id == "hxopen1" and opened.fee_asset == "USDT"
    assert fake.margin_mode == "ISOLATED" and fake.leverage["BTCUSDT"] == Decimal(10)
    [pos] = await bf.positions("BTCUSDT")
    assert (pos.side, pos.size, pos.entry_price, pos.leverage) == ("LONG", 0.01, 60000.0, 10.0)
    closed = await bf.place_order(order("hxclose1", side="SELL", reduce_only=True))
    assert closed.status == "Filled" and closed.side == "SELL"
    assert await bf.positions("BTCUSDT") == []
    first, second = sent(fake, "/fapi/v1/order")
    assert (first["type"], first["quantity"], first["newClientOrderId"], first["newOrderRespType"]) == \
        ("MARKET", "0.01", "hxopen1", "RESULT")
    assert "reduceOnly" not in first and second["reduceOnly"] == "true"
    # signature= is the last parameter of every signed call, and every one verified.
    signed = [c["query"] for c in fake.calls if "signature=" in c["query"]]
    assert signed and all(q.rsplit("&", 1)[1].startswith("signature=") for q in signed)
    assert fake.bad_signatures == 0
    await bf.aclose()


async def test_reduce_only_without_a_position_is_rejected(runtime, fake) -> None:
    bf = futures(runtime, fake)
    with pytest.raises(ExchangeError) as e:
        await bf.place_order(order("hxclose0", side="SELL", reduce_only=True))
    assert (e.value.kind, e.value.code) == ("rejected", "-2022")
    await bf.aclose()


async def test_limit_order_rests_on_the_tick_and_is_found_by_client_order_id(runtime, fake) -> None:
    bf = futures(runtime, fake)
    res = await bf.place_order(order("hxlimit1", order_type="LIMIT", price=55000.57))
    assert res.status == "New" and res.executed_qty == 0 and res.avg_price is None
    [p] = sent(fake, "/fapi/v1/order")
    # A BUY's limit price goes down to the tick (0.1): never a worse price than the signal's.
    assert (p["type"], p["price"], p["timeInForce"]) == ("LIMIT", "55000.5", "GTC")
    again = await bf.get_order("BTCUSDT", "hxlimit1")
    assert again is not None and again.order_id == res.order_id and again.status == "New"
    assert sent(fake, "/fapi/v1/order", "GET")[-1]["origClientOrderId"] == "hxlimit1"
    assert await bf.get_order("BTCUSDT", "hxnever") is None  # -2013 Order does not exist
    sell = await bf.place_order(order("hxlimit2", side="SELL", order_type="LIMIT", price=61000.01))
    assert sell.status == "New" and sent(fake, "/fapi/v1/order")[-1]["price"] == "61000.1"
    await bf.aclose()


async def test_rate_limit_429_then_418_then_recovery(runtime, fake) -> None:
    bf = futures(runtime, fake)
    fake.rate_limit_next(2)
    with pytest.raises(ExchangeError) as e:
        await bf.place_order(order("hxrl1"))
    assert (e.value.kind, e.value.code, e.value.retry_after) == ("rate_limited", "-1003", 2.0)
    assert e.value.retryable
    with pytest.raises(ExchangeError) as e:  # kept calling: 418, the IP ban, same meaning
        await bf.place_order(order("hxrl1"))
    assert e.value.kind == "rate_limited" and "banned" in e.value.message and e.value.retry_after == 2.0
    assert fake.orders == {}  # nothing was placed
    res = await bf.place_order(order("hxrl1"))  # recovered
    assert res.status == "Filled" and len(fake.orders) == 1
    await bf.aclose()


async def test_timeout_after_the_exchange_accepted_leaves_one_order(runtime, fake) -> None:
    bf = futures(runtime, fake, timeout=0.3)
    fake.accept_then_timeout(1, seconds=1.0)
    with pytest.raises(ExchangeError) as e:
        await bf.place_order(order("hxslow1"))
    assert e.value.kind == "timeout" and e.value.retryable
    found = await bf.get_order("BTCUSDT", "hxslow1")  # the retry looks it up first
    assert found is not None and found.status == "Filled" and found.executed_qty == 0.01
    assert found.fee == pytest.approx(0.33)
    with pytest.raises(ExchangeError) as e:  # placing again is refused, never filled twice
        await bf.place_order(order("hxslow1"))
    assert (e.value.kind, e.value.code) == ("duplicate_order", "-4116")
    assert len(fake.orders) == 1 and fake.positions["BTCUSDT"].size == Decimal("0.01")
    await bf.aclose()


async def test_clock_skew_resyncs_once_and_succeeds(runtime, fake) -> None:
    fake.skew_ms = 20_000  # the exchange runs 20 s ahead: our timestamps fall outside recvWindow
    bf = futures(runtime, fake)
    await bf.set_leverage("BTCUSDT", 3)
    assert abs(bf.offset_ms - 20_000) < 1000
    assert [c["path"] for c in fake.calls] == ["/fapi/v1/leverage", "/fapi/v1/time", "/fapi/v1/leverage"]
    fake.skew_ms = -20_000  # now 20 s behind: "ahead of the server's time", resynced again
    await bf.set_leverage("BTCUSDT", 4)
    assert fake.leverage["BTCUSDT"] == Decimal(4)
    await bf.aclose()


async def test_insufficient_margin_and_balance_are_rejections(runtime, fake) -> None:
    fake.balance = Decimal("10")
    bf = futures(runtime, fake)
    with pytest.raises(ExchangeError) as e:
        await bf.place_order(order("hxpoor1"))
    assert (e.value.kind, e.value.code, e.value.retryable) == ("rejected", "-2019", False)
    assert "Margin is insufficient." in e.value.message
    bs = spot(runtime, fake)
    with pytest.raises(ExchangeError) as e:
        await bs.place_order(order("hxpoor2"))
    assert (e.value.kind, e.value.code) == ("rejected", "-2010")
    assert "insufficient balance" in e.value.message
    assert fake.orders == {}
    await bf.aclose()
    await bs.aclose()


async def test_bad_key_and_bad_signature_are_rejections(runtime, fake) -> None:
    bf = futures(runtime, fake, secret="not-the-secret")
    with pytest.raises(ExchangeError) as e:
        await bf.set_leverage("BTCUSDT", 2)
    assert (e.value.kind, e.value.code) == ("rejected", "-1022") and fake.bad_signatures == 1
    wrong_key = BinanceFutures(runtime.env(W), base_url=fake.url, creds=Credentials("other", fake.api_secret))
    with pytest.raises(ExchangeError) as e:
        await wrong_key.balance()
    assert (e.value.kind, e.value.code) == ("rejected", "-2015") and "permissions" in e.value.message
    await bf.aclose()
    await wrong_key.aclose()


async def test_instrument_rules_take_the_binding_filters_and_are_cached(runtime, fake) -> None:
    fake.instruments["ETHUSDT"] = Instrument(qty_step="0.001", min_qty="0.001", min_notional="20", tick_size="0.01")
    fake.market_lot["ETHUSDT"] = ("0.01", "0.01")  # MARKET_LOT_SIZE is coarser than LOT_SIZE
    bf = futures(runtime, fake)
    rules = await bf.instrument("ETHUSDT")
    assert (rules.qty_step, rules.min_qty, rules.min_notional, rules.tick_size) == (0.01, 0.01, 20.0, 0.01)
    fake.instruments["ETHUSDT"] = Instrument(qty_step="1", min_qty="1", min_notional="1", tick_size="1")
    assert (await bf.instrument("ETHUSDT")).qty_step == 0.01  # kept by the connector
    assert (await futures(runtime, fake).instrument("ETHUSDT")).qty_step == 0.01  # a new one reads the KV cache
    assert sum(c["path"] == "/fapi/v1/exchangeInfo" for c in fake.calls) == 1
    bs = spot(runtime, fake)
    assert (await bs.instrument("ETHUSDT")).qty_step == 1.0  # spot has its own rules and cache entry
    with pytest.raises(ExchangeError) as e:
        await bf.instrument("NOPEUSDT")
    assert (e.value.kind, e.value.code) == ("rejected", "-1121")
    with pytest.raises(ExchangeError) as e:
        await bs.instrument("NOPEUSDT")
    assert (e.value.kind, e.value.code) == ("rejected", "-1121") and "Invalid symbol." in e.value.message
    # The exchange enforces the rules too: off-step or too small is refused with its filter's name.
    with pytest.raises(ExchangeError) as e:
        await bf.place_order(OrderRequest(symbol="BTCUSDT", side="BUY", quantity=0.0005, client_order_id="hxtiny"))
    assert (e.value.kind, e.value.code) == ("rejected", "-1013")
    fake.instruments["BTCUSDT"] = Instrument("0.001", "0.001", "100", "0.1")
    with pytest.raises(ExchangeError) as e:
        await bf.place_order(order("hxsmall", qty=0.001))
    assert (e.value.kind, e.value.code) == ("rejected", "-4164")
    await bf.aclose()
    await bs.aclose()


async def test_market_data_and_balance(runtime, fake) -> None:
    bf = futures(runtime, fake)
    fake.prices["BTCUSDT"] = Decimal("61234.5")
    assert await bf.ticker("BTCUSDT") == 61234.5
    assert await bf.mark_price("BTCUSDT") == 61234.5
    await bf.set_leverage("BTCUSDT", 5)
    await bf.place_order(order("hxbal1", qty=0.1))
    bal = await bf.balance("USDT")
    margin = 0.1 * 61234.5 / 5
    fee = 0.1 * 61234.5 * 0.00055
    assert bal.total == pytest.approx(10000 - fee)
    assert bal.free == pytest.approx(10000 - fee - margin)
    await bf.aclose()


async def test_spot_buys_then_sells_the_holding_and_refuses_shorts_and_leverage(runtime, fake) -> None:
    bs = spot(runtime, fake)
    await bs.set_leverage("BTCUSDT", 1)  # spot: nothing to set
    bought = await bs.place_order(order("hxspot1", leverage=1, market="spot"))
    assert (bought.status, bought.executed_qty, bought.avg_price) == ("Filled", 0.01, 60000.0)
    assert bought.fee == pytest.approx(0.33)  # from the FULL answer's fills
    [p] = sent(fake, "/api/v3/order")
    assert p["newOrderRespType"] == "FULL" and "reduceOnly" not in p
    assert (await bs.balance("BTC")).free == 0.01
    assert await bs.positions() == []
    sold = await bs.place_order(order("hxspot2", side="SELL", reduce_only=True, market="spot"))
    assert sold.status == "Filled"
    found = await bs.get_order("BTCUSDT", "hxspot2")
    assert found is not None and found.fee == pytest.approx(0.33)  # from myTrades
    assert await bs.get_order("BTCUSDT", "hxnone") is None
    for bad in (order("hxshort", side="SELL", market="spot"), order("hxlev", leverage=3, market="spot")):
        with pytest.raises(ExchangeError) as e:
            await bs.place_order(bad)
        assert e.value.kind == "rejected" and "futures" in e.value.message
    with pytest.raises(ExchangeError):
        await bs.set_leverage("BTCUSDT", 2)
    with pytest.raises(ExchangeError) as e:  # duplicate id on spot: -2010 "Duplicate order sent."
        await bs.place_order(order("hxspot1", market="spot"))
    assert (e.value.kind, e.value.code) == ("duplicate_order", "-2010")
    assert len(fake.orders) == 2
    await bs.aclose()


async def test_fees_are_valued_in_the_quote_asset(runtime, fake) -> None:
    fake.prices["BNBUSDT"] = Decimal("600")
    bs = spot(runtime, fake)
    fee = await bs._fee_in_quote("BTCUSDT", [
        {"price": "60000", "qty": "0.01", "commission": "0.00001", "commissionAsset": "BTC"},  # base: x price
        {"price": "60000", "qty": "0.01", "commission": "0.25", "commissionAsset": "USDT"},
        {"price": "60000", "qty": "0.01", "commission": "0.001", "commissionAsset": "BNB"},  # third asset: x BNBUSDT
    ])
    assert fee == pytest.approx(0.6 + 0.25 + 0.6)
    await bs.aclose()


def test_client_order_ids_outside_binance_rule_are_refused_before_sending() -> None:
    with pytest.raises(ExchangeError) as e:
        _BinanceStyle._check_client_id(BinanceFutures.__new__(BinanceFutures), "x" * 37)
    assert e.value.kind == "rejected"


async def test_provider_for_routes_binance_by_market_and_kv_host(runtime, fake) -> None:
    runtime.workspace.set_secret("BINANCE_API_KEY", fake.api_key)
    runtime.workspace.set_secret("BINANCE_API_SECRET", fake.api_secret)
    env = runtime.env(W)
    assert live_connector("binance", "futures") is BinanceFutures
    assert live_connector("binance", "spot") is BinanceSpot
    p = await provider_for(env, "binance", "live")
    assert isinstance(p, BinanceFutures) and p.base_url == "https://fapi.binance.com"
    await settings.put(env.CONFIG_KV, "exchanges:binance:testnet", True)
    assert (await provider_for(env, "binance", "live", "spot")).base_url == "https://testnet.binance.vision"  # type: ignore[attr-defined]
    assert (await provider_for(env, "binance", "live")).base_url == "https://testnet.binancefuture.com"  # type: ignore[attr-defined]
    await settings.put(env.CONFIG_KV, "exchanges:binance:base_url", fake.url)
    p = await provider_for(env, "binance", "live", "spot")
    assert isinstance(p, BinanceSpot) and p.base_url == fake.url
    assert await p.ticker("BTCUSDT") == 60000.0
    await p.aclose()
