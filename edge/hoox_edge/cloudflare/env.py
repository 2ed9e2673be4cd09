"""`wrap_env`: a worker's raw Cloudflare env as the ports' `Env`, wired from the catalog.

Every binding the catalog lists for the worker becomes its adapter (a binding missing from the
deployed worker is left out, so `env.has(name)` reports it); secrets and vars are read as strings.
A worker with an Analytics Engine dataset also gets `ANALYTICS_SQL`, the SQL API reader, when
its account id var and API token secret are set (without them the worker says it is not available).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hoox_edge import catalog
from hoox_edge.cloudflare._js import is_null, to_py, unwrap
from hoox_edge.cloudflare.analytics import CloudflareAnalyticsDataset, CloudflareAnalyticsSql
from hoox_edge.cloudflare.d1 import CloudflareD1
from hoox_edge.cloudflare.durable_objects import CloudflareDurableObjectNamespace
from hoox_edge.cloudflare.kv import CloudflareKV
from hoox_edge.cloudflare.queues import CloudflareQueue, CloudflareQueueAdmin
from hoox_edge.cloudflare.r2 import CloudflareR2
from hoox_edge.cloudflare.service import CloudflareService
from hoox_edge.cloudflare.vectorize import CloudflareVectorize
from hoox_edge.ports import Env

ANALYTICS_SQL = "ANALYTICS_SQL"
ACCOUNT_ID_VAR = "CLOUDFLARE_ACCOUNT_ID"
API_TOKEN_SECRET = "CLOUDFLARE_API_TOKEN"

ADAPTERS: dict[str, Callable[[Any, catalog.Binding], Any]] = {
    "kv": lambda js, b: CloudflareKV(js),
    "d1": lambda js, b: CloudflareD1(js, b.name),
    "durable_object": lambda js, b: CloudflareDurableObjectNamespace(js, b.resource),
    "queue_producer": lambda js, b: CloudflareQueue(js, b.resource),
    "r2": lambda js, b: CloudflareR2(js),
    "analytics_engine": lambda js, b: CloudflareAnalyticsDataset(js),
    "service": lambda js, b: CloudflareService(js, b.resource),
    "vectorize": lambda js, b: CloudflareVectorize(js),
}


def wrap_env(js_env: Any, worker_name: str) -> Env:
    raw = unwrap(js_env)  # the SDK wraps env (its _EnvWrapper) even when it is already the ports' Env
    if isinstance(raw, Env):
        return raw
    w = catalog.worker(worker_name)
    bindings: dict[str, Any] = {}
    for b in w.bindings:
        js = getattr(raw, b.name, None)  # None: an undefined property of the JS env
        if not is_null(js):
            bindings[b.name] = ADAPTERS[b.kind](js, b)
    text_names = [*w.all_secrets, *(k for k, _ in w.vars), ACCOUNT_ID_VAR]
    if w.public:  # the operator API's Cloudflare Access check (vars rendered from hoox.toml [operator.access])
        from hoox_edge.shared import access

        text_names += [access.TEAM_VAR, access.AUD_VAR]
    for name in text_names:
        value = to_py(getattr(raw, name, None))
        if isinstance(value, str):
            bindings[name] = value
    if w.bindings_of("analytics_engine"):
        sql = CloudflareAnalyticsSql(bindings.get(ACCOUNT_ID_VAR), bindings.get(API_TOKEN_SECRET))
        if sql.available:
            bindings[ANALYTICS_SQL] = sql
    if w.public:  # the operator API's worker: says plainly that queue internals are not readable here
        bindings["QUEUE_ADMIN"] = CloudflareQueueAdmin()
    return Env(bindings, worker=w.name, secret_names=w.all_secrets)
