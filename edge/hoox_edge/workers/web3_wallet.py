"""web3-wallet-worker: on-chain swaps (DEX) — a later issue. This version says so instead of pretending.

`GET /health` answers ok with `"features": "not available in this version"`; `/dex`, `/dex/...` answer
501 NOT_AVAILABLE (after the internal-key check, like every internal route).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hoox_edge.shared.app import make_app
from hoox_edge.shared.auth import require_internal
from hoox_edge.shared.errors import NOT_AVAILABLE, ApiError

WORKER = "web3-wallet-worker"
NOT_AVAILABLE_MESSAGE = "On-chain swaps (/dex) are not available in this version of hoox."


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"success": True, "status": "ok", "worker": WORKER,
                         "features": "not available in this version", "message": NOT_AVAILABLE_MESSAGE})


async def not_available(request: Request) -> JSONResponse:
    require_internal(request)
    raise ApiError(501, NOT_AVAILABLE, NOT_AVAILABLE_MESSAGE)


_ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]

app = make_app(WORKER, [
    Route("/health", health, methods=["GET"]),
    Route("/dex", not_available, methods=_ANY),
    Route("/dex/{rest:path}", not_available, methods=_ANY),
])
