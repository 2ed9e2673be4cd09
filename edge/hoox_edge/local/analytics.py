"""Local Analytics Engine: `state/analytics.sqlite`, one table per dataset.

Each table has Cloudflare's columns: `timestamp` (UTC text 'YYYY-MM-DD HH:MM:SS', as the SQL API
shows it), `index1`, `blob1`..`blob20` (unset: ''), `double1`..`double20` (unset: 0) and
`_sample_interval` (always 1: nothing is sampled locally). `AnalyticsSql.query` is read-only
and speaks **SQLite's** dialect locally (Cloudflare's SQL API is ClickHouse-flavoured):
portable queries stick to plain SELECT/WHERE/GROUP BY/ORDER BY/LIMIT and compare `timestamp`
with literal timestamps. SQLite's `datetime('now')` reads the real clock, not `hoox_edge.shared.clock`.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hoox_edge.local import sqlio
from hoox_edge.ports import MAX_BLOBS, MAX_DOUBLES, check_data_point
from hoox_edge.shared import clock

_DATASET = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Points wait this long for others to share their commit (one a signal was ~1 of its 4-5 commits);
# nothing waits on them, and a query writes what is buffered first.
FLUSH_AFTER_S = 0.05
COLUMNS = (["timestamp", "index1"] + [f"blob{i}" for i in range(1, MAX_BLOBS + 1)]
           + [f"double{i}" for i in range(1, MAX_DOUBLES + 1)] + ["_sample_interval"])


def _ddl(dataset: str) -> str:
    cols = ", ".join(
        ["timestamp TEXT NOT NULL", "index1 TEXT NOT NULL DEFAULT ''"]
        + [f"blob{i} TEXT NOT NULL DEFAULT ''" for i in range(1, MAX_BLOBS + 1)]
        + [f"double{i} REAL NOT NULL DEFAULT 0" for i in range(1, MAX_DOUBLES + 1)]
        + ["_sample_interval INTEGER NOT NULL DEFAULT 1"]
    )
    return f'CREATE TABLE IF NOT EXISTS "{dataset}" ({cols})'


class AnalyticsStore:
    """The analytics file: datasets to write to and the SQL reader.

    `write_data_point` is fire-and-forget, as on Cloudflare: points are buffered for FLUSH_AFTER_S
    and written by a task in one transaction, on the file's own writer (`synchronous=NORMAL`: a
    power cut may lose the last points, never corrupt the file; nothing here is an
    acknowledgement). A query first writes what is buffered, so it sees every point written before
    it, and a stopping runtime writes what is left.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._writer = sqlio.WriteConnection(self.path, synchronous="NORMAL")  # not shared: never gated
        self._datasets: set[str] = set()
        self._pending: list[tuple[str, list[Any]]] = []
        self._flush_task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def close(self) -> None:
        self._cancel_timer()
        if self._pending and self._writer.idle:
            self._write(self._writer.conn, self._take())  # autocommit: the runtime is stopping
        self._writer.close()

    def dataset(self, name: str) -> LocalAnalyticsDataset:
        if not _DATASET.match(name):
            raise ValueError(f"dataset name {name!r} must be letters, digits and _ (at most 64)")
        if name not in self._datasets:
            self._writer.conn.execute(_ddl(name))
            self._writer.conn.execute(f'CREATE INDEX IF NOT EXISTS "{name}_ts" ON "{name}" (timestamp)')
            self._datasets.add(name)
        return LocalAnalyticsDataset(self, name)

    def sql(self) -> LocalAnalyticsSql:
        return LocalAnalyticsSql(self.path, self)

    def add(self, dataset: str, values: list[Any]) -> None:
        self._pending.append((dataset, values))
        if self._timer is not None or (self._flush_task is not None and not self._flush_task.done()):
            return  # written by the drain that is due or running
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: write it now
            self._write(self._writer.conn, self._take())
            return
        self._timer = loop.call_later(FLUSH_AFTER_S, self._start_drain)

    def _start_drain(self) -> None:
        self._timer = None
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.get_running_loop().create_task(self._write_due())

    async def _write_due(self) -> None:
        """One commit of what is buffered; points that came meanwhile wait for the next timer."""
        try:
            await self._write_pending()
        finally:
            if self._pending and self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(FLUSH_AFTER_S, self._start_drain)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _take(self) -> list[tuple[str, list[Any]]]:
        taken, self._pending = self._pending, []
        return taken

    @staticmethod
    def _write(conn: sqlite3.Connection, points: list[tuple[str, list[Any]]]) -> None:
        cols = ", ".join(COLUMNS[:-1])
        marks = ", ".join("?" * (len(COLUMNS) - 1))
        by_dataset: dict[str, list[list[Any]]] = {}
        for dataset, values in points:
            by_dataset.setdefault(dataset, []).append(values)
        for dataset, rows in by_dataset.items():
            conn.executemany(f'INSERT INTO "{dataset}" ({cols}) VALUES ({marks})', rows)

    async def _write_pending(self) -> None:
        points = self._take()
        if points:
            await self._writer.run(lambda conn: self._write(conn, points))

    async def flush(self) -> None:
        """Wait until every point written so far is in the file (a write in progress included)."""
        task = self._flush_task
        if task is not None and not task.done():
            await asyncio.shield(task)
        self._cancel_timer()
        while self._pending:
            await self._write_pending()


class LocalAnalyticsDataset:
    def __init__(self, store: AnalyticsStore, name: str) -> None:
        self._store = store
        self.name = name

    def write_data_point(self, *, blobs: Sequence[str | None] = (), doubles: Sequence[float] = (),
                         indexes: Sequence[str] = ()) -> None:
        check_data_point(blobs, doubles, indexes)
        index = indexes[0] if indexes else ""
        blob_values = ["" if b is None else str(b) for b in blobs]  # Cloudflare stores null as ''
        double_values = [float(d) for d in doubles]
        ts = clock.iso()[:19].replace("T", " ")  # whole seconds, UTC (clock.iso formats each second once)
        values = [ts, index, *blob_values, *[""] * (MAX_BLOBS - len(blob_values)),
                  *double_values, *[0.0] * (MAX_DOUBLES - len(double_values))]
        self._store.add(self.name, values)


class LocalAnalyticsSql:
    """Read-only SQL over the datasets (SQLite dialect locally), off the event loop when it is long."""

    def __init__(self, path: Path, store: AnalyticsStore | None = None) -> None:
        self.path = Path(path)
        self._store = store
        self._reader: sqlio.Reader | None = None

    async def query(self, sql: str) -> list[dict[str, Any]]:
        if self._store is not None:
            await self._store.flush()
        if self._reader is None:
            self._reader = sqlio.reader(self.path)
        try:
            cols, rows = await self._reader.read(sql)
        except sqlite3.Error as exc:
            raise ValueError(f"analytics query failed: {exc}") from None
        return [dict(zip(cols, r, strict=False)) for r in rows]

    def close(self) -> None:
        if self._reader is not None:
            sqlio.release_reader(self.path)
            self._reader = None
