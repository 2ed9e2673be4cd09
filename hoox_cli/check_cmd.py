"""`hoox check health`: is the edge up and are its workers healthy? (exit 0 yes, 1 no)

It reads `/v1/status` (each worker probed by the gateway through its binding, 2 s budget each).
Unhealthy: a worker that is not `online` (its probe failed or answered non-200), or no answer at
all. Not a fault, but reported as a warning: a worker the local workspace does not run, the kill
switch on, dead letters waiting, queue figures not available.

--json: {"healthy": bool, "url", "workers": [{"name", "status", "latencyMs", "error"}],
"problems": [str], "warnings": [str]}; no answer is the EDGE_UNREACHABLE error object (exit 1).
"""

from __future__ import annotations

from typing import Any

import typer

from hoox_cli.common import JsonOpt, emit_json, esc, handle_errors, say, show, table
from hoox_cli.monitor_cmd import RemoteOpt, dump, operator_client, remember_remote, remote_of

app = typer.Typer(help="Check the edge.", no_args_is_help=True)

# A worker the local runtime does not run is reported `offline` with this error by /v1/status:
# the workspace's choice, not a fault.
NOT_RUNNING_LOCALLY = "not running in this local runtime"


@app.callback()
def _group(ctx: typer.Context, remote: RemoteOpt = None) -> None:
    """Check the edge."""
    remember_remote(ctx, remote)


def assess(status: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Workers, problems and warnings of a /v1/status result."""
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
