"""Local R2: a bucket is a folder `state/r2/<bucket>/` with an index and the object bodies.

`index.sqlite` holds each key with its metadata (size, etag, uploaded, content type, custom
metadata). A body of at most 64 KB (a request log, a report) lives in its index row, so a put is one
row in the group commit of the index — no file and no fsync of its own; a larger one lives in
`objects/<aa>/<sha256 of key>`, written and fsynced before its row points at it. Hashed file names
let keys such as `a` and `a/b` coexist (a file and a folder of the same name cannot), and no key
can name a path outside the bucket. Keys are still validated as the platform's own tools expect them: no empty
key, no leading `/`, no `.`/`..` segment, no backslash or control character, at most 1024 bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from hoox_edge.local import sqlio
from hoox_edge.local.kv import decode_cursor, encode_cursor
from hoox_edge.ports import R2_MAX_KEY_BYTES, R2KeyError, R2ListResult, R2Object, R2ObjectInfo, check_page_limit
from hoox_edge.ports import validate_r2_key as validate_key  # shared with the Cloudflare adapter
from hoox_edge.shared import clock

MAX_KEY_BYTES = R2_MAX_KEY_BYTES
MAX_LIST = 1000
INLINE_MAX_BYTES = 64 * 1024  # bodies up to this size live in their index row

_DDL = ("CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, size INTEGER NOT NULL, "
        "etag TEXT NOT NULL, uploaded REAL NOT NULL, content_type TEXT, "
        "custom_metadata TEXT NOT NULL DEFAULT '{}', body BLOB)")
_INFO = "key, size, etag, uploaded, content_type, custom_metadata"


__all__ = ["LocalR2", "R2KeyError", "validate_key"]


def _write_body(blob: Path, data: bytes) -> None:
    """The body on disk (fsynced) under its final name, complete before the index points at it."""
    blob.parent.mkdir(parents=True, exist_ok=True)
    tmp = blob.with_name(f"{blob.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, blob)


_UPSERT = ("INSERT INTO objects (key, size, etag, uploaded, content_type, custom_metadata, body) "
           "VALUES (?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET size = excluded.size, etag = excluded.etag, "
           "uploaded = excluded.uploaded, content_type = excluded.content_type, "
           "custom_metadata = excluded.custom_metadata, body = excluded.body")


def _unlink(blob: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        blob.unlink()


class LocalR2:
    """A bucket. `put` writes the body in a thread and its index row through the group committer:
    it returns once both are on disk, and never holds up the event loop."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "objects").mkdir(parents=True, exist_ok=True)
        self._index = self.root / "index.sqlite"
        self._writer = sqlio.writer(self._index, ddl=[_DDL])
        self._conn = sqlio.connect(self._index)  # reads
        if "body" not in {r[1] for r in self._conn.execute("PRAGMA table_info(objects)")}:
            self._conn.execute("ALTER TABLE objects ADD COLUMN body BLOB")  # an index from before inline bodies
        self._puts: dict[str, tuple[asyncio.Lock, int]] = {}  # one put of a key at a time: body and index agree

    def close(self) -> None:
        self._conn.close()
        sqlio.release_writer(self._index)

    def _blob(self, key: str) -> Path:
        h = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.root / "objects" / h[:2] / h

    async def put(self, key: str, value: bytes | str, *, content_type: str | None = None,
                  custom_metadata: Mapping[str, str] | None = None) -> R2ObjectInfo:
        validate_key(key)
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        meta = {str(k): str(v) for k, v in (custom_metadata or {}).items()}
        info = R2ObjectInfo(key=key, size=len(data), uploaded=clock.now(), etag=hashlib.md5(data).hexdigest(),
                            content_type=content_type, custom_metadata=meta)
        lock, users = self._puts.get(key, (asyncio.Lock(), 0))
        self._puts[key] = (lock, users + 1)
        try:
            async with lock:
                inline = len(data) <= INLINE_MAX_BYTES
                blob = self._blob(key)
                if not inline:
                    await asyncio.to_thread(_write_body, blob, data)
                await self._writer.run(sqlite3.Connection.execute, _UPSERT, (
                    key, info.size, info.etag, info.uploaded, content_type, json.dumps(meta),
                    data if inline else None), one_statement=True)
                # The larger body this key had before is gone now. A stat, not a read of the old row
                # in the unit: the same answer for a fraction of a statement's time on the loop.
                if inline and os.path.exists(blob):
                    await asyncio.to_thread(_unlink, blob)
        finally:
            lock, users = self._puts[key]
            if users == 1:
                del self._puts[key]
            else:
                self._puts[key] = (lock, users - 1)
        return info

    def _info(self, key: str) -> R2ObjectInfo | None:
        row = self._conn.execute(f"SELECT {_INFO} FROM objects WHERE key = ?", (key,)).fetchone()
        return _row_info(row) if row else None

    async def head(self, key: str) -> R2ObjectInfo | None:
        validate_key(key)
        return self._info(key)

    async def get(self, key: str) -> R2Object | None:
        validate_key(key)
        row = self._conn.execute(f"SELECT {_INFO}, body FROM objects WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        info = _row_info(row)
        if row[6] is not None:
            body = bytes(row[6])
        else:
            try:
                body = self._blob(key).read_bytes()
            except FileNotFoundError:
                return None
        return R2Object(key=info.key, size=info.size, uploaded=info.uploaded, etag=info.etag,
                        content_type=info.content_type, custom_metadata=info.custom_metadata, body=body)

    async def list(self, *, prefix: str = "", cursor: str | None = None,
                   limit: int = MAX_LIST) -> R2ListResult:
        check_page_limit(limit, MAX_LIST)
        sql = f"SELECT {_INFO} FROM objects WHERE 1=1"
        args: list[object] = []
        if prefix:
            sql += " AND substr(key, 1, ?) = ?"
            args += [len(prefix), prefix]
        if cursor:
            sql += " AND key > ?"
            args.append(decode_cursor(cursor))
        sql += " ORDER BY key LIMIT ?"
        args.append(limit + 1)
        rows = self._conn.execute(sql, args).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        return R2ListResult(objects=[_row_info(r) for r in rows], truncated=more,
                            cursor=encode_cursor(rows[-1][0]) if more else None)

    async def delete(self, keys: str | Sequence[str]) -> None:
        for key in [keys] if isinstance(keys, str) else list(keys):
            validate_key(key)
            await self._writer.run(sqlite3.Connection.execute, "DELETE FROM objects WHERE key = ?", (key,),
                                   one_statement=True)
            _unlink(self._blob(key))


def _row_info(row: tuple) -> R2ObjectInfo:
    return R2ObjectInfo(key=row[0], size=row[1], etag=row[2], uploaded=row[3], content_type=row[4],
                        custom_metadata=json.loads(row[5] or "{}"))
