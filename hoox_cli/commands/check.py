"""`hoox check prerequisites|setup|health`: the machine's tools, the workspace, the running edge.

`check prerequisites` runs each tool (python, node, wrangler, git) for its version. Only Python is
required to run hoox locally; node and wrangler are needed to deploy to Cloudflare, git to version the
workspace: their absence is reported, but only a missing required tool fails the check (exit 1).
--json: {"ok": bool, "tools": [{"name", "ok", "found", "version", "minimum", "path", "required",
"needed_for", "error", "fix"}]}

`check setup` runs every audit of hoox_cli.core.audits (the same report as `repair check`); each
passes or fails with how to fix it and, where one exists, the repair that does (`hoox repair NAME`;
`hoox repair all` runs them); exit 1 when one fails:
--json: {"ok": bool, "workspace", "checks": [{"name", "checks", "ok", "detail", "problems": [str],
"fix": str|null, "repair": str|null}]}

`check health`: is the edge up and are its workers healthy? (exit 0 yes, 1 no)

It reads `/v1/status` (each worker probed by the gateway through its binding, 2 s budget each).
Unhealthy: a worker that is not `online` (its probe failed or answered non-200), or no answer at
all. Not a fault, but reported as a warning: a worker the local workspace does not run, the kill
switch on, dead letters waiting, queue figures not available.

--json: {"healthy": bool, "url", "workers": [{"name", "status", "latencyMs", "error"}],
"problems": [str], "warnings": [str]}; no answer is the EDGE_UNREACHABLE error object (exit 1).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from hoox_cli.commands.monitor import RemoteOpt, dump, operator_client, remember_remote, remote_of
from hoox_cli.common import JsonOpt, emit_json, esc, handle_errors, say, show, table, workspace

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

app = typer.Typer(help="Check the machine's tools, the workspace and the running edge.", no_args_is_help=True)



@app.callback()
def _group(ctx: typer.Context, remote: RemoteOpt = None) -> None:
    """Check the machine's tools (prerequisites), the workspace (setup) and the running edge (health)."""
    remember_remote(ctx, remote)


def assess(status: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Workers, problems and warnings of a /v1/status result."""
    # A worker the local runtime does not run is reported `offline` with this error by /v1/status:
    # the workspace's choice, not a fault (the cockpit and `monitor status` show it "disabled").
    from hoox_cli.core.models import NOT_RUNNING_LOCALLY
    workers = [{"name": w.get("name"), "status": w.get("status"), "latencyMs": w.get("latencyMs"),
                "error": w.get("error")} for w in status.get("workers") or []]
    problems: list[str] = []
    warnings: list[str] = []
    for w in workers:
        st = str(w["status"] or "unknown").lower()
        if st == "offline" and str(w.get("error") or "").startswith(NOT_RUNNING_LOCALLY):
            warnings.append(f"{w['name']} is not running (not enabled in this workspace's hoox.toml)")
        elif st != "online":
            problems.append(f"{w['name']}: {w['status']}" + (f" ({w['error']})" if w.get("error") else ""))
    ks = status.get("killSwitch") or {}
    if ks.get("on"):
        reason = ks.get("reason")
        warnings.append("kill switch is ON: signals are refused" + (f" ({reason})" if reason else ""))
    q = status.get("queues") or {}
    if not q.get("available", True):
        warnings.append(f"trade queue figures not available: {q.get('error') or 'no reason given'}")
    dead = q.get("deadLetters")
    if isinstance(dead, int) and dead > 0:
        warnings.append(f"{dead} dead letter(s) waiting: see `hoox monitor queue-depth`")
    return workers, problems, warnings


@app.command()
@handle_errors
def health(ctx: typer.Context, remote: RemoteOpt = None, json_out: JsonOpt = False) -> None:
    """Probe every worker through the gateway; exit 1 when any is unhealthy."""
    with operator_client(remote_of(ctx, remote)) as client:
        status = dump(client.status())
        url = client.base_url
    workers, problems, warnings = assess(status)
    healthy = not problems
    if json_out:
        emit_json({"healthy": healthy, "url": url, "workers": workers, "problems": problems, "warnings": warnings})
    else:
        verdict = "[bold green]healthy[/bold green]" if healthy else "[bold red]unhealthy[/bold red]"
        say(f"{verdict} {esc(url)}")
        show(table(["worker", "status", "latency ms", "error"],
                   [[w["name"], w["status"], "" if w["latencyMs"] is None else f"{w['latencyMs']:.4g}", w["error"]]
                    for w in workers]))
        for p in problems:
            say(f"[red]problem:[/red] {esc(p)}")
        for w in warnings:
            say(f"[yellow]warning:[/yellow] {esc(w)}")
    if not healthy:
        raise typer.Exit(1)


# ----------------------------------------------------------------------------- prerequisites
@dataclass(frozen=True)
class Tool:
    name: str
    required: bool
    needed_for: str
    minimum: tuple[int, ...]
    fix: str


TOOLS = (
    Tool("python", True, "everything (the CLI, the local edge)", (3, 11),
         "Install Python 3.11 or newer and reinstall hoox with it."),
    Tool("node", False, "wrangler, i.e. deploying to Cloudflare", (20, 3),
         "Install Node.js 20.3 or newer (wrangler 4 needs it)."),
    Tool("wrangler", False, "deploying to Cloudflare", (4, 0),
         "Run `npm ci` in the hoox checkout, or `npm install wrangler` in the workspace "
         "(or set HOOX_WRANGLER to its path)."),
    Tool("git", False, "versioning the workspace", (2, 0), "Install git."),
)
_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
PROBE_TIMEOUT = 30.0


def _tool_path(name: str, ws: Workspace | None) -> str | None:
    if name == "python":
        return sys.executable
    if name == "wrangler":
        from hoox_cli.core.wrangler_cli import WranglerNotFound, find_wrangler

        try:
            return str(find_wrangler(ws))
        except WranglerNotFound:
            return None
    return shutil.which(name)


def probe_tool(tool: Tool, ws: Workspace | None = None) -> dict[str, Any]:
    """Run the tool for its version; {"name", "ok", "found", "version", ...}."""
    out: dict[str, Any] = {"name": tool.name, "ok": False, "found": False, "version": None,
                           "minimum": ".".join(map(str, tool.minimum)), "path": None, "required": tool.required,
                           "needed_for": tool.needed_for, "error": None, "fix": None}
    path = _tool_path(tool.name, ws)
    if path is None:
        out["error"] = f"{tool.name} was not found"
        out["fix"] = tool.fix
        return out
    out["path"] = path
    env = dict(os.environ, WRANGLER_SEND_METRICS="false", NO_COLOR="1")
    try:
        p = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=PROBE_TIMEOUT, env=env,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        out["error"] = f"`{tool.name} --version` did not run: {exc}"
        out["fix"] = tool.fix
        return out
    m = _VERSION.search(p.stdout + " " + p.stderr)
    if p.returncode != 0 or m is None:
        out["error"] = f"`{tool.name} --version` failed (exit {p.returncode})"
        out["fix"] = tool.fix
        return out
    out["found"] = True
    version = tuple(int(g) for g in m.groups() if g is not None)
    out["version"] = ".".join(map(str, version))
    if version < tool.minimum:
        out["error"] = f"{tool.name} {out['version']} is older than {out['minimum']}"
        out["fix"] = tool.fix
        return out
    out["ok"] = True
    return out


def probe_tools(ws: Workspace | None = None) -> list[dict[str, Any]]:
    """Every tool, probed concurrently (wrangler alone takes most of a second to start)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(TOOLS)) as pool:
        return list(pool.map(lambda t: probe_tool(t, ws), TOOLS))


def print_tools(tools: list[dict[str, Any]]) -> None:
    rows = []
    for t in tools:
        state = "ok" if t["ok"] else ("MISSING" if not t["found"] else "TOO OLD")
        if not t["ok"] and not t["required"]:
            state += " (optional)"
        rows.append([t["name"], state, t["version"] or "", t["needed_for"]])
    show(table(["tool", "state", "version", "needed for"], rows))
    for t in tools:
        if not t["ok"]:
            say(f"[{'red' if t['required'] else 'yellow'}]{esc(t['name'])}:[/] {esc(t['error'])}. {esc(t['fix'])}")


@app.command()
@handle_errors
def prerequisites(json_out: JsonOpt = False) -> None:
    """Probe python, node, wrangler and git for their versions; exit 1 when a required one is missing."""
    ws = workspace(required=False)
    tools = probe_tools(ws if ws.exists else None)
    ok = all(t["ok"] for t in tools if t["required"])
    if json_out:
        emit_json({"ok": ok, "tools": tools})
    else:
        print_tools(tools)
        say("[green]Ready to run hoox locally.[/green]" if ok else "[red]A required tool is missing.[/red]")
    if not ok:
        raise typer.Exit(1)


# ----------------------------------------------------------------------------- setup
@app.command()
@handle_errors
def setup(json_out: JsonOpt = False) -> None:
    """Run every audit of the workspace (code, packages, config, secrets, ledger, KV); each failing one with its fix."""
    from hoox_cli.common import report_audits

    report_audits(workspace(), json_out)
