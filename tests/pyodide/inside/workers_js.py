"""A worker as Cloudflare runs it, for the tests in Pyodide: its `edge/<worker>/entry.py` module, the
JS objects the runtime hands it (env values, `ctx`, a `Request`), the gateway's bindings, and reading
a streamed body."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import js  # type: ignore[import-not-found]
from harness_plugin import fresh_bindings
from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]

EDGE = Path("/hoox/edge")


def entry(package_dir: str) -> Any:
    """`edge/<package_dir>/entry.py`, imported as Cloudflare imports it."""
    spec = importlib.util.spec_from_file_location(f"entry_{package_dir.replace('-', '_')}",
                                                  EDGE / package_dir / "entry.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gateway_bindings(**services: Callable[[Any], Any]) -> Any:
    """An empty Miniflare with the gateway's bindings: D1 `DB`, KV `CONFIG_KV` and `SESSIONS_KV`, the
    `TRADE_QUEUE` producer and the service bindings `TRADE_SERVICE` and `AGENT_SERVICE`, each served
    by the callable given (one a test leaves out answers 503). One layout for every test of the
    gateway, so they share one running Miniflare (tests/pyodide/runner.mjs)."""
    def unused(req: Any) -> Any:
        return js.Response.new("this service is not wired in this test", js_object({"status": 503}))

    served = {name: create_proxy(services.get(name, unused)) for name in ("TRADE_SERVICE", "AGENT_SERVICE")}
    return fresh_bindings(d1Databases=["DB"], kvNamespaces=["CONFIG_KV", "SESSIONS_KV"],
                          queueProducers={"TRADE_QUEUE": {"queueName": "trade-execution"}}, services=served)


def js_object(values: dict[str, Any]) -> Any:
    return to_js(values, dict_converter=js.Object.fromEntries)


def ctx() -> Any:
    return js_object({"waitUntil": create_proxy(lambda p: None),
                      "passThroughOnException": create_proxy(lambda: None)})


def request(path: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None) -> Any:
    init: dict[str, Any] = {"method": method, "headers": js_object(headers or {})}
    if body is not None:
        init["body"] = json.dumps(body)
    return js.Request.new("https://hoox.example" + path, js_object(init))


async def body_chunks(response: Any) -> list[str]:
    """A JS Response's body as the chunks its reader gave, decoded."""
    reader = response.body.getReader()
    decoder = js.TextDecoder.new()
    chunks: list[str] = []
    while not (chunk := await reader.read()).done:
        chunks.append(decoder.decode(chunk.value, js_object({"stream": True})))
    return chunks
