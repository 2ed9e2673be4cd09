"""Issue 11's risk manager in live mode, on the loopback Bybit and Binance exchanges (signatures
checked by the fakes from the vendors' rules): the same trailing stop on both, and reconciliation
of the ledger's live book with the positions the exchanges report. Time moves only by the fake clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import cli_support
import pytest
from cli_support import as_json
from fake_exchanges import FakeExchange, FakePosition
from fake_exchanges.binance import FakeBinance
from fake_exchanges.bybit import FakeBybit
from hoox_edge.exchanges import client_order_id
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.risk import manager
from hoox_edge.shared import settings

GW = "hoox"
AGENT = "agent-worker"


@pytest.fixture(autouse=True)
def _fixed_time(clock):
    return clock


async def _start_fakes(rt: LocalRuntime) -> AsyncIterator[dict[str, FakeExchange]]:
    """A loopback Bybit and Binance with their keys set, and the desk trading live on them."""
    fakes: dict[str, FakeExchange] = {"bybit": FakeBybit(), "binance": FakeBinance()}
    kv = rt.env(GW).CONFIG_KV
    await settings.put(kv, "trade:mode", "live")
    try:
        for name, fake in fakes.items():
            await fake.start()
            rt.workspace.set_secret(f"{name.upper()}_API_KEY", fake.api_key)
            rt.workspace.set_secret(f"{name.upper()}_API_SECRET", fake.api_secret)
            await settings.put(kv, f"exchanges:{name}:base_url", fake.url)
        yield fakes
    finally:
        for fake in fakes.values():
            await fake.stop()


@pytest.fixture
async def fakes(runtime) -> AsyncIterator[dict[str, FakeExchange]]:
    async for f in _start_fakes(runtime):
        yield f


@pytest.fixture
async def edge_fakes(edge) -> AsyncIterator[dict[str, FakeExchange]]:
    async for f in _start_fakes(edge):
        yield f


async def kv(rt, key, value) -> None:
    await settings.put(rt.env(GW).CONFIG_KV, key, value)


async def rows(rt, sql, *args) -> list[dict]:
    return (await rt.env(GW).DB.prepare(sql).bind(*args).all())["results"]


async def opened(rt, exchange: str, **changes) -> None:
    body = {"apiKey": rt.env(GW).WEBHOOK_API_KEY, "exchange": exchange, "action": "LONG", "symbol": "BTCUSDT",
            "quantity": 0.01} | changes
    r = await rt.request(GW, "POST", "/webhook", json=body)
    assert r.status == 200 and r.json()["result"]["mode"] == "live", r.json()


def move(fakes: dict[str, FakeExchange], symbol: str, price: str) -> None:
    for fake in fakes.values():
        fake.move_price(symbol, Decimal(price))


async def tick(rt, clock, minutes: int = 5) -> None:
    clock.advance(minutes * 60)
    await rt.run_cron(AGENT)


async def last_run(rt) -> dict:
    [r] = await rows(rt, "SELECT * FROM risk_runs ORDER BY id DESC LIMIT 1")
    return r


async def v1(rt, path: str, method: str = "GET", body=None):
    token = rt.env(GW).OPERATOR_API_KEY
    return await rt.request(GW, method, "/v1" + path, json=body, headers={"Authorization": f"Bearer {token}"})


async def agent(rt, method: str, path: str, body=None):
    key = {"X-Internal-Auth-Key": rt.env(AGENT).INTERNAL_KEY_BINDING}
    return await rt.request(AGENT, method, path, json=body, headers=key)


# =========================================================================== (a) trailing stop, live
async def test_the_same_trailing_stop_closes_once_on_loopback_bybit_and_binance(runtime, fakes, clock):
    rt = runtime
    await kv(rt, "trade:trailing_stop_percent", 2)
    for name in fakes:
        await opened(rt, name)
    await tick(rt, clock)  # watermark 60000, stop 58800 on both
    for price in ("63000", "62000"):  # the rally lifts the stops to 61740; 62000 stays above
        move(fakes, "BTCUSDT", price)
        await tick(rt, clock)
    assert await rows(rt, "SELECT 1 FROM trades WHERE reason = 'trailing_stop'") == []
    state = await rows(rt, "SELECT exchange, watermark, stop_price FROM risk_positions ORDER BY exchange")
    assert [(s["exchange"], s["watermark"], s["stop_price"]) for s in state] == [
        ("binance", 63000, pytest.approx(61740)), ("bybit", 63000, pytest.approx(61740))]
    placed = {name: len(f.orders) for name, f in fakes.items()}

    move(fakes, "BTCUSDT", "61500")  # the pullback crosses both stops
    await tick(rt, clock)
    closes = await rows(rt, "SELECT exchange, request_id, client_order_id, side, filled_qty, status, mode "
                            "FROM trades WHERE reason = 'trailing_stop' ORDER BY exchange")
    assert [(c["exchange"], c["side"], c["filled_qty"], c["status"], c["mode"]) for c in closes] == [
        ("binance", "SELL", 0.01, "Filled", "live"), ("bybit", "SELL", 0.01, "Filled", "live")]
    for c in closes:
        fake = fakes[c["exchange"]]
        assert len(fake.orders) == placed[c["exchange"]] + 1  # exactly one close at each exchange
        order = fake.orders[c["client_order_id"]]  # the exchange saw our client order id
        assert c["client_order_id"] == client_order_id(c["request_id"])
        assert (order.side, order.qty, order.reduce_only, order.status) == ("SELL", Decimal("0.01"), True, "FILLED")
        assert fake.positions["BTCUSDT"].size == 0
        assert fake.bad_signatures == 0
    [pos_b] = await rows(rt, "SELECT id FROM positions WHERE exchange = 'bybit'")
    bybit_close = next(c for c in closes if c["exchange"] == "bybit")
    assert bybit_close["request_id"] == manager.action_request_id(pos_b["id"], "trailing_stop", "close", 0)
    run = await last_run(rt)
    assert (run["status"], run["actions"], run["errors"]) == ("ok", 2, 0), run["details"]

    # The cron again, and a manual run: nothing more reaches either exchange.
    move(fakes, "BTCUSDT", "58000")
    await tick(rt, clock)
    await tick(rt, clock)
    assert (await agent(rt, "POST", "/agent/run", {})).json()["result"]["actions"] == []
    assert {name: len(f.orders) for name, f in fakes.items()} == {n: k + 1 for n, k in placed.items()}
    assert len(await rows(rt, "SELECT 1 FROM trades WHERE reason = 'trailing_stop'")) == 2
    assert await rows(rt, "SELECT 1 FROM reconciliation_issues") == []  # ledger and exchanges agreed throughout


# =========================================================================== (b) reconciliation
async def hoox(*args: str):
    return await asyncio.to_thread(cli_support.hoox, *args)


async def mismatch_alerts(rt) -> list[dict]:
    return await rows(rt, "SELECT level, message FROM alerts WHERE message LIKE 'Reconciliation%' ORDER BY id")


async def test_a_position_changed_behind_hoox_back_is_one_alert_shown_until_it_matches_again(edge, edge_fakes, clock):
    rt, bybit = edge, edge_fakes["bybit"]
    await opened(rt, "bybit")
    # Manual runs: the fake clock stands still, so the runtime's own cron never fires meanwhile.
    assert (await agent(rt, "POST", "/agent/run", {})).json()["result"]["reconciliation"]["openIssues"] == 0

    bybit.positions["BTCUSDT"] = FakePosition(size=Decimal("0.03"), entry=Decimal("60000"))  # behind hoox's back
    for _ in range(3):  # the first run sees it; the next ones keep it open without a second alert
        res = (await agent(rt, "POST", "/agent/run", {})).json()["result"]
        assert res["reconciliation"]["openIssues"] == 1
    [alert] = await mismatch_alerts(rt)
    assert alert["level"] == "critical" and "bybit BTCUSDT (size)" in alert["message"]
    assert "holds LONG 0.01" in alert["message"] and "reports LONG 0.03" in alert["message"]
    [issue] = await rows(rt, "SELECT * FROM reconciliation_issues")
    assert (issue["kind"], issue["status"], issue["ledger_size"], issue["exchange_size"]) == ("size", "open", 0.01,
                                                                                             0.03)
    assert issue["first_run_id"] < issue["last_run_id"]
    [pos] = await rows(rt, "SELECT size FROM positions WHERE status = 'OPEN'")
    assert pos["size"] == 0.01 and bybit.positions["BTCUSDT"].size == Decimal("0.03")  # nothing was "fixed"

    shown = (await v1(rt, "/risk")).json()["result"]["reconciliation"]["openIssues"]
    assert [(i["exchange"], i["symbol"], i["kind"], i["ledgerSize"], i["exchangeSize"]) for i in shown] == [
        ("bybit", "BTCUSDT", "size", 0.01, 0.03)]
    r = await hoox("risk", "status", "--json")
    assert r.exit_code == 0, r.output
    assert as_json(r)["reconciliation"]["openIssues"] == shown

    bybit.positions["BTCUSDT"].size = Decimal("0.01")  # the operator put it right at the exchange
    res = (await agent(rt, "POST", "/agent/run", {})).json()["result"]
    assert res["reconciliation"]["openIssues"] == 0 and len(res["reconciliation"]["cleared"]) == 1
    alerts = await mismatch_alerts(rt)
    assert len(alerts) == 2 and alerts[1]["level"] == "info" and "cleared: bybit BTCUSDT" in alerts[1]["message"]
    [issue] = await rows(rt, "SELECT status, cleared_at FROM reconciliation_issues")
    assert issue["status"] == "cleared" and issue["cleared_at"]
    assert (await v1(rt, "/risk")).json()["result"]["reconciliation"]["openIssues"] == []
    assert as_json(await hoox("risk", "status", "--json"))["reconciliation"]["openIssues"] == []
    await agent(rt, "POST", "/agent/run", {})
    assert len(await mismatch_alerts(rt)) == 2  # a cleared issue is not alerted again


async def test_every_kind_of_mismatch_and_an_exchange_that_cannot_be_asked(runtime, fakes, clock):
    rt = runtime
    await opened(rt, "bybit")
    await opened(rt, "binance", action="SHORT", symbol="ETHUSDT", quantity=0.5)
    fakes["bybit"].positions["BTCUSDT"].size = Decimal("-0.01")  # flipped to short
    fakes["bybit"].positions["ETHUSDT"] = FakePosition(size=Decimal("1"), entry=Decimal("3000"))  # never ours
    fakes["binance"].positions["ETHUSDT"].size = Decimal(0)  # closed by hand
    res = (await agent(rt, "POST", "/agent/run", {})).json()["result"]
    kinds = sorted((i["exchange"], i["symbol"], i["kind"]) for i in res["reconciliation"]["opened"])
    assert kinds == [("binance", "ETHUSDT", "missing_at_exchange"), ("bybit", "BTCUSDT", "side"),
                     ("bybit", "ETHUSDT", "not_in_ledger")]
    assert len(await mismatch_alerts(rt)) == 3

    # Binance down: an error of the run, never a mismatch, and its open issue stays as it was.
    await fakes["binance"].stop()
    res = (await agent(rt, "POST", "/agent/run", {})).json()["result"]
    assert res["status"] == "error"
    [down] = [e for e in res["errors"] if e["stage"] == "reconcile"]
    assert down["exchange"] == "binance" and "could not be read" in down["error"]
    assert res["reconciliation"]["openIssues"] == 3 and res["reconciliation"]["cleared"] == []
    assert len(await mismatch_alerts(rt)) == 3

    # No keys for a live position's exchange: the same, with the secrets named and never their values.
    rt.workspace.set_secret("BYBIT_API_KEY", "")
    res = (await agent(rt, "POST", "/agent/run", {})).json()["result"]
    [err] = [e for e in res["errors"] if e["stage"] == "reconcile" and e["exchange"] == "bybit"]
    assert "BYBIT_API_KEY" in err["error"] and fakes["bybit"].api_key not in str(res)
    assert res["reconciliation"]["openIssues"] == 3


async def test_paper_positions_are_not_reconciled(runtime, clock):
    rt = runtime
    body = {"apiKey": rt.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT",
            "quantity": 0.01}
    assert (await rt.request(GW, "POST", "/webhook", json=body)).status == 200
    res = (await agent(rt, "POST", "/agent/run", {})).json()["result"]
    assert res["status"] == "ok" and res["reconciliation"] == {"exchanges": [], "opened": [], "cleared": [],
                                                               "openIssues": 0}
