"""Durable Object adapters: namespaces and stubs (caller side), state/storage/SQL (object side).

RPC wire format (both ends are in this package): a stub calls the object's method with one
argument `{"args": [...], "kwargs": {...}}` and gets back `{"ok": true, "value": ...}` or
`{"ok": false, "errorType": ..., "message": ...}`. Keyword arguments and None survive the JS
boundary that way, and the caller sees the object's failure as `DurableObjectError`, as in the
local runtime (the caller cannot catch the object's own exception types on Cloudflare either).
Arguments and results must be JSON values (TypeError otherwise, as locally): they are checked and
copied here, so no PyProxy of a value RPC cannot clone is handed to JS.

Object side (`ObjectHost`), the same promises as the local runtime: one call (or alarm) at a time
per object, and each call atomic — it runs inside `ctx.storage.transaction(async …)`, which on
SQLite-backed objects covers SQL, key-value entries and the alarm and rolls all of them back when
the call raises (workerd also blocks other events while it runs). `deleteAll()` cannot run inside a
transaction (workerd: "Cannot call deleteAll() within a transaction"), so `delete_all` in a call
empties the storage inside the transaction (alarm, entries, tables: rolled back with a failing
call) and releases it with `deleteAll()` once the call has committed; the next call then gets a
new instance, as a fresh object, as in the local runtime.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from hoox_edge.cloudflare._js import (
    is_js_error,
    js_error_message,
    js_function,
    options,
    resolve,
    to_js,
    to_py,
    unwrap,
)
from hoox_edge.ports import (
    DurableObject,
    DurableObjectError,
    DurableObjectId,
    DurableObjectState,
    Env,
    check_list_limit,
    check_storage_entry,
)


def _json_copy(value: Any, what: str) -> Any:
    """A JSON value's copy (a tuple becomes a list), or TypeError as in the local runtime."""
    if value is None or type(value) in (str, int, bool):
        return value
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON-serialisable (it crosses the JS boundary): {exc}") from None


# --------------------------------------------------------------------------- caller side
def _object_id(js_id: Any, name: str | None = None) -> DurableObjectId:
    hex_id = str(js_id.toString())
    if name is None:
        n = getattr(js_id, "name", None)
        name = None if to_py(n) is None else str(n)
    return DurableObjectId(hex=hex_id, name=name)


class CloudflareDurableObjectStub:
    _js: Any  # set through __dict__ (every other attribute is an RPC method)
    id: DurableObjectId
    _class: str

    def __init__(self, js_stub: Any, object_id: DurableObjectId, class_name: str) -> None:
        self.__dict__.update(_js=js_stub, id=object_id, _class=class_name)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)

        async def rpc(*args: Any, **kwargs: Any) -> Any:
            call = _json_copy({"args": list(args), "kwargs": kwargs}, f"arguments of {self._class}.{method}")
            try:
                reply = to_py(await resolve(getattr(self._js, method)(to_js(call))))
            except Exception as exc:
                if is_js_error(exc):
                    raise DurableObjectError(self._class, method, "Error", js_error_message(exc)) from None
                raise
            if not isinstance(reply, dict) or "ok" not in reply:
                raise DurableObjectError(self._class, method, "ProtocolError",
                                         "the object did not answer in the hoox RPC format")
            if not reply["ok"] and reply.get("unserialisable"):
                raise TypeError(str(reply.get("message")))
            if not reply["ok"]:
                raise DurableObjectError(self._class, method, str(reply.get("errorType")),
                                         str(reply.get("message")))
            return reply.get("value")

        rpc.__name__ = method
        return rpc

    def __repr__(self) -> str:
        return f"DurableObjectStub({self._class}, {self.id.hex[:12]}…)"


class CloudflareDurableObjectNamespace:
    def __init__(self, js_ns: Any, class_name: str) -> None:
        self._js = js_ns
        self.class_name = class_name

    def id_from_name(self, name: str) -> DurableObjectId:
        return _object_id(self._js.idFromName(name), name)

    def get(self, object_id: DurableObjectId) -> CloudflareDurableObjectStub:
        ns = self._js
        js_id = ns.idFromName(object_id.name) if object_id.name else ns.idFromString(object_id.hex)
        return CloudflareDurableObjectStub(self._js.get(js_id), object_id, self.class_name)

    def __repr__(self) -> str:
        return f"CloudflareDurableObjectNamespace({self.class_name})"


# --------------------------------------------------------------------------- object side
class CloudflareSqlCursor:
    """Rows of `ctx.storage.sql.exec`, read once (the JS cursor is an iterator)."""

    def __init__(self, js_cursor: Any) -> None:
        self._js = js_cursor
        self._rows: list[dict[str, Any]] | None = None

    def _all(self) -> list[dict[str, Any]]:
        if self._rows is None:
            self._rows = [dict(r) for r in to_py(self._js.toArray()) or []]
        return self._rows

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._all())

    def to_list(self) -> list[dict[str, Any]]:
        return list(self._all())

    def one(self) -> dict[str, Any]:
        rows = self._all()
        if len(rows) != 1:
            raise ValueError(f"Expected exactly one result from SQL query, but got {len(rows)}.")
        return rows[0]

    @property
    def column_names(self) -> list[str]:
        return [str(c) for c in to_py(self._js.columnNames) or []]

    @property
    def rows_written(self) -> int:
        self._all()  # counters are final once the cursor is consumed
        return int(to_py(self._js.rowsWritten) or 0)

    @property
    def rows_read(self) -> int:
        self._all()
        return int(to_py(self._js.rowsRead) or 0)


def _sql_value(v: Any) -> Any:
    if isinstance(v, bool):  # SQLite has no booleans; the JS API takes numbers, strings, null, buffers
        return int(v)
    if v is None or isinstance(v, (bytes, bytearray, memoryview)):
        return to_js(None if v is None else bytes(v))
    return v


class CloudflareSqlStorage:
    def __init__(self, js_sql: Any) -> None:
        self._js = js_sql

    def exec(self, query: str, *bindings: Any) -> CloudflareSqlCursor:
        args = [_sql_value(b) for b in bindings]
        cursor = CloudflareSqlCursor(self._js.exec(query, *args))
        cursor._all()  # run it now, as the statement runs synchronously on Cloudflare
        return cursor


class CloudflareDurableObjectStorage:
    def __init__(self, js_storage: Any) -> None:
        self._js = js_storage
        self.sql = CloudflareSqlStorage(js_storage.sql)
        self.in_call = False  # inside an ObjectHost call's transaction
        self.wiped = False  # delete_all ran in the current call

    async def atomically(self, body: Callable[[], Awaitable[Any]]) -> Any:
        """`await body()` inside `storage.transaction(...)`: its writes are rolled back if it raises,
        and the exception is re-raised as it was (not as the JsException the promise rejects with)."""
        result: list[Any] = []
        failure: list[BaseException] = []

        async def closure(_txn: Any = None) -> None:
            try:
                result.append(await body())
            except BaseException as exc:
                failure.append(exc)
                raise

        proxy, release = js_function(closure)
        self.in_call, self.wiped = True, False
        try:
            await resolve(self._js.transaction(proxy))
        except Exception:
            self.wiped = False  # rolled back with the rest
            if failure:
                raise failure[0] from None
            raise
        finally:
            self.in_call = False
            release()
        return result[0] if result else None

    async def get(self, key: str) -> Any:
        check_storage_entry(key)
        return to_py(await resolve(self._js.get(key)))

    async def put(self, key: str, value: Any) -> None:
        check_storage_entry(key, value, putting=True)  # refused here as locally, not by a JS error
        await resolve(self._js.put(key, to_js(value)))

    async def delete(self, key: str) -> bool:
        check_storage_entry(key)
        return bool(to_py(await resolve(self._js.delete(key))))

    async def list(self, *, prefix: str = "", limit: int | None = None) -> dict[str, Any]:
        check_list_limit(limit)
        entries = to_py(await resolve(self._js.list(options(prefix=prefix or None, limit=limit)))) or {}
        return dict(entries)  # a JS Map, in key order

    async def get_alarm(self) -> float | None:
        value = to_py(await resolve(self._js.getAlarm()))
        return None if value is None else float(value)

    async def set_alarm(self, scheduled_time_ms: float) -> None:
        await resolve(self._js.setAlarm(float(scheduled_time_ms)))

    async def delete_alarm(self) -> None:
        await resolve(self._js.deleteAlarm())

    async def delete_all(self) -> None:
        # deleteAll() leaves the alarm in place; the port promises both are gone.
        await resolve(self._js.deleteAlarm())
        if not self.in_call:
            await resolve(self._js.deleteAll())
            return
        # Inside the call's transaction deleteAll() throws: empty everything the transaction
        # covers instead; ObjectHost calls deleteAll() after the commit.
        keys = [str(k) for k in (to_py(await resolve(self._js.list())) or {})]
        for i in range(0, len(keys), 128):  # delete() takes at most 128 keys
            await resolve(self._js.delete(to_js(keys[i:i + 128])))
        objects = self.sql.exec("SELECT type, name FROM sqlite_schema WHERE type IN ('table', 'view') "
                                "AND name NOT LIKE 'sqlite!_%' ESCAPE '!' AND name NOT LIKE '!_cf!_%' ESCAPE '!'")
        for o in objects.to_list():
            self.sql.exec(f'DROP {o["type"].upper()} IF EXISTS "{o["name"].replace(chr(34), chr(34) * 2)}"')
        self.wiped = True

    async def release(self) -> None:
        """After a call that ran delete_all committed: let the runtime drop the object's storage."""
        self.wiped = False
        await resolve(self._js.deleteAll())


def wrap_state(js_ctx: Any) -> DurableObjectState:
    ctx = unwrap(js_ctx)
    return DurableObjectState(id=_object_id(ctx.id), storage=CloudflareDurableObjectStorage(ctx.storage))


def rpc_methods(cls: type[DurableObject]) -> list[str]:
    """The public async methods of a portable Durable Object class: its RPC surface."""
    names = []
    for name in dir(cls):
        if name.startswith("_") or name in ("alarm", "ctx", "env", "fetch"):
            continue
        if inspect.iscoroutinefunction(getattr(cls, name, None)):
            names.append(name)
    return names


class ObjectHost:
    """One live Durable Object on Cloudflare: its portable instance (made when first needed, again
    after a call wiped its storage), one call or alarm at a time, each atomic (module docstring)."""

    def __init__(self, make: Callable[[], DurableObject]) -> None:
        self._make = make
        self._impl: DurableObject | None = None
        self._lock = asyncio.Lock()

    @property
    def impl(self) -> DurableObject:
        if self._impl is None:
            self._impl = self._make()
        return self._impl

    async def _run(self, body: Callable[[DurableObject], Awaitable[Any]]) -> Any:
        async with self._lock:
            impl = self.impl
            storage = impl.ctx.storage
            if not isinstance(storage, CloudflareDurableObjectStorage):
                return await body(impl)
            try:
                return await storage.atomically(lambda: body(impl))
            finally:
                if storage.wiped:  # committed (a failed call's wipe was rolled back with it)
                    await storage.release()
                    self._impl = None

    async def call(self, class_name: str, method: str, call: Any) -> Any:
        """One RPC call; the reply in the wire format, as a JS value."""
        call = to_py(call) or {}
        try:
            value = await self._run(
                lambda impl: getattr(impl, method)(*call.get("args", []), **call.get("kwargs", {})))
        except Exception as exc:
            return to_js({"ok": False, "errorType": type(exc).__name__, "message": str(exc)})
        try:
            value = _json_copy(value, f"the result of {class_name}.{method}")
        except TypeError as exc:
            return to_js({"ok": False, "errorType": "TypeError", "message": str(exc), "unserialisable": True})
        return to_js({"ok": True, "value": value})

    async def alarm(self) -> None:
        # An exception propagates (after the rollback): Cloudflare then retries the alarm.
        await self._run(lambda impl: impl.alarm())


async def serve_call(host: ObjectHost, class_name: str, method: str, call: Any) -> Any:
    """Run one RPC call on the object's host; the reply in the wire format, as a JS value."""
    return await host.call(class_name, method, call)


def make_impl(cls: type[DurableObject], js_ctx: Any, env: Env) -> DurableObject:
    """The portable object on the runtime's ctx and the worker's env (already wrapped: `env.wrap_env`)."""
    return cls(wrap_state(js_ctx), env)
