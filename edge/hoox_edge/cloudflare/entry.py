"""Builders of the classes each `edge/<worker>/entry.py` exports to Cloudflare's Python runtime.

    Default = entrypoint("trade-worker", WorkerEntrypoint)
    PaperExchange = durable_object("trade-worker", "PaperExchange", DurableObject)

`entrypoint` makes the `WorkerEntrypoint` subclass: `fetch` runs the worker's ASGI app (whose env
middleware wraps the JS env into the ports), `scheduled` and `queue` hand the cron string / the
wrapped batch and the wrapped env to the worker module's `scheduled(cron, env)` / `queue(batch, env)`.
`durable_object` makes the runtime's `DurableObject` subclass around the portable class of the
catalog: it builds the portable object with the wrapped ctx and env and forwards its public async
methods (RPC, in the format of `durable_objects.py`) and `alarm`. The runtime's own modules
(`workers`, `asgi`, `js`) are passed in or imported inside the handlers: they exist only there.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from hoox_edge import catalog
from hoox_edge.cloudflare.durable_objects import ObjectHost, make_impl, rpc_methods, serve_call
from hoox_edge.cloudflare.env import wrap_env
from hoox_edge.cloudflare.queues import CloudflareMessageBatch


def entrypoint(worker_name: str, base: type) -> type:
    """The `Default` class of a worker: `base` is `workers.WorkerEntrypoint`."""
    w = catalog.worker(worker_name)
    module = importlib.import_module(w.module)  # at import time, so it is in the deploy snapshot
    app = module.app
    on_cron = getattr(module, "scheduled", None)
    on_queue = getattr(module, "queue", None)

    async def fetch(self: Any, request: Any) -> Any:
        import asgi  # Cloudflare's ASGI bridge

        # ctx: workerd's bundled asgi keeps a streamed (SSE) response's app running with
        # ctx.waitUntil and refuses a text/event-stream response without it; the PyPI SDK ignores it.
        return await asgi.fetch(app, getattr(request, "js_object", request), self.env, self.ctx)

    namespace: dict[str, Any] = {"fetch": fetch, "__module__": _caller_module(base),
                                 "__doc__": f"Cloudflare entry of {w.name}: {w.description}."}

    if on_cron is not None:
        async def scheduled(self: Any, controller: Any, env: Any = None, ctx: Any = None) -> None:
            await on_cron(str(controller.cron), wrap_env(self.env, w.name))

        namespace["scheduled"] = scheduled
    elif w.crons:
        raise TypeError(f"{w.module} has no scheduled(cron, env) but the catalog gives {w.name} crons")

    if on_queue is not None:
        async def queue(self: Any, batch: Any, env: Any = None, ctx: Any = None) -> None:
            await on_queue(CloudflareMessageBatch(batch), wrap_env(self.env, w.name))

        namespace["queue"] = queue
    elif w.consumers:
        raise TypeError(f"{w.module} has no queue(batch, env) but the catalog makes {w.name} a consumer")

    return type("Default", (base,), namespace)


def durable_object(worker_name: str, class_name: str, base: type) -> type:
    """The exported Durable Object class `class_name`: `base` is `workers.DurableObject`."""
    w = catalog.worker(worker_name)
    spec = next((d for d in w.durable_objects if d.class_name == class_name), None)
    if spec is None:
        raise KeyError(f"the catalog gives {worker_name} no Durable Object class {class_name}")
    portable = getattr(importlib.import_module(spec.module), class_name)
    return durable_object_class(portable, w.name, base, _caller_module(base))


def durable_object_class(portable: type, worker_name: str, base: type[Any], module: str | None = None) -> type:
    """The runtime's class around the portable class `portable` (what `durable_object` exports)."""
    class_name = portable.__name__

    def __init__(self: Any, ctx: Any, env: Any) -> None:
        base.__init__(self, ctx, env)
        # One call at a time, each atomic (durable_objects.ObjectHost); the portable object is
        # made on first use with the wrapped ctx and env.
        self._hoox_host = ObjectHost(lambda: make_impl(portable, ctx, wrap_env(env, worker_name)))
        self._hoox_host.impl  # noqa: B018  (constructed now, as the runtime constructs the object)

    async def alarm(self: Any, alarm_info: Any = None) -> None:
        # An exception propagates: Cloudflare then retries the alarm, as the local runtime does.
        await self._hoox_host.alarm()

    namespace: dict[str, Any] = {"__init__": __init__, "alarm": alarm, "__module__": module or base.__module__,
                                 "__qualname__": class_name, "__doc__": portable.__doc__}
    for method in rpc_methods(portable):
        namespace[method] = _forward(class_name, method)
    return type(class_name, (base,), namespace)


def _caller_module(base: type) -> str:
    """The module of entry.py (who called the builder), so tracebacks name the right file."""
    return str(sys._getframe(2).f_globals.get("__name__", base.__module__))


def _forward(class_name: str, method: str) -> Any:
    async def rpc(self: Any, call: Any = None) -> Any:
        return await serve_call(self._hoox_host, class_name, method, call)

    rpc.__name__ = rpc.__qualname__ = method
    return rpc
