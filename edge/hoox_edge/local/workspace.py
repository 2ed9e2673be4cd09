"""A workspace: the folder a user runs hoox in.

    hoox.toml          workspace config (enabled workers, port base, Cloudflare resource ids)
    .dev.vars          local secrets, NAME=value lines (gitignored)
    kv-manifest.json   KV values applied to CONFIG_KV on first start and by `config kv apply-manifest`
    .hoox/state/       local KV, D1, Durable Objects, queues, R2, Analytics Engine
    .hoox/runtime.json the running local runtime (pid, ports), while it runs
    .hoox/logs/        runtime log when started with --detach
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoox_edge import catalog
from hoox_edge.shared import settings

if TYPE_CHECKING:  # imported where hoox.toml is read or written: a KV read never needs it
    import tomlkit

CONFIG_FILE = "hoox.toml"
DEV_VARS = ".dev.vars"
MANIFEST_FILE = "kv-manifest.json"
SECRET_DATES_FILE = "secret-dates.json"  # under .hoox/: when each secret was last set, never its value
GENERATED_SECRETS = ("WEBHOOK_API_KEY", "INTERNAL_KEY_BINDING", "OPERATOR_API_KEY")
_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class WorkspaceError(Exception):
    """A workspace file is missing or malformed; the message says which and how to fix it."""


# The workers listen on base .. base + len(WORKERS) - 1; the base leaves them all room below 65536.
MIN_BASE_PORT = 1024
MAX_BASE_PORT = 65535 - len(catalog.WORKERS)


def port_problem(port: object) -> str | None:
    """Why `port` cannot be the workspace's base port, else None."""
    if isinstance(port, bool) or not isinstance(port, int) or not MIN_BASE_PORT <= port <= MAX_BASE_PORT:
        return (f"the port must be an integer between {MIN_BASE_PORT} and {MAX_BASE_PORT} (the workers use it and "
                f"the {len(catalog.WORKERS) - 1} above it), got {port!r}")
    return None


def default_root() -> Path:
    """The workspace used when neither HOOX_WORKSPACE nor the current folder names one: in the user's
    data folder (platformdirs; XDG_DATA_HOME on Linux), so that running hoox in a source checkout, or
    any other folder, never writes files there."""
    import platformdirs  # CPython only, like the rest of hoox_edge.local

    return Path(platformdirs.user_data_dir("hoox")) / "workspace"


def find_root(start: Path | None = None) -> Path:
    """HOOX_WORKSPACE; else the nearest folder at or above `start` (the current folder) holding
    hoox.toml; else the default workspace in the user's data folder (which may not exist yet)."""
    env_root = os.environ.get("HOOX_WORKSPACE")
    if env_root:
        return Path(env_root).expanduser().resolve()
    here = (start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / CONFIG_FILE).is_file():
            return p
    return default_root()


@dataclass
class Workspace:
    root: Path

    @classmethod
    def at(cls, start: Path | None = None) -> Workspace:
        return cls(find_root(start))

    # ---------------------------------------------------------------- paths
    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def dev_vars_path(self) -> Path:
        return self.root / DEV_VARS

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_FILE

    @property
    def hoox_dir(self) -> Path:
        return self.root / ".hoox"

    @property
    def state_dir(self) -> Path:
        return self.hoox_dir / "state"

    # The local adapters' layout under .hoox/state/, owned here: the runtime and the CLI both ask.
    def resource_dir(self, kind: str) -> Path:
        """The folder of one kind of local resource: kv, d1, do (Durable Objects), r2 or vectorize."""
        if kind not in ("kv", "d1", "do", "r2", "vectorize"):
            raise ValueError(f"no local resource kind {kind!r}")
        return self.state_dir / kind

    def kv_file(self, namespace: str) -> Path:
        """The SQLite file of a local KV namespace."""
        return self.resource_dir("kv") / f"{safe_name(namespace)}.sqlite"

    def d1_file(self, database: str) -> Path:
        """The SQLite file of a local D1 database."""
        return self.resource_dir("d1") / f"{safe_name(database)}.sqlite"

    def r2_dir(self, bucket: str) -> Path:
        return self.resource_dir("r2") / safe_name(bucket)

    def vectorize_file(self, index: str) -> Path:
        """The SQLite file of a local Vectorize index (its vector table)."""
        return self.resource_dir("vectorize") / f"{safe_name(index)}.sqlite"

    @property
    def queues_file(self) -> Path:
        return self.state_dir / "queues.sqlite"

    @property
    def secret_dates_path(self) -> Path:
        return self.hoox_dir / SECRET_DATES_FILE

    @property
    def runtime_file(self) -> Path:
        return self.hoox_dir / "runtime.json"

    @property
    def log_dir(self) -> Path:
        return self.hoox_dir / "logs"

    @property
    def exists(self) -> bool:
        return self.config_path.is_file()

    # ---------------------------------------------------------------- creation
    def create(self) -> list[str]:
        """Create whatever is missing; return the files created (empty when all were there)."""
        created: list[str] = []
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            self.config_path.write_text(default_config_text(), encoding="utf-8")
            created.append(CONFIG_FILE)
        current = self.secrets() if self.dev_vars_path.exists() else {}
        missing = [n for n in GENERATED_SECRETS if not current.get(n)]
        if missing:
            import secrets as _secrets  # creating a workspace only

        for name in missing:
            self.set_secret(name, _secrets.token_urlsafe(32))
        if missing:
            created.append(DEV_VARS)
        if not self.manifest_path.exists():
            self.manifest_path.write_text(json.dumps(settings.defaults(), indent=2) + "\n", encoding="utf-8")
            created.append(MANIFEST_FILE)
        gitignore = self.root / ".gitignore"
        lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.exists() else []
        wanted = [DEV_VARS, ".hoox/"]
        if any(w not in lines for w in wanted):
            gitignore.write_text("\n".join(lines + [w for w in wanted if w not in lines]) + "\n", encoding="utf-8")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return created

    # ---------------------------------------------------------------- config
    def config(self) -> tomlkit.TOMLDocument:
        if not self.config_path.exists():
            raise WorkspaceError(f"No {CONFIG_FILE} in {self.root}: run `hoox dev start` here to create a workspace.")
        import tomlkit

        try:
            return tomlkit.parse(self.config_path.read_text(encoding="utf-8"))
        except Exception as exc:  # tomlkit raises its own ParseError with line and column
            raise WorkspaceError(f"{self.config_path}: {exc}") from None

    def save_config(self, doc: tomlkit.TOMLDocument) -> None:
        import tomlkit

        _atomic_write(self.config_path, tomlkit.dumps(doc))

    def enabled_workers(self) -> list[str]:
        """Workers to run, in catalog order; [workers.NAME] enabled = true/false overrides the default."""
        table: Any = self.config().get("workers", {}) if self.exists else {}
        out = []
        for w in catalog.WORKERS:
            entry = table.get(w.name, {}) if hasattr(table, "get") else {}
            enabled = entry.get("enabled", w.enabled_by_default) if hasattr(entry, "get") else w.enabled_by_default
            if enabled:
                out.append(w.name)
        return out

    def base_port(self) -> int:
        dev: Any = self.config().get("dev", {}) if self.exists else {}
        port = dev.get("port", catalog.DEFAULT_PORT) if hasattr(dev, "get") else catalog.DEFAULT_PORT
        if not isinstance(port, int) or not MIN_BASE_PORT <= port <= MAX_BASE_PORT:
            raise WorkspaceError(f"{CONFIG_FILE}: [dev] port must be an integer between {MIN_BASE_PORT} and "
                                 f"{MAX_BASE_PORT}, got {port!r}")
        return port

    def set_base_port(self, port: int) -> bool:
        """Keep `port` as [dev] port in hoox.toml (comments kept); False when it already was."""
        problem = port_problem(port)
        if problem is not None:
            raise WorkspaceError(f"{CONFIG_FILE}: {problem}")
        doc = self.config()
        dev: Any = doc.get("dev")
        if dev is None:
            import tomlkit

            dev = tomlkit.table()
            doc.add("dev", dev)
        elif not hasattr(dev, "get"):
            raise WorkspaceError(f"{CONFIG_FILE}: dev must be a table ([dev]); fix it by hand first")
        if dev.get("port") == port:
            return False
        dev["port"] = port
        self.save_config(doc)
        return True

    # ---------------------------------------------------------------- secrets
    def secrets(self) -> dict[str, str]:
        """NAME=value pairs of .dev.vars (quotes around a value are removed)."""
        if not self.dev_vars_path.exists():
            return {}
        out: dict[str, str] = {}
        for n, line in enumerate(self.dev_vars_path.read_text(encoding="utf-8").splitlines(), 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if "=" not in s:
                raise WorkspaceError(f"{DEV_VARS} line {n}: expected NAME=value")
            k, v = s.split("=", 1)
            v = v.strip()
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
                v = v[1:-1]
            out[k.strip()] = v
        return out

    def set_secret(self, name: str, value: str) -> None:
        if not _NAME.match(name):
            raise WorkspaceError(f"Secret name {name!r} must be upper case letters, digits and _ (e.g. BYBIT_API_KEY).")
        if "\n" in value or "\r" in value:
            raise WorkspaceError("A secret value cannot contain a line break.")
        lines = self.dev_vars_path.read_text(encoding="utf-8").splitlines() if self.dev_vars_path.exists() else []
        try:
            changed = (self.secrets().get(name) if lines else None) != value
        except WorkspaceError:
            changed = True
        kept = [ln for ln in lines if ln.split("=", 1)[0].strip() != name]
        kept.append(f"{name}={value}")
        _atomic_write(self.dev_vars_path, "\n".join(kept) + "\n", mode=0o600)
        if changed:  # the same value again is not a rotation
            self.record_secret_date(name, "local")

    def delete_secret(self, name: str) -> bool:
        """Remove NAME from .dev.vars (comments and other lines kept); False when it was not there."""
        if not self.dev_vars_path.exists():
            return False
        lines = self.dev_vars_path.read_text(encoding="utf-8").splitlines()
        kept = [ln for ln in lines if ln.strip().startswith("#") or ln.split("=", 1)[0].strip() != name]
        if len(kept) == len(lines):
            return False
        _atomic_write(self.dev_vars_path, "\n".join(kept) + "\n", mode=0o600)
        self.record_secret_date(name, "local", None)
        return True

    # ---------------------------------------------------------------- secret dates (credential rotation)
    def secret_dates(self) -> dict[str, dict[str, Any]]:
        """{NAME: {"local"?: iso, "remote"?: {worker: iso}}}: when each secret was last set. A file that
        cannot be read counts as no dates (they are reminders, never a reason to refuse a command)."""
        try:
            data = json.loads(self.secret_dates_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}

    def mark_secret_alerted(self, name: str, where: str, set_at: str) -> None:
        """Remember that the alert for `name` (set at `set_at`, `where`) went out: one alert per setting."""
        dates = self.secret_dates()
        dates.setdefault(name, {}).setdefault("alerted", {})[where] = set_at
        self.hoox_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.secret_dates_path, json.dumps(dates, indent=2, sort_keys=True) + "\n")

    def record_secret_date(self, name: str, where: str, when: str | bool | None = True) -> None:
        """Record that `name` was set now (`when` True), at `when`, or forget it (None), locally
        (`where` "local") or on a deployed worker (`where` its name)."""
        from hoox_edge.shared import clock

        dates = self.secret_dates()
        entry = dates.setdefault(name, {})
        stamp = clock.iso() if when is True else when if isinstance(when, str) else None
        if where == "local":
            if stamp is None:
                entry.pop("local", None)
            else:
                entry["local"] = stamp
        else:
            remote = entry.setdefault("remote", {})
            if stamp is None:
                remote.pop(where, None)
            else:
                remote[where] = stamp
            if not remote:
                entry.pop("remote", None)
        if not entry:
            dates.pop(name, None)
        self.hoox_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.secret_dates_path, json.dumps(dates, indent=2, sort_keys=True) + "\n")

    # ---------------------------------------------------------------- KV manifest
    def manifest(self) -> dict[str, Any]:
        """The manifest's values, each checked against the KV manifest's types."""
        if not self.manifest_path.exists():
            return settings.defaults()
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise WorkspaceError(f"{MANIFEST_FILE}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise WorkspaceError(f"{MANIFEST_FILE}: expected a JSON object of key: value")
        out = {}
        for k, v in data.items():
            try:
                out[k] = settings.coerce(k, v)
            except settings.SettingError as exc:
                raise WorkspaceError(f"{MANIFEST_FILE}: {exc}") from None
        return out

    # ---------------------------------------------------------------- runtime file
    def runtime_info(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.runtime_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def gateway_url(self) -> str:
        info = self.runtime_info()
        port = info["ports"]["hoox"] if info and "hoox" in info.get("ports", {}) else self.base_port()
        return f"http://127.0.0.1:{port}"


def safe_name(name: str) -> str:
    """A resource name as a file name (catalog names are already safe; this guards the rest)."""
    if not name or name.startswith(".") or "/" in name or "\\" in name or os.sep in name:
        raise ValueError(f"resource name {name!r} cannot be used as a file name")
    return name


def default_config_text() -> str:
    import tomlkit

    doc = tomlkit.document()
    doc.add(tomlkit.comment("hoox workspace. Edit with `hoox config set KEY VALUE` or by hand."))
    dev = tomlkit.table()
    dev.add("port", catalog.DEFAULT_PORT)
    dev["port"].comment("local port of the gateway; the other workers follow it")
    doc.add("dev", dev)
    workers = tomlkit.table(is_super_table=True)
    for w in catalog.WORKERS:
        t = tomlkit.table()
        t.add("enabled", w.enabled_by_default)
        workers.add(w.name, t)
    doc.add("workers", workers)
    return tomlkit.dumps(doc)


def _atomic_write(path: Path, text: str, mode: int | None = None) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)
