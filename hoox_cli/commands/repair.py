"""`hoox repair check|worker|infra|secrets|kv|db|rebuild`: diagnose the workspace and fix it locally.

`repair check` runs five probes, the seeds' checklist translated to this project:
  1. worker code    every enabled worker's module (and Durable Object classes) imports and serves ASGI
  2. dependencies   every package hoox requires is installed in a version it accepts
  3. configuration  hoox.toml, kv-manifest.json and .dev.vars parse and hold values of the right type
  4. bindings       the local resources the workers bind exist: the ledger (migrated, intact), CONFIG_KV
                    (every manifest key with a valid value), the state folders
  5. secrets        every secret the enabled workers require is set; key/secret pairs complete
Each step passes or fails with the command that fixes it; exit 1 when one fails.

The repairs change only local state (the Cloudflare side is `hoox infra provision` / `hoox deploy`).
`repair rebuild` is the destructive one: it backs the ledger and CONFIG_KV up first, asks (or takes
--confirm), re-creates both and restores the data. It keeps queues and Durable Objects: those hold
pending signals and the idempotency locks that stop a signal from executing twice.

JSON objects (--json):
- check:   {"ok", "workspace", "steps": [{"step", "name", "ok", "detail", "problems": [str], "fix"}]}
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

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hoox_cli.common import JsonOpt, RemoteOpt, emit_json, esc, fail, handle_errors, run_async, say, workspace

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

app = typer.Typer(help="Diagnose the workspace (five-step check) and repair it locally.", no_args_is_help=True)


# ----------------------------------------------------------------------------- probes
def try_import(module: str) -> tuple[Any, str | None]:
    import importlib

    try:
        return importlib.import_module(module), None
    except Exception as exc:  # a broken module is what this probe reports
        return None, f"{type(exc).__name__}: {exc}"


def _step(n: int, name: str, problems: list[str], fix: str | None, detail_ok: str) -> dict[str, Any]:
    ok = not problems
    return {"step": n, "name": name, "ok": ok, "detail": detail_ok if ok else "; ".join(problems),
            "problems": problems, "fix": None if ok else fix}


def worker_code_problems(names: list[str]) -> list[str]:
    from hoox_edge import catalog

    problems = []
    for n in names:
        w = catalog.worker(n)
        mod, err = try_import(w.module)
        if mod is None:
            problems.append(f"{n}: {w.module} does not import ({err})")
        elif not callable(getattr(mod, "app", None)):
            problems.append(f"{n}: {w.module} has no ASGI `app`")
        for d in w.durable_objects:
            dmod, derr = try_import(d.module)
            if dmod is None or not hasattr(dmod, d.class_name):
                problems.append(f"{n}: Durable Object {d.class_name} missing from {d.module}"
                                + (f" ({derr})" if derr else ""))
    return problems


def dependency_problems() -> list[str]:
    from importlib import metadata

    try:
        reqs = metadata.requires("hoox") or []
    except metadata.PackageNotFoundError:
        return ["hoox itself is not installed as a package"]
    try:
        from packaging.requirements import Requirement
    except ImportError:  # without packaging only presence is checked
        Requirement = None  # type: ignore[assignment,misc]
    problems = []
    for text in reqs:
        if "extra ==" in text:
            continue  # optional extras (dev tools) are not needed to run
        if Requirement is not None:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate():
                continue
            name, spec = req.name, req.specifier
        else:
            name, spec = text.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip(), None
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed")
            continue
        if spec is not None and not spec.contains(have, prereleases=True):
            problems.append(f"{name} {have} does not satisfy {spec}")
    return problems


def configuration_problems(ws: Workspace) -> list[str]:
    from hoox_cli.commands.config import config_problems, manifest_problems

    problems: list[str] = []
    try:
        problems += config_problems(ws)
    except Exception as exc:
        problems.append(str(exc))
    problems += manifest_problems(ws)[0]
    try:
        ws.secrets()
    except Exception as exc:
        problems.append(str(exc))
    return problems


def ledger_state(ws: Workspace) -> tuple[str, list[str]]:
    """(integrity, pending migrations) of the local ledger; integrity "missing" when there is none."""
    import sqlite3

    from hoox_edge import migrations

    from hoox_cli.core.backup import ledger_path

    path = ledger_path(ws)
    if not path.exists():
        return "missing", [m.name for m in migrations.available()]
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            has_history = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'd1_migrations'").fetchone()
            done = {r[0] for r in conn.execute("SELECT name FROM d1_migrations")} if has_history else set()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"unreadable: {exc}", []
    if integrity != "ok":
        return integrity, []
    return "ok", [m.name for m in migrations.available() if m.name not in done]


def kv_problems(ws: Workspace) -> list[str]:
    from hoox_cli.commands.config import manifest_problems
    from hoox_cli.common import edge

    bad, values = manifest_problems(ws)
    if bad:
        return []  # reported under configuration
    with edge(None, ws) as e:  # the local edge's KV, through its operator API when it runs
        stored = {i["key"]: i for i in e.kv_list()["items"] if i["source"] == "kv"}
    missing = [k for k, v in values.items() if v is not None and k not in stored]
    invalid = [k for k, v in values.items() if v is not None and k in stored and stored[k]["error"]]
    out = []
    if missing:
        out.append(f"CONFIG_KV lacks {len(missing)} manifest key(s): {', '.join(missing[:5])}"
                   + (" ..." if len(missing) > 5 else ""))
    if invalid:
        out.append(f"CONFIG_KV holds invalid values for {', '.join(invalid)}")
    return out


def binding_problems(ws: Workspace) -> tuple[list[str], str]:
    integrity, pending = ledger_state(ws)
    problems: list[str] = []
    fixes: list[str] = []
    if integrity == "missing":
        problems.append("the local ledger does not exist")
        fixes.append("hoox repair db")
    elif integrity != "ok":
        problems.append(f"the local ledger is damaged ({integrity})")
        fixes.append("hoox repair rebuild")
    elif pending:
        problems.append(f"ledger migrations pending: {', '.join(pending)}")
        fixes.append("hoox repair db")
    kv = kv_problems(ws)
    if kv:
        problems += kv
        fixes.append("hoox repair kv")
    return problems, " && ".join(fixes) or "hoox repair infra"


def secret_problems(ws: Workspace) -> tuple[list[str], str]:
    from hoox_cli.commands.config import env_problems

    problems, _warnings = env_problems(ws)
    fixes = sorted({p["fix"] for p in problems})
    return [f"{p['name']}: {p['issue']}" for p in problems], " ; ".join(fixes)


def run_check(ws: Workspace) -> list[dict[str, Any]]:
    steps = []
    steps.append(_step(1, "worker code", worker_code_problems(ws.enabled_workers()) if ws.exists else [],
                       "hoox repair worker NAME (reinstall hoox if a module is missing: pip install -e <checkout>)",
                       f"{len(ws.enabled_workers())} enabled worker(s) import and serve ASGI"))
    deps = dependency_problems()
    steps.append(_step(2, "dependencies", deps, "pip install -e <hoox checkout> (or pip install --upgrade hoox)",
                       "every required package is installed in an accepted version"))
    steps.append(_step(3, "configuration", configuration_problems(ws),
                       "hoox config set KEY VALUE / hoox repair kv (see the problems)",
                       "hoox.toml, kv-manifest.json and .dev.vars parse and are well-typed"))
    try:
        bp, bfix = binding_problems(ws)
    except Exception as exc:
        bp, bfix = [f"cannot read the local state: {exc}"], "hoox repair rebuild"
    steps.append(_step(4, "bindings", bp, bfix, "ledger migrated and intact; CONFIG_KV holds every manifest key"))
    try:
        sp, sfix = secret_problems(ws)
    except Exception as exc:
        sp, sfix = [str(exc)], "fix .dev.vars"
    steps.append(_step(5, "secrets", sp, sfix, "every required secret is set"))
    return steps


@app.command()
@handle_errors
def check(json_out: JsonOpt = False) -> None:
    """Run the five-step checklist (worker code, dependencies, configuration, bindings, secrets)."""
    ws = workspace()
    steps = run_check(ws)
    ok = all(s["ok"] for s in steps)
    if json_out:
        emit_json({"ok": ok, "workspace": str(ws.root), "steps": steps})
    else:
        say("[bold]hoox repair checklist[/bold]")
        for s in steps:
            mark = "[green]PASS[/green]" if s["ok"] else "[red]FAIL[/red]"
            say(f"  [Step {s['step']}] {esc(s['name']):<14} {mark}  {esc(s['detail'])}")
            if not s["ok"]:
                say(f"      fix: {esc(s['fix'])}")
        failed = sum(not s["ok"] for s in steps)
        say("[green]No problems found.[/green]" if ok else f"[red]{failed} step(s) failed.[/red]")
    if not ok:
        raise typer.Exit(1)


# ----------------------------------------------------------------------------- repairs
def repair_ledger(ws: Workspace) -> dict[str, Any]:
    from hoox_edge import catalog, migrations

    from hoox_cli.commands.db import open_db
    from hoox_cli.core.backup import ledger_path

    path = ledger_path(ws)
    created = not path.exists()
    integrity, _pending = ledger_state(ws)
    if integrity not in ("ok", "missing"):
        fail("LEDGER_DAMAGED", f"The local ledger is damaged ({integrity}); migrations cannot fix that. "
                               "`hoox repair rebuild` backs up what can be read and re-creates it.")
    db = open_db(ws)
    try:
        applied = run_async(migrations.apply(db))
    finally:
        db.close()
    return {"workspace": str(ws.root), "database": catalog.TRADE_DB, "integrity": "ok", "created": created,
            "migrations_applied": applied}


def repair_kv_values(ws: Workspace, remote: str | None = None) -> dict[str, Any]:
    from hoox_cli.commands.config import apply_manifest

    result = apply_manifest(ws, overwrite=False, replace_invalid=True, remote=remote)
    result["replaced_invalid"] = [w["key"] for w in result["written"] if w.get("was_invalid")]
    return result


def repair_secret_values(ws: Workspace) -> dict[str, Any]:
    import os
    import stat

    from hoox_edge.local.workspace import GENERATED_SECRETS

    from hoox_cli.commands.config import env_problems
    from hoox_cli.common import remember_secrets

    before = ws.secrets() if ws.dev_vars_path.exists() else {}
    ws.create()  # generates the missing internal secrets and fixes .gitignore; keeps everything else
    remember_secrets(ws.secrets().values())
    generated = [n for n in GENERATED_SECRETS if not before.get(n)]
    actions = [f"generated {n}" for n in generated]
    mode = ws.dev_vars_path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        os.chmod(ws.dev_vars_path, 0o600)
        actions.append(".dev.vars made readable only by you")
    problems, _ = env_problems(ws)
    return {"workspace": str(ws.root), "generated": generated, "actions": actions,
            "still_missing": [{"name": p["name"], "fix": p["fix"]} for p in problems]}


@app.command()
@handle_errors
def secrets(json_out: JsonOpt = False) -> None:
    """Generate missing internal secrets (never replacing one), fix .dev.vars permissions, list the rest."""
    ws = workspace()
    r = repair_secret_values(ws)
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
    from hoox_cli.common import where_of

    ws = workspace()
    r = repair_kv_values(ws, remote)
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
    r = repair_ledger(ws)
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
    ledger = repair_ledger(ws)
    if ledger["created"]:
        actions.append("created the ledger")
    if ledger["migrations_applied"]:
        actions.append("applied " + ", ".join(ledger["migrations_applied"]))
    kv_result = repair_kv_values(ws)
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

    from hoox_cli.commands.config import generate_dev_vars
    from hoox_cli.core.backup import runtime_running

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
    for issue in worker_code_problems([name]):
        problems.append({"issue": issue, "fix": "reinstall hoox: pip install -e <hoox checkout>"})
    sec = repair_secret_values(ws)
    actions += sec["actions"]
    have = ws.secrets()
    for s in w.secrets:
        if not have.get(s):
            problems.append({"issue": f"required secret {s} is not set", "fix": f"hoox secrets set {s}"})
    if w.bindings_of("d1"):
        led = repair_ledger(ws)
        if led["created"] or led["migrations_applied"]:
            actions.append("ledger: " + ", ".join(led["migrations_applied"]))
    if any(b.resource == catalog.CONFIG_KV for b in w.bindings_of("kv")):
        kvr = repair_kv_values(ws)
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

    from hoox_cli.commands.config import manifest_problems, open_kv
    from hoox_cli.common import confirm_destructive
    from hoox_cli.core import backup

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
    led = repair_ledger(ws)
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
