"""The Cloudflare resources the enabled workers bind: which they are, and creating the missing ones.

Shared by `hoox infra` (list / create / delete / provision --remote) and `hoox deploy all --auto`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

    from hoox_cli.core.cloudflare_api import CloudflareAPI

KINDS = ("d1", "kv", "r2", "queues", "vectorize")
PROVISIONED = ("kv", "d1", "r2", "queues", "vectorize")  # what the workers bind


def declared(ws: Workspace, workers: list[str] | None = None) -> dict[str, list[str]]:
    """Resources the workers bind, by kind (queues include consumers' dead-letter queues)."""
    from hoox_edge import catalog

    names = workers if workers is not None else ws.enabled_workers()
    out: dict[str, set[str]] = {k: set() for k in KINDS}
    for w in (catalog.worker(n) for n in names):
        for b in w.bindings:
            kind = {"kv": "kv", "d1": "d1", "r2": "r2", "queue_producer": "queues",
                    "vectorize": "vectorize"}.get(b.kind)
            if kind:
                out[kind].add(b.resource)
        for c in w.consumers:
            out["queues"].add(c.queue)
            if c.dead_letter_queue:
                out["queues"].add(c.dead_letter_queue)
    return {k: sorted(v) for k, v in out.items()}


def _norm(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    if kind == "kv":
        return {"name": item.get("title"), "id": item.get("id")}
    if kind == "d1":
        return {"name": item.get("name"), "id": item.get("uuid")}
    if kind == "queues":
        return {"name": item.get("queue_name"), "id": item.get("queue_id")}
    if kind == "vectorize":
        cfg = item.get("config") or {}
        return {"name": item.get("name"), "id": None, "dimensions": cfg.get("dimensions"),
                "metric": cfg.get("metric")}
    return {"name": item.get("name"), "id": None}


async def remote_items(api: CloudflareAPI, kind: str) -> list[dict[str, Any]]:
    lister = {"kv": api.kv_list, "d1": api.d1_list, "r2": api.r2_list, "queues": api.queues_list,
              "vectorize": api.vectorize_list}[kind]
    return [_norm(kind, i) for i in await lister()]


async def remote_create(api: CloudflareAPI, kind: str, name: str, *, dimensions: int | None = None,
                        metric: str = "cosine") -> dict[str, Any]:
    if kind == "kv":
        return _norm(kind, await api.kv_create(name))
    if kind == "d1":
        return _norm(kind, await api.d1_create(name))
    if kind == "r2":
        await api.r2_create(name)
        return {"name": name, "id": None}
    if kind == "queues":
        return _norm(kind, await api.queue_create(name))
    assert dimensions is not None
    return _norm(kind, await api.vectorize_create(name, dimensions, metric))


async def remote_delete(api: CloudflareAPI, kind: str, item: dict[str, Any]) -> None:
    if kind == "kv":
        await api.kv_delete(item["id"])
    elif kind == "d1":
        await api.d1_delete(item["id"])
    elif kind == "r2":
        await api.r2_delete(item["name"])
    elif kind == "queues":
        await api.queue_delete(item["id"])
    else:
        await api.vectorize_delete(item["name"])


async def provision_remote(api: CloudflareAPI, ws: Workspace,
                           on_item: Any = None) -> list[dict[str, Any]]:
    """Create on Cloudflare every resource the enabled workers bind that is missing (an existing one of
    the same name is adopted, never duplicated) and record the KV and D1 ids in hoox.toml; returns
    [{"kind", "name", "id", "created"}]."""
    from hoox_edge import catalog

    from hoox_cli.core import deploy

    need = declared(ws)
    done: list[dict[str, Any]] = []
    for kind in PROVISIONED:
        if not need[kind]:
            continue
        have = {i["name"]: i for i in await remote_items(api, kind)}
        for name in need[kind]:
            item, created = have.get(name), False
            if item is None:  # a Vectorize index: the catalog's dimensions, cosine
                dims = catalog.DESK_MEMORY_DIMENSIONS if kind == "vectorize" else None
                item, created = await remote_create(api, kind, name, dimensions=dims), True
            if kind in ("kv", "d1") and item.get("id"):
                deploy.record_resource(ws, kind, name, item["id"])
            row = {"kind": kind, "name": name, "id": item.get("id"), "created": created}
            if kind == "r2" and name == catalog.REPORTS_BUCKET:  # reports kept 30 days
                from hoox_edge.reports import store

                await api.r2_set_lifecycle(name, store.lifecycle_rules())
                row["lifecycle"] = f"{store.PREFIX} deleted {store.RETENTION_DAYS} days after upload"
            done.append(row)
            if on_item is not None:
                on_item(row)
    return done
