"""Issue 11, item 6: what the operator sees of the risk manager and the settings it changes —
agent-worker's /agent/status, /agent/config and /agent/risk-override, the operator API's /v1/risk,
/v1/risk/runs and /v1/risk/config (one definition: `hoox_edge.risk.surface`), the `risk` event of
the stream, the client and `hoox risk`. Paper book, pinned prices, the fake clock.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3

import cli_support
import pytest
from cli_support import as_json
from hoox_edge import migrations
from hoox_edge.shared import events, settings
from hoox_edge.workers import stream
from httpx_sse import ServerSentEvent

from hoox_cli.core import client as client_mod

GW = "hoox"
AGENT = "agent-worker"


@pytest.fixture(autouse=True)
def _fixed_time(clock):
    return clock


async def kv(rt, key, value) -> None:
    await settings.put(rt.env(GW).CONFIG_KV, key, value)


async def rows(rt, sql, *args) -> list[dict]:
    return (await rt.env(GW).DB.prepare(sql).bind(*args).all())["results"]


async def agent(rt, method: str, path: str, body=None, *, key: bool = True):
    headers = {"X-Internal-Auth-Key": rt.env(AGENT).INTERNAL_KEY_BINDING} if key else {}
    return await rt.request(AGENT, method, path, json=body, headers=headers)


async def v1(rt, method: str, path: str, body=None):
    token = rt.env(GW).OPERATOR_API_KEY
    return await rt.request(GW, method, "/v1" + path, json=body, headers={"Authorization": f"Bearer {token}"})


async def opened(rt, **changes) -> None:
    body = {"apiKey": rt.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT",
            "quantity": 0.01} | changes
    r = await rt.request(GW, "POST", "/webhook", json=body)
    assert r.status == 200, r.json()


async def test_status_shows_each_positions_stop_next_target_distance_and_the_drawdown(runtime, clock):
    rt = runtime
    await kv(rt, "trade:trailing_stop_percent", 2)
    await kv(rt, "trade:trailing_stop_percent:ETHUSDT", 1)
    await kv(rt, "trade:take_profit_targets", [{"profit_percent": 5, "close_fraction": 0.5}])
    await kv(rt, "exchanges:paper:price:BTCUSDT", 60000)
    await kv(rt, "exchanges:paper:price:ETHUSDT", 3000)
    await opened(rt)
    before = (await v1(rt, "GET", "/risk")).json()["result"]
    [p] = before["positions"]
    assert p["seenByRun"] is False and p["stopPrice"] is None and p["distanceToStopPercent"] is None
    assert before["lastRun"] is None and before["stale"] is True

    await agent(rt, "POST", "/agent/run", {})
    await opened(rt, action="SHORT", symbol="ETHUSDT", quantity=0.5)  # not seen by a run yet
    await kv(rt, "exchanges:paper:price:BTCUSDT", 60600)
    clock.advance(90)
    status = (await agent(rt, "GET", "/agent/status")).json()["result"]
    assert status == (await v1(rt, "GET", "/risk")).json()["result"]  # one definition, two doors
    btc, eth = status["positions"]
    entry = btc["entryPrice"]
    assert (btc["watermark"], btc["stopPrice"], btc["stopKind"], btc["trailingPercent"]) == (
        60000, pytest.approx(58800), "trailing", 2)
    assert btc["markPrice"] == 60600
    assert btc["distanceToStopPercent"] == pytest.approx((60600 - 58800) / 60600 * 100)
    assert btc["nextTarget"] == {"number": 1, "profitPercent": 5, "closeFraction": 0.5, "moveStopToBreakEven": False,
                                 "price": pytest.approx(entry * 1.05)}
    assert (eth["side"], eth["seenByRun"], eth["trailingPercent"]) == ("SHORT", False, 1)
    assert eth["nextTarget"]["price"] == pytest.approx(eth["entryPrice"] * 0.95)
    assert status["lastRun"]["ageSeconds"] == pytest.approx(90) and status["stale"] is False
    assert status["intervalMinutes"] == 5 and status["killSwitch"] == {"on": False, "reason": None}
    [dd] = status["drawdowns"]
    assert (dd["mode"], dd["exchange"], dd["limitPercent"]) == ("paper", "bybit", 5)
    assert dd["measuredAt"] == status["lastRun"]["startedAt"] and dd["drawdownPercent"] < 1
    assert status["reconciliation"] == {"openIssues": []}

    clock.advance(11 * 60)  # twice the interval without a run: stale
    assert (await v1(rt, "GET", "/risk")).json()["result"]["stale"] is True
    assert (await agent(rt, "GET", "/agent/status", key=False)).status == 401


async def test_config_is_read_and_written_through_the_manifest_all_or_nothing(runtime):
    rt = runtime
    got = (await agent(rt, "GET", "/agent/config")).json()["result"]
    assert [e["key"] for e in got["items"]] == ["trade:trailing_stop_percent", "trade:take_profit_targets",
                                                "trade:max_daily_drawdown_percent", "agent:risk_interval_minutes"]
    r = await agent(rt, "POST", "/agent/config", {"values": {
        "trade:trailing_stop_percent": 1.5, "trade:trailing_stop_percent:SOLUSDT": "3",
        "trade:take_profit_targets": [{"profit_percent": 2, "close_fraction": 0.5, "move_stop_to_break_even": True}],
        "agent:risk_interval_minutes": 1}})
    assert r.status == 200, r.json()
    res = r.json()["result"]
    assert {c["key"]: c["stored"] for c in res["changed"]}["trade:trailing_stop_percent:SOLUSDT"] == "3.0"
    values = {e["key"]: e["value"] for e in res["items"]}
    assert values["trade:trailing_stop_percent:SOLUSDT"] == 3 and values["agent:risk_interval_minutes"] == 1

    kv_ = rt.env(GW).CONFIG_KV
    for bad, field in [
        ({"trade:trailing_stop_percent": 2, "agent:risk_interval_minutes": 61}, "agent:risk_interval_minutes"),
        ({"trade:trailing_stop_percent": 2, "trade:take_profit_targets": [
            {"profit_percent": 4, "close_fraction": 0.6}, {"profit_percent": 2, "close_fraction": 0.6}]},
         "trade:take_profit_targets"),
        ({"trade:trailing_stop_percent": 2, "trade:mode": "live"}, "trade:mode"),  # not a risk setting
        ({"trade:trailing_stop_percent:btc/usdt": 2}, "trade:trailing_stop_percent:btc/usdt"),
    ]:
        r = await v1(rt, "POST", "/risk/config", {"values": bad})
        assert r.status == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR", r.json()
        assert field in {d["field"] for d in r.json()["error"]["details"]}
        assert await kv_.get("trade:trailing_stop_percent") == "1.5"  # nothing was written
    assert await kv_.get("trade:mode") != "live"
    assert (await v1(rt, "POST", "/risk/config", {"values": {}})).status == 400
    assert (await v1(rt, "POST", "/risk/config", {"values": {"x": 1}, "extra": 1})).status == 400

    r = await v1(rt, "POST", "/risk/config", {"values": {"trade:trailing_stop_percent:SOLUSDT": None}})
    assert r.status == 200 and await kv_.get("trade:trailing_stop_percent:SOLUSDT") is None
    assert "trade:trailing_stop_percent:SOLUSDT" not in [e["key"] for e in r.json()["result"]["items"]]
    [logrow] = await rows(rt, "SELECT message FROM system_logs WHERE message LIKE 'operator changed the risk%' "
                              "ORDER BY id DESC LIMIT 1")
    assert "SOLUSDT" in logrow["message"]


async def test_the_risk_override_engages_and_releases_the_switch_with_a_recorded_reason(runtime):
    rt = runtime
    r = await agent(rt, "POST", "/agent/risk-override", {"action": "engage"})
    assert r.status == 400 and r.json()["error"]["details"][0]["field"] == "reason"
    r = await agent(rt, "POST", "/agent/risk-override", {"action": "engage", "reason": "  "})
    assert r.status == 400 and "required" in r.json()["error"]["message"]
    assert (await agent(rt, "POST", "/agent/risk-override", {"action": "pause", "reason": "x"})).status == 400
    assert (await v1(rt, "GET", "/kill-switch")).json()["result"]["on"] is False  # refused: nothing changed

    r = await agent(rt, "POST", "/agent/risk-override", {"action": "engage", "reason": "exchange incident"})
    assert r.status == 200 and r.json()["result"]["on"] is True and r.json()["result"]["action"] == "engage"
    assert (await v1(rt, "GET", "/kill-switch")).json()["result"] == {"on": True, "reason": "exchange incident"}
    body = {"apiKey": rt.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT",
            "quantity": 0.01}
    assert (await rt.request(GW, "POST", "/webhook", json=body)).status == 503
    r = await agent(rt, "POST", "/agent/risk-override", {"action": "release", "reason": "reviewed the books"})
    assert r.status == 200 and r.json()["result"]["on"] is False
    status = [json.loads(e["data"]) for e in await rows(rt, "SELECT data FROM events WHERE type = 'status'")]
    by = "operator (risk override)"
    assert [(s["killSwitch"], s["reason"], s["by"]) for s in status] == [
        (True, "exchange incident", by), (False, "reviewed the books", by)]
    logs = await rows(rt, "SELECT level, message FROM system_logs WHERE message LIKE '%turned the kill switch%'")
    assert [lg["level"] for lg in logs] == ["critical", "warning"]
    assert (await rt.request(GW, "POST", "/webhook", json=body)).status == 200


async def test_runs_are_paged_and_each_finished_run_is_a_risk_event(runtime, clock):
    rt = runtime
    for _ in range(3):
        assert (await agent(rt, "POST", "/agent/run", {})).status == 200
        clock.advance(60)
    page = (await v1(rt, "GET", "/risk/runs?limit=2")).json()["result"]
    assert [r["id"] for r in page["items"]] == [3, 2] and page["nextCursor"] == "2"
    assert page["items"][0]["details"]["reconciliation"]["openIssues"] == 0
    rest = (await v1(rt, "GET", f"/risk/runs?limit=2&cursor={page['nextCursor']}")).json()["result"]
    assert [r["id"] for r in rest["items"]] == [1] and rest["nextCursor"] is None
    assert (await v1(rt, "GET", "/risk/runs?status=error")).json()["result"]["items"] == []
    assert (await v1(rt, "GET", "/risk/runs?status=bogus")).status == 400
    assert (await v1(rt, "GET", "/risk/runs?limt=2")).status == 400

    found = await events.read_after(rt.env(GW).DB, 0, ["risk"])
    assert [e.data["runId"] for e in found] == [1, 2, 3]
    first = found[0].message()
    assert first["type"] == "risk" and first["status"] == "ok" and first["trigger"] == "manual"
    assert first["reconciliation"] == {"openIssues": 0, "opened": 0, "cleared": 0}
    assert {"startedAt", "finishedAt", "durationMs", "positionsSeen", "actions", "errors"} <= set(first)
    assert stream.parse_topics("risk") == ["risk"]
    parsed = client_mod.parse_event(ServerSentEvent(event="risk", data=json.dumps(first), id=str(found[0].id)))
    assert isinstance(parsed, client_mod.RiskEvent) and parsed.run_id == 1 and parsed.status == "ok"


def test_migration_0007_keeps_every_event_and_its_id_and_allows_risk():
    conn = sqlite3.connect(":memory:")
    todo = migrations.available()
    upto = next(i for i, m in enumerate(todo) if m.name.startswith("0007"))
    for m in todo[:upto]:
        conn.executescript(m.sql)
    for n in range(3):
        conn.execute("INSERT INTO alerts (created_at, level, source, message, delivery) VALUES (?, 'info', 'x', ?, "
                     "'outbox')", (f"2026-01-05T12:00:0{n}.000Z", f"m{n}"))
    conn.execute("DELETE FROM events WHERE id = 3")  # the newest gone: ids still never go back
    before = conn.execute("SELECT id, type, data FROM events ORDER BY id").fetchall()
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO events (created_at, type, data) VALUES ('2026-01-05T12:00:05.000Z', 'risk', '{}')")
    for m in todo[upto:]:
        conn.executescript(m.sql)
    assert conn.execute("SELECT id, type, data FROM events ORDER BY id").fetchall() == before
    conn.execute("INSERT INTO alerts (created_at, level, source, message, delivery) VALUES "
                 "('2026-01-05T12:00:06.000Z', 'info', 'x', 'after', 'outbox')")  # its trigger still writes
    conn.execute("INSERT INTO events (created_at, type, data) VALUES ('2026-01-05T12:00:07.000Z', 'risk', '{}')")
    assert [r[0] for r in conn.execute("SELECT type FROM events WHERE id > 2 ORDER BY id")] == ["alert", "risk"]
    assert conn.execute("SELECT MIN(id) FROM events WHERE id > 2").fetchone()[0] >= 3
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO events (created_at, type, data) VALUES ('2026-01-05T12:00:08.000Z', 'x', '{}')")


# =========================================================================== the CLI
async def hoox(*args: str):
    return await asyncio.to_thread(cli_support.hoox, *args)


async def test_hoox_risk_runs_and_config_through_the_local_edge(edge, clock):
    rt = edge
    assert (await agent(rt, "POST", "/agent/run", {})).status == 200
    runs = as_json(await hoox("risk", "runs", "--json"))
    assert [r["id"] for r in runs["items"]] == [1] and runs["items"][0]["status"] == "ok"
    human = await hoox("risk", "runs")
    assert human.exit_code == 0 and "1 risk run(s)" in human.stdout
    assert (await hoox("risk", "runs", "--status", "bogus", "--json")).exit_code == 2

    r = await hoox("risk", "config", "set", "trade:trailing_stop_percent", "2.5", "--json")
    assert r.exit_code == 0, r.output
    assert as_json(r)["changed"] == [{"key": "trade:trailing_stop_percent", "previous": "0.0", "stored": "2.5"}]
    r = await hoox("risk", "config", "set", "agent:risk_interval_minutes", "0", "--json")
    assert r.exit_code == 1 and as_json(r)["error"]["code"] == "VALIDATION_ERROR"
    assert "at least 1" in as_json(r)["error"]["message"]
    got = as_json(await hoox("risk", "config", "get", "--json"))
    assert {e["key"]: e["value"] for e in got["items"]}["trade:trailing_stop_percent"] == 2.5
    assert (await hoox("risk", "config", "set", "trade:trailing_stop_percent", "--json")).exit_code == 2
    human = await hoox("risk", "status")
    assert human.exit_code == 0 and "Last run #1" in human.stdout and "no open issue" in human.stdout
