"""A time range of system_logs, oldest first, in pages: `GET /v1/logs/export` and `hoox logs download`
on a local edge that is not running (it calls `page` on the local D1 adapter).

`/v1/logs` pages newest first for a screen; a download wants a range from its start, so this pages
forward by id (ids grow with time) and stops at `until`. No Starlette here (the CLI imports it).
"""

from __future__ import annotations

from typing import Any

from hoox_edge.operator import shapes
from hoox_edge.operator.rows import log_item
from hoox_edge.ports import D1Database
from hoox_edge.shared.logs import LEVELS

PAGE_LIMIT = 1000


async def page(db: D1Database, *, since: str, until: str, worker: str | None = None, level: str | None = None,
               cursor: int | None = None, limit: int = PAGE_LIMIT) -> shapes.LogsPage:
    """Log rows with since <= createdAt < until (and the worker, and `level` or above), oldest first,
    after the row id `cursor`; `nextCursor` is set while more follow."""
    where: list[str] = ["created_at >= ?", "created_at < ?"]
    args: list[Any] = [since, until]
    if worker is not None:
        where.append("worker = ?")
        args.append(worker)
    if level is not None:
        allowed = LEVELS[LEVELS.index(level):]
        where.append(f"level IN ({','.join('?' * len(allowed))})")
        args.extend(allowed)
    if cursor is not None:
        where.append("id > ?")
        args.append(cursor)
    sql = ("SELECT id, created_at, level, worker, request_id, message, details FROM system_logs "
           f"WHERE {' AND '.join(where)} ORDER BY id LIMIT ?")
    rows = (await db.prepare(sql).bind(*args, limit + 1).all())["results"]
    items = [log_item(r) for r in rows[:limit]]
    return {"items": items, "nextCursor": str(items[-1]["id"]) if len(rows) > limit else None}
