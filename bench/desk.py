"""A local edge for the benchmarks: a throwaway workspace served on free loopback ports, with the
rate limit and the paper balance set high, so every signal of a long run goes the whole way."""

from __future__ import annotations

from pathlib import Path

from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from hoox_edge.shared import settings
from netutil import free_base_port  # tests/ is on the path of every bench script

GW = "hoox"


async def serving_desk(folder: Path) -> LocalRuntime:
    """A started runtime over a new workspace in `folder` (stop it when done)."""
    ws = Workspace(folder / "workspace")
    ws.create()
    doc = ws.config()
    doc["dev"]["port"] = free_base_port()  # type: ignore[index]
    ws.save_config(doc)
    rt = LocalRuntime(ws)
    await rt.start(serve_http=True)
    kv = rt.env(GW).CONFIG_KV
    await settings.put(kv, "webhooks:rate_limit_per_minute", 100_000)
    await settings.put(kv, "exchanges:paper:initial_balance", 1e12)
    return rt
