"""`hoox config show|set`, `hoox config env ...`, `hoox config kv ...`: the workspace's settings.

`config show|set` read and edit hoox.toml with tomlkit, so its comments and order survive; values
are checked against the type of the key (`workers.NAME.enabled` a boolean, `dev.port` a port, ...).
`config env` manages the local secrets (.dev.vars); values never leave the file (shown as ***).

JSON objects (--json):
- show:            {"workspace", "file", "config": {...hoox.toml, account id as ***}, "workers": [{"name",
                    "enabled", "default", "description"}]};  with KEY: {"workspace", "key", "value"}
- set:             {"workspace", "file", "key", "value", "previous", "restart_needed": bool}
- env show:        {"workspace", "file", "variables": [{"name", "workers", "enabled_workers", "required", "set",
                    "value": "***"|null}], "undeclared": [name]}
- env validate:    {"workspace", "valid": bool, "problems": [{"name", "issue", "fix"}], "warnings": [...]}
- env generate-dev-vars: {"workspace", "directory", "files": [{"worker", "path", "names", "missing_required"}]}
- env init:        {"workspace", "created": [file], "generated": [name], "set": [name], "skipped": [name],
                    "file"}
- kv apply-manifest: {"workspace", "manifest", "overwrite", "written": [{"key", "value", "previous"}],
                    "unchanged": [key], "kept": [{"key", "stored", "manifest", "invalid"}]}

`config kv get|set|list|delete|apply-manifest`: runtime settings in CONFIG_KV, through the edge
(hoox_cli.core.edge): `--remote URL` (on the command or on `config kv`) or HOOX_API_URL, else the
workspace's local edge: its operator API while it runs, its state (through the edge's own code) while it
does not. A running edge sees a change on its next read. Values are checked against the KV manifest
(hoox_edge.shared.settings) before anything is sent.

JSON objects (--json), each with "edge": {"url": str|null, "local": bool, "running": bool}, the edge that
answered (url null: the local edge, not running):
- get:    {"key", "value", "raw": str|null, "source": "kv"|"default"|"unset", "type": str|null, "description"}
- set:    {"key", "value", "raw", "previous": str|null, "type"}; setting trade:mode to live adds
          "exchanges": [{"name", "credentials": bool, "secrets": [name], "endpoint", "live"}]
- list:   {"prefix", "keys": [{"key", "value", "raw", "type", "error"?}]}
- delete: {"key", "deleted": bool, "default": value|null}

Setting trade:mode to live (from anything else), with `kv set` or a manifest `kv apply-manifest`
writes, shows which exchanges have their API keys set and asks first (`--yes` skips the question);
under --json or --quiet without --yes nothing is written: CONFIRMATION_REQUIRED (exit 2), with the
exchanges in `details`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hoox_cli import quick
from hoox_cli.core.config import (
    _known_keys,
    _schema,
    _set_path,
    apply_manifest,
    declared_secrets,
    dev_vars_dir,
    env_problems,
    exchange_key_lines,
    generate_dev_vars,
    manifest_problems,
    typed_value,
)
from hoox_cli.core.errors import fail
from hoox_cli.core.redact import MASK, redact_config
from hoox_cli.core.workspace import workspace
from hoox_cli.options import JsonOpt, RemoteOpt, handle_errors, remember_remote, remote_of
from hoox_cli.output import (
    can_prompt,
    compact_table,
    edge,
    emit_json,
    esc,
    say,
    show,
    show_value,
    table,
    where,
    where_of,
)

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

app = typer.Typer(help="Workspace configuration: hoox.toml, local secrets, runtime settings (KV).",
                  no_args_is_help=True)
kv_app = typer.Typer(help="Runtime settings in CONFIG_KV (checked against the KV manifest).", no_args_is_help=True)
app.add_typer(kv_app, name="kv")


@kv_app.callback()
def _kv_group(ctx: typer.Context, remote: RemoteOpt = None) -> None:
    """Runtime settings in CONFIG_KV: the local edge's, or --remote URL's."""
    remember_remote(ctx, remote)


def _type_of(key: str) -> str | None:
    from hoox_edge.shared import settings

    s = settings.lookup(key)
    return s.type if s else None


@kv_app.command("get")
@handle_errors
def get(ctx: typer.Context, key: Annotated[str, typer.Argument(help="e.g. trade:kill_switch")],
        remote: RemoteOpt = None, json_out: JsonOpt = False) -> None:
    """Show a setting's typed value (its manifest default, marked as such, when unset)."""
    quick.kv_get(key, remote_of(ctx, remote), json_out)


@kv_app.command("set")
@handle_errors
def set_(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="e.g. trade:kill_switch")],
    value: Annotated[str, typer.Argument(help="The value as typed: true, 25, 30,60,300, a JSON array, ...")],
    force: Annotated[bool, typer.Option("--force", help="Store a key the KV manifest does not know (local edge "
                                                        "only: the operator API refuses one).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before switching trade:mode to live.")]
    = False,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Set a setting after checking it against the KV manifest (nothing is written when it is invalid).

    trade:mode live shows which exchanges have API keys and asks first (or takes --yes)."""
    from hoox_edge.shared import settings

    s = settings.lookup(key)
    if s is None and not force:
        fail(
            "UNKNOWN_KEY",
            f"{key} is not a setting of the KV manifest (a typo?). See `hoox config kv list` "
            "for the stored keys; pass --force to store it anyway.",
        )
    try:
        stored = settings.encode(key, value)
        typed = settings.parse(key, stored)
    except settings.SettingError as exc:
        fail(
            "INVALID_VALUE",
            f"Invalid value for {exc.key}: {exc.message}. Nothing was written.",
            details={"key": exc.key, "expected": settings.type_label(s) if s else None},
        )
    exchanges: list[dict[str, Any]] | None = None
    with edge(remote_of(ctx, remote)) as e:
        if key == settings.TRADE_MODE and typed == "live":
            exchanges = e.exchanges()
            if e.kv_get(key)["raw"] != stored:
                confirm_live(exchanges, yes=yes, json_out=json_out)
        item = e.kv_put(key, value, force=force)
    previous = item["previous"]
    if json_out:
        emit_json({"key": key, "value": item["value"], "raw": item["raw"], "previous": previous,
                   "type": _type_of(key), **({"exchanges": exchanges} if exchanges is not None else {}),
                   "edge": e.info.as_json()})
        return
    say(
        f"{esc(key)} = {esc(show_value(item['value']))}"
        + (f"  [dim](was {esc(previous)})[/dim]" if previous is not None else "") + f"  {where(e.info)}"
    )
    if exchanges is not None and not any(x["credentials"] for x in exchanges):
        say("[bold red]The desk trades LIVE, but no exchange has its API keys:[/bold red] every signal will fail "
            "until you set them (`hoox secrets set BYBIT_API_KEY`, ...).")


def confirm_live(exchanges: list[dict[str, Any]], *, yes: bool, json_out: bool) -> None:
    """Switching trade:mode to live: say what it means per exchange and ask, unless --yes. Nobody to ask
    (--json, --quiet): CONFIRMATION_REQUIRED, nothing written."""
    if yes:
        return
    keyed = [e["name"] for e in exchanges if e["credentials"]]
    summary = (f"API keys are set for {', '.join(keyed)}" if keyed else "no exchange has its API keys set") + (
        f"; not for {', '.join(e['name'] for e in exchanges if not e['credentials'])}"
        if len(keyed) < len(exchanges) else "")
    if not can_prompt(json_out):
        fail("CONFIRMATION_REQUIRED", f"Switching trade:mode to live makes signals place real orders ({summary}). "
                                      "It needs --yes under --json or --quiet (no prompt is shown); nothing was "
                                      "changed.", exit_code=2, details={"exchanges": exchanges})
    say("[bold white on red] LIVE TRADING [/bold white on red] trade:mode live: signals place real orders with "
        "real money on these exchanges:")
    for line in exchange_key_lines(exchanges):
        say(f"  {esc(line)}")
    typer.confirm("Switch this desk to live trading?", abort=True)


@kv_app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Option("--prefix", help="Only keys starting with this.")] = "",
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Keys stored in CONFIG_KV with their typed values."""
    with edge(remote_of(ctx, remote)) as e:
        entries = e.kv_list(prefix)["items"]
    items = []
    for i in entries:
        if i["source"] != "kv":  # the manifest's defaults: `kv get` shows them, the list is what is stored
            continue
        item: dict[str, Any] = {"key": i["key"], "value": i["raw"] if i["error"] else i["value"], "raw": i["raw"],
                                "type": i["type"]}
        if i["error"]:
            item["error"] = i["error"]
        items.append(item)
    if json_out:
        emit_json({"prefix": prefix, "keys": items, "edge": e.info.as_json()})
        return
    if not items:
        say(
            "No keys"
            + (f" starting with {esc(prefix)}" if prefix else "")
            + " in CONFIG_KV."
            + ("" if prefix else " The edge writes the manifest's defaults on its first start.")
            + f"  {where(e.info)}"
        )
        return
    rows = [
        [
            i["key"],
            show_value(i["value"]) + (f"  (invalid: {i['error']})" if "error" in i else ""),
            i["type"] or "",
        ]
        for i in items
    ]
    show(compact_table(["key", "value", "type"], rows, optional=("type",), wrap=("value",),
                       title=f"CONFIG_KV of {e.info.label()}"))


@kv_app.command("delete")
@handle_errors
def delete(ctx: typer.Context, key: Annotated[str, typer.Argument(help="Key to remove.")],
           remote: RemoteOpt = None, json_out: JsonOpt = False) -> None:
    """Remove a key (its manifest default applies again)."""
    with edge(remote_of(ctx, remote)) as e:
        result = e.kv_delete(key)
    existed, default = result["deleted"], result["default"]
    if json_out:
        emit_json({"key": key, "deleted": existed, "default": default, "edge": e.info.as_json()})
        return
    if not existed:
        say(f"{esc(key)} was not set; nothing deleted.  {where(e.info)}")
    else:
        say(
            f"Deleted {esc(key)}."
            + (f" Its default {esc(show_value(default))} applies." if default is not None else "")
            + f"  {where(e.info)}"
        )


# ============================================================================= hoox.toml: show / set


def _get_path(doc: Any, key: str) -> Any:
    node = doc
    for part in key.split("."):
        if not hasattr(node, "get") or part not in node:
            return None
        node = node[part]
    return node.unwrap() if hasattr(node, "unwrap") else node


def _worker_rows(ws: Workspace) -> list[dict[str, Any]]:
    from hoox_edge import catalog

    enabled = set(ws.enabled_workers())
    return [{"name": w.name, "enabled": w.name in enabled, "default": w.enabled_by_default,
             "description": w.description} for w in catalog.WORKERS]


@app.command("show")
@handle_errors
def config_show(
    key: Annotated[str | None, typer.Argument(help="One dotted key, e.g. workers.email-worker.enabled.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """The workspace config (hoox.toml): workers enabled or not, ports, Cloudflare settings."""
    ws = workspace()
    doc = ws.config()
    if key is not None:
        value = _get_path(doc, key)
        if value is None:
            schema = _schema(key)
            if schema is None:
                fail("NOT_FOUND", f"{key} is not set in {ws.config_path.name}.")
        if key == "cloudflare.account_id" and value:
            value = MASK
        if json_out:
            emit_json({"workspace": str(ws.root), "key": key, "value": value})
        else:
            say(f"{esc(key)} = {esc(value if value is not None else '(not set)')}")
        return
    workers = _worker_rows(ws)
    if json_out:
        emit_json({"workspace": str(ws.root), "file": str(ws.config_path), "config": redact_config(doc),
                   "workers": workers})
        return
    say(f"[bold]{esc(ws.config_path)}[/bold]")
    show(table(["worker", "enabled", "default", "what it does"],
               [[w["name"], "yes" if w["enabled"] else "no", "yes" if w["default"] else "no", w["description"]]
                for w in workers]))
    flat: list[list[Any]] = []

    def walk(prefix: str, node: Any) -> None:
        for k, v in node.items():
            if isinstance(v, dict):
                if prefix == "" and k == "workers":
                    continue
                walk(f"{prefix}{k}.", v)
            else:
                flat.append([f"{prefix}{k}", v])
    walk("", redact_config(doc))
    if flat:
        show(table(["setting", "value"], flat))


@app.command("set")
@handle_errors
def config_set(
    key: Annotated[str, typer.Argument(help="Dotted key, e.g. workers.email-worker.enabled or dev.port.")],
    value: Annotated[str, typer.Argument(help="The value; checked against the key's type.")],
    force: Annotated[bool, typer.Option("--force", help="Set a key hoox does not read (kept as typed).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Set a hoox.toml value (comments and the order of the file are kept)."""
    from hoox_cli.core.backup import runtime_running

    ws = workspace()
    schema = _schema(key)
    if schema is None and not force:
        fail("UNKNOWN_KEY", f"{key} is not a setting hoox reads. Known: {', '.join(_known_keys())}. "
                            "Pass --force to store it anyway.", details={"known": _known_keys()})
    typed = typed_value(key, schema[0] if schema else "literal", value)
    if key == "workers.hoox.enabled" and typed is False:
        fail("INVALID_VALUE", "The gateway (hoox) receives every signal and cannot be disabled. Nothing was written.")
    doc = ws.config()
    previous = _get_path(doc, key)
    _set_path(doc, key, typed)
    ws.save_config(doc)
    secret = key == "cloudflare.account_id"
    result = {"workspace": str(ws.root), "file": str(ws.config_path), "key": key,
              "value": MASK if secret else typed, "previous": MASK if secret and previous else previous,
              "restart_needed": runtime_running(ws) is not None and key.startswith(("workers.", "dev."))}
    if json_out:
        emit_json(result)
        return
    say(f"{esc(key)} = {esc(show_value(result['value']))}"
        + (f"  [dim](was {esc(show_value(result['previous']))})[/dim]" if previous is not None else ""))
    if result["restart_needed"]:
        say("The running local edge reads this at start: `hoox dev stop` then `hoox dev start` to apply it.")


# ============================================================================= secrets: config env ...
env_app = typer.Typer(help="Local secrets and Cloudflare credentials (.dev.vars), shown redacted.",
                      no_args_is_help=True)
app.add_typer(env_app, name="env")


@env_app.command("show")
@handle_errors
def env_show(json_out: JsonOpt = False) -> None:
    """Every secret hoox knows, set or not, and which workers use it (values are never shown)."""
    ws = workspace()
    have = ws.secrets()
    variables = [{**d, "set": bool(have.get(d["name"])), "value": MASK if have.get(d["name"]) else None}
                 for d in declared_secrets(ws)]
    known = {v["name"] for v in variables}
    undeclared = sorted(n for n in have if n not in known)
    if json_out:
        emit_json({"workspace": str(ws.root), "file": str(ws.dev_vars_path), "variables": variables,
                   "undeclared": undeclared})
        return
    say(f"[bold]{esc(ws.dev_vars_path)}[/bold]")
    show(table(["name", "value", "required", "used by (enabled)"],
               [[v["name"], MASK if v["set"] else "(not set)", "yes" if v["required"] else "",
                 ", ".join(v["enabled_workers"]) or "-"] for v in variables]))
    if undeclared:
        say(f"[yellow]Not read by any worker:[/yellow] {esc(', '.join(undeclared))}")


@env_app.command("validate")
@handle_errors
def env_validate(json_out: JsonOpt = False) -> None:
    """Check the local secrets: required ones set, key/secret pairs complete, no stray names (exit 1 if not)."""
    ws = workspace()
    problems, warnings = env_problems(ws)
    valid = not problems
    if json_out:
        emit_json({"workspace": str(ws.root), "valid": valid, "problems": problems, "warnings": warnings})
    else:
        for p in problems:
            say(f"[red]problem:[/red] {esc(p['name'])}: {esc(p['issue'])} — fix: `{esc(p['fix'])}`")
        for w in warnings:
            say(f"[yellow]warning:[/yellow] {esc(w['name'])}: {esc(w['issue'])} — fix: `{esc(w['fix'])}`")
        say("[green]The local secrets are valid.[/green]" if valid else f"[red]{len(problems)} problem(s).[/red]")
    if not valid:
        raise typer.Exit(1)


@env_app.command("generate-dev-vars")
@handle_errors
def env_generate_dev_vars(
    all_workers: Annotated[bool, typer.Option("--all", help="Every worker, not only the enabled ones.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write one .dev.vars per worker under .hoox/dev-vars/<worker>/ holding only the secrets it declares."""
    from hoox_edge import catalog

    ws = workspace()
    files = generate_dev_vars(ws, catalog.names() if all_workers else ws.enabled_workers())
    if json_out:
        emit_json({"workspace": str(ws.root), "directory": str(dev_vars_dir(ws)), "files": files})
        return
    for f in files:
        say(f"wrote {esc(f['path'])} ({len(f['names'])} secret(s): {esc(', '.join(f['names']) or 'none')})")
        if f["missing_required"]:
            say(f"  [yellow]missing required:[/yellow] {esc(', '.join(f['missing_required']))}")
    say("[dim]These files are under .hoox/ (gitignored) and readable only by you.[/dim]")


@env_app.command("init")
@handle_errors
def env_init(
    secrets_file: Annotated[
        Path | None,
        typer.Option("--secrets-file", dir_okay=False,
                     help="NAME=value lines to set (instead of prompting); names must be ones a worker reads."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Answer every question with its default (skip).")] = False,
    no_input: Annotated[bool, typer.Option("--no-input", help="Never prompt; a question without its flag is an "
                                                              "error.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Guided setup of the local secrets: generates the internal ones, asks (hidden) for the others."""
    from hoox_cli import setup_prompts as wizard

    ws = workspace(required=False)
    created = ws.create()
    ui = wizard.Ui(yes=yes, no_input=no_input, json_mode=json_out)
    result = wizard.secrets_step(ws, ui, secrets_file=secrets_file, skip=False, created=created)
    if json_out:
        emit_json({"workspace": str(ws.root), "created": created, **result})
        return
    wizard.say_secrets(result)


# ============================================================================= kv apply-manifest


@kv_app.command("apply-manifest")
@handle_errors
def kv_apply_manifest(
    ctx: typer.Context,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Also replace values that differ from the manifest (e.g. a kill switch you turned on)."
    )] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask when the manifest switches trade:mode to "
                                                          "live.")] = False,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write kv-manifest.json's values to CONFIG_KV (every value is checked first).

    A manifest that would switch trade:mode to live asks first, as `config kv set trade:mode live` does."""
    from hoox_edge.shared import settings

    ws = workspace()
    url = remote_of(ctx, remote)
    problems, values = manifest_problems(ws)
    if not problems and values.get(settings.TRADE_MODE) == "live":
        with edge(url, ws) as e:
            entry = e.kv_get(settings.TRADE_MODE)
            current = None if entry["error"] or entry["source"] != "kv" else entry["value"]
            # written when absent, or with --overwrite (an invalid stored value is only replaced by repair)
            if current != "live" and (entry["raw"] is None or (overwrite and current is not None)):
                confirm_live(e.exchanges(), yes=yes, json_out=json_out)
    result = apply_manifest(ws, overwrite=overwrite, remote=url)
    if json_out:
        emit_json(result)
        return
    for w in result["written"]:
        say(f"[green]set[/green] {esc(w['key'])} = {esc(show_value(w['value']))}"
            + (f"  [dim](was {esc(w['previous'])})[/dim]" if w["previous"] is not None else ""))
    for k in result["kept"]:
        say(f"[yellow]kept[/yellow] {esc(k['key'])} = {esc(k['stored'])} (manifest: "
            f"{esc(show_value(k['manifest']))}; --overwrite replaces it)")
    say(f"{len(result['written'])} written, {len(result['unchanged'])} already as in the manifest, "
        f"{len(result['kept'])} kept.  {where_of(result['edge'])}")
