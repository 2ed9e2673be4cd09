"""IdempotencyStore: the Durable Object lock that lets a signal through once.

The gateway addresses one object per idempotency key (`id_from_name(key)`), so every check of a
key runs in the one object that owns it, one call at a time: of 50 simultaneous copies of a
signal exactly one acquires. The holder (the request id that acquired) is stored with its expiry;
an alarm at the expiry deletes the entry, and an object left with nothing to hold deletes its
storage, so old keys cost nothing.
"""

from __future__ import annotations

from typing import Any

from hoox_edge.ports import DurableObject
from hoox_edge.shared import clock

_DDL = ("CREATE TABLE IF NOT EXISTS locks (key TEXT PRIMARY KEY, request_id TEXT NOT NULL, "
        "acquired_at REAL NOT NULL, expires_at REAL NOT NULL)")
MAX_TTL_SECONDS = 7 * 24 * 3600


class IdempotencyStore(DurableObject):
    def _sql(self) -> Any:
        sql = self.ctx.storage.sql
        sql.exec(_DDL)
        return sql

    async def acquire(self, key: str, ttl_seconds: float, request_id: str) -> dict[str, Any]:
        """Take the lock on `key` for `ttl_seconds` unless a live holder has it.

        Returns `{"acquired", "requestId" (the holder), "expiresAt" (epoch ms)}`.
        """
        if not key or not request_id:
            raise ValueError("key and request_id are required")
        if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(f"ttl_seconds must be in (0, {MAX_TTL_SECONDS}]")
        sql = self._sql()
        now = clock.now()
        rows = sql.exec("SELECT request_id, expires_at FROM locks WHERE key = ?", key).to_list()
        if rows and rows[0]["expires_at"] > now:
            return {"acquired": False, "requestId": rows[0]["request_id"],
                    "expiresAt": int(rows[0]["expires_at"] * 1000)}
        expires = now + ttl_seconds
        # An expired entry whose alarm has not run yet is simply replaced.
        sql.exec("INSERT INTO locks (key, request_id, acquired_at, expires_at) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT(key) DO UPDATE SET request_id = excluded.request_id, "
                 "acquired_at = excluded.acquired_at, expires_at = excluded.expires_at",
                 key, request_id, now, expires)
        await self._schedule()
        return {"acquired": True, "requestId": request_id, "expiresAt": int(expires * 1000)}

    async def release(self, key: str, request_id: str) -> dict[str, Any]:
        """Give the lock back; only its holder may. Returns `{"released": bool, "holder"}`."""
        sql = self._sql()
        rows = sql.exec("SELECT request_id FROM locks WHERE key = ?", key).to_list()
        if not rows:
            return {"released": False, "holder": None}
        if rows[0]["request_id"] != request_id:
            return {"released": False, "holder": rows[0]["request_id"]}
        sql.exec("DELETE FROM locks WHERE key = ?", key)
        await self._schedule()
        return {"released": True, "holder": request_id}

    async def holder(self, key: str) -> dict[str, Any] | None:
        """The live holder of `key` (`{"requestId", "expiresAt"}`), or None."""
        rows = self._sql().exec("SELECT request_id, expires_at FROM locks WHERE key = ? AND expires_at > ?",
                                key, clock.now()).to_list()
        if not rows:
            return None
        return {"requestId": rows[0]["request_id"], "expiresAt": int(rows[0]["expires_at"] * 1000)}

    async def ping(self) -> dict[str, Any]:
        """Health probe: proves the namespace answers without touching storage."""
        return {"ok": True}

    async def alarm(self) -> None:
        sql = self._sql()
        sql.exec("DELETE FROM locks WHERE expires_at <= ?", clock.now())
        await self._schedule()

    async def _schedule(self) -> None:
        """Alarm at the next expiry; with nothing left, drop the object's storage altogether."""
        row = self.ctx.storage.sql.exec("SELECT MIN(expires_at) AS next FROM locks").one()
        if row["next"] is None:
            await self.ctx.storage.delete_all()
        else:
            await self.ctx.storage.set_alarm(row["next"] * 1000)
