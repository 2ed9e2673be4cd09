"""The operator API: the routes the gateway serves under `/v1` (the gateway mounts `routes`).

Every route requires `Authorization: Bearer <OPERATOR_API_KEY>` (`shared.auth.require_operator`,
constant time) and answers the standard envelope `{"success", "requestId", "result", "error"}`.
Lists are `result = {"items": [...], "nextCursor": str | None}`, newest first, paged by id with
`?cursor=<id of the last item seen>&limit=N`. The shapes are the pydantic models of
`hoox_cli/models.py`; docs/operator-api.md describes every route and defines every figure.

Nothing here is a placeholder: what a runtime cannot show (queue internals and uptime on
Cloudflare) is reported as not available, with the reason.
"""

from __future__ import annotations

import asyncio
import difflib
import importlib.metadata
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route

from hoox_edge import catalog
from hoox_edge.operator import figures
from hoox_edge.operator import positions as positions_mod
from hoox_edge.operator import sql as sql_mod
from hoox_edge.operator import workers as workers_mod
from hoox_edge.operator.rows import log_item, trade_item
from hoox_edge.ports import Env, QueueAdminUnavailable
from hoox_edge.shared import calls, clock, events, settings
from hoox_edge.shared.app import env_of, json_body, request_id_of
from hoox_edge.shared.auth import require_operator
from hoox_edge.shared.errors import NOT_AVAILABLE, NOT_FOUND, VALIDATION_ERROR, ApiError, ok
from hoox_edge.shared.logs import LEVELS, log
from hoox_edge.shared.signal import normalize_symbol

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
DEAD_LETTERS_SHOWN = 100
TRADE_QUEUE = catalog.TRADE_QUEUE
TRADE_DLQ = catalog.TRADE_DLQ
KILL_SWITCH = "trade:kill_switch"
KILL_SWITCH_REASON = "trade:kill_switch_reason"
MAX_REASON = 500

Handler = Callable[[Request], Awaitable[Any]]


def _operator(fn: Handler) -> Callable[[Request], Awaitable[JSONResponse]]:
    """Check the operator token first, then wrap the handler's result in the envelope."""

    async def endpoint(request: Request) -> JSONResponse:
        require_operator(request)
        result = await fn(request)
        if isinstance(result, JSONResponse):
            return result
        return ok(result, request_id=request_id_of(request))

    endpoint.__name__ = fn.__name__
    endpoint.__doc__ = fn.__doc__
    return endpoint


# --------------------------------------------------------------------------- query helpers
def _limit(request: Request, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    try:
        n = int(raw)
    except ValueError:
        raise ApiError(400, VALIDATION_ERROR, f"limit must be a whole number, got {raw!r}.") from None
    if not 1 <= n <= maximum:
        raise ApiError(400, VALIDATION_ERROR, f"limit must be between 1 and {maximum}, got {n}.")
    return n


def _cursor(request: Request) -> int | None:
    raw = request.query_params.get("cursor")
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, VALIDATION_ERROR, f"cursor must be an id from nextCursor, got {raw!r}.") from None


def _since(request: Request) -> str | None:
    raw = request.query_params.get("since")
    if raw in (None, ""):
        return None
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, VALIDATION_ERROR,
                       f"since must be an ISO-8601 date or time (e.g. 2026-01-05T12:00:00Z), got {raw!r}.") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return clock.iso(dt.timestamp())  # the ledger's own text form, so the comparison is exact


def _page(items: list[dict[str, Any]], limit: int, key: str) -> dict[str, Any]:
    """`items` holds up to limit + 1 rows: the extra one only says there is a next page."""
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "nextCursor": str(items[-1][key]) if more and items else None}


async def _newest_first(request: Request, select: str, column: str, where: list[str], args: list[Any],
                        item: Callable[[dict[str, Any]], dict[str, Any]], key: str) -> dict[str, Any]:
    """One page of `select` filtered by `where`, newest first by `column`, after the request's cursor."""
    limit, cursor = _limit(request), _cursor(request)
    if cursor is not None:
        where, args = [*where, f"{column} < ?"], [*args, cursor]
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    rows = (await env_of(request).DB.prepare(f"{select}{clause} ORDER BY {column} DESC LIMIT ?")
            .bind(*args, limit + 1).all())["results"]
    return _page([item(r) for r in rows], limit, key)


def _version() -> str | None:
    try:
        return importlib.metadata.version("hoox")
    except importlib.metadata.PackageNotFoundError:  # a Cloudflare bundle carries no package metadata
        return None


# --------------------------------------------------------------------------- settings
async def _setting(env: Env, key: str) -> tuple[Any, str | None]:
    """(typed value, error) of a KV setting; a corrupt stored value gives its default and the error."""
    try:
        return await settings.get(env.CONFIG_KV, key), None
    except settings.SettingError as exc:
        return settings.lookup(key).default, str(exc)  # type: ignore[union-attr]


async def _kill_switch(env: Env) -> dict[str, Any]:
    on, err = await _setting(env, KILL_SWITCH)
    reason, _ = await _setting(env, KILL_SWITCH_REASON)
    if err:  # the gateway halts trading on a corrupt value (fail safe): say so
        on = True
        reason = f"{KILL_SWITCH} holds an invalid value, so trading is halted ({err})"
    return {"on": bool(on), "reason": reason or None}


# --------------------------------------------------------------------------- queues
def _dead_letter_item(m: dict[str, Any]) -> dict[str, Any]:
    body = m.get("body") if isinstance(m.get("body"), dict) else {}
    payload = body.get("payload") if isinstance(body.get("payload"), dict) else {}
    # trade-worker dead-letters by sending {requestId, payload, lastError, attempts, deadLetteredAt};
    # the runtime's own backstop keeps the message with last_error and origin_queue.
    return {
        "id": m["id"],
        "requestId": body.get("requestId"),
        "symbol": payload.get("symbol"),
        "action": payload.get("action"),
        "exchange": payload.get("exchange"),
        "lastError": body.get("lastError") or m.get("last_error"),
        "attempts": body.get("attempts") if isinstance(body.get("attempts"), int) else m.get("attempts"),
        "deadLetteredAt": body.get("deadLetteredAt") or (
            clock.iso(m["dead_lettered_at"]) if m.get("dead_lettered_at") else clock.iso(m["enqueued_at"])),
        "originQueue": m.get("origin_queue") or _consumer_of_dlq(m.get("queue") or TRADE_DLQ),
    }


def _consumer_of_dlq(dlq: str) -> str | None:
    for w in catalog.WORKERS:
        for c in w.consumers:
            if c.dead_letter_queue == dlq:
                return c.queue
    return None


def _queue_item(s: dict[str, Any]) -> dict[str, Any]:
    oldest = s.get("oldest_timestamp")
    return {"name": s["queue"], "depth": s["depth"], "ready": s["ready"], "delayed": s["delayed"],
            "inFlight": s["in_flight"], "oldestEnqueuedAt": clock.iso(oldest) if oldest else None}


async def _queue_summary(env: Env) -> dict[str, Any]:
    admin = env.get("QUEUE_ADMIN")
    if admin is None:
        return {"available": False, "error": f"{env.worker} has no queue admin binding", "depth": None,
                "inFlight": None, "deadLetters": None}
    try:
        main, dlq = await asyncio.gather(admin.stats(TRADE_QUEUE), admin.stats(TRADE_DLQ))
    except QueueAdminUnavailable as exc:
        return {"available": False, "error": str(exc), "depth": None, "inFlight": None, "deadLetters": None}
    return {"available": True, "error": None, "depth": main["depth"], "inFlight": main["in_flight"],
            "deadLetters": dlq["messages"]}


async def _exchanges(env: Env) -> dict[str, Any]:
    """Which exchanges trade live: trade-worker holds the API keys, so it is asked (its /health)."""
    try:
        resp = await asyncio.wait_for(
            calls.call(env, "TRADE_SERVICE", "GET", "/health", request_id=None, timeout=workers_mod.HEALTH_BUDGET_S),
            workers_mod.HEALTH_BUDGET_S + 0.1)
        items = ((resp.json() or {}).get("result") or {}).get("exchanges")
    except Exception as exc:
        return {"available": False, "error": f"trade-worker did not answer ({type(exc).__name__})", "items": []}
    if not isinstance(items, list):
        return {"available": False, "error": f"trade-worker /health answered {resp.status} without exchanges",
                "items": []}
    return {"available": True, "error": None, "items": items}


# =========================================================================== routes
async def status(request: Request) -> dict[str, Any]:
    """Kill switch, modes, every worker's health, queue figures, the last signal, the version."""
    env = env_of(request)
    kill, (mode, _), (queue_mode, _), probes, queues, last, exchanges = await asyncio.gather(
        _kill_switch(env), _setting(env, "trade:mode"), _setting(env, "webhooks:queue_mode"),
        workers_mod.probe_all(env), _queue_summary(env),
        env.DB.prepare("SELECT MAX(created_at) AS t FROM trade_signals").first("t"), _exchanges(env))
    info = env.get("RUNTIME_INFO")
    return {
        "killSwitch": kill,
        "tradingMode": mode,
        "queueMode": queue_mode,
        "workers": probes,
        "queues": queues,
        "lastSignalAt": last,
        "exchanges": exchanges,
        "version": _version(),
        "runtime": info.kind if info is not None else "cloudflare",
        "time": clock.iso(),
    }


async def list_workers(request: Request) -> dict[str, Any]:
    env = env_of(request)
    # Probes first, then the figures: the probes' own requests are then always in them.
    probes = await workers_mod.probe_all(env)
    traffic, traffic_error = await workers_mod.traffic(env)
    items = []
    for w, health in zip(catalog.WORKERS, probes, strict=True):
        items.append(await workers_mod.detail(env, w, health, traffic.get(w.name), traffic_error, logs=False))
    return {"items": items, "nextCursor": None}


async def get_worker(request: Request) -> dict[str, Any]:
    env = env_of(request)
    name = request.path_params["name"]
    try:
        w = catalog.worker(name)
    except KeyError as exc:
        raise ApiError(404, NOT_FOUND, str(exc).strip("'\"")) from None
    health = await workers_mod.probe(env, w.name)
    traffic, traffic_error = await workers_mod.traffic(env)
    return await workers_mod.detail(env, w, health, traffic.get(w.name), traffic_error, logs=True)


async def trades(request: Request) -> dict[str, Any]:
    """Trades newest first; filters symbol, exchange, status, since (created at or after)."""
    since = _since(request)
    where, args = [], []
    q = request.query_params
    if q.get("symbol"):
        where.append("symbol = ?")
        args.append(normalize_symbol(q["symbol"]))
    if q.get("exchange"):
        where.append("exchange = ?")
        args.append(q["exchange"].lower())
    if q.get("status"):
        where.append("status = ?")
        args.append(q["status"])
    if since:
        where.append("created_at >= ?")
        args.append(since)
    return await _newest_first(request, "SELECT rowid AS seq, * FROM trades", "rowid", where, args, trade_item, "seq")


async def positions(request: Request) -> dict[str, Any]:
    items = await positions_mod.open_positions(env_of(request))
    return {"items": items, "nextCursor": None}


async def stats(request: Request) -> dict[str, Any]:
    """Figures over every Filled trade (optionally one `mode`); see operator/figures.py."""
    env = env_of(request)
    mode = request.query_params.get("mode")
    if mode not in (None, "paper", "live"):
        raise ApiError(400, VALIDATION_ERROR, f"mode must be paper or live, got {mode!r}.")
    clause, args = ("AND mode = ?", [mode]) if mode else ("", [])
    fills = (await env.DB.prepare(
        "SELECT request_id, action, realized_pnl, fee, mode, created_at, updated_at FROM trades "
        f"WHERE status = 'Filled' {clause} ORDER BY updated_at, rowid"
    ).bind(*args).all())["results"]
    open_pos = await positions_mod.open_positions(env)
    if mode:
        open_pos = [p for p in open_pos if p["mode"] == mode]
    out = figures.stats(fills, positions_mod.total_unrealized(open_pos), today=clock.iso()[:10])
    out["mode"] = mode
    out["openPositions"] = len(open_pos)
    out["unpricedPositions"] = [f"{p['exchange']}:{p['symbol']}" for p in open_pos if p["markPrice"] is None]
    return out


def _min_level(raw: str | None) -> tuple[list[str], list[Any]]:
    """WHERE parts for a minimum level (warning = warning, error, critical)."""
    if not raw:
        return [], []
    level = raw.lower()
    if level not in LEVELS:
        raise ApiError(400, VALIDATION_ERROR, f"level must be one of {', '.join(LEVELS)}, got {level!r}.")
    allowed = LEVELS[LEVELS.index(level):]
    return [f"level IN ({','.join('?' * len(allowed))})"], list(allowed)


async def alerts(request: Request) -> dict[str, Any]:
    """Alerts newest first (what telegram-worker recorded, delivered or not); `level` is a minimum."""
    where, args = _min_level(request.query_params.get("level"))
    return await _newest_first(
        request, "SELECT id, created_at, level, source, request_id, message, delivery, error FROM alerts", "id",
        where, args, _alert_item, "id")


def _alert_item(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "createdAt": r["created_at"], "level": r["level"], "source": r["source"],
            "requestId": r["request_id"], "message": r["message"], "delivery": r["delivery"], "error": r["error"]}


async def logs(request: Request) -> dict[str, Any]:
    """system_logs newest first; `level` is a minimum (warning = warning, error, critical)."""
    q = request.query_params
    where, args = _min_level(q.get("level"))
    if q.get("worker"):
        where.append("worker = ?")
        args.append(q["worker"])
    if q.get("requestId"):
        where.append("request_id = ?")
        args.append(q["requestId"])
    if q.get("q"):
        text = q["q"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("(message LIKE ? ESCAPE '\\' OR details LIKE ? ESCAPE '\\')")
        args.extend([f"%{text}%", f"%{text}%"])
    return await _newest_first(
        request, "SELECT id, created_at, level, worker, request_id, message, details FROM system_logs", "id",
        where, args, log_item, "id")


# --------------------------------------------------------------------------- config
def _manifest_entry(key: str) -> settings.Setting:
    s = settings.lookup(key)
    if s is None:
        known = [m.key for m in settings.MANIFEST]
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise ApiError(400, VALIDATION_ERROR, f"{key}: not a setting of the KV manifest.{hint}",
                       [{"field": key, "issue": "unknown key"}])
    return s


def _kv_item(key: str, raw: str | None) -> dict[str, Any]:
    s = settings.lookup(key)
    item: dict[str, Any] = {"key": key, "type": s.type if s else None,
                            "expected": settings.type_label(s) if s else None,
                            "description": s.description if s else None,
                            "default": s.default if s else None, "raw": raw, "error": None}
    if raw is None:
        item.update(value=s.default if s else None, source="default" if s else "unset")
        return item
    item["source"] = "kv"
    try:
        item["value"] = settings.parse(key, raw)
    except settings.SettingError as exc:
        item.update(value=None, error=str(exc))
    return item


async def kv_list(request: Request) -> dict[str, Any]:
    """Every stored key under `prefix`, plus the manifest's keys under it that are not stored."""
    env = env_of(request)
    prefix = request.query_params.get("prefix", "")
    names: list[str] = []
    cursor: str | None = None
    while True:
        page = await env.CONFIG_KV.list(prefix=prefix, cursor=cursor)
        names.extend(k.name for k in page.keys)
        if page.list_complete or not page.cursor:
            break
        cursor = page.cursor
    raws = await asyncio.gather(*(env.CONFIG_KV.get(n) for n in names))
    stored = dict(zip(names, raws, strict=True))
    defaults = [s.key for s in settings.MANIFEST if not s.is_family and s.key.startswith(prefix)
                and s.key not in stored]
    keys = sorted({*stored, *defaults})
    return {"items": [_kv_item(k, stored.get(k)) for k in keys], "nextCursor": None}


async def kv_get(request: Request) -> dict[str, Any]:
    env = env_of(request)
    key = request.path_params["key"]
    raw = await env.CONFIG_KV.get(key)
    if raw is None and settings.lookup(key) is None:
        raise ApiError(404, NOT_FOUND, f"{key}: not in KV and not a setting of the KV manifest.")
    return _kv_item(key, raw)


async def kv_put(request: Request) -> dict[str, Any]:
    """Body `{"value": <typed value>}` (a string is parsed as the CLI would); validated before writing."""
    env = env_of(request)
    key = request.path_params["key"]
    body = await json_body(request)
    if not isinstance(body, dict) or "value" not in body:
        raise ApiError(400, VALIDATION_ERROR, 'Expected {"value": ...}.')
    s = _manifest_entry(key)
    try:
        stored = settings.encode(key, body["value"])
    except settings.SettingError as exc:
        raise ApiError(400, VALIDATION_ERROR, f"{exc.key}: {exc.message}",
                       [{"field": key, "issue": exc.message, "expected": settings.type_label(s)}]) from None
    previous = await env.CONFIG_KV.get(key)
    await env.CONFIG_KV.put(key, stored)
    await log(env, "info", f"operator set {key}", request_id=request_id_of(request),
              details={"key": key, "value": stored, "previous": previous})
    item = _kv_item(key, stored)
    item["previous"] = previous
    return item


async def kv_delete(request: Request) -> dict[str, Any]:
    env = env_of(request)
    key = request.path_params["key"]
    previous = await env.CONFIG_KV.get(key)
    if previous is not None:
        await env.CONFIG_KV.delete(key)
        await log(env, "info", f"operator deleted {key}", request_id=request_id_of(request),
                  details={"key": key, "previous": previous})
    s = settings.lookup(key)
    return {"key": key, "deleted": previous is not None, "previous": previous,
            "default": s.default if s else None}


# --------------------------------------------------------------------------- kill switch
async def kill_switch_get(request: Request) -> dict[str, Any]:
    return await _kill_switch(env_of(request))


async def kill_switch_set(request: Request) -> dict[str, Any]:
    """`{"on": bool, "reason": str}`: KV, a log row, an alert and a status event."""
    env = env_of(request)
    rid = request_id_of(request)
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("on"), bool):
        raise ApiError(400, VALIDATION_ERROR, 'Expected {"on": true|false, "reason": "..."}.',
                       [{"field": "on", "issue": "must be true or false"}])
    reason = body.get("reason", "")
    if reason is None:
        reason = ""
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise ApiError(400, VALIDATION_ERROR, f"reason must be a string of at most {MAX_REASON} characters.",
                       [{"field": "reason", "issue": "must be a string"}])
    on = body["on"]
    reason = reason.strip() or ("turned on by the operator" if on else "")
    await settings.put(env.CONFIG_KV, KILL_SWITCH, on)
    if on:
        # Off keeps the last reason: the manifest's "why it was last turned on".
        await settings.put(env.CONFIG_KV, KILL_SWITCH_REASON, reason)
    text = f"Kill switch {'ON' if on else 'OFF'}" + (f": {reason}" if reason else "")
    await log(env, "critical" if on else "warning", f"operator turned the kill switch {'on' if on else 'off'}",
              request_id=rid, details={"on": on, "reason": reason or None})
    alerted = await calls.alert(env, text + (" — trading is halted." if on else " — trading resumes."),
                                level="critical" if on else "info", request_id=rid)
    event_id = await events.emit(env, "status", {"killSwitch": on, "reason": reason or None}, request_id=rid)
    state = await _kill_switch(env)
    return {**state, "alerted": alerted, "eventId": event_id}


# --------------------------------------------------------------------------- queues
def _admin(env: Env) -> Any:
    admin = env.get("QUEUE_ADMIN")
    if admin is None:
        raise ApiError(501, NOT_AVAILABLE, f"{env.worker} has no queue admin binding.")
    return admin


async def queues(request: Request) -> dict[str, Any]:
    env = env_of(request)
    admin = _admin(env)
    try:
        main, dlq = await asyncio.gather(admin.stats(TRADE_QUEUE), admin.stats(TRADE_DLQ))
        dead = await admin.list(TRADE_DLQ, limit=DEAD_LETTERS_SHOWN)
    except QueueAdminUnavailable as exc:
        raise ApiError(501, NOT_AVAILABLE, str(exc)) from None
    return {
        "queues": [_queue_item(main), _queue_item(dlq)],
        "deadLetters": {"queue": TRADE_DLQ, "count": dlq["messages"],
                        "items": [_dead_letter_item(m) for m in reversed(dead)],
                        "shown": len(dead)},
    }


async def replay(request: Request) -> dict[str, Any]:
    """Move a dead letter back to the queue it failed in, as a new message (attempts from zero)."""
    env = env_of(request)
    admin = _admin(env)
    message_id = request.path_params["id"]
    try:
        m = await admin.message(message_id)
        if m is None or m["queue"] != TRADE_DLQ:
            raise ApiError(404, NOT_FOUND, f"No dead letter {message_id} in {TRADE_DLQ}.")
        item = _dead_letter_item(m)
        target = item["originQueue"] or TRADE_QUEUE
        moved = await admin.move(message_id, target)
    except QueueAdminUnavailable as exc:
        raise ApiError(501, NOT_AVAILABLE, str(exc)) from None
    if not moved:
        raise ApiError(409, "MESSAGE_IN_FLIGHT", f"Dead letter {message_id} is being processed; try again.")
    rid = item["requestId"] or request_id_of(request)
    await log(env, "warning", f"operator replayed dead letter {message_id} into {target}", request_id=rid,
              details={"messageId": message_id, "queue": target, "lastError": item["lastError"]})
    return {"id": message_id, "requestId": item["requestId"], "queue": target, "replayed": True}


# --------------------------------------------------------------------------- SQL
async def db_query(request: Request) -> dict[str, Any]:
    """`{"query", "params"?, "maxRows"?}`: one read-only statement, at most 1000 rows."""
    env = env_of(request)
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
        raise ApiError(400, VALIDATION_ERROR, 'Expected {"query": "SELECT ...", "params": [...]}.')
    params = sql_mod.check_params(body.get("params"))
    max_rows = body.get("maxRows", sql_mod.MAX_ROWS)
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or not 1 <= max_rows <= sql_mod.MAX_ROWS:
        raise ApiError(400, VALIDATION_ERROR, f"maxRows must be between 1 and {sql_mod.MAX_ROWS}.")
    return await sql_mod.run(env.DB, body["query"], params, max_rows,
                             limit_ms=await sql_mod.timeout_ms(env.get("CONFIG_KV")))


routes: list[BaseRoute] = [
    Route("/status", _operator(status), methods=["GET"]),
    Route("/workers", _operator(list_workers), methods=["GET"]),
    Route("/workers/{name}", _operator(get_worker), methods=["GET"]),
    Route("/trades", _operator(trades), methods=["GET"]),
    Route("/positions", _operator(positions), methods=["GET"]),
    Route("/stats", _operator(stats), methods=["GET"]),
    Route("/logs", _operator(logs), methods=["GET"]),
    Route("/alerts", _operator(alerts), methods=["GET"]),
    Route("/config/kv", _operator(kv_list), methods=["GET"]),
    Route("/config/kv/{key:path}", _operator(kv_get), methods=["GET"]),
    Route("/config/kv/{key:path}", _operator(kv_put), methods=["PUT"]),
    Route("/config/kv/{key:path}", _operator(kv_delete), methods=["DELETE"]),
    Route("/kill-switch", _operator(kill_switch_get), methods=["GET"]),
    Route("/kill-switch", _operator(kill_switch_set), methods=["POST"]),
    Route("/queues", _operator(queues), methods=["GET"]),
    Route("/queues/dead-letter/{id}/replay", _operator(replay), methods=["POST"]),
    Route("/db/query", _operator(db_query), methods=["POST"]),
]


def app_routes_for_tests() -> list[BaseRoute]:
    """The gateway's own routes with these mounted under /v1 (until the gateway mounts them itself)."""
    from hoox_edge.workers import gateway

    if any(isinstance(r, Mount) and r.path == "/v1" for r in gateway.routes):
        return list(gateway.routes)
    return [*gateway.routes, Mount("/v1", routes=routes)]
