"""The local runtime: real HTTP serving, crons on schedule, queue consumers, restarts, secrets.

Tiny test worker modules stand in for the real ones (put in sys.modules under the catalog's module
names), so these tests prove the runtime itself whatever the workers do.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import types
from datetime import UTC, datetime

import httpx
import netutil
import pytest
from hoox_edge import catalog, migrations
from hoox_edge.local import cron
from hoox_edge.local.queues import QueueStore
from hoox_edge.local.runtime import LocalRuntime, WorkerModuleMissing
from hoox_edge.ports import DurableObject
from hoox_edge.shared import clock as clock_module
from hoox_edge.shared.app import env_of, make_app
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def fake_worker(monkeypatch, name: str, *, scheduled=None, queue=None) -> types.ModuleType:
    """A worker module for catalog worker `name`: GET /health and GET /secret-length."""

    async def health(request: Request) -> JSONResponse:
        env = env_of(request)
        return JSONResponse({"worker": env.worker, "client": request.client.host if request.client else None})

    async def secret_length(request: Request) -> JSONResponse:
        return JSONResponse({"length": len(env_of(request).get("INTERNAL_KEY_BINDING") or "")})

    mod = types.ModuleType(catalog.worker(name).module)
    mod.app = make_app(name, [Route("/health", health), Route("/secret-length", secret_length)])
    if scheduled is None and catalog.worker(name).crons:
        async def scheduled(cron: str, env: object) -> None:  # the catalog gives it crons: a quiet one
            return None
    if scheduled is not None:
        mod.scheduled = scheduled
    if queue is not None:
        mod.queue = queue
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    return mod


async def test_serves_a_worker_over_http_and_stops_cleanly(monkeypatch, workspace):
    fake_worker(monkeypatch, "d1-worker")
    base = netutil.free_base_port()
    rt = LocalRuntime(workspace, base_port=base, workers=["d1-worker"])
    await rt.start()
    port = rt.ports["d1-worker"]
    try:
        async with httpx.AsyncClient() as client:
            r = await client.get(f"http://127.0.0.1:{port}/health")
        assert r.status_code == 200
        assert r.json() == {"worker": "d1-worker", "client": "127.0.0.1"}
    finally:
        await rt.stop()
    await rt.stop()  # safe twice
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/health")


async def test_a_busy_port_fails_the_start_saying_so(monkeypatch, workspace):
    fake_worker(monkeypatch, "d1-worker")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        rt = LocalRuntime(workspace, base_port=port - catalog.worker("d1-worker").port_offset,
                          workers=["d1-worker"])
        with pytest.raises(OSError, match=f"cannot serve d1-worker on 127.0.0.1:{port}"):
            await rt.start()
        await rt.stop()


async def test_a_missing_worker_module_is_named(monkeypatch, workspace):
    module = catalog.worker("d1-worker").module
    monkeypatch.setitem(sys.modules, module, None)  # as if the file did not exist
    rt = LocalRuntime(workspace, workers=["d1-worker"])
    await rt.open()  # opening needs no worker module
    with pytest.raises(WorkerModuleMissing, match=module):
        await rt.start(serve_http=False)
    await rt.stop()


async def test_cron_fires_on_schedule(monkeypatch, workspace, clock):
    calls: list[tuple[str, str]] = []

    async def scheduled(cron, env):
        calls.append((cron, env.worker))

    fake_worker(monkeypatch, "email-worker", scheduled=scheduled)
    clock.set(clock() + 60)  # 12:01 UTC; email-worker runs */5
    rt = LocalRuntime(workspace, workers=["email-worker"])
    await rt.start(serve_http=False)
    try:
        assert await rt.run_due_crons() == 0
        clock.advance(3 * 60)  # 12:04
        assert await rt.run_due_crons() == 0
        clock.advance(60)  # 12:05
        assert await rt.run_due_crons() == 1
        assert calls == [("*/5 * * * *", "email-worker")]
        assert await rt.run_due_crons() == 0  # once per slot
        clock.advance(60 * 60)  # an hour of missed slots fires once, like Cloudflare
        assert await rt.run_due_crons() == 1
        await rt.run_cron("email-worker")  # `hoox dev cron email-worker`
        assert len(calls) == 3
    finally:
        await rt.stop()


async def test_a_failing_cron_is_recorded_and_does_not_stop_the_schedule(monkeypatch, workspace, clock):
    async def scheduled(cron, env):
        raise RuntimeError(f"cron failed with {env.INTERNAL_KEY_BINDING}")

    fake_worker(monkeypatch, "agent-worker", scheduled=scheduled)
    rt = LocalRuntime(workspace, workers=["agent-worker"])
    await rt.start(serve_http=False)
    try:
        clock.advance(5 * 60)
        assert await rt.run_due_crons() == 1
        [job] = rt.cron_jobs
        assert "cron failed" in job.last_error
        assert rt.env("agent-worker").INTERNAL_KEY_BINDING not in job.last_error  # redacted
    finally:
        await rt.stop()


async def test_queue_consumer_delivers_promptly(monkeypatch, workspace):
    got: list[tuple[object, int, str]] = []
    delivered = asyncio.Event()

    async def queue(batch, env):
        for m in batch.messages:
            got.append((m.body, m.attempts, env.worker))
        delivered.set()

    fake_worker(monkeypatch, "trade-worker", queue=queue)
    rt = LocalRuntime(workspace, workers=["trade-worker"])
    await rt.start(serve_http=False)
    try:
        await rt.env("hoox").TRADE_QUEUE.send({"requestId": "r1"})  # the gateway's producer binding
        await asyncio.wait_for(delivered.wait(), timeout=5)
        assert got == [({"requestId": "r1"}, 1, "trade-worker")]
        assert rt.queue_store.depth(catalog.TRADE_QUEUE) == 0
    finally:
        await rt.stop()


async def test_failing_messages_end_in_the_dead_letter_queue_redacted(monkeypatch, workspace):
    async def queue(batch, env):
        raise RuntimeError(f"exchange down, key {env.INTERNAL_KEY_BINDING}")

    fake_worker(monkeypatch, "trade-worker", queue=queue)
    rt = LocalRuntime(workspace, workers=["trade-worker"])
    await rt.open()
    try:
        await rt.env("hoox").TRADE_QUEUE.send({"requestId": "r-dlq"})
        consumer = catalog.worker("trade-worker").consumers[0]
        assert await rt.drain_queues() == consumer.max_retries + 1
        [dead] = rt.queue_store.list(catalog.TRADE_DLQ)
        assert dead["body"] == {"requestId": "r-dlq"} and "exchange down" in dead["last_error"]
        assert rt.env("trade-worker").INTERNAL_KEY_BINDING not in dead["last_error"]
        assert rt.queue_store.depth(catalog.TRADE_QUEUE) == 0
    finally:
        await rt.stop()


class Killed(BaseException):
    """The process dying in the middle of a batch."""


async def test_a_message_in_flight_when_killed_is_delivered_once_after_restart(monkeypatch, workspace):
    seen: list[tuple[object, int]] = []

    async def dies(batch, env):
        raise Killed

    mod = fake_worker(monkeypatch, "trade-worker", queue=dies)
    first = LocalRuntime(workspace, workers=["trade-worker"])
    await first.open()
    await first.env("hoox").TRADE_QUEUE.send({"requestId": "r-crash"})
    with pytest.raises(Killed):
        await first.drain_queues()
    # no stop(): the process is gone. A new runtime on the same workspace takes over.

    async def works(batch, env):
        seen.extend((m.body, m.attempts) for m in batch.messages)

    mod.queue = works
    second = LocalRuntime(workspace, workers=["trade-worker"])
    await second.open()
    try:
        assert second.released_leases == 1
        assert await second.drain_queues() == 1
        assert await second.drain_queues() == 0
        assert seen == [({"requestId": "r-crash"}, 2)]
    finally:
        await second.stop()
        first._close()


async def test_open_migrates_and_seeds_kv_without_overwriting(workspace):
    rt = LocalRuntime(workspace)
    await rt.open()
    await rt.open()  # idempotent
    kv = rt.kv(catalog.CONFIG_KV)
    assert await kv.get("trade:mode") == "paper"
    await kv.put("trade:mode", "live")
    await kv.delete("webhooks:rate_limit_per_minute")
    tables = await rt.d1(catalog.TRADE_DB).prepare("SELECT name FROM sqlite_master WHERE type='table'").all()
    assert {"trades", "positions", "d1_migrations"} <= {r["name"] for r in tables["results"]}
    await rt.stop()

    again = LocalRuntime(workspace)
    await again.open()
    try:
        kv = again.kv(catalog.CONFIG_KV)
        assert await kv.get("trade:mode") == "live"  # the user's value stays
        assert await kv.get("webhooks:rate_limit_per_minute") == "10"
        history = await again.d1(catalog.TRADE_DB).prepare(
            "SELECT COUNT(*) AS n FROM d1_migrations").first("n")
        assert history == len(migrations.available())  # each applied once
    finally:
        await again.stop()


async def test_env_is_wired_from_the_catalog(runtime):
    env = runtime.env("hoox")
    assert env.worker == "hoox"
    for b in catalog.worker("hoox").bindings:
        assert env.has(b.name)
    assert env.ENVIRONMENT == "production"
    assert runtime.workspace.secrets()["WEBHOOK_API_KEY"] == env.WEBHOOK_API_KEY
    assert not runtime.env("trade-worker").has("WEBHOOK_API_KEY")  # only the secrets a worker declares
    assert runtime.env("analytics-worker").has("ANALYTICS_SQL")
    assert runtime.env("hoox") is env


async def test_secrets_edited_after_start_take_effect(monkeypatch, workspace):
    fake_worker(monkeypatch, "d1-worker")
    rt = LocalRuntime(workspace, workers=["d1-worker"])
    await rt.start(serve_http=False)
    try:
        env = rt.env("d1-worker")
        workspace.set_secret("INTERNAL_KEY_BINDING", "x" * 7)
        r = await rt.request("d1-worker", "GET", "/secret-length")
        assert r.json() == {"length": 7}
        assert env.INTERNAL_KEY_BINDING == "x" * 7  # the same Env object sees it (DOs keep theirs)
    finally:
        await rt.stop()


async def test_service_binding_to_a_worker_not_running_says_so(monkeypatch, workspace):
    fake_worker(monkeypatch, "d1-worker")
    rt = LocalRuntime(workspace, workers=["d1-worker"])
    await rt.open()
    try:
        with pytest.raises(ConnectionError, match="not running"):
            await rt.env("hoox").TRADE_SERVICE.fetch("GET", "/health")
        r = await rt.env("hoox").D1_SERVICE.fetch("GET", "/health")
        assert r.json()["worker"] == "d1-worker"
    finally:
        await rt.stop()


async def test_the_alarm_scheduler_fires_durable_object_alarms(monkeypatch, workspace):
    fired = asyncio.Event()

    class RateLimiter(DurableObject):
        async def arm(self) -> str:
            await self.ctx.storage.set_alarm(clock_module.now_ms())
            return self.env.worker

        async def alarm(self) -> None:
            fired.set()

    spec = next(d for d in catalog.worker("hoox").durable_objects if d.class_name == "RateLimiter")
    mod = types.ModuleType(spec.module)
    mod.RateLimiter = RateLimiter
    monkeypatch.setitem(sys.modules, spec.module, mod)
    fake_worker(monkeypatch, "hoox")
    rt = LocalRuntime(workspace, workers=["hoox"])
    await rt.start(serve_http=False)
    try:
        ns = rt.env("hoox").RATE_LIMITER
        assert await ns.get(ns.id_from_name("webhook")).arm() == "hoox"  # the owner's Env
        await asyncio.wait_for(fired.wait(), timeout=5)
    finally:
        await rt.stop()


async def test_stop_lets_the_batch_in_flight_finish(monkeypatch, workspace):
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[object] = []

    async def queue(batch, env):
        started.set()
        await release.wait()
        finished.extend(m.body for m in batch.messages)

    fake_worker(monkeypatch, "trade-worker", queue=queue)
    rt = LocalRuntime(workspace, workers=["trade-worker"])
    await rt.start(serve_http=False)
    await rt.env("hoox").TRADE_QUEUE.send({"requestId": "r-inflight"})
    await asyncio.wait_for(started.wait(), timeout=5)
    stopping = asyncio.create_task(rt.stop())
    release.set()
    await stopping
    assert finished == [{"requestId": "r-inflight"}]  # not cancelled half-way
    after = QueueStore(workspace.state_dir / "queues.sqlite")
    try:
        assert after.release_dead_leases() == 0 and after.list(catalog.TRADE_QUEUE) == []  # and acked
    finally:
        after.close()


async def test_operator_queue_helpers(runtime, clock):
    store = runtime.queue_store
    producer = runtime.env("hoox").TRADE_QUEUE
    await producer.send({"n": 1})
    await producer.send({"n": 2}, delay_seconds=60)
    stats = store.stats(catalog.TRADE_QUEUE)
    assert (stats["ready"], stats["delayed"], stats["in_flight"], stats["depth"]) == (1, 1, 0, 2)
    first, second = store.list(catalog.TRADE_QUEUE)
    assert first["body"] == {"n": 1} and first["in_flight"] is False
    assert store.move(second["id"], "elsewhere") is True
    assert [m["body"] for m in store.list("elsewhere")] == [{"n": 2}]
    assert store.depth(catalog.TRADE_QUEUE) == 1  # the moved message left its queue
    with pytest.raises(ValueError, match="not a dead letter"):
        store.move(second["id"])


@pytest.mark.parametrize(("expr", "after", "expected"), [
    ("*/5 * * * *", "2026-01-05 12:01", "2026-01-05 12:05"),
    ("*/5 * * * *", "2026-01-05 12:05", "2026-01-05 12:10"),  # strictly after
    ("0 6,18 * * *", "2026-01-05 06:00", "2026-01-05 18:00"),
    ("0 6,18 * * *", "2026-01-05 18:30", "2026-01-06 06:00"),
    ("10-20/5 9 * * *", "2026-01-05 09:11", "2026-01-05 09:15"),
    ("30 8 * * MON-FRI", "2026-01-09 09:00", "2026-01-12 08:30"),  # Friday -> Monday
    ("0 0 1 JAN *", "2026-01-05 00:00", "2027-01-01 00:00"),
    ("0 12 13 * 5", "2026-02-01 00:00", "2026-02-06 12:00"),  # day 13 OR a Friday
    ("0 0 * * 7", "2026-01-05 00:00", "2026-01-11 00:00"),  # 7 is Sunday
    ("0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"),
])
def test_cron_next_fire(expr, after, expected):
    def ts(text: str) -> float:
        return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp()

    assert cron.next_fire(expr, ts(after)) == ts(expected)
    assert cron.matches(expr, ts(expected))


@pytest.mark.parametrize("expr", ["* * * *", "60 * * * *", "*/0 * * * *", "5-1 * * * *", "0 0 L * *",
                                  "0 0 * * 1#2", "x * * * *", "0 0 31 2 *"])
def test_bad_cron_is_refused(expr):
    with pytest.raises(cron.CronError):
        cron.next_fire(expr, 0)


async def test_a_burst_of_data_points_shares_one_commit_and_a_query_sees_them_at_once(runtime, monkeypatch):
    from hoox_edge.local import analytics

    monkeypatch.setattr(analytics, "FLUSH_AFTER_S", 3600.0)  # however slow the machine, the burst is buffered
    dataset = runtime.env("hoox").ANALYTICS_ENGINE
    dataset.write_data_point(blobs=["warm-up"], indexes=["r-0"])  # the dataset's table exists
    await runtime.analytics_sql().query("SELECT 1")
    commits = runtime.analytics._writer.commits
    for n in range(200):
        dataset.write_data_point(blobs=["api-call", "hoox", f"/{n}"], doubles=[float(n)], indexes=[f"r-{n}"])
        await asyncio.sleep(0)  # other requests run between them
    rows = await runtime.analytics_sql().query("SELECT COUNT(*) AS n FROM hoox_telemetry WHERE blob1 = 'api-call'")
    assert rows == [{"n": 200}]
    assert runtime.analytics._writer.commits - commits == 1


async def test_data_points_written_just_before_a_stop_are_kept(workspace):
    rt = LocalRuntime(workspace, workers=["hoox"])
    await rt.open()
    dataset = rt.env("hoox").ANALYTICS_ENGINE
    dataset.write_data_point(blobs=["api-call", "hoox", "/first"], doubles=[1.0], indexes=["r-first"])
    await rt.analytics_sql().query("SELECT 1")  # written (a query writes what is buffered first)
    dataset.write_data_point(blobs=["api-call", "hoox", "/x"], doubles=[1.0], indexes=["r-last"])
    await rt.stop()  # the second point was only buffered
    again = LocalRuntime(workspace, workers=["hoox"])
    await again.open()
    try:
        rows = await again.analytics_sql().query("SELECT blob3 FROM hoox_telemetry WHERE index1 = 'r-last'")
        assert rows == [{"blob3": "/x"}]
    finally:
        await again.stop()


@pytest.mark.parametrize("length", [True, False])
async def test_no_message_of_an_answer_leaves_before_the_barrier_after_it(monkeypatch, length):
    """The output gate: each message leaves only after a barrier called after the app sent it. A
    start with a length goes out with its body after one barrier; a stream's start after its own."""
    from hoox_edge.local import runtime, sqlio

    log: list[str] = []
    opened: list[asyncio.Future[None]] = []

    async def barrier() -> None:
        log.append("barrier")
        opened.append(asyncio.get_running_loop().create_future())
        await opened[-1]

    monkeypatch.setattr(sqlio, "barrier", barrier)
    headers = [(b"content-length", b"2")] if length else []

    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        log.append("app: body")
        await send({"type": "http.response.body", "body": b"{}"})

    async def sent(message: dict) -> None:
        log.append(f"sent: {message['type']}")

    call = asyncio.create_task(runtime._OutputGate(app, lambda: None)({"type": "http"}, None, sent))
    for _ in range(1 if length else 2):  # open each barrier once it is waited on
        while not opened or opened[-1].done():
            await asyncio.sleep(0)
        assert not log[-1].startswith("sent")  # nothing left while it was closed
        opened[-1].set_result(None)
    await call
    if length:
        assert log == ["app: body", "barrier", "sent: http.response.start", "sent: http.response.body"]
    else:
        assert log == ["barrier", "sent: http.response.start", "app: body", "barrier", "sent: http.response.body"]
