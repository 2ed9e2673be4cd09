"""email-worker: signals from e-mail — a later issue. This version says so instead of pretending.

`GET /health` answers ok with `"features": "not available in this version"`; `/email`, `/email/...` answer
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

WORKER = "email-worker"
NOT_AVAILABLE_MESSAGE = "Signals from e-mail (/email) are not available in this version of hoox."


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"success": True, "status": "ok", "worker": WORKER,
                         "features": "not available in this version", "message": NOT_AVAILABLE_MESSAGE})


async def not_available(request: Request) -> JSONResponse:
    require_internal(request)
    raise ApiError(501, NOT_AVAILABLE, NOT_AVAILABLE_MESSAGE)


async def scheduled(cron: str, env: Env) -> None:
    """Record that the cron fired and that it did nothing, so the operator is never misled."""
    await log(env, "info",
              f"{WORKER} cron {cron} fired: e-mail signals are not available in this version, so no "
              "mailbox was read and no signal was taken.",
              details={"cron": cron, "features": "not available in this version"})


_ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]

app = make_app(WORKER, [
    Route("/health", health, methods=["GET"]),
    Route("/email", not_available, methods=_ANY),
    Route("/email/{rest:path}", not_available, methods=_ANY),
])
