"""The event log behind `GET /v1/stream` (table `events`, migration 0002).

Trades, system logs and alerts write their events through SQLite triggers, in the same
transaction as their row. `status` events (the kill switch) and `risk` events (one per completed
run of the risk manager: `hoox_edge.risk.manager`) have no row of their own and are written here
with `emit`. Readers page by id: ids become visible in increasing order (one writer
at a time), so "everything after id N" never skips an event that commits later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hoox_edge.operator.shapes import STREAM_TOPICS
from hoox_edge.ports import D1Database, Env
from hoox_edge.shared import clock
from hoox_edge.shared.redact import redact

# Topic names of `?topics=` and the event type each carries (defined with the operator API's shapes).
TOPICS = STREAM_TOPICS
TYPES = tuple(TOPICS.values())  # the events table's CHECK (migrations 0002, 0007) allows exactly these
RETENTION_DAYS = 7  # pruned by the `events_retention` trigger of migration 0002
READ_LIMIT = 500

_py = logging.getLogger("hoox.edge")
# Keys of the message envelope; event data never overrides them.
_ENVELOPE = ("type", "id", "createdAt", "requestId")


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    created_at: str
    request_id: str | None
    data: dict[str, Any]

    def message(self) -> dict[str, Any]:
        """The JSON object the stream sends: `{"type", "id", "createdAt", "requestId", ...data}`."""
        out: dict[str, Any] = {"type": self.type, "id": self.id, "createdAt": self.created_at,
                               "requestId": self.request_id}
        out.update((k, v) for k, v in self.data.items() if k not in _ENVELOPE)
        return out


class ChangeFeed(Protocol):
    """Wake-ups on committed writes to the ledger (the local D1 adapter has one; Cloudflare's has not)."""

    version: int

    async def wait(self, version: int, timeout: float) -> bool: ...


def change_feed(env: Env) -> ChangeFeed | None:
    feed = getattr(env.get("DB"), "changes", None)
    return feed if callable(getattr(feed, "wait", None)) else None


def _row(r: dict[str, Any]) -> Event:
    try:
        data = json.loads(r["data"]) if r.get("data") else {}
    except ValueError:
        data = {"raw": r["data"]}
    if not isinstance(data, dict):
        data = {"value": data}
    return Event(int(r["id"]), r["type"], r["created_at"], r.get("request_id"), data)


async def emit(env: Env, type: str, data: dict[str, Any], request_id: str | None = None) -> int | None:
    """Write an explicit event (`status`, `risk`); return its id, or None when the ledger could not take it.

    Never raises: the action it reports (a kill switch flipped) has happened either way.
    """
    if type not in TYPES:
        raise ValueError(f"event type must be one of {TYPES}")
    safe = redact(data, env.secret_values())
    db = env.get("DB")
    if db is None:
        return None
    try:
        res = await db.prepare(
            "INSERT INTO events (created_at, type, request_id, data) VALUES (?,?,?,?)"
        ).bind(clock.iso(), type, request_id, json.dumps(safe, default=str)).run()
        return int(res["meta"].get("last_row_id") or 0) or None
    except Exception as exc:
        _py.warning("could not write %s event (%s) from %s", type, exc.__class__.__name__, env.worker)
        return None


def _types_clause(types: Iterable[str] | None) -> tuple[str, list[str]]:
    if types is None:
        return "", []
    wanted = sorted(set(types))
    bad = [t for t in wanted if t not in TYPES]
    if bad:
        raise ValueError(f"unknown event type(s) {bad}; known: {TYPES}")
    return f" AND type IN ({','.join('?' * len(wanted))})", wanted


async def read_after(db: D1Database, last_id: int, types: Sequence[str] | None = None,
                     limit: int = READ_LIMIT, *, upto: int | None = None) -> list[Event]:
    """Events with id > `last_id` (and <= `upto`), of `types` (None: all), oldest first."""
    clause, args = _types_clause(types)
    if types is not None and not args:
        return []
    bound = ""
    if upto is not None:
        bound = " AND id <= ?"
        args = [*args, upto]  # type: ignore[list-item]
    rows = (await db.prepare(
        f"SELECT id, created_at, type, request_id, data FROM events WHERE id > ?{clause}{bound}"
        " ORDER BY id LIMIT ?"
    ).bind(int(last_id), *args, int(limit)).all())["results"]
    return [_row(r) for r in rows]


async def latest_id(db: D1Database) -> int:
    """The newest event's id (0 when there is none)."""
    return int(await db.prepare("SELECT COALESCE(MAX(id), 0) AS id FROM events").first("id") or 0)


async def oldest_id(db: D1Database) -> int:
    """The oldest kept event's id (0 when there is none)."""
    return int(await db.prepare("SELECT COALESCE(MIN(id), 0) AS id FROM events").first("id") or 0)


async def scan(db: D1Database, cursor: int, types: Sequence[str] | None,
               limit: int = READ_LIMIT) -> tuple[list[Event], int]:
    """The next events after `cursor` and the new cursor.

    The cursor moves past events of other types too, so a filtered reader does not scan the same
    rows again on every poll.
    """
    top = await latest_id(db)
    if top <= cursor:
        return [], cursor
    found = await read_after(db, cursor, types, limit, upto=top)
    return found, (found[-1].id if len(found) >= limit else top)
