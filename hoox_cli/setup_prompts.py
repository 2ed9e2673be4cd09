"""`hoox init`'s questions over the one setup-wizard model (hoox_cli.core.setup), and `hoox config env init`.

The steps, their fields, each field's rule and the state file are the model's, shared with the
cockpit's wizard (F8): a setup begun in one resumes in the other. Every `hoox init` run first
prepares the workspace (creates what is missing, probes the tools, migrates the local ledger); then
it asks the model's steps from where the saved state left off, applying each step as it is answered.

Questions: every one has a flag. `--yes` answers those without a flag with their default;
`--no-input` never asks, and a question without its flag is then an error that names the flag
(ANSWER_REQUIRED, exit 2). Under --json and --quiet nothing is asked either. The strategy step writes
the edge's config KV through the operator API, so `hoox init` (which has no edge connected) passes it
on: `hoox config kv set` or the cockpit's wizard sets those.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from hoox_cli.core import setup
from hoox_cli.core.errors import fail, run_async
from hoox_cli.core.redact import MASK, remember_secrets
from hoox_cli.output import can_prompt, esc, say

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

STEPS = setup.STEP_IDS


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
    deploy: bool | None = None  # --deploy / --no-deploy: the initial rollout (None: asked when connected)


# ----------------------------------------------------------------------------- preparation
def toolchain_step(ws: Workspace, ui: Ui) -> dict[str, Any]:
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


def database_step(ws: Workspace) -> dict[str, Any]:
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
    from hoox_cli.core.config import declared_secrets

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
        problem = _check_secret(k, v)
        if problem:
            fail("INVALID_VALUE", f"{path} line {n}: {k} {problem} Nothing was written.", exit_code=2)
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
                value = ui.text(f"  {n} (input hidden; empty to skip)", "--secrets-file", default="", hidden=True,
                                check=partial(_check_secret, n))
                if value:
                    remember_secrets([value])
                    to_set[n] = value
                else:
                    skipped.append(n)
    for n, v in to_set.items():
        ws.set_secret(n, v)
    if to_set.get("TELEGRAM_BOT_TOKEN") and setup.ensure_telegram_webhook_secret(ws):
        generated.append("TELEGRAM_WEBHOOK_SECRET")
    return {"generated": generated, "set": sorted(to_set), "skipped": skipped, "file": str(ws.dev_vars_path)}


def say_secrets(result: dict[str, Any]) -> None:
    if result["generated"]:
        say(f"generated {esc(', '.join(result['generated']))} (values not shown)")
    if result["set"]:
        say(f"set {esc(', '.join(result['set']))} in {esc(result['file'])}")
    if result["skipped"]:
        say(f"[dim]not set: {esc(', '.join(result['skipped']))} — later: `hoox secrets set NAME`[/dim]")


def _check_secret(name: str, value: str) -> str | None:
    """The model's rule for a secret the wizard has a field for (others: any value)."""
    try:
        f = setup.field_named(name)
    except KeyError:
        return None
    return setup.check(f, value)


# ----------------------------------------------------------------------------- the model's steps, asked
Values = dict[str, str] | None  # a step's answers (empty: keep); None skips the step


def _ask(ui: Ui, f: setup.Field, flag: str, *, default: str | None = None) -> str:
    return ui.text(f.label + (" (input hidden)" if f.secret else ""), flag, default=default, hidden=f.secret,
                   check=lambda v: setup.check(f, v))


def _flag_value(f: setup.Field, value: str, flag: str) -> str:
    problem = setup.check(f, value)
    if problem:
        fail("INVALID_VALUE", f"{flag}: {problem}", exit_code=2)
    return value


def cloudflare_answers(wiz: setup.SetupWizard, ui: Ui, flags: Flags) -> Values:
    """Account id → hoox.toml [cloudflare] account_id; token → .dev.vars CLOUDFLARE_API_TOKEN. Neither printed."""
    have_id = bool(wiz.current_value(setup.field_named("cloudflare.account_id")))
    have_token = wiz.secret_is_set("CLOUDFLARE_API_TOKEN")
    if flags.skip_cloudflare:
        return None
    given = flags.account_id is not None or flags.api_token is not None
    if not given and have_id and have_token:
        return {}  # kept as it is
    if not given and not ui.confirm("Connect a Cloudflare account now? (only needed to deploy; local runs need none)",
                                    False, "--cloudflare-account-id ID with CLOUDFLARE_API_TOKEN set, "
                                           "or --skip-cloudflare"):
        return None
    f_id, f_token, f_sub = (setup.field_named(n) for n in ("cloudflare.account_id", "CLOUDFLARE_API_TOKEN",
                                                             "cloudflare.subdomain"))
    values = {
        f_id.name: _flag_value(f_id, flags.account_id, "--cloudflare-account-id") if flags.account_id is not None
        else _ask(ui, f_id, "--cloudflare-account-id"),
        f_token.name: _flag_value(f_token, flags.api_token, "--cloudflare-api-token") if flags.api_token is not None
        else "" if have_token else _ask(ui, f_token, "--cloudflare-api-token or CLOUDFLARE_API_TOKEN"),
        f_sub.name: _flag_value(f_sub, flags.subdomain, "--subdomain") if flags.subdomain is not None
        else _ask(ui, f_sub, "--subdomain", default=""),
    }
    remember_secrets([values[f_token.name], f_id.clean(values[f_id.name])])
    return values


def workers_answers(wiz: setup.SetupWizard, ui: Ui, flags: Flags) -> Values:
    from hoox_edge import catalog

    current = set(wiz.ws.enabled_workers())
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
        for f in wiz.current.fields:
            if ui.confirm(f"  {f.label} — {f.help}?", f.label in current,
                          "--workers NAME,NAME or --enable/--disable NAME"):
                chosen.add(f.label)
    return {f.name: str(f.label in chosen).lower() for f in wiz.current.fields}


def secret_answers(wiz: setup.SetupWizard, ui: Ui, flags: Flags, from_file: dict[str, str] | None) -> Values:
    """Exchanges, AI keys, Telegram: from --secrets-file, skipped with --skip-secrets, or asked (hidden)."""
    st = wiz.current
    if from_file is not None:
        return {f.name: from_file.get(f.key, "") for f in st.fields}
    if flags.skip_secrets:
        return None
    names = ", ".join(f.key for f in st.fields)
    if not ui.confirm(f"{st.title}: set {names} now?", False, "--secrets-file FILE or --skip-secrets"):
        return None
    while True:
        say(f"[dim]{esc(st.intro)} Empty keeps what is set.[/dim]")
        values = {f.name: _ask(ui, f, "--secrets-file", default="") for f in st.fields}
        remember_secrets(v for v in values.values() if v)
        errors = setup.validate(st, values)
        if not errors:
            return values
        for name, problem in errors.items():
            say(f"[red]{esc(setup.field_named(name).label)}: {esc(problem)}[/red]")


def step_answers(wiz: setup.SetupWizard, ui: Ui, flags: Flags, from_file: dict[str, str] | None) -> Values:
    sid = wiz.current.id
    if sid == "cloudflare":
        return cloudflare_answers(wiz, ui, flags)
    if sid == "workers":
        return workers_answers(wiz, ui, flags)
    if sid == "strategy":
        return None  # the edge's KV: no edge is connected during init (see the module's docstring)
    return secret_answers(wiz, ui, flags, from_file)


# ----------------------------------------------------------------------------- the wizard
def next_commands(ws: Workspace) -> list[str]:
    nxt = ["hoox dev start", "hoox signal send --symbol BTCUSDT --action LONG --quantity 0.01", "hoox check setup"]
    cf: Any = ws.config().get("cloudflare", {})
    if hasattr(cf, "get") and cf.get("account_id") and ws.secrets().get("CLOUDFLARE_API_TOKEN"):
        nxt += ["hoox deploy all --auto"]
    else:
        nxt.append("hoox init --cloudflare-account-id ID  (later, to deploy to Cloudflare)")
    return nxt


def run(ws: Workspace, ui: Ui, flags: Flags, *, restart: bool) -> dict[str, Any]:
    wiz = setup.SetupWizard(ws, None)
    if restart:
        wiz.forget()
    resumed_from = wiz.current.id if wiz.resumed else None
    if resumed_from and not ui.json_mode:
        say(f"Resuming the setup wizard at [bold]{esc(resumed_from)}[/bold] (done: "
            f"{esc(', '.join(wiz.state.done) or 'nothing')}; `hoox init --restart` starts over).")
    created = ws.create()
    if flags.port is not None and ws.set_base_port(flags.port) and not ui.json_mode:
        say(f"Port {flags.port} kept in {esc(ws.config_path)} ({esc('[dev] port')}): the gateway's, the other workers "
            "follow it.")
    remember_secrets(ws.secrets().values())
    toolchain = toolchain_step(ws, ui)
    database = database_step(ws)
    if not ui.json_mode:
        say_prepared(toolchain, database)
    from_file = read_secrets_file(flags.secrets_file, ws) if flags.secrets_file is not None else None
    if from_file:  # secrets no step asks for (e.g. a chosen WEBHOOK_API_KEY) are set as they are
        fields = {f.key for st in setup.STEPS for f in st.fields if f.secret}
        for name, value in from_file.items():
            if name not in fields:
                ws.set_secret(name, value)
    steps: dict[str, dict[str, Any]] = {}
    while wiz.current.id != "kickoff":
        st = wiz.current
        if st.id in wiz.state.done:  # done before (here or in the cockpit): not asked again
            wiz.skip()
            continue
        if not ui.json_mode:
            say(f"\n[bold]Step {wiz.state.step + 1}/{len(setup.STEPS)}: {esc(st.title)}[/bold]")
        values = step_answers(wiz, ui, flags, from_file)
        if values is None:
            wiz.skip()
            steps[st.id] = {"done": False, "written": []}
        else:
            try:
                applied = run_async(wiz.apply(values))
            except setup.SetupError as exc:
                fail("INVALID_VALUE", f"{st.title}: {exc}", exit_code=2)
            steps[st.id] = {"done": True, "written": applied.names()}
            if st.id == "workers":
                steps[st.id]["enabled"] = ws.enabled_workers()
        if not ui.json_mode:
            say_step(st, steps[st.id])
    written = wiz.state.written
    wiz.finish()
    report = initial_rollout(ws, ui, flags)
    nxt = next_commands(ws)
    if not ui.json_mode:
        names = [n for kind in ("config", "secrets", "kv") for n in written[kind]]
        say(f"\n[bold green]Done.[/bold green] Written by the wizard: {esc(', '.join(names) or 'nothing')}")
        say("Next:")
        for c in nxt:
            say(f"  {esc(c)}")
    return {"workspace": str(ws.root), "base_port": ws.base_port(), "resumed_from": resumed_from,
            "completed": list(STEPS), "created": created, "toolchain": toolchain, "database": database,
            "steps": steps, "written": written, "state_file_removed": True, "next": nxt, "rollout": report}


def cloudflare_connected(ws: Workspace) -> bool:
    from hoox_cli.core import wrangler_cli

    creds = wrangler_cli.credentials(ws)
    return bool(creds.get("CLOUDFLARE_API_TOKEN") and creds.get("CLOUDFLARE_ACCOUNT_ID"))


def initial_rollout(ws: Workspace, ui: Ui, flags: Flags) -> dict[str, Any] | None:
    """The wizard's last step: `hoox deploy all --auto` when --deploy says so, or when asked and answered
    yes (only at a terminal, and only with Cloudflare connected). The vault's secrets are pushed without
    a second question: the wizard has just shown what it wrote. None when nothing was rolled out."""
    from hoox_cli.core import rollout
    from hoox_cli.core.errors import run_async

    go = flags.deploy
    if go is None:
        go = (ui.interactive and cloudflare_connected(ws)
              and typer.confirm("Roll the workers out to Cloudflare now (hoox deploy all --auto)?", default=False))
    if not go:
        return None
    if not ui.json_mode:
        say("\n[bold]Initial rollout[/bold]")
    report: dict[str, Any] = run_async(rollout.rollout(ws, yes=True, confirm=None,
                                                       say=(lambda _: None) if ui.json_mode else say))
    if not ui.json_mode:
        done = [r["worker"] for r in report["deploy"] if r["ok"]]
        say(f"deployed: {esc(', '.join(done) or 'nothing')}"
            + ("" if report["ok"] else f"; [red]failed at {esc(report['failed'])}[/red] (`hoox deploy all --auto` "
                                       "again once fixed)"))
    return report


def say_prepared(toolchain: dict[str, Any], database: dict[str, Any]) -> None:
    if toolchain["optional_missing"]:
        say(f"[yellow]optional tools missing:[/yellow] {esc(', '.join(toolchain['optional_missing']))} "
            "(local runs work without them)")
    say(f"local ledger {esc(database['database'])}: "
        + (f"applied {esc(', '.join(database['applied']))}" if database["applied"] else "already up to date"))


def say_step(st: setup.Step, r: dict[str, Any]) -> None:
    if st.id == "strategy" and not r["done"]:
        say("[dim]Strategy defaults live in the edge's config KV: set them with `hoox config kv set KEY VALUE` "
            "or in the cockpit's setup wizard (F8) once the edge runs.[/dim]")
    elif not r["done"]:
        say(f"{esc(st.title)}: skipped (`hoox init --restart` or the cockpit's setup wizard, F8, to fill it in later)")
    elif st.id == "workers":
        say("enabled: " + esc(", ".join(r["enabled"])))
    elif st.id == "cloudflare" and r["written"]:
        say(f"Cloudflare account id {MASK} in hoox.toml, API token {MASK} in .dev.vars (not verified online): "
            + esc(", ".join(r["written"])))
    else:
        say(f"{esc(st.title)}: " + (f"wrote {esc(', '.join(r['written']))}" if r["written"] else "nothing to write"))
