"""`hoox watchdog status|expect` and `hoox config kv set watchdog:expect:*` against a real local edge
(the `edge` fixture, HTTP on loopback); the gateway's cron is fired by the test, time moved by the fake
clock. CLI commands run in a worker thread: the runtime's event loop must keep serving."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import cli_support
import httpx
from cli_support import as_json, kv_raw
from hoox_edge.local.runtime import LocalRuntime
from order_support import GW, gateway_url

KEY = "watchdog:expect:btc-trend"


async def hoox(*args: str) -> Any:
    return await asyncio.to_thread(cli_support.hoox, *args)


async def stored(ws: Any) -> str | None:
    return await asyncio.to_thread(kv_raw, ws, KEY)


async def heartbeat(rt: LocalRuntime, **extra: Any) -> httpx.Response:
    async with httpx.AsyncClient() as c:
        return await c.post(gateway_url(rt) + "/webhook",
                            json={"apiKey": rt.env(GW).WEBHOOK_API_KEY, "action": "HEARTBEAT", **extra})


async def test_expect_status_and_clear_through_the_operator_api(edge: LocalRuntime, ws, clock) -> None:
    r = await hoox("watchdog", "expect", "btc-trend", "--max-gap-minutes", "30", "--hours",
                   "mon-fri 08:00-22:00 UTC+01:00", "--json")
    assert r.exit_code == 0, r.output
    expectation = {"maxGapMinutes": 30, "hours": {"days": "mon-fri", "from": "08:00", "to": "22:00",
                                                  "tz": "UTC+01:00"}}
    assert as_json(r) == {"key": KEY, "source": "btc-trend", "expectation": expectation, "previous": None}
    assert json.loads(await stored(ws)) == expectation

    assert (await heartbeat(edge, strategy="btc-trend")).status_code == 200  # Monday 12:00 UTC (13:00 at +1)
    await edge.run_cron(GW)
    status = as_json(await hoox("watchdog", "status", "--json"))
    [s] = [x for x in status["sources"] if x["source"] == "btc-trend"]
    assert (s["state"], s["lastKind"], s["ageSeconds"], s["expectation"], s["alerted"]) == (
        "ok", "heartbeat", 0, expectation, False)
    assert status["lastCheck"]["checkedAt"] == "2026-01-05T12:00:00.000Z"

    clock.advance(31 * 60)
    await edge.run_cron(GW)
    status = as_json(await hoox("watchdog", "status", "--json"))
    [s] = [x for x in status["sources"] if x["source"] == "btc-trend"]
    assert (s["state"], s["ageSeconds"], s["gapMinutes"], s["alerted"]) == ("quiet", 31 * 60, 31, True)
    [webhook] = [x for x in status["sources"] if x["source"] == "webhook"]
    assert webhook["state"] == "no_expectation" and webhook["heartbeats"] == 1
    text = json.dumps(status)
    assert edge.env(GW).WEBHOOK_API_KEY not in text and edge.env(GW).OPERATOR_API_KEY not in text

    human = await hoox("watchdog", "status")
    assert human.exit_code == 0, human.output
    assert "btc-trend" in human.stdout and "quiet" in human.stdout and "last heartbeat 31 min ago" in human.stdout
    assert "expects ≤ 30 min, mon-fri 08:00-22:00 UTC+01:00, 31 min of it used" in " ".join(human.stdout.split())

    r = await hoox("watchdog", "expect", "btc-trend", "--clear", "--json")
    assert r.exit_code == 0 and as_json(r)["expectation"] is None and as_json(r)["previous"]
    assert await stored(ws) is None


async def test_bad_expectations_are_refused_before_anything_is_written(edge: LocalRuntime, ws) -> None:
    for args, rule in [
        (["--max-gap-minutes", "1"], "from 2 to 10080"),
        (["--max-gap-minutes", "30", "--hours", "mon-fry 08:00-09:00"], "'mon-fry' is not a day"),
        (["--max-gap-minutes", "30", "--hours", "mon 08:00-08:00"], "the same time"),
        (["--max-gap-minutes", "30", "--hours", "mon 08:00-09:00 Europe/Berlin"], "fixed offset"),
    ]:
        r = await hoox("watchdog", "expect", "btc-trend", *args, "--json")
        err = as_json(r)["error"]
        assert r.exit_code == 1 and err["code"] == "INVALID_VALUE" and rule in err["message"], err
    r = await hoox("watchdog", "expect", "BTC-Trend", "--max-gap-minutes", "30", "--json")
    assert as_json(r)["error"]["code"] == "INVALID_VALUE" and "lowercase" in as_json(r)["error"]["message"]
    r = await hoox("watchdog", "expect", "btc-trend", "--max-gap-minutes", "30", "--hours", "weekdays", "--json")
    assert r.exit_code == 2 and as_json(r)["error"]["code"] == "USAGE_ERROR"
    r = await hoox("watchdog", "expect", "btc-trend", "--json")
    assert r.exit_code == 2 and as_json(r)["error"]["code"] == "USAGE_ERROR"
    # the same manifest behind `hoox config kv set`
    r = await hoox("config", "kv", "set", KEY, '{"maxGapMinutes": 0}', "--json")
    assert r.exit_code == 1 and "maxGapMinutes must be a whole number" in as_json(r)["error"]["message"]
    assert await stored(ws) is None
    r = await hoox("config", "kv", "set", KEY, '{"maxGapMinutes": 45}', "--json")
    assert r.exit_code == 0 and as_json(r)["value"] == {"maxGapMinutes": 45}
