"""`hoox repair check|all|worker|infra|secrets|kv|db|rebuild`: diagnose the workspace and fix it locally.

`repair check` is `hoox check setup`: the one list of audits (hoox_cli.core.audits: worker code,
dependencies, config, KV manifest, secrets, ledger, CONFIG_KV, .gitignore), each failing one with its
fix and, where one exists, its repair. `repair check --remote` adds the Cloudflare account's
(hoox_cli.core.rollout.remote_audits): cloudflare-resources (every bound KV namespace, D1 database,
R2 bucket and queue exists), cloudflare-bindings (the ids hoox.toml binds are those), cloudflare-workers
(every enabled worker is deployed), cloudflare-secrets (each has its required secrets, by name) and
cloudflare-routes (each [cloudflare.hostnames] hostname routes to its worker).
`repair all` runs the repair of every failing audit that has one (secrets, db, kv), then audits
again. The other commands are the repairs themselves.

The repairs change only local state (the Cloudflare side is `hoox infra provision` / `hoox deploy`).
`repair rebuild` is the destructive one: it backs the ledger and CONFIG_KV up first, asks (or takes
--confirm), re-creates both and restores the data. It keeps queues and Durable Objects: those hold
pending signals and the idempotency locks that stop a signal from executing twice.

JSON objects (--json):
- check:   the object of `check setup`: {"ok", "workspace", "checks": [{"name", "checks", "ok", "detail",
           "problems": [str], "fix", "repair"}]} (with --remote, the cloudflare-* checks last)
- all:     {"workspace", "repaired": [{"repair", "audits": [name], "result": <that repair's object>}], "ok",
           "checks": [...the audits after]}
- worker:  {"workspace", "worker", "ok", "enabled", "actions": [str], "problems": [{"issue", "fix"}],
            "dev_vars": path, "restart_needed"}
- infra:   {"workspace", "actions": [str], "ledger": {"file", "migrations_applied"}, "kv": <kv object>}
- secrets: {"workspace", "generated": [name], "actions": [str], "still_missing": [{"name", "fix"}]}
- kv:      the object of `config kv apply-manifest` plus "replaced_invalid": [key]
- db:      {"workspace", "database", "integrity": "ok"|str, "created": bool, "migrations_applied": [name]}
- rebuild: {"workspace", "backup": {"ledger": <export object>|null, "kv": path}, "ledger": {"tables", "rows",
            "migrations_applied"}, "kv": {"restored": [key], "defaults": [key]}, "kept": [str], "remote": str}
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hoox_cli.core import audits
from hoox_cli.core.errors import fail, run_async
from hoox_cli.core.workspace import workspace
from hoox_cli.options import JsonOpt, RemoteOpt, handle_errors
from hoox_cli.output import emit_json, esc, say, where_of

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

app = typer.Typer(help="Diagnose the workspace (the audits of `check setup`) and repair it locally.",
                  no_args_is_help=True)


@app.command()
@handle_errors
def check(
    remote: Annotated[bool, typer.Option(
        "--remote", help="Also check the Cloudflare account: resources, bound ids, workers, secret names, routes.")]
    = False,
    json_out: JsonOpt = False,
) -> None:
    """The workspace's audits, as `hoox check setup` reports them (one list, each with its fix and repair)."""
    from hoox_cli.output import report_audits

    ws = workspace()
    extra = None
    if remote:
        from hoox_cli.core import rollout

        extra = run_async(rollout.remote_audits(ws))
    report_audits(ws, json_out, extra)


def _repaired(fn: Callable[[Workspace], dict[str, Any]], ws: Workspace) -> dict[str, Any]:
    try:
        return fn(ws)
    except audits.RepairError as err:
        fail(err.code, err.message)


@app.command("all")
@handle_errors
def all_(json_out: JsonOpt = False) -> None:
    """Run the repair of every failing audit that has one, then audit again (exit 1 if one still fails)."""
    r = _repaired(audits.repair_all, workspace())
    if json_out:
        emit_json(r)
    else:
        for done in r["repaired"] or [{"repair": None}]:
            say(f"repaired ({esc(', '.join(done['audits']))}): `hoox repair {esc(done['repair'])}`"
                if done["repair"] else "nothing to repair")
        for c in r["checks"]:
            if not c["ok"]:
                say(f"[red]still failing[/red] {esc(c['name'])}: {esc(c['detail'])}")
                if c["fix"]:
                    say(f"     fix: {esc(c['fix'])}")
        say("[green]The workspace is set up.[/green]" if r["ok"] else "")
    if not r["ok"]:
        raise typer.Exit(1)


@app.command()
@handle_errors
def secrets(json_out: JsonOpt = False) -> None:
    """Generate missing internal secrets (never replacing one), fix .dev.vars permissions, list the rest."""
    ws = workspace()
    r = _repaired(audits.repair_secret_values, ws)
    if json_out:
        emit_json(r)
        return
    for a in r["actions"] or ["nothing to generate: every internal secret is set"]:
        say(esc(a))
    for m in r["still_missing"]:
        say(f"[yellow]still missing:[/yellow] {esc(m['name'])} — `{esc(m['fix'])}`")


@app.command()
@handle_errors
def kv(remote: RemoteOpt = None, json_out: JsonOpt = False) -> None:
    """Restore the manifest's values for keys missing from CONFIG_KV or holding an invalid value (the local
    edge's, running or not, or --remote URL's)."""
    ws = workspace()
    r = _repaired(functools.partial(audits.repair_kv_values, remote=remote), ws)
    if json_out:
        emit_json(r)
        return
    for w in r["written"]:
        say(f"[green]restored[/green] {esc(w['key'])}" + (" (was invalid)" if w.get("was_invalid") else ""))
    say(f"{len(r['written'])} key(s) restored; {len(r['unchanged']) + len(r['kept'])} left as they were.  "
        f"{where_of(r['edge'])}")


@app.command()
@handle_errors
def db(json_out: JsonOpt = False) -> None:
    """Create the local ledger if missing, check its integrity and apply pending migrations."""
    ws = workspace()
    r = _repaired(audits.repair_ledger, ws)
    if json_out:
        emit_json(r)
        return
    what = "created and migrated" if r["created"] else "intact"
    say(f"{esc(r['database'])}: {what}; "
        + (f"applied {esc(', '.join(r['migrations_applied']))}" if r["migrations_applied"] else "no migration pending"))


@app.command()
@handle_errors
def infra(json_out: JsonOpt = False) -> None:
    """Re-create the local resources the workers bind: state folders, the ledger, CONFIG_KV's keys."""
    ws = workspace()
    actions = []
    for sub in ("kv", "d1", "do", "r2"):
        d = ws.resource_dir(sub)
        if not d.is_dir():
            d.mkdir(parents=True, exist_ok=True)
            actions.append(f"created {d}")
    ledger = _repaired(audits.repair_ledger, ws)
    if ledger["created"]:
        actions.append("created the ledger")
    if ledger["migrations_applied"]:
        actions.append("applied " + ", ".join(ledger["migrations_applied"]))
    kv_result = _repaired(audits.repair_kv_values, ws)
    if kv_result["written"]:
        actions.append(f"restored {len(kv_result['written'])} CONFIG_KV key(s)")
    result = {"workspace": str(ws.root), "actions": actions,
              "ledger": {"file": str(ws.resource_dir("d1")), "migrations_applied": ledger["migrations_applied"]},
              "kv": kv_result}
    if json_out:
        emit_json(result)
        return
    for a in actions or ["every local binding is in place; nothing to do"]:
        say(esc(a))
    say("[dim]The Cloudflare side: `hoox infra provision` creates what is missing there.[/dim]")


@app.command()
@handle_errors
def worker(
    name: Annotated[str, typer.Argument(help="Worker to repair, e.g. trade-worker.")],
    json_out: JsonOpt = False,
) -> None:
    """Check one worker (code, secrets, bindings), fix what can be fixed locally, regenerate its .dev.vars."""
    from hoox_edge import catalog

    from hoox_cli.core.backup import runtime_running
    from hoox_cli.core.config import generate_dev_vars

    ws = workspace()
    try:
        w = catalog.worker(name)
    except KeyError as exc:
        fail("UNKNOWN_WORKER", str(exc).strip("'\""))
    actions: list[str] = []
    problems: list[dict[str, str]] = []
    enabled = name in ws.enabled_workers()
    if not enabled:
        problems.append({"issue": f"{name} is disabled in hoox.toml",
                         "fix": f"hoox config set workers.{name}.enabled true"})
    for issue in audits.worker_code_problems([name]):
        problems.append({"issue": issue, "fix": "reinstall hoox: pip install -e <hoox checkout>"})
    sec = _repaired(audits.repair_secret_values, ws)
    actions += sec["actions"]
    have = ws.secrets()
    for s in w.secrets:
        if not have.get(s):
            problems.append({"issue": f"required secret {s} is not set", "fix": f"hoox secrets set {s}"})
    if w.bindings_of("d1"):
        led = _repaired(audits.repair_ledger, ws)
        if led["created"] or led["migrations_applied"]:
            actions.append("ledger: " + ", ".join(led["migrations_applied"]))
    if any(b.resource == catalog.CONFIG_KV for b in w.bindings_of("kv")):
        kvr = _repaired(audits.repair_kv_values, ws)
        if kvr["written"]:
            actions.append(f"restored {len(kvr['written'])} CONFIG_KV key(s)")
    dev_vars = generate_dev_vars(ws, [name])[0]
    actions.append(f"wrote {dev_vars['path']}")
    running = runtime_running(ws) is not None
    result = {"workspace": str(ws.root), "worker": name, "ok": not problems, "enabled": enabled,
              "actions": actions, "problems": problems, "dev_vars": dev_vars["path"],
              "restart_needed": running and bool(actions[:-1])}
    if json_out:
        emit_json(result)
    else:
        for a in actions:
            say(esc(a))
        for p in problems:
            say(f"[red]problem:[/red] {esc(p['issue'])} — `{esc(p['fix'])}`")
        if result["restart_needed"]:
            say("Restart the local edge to pick this up: `hoox dev stop && hoox dev start`.")
        say(f"[green]{esc(name)} is healthy locally.[/green]" if not problems else "")
    if problems:
        raise typer.Exit(1)


@app.command()
@handle_errors
def rebuild(
    confirm: Annotated[bool, typer.Option("--confirm", help="Rebuild without asking (the backup is still made).")]
    = False,
    json_out: JsonOpt = False,
) -> None:
    """Back up, then re-create the local ledger and CONFIG_KV and restore their data (asks first)."""
    from hoox_edge.shared import settings

    from hoox_cli.core import backup
    from hoox_cli.core.config import manifest_problems
    from hoox_cli.core.workspace import open_kv
    from hoox_cli.options import confirm_destructive

    ws = workspace()
    backup.refuse_while_running(ws, "a rebuild")
    ledger = backup.ledger_path(ws)
    # 1. backups: the ledger as SQL (what can be read), CONFIG_KV as JSON
    dump = None
    if ledger.exists():
        try:
            dump = backup.export_ledger(ws, stem="recovery-pre-rebuild", best_effort=True)
        except backup.BackupError as exc:
            fail("BACKUP_FAILED", f"{exc} Nothing was changed; the ledger file is {ledger}.")
    kv = open_kv(ws)
    try:
        stored: dict[str, str] = {}

        async def read_all() -> None:
            cursor = None
            while True:
                page = await kv.list(cursor=cursor)
                for k in page.keys:
                    raw = await kv.get(k.name)
                    if raw is not None:
                        stored[k.name] = raw
                if page.list_complete:
                    return
                cursor = page.cursor

        run_async(read_all())
    finally:
        kv.close()
    kv_backup = backup.new_backup_path(ws, "recovery-pre-rebuild-kv").with_suffix(".json")
    kv_backup.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if not json_out:
        if dump:
            say(f"Backed up the ledger to {esc(dump.path)} ({dump.rows} row(s))")
            for u in dump.unreadable:
                say(f"[yellow]could not read table {esc(u['name'])}: {esc(u['error'])}[/yellow]")
        say(f"Backed up CONFIG_KV ({len(stored)} key(s)) to {esc(kv_backup)}")
    # 2. ask
    confirm_destructive("Delete and re-create the local ledger and CONFIG_KV, then restore the backed-up data?",
                        confirmed=confirm, json_mode=json_out, command="hoox repair rebuild")
    # 3. tear down and re-create
    from hoox_edge import catalog

    kv_file = ws.kv_file(catalog.CONFIG_KV)
    backup.remove_database(ledger)
    backup.remove_database(kv_file)
    # 4. restore the ledger (schema and rows from the dump), then apply migrations newer than the dump
    tables: list[dict[str, Any]] = []
    if dump is not None:
        try:
            tables = backup.restore_ledger(ws, dump.path)
        except backup.BackupError as exc:
            fail("RESTORE_FAILED", f"{exc} The backup is kept at {dump.path}; a fresh ledger is created by "
                                   "`hoox db apply`.")
    led = _repaired(audits.repair_ledger, ws)
    # 5. CONFIG_KV: the values that were valid, then the manifest's for the rest
    kv = open_kv(ws)
    restored: list[str] = []
    try:
        for key, raw in stored.items():
            try:
                settings.parse(key, raw)
            except settings.SettingError:
                continue  # an invalid value is what a rebuild repairs
            run_async(kv.put(key, raw))
            restored.append(key)
        # the manifest's values for the rest, on the file too: the edge is stopped, and a rebuild is no
        # operator's change to log
        defaults = []
        for key, value in manifest_problems(ws)[1].items():
            if value is not None and key not in restored:
                run_async(kv.put(key, settings.encode(key, value)))
                defaults.append(key)
    finally:
        kv.close()
    result: dict[str, Any] = {
        "workspace": str(ws.root),
        "backup": {"ledger": dump.as_json() if dump else None, "kv": str(kv_backup)},
        "ledger": {"tables": tables, "rows": sum(t["rows"] for t in tables),
                   "migrations_applied": led["migrations_applied"]},
        "kv": {"restored": restored, "defaults": defaults},
        "kept": ["queues (pending signals)", "Durable Objects (idempotency locks, rate limits, paper exchange)"],
        "remote": "not touched: `hoox infra provision` and `hoox deploy all` rebuild the Cloudflare side",
    }
    if json_out:
        emit_json(result)
        return
    say(f"Rebuilt the ledger: {result['ledger']['rows']} row(s) restored"
        + (f", applied {', '.join(led['migrations_applied'])}" if led["migrations_applied"] else ""))
    say(f"Rebuilt CONFIG_KV: {len(restored)} value(s) restored, {len(defaults)} manifest default(s) written")
    say(f"[dim]Kept: {esc('; '.join(result['kept']))}. Remote: {esc(result['remote'])}.[/dim]")
