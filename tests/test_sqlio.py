"""The local adapters' SQLite plumbing: group commit (output gate, per-unit rollback, failed
commits) and reads that leave the event loop when they are long and stop when their caller does."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from hoox_edge.local import sqlio

ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"


async def until(condition, what: str, tries: int = 2000) -> None:
    """Wait (yielding to the loop) until `condition()` holds; fail saying what did not happen."""
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(0.005)
    pytest.fail(f"timed out waiting until {what}")


@pytest.fixture
def writer(tmp_path):
    w = sqlio.WriteConnection(tmp_path / "db.sqlite", ddl=["CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)"])
    yield w
    w.close()


def committed(path) -> dict[str, int]:
    """What another connection sees: committed rows only."""
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT k, v FROM t").fetchall())
    finally:
        conn.close()


def insert(k: str, v: int):
    return lambda conn: conn.execute("INSERT INTO t (k, v) VALUES (?, ?)", (k, v)).rowcount


async def test_units_of_many_callers_share_commits(writer):
    results = await asyncio.gather(*(writer.run(insert(f"k{i}", i)) for i in range(40)))
    assert results == [1] * 40
    assert committed(writer.path) == {f"k{i}": i for i in range(40)}
    assert writer.units == 40 and writer.commits < 40  # grouped: fewer fsyncs than units


async def test_a_failing_unit_rolls_back_alone(writer):
    def fails(conn):
        conn.execute("INSERT INTO t (k, v) VALUES ('bad', 1)")
        raise ValueError("refused after writing")

    got = await asyncio.gather(writer.run(insert("a", 1)), writer.run(fails), writer.run(insert("b", 2)),
                               return_exceptions=True)
    assert got[0] == 1 and got[2] == 1 and isinstance(got[1], ValueError)
    assert committed(writer.path) == {"a": 1, "b": 2}
    with pytest.raises(sqlite3.IntegrityError):  # a constraint is that unit's error only
        await writer.run(insert("a", 9))
    # one statement needs no savepoint: SQLite undoes a failed statement by itself
    got = await asyncio.gather(writer.run(insert("c", 3), one_statement=True),
                               writer.run(insert("a", 9), one_statement=True), return_exceptions=True)
    assert got[0] == 1 and isinstance(got[1], sqlite3.IntegrityError)
    assert committed(writer.path) == {"a": 1, "b": 2, "c": 3}
    # the first unit of a transaction needs no savepoint: failing, it takes the transaction with it
    with pytest.raises(ValueError):
        await writer.run(fails)
    assert not writer.conn.in_transaction
    assert await writer.run(insert("d", 4)) == 1
    assert committed(writer.path) == {"a": 1, "b": 2, "c": 3, "d": 4}


@pytest.fixture
def gate(writer, monkeypatch) -> threading.Event:
    """Commits of `writer` wait (in their thread) until the test sets the returned event."""
    event = threading.Event()
    real = writer._commit_in_thread

    def held_commit() -> None:
        event.wait(10)
        real()

    monkeypatch.setattr(writer, "_commit_in_thread", held_commit)
    return event


async def test_an_answer_waits_for_the_commit_that_holds_it(writer, gate):
    first = asyncio.create_task(writer.run(insert("a", 1)))
    await until(lambda: writer._committing, "the commit started")
    second = asyncio.create_task(writer.run(insert("b", 2)))  # arrives during the commit: the next group
    for _ in range(20):
        await asyncio.sleep(0)
    assert not first.done() and not second.done()  # no answer before the fsync returned
    assert committed(writer.path) == {}
    # a read sees the writes made so far, as one connection would; the barrier waits for them
    barrier = asyncio.create_task(sqlio.barrier())
    gate.set()
    assert await first == 1 and await second == 1
    await barrier
    assert committed(writer.path) == {"a": 1, "b": 2}
    assert await writer.read("SELECT COUNT(*) FROM t") == (["COUNT(*)"], [(2,)])


async def test_a_caller_that_gives_up_does_not_cancel_the_others_of_its_group(writer, gate):
    first = asyncio.create_task(writer.run(insert("a", 1)))
    second = asyncio.create_task(writer.run(insert("b", 2)))
    await until(lambda: writer._committing, "the commit started")
    assert writer.pending() is not None and writer.units == 2  # both units in the commit in flight
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    gate.set()
    assert await second == 1
    assert committed(writer.path) == {"a": 1, "b": 2}  # the commit went on; only the answer was dropped


async def test_units_waiting_for_a_commit_find_their_transaction_opened_by_it(writer, gate, monkeypatch):
    begins: list[int] = []
    real_begin = writer._begin

    async def counted_begin() -> None:
        begins.append(1)
        await real_begin()

    monkeypatch.setattr(writer, "_begin", counted_begin)
    first = asyncio.create_task(writer.run(insert("a", 1)))
    await until(lambda: writer._committing, "the commit started")
    second = asyncio.create_task(writer.run(insert("b", 2)))
    await until(lambda: len(writer._waiters) == 1, "the second unit waits for the commit")
    gate.set()
    assert await first == 1 and await second == 1
    assert len(begins) == 1  # the second unit's BEGIN ran in the commit thread, not on the loop
    assert committed(writer.path) == {"a": 1, "b": 2}

    # one opened for a waiter that writes nothing (a read) is given back: other processes may write
    gate.clear()
    third = asyncio.create_task(writer.run(insert("c", 3)))
    await until(lambda: writer._committing, "the third commit started")
    read = asyncio.create_task(writer.read("SELECT COUNT(*) FROM t"))
    await until(lambda: len(writer._waiters) == 1, "the read waits for the commit")
    gate.set()
    assert await third == 1 and await read == (["COUNT(*)"], [(3,)])
    await until(lambda: not writer.conn.in_transaction, "the unused transaction was given back")
    other = sqlite3.connect(writer.path, timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")  # the write lock is free
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_a_failed_commit_fails_every_unit_of_its_group(writer, monkeypatch):
    def disk_full() -> None:
        writer.conn.execute("ROLLBACK")
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(writer, "_commit_in_thread", disk_full)
    got = await asyncio.gather(writer.run(insert("a", 1)), writer.run(insert("b", 2)), return_exceptions=True)
    assert all(isinstance(g, sqlite3.OperationalError) for g in got)  # nobody was told it was stored
    monkeypatch.undo()
    assert await writer.run(insert("c", 3)) == 1
    assert committed(writer.path) == {"c": 3}


async def test_a_long_read_leaves_the_loop_and_stops_with_its_caller(tmp_path):
    path = tmp_path / "db.sqlite"
    sqlio.connect(path).close()
    reader = sqlio.Reader(path)
    try:
        endless = asyncio.create_task(reader.read(ENDLESS))
        # running in a thread, not only queued for one (the read pool is shared with the other tests;
        # a job cancelled while queued never takes a connection)
        await until(lambda: any(job.conn is not None for job in reader._jobs), "the endless read runs in a thread")
        assert reader.running == 1
        # the loop is free: a short read (on the loop) is answered while the long one runs
        assert await reader.read("SELECT 41 + 1") == (["41 + 1"], [(42,)])
        assert not endless.done()
        endless.cancel()
        with pytest.raises(asyncio.CancelledError):
            await endless
        await until(lambda: len(reader._idle) == 1, "the interrupted thread gave its connection back")
        assert reader.running == 0
    finally:
        reader.close()


async def test_a_long_read_on_the_writer_moves_to_a_reader(writer):
    assert await writer.read(ENDLESS, budget=0.001) is None  # interrupted on the loop: the caller offloads
    assert await writer.read("SELECT COUNT(*) FROM t") == (["COUNT(*)"], [(0,)])  # the connection still works


async def test_the_kv_read_cache_sees_writes_of_this_process_and_of_others(tmp_path):
    from hoox_edge.local.kv import LocalKV

    kv = LocalKV(tmp_path / "kv.sqlite")
    try:
        assert await kv.get("trade:kill_switch") is None  # cached: absent
        await kv.put("trade:kill_switch", "true")
        assert await kv.get("trade:kill_switch") == "true"
        # another process (the CLI writes KV files directly) changes it behind the runtime's back
        other = sqlite3.connect(tmp_path / "kv.sqlite")
        other.execute("UPDATE kv SET value = 'false' WHERE key = 'trade:kill_switch'")
        other.commit()
        other.close()
        await asyncio.sleep(0)  # the next request: a later loop iteration
        assert await kv.get("trade:kill_switch") == "false"
    finally:
        kv.close()
