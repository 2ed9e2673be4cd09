"""agent-worker: the risk manager (trailing stops, take-profits, the daily drawdown kill switch).

Routes (internal: `X-Internal-Auth-Key`):
- `POST /agent/run`: one run of the risk loop now, whatever the interval (`hoox_edge.risk.manager`);
  answers the run: positions seen, actions with their request ids, errors, reconciliation;
- `GET /agent/status`: per open position its stop, next target and distance to the stop; today's
  drawdown per book and exchange against the limit; the last run and its age; the open
  reconciliation issues (`hoox_edge.risk.surface.status`, the same as the gateway's `/v1/risk`);
- `GET /agent/config`, `POST /agent/config` `{"values": {key: value | null}}`: the risk settings,
  written through the KV manifest's validation (all or nothing);
- `POST /agent/risk-override` `{"action": "engage" | "release", "reason"}`: the kill switch, by the
  operator, recorded;
- `GET /health`: what this worker serves (the risk manager) and its last run;
- `GET /agent/memory`: the desk memory (`hoox_edge.ai.memory`): fills embedded, pending, failing;
  `POST /agent/memory/sync`: catch up now (the cron does it every minute).

The AI gateway of the seeds (`/agent/chat`, `/agent/vision`, `/agent/reasoning`, `/agent/embedding`,
`/agent/models`, `/agent/test-model`, `/agent/health`, `/agent/usage`, `/agent/prompts`,
`/agent/ai-config`): `hoox_edge.ai.routes`, on the providers' fallback chain (`hoox_edge.ai.chain`).

The cron fires every minute; a run starts when KV `agent:risk_interval_minutes` (default 5) have
passed since the last one began; then the desk memory embeds the fills that arrived since.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hoox_edge.ai import chain, memory
from hoox_edge.ai import routes as ai_routes
from hoox_edge.operator.params import Params, json_object
from hoox_edge.ports import Env
from hoox_edge.risk import manager, surface
from hoox_edge.shared import logs
from hoox_edge.shared.app import env_of, make_app, request_id_of
from hoox_edge.shared.auth import require_internal
from hoox_edge.shared.errors import ok

WORKER = "agent-worker"
FEATURES = {"riskManager": "available", "aiGateway": "available", "deskAssistant": "available"}


async def run_now(request: Request) -> JSONResponse:
    require_internal(request)
    result = await manager.run(env_of(request), trigger="manual")
    return ok(result.as_dict())


async def status(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    return ok(await surface.status(env_of(request)), request_id=request_id_of(request))


async def config_get(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    return ok(await surface.config(env_of(request)), request_id=request_id_of(request))


async def config_set(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    body = await json_object(request, "values", required=("values",))
    rid = request_id_of(request)
    return ok(await surface.set_config(env_of(request), body["values"], request_id=rid, by="operator"),
              request_id=rid)


async def risk_override(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    body = await json_object(request, "action", "reason", required=("action", "reason"))
    rid = request_id_of(request)
    return ok(await surface.override(env_of(request), body["action"], body["reason"], request_id=rid),
              request_id=rid)


async def health(request: Request) -> JSONResponse:
    env = env_of(request)
    last: dict[str, Any] | None = None
    checks: dict[str, str] = {}
    try:
        row = await manager.last_run(env)
        checks["db"] = "ok"
        if row is not None:
            last = {"id": row["id"], "status": row["status"], "startedAt": row["started_at"],
                    "durationMs": row["duration_ms"], "positionsSeen": row["positions_seen"],
                    "actions": row["actions"], "errors": row["errors"]}
    except Exception as exc:
        checks["db"] = f"error ({type(exc).__name__})"
    healthy = all(v == "ok" for v in checks.values())
    return JSONResponse({"success": healthy, "status": "ok" if healthy else "degraded", "worker": WORKER,
                         "features": FEATURES, "intervalMinutes": await manager.interval_minutes(env),
                         "lastRun": last, "checks": checks}, status_code=200 if healthy else 503)




async def scheduled(cron: str, env: Env) -> None:
    """Every minute: a run of the risk loop when one is due (`agent:risk_interval_minutes`), then the
    desk memory catches up with the fills (after the risk run, whatever it did: a failure to embed
    is retried later and never touches a trade)."""
    try:
        await manager.run(env, trigger="cron")
    finally:
        await sync_memory(env)


async def sync_memory(env: Env) -> dict[str, Any]:
    """The desk memory's catch-up; its failures are logged (and retried), never raised."""
    try:
        first = chain.embedders(env, await chain.load_config(env))
        result = await memory.sync(env, chain.embed, first[0].embedding_model if first else None)
    except Exception as exc:
        result = {"available": True, "embedded": 0, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    if result.get("error"):
        await logs.log(env, "warning", "desk memory: fills not embedded yet, tried again later",
                       details={"error": result["error"], "embedded": result["embedded"]})
    return result


async def memory_status(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    return ok(await memory.status(env_of(request)), request_id=request_id_of(request))


async def memory_sync(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    env = env_of(request)
    return ok(await sync_memory(env) | {"status": await memory.status(env)}, request_id=request_id_of(request))


app = make_app(WORKER, [
    Route("/health", health, methods=["GET"]),
    Route("/agent/run", run_now, methods=["POST"]),
    Route("/agent/status", status, methods=["GET"]),
    Route("/agent/config", config_get, methods=["GET"]),
    Route("/agent/config", config_set, methods=["POST"]),
    Route("/agent/risk-override", risk_override, methods=["POST"]),
    Route("/agent/memory", memory_status, methods=["GET"]),
    Route("/agent/memory/sync", memory_sync, methods=["POST"]),
    *ai_routes.ROUTES,
])
