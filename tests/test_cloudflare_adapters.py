"""The Cloudflare adapters, driven by fake JS-style bindings that record what they are called with.

The fakes look like Cloudflare's objects as Pyodide shows them: camelCase methods, promises
(coroutines here), JS `null` as a `JsNull` sentinel, results shaped like Cloudflare's. Each test
proves a conversion the real runtime depends on (option names, None <-> null, bytes, shapes).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sqlite3
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from hoox_edge import catalog
from hoox_edge.cloudflare import entry as cf_entry
from hoox_edge.cloudflare.analytics import (
    AnalyticsQueryError,
    AnalyticsUnavailable,
    CloudflareAnalyticsDataset,
    CloudflareAnalyticsSql,
)
from hoox_edge.cloudflare.d1 import CloudflareD1
from hoox_edge.cloudflare.durable_objects import (
    CloudflareDurableObjectNamespace,
    DurableObjectError,
    rpc_methods,
)
from hoox_edge.cloudflare.env import wrap_env
from hoox_edge.cloudflare.kv import CloudflareKV
from hoox_edge.cloudflare.queues import CloudflareMessageBatch, CloudflareQueue
from hoox_edge.cloudflare.r2 import CloudflareR2
from hoox_edge.cloudflare.service import CloudflareService
from hoox_edge.cloudflare.vectorize import CloudflareVectorize
from hoox_edge.ports import D1Error, DurableObject, Env, KVKey, VectorRecord

EDGE = Path(__file__).resolve().parents[1] / "edge"


# --------------------------------------------------------------------------- JS-style fakes
class JsNull:
    """Pyodide's `jsnull`: what JS `null` looks like on the Python side."""


NULL = JsNull()


class JsException(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def promise(value: Any = None) -> Any:
    return value


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def record(self, *call: Any) -> None:
        self.calls.append(call)


class FakeDate:
    def __init__(self, ms: float) -> None:
        self.ms = ms

    def getTime(self) -> float:
        return self.ms


class FakeBuffer:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def to_bytes(self) -> bytes:
        return self.data


# --------------------------------------------------------------------------- KV
class FakeKV(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {"k": "v"}

    def get(self, key: str) -> Any:
        self.record("get", key)
        return promise(self.data.get(key, NULL))

    def put(self, key: str, value: str, *opts: Any) -> Any:
        self.record("put", key, value, *opts)
        self.data[key] = value
        return promise()

    def list(self, opts: Any) -> Any:
        self.record("list", opts)
        return promise({"keys": [{"name": "a:1", "expiration": 1_700_000_000}, {"name": "a:2"}],
                        "list_complete": False, "cursor": "cur-2", "cacheStatus": NULL})

    def delete(self, key: str) -> Any:
        self.record("delete", key)
        return promise()


async def test_kv_get_put_list_delete_convert_options_and_null():
    js = FakeKV()
    kv = CloudflareKV(js)
    assert await kv.get("k") == "v"
    assert await kv.get("missing") is None  # JS null -> None
    await kv.put("x", "1", expiration_ttl=60)
    await kv.put("y", "2")
    assert ("put", "x", "1", {"expirationTtl": 60}) in js.calls
    assert ("put", "y", "2") in js.calls  # no options object when there is no TTL
    with pytest.raises(ValueError, match="at least 60"):
        await kv.put("z", "3", expiration_ttl=30)
    with pytest.raises(TypeError):
        await kv.put("z", 3)  # type: ignore[arg-type]
    res = await kv.list(prefix="a:", limit=2)
    assert js.calls[-1] == ("list", {"prefix": "a:", "limit": 2})  # no cursor: left out, not null
    assert res.keys == [KVKey("a:1", 1_700_000_000), KVKey("a:2", None)]
    assert res.list_complete is False and res.cursor == "cur-2"
    await kv.list(cursor="cur-2")
    assert js.calls[-1] == ("list", {"cursor": "cur-2", "limit": 1000})
    await kv.delete("x")
    assert js.calls[-1] == ("delete", "x")


# --------------------------------------------------------------------------- D1
class FakeStatement:
    def __init__(self, db: FakeD1, sql: str, params: tuple = ()) -> None:
        self.db, self.sql, self.params = db, sql, params

    def bind(self, *values: Any) -> FakeStatement:
        self.db.record("bind", self.sql, values)
        return FakeStatement(self.db, self.sql, values)

    def _result(self) -> dict:
        if "FAIL" in self.sql:
            raise JsException("D1_ERROR: near \"FAIL\": syntax error at offset 0: SQLITE_ERROR")
        return {"success": True,
                "results": [{"id": 1, "note": NULL, "qty": 2.5}],
                "meta": {"duration": 0.2, "changes": 0, "last_row_id": 7, "rows_read": 1, "rows_written": 0,
                         "changed_db": False, "size_after": 8192, "served_by": "v3-prod"}}

    async def all(self) -> dict:
        self.db.record("all", self.sql, self.params)
        return self._result()

    async def run(self) -> dict:
        self.db.record("run", self.sql, self.params)
        return self._result()

    async def first(self, *column: str) -> Any:
        self.db.record("first", self.sql, self.params, *column)
        if "none" in self.sql:
            return NULL
        return 1 if column else {"id": 1, "note": NULL}

    async def raw(self, options: Any = None) -> list:
        # D1's raw({columnNames: true}) gives the column names as the first row
        names = [["id", "note", "qty"]] if options and options.get("columnNames") else []
        return [*names, [1, NULL, 2.5]]


class FakeD1(Recorder):
    def prepare(self, sql: str) -> FakeStatement:
        self.record("prepare", sql)
        return FakeStatement(self, sql)

    async def batch(self, stmts: list) -> list:
        self.record("batch", [s.sql for s in stmts])
        return [s._result() for s in stmts]

    async def exec(self, sql: str) -> dict:
        self.record("exec", sql)
        return {"count": 2, "duration": 1.5}


async def test_d1_statements_bind_null_and_return_port_shapes():
    js = FakeD1()
    db = CloudflareD1(js)
    stmt = db.prepare("SELECT * FROM trades WHERE id = ? AND note IS ?").bind(1, None)
    assert ("bind", "SELECT * FROM trades WHERE id = ? AND note IS ?", (1, None)) in js.calls
    res = await stmt.all()
    assert res == {"success": True, "results": [{"id": 1, "note": None, "qty": 2.5}],
                   "meta": {"duration": 0.2, "changes": 0, "last_row_id": 7, "rows_read": 1,
                            "rows_written": 0, "changed_db": False}}
    assert (await stmt.run())["meta"]["last_row_id"] == 7
    assert await stmt.first() == {"id": 1, "note": None}
    assert await stmt.first("id") == 1
    assert js.calls[-1] == ("first", stmt._js.sql, (1, None))  # the whole row: its cells are typed
    assert await db.prepare("SELECT none").first() is None
    assert await stmt.raw() == [[1, None, 2.5]]
    results = await db.batch([db.prepare("INSERT 1"), db.prepare("INSERT 2")])
    assert js.calls[-1] == ("batch", ["INSERT 1", "INSERT 2"]) and len(results) == 2
    # exec(): one prepared statement each (D1's own exec() reads one statement per line)
    assert await db.exec("CREATE TABLE t (a);\nCREATE TABLE u (\n b);") == {"count": 2, "duration": 0.4}
    assert [c[1] for c in js.calls[-4:] if c[0] == "prepare"] == ["CREATE TABLE t (a);", "CREATE TABLE u (\n b);"]


async def test_d1_errors_become_d1error_with_d1s_message():
    db = CloudflareD1(FakeD1())
    with pytest.raises(D1Error, match="SQLITE_ERROR"):
        await db.prepare("FAIL").all()
    with pytest.raises(D1Error, match="prepared on this database"):
        await db.batch([object()])

    def throws(message: str) -> Any:
        def call(*_args: Any) -> Any:
            raise JsException(message)
        return call

    js = FakeD1()
    js.prepare = throws("D1_ERROR: prepare refused")  # errors thrown synchronously convert too
    with pytest.raises(D1Error, match="prepare refused"):
        CloudflareD1(js).prepare("SELECT 1")
    stmt = db.prepare("SELECT ?")
    stmt._js.bind = throws("D1_TYPE_ERROR: Type 'object' not supported")
    with pytest.raises(D1Error, match="D1_TYPE_ERROR"):
        stmt.bind(object())


# --------------------------------------------------------------------------- Durable Objects
class FakeSqlCursor:
    def __init__(self, rows: list[dict], written: int) -> None:
        self._rows, self.rowsWritten, self.rowsRead = rows, written, len(rows)
        self.columnNames = list(rows[0]) if rows else []

    def toArray(self) -> list[dict]:
        return [{k: (NULL if v is None else v) for k, v in r.items()} for r in self._rows]


class FakeSqlStorage:
    """`ctx.storage.sql` on SQLite, synchronous like Cloudflare's."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:")
        self.conn.row_factory = sqlite3.Row
        self.bound: list[tuple] = []

    def exec(self, query: str, *args: Any) -> FakeSqlCursor:
        self.bound.append(args)
        args = tuple(None if isinstance(a, JsNull) else a for a in args)
        cur = self.conn.execute(query, args)
        rows = [dict(r) for r in cur.fetchall()]
        return FakeSqlCursor(rows, max(cur.rowcount, 0))


class FakeStorage(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.sql = FakeSqlStorage()
        self.alarm: float | JsNull = NULL
        self.entries: dict[str, Any] = {}

    def getAlarm(self) -> Any:
        return promise(self.alarm)

    def setAlarm(self, ms: float) -> Any:
        self.record("setAlarm", ms)
        self.alarm = ms
        return promise()

    def deleteAlarm(self) -> Any:
        self.record("deleteAlarm")
        self.alarm = NULL
        return promise()

    def deleteAll(self) -> Any:
        self.record("deleteAll")
        self.entries.clear()
        return promise()

    async def transaction(self, closure: Any) -> Any:
        # the calls' transaction: the fake records it (rollback is proven in Pyodide, conformance)
        self.record("transaction")
        return await closure(self)

    # the key-value API, as SQLite-backed objects have it: values cross as JS values
    def get(self, key: str) -> Any:
        self.record("get", key)
        return promise(self.entries.get(key, NULL))

    def put(self, key: str, value: Any) -> Any:
        self.record("put", key, value)
        self.entries[key] = value
        return promise()

    def delete(self, key: str) -> Any:
        self.record("delete", key)
        return promise(self.entries.pop(key, NULL) is not NULL)

    def list(self, opts: Any = None) -> Any:
        self.record("list", opts)
        opts = opts or {}
        keys = sorted(k for k in self.entries if k.startswith(opts.get("prefix", "")))[:opts.get("limit")]
        return promise(FakeMap({k: self.entries[k] for k in keys}))


class FakeMap:
    """A JS Map as Pyodide shows it: `to_py()` gives a dict, in the Map's (key) order."""

    def __init__(self, items: dict[str, Any]) -> None:
        self._items = items

    def to_py(self) -> dict[str, Any]:
        return dict(self._items)


class FakeObjectId:
    def __init__(self, name: str | None, hex_id: str) -> None:
        self.name = NULL if name is None else name
        self._hex = hex_id

    def toString(self) -> str:
        return self._hex


class Counter(DurableObject):
    """A portable Durable Object for the tests: SQL, an alarm, kwargs and an error."""

    async def add(self, n: int, *, note: str | None = None) -> dict:
        sql = self.ctx.storage.sql
        sql.exec("CREATE TABLE IF NOT EXISTS c (n INTEGER, note TEXT)")
        sql.exec("INSERT INTO c (n, note) VALUES (?, ?)", n, note)
        total = sql.exec("SELECT SUM(n) AS total FROM c").one()["total"]
        await self.ctx.storage.set_alarm(1000.0 * total)
        return {"total": total, "note": note, "id": self.ctx.id.hex, "name": self.ctx.id.name}

    async def boom(self) -> None:
        raise ValueError("no such thing")

    async def alarm(self) -> None:
        self.ctx.storage.sql.exec("DELETE FROM c")

    def _private(self) -> None: ...


TEST_WORKER = catalog.Worker(
    name="test-worker", description="test", module="hoox_edge.workers.d1", port_offset=90,
    bindings=(catalog.Binding("COUNTER", "durable_object", "Counter"),),
    durable_objects=(catalog.DurableObjectClass("Counter", __name__),),
)


class FakeWorkersModule(types.ModuleType):
    def __init__(self) -> None:
        super().__init__("workers")

        class WorkerEntrypoint:
            def __init__(self, ctx: Any, env: Any) -> None:
                self.ctx, self.env = ctx, env

        class DurableObject:
            def __init__(self, ctx: Any, env: Any) -> None:
                self.ctx, self.env = ctx, env

        self.WorkerEntrypoint = WorkerEntrypoint
        self.DurableObject = DurableObject


class FakeStub:
    """The JS stub of one object: a method call goes to the exported class, like Workers RPC."""

    def __init__(self, instance: Any) -> None:
        self._instance = instance

    def __getattr__(self, method: str) -> Any:
        return getattr(self._instance, method)


class FakeNamespace(Recorder):
    def __init__(self, exported: type, js_env: Any) -> None:
        super().__init__()
        self.exported, self.js_env = exported, js_env
        self.objects: dict[str, Any] = {}

    def idFromName(self, name: str) -> FakeObjectId:
        self.record("idFromName", name)
        return FakeObjectId(name, f"{abs(hash(name)):064x}"[-64:])

    def idFromString(self, hex_id: str) -> FakeObjectId:
        self.record("idFromString", hex_id)
        return FakeObjectId(None, hex_id)

    def get(self, js_id: FakeObjectId) -> FakeStub:
        key = js_id.toString()
        if key not in self.objects:
            ctx = types.SimpleNamespace(id=js_id, storage=FakeStorage())
            self.objects[key] = self.exported(ctx, self.js_env)
        return FakeStub(self.objects[key])


@pytest.fixture
def test_worker(monkeypatch):
    real = catalog.worker
    monkeypatch.setattr(catalog, "worker",
                        lambda name: TEST_WORKER if name == TEST_WORKER.name else real(name))


async def test_durable_object_rpc_round_trip_through_the_exported_class(test_worker):
    workers = FakeWorkersModule()
    Exported = cf_entry.durable_object("test-worker", "Counter", workers.DurableObject)
    assert issubclass(Exported, workers.DurableObject) and Exported.__name__ == "Counter"
    assert rpc_methods(Counter) == ["add", "boom"]
    assert hasattr(Exported, "add") and hasattr(Exported, "boom") and not hasattr(Exported, "_private")

    js_env = types.SimpleNamespace()
    js_ns = FakeNamespace(Exported, js_env)
    js_env.COUNTER = js_ns
    ns = wrap_env(js_env, "test-worker").COUNTER
    assert isinstance(ns, CloudflareDurableObjectNamespace)

    oid = ns.id_from_name("acct-1")
    assert oid.name == "acct-1" and len(oid.hex) == 64
    stub = ns.get(oid)
    assert await stub.add(2) == {"total": 2, "note": None, "id": oid.hex, "name": "acct-1"}
    assert await stub.add(3, note="x") == {"total": 5, "note": "x", "id": oid.hex, "name": "acct-1"}
    obj = js_ns.objects[oid.hex]
    storage = obj.ctx.storage
    assert storage.calls[-1] == ("setAlarm", 5000.0)
    assert (3, "x") in storage.sql.bound
    # An exception inside the object reaches the caller as DurableObjectError.
    with pytest.raises(DurableObjectError, match=r"Counter\.boom raised ValueError: no such thing") as err:
        await stub.boom()
    assert err.value.remote_type == "ValueError"
    # The same object answers through an id known only by its hex string.
    by_hex = ns.get(type(oid)(hex=oid.hex))
    assert await by_hex.add(1) == {"total": 6, "note": None, "id": oid.hex, "name": "acct-1"}
    assert ("idFromString", oid.hex) in js_ns.calls
    # alarm() is forwarded to the portable object.
    await obj.alarm()
    assert storage.sql.exec("SELECT COUNT(*) AS n FROM c").toArray() == [{"n": 0}]


async def test_durable_object_storage_alarm_and_delete_all(test_worker):
    from hoox_edge.cloudflare.durable_objects import wrap_state

    js_storage = FakeStorage()
    state = wrap_state(types.SimpleNamespace(id=FakeObjectId("n", "ab" * 32), storage=js_storage))
    assert state.id.hex == "ab" * 32 and state.id.name == "n"
    assert await state.storage.get_alarm() is None
    await state.storage.set_alarm(123456.0)
    assert await state.storage.get_alarm() == 123456.0
    await state.storage.delete_all()
    assert js_storage.calls[-2:] == [("deleteAlarm",), ("deleteAll",)]
    assert await state.storage.get_alarm() is None
    cur = state.storage.sql.exec("SELECT ? AS a, ? AS b, ? AS c", True, None, "s")
    assert js_storage.sql.bound[-1] == (1, None, "s")  # booleans as integers, None as null
    assert cur.one() == {"a": 1, "b": None, "c": "s"}
    assert cur.column_names == ["a", "b", "c"]
    with pytest.raises(ValueError, match="exactly one"):
        state.storage.sql.exec("SELECT 1 AS x UNION ALL SELECT 2").one()


async def test_durable_object_key_value_storage_converts_and_refuses_like_the_local_one(test_worker):
    from hoox_edge.cloudflare.durable_objects import wrap_state

    js_storage = FakeStorage()
    storage = wrap_state(types.SimpleNamespace(id=FakeObjectId("n", "cd" * 32), storage=js_storage)).storage
    assert await storage.get("missing") is None  # JS undefined
    await storage.put("lock", {"requestId": "r1", "expiresAt": 1.5})
    await storage.put("hit:2", 2)
    await storage.put("hit:1", 1)
    assert await storage.get("lock") == {"requestId": "r1", "expiresAt": 1.5}
    assert await storage.list(prefix="hit:") == {"hit:1": 1, "hit:2": 2}
    assert js_storage.calls[-1] == ("list", {"prefix": "hit:"})  # options by their JS names
    assert list(await storage.list(limit=1)) == ["hit:1"]
    assert js_storage.calls[-1] == ("list", {"limit": 1})
    assert await storage.delete("hit:1") is True and await storage.delete("hit:1") is False
    writes = len(js_storage.calls)
    for bad in (None, float("nan"), {"x": object()}):  # refused here, as locally, before reaching JS
        with pytest.raises(TypeError):
            await storage.put("k", bad)
    with pytest.raises(TypeError):
        await storage.get(1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await storage.list(limit=0)
    assert len(js_storage.calls) == writes


# --------------------------------------------------------------------------- Queues
class FakeQueue(Recorder):
    def send(self, body: Any, *opts: Any) -> Any:
        self.record("send", body, *opts)
        return promise()

    def sendBatch(self, messages: list, *opts: Any) -> Any:
        self.record("sendBatch", messages, *opts)
        return promise()


class FakeMessage(Recorder):
    def __init__(self, mid: str, body: Any, attempts: int) -> None:
        super().__init__()
        self.id, self.body, self.attempts = mid, body, attempts
        self.timestamp = FakeDate(1_700_000_000_500)

    def ack(self) -> None:
        self.record("ack")

    def retry(self, *opts: Any) -> None:
        self.record("retry", *opts)


class FakeBatch(Recorder):
    def __init__(self, messages: list[FakeMessage]) -> None:
        super().__init__()
        self.queue = "trade-execution"
        self.messages = messages

    def ackAll(self) -> None:
        self.record("ackAll")

    def retryAll(self, *opts: Any) -> None:
        self.record("retryAll", *opts)


async def test_queue_producer_options():
    js = FakeQueue()
    q = CloudflareQueue(js, "trade-execution")
    await q.send({"requestId": "r1", "payload": {"price": None}})
    await q.send({"requestId": "r2"}, delay_seconds=30)
    await q.send_batch([{"a": 1}, {"a": 2}], delay_seconds=60)
    await q.send_batch([])
    assert js.calls == [
        ("send", {"requestId": "r1", "payload": {"price": None}}),
        ("send", {"requestId": "r2"}, {"delaySeconds": 30}),
        ("sendBatch", [{"body": {"a": 1}}, {"body": {"a": 2}}], {"delaySeconds": 60}),
    ]
    with pytest.raises(ValueError):
        await q.send({}, delay_seconds=13 * 3600)


def test_message_batch_wrapping_ack_and_retry_with_delay():
    m1 = FakeMessage("m1", {"requestId": "r1", "payload": {"x": NULL}}, 1)
    m2 = FakeMessage("m2", "text", 3)
    js = FakeBatch([m1, m2])
    sdk_wrapper = types.SimpleNamespace(_binding=js)  # the runtime SDK hands a wrapper around it
    batch = CloudflareMessageBatch(sdk_wrapper)
    assert batch.queue == "trade-execution"
    a, b = batch.messages
    assert (a.id, a.attempts, a.body, a.timestamp) == ("m1", 1, {"requestId": "r1", "payload": {"x": None}},
                                                       1_700_000_000.5)
    a.retry(delay_seconds=30)
    b.retry()
    b.ack()
    batch.retry_all(delay_seconds=60)
    batch.ack_all()
    assert m1.calls == [("retry", {"delaySeconds": 30})]
    assert m2.calls == [("retry",), ("ack",)]
    assert js.calls == [("retryAll", {"delaySeconds": 60}), ("ackAll",)]


# --------------------------------------------------------------------------- R2
class FakeR2Object:
    def __init__(self, key: str, body: bytes, content_type: str | None, custom: dict) -> None:
        self.key, self.size, self.etag = key, len(body), "etag-" + key
        self.uploaded = FakeDate(1_700_000_000_000)
        self.httpMetadata = {"contentType": content_type} if content_type else {}
        self.customMetadata = custom
        self._body = body

    def arrayBuffer(self) -> Any:
        return promise(FakeBuffer(self._body))


class FakeBucket(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.objects: dict[str, FakeR2Object] = {}

    def put(self, key: str, value: Any, opts: dict) -> Any:
        self.record("put", key, value, opts)
        body = value.encode() if isinstance(value, str) else bytes(value)
        obj = FakeR2Object(key, body, (opts.get("httpMetadata") or {}).get("contentType"),
                           opts.get("customMetadata") or {})
        self.objects[key] = obj
        return promise(obj)

    def get(self, key: str) -> Any:
        return promise(self.objects.get(key, NULL))

    def head(self, key: str) -> Any:
        return promise(self.objects.get(key, NULL))

    def list(self, opts: dict) -> Any:
        self.record("list", opts)
        objs = [o for k, o in sorted(self.objects.items()) if k.startswith(opts.get("prefix", ""))]
        return promise(types.SimpleNamespace(objects=objs[:1], truncated=len(objs) > 1, cursor="c1"))

    def delete(self, keys: Any) -> Any:
        self.record("delete", keys)
        return promise()


async def test_r2_put_get_head_list_delete():
    js = FakeBucket()
    r2 = CloudflareR2(js)
    info = await r2.put("logs/a.json", b'{"a": 1}', content_type="application/json",
                        custom_metadata={"requestId": "r1"})
    assert js.calls[0] == ("put", "logs/a.json", b'{"a": 1}',
                           {"httpMetadata": {"contentType": "application/json"},
                            "customMetadata": {"requestId": "r1"}})
    assert (info.key, info.size, info.etag, info.uploaded) == ("logs/a.json", 8, "etag-logs/a.json",
                                                               1_700_000_000.0)
    await r2.put("logs/b.txt", "hi")
    assert js.calls[-1] == ("put", "logs/b.txt", "hi", {})
    obj = await r2.get("logs/a.json")
    assert obj is not None and obj.json() == {"a": 1}
    assert obj.content_type == "application/json" and obj.custom_metadata == {"requestId": "r1"}
    assert await r2.get("nope") is None and await r2.head("nope") is None
    assert (await r2.head("logs/b.txt")).size == 2
    page = await r2.list(prefix="logs/", limit=1)
    assert js.calls[-1] == ("list", {"prefix": "logs/", "limit": 1,
                                     "include": ["httpMetadata", "customMetadata"]})
    assert [o.key for o in page.objects] == ["logs/a.json"] and page.truncated and page.cursor == "c1"
    await r2.delete("logs/a.json")
    await r2.delete(["logs/b.txt", "logs/c"])
    assert js.calls[-2:] == [("delete", "logs/a.json"), ("delete", ["logs/b.txt", "logs/c"])]


# --------------------------------------------------------------------------- Vectorize
async def test_vectorize_upsert_and_query_speak_vectorize_v2():
    js = Recorder()
    js.upsert = lambda vectors: (js.record("upsert", vectors), promise({"mutationId": "m1"}))[1]
    js.query = lambda vector, opts: (js.record("query", vector, opts), promise({"count": 2, "matches": [
        {"id": "trade:r1", "score": 0.93, "metadata": {"text": "BTC close", "model": "m"}},
        {"id": "trade:r2", "score": 0.41}]}))[1]
    index = CloudflareVectorize(js)
    await index.upsert([VectorRecord("trade:r1", [1, 0.5], {"text": "BTC close", "model": "m"})])
    assert js.calls[0] == ("upsert", [{"id": "trade:r1", "values": [1.0, 0.5],
                                       "metadata": {"text": "BTC close", "model": "m"}}])
    got = await index.query([1, 0], top_k=3)
    assert js.calls[1] == ("query", [1.0, 0.0], {"topK": 3, "returnMetadata": "all"})
    assert [(m.id, m.score, m.metadata) for m in got] == [("trade:r1", 0.93, {"text": "BTC close", "model": "m"}),
                                                          ("trade:r2", 0.41, {})]
    with pytest.raises(ValueError, match="1 to 64 bytes"):  # refused before the binding sees it, as locally
        await index.upsert([VectorRecord("x" * 65, [1.0], {})])
    with pytest.raises(ValueError, match="topK must be 1 to 20"):
        await index.query([1.0], top_k=50)
    assert len(js.calls) == 2
    # agent-worker's deployed VECTORIZE binding becomes this adapter
    assert isinstance(wrap_env(_fake_js_env(catalog.worker("agent-worker")), "agent-worker").VECTORIZE,
                      CloudflareVectorize)


# --------------------------------------------------------------------------- Analytics Engine
def test_analytics_dataset_write_data_point():
    js = Recorder()
    js.writeDataPoint = lambda point: js.record("writeDataPoint", point)
    ds = CloudflareAnalyticsDataset(js)
    ds.write_data_point(blobs=["api-call", "hoox", None], doubles=[12, 1.5], indexes=["req-1"])
    assert js.calls == [("writeDataPoint", {"blobs": ["api-call", "hoox", None], "doubles": [12.0, 1.5],
                                            "indexes": ["req-1"]})]
    with pytest.raises(ValueError):
        ds.write_data_point(indexes=["a", "b"])


async def test_analytics_sql_api_call_and_typed_rows():
    sent = []

    async def http(url: str, method: str, headers: dict, body: str) -> tuple[int, str]:
        sent.append((url, method, headers, body))
        return 200, json.dumps({"meta": [{"name": "blob1", "type": "String"}, {"name": "n", "type": "UInt64"},
                                         {"name": "avg", "type": "Float64"}],
                                "data": [{"blob1": "api-call", "n": "42", "avg": 1.5}], "rows": 1})

    sql = CloudflareAnalyticsSql("acc123", "tok-secret", http=http)
    rows = await sql.query("SELECT blob1, count() AS n, avg(double1) AS avg FROM hoox_telemetry "
                           "GROUP BY blob1")
    assert rows == [{"blob1": "api-call", "n": 42, "avg": 1.5}]
    url, method, headers, body = sent[0]
    assert url == "https://api.cloudflare.com/client/v4/accounts/acc123/analytics_engine/sql"
    assert method == "POST" and headers["Authorization"] == "Bearer tok-secret" and body.startswith("SELECT")
    assert "tok-secret" not in repr(sql)

    async def refused(url: str, method: str, headers: dict, body: str) -> tuple[int, str]:
        return 422, "unknown column blob99"

    async def unauthorized(url: str, method: str, headers: dict, body: str) -> tuple[int, str]:
        return 403, "Authentication error"

    # A bad query is the caller's to fix (a ValueError, as the local adapter raises).
    with pytest.raises(AnalyticsQueryError, match="unknown column blob99") as err:
        await CloudflareAnalyticsSql("acc", "tok-secret", http=refused).query("SELECT blob99")
    assert isinstance(err.value, ValueError) and "tok-secret" not in str(err.value)
    with pytest.raises(AnalyticsUnavailable, match="403") as err2:
        await CloudflareAnalyticsSql("acc", "tok-secret", http=unauthorized).query("SELECT 1")
    assert "tok-secret" not in str(err2.value)
    with pytest.raises(AnalyticsUnavailable, match="CLOUDFLARE_API_TOKEN"):
        await CloudflareAnalyticsSql("acc", None, http=http).query("SELECT 1")


# --------------------------------------------------------------------------- service bindings
class FakeHeaders:
    def __init__(self, pairs: list[list[str]]) -> None:
        self.pairs = pairs

    def entries(self) -> list[list[str]]:
        return self.pairs


class FakeFetcher(Recorder):
    def __init__(self, hang: bool = False) -> None:
        super().__init__()
        self.hang = hang

    async def fetch(self, url: str, init: dict) -> Any:
        self.record("fetch", url, init)
        if self.hang:
            await asyncio.Event().wait()
        return types.SimpleNamespace(status=201, headers=FakeHeaders([["Content-Type", "application/json"]]),
                                     arrayBuffer=lambda: promise(FakeBuffer(b'{"success": true}')))


async def test_service_binding_fetch_json_and_bytes():
    js = FakeFetcher()
    svc = CloudflareService(js, "trade-worker")
    resp = await svc.fetch("POST", "/process", json={"requestId": "r1", "payload": None},
                           headers={"X-Request-Id": "r1"})
    url, init = js.calls[0][1:]
    assert url == "https://trade-worker/process"
    assert init == {"method": "POST", "headers": {"x-request-id": "r1", "content-type": "application/json"},
                    "body": '{"requestId": "r1", "payload": null}'}
    assert resp.status == 201 and resp.json() == {"success": True}
    assert resp.headers == {"content-type": "application/json"}
    await svc.fetch("get", "health")
    assert js.calls[-1][1:] == ("https://trade-worker/health", {"method": "GET", "headers": {}})
    await svc.fetch("PUT", "/raw", body=b"\x00\x01")
    assert js.calls[-1][2]["body"] == b"\x00\x01"


async def test_service_binding_timeout():
    svc = CloudflareService(FakeFetcher(hang=True), "telegram-worker")
    with pytest.raises(TimeoutError, match=r"telegram-worker did not answer within 0\.05 s"):
        await svc.fetch("POST", "/alert", json={}, timeout=0.05)


# --------------------------------------------------------------------------- Env
def _fake_js_env(w: catalog.Worker, **extra: Any) -> types.SimpleNamespace:
    makers = {"kv": FakeKV, "d1": FakeD1, "queue_producer": FakeQueue, "r2": FakeBucket,
              "analytics_engine": Recorder, "service": FakeFetcher, "vectorize": Recorder,
              "durable_object": lambda: FakeNamespace(object, None)}
    values = {b.name: makers[b.kind]() for b in w.bindings}
    values.update({k: v for k, v in w.vars})
    values.update(extra)
    return types.SimpleNamespace(**values)


def test_wrap_env_builds_every_port_reads_secrets_and_unwraps_the_sdk_env():
    w = catalog.worker("analytics-worker")
    js_env = _fake_js_env(w, INTERNAL_KEY_BINDING="ik-secret", CLOUDFLARE_API_TOKEN="tok",
                          CLOUDFLARE_ACCOUNT_ID="acc", UNRELATED="x")
    del js_env.DB  # a binding missing from the deployed worker is simply absent
    env = wrap_env(types.SimpleNamespace(_env=js_env), w.name)  # the SDK's _EnvWrapper shape
    assert isinstance(env, Env) and env.worker == "analytics-worker"
    assert isinstance(env.CONFIG_KV, CloudflareKV)
    assert isinstance(env.ANALYTICS_ENGINE, CloudflareAnalyticsDataset)
    assert not env.has("DB") and not env.has("UNRELATED")
    assert env.INTERNAL_KEY_BINDING == "ik-secret"
    assert sorted(env.secret_values()) == ["ik-secret", "tok"]
    assert env.ANALYTICS_SQL.available
    # Without the API token there is no SQL reader: the analytics worker then says it is not available.
    no_token = _fake_js_env(w, CLOUDFLARE_ACCOUNT_ID="acc")
    assert not wrap_env(no_token, w.name).has("ANALYTICS_SQL")
    assert wrap_env(env, w.name) is env  # already wrapped: unchanged

    gw = catalog.worker("hoox")
    genv = wrap_env(_fake_js_env(gw, WEBHOOK_API_KEY=NULL), gw.name)
    assert genv.ENVIRONMENT == "production"
    assert genv.get("WEBHOOK_API_KEY") is None  # a missing secret reads as None, never a default
    assert isinstance(genv.TRADE_SERVICE, CloudflareService) and genv.TRADE_SERVICE.target == "trade-worker"
    assert isinstance(genv.TRADE_QUEUE, CloudflareQueue)
    assert isinstance(genv.IDEMPOTENCY_STORE, CloudflareDurableObjectNamespace)
    assert not genv.has("ANALYTICS_SQL")


# --------------------------------------------------------------------------- entry modules
class FakeRequest:
    def __init__(self, method: str, path: str) -> None:
        self.js_object = types.SimpleNamespace(method=method, path=path)


def _fake_asgi(seen: list) -> types.ModuleType:
    mod = types.ModuleType("asgi")

    async def fetch(app: Any, req: Any, env: Any, ctx: Any) -> dict:  # ctx: as workerd's bundled asgi needs it
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": req.method,
                 "scheme": "https", "path": req.path, "raw_path": req.path.encode(), "query_string": b"",
                 "root_path": "", "headers": [(b"host", b"worker")], "server": None, "client": None,
                 "env": env}
        out: dict[str, Any] = {"body": b""}

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(msg: dict) -> None:
            if msg["type"] == "http.response.start":
                out["status"] = msg["status"]
            else:
                out["body"] += msg.get("body", b"")

        await app(scope, receive, send)
        seen.append(scope)
        return out

    mod.fetch = fetch
    return mod


def _import_entry(w: catalog.Worker) -> types.ModuleType:
    path = EDGE / w.package_dir / "entry.py"
    name = f"_hoox_entry_{w.package_dir.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_runtime(monkeypatch):
    workers = FakeWorkersModule()
    seen: list = []
    monkeypatch.setitem(sys.modules, "workers", workers)
    monkeypatch.setitem(sys.modules, "asgi", _fake_asgi(seen))
    return workers, seen


@pytest.mark.parametrize("w", catalog.WORKERS, ids=lambda w: w.name)
async def test_entry_module_exports_default_and_durable_objects_and_fetch_runs_the_app(w, fake_runtime):
    workers, seen = fake_runtime
    mod = _import_entry(w)
    assert issubclass(mod.Default, workers.WorkerEntrypoint)
    classes = {n: getattr(mod, n) for n in dir(mod) if isinstance(getattr(mod, n), type)}
    exported = {n for n, c in classes.items()
                if issubclass(c, workers.DurableObject) and c is not workers.DurableObject}
    assert exported == {d.class_name for d in w.durable_objects}
    for d in w.durable_objects:
        portable = getattr(importlib.import_module(d.module), d.class_name)
        assert issubclass(portable, DurableObject)
        for method in rpc_methods(portable):
            assert callable(getattr(getattr(mod, d.class_name), method))
    if w.crons:
        assert callable(mod.Default.scheduled)
    if w.consumers:
        assert callable(mod.Default.queue)

    js_env = _fake_js_env(w)
    handler = mod.Default(types.SimpleNamespace(), js_env)
    resp = await handler.fetch(FakeRequest("GET", "/no/such/route/anywhere"))
    assert resp["status"] == 404
    assert json.loads(resp["body"])["success"] is False
    env = seen[-1]["env"]  # the app's env middleware wrapped the JS env into the ports
    assert isinstance(env, Env) and env.worker == w.name
    assert {b.name for b in w.bindings} <= set(env.__dict__["_bindings"])


async def test_entry_scheduled_and_queue_forward_wrapped_objects(fake_runtime, monkeypatch):
    calls = []
    agent = catalog.worker("agent-worker")
    agent_module = importlib.import_module(agent.module)

    async def fake_scheduled(cron: str, env: Env) -> None:
        calls.append(("scheduled", cron, env))

    monkeypatch.setattr(agent_module, "scheduled", fake_scheduled)
    mod = _import_entry(agent)
    await mod.Default(None, _fake_js_env(agent)).scheduled(types.SimpleNamespace(cron="*/5 * * * *"))
    assert calls[0][:2] == ("scheduled", "*/5 * * * *") and isinstance(calls[0][2], Env)

    trade = catalog.worker("trade-worker")
    trade_module = importlib.import_module(trade.module)

    async def fake_queue(batch: Any, env: Env) -> None:
        calls.append(("queue", batch, env))
        batch.messages[0].retry(delay_seconds=30)

    monkeypatch.setattr(trade_module, "queue", fake_queue)
    mod = _import_entry(trade)
    msg = FakeMessage("m1", {"requestId": "r1"}, 2)
    await mod.Default(None, _fake_js_env(trade)).queue(FakeBatch([msg]))
    _, batch, env = calls[1]
    assert isinstance(batch, CloudflareMessageBatch) and batch.messages[0].body == {"requestId": "r1"}
    assert env.worker == "trade-worker" and isinstance(env.TRADE_DLQ, CloudflareQueue)
    assert msg.calls == [("retry", {"delaySeconds": 30})]
