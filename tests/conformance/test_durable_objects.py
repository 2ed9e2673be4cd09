"""Durable Object port: ids, RPC with JSON semantics, one call at a time, SQL storage, alarms."""

from __future__ import annotations

import asyncio

import pytest
from hoox_edge.ports import DurableObject, DurableObjectError
from hoox_edge.shared import clock


class Counter(DurableObject):
    """Increments with an await between read and write: lost updates show if calls interleave."""

    def __init__(self, ctx, env) -> None:
        super().__init__(ctx, env)
        self.sql = ctx.storage.sql
        self.sql.exec("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        self.sql.exec("CREATE TABLE IF NOT EXISTS alarms_run (at REAL NOT NULL)")
        self.fail_alarms = 0

    async def increment(self, by: int = 1) -> int:
        rows = self.sql.exec("SELECT n FROM counter WHERE id = 1").to_list()
        current = rows[0]["n"] if rows else 0
        await asyncio.sleep(0)  # yield to the loop between read and write
        cur = self.sql.exec("INSERT INTO counter (id, n) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET n = ?",
                            current + by, current + by)
        assert cur.rows_written == 1
        return current + by

    async def value(self) -> int:
        rows = list(self.sql.exec("SELECT n FROM counter WHERE id = 1"))
        return rows[0]["n"] if rows else 0

    async def echo(self, payload, *, tag=None):
        payload["seen"] = True
        return {"payload": payload, "tag": tag}

    async def unserialisable(self):
        return {1, 2}

    async def boom(self) -> None:
        raise RuntimeError("boom inside the object")

    async def increment_then_fail(self) -> None:
        await self.increment(100)
        raise RuntimeError("failed after writing")

    async def schedule(self, seconds: float, fail_times: int = 0) -> None:
        self.fail_alarms = fail_times
        await self.ctx.storage.set_alarm(clock.now_ms() + seconds * 1000)

    async def next_alarm(self):
        return await self.ctx.storage.get_alarm()

    async def cancel_alarm(self) -> None:
        await self.ctx.storage.delete_alarm()

    async def alarm_runs(self) -> int:
        return self.sql.exec("SELECT COUNT(*) AS n FROM alarms_run").one()["n"]

    async def wipe(self) -> None:
        await self.ctx.storage.delete_all()

    async def alarm(self) -> None:
        if self.fail_alarms > 0:
            self.fail_alarms -= 1
            raise RuntimeError("alarm failed")
        self.sql.exec("INSERT INTO alarms_run (at) VALUES (?)", clock.now())


class Other(Counter):
    pass


def stub(adapters, name: str = "acct", cls=Counter):
    ns = adapters.durable_objects(cls)
    return ns.get(ns.id_from_name(name))


async def test_ids_are_stable_per_class_and_name(adapters):
    ns = adapters.durable_objects(Counter)
    a1, a2, b = ns.id_from_name("bybit"), ns.id_from_name("bybit"), ns.id_from_name("binance")
    assert a1.hex == a2.hex and a1.hex != b.hex
    assert len(a1.hex) == 64 and int(a1.hex, 16) >= 0
    assert adapters.durable_objects(Other).id_from_name("bybit").hex != a1.hex


async def test_rpc_passes_json_values(adapters):
    s = stub(adapters)
    sent = {"items": (1, 2), "n": 1.5}
    got = await s.echo(sent, tag="t")
    assert got == {"payload": {"items": [1, 2], "n": 1.5, "seen": True}, "tag": "t"}
    assert "seen" not in sent  # the object got a copy, as across the JS boundary
    with pytest.raises(TypeError):
        await s.unserialisable()
    with pytest.raises(TypeError):
        await s.echo({"when": object()})


async def test_an_exception_in_the_object_reaches_the_caller(adapters):
    s = stub(adapters)
    with pytest.raises(Exception, match="boom inside the object"):
        await s.boom()
    assert await s.increment() == 1  # the object still works


async def test_a_call_that_raises_leaves_no_partial_writes(adapters):
    s = stub(adapters)
    assert await s.increment() == 1
    with pytest.raises(DurableObjectError, match="failed after writing"):
        await s.increment_then_fail()
    assert await s.value() == 1  # the failed call's write was rolled back with it


async def test_one_call_at_a_time_no_lost_update(adapters):
    s = stub(adapters)
    results = await asyncio.gather(*(s.increment() for _ in range(50)))
    assert sorted(results) == list(range(1, 51))
    assert await s.value() == 50
    # a second stub for the same id reaches the same object
    assert await stub(adapters).value() == 50
    assert await stub(adapters, "another").value() == 0


@pytest.mark.needs("fake_clock")
async def test_alarm_fires_when_due(adapters, clock):
    s = stub(adapters)
    await s.schedule(30)
    assert await s.next_alarm() == pytest.approx(clock() * 1000 + 30_000)
    assert await adapters.fire_due_alarms() == 0
    clock.advance(29)
    assert await adapters.fire_due_alarms() == 0
    clock.advance(2)
    assert await adapters.fire_due_alarms() == 1
    assert await s.alarm_runs() == 1
    assert await s.next_alarm() is None
    assert await adapters.fire_due_alarms() == 0  # ran once


@pytest.mark.needs("fake_clock")
async def test_deleted_alarm_does_not_fire(adapters, clock):
    s = stub(adapters)
    await s.schedule(10)
    await s.cancel_alarm()
    clock.advance(60)
    assert await adapters.fire_due_alarms() == 0
    assert await s.alarm_runs() == 0


@pytest.mark.needs("fake_clock")
async def test_a_raising_alarm_is_retried(adapters, clock):
    s = stub(adapters)
    await s.schedule(1, fail_times=1)
    clock.advance(2)
    assert await adapters.fire_due_alarms() == 1  # ran and raised
    assert await s.alarm_runs() == 0
    assert await s.next_alarm() is not None  # rescheduled with backoff
    clock.advance(5)
    assert await adapters.fire_due_alarms() == 1
    assert await s.alarm_runs() == 1
    assert await s.next_alarm() is None


@pytest.mark.needs("restart", "fake_clock")
async def test_alarm_and_storage_survive_a_restart(adapters, clock):
    await stub(adapters).increment(5)
    await stub(adapters).schedule(60)
    again = adapters.reopen()
    clock.advance(61)
    assert await again.fire_due_alarms() == 1
    s = stub(again)
    assert await s.alarm_runs() == 1
    assert await s.value() == 5


async def test_delete_all_drops_the_state(adapters, clock):
    s = stub(adapters)
    await s.increment(3)
    await s.schedule(60)
    await s.wipe()
    assert await s.next_alarm() is None
    if "restart" in adapters.capabilities:
        assert adapters.do_file_count(Counter) == 0
    # a later call starts from scratch on a fresh object
    fresh = stub(adapters.reopen() if "restart" in adapters.capabilities else adapters)
    assert await fresh.value() == 0


class Scratch(DurableObject):
    """SQL only once it writes: no table (and locally no file) before its first write or after delete_all."""

    async def write(self, n: int) -> None:
        self.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS t (n INTEGER NOT NULL)")
        self.ctx.storage.sql.exec("INSERT INTO t (n) VALUES (?)", n)

    async def values(self) -> list[int]:
        sql = self.ctx.storage.sql
        if not sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 't'").to_list():
            return []
        return [r["n"] for r in sql.exec("SELECT n FROM t ORDER BY rowid")]

    async def wipe(self) -> None:
        await self.ctx.storage.delete_all()


async def test_sql_is_empty_before_the_first_write_and_after_delete_all_and_writable_again(adapters):
    s = stub(adapters, "scratch", Scratch)
    assert await s.values() == [] and await s.values() == []  # nothing written: an empty database
    await s.write(1)
    assert await s.values() == [1]
    await s.wipe()
    assert await s.values() == [] and await s.values() == []
    await s.write(2)  # the same object, in the same runtime, after its storage went
    assert await s.values() == [2]
    other = stub(adapters, "scratch-other", Scratch)
    assert await other.values() == []
    await other.write(5)
    assert await other.values() == [5] and await s.values() == [2]


# --------------------------------------------------------------------------- key-value storage
class Notes(DurableObject):
    """The key-value API: every test drives it through RPC, as a worker would."""

    async def put(self, key, value) -> None:
        await self.ctx.storage.put(key, value)

    async def get(self, key):
        return await self.ctx.storage.get(key)

    async def delete(self, key) -> bool:
        return await self.ctx.storage.delete(key)

    async def list(self, prefix="", limit=None):
        return await self.ctx.storage.list(prefix=prefix, limit=limit)

    async def put_then_fail(self, key, value) -> None:
        await self.ctx.storage.put(key, value)
        await self.ctx.storage.delete("keep")
        raise RuntimeError("failed after writing")

    async def wipe_then_fail(self) -> None:
        await self.ctx.storage.delete_all()
        raise RuntimeError("failed after wiping")

    async def read_own_writes(self):
        await self.ctx.storage.put("a", 1)
        await self.ctx.storage.put("b", {"n": 2})
        first = await self.ctx.storage.get("a")
        await self.ctx.storage.delete("a")
        return {"first": first, "after": await self.ctx.storage.get("a"),
                "listed": await self.ctx.storage.list()}

    async def mutate_copy(self):
        value = await self.ctx.storage.get("obj")
        value["changed"] = True
        return await self.ctx.storage.get("obj")

    async def bad_put(self, kind: str) -> str:
        value = {"nan": float("nan"), "none": None, "object": {"x": object()}}[kind]
        try:
            await self.ctx.storage.put("k", value)
        except (TypeError, ValueError) as exc:
            return type(exc).__name__
        return "stored"

    async def arm(self, ms: float) -> None:
        await self.ctx.storage.set_alarm(ms)

    async def arm_then_fail(self, ms: float) -> None:
        await self.ctx.storage.set_alarm(ms)
        raise RuntimeError("failed after arming")

    async def put_many(self, count: int) -> None:
        for i in range(count):
            await self.ctx.storage.put(f"k:{i:04d}", i)

    async def next_alarm(self):
        return await self.ctx.storage.get_alarm()

    async def wipe(self) -> None:
        await self.ctx.storage.delete_all()


async def test_kv_put_get_delete_and_list(adapters):
    s = stub(adapters, cls=Notes)
    assert await s.get("missing") is None
    values = {"str": "x", "int": 7, "float": 1.5, "bool": True, "list": [1, "a", None],
              "dict": {"nested": {"n": [1, 2]}, "none": None}}
    for k, v in values.items():
        await s.put(f"v:{k}", v)
    for k, v in values.items():
        assert await s.get(f"v:{k}") == v
    await s.put("w:2", 2)
    await s.put("w:1", 1)
    assert list(await s.list(prefix="v:")) == sorted(f"v:{k}" for k in values)  # key order
    assert await s.list(prefix="w:") == {"w:1": 1, "w:2": 2}
    assert list(await s.list(limit=2)) == sorted(f"v:{k}" for k in values)[:2]
    assert await s.delete("w:1") is True
    assert await s.delete("w:1") is False
    assert await s.get("w:1") is None
    await s.put("w:2", "replaced")
    assert await s.list(prefix="w:") == {"w:2": "replaced"}


async def test_kv_entries_belong_to_one_object(adapters):
    a, b = stub(adapters, "a", cls=Notes), stub(adapters, "b", cls=Notes)
    await a.put("k", "of a")
    assert await b.get("k") is None and await b.list() == {}
    await b.put("k", "of b")
    assert (await a.get("k"), await b.get("k")) == ("of a", "of b")


async def test_kv_reads_see_the_calls_own_writes_and_values_are_copies(adapters):
    s = stub(adapters, cls=Notes)
    assert await s.read_own_writes() == {"first": 1, "after": None, "listed": {"b": {"n": 2}}}
    await s.put("obj", {"n": 1})
    assert await s.mutate_copy() == {"n": 1}


async def test_kv_refuses_values_that_are_not_json(adapters):
    s = stub(adapters, cls=Notes)
    assert [await s.bad_put(k) for k in ("nan", "none", "object")] == ["TypeError"] * 3
    assert await s.get("k") is None


async def test_kv_writes_of_a_call_that_raises_are_rolled_back(adapters):
    s = stub(adapters, cls=Notes)
    await s.put("keep", "kept")
    with pytest.raises(DurableObjectError, match="failed after writing"):
        await s.put_then_fail("new", 1)
    assert await s.list() == {"keep": "kept"}
    await s.arm(clock.now_ms() + 60_000)
    with pytest.raises(DurableObjectError, match="failed after wiping"):
        await s.wipe_then_fail()
    assert await s.list() == {"keep": "kept"}
    assert await s.next_alarm() is not None


@pytest.mark.needs("restart")
async def test_a_raising_call_keeps_the_alarm_it_tried_to_move(adapters):
    s = stub(adapters, cls=Notes)
    at = clock.now_ms() + 60_000
    await s.arm(at)
    again = adapters.reopen()  # a fresh object: it has not read its alarm before the call that raises
    s = stub(again, cls=Notes)
    with pytest.raises(DurableObjectError, match="failed after arming"):
        await s.arm_then_fail(at + 60_000)
    assert await s.next_alarm() == at


@pytest.mark.needs("restart")
@pytest.mark.parametrize("count", [1, 64, 65, 200])
async def test_kv_reads_of_small_and_large_objects(adapters, count):
    await stub(adapters, cls=Notes).put_many(count)
    s = stub(adapters.reopen(), cls=Notes)  # read back by an object that has cached nothing
    assert await s.get(f"k:{count - 1:04d}") == count - 1
    assert await s.get("k:missing") is None
    assert await s.list(prefix="k:", limit=3) == {f"k:{i:04d}": i for i in range(min(count, 3))}
    assert len(await s.list()) == count


async def test_kv_delete_all_drops_entries_and_alarm(adapters):
    s = stub(adapters, cls=Notes)
    await s.put("a", 1)
    await s.arm(clock.now_ms() + 60_000)
    await s.wipe()
    assert await s.list() == {} and await s.next_alarm() is None
    await s.put("b", 2)
    assert await s.list() == {"b": 2}


@pytest.mark.needs("restart")
async def test_kv_entries_survive_a_restart(adapters):
    await stub(adapters, cls=Notes).put("k", {"n": 1})
    again = adapters.reopen()
    assert await stub(again, cls=Notes).list() == {"k": {"n": 1}}
