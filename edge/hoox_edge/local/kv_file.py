"""A local KV namespace's file (`state/kv/<namespace>.sqlite`): its table and the read of one key.

LocalKV (kv.py) serves the running edge from it on the event loop; `read` is the same lookup for a
program with no event loop: the CLI reading one setting of a stopped edge (`hoox config kv get`) would
otherwise import asyncio and open the file's writer, most of the command's time.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hoox_edge.ports import check_kv_key
from hoox_edge.shared import clock

DDL = "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expiration REAL)"
SELECT_ONE = "SELECT value, expiration FROM kv WHERE key = ?"

Row = tuple[str, float | None]


def alive(row: Row | None) -> str | None:
    """The value of a row as `get` sees it: None when there is none or it has expired."""
    if row is None or (row[1] is not None and row[1] <= clock.now()):
        return None
    return row[0]


def read(path: Path, key: str) -> str | None:
    """The value of `key` in the KV file at `path` (None: not there, expired, or no file yet)."""
    check_kv_key(key)
    if not path.exists():
        return None
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")  # a writer's commit in flight: wait, as LocalKV does
        row = conn.execute(SELECT_ONE, (key,)).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None  # created, not yet written
        raise
    finally:
        conn.close()
    return alive(None if row is None else (row[0], row[1]))
