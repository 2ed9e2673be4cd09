"""The local adapters (SQLite files, CPython) behind the conformance suite's `Adapters` methods."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hoox_edge.local.analytics import AnalyticsStore
from hoox_edge.local.d1 import LocalD1
from hoox_edge.local.durable import DurableObjectHost
from hoox_edge.local.kv import LocalKV
from hoox_edge.local.queues import QueueStore
from hoox_edge.local.r2 import LocalR2
from hoox_edge.local.service import LocalService, background_tasks
from hoox_edge.ports import (
    AnalyticsEngineDataset,
    AnalyticsSql,
    D1Database,
    DurableObject,
    DurableObjectNamespace,
    Env,
    Fetcher,
    KVNamespace,
    MessageBatch,
    Queue,
    R2Bucket,
)


class LocalAdapters:
    name = "local"
    capabilities = frozenset({"fake_clock", "restart", "crash", "readonly_d1", "analytics_sql", "queue_admin",
                              "stream_cancel"})

    def __init__(self, root: Path, *, instance_id: str = "first") -> None:
        self.root = root
        self.successor: LocalAdapters | None = None
        self.do_classes: dict[str, type[DurableObject]] = {}
        self.do_env = Env({}, worker="conformance")
        self._closers: list[Callable[[], None]] = []
        self._queues = QueueStore(root / "queues.sqlite", instance_id=instance_id)
        self._do = DurableObjectHost(root / "do", self.do_classes.__getitem__, lambda _cls: self.do_env)
        self._analytics = AnalyticsStore(root / "analytics.sqlite")
        self._closers += [self._queues.close, self._do.close, self._analytics.close]

    # ----------------------------------------------------------------- ports
    def kv(self, namespace: str) -> KVNamespace:
        kv = LocalKV(self.root / "kv" / f"{namespace}.sqlite")
        self._closers.append(kv.close)
        return kv

    def d1(self, database: str, *, readonly: bool = False) -> D1Database:
        db = LocalD1(self.root / "d1" / f"{database}.sqlite", readonly=readonly)
        self._closers.append(db.close)
        return db

    def durable_objects(self, cls: type[DurableObject]) -> DurableObjectNamespace:
        self.do_classes[cls.__name__] = cls
        return self._do.namespace(cls.__name__)

    async def fire_due_alarms(self) -> int:
        return await self._do.fire_due_alarms()

    def do_file_count(self, cls: type[DurableObject]) -> int:
        folder = self.root / "do" / cls.__name__
        return len(list(folder.glob("*.sqlite"))) if folder.exists() else 0

    def queue(self, name: str) -> Queue:
        return self._queues.producer(name)

    async def deliver(self, queue: str, handler: Callable[[MessageBatch], Awaitable[None]], *,
                      max_batch_size: int = 10, max_retries: int = 3,
                      dead_letter_queue: str | None = None) -> int:
        """One consumer invocation: hand one batch of due messages to `handler`."""
        return await self._queues.deliver(queue, handler, max_batch_size=max_batch_size,
                                          max_retries=max_retries, dead_letter_queue=dead_letter_queue)

    def queue_messages(self, queue: str) -> list[dict[str, Any]]:
        return self._queues.list(queue)

    def replay(self, message_id: str) -> bool:
        return self._queues.move(message_id)

    def r2(self, bucket: str) -> R2Bucket:
        b = LocalR2(self.root / "r2" / bucket)
        self._closers.append(b.close)
        return b

    def analytics(self, dataset: str) -> AnalyticsEngineDataset:
        return self._analytics.dataset(dataset)

    def analytics_sql(self) -> AnalyticsSql:
        sql = self._analytics.sql()
        self._closers.append(sql.close)
        return sql

    def service(self, app: Any, env: Env) -> Fetcher:
        return LocalService("callee", lambda: (app, env))

    async def settle(self) -> None:
        """Wait for calls that run on after their caller stopped waiting."""
        import asyncio

        pending = [t for t in background_tasks() if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=10)

    # ----------------------------------------------------------------- lifecycle
    def reopen(self, *, instance_id: str = "second") -> LocalAdapters:
        """New adapter objects over the same folder, as after a restart (the old ones are closed)."""
        self.close()
        new = LocalAdapters(self.root, instance_id=instance_id)
        new.do_classes.update(self.do_classes)
        new.do_env = self.do_env
        new._queues.release_dead_leases()  # what LocalRuntime.open does
        self.successor = new
        return new

    def close(self) -> None:
        for c in self._closers:
            c()
        self._closers.clear()

