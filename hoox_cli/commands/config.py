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

from hoox_cli.common import (
    MASK,
    CliError,
    JsonOpt,
    RemoteOpt,
    can_prompt,
    compact_table,
    edge,
    emit_json,
    esc,
    fail,
    handle_errors,
    remember_remote,
    remote_of,
    say,
    show,
    table,
    where,
    where_of,
    workspace,
)

if TYPE_CHECKING:
    from hoox_edge.local.kv import LocalKV
    from hoox_edge.local.workspace import Workspace

app = typer.Typer(help="Workspace configuration: hoox.toml, local secrets, runtime settings (KV).",
                  no_args_is_help=True)
kv_app = typer.Typer(help="Runtime settings in CONFIG_KV (checked against the KV manifest).", no_args_is_help=True)
app.add_typer(kv_app, name="kv")


@kv_app.callback()
def _kv_group(ctx: typer.Context, remote: RemoteOpt = None) -> None:
    """Runtime settings in CONFIG_KV: the local edge's, or --remote URL's."""
    remember_remote(ctx, remote)


def open_kv(ws: Workspace) -> LocalKV:
    """The local CONFIG_KV file itself, for what only works on files (a rebuild): everything else goes
    through the edge (hoox_cli.core.edge)."""
    from hoox_edge import catalog
    from hoox_edge.local.kv import LocalKV

    return LocalKV(ws.kv_file(catalog.CONFIG_KV))


def _type_of(key: str) -> str | None:
    from hoox_edge.shared import settings

    s = settings.lookup(key)
    return s.type if s else None


def _show_value(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


@kv_app.command("get")
@handle_errors
def get(ctx: typer.Context, key: Annotated[str, typer.Argument(help="e.g. trade:kill_switch")],
        remote: RemoteOpt = None, json_out: JsonOpt = False) -> None:
    """Show a setting's typed value (its manifest default, marked as such, when unset)."""
    with edge(remote_of(ctx, remote)) as e:
        item = e.kv_get(key)
    if item.get("error"):
        fail("INVALID_STORED_VALUE", f"The stored value of {key} is invalid ({item['error']}); "
                                     f"fix it with `hoox config kv set {key} VALUE`.")
    value, source = item["value"], item["source"]
    if json_out:
        emit_json({"key": key, "value": value, "raw": item["raw"], "source": source, "type": item["type"],
                   "description": item["description"], "edge": e.info.as_json()})
        return
    if source == "unset":
        say(f"{esc(key)} is not set (no default).  {where(e.info)}")
    elif source == "default":
        say(f"{esc(key)} = {esc(_show_value(value))}  [dim](default; not set in KV)[/dim]  {where(e.info)}")
    else:
        say(f"{esc(key)} = {esc(_show_value(value))}  {where(e.info)}")


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
        if key == "trade:mode" and typed == "live":
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
        f"{esc(key)} = {esc(_show_value(item['value']))}"
        + (f"  [dim](was {esc(previous)})[/dim]" if previous is not None else "") + f"  {where(e.info)}"
    )
    if exchanges is not None and not any(x["credentials"] for x in exchanges):
        say("[bold red]The desk trades LIVE, but no exchange has its API keys:[/bold red] every signal will fail "
            "until you set them (`hoox secrets set BYBIT_API_KEY`, ...).")


def exchange_key_lines(exchanges: list[dict[str, Any]], *, names: bool = True) -> list[str]:
    """Plain lines saying, per exchange, what live trading does there (the CLI's prompt, the cockpit's dialog)."""
    lines = []
    for e in exchanges:
        if e["credentials"]:
            lines.append(f"{e['name']:<8} API keys set: real orders ({e['endpoint']})")
        else:
            missing = f" ({', '.join(e['secrets'])})" if names else ""
            lines.append(f"{e['name']:<8} no API keys{missing}: its signals cannot be placed")
    return lines


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
            _show_value(i["value"]) + (f"  (invalid: {i['error']})" if "error" in i else ""),
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
            + (f" Its default {esc(_show_value(default))} applies." if default is not None else "")
            + f"  {where(e.info)}"
        )


# ============================================================================= hoox.toml: show / set
# Every key of hoox.toml that hoox reads, with its type: `config set` refuses anything else (a typo
# would otherwise be saved and silently ignored) unless --force.
_SUBDOMAIN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
_ACCOUNT_ID = r"^[0-9a-f]{32}$"


def _schema(key: str) -> tuple[str, str] | None:
    """(type, description) of a known hoox.toml key."""
    from hoox_edge import catalog

    parts = key.split(".")
    if key == "dev.port":
        return "port", "local port of the gateway; the other workers follow it"
    if len(parts) == 3 and parts[0] == "workers" and parts[2] == "enabled":
        if parts[1] in catalog.names():
            return "boolean", f"run/deploy {parts[1]}"
        return None
    if key == "cloudflare.account_id":
        return "account_id", "Cloudflare account id (32 hex characters)"
    if key == "cloudflare.subdomain":
        return "subdomain", "your workers.dev subdomain (https://<worker>.<subdomain>.workers.dev)"
    if key == "deploy.size_limit_mb":
        return "megabytes", "largest compressed bundle a deploy uploads (3: Cloudflare's free plan; 10: paid)"
    if key == "deploy.wheel_cache":
        return "path", "folder of the pure-Python wheels deploys vendor (default .hoox/cache/wheels)"
    return None


def _known_keys() -> list[str]:
    from hoox_edge import catalog

    return ["dev.port", *(f"workers.{n}.enabled" for n in catalog.names()), "cloudflare.account_id",
            "cloudflare.subdomain", "deploy.size_limit_mb", "deploy.wheel_cache"]


def typed_value(key: str, kind: str, text: str) -> Any:
    """`text` as the value `key` holds; CliError INVALID_VALUE saying what was expected."""
    import re


    t = text.strip()
    if kind == "boolean":
        low = t.lower()
        if low in ("true", "yes", "on", "1"):
            return True
        if low in ("false", "no", "off", "0"):
            return False
        fail("INVALID_VALUE", f"{key} takes true or false, got {text!r}. Nothing was written.")
    if kind == "port":
        from hoox_edge.local.workspace import port_problem

        problem = port_problem(int(t) if t.isdigit() else t)
        if problem is not None:
            fail("INVALID_VALUE", f"{key}: {problem}. Nothing was written.")
        return int(t)
    if kind == "account_id":
        if not re.match(_ACCOUNT_ID, t.lower()):
            fail("INVALID_VALUE", f"{key} takes a Cloudflare account id: 32 hexadecimal characters "
                                  "(dashboard → Workers & Pages → Account ID). Nothing was written.")
        return t.lower()
    if kind == "subdomain":
        if not re.match(_SUBDOMAIN, t):
            fail("INVALID_VALUE", f"{key} takes a DNS label (lower-case letters, digits and -), got {text!r}. "
                                  "Nothing was written.")
        return t
    if kind in ("megabytes", "path"):
        from hoox_cli.core import deploy

        try:
            if kind == "path":
                return deploy.parse_wheel_cache(t)
            try:
                number: Any = float(t)
            except ValueError:
                number = t
            return deploy.parse_size_limit(number)
        except ValueError as exc:
            fail("INVALID_VALUE", f"{exc}. Nothing was written.")
    return _literal(t)


def _literal(text: str) -> Any:
    """An unknown key's value under --force: a TOML literal when it is one (true, 25, "x", [1, 2]), else text."""
    import tomlkit

    try:
        return tomlkit.parse(f"v = {text}")["v"]
    except Exception:
        return text


def config_problems(ws: Workspace) -> list[str]:
    """What in hoox.toml has the wrong type or is not a key hoox reads (raises WorkspaceError if unparsable)."""
    doc = ws.config()
    problems: list[str] = []

    def walk(prefix: str, node: Any) -> None:
        for k, v in node.items():
            key = f"{prefix}{k}"
            if hasattr(v, "items"):
                walk(key + ".", v)
                continue
            schema = _schema(key)
            if schema is None:
                # tables hoox manages for other purposes (e.g. Cloudflare resource ids) are not audited
                if key.startswith(("workers.", "dev.", "deploy.")):
                    problems.append(f"{key} is not a setting hoox reads")
                continue
            try:
                typed = typed_value(key, schema[0], str(v).lower() if isinstance(v, bool) else str(v))
            except CliError as err:
                problems.append(err.message.replace(" Nothing was written.", ""))
                continue
            plain = v.unwrap() if hasattr(v, "unwrap") else v
            if schema[0] == "megabytes" and isinstance(plain, int) and not isinstance(plain, bool):
                continue  # 3 and 3.0 are the same number of megabytes
            if type(typed) is not type(plain):
                problems.append(f"{key} must be a {schema[0]}, not {type(v).__name__} ({v!r})")
    walk("", doc)
    try:
        ws.base_port()
    except Exception as exc:
        problems.append(str(exc))
    if "hoox" not in ws.enabled_workers():
        problems.append("workers.hoox.enabled is false: the gateway receives every signal and must run")
    return problems


def _get_path(doc: Any, key: str) -> Any:
    node = doc
    for part in key.split("."):
        if not hasattr(node, "get") or part not in node:
            return None
        node = node[part]
    return node.unwrap() if hasattr(node, "unwrap") else node


def _set_path(doc: Any, key: str, value: Any) -> None:
    import tomlkit

    parts = key.split(".")
    node = doc
    for i, part in enumerate(parts[:-1]):
        if part not in node:
            # [workers.NAME] tables live under a super table, as in a new workspace's hoox.toml
            node.add(part, tomlkit.table(is_super_table=(i == 0 and len(parts) > 2)))
        node = node[part]
        if not hasattr(node, "items"):
            fail("INVALID_KEY", f"{'.'.join(parts[:i + 1])} is a value, not a table; {key} cannot be set.")
    node[parts[-1]] = value


def _worker_rows(ws: Workspace) -> list[dict[str, Any]]:
    from hoox_edge import catalog

    enabled = set(ws.enabled_workers())
    return [{"name": w.name, "enabled": w.name in enabled, "default": w.enabled_by_default,
             "description": w.description} for w in catalog.WORKERS]


def _redacted_config(doc: Any) -> dict[str, Any]:
    data = doc.unwrap()
    cf = data.get("cloudflare")
    if isinstance(cf, dict) and cf.get("account_id"):
        cf["account_id"] = MASK  # an account id is an identifier worth keeping out of screenshots and logs
    return data


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
        emit_json({"workspace": str(ws.root), "file": str(ws.config_path), "config": _redacted_config(doc),
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
    walk("", _redacted_config(doc))
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
    say(f"{esc(key)} = {esc(_show_value(result['value']))}"
        + (f"  [dim](was {esc(_show_value(result['previous']))})[/dim]" if previous is not None else ""))
    if result["restart_needed"]:
        say("The running local edge reads this at start: `hoox dev stop` then `hoox dev start` to apply it.")


# ============================================================================= secrets: config env ...
env_app = typer.Typer(help="Local secrets and Cloudflare credentials (.dev.vars), shown redacted.",
                      no_args_is_help=True)
app.add_typer(env_app, name="env")

# Workspace-level credentials: what the deploy commands use, besides the workers' own secrets.
WORKSPACE_VARS = {"CLOUDFLARE_API_TOKEN": "Cloudflare API token for deploys"}
def declared_secrets(ws: Workspace) -> list[dict[str, Any]]:
    """Every secret name hoox knows: [{"name", "workers", "enabled_workers", "required"}] in catalog order."""
    from hoox_edge import catalog

    enabled = set(ws.enabled_workers())
    names: list[str] = []
    for w in catalog.WORKERS:
        names += [s for s in w.all_secrets if s not in names]
    names += [n for n in WORKSPACE_VARS if n not in names]
    out = []
    for n in names:
        owners = catalog.secret_owners(n)
        out.append({"name": n, "workers": [w.name for w in owners],
                    "enabled_workers": [w.name for w in owners if w.name in enabled],
                    "required": any(n in w.secrets and w.name in enabled for w in owners)})
    return out


def missing_required_secrets(ws: Workspace) -> list[str]:
    have = ws.secrets()
    return [d["name"] for d in declared_secrets(ws) if d["required"] and not have.get(d["name"])]


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


def env_problems(ws: Workspace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(problems, warnings) of the local secrets, each {"name", "issue", "fix"}."""
    import stat

    from hoox_edge.local.workspace import GENERATED_SECRETS

    problems: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    try:
        have = ws.secrets()
    except Exception as exc:
        if type(exc).__name__ != "WorkspaceError":
            raise
        return [{"name": ".dev.vars", "issue": str(exc), "fix": f"Fix that line of {ws.dev_vars_path}."}], []
    for n in missing_required_secrets(ws):
        fix = "hoox repair secrets" if n in GENERATED_SECRETS else f"hoox secrets set {n}"
        problems.append({"name": n, "issue": "required by an enabled worker and not set", "fix": fix})
    known = {d["name"] for d in declared_secrets(ws)}
    from hoox_cli.commands.secrets import incomplete_pairs

    for pair in incomplete_pairs({k for k, v in have.items() if v}):
        n, partner = pair["name"], pair["missing"]
        problems.append({"name": partner, "issue": f"{n} is set but {partner} is not: the pair is "
                         "incomplete, orders cannot be signed", "fix": f"hoox secrets set {partner}"})
    if have.get("TELEGRAM_BOT_TOKEN") and not have.get("TELEGRAM_CHAT_ID"):
        warnings.append({"name": "TELEGRAM_CHAT_ID", "issue": "a bot token without a chat id: alerts stay in the "
                         "local outbox", "fix": "hoox secrets set TELEGRAM_CHAT_ID"})
    for n in sorted(have):
        if n not in known:
            warnings.append({"name": n, "issue": "not read by any worker (a typo?)",
                             "fix": f"remove the {n} line from {ws.dev_vars_path.name}"})
        elif have[n] != have[n].strip():
            problems.append({"name": n, "issue": "the value starts or ends with white space",
                             "fix": f"hoox secrets set {n}"})
    if ws.dev_vars_path.exists() and ws.dev_vars_path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append({"name": ".dev.vars", "issue": "readable by other users of this machine",
                         "fix": f"chmod 600 {ws.dev_vars_path}"})
    return problems, warnings


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


def dev_vars_dir(ws: Workspace) -> Any:
    return ws.hoox_dir / "dev-vars"


def generate_dev_vars(ws: Workspace, workers: list[str]) -> list[dict[str, Any]]:
    """Write .hoox/dev-vars/<worker>/.dev.vars for each worker with only the secrets it declares."""
    import os

    from hoox_edge import catalog

    have = ws.secrets()
    files = []
    for name in workers:
        w = catalog.worker(name)
        names = [s for s in w.all_secrets if have.get(s)]
        folder = dev_vars_dir(ws) / name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / ".dev.vars"
        tmp = path.with_name(".dev.vars.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"# {name}: generated by `hoox config env generate-dev-vars` from {ws.dev_vars_path.name}\n")
            f.writelines(f"{n}={have[n]}\n" for n in names)
        os.replace(tmp, path)
        files.append({"worker": name, "path": str(path), "names": names,
                      "missing_required": [s for s in w.secrets if not have.get(s)]})
    return files


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
    from hoox_cli.commands import wizard

    ws = workspace(required=False)
    created = ws.create()
    ui = wizard.Ui(yes=yes, no_input=no_input, json_mode=json_out)
    result = wizard.secrets_step(ws, ui, secrets_file=secrets_file, skip=False, created=created)
    if json_out:
        emit_json({"workspace": str(ws.root), "created": created, **result})
        return
    wizard.say_secrets(result)


# ============================================================================= kv apply-manifest
def manifest_problems(ws: Workspace) -> tuple[list[str], dict[str, Any]]:
    """Every problem of kv-manifest.json (not only the first) and its typed values."""
    import json

    from hoox_edge.shared import settings

    if not ws.manifest_path.exists():
        return [], settings.defaults()
    try:
        data = json.loads(ws.manifest_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        return [f"{ws.manifest_path.name} is not valid JSON ({exc})"], {}
    if not isinstance(data, dict):
        return [f"{ws.manifest_path.name} must be a JSON object of key: value"], {}
    problems: list[str] = []
    values: dict[str, Any] = {}
    for k, v in data.items():
        if settings.lookup(k) is None:
            problems.append(f"{k}: not a setting of the KV manifest")
            continue
        try:
            values[k] = settings.coerce(k, v)
        except settings.SettingError as exc:
            problems.append(f"{exc.key}: {exc.message}")
    return problems, values


def apply_manifest(ws: Workspace, *, overwrite: bool, replace_invalid: bool = False,
                   remote: str | None = None) -> dict[str, Any]:
    """Write the manifest's values to CONFIG_KV (the local edge's, or --remote's): absent keys always, differing
    ones with `overwrite`, stored values that do not parse with `replace_invalid`. Nothing is written when the
    manifest is invalid."""
    problems, values = manifest_problems(ws)
    if problems:
        fail("INVALID_MANIFEST", f"{ws.manifest_path.name} is invalid, nothing was written: " + "; ".join(problems),
             details={"problems": problems})
    written: list[dict[str, Any]] = []
    unchanged: list[str] = []
    kept: list[dict[str, Any]] = []
    with edge(remote, ws) as e:
        stored = {i["key"]: i for i in e.kv_list()["items"] if i["source"] == "kv"}
        for key, value in values.items():
            if value is None:
                continue
            entry = stored.get(key)
            raw = entry["raw"] if entry else None
            invalid = bool(entry and entry["error"])
            if entry and not invalid and entry["value"] == value:
                unchanged.append(key)
                continue
            if raw is None or overwrite or (invalid and replace_invalid):
                e.kv_put(key, value)
                written.append({"key": key, "value": value, "previous": raw, **({"was_invalid": True}
                                                                                 if invalid else {})})
            else:
                kept.append({"key": key, "stored": raw, "manifest": value, "invalid": invalid})
    return {"workspace": str(ws.root), "manifest": str(ws.manifest_path), "overwrite": overwrite,
            "written": written, "unchanged": unchanged, "kept": kept, "edge": e.info.as_json()}


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
    ws = workspace()
    url = remote_of(ctx, remote)
    problems, values = manifest_problems(ws)
    if not problems and values.get("trade:mode") == "live":
        with edge(url, ws) as e:
            entry = e.kv_get("trade:mode")
            current = None if entry["error"] or entry["source"] != "kv" else entry["value"]
            # written when absent, or with --overwrite (an invalid stored value is only replaced by repair)
            if current != "live" and (entry["raw"] is None or (overwrite and current is not None)):
                confirm_live(e.exchanges(), yes=yes, json_out=json_out)
    result = apply_manifest(ws, overwrite=overwrite, remote=url)
    if json_out:
        emit_json(result)
        return
    for w in result["written"]:
        say(f"[green]set[/green] {esc(w['key'])} = {esc(_show_value(w['value']))}"
            + (f"  [dim](was {esc(w['previous'])})[/dim]" if w["previous"] is not None else ""))
    for k in result["kept"]:
        say(f"[yellow]kept[/yellow] {esc(k['key'])} = {esc(k['stored'])} (manifest: "
            f"{esc(_show_value(k['manifest']))}; --overwrite replaces it)")
    say(f"{len(result['written'])} written, {len(result['unchanged'])} already as in the manifest, "
        f"{len(result['kept'])} kept.  {where_of(result['edge'])}")
