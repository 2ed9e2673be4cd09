"""IdempotencyStore: the Durable Object lock that lets a signal through once.

The gateway addresses one object per idempotency key (`id_from_name(key)`), so every check of a
key runs in the one object that owns it, one call at a time: of 50 simultaneous copies of a
signal exactly one acquires. The holder (the request id that acquired) is stored with its expiry
in the object's key-value storage (`{"requestId", "acquiredAt", "expiresAt"}` under the key); an
alarm at the expiry deletes the entry, and an object left with nothing to hold deletes its
storage, so old keys cost nothing. Key-value storage, not SQL: locally every object of the class
shares one database file, so a day of distinct keys never holds a day of open files.
"""

from __future__ import annotations

from typing import Any

from hoox_edge.ports import DurableObject
from hoox_edge.shared import clock

MAX_TTL_SECONDS = 7 * 24 * 3600


class IdempotencyStore(DurableObject):
    _adopted = False  # no SQL-era `locks` table left to move over (checked once per instance)

    async def acquire(self, key: str, ttl_seconds: float, request_id: str) -> dict[str, Any]:
        """Take the lock on `key` for `ttl_seconds` unless a live holder has it.

        Returns `{"acquired", "requestId" (the holder), "expiresAt" (epoch ms)}`.
        """
        if not key or not request_id:
            raise ValueError("key and request_id are required")
        if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(f"ttl_seconds must be in (0, {MAX_TTL_SECONDS}]")
        await self._adopt_sql_locks()
        storage = self.ctx.storage
        now = clock.now()
        held = await storage.get(key)
        if held is not None and held["expiresAt"] > now:
            return {"acquired": False, "requestId": held["requestId"], "expiresAt": int(held["expiresAt"] * 1000)}
        expires = now + ttl_seconds
        # An expired entry whose alarm has not run yet is simply replaced.
        await storage.put(key, {"requestId": request_id, "acquiredAt": now, "expiresAt": expires})
        await self._schedule()
        return {"acquired": True, "requestId": request_id, "expiresAt": int(expires * 1000)}

    async def release(self, key: str, request_id: str) -> dict[str, Any]:
        """Give the lock back; only its holder may. Returns `{"released": bool, "holder"}`."""
        await self._adopt_sql_locks()
        held = await self.ctx.storage.get(key)
        if held is None:
            return {"released": False, "holder": None}
        if held["requestId"] != request_id:
            return {"released": False, "holder": held["requestId"]}
        await self.ctx.storage.delete(key)
        await self._schedule()
        return {"released": True, "holder": request_id}

    async def holder(self, key: str) -> dict[str, Any] | None:
        """The live holder of `key` (`{"requestId", "expiresAt"}`), or None."""
        await self._adopt_sql_locks()
        held = await self.ctx.storage.get(key)
        if held is None or held["expiresAt"] <= clock.now():
            return None
        return {"requestId": held["requestId"], "expiresAt": int(held["expiresAt"] * 1000)}

    async def ping(self) -> dict[str, Any]:
        """Health probe: proves the namespace answers without touching storage."""
        return {"ok": True}

    async def alarm(self) -> None:
        await self._adopt_sql_locks()
        now = clock.now()
        for key, held in (await self.ctx.storage.list()).items():
            if held["expiresAt"] <= now:
                await self.ctx.storage.delete(key)
        await self._schedule()

    async def _schedule(self) -> None:
        """Alarm at the next expiry; with nothing left, drop the object's storage altogether."""
        entries = await self.ctx.storage.list()
        if not entries:
            await self.ctx.storage.delete_all()
        else:
            await self.ctx.storage.set_alarm(min(h["expiresAt"] for h in entries.values()) * 1000)

    async def _adopt_sql_locks(self) -> None:
        """Move the locks an earlier version kept in a SQL table into key-value entries, so an upgrade
        never lets a duplicate through. Rechecked until no table is found (a failed call rolls the
        move back)."""
        if self._adopted:
            return
        sql = self.ctx.storage.sql
        if not sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'locks'").to_list():
            self._adopted = True
            return
        for row in sql.exec("SELECT key, request_id, acquired_at, expires_at FROM locks WHERE expires_at > ?",
                            clock.now()):
            await self.ctx.storage.put(row["key"], {"requestId": row["request_id"], "acquiredAt": row["acquired_at"],
                                                    "expiresAt": row["expires_at"]})
        sql.exec("DROP TABLE locks")
