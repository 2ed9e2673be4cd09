"""Issue 11 item 7, the signal watchdog: a source that goes quiet past its expectation raises one
alert (a check run again does not repeat it) and one "back" alert on its next signal; nothing outside
trading hours; a heartbeat counts and is never executed; bad expectations are refused; an alert that
could not be delivered is delivered once by a later check. One local runtime, the gateway's cron fired
by the test, time moved only by the fake clock (2026-01-05 12:00 UTC, a Monday)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hoox_edge.shared import settings
from hoox_edge.watchdog import rules
from hoox_edge.watchdog.rules import Expectation, ExpectationError, parse_expectation

GW = "hoox"
MIN = 60


@pytest.fixture(autouse=True)
def _fixed_time(clock):
    return clock


async def expect(rt, source: str, value) -> None:
    await settings.put(rt.env(GW).CONFIG_KV, f"watchdog:expect:{source}", value)


async def post(rt, **body):
    return await rt.request(GW, "POST", "/webhook", json={"apiKey": rt.env(GW).WEBHOOK_API_KEY, **body})


async def heartbeat(rt, **extra):
    return await post(rt, action="HEARTBEAT", **extra)


async def signal(rt, **changes):
    return await post(rt, **({"exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT", "quantity": 0.01}
                            | changes))


async def rows(rt, query: str, *args) -> list[dict]:
    return (await rt.env(GW).DB.prepare(query).bind(*args).all())["results"]


async def watchdog_alerts(rt) -> list[dict]:
    return await rows(rt, "SELECT level, source, request_id, message FROM alerts WHERE message LIKE 'Signal source%' "
                          "ORDER BY id")


async def check(rt, clock, minutes: float = 0) -> None:
    clock.advance(minutes * MIN)
    await rt.run_cron(GW)


async def state_of(rt, source: str) -> dict:
    res = await rt.request(GW, "GET", "/v1/watchdog",
                           headers={"Authorization": f"Bearer {rt.env(GW).OPERATOR_API_KEY}"})
    assert res.status == 200, res.json()
    return {s["source"]: s for s in res.json()["result"]["sources"]}[source]


# =========================================================================== quiet, then back
async def test_a_quiet_source_raises_one_alert_and_one_back_alert_on_its_next_signal(runtime, clock):
    rt = runtime
    await expect(rt, "btc-trend", {"maxGapMinutes": 30})
    assert (await heartbeat(rt, strategy="BTC-Trend")).status == 200  # names are lowercased
    await check(rt, clock, 30)  # exactly 30 min: at most 30 is still fine
    assert await watchdog_alerts(rt) == []
    assert (await state_of(rt, "btc-trend"))["state"] == "ok"

    await check(rt, clock, 1)
    [quiet] = await watchdog_alerts(rt)
    assert quiet["level"] == "warning" and "btc-trend is quiet: 31 min without a signal" in quiet["message"]
    for _ in range(3):  # the check again, later: no second alert
        await check(rt, clock, 10)
    assert len(await watchdog_alerts(rt)) == 1
    s = await state_of(rt, "btc-trend")
    assert s["state"] == "quiet" and s["alerted"] is True and s["pendingAlerts"] == []

    r = await signal(rt, strategy="btc-trend")
    assert r.status == 200, r.json()
    assert len(await watchdog_alerts(rt)) == 1  # "back" comes from the next check, not the webhook
    await check(rt, clock, 1)
    await check(rt, clock, 1)
    quiet_again, back = await watchdog_alerts(rt)
    assert quiet_again == quiet
    assert back["level"] == "info" and "btc-trend is back: a signal at" in back["message"]
    assert "at 2026-01-05T13:01:00.000Z after 1 h 01 min without one" in back["message"]  # heartbeat at 12:00
    assert (await state_of(rt, "btc-trend"))["state"] == "ok"
    # and a second silence is a new episode: one more alert
    await check(rt, clock, 31)
    assert [a["message"].split(":")[0] for a in await watchdog_alerts(rt)] == [
        "Signal source btc-trend is quiet", "Signal source btc-trend is back", "Signal source btc-trend is quiet"]


async def test_a_source_that_never_signalled_is_quiet_counted_from_when_watching_began(runtime, clock):
    rt = runtime
    await expect(rt, "webhook", {"maxGapMinutes": 5})
    await check(rt, clock)  # first sight: watched from now
    await check(rt, clock, 5)
    assert await watchdog_alerts(rt) == []
    await check(rt, clock, 1)
    [a] = await watchdog_alerts(rt)
    assert "no signal since the watchdog began watching it at 2026-01-05T12:00:00.000Z" in a["message"]


async def test_every_authenticated_signal_counts_for_webhook_even_a_refused_one(runtime, clock):
    rt = runtime
    await expect(rt, "webhook", {"maxGapMinutes": 5})
    r = await signal(rt, quantity=-1, strategy="eth-mean")  # refused by validation (400), but it arrived
    assert r.status == 400
    s = await state_of(rt, "webhook")
    assert s["lastSignalAt"] == "2026-01-05T12:00:00.000Z" and s["signals"] == 1 and s["lastKind"] == "signal"
    assert (await state_of(rt, "eth-mean"))["state"] == "no_expectation"
    bad = await post(rt, apiKey="wrong", action="HEARTBEAT")  # not authenticated: counts for nothing
    assert bad.status == 401
    assert (await state_of(rt, "webhook"))["heartbeats"] == 0


# =========================================================================== trading hours
async def test_outside_trading_hours_no_alert_and_the_gap_counts_only_trading_time(runtime, clock):
    rt = runtime
    # Monday 12:00 UTC now; trading hours 08:00-13:00 UTC on weekdays.
    await expect(rt, "webhook", {"maxGapMinutes": 90,
                                 "hours": {"days": "mon-fri", "from": "08:00", "to": "13:00", "tz": "UTC"}})
    assert (await heartbeat(rt)).status == 200  # Monday 12:00: 60 min left of today's hours
    await check(rt, clock, 60)  # 13:00: closed, 60 trading minutes used
    assert (await state_of(rt, "webhook"))["state"] == "outside_hours"
    await check(rt, clock, 19 * 60)  # Tuesday 08:00
    await check(rt, clock, 30)  # 08:30: 90 trading minutes, not more
    assert await watchdog_alerts(rt) == []
    s = await state_of(rt, "webhook")
    assert s["state"] == "ok" and s["gapMinutes"] == 90 and s["ageSeconds"] == 20.5 * 3600
    await check(rt, clock, 1)
    [a] = await watchdog_alerts(rt)
    assert "1 h 31 min without a signal" in a["message"] and "within mon-fri 08:00-13:00 UTC" in a["message"]


async def test_a_weekend_passes_without_an_alert(runtime, clock):
    rt = runtime
    await expect(rt, "webhook", {"maxGapMinutes": 10, "hours": {"days": "mon-fri", "from": "00:00", "to": "24:00"}})
    clock.set(datetime(2026, 1, 9, 23, 55, tzinfo=UTC).timestamp())  # Friday 23:55
    assert (await heartbeat(rt)).status == 200
    await check(rt, clock, 5)  # Saturday 00:00: 5 trading minutes used
    for _ in range(47):  # every hour of Saturday and Sunday, to Sunday 23:00
        await check(rt, clock, 60)
    await check(rt, clock, 59)  # Sunday 23:59
    assert await watchdog_alerts(rt) == []
    assert (await state_of(rt, "webhook"))["state"] == "outside_hours"
    await check(rt, clock, 7)  # Monday 00:06: 5 + 6 = 11 trading minutes since the heartbeat
    [a] = await watchdog_alerts(rt)
    assert "11 min without a signal" in a["message"]


def test_trading_time_arithmetic_with_an_offset_and_a_window_past_midnight():
    exp = parse_expectation({"maxGapMinutes": 60, "hours": {"days": "sun", "from": "22:00", "to": "02:00",
                                                           "tz": "UTC+02:00"}})
    # Sunday 22:00 local (UTC+2) is Sunday 20:00 UTC; the window ends Monday 02:00 local = Monday 00:00 UTC.
    sun_2000 = datetime(2026, 1, 4, 20, 0, tzinfo=UTC).timestamp()
    assert not rules.in_hours(exp.hours, sun_2000 - 1) and rules.in_hours(exp.hours, sun_2000)
    assert rules.in_hours(exp.hours, sun_2000 + 4 * 3600 - 1) and not rules.in_hours(exp.hours, sun_2000 + 4 * 3600)
    assert rules.counted_minutes(exp, sun_2000 - 3600, sun_2000 + 5 * 3600) == 240
    # a week later the same: 240 minutes per week, counted across the weeks between
    assert rules.counted_minutes(exp, sun_2000, sun_2000 + 3 * 7 * 86400) == 3 * 240
    assert rules.counted_minutes(Expectation(5), 100.0, 100.0 + 90) == 1.5


# =========================================================================== the heartbeat
async def test_a_heartbeat_is_recorded_and_never_executed_even_with_the_kill_switch_on(runtime, clock):
    rt = runtime
    await settings.put(rt.env(GW).CONFIG_KV, "trade:kill_switch", True)
    r = await heartbeat(rt, strategy="btc-trend")
    body = r.json()
    assert r.status == 200 and body["status"] == "Heartbeat" and body["sources"] == ["webhook", "btc-trend"]
    assert await rows(rt, "SELECT * FROM trade_signals") == []
    assert await rows(rt, "SELECT * FROM trades") == []
    assert (await state_of(rt, "btc-trend"))["lastKind"] == "heartbeat"
    [logged] = await rows(rt, "SELECT level, details FROM system_logs WHERE message = 'heartbeat'")
    assert logged["level"] == "debug" and body["requestId"]


@pytest.mark.parametrize(("extra", "field"), [
    ({"symbol": "BTCUSDT", "quantity": 1}, "symbol"),
    ({"strategy": "has spaces"}, "strategy"),
    ({"strategy": "risk"}, "strategy"),
])
async def test_a_heartbeat_with_trade_fields_or_a_bad_strategy_is_refused_and_trades_nothing(runtime, extra, field):
    rt = runtime
    r = await heartbeat(rt, **extra)
    assert r.status == 400
    assert field in {d["field"] for d in r.json()["error"]["details"]}
    assert await rows(rt, "SELECT * FROM trades") == []


async def test_heartbeats_have_their_own_rate_limit_and_never_take_a_signals_place(runtime, clock):
    rt = runtime
    await settings.put(rt.env(GW).CONFIG_KV, "webhooks:rate_limit_per_minute", 2)
    assert [(await heartbeat(rt)).status for _ in range(3)] == [200, 200, 429]
    assert (await signal(rt)).status == 200


async def test_a_secret_or_a_credential_sent_as_a_strategy_never_becomes_a_source(runtime):
    rt = runtime
    key = rt.env(GW).WEBHOOK_API_KEY
    for strategy in (key, "sk_live_4eC39HqLyjWDarjtT1zdp7dcQ"):
        for r in (await signal(rt, strategy=strategy), await heartbeat(rt, strategy=strategy)):
            assert r.status == 400
    assert [r["source"] for r in await rows(rt, "SELECT source FROM watchdog_sources")] == ["webhook"]
    stored = str(await rows(rt, "SELECT * FROM watchdog_sources")) + str(await rows(rt, "SELECT * FROM system_logs"))
    assert key not in stored and "4ec39hq" not in stored.lower()


async def test_a_heartbeat_needs_the_passkey(runtime):
    r = await post(runtime, apiKey="nope", action="heartbeat")
    assert r.status == 401
    assert await rows(runtime, "SELECT * FROM watchdog_sources") == []


# =========================================================================== delivery
async def test_an_alert_telegram_worker_could_not_take_is_delivered_once_by_a_later_check(runtime, clock, monkeypatch):
    from hoox_edge.shared import calls

    rt = runtime
    await expect(rt, "webhook", {"maxGapMinutes": 5})
    await heartbeat(rt)
    real = calls.alert
    down = True

    async def flaky(env, message, **kw):
        return False if down else await real(env, message, **kw)

    monkeypatch.setattr(calls, "alert", flaky)
    await check(rt, clock, 6)
    assert await watchdog_alerts(rt) == []
    s = await state_of(rt, "webhook")
    assert s["state"] == "quiet" and s["pendingAlerts"][0]["kind"] == "quiet"
    status = await rt.request(GW, "GET", "/v1/watchdog",
                              headers={"Authorization": f"Bearer {rt.env(GW).OPERATOR_API_KEY}"})
    assert "telegram-worker did not take the alert" in status.json()["result"]["lastCheck"]["errors"][0]
    down = False
    await check(rt, clock, 1)
    await check(rt, clock, 1)
    [a] = await watchdog_alerts(rt)
    assert a["request_id"] and (await state_of(rt, "webhook"))["pendingAlerts"] == []


async def test_an_alert_already_stored_by_telegram_worker_is_not_sent_again(runtime, clock):
    """A check that stopped after telegram-worker stored the alert but before marking it delivered."""
    rt = runtime
    await expect(rt, "webhook", {"maxGapMinutes": 5})
    await heartbeat(rt)
    await check(rt, clock, 6)
    [a] = await watchdog_alerts(rt)
    db = rt.env(GW).DB
    await db.prepare("UPDATE watchdog_alerts SET delivered_at = NULL").run()  # as if the mark was lost
    await check(rt, clock, 1)
    assert await watchdog_alerts(rt) == [a]
    [row] = await rows(rt, "SELECT delivered_at FROM watchdog_alerts")
    assert row["delivered_at"] is not None


async def test_removing_the_expectation_of_a_quiet_source_ends_it_without_an_alert(runtime, clock):
    rt = runtime
    await expect(rt, "webhook", {"maxGapMinutes": 5})
    await heartbeat(rt)
    await check(rt, clock, 6)
    await rt.env(GW).CONFIG_KV.delete("watchdog:expect:webhook")
    await check(rt, clock, 1)
    s = await state_of(rt, "webhook")
    assert s["state"] == "no_expectation" and s["quietSince"] is None
    assert len(await watchdog_alerts(rt)) == 1


# =========================================================================== bad expectations
@pytest.mark.parametrize(("key", "value", "rule"), [
    ("watchdog:expect:webhook", {"maxGapMinutes": 1}, "from 2 to 10080"),
    ("watchdog:expect:webhook", {"maxGapMinutes": 30.5}, "whole number of minutes"),
    ("watchdog:expect:webhook", {"maxGapMinutes": True}, "whole number of minutes"),
    ("watchdog:expect:webhook", {}, "maxGapMinutes is required"),
    ("watchdog:expect:webhook", "60", "must be a JSON object"),
    ("watchdog:expect:webhook", {"maxGapMinutes": 5, "every": 3}, "unknown field(s) every"),
    ("watchdog:expect:webhook", {"maxGapMinutes": 5, "hours": {"days": "mon-fry", "from": "08:00", "to": "09:00"}},
     "'mon-fry' is not a day"),
    ("watchdog:expect:webhook", {"maxGapMinutes": 5, "hours": {"days": "mon", "from": "8am", "to": "09:00"}},
     "hours.from must be a time HH:MM"),
    ("watchdog:expect:webhook", {"maxGapMinutes": 5, "hours": {"days": "mon", "from": "08:00", "to": "08:00"}},
     "the same time"),
    ("watchdog:expect:webhook", {"maxGapMinutes": 5, "hours": {"days": "mon", "from": "08:00", "to": "09:00",
                                                               "tz": "Europe/Berlin"}}, "fixed offset"),
    ("watchdog:expect:webhook", {"maxGapMinutes": 5, "hours": {"days": "mon"}}, "hours.from is required"),
    ("watchdog:expect:BTC-Trend", {"maxGapMinutes": 5}, "lowercase"),
    ("watchdog:expect:risk", {"maxGapMinutes": 5}, "reserved"),
    ("watchdog:expect:has space", {"maxGapMinutes": 5}, "{SOURCE}"),
    ("watchdog:expect:sk_live_4ec39hqlyjwdarjtt1zdp7dcq", {"maxGapMinutes": 5}, "look like a credential"),
])  # fmt: skip
def test_bad_expectations_are_refused_with_the_key_and_the_rule(key, value, rule):
    with pytest.raises(settings.SettingError) as e:
        settings.encode(key, value)
    assert str(e.value).startswith(key) and rule in str(e.value)


def test_a_secret_pasted_as_a_value_is_not_echoed():
    pasted = "sk_live_4eC39HqLyjWDarjtT1zdp7dcQ"
    with pytest.raises(ExpectationError) as e:
        parse_expectation({"maxGapMinutes": 5, "hours": {"days": "mon", "from": pasted, "to": "09:00"}})
    assert pasted[:8] not in str(e.value)


async def test_the_operator_api_refuses_a_bad_expectation_and_keeps_the_old_one(runtime):
    rt = runtime
    await expect(rt, "webhook", {"maxGapMinutes": 30})
    auth = {"Authorization": f"Bearer {rt.env(GW).OPERATOR_API_KEY}"}
    r = await rt.request(GW, "PUT", "/v1/config/kv/watchdog:expect:webhook", json={"value": {"maxGapMinutes": 0}},
                         headers=auth)
    assert r.status == 400 and "maxGapMinutes must be a whole number" in r.json()["error"]["message"]
    assert (await state_of(rt, "webhook"))["expectation"] == {"maxGapMinutes": 30}


async def test_a_corrupt_stored_expectation_is_reported_not_guessed(runtime, clock):
    rt = runtime
    await rt.env(GW).CONFIG_KV.put("watchdog:expect:webhook", '{"maxGapMinutes": "soon"}')
    await check(rt, clock)
    s = await state_of(rt, "webhook")
    assert s["state"] == "no_expectation" and "maxGapMinutes must be a whole number" in s["expectationError"]
