"""The ASGI app every worker is built on (Starlette: small, fast to import, runs on Cloudflare).

It puts the worker's `Env` in reach (`env_of(request)`), turns `ApiError` into the standard
envelope, turns any other exception into a 500 that shows no traceback and no secret, and records
every HTTP request as an `api-call` data point in the worker's own `ANALYTICS_ENGINE` dataset
(the operator API's request counts and latency percentiles are computed from these).

`api-call` data point written per request (the layout of analytics-worker's `/track/api-call`,
plus blob5 naming this recorder, so per-worker figures count only these points and never an
`api-call` an outside caller posts to analytics-worker):

    blob1 "api-call", blob2 worker, blob3 path, blob4 "ok" (status < 400) | "error", blob5 "http"
    double1 latency ms (until the response headers are sent: a stream counts its time to first byte),
    double2 HTTP status, double3 1 | 0 (as blob4)
    index1 the request id
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute

from hoox_edge.ports import Env, index_of
from hoox_edge.shared.auth import REQUEST_ID_HEADER
from hoox_edge.shared.errors import INTERNAL_ERROR, NOT_FOUND, ApiError, error_body, error_response

_py = logging.getLogger("hoox.edge")


def env_of(request: Request) -> Env:
    return request.scope["env"]


def request_id_of(request: Request) -> str:
    """The caller's X-Request-Id, else a new one (kept on the request for the error handlers)."""
    rid = request.scope.get("hoox.request_id")
    if rid is None:
        rid = request.headers.get(REQUEST_ID_HEADER) or str(uuid.uuid4())
        request.scope["hoox.request_id"] = rid
    return rid


async def json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise ApiError(400, "VALIDATION_ERROR", "Request body must be JSON.") from None


def payload_of(body: Any) -> Any:
    """The `payload` of an internal `{"requestId", "payload"}` envelope."""
    if isinstance(body, dict) and "payload" in body:
        return body["payload"]
    raise ApiError(400, "VALIDATION_ERROR", 'Expected an envelope {"requestId": ..., "payload": {...}}.')


class _EnvMiddleware:
    """On Cloudflare `scope["env"]` is the JS env: wrap it in the ports once per request."""

    def __init__(self, app: Any, worker: str) -> None:
        self.app = app
        self.worker = worker

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and not isinstance(scope.get("env"), Env):
            from hoox_edge.cloudflare.env import wrap_env  # only on Cloudflare

            scope["env"] = wrap_env(scope.get("env"), self.worker)
        await self.app(scope, receive, send)


API_CALL = "api-call"
HTTP_RECORDER = "http"  # blob5 of the data points this middleware writes
_MAX_PATH = 256


def api_call_point(worker: str, path: str, status: int, latency_ms: float, request_id: str) -> dict[str, Any]:
    """The data point of one request (see the module docstring for the layout)."""
    ok = status < 400
    index = index_of(request_id)
    return {"blobs": [API_CALL, worker, path[:_MAX_PATH], "ok" if ok else "error", HTTP_RECORDER],
            "doubles": [round(latency_ms, 3), float(status), 1.0 if ok else 0.0], "indexes": [index]}


class _MetricsMiddleware:
    """One `api-call` data point per HTTP request, written straight to the worker's dataset."""

    def __init__(self, app: Any, worker: str) -> None:
        self.app = app
        self.worker = worker

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        recorded = False

        def record(status: int) -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            env = scope.get("env")
            dataset = env.get("ANALYTICS_ENGINE") if isinstance(env, Env) else None
            if dataset is None:
                return
            rid = (scope.get("hoox.request_id") or Headers(scope=scope).get(REQUEST_ID_HEADER)
                   or str(uuid.uuid4()))
            try:
                dataset.write_data_point(**api_call_point(
                    self.worker, scope.get("path", ""), status, (time.perf_counter() - started) * 1000, rid))
            except Exception as exc:  # telemetry must never fail the request it describes
                _py.warning("%s: api-call data point not written (%s)", self.worker, type(exc).__name__)

        async def send_and_record(message: dict) -> None:
            if message["type"] == "http.response.start":
                record(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        except BaseException:
            record(500)  # nothing was sent: the server answers 500
            raise


def make_app(worker: str, routes: Sequence[BaseRoute]) -> Any:
    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc, request_id_of(request))

    async def on_not_found(request: Request, exc: Exception) -> JSONResponse:
        code = getattr(exc, "status_code", 404)
        msg = "No such route." if code == 404 else "Method not allowed on this route."
        return JSONResponse(error_body(NOT_FOUND, f"{msg} ({request.method} {request.url.path})",
                                       request_id_of(request)), status_code=code)

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        # Log the type only: exception text can carry request data.
        _py.error("%s: unhandled %s on %s", worker, type(exc).__name__, request.url.path)
        return JSONResponse(error_body(INTERNAL_ERROR, f"Internal error in {worker} ({type(exc).__name__}).",
                                       request_id_of(request)), status_code=500)

    app = Starlette(
        routes=list(routes),
        exception_handlers={ApiError: on_api_error, 404: on_not_found, 405: on_not_found, Exception: on_crash},
    )
    return _EnvMiddleware(_MetricsMiddleware(app, worker), worker)
