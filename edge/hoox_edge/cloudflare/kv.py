"""KV namespace adapter: `env.X` (a Cloudflare `KVNamespace`) behind the `KVNamespace` port.

Keys and list limits are checked here with the ports' rules (`check_kv_key`, `check_page_limit`),
so a bad one raises the same ValueError as locally instead of a raw JsException from the binding.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from hoox_edge.cloudflare._js import options, resolve, to_py
from hoox_edge.ports import KVKey, KVListResult, check_kv_key, check_page_limit

MIN_TTL = 60  # Cloudflare rejects shorter expiration TTLs


class CloudflareKV:
    def __init__(self, js_kv: Any) -> None:
        self._js = js_kv

    async def get(self, key: str) -> str | None:
        check_kv_key(key)
        return to_py(await resolve(self._js.get(key)))

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        return list(await asyncio.gather(*(self.get(k) for k in keys)))  # side by side: each is a round trip

    async def put(self, key: str, value: str, *, expiration_ttl: int | None = None) -> None:
        if not isinstance(value, str):
            raise TypeError(f"KV value must be a string, got {type(value).__name__}")
        check_kv_key(key)
        if expiration_ttl is None:
            await resolve(self._js.put(key, value))
            return
        if expiration_ttl < MIN_TTL:
            raise ValueError(f"expiration_ttl must be at least {MIN_TTL} seconds (Cloudflare KV's minimum), "
                             f"got {expiration_ttl}")
        await resolve(self._js.put(key, value, options(expiration_ttl=int(expiration_ttl))))

    async def list(self, *, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> KVListResult:
        check_page_limit(limit)
        raw = to_py(await resolve(self._js.list(options(prefix=prefix or None, cursor=cursor, limit=limit))))
        keys = [KVKey(k["name"], k.get("expiration")) for k in raw.get("keys") or []]
        complete = bool(raw.get("list_complete", True))
        return KVListResult(keys=keys, list_complete=complete, cursor=None if complete else raw.get("cursor"))

    async def delete(self, key: str) -> None:
        check_kv_key(key)
        await resolve(self._js.delete(key))

    def __repr__(self) -> str:
        return "CloudflareKV()"
