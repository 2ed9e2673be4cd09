"""Issue 11's risk manager, each rule seen firing once and only once: agent-worker's cron fired
between price steps on the paper exchange (pinned prices), in one local runtime (service bindings,
Durable Objects, the ledger), time moved only by the fake clock.
"""

from __future__ import annotations

import json

import pytest
from hoox_edge.risk import manager, rules
from hoox_edge.shared import settings

GW = "hoox"
AGENT = "agent-worker"
RISK_REASONS = ("trailing_stop", "break_even_stop", "take_profit", "drawdown")


@pytest.fixture(autouse=True)
def _fixed_time(clock):
    return clock


async def kv(rt, key, value) -> None:
    await settings.put(rt.env(GW).CONFIG_KV, key, value)


async def pin(rt, symbol: str, price: float) -> None:
    await kv(rt, f"exchanges:paper:price:{symbol}", price)


async def send(rt, **changes):
    body = {"apiKey": rt.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT",
            "quantity": 0.01} | changes
    return await rt.request(GW, "POST", "/webhook", json=body)


async def opened(rt, **changes) -> None:
    r = await send(rt, **changes)
    assert r.status == 200 and r.json()["status"] == "Filled", r.json()


async def rows(rt, sql, *args) -> list[dict]:
    return (await rt.env(GW).DB.prepare(sql).bind(*args).all())["results"]


async def tick(rt, clock, minutes: int = 5) -> None:
    """The next scheduled run: the clock moves on by the interval, the cron fires."""
    clock.advance(minutes * 60)
    await rt.run_cron(AGENT)


async def risk_trades(rt) -> list[dict]:
    marks = ",".join("?" * len(RISK_REASONS))
    return await rows(rt, "SELECT request_id, reason, action, side, quantity, filled_qty, price, status, exchange, "
                          f"symbol, mode FROM trades WHERE reason IN ({marks}) ORDER BY created_at, id", *RISK_REASONS)


async def open_positions(rt) -> list[dict]:
    return await rows(rt, "SELECT * FROM positions WHERE status = 'OPEN' ORDER BY id")


async def last_run(rt) -> dict:
    [r] = await rows(rt, "SELECT * FROM risk_runs ORDER BY id DESC LIMIT 1")
    return r


# =========================================================================== trailing stops
async def test_a_long_trailing_stop_fires_once_after_a_rally_and_a_pullback(runtime, clock):
    rt = runtime
    await kv(rt, "trade:trailing_stop_percent", 2)
    await pin(rt, "BTCUSDT", 60000)
    await opened(rt)
    await tick(rt, clock)  # first sight: watermark 60000, stop 58800
    [state] = await rows(rt, "SELECT * FROM risk_positions")
    assert (state["watermark"], state["stop_price"], state["stop_kind"]) == (60000, 58800, "trailing")
    for price in (63000, 62000):  # the rally lifts the stop to 61740; 62000 is above it
        await pin(rt, "BTCUSDT", price)
        await tick(rt, clock)
    [state] = await rows(rt, "SELECT watermark, stop_price FROM risk_positions")
    assert state == {"watermark": 63000, "stop_price": pytest.approx(61740)}
    assert await risk_trades(rt) == []
    await pin(rt, "BTCUSDT", 61500)  # the pullback crosses it
    await tick(rt, clock)
    [close] = await risk_trades(rt)
    assert (close["reason"], close["action"], close["side"], close["status"]) == ("trailing_stop", "CLOSE", "SELL",
                                                                                    "Filled")
    assert close["filled_qty"] == 0.01 and await open_positions(rt) == []
    [sig] = await rows(rt, "SELECT source, reason, status FROM trade_signals WHERE request_id = ?",
                       close["request_id"])
    assert sig == {"source": "risk", "reason": "trailing_stop", "status": "Filled"}
    assert close["request_id"] == manager.action_request_id(state_id := (await rows(
        rt, "SELECT position_id FROM risk_positions"))[0]["position_id"], "trailing_stop", "close", 0)
    assert state_id
    run = await last_run(rt)
    assert (run["status"], run["positions_seen"], run["actions"], run["errors"]) == ("ok", 1, 1, 0)
    [alert] = await rows(rt, "SELECT level, message FROM alerts WHERE message LIKE 'Trailing stop%'")
    assert alert["level"] == "warning" and "61500" in alert["message"]
    for price in (61000, 70000):  # the cron again: nothing fires twice
        await pin(rt, "BTCUSDT", price)
        await tick(rt, clock)
    assert len(await risk_trades(rt)) == 1
    assert (await last_run(rt))["actions"] == 0


async def test_a_short_trailing_stop_follows_the_trough_and_fires_once(runtime, clock):
    rt = runtime
    await kv(rt, "trade:trailing_stop_percent", 5)
    await kv(rt, "trade:trailing_stop_percent:ETHUSDT", 1)  # the symbol's own, tighter
    await pin(rt, "ETHUSDT", 3000)
    await opened(rt, action="SHORT", symbol="ETHUSDT", quantity=0.5)
    await tick(rt, clock)
    for price in (2800, 2820):  # trough 2800: stop 2828, never loosened by the bounce
        await pin(rt, "ETHUSDT", price)
        await tick(rt, clock)
    [state] = await rows(rt, "SELECT watermark, stop_price FROM risk_positions")
    assert state == {"watermark": 2800, "stop_price": pytest.approx(2828)}
    assert await risk_trades(rt) == []
    await pin(rt, "ETHUSDT", 2830)
    await tick(rt, clock)
    [close] = await risk_trades(rt)
    assert (close["reason"], close["side"], close["filled_qty"], close["status"]) == ("trailing_stop", "BUY", 0.5,
                                                                                      "Filled")
    await tick(rt, clock)
    assert len(await risk_trades(rt)) == 1 and await open_positions(rt) == []


# =========================================================================== take-profits
async def test_two_take_profit_targets_round_to_the_step_and_move_the_stop_to_break_even(runtime, clock):
    rt = runtime
    await kv(rt, "trade:take_profit_targets", [
        {"profit_percent": 2, "close_fraction": 0.33, "move_stop_to_break_even": False},
        {"profit_percent": 4, "close_fraction": 0.33, "move_stop_to_break_even": True}])
    await pin(rt, "SOLUSDT", 150)
    await opened(rt, symbol="SOLUSDT", quantity=0.7)  # SOLUSDT steps by 0.1: 0.7 × 0.33 = 0.231 → 0.2
    [pos] = await open_positions(rt)
    entry = pos["entry_price"]
    await tick(rt, clock)
    await pin(rt, "SOLUSDT", entry * 1.025)  # target 1
    await tick(rt, clock)
    await tick(rt, clock)  # the same price again: target 1 is done
    [t1] = await risk_trades(rt)
    assert (t1["reason"], t1["quantity"], t1["filled_qty"], t1["status"]) == ("take_profit", 0.2, 0.2, "Filled")
    await pin(rt, "SOLUSDT", entry * 1.05)  # target 2, and the rest's stop to break-even
    await tick(rt, clock)
    trades = await risk_trades(rt)
    assert [(t["reason"], t["filled_qty"]) for t in trades] == [("take_profit", 0.2), ("take_profit", 0.2)]
    [pos] = await open_positions(rt)
    assert pos["size"] == pytest.approx(0.3)
    [state] = await rows(rt, "SELECT stop_kind, stop_price, targets_done FROM risk_positions")
    assert state["stop_kind"] == "break_even" and state["targets_done"] == 2
    assert state["stop_price"] == pytest.approx(entry + pos["fees"] / 0.3, rel=1e-3)  # entry plus fees so far
    assert state["stop_price"] > entry
    await pin(rt, "SOLUSDT", entry * 1.001)  # back under break-even: the rest is closed
    await tick(rt, clock)
    trades = await risk_trades(rt)
    assert [(t["reason"], t["filled_qty"]) for t in trades][-1] == ("break_even_stop", pytest.approx(0.3))
    assert await open_positions(rt) == []
    await pin(rt, "SOLUSDT", entry * 1.2)
    await tick(rt, clock)
    assert len(await risk_trades(rt)) == 3  # nothing twice


async def test_a_target_below_the_minimum_size_is_skipped_with_its_reason(runtime, clock):
    rt = runtime
    await kv(rt, "trade:take_profit_targets", [{"profit_percent": 1, "close_fraction": 0.1}])
    await pin(rt, "SOLUSDT", 150)
    await opened(rt, symbol="SOLUSDT", quantity=0.5)  # 0.05 rounds down to 0 at the step 0.1
    await tick(rt, clock)
    await pin(rt, "SOLUSDT", 160)
    await tick(rt, clock)
    assert await risk_trades(rt) == []
    run = json.loads((await last_run(rt))["details"])
    assert run["skipped"][0]["target"] == 1 and "below the minimum order size" in run["skipped"][0]["reason"]
    [logrow] = await rows(rt, "SELECT message FROM system_logs WHERE message LIKE '%target 1%skipped%'")
    assert "rounds down to 0" in logrow["message"]
    await tick(rt, clock)
    assert len(await rows(rt, "SELECT 1 FROM system_logs WHERE message LIKE '%target 1%skipped%'")) == 1


# =========================================================================== settings
@pytest.mark.parametrize(("value", "rule"), [
    ([{"profit_percent": 4, "close_fraction": 0.5}, {"profit_percent": 2, "close_fraction": 0.5}], "ascend"),
    ([{"profit_percent": 2, "close_fraction": 0.6}, {"profit_percent": 4, "close_fraction": 0.6}], "more than 1"),
    ([{"profit_percent": 2, "close_fraction": 0}], "close_fraction"),
    ([{"profit_percent": 2, "close_fraction": 0.5, "move_stop": True}], "unknown fields"),
    ({"profit_percent": 2}, "JSON list"),
])  # fmt: skip
def test_take_profit_targets_are_validated(value, rule):
    with pytest.raises(settings.SettingError) as e:
        settings.encode("trade:take_profit_targets", value)
    assert e.value.key == "trade:take_profit_targets" and rule in e.value.message


def test_risk_settings_have_bounds():
    with pytest.raises(settings.SettingError, match="at most 60"):
        settings.encode("agent:risk_interval_minutes", 61)
    with pytest.raises(settings.SettingError, match="at least 1"):
        settings.encode("agent:risk_interval_minutes", 0)
    with pytest.raises(settings.SettingError, match="at most 50"):
        settings.encode("trade:trailing_stop_percent:BTCUSDT", 80)
    assert settings.encode("trade:trailing_stop_percent:BTCUSDT", 1.5) == "1.5"


def test_the_rules_formulas():
    d = rules.dec
    assert rules.trailing_stop("LONG", d(63000), d(2)) == d(61740)
    assert rules.trailing_stop("SHORT", d(2800), d(1)) == d(2828)
    assert rules.tighter("LONG", d(100), d(90)) == d(100) and rules.tighter("SHORT", d(100), d(90)) == d(90)
    assert rules.drawdown_percent(d(10000), d(9400)) == d(6)
    assert rules.break_even("SHORT", d(100), d(1), d(2)) == d("99.5")


# =========================================================================== daily drawdown
async def v1(rt, method: str, path: str, body=None):
    token = rt.env(GW).OPERATOR_API_KEY
    return await rt.request(GW, method, "/v1" + path, json=body, headers={"Authorization": f"Bearer {token}"})


async def test_a_drawdown_past_the_limit_flattens_the_book_on_every_exchange_and_latches_the_switch(runtime, clock):
    rt = runtime
    await kv(rt, "trade:max_daily_drawdown_percent", 5)
    await pin(rt, "BTCUSDT", 60000)
    await pin(rt, "ETHUSDT", 3000)
    await opened(rt, quantity=0.1)  # bybit: 6000 USDT of BTC
    await opened(rt, symbol="ETHUSDT", quantity=1)  # bybit: 3000 USDT of ETH
    await opened(rt, exchange="binance", quantity=0.1)  # binance: 6000 USDT of BTC
    await tick(rt, clock)  # the day's first run: the start-of-day equity of each book
    snaps = await rows(rt, "SELECT day, mode, exchange, equity, tripped_at FROM equity_snapshots ORDER BY exchange")
    assert [(s["day"], s["mode"], s["exchange"]) for s in snaps] == [("2026-01-05", "paper", "binance"),
                                                                      ("2026-01-05", "paper", "bybit")]
    assert all(9990 < s["equity"] < 10000 and s["tripped_at"] is None for s in snaps)  # 10000 less fees
    await pin(rt, "BTCUSDT", 57000)  # -5 %: bybit loses 300 + 0 of ~10000 (3 %), binance 300 (3 %)
    await tick(rt, clock)
    assert await risk_trades(rt) == [] and len(await open_positions(rt)) == 3
    await pin(rt, "ETHUSDT", 2500)  # bybit: -300 - 500 = 8 % down
    await tick(rt, clock)
    closes = await risk_trades(rt)
    assert sorted((c["exchange"], c["symbol"], c["reason"], c["status"]) for c in closes) == [
        ("binance", "BTCUSDT", "drawdown", "Filled"), ("bybit", "BTCUSDT", "drawdown", "Filled"),
        ("bybit", "ETHUSDT", "drawdown", "Filled")]
    assert await open_positions(rt) == []
    ks = (await v1(rt, "GET", "/kill-switch")).json()["result"]
    assert ks["on"] is True and "daily drawdown" in ks["reason"] and "bybit" in ks["reason"]
    [alert] = await rows(rt, "SELECT level, message FROM alerts WHERE message LIKE 'KILL SWITCH ON%'")
    assert alert["level"] == "critical" and "3/3 positions closed" in alert["message"]
    run = json.loads((await last_run(rt))["details"])
    bybit = next(d for d in run["drawdowns"] if d["exchange"] == "bybit")
    assert bybit["drawdownPercent"] == pytest.approx(8, abs=0.2) and bybit["limitPercent"] == 5
    r = await send(rt)  # a new signal
    assert r.status == 503 and r.json()["error"]["code"] == "KILL_SWITCH_ACTIVE"
    await tick(rt, clock)  # the switch stays on; nothing is closed twice
    assert len(await risk_trades(rt)) == 3
    assert (await v1(rt, "GET", "/kill-switch")).json()["result"]["on"] is True
    # Only an operator turns it off; the same day's drawdown does not turn it on again.
    assert (await v1(rt, "POST", "/kill-switch", {"on": False, "reason": "reviewed"})).status == 200
    await tick(rt, clock)
    assert (await v1(rt, "GET", "/kill-switch")).json()["result"]["on"] is False
    assert (await send(rt, symbol="ETHUSDT", quantity=0.1)).status == 200


# =========================================================================== crash, retry, lock
async def test_a_run_that_stops_between_two_actions_is_finished_by_the_next_without_a_duplicate(
        runtime, clock, monkeypatch):
    rt = runtime
    await kv(rt, "trade:trailing_stop_percent", 1)
    await pin(rt, "BTCUSDT", 60000)
    await pin(rt, "ETHUSDT", 3000)
    await opened(rt)
    await opened(rt, symbol="ETHUSDT", quantity=0.1)
    await tick(rt, clock)
    sent: list[str] = []

    async def crash_on_the_second(env, request_id):
        sent.append(request_id)
        if len(sent) == 2:
            raise manager.InjectedFault("injected: the run stops here")

    monkeypatch.setattr(manager, "before_send", crash_on_the_second)
    await pin(rt, "BTCUSDT", 59000)
    await pin(rt, "ETHUSDT", 2950)
    await tick(rt, clock)  # both stops cross: the first close is sent, the run stops before the second
    run = await last_run(rt)
    assert run["status"] == "error" and "injected" in run["details"]
    [first] = await risk_trades(rt)
    assert first["status"] == "Filled" and first["request_id"] == sent[0]
    [pending] = await rows(rt, "SELECT request_id, status FROM risk_actions WHERE status = 'pending'")
    assert pending["request_id"] == sent[1]
    assert (await rows(rt, "SELECT status FROM trade_signals WHERE request_id = ?", sent[1]))[0]["status"] == \
        "Received"
    assert await rows(rt, "SELECT 1 FROM risk_lock") == []  # the lock was given back
    monkeypatch.undo()
    await tick(rt, clock)  # the next run sends the second under the same request id
    trades = await risk_trades(rt)
    assert [t["request_id"] for t in trades] == sent and all(t["status"] == "Filled" for t in trades)
    assert await open_positions(rt) == []
    assert await rows(rt, "SELECT 1 FROM risk_actions WHERE status != 'done'") == []
    await tick(rt, clock)
    assert len(await risk_trades(rt)) == 2


async def test_runs_never_overlap_and_the_cron_waits_for_the_interval(runtime, clock):
    rt = runtime
    env = rt.env(AGENT)
    await rt.run_cron(AGENT)
    assert len(await rows(rt, "SELECT 1 FROM risk_runs")) == 1
    clock.advance(60)
    await rt.run_cron(AGENT)  # a minute later: not due (interval 5 min)
    assert len(await rows(rt, "SELECT 1 FROM risk_runs")) == 1
    await kv(rt, "agent:risk_interval_minutes", 1)
    await rt.run_cron(AGENT)
    assert len(await rows(rt, "SELECT 1 FROM risk_runs")) == 2
    assert await manager._take_lock(env, "someone-else")  # a run in progress elsewhere
    res = await manager.run(env, trigger="manual")
    assert res.status == "skipped" and (await last_run(rt))["status"] == "skipped"
    clock.advance(manager.LOCK_SECONDS + 1)  # a lock whose holder died lapses
    assert (await manager.run(env, trigger="manual")).status == "ok"


async def test_agent_run_is_internal_and_answers_the_run(runtime, clock):
    rt = runtime
    await kv(rt, "trade:trailing_stop_percent", 1)
    await pin(rt, "BTCUSDT", 60000)
    await opened(rt)
    assert (await rt.request(AGENT, "POST", "/agent/run", json={})).status == 401
    key = {"X-Internal-Auth-Key": rt.env(AGENT).INTERNAL_KEY_BINDING}
    r = await rt.request(AGENT, "POST", "/agent/run", json={}, headers=key)
    assert r.status == 200
    res = r.json()["result"]
    assert res["status"] == "ok" and res["positionsSeen"] == 1 and res["actions"] == []
    assert res["drawdowns"][0]["exchange"] == "bybit"
    assert (await rt.request(AGENT, "POST", "/agent/chat", json={}, headers=key)).status == 400  # no message


async def test_status_and_the_workers_list_show_what_agent_worker_serves(runtime, clock):
    rt = runtime
    await rt.run_cron(AGENT)
    health = (await rt.request(AGENT, "GET", "/health")).json()
    assert health["features"]["riskManager"] == "available" and health["lastRun"]["status"] == "ok"
    assert health["intervalMinutes"] == 5
    status = (await v1(rt, "GET", "/status")).json()["result"]
    [agent] = [w for w in status["workers"] if w["name"] == AGENT]
    assert agent["status"] == "online" and agent["features"] == "available"  # risk manager, AI gateway, desk
    detail = (await v1(rt, "GET", "/workers/agent-worker")).json()["result"]
    assert detail["features"] == "available"
