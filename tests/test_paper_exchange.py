"""The paper exchange (DESIGN decision 8) through its provider, on the local Durable Object adapter.

Every figure asserted here is worked out by hand in the test from the KV settings it sets.
"""

from __future__ import annotations

import asyncio
import itertools
import math

import pytest
from hoox_edge.exchanges import client_order_id, provider_for
from hoox_edge.exchanges.base import ExchangeError, OrderRequest
from hoox_edge.exchanges.paper import PaperProvider
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.paper import market
from hoox_edge.shared import settings

BTC = "BTCUSDT"


class Paper:
    """A paper account plus the KV it reads, for one test."""

    def __init__(self, runtime: LocalRuntime, exchange: str = "bybit") -> None:
        self.env = runtime.env("trade-worker")
        self.kv = self.env.CONFIG_KV
        self.p = PaperProvider(self.env, exchange)

    async def set(self, key: str, value: object) -> None:
        await settings.put(self.kv, key, value)

    async def pin(self, symbol: str, price: float) -> None:
        await self.set(f"exchanges:paper:price:{symbol}", price)

    async def fault(self, name: str) -> None:
        await self.set("exchanges:paper:fault", name)

    async def order(self, side: str, qty: float, coid: str, symbol: str = BTC, **kw: object):
        return await self.p.place_order(OrderRequest(symbol, side, qty, coid, **kw))  # type: ignore[arg-type]


@pytest.fixture
async def paper(runtime: LocalRuntime, clock) -> Paper:
    px = Paper(runtime)
    # Round numbers so every expected figure can be checked by hand.
    await px.set("exchanges:paper:fee_rate", 0.001)
    await px.set("exchanges:paper:slippage_bps", 0.0)
    await px.set("exchanges:paper:initial_balance", 10000.0)
    await px.pin(BTC, 60000.0)
    return px


# --------------------------------------------------------------------------- fills
async def test_market_orders_fill_with_slippage_against_the_trader_and_a_fee(paper: Paper) -> None:
    await paper.set("exchanges:paper:slippage_bps", 10.0)  # 0.1 %

    buy = await paper.order("BUY", 0.01, "hxbuy1")
    assert buy.status == "Filled"
    assert buy.executed_qty == 0.01
    assert buy.avg_price == 60060.0  # 60000 * 1.001
    assert buy.fee == pytest.approx(0.6006)  # 0.01 * 60060 * 0.001
    bal = await paper.p.balance()
    assert bal.locked == pytest.approx(600.6)  # notional / leverage 1
    assert bal.free == pytest.approx(10000 - 600.6 - 0.6006)

    other = Paper.__new__(Paper)
    other.env, other.kv, other.p = paper.env, paper.kv, PaperProvider(paper.env, "binance")
    sell = await other.order("SELL", 0.01, "hxsell1")
    assert sell.avg_price == 59940.0  # 60000 * 0.999: a seller gets less
    assert sell.fee == pytest.approx(0.5994)


async def test_pinned_price_is_used_exactly(paper: Paper) -> None:
    await paper.pin(BTC, 61234.567)  # off BTC's 0.1 tick on purpose: a pin is exact
    assert await paper.p.ticker(BTC) == 61234.567
    assert await paper.p.mark_price(BTC) == 61234.567
    filled = await paper.order("BUY", 0.001, "hxpin1")
    assert filled.avg_price == pytest.approx(61234.567)  # no slippage configured, nothing rounded
    (pos,) = await paper.p.positions(BTC)
    assert pos.mark_price == 61234.567


async def test_quantity_step_minimum_and_notional_rules(paper: Paper) -> None:
    await paper.set(
        "exchanges:paper:instruments",
        {**settings.PAPER_INSTRUMENTS, "XYZUSDT": {"price": 10.0, "qtyStep": 0.1, "minQty": 1.0,
                                                   "minNotional": 20.0, "tickSize": 0.01}},
    )  # fmt: skip
    await paper.pin("XYZUSDT", 10.0)

    with pytest.raises(ExchangeError) as e:
        await paper.order("BUY", 0.0015, "hxq1")
    assert e.value.kind == "rejected" and not e.value.retryable
    assert "not a multiple" in e.value.message and "step 0.001" in e.value.message

    with pytest.raises(ExchangeError) as e:
        await paper.order("BUY", 0.5, "hxq2", symbol="XYZUSDT")
    assert "minimum order quantity 1" in e.value.message

    with pytest.raises(ExchangeError) as e:
        await paper.order("BUY", 1.5, "hxq3", symbol="XYZUSDT")  # 15 USDT < 20
    assert "minimum notional 20" in e.value.message

    # None of the rejected orders exists or touched the account.
    for coid in ("hxq1", "hxq2", "hxq3"):
        assert await paper.p.get_order(BTC, coid) is None
        assert await paper.p.get_order("XYZUSDT", coid) is None
    assert (await paper.p.balance()).free == 10000.0

    # Float noise (0.1 + 0.2) is still a multiple of the step, and is cleaned up.
    await paper.pin("ETHUSDT", 3000.0)
    ok = await paper.order("BUY", 0.1 + 0.2, "hxq4", symbol="ETHUSDT")
    assert ok.executed_qty == 0.3


async def test_unknown_symbol_is_rejected_and_a_pinned_one_gets_derived_rules(paper: Paper) -> None:
    with pytest.raises(ExchangeError) as e:
        await paper.order("BUY", 1, "hxdoge1", symbol="DOGEUSDT")
    assert e.value.kind == "rejected"
    assert "DOGEUSDT" in e.value.message
    assert "exchanges:paper:price:DOGEUSDT" in e.value.message
    assert "exchanges:paper:instruments" in e.value.message

    await paper.pin("DOGEUSDT", 0.1234)
    rules = await paper.p.instrument("DOGEUSDT")
    assert (rules.qty_step, rules.min_qty, rules.min_notional, rules.tick_size) == (100.0, 100.0, 5.0, 1e-06)
    filled = await paper.order("BUY", 100, "hxdoge2", symbol="DOGEUSDT")
    assert filled.avg_price == 0.1234


def test_derived_rules_reproduce_the_listed_defaults() -> None:
    for symbol, entry in settings.PAPER_INSTRUMENTS.items():
        r = market.derive_rules(symbol, entry["price"])
        assert r.qty_step == entry["qtyStep"]
        assert r.min_qty == entry["minQty"]
    assert market.derive_rules("BTCUSDT", 60000.0).tick_size == 0.1


async def test_insufficient_balance_is_rejected_with_the_numbers(paper: Paper) -> None:
    await paper.set("exchanges:paper:initial_balance", 1000.0)
    other = Paper.__new__(Paper)
    other.env, other.kv, other.p = paper.env, paper.kv, PaperProvider(paper.env, "mexc")

    with pytest.raises(ExchangeError) as e:
        await other.order("BUY", 0.02, "hxbig1")  # margin 1200 + fee 1.2 > 1000
    assert e.value.kind == "rejected"
    assert "insufficient balance" in e.value.message
    assert "1201.2" in e.value.message and "1000" in e.value.message
    assert await other.p.positions() == []

    await other.p.set_leverage(BTC, 10)  # margin 120 + fee 1.2 fits
    filled = await other.order("BUY", 0.02, "hxbig2")
    assert filled.status == "Filled"
    bal = await other.p.balance()
    assert bal.locked == pytest.approx(120.0)
    assert bal.free == pytest.approx(1000 - 120 - 1.2)


# --------------------------------------------------------------------------- positions
async def test_open_add_partial_close_and_full_close_settle_by_hand(paper: Paper) -> None:
    await paper.order("BUY", 0.01, "hxp1")  # at 60000, fee 0.6
    await paper.pin(BTC, 62000.0)
    await paper.order("BUY", 0.01, "hxp2")  # at 62000, fee 0.62
    (pos,) = await paper.p.positions(BTC)
    assert (pos.side, pos.size, pos.entry_price) == ("LONG", 0.02, pytest.approx(61000.0))
    assert pos.unrealized_pnl == pytest.approx(0.02 * (62000 - 61000))

    await paper.pin(BTC, 63000.0)
    part = await paper.order("SELL", 0.005, "hxp3")
    assert part.fee == pytest.approx(0.315)
    (pos,) = await paper.p.positions(BTC)
    assert pos.size == pytest.approx(0.015) and pos.entry_price == pytest.approx(61000.0)
    bal = await paper.p.balance()
    # realised 0.005 * (63000 - 61000) = 10; margin 1220 released pro rata (a quarter)
    assert bal.total == pytest.approx(10000 - 0.6 - 0.62 + 10 - 0.315)
    assert bal.locked == pytest.approx(915.0)

    await paper.pin(BTC, 60000.0)
    close = await paper.order("SELL", 0.015, "hxp4", reduce_only=True)
    assert close.executed_qty == 0.015
    assert await paper.p.positions() == []
    bal = await paper.p.balance()
    # realised 0.015 * (60000 - 61000) = -15, fee 0.9
    assert bal.total == pytest.approx(10000 - 0.6 - 0.62 + 10 - 0.315 - 15 - 0.9)
    assert bal.locked == 0.0


async def test_short_position_pnl_and_flip_when_not_reduce_only(paper: Paper) -> None:
    await paper.order("SELL", 0.01, "hxs1")  # SHORT 0.01 at 60000
    await paper.pin(BTC, 59000.0)
    (pos,) = await paper.p.positions()
    assert pos.side == "SHORT" and pos.unrealized_pnl == pytest.approx(10.0)
    flip = await paper.order("BUY", 0.03, "hxs2")  # closes 0.01 (+10), opens LONG 0.02 at 59000
    assert flip.executed_qty == 0.03
    (pos,) = await paper.p.positions()
    assert (pos.side, pos.size, pos.entry_price) == ("LONG", 0.02, 59000.0)
    bal = await paper.p.balance()
    assert bal.locked == pytest.approx(0.02 * 59000)
    assert bal.total == pytest.approx(10000 - 0.6 + 10 - 0.03 * 59000 * 0.001)


async def test_reduce_only_never_increases_or_flips(paper: Paper) -> None:
    with pytest.raises(ExchangeError) as e:
        await paper.order("SELL", 0.01, "hxr1", reduce_only=True)
    assert e.value.kind == "rejected" and "no open BTCUSDT position" in e.value.message

    await paper.order("BUY", 0.01, "hxr2")
    with pytest.raises(ExchangeError) as e:
        await paper.order("BUY", 0.01, "hxr3", reduce_only=True)
    assert "would increase" in e.value.message
    (pos,) = await paper.p.positions()
    assert pos.size == 0.01

    trimmed = await paper.order("SELL", 0.05, "hxr4", reduce_only=True)
    assert trimmed.status == "Filled"
    assert (trimmed.quantity, trimmed.executed_qty) == (0.05, 0.01)  # trimmed to the position
    assert await paper.p.positions() == []


async def test_leverage_margin_mode_and_liquidation_estimate(paper: Paper) -> None:
    await paper.p.set_margin_mode(BTC, "isolated")
    await paper.p.set_leverage(BTC, 10)
    await paper.order("BUY", 0.1, "hxl1")
    (pos,) = await paper.p.positions()
    assert pos.leverage == 10
    assert pos.liquidation_price == pytest.approx(60000 * (1 - 1 / 10 + 0.005))
    assert (await paper.p.balance()).locked == pytest.approx(600.0)
    await paper.p.set_leverage(BTC, 5)  # the open position's margin follows
    assert (await paper.p.balance()).locked == pytest.approx(1200.0)
    with pytest.raises(ExchangeError) as e:
        await paper.p.set_margin_mode(BTC, "cross")
    assert "while a position" in e.value.message
    with pytest.raises(ExchangeError):
        await paper.p.set_leverage(BTC, 500)

    await paper.order("SELL", 0.2, "hxl2")  # flips to SHORT 0.1 at 60000, leverage 5
    (pos,) = await paper.p.positions()
    assert pos.side == "SHORT"
    assert pos.liquidation_price == pytest.approx(60000 * (1 + 1 / 5 - 0.005))


async def test_limit_orders_fill_when_marketable_or_rest_until_the_price_crosses(paper: Paper) -> None:
    await paper.set("exchanges:paper:slippage_bps", 10.0)
    # Marketable BUY limit: slipped price 60060 is capped by the limit 60030.
    capped = await paper.order("BUY", 0.01, "hxlim1", order_type="LIMIT", price=60030.0)
    assert (capped.status, capped.avg_price) == ("Filled", 60030.0)

    resting = await paper.order("BUY", 0.01, "hxlim2", order_type="LIMIT", price=59000.0)
    assert resting.status == "New" and resting.executed_qty == 0
    bal = await paper.p.balance()
    assert bal.locked == pytest.approx(600.3 + 590 + 0.59)  # position margin + reservation

    await paper.pin(BTC, 59500.0)  # not there yet
    assert (await paper.p.get_order(BTC, "hxlim2")).status == "New"
    await paper.pin(BTC, 58900.0)  # crossed: fills at its limit price
    filled = await paper.p.get_order(BTC, "hxlim2")
    assert (filled.status, filled.avg_price, filled.executed_qty) == ("Filled", 59000.0, 0.01)
    assert filled.fee == pytest.approx(0.59)
    (pos,) = await paper.p.positions()
    assert pos.size == 0.02 and pos.entry_price == pytest.approx((60030 + 59000) / 2)

    cancel_me = await paper.order("SELL", 0.01, "hxlim3", order_type="LIMIT", price=70000.0)
    assert cancel_me.status == "New"
    cancelled = await paper.p.cancel_order(BTC, "hxlim3")
    assert cancelled.status == "Cancelled"
    assert (await paper.p.balance()).locked == pytest.approx(600.3 + 590)
    await paper.pin(BTC, 71000.0)
    assert (await paper.p.get_order(BTC, "hxlim3")).status == "Cancelled"


# --------------------------------------------------------------------------- client order ids
async def test_duplicate_client_order_id_places_nothing(paper: Paper) -> None:
    first = await paper.order("BUY", 0.01, "hxdup")
    before = await paper.p.balance()
    with pytest.raises(ExchangeError) as e:
        await paper.order("BUY", 0.05, "hxdup")
    assert e.value.kind == "duplicate_order"
    assert first.order_id in e.value.message
    (pos,) = await paper.p.positions()
    assert pos.size == 0.01
    assert await paper.p.balance() == before
    assert await paper.p.get_order(BTC, "hxdup") == first


async def test_get_order_finds_the_stored_order_only(paper: Paper) -> None:
    placed = await paper.order("SELL", 0.002, "hxget1")
    found = await paper.p.get_order(BTC, "hxget1")
    assert found == placed
    assert found.executed_qty == 0.002 and found.avg_price == 60000.0
    assert await paper.p.get_order(BTC, "hxnever") is None
    assert await paper.p.get_order("ETHUSDT", "hxget1") is None  # another symbol's order


def test_client_order_id_from_request_id() -> None:
    rid = "3f2b8c1e-9a4d-4e6f-b2c7-0d1e2f3a4b5c"
    coid = client_order_id(rid)
    assert coid == "hx" + "3f2b8c1e9a4d4e6fb2c70d1e2f3a4b5c"[:30]
    assert len(coid) == 32 and coid.isalnum()
    assert client_order_id(rid) == coid


async def test_provider_for_paper_and_live(runtime: LocalRuntime) -> None:
    env = runtime.env("trade-worker")
    prov = await provider_for(env, "bybit", "paper")
    assert isinstance(prov, PaperProvider) and prov.mode == "paper" and prov.name == "bybit"
    with pytest.raises(ExchangeError) as e:  # live without an API key: says which secrets to set
        await provider_for(env, "binance", "live")
    assert e.value.kind == "rejected" and not e.value.retryable
    assert "BINANCE_API_KEY" in e.value.message and "BINANCE_API_SECRET" in e.value.message


# --------------------------------------------------------------------------- faults
async def test_outage_places_nothing_and_is_retryable(paper: Paper) -> None:
    await paper.fault("outage")
    with pytest.raises(ExchangeError) as e:
        await paper.order("BUY", 0.01, "hxout")
    assert e.value.kind == "unavailable" and e.value.retryable
    with pytest.raises(ExchangeError) as e:
        await paper.p.balance()  # faults apply to every method
    assert e.value.kind == "unavailable"
    await paper.fault("")
    assert await paper.p.get_order(BTC, "hxout") is None
    assert await paper.p.positions() == []
    assert (await paper.p.balance()).free == 10000.0


async def test_rate_limit_places_nothing_and_says_when_to_retry(paper: Paper) -> None:
    await paper.fault("rate_limit")
    with pytest.raises(ExchangeError) as e:
        await paper.order("BUY", 0.01, "hxrl")
    assert e.value.kind == "rate_limited" and e.value.retry_after == 1 and e.value.retryable
    with pytest.raises(ExchangeError):
        await paper.p.ticker(BTC)
    await paper.fault("")
    assert await paper.p.get_order(BTC, "hxrl") is None


async def test_timeout_places_the_order_once_and_get_order_finds_it(paper: Paper) -> None:
    await paper.fault("timeout")
    with pytest.raises(ExchangeError) as e:
        await paper.order("BUY", 0.01, "hxtimeout")
    assert e.value.kind == "timeout" and e.value.retryable
    with pytest.raises(ExchangeError) as e:
        await paper.p.get_order(BTC, "hxtimeout")  # still timing out: the answer is lost too
    assert e.value.kind == "timeout"

    await paper.fault("")
    found = await paper.p.get_order(BTC, "hxtimeout")
    assert found is not None and found.status == "Filled" and found.executed_qty == 0.01
    # A blind retry with the same client order id cannot fill twice.
    with pytest.raises(ExchangeError) as e:
        await paper.order("BUY", 0.01, "hxtimeout")
    assert e.value.kind == "duplicate_order"
    (pos,) = await paper.p.positions()
    assert pos.size == 0.01
    bal = await paper.p.balance()
    assert bal.total == pytest.approx(10000 - 0.6)


async def test_a_broken_setting_is_a_clear_rejection(paper: Paper) -> None:
    await paper.kv.put("exchanges:paper:fee_rate", "cheap")
    with pytest.raises(ExchangeError) as e:
        await paper.order("BUY", 0.01, "hxcfg")
    assert e.value.kind == "rejected" and "exchanges:paper:fee_rate" in e.value.message


# --------------------------------------------------------------------------- random walk
async def test_random_walk_is_continuous_and_deterministic_for_a_seed(runtime: LocalRuntime, clock) -> None:
    a, b, c = Paper(runtime, "bybit"), Paper(runtime, "binance"), Paper(runtime, "mexc")
    await a.set("exchanges:paper:seed", 11)
    seq_a, seq_b = [], []
    for _ in range(120):
        seq_a.append(await a.p.ticker(BTC))
        seq_b.append(await b.p.ticker(BTC))
        clock.advance(1)
    assert seq_a[0] == 60000.0  # the listed start price
    assert seq_a == seq_b  # same seed, same observation times: same prices
    assert len(set(seq_a)) > 60  # it moves
    for x, y in itertools.pairwise(seq_a):
        assert abs(math.log(y / x)) < 6 * market.SIGMA_PER_SQRT_SECOND + 1e-6  # no jumps
    for p in seq_a:
        assert market.is_multiple(p, 0.1)  # quoted on the tick

    # An hour later it has moved on from where it was, not restarted.
    clock.advance(3600)
    later = await a.p.ticker(BTC)
    assert later != seq_a[-1]
    assert abs(math.log(later / seq_a[-1])) < 6 * market.SIGMA_PER_SQRT_SECOND * math.sqrt(3601)

    # Another seed walks another path.
    await c.set("exchanges:paper:seed", 12)
    seq_c = []
    for _ in range(120):
        seq_c.append(await c.p.ticker(BTC))
        clock.advance(1)
    assert seq_c[0] == 60000.0 and seq_c != seq_a


async def test_walk_resumes_from_a_removed_pin(paper: Paper, clock) -> None:
    await paper.pin("ETHUSDT", 2500.0)
    assert await paper.p.ticker("ETHUSDT") == 2500.0
    await paper.kv.delete("exchanges:paper:price:ETHUSDT")
    clock.advance(1)
    after = await paper.p.ticker("ETHUSDT")
    assert abs(after - 2500.0) < 2500.0 * 0.001  # near the pin, not back at the listed 3000


# --------------------------------------------------------------------------- persistence
async def test_state_survives_a_new_runtime_over_the_same_workspace(runtime: LocalRuntime, clock) -> None:
    first = Paper(runtime, "bybit")
    await first.set("exchanges:paper:fee_rate", 0.001)
    await first.set("exchanges:paper:slippage_bps", 0.0)
    await first.set("exchanges:paper:seed", 5)
    eth = await first.p.ticker("ETHUSDT")  # unpinned: the walk starts
    await first.pin(BTC, 60000.0)
    placed = await first.order("BUY", 0.01, "hxkeep")
    clock.advance(30)
    eth_ref = await Paper(runtime, "binance").p.ticker("ETHUSDT")  # binance: first look at +30 s
    balance = await first.p.balance()
    workspace = runtime.workspace
    await runtime.stop()

    again = LocalRuntime(workspace)
    await again.open()
    try:
        second = Paper(again, "bybit")
        assert await second.p.get_order(BTC, "hxkeep") == placed
        (pos,) = await second.p.positions(BTC)
        assert (pos.size, pos.entry_price) == (0.01, 60000.0)
        assert await second.p.balance() == balance
        with pytest.raises(ExchangeError) as e:
            await second.order("BUY", 0.01, "hxkeep")
        assert e.value.kind == "duplicate_order"
        # The walk continues from the stored price: bybit saw ETH at t0, now at t0+30.
        eth_now = await second.p.ticker("ETHUSDT")
        assert eth_now == pytest.approx(market.quote(market.walk(eth, int(clock()) - 30, int(clock()), 5,
                                                                 "ETHUSDT"), 0.01))  # fmt: skip
        assert eth_ref == 3000.0 and eth == 3000.0
    finally:
        await again.stop()


async def test_what_the_object_keeps_in_memory_matches_its_tables(runtime: LocalRuntime, clock) -> None:
    """Positions, resting orders and order numbers are kept in memory between calls: after fills,
    flips, resting orders that fill, are cancelled or lose their position, the live object answers
    what a fresh one reading its SQL storage answers, and numbers the next order the same."""
    px = Paper(runtime)
    await px.set("exchanges:paper:fee_rate", 0.001)
    await px.pin(BTC, 60000.0)
    await px.pin("ETHUSDT", 3000.0)
    await px.p.set_leverage(BTC, 5)
    await px.order("BUY", 0.1, "hxm1")
    await px.order("SELL", 1.0, "hxm2", symbol="ETHUSDT")
    await px.order("BUY", 0.05, "hxm3", order_type="LIMIT", price=59000.0)  # rests, then fills
    await px.order("SELL", 0.1, "hxm4", order_type="LIMIT", price=70000.0)  # rests, then cancelled
    await px.order("BUY", 0.5, "hxm5", symbol="ETHUSDT", order_type="LIMIT", price=2000.0, reduce_only=True)
    await px.order("SELL", 0.5, "hxm6", symbol="ETHUSDT", order_type="LIMIT", price=3500.0)  # stays resting
    await px.pin(BTC, 58900.0)
    await px.p.cancel_order(BTC, "hxm4")
    await px.order("BUY", 1.0, "hxm7", symbol="ETHUSDT")  # closes ETH: hxm5 is cancelled when it crosses
    await px.pin("ETHUSDT", 1900.0)
    await px.p.set_leverage(BTC, 3)
    await px.order("SELL", 0.25, "hxm8")  # flips BTC to SHORT

    async def state(p: PaperProvider) -> tuple:
        return (await p.balance(), await p.positions(), await p.open_orders(),
                [await p.get_order(s, c) for s, c in ((BTC, "hxm3"), (BTC, "hxm4"), ("ETHUSDT", "hxm5"))])

    live = await state(px.p)
    assert [o.client_order_id for o in live[2]] == ["hxm6"]
    assert [o.status for o in live[3]] == ["Filled", "Cancelled", "Cancelled"]
    workspace = runtime.workspace
    await runtime.stop()
    again = LocalRuntime(workspace)
    await again.open()
    try:
        fresh = Paper(again)
        assert await state(fresh.p) == live
        assert (await fresh.order("BUY", 0.01, "hxm9")).order_id == "paper-bybit-00000009"
    finally:
        await again.stop()


async def test_sizing_asks_the_exchange_for_a_quote_once_a_second_per_settings(runtime: LocalRuntime, clock) -> None:
    from hoox_edge.local import durable

    def quotes() -> int:
        return durable.CALLS["PaperExchange.quote"]

    a, b = Paper(runtime), Paper(runtime)  # two signals' providers of one account
    start = quotes()
    first = (await a.p.instrument(BTC), await a.p.ticker(BTC))
    assert (await b.p.instrument(BTC), await b.p.ticker(BTC)) == first  # the same second: no call
    assert quotes() == start + 1
    await b.order("BUY", 0.01, "hxq1")
    assert (await b.p.instrument(BTC), await b.p.ticker(BTC)) == first  # an order does not move it
    assert quotes() == start + 1

    clock.advance(1)  # the market moved on
    moved = await b.p.ticker(BTC)
    assert (await a.p.instrument(BTC), await a.p.ticker(BTC)) == (first[0], moved)
    await a.set("exchanges:paper:seed", 9)  # another walk: asked again
    assert await a.p.instrument(BTC) == first[0]
    assert quotes() == start + 3
    await a.pin(BTC, 61000.0)  # a pinned price is quoted as it is, in the second it is set
    await a.p.instrument(BTC)
    assert await a.p.ticker(BTC) == 61000.0 and quotes() == start + 4

    clock.advance(1)  # signals arriving together while the quote is on its way wait for that one
    together = await asyncio.gather(*(Paper(runtime).p.instrument(BTC) for _ in range(5)))
    assert together == [first[0]] * 5 and quotes() == start + 5

    await a.fault("outage")  # a fault applies to every call: nothing is answered from memory
    with pytest.raises(ExchangeError) as e:
        await b.p.instrument(BTC)
    assert e.value.kind == "unavailable"
    await a.fault("")
    await a.p.reset()  # a reset account's walk starts again: asked again
    await a.p.instrument(BTC)
    assert quotes() == start + 7


async def test_a_failed_commit_leaves_nothing_of_the_order_in_the_objects_memory(paper: Paper, monkeypatch) -> None:
    """The object keeps its tables in memory; when the commit of a call fails (a full disk), the call's
    writes are not on disk, and the object starts again from its storage, as Cloudflare resets an object
    whose write failed: no phantom position, balance or order number."""
    import sqlite3

    from hoox_edge.local import sqlio

    await paper.order("BUY", 0.05, "hxc1")
    before = (await paper.p.balance(), await paper.p.positions())
    real = sqlio.WriteConnection._commit_in_thread

    def disk_full(writer: sqlio.WriteConnection) -> None:  # the paper account's file only
        if writer.path.parent.name != "PaperExchange":
            return real(writer)
        writer.conn.execute("ROLLBACK")
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(sqlio.WriteConnection, "_commit_in_thread", disk_full)
    with pytest.raises(Exception, match="disk is full"):
        await paper.order("BUY", 0.02, "hxc2")
    monkeypatch.undo()
    assert (await paper.p.balance(), await paper.p.positions()) == before
    assert await paper.p.get_order(BTC, "hxc2") is None
    assert (await paper.order("BUY", 0.01, "hxc3")).order_id == "paper-bybit-00000002"
