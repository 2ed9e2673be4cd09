"""Service bindings: an in-process ASGI call into another worker's app (no TCP), like Cloudflare.

The callee gets its own Env in `scope["env"]`. With a `timeout` the caller gets `TimeoutError`
while the callee runs on to completion (a Cloudflare callee is not cancelled when its caller stops
waiting either). An exception that the callee's framework re-raises after it has sent its 500
(Starlette does) stays on the callee's side: the caller gets the response, as over the network.
`stream` hands the answer over at `http.response.start` and its body chunk by chunk as the callee
sends it; a caller that closes it early is a client that went (`http.disconnect`).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json as _json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from hoox_edge.ports import Env, JSONValue, ServiceResponse, ServiceStream
from hoox_edge.shared.errors import INTERNAL_ERROR, error_body

_py = logging.getLogger("hoox.local")

ASGIApp = Callable[..., Any]

# Calls still running after their caller timed out; kept referenced so they finish, and awaited by
# the runtime on stop.
_background: set[asyncio.Task] = set()
# In-process ASGI calls by target and path, for bench/pipeline_bench.py (one increment per call).
HOPS: collections.Counter[str] = collections.Counter()
_ASGI = {"version": "3.0", "spec_version": "2.3"}


@functools.lru_cache(maxsize=1024)
def _split(path: str) -> tuple[str, bytes]:
    """A call's path and query string (remembered: a worker calls a few paths over and over)."""
    parts = urlsplit(path if path.startswith("/") else "/" + path)
    return parts.path, parts.query.encode("latin-1")


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class ServiceUnavailable(ConnectionError):
    """The target worker does not run in this local runtime."""


def background_tasks() -> set[asyncio.Task]:
    return _background


class _Exchange:
    """One in-process ASGI call: the request as the callee receives it, the answer as it is sent.

    The callee sees `http.disconnect` once its answer is complete, or as soon as the caller of a
    stream goes (`leave`); a write after that fails with OSError, as a write to a closed connection.
    """

    def __init__(self, app: ASGIApp, env: Env | None, method: str, path: str, *, json: JSONValue,
                 body: bytes | None, headers: Mapping[str, str] | None, host: str,
                 client: tuple[str, int]) -> None:
        if json is not None and body is not None:
            raise ValueError("pass json or body, not both")
        hdrs = {k.lower(): v for k, v in headers.items()} if headers else {}
        if json is not None:
            body = _json.dumps(json).encode("utf-8")
            hdrs.setdefault("content-type", "application/json")
        self._body = body or b""
        hdrs.setdefault("host", host)
        if self._body:
            hdrs["content-length"] = str(len(self._body))
        target, query = _split(path)
        HOPS[host + target] += 1
        self.method, self.path = method.upper(), target
        self.scope: dict[str, Any] = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": "1.1",
            "method": self.method,
            "scheme": "http",
            "path": target,
            "raw_path": target.encode("utf-8"),
            "query_string": query,
            "root_path": "",
            "headers": [(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in hdrs.items()],
            "client": client,
            "server": (host, 80),
            "state": {},
        }
        if env is not None:
            self.scope["env"] = env
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        # The body as sent (None: its end), and a future for a stream's reader waiting on it: a call
        # that is collected whole needs no queue and no events (a hop is on every signal's path).
        self.chunks: collections.deque[bytes | None] = collections.deque()
        self._news: asyncio.Future[None] | None = None  # woken on the start and on each chunk
        self._over = False  # the answer is complete, or its caller went
        self._over_waiters: list[asyncio.Future[None]] = []  # a callee's `receive` after its body
        self._body_sent = False
        self._app = app
        self.task: asyncio.Task[None] | None = None  # set by `start`; a call awaited inline has none
        self._ended: asyncio.Future[None] | None = None  # a caller waiting in `ended_within`

    def _wake(self) -> None:
        if self._news is not None:
            _release(self._news)
            self._news = None

    async def news(self) -> None:
        """Until the callee sends something more (or ends)."""
        if self._news is None or self._news.done():  # done: cancelled with a reader that gave up
            self._news = asyncio.get_running_loop().create_future()
        await self._news

    def _end(self) -> None:
        self._over = True
        for fut in self._over_waiters:
            _release(fut)
        self._over_waiters = []

    async def _receive(self) -> dict[str, Any]:
        if not self._body_sent:
            self._body_sent = True
            return {"type": "http.request", "body": self._body, "more_body": False}
        if not self._over:
            fut = asyncio.get_running_loop().create_future()
            self._over_waiters.append(fut)
            await fut
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        if self._over:  # as ASGI 2.4 servers do, and as a write to a cancelled stream fails on Cloudflare
            raise OSError(f"{self.method} {self.path}: the caller has closed the stream")
        if message["type"] == "http.response.start":
            for k, v in message.get("headers", ()):
                name = k.decode("latin-1").lower()
                val = v.decode("latin-1")
                self.headers[name] = f"{self.headers[name]}, {val}" if name in self.headers else val
            self.status = message["status"]
            self._wake()
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self._end()
            self._wake()

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers = status, headers
        self.chunks.append(body)

    def start(self) -> asyncio.Task[None]:
        """Run the callee as a task of its own (it can then outlive its caller)."""
        self.task = asyncio.create_task(self.run())
        return self.task

    async def run(self) -> None:
        try:
            await self._app(self.scope, self._receive, self._send)
        except Exception as exc:
            if self.status is None:
                _py.error("%s %s: the worker raised %s before answering", self.method, self.path,
                          type(exc).__name__)
                payload = error_body(INTERNAL_ERROR, f"Internal error ({type(exc).__name__}).", None)
                self._answer(500, {"content-type": "application/json"}, _json.dumps(payload).encode("utf-8"))
            else:
                # Starlette re-raises after sending its 500: that is the callee's business, not the caller's
                _py.debug("callee re-raised %s after answering %s", type(exc).__name__, self.status)
        finally:
            if self.status is None:
                self._answer(500, {}, b"worker returned no response")
            self.chunks.append(None)
            self._end()
            self._wake()
            if self._ended is not None:
                _release(self._ended)

    async def ended_within(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the callee started by `start`, which runs on either way (a
        timeout or a cancelled caller leaves it running, as `wait_for` of a `shield` would, with
        two futures and loop hops less); whether it has ended. `run` wakes the caller itself: no
        done callback on the task."""
        assert self.task is not None
        if self.task.done():
            return True
        loop = self.task.get_loop()
        self._ended = ended = loop.create_future()
        timer = loop.call_later(timeout, _release, ended)
        try:
            await ended
        finally:
            timer.cancel()
            self._ended = None
        return self.task.done()

    def _run_on(self) -> None:
        """The callee runs on to its end without its caller, kept referenced (the runtime awaits it on stop)."""
        if self.task is not None and not self.task.done():
            _background.add(self.task)
            self.task.add_done_callback(_background.discard)

    def leave(self) -> None:
        """The caller goes: the callee sees a disconnect."""
        self._end()
        self._run_on()

    def timed_out(self, timeout: float) -> TimeoutError:
        self._run_on()
        return TimeoutError(f"{self.method} {self.path} did not answer within {timeout:g} s")

    def body(self) -> bytes:
        """What the callee sent, once it has ended."""
        chunks = self.chunks
        if len(chunks) == 2:  # one body message and the end: the common case, no join
            return chunks[0] or b""
        return b"".join(c for c in chunks if c is not None)


async def asgi_call(
    app: ASGIApp,
    env: Env | None,
    method: str,
    path: str,
    *,
    json: JSONValue = None,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    host: str = "localhost",
    client: tuple[str, int] = ("127.0.0.1", 0),
    timeout: float | None = None,
) -> ServiceResponse:
    """Call an ASGI app once and collect its whole response."""
    call = _Exchange(app, env, method, path, json=json, body=body, headers=headers, host=host, client=client)
    if timeout is None:
        await call.run()  # inline: a caller cancelled cancels its callee
    else:
        task = call.start()
        if not await call.ended_within(timeout):
            raise call.timed_out(timeout)
        task.result()  # done: what it raised past `run` (a cancelled callee), if anything
    assert call.status is not None
    return ServiceResponse(call.status, call.headers, call.body())


async def _started(call: _Exchange) -> None:
    while call.status is None:
        await call.news()


async def asgi_stream(
    app: ASGIApp,
    env: Env | None,
    method: str,
    path: str,
    *,
    json: JSONValue = None,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    host: str = "localhost",
    client: tuple[str, int] = ("127.0.0.1", 0),
    timeout: float | None = None,
) -> ServiceStream:
    """Call an ASGI app once; its answer once the status and headers are in, the body read as it is sent.

    Closing the stream before its end is the caller's disconnect (the callee's `receive` says so).
    """
    call = _Exchange(app, env, method, path, json=json, body=body, headers=headers, host=host, client=client)
    call.start()
    try:
        await asyncio.wait_for(_started(call), timeout)
    except TimeoutError:
        raise call.timed_out(timeout or 0) from None
    except asyncio.CancelledError:
        call.leave()
        raise
    assert call.status is not None

    async def chunks() -> AsyncIterator[bytes]:
        while True:
            while not call.chunks:
                await call.news()
            chunk = call.chunks.popleft()
            if chunk is None:
                return
            if chunk:
                yield chunk

    async def close() -> None:
        call.leave()

    return ServiceStream(call.status, call.headers, chunks(), close)


class LocalService:
    """A `Fetcher` to a worker of the local runtime; `resolve` gives (app, env) at call time."""

    def __init__(self, target: str, resolve: Callable[[], tuple[ASGIApp, Env]],
                 available: Callable[[], bool] = lambda: True) -> None:
        self.target = target
        self._resolve = resolve
        self._available = available

    def _target(self) -> tuple[ASGIApp, Env]:
        if not self._available():
            raise ServiceUnavailable(
                f"worker {self.target!r} is not running in this local runtime (enable it in hoox.toml)"
            )
        return self._resolve()

    async def fetch(
        self,
        method: str,
        path: str,
        *,
        json: JSONValue = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> ServiceResponse:
        app, env = self._target()
        return await asgi_call(app, env, method, path, json=json, body=body, headers=headers,
                               host=self.target, timeout=timeout)

    async def stream(
        self,
        method: str,
        path: str,
        *,
        json: JSONValue = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> ServiceStream:
        app, env = self._target()
        return await asgi_stream(app, env, method, path, json=json, body=body, headers=headers,
                                 host=self.target, timeout=timeout)

    def __repr__(self) -> str:
        return f"LocalService({self.target!r})"
