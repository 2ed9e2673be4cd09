"""Local D1: a SQLite file per database (`state/d1/<database>.sqlite`).

D1 *is* SQLite, so statements behave exactly as on Cloudflare. Writes go through the file's group
committer (`sqlio.WriteConnection`): a `run()` or a `batch()` is one unit, answered once the commit
that holds it is on disk (WAL, `synchronous=FULL`), and many callers' units share one commit. A
unit that fails (a constraint, a guard) is rolled back alone, and its error is answered after the
commit too, since it may rest on the other units' writes.

Statements that cannot write (starting with SELECT, VALUES or EXPLAIN) run on the writer
connection: they see the writes gathered for the next commit — a read-then-write by one caller
does not race the others, as with a single D1 — and, when there are such writes, are answered once
they are on disk (Cloudflare's output gate). A read that needs more than `sqlio.LOOP_BUDGET_S` on
the event loop is interrupted and run again on a reader connection in a thread, where it sees
committed rows and is interrupted when its caller gives up (`sqlio.Reader`): no query holds up
other requests. WITH statements go to a read-only reader first (they may lead a write: the reader's
authorizer refuses it, and it then runs as a unit); a `readonly` LocalD1 uses only the reader.

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
import re
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hoox_edge.local import sqlio
from hoox_edge.local.sqlio import BUSY_TIMEOUT_MS, connect  # noqa: F401  (re-exported for the CLI)
from hoox_edge.ports import D1Error, D1ExecResult, D1Meta, D1PreparedStatement, D1Result, d1_value
from hoox_edge.shared.memo import Memo

_LEAD = r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*"
# Statements that cannot write: read on the writer connection, seeing writes about to commit.
_SELECT = re.compile(_LEAD + r"(?:select|values|explain)\b", re.IGNORECASE | re.DOTALL)
# WITH may lead a write: tried on a read-only reader first (its authorizer refuses writes).
_WITH = re.compile(_LEAD + r"with\b", re.IGNORECASE | re.DOTALL)
_WRITE, _READ, _MAYBE = 0, 1, 2  # what a statement may do, by the patterns above
_KINDS: Memo[str, int] = Memo(4096)  # by query text: the workers run the same few statements over and over
_PLAIN = frozenset((str, int, float, bytes, type(None)))  # bound as they are (`d1_value` returns them)


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


sql_value = d1_value  # the ports' rule, shared with the Cloudflare adapter


def sql_values(params: tuple[Any, ...]) -> tuple[Any, ...]:
    """The parameters as bound: `sql_value` of each, skipped when all are plain already."""
    for v in params:
        if type(v) not in _PLAIN:
            return tuple(map(sql_value, params))
    return params


def _kind(query: str) -> int:
    kind = _KINDS.get(query)
    if kind is None:
        # bounded: ad-hoc queries (the operator's) must not grow it without end
        kind = _KINDS.keep(query, _MAYBE if _WITH.match(query) else _READ if _SELECT.match(query) else _WRITE)
    return kind


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

    async def all(self) -> D1Result:
        cols, rows, meta = await self._db._run(self.query, self.params)
        return {"success": True, "results": [dict(zip(cols, r, strict=False)) for r in rows], "meta": meta}

    async def run(self) -> D1Result:
        return await self.all()

    async def first(self, column: str | None = None) -> Any:
        cols, rows, _ = await self._db._run(self.query, self.params)
        if not rows:
            return None
        row = dict(zip(cols, rows[0], strict=False))
        if column is None:
            return row
        if column not in row:
            raise D1Error(f"D1_COLUMN_NOTFOUND: Column not found ({column})")
        return row[column]

    async def raw(self) -> list[list[Any]]:
        _, rows, _ = await self._db._run(self.query, self.params)
        return [list(r) for r in rows]


def _execute_on(conn: sqlite3.Connection, query: str, values: tuple[Any, ...]
                ) -> tuple[list[str], list[tuple], D1Meta]:
    """One statement on the writer, inside a unit; D1Error for anything the database refuses."""
    before = conn.total_changes
    started = time.perf_counter()
    try:
        cur = conn.execute(query, values)
        rows = cur.fetchall()
    except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError) as exc:
        raise D1Error(_message(exc)) from None
    written = conn.total_changes - before
    changes = cur.rowcount
    meta: D1Meta = {
        "duration": round((time.perf_counter() - started) * 1000, 3),
        "changes": changes if changes > 0 else 0,
        "last_row_id": cur.lastrowid or 0,
        "rows_read": len(rows),
        "rows_written": written,
        "changed_db": written > 0,
    }
    description = cur.description  # None for a write without RETURNING: no columns to list
    return [d[0] for d in description] if description else [], rows, meta


# D1 refuses a string, BLOB or row over its size limit (a megabyte or two), and a Worker holds a
# result in its 128 MB: a read here makes no longer value and returns no more (zeroblob(4e8) in an
# operator query once took 1.3 GB and held every worker up for seconds).
MAX_VALUE_BYTES = 2_000_000
MAX_RESULT_BYTES = 32_000_000


class LocalD1:
    """A D1 database over one SQLite file. `readonly=True` refuses every write (query paths)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.changes = change_feed(self.path)
        self._writer: sqlio.WriteConnection | None = None
        self._reader: sqlio.Reader | None = None

    @property
    def writer(self) -> sqlio.WriteConnection:
        if self._writer is None:
            self._writer = sqlio.writer(self.path, on_commit=self.changes.notify)
            self._writer.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        return self._writer

    @property
    def reader(self) -> sqlio.Reader:
        if self._reader is None:
            if not self.readonly:
                self.writer  # noqa: B018  (the writer makes the file, in WAL mode, before anyone reads it)
            self._reader = sqlio.reader(self.path, max_length=MAX_VALUE_BYTES, max_bytes=MAX_RESULT_BYTES)
        return self._reader

    def close(self) -> None:
        if self._reader is not None:
            sqlio.release_reader(self.path)
            self._reader = None
        if self._writer is not None:
            sqlio.release_writer(self.path)
            self._writer = None

    def prepare(self, query: str) -> LocalD1Statement:
        return LocalD1Statement(self, query)

    async def _run(self, query: str, params: tuple[Any, ...]) -> tuple[list[str], list[tuple], D1Meta]:
        values = sql_values(params)
        started = time.perf_counter()
        try:
            got = None
            kind = _kind(query)
            if self.readonly or kind == _MAYBE:
                got = await self.reader.read(query, values)
            elif kind == _READ:
                got = await self.writer.read(query, values)
                if got is None:  # a long read: off the loop, on committed rows
                    got = await self.reader.read(query, values, offload=True)
        except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError) as exc:
            if self.readonly or not sqlio.is_denied(exc):
                raise D1Error(_message(exc)) from None
        if got is not None:
            cols, rows = got
            meta: D1Meta = {"duration": round((time.perf_counter() - started) * 1000, 3), "changes": 0,
                            "last_row_id": 0, "rows_read": len(rows), "rows_written": 0, "changed_db": False}
            return cols, rows, meta
        try:
            return await self.writer.run(_execute_on, query, values, one_statement=True)
        except sqlite3.Error as exc:  # the commit failed: nothing of the unit was kept
            raise D1Error(_message(exc)) from None

    async def batch(self, statements: Sequence[D1PreparedStatement]) -> list[D1Result]:
        own: list[LocalD1Statement] = []
        for st in statements:
            if not isinstance(st, LocalD1Statement) or st._db is not self:
                raise D1Error("D1_ERROR: batch() takes statements prepared on this database")
            own.append(st)
        if self.readonly:  # reads only: each as its own statement (a write is refused by the reader)
            return [await st.all() for st in own]
        jobs = [(st.query, sql_values(st.params)) for st in own]

        def unit(conn: sqlite3.Connection) -> list[D1Result]:
            out: list[D1Result] = []
            for query, values in jobs:
                cols, rows, meta = _execute_on(conn, query, values)
                out.append({"success": True, "results": [dict(zip(cols, r, strict=False)) for r in rows],
                            "meta": meta})
            return out

        try:
            return await self.writer.run(unit)
        except sqlite3.Error as exc:
            raise D1Error(_message(exc)) from None

    async def exec(self, query: str) -> D1ExecResult:
        started = time.perf_counter()
        count = 0
        for stmt in split_statements(query):
            await self._run(stmt, ())
            count += 1
        return {"count": count, "duration": round((time.perf_counter() - started) * 1000, 3)}


def _message(exc: BaseException) -> str:
    text = str(exc)
    if "not authorized" in text or "query_only" in text or "readonly" in text:
        return f"D1_ERROR: read-only database: {text}"
    return text
