"""SQLite plumbing of the local adapters: connections, group commit, and reads that never hold up
the event loop.

**Group commit** (`WriteConnection`). Every write of a database file in this process goes through
one writer connection. A caller's writes are one *unit* (a SAVEPOINT inside the transaction that is
open at the time; the first unit of a transaction needs none: it fails alone by rolling back the
transaction, which holds nothing else yet); units that arrive while a commit is in flight wait for it and then share the
next transaction, and a commit waits up to `GATHER_S` for more units while the event loop is loaded
(`GATHER_READY` callbacks ready to run; never when it is idle). The commit (SQLite
`synchronous=FULL` in WAL mode: the WAL is fsynced) runs in a thread, off the event loop, and a
unit's caller gets its result only once the commit that holds its writes has returned: Cloudflare's
output gate. A unit that fails is rolled back to its savepoint alone; the other units of its group
are untouched. If the commit itself fails, every unit of the group gets the error: none of them
was acknowledged.

**Reads.** `WriteConnection.read` runs a SELECT on the writer connection: it sees every write made
so far, as one connection would, and `barrier()` lets an answer leave the process only once those
writes are on disk. A `Reader` runs read-only statements on connections of its own (committed rows
only): first on the event loop with a budget of `LOOP_BUDGET_S` and `LOOP_MAX_BYTES`; a statement
that needs longer or returns more is interrupted (a progress handler) or dropped, and run again in a
thread, where it is interrupted (`Connection.interrupt()`) when its caller gives up (a timeout, a
cancelled request). Short reads, the common case, cost no thread hop; a long one delays the loop by
at most the budget once.
Re-running is safe because reads have no effects.

Writer and readers of a file are shared by every adapter of that file in this process (two workers
binding the same D1 database do not fight over SQLite's write lock), counted and closed with their
last user.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
LOOP_BUDGET_S = 0.002  # longest a read may hold the event loop before it moves to a thread
LOOP_MAX_BYTES = 1_000_000  # ... and the most text and BLOBs it may return there (more: read in a thread)
_LOOP_CHECK_OPS = 1000  # SQLite VM steps between budget checks on the loop
# ... and between cancellation checks in a thread: each takes the GIL from the event loop, and
# `interrupt()` stops a running read at once; the check only covers a cancel just before it starts.
_THREAD_CHECK_OPS = 1_000_000
READ_THREADS = 4
# A commit waits up to GATHER_S for more units while at least GATHER_READY callbacks are ready.
# Measured with bench/pipeline_bench.py: gathering at any ready callback raised capacity ~35 % but put
# ~45 ms on the median signal at a third of capacity; from 4 ready callbacks on it keeps the capacity
# and the median stays ~9 ms there.
GATHER_S = 0.002
GATHER_READY = 4

# What a read-only connection may do: read tables and call functions, nothing else (no ATTACH,
# no PRAGMA, no writes).
_READ_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                 sqlite3.SQLITE_RECURSIVE, sqlite3.SQLITE_TRANSACTION}

# Commits (fsync) and long reads have their own threads: a long read never holds up a commit.
_COMMITS = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="hoox-sql-commit")
_READS = concurrent.futures.ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="hoox-sql-read")


# What a signal costs, for bench/pipeline_bench.py: commits that wrote (one WAL fsync each) per file,
# always counted (one increment per commit); with `trace_statements()` (before the files are opened)
# also every statement SQLite runs, by its first word (a trace callback per statement: off by default).
COMMITS: collections.Counter[str] = collections.Counter()
STATEMENTS: collections.Counter[str] | None = None


def trace_statements() -> collections.Counter[str]:
    global STATEMENTS
    if STATEMENTS is None:
        STATEMENTS = collections.Counter()
    return STATEMENTS


_last_traced = [""]


def _traced(sql: str) -> None:
    # SQLite reports each trigger a statement fires as the statement's own text again: counted once.
    if STATEMENTS is None or sql == _last_traced[0]:
        return
    _last_traced[0] = sql
    STATEMENTS[sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"] += 1


def _readonly_authorizer(action: int, *_args: Any) -> int:
    return sqlite3.SQLITE_OK if action in _READ_ACTIONS else sqlite3.SQLITE_DENY


def connect(path: Path, *, readonly: bool = False, wal: bool = True, synchronous: str = "FULL",
            busy_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, a busy timeout and
    `synchronous` (FULL: a commit is on disk when it returns)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    if STATEMENTS is not None:
        conn.set_trace_callback(_traced)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
    if wal and not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")  # D1 enforces foreign keys
    if readonly:
        conn.execute("PRAGMA query_only = ON")
        conn.set_authorizer(_readonly_authorizer)
    return conn


def is_denied(exc: BaseException) -> bool:
    """A statement refused by the read-only authorizer (it would write, attach or change state)."""
    return isinstance(exc, sqlite3.DatabaseError) and "not authorized" in str(exc)


def _is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


# --------------------------------------------------------------------------- group commit
class _Group:
    """The units that share one transaction, and their callers waiting for its commit."""

    __slots__ = ("_waiters", "done", "error", "loop", "started", "wrote")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.started = loop.time()
        self.wrote = False  # a unit that was kept changed rows
        self.done = False
        self.error: BaseException | None = None
        # A future per caller, not one shared future behind `asyncio.shield` (a future, two callbacks
        # and a loop hop more per caller): a caller that gives up cancels only its own.
        self._waiters: list[asyncio.Future[None]] = []

    def settle(self, exc: BaseException | None) -> None:
        if self.done:
            return
        self.done, self.error = True, exc
        for fut in self._waiters:
            if not fut.done():
                if exc is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(exc)
        self._waiters = []

    async def wait(self) -> None:
        """Until the group's commit returned; its error if it failed."""
        if not self.done:
            fut = self.loop.create_future()
            self._waiters.append(fut)
            await fut
        elif self.error is not None:
            raise self.error


class WriteConnection:
    """The one writer of a database file in this process (see the module docstring)."""

    def __init__(self, path: Path, *, synchronous: str = "FULL", ddl: Sequence[str] = (),
                 on_commit: Callable[[], None] | None = None) -> None:
        self.path = Path(path)
        self.conn = connect(self.path, synchronous=synchronous)
        for stmt in ddl:
            self.conn.execute(stmt)
        # From here on, waiting for another process's write lock is done by `_begin` with awaits,
        # never by SQLite blocking the event loop.
        self.conn.execute("PRAGMA busy_timeout = 0")
        self._deadline: float | None = None  # of a read on the loop (see `read`)
        self._tripped = False
        self.conn.set_progress_handler(self._over_budget, _LOOP_CHECK_OPS)
        self.on_commit = on_commit
        self.commits = 0  # transactions committed (for benchmarks: units per fsync)
        self.units = 0
        self._group: _Group | None = None
        self._unit_open = False
        self._unit_changes = 0
        self._savepoint = True
        self._alone = False  # the open unit is the first of its transaction
        self._committing_group: _Group | None = None
        self._committing = False
        self._commit_scheduled = False
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False

    # ----------------------------------------------------------------- units
    async def run(self, fn: Callable[..., T], *args: Any, one_statement: bool = False) -> T:
        """Run `fn(conn, *args)` as one unit; its result once the commit that holds its writes is durable.

        An exception in `fn` rolls back this unit only and is raised to the caller. `one_statement`:
        `fn` runs a single statement, which SQLite already makes atomic, so no savepoint is needed.
        """
        group = await self.enter(savepoint=not one_statement)
        try:
            result = fn(self.conn, *args)
        except BaseException:
            self.exit(group, ok=False)
            # The failure may come from another unit's writes (a constraint, a guard): like an answer,
            # it is released only once those writes are on disk.
            with contextlib.suppress(Exception):
                await group.wait()
            raise
        self.exit(group, ok=True)
        await group.wait()
        return result

    async def read(self, sql: str, params: Sequence[Any] = (), *, budget: float = LOOP_BUDGET_S
                   ) -> tuple[list[str], list[tuple]] | None:
        """A SELECT on the writer connection: it sees every write made so far, including those
        gathered for the next commit, as one SQLite connection would (a caller's read-then-write
        happens in one step, so it never races another caller's write). Nothing it returns leaves
        the runtime before those writes are on disk: see `barrier`. None when it needs longer than
        `budget`: run it on a `Reader` then (committed rows, off the loop).

        The caller guarantees the statement cannot write (it starts with SELECT).
        """
        loop = asyncio.get_running_loop()
        while self._unit_open or self._committing:  # the connection is busy until then
            await self._wait_turn(loop)
        if self._closed:
            raise sqlite3.ProgrammingError("the database is closed")
        self._tripped = False
        self._deadline = time.perf_counter() + budget
        try:
            cur = self.conn.execute(sql, tuple(params))
            rows = rows_within(cur, LOOP_MAX_BYTES)
            if rows is None:
                cur.close()  # its statement must not stay open on the writer
                return None
            return [d[0] for d in cur.description or ()], rows
        except sqlite3.OperationalError:
            if not self._tripped:
                raise
            return None
        finally:
            self._deadline = None

    def pending(self) -> _Group | None:
        """The commit a reader of this file may have seen the writes of: in flight, or being gathered."""
        if self._committing_group is not None:
            return self._committing_group
        if self._group is not None and self._group.wrote:
            return self._group
        return None

    def _over_budget(self) -> int:
        if self._deadline is not None and time.perf_counter() > self._deadline:
            self._tripped = True
            return 1
        return 0

    async def enter(self, *, savepoint: bool = True) -> _Group:
        """Open a unit (wait for a commit in flight or another open unit first)."""
        loop = asyncio.get_running_loop()
        while self._unit_open or self._committing:
            await self._wait_turn(loop)
        if self._closed:
            raise sqlite3.ProgrammingError("the database is closed")
        self._unit_open = True
        try:
            if self._group is not None and self._group.loop is not loop:
                self._abandon_group()  # left by an event loop that is gone (asyncio.run per CLI call)
            if not self.conn.in_transaction:
                await self._begin()
                self._group = None
            group = self._group
            self._alone = group is None
            if group is None:
                group = self._group = _Group(loop)
            elif savepoint:
                self.conn.execute("SAVEPOINT unit")
            self._savepoint = savepoint and not self._alone
            self._unit_changes = self.conn.total_changes
        except BaseException:
            self._unit_open = False
            self._wake()
            raise
        return group

    def enter_now(self) -> _Group:
        """`enter` for a connection known to be free and outside a transaction (a file just opened)."""
        if self._unit_open or self._committing or self.conn.in_transaction:
            raise RuntimeError("enter_now() on a connection that is in use")
        self._unit_open = True
        self.conn.execute("BEGIN IMMEDIATE")
        self._group = _Group(asyncio.get_running_loop())
        self._savepoint = False
        self._alone = True
        self._unit_changes = self.conn.total_changes
        return self._group

    async def wait_turn(self) -> None:
        """Wait until no unit is open and no commit is in flight."""
        loop = asyncio.get_running_loop()
        while self._unit_open or self._committing:
            await self._wait_turn(loop)

    def exit(self, group: _Group, *, ok: bool) -> None:
        """Close the unit: keep its writes (`ok`) or roll them back to its savepoint."""
        self._unit_open = False
        try:
            if not self.conn.in_transaction:
                # SQLite rolled the whole transaction back (disk full, I/O error): every unit of the
                # group lost its writes, so none of them may be acknowledged.
                self._group = None
                group.settle(sqlite3.OperationalError("the transaction was rolled back by SQLite"))
            elif ok:
                if self.conn.total_changes != self._unit_changes:
                    group.wrote = True
                if self._savepoint:
                    self.conn.execute("RELEASE unit")
                self.units += 1
            elif self._savepoint:
                self.conn.execute("ROLLBACK TO unit")
                self.conn.execute("RELEASE unit")
            elif self._alone:  # the transaction holds this unit only: it goes whole, nothing to commit
                self.conn.execute("ROLLBACK")
                self._group = None
                group.settle(None)
            elif self.conn.total_changes != self._unit_changes:
                # A unit without a savepoint (one statement, a Durable Object's flush) failed after it
                # changed rows: without a savepoint
                # they cannot be taken back alone, so the whole group goes (none of it was answered).
                raise sqlite3.OperationalError("a failed unit's writes could not be rolled back alone")
        except sqlite3.Error as exc:  # the savepoint itself failed: nothing of the group can be trusted
            self._rollback_quietly()
            self._group = None
            group.settle(exc)
        finally:
            self._schedule_commit()
            self._wake()

    # ----------------------------------------------------------------- transactions
    async def _begin(self) -> None:
        # Another process (the CLI) may hold the write lock for a moment: wait for it without
        # blocking the loop, as long as SQLite's own busy timeout would have.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        delay = 0.001
        while True:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _schedule_commit(self) -> None:
        if self._group is None or self._commit_scheduled:
            return
        self._commit_scheduled = True
        # Next loop iteration: units that are ready now join this transaction first.
        self._group.loop.call_soon(self._commit)

    def _commit(self) -> None:
        self._commit_scheduled = False
        group = self._group
        if group is None or self._unit_open or self._committing or self._closed:
            return  # the open unit reschedules when it exits
        if group.wrote and _busy(group.loop) and group.loop.time() - group.started < GATHER_S:
            # Other callbacks are ready to run and may bring units: let them first, for at most
            # GATHER_S. Under load a commit then carries many callers' writes; otherwise it goes at once.
            self._commit_scheduled = True
            group.loop.call_soon(self._commit)
            return
        self._group = None
        if not group.wrote:  # no rows changed (reads, failed units, DDL): a commit on the loop, no thread
            try:
                self.conn.execute("COMMIT")
                group.settle(None)
            except sqlite3.Error as exc:
                self._rollback_quietly()
                group.settle(exc)
            self._wake()
            return
        self._committing = True
        self._committing_group = group
        loop = group.loop
        done = _COMMITS.submit(self._commit_then_begin)

        def finished(f: concurrent.futures.Future[bool]) -> None:
            try:
                loop.call_soon_threadsafe(self._committed, group, f)
            except RuntimeError:  # the loop is closed: nobody waits, but the connection must be free again
                self._committed(group, f)

        done.add_done_callback(finished)

    def _commit_then_begin(self) -> bool:
        """The commit; then, when units wait for it, their transaction opened here, off the loop
        (BEGIN IMMEDIATE takes the write lock: ~50 us of the loop's time otherwise). True if opened."""
        self._commit_in_thread()
        if not self._waiters:
            return False
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:
            return False  # another process holds the lock: `enter` waits for it on the loop
        return True

    def _commit_in_thread(self) -> None:
        for attempt in range(50):
            try:
                self.conn.execute("COMMIT")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or attempt == 49:
                    self._rollback_quietly()
                    raise
            time.sleep(0.01)  # a checkpoint of another process; this is the commit thread, not the loop

    def _committed(self, group: _Group, f: concurrent.futures.Future[bool]) -> None:
        self._committing = False
        self._committing_group = None
        exc = f.exception()
        began = exc is None and f.result()
        if exc is None:
            self.commits += 1
            COMMITS[f"{self.path.parent.name}/{self.path.name}"] += 1
        group.settle(exc)
        if exc is None and self.on_commit is not None:
            self.on_commit()
        if self._closed:
            self.conn.close()
        self._wake()
        if began and not self._closed:
            try:  # after the woken units: those that enter take the transaction
                group.loop.call_soon(self._end_unused)
            except RuntimeError:  # the loop is gone: nobody comes
                self._rollback_quietly()

    def _end_unused(self) -> None:
        """Give back a transaction opened for units that did not come (another process may want the
        write lock); it holds nothing."""
        if self._group is None and not (self._unit_open or self._committing or self._closed):
            self._rollback_quietly()

    def _rollback_quietly(self) -> None:
        if self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    def _abandon_group(self) -> None:
        """Roll back a transaction whose loop died before committing it: no caller was answered."""
        self._rollback_quietly()
        self._group = None

    # ----------------------------------------------------------------- waiting
    async def _wait_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append(fut)
        try:
            await fut
        except BaseException:
            # Given up while queued. A woken one left with the whole queue (`_wake`), so the common
            # path does not search it (a miss raises a ValueError that formats the future: ~4 a signal).
            with contextlib.suppress(ValueError):
                self._waiters.remove(fut)
            raise

    def _wake(self) -> None:
        if not self._waiters:  # the common case: every unit's exit asks
            return
        waiters, self._waiters = self._waiters, collections.deque()
        for fut in waiters:
            _resolve(fut)

    @property
    def idle(self) -> bool:
        return not (self._unit_open or self._committing or self._group is not None or self._commit_scheduled)

    async def drain(self) -> None:
        """Wait until every unit is committed (the runtime stops only after its writes are durable)."""
        loop = asyncio.get_running_loop()
        while not self.idle:
            if self._group is not None and not self._commit_scheduled and not self._unit_open:
                self._schedule_commit()
            await self._wait_turn(loop)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._committing:
            return  # `_committed` closes it once the commit thread is done
        if self._group is not None:
            self._abandon_group()  # never acknowledged: its callers were stopped
        self.conn.close()


def _busy(loop: asyncio.AbstractEventLoop) -> bool:
    """At least GATHER_READY callbacks are ready to run: the loop is loaded, not just answering one
    request. (`_ready` is CPython asyncio's run queue; a loop without it, such as uvloop, counts as
    idle: commits then go at once, as without gathering.)"""
    return len(getattr(loop, "_ready", ())) >= GATHER_READY


def _resolve(fut: asyncio.Future[None]) -> None:
    """Wake a waiter, from its own loop or another thread's."""
    loop = fut.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is running:
        if not fut.done():
            fut.set_result(None)
    elif not loop.is_closed():
        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        loop.call_soon_threadsafe(wake)


# --------------------------------------------------------------------------- reads
class _Job:
    def __init__(self) -> None:
        self.cancelled = False
        self.conn: sqlite3.Connection | None = None

    def cancel(self) -> None:
        self.cancelled = True
        conn = self.conn
        if conn is not None:
            conn.interrupt()


def rows_within(cur: sqlite3.Cursor, max_bytes: int, *, batch: int = 8) -> list[tuple] | None:
    """The cursor's rows, or None once their text and BLOBs pass `max_bytes` (looked at every
    `batch` rows: a few BLOBs of a couple of MB may be made before it stops)."""
    rows: list[tuple] = []
    size = 0
    while got := cur.fetchmany(batch):
        size += sum(len(v) for row in got for v in row if isinstance(v, (str, bytes)))
        if size > max_bytes:
            return None
        rows += got
    return rows


class ReadInterrupted(sqlite3.OperationalError):
    """A read stopped because its caller gave up or the database was closed."""


class ResultTooLarge(sqlite3.DataError):
    """A read's rows passed its reader's `max_bytes`."""


class Reader:
    """Read-only statements on one file (see the module docstring); `readonly` connections refuse
    anything that is not a read (`is_denied`)."""

    def __init__(self, path: Path, *, budget: float = LOOP_BUDGET_S, max_length: int | None = None,
                 max_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.budget = budget
        self.max_length = max_length  # the longest string or BLOB a statement may make (SQLITE_LIMIT_LENGTH)
        self.max_bytes = max_bytes  # the most text and BLOB bytes a read in a thread may return
        self._loop_conn: sqlite3.Connection | None = None
        self._deadline: float | None = None
        self._tripped = False
        self._idle: list[sqlite3.Connection] = []
        self._jobs: set[_Job] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.offloaded = 0  # reads that went to a thread (tests and benchmarks look)

    @property
    def running(self) -> int:
        """Reads running (or waiting) in threads now."""
        return len(self._jobs)

    def _open(self) -> sqlite3.Connection:
        if not self.path.exists():
            connect(self.path).close()  # query_only cannot create the file: an empty database reads as empty
        conn = connect(self.path, readonly=True)
        if self.max_length is not None:
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, self.max_length)
        return conn

    def _over_budget(self) -> int:
        if self._deadline is not None and time.perf_counter() > self._deadline:
            self._tripped = True
            return 1
        return 0

    async def read(self, sql: str, params: Sequence[Any] = (), *, offload: bool = False
                   ) -> tuple[list[str], list[tuple]]:
        """(columns, rows) of one read-only statement; `offload` sends it to a thread at once."""
        if self._closed:
            raise sqlite3.ProgrammingError("the database is closed")
        if not offload:
            if self._loop_conn is None:
                self._loop_conn = self._open()
                self._loop_conn.set_progress_handler(self._over_budget, _LOOP_CHECK_OPS)
            self._tripped = False
            self._deadline = time.perf_counter() + self.budget
            try:
                cur = self._loop_conn.execute(sql, tuple(params))
                rows = rows_within(cur, LOOP_MAX_BYTES)
                if rows is not None:
                    return [d[0] for d in cur.description or ()], rows
                cur.close()  # too large for the loop: read again in a thread
            except sqlite3.OperationalError:
                if not self._tripped:
                    raise
            finally:
                self._deadline = None
        return await self._in_thread(sql, tuple(params))

    async def _in_thread(self, sql: str, params: tuple[Any, ...]) -> tuple[list[str], list[tuple]]:
        self.offloaded += 1
        job = _Job()
        self._jobs.add(job)
        future = _READS.submit(self._run_job, job, sql, params)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            job.cancel()  # the thread stops at its next step; its connection goes back to the pool
            raise
        finally:
            self._jobs.discard(job)

    def _run_job(self, job: _Job, sql: str, params: tuple[Any, ...]) -> tuple[list[str], list[tuple]]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._open()
        job.conn = conn
        conn.set_progress_handler(lambda: int(job.cancelled), _THREAD_CHECK_OPS)
        try:
            if job.cancelled:
                raise ReadInterrupted("interrupted")
            try:
                cur = conn.execute(sql, params)
                return [d[0] for d in cur.description or ()], self._fetch(cur)
            except sqlite3.OperationalError as exc:
                if job.cancelled:
                    raise ReadInterrupted(str(exc)) from None
                raise
        finally:
            job.conn = None
            conn.set_progress_handler(None, 0)
            with self._lock:
                if self._closed or len(self._idle) >= 1:
                    conn.close()
                else:
                    self._idle.append(conn)

    def _fetch(self, cur: sqlite3.Cursor) -> list[tuple]:
        """Every row, or ResultTooLarge once their text and BLOBs pass `max_bytes` (a long read can
        make any number of rows: it must not take the process's memory)."""
        if self.max_bytes is None:
            return cur.fetchall()
        rows = rows_within(cur, self.max_bytes, batch=256)
        if rows is None:
            raise ResultTooLarge(f"the result is larger than {self.max_bytes // 1_000_000} MB: "
                                 "read fewer rows or columns, or a part of a long value (substr)")
        return rows

    def close(self) -> None:
        self._closed = True
        for job in list(self._jobs):
            job.cancel()
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None


# --------------------------------------------------------------------------- sharing
class _Shared:
    """Per-process registry: one writer / reader per file, closed with its last user."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], list[Any]] = {}
        self.writers: list[WriteConnection] = []  # kept as they come and go: `barrier` runs on every answer

    def get(self, kind: str, path: Path, make: Callable[[], Any]) -> Any:
        key = (kind, os.path.realpath(path))
        entry = self._items.get(key)
        if entry is None:
            entry = self._items[key] = [make(), 0]
            if kind == "writer":
                self.writers = [*self.writers, entry[0]]  # a new list: a loop over the old one goes on
        entry[1] += 1
        return entry[0]

    def release(self, kind: str, path: Path) -> None:
        key = (kind, os.path.realpath(path))
        entry = self._items.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del self._items[key]
            if kind == "writer":
                self.writers = [w for w in self.writers if w is not entry[0]]
            entry[0].close()


_shared = _Shared()


def writer(path: Path, *, synchronous: str = "FULL", ddl: Sequence[str] = (),
           on_commit: Callable[[], None] | None = None) -> WriteConnection:
    """The shared writer of `path` (release it with `release_writer`)."""
    return _shared.get("writer", path, lambda: WriteConnection(path, synchronous=synchronous, ddl=ddl,
                                                               on_commit=on_commit))


def release_writer(path: Path) -> None:
    _shared.release("writer", path)


def reader(path: Path, *, max_length: int | None = None, max_bytes: int | None = None) -> Reader:
    """The shared reader of `path` (release it with `release_reader`)."""
    return _shared.get("reader", path, lambda: Reader(path, max_length=max_length, max_bytes=max_bytes))


def release_reader(path: Path) -> None:
    _shared.release("reader", path)


async def barrier() -> None:
    """Wait until every write this process has made so far is on disk.

    The local runtime's output gate: a worker's answer leaves the runtime only after this, so an
    answer never rests on a write that a crash could still lose (Cloudflare holds a Durable
    Object's outgoing messages until its writes are confirmed in the same way).
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    waits = [g for w in _shared.writers if (g := w.pending()) is not None and g.loop is loop]
    for group in waits:  # those pending now, not any started while we wait
        with contextlib.suppress(Exception):  # a failed commit: its units' callers were told
            await group.wait()


async def drain_all() -> None:
    """Wait until every writer of this process has committed what it holds."""
    for w in _shared.writers:
        await w.drain()
