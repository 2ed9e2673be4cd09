"""`hoox secrets set|delete|check`: local secrets in the workspace's gitignored .dev.vars, or with --remote
the deployed workers' secrets (`wrangler secret put` with the value on stdin, never on its command line;
`wrangler secret list`).

JSON (--json):
- set:          {"workspace", "name", "set": true, "replaced": bool, "workers": [worker], "declared": bool,
                 "runtime_running": bool, "created": [file]}
- set --remote: {"workspace", "name", "remote": true, "workers": [worker], "set_on": [worker],
                 "failed": [{"worker", "error"}]}
- delete:       {"workspace", "name", "deleted": bool, "workers": [worker], "runtime_running": bool}
- check:        {"target": "local"|"remote", "ok": bool, "workers": [{"worker", "enabled", "required":
                 {NAME: bool}, "optional": {NAME: bool}, "missing": [NAME], "exchanges"?: {ex: bool},
                 "incomplete"?: [{"name", "missing"}], "error"?: str}], "rotation": {"days", "secrets": [{"name",
                 "where": "local"|worker, "set_at": iso|null, "age_days": int|null, "overdue": bool, "fix"}]},
                 "overdue": [NAME], "alerts"?: {"sent": [NAME], "error": str|null},
                 "permissions"?: [{"exchange", "known": bool, "withdraw": bool|null,
                 "transfer": bool|null, "read_only"?: bool, "granted": [str], "error"?: str}]}
`check --permissions` asks Bybit and Binance (MEXC cannot tell) what each key pair in .dev.vars may do; a
key that can withdraw or transfer funds makes `ok` false (exit 1).
When each secret was last set is kept in .hoox/secret-dates.json (never a value); one older than
`secrets.rotation_days` (hoox.toml, default 90) is flagged with the command that sets a new one. Being
overdue is a warning: it does not change `ok` or the exit status. Each overdue secret also raises one
alert through the edge (HOOX_API_URL, else the local gateway; Telegram when configured), once per setting.
An exchange's key without its secret (or the reverse) is a problem wherever it is checked
(`incomplete_pairs`): nothing can sign that exchange's orders.
The value is never part of any output.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from hoox_cli.core.config import WORKSPACE_VARS, exchange_secret_names, incomplete_pairs
from hoox_cli.core.errors import fail
from hoox_cli.core.workspace import workspace
from hoox_cli.options import JsonOpt, handle_errors
from hoox_cli.output import emit_json, esc, say, warn

app = typer.Typer(help="Local secrets (.dev.vars): set them before or while the edge runs.", no_args_is_help=True)


def _read_value(name: str) -> str:
    """The value from stdin when piped, else a hidden prompt (keeps it out of shell history)."""
    if not sys.stdin.isatty():
        data = sys.stdin.read()
        return data[:-1] if data.endswith("\n") else data
    return typer.prompt(f"Value for {name}", hide_input=True, confirmation_prompt=True)


@app.command("set")
@handle_errors
def set_secret(
    name: Annotated[str, typer.Argument(help="Secret name, e.g. BYBIT_API_KEY.")],
    value: Annotated[
        str | None,
        typer.Argument(
            help="The value. Omit it to type it at a hidden prompt or pipe it on stdin "
            "(then it appears in no shell history).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Set it even when no worker declares this name.")] = False,
    remote: Annotated[bool, typer.Option(
        "--remote", help="Set it on the deployed workers that declare it (wrangler secret put).")] = False,
    worker: Annotated[list[str] | None, typer.Option(
        "--worker", "-w", help="With --remote: only this worker (repeatable); default: the enabled owners.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Set a local secret; a running edge picks it up on its next request (no restart)."""
    from hoox_edge import catalog

    from hoox_cli.core import process
    from hoox_cli.core.redact import remember_secrets
    from hoox_cli.core.workspace import prepare_workspace

    ws = workspace(required=False)
    owners = [w.name for w in catalog.secret_owners(name)]
    if not owners and not force and name not in WORKSPACE_VARS:  # the CLI's own credentials need no worker
        known = sorted({s for w in catalog.WORKERS for s in w.all_secrets})
        fail(
            "UNKNOWN_SECRET",
            f"No worker declares a secret named {name}, so nothing would read it. Known secrets: "
            f"{', '.join(known)}. Pass --force to set it anyway.",
            details={"known": known},
        )
    created: list[str] = []
    if not ws.exists and not remote:
        created = prepare_workspace(ws)["created"]
    if value is None:
        if json_out and sys.stdin.isatty():
            fail(
                "VALUE_REQUIRED",
                f"Give the value of {name} on stdin (e.g. `... | hoox secrets set {name} --json`).",
            )
        value = _read_value(name)
    if value == "":
        fail("EMPTY_VALUE", f"The value of {name} is empty; nothing was written.")
    remember_secrets([value])  # from here on it can never be printed, even in an error message
    if remote:
        _set_remote(ws, name, value, owners, worker, json_out)
        return
    replaced = name in ws.secrets()
    ws.set_secret(name, value)
    running = process.probe(ws).running
    result: dict[str, Any] = {
        "workspace": str(ws.root),
        "name": name,
        "set": True,
        "replaced": replaced,
        "workers": owners,
        "declared": bool(owners),
        "runtime_running": running,
        "created": created,
    }
    if json_out:
        emit_json(result)
        if not owners and name not in WORKSPACE_VARS:
            warn(f"no worker declares {name}; it was set because of --force")
        return
    if created:
        say(f"Created a hoox workspace in {esc(ws.root)} ({', '.join(created)}).")
    if not owners and name not in WORKSPACE_VARS:
        warn(f"no worker declares {name}; it was set because of --force, but nothing reads it.")
    verb = "Replaced" if replaced else "Set"
    used = (f"used by {', '.join(owners)}" if owners else WORKSPACE_VARS[name].lower() if name in WORKSPACE_VARS
            else "not used by any worker")
    say(f"{verb} [bold]{esc(name)}[/bold] in {esc(ws.dev_vars_path)} ({used}).")
    if running:
        say("The running edge reads it on its next request; no restart needed.")


def _set_remote(ws: Any, name: str, value: str, owners: list[str], only: list[str] | None, json_out: bool) -> None:
    from hoox_edge import catalog

    from hoox_cli.core import wrangler_cli
    from hoox_cli.core.errors import run_async

    if only:
        for w in only:
            catalog.worker(w)  # validates the name
        targets = only
    else:
        enabled = set(ws.enabled_workers()) if ws.exists else {w.name for w in catalog.WORKERS if w.enabled_by_default}
        targets = [w for w in owners if w in enabled]
    if not targets:
        fail("NO_TARGET", f"No enabled worker declares {name}; name one with --worker.")

    async def put_all() -> tuple[list[str], list[dict[str, str]]]:
        import asyncio

        # The value goes on stdin only: a command line is visible to every user of the machine.
        results = await asyncio.gather(*(
            wrangler_cli.run(["secret", "put", name, "--name", w], cwd=ws.root, ws=ws, stdin=value)
            for w in targets))
        done = [w for w, r in zip(targets, results, strict=True) if r.ok]
        failed = [{"worker": w, "error": r.error()} for w, r in zip(targets, results, strict=True) if not r.ok]
        return done, failed

    done, failed = run_async(put_all())
    for w in done:
        ws.record_secret_date(name, w)  # for the rotation reminder of `secrets check --remote`
    out = {"workspace": str(ws.root), "name": name, "remote": True, "workers": targets, "set_on": done,
           "failed": failed}
    if json_out:
        emit_json(out)
    else:
        for w in done:
            say(f"[green]✓[/green] {esc(name)} set on {esc(w)}")
        for f in failed:
            say(f"[red]✗[/red] {esc(name)} not set on {esc(f['worker'])}: {esc(f['error'])}")
    if failed:
        raise typer.Exit(1)


# ----------------------------------------------------------------------------- check
async def _remote_names(ws: Any, worker: str) -> tuple[set[str] | None, str | None]:
    import json

    from hoox_cli.core import wrangler_cli

    r = await wrangler_cli.run(["secret", "list", "--name", worker, "--format", "json"], cwd=ws.root, ws=ws)
    if not r.ok:
        return None, r.error()
    text = r.text
    start = text.find("[")
    try:
        items = json.loads(text[start:text.rfind("]") + 1]) if start >= 0 else []
    except ValueError:
        return None, "wrangler secret list did not print JSON"
    return {i["name"] for i in items if isinstance(i, dict) and "name" in i}, None


@app.command("delete")
@handle_errors
def delete_secret(
    name: Annotated[str, typer.Argument(help="Secret name, e.g. BYBIT_API_SECRET.")],
    json_out: JsonOpt = False,
) -> None:
    """Remove a local secret from .dev.vars (a running edge stops using it on its next request)."""
    from hoox_edge import catalog

    from hoox_cli.core import process

    ws = workspace()
    deleted = ws.delete_secret(name)
    owners = [w.name for w in catalog.secret_owners(name)]
    result = {"workspace": str(ws.root), "name": name, "deleted": deleted, "workers": owners,
              "runtime_running": process.probe(ws).running}
    if json_out:
        emit_json(result)
        return
    if not deleted:
        say(f"{esc(name)} is not set in {esc(ws.dev_vars_path)}; nothing changed.")
        return
    say(f"Deleted [bold]{esc(name)}[/bold] from {esc(ws.dev_vars_path)}"
        + (f" (it was used by {', '.join(owners)})." if owners else "."))
    for pair in incomplete_pairs({k for k, v in ws.secrets().items() if v}):
        warn(f"{pair['name']} is still set without {pair['missing']}: `hoox secrets delete {pair['name']}` "
             f"or `hoox secrets set {pair['missing']}`.")


@app.command("check")
@handle_errors
def check(
    remote: Annotated[bool, typer.Option("--remote", help="Check the deployed workers (wrangler secret list).")]
    = False,
    all_workers: Annotated[bool, typer.Option("--all", help="Also the workers that are not enabled.")] = False,
    permissions: Annotated[bool, typer.Option(
        "--permissions", help="Also ask Bybit and Binance what each exchange key in .dev.vars may do: a key that "
        "can withdraw or transfer funds fails the check.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Per worker: which required and optional secrets are set (names only, never values), and how old each is."""
    from hoox_edge import catalog

    if permissions and remote:
        fail("INVALID_OPTION", "--permissions asks the exchanges with the keys in .dev.vars; the deployed workers' "
             "key values cannot be read back. Run it without --remote.")
    ws = workspace()
    enabled = set(ws.enabled_workers())
    local = ws.secrets()
    exchanges = exchange_secret_names()
    rows: list[dict[str, Any]] = []
    chosen = [w for w in catalog.WORKERS if w.name in enabled or all_workers]
    remote_names: dict[str, tuple[set[str] | None, str | None]] = {}
    if remote:
        import asyncio

        from hoox_cli.core.errors import run_async

        async def gather() -> list[tuple[set[str] | None, str | None]]:
            return await asyncio.gather(*(_remote_names(ws, w.name) for w in chosen))

        remote_names = dict(zip([w.name for w in chosen], run_async(gather()), strict=True))
    for w in chosen:
        row: dict[str, Any] = {"worker": w.name, "enabled": w.name in enabled}
        if remote:
            have, err = remote_names[w.name]
            if err is not None:
                row["error"] = err
                have = set()
        else:
            have = {k for k, v in local.items() if v}
        assert have is not None
        row["required"] = {s: s in have for s in w.secrets}
        row["optional"] = {s: s in have for s in w.optional_secrets}
        row["missing"] = [] if "error" in row else [s for s in w.secrets if s not in have]
        pairs = {ex: names for ex, names in exchanges.items() if set(names) <= set(w.all_secrets)}
        if pairs:
            row["exchanges"] = {ex: all(n in have for n in names) for ex, names in pairs.items()}
            row["incomplete"] = [p for p in incomplete_pairs(have) if p["name"] in w.all_secrets]
        rows.append(row)
    ok = all(not r["missing"] and not r.get("incomplete") and "error" not in r for r in rows)
    from hoox_edge.shared import clock

    from hoox_cli.core.config import declared_secrets, rotation_days, secret_ages

    if remote:
        present = {r["worker"]: [n for n, v in {**r["required"], **r["optional"]}.items() if v]
                   for r in rows if "error" not in r}
    else:
        present = {"local": [d["name"] for d in declared_secrets(ws) if local.get(d["name"])]}
    ages = secret_ages(ws, present, now=clock.now())
    overdue = [a for a in ages if a["overdue"]]
    out: dict[str, Any] = {"target": "remote" if remote else "local", "ok": ok, "workers": rows,
                           "rotation": {"days": rotation_days(ws), "secrets": ages},
                           "overdue": sorted({a["name"] for a in overdue})}
    if overdue:
        from hoox_cli.core.config import alert_overdue

        out["alerts"] = alert_overdue(ws, overdue, rotation_days(ws))
    risky: list[dict[str, Any]] = []
    if permissions:
        from hoox_cli.core.config import exchange_key_permissions
        from hoox_cli.core.errors import run_async

        out["permissions"] = run_async(exchange_key_permissions(ws))
        risky = [p for p in out["permissions"] if p["withdraw"] or p["transfer"]]
        out["ok"] = ok = ok and not risky
    if json_out:
        emit_json(out)
    else:
        from hoox_cli.output import show, table

        def mark(d: dict[str, bool]) -> str:
            return ", ".join(f"{k} {'✓' if v else '✗'}" for k, v in d.items())

        show(table(["worker", "required", "optional", "exchanges"],
                   [[r["worker"] + ("" if r["enabled"] else " (disabled)"),
                     r.get("error") or mark(r["required"]), mark(r["optional"]), mark(r.get("exchanges", {}))]
                    for r in rows], title=f"Secrets ({'Cloudflare' if remote else '.dev.vars'})"))
        if ok:
            say("Every required secret is set.")
        else:
            for r in rows:
                if r["missing"]:
                    say(f"[red]{esc(r['worker'])}[/red] lacks {esc(', '.join(r['missing']))}: "
                        f"`hoox secrets set NAME{' --remote' if remote else ''}`.")
                for pair in r.get("incomplete") or []:
                    say(f"[red]{esc(r['worker'])}[/red]: {esc(pair['name'])} is set but {esc(pair['missing'])} is "
                        f"not, so its orders cannot be signed: `hoox secrets set {esc(pair['missing'])}"
                        f"{' --remote' if remote else ''}`.")
        for p in out.get("permissions") or []:
            key = exchange_secret_names()[p["exchange"]][0]
            if p["withdraw"] or p["transfer"]:
                can = " and ".join(x for x, v in (("withdraw", p["withdraw"]), ("transfer", p["transfer"])) if v)
                say(f"[red]{esc(p['exchange'])}[/red]: the key in {esc(key)} can {can} funds. Create a key with "
                    f"trading and read permissions only, `hoox secrets set {esc(key)}` (and its secret), then "
                    "delete this one at the exchange.")
            elif p.get("error"):
                warn(f"{p['exchange']}: permissions not checked: {p['error']}")
            else:
                say(f"{esc(p['exchange'])}: the key cannot withdraw or transfer funds.")
        days = rotation_days(ws)
        for a in overdue:
            where = "" if a["where"] == "local" else f" on {a['where']}"
            warn(f"{a['name']}{where} was set {a['age_days']} days ago ({a['set_at'][:10]}), over the {days}-day "
                 f"rotation period: make a new one (for an exchange key: create it at the exchange, then delete the "
                 f"old one there) and `{a['fix']}`.")
        alerts = out.get("alerts") or {}
        if alerts.get("sent"):
            say(f"An alert went out for {esc(', '.join(alerts['sent']))} (once per secret until it is replaced).")
        if alerts.get("error"):
            warn(f"No rotation alert could be sent: {alerts['error']}")
        unknown = sorted({a["name"] for a in ages if a["set_at"] is None})
        if unknown:
            say(f"No date is recorded for {esc(', '.join(unknown))} (set before hoox kept dates, or by hand): "
                "set them again with `hoox secrets set` to start their rotation clock.")
        if not overdue and ages:
            say(f"No secret is older than the {days}-day rotation period (hoox.toml secrets.rotation_days).")
    if not ok:
        raise typer.Exit(1)
