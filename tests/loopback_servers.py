"""Loopback servers the Pyodide run reaches through the runtime's `fetch` (Pyodide cannot serve): a small
Starlette app (echo, status codes, held and stalled answers, a 6 MB body, redirects, gzip, cookies) and
the fake Binance, served from one event loop in a thread while the test blocks on the Pyodide run."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import random
import socket
import threading
from collections.abc import AsyncIterator

import uvicorn
from fake_exchanges.binance import FakeBinance
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

BIG = random.Random(10).randbytes(6 * 1024 * 1024 + 123)  # no repeating pattern: a reordered chunk shows
BIG_CHUNK = 64 * 1024


class Gate:
    """Holds answers back until the test opens it (no fixed sleep longer than needed)."""

    def __init__(self) -> None:
        self.held: list[asyncio.Event] = []

    async def wait(self) -> None:
        event = asyncio.Event()
        self.held.append(event)
        with contextlib.suppress(TimeoutError):  # a forgotten answer still ends
            await asyncio.wait_for(event.wait(), 60)

    def open(self) -> None:
        for event in self.held:
            event.set()
        self.held.clear()


def make_app(gate: Gate) -> Starlette:
    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse({"method": request.method, "path": request.url.path, "query": request.url.query,
                             "headers": [[k.decode(), v.decode()] for k, v in request.headers.raw],
                             "body": body.decode("utf-8", "replace")},
                            headers={"X-Echo": "yes"})

    async def status(request: Request) -> JSONResponse:
        code = int(request.path_params["code"])
        return JSONResponse({"error": f"status {code}"}, status_code=code)

    async def slow(request: Request) -> JSONResponse:
        await gate.wait()  # until the client has given up and asked for /release
        return JSONResponse({"late": True})

    async def stall(request: Request) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first part;"
            await gate.wait()
            yield b"too late"
        return StreamingResponse(chunks(), media_type="text/plain")

    async def release(request: Request) -> JSONResponse:
        gate.open()
        return JSONResponse({"released": True})

    async def big(request: Request) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(BIG), BIG_CHUNK):
                yield BIG[i:i + BIG_CHUNK]
        return StreamingResponse(chunks(), media_type="application/octet-stream")

    async def redirect(request: Request) -> RedirectResponse:
        return RedirectResponse("/echo?from=redirect", status_code=302)

    async def gzipped(request: Request) -> Response:
        raw = json.dumps({"compressed": True, "pad": "x" * 2000}).encode()
        return Response(gzip.compress(raw), media_type="application/json", headers={"Content-Encoding": "gzip"})

    async def cookies(request: Request) -> Response:
        resp = Response("ok")
        resp.set_cookie("a", "1")
        resp.set_cookie("b", "2")
        return resp

    return Starlette(routes=[
        Route("/echo", echo, methods=["GET", "POST", "PUT"]),
        Route("/status/{code}", status),
        Route("/slow/{rest:path}", slow, methods=["GET", "POST"]),
        Route("/stall", stall),
        Route("/release", release),
        Route("/big", big),
        Route("/redirect", redirect),
        Route("/gzip", gzipped),
        Route("/cookies", cookies),
    ])


class LoopbackServers:
    """The app and the fake Binance served from one event loop in a thread (the test itself blocks
    on the Pyodide run)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.url = ""
        self.fake = FakeBinance()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="loopback-servers", daemon=True)

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as e:  # surfaced by start()
            self.error = e
            self.ready.set()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        gate = Gate()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        server = uvicorn.Server(uvicorn.Config(make_app(gate), log_level="warning", lifespan="off",
                                               access_log=False, timeout_graceful_shutdown=2))
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        await self.fake.start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.ready.set()
        await self._stop.wait()
        gate.open()  # an answer still held ends now, so the server can stop
        await self.fake.stop()
        server.should_exit = True
        await task
        sock.close()

    def start(self) -> LoopbackServers:
        self._thread.start()
        self.ready.wait(15)
        if self.error is not None:
            raise self.error
        if not self.url:
            raise RuntimeError("the loopback servers did not start")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
