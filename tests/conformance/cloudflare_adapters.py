"""The Cloudflare adapters behind the conformance suite's `Adapters` methods, inside Pyodide.

KV, D1, R2, the queue producer, Analytics Engine writes and service bindings are Miniflare's own
bindings (a fresh in-memory Miniflare per test, tests/pyodide/runner.mjs), wrapped by the project's
`hoox_edge.cloudflare` adapters exactly as `cloudflare/env.py` wraps them on Cloudflare.

Two parts Miniflare cannot give a Python program, because it runs them only for JS code inside
workerd, are proven against the documented JS API shape instead (tests/pyodide/durable.mjs):
- Durable Objects: a namespace (`idFromName`, `get`; stubs that structured-clone arguments and
  results as RPC does) and each object's `ctx.storage` (SQL cursor, key-value, alarms,
  `transaction`/`transactionSync`) on Node's real SQLite. The objects are the runtime classes that
  `hoox_edge.cloudflare.entry` builds on the SDK's `workers.DurableObject`, around the portable class.
- Queue consumer delivery: a MessageBatch as documented, handed to the handler through
  `CloudflareMessageBatch`, as `entry.py`'s `queue()` does. What was sent went through Miniflare's
  real producer first; the delivery rules applied here are Cloudflare's documented ones (a handler
  that returns acks what it did not retry; one that raises retries what it did not ack; an explicit
  ack or retry wins over ackAll/retryAll; after `max_retries` retries, the dead-letter queue).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import js  # type: ignore[import-not-found]
from hoox_edge.cloudflare._js import to_py
from hoox_edge.cloudflare.analytics import CloudflareAnalyticsDataset
from hoox_edge.cloudflare.d1 import CloudflareD1
from hoox_edge.cloudflare.durable_objects import CloudflareDurableObjectNamespace
from hoox_edge.cloudflare.entry import durable_object_class
from hoox_edge.cloudflare.kv import CloudflareKV
from hoox_edge.cloudflare.queues import CloudflareMessageBatch, CloudflareQueue
from hoox_edge.cloudflare.r2 import CloudflareR2
from hoox_edge.cloudflare.service import CloudflareService
from hoox_edge.ports import (
    D1Database,
    DurableObject,
    DurableObjectNamespace,
    Env,
    Fetcher,
    KVNamespace,
    MessageBatch,
    Queue,
    R2Bucket,
)
from pyodide.ffi import create_proxy, run_sync, to_js  # type: ignore[import-not-found]

# The resources the suite names, declared up front (Miniflare's bindings are fixed at start).
KV_NAMESPACES = ("config", "one", "two")
D1_DATABASES = ("ledger",)
R2_BUCKETS = ("hoox-system-logs", "reports")
QUEUES = ("trade-execution", "trade-execution-dlq")
DATASETS = ("hoox_telemetry",)
SERVICE = "CALLEE"
_ids = itertools.count()


def _binding(kind: str, name: str) -> str:
    return f"{kind}_{re.sub(r'[^A-Za-z0-9]', '_', name)}"


def _js_object(value: dict[str, Any]) -> Any:
    return to_js(value, dict_converter=js.Object.fromEntries)


class _Broker:
    """Messages sent (as the consumer receives them), for the documented delivery rules."""

    def __init__(self) -> None:
        self.queues: dict[str, list[dict[str, Any]]] = {}

    def add(self, queue: str, body: Any, delay_seconds: float) -> None:
        self.queues.setdefault(queue, []).append({
            "id": f"m{next(_ids)}", "timestamp": time.time() * 1000, "body": body, "attempts": 1,
            "visible_at": time.time() + float(delay_seconds or 0)})


class _Counted:
    """The service binding's JS object, counting the calls sent through it (for `settle`)."""

    def __init__(self, js_fetcher: Any, adapters: CloudflareAdapters) -> None:
        self._js = js_fetcher
        self._adapters = adapters

    def fetch(self, *args: Any) -> Any:
        self._adapters._sent += 1
        return self._js.fetch(*args)


class CloudflareAdapters:
    name = "cloudflare"
    capabilities: frozenset[str] = frozenset()  # see adapters.CAPABILITIES for each one's reason

    def __init__(self, root: Path) -> None:
        self.do_env = Env({}, worker="conformance")
        self._set = next(_ids)
        self._callee: tuple[Any, Env] | None = None
        self._callee_tasks: set[asyncio.Task[Any]] = set()
        # Calls sent through the binding and calls that reached the callee: a call whose caller timed
        # out may still be on its way through Miniflare's Node hop when the test settles.
        self._sent = 0
        self._arrived = 0
        self._proxies: list[Any] = []
        self._broker = _Broker()
        self._namespaces: dict[str, CloudflareDurableObjectNamespace] = {}
        serve = self._proxy(self._serve_callee)
        options = {
            "kvNamespaces": [_binding("KV", n) for n in KV_NAMESPACES],
            "d1Databases": [_binding("D1", n) for n in D1_DATABASES],
            "r2Buckets": [_binding("R2", n) for n in R2_BUCKETS],
            "queueProducers": {_binding("Q", n): {"queueName": n} for n in QUEUES},
            "analyticsEngineDatasets": {_binding("AE", n): {"dataset": n} for n in DATASETS},
            "services": {SERVICE: serve},
        }
        self._env = run_sync(js.hooxHarness.fresh(_js_object(options)))

    def _proxy(self, fn: Callable[..., Any]) -> Any:
        p = create_proxy(fn)
        self._proxies.append(p)
        return p

    def _raw(self, kind: str, name: str) -> Any:
        raw = getattr(self._env, _binding(kind, name), None)
        if raw is None:
            raise KeyError(f"no {kind} {name!r} in the harness's Miniflare: add it to cloudflare_adapters.py")
        return raw

    # ----------------------------------------------------------------- ports
    def kv(self, namespace: str) -> KVNamespace:
        return CloudflareKV(self._raw("KV", namespace))

    def d1(self, database: str, *, readonly: bool = False) -> D1Database:
        # The harness reuses its Miniflare wiped, so the declared-types cache is keyed per adapter set
        # (a number never reused, unlike id()), not per binding.
        return CloudflareD1(self._raw("D1", database), f"{self._set}:{database}")

    def durable_objects(self, cls: type[DurableObject]) -> DurableObjectNamespace:
        name = cls.__name__
        if name not in self._namespaces:
            import workers  # the Python Workers SDK from PyPI: the base the runtime's classes have

            runtime_cls = durable_object_class(cls, "conformance", workers.DurableObject)
            env = self.do_env
            js_ns = js.hooxHarness.durable.namespace(name, self._proxy(lambda ctx: runtime_cls(ctx, env)))
            self._namespaces[name] = CloudflareDurableObjectNamespace(js_ns, name)
        return self._namespaces[name]

    def queue(self, name: str) -> Queue:
        real = self._raw("Q", name)
        on_send = self._proxy(lambda body, delay: self._broker.add(name, body, delay))
        return CloudflareQueue(js.hooxHarness.durable.producer(real, on_send), name)

    async def deliver(self, queue: str, handler: Callable[[MessageBatch], Awaitable[None]], *,
                      max_batch_size: int = 10, max_retries: int = 3,
                      dead_letter_queue: str | None = None) -> int:
        """One consumer invocation: one documented-shape batch of due messages to `handler`."""
        pending = self._broker.queues.get(queue, [])
        now = time.time()
        due = [m for m in pending if m["visible_at"] <= now][:max_batch_size]
        if not due:
            return 0
        js_batch = js.hooxHarness.durable.batch(queue, _js_object(
            [{k: m[k] for k in ("id", "timestamp", "body", "attempts")} for m in due]))
        failed = False
        try:
            await handler(CloudflareMessageBatch(js_batch))
        except Exception:
            failed = True
        outcome = js_batch.outcome
        explicit = {str(k): v for k, v in (to_py(outcome.explicit) or {}).items()}
        whole = to_py(outcome.all)
        for m in due:
            decided = explicit.get(m["id"]) or whole or ({"ack": False, "delaySeconds": 0} if failed else
                                                         {"ack": True})
            pending.remove(m)
            if decided["ack"]:
                continue
            if m["attempts"] > max_retries:
                if dead_letter_queue:
                    self._broker.queues.setdefault(dead_letter_queue, []).append({**m, "attempts": 1})
                continue
            pending.append({**m, "attempts": m["attempts"] + 1,
                            "visible_at": time.time() + float(decided.get("delaySeconds") or 0)})
        pending.sort(key=lambda m: m["timestamp"])
        return len(due)

    def r2(self, bucket: str) -> R2Bucket:
        return CloudflareR2(self._raw("R2", bucket))

    def analytics(self, dataset: str) -> CloudflareAnalyticsDataset:
        return CloudflareAnalyticsDataset(self._raw("AE", dataset))

    def service(self, app: Any, env: Env) -> Fetcher:
        self._callee = (app, env)
        return CloudflareService(_Counted(getattr(self._env, SERVICE), self), "callee")

    async def _serve_callee(self, request: Any) -> Any:
        """The callee worker behind the service binding: its app through the SDK's ASGI bridge."""
        from workers import asgi

        assert self._callee is not None, "service() names the callee first"
        self._arrived += 1
        app, env = self._callee
        task = asyncio.ensure_future(asgi.fetch(app, request, env))
        self._callee_tasks.add(task)
        task.add_done_callback(self._callee_tasks.discard)
        return await asyncio.shield(task)  # the callee runs on when its caller stops waiting

    async def settle(self) -> None:
        """Wait for callee calls that run on after their caller stopped waiting, the ones still on
        their way to the callee included."""
        deadline = time.monotonic() + 10
        while self._arrived < self._sent and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # the Node hop's delivery has no event to wait on here
        if self._callee_tasks:
            await asyncio.wait(list(self._callee_tasks), timeout=10)

    def close(self) -> None:  # the harness wipes the Miniflare for the next test's fresh()
        for p in self._proxies:
            p.destroy()
        self._proxies.clear()
