"""Workers whose features come in a later issue: they say so instead of pretending.

`GET /health` answers ok with `"features": "not available in this version"`; the feature's routes
answer 501 NOT_AVAILABLE (after the internal-key check, like every internal route); a cron writes an
info system_logs row saying it fired and what it did not do, so the operator is never misled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hoox_edge.ports import Env
from hoox_edge.shared.app import make_app
from hoox_edge.shared.auth import require_internal
from hoox_edge.shared.errors import NOT_AVAILABLE, ApiError
from hoox_edge.shared.logs import log

_ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def unavailable_app(worker: str, prefix: str, message: str) -> Any:
    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"success": True, "status": "ok", "worker": worker,
                             "features": "not available in this version", "message": message})

    async def not_available(request: Request) -> JSONResponse:
        require_internal(request)
        raise ApiError(501, NOT_AVAILABLE, message)

    return make_app(worker, [
        Route("/health", health, methods=["GET"]),
        Route(prefix, not_available, methods=_ANY),
        Route(prefix + "/{rest:path}", not_available, methods=_ANY),
    ])


def unavailable_cron(worker: str, did_not: str) -> Callable[[str, Env], Awaitable[None]]:
    async def scheduled(cron: str, env: Env) -> None:
        await log(env, "info", f"{worker} cron {cron} fired: {did_not}",
                  details={"cron": cron, "features": "not available in this version"})

    return scheduled
