"""report-worker: twice-daily P&L reports — a later issue. This version says so instead of pretending.

`GET /health` answers ok with `"features": "not available in this version"`; `/report`, `/report/...` answer
501 NOT_AVAILABLE (after the internal-key check, like every internal route).
`scheduled` writes an info system_logs row saying the cron fired and what it did not do.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hoox_edge.ports import Env
from hoox_edge.shared.app import make_app
from hoox_edge.shared.auth import require_internal
from hoox_edge.shared.errors import NOT_AVAILABLE, ApiError
from hoox_edge.shared.logs import log

WORKER = "report-worker"
NOT_AVAILABLE_MESSAGE = "P&L reports (/report) are not available in this version of hoox."


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"success": True, "status": "ok", "worker": WORKER,
                         "features": "not available in this version", "message": NOT_AVAILABLE_MESSAGE})


async def not_available(request: Request) -> JSONResponse:
    require_internal(request)
    raise ApiError(501, NOT_AVAILABLE, NOT_AVAILABLE_MESSAGE)


async def scheduled(cron: str, env: Env) -> None:
    """Record that the cron fired and that it did nothing, so the operator is never misled."""
    await log(env, "info",
              f"{WORKER} cron {cron} fired: P&L reports are not available in this version, so no "
              "report was written or sent.",
              details={"cron": cron, "features": "not available in this version"})


_ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]

app = make_app(WORKER, [
    Route("/health", health, methods=["GET"]),
    Route("/report", not_available, methods=_ANY),
    Route("/report/{rest:path}", not_available, methods=_ANY),
])
