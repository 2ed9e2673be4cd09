"""The ASGI app every worker is built on (Starlette: small, fast to import, runs on Cloudflare).

It puts the worker's `Env` in reach (`env_of(request)`), turns `ApiError` into the standard
envelope, and turns any other exception into a 500 that shows no traceback and no secret.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute

from hoox_edge.ports import Env
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
    return _EnvMiddleware(app, worker)
