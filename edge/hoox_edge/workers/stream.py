"""`GET /v1/stream`: the operator's live event stream (Server-Sent Events), mounted on the gateway.

`?topics=trades,logs,alerts,status,risk` picks event types (`trade`, `log`, `alert`, `status`,
`risk`); no `topics` means all of them, an unknown topic is a 400. Each event is

    id: <events.id>
    event: <type>
    data: {"type", "id", "createdAt", "requestId", ...data}

Where it starts: strictly after the `Last-Event-ID` header, else after `?lastEventId=`, else after
`?since=` (`since=0`: from the oldest kept event); with none of them only new events are sent (it
starts after the newest event at the time of the request). The starting point is fixed before
the response starts, so an event written after the client saw the response headers is never
missed. An id newer than any event (the ledger was reset) starts from the oldest kept event; an id
older than the retention window starts at the oldest kept event, with a comment saying so.

Control lines are SSE comments (`: ping` every `HEARTBEAT_SECONDS`, 15 s; a first comment when
the stream opens), never data events. Trade events are orders (pending, filled, rejected,
failed) written by the ledger's triggers, not raw signals.

Wake-ups: locally the D1 adapter's change feed wakes the stream on every committed write in the
process, so an event goes out within milliseconds; a poll every `POLL_SECONDS` (1 s) also catches
writes of other processes (the CLI). On Cloudflare there is no feed and the stream polls D1 every
second ("tailing D1"). Each poll is two short reads; no transaction is held between them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Sequence

from starlette.requests import Request
from starlette.routing import Route

from hoox_edge.operator.params import Params, path_secrets
from hoox_edge.ports import D1Database
from hoox_edge.shared import events
from hoox_edge.shared.app import env_of
from hoox_edge.shared.auth import require_operator
from hoox_edge.shared.bodies import INT_MAX
from hoox_edge.shared.errors import VALIDATION_ERROR, ApiError
from hoox_edge.shared.redact import preview
from hoox_edge.shared.streaming import EventStreamResponse

HEARTBEAT_SECONDS = 15.0
POLL_SECONDS = 1.0
BATCH = events.READ_LIMIT

_py = logging.getLogger("hoox.edge")


def parse_topics(raw: str | None) -> list[str]:
    """Event types of a `topics` parameter (None: every type)."""
    if raw is None:
        return list(events.TYPES)
    names = [t.strip().lower() for t in raw.split(",") if t.strip()]
    unknown = [t for t in names if t not in events.TOPICS]
    if not names or unknown:
        what = f"unknown topic(s) {', '.join(preview(t) for t in unknown[:5])}" if unknown else "no topic given"
        raise ApiError(400, VALIDATION_ERROR, f"{what}: topics are {', '.join(events.TOPICS)}.",
                       [{"field": "topics", "issue": f"must be a comma-separated list of {', '.join(events.TOPICS)}"}])
    return sorted({events.TOPICS[t] for t in names})


def _event_id(value: str, field: str) -> int:
    text = value.strip()
    n = int(text) if text.isdigit() and len(text) <= 19 else -1
    if not 0 <= n <= INT_MAX:
        raise ApiError(400, VALIDATION_ERROR, f"{field} must be an event id (an integer of at least 0).",
                       [{"field": field, "issue": "must be an integer of at least 0"}])
    return n


def _requested_start(request: Request) -> int | None:
    header = request.headers.get("last-event-id")
    if header is not None and header.strip():
        return _event_id(header, "Last-Event-ID")
    for field in ("lastEventId", "since"):
        value = request.query_params.get(field)
        if value is not None and value.strip():
            return _event_id(value, field)
    return None


def format_event(ev: events.Event) -> str:
    data = json.dumps(ev.message(), separators=(",", ":"), default=str)  # one line: no newline inside
    return f"id: {ev.id}\nevent: {ev.type}\ndata: {data}\n\n"


async def _start(db: D1Database, requested: int | None) -> tuple[int, str]:
    """The id the stream starts after, and the opening comment that says where it starts."""
    newest = await events.latest_id(db)
    if requested is None:
        return newest, f"new events after id {newest}"
    if requested > newest:
        # Ids only grow: one larger than any event belongs to a ledger that was reset.
        return 0, f"event {requested} is newer than any event here (reset ledger?): from the oldest kept event"
    oldest = await events.oldest_id(db)
    if oldest > requested + 1:
        return requested, (f"events {requested + 1}..{oldest - 1} are past the {events.RETENTION_DAYS}-day "
                           f"retention: from {oldest}")
    return requested, f"events after id {requested}"


async def _event_lines(db: D1Database, types: Sequence[str], cursor: int, opening: str,
                       feed: events.ChangeFeed | None) -> AsyncGenerator[str, None]:
    loop = asyncio.get_running_loop()
    heartbeat = HEARTBEAT_SECONDS
    next_beat = loop.time() + heartbeat
    yield f": {opening}\n\n"
    # An id-only message dispatches no event but sets the client's resume point, so a client cut off
    # before the first event resumes from here instead of from "new events" (which would lose some).
    yield f"id: {cursor}\n\n"
    while True:
        version = feed.version if feed is not None else 0  # read before the query: no write is missed
        try:
            found, cursor = await events.scan(db, cursor, types, BATCH)
        except Exception as exc:
            # End the stream: the client reconnects with its Last-Event-ID and loses nothing.
            _py.warning("event stream: reading events failed (%s); closing the stream", type(exc).__name__)
            return
        if found:
            yield "".join(format_event(ev) for ev in found)
            if len(found) >= BATCH:
                continue  # more are waiting
        now = loop.time()
        if now >= next_beat:
            yield ": ping\n\n"
            next_beat = now + heartbeat
        wait = max(0.0, min(POLL_SECONDS, next_beat - now))
        if feed is not None:
            await feed.wait(version, wait)
        else:
            await asyncio.sleep(wait)


async def stream(request: Request) -> EventStreamResponse:
    require_operator(request)
    path_secrets(request)
    query = Params(request, "topics", "lastEventId", "since")
    env = env_of(request)
    types = parse_topics(query.text("topics", keep_empty=True))
    db = env.DB
    cursor, opening = await _start(db, _requested_start(request))
    return EventStreamResponse(_event_lines(db, types, cursor, opening, events.change_feed(env)))


routes = [Route("/stream", stream, methods=["GET"])]
