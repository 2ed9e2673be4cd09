"""Local KV: one SQLite file per namespace (`state/kv/<namespace>.sqlite`).

Cloudflare's rules are kept: `expiration_ttl` of at least 60 seconds, keys of at most 512 bytes,
`list` sorted by key with at most 1000 keys a page and an opaque cursor. Expired keys are
invisible to every call (and removed lazily). Time comes from `hoox_edge.shared.clock`, so tests
move it instead of sleeping.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path

from hoox_edge.local.d1 import connect
from hoox_edge.ports import KVKey, KVListResult
from hoox_edge.shared import clock

MIN_TTL = 60
MAX_KEY_BYTES = 512
MAX_LIST = 1000

_DDL = "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expiration REAL)"


def _check_key(key: str) -> None:
    if not isinstance(key, str) or key == "":
        raise ValueError("KV key must be a non-empty string")
    if key in (".", ".."):
        raise ValueError(f"KV key {key!r} is not allowed")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise ValueError(f"KV key is longer than {MAX_KEY_BYTES} bytes")


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
        self._conn = connect(self.path)
        self._conn.execute(_DDL)

    def close(self) -> None:
        self._conn.close()

    async def get(self, key: str) -> str | None:
        _check_key(key)
        row = self._conn.execute("SELECT value, expiration FROM kv WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        if row[1] is not None and row[1] <= clock.now():
            self._conn.execute("DELETE FROM kv WHERE key = ? AND expiration <= ?", (key, clock.now()))
            return None
        return row[0]

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
        self._conn.execute(
            "INSERT INTO kv (key, value, expiration) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expiration = excluded.expiration",
            (key, value, expiration),
        )

    async def delete(self, key: str) -> None:
        _check_key(key)
        self._conn.execute("DELETE FROM kv WHERE key = ?", (key,))

    async def list(self, *, prefix: str = "", cursor: str | None = None,
                   limit: int = MAX_LIST) -> KVListResult:
        if not 1 <= limit <= MAX_LIST:
            raise ValueError(f"list limit must be between 1 and {MAX_LIST}, got {limit}")
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
