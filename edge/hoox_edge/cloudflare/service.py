"""Service binding adapter: `env.X_SERVICE` (a Cloudflare `Fetcher`) behind the `Fetcher` port.

The request goes to `https://<target-worker><path>` (the host means nothing to a service binding;
it only makes the URL valid and readable in the callee's logs). A `timeout` makes the caller stop
waiting with `TimeoutError`, as in the local runtime; the callee runs on. `stream` hands the answer
over once its status and headers are in and reads the body's ReadableStream chunk by chunk; closing
it early cancels that stream, which the callee sees as its client going (its next write fails).
"""

from __future__ import annotations

import asyncio
import contextlib
import json as _json
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, TypeVar

from hoox_edge.cloudflare._js import (
    is_js_error,
    is_null,
    js_error,
    js_error_message,
    options,
    py_bytes,
    resolve,
    to_js,
    to_py,
)
from hoox_edge.ports import JSONValue, ServiceResponse, ServiceStream

_T = TypeVar("_T")


def _headers(js_headers: Any) -> dict[str, str]:
    if isinstance(js_headers, Mapping):
        return {str(k).lower(): str(v) for k, v in js_headers.items()}
    return {str(k).lower(): str(v) for k, v in (to_py(p) for p in js_headers.entries())}


def _rooted(path: str) -> str:
    return path if path.startswith("/") else "/" + path


class CloudflareService:
    def __init__(self, js_fetcher: Any, target: str) -> None:
        self._js = js_fetcher
        self.target = target

    def _call(self, method: str, path: str, json: JSONValue, body: bytes | None,
              headers: Mapping[str, str] | None) -> Awaitable[Any]:
        """The JS Response, once its status and headers are in."""
        if json is not None and body is not None:
            raise ValueError("pass json or body, not both")
        hdrs = {k.lower(): v for k, v in (headers or {}).items()}
        payload: Any = None
        if json is not None:
            payload = _json.dumps(json)
            hdrs.setdefault("content-type", "application/json")
        elif body:
            payload = to_js(bytes(body))
        init = options(method=method.upper(), headers=hdrs, body=payload)
        return resolve(self._js.fetch(f"https://{self.target}{path}", init))

    async def _within(self, call: Awaitable[_T], timeout: float | None, method: str, path: str) -> _T:
        if timeout is None:
            return await call
        try:
            return await asyncio.wait_for(call, timeout)
        except TimeoutError:
            msg = f"{method.upper()} {path} on {self.target} did not answer within {timeout:g} s"
            raise TimeoutError(msg) from None

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
        path = _rooted(path)

        async def whole() -> ServiceResponse:
            resp = await self._call(method, path, json, body, headers)
            data = py_bytes(await resolve(resp.arrayBuffer()))
            return ServiceResponse(status=int(resp.status), headers=_headers(resp.headers), body=data)

        return await self._within(whole(), timeout, method, path)

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
        path = _rooted(path)
        resp = await self._within(self._call(method, path, json, body, headers), timeout, method, path)
        js_body = resp.body
        # The body's ReadableStream, read chunk by chunk (the runtime SDK's FetchResponse.body is this
        # same stream); null for a response without a body.
        reader = None if is_null(js_body) else js_body.getReader()
        where = f"{method.upper()} {path} on {self.target}"

        async def chunks() -> AsyncIterator[bytes]:
            while reader is not None:
                try:
                    result = await resolve(reader.read())
                except Exception as exc:
                    if not is_js_error(exc):
                        raise
                    raise ConnectionError(f"{where}: the answer broke off ({js_error_message(exc)})") from None
                if result.done:
                    return
                chunk = py_bytes(result.value)
                if chunk:
                    yield chunk

        async def close() -> None:
            if reader is not None:
                # With a reason: a cancel without one rejects the callee's next write with `undefined`,
                # which Pyodide cannot raise in the callee ("invalid exception object").
                with contextlib.suppress(Exception):  # already ended or errored: nothing left to cancel
                    await resolve(reader.cancel(js_error(f"the caller of {where} closed the stream")))

        return ServiceStream(int(resp.status), _headers(resp.headers), chunks(), close)

    def __repr__(self) -> str:
        return f"CloudflareService({self.target!r})"
