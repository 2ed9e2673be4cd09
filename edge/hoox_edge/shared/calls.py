"""Internal calls between workers: the envelope, the internal key and the request id."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from hoox_edge.ports import Env, ServiceResponse
from hoox_edge.shared.auth import INTERNAL_HEADER, REQUEST_ID_HEADER
from hoox_edge.shared.telemetry import Event, data_point

_py = logging.getLogger("hoox.edge")


async def call(env: Env, binding: str, method: str, path: str, *, request_id: str | None,
               payload: Any = None, timeout: float | None = None, raw_body: Any = None) -> ServiceResponse:
    """Call another worker through a service binding with `{"requestId", "payload"}` (or `raw_body`)."""
    headers = {INTERNAL_HEADER: env.get("INTERNAL_KEY_BINDING") or "", "Content-Type": "application/json"}
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    body = raw_body if raw_body is not None else (
        {"requestId": request_id, "payload": payload} if method.upper() != "GET" else None)
    return await env.get(binding).fetch(method, path, json=body, headers=headers, timeout=timeout)


def envelope(resp: ServiceResponse) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(body, error, error.details as a dict) of another worker's envelope; empty dicts for what
    the answer does not hold (it may not even be JSON)."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return {}, {}, {}
    err = body.get("error")
    if not isinstance(err, dict):
        err = {}
    details = err.get("details")
    return body, err, details if isinstance(details, dict) else {}


async def best_effort(env: Env, binding: str, path: str, *, request_id: str | None, payload: Any) -> bool:
    """A side call (alert, telemetry) whose failure must not fail the caller; True when it succeeded."""
    if not env.has(binding):
        return False
    try:
        resp = await call(env, binding, "POST", path, request_id=request_id, payload=payload, timeout=5)
        return resp.status < 300
    except Exception as exc:
        _py.warning("%s %s via %s failed: %s", env.worker, path, binding, type(exc).__name__)
        return False


async def alert(env: Env, message: str, *, level: str = "info", request_id: str | None = None) -> bool:
    return await best_effort(env, "TELEGRAM_SERVICE", "/alert", request_id=request_id,
                             payload={"message": message, "level": level, "source": env.worker})


class _Drains:
    """The drains asked of one telegram-worker binding: one in flight at a time (`running`), and
    `asked`/`covered` counting the requests made / those a finished drain started after."""

    __slots__ = ("asked", "covered", "ok", "running")

    def __init__(self) -> None:
        self.asked = 0
        self.covered = 0
        self.ok = False
        self.running: asyncio.Future[None] | None = None


_DRAINS: weakref.WeakKeyDictionary[Any, _Drains] = weakref.WeakKeyDictionary()


async def drain_alerts(env: Env, *, request_id: str | None = None) -> bool:
    """Ask telegram-worker to route and send the alerts this worker wrote `raised` in its own batches
    (`alerts.outbox.raised_statement`), after those batches are committed. Like a group commit: a
    drain started after this request covers it, so while one is in flight the requests that arrive
    share the next one; a caller waits for at most two. True when the drain that covered it ran
    (what it could not send, or a drain that failed, is left to telegram-worker's cron)."""
    binding = env.get("TELEGRAM_SERVICE")
    if binding is None:
        return False
    try:
        drains = _DRAINS.setdefault(binding, _Drains())
    except TypeError:  # a binding that cannot be weakly referenced: no sharing
        drains = _Drains()
    drains.asked += 1
    mine = drains.asked
    while drains.covered < mine:
        if drains.running is not None:
            await asyncio.shield(drains.running)
            continue
        drains.running = asyncio.get_running_loop().create_future()
        covers = drains.asked
        try:
            drains.ok = await best_effort(env, "TELEGRAM_SERVICE", "/alert/drain", request_id=request_id, payload={})
        finally:
            drains.covered = max(drains.covered, covers)
            done, drains.running = drains.running, None
            done.set_result(None)
    return drains.ok


async def track(env: Env, kind: str, payload: dict[str, Any] | Event, *, request_id: str | None = None) -> bool:
    """A data point of `kind` (layout: `shared.telemetry`) written straight to the worker's own
    ANALYTICS_ENGINE binding — fire-and-forget, as on Cloudflare, so no service call waits on it;
    through analytics-worker (`/track/{kind}`) only for a worker without the binding. `payload`: the
    event's fields (this worker's name added), or the event made by the caller (its worker set)."""
    if isinstance(payload, dict):
        payload = {"worker": env.worker, **payload}
    dataset = env.get("ANALYTICS_ENGINE")
    if dataset is None:
        return await best_effort(env, "ANALYTICS_SERVICE", f"/track/{kind}", request_id=request_id, payload=(
            payload if isinstance(payload, dict) else {k: v for k, v in vars(payload).items() if v is not None}))
    try:
        dataset.write_data_point(**data_point(kind, payload, request_id or ""))
        return True
    except Exception as exc:  # telemetry must never fail what it describes
        _py.warning("%s: %s data point not written (%s)", env.worker, kind, type(exc).__name__)
        return False
