"""Local Durable Objects: one SQLite file per object, one call at a time, alarms that fire.

- `id_from_name` derives a stable 64-hex id from class and name (sha256), like Cloudflare's ids.
- Instances are kept in memory once created (Cloudflare keeps a live object around too) and
  every RPC call and alarm takes the object's `asyncio.Lock`: one call at a time per object.
  (So an object must not call its own stub: that call would wait for itself.)
- Arguments and results go through a JSON round trip, as they cross the JS boundary on Cloudflare,
  and an exception raised by the object reaches the caller as `DurableObjectError` (on Cloudflare
  the caller cannot catch the object's own exception types either).
- `ctx.storage.sql.exec` runs on `state/do/<Class>/<hex>.sqlite`; alarms live in the index
  `state/do/alarms.sqlite`, so a restarted runtime finds the pending ones. A due alarm is removed
  and `alarm()` called under the object's lock; one that raises is retried with backoff
  (2 s, 4 s, ... up to 6 retries, as Cloudflare does).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hoox_edge.local.d1 import connect, split_statements, sql_value
from hoox_edge.ports import DurableObject, DurableObjectError, DurableObjectId, DurableObjectState, Env
from hoox_edge.shared import clock

_py = logging.getLogger("hoox.local")

ALARM_MAX_RETRIES = 6
_ALARM_DDL = (
    "CREATE TABLE IF NOT EXISTS alarms (class_name TEXT NOT NULL, hex TEXT NOT NULL, name TEXT, "
    "scheduled_ms REAL NOT NULL, retries INTEGER NOT NULL DEFAULT 0, last_error TEXT, "
    "PRIMARY KEY (class_name, hex))"
)


def _json_round_trip(value: Any, what: str) -> Any:
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


class LocalSqlStorage:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._tx_wanted = False

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self.path)
        return self._conn

    def begin_call(self) -> None:
        """Open a transaction lazily at the call's first statement (objects without storage get no file)."""
        self._tx_wanted = True

    def end_call(self, *, commit: bool) -> None:
        self._tx_wanted = False
        if self._conn is not None and self._conn.in_transaction:
            self._conn.execute("COMMIT" if commit else "ROLLBACK")

    def exec(self, query: str, *bindings: Any) -> LocalSqlCursor:
        """Run SQL synchronously; without bindings several `;`-separated statements may be given."""
        conn = self.conn
        if self._tx_wanted and not conn.in_transaction:
            conn.execute("BEGIN")
        statements = [query] if bindings else (split_statements(query) or [query])
        before = conn.total_changes
        cur = None
        rows: list[tuple] = []
        for i, stmt in enumerate(statements):
            args = tuple(sql_value(b) for b in bindings) if i == len(statements) - 1 else ()
            cur = conn.execute(stmt, args)
            rows = cur.fetchall()
        cols = [d[0] for d in (cur.description if cur is not None and cur.description else ())]
        return LocalSqlCursor(cols, rows, conn.total_changes - before, len(rows))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class LocalDurableObjectStorage:
    def __init__(self, host: DurableObjectHost, class_name: str, object_id: DurableObjectId) -> None:
        self._host = host
        self._class = class_name
        self._id = object_id
        self.sql = LocalSqlStorage(host.object_path(class_name, object_id.hex))

    async def get_alarm(self) -> float | None:
        return self._host._get_alarm(self._class, self._id.hex)

    async def set_alarm(self, scheduled_time_ms: float) -> None:
        self._host._set_alarm(self._class, self._id, float(scheduled_time_ms))

    async def delete_alarm(self) -> None:
        self._host._delete_alarm(self._class, self._id.hex)

    async def delete_all(self) -> None:
        self.sql.close()
        for suffix in ("", "-wal", "-shm"):
            p = self.sql.path.with_name(self.sql.path.name + suffix)
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        self._host._delete_alarm(self._class, self._id.hex)


# --------------------------------------------------------------------------- host
class _Live:
    def __init__(self, instance: DurableObject, storage: LocalDurableObjectStorage) -> None:
        self.instance = instance
        self.storage = storage
        self.lock = asyncio.Lock()


class DurableObjectHost:
    """Every Durable Object of a runtime: instances, locks and the alarm index.

    `resolve_class(class_name)` returns the class; `env_for(class_name)` the Env of the worker that
    owns it. Both are called lazily, so a namespace can exist before its module does.
    """

    def __init__(self, root: Path, resolve_class: Callable[[str], type[DurableObject]],
                 env_for: Callable[[str], Env]) -> None:
        self.root = Path(root)
        self._resolve_class = resolve_class
        self._env_for = env_for
        self._live: dict[tuple[str, str], _Live] = {}
        self.alarm_changed = asyncio.Event()
        self._index = connect(self.root / "alarms.sqlite")
        self._index.execute(_ALARM_DDL)

    def namespace(self, class_name: str) -> LocalDurableObjectNamespace:
        return LocalDurableObjectNamespace(self, class_name)

    def object_path(self, class_name: str, hex_id: str) -> Path:
        if not all(c in "0123456789abcdef" for c in hex_id) or len(hex_id) != 64:
            raise ValueError(f"invalid Durable Object id {hex_id!r}")
        return self.root / class_name / f"{hex_id}.sqlite"

    def close(self) -> None:
        for live in self._live.values():
            live.storage.sql.close()
        self._live.clear()
        self._index.close()

    def _live_object(self, class_name: str, object_id: DurableObjectId) -> _Live:
        key = (class_name, object_id.hex)
        live = self._live.get(key)
        if live is None:
            cls = self._resolve_class(class_name)
            storage = LocalDurableObjectStorage(self, class_name, object_id)
            instance = cls(DurableObjectState(id=object_id, storage=storage), self._env_for(class_name))
            live = self._live[key] = _Live(instance, storage)
        else:
            self._env_for(class_name)  # lets the runtime refresh secrets in the shared Env
        return live

    async def call(self, class_name: str, object_id: DurableObjectId, method: str,
                   args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if method.startswith("_") or method in ("ctx", "env", "alarm"):
            raise AttributeError(f"{class_name}.{method} is not callable over RPC")
        args, kwargs = _json_round_trip([list(args), kwargs], f"arguments of {class_name}.{method}")
        live = self._live_object(class_name, object_id)
        fn = getattr(live.instance, method, None)
        if fn is None or not callable(fn):
            raise AttributeError(f"Durable Object {class_name} has no method {method!r}")
        async with live.lock:
            sql = live.storage.sql
            sql.begin_call()  # a call's writes commit together, or not at all when it raises
            try:
                result = fn(*args, **kwargs)
                if asyncio.iscoroutine(result):
                    result = await result
            except Exception as exc:
                sql.end_call(commit=False)
                raise DurableObjectError(class_name, method, type(exc).__name__, str(exc)) from exc
            sql.end_call(commit=True)
        return _json_round_trip(result, f"result of {class_name}.{method}")

    # ----------------------------------------------------------------- alarms
    def _get_alarm(self, class_name: str, hex_id: str) -> float | None:
        row = self._index.execute("SELECT scheduled_ms FROM alarms WHERE class_name = ? AND hex = ?",
                                  (class_name, hex_id)).fetchone()
        return row[0] if row else None

    def _set_alarm(self, class_name: str, object_id: DurableObjectId, scheduled_ms: float) -> None:
        self._index.execute(
            "INSERT INTO alarms (class_name, hex, name, scheduled_ms) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(class_name, hex) DO UPDATE SET scheduled_ms = excluded.scheduled_ms, retries = 0, "
            "last_error = NULL",
            (class_name, object_id.hex, object_id.name, scheduled_ms),
        )
        self.alarm_changed.set()

    def _delete_alarm(self, class_name: str, hex_id: str) -> None:
        self._index.execute("DELETE FROM alarms WHERE class_name = ? AND hex = ?", (class_name, hex_id))

    def pending_alarms(self) -> list[dict[str, Any]]:
        rows = self._index.execute(
            "SELECT class_name, hex, name, scheduled_ms, retries, last_error FROM alarms "
            "ORDER BY scheduled_ms"
        ).fetchall()
        keys = ("class_name", "hex", "name", "scheduled_ms", "retries", "last_error")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def next_alarm_ms(self) -> float | None:
        row = self._index.execute("SELECT MIN(scheduled_ms) FROM alarms").fetchone()
        return row[0] if row else None

    async def fire_due_alarms(self) -> int:
        """Run every alarm that is due now; return how many ran (successfully or not)."""
        fired = 0
        now_ms = clock.now() * 1000
        due = self._index.execute(
            "SELECT class_name, hex, name, scheduled_ms, retries FROM alarms WHERE scheduled_ms <= ? "
            "ORDER BY scheduled_ms", (now_ms,)
        ).fetchall()
        for class_name, hex_id, name, scheduled_ms, retries in due:
            try:
                live = self._live_object(class_name, DurableObjectId(hex_id, name))
            except Exception as exc:  # e.g. the class's module is missing: keep the alarm, run the others
                _py.error("alarm of %s %s cannot run: %s", class_name, hex_id[:12], exc)
                continue
            async with live.lock:
                row = self._index.execute("SELECT scheduled_ms FROM alarms WHERE class_name = ? AND hex = ?",
                                          (class_name, hex_id)).fetchone()
                if row is None or row[0] != scheduled_ms:
                    continue  # deleted or moved while we waited for the lock
                self._delete_alarm(class_name, hex_id)
                fired += 1
                live.storage.sql.begin_call()
                try:
                    await live.instance.alarm()
                    live.storage.sql.end_call(commit=True)
                except Exception as exc:
                    live.storage.sql.end_call(commit=False)
                    _py.error("alarm of %s %s raised %s", class_name, hex_id[:12], type(exc).__name__)
                    if self._get_alarm(class_name, hex_id) is None and retries < ALARM_MAX_RETRIES:
                        self._index.execute(
                            "INSERT INTO alarms (class_name, hex, name, scheduled_ms, retries, last_error) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            (class_name, hex_id, name, clock.now() * 1000 + 2000 * 2**retries, retries + 1,
                             f"{type(exc).__name__}: {exc}"[:2000]),
                        )
        return fired


class LocalDurableObjectStub:
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
