"""analytics-worker: telemetry into Analytics Engine (dataset `hoox_telemetry`) and read-only SQL over it.

Routes (all but `/health` need `X-Internal-Auth-Key`):

- `POST /track/{kind}` with the kind's payload, bare or in the internal `{"requestId", "payload"}`
  envelope -> one data point; answers the point as written.
- `POST /query` `{"query", "params"?}` -> `{"success", "results", "meta"}`. One SELECT only, run
  through the Analytics Engine SQL API (`env.ANALYTICS_SQL`). The SQL API has no bound parameters,
  so each `?` outside quotes is replaced by a literal: numbers as numbers, null as NULL, strings
  single-quoted with `'` doubled (strings with a backslash or a control character are refused,
  because the two SQL dialects would read them differently).
- `GET /health`.

Data point layout (every kind):

    blob1   kind: api-call | signal | trade | exchange-call
    blob2   worker that produced the event (payload `worker`; default per kind below)
    index1  request id (envelope requestId, else X-Request-Id, else a new id)

    api-call       {worker, endpoint, latencyMs, success, status?, startedAtMs?}
                   blob3 endpoint, blob4 "ok" | "error"
                   double1 latencyMs, double2 HTTP status (0 when unknown), double3 success (1 | 0),
                   double4 startedAtMs (when given; every worker's own request points carry it)
    signal         {exchange?, symbol?, action?, outcome, quantity?, worker?}     worker default "hoox"
                   blob3 exchange, blob4 symbol, blob5 action, blob6 outcome  ("" when absent)
                   double1 quantity (0 when absent)
    trade          {exchange, symbol, side?, quantity, price?, fee?, status, mode, worker?}
                                                                                worker default "trade-worker"
                   blob3 exchange, blob4 symbol, blob5 side ("" when absent), blob6 status, blob7 mode
                   double1 quantity, double2 price (0 when unknown), double3 fee, double4 notional
                   (quantity × price, in quote currency)
    exchange-call  {exchange, operation, latencyMs, success, status?, errorKind?, mode?, worker?}
                                                                                worker default "trade-worker"
                   blob3 exchange, blob4 operation, blob5 "ok" | errorKind | "error", blob6 mode
                   double1 latencyMs, double2 success (1 | 0), double3 HTTP status (0 when unknown)
                   (the connectors' own points, live and paper, add blob7 rate-limit headers, double4
                   remaining rate budget or -1, double5 the call's start in epoch ms:
                   `shared.telemetry.exchange_call_point`)

Analytics Engine's `timestamp` has whole seconds; the start times in ms order a signal's stages
in its timeline (`GET /v1/signals/{requestId}/timeline`).

The per-kind worker defaults are the producers of those kinds in this version (the gateway records
signals, trade-worker trades and exchange calls); a producer that is not says so with `worker`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hoox_edge.operator.sql import read_only_code
from hoox_edge.ports import Env
from hoox_edge.shared.app import env_of, envelope_request_id, json_body, make_app, request_id_of
from hoox_edge.shared.auth import require_internal
from hoox_edge.shared.checks import Fields, Invalid, array, text
from hoox_edge.shared.errors import NOT_AVAILABLE, NOT_FOUND, VALIDATION_ERROR, ApiError, ok
from hoox_edge.shared.redact import preview
from hoox_edge.shared.telemetry import KINDS, data_point

WORKER = "analytics-worker"
DATASET = "hoox_telemetry"


async def track(request: Request) -> JSONResponse:
    require_internal(request)
    kind = request.path_params["kind"]
    if kind not in KINDS:
        raise ApiError(404, NOT_FOUND, f"Unknown telemetry kind {preview(kind)}; kinds: {', '.join(KINDS)}.")
    body = await json_body(request)
    rid = envelope_request_id(body, request)
    if isinstance(body, dict) and isinstance(body.get("payload"), dict):
        body = body["payload"]
    try:
        point = data_point(kind, body, rid)
    except Invalid as exc:
        raise ApiError(400, VALIDATION_ERROR, f"Invalid {kind} event.", exc.details) from None
    env_of(request).ANALYTICS_ENGINE.write_data_point(**point)
    return ok({"kind": kind, "dataset": DATASET, **point}, request_id=rid)


# ----------------------------------------------------------------------------- read-only SQL
# Words that have no business in a read: they write, change the schema or reach other files.
_FORBIDDEN = {"insert", "update", "delete", "drop", "create", "alter", "attach", "detach", "pragma",
              "vacuum", "reindex", "truncate", "grant", "revoke", "into", "optimize", "rename", "system"}


def _literal(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ApiError(400, VALIDATION_ERROR, "Query parameters must be finite numbers.")
        return repr(v)
    if isinstance(v, str):
        if "\\" in v or any(ord(ch) < 32 for ch in v):
            raise ApiError(400, VALIDATION_ERROR,
                           "A string parameter may not contain a backslash or a control character.")
        return "'" + v.replace("'", "''") + "'"
    raise ApiError(400, VALIDATION_ERROR, f"Query parameters must be strings, numbers, booleans or null, "
                                          f"not {type(v).__name__}.")


def read_only_sql(sql: str, params: list[Any]) -> str:
    """The query with its parameters inlined, after checking it is one SELECT; else ApiError 400."""
    code = read_only_code(sql, first=("select",), forbidden=_FORBIDDEN, brackets=False,
                          refusal="Only SELECT queries are allowed on the telemetry dataset.")
    marks = [i for i, c in enumerate(code) if c == "?"]
    if len(marks) != len(params):
        raise ApiError(400, VALIDATION_ERROR, f"The query has {len(marks)} placeholder(s) but {len(params)} "
                                              "parameter(s) were given.")
    out, last = [], 0
    for pos, value in zip(marks, params, strict=True):
        out.append(sql[last:pos])
        out.append(_literal(value))
        last = pos + 1
    out.append(sql[last:len(code)])
    return "".join(out).strip()


MAX_QUERY = 20000


@dataclass(frozen=True)
class Query:
    query: str
    params: list[Any] = field(default_factory=list)  # each checked as it is inlined (`_literal`)

    @classmethod
    def parse(cls, raw: Any) -> Query:
        f = Fields(raw)
        return f.build(cls, query=f.required("query", text(min_len=1, max_len=MAX_QUERY)),
                       params=f.optional("params", array(), []))


async def run_query(env: Env, q: Query) -> list[dict[str, Any]]:
    sql_api = env.get("ANALYTICS_SQL")
    if sql_api is None:
        raise ApiError(503, NOT_AVAILABLE, "The Analytics Engine SQL API is not configured for "
                                           "analytics-worker (on Cloudflare it needs CLOUDFLARE_API_TOKEN).")
    sql = read_only_sql(q.query, q.params)
    try:
        return await sql_api.query(sql)
    except ValueError as exc:  # the dataset refused the query (unknown column, syntax): the caller's to fix
        raise ApiError(400, VALIDATION_ERROR, str(exc)) from None
    except RuntimeError as exc:  # the SQL API itself is unreachable or unconfigured (adapters say which)
        raise ApiError(503, NOT_AVAILABLE, str(exc)) from None


async def query(request: Request) -> JSONResponse:
    require_internal(request)
    rid = request_id_of(request)
    body = await json_body(request)
    if isinstance(body, dict) and isinstance(body.get("payload"), dict):
        body = body["payload"]
    try:
        q = Query.parse(body)
    except Invalid as exc:
        raise ApiError(400, VALIDATION_ERROR, 'Expected {"query": "SELECT ...", "params": [...]}.',
                       exc.details) from None
    rows = await run_query(env_of(request), q)
    return ok(request_id=rid, results=rows, meta={"rows": len(rows), "dataset": DATASET})


async def health(request: Request) -> JSONResponse:
    env = env_of(request)
    writer = env.get("ANALYTICS_ENGINE") is not None
    reader = env.get("ANALYTICS_SQL") is not None
    return JSONResponse({
        "success": writer,
        "status": "ok" if writer else "error",
        "worker": WORKER,
        "dataset": DATASET,
        "write": "bound" if writer else "ANALYTICS_ENGINE not bound",
        "query": "available" if reader else "not configured",
        "kinds": list(KINDS),
    }, status_code=200 if writer else 503)


app = make_app(WORKER, [
    Route("/health", health, methods=["GET"]),
    Route("/track/{kind}", track, methods=["POST"]),
    Route("/query", query, methods=["POST"]),
])
