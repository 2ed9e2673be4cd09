"""Local KV: one SQLite file per namespace (`state/kv/<namespace>.sqlite`).

Cloudflare's rules are kept: `expiration_ttl` of at least 60 seconds, keys of at most 512 bytes,
`list` sorted by key with at most 1000 keys a page and an opaque cursor. Expired keys are
invisible to every call (rows are purged at most hourly, by a write). Time comes from
`hoox_edge.shared.clock`, so tests move it instead of sleeping.

Writes go through the file's group committer (`sqlio.WriteConnection`): `put` and `delete` return
once the write is on disk. `get` is served from a cache of the values read, checked against
SQLite's `PRAGMA data_version` once per event-loop iteration: any commit to the file by another
connection — this process's writer, or another process such as the CLI writing KV directly —
changes that number and empties the cache, so a read that follows a write (here or elsewhere)
sees it. Reads in one loop iteration share one check: nothing else can have run between them.
"""

from __future__ import annotations

import asyncio
import base64
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hoox_edge.local import sqlio
from hoox_edge.local.kv_file import DDL, SELECT_ONE, alive
from hoox_edge.ports import KV_MAX_KEY_BYTES, KV_MAX_LIST, KVKey, KVListResult, check_kv_key, check_page_limit
from hoox_edge.shared import clock
from hoox_edge.shared.memo import Memo

MIN_TTL = 60
MAX_KEY_BYTES = KV_MAX_KEY_BYTES
MAX_LIST = KV_MAX_LIST
CACHE_ENTRIES = 4096  # values kept for `get`; the cache starts over when it is full (`Memo`)
PURGE_EVERY_S = 3600

_check_key = check_kv_key  # the ports' rule, shared with the Cloudflare adapter
_MISS: Any = object()


def encode_cursor(last_key: str) -> str:
    return base64.urlsafe_b64encode(last_key.encode("utf-8")).decode("ascii")


def decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor.encode("ascii")).decode("utf-8")
    except (ValueError, UnicodeError):
        raise ValueError(f"invalid list cursor {cursor!r}") from None


class LocalKV:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._writer = sqlio.writer(self.path, ddl=[DDL])
        self._conn = sqlio.connect(self.path)  # reads, on the event loop: lookups by key, pages of 1000
        self._cache: Memo[str, tuple[str, float | None] | None] = Memo(CACHE_ENTRIES)
        self._version: int | None = None
        self._checked: asyncio.AbstractEventLoop | None = None  # checked in this iteration of that loop
        self._purged_at = 0.0

    def close(self) -> None:
        self._conn.close()
        sqlio.release_writer(self.path)

    def _fresh(self) -> None:
        """Empty the cache if the file changed since it was filled (see the module docstring)."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None  # no loop to tell iterations apart: check on every read
        if loop is not None and self._checked is loop:
            return
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version:
            self._cache.clear()
            self._version = version
        if loop is not None:
            self._checked = loop
            loop.call_soon(self._uncheck)

    def _uncheck(self) -> None:
        self._checked = None

    def _get(self, key: str) -> str | None:
        """`get` once the cache is fresh."""
        hit = self._cache.get(key, _MISS) if type(key) is str else _MISS  # a cached key was checked
        if hit is _MISS:
            _check_key(key)
            row = self._conn.execute(SELECT_ONE, (key,)).fetchone()
            hit = None if row is None else (row[0], row[1])
            self._cache.keep(key, hit)
        return alive(hit)

    async def get(self, key: str) -> str | None:
        self._fresh()
        return self._get(key)

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        # Nothing waits between the keys: one freshness check, and no task (or coroutine) per key.
        self._fresh()
        return [self._get(k) for k in keys]

    async def put(self, key: str, value: str, *, expiration_ttl: int | None = None) -> None:
        _check_key(key)
        if not isinstance(value, str):
            raise TypeError(f"KV value must be a string, got {type(value).__name__}")
        expiration = None
        if expiration_ttl is not None:
            if expiration_ttl < MIN_TTL:
                raise ValueError(
                    f"expiration_ttl must be at least {MIN_TTL} seconds (Cloudflare KV's minimum), "
                    f"got {expiration_ttl}"
                )
            # Cloudflare reports expirations as whole epoch seconds
            expiration = float(math.floor(clock.now() + expiration_ttl))
        now = clock.now()
        purge = now - self._purged_at >= PURGE_EVERY_S

        def unit(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO kv (key, value, expiration) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expiration = excluded.expiration",
                (key, value, expiration),
            )
            if purge:
                conn.execute("DELETE FROM kv WHERE expiration <= ?", (now,))

        self._cache.pop(key, None)
        await self._writer.run(unit)
        if purge:
            self._purged_at = now

    async def delete(self, key: str) -> None:
        _check_key(key)
        self._cache.pop(key, None)
        await self._writer.run(lambda conn: conn.execute("DELETE FROM kv WHERE key = ?", (key,)), one_statement=True)

    async def list(self, *, prefix: str = "", cursor: str | None = None,
                   limit: int = MAX_LIST) -> KVListResult:
        check_page_limit(limit)
        now = clock.now()
        after = decode_cursor(cursor) if cursor else None
        sql = "SELECT key, expiration FROM kv WHERE (expiration IS NULL OR expiration > ?)"
        args: list[object] = [now]
        if prefix:
            # substr comparison, not LIKE: keys may contain % and _
            sql += " AND substr(key, 1, ?) = ?"
            args += [len(prefix), prefix]
        if after is not None:
            sql += " AND key > ?"
            args.append(after)
        sql += " ORDER BY key LIMIT ?"
        args.append(limit + 1)
        rows = self._conn.execute(sql, args).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        keys = [KVKey(r[0], int(r[1]) if r[1] is not None else None) for r in rows]
        next_cursor = encode_cursor(rows[-1][0]) if more else None
        return KVListResult(keys=keys, list_complete=not more, cursor=next_cursor)
