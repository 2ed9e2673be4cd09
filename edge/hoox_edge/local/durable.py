"""Local Durable Objects: one database per class, one call at a time per object, alarms that fire.

- `id_from_name` derives a stable 64-hex id from class and name (sha256), like Cloudflare's ids.
- Every RPC call and alarm takes the object's `asyncio.Lock`: one call at a time per object. (So
  an object must not call its own stub: that call would wait for itself.) Instances stay in memory
  while they are used; beyond `MAX_LIVE_OBJECTS` the idle ones are evicted, as Cloudflare evicts
  idle objects, and come back from storage on their next call.
- Arguments and results go through a JSON round trip, as they cross the JS boundary on Cloudflare,
  and an exception raised by the object reaches the caller as `DurableObjectError` (on Cloudflare
  the caller cannot catch the object's own exception types either).
- **Key-value storage** (`ctx.storage.get/put/delete/list`) and **alarms** of every object of a
  class live in one database, `state/do/<Class>.sqlite` (tables `kv` and `alarms`, keyed by object
  id), so a class with a million objects holds one file open, not a million. Values are JSON. An
  object keeps what it read in memory; a call's writes are staged in memory and written as one unit
  of the class database's group commit when the call returns, and the caller gets the result once
  that commit is on disk (Cloudflare's output gate). A call that raises leaves nothing behind.
- **SQL storage** (`ctx.storage.sql.exec`) is one SQLite file per object,
  `state/do/<Class>/<hex>.sqlite`, created by the first statement that writes (reads of an object
  that has no file see an empty database). A call's statements are one transaction, committed in a
  thread before the result is returned, rolled back when the call raises. At most
  `MAX_OPEN_SQL_FILES` files are held open; the least recently used idle one is closed first.
  An object that uses both APIs gets each committed before its answer, not both atomically.
- A due alarm runs `alarm()` under the object's lock; its removal is part of the alarm's own unit,
  so an alarm that raises is still there, and is retried with backoff (2 s, 4 s, ... up to 6
  retries, as Cloudflare does). A restarted runtime finds pending alarms in the class databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import re
import sqlite3
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hoox_edge.local import sqlio
from hoox_edge.local.d1 import split_statements, sql_values
from hoox_edge.ports import (
    DurableObject,
    DurableObjectError,
    DurableObjectId,
    DurableObjectState,
    Env,
    check_list_limit,
    check_storage_entry,
)
from hoox_edge.shared import clock

_py = logging.getLogger("hoox.local")

ALARM_MAX_RETRIES = 6
MAX_LIVE_OBJECTS = 4096
MAX_OPEN_SQL_FILES = 32
ALARM_BATCH = 256  # due alarms read at a time
SMALL_OBJECT_ENTRIES = 64  # an object with at most this many entries is read whole by its first get
# RPC calls by class and method, for bench/pipeline_bench.py (one increment per call).
CALLS: Counter[str] = Counter()

_CLASS_DDL = (
    "CREATE TABLE IF NOT EXISTS kv (object TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
    "PRIMARY KEY (object, key)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS alarms (object TEXT PRIMARY KEY, name TEXT, scheduled_ms REAL NOT NULL, "
    "retries INTEGER NOT NULL DEFAULT 0, last_error TEXT)",
    "CREATE INDEX IF NOT EXISTS alarms_due ON alarms (scheduled_ms)",
)
_UNKNOWN: Any = object()  # not read yet
_HEX_ID = re.compile(r"[0-9a-f]{64}")


def _json_round_trip(value: Any, what: str) -> Any:
    if value is None or type(value) in (str, int, bool):  # immutable and the same after a round trip
        return value
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON-serialisable (it crosses the JS boundary): {exc}") from None


# --------------------------------------------------------------------------- SQL storage
class LocalSqlCursor:
    def __init__(self, columns: list[str], rows: list[tuple], rows_written: int, rows_read: int) -> None:
        self.column_names = columns
        self._rows = rows
        self._rows_written = rows_written
        self._rows_read = rows_read

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for r in self._rows:
            yield dict(zip(self.column_names, r, strict=False))

    def to_list(self) -> list[dict[str, Any]]:
        return list(self)

    def one(self) -> dict[str, Any]:
        if len(self._rows) != 1:
            raise ValueError(f"Expected exactly one result from SQL query, but got {len(self._rows)}.")
        return dict(zip(self.column_names, self._rows[0], strict=False))

    @property
    def rows_written(self) -> int:
        return self._rows_written

    @property
    def rows_read(self) -> int:
        return self._rows_read


class _SqlFiles:
    """The open SQL-storage files of a host: at most `MAX_OPEN_SQL_FILES`, least recently used and
    idle closed first. Each open file has its own group committer."""

    def __init__(self) -> None:
        self._open: OrderedDict[Path, sqlio.WriteConnection] = OrderedDict()
        self.busy: set[Path] = set()  # in a call: never closed under it
        self._empty: sqlite3.Connection | None = None
        # The file names of each class folder, listed once. Only `open` makes a file (one runtime per
        # workspace), so an object that keeps no SQL (the key-value ones: a lock per signal, a rate
        # limiter) costs no look on disk, not even the first call of each new object.
        self._listed: dict[Path, set[str]] = {}

    def _names(self, folder: Path) -> set[str]:
        names = self._listed.get(folder)
        if names is None:
            try:
                names = set(os.listdir(folder))
            except FileNotFoundError:
                names = set()
            self._listed[folder] = names
        return names

    def exists(self, path: Path) -> bool:
        return path in self._open or path.name in self._names(path.parent)

    def get(self, path: Path) -> sqlio.WriteConnection | None:
        wc = self._open.get(path)
        if wc is not None:
            self._open.move_to_end(path)
        return wc

    def open(self, path: Path) -> sqlio.WriteConnection:
        wc = self.get(path)
        if wc is None:
            wc = self._open[path] = sqlio.WriteConnection(path)
            self._names(path.parent).add(path.name)
            self._evict()
        return wc

    def _evict(self) -> None:
        for path in list(self._open):
            if len(self._open) <= MAX_OPEN_SQL_FILES:
                return
            wc = self._open[path]
            if path not in self.busy and wc.idle:
                del self._open[path]
                wc.close()

    def empty(self) -> sqlite3.Connection:
        """A read-only empty database: what reads of an object without a file see."""
        if self._empty is None:
            self._empty = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self._empty.execute("PRAGMA query_only = ON")
            self._empty.set_authorizer(lambda action, *_: sqlite3.SQLITE_OK if action in sqlio._READ_ACTIONS
                                       else sqlite3.SQLITE_DENY)
        return self._empty

    async def drop(self, path: Path) -> None:
        """Close the file once what it holds is committed, and delete it."""
        wc = self._open.pop(path, None)
        if wc is not None:
            await wc.drain()
            wc.close()
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                path.with_name(path.name + suffix).unlink()
        self._names(path.parent).discard(path.name)

    def close(self) -> None:
        for wc in self._open.values():
            wc.close()
        self._open.clear()
        if self._empty is not None:
            self._empty.close()
            self._empty = None


class LocalSqlStorage:
    """One object's SQL file. A call's statements are one unit of the file's group commit: the
    object's next call may start while the commit runs, each caller is answered once its unit is
    on disk, and a call that raises is rolled back to its savepoint."""

    def __init__(self, files: _SqlFiles, path: Path) -> None:
        self.path = path
        self._files = files
        self._unit: tuple[sqlio.WriteConnection, sqlio._Group] | None = None
        self._in_call = False
        self.drop_at_end = False  # delete_all(): the file goes when the call returns

    async def ready(self) -> None:
        """Wait until the object's file is free (no commit in flight): statements outside a call run then."""
        wc = self._files.get(self.path)
        if wc is not None:
            await wc.wait_turn()

    async def begin_call(self) -> None:
        self._in_call = True
        self._files.busy.add(self.path)
        wc = self._files.get(self.path)
        if wc is None and self._files.exists(self.path):
            wc = self._files.open(self.path)
        if wc is not None:  # an object without a file gets one at its first write (see exec)
            self._unit = (wc, await wc.enter())

    def end_call(self, *, commit: bool) -> sqlio._Group | None:
        """Close the call's unit (kept or rolled back); the group to wait on before answering."""
        self._in_call = False
        self._files.busy.discard(self.path)
        unit, self._unit = self._unit, None
        if unit is None:
            return None
        wc, group = unit
        wc.exit(group, ok=commit and not self.drop_at_end)
        return group

    def exec(self, query: str, *bindings: Any) -> LocalSqlCursor:
        """Run SQL synchronously; without bindings several `;`-separated statements may be given."""
        if self._unit is not None:
            return self._run(self._unit[0].conn, query, bindings)
        wc = self._files.get(self.path)
        if wc is None and not self._files.exists(self.path):
            try:
                return self._run(self._files.empty(), query, bindings)
            except sqlite3.DatabaseError as exc:
                if not sqlio.is_denied(exc):
                    raise
            wc = self._files.open(self.path)  # it writes: now the object gets its file
            if self._in_call:
                self._unit = (wc, wc.enter_now())
                return self._run(wc.conn, query, bindings)
        wc = wc or self._files.open(self.path)
        return self._run(wc.conn, query, bindings)  # outside a call (a constructor): autocommit

    @staticmethod
    def _run(conn: sqlite3.Connection, query: str, bindings: tuple[Any, ...]) -> LocalSqlCursor:
        before = conn.total_changes
        if bindings or ";" not in query.rstrip().rstrip(";"):  # one statement, the common case
            cur = conn.execute(query, sql_values(bindings))
            rows = cur.fetchall()
        else:  # several, none with bindings
            for stmt in split_statements(query) or [query]:
                cur = conn.execute(stmt)
                rows = cur.fetchall()
        cols = [d[0] for d in cur.description or ()]
        return LocalSqlCursor(cols, rows, conn.total_changes - before, len(rows))

    async def drop(self) -> None:
        self.drop_at_end = False
        await self._files.drop(self.path)


# --------------------------------------------------------------------------- key-value storage
class _ClassStore:
    """`state/do/<Class>.sqlite`: the key-value entries and alarms of every object of one class."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer = sqlio.writer(path, ddl=_CLASS_DDL)
        self.conn = sqlio.connect(path)  # point reads on the loop (a key, an object's entries)
        self.generation = 0  # bumped when a commit fails: every object then reloads what it cached

    def close(self) -> None:
        self.conn.close()
        sqlio.release_writer(self.path)


class LocalDurableObjectStorage:
    """One object's storage: key-value entries and its alarm (class database), SQL (its own file)."""

    def __init__(self, host: DurableObjectHost, class_name: str, object_id: DurableObjectId) -> None:
        self._host = host
        self._id = object_id
        self._store = host._class_store(class_name)
        self.sql = LocalSqlStorage(host._sql_files, host.object_path(class_name, object_id.hex))
        self._entries: dict[str, str | None] = {}  # JSON text; None: known to be absent
        self._complete = False  # every entry of the object is in `_entries`
        self._large = False  # more than SMALL_OBJECT_ENTRIES entries: `get` reads a key at a time
        self._alarm: Any = _UNKNOWN
        self._generation = self._store.generation
        self._in_call = False
        self._undo: list[tuple[Any, ...]] = []
        self._writes: dict[str, str | None] = {}  # staged by this call (None: delete)
        self._wipe = False
        self._alarm_touched = False
        self._last_group: sqlio._Group | None = None  # the latest unit of this object's writes

    # ----------------------------------------------------------------- calls
    async def begin_call(self) -> None:
        if self._generation != self._store.generation:  # a commit failed: forget what may not be on disk
            self._entries, self._complete, self._large, self._alarm = {}, False, False, _UNKNOWN
            self._generation = self._store.generation
        self._in_call = True
        await self.sql.begin_call()

    def rollback(self) -> None:
        """Forget the call's staged writes (it raised)."""
        for op in reversed(self._undo):
            if op[0] == "key":
                _, key, previous = op
                if previous is _UNKNOWN:
                    self._entries.pop(key, None)
                else:
                    self._entries[key] = previous
            elif op[0] == "wipe":
                self._entries, self._complete = op[1], op[2]
            else:  # alarm
                self._alarm = op[1]
        self._reset_call()

    async def flush(self) -> sqlio._Group | None:
        """Write the call's staged changes as one unit; the group to wait on before answering.

        A call that wrote nothing still waits for the object's previous unit if it is not on disk
        yet: its answer may rest on what that unit wrote (Cloudflare's output gate does the same).
        """
        writes, wipe, alarm_touched, alarm = self._writes, self._wipe, self._alarm_touched, self._alarm
        if self._generation != self._store.generation:
            self.rollback()
            raise RuntimeError("Durable Object storage failed to commit an earlier write; retry the call")
        self._reset_call()
        if not writes and not wipe and not alarm_touched:
            last = self._last_group
            return last if last is not None and not last.done else None
        hex_id, name = self._id.hex, self._id.name

        def unit(conn: sqlite3.Connection) -> None:
            if wipe:
                conn.execute("DELETE FROM kv WHERE object = ?", (hex_id,))
            puts = [(hex_id, k, v) for k, v in writes.items() if v is not None]
            deletes = [(hex_id, k) for k, v in writes.items() if v is None]
            if puts:
                conn.executemany("INSERT OR REPLACE INTO kv (object, key, value) VALUES (?, ?, ?)", puts)
            if deletes:
                conn.executemany("DELETE FROM kv WHERE object = ? AND key = ?", deletes)
            if alarm_touched:
                if alarm is None:
                    conn.execute("DELETE FROM alarms WHERE object = ?", (hex_id,))
                else:
                    conn.execute(
                        "INSERT INTO alarms (object, name, scheduled_ms) VALUES (?, ?, ?) "
                        "ON CONFLICT(object) DO UPDATE SET scheduled_ms = excluded.scheduled_ms, retries = 0, "
                        "last_error = NULL", (hex_id, name, alarm))

        writer = self._store.writer
        # No savepoint: these statements break no constraint, so only SQLite itself (disk full, I/O)
        # can fail them, and then the writer fails the whole group: none of it is acknowledged.
        group = await writer.enter(savepoint=False)
        try:
            unit(writer.conn)
        except BaseException:
            writer.exit(group, ok=False)
            raise
        writer.exit(group, ok=True)
        self._last_group = group
        if alarm_touched and alarm is not None:
            self._host.alarm_moved(alarm)
        return group

    def _reset_call(self) -> None:
        self._in_call = False
        self._undo = []
        self._writes = {}
        self._wipe = False
        self._alarm_touched = False

    def _staging(self) -> None:
        if not self._in_call:
            raise RuntimeError("Durable Object storage can only be written inside a call or alarm")

    # ----------------------------------------------------------------- key-value API
    def _value(self, key: str) -> str | None:
        if key in self._entries:
            return self._entries[key]
        if self._complete:
            return None
        if not self._large:
            # A small object (an idempotency lock) is read whole by its first `get`, in the one
            # statement a key would take: its later gets and `list` then need none.
            self._load_entries(SMALL_OBJECT_ENTRIES)
            if self._complete:
                return self._entries.get(key)
            self._large = True
        row = self._store.conn.execute("SELECT value FROM kv WHERE object = ? AND key = ?",
                                       (self._id.hex, key)).fetchone()
        text = row[0] if row else None
        self._entries[key] = text
        return text

    def _load_entries(self, limit: int = -1) -> None:
        """Read the object's entries (at most `limit` + 1); complete if they were all of them."""
        rows = self._store.conn.execute("SELECT key, value FROM kv WHERE object = ? LIMIT ?",
                                        (self._id.hex, limit + 1 if limit >= 0 else -1)).fetchall()
        if limit >= 0 and len(rows) > limit:
            return
        for key, text in rows:
            self._entries.setdefault(key, text)  # an entry read or staged before wins: it is newer
        self._complete = True

    def _stage(self, key: str, text: str | None) -> None:
        self._staging()
        self._undo.append(("key", key, self._entries.get(key, _UNKNOWN)))
        self._entries[key] = text
        self._writes[key] = text

    async def get(self, key: str) -> Any:
        check_storage_entry(key)
        text = self._value(key)
        return None if text is None else json.loads(text)

    async def put(self, key: str, value: Any) -> None:
        self._stage(key, check_storage_entry(key, value, putting=True))

    async def delete(self, key: str) -> bool:
        check_storage_entry(key)
        existed = self._value(key) is not None
        self._stage(key, None)
        return existed

    async def list(self, *, prefix: str = "", limit: int | None = None) -> dict[str, Any]:
        check_list_limit(limit)
        if not self._complete:
            self._load_entries()
        keys = sorted(k for k, v in self._entries.items() if v is not None and k.startswith(prefix))
        return {k: json.loads(self._entries[k]) for k in keys[:limit]}  # type: ignore[arg-type]

    # ----------------------------------------------------------------- alarms
    def alarm_now(self) -> float | None:
        if self._alarm is _UNKNOWN:
            row = self._store.conn.execute("SELECT scheduled_ms FROM alarms WHERE object = ?",
                                           (self._id.hex,)).fetchone()
            self._alarm = row[0] if row else None
        return self._alarm

    def _stage_alarm(self, scheduled_ms: float | None) -> None:
        self._staging()
        self._undo.append(("alarm", self._alarm))  # maybe _UNKNOWN: a rollback then reads it again
        self._alarm = scheduled_ms
        self._alarm_touched = True

    async def get_alarm(self) -> float | None:
        return self.alarm_now()

    async def set_alarm(self, scheduled_time_ms: float) -> None:
        self._stage_alarm(float(scheduled_time_ms))

    async def delete_alarm(self) -> None:
        self._stage_alarm(None)

    async def delete_all(self) -> None:
        self._staging()
        self._undo.append(("wipe", self._entries, self._complete))
        self._entries, self._complete, self._writes, self._wipe = {}, True, {}, True
        self._stage_alarm(None)
        self.sql.drop_at_end = True  # the object's SQL file goes with the rest when the call returns


# --------------------------------------------------------------------------- host
class _Live:
    def __init__(self, storage: LocalDurableObjectStorage) -> None:
        self.instance: DurableObject | None = None
        self.storage = storage
        self.lock = asyncio.Lock()
        self.users = 0  # calls holding or waiting for it: never evicted under them


class DurableObjectHost:
    """Every Durable Object of a runtime: instances, locks, class databases and alarms.

    `resolve_class(class_name)` returns the class; `env_for(class_name)` the Env of the worker that
    owns it. Both are called lazily, so a namespace can exist before its module does.
    """

    def __init__(self, root: Path, resolve_class: Callable[[str], type[DurableObject]],
                 env_for: Callable[[str], Env]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._resolve_class = resolve_class
        self._env_for = env_for
        self._live: OrderedDict[tuple[str, str], _Live] = OrderedDict()
        self._stores: dict[str, _ClassStore] = {}
        self._sql_files = _SqlFiles()
        self.alarm_changed = asyncio.Event()
        self._next_alarm_ms: float | None = None  # as last computed by next_alarm_ms()
        for path in self.root.glob("*.sqlite"):  # classes with storage from earlier runs (their alarms)
            if path.stem.isidentifier() and path.stem != "alarms":
                self._class_store(path.stem)
        self._adopt_alarm_index()

    def namespace(self, class_name: str) -> LocalDurableObjectNamespace:
        return LocalDurableObjectNamespace(self, class_name)

    def object_path(self, class_name: str, hex_id: str) -> Path:
        if not _HEX_ID.fullmatch(hex_id):
            raise ValueError(f"invalid Durable Object id {hex_id!r}")
        return self.root / class_name / f"{hex_id}.sqlite"

    def _class_store(self, class_name: str) -> _ClassStore:
        store = self._stores.get(class_name)
        if store is None:
            if not class_name.isidentifier():
                raise ValueError(f"invalid Durable Object class name {class_name!r}")
            store = self._stores[class_name] = _ClassStore(self.root / f"{class_name}.sqlite")
        return store

    def _adopt_alarm_index(self) -> None:
        """Move the alarms of the former index (`do/alarms.sqlite`, one row per object) into the
        class databases, once."""
        legacy = self.root / "alarms.sqlite"
        if not legacy.exists():
            return
        conn = sqlio.connect(legacy)
        try:
            rows = conn.execute("SELECT class_name, hex, name, scheduled_ms, retries, last_error FROM alarms"
                                ).fetchall() if conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'alarms'").fetchone() else []
        finally:
            conn.close()
        for class_name, hex_id, name, scheduled_ms, retries, last_error in rows:
            with contextlib.suppress(ValueError):
                self._class_store(class_name).writer.conn.execute(
                    "INSERT OR IGNORE INTO alarms (object, name, scheduled_ms, retries, last_error) "
                    "VALUES (?, ?, ?, ?, ?)", (hex_id, name, scheduled_ms, retries, last_error))
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                legacy.with_name(legacy.name + suffix).unlink()

    def close(self) -> None:
        self._live.clear()
        for store in self._stores.values():
            store.close()
        self._stores.clear()
        self._sql_files.close()

    def _live_object(self, class_name: str, object_id: DurableObjectId) -> _Live:
        key = (class_name, object_id.hex)
        live = self._live.get(key)
        if live is None:
            live = self._live[key] = _Live(LocalDurableObjectStorage(self, class_name, object_id))
            self._evict()
        else:
            self._live.move_to_end(key)
        return live

    def _evict(self) -> None:
        excess = len(self._live) - MAX_LIVE_OBJECTS
        if excess <= 0:
            return
        for key in list(itertools.islice(self._live, excess + 64)):  # the least recently used first
            if self._live[key].users == 0:
                del self._live[key]
                excess -= 1
                if excess == 0:
                    return

    def live_count(self, class_name: str) -> int:
        return sum(1 for (cls, _) in self._live if cls == class_name)

    def _instance(self, class_name: str, live: _Live) -> DurableObject:
        if live.instance is None:
            cls = self._resolve_class(class_name)
            state = DurableObjectState(id=live.storage._id, storage=live.storage)
            live.instance = cls(state, self._env_for(class_name))
        else:
            self._env_for(class_name)  # lets the runtime refresh secrets in the shared Env
        return live.instance

    async def _run_unit(self, live: _Live, body: Callable[[DurableObject], Any], class_name: str) -> Any:
        """Run `body(instance)` as one call: its storage writes are one unit of each database they
        touch, and the result is returned once those are on disk. The body's exception is raised
        after its writes are rolled back, once the object's earlier writes are on disk (it may rest
        on them)."""
        storage = live.storage
        groups: list[tuple[sqlio.WriteConnection, sqlio._Group]] = []
        failure: BaseException | None = None
        result: Any = None
        async with live.lock:
            if live.instance is None:
                await storage.sql.ready()  # a constructor's statements run outside any unit
            instance = self._instance(class_name, live)
            await storage.begin_call()
            try:
                result = body(instance)
                if asyncio.iscoroutine(result):
                    result = await result
            except BaseException as exc:
                failure = exc
                storage.rollback()
                storage.sql.drop_at_end = False
            sql_unit = storage.sql._unit
            sql_group = storage.sql.end_call(commit=failure is None)
            if sql_group is not None and sql_unit is not None:
                groups.append((sql_unit[0], sql_group))
            if failure is None:
                try:
                    kv_group = await storage.flush()
                except BaseException as exc:
                    storage.rollback()
                    failure = exc
                    kv_group = None
                if kv_group is not None:
                    groups.append((storage._store.writer, kv_group))
                if failure is None and storage.sql.drop_at_end:
                    await storage.sql.drop()
            elif storage._last_group is not None:
                groups.append((storage._store.writer, storage._last_group))
        for writer, group in groups:
            try:
                await group.wait()  # one caller giving up does not cancel the others
            except sqlite3.Error:
                if writer is storage._store.writer:
                    storage._store.generation += 1  # what objects of the class cached may not be on disk
                # As Cloudflare resets an object whose write failed: what it keeps in memory (the paper
                # exchange's tables, the wallet's nonces) may hold writes that are not on disk.
                live.instance = None
                if failure is None:
                    raise
        if failure is not None:
            raise failure
        return result

    async def call(self, class_name: str, object_id: DurableObjectId, method: str,
                   args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if method.startswith("_") or method in ("ctx", "env", "alarm"):
            raise AttributeError(f"{class_name}.{method} is not callable over RPC")
        if kwargs or any(a is not None and type(a) not in (str, int, bool) for a in args):
            args, kwargs = _json_round_trip([list(args), kwargs], f"arguments of {class_name}.{method}")
        CALLS[f"{class_name}.{method}"] += 1
        cls = self._resolve_class(class_name)
        fn = getattr(cls, method, None)
        if fn is None or not callable(fn):
            raise AttributeError(f"Durable Object {class_name} has no method {method!r}")
        live = self._live_object(class_name, object_id)
        live.users += 1
        try:
            result = await self._run_unit(live, lambda obj: getattr(obj, method)(*args, **kwargs), class_name)
        except Exception as exc:
            raise DurableObjectError(class_name, method, type(exc).__name__, str(exc)) from exc
        finally:
            live.users -= 1
        return _json_round_trip(result, f"result of {class_name}.{method}")

    # ----------------------------------------------------------------- alarms
    def alarm_moved(self, scheduled_ms: float) -> None:
        """Wake the scheduler when an alarm was set earlier than the next one it knows of."""
        if self._next_alarm_ms is None or scheduled_ms < self._next_alarm_ms:
            self._next_alarm_ms = scheduled_ms
            self.alarm_changed.set()

    def next_alarm_ms(self) -> float | None:
        times = [row[0] for s in list(self._stores.values())
                 if (row := s.conn.execute("SELECT MIN(scheduled_ms) FROM alarms").fetchone())[0] is not None]
        self._next_alarm_ms = min(times) if times else None
        return self._next_alarm_ms

    async def alarm_summary(self, class_name: str) -> tuple[int, float | None]:
        """(pending alarms, the next one in epoch ms) of a class; read off the event loop."""
        path = self.root / f"{class_name}.sqlite"
        if not path.exists():
            return 0, None
        reader = sqlio.reader(path)
        try:
            _, rows = await reader.read("SELECT COUNT(*), MIN(scheduled_ms) FROM alarms", offload=True)
        finally:
            sqlio.release_reader(path)
        return rows[0][0], rows[0][1]

    async def stored_objects(self, class_name: str) -> int:
        """Objects of a class with key-value entries or a SQL file; counted off the event loop."""
        path = self.root / f"{class_name}.sqlite"
        count = 0
        if path.exists():
            reader = sqlio.reader(path)
            try:
                _, rows = await reader.read("SELECT COUNT(DISTINCT object) FROM kv", offload=True)
            finally:
                sqlio.release_reader(path)
            count = rows[0][0]
        folder = self.root / class_name
        if folder.is_dir():
            count += await asyncio.to_thread(lambda: sum(1 for _ in folder.glob("*.sqlite")))
        return count

    async def fire_due_alarms(self) -> int:
        """Run every alarm that is due now; return how many ran (successfully or not)."""
        fired = 0
        now_ms = clock.now() * 1000
        for class_name, store in list(self._stores.items()):
            after = ("", -1.0)
            while True:
                due = store.conn.execute(
                    "SELECT object, name, scheduled_ms, retries FROM alarms WHERE scheduled_ms <= ? "
                    "AND (scheduled_ms, object) > (?, ?) ORDER BY scheduled_ms, object LIMIT ?",
                    (now_ms, after[1], after[0], ALARM_BATCH)).fetchall()
                for hex_id, name, scheduled_ms, retries in due:
                    if await self._fire(class_name, DurableObjectId(hex_id, name), scheduled_ms, retries):
                        fired += 1
                if len(due) < ALARM_BATCH:
                    break
                after = (due[-1][0], due[-1][2])
        return fired

    async def _fire(self, class_name: str, object_id: DurableObjectId, scheduled_ms: float, retries: int) -> bool:
        try:
            self._resolve_class(class_name)
        except Exception as exc:  # e.g. the class's module is missing: keep the alarm, run the others
            _py.error("alarm of %s %s cannot run: %s", class_name, object_id.hex[:12], exc)
            return False
        live = self._live_object(class_name, object_id)
        live.users += 1

        async def body(instance: DurableObject) -> bool:
            if live.storage.alarm_now() != scheduled_ms:
                return False  # deleted or moved while we waited for the lock
            await live.storage.delete_alarm()  # consumed by running: part of the alarm's own unit
            await instance.alarm()
            return True

        try:
            return bool(await self._run_unit(live, body, class_name))
        except Exception as exc:
            _py.error("alarm of %s %s raised %s", class_name, object_id.hex[:12], type(exc).__name__)
            await self._retry_alarm(live, class_name, object_id, scheduled_ms, retries, exc)
            return True
        finally:
            live.users -= 1

    async def _retry_alarm(self, live: _Live, class_name: str, object_id: DurableObjectId, scheduled_ms: float,
                           retries: int, exc: Exception) -> None:
        store = self._class_store(class_name)
        again = retries < ALARM_MAX_RETRIES
        when = clock.now() * 1000 + 2000 * 2**retries
        error = f"{type(exc).__name__}: {exc}"[:2000]
        async with live.lock:
            if live.storage.alarm_now() != scheduled_ms:
                return  # set anew meanwhile: that one stands

            def unit(conn: sqlite3.Connection) -> None:
                if again:
                    conn.execute("UPDATE alarms SET scheduled_ms = ?, retries = ?, last_error = ? WHERE object = ?",
                                 (when, retries + 1, error, object_id.hex))
                else:
                    conn.execute("DELETE FROM alarms WHERE object = ?", (object_id.hex,))

            await store.writer.run(unit)
            live.storage._alarm = when if again else None
        if again:
            self.alarm_moved(when)


class LocalDurableObjectStub:
    _host: DurableObjectHost  # set through __dict__ (every other attribute is an RPC method)
    _class: str
    id: DurableObjectId

    def __init__(self, host: DurableObjectHost, class_name: str, object_id: DurableObjectId) -> None:
        self.__dict__.update(_host=host, _class=class_name, id=object_id)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("__"):
            raise AttributeError(method)

        async def rpc(*args: Any, **kwargs: Any) -> Any:
            return await self._host.call(self._class, self.id, method, args, kwargs)

        rpc.__name__ = method
        return rpc

    def __repr__(self) -> str:
        return f"DurableObjectStub({self._class}, {self.id.hex[:12]}…)"


class LocalDurableObjectNamespace:
    def __init__(self, host: DurableObjectHost, class_name: str) -> None:
        self._host = host
        self.class_name = class_name

    def id_from_name(self, name: str) -> DurableObjectId:
        digest = hashlib.sha256(f"{self.class_name}\x00{name}".encode()).hexdigest()
        return DurableObjectId(digest, name)

    def get(self, object_id: DurableObjectId) -> LocalDurableObjectStub:
        return LocalDurableObjectStub(self._host, self.class_name, object_id)
