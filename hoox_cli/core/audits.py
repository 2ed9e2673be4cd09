"""The workspace's audits: one list, each with what it checks, a finding (the problem and how to fix it)
and, where one exists, the repair that fixes it. `hoox check setup` (and its alias `hoox repair check`)
reports them all; `hoox repair NAME` runs one repair, `hoox repair all` the repair of every audit
that fails. Nothing here prints: findings and repair results are data. The problem finders
themselves (config_problems, manifest_problems, env_problems, ...) are hoox_cli.core.config's.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace


class RepairError(Exception):
    """A repair cannot fix what it found; `code` is stable (for --json), the message says what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Finding:
    """An audit's verdict: `problems` empty means it passes (then `detail` says what was found good)."""

    detail: str
    problems: tuple[str, ...] = ()
    fix: str | None = None
    repair: str | None = None  # the repair that fixes these problems (None: a person must)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Audit:
    id: str
    checks: str  # what it checks, for people
    run: Callable[[Workspace], Finding]
    repair: str | None = None  # the repair this audit's problems can have (a finding may need a person instead)


def _failed(problems: list[str], fix: str, repair: str | None = None) -> Finding:
    return Finding("; ".join(problems), tuple(problems), fix, repair)


def _workspace_error(exc: Exception) -> bool:
    """A config or .dev.vars that does not parse is a finding, not a crash."""
    return type(exc).__name__ == "WorkspaceError"


# ----------------------------------------------------------------------------- the audits
def try_import(module: str) -> tuple[Any, str | None]:
    try:
        return importlib.import_module(module), None
    except Exception as exc:  # a broken module is what this audit reports
        return None, f"{type(exc).__name__}: {exc}"


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


def audit_worker_code(ws: Workspace) -> Finding:
    names = ws.enabled_workers()
    problems = worker_code_problems(names)
    if problems:
        return _failed(problems, "Reinstall hoox: `pip install -e <hoox checkout>` (or `pip install --upgrade hoox`).")
    return Finding(f"{len(names)} enabled worker(s) import and serve ASGI")


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


def audit_dependencies(ws: Workspace) -> Finding:
    problems = dependency_problems()
    if problems:
        return _failed(problems, "`pip install -e <hoox checkout>` (or `pip install --upgrade hoox`).")
    return Finding("every required package is installed in an accepted version")


def audit_config(ws: Workspace) -> Finding:
    from hoox_cli.core.config import config_problems

    try:
        problems = config_problems(ws)
    except Exception as exc:
        if not _workspace_error(exc):
            raise
        return _failed([str(exc)], f"Fix the line named above in {ws.config_path}.")
    if problems:
        return _failed(problems, "Set the value with `hoox config set KEY VALUE` (it checks the type).")
    return Finding(f"{ws.config_path.name} parses; enabled: {', '.join(ws.enabled_workers())}")


def audit_manifest(ws: Workspace) -> Finding:
    from hoox_cli.core.config import manifest_problems

    problems, values = manifest_problems(ws)
    if problems:
        return _failed(problems, f"Correct {ws.manifest_path.name} (or delete it: the settings' defaults apply "
                                 "then).")
    return Finding(f"{len(values)} valid setting(s) in {ws.manifest_path.name}")


def audit_secrets(ws: Workspace) -> Finding:
    """Every secret the enabled workers require is set, exchange key/secret pairs are complete, no value
    carries stray white space, .dev.vars parses."""
    from hoox_edge.local.workspace import GENERATED_SECRETS

    from hoox_cli.core.config import env_problems

    problems, _warnings = env_problems(ws)
    if not problems:
        return Finding("every secret the enabled workers require is set; key/secret pairs are complete")
    generated = [p["name"] for p in problems if p["name"] in GENERATED_SECRETS]
    fixes = ([f"`hoox repair secrets` (generates {', '.join(generated)})"] if generated else []) + \
        sorted({f"`{p['fix']}`" for p in problems if p["name"] not in GENERATED_SECRETS})
    return _failed([f"{p['name']}: {p['issue']}" for p in problems], "; ".join(fixes),
                   "secrets" if generated else None)


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


def audit_ledger(ws: Workspace) -> Finding:
    from hoox_edge import migrations

    integrity, pending = ledger_state(ws)
    if integrity == "missing":
        return _failed(["the local ledger does not exist yet"], "`hoox repair db` (creates and migrates it)", "db")
    if integrity != "ok":
        return _failed([f"the local ledger is damaged ({integrity})"],
                       "`hoox repair rebuild` (backs up what can be read, asks, re-creates the ledger)")
    if pending:
        return _failed([f"migrations pending: {', '.join(pending)}"], "`hoox repair db` (applies them)", "db")
    return Finding(f"the local ledger is intact; {len(migrations.available())} migration(s) applied")


def audit_kv(ws: Workspace) -> Finding:
    """CONFIG_KV holds a valid value for every key of the manifest. A CONFIG_KV that was never created is
    no fault: the local edge fills it from the manifest when it starts."""
    from hoox_edge import catalog

    from hoox_cli.core.config import manifest_problems
    from hoox_cli.core.edge import connect

    bad, values = manifest_problems(ws)
    if bad:
        return Finding("not checked: the manifest is invalid (see kv-manifest)")
    if not ws.kv_file(catalog.CONFIG_KV).exists():
        return Finding("CONFIG_KV not created yet: the local edge fills it from the manifest when it starts")
    e = connect(None, ws)  # the local edge's KV, through its operator API when it runs
    try:
        stored = {i["key"]: i for i in e.kv_list()["items"] if i["source"] == "kv"}
    finally:
        e.close()
    missing = [k for k, v in values.items() if v is not None and k not in stored]
    invalid = [k for k, v in values.items() if v is not None and k in stored and stored[k]["error"]]
    problems = []
    if missing:
        problems.append(f"CONFIG_KV lacks {len(missing)} manifest key(s): {', '.join(missing[:5])}"
                        + (" ..." if len(missing) > 5 else ""))
    if invalid:
        problems.append(f"CONFIG_KV holds invalid values for {', '.join(invalid)}")
    if problems:
        return _failed(problems, "`hoox repair kv` (writes the manifest's values for those keys)", "kv")
    return Finding("CONFIG_KV holds a valid value for every manifest key")


def audit_gitignore(ws: Workspace) -> Finding:
    path = ws.root / ".gitignore"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    missing = [x for x in (".dev.vars", ".hoox/") if x not in lines]
    if missing:
        return _failed([f".gitignore does not list {', '.join(missing)} (secrets could be committed)"],
                       f"`hoox repair secrets` (adds {', '.join(missing)} to {path})", "secrets")
    return Finding(".dev.vars and .hoox/ are gitignored")


AUDITS: tuple[Audit, ...] = (
    Audit("worker-code", "every enabled worker's module (and Durable Object classes) imports and serves ASGI",
          audit_worker_code),
    Audit("dependencies", "every package hoox requires is installed in a version it accepts", audit_dependencies),
    Audit("config", "hoox.toml parses and holds only settings hoox reads, each of the right type", audit_config),
    Audit("kv-manifest", "kv-manifest.json is a JSON object of known settings with valid values", audit_manifest),
    Audit("secrets", "every secret the enabled workers require is set and key/secret pairs are complete",
          audit_secrets, "secrets"),
    Audit("ledger", "the local ledger exists, is intact and has every migration", audit_ledger, "db"),
    Audit("kv", "CONFIG_KV holds a valid value for every manifest key", audit_kv, "kv"),
    Audit("gitignore", ".gitignore keeps .dev.vars and .hoox/ out of git", audit_gitignore, "secrets"),
)


def run_audits(ws: Workspace) -> list[dict[str, Any]]:
    """Every audit's result: {"name", "checks", "ok", "detail", "problems", "fix", "repair"}."""
    out = []
    for a in AUDITS:
        try:
            f = a.run(ws)
        except Exception as exc:  # an audit that cannot look is a finding too, never a crash of the report
            f = _failed([f"could not check: {type(exc).__name__}: {exc}"], "See the problem above.")
        out.append({"name": a.id, "checks": a.checks, "ok": f.ok, "detail": f.detail, "problems": list(f.problems),
                    "fix": f.fix, "repair": f.repair})
    return out


# ----------------------------------------------------------------------------- the repairs
def repair_ledger(ws: Workspace) -> dict[str, Any]:
    """Create the local ledger if missing and apply pending migrations (a damaged one: RepairError)."""
    from hoox_edge import catalog, migrations

    from hoox_cli.core.backup import ledger_path
    from hoox_cli.core.errors import run_async
    from hoox_cli.core.workspace import open_db

    path = ledger_path(ws)
    created = not path.exists()
    integrity, _pending = ledger_state(ws)
    if integrity not in ("ok", "missing"):
        raise RepairError("LEDGER_DAMAGED", f"The local ledger is damaged ({integrity}); migrations cannot fix that. "
                                            "`hoox repair rebuild` backs up what can be read and re-creates it.")
    db = open_db(ws)
    try:
        applied = run_async(migrations.apply(db))
    finally:
        db.close()
    return {"workspace": str(ws.root), "database": catalog.TRADE_DB, "integrity": "ok", "created": created,
            "migrations_applied": applied}


def repair_kv_values(ws: Workspace, remote: str | None = None) -> dict[str, Any]:
    """The manifest's values for keys missing from CONFIG_KV or holding an invalid value (the local edge's,
    running or not, or `remote`'s)."""
    from hoox_cli.core.config import apply_manifest

    result = apply_manifest(ws, overwrite=False, replace_invalid=True, remote=remote)
    result["replaced_invalid"] = [w["key"] for w in result["written"] if w.get("was_invalid")]
    return result


def repair_secret_values(ws: Workspace) -> dict[str, Any]:
    """Generate missing internal secrets (never replacing one), fix .gitignore and .dev.vars permissions."""
    import os
    import stat

    from hoox_edge.local.workspace import GENERATED_SECRETS

    from hoox_cli.core.config import env_problems
    from hoox_cli.core.redact import remember_secrets

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


REPAIRS: dict[str, Callable[[Workspace], dict[str, Any]]] = {
    "secrets": repair_secret_values,
    "db": repair_ledger,
    "kv": repair_kv_values,
}


def repair_all(ws: Workspace) -> dict[str, Any]:
    """Run the repair of every failing audit that has one (each repair once, in the audits' order), then audit
    again: {"repaired": [{"repair", "audits", "result"}], "checks": [...after], "ok"}."""
    wanted: dict[str, list[str]] = {}
    for c in run_audits(ws):
        if not c["ok"] and c["repair"]:
            wanted.setdefault(c["repair"], []).append(c["name"])
    repaired = [{"repair": name, "audits": audits, "result": REPAIRS[name](ws)} for name, audits in wanted.items()]
    after = run_audits(ws)
    return {"workspace": str(ws.root), "repaired": repaired, "ok": all(c["ok"] for c in after), "checks": after}
