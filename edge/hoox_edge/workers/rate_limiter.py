"""RateLimiter: an exact sliding-window counter in a Durable Object.

KV counters race (read-modify-write across isolates, eventually consistent), so the gateway keeps
its webhook limit here: one object (`id_from_name("webhook")`) serialises every hit. Each allowed
hit stores its timestamp; a hit counts the timestamps of the last `window_seconds`. An alarm one
window after the newest hit drops old timestamps, and the whole storage once it has gone quiet.
"""

from __future__ import annotations

import math
from typing import Any

from hoox_edge.ports import DurableObject
from hoox_edge.shared import clock

_DDL = ("CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL);"
        "CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), window_s REAL NOT NULL)")


class RateLimiter(DurableObject):
    def _sql(self) -> Any:
        sql = self.ctx.storage.sql
        sql.exec(_DDL)
        return sql

    async def hit(self, limit: int, window_seconds: float = 60) -> dict[str, Any]:
        """Count one request if fewer than `limit` were allowed in the last `window_seconds`.

        Returns `{"allowed", "remaining", "retryAfter"}` (retryAfter: whole seconds until a slot frees,
        0 when allowed). A refused hit is not counted.
        """
        if limit < 1 or window_seconds <= 0:
            raise ValueError("limit must be >= 1 and window_seconds > 0")
        sql = self._sql()
        now = clock.now()
        sql.exec("DELETE FROM hits WHERE at <= ?", now - window_seconds)
        rows = sql.exec("SELECT at FROM hits ORDER BY at").to_list()
        if len(rows) >= limit:
            # A slot frees when the oldest hit that still counts against the limit leaves the window.
            oldest_blocking = rows[len(rows) - limit]["at"]
            retry = max(1, math.ceil(oldest_blocking + window_seconds - now))
            return {"allowed": False, "remaining": 0, "retryAfter": retry}
        sql.exec("INSERT INTO hits (at) VALUES (?)", now)
        sql.exec("INSERT INTO meta (id, window_s) VALUES (1, ?) "
                 "ON CONFLICT(id) DO UPDATE SET window_s = excluded.window_s", window_seconds)
        await self.ctx.storage.set_alarm((now + window_seconds) * 1000)
        return {"allowed": True, "remaining": limit - len(rows) - 1, "retryAfter": 0}

    async def count(self, window_seconds: float = 60) -> int:
        """Hits allowed in the last `window_seconds` (read-only)."""
        cur = self._sql().exec("SELECT COUNT(*) AS n FROM hits WHERE at > ?", clock.now() - window_seconds)
        return cur.one()["n"]

    async def ping(self) -> dict[str, Any]:
        """Health probe: proves the namespace answers without touching storage."""
        return {"ok": True}

    async def alarm(self) -> None:
        sql = self._sql()
        meta = sql.exec("SELECT window_s FROM meta WHERE id = 1").to_list()
        window = meta[0]["window_s"] if meta else 0.0
        sql.exec("DELETE FROM hits WHERE at <= ?", clock.now() - window)
        newest = sql.exec("SELECT MAX(at) AS at FROM hits").one()["at"]
        if newest is None:
            await self.ctx.storage.delete_all()  # quiet for a whole window: nothing worth keeping
        else:
            await self.ctx.storage.set_alarm((newest + window) * 1000)
