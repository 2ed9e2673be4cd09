"""Vectorize adapter: `env.VECTORIZE` (a Cloudflare `VectorizeIndex`, V2) behind the `VectorIndex`
port. `upsert([{id, values, metadata}])`; `query(vector, {topK, returnMetadata: "all"})` answers
`{count, matches: [{id, score, metadata}]}`. Vectorize applies upserts asynchronously: a vector is
found a few seconds after its upsert (the local table finds it at once). The port's limits are
checked here first, so both adapters refuse the same input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hoox_edge.cloudflare._js import options, resolve, to_js, to_py
from hoox_edge.ports import VECTOR_MAX_TOP_K, VectorMatch, VectorRecord, check_query_vector, check_vectors


class CloudflareVectorize:
    def __init__(self, js_index: Any) -> None:
        self._js = js_index

    async def upsert(self, records: Sequence[VectorRecord]) -> None:
        check_vectors(records)
        await resolve(self._js.upsert(to_js([{"id": r.id, "values": [float(v) for v in r.values],
                                              "metadata": dict(r.metadata)} for r in records])))

    async def query(self, vector: Sequence[float], *, top_k: int = 5) -> list[VectorMatch]:
        check_query_vector(vector)
        if not 1 <= top_k <= VECTOR_MAX_TOP_K:
            raise ValueError(f"topK must be 1 to {VECTOR_MAX_TOP_K}")
        got = to_py(await resolve(self._js.query(to_js([float(v) for v in vector]),
                                                 options(top_k=top_k, return_metadata="all")))) or {}
        return [VectorMatch(str(m["id"]), float(m.get("score") or 0.0), dict(m.get("metadata") or {}))
                for m in got.get("matches") or []]
