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

from typing import TYPE_CHECKING, Any

import typer

from hoox_cli.core.connection import operator_client
from hoox_cli.core.tools import probe_tools
from hoox_cli.core.workspace import workspace
from hoox_cli.options import JsonOpt, RemoteOpt, handle_errors, remember_remote, remote_of
from hoox_cli.output import dump, emit_json, esc, print_tools, say, show, table

if TYPE_CHECKING:
    pass

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
    from hoox_cli.output import report_audits

    report_audits(workspace(), json_out)
