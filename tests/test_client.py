"""HooxClient transport: retries, backoff, error mapping, secrecy of the token, and the SSE stream.

A small Starlette app served by uvicorn on a free loopback port plays the edge (it counts every
request it gets and can answer 503, drop a connection mid-event or end a stream cleanly);
httpx.MockTransport stands in where only the response matters. Sleeps are injected and recorded,
so nothing here waits for a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from hoox_edge import catalog
from netutil import free_port, serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hoox_cli.core.client import (
    AsyncHooxClient,
    HooxApiError,
    HooxClient,
    HooxConfigError,
    HooxConnectionError,
    LogEvent,
    StreamState,
    TradeEvent,
    backoff_delay,
    parse_retry_after,
    resolve_config,
)

TOKEN = "tok-SECRET-0123456789abcdef"


# ============================================================================ the fake edge
def _envelope(result: Any = None, error: dict | None = None, rid: str = "rid-1") -> dict:
    return {"success": error is None, "requestId": rid, "result": result, "error": error}


def _sse(ev: dict) -> str:
    return f"id: {ev['id']}\nevent: {ev['type']}\ndata: {json.dumps(ev)}\n\n"


def _trade(i: int) -> dict:
    return {"type": "trade", "id": i, "createdAt": "2026-01-05T12:00:00Z", "requestId": f"req-{i}",
            "tradeId": i, "exchange": "paper", "symbol": "BTCUSDT", "action": "LONG", "side": "BUY",
            "quantity": 0.01, "price": 65000.0 + i, "fee": 0.35, "realizedPnl": None, "status": "filled",
            "mode": "paper", "error": None}


@dataclass
class FakeEdge:
    """State of the fake: scripted answers, and what it received."""

    url: str = ""
    hits: Counter = field(default_factory=Counter)
    answers: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    # one entry per /v1/stream connection: {"status": 503} | {"send": n, "end": "drop"|"partial"|"clean"}
    stream_script: list[dict] = field(default_factory=list)
    last_event_ids: list[str | None] = field(default_factory=list)
    announce_start: bool = False  # open each stream with `id: <start>` (no data)
    auth_headers: list[str | None] = field(default_factory=list)

    def script(self, key: str, *answers: int | tuple[int, dict[str, str]]) -> None:
        self.answers[key] = [a if isinstance(a, tuple) else (a, {}) for a in answers]

    def next_status(self, key: str) -> tuple[int, dict[str, str]]:
        queue = self.answers.get(key)
        return queue.pop(0) if queue else (200, {})


def _app(edge: FakeEdge) -> Starlette:
    async def generic(request: Request) -> Response:
        key = f"{request.method} {request.url.path}"
        edge.hits[key] += 1
        edge.auth_headers.append(request.headers.get("authorization"))
        status, headers = edge.next_status(key)
        if status == 200:
            return JSONResponse(_envelope({"on": True, "path": request.url.path}))
        if status == 599:  # a proxy page, not an envelope
            return Response("<html>bad gateway</html>", status_code=502, media_type="text/html")
        if status == 401:
            # A careless server that echoes the header it refused: the client must not pass it on.
            got = request.headers.get("authorization", "")
            return JSONResponse(_envelope(error={"code": "UNAUTHORIZED", "message": f"bad credentials {got}",
                                                 "details": {"sent": got}}), status_code=401)
        return JSONResponse(_envelope(error={"code": "UNAVAILABLE", "message": "try later"}),
                            status_code=status, headers=headers)

    async def stream(request: Request) -> Response:
        edge.hits["GET /v1/stream"] += 1
        last = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
        edge.last_event_ids.append(last)
        plan = edge.stream_script.pop(0) if edge.stream_script else {"send": None, "end": "hold"}
        if "status" in plan:
            return JSONResponse(_envelope(error={"code": "UNAVAILABLE", "message": "restarting"}),
                                status_code=plan["status"])
        newest = max((e["id"] for e in edge.events), default=0)
        after = int(last) if last else (newest if edge.announce_start else 0)
        pending = [e for e in edge.events if e["id"] > after]
        batch = pending if plan["send"] is None else pending[: plan["send"]]

        async def body() -> AsyncIterator[str]:
            yield "retry: 1000\n\n"  # control: never a data event
            if edge.announce_start:
                yield f"id: {after}\n\n"
            for n, ev in enumerate(batch):
                if n % 3 == 0:
                    yield ": ping\n\n"
                yield _sse(ev)
            if plan["end"] == "partial":
                # half of the next event, then the connection dies: it must not be delivered
                nxt = pending[len(batch)]
                yield f"id: {nxt['id']}\nevent: trade\ndata: {json.dumps(nxt)[:20]}"
                raise RuntimeError("connection dropped")
            if plan["end"] == "drop":
                raise RuntimeError("connection dropped")
            if plan["end"] == "hold":
                while True:
                    await asyncio.sleep(0.05)
                    yield ": ping\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    return Starlette(routes=[
        Route("/v1/stream", stream, methods=["GET"]),
        Route("/{path:path}", generic, methods=["GET", "POST", "PUT", "DELETE"]),
    ])


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield  # served from a thread: the test process keeps its signal handlers



@pytest.fixture
def edge() -> Iterator[FakeEdge]:
    fake = FakeEdge()
    port = free_port()
    server = _Server(uvicorn.Config(_app(fake), host="127.0.0.1", port=port, log_level="critical",
                                    lifespan="off", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    ready = threading.Event()
    for _ in range(500):
        if server.started:
            ready.set()
            break
        ready.wait(0.01)
    assert server.started, "fake edge did not start"
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(10)


class Sleeps(list):
    """An injected sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(round(seconds, 6))


class AsyncSleeps(Sleeps):
    async def __call__(self, seconds: float) -> None:  # type: ignore[override]
        self.append(round(seconds, 6))


def client(edge: FakeEdge, **kw: Any) -> HooxClient:
    kw.setdefault("sleep", Sleeps())
    kw.setdefault("rand", lambda: 0.0)
    return HooxClient(edge.url, TOKEN, source="workspace", **kw)


# ============================================================================ backoff
def test_backoff_schedule_is_min_2n_seconds_30_with_jitter_below_the_cap() -> None:
    assert [backoff_delay(n, rand=lambda: 0.0) for n in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    # jitter only shortens, by at most 20 %
    assert [backoff_delay(n, rand=lambda: 1.0) for n in range(6)] == pytest.approx([0.8, 1.6, 3.2, 6.4, 12.8, 24])
    assert backoff_delay(0, rand=lambda: 0.5) == pytest.approx(0.9)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Mon, 05 Jan 2026 12:00:30 GMT", now=1767614400.0) == pytest.approx(30.0)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


# ============================================================================ retries
def test_gets_are_retried_on_502_503_504_with_backoff_and_then_succeed(edge: FakeEdge) -> None:
    edge.script("GET /health", 502, 503, 504)
    c = client(edge)
    assert c.health() == {"on": True, "path": "/health"}
    assert edge.hits["GET /health"] == 4
    assert c._sleep == [0.5, 1.0, 2.0]  # RETRY_BASE 0.5 s doubling


def test_gets_give_up_after_the_retry_budget_with_the_last_error(edge: FakeEdge) -> None:
    edge.script("GET /health", 503, 503, 503, 503, 503)
    c = client(edge, retries=2)
    with pytest.raises(HooxApiError) as info:
        c.health()
    assert edge.hits["GET /health"] == 3
    assert info.value.status == 503 and info.value.code == "UNAVAILABLE" and info.value.request_id == "rid-1"


def test_retry_after_is_honoured_and_a_too_long_one_is_not_waited_out(edge: FakeEdge) -> None:
    edge.script("GET /health", (503, {"Retry-After": "3"}))
    c = client(edge)
    c.health()
    assert c._sleep == [3.0] and edge.hits["GET /health"] == 2

    edge.script("GET /health", (503, {"Retry-After": "120"}))
    c = client(edge)
    with pytest.raises(HooxApiError) as info:
        c.health()
    assert edge.hits["GET /health"] == 3 and c._sleep == []
    assert info.value.retry_after == 120


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_writes_are_never_retried(edge: FakeEdge, method: str) -> None:
    c = client(edge)
    calls = {
        "POST": ("POST /v1/kill-switch", lambda: c.set_kill_switch(True, "test")),
        "PUT": ("PUT /v1/config/kv/trade:mode", lambda: c.kv_put("trade:mode", "paper")),
        "DELETE": ("DELETE /v1/config/kv/trade:mode", lambda: c.kv_delete("trade:mode")),
    }
    key, call = calls[method]
    edge.script(key, 503, 503)
    with pytest.raises(HooxApiError) as info:
        call()
    assert info.value.status == 503
    assert edge.hits[key] == 1 and c._sleep == []


def test_gets_are_not_retried_on_client_errors(edge: FakeEdge) -> None:
    edge.script("GET /health", 400)
    c = client(edge)
    with pytest.raises(HooxApiError):
        c.health()
    assert edge.hits["GET /health"] == 1


def test_a_refused_connection_is_retried_for_gets_on_a_remote_host_only() -> None:
    attempts: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request.method)
        raise httpx.ConnectError("connection refused", request=request)

    sleeps = Sleeps()
    c = HooxClient("https://hoox.example.dev", TOKEN, source="HOOX_API_URL", transport=httpx.MockTransport(refuse),
                   sleep=sleeps, rand=lambda: 0.0)
    with pytest.raises(HooxConnectionError) as info:
        c.status()
    assert attempts == ["GET"] * 4 and sleeps == [0.5, 1.0, 2.0]
    assert "HOOX_API_URL" in str(info.value) and "hoox dev start" not in str(info.value)
    # a write is not retried, even when the connection was refused (the request never left)
    attempts.clear()
    with pytest.raises(HooxConnectionError):
        c.set_kill_switch(True, "x")
    assert attempts == ["POST"] and len(sleeps) == 3


def test_nothing_listening_locally_says_how_to_start_the_edge_at_once() -> None:
    sleeps = Sleeps()
    url = f"http://127.0.0.1:{free_port()}"
    c = HooxClient(url, TOKEN, source="workspace", sleep=sleeps, rand=lambda: 0.0)
    with pytest.raises(HooxConnectionError) as info:
        c.status()
    assert sleeps == []  # refused by this machine: final, no waiting
    msg = str(info.value)
    assert "hoox dev start" in msg and url in msg and info.value.kind == "connect"


async def test_async_client_retries_gets_and_not_posts(edge: FakeEdge) -> None:
    sleeps = AsyncSleeps()
    async with AsyncHooxClient(edge.url, TOKEN, sleep=sleeps, rand=lambda: 0.0) as c:
        edge.script("GET /health", 503, 504)
        await c.health()
        assert edge.hits["GET /health"] == 3 and sleeps == [0.5, 1.0]
        edge.script("POST /v1/kill-switch", 502)
        with pytest.raises(HooxApiError):
            await c.set_kill_switch(False)
        assert edge.hits["POST /v1/kill-switch"] == 1 and len(sleeps) == 2


def test_read_timeout_is_a_connection_error_that_says_so() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    c = HooxClient("http://edge.test", TOKEN, transport=httpx.MockTransport(hang), sleep=Sleeps(), retries=1)
    with pytest.raises(HooxConnectionError) as info:
        c.health()
    assert info.value.kind == "timeout" and "within 10 s" in str(info.value)
    assert c._http.timeout.connect == 3.0 and c._http.timeout.read == 10.0


# ============================================================================ error mapping
def _mock(status: int, body: Any, headers: dict[str, str] | None = None) -> HooxClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return HooxClient("http://edge.test", TOKEN, source="workspace", transport=httpx.MockTransport(handler),
                      sleep=Sleeps(), retries=0)


def test_error_envelope_becomes_hoox_api_error_with_all_its_fields() -> None:
    details = [{"field": "value", "issue": "expected a boolean"}]
    c = _mock(400, _envelope(error={"code": "VALIDATION_ERROR", "message": "trade:kill_switch: expected a boolean",
                                    "details": details}, rid="rid-42"))
    with pytest.raises(HooxApiError) as info:
        c.kv_put("trade:kill_switch", "maybe")
    e = info.value
    assert (e.status, e.code, e.message, e.details, e.request_id) == (
        400, "VALIDATION_ERROR", "trade:kill_switch: expected a boolean", details, "rid-42")
    assert str(e).startswith("VALIDATION_ERROR (400): trade:kill_switch")


def test_a_non_envelope_error_and_a_401_say_what_to_do() -> None:
    c = _mock(502, "<html>bad gateway</html>")
    with pytest.raises(HooxApiError) as info:
        c.status()
    assert info.value.code == "HTTP_502" and "no hoox error envelope" in info.value.message
    assert "try again" in str(info.value)

    c = _mock(401, _envelope(error={"code": "UNAUTHORIZED", "message": "Missing or invalid operator token."}))
    with pytest.raises(HooxApiError) as info:
        c.status()
    assert info.value.code == "UNAUTHORIZED" and "OPERATOR_API_KEY" in str(info.value)


def test_the_token_never_appears_in_messages_reprs_or_logs(edge: FakeEdge, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = client(edge)
    edge.script("GET /health", 401)
    with pytest.raises(HooxApiError) as api_err:
        c.health()
    assert edge.auth_headers[-1] == f"Bearer {TOKEN}"  # it was sent...
    edge.script("GET /health", 503, 503, 503, 503)
    with pytest.raises(HooxApiError) as retry_err:
        c.health()
    dead = HooxClient(f"http://127.0.0.1:{free_port()}", TOKEN, sleep=Sleeps())
    with pytest.raises(HooxConnectionError) as conn_err:
        dead.status()
    seen = [repr(c), str(c), repr(dead), repr(resolve_config(edge.url, environ={"HOOX_API_TOKEN": TOKEN})),
            caplog.text]
    for e in (api_err.value, retry_err.value, conn_err.value):
        seen += [str(e), repr(e), repr(getattr(e, "details", None)), repr(e.args)]
    text = "\n".join(seen)
    assert TOKEN not in text  # ...and never shown
    assert "***" in str(api_err.value.details)


# ============================================================================ configuration
def test_config_from_remote_env_and_workspace(tmp_path: Any, workspace: Any) -> None:
    cfg = resolve_config("https://hoox.example.dev/", environ={"HOOX_API_TOKEN": "t1"})
    assert (cfg.base_url, cfg.token, cfg.source) == ("https://hoox.example.dev", "t1", "--remote")
    cfg = resolve_config(None, environ={"HOOX_API_URL": "https://a.example", "HOOX_API_TOKEN": "t2"})
    assert (cfg.base_url, cfg.source) == ("https://a.example", "HOOX_API_URL")

    # a remote without a token: the workspace's local key is never sent to another host
    with pytest.raises(HooxConfigError) as info:
        resolve_config("https://hoox.example.dev", environ={}, workspace=workspace)
    assert "HOOX_API_TOKEN" in str(info.value)
    # a loopback URL may use the workspace's key
    cfg = resolve_config("http://127.0.0.1:9999", environ={}, workspace=workspace)
    assert cfg.token == workspace.secrets()["OPERATOR_API_KEY"]

    cfg = resolve_config(None, environ={}, workspace=workspace)
    assert cfg.base_url == workspace.gateway_url() and cfg.source == "workspace"
    assert cfg.token == workspace.secrets()["OPERATOR_API_KEY"]

    from hoox_edge.local.workspace import Workspace

    with pytest.raises(HooxConfigError) as info:
        resolve_config(None, environ={}, workspace=Workspace(tmp_path / "nowhere"))
    assert "hoox dev start" in str(info.value) and "HOOX_API_URL" in str(info.value)
    with pytest.raises(HooxConfigError):
        resolve_config("ftp://x", environ={"HOOX_API_TOKEN": "t"})


def test_from_env_builds_both_clients(workspace: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOOX_API_URL", raising=False)
    monkeypatch.delenv("HOOX_API_TOKEN", raising=False)
    with HooxClient.from_env(workspace=workspace) as c:
        assert c.base_url == workspace.gateway_url()
    monkeypatch.setenv("HOOX_API_TOKEN", TOKEN)
    a = AsyncHooxClient.from_env("https://user:pw@hoox.example.dev")
    assert a.base_url == "https://hoox.example.dev" and TOKEN not in repr(a)  # no credentials shown


# ============================================================================ stream
def _collect(it: Iterator[Any], n: int) -> list[Any]:
    out = []
    for ev in it:
        out.append(ev)
        if len(out) == n:
            break
    return out


def test_stream_resumes_after_a_mid_stream_drop_without_gap_or_duplicate(edge: FakeEdge) -> None:
    edge.events = [_trade(i) for i in range(1, 21)]
    edge.stream_script = [{"send": 7, "end": "drop"}, {"send": 5, "end": "partial"}, {"send": None, "end": "hold"}]
    states: list[StreamState] = []
    c = client(edge)
    got = _collect(c.stream(["trades"], on_state=states.append), 20)

    assert [e.id for e in got] == list(range(1, 21))
    assert all(isinstance(e, TradeEvent) and e.symbol == "BTCUSDT" for e in got)
    assert got[0].request_id == "req-1" and got[0].price == 65001.0
    assert edge.last_event_ids == [None, "7", "12"]  # resumed after the last complete event
    assert [s.state for s in states] == ["connected", "reconnecting", "connected", "reconnecting", "connected"]
    assert [s.delay for s in states if s.state == "reconnecting"] == [1.0, 1.0]  # reset by each connection
    assert c._sleep == [1.0, 1.0]


def test_a_clean_end_of_stream_is_a_disconnect_too(edge: FakeEdge) -> None:
    edge.events = [_trade(i) for i in range(1, 7)]
    edge.stream_script = [{"send": 2, "end": "clean"}, {"send": 2, "end": "clean"}]
    c = client(edge)
    got = _collect(c.stream("trades", last_event_id=0), 6)
    assert [e.id for e in got] == [1, 2, 3, 4, 5, 6]
    assert edge.last_event_ids == ["0", "2", "4"]


def test_a_drop_before_the_first_event_resumes_from_where_the_stream_said_it_started(edge: FakeEdge) -> None:
    # Opened without Last-Event-ID, a stream starts after the newest event (9) and says so with
    # `id: 9`; events 10-12 are written while the client is cut off: it must still get them.
    edge.announce_start = True
    edge.events = [_trade(i) for i in range(1, 10)]
    edge.stream_script = [{"send": 0, "end": "drop"}, {"send": None, "end": "clean"}] + [{"status": 503}] * 3
    connections = 0

    def on_state(state: StreamState) -> None:
        nonlocal connections
        if state.state == "connected":
            connections += 1
            if connections == 1:
                edge.events.extend(_trade(i) for i in range(10, 13))

    c = client(edge)
    got = _collect(c.stream(["trades"], on_state=on_state, max_failures=3), 3)
    assert [e.id for e in got] == [10, 11, 12]
    assert edge.last_event_ids[:2] == [None, "9"]


def test_stream_backoff_grows_while_the_edge_refuses_and_resets_on_connect(edge: FakeEdge) -> None:
    edge.events = [_trade(i) for i in range(1, 4)]
    edge.stream_script = [{"status": 503}] * 6 + [{"send": 1, "end": "drop"}, {"status": 502}]
    c = client(edge)
    got = _collect(c.stream(["trades"], last_event_id=None), 3)
    assert [e.id for e in got] == [1, 2, 3]
    assert c._sleep == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 1.0, 2.0]


def test_stream_gives_up_after_max_failures_and_on_401(edge: FakeEdge) -> None:
    edge.stream_script = [{"status": 503}] * 4
    states: list[StreamState] = []
    c = client(edge)
    with pytest.raises(HooxApiError):
        list(c.stream(["trades"], on_state=states.append, max_failures=3))
    assert edge.hits["GET /v1/stream"] == 4 and states[-1].state == "failed"
    assert [s.attempt for s in states if s.state == "reconnecting"] == [1, 2, 3]

    def unauthorized(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json=_envelope(error={"code": "UNAUTHORIZED", "message": "no"}))

    c = HooxClient("http://edge.test", TOKEN, transport=httpx.MockTransport(unauthorized), sleep=Sleeps())
    with pytest.raises(HooxApiError) as info:
        next(iter(c.stream(["logs"])))
    assert info.value.status == 401 and c._sleep == []


def test_stream_events_are_typed_and_control_messages_are_not_events() -> None:
    log = {"type": "log", "id": 3, "createdAt": "t", "requestId": "r", "level": "warning", "worker": "hoox",
           "message": "signal refused", "details": {"x": 1}}
    text = "retry: 2000\n\n: ping\n\n" + _sse(log) + "id: 4\n\n" + _sse(_trade(5))

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["topics"] == "logs,trades"
        return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})

    c = HooxClient("http://edge.test", TOKEN, transport=httpx.MockTransport(handler), sleep=Sleeps())
    got = _collect(c.stream(["logs", "trades"]), 2)
    assert isinstance(got[0], LogEvent) and got[0].level == "warning" and got[0].worker == "hoox"
    assert got[0].details == {"x": 1} and got[0].id == 3
    assert isinstance(got[1], TradeEvent) and got[1].id == 5


async def test_async_stream_resumes_after_a_drop(edge: FakeEdge) -> None:
    edge.events = [_trade(i) for i in range(1, 11)]
    edge.stream_script = [{"send": 4, "end": "partial"}, {"send": 3, "end": "drop"}]
    sleeps = AsyncSleeps()
    async with AsyncHooxClient(edge.url, TOKEN, sleep=sleeps, rand=lambda: 0.0) as c:
        got = []
        stream = c.stream(["trades"])
        async for ev in stream:
            got.append(ev.id)
            if len(got) == 10:
                break
        await stream.aclose()
    assert got == list(range(1, 11))
    assert edge.last_event_ids == [None, "4", "7"] and sleeps == [1.0, 1.0]


# ============================================================================ the real gateway
class CutOnce:
    """ASGI wrapper: the first /v1/stream response dies after `after` events plus half of the next."""

    def __init__(self, app: Any, after: int) -> None:
        self.app, self.after, self.cut = app, after, False

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/stream" or self.cut:
            await self.app(scope, receive, send)
            return
        seen = 0

        async def cutting(message: dict) -> None:
            nonlocal seen
            if message["type"] == "http.response.body" and b"\nevent: " in message.get("body", b""):
                body: bytes = message["body"]
                pos = 0
                while (nxt := body.find(b"\n\n", pos)) >= 0:
                    if body[pos:nxt].startswith(b"id: "):
                        if seen == self.after:
                            self.cut = True
                            await send({**message, "body": body[: pos + (nxt - pos) // 2], "more_body": True})
                            raise ConnectionResetError("cut by the test")
                        seen += 1
                    pos = nxt + 2
            await send(message)

        await self.app(scope, receive, cutting)


async def test_client_reads_the_real_stream_across_a_cut_without_gap_or_duplicate(runtime: Any) -> None:
    from hoox_edge.shared import events, settings

    env = runtime.env("hoox")
    inner = runtime.app("hoox")  # the gateway, /v1/stream mounted
    await settings.put(env.CONFIG_KV, "webhooks:rate_limit_per_minute", 1000)
    start = await events.latest_id(env.DB)
    sent: list[str] = []

    async def sender() -> None:
        for i in range(40):
            r = await runtime.request("hoox", "POST", "/webhook", json={
                "apiKey": env.WEBHOOK_API_KEY, "exchange": "bybit", "symbol": "BTCUSDT", "quantity": 0.001,
                "action": "LONG" if i % 2 else "SHORT", "idempotencyKey": f"client-cut-{i}"})
            assert r.status == 200, r.json()
            sent.append(r.json()["requestId"])

    cutter = CutOnce(inner, after=25)
    states: list[StreamState] = []
    sleeps = AsyncSleeps()
    got: list[TradeEvent] = []
    # log_level: uvicorn would log the test's deliberate cut as an application error
    async with (serve(cutter, log_level="critical") as url,
                AsyncHooxClient(url, env.OPERATOR_API_KEY, sleep=sleeps) as client):
        task = asyncio.create_task(sender())
        stream = client.stream(["trades"], last_event_id=start, on_state=states.append)

        async def read() -> None:
            async for ev in stream:
                assert isinstance(ev, TradeEvent)
                got.append(ev)
                if sum(e.status == "Filled" for e in got) == 40:
                    return

        try:
            await asyncio.wait_for(read(), 30)
        finally:
            await stream.aclose()
        await task

    assert cutter.cut and [s.state for s in states][:3] == ["connected", "reconnecting", "connected"]
    ids = [e.id for e in got]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    expected = await events.read_after(env.DB, start, ["trade"], 1000, upto=ids[-1])
    assert ids == [e.id for e in expected]  # every trade event the ledger holds, none skipped
    assert [e.request_id for e in got if e.status == "Filled"] == sent


async def test_every_typed_method_parses_the_real_gateway(runtime: Any) -> None:
    from hoox_cli.core import models as m

    env = runtime.env("hoox")
    r = await runtime.request("hoox", "POST", "/webhook", json={
        "apiKey": env.WEBHOOK_API_KEY, "exchange": "bybit", "symbol": "BTCUSDT", "action": "LONG", "quantity": 0.01})
    assert r.status == 200, r.json()
    rid = r.json()["requestId"]
    token = env.OPERATOR_API_KEY
    async with serve(runtime.app("hoox")) as url, AsyncHooxClient(url, token) as c:
        st = await c.status()
        assert isinstance(st, m.StatusResult) and st.killSwitch.on is False and st.tradingMode == "paper"
        assert st.lastSignalAt is not None
        workers = await c.workers()
        assert [w.name for w in workers.items] == [w.name for w in catalog.WORKERS]
        tw = await c.worker("trade-worker")
        assert isinstance(tw, m.WorkerDetail) and tw.name == "trade-worker" and tw.recentLogs
        trades = await c.trades(limit=5, symbol="BTCUSDT")
        assert [t.requestId for t in trades.items] == [rid] and trades.items[0].status == "Filled"
        pos = await c.positions()
        assert [(p.symbol, p.side, p.size) for p in pos.items] == [("BTCUSDT", "LONG", 0.01)]
        stats = await c.stats()
        assert stats.tradeCount == 1 and stats.openPositions == 1
        logs = await c.logs(request_id=rid)
        assert logs.items and {x.requestId for x in logs.items} == {rid}

        put = await c.kv_put("trade:max_leverage", 20)
        assert put.value == 20 and put.source == "kv"
        assert (await c.kv_get("trade:max_leverage")).value == 20
        assert "trade:max_leverage" in [e.key for e in (await c.kv_list(prefix="trade:")).items]
        assert (await c.kv_delete("trade:max_leverage")).deleted is True
        with pytest.raises(HooxApiError) as bad:
            await c.kv_put("trade:max_leverage", "lots")
        assert bad.value.status == 400 and bad.value.code == "VALIDATION_ERROR"
        assert "trade:max_leverage" in str(bad.value)

        on = await c.set_kill_switch(True, "maintenance")
        assert on.on is True and on.eventId is not None
        assert (await c.kill_switch()).reason == "maintenance"
        assert (await c.set_kill_switch(False)).on is False

        queues = await c.queues()
        assert isinstance(queues, m.QueuesResult) and queues.deadLetters.count == 0
        with pytest.raises(HooxApiError) as missing:
            await c.replay_dead_letter("no-such-message")
        assert missing.value.status == 404 and missing.value.code == "NOT_FOUND"

        q = await c.db_query("SELECT request_id FROM trades WHERE request_id = ?", [rid])
        assert q.rows == [{"request_id": rid}] and q.rowCount == 1
        with pytest.raises(HooxApiError) as write:
            await c.db_query("DELETE FROM trades")
        assert write.value.status == 400
        assert (await c.health())["status"] in ("ok", "degraded")

        # the sync client, from a thread (this loop serves the gateway)
        def sync_calls() -> tuple[Any, Any]:
            with HooxClient(url, token) as sc:
                return sc.status(), sc.trades(limit=1)

        sst, strades = await asyncio.to_thread(sync_calls)
        assert isinstance(sst, m.StatusResult) and strades.items[0].requestId == rid

    async with serve(runtime.app("hoox")) as url, AsyncHooxClient(url, "not-the-token") as c:
        with pytest.raises(HooxApiError) as denied:
            await c.status()
        assert denied.value.status == 401 and denied.value.code == "UNAUTHORIZED"


# ============================================================================ orders, flatten, books
def test_order_actions_wait_longer_and_a_timed_out_write_says_it_may_still_act() -> None:
    seen: list[float] = []

    def hang(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"]["read"])
        raise httpx.ReadTimeout("timed out", request=request)

    c = HooxClient("http://edge.test", TOKEN, transport=httpx.MockTransport(hang), sleep=Sleeps())
    with pytest.raises(HooxConnectionError) as info:
        c.flatten(mode="all")
    assert "within 65 s" in str(info.value) and "may still take effect" in str(info.value)
    for call in (lambda: c.cancel_order("r-1"), lambda: c.set_kill_switch(True, "x", flatten=True),
                 lambda: c.set_kill_switch(True, "x"), lambda: c.orders()):
        with pytest.raises(HooxConnectionError):
            call()
    assert seen == [65.0, 65.0, 65.0, 10.0, 10.0, 10.0, 10.0, 10.0]  # the GET is retried (3 retries)

