"""The operator API: the routes the gateway serves under `/v1` (the gateway mounts `routes`).

Every route requires `Authorization: Bearer <OPERATOR_API_KEY>` (`shared.auth.require_operator`,
constant time) and answers the standard envelope `{"success", "requestId", "result", "error"}`.
Every parameter and body is checked by `operator/params.py` before anything is read or written:
a route refuses parameters it does not take, and anything that holds a secret.
Lists are `result = {"items": [...], "nextCursor": str | None}`, newest first, paged by id with
`?cursor=<id of the last item seen>&limit=N`. Every answer is a shape of `operator/shapes.py` (plain
TypedDicts, defined once; the CLI's pydantic models are checked against them in tests/test_contract.py);
docs/operator-api.md describes every route and defines every figure.

Nothing here is a placeholder: what a runtime cannot show (queue internals and uptime on
Cloudflare) is reported as not available, with the reason.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hoox_edge import catalog, lifecycle
from hoox_edge.operator import agent_proxy, config_kv, figures, log_export, shapes
from hoox_edge.operator import kill_switch as kill_switch_mod
from hoox_edge.operator import orders as orders_mod
from hoox_edge.operator import params as params_mod
from hoox_edge.operator import positions as positions_mod
from hoox_edge.operator import reports as reports_mod
from hoox_edge.operator import sql as sql_mod
from hoox_edge.operator import timeline as timeline_mod
from hoox_edge.operator import volume as volume_mod
from hoox_edge.operator import wallet as wallet_mod
from hoox_edge.operator import workers as workers_mod
from hoox_edge.operator.params import Params, invalid, json_object, kv_key, path_secrets
from hoox_edge.operator.rows import log_item, trade_item
from hoox_edge.ports import Env, QueueAdminUnavailable
from hoox_edge.risk import surface as risk_surface
from hoox_edge.shared import calls, clock, settings
from hoox_edge.shared.app import REQUEST_ID, env_of, request_id_of
from hoox_edge.shared.auth import require_operator
from hoox_edge.shared.errors import NOT_AVAILABLE, NOT_FOUND, VALIDATION_ERROR, ApiError, ok
from hoox_edge.shared.logs import LEVELS, log
from hoox_edge.shared.redact import has_credential_word, preview
from hoox_edge.watchdog import check as watchdog_check

DEFAULT_LIMIT = params_mod.DEFAULT_LIMIT
MAX_LIMIT = params_mod.MAX_LIMIT
DEAD_LETTERS_SHOWN = 100
TRADE_QUEUE = catalog.TRADE_QUEUE
TRADE_DLQ = catalog.TRADE_DLQ
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")

Handler = Callable[[Request], Awaitable[Any]]
Item = TypeVar("Item", bound=Mapping[str, Any])


def _operator(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Check the operator token first, then wrap the handler's result in the envelope."""

    async def endpoint(request: Request) -> Response:
        require_operator(request)
        params_mod.path_secrets(request)
        result = await fn(request)
        if isinstance(result, Response):  # a download (/v1/reports/{name}) or a ready envelope
            return result
        return ok(result, request_id=request_id_of(request))

    endpoint.__name__ = fn.__name__
    endpoint.__doc__ = fn.__doc__
    return endpoint


# --------------------------------------------------------------------------- query helpers
def _page(items: list[Item], limit: int, key: str) -> tuple[list[Item], str | None]:
    """`items` holds up to limit + 1 rows: the extra one only says there is a next page.
    The page's items and its `nextCursor`."""
    more = len(items) > limit
    items = items[:limit]
    return items, str(items[-1][key]) if more and items else None


async def _newest_first(request: Request | Env, q: Params, select: str, column: str, where: list[str],
                        args: list[Any], item: Callable[[dict[str, Any]], Item], key: str
                        ) -> tuple[list[Item], str | None]:
    """One page of `select` filtered by `where`, newest first by `column`, after the request's cursor."""
    limit, cursor = q.limit(), q.cursor()
    if cursor is not None:
        where, args = [*where, f"{column} < ?"], [*args, cursor]
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    env = env_of(request) if isinstance(request, Request) else request
    rows = (await env.DB.prepare(f"{select}{clause} ORDER BY {column} DESC LIMIT ?")
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
        return settings.known(key).default, str(exc)


# --------------------------------------------------------------------------- queues
def _dead_letter_item(m: dict[str, Any]) -> shapes.DeadLetter:
    body = b if isinstance(b := m.get("body"), dict) else {}
    payload = p if isinstance(p := body.get("payload"), dict) else {}
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


def _queue_item(s: dict[str, Any]) -> shapes.QueueInfo:
    oldest = s.get("oldest_timestamp")
    return {"name": s["queue"], "depth": s["depth"], "ready": s["ready"], "delayed": s["delayed"],
            "inFlight": s["in_flight"], "oldestEnqueuedAt": clock.iso(oldest) if oldest else None}


async def _queue_summary(env: Env) -> shapes.QueueSummary:
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


async def _exchanges(env: Env) -> shapes.ExchangesStatus:
    """Which exchanges trade live: trade-worker holds the API keys, so it is asked (its /health)."""
    try:
        resp = await workers_mod.call_health(env, "TRADE_SERVICE")
        items = ((resp.json() or {}).get("result") or {}).get("exchanges")
    except Exception as exc:
        return {"available": False, "error": f"trade-worker did not answer ({type(exc).__name__})", "items": []}
    if not isinstance(items, list):
        return {"available": False, "error": f"trade-worker /health answered {resp.status} without exchanges",
                "items": []}
    return {"available": True, "error": None, "items": items}


# =========================================================================== routes
async def status(request: Request) -> shapes.StatusResult:
    """Kill switch, modes, every worker's health, queue figures, the last signal, the version."""
    Params(request)
    return await status_of(env_of(request))


async def status_of(env: Env) -> shapes.StatusResult:
    """GET /v1/status's figures (the Telegram desk's /status reads them too)."""
    kill, (mode, _), (queue_mode, _), probes, queues, last, exchanges = await asyncio.gather(
        kill_switch_mod.state(env), _setting(env, settings.TRADE_MODE), _setting(env, settings.QUEUE_MODE),
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


async def list_workers(request: Request) -> shapes.WorkersResult:
    Params(request)
    env = env_of(request)
    # Probes first, then the figures: the probes' own requests are then always in them.
    probes = await workers_mod.probe_all(env)
    traffic, traffic_error = await workers_mod.traffic(env)
    items = []
    for w, health in zip(catalog.WORKERS, probes, strict=True):
        items.append(await workers_mod.detail(env, w, health, traffic.get(w.name), traffic_error, logs=False))
    return {"items": items, "nextCursor": None}


async def get_worker(request: Request) -> shapes.WorkerDetail:
    Params(request)
    env = env_of(request)
    w = _known_worker(request.path_params["name"])
    health = await workers_mod.probe(env, w.name)
    traffic, traffic_error = await workers_mod.traffic(env)
    return await workers_mod.detail(env, w, health, traffic.get(w.name), traffic_error, logs=True)


async def worker_latency(request: Request) -> shapes.LatencyHistory:
    """A worker's latency history from the analytics data: `window` (15m, 1h, 6h, 24h; default 1h)
    cut into `buckets` (1-120, default 60), each with requests, errors, p50 and p95."""
    q = Params(request, "window", "buckets")
    window = q.choice("window", tuple(workers_mod.HISTORY_WINDOWS)) or "1h"
    buckets = q.whole("buckets", 1, workers_mod.MAX_BUCKETS, workers_mod.DEFAULT_BUCKETS)
    w = _known_worker(request.path_params["name"])
    return await workers_mod.latency_history(env_of(request), w.name, window, buckets)


async def signal_volume(request: Request) -> shapes.SignalVolume:
    """Signals received per weekday × hour (UTC) over the last `days` (1-366, default 28)."""
    q = Params(request, "days")
    days = q.whole("days", 1, volume_mod.MAX_DAYS, volume_mod.DEFAULT_DAYS)
    return await volume_mod.signal_volume(env_of(request), days)


def _known_worker(name: str) -> catalog.Worker:
    try:
        return catalog.worker(name)
    except KeyError:
        raise ApiError(404, NOT_FOUND, f"No worker named {preview(name)}; known workers: "
                                       f"{', '.join(catalog.names())}.") from None


async def trades(request: Request) -> shapes.TradesPage:
    """Trades newest first; filters symbol, exchange, status, since (created at or after)."""
    return await trades_of(env_of(request), Params(request, "symbol", "exchange", "status", "mode", "since", "limit",
                                                    "cursor"))


async def trades_of(env: Env, q: Params) -> shapes.TradesPage:
    """One page of trades newest first (the Telegram desk's /trades reads it too)."""
    where, args = [], []
    for column, value in (("symbol", q.symbol()), ("exchange", q.exchange()), ("status", q.status()),
                          ("mode", _mode_filter(q, default_current=False))):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    since = q.since()
    if since:
        where.append("created_at >= ?")
        args.append(since)
    items, cursor = await _newest_first(env, q, "SELECT rowid AS seq, * FROM trades", "rowid", where, args,
                                        trade_item, "seq")
    return {"items": items, "nextCursor": cursor}


def _mode_filter(q: Params, *, default_current: bool = True, current: str | None = None) -> str | None:
    """`?mode=paper|live|all`: one book, or both (None). The default is the desk's current book
    (`current`, from trade:mode) where the view is a book (positions, stats), else both."""
    raw = q.choice("mode", ("paper", "live", "all"))
    if raw is None:
        return current if default_current else None
    return None if raw == "all" else raw


async def _book(request: Request) -> str | None:
    """The book a view shows: `?mode=`, else the one the desk trades in now (trade:mode)."""
    q = Params(request, "mode")
    current, _ = await _setting(env_of(request), settings.TRADE_MODE)
    return _mode_filter(q, current=current)


async def positions(request: Request) -> shapes.PositionsResult:
    """Open positions of one book (`?mode=paper|live`, default the current trade:mode) or both (`all`)."""
    mode = await _book(request)
    items = await positions_mod.open_positions(env_of(request), mode=mode)
    return {"items": items, "nextCursor": None, "mode": mode or "all"}


async def stats(request: Request) -> shapes.StatsResult:
    """Figures over every fill of one book (`?mode=`, default the current trade:mode) or both
    (`all`); see operator/figures.py."""
    return await stats_of(env_of(request), await _book(request))


async def stats_of(env: Env, mode: str | None, *, since: str | None = None) -> shapes.StatsResult:
    """The figures of one book (None: both); `since` (ISO time) keeps the fills from then on (the
    Telegram desk's /pnl today|7d|30d). Open and closed positions are the book's, whatever `since`."""
    clause, args = ("AND mode = ?", [mode]) if mode else ("", [])
    # Every order that filled, wholly or in part (a resting order cancelled after a partial fill counts).
    fill_clause, fill_args = (clause + " AND updated_at >= ?", [*args, since]) if since else (clause, args)
    fills = (await env.DB.prepare(
        "SELECT request_id, action, realized_pnl, fee, mode, created_at, updated_at FROM trades "
        f"WHERE filled_qty > 0 {fill_clause} ORDER BY updated_at, rowid"
    ).bind(*fill_args).all())["results"]
    open_pos = await positions_mod.open_positions(env, mode=mode)
    closed = (await env.DB.prepare(
        f"SELECT opened_at, closed_at FROM positions WHERE status = 'CLOSED' {clause}").bind(*args).all())["results"]
    return figures.stats(fills, open_pos, today=clock.iso()[:10], mode=mode or "all", closed_positions=closed)


async def stats_equity(request: Request) -> shapes.EquityCurve:
    """The equity curve of one book (`?mode=`, default the current trade:mode, or `all`): the
    cumulative net realized P&L after each fill, its peak and drawdown; `since` (ISO time) keeps the
    points from then on, `points` (2-500, default 200) bounds their number. See figures.equity_curve."""
    env = env_of(request)
    q = Params(request, "mode", "since", "points")
    current, _ = await _setting(env, settings.TRADE_MODE)
    mode = _mode_filter(q, current=current)
    since = q.since()
    max_points = q.whole("points", 2, figures.MAX_EQUITY_POINTS, figures.DEFAULT_EQUITY_POINTS)
    clause, args = ("AND mode = ?", [mode]) if mode else ("", [])
    # The same fills, in the same order, as /v1/stats: its maxDrawdown is this curve's.
    fills = (await env.DB.prepare(
        "SELECT action, realized_pnl, fee, updated_at FROM trades "
        f"WHERE filled_qty > 0 {clause} ORDER BY updated_at, rowid"
    ).bind(*args).all())["results"]
    return figures.equity_curve(fills, mode=mode or "all", since=since, max_points=max_points)


def _min_level(level: str | None) -> tuple[list[str], list[Any]]:
    """WHERE parts for a minimum level (warning = warning, error, critical)."""
    if not level:
        return [], []
    allowed = LEVELS[LEVELS.index(level):]
    return [f"level IN ({','.join('?' * len(allowed))})"], list(allowed)


async def alerts(request: Request) -> shapes.AlertsPage:
    """Alerts newest first (what telegram-worker recorded) with their delivery state; `level` is a minimum."""
    q = Params(request, "level", "limit", "cursor")
    where, args = _min_level(q.level())
    items, cursor = await _newest_first(
        request, q, "SELECT id, created_at, level, source, request_id, message, delivery, error, next_attempt_at, "
        "attempts, sent_at FROM alerts", "id",
        where, args, _alert_item, "id")
    return {"items": items, "nextCursor": cursor}


ALERT_MAX_CHARS = 1000


async def alert_post(request: Request) -> shapes.AlertPosted:
    """`{"message": str, "level"?: one of LEVELS (default warning)}`: one alert from the operator's tools
    (e.g. `hoox secrets check` on an overdue secret) through telegram-worker, like the edge's own."""
    Params(request)
    body = await json_object(request, "message", "level", required=("message",))
    message, level = body["message"], body.get("level", "warning")
    details = []
    if not isinstance(message, str) or not message.strip() or len(message) > ALERT_MAX_CHARS:
        details.append({"field": "message", "issue": f"must be text of 1 to {ALERT_MAX_CHARS} characters"})
    if level not in LEVELS:
        details.append({"field": "level", "issue": f"must be one of {', '.join(LEVELS)}"})
    if details:
        raise ApiError(400, VALIDATION_ERROR, "Expected {\"message\": \"...\", \"level\": \"warning\"}.", details)
    sent = await calls.alert(env_of(request), message.strip(), level=level, request_id=request_id_of(request))
    return {"sent": sent}


def _alert_item(r: dict[str, Any]) -> shapes.AlertEntry:
    return {"id": r["id"], "createdAt": r["created_at"], "level": r["level"], "source": r["source"],
            "requestId": r["request_id"], "message": r["message"], "delivery": r["delivery"], "error": r["error"],
            "nextAttemptAt": r["next_attempt_at"] if r["delivery"] == "pending" else None,
            "attempts": r["attempts"], "sentAt": r["sent_at"]}


async def logs(request: Request) -> shapes.LogsPage:
    """system_logs newest first; `level` is a minimum (warning = warning, error, critical)."""
    q = Params(request, "level", "worker", "requestId", "q", "limit", "cursor")
    where, args = _min_level(q.level())
    for column, value in (("worker", q.worker()), ("request_id", q.request_id())):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    contains = q.text("q")
    if contains:
        text = contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("(message LIKE ? ESCAPE '\\' OR details LIKE ? ESCAPE '\\')")
        args.extend([f"%{text}%", f"%{text}%"])
    items, cursor = await _newest_first(
        request, q, "SELECT id, created_at, level, worker, request_id, message, details FROM system_logs", "id",
        where, args, log_item, "id")
    return {"items": items, "nextCursor": cursor}


async def logs_export(request: Request) -> shapes.LogsPage:
    """system_logs with since <= createdAt < until, oldest first, paged forward (a download)."""
    q = Params(request, "since", "until", "level", "worker", "limit", "cursor")
    since, until = q.since(), q.until()
    if since is None or until is None:
        raise ApiError(400, VALIDATION_ERROR, "since and until are required (ISO-8601 times).",
                       [{"field": "since" if since is None else "until", "issue": "required"}])
    return await log_export.page(env_of(request).DB, since=since, until=until, worker=q.worker(), level=q.level(),
                                 cursor=q.cursor(), limit=q.limit(log_export.PAGE_LIMIT, log_export.PAGE_LIMIT))


# --------------------------------------------------------------------------- config
async def kv_list(request: Request) -> shapes.KvList:
    """Every stored key under `prefix`, plus the manifest's keys under it that are not stored."""
    return await config_kv.list_items(env_of(request).CONFIG_KV, Params(request, "prefix").prefix())


async def kv_get(request: Request) -> shapes.KvEntry:
    Params(request)
    return await config_kv.get_item(env_of(request).CONFIG_KV, kv_key(request))


async def kv_put(request: Request) -> shapes.KvEntry:
    """Body `{"value": <typed value>}` (a string is parsed as the CLI would); validated before writing."""
    Params(request)
    key = kv_key(request)
    config_kv.manifest_entry(key)
    try:
        body = await json_object(request, "value", required=("value",))
    except ApiError as exc:  # name the setting in a refused body too
        exc.message = f"{key}: {exc.message}" if exc.status == 400 else exc.message
        raise
    return await config_kv.put_item(env_of(request), key, body["value"], request_id=request_id_of(request))


async def kv_delete(request: Request) -> shapes.KvDeleted:
    Params(request)
    return await config_kv.delete_item(env_of(request), kv_key(request), request_id=request_id_of(request))


# --------------------------------------------------------------------------- orders and flatten
def _scope(q: Params) -> dict[str, Any]:
    """`exchange`, `symbol` and `mode` (paper, live, all: both books) of a flatten or an orders list."""
    return {"exchange": q.exchange(), "symbol": q.symbol(), "mode": _mode_filter(q, default_current=False)}


async def orders(request: Request) -> shapes.OrdersResult:
    """Open (resting) orders, newest first; filters exchange, symbol, mode (default both books)."""
    items = await orders_mod.open_orders(env_of(request), **_scope(Params(request, "exchange", "symbol", "mode")))
    return {"items": items, "nextCursor": None}


async def cancel_order(request: Request) -> Any:
    """Cancel a resting order by the request id of its signal (trade-worker asks the exchange)."""
    Params(request)
    path_secrets(request)
    env = env_of(request)
    rid = request.path_params["request_id"]
    if not REQUEST_ID.match(rid):
        raise invalid("requestId", "must be a request id (letters, digits, . _ : -; at most 128)", rid)
    try:
        resp = await orders_mod.cancel(env, rid, reason="operator", operator_rid=request_id_of(request))
    except Exception as exc:
        raise ApiError(503, "TRADE_SERVICE_UNAVAILABLE", f"trade-worker did not answer ({type(exc).__name__}); "
                       "the order may still rest: look again.") from None
    body, err, _ = calls.envelope(resp)
    if resp.status == 200:
        await log(env, "warning", f"operator cancelled the order of {rid}", request_id=request_id_of(request),
                  details={"requestId": rid})
        return body.get("result")
    retry_after = {k.lower(): v for k, v in resp.headers.items()}.get("retry-after")
    raise ApiError(resp.status, err.get("code") or "TRADE_SERVICE_ERROR", err.get("message") or f"HTTP {resp.status}",
                   err.get("details"), headers={"Retry-After": retry_after} if retry_after else None)


async def _flatten_body(request: Request) -> tuple[dict[str, Any], str]:
    Params(request)
    fields = ("exchange", "symbol", "mode", "reason")
    body = await json_object(request, *fields) if (await request.body()).strip() else {}
    if any(v is not None and not isinstance(v, str) for v in body.values()):
        raise invalid("(body)", "exchange, symbol, mode and reason are texts", quote=False)
    reason = body.get("reason") or "flatten"
    if len(reason) > 64 or not reason.isprintable() or has_credential_word(reason):
        raise invalid("reason", "must be printable text of at most 64 characters, without a key-like word",
                      quote=False)
    # The body's fields are checked with the query parameters' rules.
    return _scope(Params.of({k: v for k, v in body.items() if k != "reason" and v})), reason


async def flatten(request: Request) -> shapes.FlattenResult:
    """`{"exchange"?, "symbol"?, "mode"? (paper, live, all: the default), "reason"?}`: cancel the
    resting orders and close the open positions of the scope; every outcome in the answer."""
    scope, reason = await _flatten_body(request)
    return await orders_mod.flatten(env_of(request), **scope, reason=reason, operator_rid=request_id_of(request))


# --------------------------------------------------------------------------- signal timeline
async def signal_timeline(request: Request) -> shapes.SignalTimeline:
    """Every stage of one signal, in order (`operator/timeline.py`); the id or a unique start of it
    (8 characters at least)."""
    Params(request)
    rid = request.path_params["request_id"]
    if not REQUEST_ID.match(rid):
        raise invalid("requestId", "must be a request id (letters, digits, . _ : -; at most 128)", rid)
    return await timeline_mod.timeline(env_of(request), rid)


# --------------------------------------------------------------------------- kill switch
async def kill_switch_get(request: Request) -> shapes.KillSwitch:
    Params(request)
    return await kill_switch_mod.state(env_of(request))


async def kill_switch_set(request: Request) -> shapes.KillSwitch:
    """`{"on": bool, "reason": str, "flatten": bool}`: KV, a log row, an alert and a status event;
    with `flatten` (on only) every book is then flattened and the answer carries its outcome.

    Everything is validated before the first write, so a refused request changes nothing."""
    Params(request)
    env = env_of(request)
    rid = request_id_of(request)
    body = await json_object(request, "on", "reason", "flatten", required=("on",))
    if not isinstance(body["on"], bool):
        raise ApiError(400, VALIDATION_ERROR, 'Expected {"on": true|false, "reason": "...", "flatten": false}.',
                       [{"field": "on", "issue": "must be true or false"}])
    flatten_too = body.get("flatten", False)
    if not isinstance(flatten_too, bool) or (flatten_too and not body["on"]):
        raise ApiError(400, VALIDATION_ERROR, "flatten must be true or false, and true only with on: true.",
                       [{"field": "flatten", "issue": "a boolean, true only when turning the switch on"}])
    reason = kill_switch_mod.checked_reason(body.get("reason"), on=body["on"])
    out = await kill_switch_mod.turn(env, body["on"], reason, request_id=rid)
    if flatten_too:  # after the switch: no new signal can open a position while the books are closed
        out["flatten"] = await orders_mod.flatten(env, mode=None, exchange=None, symbol=None, reason="kill switch",
                                                  operator_rid=rid)
    return out


# --------------------------------------------------------------------------- risk manager
# The same functions agent-worker serves on /agent/status and /agent/config (one definition).
RUN_STATUSES = ("running", "ok", "error", "skipped")


async def risk(request: Request) -> shapes.RiskStatus:
    Params(request)
    return await risk_surface.status(env_of(request))


async def risk_runs(request: Request) -> shapes.RiskRunsPage:
    q = Params(request, "limit", "cursor", "status")
    return await risk_surface.runs_page(env_of(request), limit=q.limit(), cursor=q.cursor(),
                                        status=q.choice("status", RUN_STATUSES))


async def risk_config_get(request: Request) -> shapes.RiskConfig:
    Params(request)
    return await risk_surface.config(env_of(request))


async def risk_config_set(request: Request) -> shapes.RiskConfig:
    Params(request)
    body = await json_object(request, "values", required=("values",))
    return await risk_surface.set_config(env_of(request), body["values"], request_id=request_id_of(request),
                                         by="operator")


# --------------------------------------------------------------------------- queues
def _admin(env: Env) -> Any:
    admin = env.get("QUEUE_ADMIN")
    if admin is None:
        raise ApiError(501, NOT_AVAILABLE, f"{env.worker} has no queue admin binding.")
    return admin


async def queues(request: Request) -> shapes.QueuesResult:
    Params(request)
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


async def replay(request: Request) -> shapes.ReplayResult:
    """Move a dead letter back to the queue it failed in, as a new message (attempts from zero)."""
    Params(request)
    env = env_of(request)
    admin = _admin(env)
    message_id = request.path_params["id"]
    if not _MESSAGE_ID.match(message_id):
        raise invalid("id", "must be a dead letter's id from GET /v1/queues", message_id)
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
    if item["requestId"]:  # the signal is the queue's again (a dead letter is final until replayed)
        await lifecycle.move_statement(env.DB, item["requestId"], lifecycle.ENQUEUED,
                                       (lifecycle.DEAD_LETTERED,)).run()
    rid = item["requestId"] or request_id_of(request)
    await log(env, "warning", f"operator replayed dead letter {message_id} into {target}", request_id=rid,
              details={"messageId": message_id, "queue": target, "lastError": item["lastError"]})
    return {"id": message_id, "requestId": item["requestId"], "queue": target, "replayed": True}


# --------------------------------------------------------------------------- SQL
async def db_query(request: Request) -> shapes.QueryResult:
    """`{"query", "params"?, "maxRows"?}`: one read-only statement, at most 1000 rows."""
    Params(request)
    env = env_of(request)
    body = await json_object(request, "query", "params", "maxRows", required=("query",))
    if not isinstance(body.get("query"), str) or not body["query"].strip():
        raise ApiError(400, VALIDATION_ERROR, 'Expected {"query": "SELECT ...", "params": [...]}.')
    params = sql_mod.check_params(body.get("params"))
    max_rows = body.get("maxRows", sql_mod.MAX_ROWS)
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or not 1 <= max_rows <= sql_mod.MAX_ROWS:
        raise ApiError(400, VALIDATION_ERROR, f"maxRows must be between 1 and {sql_mod.MAX_ROWS}.")
    return await sql_mod.run(env.DB, body["query"], params, max_rows,
                             limit_ms=await sql_mod.timeout_ms(env.get("CONFIG_KV")))


# --------------------------------------------------------------------------- watchdog
async def watchdog(request: Request) -> shapes.WatchdogResult:
    """The signal watchdog: each source's last signal, its age, its expectation and its state now."""
    Params(request)
    return await watchdog_check.status(env_of(request))


routes: list[BaseRoute] = [
    Route("/status", _operator(status), methods=["GET"]),
    Route("/workers", _operator(list_workers), methods=["GET"]),
    Route("/workers/{name}", _operator(get_worker), methods=["GET"]),
    Route("/workers/{name}/latency", _operator(worker_latency), methods=["GET"]),
    Route("/trades", _operator(trades), methods=["GET"]),
    Route("/positions", _operator(positions), methods=["GET"]),
    Route("/positions/flatten", _operator(flatten), methods=["POST"]),
    Route("/orders", _operator(orders), methods=["GET"]),
    Route("/orders/{request_id}", _operator(cancel_order), methods=["DELETE"]),
    Route("/stats", _operator(stats), methods=["GET"]),
    Route("/stats/equity", _operator(stats_equity), methods=["GET"]),
    Route("/logs", _operator(logs), methods=["GET"]),
    Route("/logs/export", _operator(logs_export), methods=["GET"]),
    Route("/signals/{request_id}/timeline", _operator(signal_timeline), methods=["GET"]),
    Route("/alerts", _operator(alerts), methods=["GET"]),
    Route("/alerts", _operator(alert_post), methods=["POST"]),
    Route("/config/kv", _operator(kv_list), methods=["GET"]),
    Route("/config/kv/{key:path}", _operator(kv_get), methods=["GET"]),
    Route("/config/kv/{key:path}", _operator(kv_put), methods=["PUT"]),
    Route("/config/kv/{key:path}", _operator(kv_delete), methods=["DELETE"]),
    Route("/kill-switch", _operator(kill_switch_get), methods=["GET"]),
    Route("/kill-switch", _operator(kill_switch_set), methods=["POST"]),
    Route("/risk", _operator(risk), methods=["GET"]),
    Route("/risk/runs", _operator(risk_runs), methods=["GET"]),
    Route("/risk/config", _operator(risk_config_get), methods=["GET"]),
    Route("/risk/config", _operator(risk_config_set), methods=["POST"]),
    Route("/queues", _operator(queues), methods=["GET"]),
    Route("/queues/dead-letter/{id}/replay", _operator(replay), methods=["POST"]),
    Route("/db/query", _operator(db_query), methods=["POST"]),
    Route("/watchdog", _operator(watchdog), methods=["GET"]),
    Route("/analytics/volume", _operator(signal_volume), methods=["GET"]),
    Route("/reports", _operator(reports_mod.list_reports), methods=["GET"]),
    Route("/reports", _operator(reports_mod.make_report), methods=["POST"]),
    Route("/reports/{name}", _operator(reports_mod.get_report), methods=["GET"]),
    Route("/wallet/balance", _operator(wallet_mod.balance), methods=["POST"]),
    Route("/wallet/estimate", _operator(wallet_mod.estimate), methods=["POST"]),
    Route("/wallet/send", _operator(wallet_mod.send), methods=["POST"]),
    Route("/wallet/tx/{request_id}", _operator(wallet_mod.tx), methods=["GET"]),
    Route("/wallet/balances", _operator(wallet_mod.balances), methods=["GET"]),
    Route("/agent/{rest:path}", _operator(agent_proxy.forward), methods=["GET", "POST"]),
]
