"""The setup wizard behind `hoox init` (and the secrets part of `hoox config env init`).

Six steps, in order: toolchain, cloudflare, workers, database, secrets, kickoff. After each step its
result (never a secret: only names and yes/no) is saved in `.install-wizard-state.json`, so a wizard
that was interrupted resumes at the first step not done; the file is removed once kickoff is done.

Questions: every one has a flag. `--yes` answers those without a flag with their default;
`--no-input` never asks, and a question without its flag is then an error that names the flag
(ANSWER_REQUIRED, exit 2). Under --json and --quiet nothing is asked either.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from hoox_cli.core.errors import fail
from hoox_cli.core.redact import MASK, remember_secrets
from hoox_cli.output import can_prompt, esc, say

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

STATE_FILE = ".install-wizard-state.json"
STATE_VERSION = 1
STEPS = ("toolchain", "cloudflare", "workers", "database", "secrets", "kickoff")
_ACCOUNT_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Ui:
    yes: bool = False
    no_input: bool = False
    json_mode: bool = False

    @property
    def interactive(self) -> bool:
        return not self.yes and not self.no_input and can_prompt(self.json_mode)

    def _unanswered(self, question: str, flag: str) -> None:
        fail("ANSWER_REQUIRED", f"{question} needs an answer: pass {flag}"
                                + (" (or --yes to take the defaults)." if not self.yes else "."), exit_code=2)

    def confirm(self, question: str, default: bool, flag: str) -> bool:
        if self.interactive:
            return typer.confirm(question, default=default)
        if self.yes:
            return default
        self._unanswered(question, flag)
        raise AssertionError  # unreachable: fail() raised

    def text(self, question: str, flag: str, *, default: str | None = None, hidden: bool = False,
             check: Callable[[str], str | None] | None = None) -> str:
        """A typed answer; `check` returns an error message for a bad one (asked again)."""
        if not self.interactive:
            if self.yes and default is not None:
                return default
            self._unanswered(question, flag)
        while True:
            answer = typer.prompt(question, default=default, type=str, hide_input=hidden,
                                  show_default=not hidden and bool(default))
            answer = str(answer).strip()
            problem = check(answer) if check else None
            if problem is None:
                return answer
            say(f"[red]{esc(problem)}[/red]")


@dataclass
class Flags:
    account_id: str | None = None
    api_token: str | None = None
    subdomain: str | None = None
    skip_cloudflare: bool = False
    workers: list[str] | None = None
    enable: list[str] = field(default_factory=list)
    disable: list[str] = field(default_factory=list)
    secrets_file: Path | None = None
    skip_secrets: bool = False
    port: int | None = None  # --port: kept as [dev] port before the steps run


# ----------------------------------------------------------------------------- state file
def state_path(ws: Workspace) -> Path:
    return ws.root / STATE_FILE


def load_state(ws: Workspace) -> dict[str, Any] | None:
    p = state_path(ws)
    if not p.exists():
        return None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except ValueError:
        fail("BAD_WIZARD_STATE", f"{p} is not valid JSON; run `hoox init --restart` to start the wizard over.")
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        fail("BAD_WIZARD_STATE", f"{p} was written by another version of hoox; run `hoox init --restart`.")
    return data


def save_state(ws: Workspace, state: dict[str, Any]) -> None:
    p = state_path(ws)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, p)


# ----------------------------------------------------------------------------- steps
def toolchain_step(ws: Workspace, ui: Ui, flags: Flags) -> dict[str, Any]:
    from hoox_cli.core.tools import probe_tools
    from hoox_cli.output import print_tools

    tools = probe_tools(ws)
    if not ui.json_mode:
        print_tools(tools)
    missing_required = [t["name"] for t in tools if t["required"] and not t["ok"]]
    if missing_required:
        fail("PREREQUISITE_MISSING", f"Missing: {', '.join(missing_required)}. Install it, then run `hoox init` again "
                                     "(it resumes here).")
    return {"tools": [{k: t[k] for k in ("name", "ok", "version", "required", "needed_for")} for t in tools],
            "ok": True, "optional_missing": [t["name"] for t in tools if not t["ok"]]}


def _check_account_id(value: str) -> str | None:
    if _ACCOUNT_ID.match(value.lower()):
        return None
    return "A Cloudflare account id is 32 hexadecimal characters (dashboard → Workers & Pages → Account ID)."


def _check_token(value: str) -> str | None:
    if not value or any(c.isspace() for c in value):
        return "The API token is one word without spaces (dashboard → My Profile → API Tokens)."
    return None


def _check_subdomain(value: str) -> str | None:
    if value == "" or re.match(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", value):
        return None
    return "The subdomain is a DNS label: lower-case letters, digits and -."


def cloudflare_step(ws: Workspace, ui: Ui, flags: Flags) -> dict[str, Any]:
    """Account id → hoox.toml [cloudflare] account_id; token → .dev.vars CLOUDFLARE_API_TOKEN. Neither printed."""
    doc = ws.config()
    cf: Any = doc.get("cloudflare", {})
    have_id = bool(cf.get("account_id")) if hasattr(cf, "get") else False
    have_token = bool(ws.secrets().get("CLOUDFLARE_API_TOKEN"))
    given = flags.account_id is not None or flags.api_token is not None
    if flags.skip_cloudflare:
        return {"configured": have_id and have_token, "skipped": True, "account_id_set": have_id,
                "api_token_set": have_token, "subdomain": cf.get("subdomain") if hasattr(cf, "get") else None}
    if not given and have_id and have_token:
        return {"configured": True, "skipped": False, "account_id_set": True, "api_token_set": True,
                "subdomain": cf.get("subdomain"), "kept": True}
    if not given:
        wanted = ui.confirm("Connect a Cloudflare account now? (only needed to deploy; local runs need none)",
                            False, "--cloudflare-account-id ID with CLOUDFLARE_API_TOKEN set, or --skip-cloudflare")
        if not wanted:
            return {"configured": False, "skipped": True, "account_id_set": have_id, "api_token_set": have_token,
                    "subdomain": None}
    account_id = flags.account_id
    if account_id is not None:
        problem = _check_account_id(account_id)
        if problem:
            fail("INVALID_VALUE", f"--cloudflare-account-id: {problem}", exit_code=2)
    else:
        account_id = ui.text("Cloudflare account id", "--cloudflare-account-id", check=_check_account_id)
    token = flags.api_token
    if token is not None:
        problem = _check_token(token)
        if problem:
            fail("INVALID_VALUE", f"--cloudflare-api-token: {problem}", exit_code=2)
    elif have_token:
        token = None  # keep the stored one
    else:
        token = ui.text("Cloudflare API token (input hidden)", "--cloudflare-api-token or CLOUDFLARE_API_TOKEN",
                        hidden=True, check=_check_token)
    subdomain = flags.subdomain
    if subdomain is None:
        subdomain = ui.text("workers.dev subdomain (empty: set it later)", "--subdomain", default="",
                            check=_check_subdomain)
    elif _check_subdomain(subdomain):
        fail("INVALID_VALUE", f"--subdomain: {_check_subdomain(subdomain)}", exit_code=2)
    remember_secrets([account_id.lower()] + ([token] if token else []))
    if token:
        ws.set_secret("CLOUDFLARE_API_TOKEN", token)
    import tomlkit

    doc = ws.config()
    if "cloudflare" not in doc:
        doc.add("cloudflare", tomlkit.table())
    doc["cloudflare"]["account_id"] = account_id.lower()
    if subdomain:
        doc["cloudflare"]["subdomain"] = subdomain
    ws.save_config(doc)
    return {"configured": True, "skipped": False, "account_id_set": True, "api_token_set": True,
            "subdomain": subdomain or None, "verified": False}


def workers_step(ws: Workspace, ui: Ui, flags: Flags) -> dict[str, Any]:
    from hoox_edge import catalog

    from hoox_cli.core.audits import _set_path

    current = set(ws.enabled_workers())
    known = catalog.names()
    for n in [*(flags.workers or []), *flags.enable, *flags.disable]:
        if n not in known:
            fail("UNKNOWN_WORKER", f"Unknown worker {n!r}; known workers: {', '.join(known)}.", exit_code=2)
    if "hoox" in flags.disable:
        fail("INVALID_VALUE", "The gateway (hoox) receives every signal and cannot be disabled.", exit_code=2)
    if flags.workers is not None:
        chosen = set(flags.workers) | {"hoox"}
    elif flags.enable or flags.disable:
        chosen = (current | set(flags.enable)) - set(flags.disable)
    else:
        chosen = {"hoox"}
        if ui.interactive:
            say("Choose the workers to run (the gateway, hoox, always runs):")
        for w in catalog.WORKERS:
            if w.name == "hoox":
                continue
            if ui.confirm(f"  {w.name} — {w.description}?", w.name in current,
                          "--workers NAME,NAME or --enable/--disable NAME"):
                chosen.add(w.name)
    doc = ws.config()
    for w in catalog.WORKERS:
        _set_path(doc, f"workers.{w.name}.enabled", w.name in chosen)
    ws.save_config(doc)
    return {"enabled": [n for n in known if n in chosen], "disabled": [n for n in known if n not in chosen],
            "changed": sorted(chosen ^ current)}


def database_step(ws: Workspace, ui: Ui, flags: Flags) -> dict[str, Any]:
    from hoox_edge import catalog, migrations

    from hoox_cli.core.backup import ledger_path
    from hoox_cli.core.errors import run_async
    from hoox_cli.core.workspace import open_db

    db = open_db(ws)
    try:
        applied = run_async(migrations.apply(db))
    finally:
        db.close()
    return {"database": catalog.TRADE_DB, "file": str(ledger_path(ws)), "applied": applied,
            "remote": "not created by init: `hoox infra provision` creates the Cloudflare D1 database when you deploy"}


def read_secrets_file(path: Path, ws: Workspace) -> dict[str, str]:
    from hoox_cli.core.audits import declared_secrets

    if not path.is_file():
        fail("NO_SUCH_FILE", f"--secrets-file {path}: no such file.", exit_code=2)
    known = {d["name"] for d in declared_secrets(ws)}
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if "=" not in s:
            fail("INVALID_SECRETS_FILE", f"{path} line {n}: expected NAME=value. Nothing was written.", exit_code=2)
        k, v = (x.strip() for x in s.split("=", 1))
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
            v = v[1:-1]
        if k not in known:
            fail("UNKNOWN_SECRET", f"{path} line {n}: no worker reads a secret named {k}. Nothing was written.",
                 exit_code=2)
        if v:
            out[k] = v
    remember_secrets(out.values())
    return out


def secrets_step(ws: Workspace, ui: Ui, *, secrets_file: Path | None, skip: bool,
                 created: list[str]) -> dict[str, Any]:
    """Generated secrets are made by Workspace.create(); here the optional ones of the enabled workers."""
    from hoox_edge import catalog
    from hoox_edge.local.workspace import DEV_VARS, GENERATED_SECRETS

    have = ws.secrets()
    generated = list(GENERATED_SECRETS) if DEV_VARS in created else []
    to_set: dict[str, str] = {}
    skipped: list[str] = []
    enabled = ws.enabled_workers()
    optional: list[tuple[str, list[str]]] = []
    for w in catalog.WORKERS:
        if w.name not in enabled:
            continue
        names = [s for s in w.optional_secrets if not have.get(s) and s != "CLOUDFLARE_API_TOKEN"
                 and all(s not in o for _, o in optional)]
        if names:
            optional.append((w.name, names))
    if secrets_file is not None:
        to_set = read_secrets_file(secrets_file, ws)
    elif skip:
        skipped = [n for _, names in optional for n in names]
    else:
        for worker, names in optional:
            if not ui.confirm(f"Set {worker}'s optional secrets now ({', '.join(names)})?", False,
                              "--secrets-file FILE or --skip-secrets"):
                skipped += names
                continue
            for n in names:
                value = ui.text(f"  {n} (input hidden; empty to skip)", "--secrets-file", default="", hidden=True)
                if value:
                    remember_secrets([value])
                    to_set[n] = value
                else:
                    skipped.append(n)
    for n, v in to_set.items():
        ws.set_secret(n, v)
    if to_set.get("TELEGRAM_BOT_TOKEN") and not ws.secrets().get("TELEGRAM_WEBHOOK_SECRET"):
        # the secret Telegram echoes on every webhook call: random, never typed by anyone
        import secrets as _secrets

        ws.set_secret("TELEGRAM_WEBHOOK_SECRET", _secrets.token_urlsafe(32))
        generated.append("TELEGRAM_WEBHOOK_SECRET")
    return {"generated": generated, "set": sorted(to_set), "skipped": skipped, "file": str(ws.dev_vars_path)}


def say_secrets(result: dict[str, Any]) -> None:
    if result["generated"]:
        say(f"generated {esc(', '.join(result['generated']))} (values not shown)")
    if result["set"]:
        say(f"set {esc(', '.join(result['set']))} in {esc(result['file'])}")
    if result["skipped"]:
        say(f"[dim]not set: {esc(', '.join(result['skipped']))} — later: `hoox secrets set NAME`[/dim]")


def kickoff_step(ws: Workspace, ui: Ui, flags: Flags, results: dict[str, Any]) -> dict[str, Any]:
    from hoox_edge.local.workspace import CONFIG_FILE, DEV_VARS, MANIFEST_FILE

    written = [CONFIG_FILE, DEV_VARS, MANIFEST_FILE, ".gitignore", str(Path(".hoox") / "state")]
    nxt = ["hoox dev start", "hoox signal send --symbol BTCUSDT --action LONG --quantity 0.01", "hoox check setup"]
    if (results.get("cloudflare") or {}).get("configured"):
        nxt += ["hoox infra provision", "hoox deploy all"]
    else:
        nxt.append("hoox init --cloudflare-account-id ID  (later, to deploy to Cloudflare)")
    return {"written": written, "next": nxt}


# ----------------------------------------------------------------------------- the wizard
def run(ws: Workspace, ui: Ui, flags: Flags, *, restart: bool) -> dict[str, Any]:
    if restart:
        state_path(ws).unlink(missing_ok=True)
    state = load_state(ws)
    resumed_from = None
    if state is None:
        state = {"version": STATE_VERSION, "completed": [], "results": {}, "created": []}
    else:
        resumed_from = next((s for s in STEPS if s not in state["completed"]), None)
        if not ui.json_mode:
            say(f"Resuming the setup wizard at [bold]{esc(resumed_from)}[/bold] (done: "
                f"{esc(', '.join(state['completed']) or 'nothing')}; `hoox init --restart` starts over).")
    created = ws.create()
    state["created"] = sorted(set(state["created"]) | set(created))
    save_state(ws, state)
    if flags.port is not None and ws.set_base_port(flags.port) and not ui.json_mode:
        say(f"Port {flags.port} kept in {esc(ws.config_path)} ({esc('[dev] port')}): the gateway's, the other workers "
            "follow it.")
    remember_secrets(ws.secrets().values())
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "toolchain": lambda: toolchain_step(ws, ui, flags),
        "cloudflare": lambda: cloudflare_step(ws, ui, flags),
        "workers": lambda: workers_step(ws, ui, flags),
        "database": lambda: database_step(ws, ui, flags),
        "secrets": lambda: secrets_step(ws, ui, secrets_file=flags.secrets_file, skip=flags.skip_secrets,
                                        created=state["created"]),
        "kickoff": lambda: kickoff_step(ws, ui, flags, state["results"]),
    }
    for i, name in enumerate(STEPS, 1):
        if name in state["completed"]:
            continue
        if not ui.json_mode:
            say(f"\n[bold]Step {i}/{len(STEPS)}: {name}[/bold]")
        result = steps[name]()
        state["results"][name] = result
        state["completed"].append(name)
        if name != "kickoff":
            save_state(ws, state)
        if not ui.json_mode:
            say_step(name, result)
    state_path(ws).unlink(missing_ok=True)
    return {"workspace": str(ws.root), "base_port": ws.base_port(), "resumed_from": resumed_from,
            "completed": list(STEPS), "created": state["created"], "steps": state["results"],
            "state_file_removed": True, "next": state["results"]["kickoff"]["next"]}


def say_step(name: str, r: dict[str, Any]) -> None:
    if name == "toolchain":
        if r["optional_missing"]:
            say(f"[yellow]optional tools missing:[/yellow] {esc(', '.join(r['optional_missing']))} "
                "(local runs work without them)")
    elif name == "cloudflare":
        if r["configured"]:
            say(f"Cloudflare account id {MASK} in hoox.toml, API token {MASK} in .dev.vars"
                + (f", subdomain {esc(r['subdomain'])}" if r.get("subdomain") else "") + " (not verified online)")
        else:
            say("Cloudflare: skipped (run `hoox init --restart` or `hoox config set cloudflare.account_id ID` later)")
    elif name == "workers":
        say(f"enabled: {esc(', '.join(r['enabled']))}")
        say(f"[dim]disabled: {esc(', '.join(r['disabled']) or 'none')}[/dim]")
    elif name == "database":
        say(f"local ledger {esc(r['database'])}: "
            + (f"applied {esc(', '.join(r['applied']))}" if r["applied"] else "already up to date"))
        say(f"[dim]{esc(r['remote'])}[/dim]")
    elif name == "secrets":
        say_secrets(r)
    elif name == "kickoff":
        say(f"\n[bold green]Done.[/bold green] Written: {esc(', '.join(r['written']))}")
        say("Next:")
        for c in r["next"]:
            say(f"  {esc(c)}")
