"""RateLimiter: an exact sliding-window counter in a Durable Object.

KV counters race (read-modify-write across isolates, eventually consistent), so the gateway keeps
its webhook limit here: one object (`id_from_name("webhook")`) serialises every hit. Each allowed
hit is one key-value entry (`hit:<microseconds>:<nonce>` -> its time); a hit counts the entries of
the last `window_seconds`. The object keeps the hits in memory, sorted, so a hit costs one write
and never a scan of storage (it reads storage once, when it wakes). Entries that leave the window
are deleted as hits pass them, and an alarm one window after the newest hit drops the rest, and
the whole storage once it has gone quiet.
"""

from __future__ import annotations

import bisect
import math
import os
from typing import Any

from hoox_edge.ports import DurableObject, DurableObjectState, Env
from hoox_edge.shared import clock

_HIT = "hit:"
_WINDOW = "window"


class RateLimiter(DurableObject):
    def __init__(self, ctx: DurableObjectState, env: Env) -> None:
        super().__init__(ctx, env)
        self._hits: list[tuple[float, str]] | None = None  # (time, storage key), oldest first
        self._window: float | None = None

    async def _load(self) -> list[tuple[float, str]]:
        if self._hits is None:
            await self._adopt_sql_hits()
            entries = await self.ctx.storage.list(prefix=_HIT)
            self._hits = sorted((float(at), key) for key, at in entries.items())
            self._window = await self.ctx.storage.get(_WINDOW)
        return self._hits

    async def _prune(self, hits: list[tuple[float, str]], cutoff: float) -> int:
        """Delete the hits at or before `cutoff` from storage; how many (the first ones of `hits`). The
        caller drops them from memory once every write of the call is staged, in place: a copy of
        the window's hits on every hit costs more than the rest of it."""
        gone = bisect.bisect_right(hits, (cutoff, "\uffff"))
        for _, key in hits[:gone]:
            await self.ctx.storage.delete(key)
        return gone

    async def hit(self, limit: int, window_seconds: float = 60) -> dict[str, Any]:
        """Count one request if fewer than `limit` were allowed in the last `window_seconds`.

        Returns `{"allowed", "remaining", "retryAfter"}` (retryAfter: whole seconds until a slot frees,
        0 when allowed). A refused hit is not counted.
        """
        if limit < 1 or window_seconds <= 0:
            raise ValueError("limit must be >= 1 and window_seconds > 0")
        now = clock.now()
        hits = await self._load()
        gone = await self._prune(hits, now - window_seconds)
        if len(hits) - gone >= limit:
            del hits[:gone]
            # A slot frees when the oldest hit that still counts against the limit leaves the window.
            oldest_blocking = hits[len(hits) - limit][0]
            retry = max(1, math.ceil(oldest_blocking + window_seconds - now))
            return {"allowed": False, "remaining": 0, "retryAfter": retry}
        key = f"{_HIT}{round(now * 1e6):020d}:{os.urandom(4).hex()}"  # a nonce: no uuid4 object needed
        await self.ctx.storage.put(key, now)
        if self._window != window_seconds:
            await self.ctx.storage.put(_WINDOW, window_seconds)
        if await self.ctx.storage.get_alarm() is None:
            # One pending alarm is enough: when it fires it drops what left the window and sets the
            # next one after the newest hit (`alarm`). Moving it on every hit was a write a signal.
            await self.ctx.storage.set_alarm((now + window_seconds) * 1000)
        del hits[:gone]  # memory follows storage once every write is staged
        bisect.insort(hits, (now, key))
        self._window = window_seconds
        return {"allowed": True, "remaining": limit - len(hits), "retryAfter": 0}

    async def count(self, window_seconds: float = 60) -> int:
        """Hits allowed in the last `window_seconds` (read-only)."""
        hits = await self._load()
        return len(hits) - bisect.bisect_right(hits, (clock.now() - window_seconds, "\uffff"))

    async def ping(self) -> dict[str, Any]:
        """Health probe: proves the namespace answers without touching storage."""
        return {"ok": True}

    async def alarm(self) -> None:
        hits = await self._load()
        window = self._window or 0.0
        gone = await self._prune(hits, clock.now() - window)
        if gone == len(hits):
            await self.ctx.storage.delete_all()  # quiet for a whole window: nothing worth keeping
            self._hits, self._window = [], None
        else:
            await self.ctx.storage.set_alarm((hits[-1][0] + window) * 1000)
            del hits[:gone]

    async def _adopt_sql_hits(self) -> None:
        """Move the hits an earlier version kept in SQL tables into key-value entries (once)."""
        sql = self.ctx.storage.sql
        tables = {r["name"] for r in sql.exec(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('hits', 'meta')")}
        if "hits" not in tables:
            return
        if "meta" in tables:
            for row in sql.exec("SELECT window_s FROM meta WHERE id = 1"):
                await self.ctx.storage.put(_WINDOW, row["window_s"])
            sql.exec("DROP TABLE meta")
        for row in sql.exec("SELECT id, at FROM hits"):
            await self.ctx.storage.put(f"{_HIT}{round(row['at'] * 1e6):020d}:{row['id']:08d}", row["at"])
        sql.exec("DROP TABLE hits")
