"""Python <-> JS value conversion for the Cloudflare adapters.

On Cloudflare (Pyodide) values cross with `pyodide.ffi.to_js` / `JsProxy.to_py`; the adapters
reach the raw JS binding objects (the runtime SDK's own wrappers are removed by `unwrap`), so the
conversion is the same whatever SDK version the runtime bundles. In CPython there is no JS:
values pass unchanged, which is what the tests' fake bindings expect.
"""

from __future__ import annotations

import datetime as _dt
import inspect
from typing import Any

_UNSET = object()
_ffi: Any = _UNSET


def _pyodide() -> Any:
    """`pyodide.ffi` with `js.Object`, or None outside Pyodide (imported once, lazily)."""
    global _ffi
    if _ffi is _UNSET:
        try:
            import js
            import pyodide.ffi as ffi

            _ffi = (ffi, js)
        except ImportError:
            _ffi = None
    return _ffi


def is_null(value: Any) -> bool:
    """JS `null`/`undefined` as Python sees them: None, or Pyodide's `jsnull` sentinel."""
    return value is None or type(value).__name__ == "JsNull"


def is_js_error(exc: BaseException) -> bool:
    """An exception thrown by JS code (Pyodide's `JsException`)."""
    return type(exc).__name__ == "JsException"


def js_error(message: str) -> Any:
    """A JS `Error` (a reason to cancel a stream with); a Python exception outside Pyodide."""
    env = _pyodide()
    return RuntimeError(message) if env is None else env[1].Error.new(message)


def js_error_message(exc: BaseException) -> str:
    msg = getattr(exc, "message", None)
    return str(msg) if msg else str(exc)


def unwrap(obj: Any) -> Any:
    """The raw JS object under the runtime SDK's Python wrappers (env, bindings, DO context, request)."""
    for attr in ("_env", "_binding", "_ctx", "js_object"):
        try:
            inner = object.__getattribute__(obj, attr) if not _is_jsproxy(obj) else None
        except AttributeError:
            inner = None
        if inner is not None:
            return unwrap(inner)
    return obj


def _is_jsproxy(obj: Any) -> bool:
    env = _pyodide()
    if env is not None:
        return isinstance(obj, env[0].JsProxy)
    return type(obj).__name__.startswith("Js") and hasattr(type(obj), "to_py")


def js_function(fn: Any) -> tuple[Any, Any]:
    """`fn` as a JS function that outlives this call, and how to release it (no-op outside Pyodide)."""
    env = _pyodide()
    if env is None:
        return fn, lambda: None
    proxy = env[0].create_proxy(fn)
    return proxy, proxy.destroy


def to_py(value: Any) -> Any:
    """A JS value as plain Python: objects -> dict, arrays -> list, null/undefined -> None."""
    if is_null(value):
        return None
    if _is_jsproxy(value) or (not isinstance(value, (dict, list, tuple, str, bytes)) and callable(
            getattr(type(value), "to_py", None))):
        value = value.to_py()
    if isinstance(value, dict):
        return {k: to_py(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_py(v) for v in value]
    return value


def _nulls(value: Any, null: Any) -> Any:
    if value is None:
        return null
    if isinstance(value, dict):
        return {k: _nulls(v, null) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nulls(v, null) for v in value]
    return value


def to_js(value: Any) -> Any:
    """A Python value as JS: dicts become plain objects, None becomes `null`, bytes a Uint8Array."""
    env = _pyodide()
    if env is None:
        return value
    ffi, js = env
    null = getattr(ffi, "jsnull", None)
    if value is None:
        return null
    if _is_jsproxy(value):
        return value
    return ffi.to_js(_nulls(value, null), dict_converter=js.Object.fromEntries)


def options(**kw: Any) -> Any:
    """A JS options object from snake_case keywords (None values left out): camelCase keys."""
    return to_js({camel(k): v for k, v in kw.items() if v is not None})


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def py_bytes(buf: Any) -> bytes:
    """An ArrayBuffer / Uint8Array (or Python bytes-like) as bytes."""
    if is_null(buf):
        return b""
    if isinstance(buf, (bytes, bytearray, memoryview)):
        return bytes(buf)
    if hasattr(buf, "to_bytes"):
        return bytes(buf.to_bytes())
    return bytes(to_py(buf))


def epoch_seconds(value: Any) -> float | None:
    """A JS Date (or a datetime, or epoch milliseconds) as epoch seconds."""
    if is_null(value):
        return None
    if isinstance(value, _dt.datetime):
        return value.timestamp()
    if hasattr(value, "getTime"):
        return float(value.getTime()) / 1000
    return float(value) / 1000


async def resolve(value: Any) -> Any:
    """Await a JS promise (or a coroutine); plain values pass through."""
    while inspect.isawaitable(value):
        value = await value
    return value
