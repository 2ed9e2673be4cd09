"""The ASGI app every worker is built on (Starlette: small, fast to import, runs on Cloudflare).

It puts the worker's `Env` in reach (`env_of(request)`), turns `ApiError` into the standard
envelope, turns any other exception into a 500 that shows no traceback and no secret, and records
every HTTP request as an `api-call` data point in the worker's own `ANALYTICS_ENGINE` dataset
(the operator API's request counts and latency percentiles are computed from these).

The outermost layer (`_Boundary`) answers an exception that escaped everything else with the 500
envelope and does not re-raise it: Starlette re-raises after its own 500, and uvicorn then closes
the connection, which dropped the next request a client had queued on it.

`api-call` data point written per request (the layout of analytics-worker's `/track/api-call`,
plus blob5 naming this recorder, so per-worker figures count only these points and never an
`api-call` an outside caller posts to analytics-worker):

    blob1 "api-call", blob2 worker, blob3 path, blob4 outcome, blob5 "http"
    double1 latency ms (until the response headers are sent: a stream counts its time to first byte),
    double2 HTTP status, double3 1 (status < 400) | 0, double4 when the request started (epoch ms)
    outcome: "ok" (status < 400), "refused" (401, 403: a caller turned away), "client-error" (other
    4xx), "error" (≥ 500: the worker failed). A refused caller is the caller's fault, not the edge's.
    index1 the request id
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute

from hoox_edge.ports import Env, index_of
from hoox_edge.shared import bodies, clock
from hoox_edge.shared.auth import REQUEST_ID_HEADER
from hoox_edge.shared.errors import (
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    ApiError,
    error_body,
    error_response,
)
from hoox_edge.shared.redact import holds_secret, mask_key_like, printable, redact

_py = logging.getLogger("hoox.edge")


def env_of(request: Request) -> Env:
    return request.scope["env"]


_MAX_PATH = 256
# What a caller's X-Request-Id may look like (uuids, `cli-…`, `hx…`); it is stored with every log row.
REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def _secrets_of(scope: Mapping[str, Any]) -> list[str]:
    env = scope.get("env")
    return env.secret_values() if isinstance(env, Env) else []


def request_id_of(request: Request) -> str:
    """The caller's X-Request-Id, else a new one (kept on the request for the error handlers).

    A header that is not an id (too long, odd characters) or that holds a secret is replaced:
    the id is stored with log rows and data points as it is.
    """
    rid = request.scope.get("hoox.request_id")
    if rid is None:
        given = request.headers.get(REQUEST_ID_HEADER)
        usable = (given is not None and REQUEST_ID.match(given) is not None
                  and not holds_secret(given, _secrets_of(request.scope)))
        rid = given if usable and given else str(uuid.uuid4())
        request.scope["hoox.request_id"] = rid
    return rid


def envelope_request_id(body: Any, request: Request) -> str:
    """The `requestId` of an internal `{"requestId", "payload"}` envelope (400 when it is given but
    is not an id), else the request's own (`request_id_of`). Kept on the request for the error
    handlers."""
    given = body.get("requestId") if isinstance(body, dict) else None
    if given in (None, ""):
        return request_id_of(request)
    if not isinstance(given, str) or not REQUEST_ID.match(given) or holds_secret(given, _secrets_of(request.scope)):
        raise ApiError(400, "VALIDATION_ERROR", "requestId must be a request id: letters, digits and . _ : - "
                       "(at most 128).", [{"field": "requestId", "issue": "must be a request id"}])
    request.scope["hoox.request_id"] = given
    return given


async def json_body(request: Request, limit: int = bodies.MAX_BYTES) -> Any:
    """The body as strict JSON, at most `limit` bytes (see `shared/bodies.py`)."""
    return await bodies.read_json(request, limit)


def safe_path(scope: Mapping[str, Any], limit: int = _MAX_PATH) -> str:
    """The request path as it may be logged, recorded or echoed: secrets masked, cut, printable."""
    path = redact(printable(scope.get("path", "")), _secrets_of(scope))
    return path if len(path) <= limit else path[:limit] + "…"


def payload_of(body: Any) -> Any:
    """The `payload` of an internal `{"requestId", "payload"}` envelope."""
    if isinstance(body, dict) and "payload" in body:
        return body["payload"]
    raise ApiError(400, "VALIDATION_ERROR", 'Expected an envelope {"requestId": ..., "payload": {...}}.')


API_CALL = "api-call"
HTTP_RECORDER = "http"  # blob5 of the data points this middleware writes


def api_call_point(worker: str, path: str, status: int, latency_ms: float, request_id: str,
                   started_ms: float | None = None) -> dict[str, Any]:
    """The data point of one request (see the module docstring for the layout). `started_ms`
    (epoch ms, double4) places the request to the millisecond: Analytics Engine's own timestamp
    has whole seconds, too coarse to order a signal's stages (`operator/timeline.py`)."""
    ok = status < 400
    outcome = ("ok" if ok else "refused" if status in (401, 403) else "client-error" if status < 500
               else "error")
    index = index_of(request_id)
    doubles = [round(latency_ms, 3), float(status), 1.0 if ok else 0.0]
    if started_ms is not None:
        doubles.append(float(started_ms))
    return {"blobs": [API_CALL, worker, path[:_MAX_PATH], outcome, HTTP_RECORDER],
            "doubles": doubles, "indexes": [index]}


class _Boundary:
    """The outermost layer of every worker's app, one per request:

    - the worker's `Env` in the scope (on Cloudflare `scope["env"]` is the JS env: wrapped in the
      ports once per request);
    - one `api-call` data point per HTTP request, written straight to the worker's own dataset
      when the response starts (500 when it never did);
    - an exception nothing else handled answered with the 500 envelope and not re-raised (Starlette
      re-raises after its own 500, and uvicorn would then close the connection, dropping the next
      request a client had queued on it).
    """

    def __init__(self, app: Any, worker: str) -> None:
        self.app = app
        self.worker = worker

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and not isinstance(scope.get("env"), Env):
            from hoox_edge.cloudflare.env import wrap_env  # only on Cloudflare

            scope["env"] = wrap_env(scope.get("env"), self.worker)
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        started_ms = clock.now_ms()
        status: int | None = None

        async def watch(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start" and status is None:
                status = int(message["status"])
                self._record(scope, status, started, started_ms)
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if status is not None:
                # Starlette re-raises after sending its 500 envelope, or a stream broke off: the
                # server closes an unfinished response itself, which is right for a cut stream.
                _py.debug("%s: %s after the response started on %s", self.worker, type(exc).__name__,
                          safe_path(scope))
                return
            _py.error("%s: unhandled %s on %s", self.worker, type(exc).__name__, safe_path(scope))
            message = f"Internal error in {self.worker} ({type(exc).__name__})."
            body = json.dumps(error_body(INTERNAL_ERROR, message, scope.get("hoox.request_id"))).encode("utf-8")
            await watch({"type": "http.response.start", "status": 500,
                         "headers": [(b"content-type", b"application/json"),
                                     (b"content-length", str(len(body)).encode("latin-1"))]})
            await send({"type": "http.response.body", "body": body, "more_body": False})
        except BaseException:
            if status is None:
                self._record(scope, 500, started, started_ms)  # cancelled before it answered
            raise

    def _record(self, scope: dict, status: int, started: float, started_ms: int) -> None:
        env = scope.get("env")
        dataset = env.get("ANALYTICS_ENGINE") if isinstance(env, Env) else None
        if dataset is None:
            return
        rid = scope.get("hoox.request_id") or request_id_of(Request(scope))
        try:
            dataset.write_data_point(**api_call_point(
                self.worker, safe_path(scope), status, (time.perf_counter() - started) * 1000, rid, started_ms))
        except Exception as exc:  # telemetry must never fail the request it describes
            _py.warning("%s: api-call data point not written (%s)", self.worker, type(exc).__name__)


def make_app(worker: str, routes: Sequence[BaseRoute]) -> Any:
    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc, request_id_of(request))

    async def on_not_found(request: Request, exc: Exception) -> JSONResponse:
        code = getattr(exc, "status_code", 404)
        msg, err = ("No such route.", NOT_FOUND) if code == 404 else ("Method not allowed on this route.",
                                                                      METHOD_NOT_ALLOWED)
        where = mask_key_like(f"{request.method} {safe_path(request.scope, 80)}")
        return JSONResponse(error_body(err, f"{msg} ({where})", request_id_of(request)), status_code=code)

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        # Log the type only: exception text can carry request data.
        _py.error("%s: unhandled %s on %s", worker, type(exc).__name__, safe_path(request.scope))
        return JSONResponse(error_body(INTERNAL_ERROR, f"Internal error in {worker} ({type(exc).__name__}).",
                                       request_id_of(request)), status_code=500)

    app = Starlette(
        routes=list(routes),
        exception_handlers={ApiError: on_api_error, 404: on_not_found, 405: on_not_found, Exception: on_crash},
    )
    return _Boundary(app, worker)
