"""`hoox check prerequisites|setup|health`: the machine's tools, the workspace, the running edge.

`check prerequisites` runs each tool (python, node, wrangler, git) for its version. Only Python is
required to run hoox locally; node and wrangler are needed to deploy to Cloudflare, git to version the
workspace: their absence is reported, but only a missing required tool fails the check (exit 1).
--json: {"ok": bool, "tools": [{"name", "ok", "found", "version", "minimum", "path", "required",
"needed_for", "error", "fix"}]}

`check setup` audits the workspace; each check passes or fails with the command that fixes it
(exit 1 when one fails):
--json: {"ok": bool, "workspace", "checks": [{"name", "ok", "detail", "fix": str|null}]}

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
from hoox_cli.output import (
    JsonOpt,
    RemoteOpt,
    dump,
    emit_json,
    esc,
    handle_errors,
    print_tools,
    remember_remote,
    remote_of,
    say,
    show,
    table,
)

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
def _check(name: str, ok: bool, detail: str, fix: str | None = None) -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail, "fix": None if ok else fix}


def audit_config(ws: Workspace) -> dict[str, Any]:
    from hoox_cli.core.audits import config_problems

    try:
        problems = config_problems(ws)
    except Exception as exc:
        if type(exc).__name__ != "WorkspaceError":
            raise
        return _check("config", False, str(exc), f"Fix the line named above in {ws.config_path}.")
    if problems:
        return _check("config", False, "; ".join(problems),
                      "Set the value with `hoox config set KEY VALUE` (it checks the type).")
    return _check("config", True, f"{ws.config_path.name} parses; enabled: {', '.join(ws.enabled_workers())}")


def audit_secrets(ws: Workspace) -> dict[str, Any]:
    from hoox_edge.local.workspace import GENERATED_SECRETS

    from hoox_cli.core.audits import missing_required_secrets

    try:
        missing = missing_required_secrets(ws)
    except Exception as exc:
        if type(exc).__name__ != "WorkspaceError":
            raise
        return _check("secrets", False, str(exc), f"Fix the line named above in {ws.dev_vars_path}.")
    if not missing:
        return _check("secrets", True, "every secret the enabled workers require is set")
    generated = [n for n in missing if n in GENERATED_SECRETS]
    others = [n for n in missing if n not in GENERATED_SECRETS]
    fixes = (["`hoox repair secrets` (generates " + ", ".join(generated) + ")"] if generated else []) + \
        [f"`hoox secrets set {n}`" for n in others]
    return _check("secrets", False, "missing: " + ", ".join(missing), "; ".join(fixes))


def audit_manifest(ws: Workspace) -> dict[str, Any]:
    from hoox_cli.core.audits import manifest_problems

    problems, values = manifest_problems(ws)
    if problems:
        return _check("kv-manifest", False, "; ".join(problems),
                      f"Correct {ws.manifest_path.name} (or delete it: `hoox repair kv` writes the defaults).")
    return _check("kv-manifest", True, f"{len(values)} valid setting(s) in {ws.manifest_path.name}")


def audit_migrations(ws: Workspace) -> dict[str, Any]:
    from hoox_edge import migrations

    from hoox_cli.core.backup import ledger_path
    from hoox_cli.core.errors import run_async
    from hoox_cli.core.workspace import open_db

    if not ledger_path(ws).exists():
        return _check("migrations", False, "the local ledger does not exist yet", "`hoox db apply`")
    db = open_db(ws)
    try:
        pending = [m.name for m in run_async(migrations.pending(db))]
    except Exception as exc:
        return _check("migrations", False, f"the ledger cannot be read: {exc}", "`hoox repair db`")
    finally:
        db.close()
    if pending:
        return _check("migrations", False, "pending: " + ", ".join(pending), "`hoox db migrate`")
    return _check("migrations", True, f"{len(migrations.available())} migration(s) applied")


def audit_gitignore(ws: Workspace) -> dict[str, Any]:
    path = ws.root / ".gitignore"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    missing = [x for x in (".dev.vars", ".hoox/") if x not in lines]
    if missing:
        return _check("gitignore", False, f".gitignore does not list {', '.join(missing)} (secrets could be committed)",
                      f"Add {', '.join(missing)} to {path} (`hoox repair secrets` does it).")
    return _check("gitignore", True, ".dev.vars and .hoox/ are gitignored")


def audit_workspace(ws: Workspace) -> list[dict[str, Any]]:
    return [audit_config(ws), audit_secrets(ws), audit_manifest(ws), audit_migrations(ws), audit_gitignore(ws)]


def print_checks(checks: list[dict[str, Any]]) -> None:
    for c in checks:
        mark = "[green]PASS[/green]" if c["ok"] else "[red]FAIL[/red]"
        say(f"{mark} {esc(c['name'])}: {esc(c['detail'])}")
        if not c["ok"] and c.get("fix"):
            say(f"     fix: {esc(c['fix'])}")


@app.command()
@handle_errors
def setup(json_out: JsonOpt = False) -> None:
    """Audit the workspace: config, required secrets, KV manifest, migrations; each with its fix."""
    ws = workspace()
    checks = audit_workspace(ws)
    ok = all(c["ok"] for c in checks)
    if json_out:
        emit_json({"ok": ok, "workspace": str(ws.root), "checks": checks})
    else:
        print_checks(checks)
        failed = sum(not c["ok"] for c in checks)
        say("[green]The workspace is set up.[/green]" if ok else f"[red]{failed} check(s) failed.[/red]")
    if not ok:
        raise typer.Exit(1)
