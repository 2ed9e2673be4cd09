"""`GET /v1/stream` (issue 3, item 3) and the event log behind it.

The gateway's app is served by uvicorn on a free loopback port and the stream read with
httpx + httpx-sse, while signals go through the real gateway -> trade-worker -> paper exchange -> ledger in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hoox_edge import migrations
from hoox_edge.local.d1 import LocalD1
from hoox_edge.ports import D1Error
from hoox_edge.shared import events, settings
from hoox_edge.shared.logs import log
from hoox_edge.workers import stream as stream_mod
from httpx_sse import aconnect_sse
from netutil import serve

GW = "hoox"
WAIT = 10.0  # the longest any test waits for an event before failing


# --------------------------------------------------------------------------- serving
@pytest.fixture
async def gateway_url(runtime) -> AsyncIterator[str]:
    """The gateway with /v1/stream, over TCP; signals are sent in-process through `runtime`."""
    async with serve(runtime.app(GW)) as url:
        yield url


@pytest.fixture
def token(runtime) -> str:
    return runtime.env(GW).OPERATOR_API_KEY


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


# --------------------------------------------------------------------------- helpers
def signal(runtime, **changes: Any) -> dict[str, Any]:
    body = {"apiKey": runtime.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG",
            "symbol": "BTCUSDT", "quantity": 0.001}
    body.update(changes)
    return body


async def send(runtime, **changes: Any) -> str:
    r = await runtime.request(GW, "POST", "/webhook", json=signal(runtime, **changes))
    assert r.status == 200, r.json()
    return r.json()["requestId"]


class Reader:
    """Reads a stream in the background; `events` holds (sse id, event name, JSON data) in arrival order."""

    def __init__(self, url: str, token: str, *, params: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.url, self.token = url, token
        self.params = params or {}
        self.headers = headers or {}
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self.connected = asyncio.Event()
        self.arrived = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=httpx.Timeout(5, read=30)) as client, \
                aconnect_sse(client, "GET", "/v1/stream", params=self.params,
                             headers=auth(self.token, **self.headers)) as source:
            assert source.response.status_code == 200
            self.connected.set()
            async for sse in source.aiter_sse():
                if not sse.data:
                    continue  # the id-only opening message: a resume point, not an event
                self.events.append((int(sse.id), sse.event, json.loads(sse.data)))
                self.arrived.set()

    async def __aenter__(self) -> Reader:
        self._task = asyncio.create_task(self._run())
        waiter = asyncio.create_task(self.connected.wait())
        await asyncio.wait({self._task, waiter}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._task.done():
            self._task.result()  # raise what went wrong
        assert self.connected.is_set(), "the stream did not open"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Cut the connection (as a client that goes away)."""
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def until(self, predicate, what: str) -> None:
        """Wait until `predicate(events)` holds; fail after WAIT seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while not predicate(self.events):
            assert self._task is not None
            if self._task.done():
                self._task.result()
            left = deadline - loop.time()
            assert left > 0, f"timed out waiting for {what}; got {[(i, e) for i, e, _ in self.events]}"
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(left, 0.5))


def of_request(evs, rid: str, type_: str | None = None) -> list[dict[str, Any]]:
    return [d for _, t, d in evs if d.get("requestId") == rid and (type_ is None or t == type_)]


# --------------------------------------------------------------------------- auth and parameters
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}])
async def test_the_stream_needs_the_operator_token(gateway_url, token, headers):
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        r = await client.get("/v1/stream", headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["success"] is False and body["error"]["code"] == "UNAUTHORIZED"
    assert token not in r.text


@pytest.mark.parametrize("params,headers,field", [
    ({"topics": "trades,orders"}, {}, "topics"),
    ({"topics": ""}, {}, "topics"),
    ({}, {"Last-Event-ID": "abc"}, "Last-Event-ID"),
    ({"lastEventId": "-3"}, {}, "lastEventId"),
])
async def test_bad_topics_or_ids_are_refused_with_400(gateway_url, token, params, headers, field):
    async with httpx.AsyncClient(base_url=gateway_url) as client:
        r = await client.get("/v1/stream", params=params, headers=auth(token, **headers))
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "VALIDATION_ERROR" and err["details"][0]["field"] == field


# --------------------------------------------------------------------------- what arrives
async def test_a_fill_arrives_as_trade_log_and_alert_events_with_its_request_id(runtime, gateway_url, token):
    async with Reader(gateway_url, token) as reader:
        rid = await send(runtime, leverage=2)
        await reader.until(lambda evs: any(d.get("status") == "Filled" for d in of_request(evs, rid, "trade"))
                           and of_request(evs, rid, "alert"), "the fill and its alert")

    trades = of_request(reader.events, rid, "trade")
    assert [t["status"] for t in trades] == ["TRADE_PENDING", "Filled"]  # the order, not the raw signal
    [row] = (await runtime.env(GW).DB.prepare("SELECT * FROM trades WHERE request_id = ?")
             .bind(rid).all())["results"]
    fill = trades[-1]
    assert fill["type"] == "trade" and fill["tradeId"] == row["id"]
    assert (fill["symbol"], fill["side"], fill["action"], fill["mode"]) == ("BTCUSDT", "BUY", "LONG", "paper")
    assert (fill["quantity"], fill["price"], fill["fee"]) == (row["quantity"], row["price"], row["fee"])
    assert fill["price"] > 0 and fill["error"] is None and fill["createdAt"] == row["updated_at"]

    logs = of_request(reader.events, rid, "log")
    by_worker = {(d["worker"], d["message"].split(":")[0]) for d in logs}
    assert {("hoox", "signal received"), ("trade-worker", "Order sent"),
            ("trade-worker", "Order filled")} <= by_worker
    assert all(isinstance(d["logId"], int) and d["level"] in ("info", "warning") for d in logs)
    [alert] = of_request(reader.events, rid, "alert")
    assert alert["source"] == "trade-worker" and "filled" in alert["message"]
    # raised with the fill, in its batch; telegram-worker routed it before the webhook was answered
    assert alert["delivery"] == "raised"
    [stored] = (await runtime.env(GW).DB.prepare("SELECT delivery FROM alerts WHERE id = ?")
                .bind(alert["alertId"]).all())["results"]
    assert stored["delivery"] == "outbox"

    ids = [i for i, _, _ in reader.events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(d["id"] == i and d["type"] == t for i, t, d in reader.events)  # JSON matches the SSE lines
    secrets = runtime.env(GW).secret_values()
    assert not any(s in json.dumps(reader.events) for s in secrets)


async def test_topics_filter_the_event_types(runtime, gateway_url, token):
    async with Reader(gateway_url, token, params={"topics": "alerts"}) as alerts, \
            Reader(gateway_url, token, params={"topics": "trades,status"}) as trades:
        rid = await send(runtime)
        await events.emit(runtime.env(GW), "status", {"killSwitch": False, "reason": "test"})
        await alerts.until(lambda evs: of_request(evs, rid), "the alert")
        await trades.until(lambda evs: any(t == "status" for _, t, _ in evs), "the status event")
    assert {t for _, t, _ in alerts.events} == {"alert"}
    assert {t for _, t, _ in trades.events} == {"trade", "status"}
    assert [d["status"] for d in of_request(trades.events, rid)] == ["TRADE_PENDING", "Filled"]
    [status] = [d for _, t, d in trades.events if t == "status"]
    assert status["killSwitch"] is False and status["reason"] == "test"


async def test_without_an_id_only_new_events_are_sent_and_since_0_sends_all(runtime, gateway_url, token):
    old = await send(runtime, idempotencyKey="old")
    async with Reader(gateway_url, token, params={"topics": "trades"}) as fresh:
        new = await send(runtime, idempotencyKey="new")
        await fresh.until(lambda evs: len(of_request(evs, new)) == 2, "the new fill")
    assert not of_request(fresh.events, old)
    async with Reader(gateway_url, token, params={"topics": "trades", "since": "0"}) as everything:
        await everything.until(lambda evs: len(evs) == 4, "both trades from the start")
    assert [d["requestId"] for _, _, d in everything.events] == [old, old, new, new]


@pytest.mark.parametrize("how", ["header", "query"])
async def test_resume_after_last_event_id_gives_exactly_the_missed_events(runtime, gateway_url, token, how):
    first = await send(runtime, idempotencyKey="r1")
    async with Reader(gateway_url, token, params={"since": "0"}) as reader:
        await reader.until(lambda evs: any(d.get("status") == "Filled" for d in of_request(evs, first)),
                           "the first fill")
    last_seen = reader.events[-1][0]
    missed = [await send(runtime, idempotencyKey=f"r{i}") for i in (2, 3)]

    db = runtime.env(GW).DB
    expected = [e.id for e in await events.read_after(db, last_seen)]
    assert len(expected) > 4  # pending, filled, logs and alerts of two signals
    kw = ({"headers": {"Last-Event-ID": str(last_seen)}, "params": {"since": "0"}} if how == "header"
          else {"params": {"lastEventId": str(last_seen)}})  # the header wins over since=0
    async with Reader(gateway_url, token, **kw) as resumed:
        await resumed.until(lambda evs: len(evs) >= len(expected), "the missed events")
        await send(runtime, idempotencyKey="r4")  # and it goes on live after the catch-up
        await resumed.until(lambda evs: any(d.get("status") == "Filled" and d["requestId"] not in [*missed, first]
                                            for _, t, d in evs if t == "trade"), "the live fill")
    got = [i for i, _, _ in resumed.events]
    assert got[:len(expected)] == expected
    assert got == sorted(set(got)) and min(got) == last_seen + 1
    filled = [d["requestId"] for _, t, d in resumed.events if t == "trade" and d["status"] == "Filled"]
    assert filled[:2] == missed


async def test_200_signals_read_live_with_a_cut_and_a_resume_give_200_fills_in_order(runtime, gateway_url,
                                                                                      token):
    """Issue 3's must-show: the client is cut off midway and resumes with Last-Event-ID."""
    await settings.put(runtime.env(GW).CONFIG_KV, "webhooks:rate_limit_per_minute", 1000)
    sent: list[str] = []
    received: list[tuple[int, str, dict[str, Any]]] = []
    progress = asyncio.Event()

    async def sender() -> None:
        for i in range(200):
            sent.append(await send(runtime, idempotencyKey=f"must-show-{i}", action="LONG" if i % 2 else "SHORT"))
            progress.set()

    async def sent_at_least(n: int) -> None:
        while len(sent) < n:
            progress.clear()
            await progress.wait()

    params = {"topics": "trades"}
    async with Reader(gateway_url, token, params=params) as first:
        task = asyncio.create_task(sender())
        await first.until(lambda evs: len(evs) >= 60, "events before the cut")
    received += first.events  # cut off midway
    last_id = received[-1][0]
    await sent_at_least(min(200, len(sent) + 20))  # signals fill while nobody reads
    assert len(sent) < 200
    async with Reader(gateway_url, token, params=params, headers={"Last-Event-ID": str(last_id)}) as second:
        await task
        await second.until(lambda evs: sum(d["status"] == "Filled" for _, _, d in received + evs) >= 200,
                           "all 200 fills")
    received += second.events
    [next_trade] = await events.read_after(runtime.env(GW).DB, last_id, ["trade"], 1)
    assert second.events[0][0] == next_trade.id  # strictly after the cut, nothing skipped
    assert len(first.events) > 0 and any(d["status"] == "Filled" for _, _, d in second.events)
    ids = [i for i, _, _ in received]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # in order, no duplicate across the cut
    assert {t for _, t, _ in received} == {"trade"}
    filled = [d["requestId"] for _, _, d in received if d["status"] == "Filled"]
    assert filled == sent  # exactly 200, one per request id, in the order the signals were filled
    pending = [d["requestId"] for _, _, d in received if d["status"] == "TRADE_PENDING"]
    assert pending == sent
    # Nothing the ledger holds was skipped: the stream is the events table, read without a gap.
    db = runtime.env(GW).DB
    assert ids == [e.id for e in await events.read_after(db, 0, ["trade"], 10_000)]


# --------------------------------------------------------------------------- control lines
async def test_heartbeat_is_a_comment_and_never_a_data_event(runtime, gateway_url, token, monkeypatch):
    monkeypatch.setattr(stream_mod, "HEARTBEAT_SECONDS", 0.05)
    lines: list[str] = []
    async with httpx.AsyncClient(base_url=gateway_url, timeout=5) as client, \
            client.stream("GET", "/v1/stream", headers=auth(token)) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        async with asyncio.timeout(WAIT):
            async for line in resp.aiter_lines():
                lines.append(line)
                if lines.count(": ping") >= 3:
                    break
    assert lines[0].startswith(": ")  # the opening comment says where the stream starts
    # An idle stream carries its resume point (one id-only message) and comments: no data events.
    assert [ln for ln in lines if ln and not ln.startswith(":")] == [lines[2]]
    assert lines[2].startswith("id: ")


async def test_a_client_cut_off_before_its_first_event_resumes_from_the_opening_id(runtime, gateway_url, token):
    # The opening id-only message is the resume point: events written while the client was away reach it.
    async with httpx.AsyncClient(base_url=gateway_url, timeout=5) as client, \
            aconnect_sse(client, "GET", "/v1/stream", headers=auth(token)) as source:
        async with asyncio.timeout(WAIT):
            first = await anext(source.aiter_sse())
    assert first.data == "" and first.id
    rid = await send(runtime, idempotencyKey="while-away")  # written with no client connected
    async with Reader(gateway_url, token, headers={"Last-Event-ID": first.id}) as reader:
        async with asyncio.timeout(WAIT):
            while not any(d.get("requestId") == rid and d.get("status") == "Filled" for _, _, d in reader.events):
                reader.arrived.clear()
                await reader.arrived.wait()
    assert min(i for i, _, _ in reader.events) == int(first.id) + 1


async def test_without_a_change_feed_the_stream_tails_the_database(runtime, gateway_url, token, monkeypatch):
    # On Cloudflare there is no in-process feed: the route polls D1, and events still arrive.
    monkeypatch.setattr(stream_mod.events, "change_feed", lambda env: None)
    monkeypatch.setattr(stream_mod, "POLL_SECONDS", 0.05)
    async with Reader(gateway_url, token) as reader:
        rid = await send(runtime, idempotencyKey="polled")
        async with asyncio.timeout(WAIT):
            while not any(d.get("requestId") == rid and d.get("status") == "Filled" for _, _, d in reader.events):
                reader.arrived.clear()
                await reader.arrived.wait()


async def test_a_disconnected_client_leaves_nothing_running(runtime, gateway_url, token):
    feed = events.change_feed(runtime.env(GW))
    assert feed is not None
    async with Reader(gateway_url, token):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while not feed._waiters:  # the stream is waiting for a write
            assert loop.time() < deadline
            await asyncio.sleep(0.01)
    deadline = loop.time() + WAIT
    while feed._waiters:  # the server noticed the disconnect and ended the stream
        assert loop.time() < deadline, "the stream kept waiting after the client left"
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------------- the event log
@pytest.fixture
async def ledger_db(tmp_path) -> AsyncIterator[LocalD1]:
    db = LocalD1(tmp_path / "ledger.sqlite")
    await migrations.apply(db)
    try:
        yield db
    finally:
        db.close()


class _Env:
    """The least an Env needs for `log` and `emit`."""

    def __init__(self, db: LocalD1, secret: str = "s3cret-value") -> None:
        self.worker = "test-worker"
        self._b = {"DB": db}
        self._secret = secret

    def get(self, name: str, default: Any = None) -> Any:
        return self._b.get(name, default)

    def secret_values(self) -> list[str]:
        return [self._secret]


async def test_an_event_exists_exactly_when_its_row_does(ledger_db):
    db = ledger_db
    insert_log = db.prepare("INSERT INTO system_logs (created_at, level, worker, message) VALUES (?,?,?,?)")
    with pytest.raises(D1Error):
        await db.batch([insert_log.bind("2026-01-05T12:00:00.000Z", "info", "w", "rolled back"),
                        db.prepare("INSERT INTO nowhere VALUES (1)")])
    assert await events.read_after(db, 0) == []
    await insert_log.bind("2026-01-05T12:00:00.000Z", "info", "w", "kept").run()
    [ev] = await events.read_after(db, 0)
    assert ev.type == "log" and ev.data["message"] == "kept" and ev.data["details"] is None
    # details that are not JSON (a row written by hand) travel as text instead of failing the insert
    await db.prepare("INSERT INTO system_logs (created_at, level, worker, message, details) VALUES (?,?,?,?,?)"
                     ).bind("2026-01-05T12:00:01.000Z", "info", "w", "odd", "not json").run()
    assert (await events.read_after(db, ev.id))[0].data["details"] == "not json"


async def test_emit_writes_a_status_event_without_secrets(ledger_db, clock):
    env = _Env(ledger_db)
    eid = await emit_status(env, {"killSwitch": True, "reason": "leaked s3cret-value here"})
    [ev] = await events.read_after(ledger_db, 0, ["status"])
    assert ev.id == eid and ev.created_at == "2026-01-05T12:00:00.000Z"
    assert ev.message() == {"type": "status", "id": eid, "createdAt": ev.created_at, "requestId": "op-1",
                            "killSwitch": True, "reason": ev.data["reason"]}
    assert "s3cret-value" not in ev.data["reason"]
    with pytest.raises(ValueError):
        await events.emit(env, "order", {})  # type: ignore[arg-type]


async def emit_status(env: Any, data: dict[str, Any]) -> int | None:
    return await events.emit(env, "status", data, request_id="op-1")


async def test_events_older_than_the_retention_are_pruned_as_new_ones_arrive(ledger_db, clock):
    env = _Env(ledger_db)
    await log(env, "info", "old one")  # type: ignore[arg-type]
    clock.advance(events.RETENTION_DAYS * 86400 - 1)
    await log(env, "info", "inside the window")  # type: ignore[arg-type]
    assert [e.data["message"] for e in await events.read_after(ledger_db, 0)] == ["old one", "inside the window"]
    clock.advance(2)
    await log(env, "info", "new one")  # type: ignore[arg-type]
    kept = await events.read_after(ledger_db, 0)
    assert [e.data["message"] for e in kept] == ["inside the window", "new one"]
    # The log rows themselves stay: only the stream's copy ages out.
    assert await ledger_db.prepare("SELECT COUNT(*) AS n FROM system_logs").first("n") == 3


async def test_a_resume_from_a_pruned_or_unknown_id_starts_at_the_oldest_kept_event(ledger_db, clock):
    env = _Env(ledger_db)
    for i in range(3):
        await log(env, "info", f"log {i}")  # type: ignore[arg-type]
    clock.advance(events.RETENTION_DAYS * 86400 + 1)
    await log(env, "info", "after a week")  # type: ignore[arg-type]
    oldest = await events.oldest_id(ledger_db)
    assert oldest == 4
    assert await stream_mod._start(ledger_db, 1) == (1, f"events 2..3 are past the {events.RETENTION_DAYS}"
                                                        "-day retention: from 4")
    assert (await stream_mod._start(ledger_db, 99))[0] == 0  # newer than any: the ledger was reset
    assert (await stream_mod._start(ledger_db, None))[0] == 4


async def test_the_change_feed_wakes_on_commits_of_any_connection_to_the_file(ledger_db, tmp_path):
    other = LocalD1(tmp_path / "ledger.sqlite")  # a second adapter of the same file (another worker)
    try:
        feed = ledger_db.changes
        assert other.changes is feed
        v = feed.version
        waiter = asyncio.create_task(feed.wait(v, WAIT))
        await asyncio.sleep(0)
        await other.prepare("INSERT INTO system_logs (created_at, level, worker, message) VALUES (?,?,?,?)"
                            ).bind("2026-01-05T12:00:00.000Z", "info", "w", "x").run()
        assert await asyncio.wait_for(waiter, 1) is True
        # A failed batch commits nothing and wakes nobody; reads do not either.
        v = feed.version
        with pytest.raises(D1Error):
            await other.batch([other.prepare("INSERT INTO system_logs (created_at, level, worker, message)"
                                             " VALUES ('t', 'info', 'w', 'y')"),
                               other.prepare("INSERT INTO nowhere VALUES (1)")])
        await other.prepare("SELECT * FROM events").all()
        assert feed.version == v
        assert await feed.wait(v, 0.01) is False
    finally:
        other.close()


def test_the_migration_splitter_keeps_trigger_bodies_whole():
    sql = ("CREATE TABLE t (a, [end]);\n-- a comment; with a semicolon\n"
           "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n"
           "  INSERT INTO t VALUES (CASE WHEN NEW.a THEN 1 END, 'x;y');\n  UPDATE t SET [end] = 2;\nEND;\n"
           "SELECT 1;")
    parts = [p.strip() for p in migrations._split(sql) if p.strip()]
    assert len(parts) == 3
    assert parts[1].startswith("CREATE TRIGGER") and parts[1].endswith("END")
    [events_sql] = [m for m in migrations.available() if m.name == "0002_events.sql"]
    assert sum(p.strip().startswith("CREATE TRIGGER") for p in migrations._split(events_sql.sql)) == 5


# --------------------------------------------------------------------------- structured logs (item 4)
async def test_a_queued_signal_can_be_followed_across_workers_by_its_request_id(runtime, clock):
    """Gateway -> queue -> trade-worker retries -> dead letter, each step a log event with the request id."""
    env = runtime.env(GW)
    await settings.put(env.CONFIG_KV, "webhooks:retry_schedule_seconds", [2])
    await settings.put(env.CONFIG_KV, "exchanges:paper:fault", "outage")
    r = await runtime.request(GW, "POST", "/webhook", json=signal(runtime, idempotencyKey="follow-1"))
    assert r.status == 202
    rid = r.json()["requestId"]
    assert await runtime.drain_queues() == 1  # first delivery: exchange down, retry scheduled
    clock.advance(2)
    assert await runtime.drain_queues() == 1  # second: out of retries, dead-lettered

    trail = [e.data for e in await events.read_after(env.DB, 0, ["log"], 1000) if e.request_id == rid]
    steps = [(d["worker"], d["level"], d["message"].split(":")[0].split(" (")[0]) for d in trail]
    assert steps == [
        ("hoox", "info", "signal received"),
        ("hoox", "info", "idempotency lock taken"),
        ("trade-worker", "warning", "Exchange unavailable for paper bybit LONG BTCUSDT"),  # the direct call
        ("hoox", "warning", "signal enqueued in trade-execution"),
        ("trade-worker", "info", "Queued signal picked up"),
        ("trade-worker", "warning", "Exchange unavailable for paper bybit LONG BTCUSDT"),
        ("trade-worker", "warning", "Retry 1/1 scheduled in 2s"),
        ("trade-worker", "info", "Queued signal picked up"),
        ("trade-worker", "warning", "Exchange unavailable for paper bybit LONG BTCUSDT"),
        ("trade-worker", "critical", "Dead-lettered LONG BTCUSDT"),
    ]
    picked = [d for d in trail if d["message"].startswith("Queued signal picked up")]
    assert [d["details"]["attempt"] for d in picked] == [1, 2]
    # The exchange never answered its sizing reads, so no order was ever started: no trade events.
    assert [e for e in await events.read_after(env.DB, 0, ["trade"]) if e.request_id == rid] == []
    [row] = (await env.DB.prepare("SELECT status FROM trade_signals WHERE request_id = ?").bind(rid).all())["results"]
    assert row["status"] == "DeadLettered"
    [alert] = [e.data for e in await events.read_after(env.DB, 0, ["alert"]) if e.request_id == rid]
    assert alert["level"] == "critical" and "dead-lettered" in alert["message"]
    dumped = json.dumps(trail)
    assert not any(s in dumped for s in env.secret_values() + runtime.env("trade-worker").secret_values())


async def test_a_redelivered_request_is_logged_as_answered_from_the_ledger(runtime):
    from hoox_edge.workers import trade

    rid = await send(runtime, idempotencyKey="again-1")
    tw = runtime.env("trade-worker")
    payload = {"action": "LONG", "symbol": "BTCUSDT", "quantity": 0.001, "exchange": "bybit"}
    result = await trade.execute(tw, rid, payload)
    assert result["status"] == "Filled"
    [note] = [e.data for e in await events.read_after(tw.DB, 0, ["log"])
              if e.request_id == rid and "answered from the ledger" in e.data["message"]]
    assert note["worker"] == "trade-worker" and note["message"].startswith("Request already Filled")
