"""The operator's view of each worker of the catalog: health, traffic, Durable Objects, logs.

- **status** comes from the worker's `/health`, called through the gateway's service binding to it
  (2 s budget): `online` (200), `degraded` (answered, not 200), `offline` (not running locally,
  unreachable or no answer in time; `error` says which). The gateway itself is `online`: it is
  answering this request.
- **requests / errors / latency** come from the `api-call` data points every worker writes for
  each request it serves (`shared/app.py`), read through analytics-worker's `/query` (the
  Analytics Engine SQL API on Cloudflare). Windows: the last 5 minutes and the last hour.
  `errors` counts responses with status ≥ 500 (the worker failed); `clientErrors` those with
  400–499 (the caller's fault, not the edge's), of which `refused` are 401/403: callers turned
  away (a wrong operator token, an IP not allowed). A refused caller is never an edge error.
  p50/p95 are nearest-rank percentiles of the latency (ms until the response headers were
  sent), each data point weighted by its `_sample_interval` (Cloudflare samples; locally 1).
- **uptime** (local runtime): seconds since the runtime opened; every worker starts with it.
  Cloudflare does not tell a worker when its isolates started, so there it is null.
- **Durable Objects** (local runtime): objects with storage and the next alarm of each class the
  worker defines. Cloudflare does not list a namespace's objects to a worker: null there.
- **CPU** (local runtime): CPU time each invocation of the worker cost (HTTP requests, cron runs,
  queue batches), measured by the runtime around the handler (`local/usage.py`): p50/p95 ms and the
  share of one core over the last 5 minutes. On Cloudflare a worker cannot read this: the core reads
  it from Cloudflare's GraphQL Analytics API with the account token (`hoox_cli/core/cf_usage.py`).
- **memory** (local runtime): the resident memory of the one process that serves every worker, so
  the same figure on every worker (there is no per-worker figure). Cloudflare does not report memory.
- **signals processed**: hoox: `trade_signals` received by webhook; email-worker and
  telegram-worker: `trade_signals` of their source; trade-worker: `trades` rows (one per signal
  it executed or tried to). Null for workers that do not process signals.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from hoox_edge import catalog
from hoox_edge.operator import shapes
from hoox_edge.ports import Env
from hoox_edge.shared import calls, clock

HEALTH_BUDGET_S = 2.0  # the design's budget for one worker's /health: the gateway's and the operator API's probes
GATEWAY = "hoox"
WINDOWS = (("5m", 300), ("1h", 3600))
RECENT_LOGS = 20
_SIGNAL_SOURCES = {"hoox": "webhook", "email-worker": "email", "telegram-worker": "telegram"}


def service_binding_to(env: Env, worker: str) -> str | None:
    """The name of the gateway's service binding to `worker`, if it has one."""
    for b in catalog.worker(env.worker).bindings_of("service"):
        if b.resource == worker and env.has(b.name):
            return b.name
    return None


async def probe(env: Env, worker: str) -> shapes.WorkerHealth:
    """`{"name", "status", "latencyMs", "error", "features"}` of one worker's `/health` (`features`: see
    `features_of`; only for a worker that answered 200)."""
    if worker == env.worker:
        return {"name": worker, "status": "online", "latencyMs": None, "error": None, "features": "available"}
    info = env.get("RUNTIME_INFO")
    if info is not None and not info.running(worker):
        return {"name": worker, "status": "offline", "latencyMs": None,
                "error": "not running in this local runtime (enable it in hoox.toml)"}
    binding = service_binding_to(env, worker)
    if binding is None:
        return {"name": worker, "status": "offline", "latencyMs": None,
                "error": f"{env.worker} has no service binding to {worker}"}
    started = time.perf_counter()
    try:
        resp = await call_health(env, binding)
    except TimeoutError:
        return {"name": worker, "status": "offline", "latencyMs": round((time.perf_counter() - started) * 1000, 2),
                "error": f"no answer within {HEALTH_BUDGET_S:g} s"}
    except Exception as exc:
        return {"name": worker, "status": "offline", "latencyMs": round((time.perf_counter() - started) * 1000, 2),
                "error": (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:300]}
    latency = round((time.perf_counter() - started) * 1000, 2)
    if resp.status == 200:
        return {"name": worker, "status": "online", "latencyMs": latency, "error": None,
                "features": features_of(resp)}
    return {"name": worker, "status": "degraded", "latencyMs": latency,
            "error": f"/health answered {resp.status}: {resp.text()[:200]}"}


async def call_health(env: Env, binding: str) -> Any:
    """A worker's `/health` through the service binding `binding`, within HEALTH_BUDGET_S (TimeoutError
    past it): the one way the edge probes a worker (the operator API's status, the gateway's /health)."""
    return await asyncio.wait_for(
        calls.call(env, binding, "GET", "/health", request_id=None, timeout=HEALTH_BUDGET_S),
        HEALTH_BUDGET_S + 0.1)


def features_of(resp: Any) -> shapes.Features:
    """What a worker that answered its `/health` serves, as it says there: `not available` (a worker
    whose features are not built: `"features": "not available in this version"`), `partial` (some
    of its features are: `"features": {"name": "available" | "not available ..."}`) or `available`."""
    try:
        body = resp.json()
    except ValueError:
        return "available"
    declared = body.get("features") if isinstance(body, dict) else None
    if isinstance(declared, str) and declared.startswith("not available"):
        return "not available"
    if isinstance(declared, dict) and declared:
        built = [v == "available" for v in declared.values()]
        return "available" if all(built) else "partial" if any(built) else "not available"
    return "available"


async def probe_all(env: Env) -> list[shapes.WorkerHealth]:
    return list(await asyncio.gather(*(probe(env, w.name) for w in catalog.WORKERS)))


# --------------------------------------------------------------------------- traffic
def _ae_time(ts: float) -> str:
    """A time as Analytics Engine's SQL shows `timestamp` ('YYYY-MM-DD HH:MM:SS', UTC)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def percentile(points: list[tuple[float, float]], p: float) -> float | None:
    """Nearest-rank percentile of (value, weight) points: the smallest value with at least p % of
    the total weight at or below it."""
    if not points:
        return None
    ordered = sorted(points)
    total = sum(w for _, w in ordered)
    need = p / 100 * total
    acc = 0.0
    for value, weight in ordered:
        acc += weight
        if acc >= need - 1e-9:
            return value
    return ordered[-1][0]


def window_figures(points: list[tuple[float, float, float, float]], since: float) -> shapes.WindowFigures:
    """Figures of (epoch, latency, status, weight) points at or after `since`."""
    inside = [p for p in points if p[0] >= since]
    lat = [(p[1], p[3]) for p in inside]
    return {
        "requests": int(sum(p[3] for p in inside)),
        "errors": int(sum(p[3] for p in inside if p[2] >= 500)),
        "clientErrors": int(sum(p[3] for p in inside if 400 <= p[2] < 500)),
        "refused": int(sum(p[3] for p in inside if p[2] in (401, 403))),
        "p50Ms": percentile(lat, 50),
        "p95Ms": percentile(lat, 95),
    }


def _epoch(ts: Any) -> float:
    text = str(ts).replace("T", " ").rstrip("Z")[:19]
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


async def traffic(env: Env) -> tuple[dict[str, dict[str, shapes.WindowFigures]], str | None]:
    """Per worker `{"5m": figures, "1h": figures}`, and an error when analytics could not be read."""
    now = clock.now()
    longest = max(s for _, s in WINDOWS)
    query = ("SELECT blob2 AS worker, double1 AS latency, double2 AS status, _sample_interval AS weight, "
             "timestamp FROM hoox_telemetry WHERE blob1 = ? AND blob5 = ? AND timestamp >= ?")
    if not env.has("ANALYTICS_SERVICE"):
        return {}, f"{env.worker} has no binding to analytics-worker"
    try:
        resp = await calls.call(env, "ANALYTICS_SERVICE", "POST", "/query", request_id=None,
                                payload={"query": query, "params": ["api-call", "http", _ae_time(now - longest)]},
                                timeout=HEALTH_BUDGET_S * 2)
    except Exception as exc:
        return {}, f"analytics-worker unreachable ({type(exc).__name__}: {exc})"[:300]
    body = resp.json() if resp.body else None
    if resp.status != 200 or not isinstance(body, dict):
        err = (body or {}).get("error") if isinstance(body, dict) else None
        msg = err.get("message") if isinstance(err, dict) else resp.text()[:200]
        return {}, f"analytics-worker /query answered {resp.status}: {msg}"
    per_worker: dict[str, list[tuple[float, float, float, float]]] = {}
    for r in body.get("results") or []:
        per_worker.setdefault(str(r["worker"]), []).append(
            (_epoch(r["timestamp"]), float(r["latency"]), float(r["status"]), float(r.get("weight") or 1)))
    out: dict[str, dict[str, shapes.WindowFigures]] = {}
    for w in catalog.WORKERS:
        pts = per_worker.get(w.name, [])
        # Analytics timestamps have whole seconds: a point of this very second counts in every window.
        out[w.name] = {name: window_figures(pts, int(now - seconds)) for name, seconds in WINDOWS}
    return out, None


# --------------------------------------------------------------------------- latency history
# `GET /v1/workers/{name}/latency?window=&buckets=`: the same api-call points as the traffic figures,
# cut into equal time buckets, so the history is the edge's (it survives a cockpit restart).
HISTORY_WINDOWS = {"15m": 900, "1h": 3600, "6h": 21600, "24h": 86400}
MAX_BUCKETS = 120
DEFAULT_BUCKETS = 60
HISTORY_MAX_POINTS = 200_000  # rows read for one history; beyond it the oldest are left out (said so)


def bucket_figures(points: list[tuple[float, float, float, float]], start: float, width: float,
                   count: int) -> list[shapes.LatencyBucket]:
    """`count` buckets of `width` seconds from `start`: requests, errors (≥ 500), p50/p95 (null when
    a bucket has no request) of the (epoch, latency, status, weight) points in each."""
    inside: list[list[tuple[float, float, float, float]]] = [[] for _ in range(count)]
    for p in points:
        i = int((p[0] - start) // width)
        if 0 <= i < count:
            inside[i].append(p)
    out: list[shapes.LatencyBucket] = []
    for i, pts in enumerate(inside):
        lat = [(p[1], p[3]) for p in pts]
        out.append({"start": clock.iso(start + i * width),
                    "requests": int(sum(p[3] for p in pts)),
                    "errors": int(sum(p[3] for p in pts if p[2] >= 500)),
                    "p50Ms": percentile(lat, 50), "p95Ms": percentile(lat, 95)})
    return out


async def latency_history(env: Env, worker: str, window: str, buckets: int) -> shapes.LatencyHistory:
    """Per-bucket request counts and latency percentiles of `worker` over `window`. Buckets are
    aligned to multiples of their width (UTC), the last one holding now; when analytics cannot be
    read the answer says so (`available: false`, `error`) and has no buckets."""
    seconds = HISTORY_WINDOWS[window]
    width = max(1, -(-seconds // buckets))  # whole seconds: Analytics timestamps have no fraction
    now = clock.now()
    start = (int(now) // width + 1) * width - width * buckets
    out: shapes.LatencyHistory = {"worker": worker, "window": window, "bucketSeconds": width,
                           "from": clock.iso(start), "to": clock.iso(start + width * buckets),
                           "available": False, "error": None, "truncated": False, "buckets": []}
    if not env.has("ANALYTICS_SERVICE"):
        out["error"] = f"{env.worker} has no binding to analytics-worker"
        return out
    query = ("SELECT double1 AS latency, double2 AS status, _sample_interval AS weight, timestamp "
             "FROM hoox_telemetry WHERE blob1 = ? AND blob5 = ? AND blob2 = ? AND timestamp >= ? "
             "ORDER BY timestamp DESC LIMIT ?")
    try:
        resp = await calls.call(env, "ANALYTICS_SERVICE", "POST", "/query", request_id=None,
                                payload={"query": query, "params": ["api-call", "http", worker, _ae_time(start),
                                                                    HISTORY_MAX_POINTS]},
                                timeout=HEALTH_BUDGET_S * 2)
    except Exception as exc:
        out["error"] = f"analytics-worker unreachable ({type(exc).__name__}: {exc})"[:300]
        return out
    body = resp.json() if resp.body else None
    if resp.status != 200 or not isinstance(body, dict):
        err = (body or {}).get("error") if isinstance(body, dict) else None
        msg = err.get("message") if isinstance(err, dict) else resp.text()[:200]
        out["error"] = f"analytics-worker /query answered {resp.status}: {msg}"
        return out
    rows = body.get("results") or []
    points = [(_epoch(r["timestamp"]), float(r["latency"]), float(r["status"]), float(r.get("weight") or 1))
              for r in rows]
    out.update({"available": True, "truncated": len(rows) >= HISTORY_MAX_POINTS,
                "buckets": bucket_figures(points, start, width, buckets)})
    return out


# --------------------------------------------------------------------------- ledger figures
async def signals_processed(env: Env, worker: str) -> int | None:
    if worker == "trade-worker":
        return int(await env.DB.prepare("SELECT COUNT(*) AS n FROM trades").first("n") or 0)
    source = _SIGNAL_SOURCES.get(worker)
    if source is None:
        return None
    return int(await env.DB.prepare("SELECT COUNT(*) AS n FROM trade_signals WHERE source = ?")
               .bind(source).first("n") or 0)


async def recent_logs(env: Env, worker: str, limit: int = RECENT_LOGS) -> list[shapes.LogEntry]:
    rows = (await env.DB.prepare(
        "SELECT id, created_at, level, worker, request_id, message, details FROM system_logs "
        "WHERE worker = ? ORDER BY id DESC LIMIT ?").bind(worker, limit).all())["results"]
    from hoox_edge.operator.rows import log_item

    return [log_item(r) for r in rows]


async def durable_objects(env: Env, w: catalog.Worker) -> list[shapes.DurableObjectInfo]:
    info = env.get("RUNTIME_INFO")
    out: list[shapes.DurableObjectInfo] = []
    for d in w.durable_objects:
        if info is None:
            out.append({"className": d.class_name, "instances": None, "nextAlarm": None,
                        "pendingAlarms": None,
                        "note": "Cloudflare does not list a namespace's objects to a worker"})
            continue
        s = await info.durable_objects(d.class_name)
        nxt = s["nextAlarmMs"]
        out.append({"className": d.class_name, "instances": s["instances"],
                    "nextAlarm": clock.iso(nxt / 1000) if nxt is not None else None,
                    "pendingAlarms": s["pendingAlarms"], "note": None})
    return out


def uptime(env: Env, worker: str) -> tuple[float | None, str | None]:
    info = env.get("RUNTIME_INFO")
    if info is None:
        return None, "Cloudflare does not expose when a worker's isolates started"
    if not info.running(worker):
        return None, "not running in this local runtime"
    started = info.started_at()
    if started is None:
        return None, "the local runtime has not started"
    return round(max(0.0, clock.now() - started), 3), None


CPU_WINDOW = ("5m", 300)
CLOUDFLARE_CPU_NOTE = ("a worker cannot read its CPU time on Cloudflare: it comes from Cloudflare's "
                       "GraphQL Analytics API, read with the account token")
MEMORY_NOTE = "one process serves every worker: this is the whole runtime's resident memory"
CLOUDFLARE_MEMORY_NOTE = "not reported by Cloudflare"


def cpu_figures(env: Env, worker: str) -> tuple[shapes.CpuFigures | None, str | None]:
    """CPU per invocation of `worker` over the last 5 minutes (or since the runtime started, if later)."""
    info = env.get("RUNTIME_INFO")
    if info is None:
        return None, CLOUDFLARE_CPU_NOTE
    if not info.running(worker):
        return None, "not running in this local runtime"
    now = clock.now()
    name, seconds = CPU_WINDOW
    samples = info.cpu_samples(worker, now - seconds)
    started = info.started_at()
    span = min(float(seconds), now - started) if started is not None else float(seconds)
    ms = [(s * 1000, 1.0) for _, s in samples]
    p50, p95 = percentile(ms, 50), percentile(ms, 95)
    return {"source": "local runtime", "window": name, "invocations": len(samples),
            "p50Ms": None if p50 is None else round(p50, 3), "p95Ms": None if p95 is None else round(p95, 3),
            "coreShare": round(sum(s for _, s in samples) / span, 6) if span > 0 else None}, None


def memory_figures(env: Env, worker: str, *, history: bool) -> tuple[shapes.MemoryFigures | None, str | None]:
    info = env.get("RUNTIME_INFO")
    if info is None:
        return None, CLOUDFLARE_MEMORY_NOTE
    if not info.running(worker):
        return None, "not running in this local runtime"
    samples = info.memory_samples()
    if not samples:
        return None, "the resident memory cannot be read on this platform (no /proc/self/statm)"
    return {"scope": "process", "rssBytes": samples[-1][1], "note": MEMORY_NOTE,
            "samples": [{"t": clock.iso(t), "rssBytes": b} for t, b in samples] if history else []}, None


def bindings_of(w: catalog.Worker) -> list[shapes.BindingInfo]:
    return [{"name": b.name, "kind": b.kind, "resource": b.resource} for b in w.bindings]


async def detail(env: Env, w: catalog.Worker, health: shapes.WorkerHealth,
                 figures: dict[str, shapes.WindowFigures] | None, traffic_error: str | None, *,
                 logs: bool) -> shapes.WorkerDetail:
    up, up_note = uptime(env, w.name)
    cpu, cpu_note = cpu_figures(env, w.name)
    memory, memory_note = memory_figures(env, w.name, history=logs)
    out: shapes.WorkerDetail = {
        "name": w.name,
        "description": w.description,
        "status": health["status"],
        "healthLatencyMs": health["latencyMs"],
        "healthError": health["error"],
        "features": health.get("features"),
        "uptimeSeconds": up,
        "uptimeNote": up_note,
        "traffic": figures,
        "trafficError": traffic_error,
        "signalsProcessed": await signals_processed(env, w.name),
        "durableObjects": await durable_objects(env, w),
        "bindings": bindings_of(w),
        "crons": list(w.crons),
        "public": w.public,
        "cpu": cpu,
        "cpuNote": cpu_note,
        "memory": memory,
        "memoryNote": memory_note,
    }
    if logs:
        out["recentLogs"] = await recent_logs(env, w.name)
    return out
