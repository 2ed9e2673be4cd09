"""Service binding port: a call into another worker's app, its Env, timeouts and crashes."""

from __future__ import annotations

import asyncio

import pytest
from hoox_edge.ports import Env
from hoox_edge.shared.app import env_of, make_app
from hoox_edge.shared.errors import ApiError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def callee():
    state = {"release": asyncio.Event(), "finished": False}

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

    app = make_app("callee", [Route("/echo", echo, methods=["POST"]), Route("/slow", slow),
                              Route("/crash", crash), Route("/refuse", refuse)])
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
