"""Service binding port: a call into another worker's app, its Env, timeouts and crashes, and an answer
read as a stream (chunk by chunk as the callee sends it; closing it early is the caller's disconnect)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterable

import pytest
from hoox_edge.ports import Env
from hoox_edge.shared.app import env_of, make_app
from hoox_edge.shared.errors import ApiError
from hoox_edge.shared.streaming import EventStreamResponse
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def callee():
    state = {"release": asyncio.Event(), "finished": False, "stream_ended": asyncio.Event(), "completed": False,
             "more": 0}

    async def echo(request: Request) -> JSONResponse:
        env = env_of(request)
        body = await request.json()
        return JSONResponse({"worker": env.worker,
                             "secret_present": env.get("INTERNAL_KEY_BINDING") is not None, "body": body,
                             "query": request.query_params.get("q"),
                             "header": request.headers.get("x-request-id")}, status_code=201)

    async def slow(request: Request) -> JSONResponse:
        await state["release"].wait()
        state["finished"] = True
        return JSONResponse({"late": True})

    async def crash(request: Request) -> JSONResponse:
        raise RuntimeError("callee bug")

    async def refuse(request: Request) -> JSONResponse:
        raise ApiError(401, "UNAUTHORIZED", "no key")

    async def tokens(request: Request) -> EventStreamResponse:
        async def lines() -> AsyncGenerator[str, None]:
            try:
                yield "data: one\n\n"
                await state["release"].wait()  # the second token waits until the test says so
                yield "data: two\n\n"
                for _ in range(state["more"]):  # a long answer, unless its caller went
                    yield "data: more\n\n"
                state["completed"] = True  # reached only once every write went through
            finally:
                state["stream_ended"].set()

        return EventStreamResponse(lines())

    app = make_app("callee", [Route("/echo", echo, methods=["POST"]), Route("/slow", slow),
                              Route("/crash", crash), Route("/refuse", refuse), Route("/tokens", tokens)])
    env = Env({"INTERNAL_KEY_BINDING": "k" * 32}, worker="callee", secret_names=["INTERNAL_KEY_BINDING"])
    return app, env, state


async def test_call_reaches_the_callee_with_its_env(adapters):
    app, env, _ = callee()
    svc = adapters.service(app, env)
    resp = await svc.fetch("POST", "/echo?q=1", json={"requestId": "r1"}, headers={"X-Request-Id": "r1"})
    assert resp.status == 201
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {"worker": "callee", "secret_present": True, "body": {"requestId": "r1"},
                           "query": "1", "header": "r1"}


async def test_error_envelopes_pass_through(adapters):
    app, env, _ = callee()
    resp = await adapters.service(app, env).fetch("GET", "/refuse")
    assert resp.status == 401 and resp.json()["error"]["code"] == "UNAUTHORIZED"
    missing = await adapters.service(app, env).fetch("GET", "/nowhere")
    assert missing.status == 404


async def test_a_crash_in_the_callee_is_a_500_not_an_exception(adapters):
    app, env, _ = callee()
    resp = await adapters.service(app, env).fetch("GET", "/crash")
    assert resp.status == 500
    assert resp.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "callee bug" not in resp.text()


async def test_timeout_raises_while_the_callee_runs_on(adapters):
    app, env, state = callee()
    with pytest.raises(TimeoutError):
        await adapters.service(app, env).fetch("GET", "/slow", timeout=0.05)
    assert state["finished"] is False
    state["release"].set()
    await adapters.settle()
    assert state["finished"] is True


async def _read_until(chunks: AsyncIterable[bytes], wanted: bytes) -> bytes:
    """Chunks of a stream until `wanted` is in them (a runtime may split a write, never reorder it)."""
    got = b""
    async for chunk in chunks:
        got += chunk
        if wanted in got:
            break
    return got


async def test_a_stream_hands_over_each_chunk_as_the_callee_sends_it(adapters):
    app, env, state = callee()
    async with await adapters.service(app, env).stream("GET", "/tokens") as resp:
        assert resp.status == 200 and resp.headers["content-type"].startswith("text/event-stream")
        # The callee is still holding its second token: the first one came on its own.
        assert await asyncio.wait_for(_read_until(resp, b"data: one\n\n"), 10) == b"data: one\n\n"
        state["release"].set()
        assert await resp.read() == b"data: two\n\n"
    assert state["stream_ended"].is_set() and state["completed"] is True


@pytest.mark.needs("stream_cancel")
async def test_closing_a_stream_early_ends_the_callees_answer(adapters):
    app, env, state = callee()
    resp = await adapters.service(app, env).stream("GET", "/tokens")
    await asyncio.wait_for(_read_until(resp, b"data: one\n\n"), 10)
    await resp.aclose()
    # The callee sees the disconnect at once, and a write after it fails: its answer ends there.
    state["more"] = 10_000
    state["release"].set()
    await asyncio.wait_for(state["stream_ended"].wait(), 10)
    assert state["completed"] is False
    await adapters.settle()


async def test_a_whole_answer_and_a_timeout_through_stream(adapters):
    app, env, state = callee()
    svc = adapters.service(app, env)
    resp = await svc.stream("POST", "/echo?q=2", json={"requestId": "r2"})
    assert resp.status == 201 and json.loads(await resp.read())["body"] == {"requestId": "r2"}
    with pytest.raises(TimeoutError):
        await svc.stream("GET", "/slow", timeout=0.05)
    state["release"].set()
    await adapters.settle()
    assert state["finished"] is True
