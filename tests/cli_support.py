"""The `hoox` CLI as the tests call it: in-process through Typer's CliRunner, `--json` output parsed,
and the workspace's local CONFIG_KV read the way the CLI reads it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from click.testing import Result
from hoox_edge import catalog
from hoox_edge.local.kv import LocalKV
from hoox_edge.local.workspace import Workspace
from typer.testing import CliRunner

from hoox_cli.main import app

runner = CliRunner()


def hoox(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, list(args), input=input, env=env)


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def kv_raw(ws: Workspace, key: str) -> str | None:
    """The stored text of `key` in the workspace's local CONFIG_KV (None when absent)."""
    kv = LocalKV(ws.kv_file(catalog.CONFIG_KV))
    try:
        return asyncio.run(kv.get(key))
    finally:
        kv.close()


# The wheel cache deploy bundles vendor from in the tests: filled once by `.ci/run`
# (`hoox deploy fetch-wheels --dest .hoox/cache/wheels`), never downloaded by a test.
WHEEL_CACHE = Path(__file__).resolve().parents[1] / ".hoox" / "cache" / "wheels"


def use_wheel_cache(ws: Workspace) -> Path:
    """Point the workspace's deploys at the repository's wheel cache (`deploy.wheel_cache` in hoox.toml)."""
    assert any(WHEEL_CACHE.glob("*.whl")), (
        f"no wheels in {WHEEL_CACHE}: fill it once with `hoox deploy fetch-wheels --dest {WHEEL_CACHE}` "
        "(.ci/run does; it needs the network, the tests do not)")
    result = hoox("config", "set", "deploy.wheel_cache", str(WHEEL_CACHE), "--json",
                  env={"HOOX_WORKSPACE": str(ws.root)})
    assert result.exit_code == 0, result.stdout
    return WHEEL_CACHE


def enable_only(ws: Workspace, names: list[str] | tuple[str, ...]) -> None:
    """Only these workers enabled in the workspace (a remote command runs wrangler once per enabled worker)."""
    doc = ws.config()
    for w in catalog.WORKERS:
        doc["workers"][w.name]["enabled"] = w.name in names  # type: ignore[index]
    ws.save_config(doc)
