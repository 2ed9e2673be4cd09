"""Every edge read and write of the CLI goes through the edge (hoox_cli.core.edge): `config kv`, `waf
configure`, `db query`, `logs download` against a remote edge (`--remote URL`, another workspace's
runtime serving HTTP on loopback), against the workspace's own running edge (`hoox dev start`), and
with no edge running (the local state, through the edge's own code); the answer says which edge.
The CLI's command modules name no state file: the local adapters own the layout."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import cli_support
import pytest
from cli_support import as_json
from hoox_edge import catalog
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from process_support import Edge, edge  # noqa: F401  (the `edge` fixture of real processes)

ROOT = Path(__file__).resolve().parents[1]


async def hoox(*args: str, env: dict[str, str] | None = None) -> Any:
    return await asyncio.to_thread(cli_support.hoox, *args, env=env)


@pytest.fixture
async def served(workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A runtime serving over HTTP on free ports (the remote edge), and the CLI in ANOTHER workspace with
    that edge's operator token: whatever the CLI reads or writes of the edge, it reads over HTTP."""
    from netutil import free_base_port

    doc = workspace.config()
    doc["dev"]["port"] = free_base_port()  # type: ignore[index]
    workspace.save_config(doc)
    cli_ws = Workspace(tmp_path / "cli")
    cli_ws.create()
    monkeypatch.setenv("HOOX_WORKSPACE", str(cli_ws.root))
    monkeypatch.setenv("HOOX_API_TOKEN", workspace.secrets()["OPERATOR_API_KEY"])
    monkeypatch.delenv("HOOX_API_URL", raising=False)
    rt = LocalRuntime(workspace)
    await rt.start(serve_http=True)
    try:
        yield rt, f"http://127.0.0.1:{rt.ports['hoox']}", cli_ws
    finally:
        await rt.stop()


def remote_edge(url: str) -> dict[str, Any]:
    return {"url": url, "local": False, "running": True}


STOPPED = {"url": None, "local": True, "running": False}


async def test_config_kv_get_set_delete_reach_a_remote_edge(served: Any) -> None:
    rt, url, cli_ws = served
    kv = rt.kv(catalog.CONFIG_KV)
    r = await hoox("config", "kv", "set", "webhooks:rate_limit_per_minute", "25", "--remote", url, "--json")
    assert r.exit_code == 0, r.output
    out = as_json(r)
    assert out["value"] == 25 and out["raw"] == "25" and out["edge"] == remote_edge(url)
    assert await kv.get("webhooks:rate_limit_per_minute") == "25"  # the edge's KV, not the CLI workspace's
    assert await asyncio.to_thread(cli_support.kv_raw, cli_ws, "webhooks:rate_limit_per_minute") is None
    logged = (await rt.d1(catalog.TRADE_DB).prepare(
        "SELECT message FROM system_logs WHERE message = 'operator set webhooks:rate_limit_per_minute'").all())
    assert logged["results"]  # the operator API's route wrote it

    # --remote on the group, and the human answer names the edge
    r = await hoox("config", "kv", "--remote", url, "get", "webhooks:rate_limit_per_minute")
    assert r.exit_code == 0, r.output
    assert "webhooks:rate_limit_per_minute = 25" in r.stdout and url in r.stdout
    got = as_json(await hoox("config", "kv", "get", "webhooks:rate_limit_per_minute", "--remote", url, "--json"))
    assert got["source"] == "kv" and got["edge"] == remote_edge(url)
    listed = as_json(await hoox("config", "kv", "list", "--prefix", "webhooks:rate", "--remote", url, "--json"))
    assert [k["key"] for k in listed["keys"]] == ["webhooks:rate_limit_per_minute"]

    # the edge's own validation answers (its code, nothing written)
    r = await hoox("config", "kv", "set", "nosuch:key", "1", "--force", "--remote", url, "--json")
    assert r.exit_code == 1 and as_json(r)["error"]["code"] == "VALIDATION_ERROR"
    r = await hoox("config", "kv", "delete", "webhooks:rate_limit_per_minute", "--remote", url, "--json")
    assert as_json(r)["deleted"] is True and await kv.get("webhooks:rate_limit_per_minute") is None


async def test_a_kv_read_over_http_imports_no_server_stack(served: Any) -> None:
    import os
    import subprocess
    import sys

    _, url, _ = served
    p = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-X", "importtime", "-m", "hoox_cli", "config", "kv", "get", "trade:mode",
                         "--remote", url, "--json"], env=dict(os.environ), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(p.stdout)["edge"] == remote_edge(url)
    mods = {ln.split("|")[-1].strip().split(".")[0] for ln in p.stderr.splitlines() if "|" in ln}
    assert "httpx" in mods and not {"starlette", "uvicorn", "textual", "hoox_tui"} & mods


async def test_waf_db_query_and_logs_download_reach_a_remote_edge(served: Any, tmp_path: Path) -> None:
    rt, url, _ = served
    kv = rt.kv(catalog.CONFIG_KV)
    r = await hoox("waf", "configure", "--tradingview-only", "--limit-requests", "20", "--remote", url, "--json")
    assert r.exit_code == 0, r.output
    out = as_json(r)
    assert out["target"] == "edge" and out["edge"] == remote_edge(url)
    assert await kv.get("webhook:tradingview:ip_check") == "true"
    assert await kv.get("webhooks:rate_limit_per_minute") == "20"
    shown = as_json(await hoox("waf", "show", "--remote", url, "--json"))
    assert {s["key"]: s["value"] for s in shown["settings"]}["webhooks:rate_limit_per_minute"] == 20

    r = await hoox("db", "query", "SELECT message FROM system_logs WHERE message LIKE ? ORDER BY id",
                   "-p", "operator set webhook%", "--remote", url, "--json")
    assert r.exit_code == 0, r.output
    out = as_json(r)
    assert out["rows"][0]["message"] == "operator set webhook:tradingview:ip_check"
    assert out["read_only"] is True and out["edge"] == remote_edge(url)
    r = await hoox("db", "query", "DELETE FROM trades", "--write", "--remote", url, "--json")
    assert r.exit_code == 1 and as_json(r)["error"]["code"] == "READ_ONLY"  # writes are not the API's

    target = tmp_path / "logs.jsonl"
    r = await hoox("logs", "download", "--since", "1h", "-o", str(target), "--remote", url, "--json")
    assert r.exit_code == 0, r.output
    out = as_json(r)
    assert out["edge"] == remote_edge(url) and out["source"] == url
    lines = [json.loads(ln) for ln in target.read_text().splitlines()]
    assert out["lines"] == len(lines)
    assert [ln["message"] for ln in lines] == ["operator set webhook:tradingview:ip_check",
                                               "operator set webhooks:rate_limit_per_minute"]
    assert [ln["id"] for ln in lines] == sorted(ln["id"] for ln in lines)  # oldest first


def test_the_same_commands_on_a_stopped_local_edge(ws: Workspace, tmp_path: Path) -> None:
    hoox_ = cli_support.hoox
    assert hoox_("db", "apply").exit_code == 0
    out = as_json(hoox_("config", "kv", "set", "trade:kill_switch", "true", "--json"))
    assert out["edge"] == STOPPED and cli_support.kv_raw(ws, "trade:kill_switch") == "true"
    assert as_json(hoox_("config", "kv", "get", "trade:kill_switch", "--json"))["value"] is True
    out = as_json(hoox_("waf", "configure", "--limit-requests", "9", "--json"))
    assert out["target"] == "local" and out["edge"] == STOPPED
    assert cli_support.kv_raw(ws, "webhooks:rate_limit_per_minute") == "9"
    # the edge's code wrote its operator log line, as the running edge does
    out = as_json(hoox_("db", "query", "SELECT message FROM system_logs ORDER BY id", "--json"))
    assert out["edge"] == STOPPED
    assert [r["message"] for r in out["rows"]] == ["operator set trade:kill_switch",
                                                    "operator set webhooks:rate_limit_per_minute"]
    target = tmp_path / "l.txt"
    out = as_json(hoox_("logs", "download", "--since", "1d", "-o", str(target), "--format", "text", "--json"))
    assert out["lines"] == 2 and out["edge"] == STOPPED and "operator set trade:kill_switch" in target.read_text()


def test_a_running_local_edge_is_reached_over_http(edge: Edge) -> None:  # noqa: F811
    edge.start()
    url = f"http://127.0.0.1:{edge.base_port}"
    out = edge.json("config", "kv", "set", "trade:kill_switch", "true")
    assert out["edge"] == {"url": url, "local": True, "running": True}
    assert edge.json("config", "kv", "get", "trade:kill_switch")["value"] is True
    assert edge.json("db", "query", "SELECT 1 AS one")["rows"] == [{"one": 1}]


def test_no_command_module_knows_where_the_state_files_are() -> None:
    """The local adapters (hoox_edge.local, through Workspace.kv_file / d1_file) own the state layout:
    no command module spells a path inside .hoox/state."""
    pattern = re.compile(r"state_dir /|state_paths|\.hoox/state/|/ [\"'](kv|d1|do|r2|queues\.sqlite)[\"']")
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / "hoox_cli").rglob("*.py"))
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert offenders == []
