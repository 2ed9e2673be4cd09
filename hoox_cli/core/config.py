"""The workspace's configuration: what in hoox.toml, kv-manifest.json and the local secrets is wrong, and the
writes that put it right (the KV manifest applied, per-worker .dev.vars generated). `hoox check setup`
reports these problems, `hoox repair` fixes them, `hoox config` edits the same keys; the cockpit asks
the same questions. Problems are returned as data; nothing here prints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hoox_cli.core.errors import CliError, fail

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace


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
    if key == "cloudflare.zone":
        return "zone", "your domain on Cloudflare (e.g. example.com): the zone of the custom domains and WAF rules"
    if len(parts) == 3 and parts[:2] == ["cloudflare", "hostnames"]:
        w = next((x for x in catalog.WORKERS if x.name == parts[2] and x.public), None)
        return ("hostname", f"custom domain of the public worker {parts[2]}") if w else None
    if key == "deploy.size_limit_mb":
        return "megabytes", "largest compressed bundle a deploy uploads (3: Cloudflare's free plan; 10: paid)"
    if key == "deploy.wheel_cache":
        return "path", "folder of the pure-Python wheels deploys vendor (default .hoox/cache/wheels)"
    if key == "operator.access.team_domain":
        return "team_domain", "Cloudflare Access team domain (alpha.cloudflareaccess.com): the gateway checks its JWT"
    if key == "operator.access.audience":
        return "audience", "the Access application's audience (AUD) tag"
    if key == "secrets.rotation_days":
        return "days", "days after which `hoox secrets check` flags a secret for rotation (default 90)"
    return None


def _known_keys() -> list[str]:
    from hoox_edge import catalog

    return ["dev.port", *(f"workers.{n}.enabled" for n in catalog.names()), "cloudflare.account_id",
            "cloudflare.subdomain", "cloudflare.zone",
            *(f"cloudflare.hostnames.{w.name}" for w in catalog.WORKERS if w.public),
            "deploy.size_limit_mb", "deploy.wheel_cache", "operator.access.team_domain", "operator.access.audience",
            "secrets.rotation_days"]


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
    if kind == "team_domain":
        from hoox_edge.shared.access import AccessConfigError, team_origin

        try:
            team_origin(t)
        except AccessConfigError as exc:
            fail("INVALID_VALUE", f"{key}: {exc}. Nothing was written.")
        return t
    if kind == "audience":
        if not re.match(r"^[A-Za-z0-9_-]{1,256}$", t):
            fail("INVALID_VALUE", f"{key} takes the Access application's AUD tag (letters, digits, - and _; Zero "
                                  "Trust → Access → Applications → your app → Overview). Nothing was written.")
        return t
    if kind == "days":
        if not t.isdigit() or not 1 <= int(t) <= 3650:
            fail("INVALID_VALUE", f"{key} takes a whole number of days from 1 to 3650, got {text!r}. "
                                  "Nothing was written.")
        return int(t)
    if kind in ("zone", "hostname"):
        from hoox_cli.core import domains

        if kind == "zone":
            problem = domains.zone_problem(t.lower())
        else:
            problem = domains.hostname_problem(None, key.split(".")[2], t.lower())
        if problem:
            fail("INVALID_VALUE", f"{key}: {problem}. Nothing was written.")
        return t.lower()
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
                if key.startswith(("workers.", "dev.", "deploy.", "operator.", "secrets.")):
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
    from hoox_cli.core.deploy import operator_access

    access = operator_access(ws)
    if len(access) == 1:
        missing = "audience" if "team_domain" in access else "team_domain"
        problems.append(f"operator.access.{missing} is not set: Access needs both team_domain and audience (the "
                        "deployed gateway refuses its operator API until both are set, or neither)")
    try:
        ws.base_port()
    except Exception as exc:
        problems.append(str(exc))
    if "hoox" not in ws.enabled_workers():
        problems.append("workers.hoox.enabled is false: the gateway receives every signal and must run")
    return problems


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


# Workspace-level credentials: what the deploy commands use, besides the workers' own secrets.
WORKSPACE_VARS = {"CLOUDFLARE_API_TOKEN": "Cloudflare API token for deploys",
                  "HOOX_ACCESS_CLIENT_ID": "Cloudflare Access service token id the CLI and cockpit send",
                  "HOOX_ACCESS_CLIENT_SECRET": "Cloudflare Access service token secret the CLI and cockpit send"}


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


DEFAULT_ROTATION_DAYS = 90  # DESIGN.md: credential rotation reminder


def rotation_days(ws: Workspace) -> int:
    """`secrets.rotation_days` of hoox.toml (default 90); a wrong value is reported by `check setup`."""
    table: Any = ws.config().get("secrets", {}) if ws.exists else {}
    days = table.get("rotation_days", DEFAULT_ROTATION_DAYS) if hasattr(table, "get") else DEFAULT_ROTATION_DAYS
    return days if isinstance(days, int) and not isinstance(days, bool) and 1 <= days <= 3650 \
        else DEFAULT_ROTATION_DAYS


def secret_ages(ws: Workspace, present: dict[str, list[str]], *, now: float) -> list[dict[str, Any]]:
    """Per secret that is set (`present`: {where: [NAME]}, where "local" or a worker's name), when it was
    last set and whether that is longer ago than the rotation period: [{"name", "where", "set_at",
    "age_days", "overdue", "fix"}]. A secret set before hoox kept dates has set_at None and is not flagged."""
    from hoox_edge.shared import clock

    days = rotation_days(ws)
    dates = ws.secret_dates()
    out = []
    for where, names in present.items():
        for name in names:
            entry = dates.get(name, {})
            stamp = entry.get("local") if where == "local" else (entry.get("remote") or {}).get(where)
            set_at = clock.parse(stamp) if isinstance(stamp, str) else None
            age = None if set_at is None else max(0.0, (now - set_at) / 86400)
            remote = "" if where == "local" else f" --remote --worker {where}"
            out.append({"name": name, "where": where, "set_at": stamp if set_at is not None else None,
                        "age_days": None if age is None else int(age), "overdue": age is not None and age >= days,
                        "fix": f"hoox secrets set {name}{remote}"})
    return out


def rotation_note(ws: Workspace) -> str | None:
    """One line naming the local secrets past the rotation period and how to replace them (the cockpit's
    reminder at start), None when there are none."""
    from hoox_edge.shared import clock

    have = ws.secrets()
    present = {"local": [d["name"] for d in declared_secrets(ws) if have.get(d["name"])]}
    overdue = [a for a in secret_ages(ws, present, now=clock.now()) if a["overdue"]]
    if not overdue:
        return None
    names = ", ".join(f"{a['name']} ({a['age_days']} days)" for a in overdue)
    return (f"Set longer ago than the {rotation_days(ws)}-day rotation period: {names}. Replace each with "
            "`hoox secrets set NAME`; `hoox secrets check` lists them.")


def fund_moving_keys_note(permissions: list[dict[str, Any]]) -> str | None:
    """One line naming the exchange keys that can withdraw or transfer funds (as exchange_key_permissions
    found them) and what to do, None when there are none: the cockpit's warning at start."""
    risky = []
    for p in permissions:
        can = " and ".join(x for x, v in (("withdraw", p.get("withdraw")), ("transfer", p.get("transfer"))) if v)
        if can:
            risky.append(f"{p['exchange']} ({exchange_secret_names()[p['exchange']][0]} can {can})")
    if not risky:
        return None
    return (f"Exchange keys that can move funds: {', '.join(risky)}. hoox only trades: create keys with trading "
            "and read permissions only, set them with `hoox secrets set`, then delete these at the exchange "
            "(`hoox secrets check --permissions`).")


def missing_required_secrets(ws: Workspace) -> list[str]:
    have = ws.secrets()
    return [d["name"] for d in declared_secrets(ws) if d["required"] and not have.get(d["name"])]


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
    """Write the manifest's values to CONFIG_KV (the local edge's, or --remote's), through the edge
    (hoox_cli.core.edge): absent keys always, differing ones with `overwrite`, stored values that do not parse
    with `replace_invalid`. Nothing is written when the manifest is invalid."""
    from hoox_cli.core.edge import connect

    problems, values = manifest_problems(ws)
    if problems:
        fail("INVALID_MANIFEST", f"{ws.manifest_path.name} is invalid, nothing was written: " + "; ".join(problems),
             details={"problems": problems})
    written: list[dict[str, Any]] = []
    unchanged: list[str] = []
    kept: list[dict[str, Any]] = []
    e = connect(remote, ws)
    try:
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
    finally:
        e.close()
    return {"workspace": str(ws.root), "manifest": str(ws.manifest_path), "overwrite": overwrite,
            "written": written, "unchanged": unchanged, "kept": kept, "edge": e.info.as_json()}


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



def incomplete_pairs(have: set[str]) -> list[dict[str, str]]:
    """The exchange key pairs of which only one half is set: [{"name": set one, "missing": the other}]."""
    out: list[dict[str, str]] = []
    for key, secret in exchange_secret_names().values():
        for mine, theirs in ((key, secret), (secret, key)):
            if mine in have and theirs not in have:
                out.append({"name": mine, "missing": theirs})
    return out


def exchange_secret_names() -> dict[str, tuple[str, str]]:
    from hoox_edge.exchange_catalog import EXCHANGES

    return {e.name: e.secrets for e in EXCHANGES}


def alert_overdue(ws: Workspace, overdue: list[dict[str, Any]], days: int) -> dict[str, Any]:
    """One alert per overdue secret and setting, through the edge the CLI talks to (HOOX_API_URL, else the
    workspace's local gateway): {"sent": [NAME], "error": str|None}. One already alerted for the same
    setting is not sent again; an edge that cannot be reached sends nothing, and the next check tries again."""
    from hoox_cli.core.client import HooxClient, HooxError, resolve_config
    from hoox_cli.core.redact import remember_secrets

    dates = ws.secret_dates()
    pending = [a for a in overdue if (dates.get(a["name"], {}).get("alerted") or {}).get(a["where"]) != a["set_at"]]
    sent: list[str] = []
    if not pending:
        return {"sent": sent, "error": None}
    try:
        cfg = resolve_config(None, workspace=ws)
        remember_secrets(cfg.secrets)
        with HooxClient(cfg.base_url, cfg.token, source=cfg.source, token_source=cfg.token_source,
                        access=cfg.access, retries=0) as client:
            for a in pending:
                where = "" if a["where"] == "local" else f" on {a['where']}"
                client.alert(f"Credential rotation: {a['name']}{where} was set {a['age_days']} days ago, over the "
                             f"{days}-day rotation period. Replace it: {a['fix']}", "warning")
                ws.mark_secret_alerted(a["name"], a["where"], a["set_at"])
                sent.append(a["name"])
    except HooxError as exc:
        return {"sent": sent, "error": getattr(exc, "message", str(exc))}
    return {"sent": sent, "error": None}


async def exchange_key_permissions(ws: Workspace) -> list[dict[str, Any]]:
    """What each exchange key pair set in .dev.vars may do, asked of the exchange (the host the local edge's
    KV names: live, testnet or `exchanges:{ex}:base_url`): [KeyPermissions.as_dict()], pairs set only."""
    from hoox_edge import catalog
    from hoox_edge.exchange_catalog import EXCHANGES
    from hoox_edge.exchanges.permissions import key_permissions
    from hoox_edge.local.kv import LocalKV
    from hoox_edge.ports import Env

    have = ws.secrets()
    pairs = [e for e in EXCHANGES if all(have.get(n) for n in e.secrets)]
    if not pairs:
        return []
    kv = LocalKV(ws.kv_file(catalog.CONFIG_KV))
    try:
        out = []
        for e in pairs:
            env = Env({"CONFIG_KV": kv, **{n: have[n] for n in e.secrets}}, worker="trade-worker",
                      secret_names=e.secrets)
            out.append((await key_permissions(env, e.name)).as_dict())
        return out
    finally:
        kv.close()
