"""A bounded memo: values worked out once per key and kept, all forgotten at once when `limit` are held.

For the caches on a signal's path whose keys repeat (settings' stored texts, secrets, SQL texts,
seconds): clearing when full bounds their memory without the bookkeeping of an LRU, and costs only a
recomputation of what is still in use.
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def keep(self, key: K, value: V) -> V:
        """Remember `value` for `key` (forgetting everything first when full); `value`."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value
