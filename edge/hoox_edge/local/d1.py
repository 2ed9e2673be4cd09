"""Local D1: a SQLite file per database (`state/d1/<database>.sqlite`).

D1 *is* SQLite, so statements behave exactly as on Cloudflare. Calls run synchronously on the
event loop: each statement is short, and running a batch without an `await` between BEGIN and
COMMIT is what makes one shared connection safe for every worker of the runtime.

`meta.rows_read` is the number of rows a statement returned: SQLite does not expose how many
rows it scanned, which is what D1 reports there.

`LocalD1.changes` is a change feed of the database file within this process: every committed
write through any `LocalD1` of that file bumps its version and wakes its waiters. The event
stream (`/v1/stream`) waits on it instead of polling, so a local event reaches a client within
milliseconds of the commit. Cloudflare's D1 has no such feed: there the stream polls. Writes by
another process (the CLI) do not wake it; the stream's fallback poll catches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hoox_edge.ports import D1Error, D1ExecResult, D1Meta, D1Result

BUSY_TIMEOUT_MS = 5000

# What a read-only connection may do: read tables and call functions, nothing else (no ATTACH,
# no PRAGMA, no writes).
_READ_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                 sqlite3.SQLITE_RECURSIVE, sqlite3.SQLITE_TRANSACTION}


def _readonly_authorizer(action: int, *_args: Any) -> int:
    return sqlite3.SQLITE_OK if action in _READ_ACTIONS else sqlite3.SQLITE_DENY


def connect(path: Path, *, readonly: bool = False, wal: bool = True) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL and a busy timeout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if wal and not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")  # D1 enforces foreign keys
    if readonly:
        conn.execute("PRAGMA query_only = ON")
        conn.set_authorizer(_readonly_authorizer)
    return conn


def split_statements(script: str) -> list[str]:
    """Split a script into complete statements (SQLite's own notion of 'complete')."""
    out: list[str] = []
    buf = ""
    for part in script.split(";"):
        buf += part + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip().strip(";").strip():
                out.append(buf.strip())
            buf = ""
    tail = buf.rstrip(";").strip()
    if tail and _has_sql(tail):
        out.append(tail)
    return out


def _has_sql(text: str) -> bool:
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
    return bool("".join(lines).strip())


def sql_value(v: Any) -> Any:
    """A bound parameter as D1 accepts it (bool -> 0/1; objects are refused as D1 refuses them)."""
    if v is None or isinstance(v, (int, float, str, bytes)):
        return int(v) if isinstance(v, bool) else v
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    raise D1Error(f"D1_TYPE_ERROR: Type '{type(v).__name__}' not supported for value '{v!r}'")


def rows_as_dicts(cur: sqlite3.Cursor, rows: list[tuple]) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description or ()]
    return [dict(zip(cols, r, strict=False)) for r in rows]


class ChangeFeed:
    """Committed writes to one database file in this process: a version and waiters to wake."""

    def __init__(self) -> None:
        self.version = 0
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        self.version += 1
        waiters, self._waiters = self._waiters, set()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for fut in waiters:
            loop = fut.get_loop()
            if loop is running:
                _wake(fut)
            else:  # a waiter on another thread's loop (a CLI or test loop)
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
                    loop.call_soon_threadsafe(_wake, fut)

    async def wait(self, version: int, timeout: float) -> bool:
        """Wait until the version differs from `version` or `timeout` seconds pass; True if it changed."""
        if self.version != version:
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(fut)
        try:
            await asyncio.wait({fut}, timeout=timeout)
        finally:
            self._waiters.discard(fut)
            if not fut.done():
                fut.cancel()
        return self.version != version


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


_feeds: dict[str, ChangeFeed] = {}


def change_feed(path: Path) -> ChangeFeed:
    """The one feed of a database file in this process, whichever `LocalD1` writes it."""
    key = os.path.realpath(path)
    feed = _feeds.get(key)
    if feed is None:
        feed = _feeds[key] = ChangeFeed()
    return feed


class LocalD1Statement:
    def __init__(self, db: LocalD1, query: str, params: tuple[Any, ...] = ()) -> None:
        self._db = db
        self.query = query
        self.params = params

    def bind(self, *values: Any) -> LocalD1Statement:
        return LocalD1Statement(self._db, self.query, tuple(values))

    def _execute(self) -> tuple[list[str], list[tuple], D1Meta]:
        return self._db._run(self.query, self.params)

    def _result(self) -> D1Result:
        cols, rows, meta = self._execute()
        return {"success": True, "results": [dict(zip(cols, r, strict=False)) for r in rows], "meta": meta}

    async def all(self) -> D1Result:
        return self._result()

    async def run(self) -> D1Result:
        return await self.all()

    async def first(self, column: str | None = None) -> Any:
        cols, rows, _ = self._execute()
        if not rows:
            return None
        row = dict(zip(cols, rows[0], strict=False))
        if column is None:
            return row
        if column not in row:
            raise D1Error(f"D1_COLUMN_NOTFOUND: Column not found ({column})")
        return row[column]

    async def raw(self) -> list[list[Any]]:
        _, rows, _ = self._execute()
        return [list(r) for r in rows]


class LocalD1:
    """A D1 database over one SQLite file. `readonly=True` refuses every write (query paths)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._conn: sqlite3.Connection | None = None
        self.changes = change_feed(self.path)
        self._dirty = False  # written since the last notification (inside an open transaction)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.readonly and not self.path.exists():
                # query_only cannot create the file; an empty database reads as empty
                connect(self.path).close()
            self._conn = connect(self.path, readonly=self.readonly)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def prepare(self, query: str) -> LocalD1Statement:
        return LocalD1Statement(self, query)

    def _run(self, query: str, params: tuple[Any, ...]) -> tuple[list[str], list[tuple], D1Meta]:
        conn = self.conn
        values = tuple(sql_value(v) for v in params)
        before = conn.total_changes
        started = time.perf_counter()
        try:
            cur = conn.execute(query, values)
            rows = cur.fetchall()
        except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError) as exc:
            raise D1Error(_message(exc)) from None
        written = conn.total_changes - before
        if written > 0:
            self._dirty = True
        self._committed(conn)
        cols = [d[0] for d in cur.description or ()]
        meta: D1Meta = {
            "duration": round((time.perf_counter() - started) * 1000, 3),
            "changes": max(cur.rowcount, 0),
            "last_row_id": cur.lastrowid or 0,
            "rows_read": len(rows),
            "rows_written": written,
            "changed_db": written > 0,
        }
        return cols, rows, meta

    async def batch(self, statements: Sequence[LocalD1Statement]) -> list[D1Result]:
        conn = self.conn
        out: list[D1Result] = []
        try:
            conn.execute("BEGIN" if self.readonly else "BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise D1Error(_message(exc)) from None
        try:
            for st in statements:
                if not isinstance(st, LocalD1Statement) or st._db is not self:
                    raise D1Error("D1_ERROR: batch() takes statements prepared on this database")
                out.append(st._result())
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._dirty = False  # nothing of it was committed
            raise
        self._committed(conn)
        return out

    def _committed(self, conn: sqlite3.Connection) -> None:
        """Tell the change feed once written rows are committed (not while a transaction is open)."""
        if self._dirty and not conn.in_transaction:
            self._dirty = False
            self.changes.notify()

    async def exec(self, query: str) -> D1ExecResult:
        started = time.perf_counter()
        count = 0
        for stmt in split_statements(query):
            self._run(stmt, ())
            count += 1
        return {"count": count, "duration": round((time.perf_counter() - started) * 1000, 3)}


def _message(exc: BaseException) -> str:
    text = str(exc)
    if "not authorized" in text or "query_only" in text or "readonly" in text:
        return f"D1_ERROR: read-only database: {text}"
    return text
