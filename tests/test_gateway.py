"""The gateway `hoox`: every stage of POST /webhook, the Durable Objects behind it, and GET /health.

Most tests run with `webhooks:queue_mode = queue_everywhere`, so an accepted signal is queued (202)
and nothing here depends on the trade-worker; test_pipeline.py drives the whole way to a fill.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3

import pytest
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.shared import settings
from hoox_edge.workers.gateway import ip_allowed

GW = "hoox"


def passkey(runtime) -> str:
    return runtime.env(GW).WEBHOOK_API_KEY


def signal(runtime, **changes) -> dict:
    body = {"apiKey": passkey(runtime), "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT",
            "quantity": 0.01}
    body.update(changes)
    return body


async def kv_set(runtime, key, value) -> None:
    await settings.put(runtime.env(GW).CONFIG_KV, key, value)


async def rows(runtime, sql, *args) -> list[dict]:
    return (await runtime.env(GW).DB.prepare(sql).bind(*args).all())["results"]


async def send(runtime, payload=None, **kw):
    return await runtime.request(GW, "POST", "/webhook", json=payload, **kw)


@pytest.fixture
async def queued(runtime):
    """Accepted signals go to the queue: the gateway's own stages, without executing anything."""
    await kv_set(runtime, "webhooks:queue_mode", "queue_everywhere")
    return runtime


# --------------------------------------------------------------------------- 1. parse
async def test_a_text_plain_body_gets_400_saying_the_message_must_be_json(runtime):
    key = passkey(runtime)
    text = f"BTCUSDT crossing up, apiKey={key} buy 0.01"
    r = await send(runtime, body=text.encode(), headers={"Content-Type": "text/plain"})
    assert r.status == 400
    err = r.json()["error"]
    assert err["code"] == "VALIDATION_ERROR"
    assert "must be valid JSON" in err["message"]
    assert "BTCUSDT crossing up" in err["message"]  # shows how the body starts
    assert key not in r.text()
    logs = await rows(runtime, "SELECT message, details FROM system_logs WHERE request_id = ?",
                      r.json()["requestId"])
    assert logs and all(key not in json.dumps(row) for row in logs)
    assert await rows(runtime, "SELECT * FROM trade_signals") == []


async def test_a_broken_json_body_never_echoes_the_passkey(runtime):
    key = passkey(runtime)
    r = await send(runtime, body=f'{{"apiKey": "{key}", "action": "LONG",'.encode(),
                   headers={"Content-Type": "application/json"})
    assert r.status == 400 and "must be valid JSON" in r.json()["error"]["message"]
    assert key not in r.text()


async def test_an_empty_body_a_json_array_and_binary_garbage_are_refused(runtime):
    garbage = await send(runtime, body=b"\xff\xfe\x00 not text")
    assert garbage.status == 400 and "must be valid JSON" in garbage.json()["error"]["message"]
    empty = await send(runtime, body=b"")
    assert empty.status == 400 and "empty" in empty.json()["error"]["message"]
    array = await send(runtime, [1, 2])
    assert array.status == 400 and "JSON object" in array.json()["error"]["message"]


# --------------------------------------------------------------------------- 2. IP allowlist
def test_ip_allowlist_matching():
    assert ip_allowed("52.89.214.238", settings.TRADINGVIEW_IPS)
    assert not ip_allowed("127.0.0.1", settings.TRADINGVIEW_IPS)
    assert ip_allowed("10.1.2.3", ["10.0.0.0/8"])
    assert ip_allowed("::ffff:52.32.178.7", settings.TRADINGVIEW_IPS)
    assert not ip_allowed(None, ["0.0.0.0/0"])
    assert not ip_allowed("not-an-ip", ["0.0.0.0/0"])
    assert not ip_allowed("1.2.3.4", ["garbage"])


async def test_ip_allowlist_off_by_default_then_on(queued):
    runtime = queued
    assert (await send(runtime, signal(runtime, idempotencyKey="ip-1"))).status == 202

    await kv_set(runtime, "webhook:tradingview:ip_check", True)
    # A local client cannot claim to be TradingView through Cloudflare's header.
    r = await send(runtime, signal(runtime, idempotencyKey="ip-2"),
                   headers={"CF-Connecting-IP": "52.89.214.238"})
    assert r.status == 403 and r.json()["error"]["code"] == "FORBIDDEN_IP"
    assert "127.0.0.1" in r.json()["error"]["message"]
    forbidden = await rows(runtime, "SELECT * FROM trade_signals WHERE request_id = ?", r.json()["requestId"])
    assert forbidden == []

    await kv_set(runtime, "webhook:tradingview:allowed_ips", [*settings.TRADINGVIEW_IPS, "127.0.0.1"])
    assert (await send(runtime, signal(runtime, idempotencyKey="ip-3"))).status == 202


# --------------------------------------------------------------------------- 3. passkey
@pytest.mark.parametrize("given", ["wrong-passkey-1234", None, 12345])
async def test_a_wrong_or_missing_passkey_is_401_and_leaves_no_trace_of_the_key(queued, given):
    runtime = queued
    body = signal(runtime)
    if given is None:
        body.pop("apiKey")
    else:
        body["apiKey"] = given
    r = await send(runtime, body)
    assert r.status == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    assert await rows(runtime, "SELECT * FROM trade_signals") == []
    logs = await rows(runtime, "SELECT * FROM system_logs WHERE request_id = ?", r.json()["requestId"])
    assert [row["level"] for row in logs] == ["warning"]
    everything = json.dumps(await rows(runtime, "SELECT * FROM system_logs"))
    assert passkey(runtime) not in everything
    if isinstance(given, str):
        assert given not in everything and given not in r.text()


async def test_the_payload_is_stored_without_the_passkey(queued):
    runtime = queued
    r = await send(runtime, signal(runtime, symbol="btc/usdt", idempotencyKey="store-1"))
    assert r.status == 202
    [row] = await rows(runtime, "SELECT * FROM trade_signals WHERE request_id = ?", r.json()["requestId"])
    assert passkey(runtime) not in json.dumps(row)
    assert "apiKey" not in json.loads(row["payload"])
    assert (row["symbol"], row["status"], row["idempotency_key"]) == ("BTCUSDT", "Enqueued", "store-1")


async def test_a_client_cannot_choose_the_request_id(queued):
    runtime = queued
    r = await send(runtime, signal(runtime, idempotencyKey="rid-1"), headers={"X-Request-Id": "mine"})
    assert r.status == 202 and r.json()["requestId"] != "mine"


# --------------------------------------------------------------------------- 4. kill switch
async def test_kill_switch_answers_503_with_the_reason_and_queues_nothing(queued):
    runtime = queued
    await kv_set(runtime, "trade:kill_switch", True)
    await kv_set(runtime, "trade:kill_switch_reason", "daily drawdown 5% reached")
    r = await send(runtime, signal(runtime))
    assert r.status == 503
    err = r.json()["error"]
    assert err["code"] == "KILL_SWITCH_ACTIVE" and "daily drawdown 5% reached" in err["message"]
    assert runtime.queue_store.depth("trade-execution") == 0
    [row] = await rows(runtime, "SELECT status, error_code FROM trade_signals")
    assert (row["status"], row["error_code"]) == ("Rejected", "KILL_SWITCH_ACTIVE")
    assert await rows(runtime, "SELECT * FROM trades") == []


async def test_a_corrupt_kill_switch_value_halts_trading_and_says_why(queued):
    runtime = queued
    await runtime.env(GW).CONFIG_KV.put("trade:kill_switch", "maybe")
    r = await send(runtime, signal(runtime))
    assert r.status == 503 and r.json()["error"]["code"] == "KILL_SWITCH_ACTIVE"
    assert "could not be read" in r.json()["error"]["message"]
    errors = await rows(runtime, "SELECT message FROM system_logs WHERE level = 'error'")
    assert any("trade:kill_switch" in e["message"] for e in errors)
    assert runtime.queue_store.depth("trade-execution") == 0


# --------------------------------------------------------------------------- 5. rate limit
async def test_rate_limit_is_a_rolling_minute(queued, clock):
    runtime = queued
    await kv_set(runtime, "webhooks:rate_limit_per_minute", 3)
    for i in range(3):
        r = await send(runtime, signal(runtime, idempotencyKey=f"rl-{i}"))
        assert r.status == 202
        clock.advance(10)
    over = await send(runtime, signal(runtime, idempotencyKey="rl-3"))
    assert over.status == 429 and over.json()["error"]["code"] == "RATE_LIMITED"
    # The first hit (30 s ago) leaves the window in 30 s.
    assert over.headers["retry-after"] == "30"
    [row] = await rows(runtime, "SELECT status, error_code FROM trade_signals WHERE request_id = ?",
                       over.json()["requestId"])
    assert (row["status"], row["error_code"]) == ("Rejected", "RATE_LIMITED")

    clock.advance(30)
    assert (await send(runtime, signal(runtime, idempotencyKey="rl-4"))).status == 202
    assert (await send(runtime, signal(runtime, idempotencyKey="rl-5"))).status == 429


async def test_the_rate_limit_counts_authenticated_signals_refused_later_but_not_its_own_refusals(queued, clock):
    # What the README and the manifest say: a signal refused after the limiter (invalid, duplicate)
    # counts; one answered 429 does not.
    runtime = queued
    await kv_set(runtime, "webhooks:rate_limit_per_minute", 3)
    assert (await send(runtime, signal(runtime, quantity=0, idempotencyKey="bad-1"))).status == 400
    assert (await send(runtime, signal(runtime, idempotencyKey="dup"))).status == 202
    again = await send(runtime, signal(runtime, idempotencyKey="dup"))  # the first one's state, no new order
    assert again.status == 202 and again.json()["resumed"] is True
    assert (await send(runtime, signal(runtime, idempotencyKey="next"))).status == 429
    assert (await send(runtime, signal(runtime, idempotencyKey="next-2"))).status == 429
    clock.advance(61)  # the three counted hits leave the window; the two 429s were never in it
    assert (await send(runtime, signal(runtime, idempotencyKey="next"))).status == 202


async def test_rate_limit_is_exact_under_concurrency(queued):
    runtime = queued
    await kv_set(runtime, "webhooks:rate_limit_per_minute", 5)
    answers = await asyncio.gather(*(send(runtime, signal(runtime, idempotencyKey=f"c-{i}"))
                                     for i in range(12)))
    assert sorted(a.status for a in answers) == [202] * 5 + [429] * 7


# --------------------------------------------------------------------------- 6. validation
async def test_bad_fields_get_400_with_field_details(queued):
    runtime = queued
    await kv_set(runtime, "trade:max_leverage", 20)
    r = await send(runtime, signal(runtime, exchange="kraken", action="HOLD", quantity=0, leverage=50,
                                   orderType="LIMIT", colour="red"))
    assert r.status == 400
    err = r.json()["error"]
    assert err["code"] == "VALIDATION_ERROR"
    by_field = {d["field"]: d["issue"] for d in err["details"]}
    assert set(by_field) == {"exchange", "action", "quantity", "leverage", "price", "colour"}
    assert "between 1 and 20" in by_field["leverage"]
    assert runtime.queue_store.depth("trade-execution") == 0
    [row] = await rows(runtime, "SELECT status, error_code, error FROM trade_signals")
    assert (row["status"], row["error_code"]) == ("Rejected", "VALIDATION_ERROR")


async def test_the_queued_signal_is_the_normalised_one(queued):
    runtime = queued
    r = await send(runtime, signal(runtime, symbol="BINANCE:BTCUSDT.P", action="short", exchange=None,
                                   quantity="0.02"))
    assert r.status == 202
    body = r.json()
    assert body["status"] == "Enqueued" and body["success"] is True and body["message"]
    [msg] = runtime.queue_store.list("trade-execution")
    sent = msg["body"] if isinstance(msg["body"], dict) else json.loads(msg["body"])
    assert sent["requestId"] == body["requestId"] and sent["reason"] == "queue_everywhere"
    assert sent["payload"]["symbol"] == "BTCUSDT" and sent["payload"]["action"] == "SHORT"
    assert sent["payload"]["quantity"] == 0.02 and sent["payload"]["exchange"] is None
    assert "apiKey" not in json.dumps(sent)


# --------------------------------------------------------------------------- 7. idempotency
async def test_the_same_key_resumes_an_unfinished_signal_and_gets_409_with_its_outcome_once_final(queued, clock):
    runtime = queued
    first = await send(runtime, signal(runtime, idempotencyKey="tv-alert-42"))
    assert first.status == 202
    rid = first.json()["requestId"]
    clock.advance(3600)  # an explicit key holds for 24 h, whatever the payload
    # Still queued, so not final: the resend is answered as that signal, in progress — never 409.
    again = await send(runtime, signal(runtime, idempotencyKey="tv-alert-42", quantity=0.5))
    assert again.status == 202, again.json()
    assert again.json()["status"] == "in_progress" and again.json()["requestId"] == rid
    assert runtime.queue_store.depth("trade-execution") == 1  # nothing queued twice

    await runtime.drain_queues()  # it fills
    final = await send(runtime, signal(runtime, idempotencyKey="tv-alert-42", quantity=0.5))
    assert final.status == 409
    body = final.json()
    assert body["error"]["code"] == "DUPLICATE_REQUEST" and rid in body["error"]["message"]
    assert body["original"]["requestId"] == rid and body["original"]["status"] == "Filled"
    assert body["original"]["result"]["executedQty"] == 0.01  # the original's, not the resend's 0.5
    signals = await rows(runtime, "SELECT request_id, status, error_code FROM trade_signals ORDER BY id")
    assert [(r["status"], r["error_code"]) for r in signals] == [
        ("Filled", None), ("Rejected", "DUPLICATE_REQUEST"), ("Rejected", "DUPLICATE_REQUEST")]
    assert len(await rows(runtime, "SELECT * FROM trades")) == 1

    clock.advance(23 * 3600)
    await runtime.fire_due_alarms()
    assert (await send(runtime, signal(runtime, idempotencyKey="tv-alert-42"))).status == 202


async def test_an_identical_signal_within_60_s_is_a_duplicate_after_that_it_is_new(queued, clock):
    runtime = queued
    assert (await send(runtime, signal(runtime))).status == 202
    await runtime.drain_queues()  # executed
    clock.advance(30)
    # Written differently, same signal.
    dup = await send(runtime, signal(runtime, symbol="btc/usdt", action="long"))
    assert dup.status == 409 and dup.json()["original"]["status"] == "Filled"
    # A different signal is not a duplicate.
    assert (await send(runtime, signal(runtime, quantity=0.02))).status == 202

    clock.advance(31)
    assert await runtime.fire_due_alarms() >= 1
    assert (await send(runtime, signal(runtime))).status == 202


async def test_expired_locks_leave_no_storage_behind(queued, clock):
    runtime = queued
    assert (await send(runtime, signal(runtime))).status == 202
    do = runtime.workspace.state_dir / "do"

    def stored() -> tuple[int, int]:  # (entries, alarms) in the class's one database
        with contextlib.closing(sqlite3.connect(do / "IdempotencyStore.sqlite")) as conn:
            return tuple(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("kv", "alarms"))

    assert stored() == (1, 1)
    clock.advance(61)
    await runtime.fire_due_alarms()
    assert stored() == (0, 0)
    assert not (do / "IdempotencyStore").exists()  # no file per object, ever


async def test_idempotency_store_rpc(runtime, clock):
    ns = runtime.env(GW).IDEMPOTENCY_STORE
    stub = ns.get(ns.id_from_name("k"))
    assert (await stub.acquire("k", 60, "r1"))["acquired"] is True
    held = await stub.acquire("k", 60, "r2")
    assert held["acquired"] is False and held["requestId"] == "r1"
    assert (await stub.release("k", "r2"))["released"] is False  # only the holder releases
    assert (await stub.release("k", "r1"))["released"] is True
    assert (await stub.acquire("k", 60, "r2"))["acquired"] is True
    clock.advance(61)  # expired, even before its alarm ran
    assert (await stub.acquire("k", 60, "r3"))["acquired"] is True


async def test_rate_limiter_rpc(runtime, clock):
    ns = runtime.env(GW).RATE_LIMITER
    stub = ns.get(ns.id_from_name("test"))
    assert await stub.hit(2, 60) == {"allowed": True, "remaining": 1, "retryAfter": 0}
    clock.advance(20)
    assert await stub.hit(2, 60) == {"allowed": True, "remaining": 0, "retryAfter": 0}
    assert await stub.hit(2, 60) == {"allowed": False, "remaining": 0, "retryAfter": 40}
    clock.advance(40)
    assert (await stub.hit(2, 60))["allowed"] is True
    assert await stub.count(60) == 2


async def test_the_rate_limiters_one_alarm_clears_its_storage_once_quiet_and_is_set_again(runtime, clock):
    ns = runtime.env(GW).RATE_LIMITER
    stub = ns.get(ns.id_from_name("quiet"))
    db = runtime.workspace.state_dir / "do" / "RateLimiter.sqlite"

    def stored() -> tuple[int, list[float]]:  # (entries, alarm times) in the class's one database
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return (conn.execute("SELECT COUNT(*) FROM kv").fetchone()[0],
                    [r[0] for r in conn.execute("SELECT scheduled_ms FROM alarms")])

    first = clock()
    await stub.hit(5, 60)
    clock.advance(30)
    await stub.hit(5, 60)
    assert stored() == (3, [(first + 60) * 1000])  # two hits and the window; the first hit's alarm stands
    clock.advance(31)
    assert await runtime.fire_due_alarms() == 1  # drops the first hit, set again after the newest
    assert stored() == (2, [(first + 90) * 1000])
    clock.advance(30)
    assert await runtime.fire_due_alarms() == 1  # quiet for a whole window: nothing is kept
    assert stored() == (0, [])
    await stub.hit(5, 60)  # and the next hit sets an alarm again
    assert stored() == (2, [(clock() + 60) * 1000])
    assert await stub.count(60) == 1


# --------------------------------------------------------------------------- 8. delivery
async def test_direct_only_failure_releases_the_lock(runtime):
    await kv_set(runtime, "webhooks:queue_mode", "direct_only")
    await kv_set(runtime, "exchanges:paper:fault", "outage")
    r = await send(runtime, signal(runtime, idempotencyKey="retry-me"))
    assert r.status == 503, r.json()
    assert r.json()["error"]["code"] == "EXCHANGE_UNAVAILABLE"
    assert "sent again" in r.json()["error"]["message"]
    assert runtime.queue_store.depth("trade-execution") == 0
    [row] = await rows(runtime, "SELECT status, error_code FROM trade_signals")
    assert (row["status"], row["error_code"]) == ("Rejected", "NOT_PLACED")

    await kv_set(runtime, "exchanges:paper:fault", "")
    again = await send(runtime, signal(runtime, idempotencyKey="retry-me"))
    assert again.status == 200, again.json()
    assert again.json()["result"]["status"] == "Filled"
    assert len(await rows(runtime, "SELECT * FROM trades WHERE status = 'Filled'")) == 1


async def test_direct_only_timeout_keeps_the_lock_and_a_resend_learns_the_one_fill(runtime):
    # The paper exchange takes the order and the answer is lost: the outcome is unknown to the gateway.
    await kv_set(runtime, "webhooks:queue_mode", "direct_only")
    await kv_set(runtime, "exchanges:paper:fault", "timeout")
    r = await send(runtime, signal(runtime, idempotencyKey="maybe-placed"))
    assert r.status == 504, r.json()
    assert r.json()["error"]["code"] == "OUTCOME_UNKNOWN"
    assert "lock is kept" in r.json()["error"]["message"]
    rid = r.json()["requestId"]

    await kv_set(runtime, "exchanges:paper:fault", "")
    # The resend resumes the signal: the order the exchange took is found by its client order id.
    again = await send(runtime, signal(runtime, idempotencyKey="maybe-placed"))
    assert again.status == 200, again.json()
    assert again.json()["requestId"] == rid and again.json()["result"]["status"] == "Filled"
    assert runtime.queue_store.depth("trade-execution") == 0
    assert len(await rows(runtime, "SELECT * FROM trades WHERE status = 'Filled'")) == 1


async def test_queue_failover_queues_when_trade_worker_is_down(runtime):
    await kv_set(runtime, "exchanges:paper:fault", "outage")
    r = await send(runtime, signal(runtime))
    assert r.status == 202 and r.json()["status"] == "Enqueued"
    [msg] = runtime.queue_store.list("trade-execution")
    sent = msg["body"] if isinstance(msg["body"], dict) else json.loads(msg["body"])
    assert "503" in sent["reason"]


# --------------------------------------------------------------------------- telemetry
async def test_every_call_is_tracked_once_and_logged_under_its_request_id(queued):
    runtime = queued
    ok = await send(runtime, signal(runtime, idempotencyKey="t-1"))
    bad = await send(runtime, signal(runtime, apiKey="nope-nope"))
    rid = ok.json()["requestId"]
    logged = await rows(runtime, "SELECT message FROM system_logs WHERE request_id = ? ORDER BY id", rid)
    stages = [r["message"] for r in logged]
    assert stages[0] == "signal received" and any("enqueued" in s for s in stages)
    # The gateway's request is recorded once, by the api-call middleware (blob5 "http"), and the
    # gateway adds the signal. (analytics-worker records the /track call it served as its own.)
    got = await runtime.analytics_sql().query(
        "SELECT blob1, blob3, blob4, blob5, blob6, double2 FROM hoox_telemetry "
        f"WHERE index1 = '{rid}' AND blob2 = 'hoox' ORDER BY blob1")
    assert [p["blob1"] for p in got] == ["api-call", "signal"]
    call, sig = got
    assert call["blob3"] == "/webhook" and call["blob5"] == "http" and call["double2"] == 202
    assert sig["blob4"] == "BTCUSDT" and sig["blob6"] == "Enqueued"
    # A request refused before authentication is an API call, not a signal.
    bad_rid = bad.json()["requestId"]
    kinds = await runtime.analytics_sql().query(
        f"SELECT blob1, double2 FROM hoox_telemetry WHERE index1 = '{bad_rid}' AND blob2 = 'hoox'")
    assert [(p["blob1"], p["double2"]) for p in kinds] == [("api-call", 401)]
    assert bad.status == 401


# --------------------------------------------------------------------------- /health
async def test_health_reports_every_binding(runtime):
    r = await runtime.request(GW, "GET", "/health")
    body = r.json()
    b = body["bindings"]
    assert r.status == 200 and body["status"] == "ok", body
    assert b["kv"]["status"] == b["d1"]["status"] == "connected"
    assert b["idempotencyStore"]["status"] == b["rateLimiter"]["status"] == "connected"
    assert b["queue"]["status"] == "bound"
    assert b["trade-worker"]["status"] == "connected" and "latencyMs" in b["trade-worker"]
    assert isinstance(body["timestamp"], int)


async def test_health_is_503_when_a_running_worker_fails(runtime, monkeypatch):
    real_app = runtime.app

    async def failing(scope, receive, send):
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"down"})

    monkeypatch.setattr(runtime, "app", lambda w: failing if w == "trade-worker" else real_app(w))
    r = await runtime.request(GW, "GET", "/health")
    assert r.status == 503 and r.json()["status"] == "degraded"
    trade = r.json()["bindings"]["trade-worker"]
    assert trade["status"] == "error" and "500" in trade["error"]
    assert r.json()["bindings"]["telegram-worker"]["status"] == "connected"


async def test_health_reports_workers_that_do_not_run_here_without_failing(workspace):
    rt = LocalRuntime(workspace, workers=["hoox"])
    await rt.open()
    try:
        r = await rt.request(GW, "GET", "/health")
        assert r.status == 200 and r.json()["status"] == "ok"
        assert r.json()["bindings"]["trade-worker"]["status"] == "not_running"
    finally:
        await rt.stop()
