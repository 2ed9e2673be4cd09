"""`/v1/agent/*` of the operator API: the AI gateway's routes of agent-worker, reached through its
service binding with the internal key (the operator's token is checked first, by the route).

The answer is read from the binding as a stream: a chat's SSE (`text/event-stream`) is relayed chunk
by chunk as agent-worker sends it, so the operator sees tokens as they arrive; an operator who goes
closes the binding's stream, which ends agent-worker's answer and its upstream provider call. Any
other answer is read whole and passed on.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from starlette.requests import Request
from starlette.responses import Response

from hoox_edge.ports import ServiceStream
from hoox_edge.shared.app import env_of, request_id_of
from hoox_edge.shared.auth import INTERNAL_HEADER, REQUEST_ID_HEADER
from hoox_edge.shared.bodies import read_body
from hoox_edge.shared.errors import NOT_FOUND, ApiError
from hoox_edge.shared.streaming import EventStreamResponse

# The AI gateway's routes (hoox_edge.ai.routes); the risk manager's are /v1/risk*.
ROUTES = frozenset({"chat", "reasoning", "vision", "embedding", "models", "test-model", "health", "usage",
                    "prompts", "ai-config"})
MAX_FORWARD_BYTES = 28 * 1024 * 1024  # the largest image agent:config allows (20 MB) in base64
ANSWER_TIMEOUT = 300  # seconds until agent-worker's answer starts (a provider chain with retries)


async def _relay(upstream: ServiceStream) -> AsyncGenerator[bytes, None]:
    try:
        async for chunk in upstream:
            yield chunk
    finally:  # the end, or the operator went: either way the binding's stream is done with
        await upstream.aclose()


async def forward(request: Request) -> Response:
    rest = request.path_params["rest"]
    if rest not in ROUTES:
        raise ApiError(404, NOT_FOUND, f"No AI route /v1/agent/{rest[:40]} (routes: {', '.join(sorted(ROUTES))}).")
    env = env_of(request)
    body = await read_body(request, limit=MAX_FORWARD_BYTES) if request.method == "POST" else b""
    query = request.url.query
    headers = {INTERNAL_HEADER: env.get("INTERNAL_KEY_BINDING") or "", REQUEST_ID_HEADER: request_id_of(request),
               "content-type": request.headers.get("content-type", "application/json")}
    upstream = await env.AGENT_SERVICE.stream(request.method, f"/agent/{rest}" + (f"?{query}" if query else ""),
                                              body=body or None, headers=headers, timeout=ANSWER_TIMEOUT)
    media_type = upstream.headers.get("content-type", "application/json")
    if media_type.startswith("text/event-stream"):
        return EventStreamResponse(_relay(upstream), status_code=upstream.status)
    return Response(await upstream.read(), status_code=upstream.status, media_type=media_type)
