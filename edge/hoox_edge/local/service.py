"""Service bindings: an in-process ASGI call into another worker's app (no TCP), like Cloudflare.

The callee gets its own Env in `scope["env"]`. With a `timeout` the caller gets `TimeoutError`
while the callee runs on to completion (a Cloudflare callee is not cancelled when its caller stops
waiting either). An exception that the callee's framework re-raises after it has sent its 500
(Starlette does) stays on the callee's side: the caller gets the response, as over the network.
"""

from __future__ import annotations

import asyncio
import collections
import json as _json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from hoox_edge.ports import Env, JSONValue, ServiceResponse
from hoox_edge.shared.errors import INTERNAL_ERROR, error_body

_py = logging.getLogger("hoox.local")

ASGIApp = Callable[..., Any]

# Calls still running after their caller timed out; kept referenced so they finish, and awaited by
# the runtime on stop.
_background: set[asyncio.Task] = set()
# In-process ASGI calls by target and path, for bench/pipeline_bench.py (one increment per call).
HOPS: collections.Counter[str] = collections.Counter()


class ServiceUnavailable(ConnectionError):
    """The target worker does not run in this local runtime."""


def background_tasks() -> set[asyncio.Task]:
    return _background


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
    if json is not None and body is not None:
        raise ValueError("pass json or body, not both")
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    if json is not None:
        body = _json.dumps(json).encode("utf-8")
        hdrs.setdefault("content-type", "application/json")
    body = body or b""
    hdrs.setdefault("host", host)
    if body:
        hdrs["content-length"] = str(len(body))
    parts = urlsplit(path if path.startswith("/") else "/" + path)
    HOPS[f"{host}{parts.path}"] += 1
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": "http",
        "path": parts.path,
        "raw_path": parts.path.encode("utf-8"),
        "query_string": parts.query.encode("latin-1"),
        "root_path": "",
        "headers": [(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in hdrs.items()],
        "client": client,
        "server": (host, 80),
        "state": {},
    }
    if env is not None:
        scope["env"] = env

    done = asyncio.Event()
    sent_body = False
    status: list[int] = []
    resp_headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()  # a disconnect only once the response is complete
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
            for k, v in message.get("headers", []):
                name = k.decode("latin-1").lower()
                val = v.decode("latin-1")
                resp_headers[name] = f"{resp_headers[name]}, {val}" if name in resp_headers else val
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    async def run() -> ServiceResponse:
        try:
            await app(scope, receive, send)
        except Exception as exc:
            if not status:
                _py.error("%s %s: the worker raised %s before answering", method, parts.path,
                          type(exc).__name__)
                payload = error_body(INTERNAL_ERROR, f"Internal error ({type(exc).__name__}).", None)
                return ServiceResponse(500, {"content-type": "application/json"},
                                       _json.dumps(payload).encode("utf-8"))
            # Starlette re-raises after sending its 500: that is the callee's business, not the caller's
            _py.debug("callee re-raised %s after answering %s", type(exc).__name__, status[0])
        finally:
            done.set()
        if not status:
            return ServiceResponse(500, {}, b"worker returned no response")
        return ServiceResponse(status[0], resp_headers, b"".join(chunks))

    if timeout is None:
        return await run()
    task = asyncio.ensure_future(run())
    try:
        return await asyncio.wait_for(asyncio.shield(task), timeout)
    except TimeoutError:
        _background.add(task)
        task.add_done_callback(_background.discard)
        raise TimeoutError(f"{method.upper()} {parts.path} did not answer within {timeout:g} s") from None


class LocalService:
    """A `Fetcher` to a worker of the local runtime; `resolve` gives (app, env) at call time."""

    def __init__(self, target: str, resolve: Callable[[], tuple[ASGIApp, Env]],
                 available: Callable[[], bool] = lambda: True) -> None:
        self.target = target
        self._resolve = resolve
        self._available = available

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
        if not self._available():
            raise ServiceUnavailable(
                f"worker {self.target!r} is not running in this local runtime (enable it in hoox.toml)"
            )
        app, env = self._resolve()
        return await asgi_call(app, env, method, path, json=json, body=body, headers=headers,
                               host=self.target, timeout=timeout)

    def __repr__(self) -> str:
        return f"LocalService({self.target!r})"
