"""d1-worker: the SQL hub. Parameterised queries, atomic batches, dashboard figures and ledger listings.

Routes (all but `/health` need `X-Internal-Auth-Key`):

- `POST /query` `{"requestId", "query", "params"}` (or `{"requestId", "payload": {"query", "params"}}`)
  -> `{"success", "results", "meta"}`.
- `POST /batch` `{"queries": [{"query", "params"}, ...]}` (or inside `payload`): one D1 batch, so one
  transaction -> `{"success", "results": [{"results", "meta"}, ...]}`. A failing statement answers 400
  with the database's message and nothing of the batch is applied.
- `GET /api/dashboard/stats[?mode=paper|live]` -> `{"success", "stats": {...}}` (see `dashboard_stats`).
- `GET /{table}` for the ledger tables only -> `{"success", "rows", "meta"}`; query-string pairs are
  equality filters on the table's real columns (a repeated key means any of the values), plus
  `limit` (1..500, default 100), `offset` and `order` (`desc` default, or `asc`) by insertion order.
- `GET /health` runs `SELECT 1` on the database.

User text never becomes SQL: values are bound, and a filter name is used only after it was found in
the table's own column list (PRAGMA table_info).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hoox_edge.ports import D1Error, Env
from hoox_edge.shared import clock
from hoox_edge.shared.app import env_of, json_body, make_app, request_id_of
from hoox_edge.shared.auth import require_internal
from hoox_edge.shared.bodies import INT_MAX, json_safe
from hoox_edge.shared.checks import Check, Fields, Invalid, array, scalar, text
from hoox_edge.shared.errors import NOT_FOUND, VALIDATION_ERROR, ApiError, ok
from hoox_edge.shared.redact import field_name, preview

WORKER = "d1-worker"

# Tables GET /{table} may list. Everything else (migration history, sqlite_*) stays private.
LEDGER_TABLES = ("trades", "positions", "balances", "trade_signals", "system_logs", "alerts")
MAX_LIMIT = 500
DEFAULT_LIMIT = 100
_RESERVED = ("limit", "offset", "order")

Param = str | int | float | bool | None  # bound exactly as sent: true stays true, "1" stays "1"


@dataclass(frozen=True)
class Statement:
    query: str
    params: list[Param] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: Any) -> Statement:
        f = Fields(raw)
        return f.build(cls, query=f.required("query", text(min_len=1)),
                       params=f.optional("params", array(scalar), []))


@dataclass(frozen=True)
class Batch:
    queries: list[Statement]

    @classmethod
    def parse(cls, raw: Any) -> Batch:
        f = Fields(raw)
        statement = Check('an object {"query": "...", "params": [...]}', Statement.parse)
        return f.build(cls, queries=f.required("queries", array(statement, min_len=1)))


def _unwrap(body: Any) -> Any:
    """The statement(s) of a request: bare, or inside the internal `payload` envelope."""
    if isinstance(body, dict) and isinstance(body.get("payload"), dict):
        return body["payload"]
    return body


def _json_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as JSON can carry them (BLOBs and non-finite REALs as strings, see `bodies.json_safe`)."""
    return [{k: json_safe(v) for k, v in r.items()} for r in rows]


def _db_error(exc: D1Error) -> ApiError:
    return ApiError(400, VALIDATION_ERROR, f"The database refused the statement: {exc}")


async def query(request: Request) -> JSONResponse:
    require_internal(request)
    rid = request_id_of(request)
    try:
        st = Statement.parse(_unwrap(await json_body(request)))
    except Invalid as exc:
        raise ApiError(400, VALIDATION_ERROR, 'Expected {"query": "...", "params": [...]}.',
                       exc.details) from None
    env = env_of(request)
    try:
        res = await env.DB.prepare(st.query).bind(*st.params).all()
    except D1Error as exc:
        raise _db_error(exc) from None
    return ok(request_id=rid, results=_json_rows(res["results"]), meta=res["meta"])


async def batch(request: Request) -> JSONResponse:
    require_internal(request)
    rid = request_id_of(request)
    try:
        b = Batch.parse(_unwrap(await json_body(request)))
    except Invalid as exc:
        raise ApiError(400, VALIDATION_ERROR,
                       'Expected {"queries": [{"query": "...", "params": [...]}, ...]}.',
                       exc.details) from None
    db = env_of(request).DB
    try:
        out = await db.batch([db.prepare(s.query).bind(*s.params) for s in b.queries])
    except D1Error as exc:
        raise ApiError(400, VALIDATION_ERROR,
                       f"The database refused the batch; nothing was applied: {exc}") from None
    return ok(request_id=rid, results=[{"results": _json_rows(r["results"]), "meta": r["meta"]} for r in out])


async def dashboard_stats(env: Env, mode: str | None = None) -> dict[str, Any]:
    """The dashboard's figures, computed from the ledger.

    A *fill* is a `trades` row with status `Filled` (pending, rejected and failed orders moved no money).
    A *closing fill* is a fill whose `realized_pnl` is not 0 (it reduced a position and realised P&L;
    a break-even close realises exactly 0 and counts neither as a win nor as a loss).

    - totalTrades: number of fills.
    - winningTrades / closingTrades: closing fills with realized_pnl > 0 / all closing fills.
    - winRate: winningTrades / closingTrades in percent (0..100, 2 decimals); null while there is no
      closing fill yet, because no win rate exists then.
    - realizedPnlUSDT: sum of realized_pnl over fills (before fees).
    - totalFeesUSDT: sum of fee over fills (opening and closing).
    - totalPnlUSDT: realizedPnlUSDT - totalFeesUSDT, what the trading actually made.
    - activePositionsCount: `positions` rows with status OPEN.
    - dailyTradesCount: fills created since 00:00 UTC today.
    `mode` (paper | live) restricts every figure to that trading mode.
    """
    today = datetime.fromtimestamp(clock.now(), UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = clock.iso(today.timestamp())
    mode_sql = " AND mode = ?" if mode else ""
    mode_args = [mode] if mode else []
    row = await env.DB.prepare(
        "SELECT COUNT(*) AS fills,"
        " COALESCE(SUM(CASE WHEN realized_pnl > 0 THEN 1 ELSE 0 END), 0) AS wins,"
        " COALESCE(SUM(CASE WHEN realized_pnl <> 0 THEN 1 ELSE 0 END), 0) AS closes,"
        " COALESCE(SUM(realized_pnl), 0) AS realized,"
        " COALESCE(SUM(fee), 0) AS fees,"
        " COALESCE(SUM(CASE WHEN created_at >= ? THEN 1 ELSE 0 END), 0) AS daily"
        f" FROM trades WHERE status = 'Filled'{mode_sql}"
    ).bind(since, *mode_args).first()
    open_positions = await env.DB.prepare(
        f"SELECT COUNT(*) AS n FROM positions WHERE status = 'OPEN'{mode_sql}"
    ).bind(*mode_args).first("n")
    closes = int(row["closes"])
    realized, fees = float(row["realized"]), float(row["fees"])
    return {
        "totalTrades": int(row["fills"]),
        "winningTrades": int(row["wins"]),
        "closingTrades": closes,
        "winRate": round(100.0 * int(row["wins"]) / closes, 2) if closes else None,
        "realizedPnlUSDT": round(realized, 8),
        "totalFeesUSDT": round(fees, 8),
        "totalPnlUSDT": round(realized - fees, 8),
        "activePositionsCount": int(open_positions or 0),
        "dailyTradesCount": int(row["daily"]),
        "since": since,
        "mode": mode,
    }


async def stats(request: Request) -> JSONResponse:
    require_internal(request)
    mode = request.query_params.get("mode") or None
    if mode not in (None, "paper", "live"):
        raise ApiError(400, VALIDATION_ERROR, f"mode must be paper or live, got {preview(mode)}.")
    return ok(request_id=request_id_of(request), stats=await dashboard_stats(env_of(request), mode))


async def table_columns(env: Env, table: str) -> list[str]:
    """Column names of a ledger table, from the database itself."""
    assert table in LEDGER_TABLES  # the name is interpolated below: only the fixed list may reach here
    res = await env.DB.prepare(f"PRAGMA table_info({table})").all()
    return [r["name"] for r in res["results"]]


def _int_param(name: str, raw: str | None, default: int, lo: int, hi: int | None) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 19:
        raise ApiError(400, VALIDATION_ERROR, f"{name} must be a whole number, got {preview(raw)}.")
    v = int(raw)
    if v < lo or (hi is not None and v > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ApiError(400, VALIDATION_ERROR, f"{name} must be {bound}, got {v}.")
    return v


async def list_table(request: Request) -> JSONResponse:
    require_internal(request)
    table = request.path_params["table"]
    if table not in LEDGER_TABLES:
        raise ApiError(404, NOT_FOUND, f"No table {preview(table)} here; tables: {', '.join(LEDGER_TABLES)}.")
    env = env_of(request)
    qp = request.query_params
    limit = _int_param("limit", qp.get("limit"), DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_param("offset", qp.get("offset"), 0, 0, INT_MAX)
    order = (qp.get("order") or "desc").lower()
    if order not in ("asc", "desc"):
        raise ApiError(400, VALIDATION_ERROR, f"order must be asc or desc, got {preview(order)}.")

    columns = await table_columns(env, table)
    filters: dict[str, list[str]] = {}
    for key, value in qp.multi_items():
        if key in _RESERVED:
            continue
        if key not in columns:
            raise ApiError(400, VALIDATION_ERROR,
                           f"{table} has no column {field_name(key)!r}; columns: {', '.join(columns)}.",
                           [{"field": field_name(key), "issue": "unknown column"}])
        filters.setdefault(key, []).append(value)

    where, args = [], []
    for col, values in filters.items():  # col is one of the table's own column names
        if len(values) == 1:
            where.append(f'"{col}" = ?')
        else:
            where.append(f'"{col}" IN ({", ".join("?" for _ in values)})')
        args.extend(values)
    sql = f"SELECT * FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    # rowid is insertion order in every ledger table (trades.id is a uuid; the others alias rowid as id)
    sql += f" ORDER BY rowid {order.upper()} LIMIT ? OFFSET ?"
    try:
        res = await env.DB.prepare(sql).bind(*args, limit, offset).all()
    except D1Error as exc:
        raise _db_error(exc) from None
    meta = {"table": table, "count": len(res["results"]), "limit": limit, "offset": offset, "order": order}
    return ok(request_id=request_id_of(request), rows=res["results"], meta=meta)


async def health(request: Request) -> JSONResponse:
    env = env_of(request)
    try:
        one = await env.DB.prepare("SELECT 1 AS ok").first("ok")
        db_ok, problem = one == 1, None
    except Exception as exc:  # report the state instead of crashing the probe
        db_ok, problem = False, f"{type(exc).__name__}: {exc}"
    body: dict[str, Any] = {"success": db_ok, "status": "ok" if db_ok else "error", "worker": WORKER,
                            "database": "ok" if db_ok else "unreachable"}
    if problem:
        body["error"] = problem
    return JSONResponse(body, status_code=200 if db_ok else 503)


app = make_app(WORKER, [
    Route("/health", health, methods=["GET"]),
    Route("/query", query, methods=["POST"]),
    Route("/batch", batch, methods=["POST"]),
    Route("/api/dashboard/stats", stats, methods=["GET"]),
    Route("/{table}", list_table, methods=["GET"]),
])
