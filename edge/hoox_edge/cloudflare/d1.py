"""D1 adapter: `env.DB` (a Cloudflare `D1Database`) behind the `D1Database` port.

Bound values go over as JS values (None as `null`, bytes as a Uint8Array); results come back in
the port's shapes (`{"success", "results", "meta"}`), and a failed statement raises `D1Error`
with D1's own message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Iterator, Sequence
from typing import Any, TypeVar

from hoox_edge.cloudflare._js import is_js_error, js_error_message, resolve, to_js, to_py
from hoox_edge.ports import D1Error, D1ExecResult, D1Meta, D1Result

_META_KEYS = ("duration", "changes", "last_row_id", "rows_read", "rows_written", "changed_db")
T = TypeVar("T")


@contextlib.contextmanager
def _d1_errors() -> Iterator[None]:
    """A JS exception from D1 as `D1Error` with D1's message; anything else unchanged."""
    try:
        yield
    except Exception as exc:
        if is_js_error(exc):
            raise D1Error(js_error_message(exc)) from None
        raise


async def _call(awaitable: Awaitable[T] | Any) -> Any:
    with _d1_errors():
        return to_py(await resolve(awaitable))


def _result(raw: Any) -> D1Result:
    raw = raw or {}
    meta_in = raw.get("meta") or {}
    meta: D1Meta = {k: meta_in[k] for k in _META_KEYS if k in meta_in}  # type: ignore[assignment]
    rows = list(raw.get("results") or [])
    return {"success": bool(raw.get("success", True)), "results": rows, "meta": meta}


def _value(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return to_js(bytes(v))
    return to_js(v) if v is None else v


class CloudflareD1Statement:
    def __init__(self, js_stmt: Any) -> None:
        self._js = js_stmt

    def bind(self, *values: Any) -> CloudflareD1Statement:
        with _d1_errors():
            return CloudflareD1Statement(self._js.bind(*[_value(v) for v in values]))

    async def all(self) -> D1Result:
        return _result(await _call(self._js.all()))

    async def run(self) -> D1Result:
        return _result(await _call(self._js.run()))

    async def first(self, column: str | None = None) -> Any:
        if column is None:
            return await _call(self._js.first())
        return await _call(self._js.first(column))

    async def raw(self) -> list[list[Any]]:
        return list(await _call(self._js.raw()) or [])


class CloudflareD1:
    def __init__(self, js_db: Any) -> None:
        self._js = js_db

    def prepare(self, query: str) -> CloudflareD1Statement:
        with _d1_errors():
            return CloudflareD1Statement(self._js.prepare(query))

    async def batch(self, statements: Sequence[Any]) -> list[D1Result]:
        js_stmts = []
        for s in statements:
            if not isinstance(s, CloudflareD1Statement):
                raise D1Error("D1_ERROR: batch() takes statements prepared on this database")
            js_stmts.append(s._js)
        raw = await _call(self._js.batch(to_js(js_stmts)))
        return [_result(r) for r in raw or []]

    async def exec(self, query: str) -> D1ExecResult:
        raw = await _call(self._js.exec(query)) or {}
        return {"count": int(raw.get("count", 0)), "duration": float(raw.get("duration", 0.0))}

    def __repr__(self) -> str:
        return "CloudflareD1()"
