"""Local Analytics Engine: `state/analytics.sqlite`, one table per dataset.

Each table has Cloudflare's columns: `timestamp` (UTC text 'YYYY-MM-DD HH:MM:SS', as the SQL API
shows it), `index1`, `blob1`..`blob20` (unset: ''), `double1`..`double20` (unset: 0) and
`_sample_interval` (always 1: nothing is sampled locally). `AnalyticsSql.query` is read-only
and speaks **SQLite's** dialect locally (Cloudflare's SQL API is ClickHouse-flavoured):
portable queries stick to plain SELECT/WHERE/GROUP BY/ORDER BY/LIMIT and compare `timestamp`
with literal timestamps. SQLite's `datetime('now')` reads the real clock, not `hoox_edge.shared.clock`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hoox_edge.local.d1 import connect, rows_as_dicts
from hoox_edge.ports import MAX_BLOBS, MAX_DOUBLES, check_data_point
from hoox_edge.shared import clock

_DATASET = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
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
    """The analytics file: datasets to write to and the SQL reader."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn = connect(self.path)
        self._datasets: set[str] = set()

    def close(self) -> None:
        self._conn.close()

    def dataset(self, name: str) -> LocalAnalyticsDataset:
        if not _DATASET.match(name):
            raise ValueError(f"dataset name {name!r} must be letters, digits and _ (at most 64)")
        if name not in self._datasets:
            self._conn.execute(_ddl(name))
            self._conn.execute(f'CREATE INDEX IF NOT EXISTS "{name}_ts" ON "{name}" (timestamp)')
            self._datasets.add(name)
        return LocalAnalyticsDataset(self, name)

    def sql(self) -> LocalAnalyticsSql:
        return LocalAnalyticsSql(self.path)


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
        ts = datetime.fromtimestamp(clock.now(), UTC).strftime("%Y-%m-%d %H:%M:%S")
        cols = ["timestamp", "index1"] + [f"blob{i + 1}" for i in range(len(blob_values))] + \
            [f"double{i + 1}" for i in range(len(double_values))]
        values = [ts, index, *blob_values, *double_values]
        self._store._conn.execute(
            f'INSERT INTO "{self.name}" ({", ".join(cols)}) VALUES ({", ".join("?" * len(values))})', values)


class LocalAnalyticsSql:
    """Read-only SQL over the datasets (SQLite dialect locally)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None

    async def query(self, sql: str) -> list[dict[str, Any]]:
        if self._conn is None:
            if not self.path.exists():
                connect(self.path).close()
            self._conn = connect(self.path, readonly=True)
        try:
            cur = self._conn.execute(sql)
            rows = cur.fetchall()
        except sqlite3.Error as exc:
            raise ValueError(f"analytics query failed: {exc}") from None
        return rows_as_dicts(cur, rows)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
