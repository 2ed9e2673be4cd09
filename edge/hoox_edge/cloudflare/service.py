"""Service binding adapter: `env.X_SERVICE` (a Cloudflare `Fetcher`) behind the `Fetcher` port.

The request goes to `https://<target-worker><path>` (the host means nothing to a service binding;
it only makes the URL valid and readable in the callee's logs). A `timeout` makes the caller stop
waiting with `TimeoutError`, as in the local runtime; the callee runs on.
"""

from __future__ import annotations

import asyncio
import json as _json
from collections.abc import Mapping
from typing import Any

from hoox_edge.cloudflare._js import options, py_bytes, resolve, to_js, to_py
from hoox_edge.ports import JSONValue, ServiceResponse


def _headers(js_headers: Any) -> dict[str, str]:
    if isinstance(js_headers, Mapping):
        return {str(k).lower(): str(v) for k, v in js_headers.items()}
    return {str(k).lower(): str(v) for k, v in (to_py(p) for p in js_headers.entries())}


class CloudflareService:
    def __init__(self, js_fetcher: Any, target: str) -> None:
        self._js = js_fetcher
        self.target = target

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
        if json is not None and body is not None:
            raise ValueError("pass json or body, not both")
        hdrs = {k.lower(): v for k, v in (headers or {}).items()}
        payload: Any = None
        if json is not None:
            payload = _json.dumps(json)
            hdrs.setdefault("content-type", "application/json")
        elif body:
            payload = to_js(bytes(body))
        if not path.startswith("/"):
            path = "/" + path
        init = options(method=method.upper(), headers=hdrs, body=payload)

        async def call() -> ServiceResponse:
            resp = await resolve(self._js.fetch(f"https://{self.target}{path}", init))
            data = py_bytes(await resolve(resp.arrayBuffer()))
            return ServiceResponse(status=int(resp.status), headers=_headers(resp.headers), body=data)

        if timeout is None:
            return await call()
        try:
            return await asyncio.wait_for(call(), timeout)
        except TimeoutError:
            msg = f"{method.upper()} {path} on {self.target} did not answer within {timeout:g} s"
            raise TimeoutError(msg) from None

    def __repr__(self) -> str:
        return f"CloudflareService({self.target!r})"
