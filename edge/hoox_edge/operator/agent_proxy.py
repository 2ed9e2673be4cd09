"""`/v1/agent/*` of the operator API: the AI gateway's routes of agent-worker, reached through its
service binding with the internal key (the operator's token is checked first, by the route).

The service binding hands over a whole answer, so a chat's SSE arrives in one piece through this
door; agent-worker's own /agent/chat streams token by token.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hoox_edge.shared.app import env_of, request_id_of
from hoox_edge.shared.auth import INTERNAL_HEADER, REQUEST_ID_HEADER
from hoox_edge.shared.bodies import read_body
from hoox_edge.shared.errors import NOT_FOUND, ApiError

# The AI gateway's routes (hoox_edge.ai.routes); the risk manager's are /v1/risk*.
ROUTES = frozenset({"chat", "reasoning", "vision", "embedding", "models", "test-model", "health", "usage",
                    "prompts", "ai-config"})
MAX_FORWARD_BYTES = 28 * 1024 * 1024  # the largest image agent:config allows (20 MB) in base64


async def forward(request: Request) -> Response:
    rest = request.path_params["rest"]
    if rest not in ROUTES:
        raise ApiError(404, NOT_FOUND, f"No AI route /v1/agent/{rest[:40]} (routes: {', '.join(sorted(ROUTES))}).")
    env = env_of(request)
    body = await read_body(request, limit=MAX_FORWARD_BYTES) if request.method == "POST" else b""
    query = request.url.query
    headers = {INTERNAL_HEADER: env.get("INTERNAL_KEY_BINDING") or "", REQUEST_ID_HEADER: request_id_of(request),
               "content-type": request.headers.get("content-type", "application/json")}
    resp = await env.AGENT_SERVICE.fetch(request.method, f"/agent/{rest}" + (f"?{query}" if query else ""),
                                         body=body or None, headers=headers, timeout=300)
    return Response(resp.body, status_code=resp.status,
                    media_type=resp.headers.get("content-type", "application/json"))
