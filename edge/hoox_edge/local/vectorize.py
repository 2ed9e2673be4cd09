"""Local Vectorize: an index is one SQLite file `state/vectorize/<index>.sqlite`, a table of vectors
(id, values as JSON, metadata as JSON) and the index's dimensions, fixed by its first vector as
Vectorize fixes them at creation.

A query scores every vector by cosine similarity in Python: exact and O(n). At a desk's scale (a
few thousand fills and reports) that is a few milliseconds; Vectorize itself answers approximately
from an index. Writes go through the file's group committer (`sqlio`), like every local adapter.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from hoox_edge.local import sqlio
from hoox_edge.ports import VECTOR_MAX_TOP_K, VectorMatch, VectorRecord, check_query_vector, check_vectors

_DDL = ("CREATE TABLE IF NOT EXISTS vectors (id TEXT PRIMARY KEY, dimensions INTEGER NOT NULL, "
        "vector TEXT NOT NULL, metadata TEXT NOT NULL)")


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class LocalVectorIndex:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._writer = sqlio.writer(self.path, ddl=[_DDL])

    def close(self) -> None:
        sqlio.release_writer(self.path)

    async def _dimensions(self) -> int | None:
        got = await self._writer.read("SELECT dimensions FROM vectors LIMIT 1")
        rows = got[1] if got is not None else []
        return int(rows[0][0]) if rows else None

    async def upsert(self, records: Sequence[VectorRecord]) -> None:
        check_vectors(records)
        have = await self._dimensions()
        if have is not None and len(records[0].values) != have:
            raise ValueError(f"the index holds vectors of {have} dimensions, not {len(records[0].values)}")
        rows = [(r.id, len(r.values), json.dumps([float(v) for v in r.values]), json.dumps(dict(r.metadata)))
                for r in records]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT INTO vectors (id, dimensions, vector, metadata) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT(id) DO UPDATE SET dimensions = excluded.dimensions, "
                             "vector = excluded.vector, metadata = excluded.metadata", rows)

        await self._writer.run(write)

    async def query(self, vector: Sequence[float], *, top_k: int = 5) -> list[VectorMatch]:
        check_query_vector(vector)
        if not 1 <= top_k <= VECTOR_MAX_TOP_K:
            raise ValueError(f"topK must be 1 to {VECTOR_MAX_TOP_K}")
        got = await self._writer.read("SELECT id, vector, metadata FROM vectors", budget=5.0)
        if got is None:
            raise TimeoutError("the local vector table took more than 5 s to read")
        stored = [(i, json.loads(v), m) for i, v, m in got[1]]  # one read: the rows give the dimensions too
        if stored and len(stored[0][1]) != len(vector):
            raise ValueError(f"the index holds vectors of {len(stored[0][1])} dimensions, not {len(vector)}")
        scored = sorted(((cosine(vector, v), i, m) for i, v, m in stored), key=lambda t: -t[0])
        return [VectorMatch(i, score, json.loads(m)) for score, i, m in scored[:top_k]]
