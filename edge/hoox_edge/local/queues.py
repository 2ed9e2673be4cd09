"""Local Queues: every queue of a workspace in one SQLite file (`state/queues.sqlite`).

Cloudflare's semantics are kept:
- a consumer gets batches of at most `max_batch_size` due messages; `attempts` is 1 on the first
  delivery and counts every delivery, across restarts;
- a handler that returns acks every message it did not ack or retry itself; a handler that raises
  retries every message it did not ack (with the consumer's `retry_delay`); explicit `ack()` and
  `retry()` win over `ack_all()`/`retry_all()` and over the outcome of the handler;
- a message is delivered at most `max_retries + 1` times: a retry after that moves it to the
  consumer's `dead_letter_queue`, a normal queue where it keeps its last error (without a dead
  letter queue it is dropped, as on Cloudflare, with a warning in the log);
- messages are kept 4 days in a queue (retention), `delay_seconds` up to 12 hours, bodies up to
  128 KB, `send_batch` up to 100 messages and 256 KB.

Local specifics that make "nothing is lost, nothing runs twice" hold across a crash:
- `ack()` and `retry()` are written at once (not at the end of the batch), so an acked message is
  never delivered again even if the process dies later in the same batch;
- a delivered message carries a lease owned by the delivering runtime instance (`<pid>:<id>`);
  `release_dead_leases()` (called by `LocalRuntime.open`) makes the messages of instances that are
  gone (process not alive or a zombie, or an earlier instance in this process) deliverable again, so
  a message being processed when the process was killed is redelivered after a restart;
- a lease also expires, whatever that check says (a pid reused by another process, a runtime
  that hangs): a consumer invocation has `CONSUMER_BUDGET_SECONDS` (Cloudflare's 15-minute wall
  clock limit of a queue consumer), after which the runtime cancels it and retries what it left
  undecided, and a lease lasts that budget plus `LEASE_GRACE_SECONDS`. So a lease outlives every
  live consumer that holds it, and a message whose lease ran out is deliverable again (its attempt
  counts). A message delivered `max_retries + 1` times without an ack or a retry (its consumer
  crashed or ran out of time each time) goes to the dead letter queue instead of a further delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from hoox_edge.local.d1 import connect
from hoox_edge.ports import (
    QUEUE_MAX_BATCH_BYTES,
    QUEUE_MAX_BATCH_MESSAGES,
    QUEUE_MAX_DELAY_SECONDS,
    QUEUE_MAX_MESSAGE_BYTES,
    JSONValue,
    check_queue_delay,
    encode_queue_batch,
    encode_queue_body,
)
from hoox_edge.shared import clock

_py = logging.getLogger("hoox.local")

RETENTION_SECONDS = 4 * 24 * 3600
MAX_DELAY_SECONDS = QUEUE_MAX_DELAY_SECONDS
MAX_MESSAGE_BYTES = QUEUE_MAX_MESSAGE_BYTES
MAX_BATCH_MESSAGES = QUEUE_MAX_BATCH_MESSAGES
MAX_BATCH_BYTES = QUEUE_MAX_BATCH_BYTES
POLL_SECONDS = 1.0
CONSUMER_BUDGET_SECONDS = 15 * 60
LEASE_GRACE_SECONDS = 60
VISIBILITY_TIMEOUT_SECONDS = CONSUMER_BUDGET_SECONDS + LEASE_GRACE_SECONDS

_DDL = [
    "CREATE TABLE IF NOT EXISTS messages ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " queue TEXT NOT NULL,"
    " body TEXT NOT NULL,"
    " timestamp REAL NOT NULL,"  # first send
    " enqueued_at REAL NOT NULL,"  # entered this queue (retention counts from here)
    " visible_at REAL NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " lease_owner TEXT,"
    " leased_until REAL,"  # the lease expires then, whatever the owner's pid says
    " last_error TEXT,"
    " origin_queue TEXT,"  # set on a dead letter: the queue it failed in
    " dead_lettered_at REAL)",
    "CREATE INDEX IF NOT EXISTS messages_due ON messages (queue, visible_at, seq)",
]

_COLS = ("id", "queue", "body", "timestamp", "enqueued_at", "visible_at", "attempts", "lease_owner",
         "leased_until", "last_error", "origin_queue", "dead_lettered_at")


# The ports' rules, shared with the Cloudflare adapter.
_encode_body = encode_queue_body
_check_delay = check_queue_delay


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process its parent has not reaped yet passes kill(pid, 0): a zombie holds nothing
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the lease's expiry is the backstop


class LocalQueue:
    """Producer side of one queue."""

    def __init__(self, store: QueueStore, name: str) -> None:
        self._store = store
        self.name = name

    async def send(self, body: JSONValue, *, delay_seconds: int = 0) -> None:
        self._store.send(self.name, [body], delay_seconds=delay_seconds)

    async def send_batch(self, bodies: Sequence[JSONValue], *, delay_seconds: int = 0) -> None:
        self._store.send(self.name, list(bodies), delay_seconds=delay_seconds)

    def __repr__(self) -> str:
        return f"LocalQueue({self.name!r})"


class LocalMessage:
    def __init__(self, delivery: _Delivery, row: dict[str, Any]) -> None:
        self._delivery = delivery
        self.id: str = row["id"]
        self.timestamp: float = row["timestamp"]
        self.body: JSONValue = json.loads(row["body"])
        self.attempts: int = row["attempts"]
        self.decision: str | None = None

    def ack(self) -> None:
        if self.decision is None:
            self.decision = "ack"
            self._delivery.store._ack(self.id)

    def retry(self, *, delay_seconds: int = 0) -> None:
        if self.decision is None:
            _check_delay(delay_seconds)
            self.decision = "retry"
            self._delivery.retry(self, delay_seconds, f"retried by the consumer on attempt {self.attempts}")


class LocalMessageBatch:
    def __init__(self, queue: str, messages: list[LocalMessage]) -> None:
        self.queue = queue
        self.messages = messages

    def ack_all(self) -> None:
        for m in self.messages:
            m.ack()

    def retry_all(self, *, delay_seconds: int = 0) -> None:
        for m in self.messages:
            m.retry(delay_seconds=delay_seconds)


class _Delivery:
    def __init__(self, store: QueueStore, queue: str, max_retries: int,
                 dead_letter_queue: str | None) -> None:
        self.store = store
        self.queue = queue
        self.max_retries = max_retries
        self.dead_letter_queue = dead_letter_queue

    def retry(self, msg: LocalMessage, delay_seconds: float, error: str) -> None:
        if msg.attempts > self.max_retries:
            self.store._dead_letter(msg.id, self.queue, self.dead_letter_queue, error)
        else:
            self.store._release(msg.id, self.queue, visible_at=clock.now() + delay_seconds, error=error)


class QueueStore:
    def __init__(self, path: Path, *, instance_id: str | None = None) -> None:
        self.path = Path(path)
        self.instance_id = instance_id or uuid.uuid4().hex[:12]
        self.owner = f"{os.getpid()}:{self.instance_id}"
        self._conn = connect(self.path)
        for ddl in _DDL:
            self._conn.execute(ddl)
        columns = {r[1] for r in self._conn.execute("PRAGMA table_info(messages)")}
        if "leased_until" not in columns:  # a queue file of an earlier version: its leases expire now
            self._conn.execute("ALTER TABLE messages ADD COLUMN leased_until REAL")
            self._conn.execute("UPDATE messages SET leased_until = 0 WHERE lease_owner IS NOT NULL")
        self._events: dict[str, asyncio.Event] = {}

    def close(self) -> None:
        self._conn.close()

    # ----------------------------------------------------------------- producer
    def producer(self, queue: str) -> LocalQueue:
        return LocalQueue(self, queue)

    def send(self, queue: str, bodies: list[JSONValue], *, delay_seconds: float = 0) -> list[str]:
        delay = _check_delay(delay_seconds)
        encoded = encode_queue_batch(bodies)
        now = clock.now()
        ids = [uuid.uuid4().hex for _ in encoded]
        with self._tx():
            self._conn.executemany(
                "INSERT INTO messages (id, queue, body, timestamp, enqueued_at, visible_at) "
                "VALUES (?,?,?,?,?,?)",
                [(i, queue, e, now, now, now + delay) for i, e in zip(ids, encoded, strict=True)],
            )
        self.notify(queue)
        return ids

    # ----------------------------------------------------------------- wake-up
    def event(self, queue: str) -> asyncio.Event:
        ev = self._events.get(queue)
        if ev is None:
            ev = self._events[queue] = asyncio.Event()
        return ev

    def notify(self, queue: str) -> None:
        ev = self._events.get(queue)
        if ev is not None:
            ev.set()

    # ----------------------------------------------------------------- consumer
    async def deliver(
        self,
        queue: str,
        handler: Callable[[LocalMessageBatch], Awaitable[None]],
        *,
        max_batch_size: int = 10,
        max_retries: int = 3,
        dead_letter_queue: str | None = None,
        retry_delay: float = 0,
        describe_error: Callable[[BaseException], str] | None = None,
        budget: float = CONSUMER_BUDGET_SECONDS,
    ) -> int:
        """Hand one batch of due messages to `handler` (cancelled after `budget` seconds); return
        how many were delivered."""
        now = clock.now()
        self.purge_expired(now)
        with self._tx():
            rows = self._conn.execute(
                "SELECT id, lease_owner, attempts FROM messages WHERE queue = ? AND visible_at <= ? "
                "AND (lease_owner IS NULL OR leased_until <= ?) ORDER BY visible_at, seq LIMIT ?",
                (queue, now, now, max_batch_size)).fetchall()
            # delivered max_retries + 1 times already, never decided: no further delivery
            spent = [r for r in rows if r[2] > max_retries]
            ids = [r[0] for r in rows if r[2] <= max_retries]
            self._conn.executemany(
                "UPDATE messages SET lease_owner = ?, leased_until = ?, attempts = attempts + 1 WHERE id = ?",
                [(self.owner, now + budget + LEASE_GRACE_SECONDS, i) for i in ids])
        for message_id, lost_by, _ in rows:
            if lost_by is not None:
                _py.warning("lease of message %s by %s ran out", message_id, lost_by)
        for message_id, _, attempts in spent:
            self._dead_letter(message_id, queue, dead_letter_queue,
                              f"delivered {attempts} times without an ack or a retry "
                              "(the consumer crashed or ran out of time)")
        if not ids:
            return 0
        delivery = _Delivery(self, queue, max_retries, dead_letter_queue)
        messages = [LocalMessage(delivery, m) for m in (self.get(i) for i in ids) if m is not None]
        batch = LocalMessageBatch(queue, messages)
        try:
            async with asyncio.timeout(budget):
                await handler(batch)
        except TimeoutError:
            _py.error("consumer of %s ran past its %g s budget; retrying what it left undecided", queue, budget)
            for m in messages:
                if m.decision is None:
                    m.decision = "retry"
                    delivery.retry(m, retry_delay, f"the consumer ran past its {budget:g} s budget")
        except asyncio.CancelledError:
            # stopped mid-batch: hand the undecided messages back (their attempt still counts)
            for m in messages:
                if m.decision is None:
                    self._release(m.id, queue, visible_at=clock.now(), error="delivery cancelled")
            raise
        except Exception as exc:
            error = describe_error(exc) if describe_error else f"{type(exc).__name__}: {exc}"
            _py.warning("consumer of %s raised %s; retrying %d message(s)", queue, type(exc).__name__,
                        sum(1 for m in messages if m.decision is None))
            for m in messages:
                if m.decision is None:
                    m.decision = "retry"
                    delivery.retry(m, retry_delay, error)
        else:
            for m in messages:
                m.ack()
        return len(messages)

    def _ack(self, message_id: str) -> None:
        self._conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def _release(self, message_id: str, queue: str, *, visible_at: float, error: str | None) -> None:
        self._conn.execute(
            "UPDATE messages SET lease_owner = NULL, leased_until = NULL, visible_at = ?, last_error = ? "
            "WHERE id = ?", (visible_at, error, message_id))
        self.notify(queue)

    def _dead_letter(self, message_id: str, queue: str, dlq: str | None, error: str) -> None:
        if dlq is None:
            _py.warning("message %s of %s used up its retries and there is no dead letter queue: dropped",
                        message_id, queue)
            self._ack(message_id)
            return
        now = clock.now()
        self._conn.execute(
            "UPDATE messages SET queue = ?, origin_queue = ?, dead_lettered_at = ?, enqueued_at = ?, "
            "visible_at = ?, lease_owner = NULL, leased_until = NULL, last_error = ? WHERE id = ?",
            (dlq, queue, now, now, now, error, message_id))
        self.notify(dlq)

    def release_dead_leases(self) -> int:
        """Make messages leased by gone instances deliverable again; return how many."""
        owners = [r[0] for r in self._conn.execute(
            "SELECT DISTINCT lease_owner FROM messages WHERE lease_owner IS NOT NULL").fetchall()]
        released = 0
        for owner in owners:
            if owner == self.owner:
                continue
            pid_text = owner.split(":", 1)[0]
            pid = int(pid_text) if pid_text.isdigit() else -1
            gone = pid < 0 or pid == os.getpid() or not _pid_alive(pid)
            if gone:
                cur = self._conn.execute(
                    "UPDATE messages SET lease_owner = NULL, leased_until = NULL WHERE lease_owner = ?", (owner,))
                released += cur.rowcount
        return released

    def purge_expired(self, now: float | None = None) -> int:
        cutoff = (clock.now() if now is None else now) - RETENTION_SECONDS
        cur = self._conn.execute(
            "DELETE FROM messages WHERE enqueued_at < ? AND (lease_owner IS NULL OR leased_until <= ?)",
            (cutoff, clock.now() if now is None else now))
        if cur.rowcount:
            _py.warning("%d queue message(s) passed the 4-day retention and were removed", cur.rowcount)
        return cur.rowcount

    # ----------------------------------------------------------------- operator helpers
    def queues(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT DISTINCT queue FROM messages ORDER BY queue")]

    def stats(self, queue: str) -> dict[str, Any]:
        now = clock.now()
        row = self._conn.execute(
            "SELECT COUNT(*),"
            " COALESCE(SUM(NOT (lease_owner IS NOT NULL AND leased_until > :now) AND visible_at <= :now), 0),"
            " COALESCE(SUM(NOT (lease_owner IS NOT NULL AND leased_until > :now) AND visible_at > :now), 0),"
            " COALESCE(SUM(lease_owner IS NOT NULL AND leased_until > :now), 0),"
            " MIN(timestamp) FROM messages WHERE queue = :queue", {"now": now, "queue": queue}).fetchone()
        return {"queue": queue, "messages": row[0], "ready": row[1], "delayed": row[2], "in_flight": row[3],
                "depth": row[1] + row[2], "oldest_timestamp": row[4]}

    def depth(self, queue: str) -> int:
        """Messages waiting (ready or delayed), not counting those being processed."""
        return self.stats(queue)["depth"]

    def list(self, queue: str, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            f"SELECT {', '.join(_COLS)} FROM messages WHERE queue = ? ORDER BY seq LIMIT ? OFFSET ?",
            (queue, limit, offset)).fetchall()
        return [self._public(dict(zip(_COLS, r, strict=True))) for r in rows]

    def get(self, message_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(f"SELECT {', '.join(_COLS)} FROM messages WHERE id = ?",
                                 (message_id,)).fetchone()
        return dict(zip(_COLS, row, strict=True)) if row else None

    def message(self, message_id: str) -> dict[str, Any] | None:
        """A message as the operator sees it (body decoded, `in_flight` instead of the lease owner)."""
        row = self.get(message_id)
        return self._public(row) if row else None

    def move(self, message_id: str, to_queue: str | None = None) -> bool:
        """Replay: put a message (a dead letter by default back in the queue it failed in) as new.

        Its attempts start again from zero; messages being processed are not moved.
        """
        row = self.get(message_id)
        if row is None or self._leased(row):
            return False
        target = to_queue or row["origin_queue"]
        if not target:
            raise ValueError(f"message {message_id} is not a dead letter: say which queue to move it to")
        now = clock.now()
        self._conn.execute(
            "UPDATE messages SET queue = ?, attempts = 0, visible_at = ?, enqueued_at = ?, "
            "origin_queue = NULL, dead_lettered_at = NULL, last_error = NULL, lease_owner = NULL, "
            "leased_until = NULL WHERE id = ? AND (lease_owner IS NULL OR leased_until <= ?)",
            (target, now, now, message_id, now))
        self.notify(target)
        return True

    @staticmethod
    def _leased(row: dict[str, Any]) -> bool:
        """Held by a consumer now (a lease that ran out holds nothing)."""
        return row["lease_owner"] is not None and (row["leased_until"] or 0) > clock.now()

    @classmethod
    def _public(cls, row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        out["body"] = json.loads(row["body"])
        out["in_flight"] = cls._leased(row)
        del out["lease_owner"], out["leased_until"]
        return out

    # ----------------------------------------------------------------- internals
    @contextlib.contextmanager
    def _tx(self):
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")


__all__ = ["LocalMessage", "LocalMessageBatch", "LocalQueue", "QueueStore"]
