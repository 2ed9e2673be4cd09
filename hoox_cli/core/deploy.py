"""Deploying workers to Cloudflare with wrangler: shared by `hoox deploy …` and the cockpit's service manager.

A deploy never runs from the repository's `edge/` folder: each worker is first *staged* as its own
bundle under the workspace, `.hoox/deploy/<worker>/`, laid out as wrangler expects a vendored Python
worker:

    wrangler.jsonc     rendered from the catalog with the workspace's resource ids (main src/entry.py,
                       base_dir src)
    pyproject.toml     the Python packages the worker code imports
    python_modules/    those packages and their dependencies, vendored from the wheel cache
    src/entry.py       the classes Cloudflare's runtime looks for
    src/hoox_edge/     the worker code (CPython-only `hoox_edge/local/` left out)

wrangler attaches every `.py` below the module root (`src/`) and, once, `python_modules/` beside the
config. (With `base_dir: ".."` and `python_modules/` inside the worker folder it attached every
vendored module twice.) One bundle per worker, so that no worker carries another's files.

Vendoring is offline, for dry runs and real deploys alike: `pip install --target python_modules
--no-index --find-links <wheel cache>`, for CPython-free platform `any` and the Python of the pinned
compatibility date. The wheel cache is `[deploy] wheel_cache` in hoox.toml (default
`.hoox/cache/wheels`); `hoox deploy fetch-wheels` fills it (`pip download`, the one step that needs
the network). A missing wheel is an error that gives that command; nothing is downloaded at deploy.
The vendored tree is kept beside the wheel cache (`.vendored/<key of the wheel set>/`): pip runs once
per set of wheels, whichever workspace deploys with them.

Every bundle is measured before wrangler runs: its module count and compressed size (gzip of the
modules, as wrangler and Cloudflare count it) against `[deploy] size_limit_mb` (default 3, the free
plan). A bundle over the limit is not deployed; the error names its largest modules.

`--dry-run` is `wrangler deploy --dry-run --outdir …`: it runs offline and proves the configuration,
bindings and bundle without uploading anything. A real deploy needs the KV namespace and D1 ids recorded
by `hoox infra provision --remote` and a Cloudflare API token; when anything is missing the deploy
fails and says which, it never reports a deploy that did not happen.

Resource ids live in the workspace's hoox.toml:

    [cloudflare]
    account_id = "…"
    [cloudflare.kv]        # namespace name = id
    hoox-config = "…"
    [cloudflare.d1]        # database name = uuid
    trade-data-db = "…"
    [cloudflare.urls]      # worker = URL wrangler reported on its last deploy
    hoox = "https://hoox.example.workers.dev"
    [cloudflare.hostnames] # public worker = its custom domain (hoox_cli.core.domains), rendered as a route
    hoox = "api.example.com"
"""

from __future__ import annotations

import ast
import functools
import gzip
import hashlib
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoox_cli.core import domains, wrangler_cli
from hoox_cli.core.cloudflare_table import cloudflare_table, set_cloudflare

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace


DEPLOY_DIR = "deploy"
VENDOR_DIR = "python_modules"
SRC_DIR = "src"  # wrangler's module root inside a bundle (hoox_edge.wrangler.BUNDLE_SRC)
VENDOR_STORE = ".vendored"  # <wheel cache>/.vendored/<key>/: one vendoring per set of wheels (vendor_store)
DEFAULT_WHEEL_CACHE = ".hoox/cache/wheels"
DEFAULT_SIZE_LIMIT_MB = 3.0  # Cloudflare's free plan: 3 MB compressed per worker (paid: 10 MB)
MIB = 1024 * 1024  # wrangler's and Cloudflare's "MB"
# The Python of the pinned compatibility date (2026-04: Python 3.13 on Pyodide 0.28), for which the
# pure-Python wheels are chosen.
PYTHON_VERSION = "3.13"
# Packages the edge still imports but that cannot be vendored: they have no pure-Python build for
# Python Workers (DESIGN decision 10 takes them out of the edge). Each bundle reports them as
# `not_vendored`, so that nobody mistakes the bundle for a complete one.
NOT_VENDORED = {
    "pydantic": "compiled core (pydantic_core) with no pure-Python wheel; being removed from the edge",
}
# What wrangler 4.86 attaches from the module root: its Python rule and its default module rules.
_ATTACHED = (".py", ".txt", ".html", ".sql", ".bin", ".wasm")
_WRANGLER_TOTAL = re.compile(r"Total \((\d+) modules?\)")
_WRANGLER_UPLOAD = re.compile(r"Total Upload: ([\d.]+) KiB / gzip: ([\d.]+) KiB")
_URL = re.compile(r"https://[A-Za-z0-9.-]+\.workers\.dev\b")
# Modules the Cloudflare runtime provides itself (not packages to vendor).
_RUNTIME_MODULES = {"js", "pyodide", "workers", "asgi", "hoox_edge", "__future__"}


@dataclass
class DeployResult:
    worker: str
    ok: bool
    dry_run: bool
    error: str | None = None
    output_tail: list[str] = field(default_factory=list)
    skipped: bool = False  # not attempted: an earlier worker failed
    url: str | None = None  # the public URL (domains.public_url) after a real deploy of a public worker
    # modules, bytes, gzip_bytes, limit_bytes, packages, not_vendored, duplicates, largest, wrangler
    bundle: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- workspace resource ids
def resources(ws: Workspace) -> dict[str, Any]:
    """The ids `hoox_edge.wrangler.render` binds: {"kv": {name: id}, "d1": {name: uuid}, "account_id"}."""
    cf = cloudflare_table(ws)
    out: dict[str, Any] = {
        "kv": {str(k): str(v) for k, v in dict(cf.get("kv", {}) or {}).items()},
        "d1": {str(k): str(v) for k, v in dict(cf.get("d1", {}) or {}).items()},
        "workers": ws.enabled_workers(),  # service bindings only to workers that are deployed too
        "routes": domains.routes(ws),  # custom domains of the public workers
    }
    account = wrangler_cli.credentials(ws).get("CLOUDFLARE_ACCOUNT_ID")
    if account:
        out["account_id"] = account
    access = operator_access(ws)
    if access:
        out["access"] = access  # the gateway's Access check (hoox_edge.shared.access)
    return out


def operator_access(ws: Workspace) -> dict[str, str]:
    """`[operator.access]` of hoox.toml: {"team_domain", "audience"}, each only when set (empty: no Access)."""
    operator: Any = ws.config().get("operator", {}) if ws.exists else {}
    table: Any = operator.get("access", {}) if hasattr(operator, "get") else {}
    if not hasattr(table, "get"):
        return {}
    return {k: str(table[k]).strip() for k in ("team_domain", "audience") if str(table.get(k) or "").strip()}


def record_resource(ws: Workspace, kind: str, name: str, resource_id: str | None) -> None:
    set_cloudflare(ws, [kind, name], resource_id)


# ----------------------------------------------------------------------------- settings
class BundleError(Exception):
    """A worker's bundle cannot be built; the message says why and what to run."""


@dataclass(frozen=True)
class DeploySettings:
    """`[deploy]` in hoox.toml."""

    size_limit_mb: float = DEFAULT_SIZE_LIMIT_MB
    wheel_cache: Path = Path(DEFAULT_WHEEL_CACHE)

    @property
    def limit_bytes(self) -> int:
        return int(self.size_limit_mb * MIB)


def parse_size_limit(value: Any) -> float:
    """`deploy.size_limit_mb` as a float; ValueError saying what it takes."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        raise ValueError(f"deploy.size_limit_mb takes a number of megabytes above 0 (the compressed size "
                         f"Cloudflare allows a worker: 3 on the free plan, 10 on paid plans), got {value!r}")
    return float(value)


def parse_wheel_cache(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"deploy.wheel_cache takes a folder path (relative to the workspace, or absolute), "
                         f"got {value!r}")
    return value.strip()


def deploy_settings(ws: Workspace) -> DeploySettings:
    """The workspace's `[deploy]` settings, checked; BundleError naming the key when one is wrong."""
    table: Any = ws.config().get("deploy", {}) if ws.exists else {}
    if not hasattr(table, "get"):
        raise BundleError("hoox.toml: deploy must be a table ([deploy]).")
    try:
        limit = parse_size_limit(_plain(table.get("size_limit_mb", DEFAULT_SIZE_LIMIT_MB)))
        cache = Path(parse_wheel_cache(_plain(table.get("wheel_cache", DEFAULT_WHEEL_CACHE)))).expanduser()
    except ValueError as exc:
        raise BundleError(f"hoox.toml: {exc}.") from None
    return DeploySettings(limit, cache if cache.is_absolute() else ws.root / cache)


def _plain(value: Any) -> Any:
    return value.unwrap() if hasattr(value, "unwrap") else value


# ----------------------------------------------------------------------------- staging
def edge_source() -> Path:
    """The hoox_edge package the workers are built from."""
    import hoox_edge

    return Path(hoox_edge.__file__).resolve().parent


def worker_dir(ws: Workspace, name: str) -> Path:
    """The worker's bundle: the folder holding its wrangler.jsonc, where wrangler runs."""
    return ws.hoox_dir / DEPLOY_DIR / name


def _ignore(src: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo"))}
    if Path(src) == edge_source():
        skip.add("local")  # CPython-only adapters (sqlite3, uvicorn): never part of a bundle
    return skip


def stage_config(ws: Workspace, name: str, res: dict[str, Any] | None = None) -> list[Path]:
    """Render the worker's wrangler.jsonc and src/entry.py into its bundle; return the files that changed."""
    from hoox_edge import catalog, wrangler

    w = catalog.worker(name)
    res = resources(ws) if res is None else res
    target = worker_dir(ws, name)
    (target / SRC_DIR).mkdir(parents=True, exist_ok=True)
    changed = []
    for path, text in ((target / wrangler.CONFIG_FILE, wrangler.render(w, res, bundle=True)),
                       (target / SRC_DIR / wrangler.ENTRY_FILE, wrangler.render_entry(w))):
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def required_packages(source: Path | None = None) -> list[str]:
    """Distributions the worker code imports (stdlib and runtime modules left out), with the version
    ranges hoox itself declares for them: derived from the code, so a new import is never forgotten."""
    from importlib import metadata

    source = source or edge_source()
    files = sorted(py for py in source.rglob("*.py") if "local" not in py.relative_to(source).parts[:1])
    tops: set[str] = set()
    for py in files:
        tops |= _imported_tops(py, py.stat().st_mtime_ns)
    tops -= _RUNTIME_MODULES
    tops -= set(sys.stdlib_module_names)
    dists = _packages_distributions()
    names = sorted({d for t in tops for d in dists.get(t, [t])})
    declared: dict[str, str] = {}
    try:
        for req in metadata.requires("hoox") or []:
            spec = req.split(";")[0].strip()
            m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)$", spec)
            if m:
                declared[_norm(m.group(1))] = m.group(3).strip()
    except metadata.PackageNotFoundError:
        pass
    return [n + declared.get(_norm(n), "") for n in names]


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    from importlib import metadata

    return dict(metadata.packages_distributions())  # the installed packages do not change during a run


@functools.lru_cache(maxsize=1024)
def _imported_tops(py: Path, mtime_ns: int) -> frozenset[str]:
    """The top-level modules `py` imports (absolute imports), cached per version of the file: a
    deploy of every worker asks for each of the ~200 edge modules once per worker."""
    tops: set[str] = set()
    for node in ast.walk(ast.parse(py.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            tops.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            tops.add(node.module.split(".")[0])
    return frozenset(tops)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dist_name(requirement: str) -> str:
    m = re.match(r"[A-Za-z0-9_.-]+", requirement)
    return _norm(m.group(0) if m else requirement)


def bundle_packages(source: Path | None = None) -> tuple[list[str], list[str]]:
    """(requirements vendored into every bundle, distributions the code imports that cannot be)."""
    vendored: list[str] = []
    skipped: list[str] = []
    for req in required_packages(source):
        (skipped if _dist_name(req) in NOT_VENDORED else vendored).append(req)
    return vendored, [_dist_name(r) for r in skipped]


def _pyproject(name: str, packages: list[str]) -> str:
    deps = "".join(f'  "{p}",\n' for p in packages)
    return (f"# Packages the {name} worker imports, vendored into {VENDOR_DIR}/ from the wheel cache.\n"
            f'[project]\nname = "hoox-{name}"\nversion = "0.0.0"\nrequires-python = ">={PYTHON_VERSION}"\n'
            f"dependencies = [\n{deps}]\n")


def stage_worker(ws: Workspace, name: str) -> Path:
    """Stage the worker's code, rendered config and package list; return its bundle folder.

    The vendored packages are put in by `install_vendored`."""
    target = worker_dir(ws, name)
    target.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target / "edge", ignore_errors=True)  # the layout of earlier versions (base_dir "..")
    code = target / SRC_DIR / "hoox_edge"
    if code.exists():
        shutil.rmtree(code)
    code.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(edge_source(), code, ignore=_ignore)
    stage_config(ws, name)
    pyproject = _pyproject(name, bundle_packages()[0])
    path = target / "pyproject.toml"
    if not path.exists() or path.read_text(encoding="utf-8") != pyproject:
        path.write_text(pyproject, encoding="utf-8")
    return target


# ----------------------------------------------------------------------------- vendoring (offline)
_PLATFORM = ("--only-binary=:all:", "--platform", "any", "--python-version", PYTHON_VERSION,
             "--implementation", "py")
_COMPLETE = ".complete"


def fetch_command(cache: Path, requirements: Iterable[str] | None = None) -> list[str]:
    """The `pip download` that fills the wheel cache with the pure-Python wheels the edge needs
    (their dependencies included): the one step of a deploy that needs the network."""
    reqs = bundle_packages()[0] if requirements is None else list(requirements)
    return [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", *_PLATFORM,
            "--dest", str(cache), *reqs]


def _fetch_hint(cache: Path) -> str:
    cmd = ["python", *fetch_command(cache)[1:]]
    return f"fetch them with `hoox deploy fetch-wheels` (it runs: {shlex.join(cmd)})"


def _pip_env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return env | {"PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _have_pip() -> bool:
    import importlib.util

    return importlib.util.find_spec("pip") is not None


def fetch_wheels(cache: Path, on_line: Callable[[str], None] | None = None) -> tuple[bool, list[str]]:
    """Run `fetch_command` (network); return (ok, the last lines pip printed)."""
    if not _have_pip():
        return False, [f"pip is not installed for {sys.executable}: install it (python -m ensurepip)"]
    cache.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(fetch_command(cache), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=_pip_env(), stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    tail: list[str] = []
    for raw in proc.stdout:
        line = raw.rstrip()
        tail = [*tail[-20:], line]
        if on_line:
            on_line(line)
    return proc.wait() == 0, tail


def _vendor_key(requirements: list[str], wheels: list[Path]) -> str:
    h = hashlib.sha256(repr((PYTHON_VERSION, requirements, [(w.name, w.stat().st_size) for w in wheels])).encode())
    return h.hexdigest()[:16]


def vendor_store(ws: Workspace, settings: DeploySettings) -> Path:
    """Where vendored trees live: beside the wheels they come from (`<wheel cache>/.vendored/`), so every
    workspace that uses one wheel cache vendors it once; the workspace's `.hoox/deploy/.vendored/` when
    the cache's folder cannot be written."""
    import os

    cache = settings.wheel_cache
    return cache / VENDOR_STORE if os.access(cache, os.W_OK) else ws.hoox_dir / DEPLOY_DIR / VENDOR_STORE


STALE_VENDORING_S = 3600.0  # an unfinished vendoring this old belongs to a process that died


def _prune_vendor_store(store: Path, keep: str) -> None:
    """Remove other wheel sets' trees (the cache's wheels changed) and vendorings left unfinished; one in
    progress elsewhere (a `.tmp` folder younger than STALE_VENDORING_S) is left alone."""
    import time

    for entry in store.iterdir() if store.is_dir() else ():
        if entry.name == keep:
            continue
        if entry.name.endswith(".tmp"):
            try:
                if time.time() - entry.stat().st_mtime < STALE_VENDORING_S:
                    continue
            except OSError:
                continue
        shutil.rmtree(entry, ignore_errors=True)


async def vendor_packages(ws: Workspace, settings: DeploySettings) -> Path:
    """Install the bundle's packages from the wheel cache into `<store>/<key>/` (see `vendor_store`),
    offline (pip with --no-index), once for a set of wheels; return that folder. Several processes may
    vendor at once: each installs into its own folder and the first to finish publishes it. BundleError
    when the cache lacks a wheel, saying how to fetch it: nothing is ever downloaded here."""
    import asyncio
    import os
    import secrets

    requirements, _ = bundle_packages()
    cache = settings.wheel_cache
    wheels = sorted(cache.glob("*.whl")) if cache.is_dir() else []
    if requirements and not wheels:
        raise BundleError(f"no wheels in the wheel cache {cache} ([deploy] wheel_cache in hoox.toml) for the "
                          f"packages the edge imports ({', '.join(requirements)}): {_fetch_hint(cache)}. "
                          "Nothing was deployed.")
    shutil.rmtree(ws.hoox_dir / DEPLOY_DIR / ".vendor", ignore_errors=True)  # where earlier versions kept it
    store = vendor_store(ws, settings)
    key = _vendor_key(requirements, wheels)
    out = store / key
    if (out / _COMPLETE).is_file():
        return out
    _prune_vendor_store(store, key)
    tmp = store / f"{key}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    tmp.mkdir(parents=True)
    try:
        if requirements:
            if not _have_pip():
                raise BundleError(f"pip is not installed for {sys.executable}; the bundle's packages are vendored "
                                  "with pip (python -m ensurepip). Nothing was deployed.")
            cmd = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(cache), *_PLATFORM,
                   "--target", str(tmp), "--no-compile", "--no-warn-script-location", "--quiet", *requirements]
            proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL, env=_pip_env(),
                                                        stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.STDOUT)
            text = (await proc.communicate())[0].decode("utf-8", "replace")
            if proc.returncode != 0:
                missing = list(dict.fromkeys(re.findall(r"No matching distribution found for (\S+)", text)))
                said = [ln.strip() for ln in text.splitlines() if ln.strip()][-2:]
                what = f"has no wheel for {', '.join(missing)}" if missing else "could not provide every package"
                raise BundleError(f"the wheel cache {cache} {what} (Python {PYTHON_VERSION}, pure Python): "
                                  f"{_fetch_hint(cache)}. pip said: {' | '.join(said)}. Nothing was deployed.")
        shutil.rmtree(tmp / "bin", ignore_errors=True)  # console scripts: not modules
        for cached in list(tmp.rglob("__pycache__")):
            shutil.rmtree(cached, ignore_errors=True)
        (tmp / _COMPLETE).write_text("\n".join(requirements) + "\n", encoding="utf-8")
        try:
            tmp.rename(out)
        except OSError:
            if not (out / _COMPLETE).is_file():  # not another process's finished tree: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after the rename; else this process's own leftovers
    return out


def install_vendored(target: Path, vendored: Path) -> None:
    """Put the vendored packages into the bundle's python_modules/ (replacing what was there)."""
    dest = target / VENDOR_DIR
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(vendored, dest, ignore=lambda _src, names: {_COMPLETE} & set(names))


def vendored_distributions(folder: Path) -> list[str]:
    """`name==version` of every distribution in a python_modules/ folder."""
    out = []
    for info in sorted(folder.glob("*.dist-info")):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        out.append(f"{_norm(name)}=={version}")
    return out


# ----------------------------------------------------------------------------- measuring a bundle
def bundle_modules(target: Path) -> list[tuple[str, Path]]:
    """(module name, file) of what wrangler attaches from a bundle: src/entry.py (the main module),
    the files below src/ its rules match, and everything in python_modules/ but bytecode."""
    from hoox_edge import wrangler

    src = target / SRC_DIR
    main = src / wrangler.ENTRY_FILE
    out = [(wrangler.ENTRY_FILE, main)]
    out += [(f.relative_to(src).as_posix(), f) for f in sorted(src.rglob("*"))
            if f.is_file() and f != main and f.suffix in _ATTACHED]
    vendor = target / VENDOR_DIR
    if vendor.is_dir():
        out += [(f"{VENDOR_DIR}/{f.relative_to(vendor).as_posix()}", f) for f in sorted(vendor.rglob("*"))
                if f.is_file() and not f.name.endswith(".pyc")]
    return out


def duplicated_modules(names: Iterable[str]) -> list[str]:
    """Module names attached more than once, also under another prefix (`x/python_modules/m.py` and
    `python_modules/m.py`, the double attachment of a python_modules/ inside the module root)."""
    seen: dict[str, int] = {}
    for n in names:
        key = n.split(f"{VENDOR_DIR}/", 1)[-1] if f"{VENDOR_DIR}/" in n else n
        seen[key] = seen.get(key, 0) + 1
    return sorted(k for k, c in seen.items() if c > 1)


def measure(target: Path, limit_bytes: int, top: int = 5) -> dict[str, Any]:
    """The bundle's module count, size and compressed size (gzip of every module's bytes, as
    wrangler and Cloudflare count it), against the limit; its largest modules, by compressed size."""
    modules = bundle_modules(target)
    contents = [path.read_bytes() for _, path in modules]
    # wrangler concatenates the modules, then the main module, and gzips that at zlib's default level
    gz = len(gzip.compress(b"".join([*contents[1:], contents[0]]), compresslevel=6, mtime=0))
    sizes: list[dict[str, Any]] = [
        {"module": name, "bytes": len(data), "gzip_bytes": len(gzip.compress(data, compresslevel=6, mtime=0))}
        for (name, _), data in zip(modules, contents, strict=True)]
    sizes.sort(key=lambda m: (-m["gzip_bytes"], m["module"]))
    return {
        "modules": len(modules),
        "bytes": sum(len(c) for c in contents),
        "gzip_bytes": gz,
        "limit_bytes": limit_bytes,
        "packages": vendored_distributions(target / VENDOR_DIR),
        "not_vendored": bundle_packages()[1],
        "duplicates": duplicated_modules(n for n, _ in modules),
        "largest": sizes[:top],
    }


def _mb(n: int) -> str:
    return f"{n / MIB:.2f} MB"


def _kb(n: int) -> str:
    return f"{n / 1024:.0f} KB"


def over_limit_message(bundle: dict[str, Any]) -> str:
    largest = ", ".join(f"{m['module']} ({_kb(m['gzip_bytes'])} compressed)" for m in bundle["largest"])
    return (f"the bundle is {_mb(bundle['gzip_bytes'])} compressed, over the {_mb(bundle['limit_bytes'])} limit "
            f"(deploy.size_limit_mb in hoox.toml; {DEFAULT_SIZE_LIMIT_MB:g} MB on Cloudflare's free plan). "
            f"Largest modules: {largest}. Nothing was deployed.")


def wrangler_figures(lines: Iterable[str], outdir: Path | None) -> dict[str, Any]:
    """What wrangler itself reported of the bundle: its module count (the main module included), its
    compressed size, and, from a dry run's --outdir, the modules it wrote that are attached twice."""
    out: dict[str, Any] = {}
    for ln in lines:
        if m := _WRANGLER_TOTAL.search(ln):
            out["modules"] = int(m.group(1)) + 1  # wrangler's table leaves out the main module
        if m := _WRANGLER_UPLOAD.search(ln):
            out["gzip_bytes"] = round(float(m.group(2)) * 1024)
    if outdir is not None and outdir.is_dir():
        written = [f.relative_to(outdir).as_posix() for f in outdir.rglob("*") if f.is_file()]
        out["duplicates"] = duplicated_modules(n for n in written if n != "README.md")
    return out


def _missing_ids(ws: Workspace, name: str, res: dict[str, Any]) -> list[str]:
    from hoox_edge import catalog

    w = catalog.worker(name)
    missing = [f"KV namespace {b.resource}" for b in w.bindings_of("kv") if not res["kv"].get(b.resource)]
    missing += [f"D1 database {b.resource}" for b in w.bindings_of("d1") if not res["d1"].get(b.resource)]
    return missing


# ----------------------------------------------------------------------------- deploy
async def deploy_worker(ws: Workspace, name: str, *, dry_run: bool,
                        on_line: Callable[[str], None] | None = None) -> DeployResult:
    """Stage, vendor, measure and deploy one worker (`wrangler deploy`, or with dry_run
    `wrangler deploy --dry-run`)."""
    import asyncio

    from hoox_edge import catalog

    try:
        catalog.worker(name)
    except KeyError as exc:
        return DeployResult(name, False, dry_run, error=str(exc.args[0]))
    bundle: dict[str, Any] | None = None
    try:
        settings = deploy_settings(ws)
        target = await asyncio.to_thread(stage_worker, ws, name)
        res = resources(ws)
        if not dry_run:
            creds = wrangler_cli.credentials(ws)
            problems = []
            if not creds.get("CLOUDFLARE_API_TOKEN"):
                problems.append("no Cloudflare API token (set CLOUDFLARE_API_TOKEN, or "
                                "`hoox secrets set CLOUDFLARE_API_TOKEN`)")
            missing = _missing_ids(ws, name, res)
            if missing:
                problems.append(f"no id recorded for {', '.join(missing)} (run `hoox infra provision --remote`)")
            if problems:
                return DeployResult(name, False, dry_run, error="not deployed: " + "; ".join(problems) + ".")
        vendored = await vendor_packages(ws, settings)
        await asyncio.to_thread(install_vendored, target, vendored)
        bundle = await asyncio.to_thread(measure, target, settings.limit_bytes)
        if bundle["gzip_bytes"] > bundle["limit_bytes"]:
            return DeployResult(name, False, dry_run, error=over_limit_message(bundle), bundle=bundle)
        outdir = None
        if dry_run:
            outdir = target / "dist"
            shutil.rmtree(outdir, ignore_errors=True)
            args = ["deploy", "--dry-run", "--outdir", str(outdir)]
        else:
            args = ["deploy"]
        result = await wrangler_cli.run(args, cwd=target, ws=ws, on_line=on_line)
    except BundleError as exc:
        return DeployResult(name, False, dry_run, error=str(exc), bundle=bundle)
    except wrangler_cli.WranglerNotFound as exc:
        return DeployResult(name, False, dry_run, error=str(exc), bundle=bundle)
    except OSError as exc:
        return DeployResult(name, False, dry_run, error=f"could not stage {name}: {exc}", bundle=bundle)
    bundle["wrangler"] = wrangler_figures(result.lines, outdir)
    if not result.ok:
        return DeployResult(name, False, dry_run, error=result.error(), output_tail=result.tail(), bundle=bundle)
    url = None
    if not dry_run:
        m = _URL.search(result.text)
        if m:
            record_resource(ws, "urls", name, m.group(0))
        url = domains.public_url(ws, name)  # its custom domain when it has one
    return DeployResult(name, True, dry_run, output_tail=result.tail(), url=url, bundle=bundle)


def planned_workers(ws: Workspace) -> list[str]:
    from hoox_edge import catalog

    return catalog.deploy_order(ws.enabled_workers())


async def deploy_all(ws: Workspace, *, dry_run: bool, on_line: Callable[[str], None] | None = None,
                     on_progress: Callable[[str, int, int], None] | None = None) -> list[DeployResult]:
    """Every enabled worker in `catalog.deploy_order`; stops at the first failure.

    The list holds one result per planned worker: the deployed ones (ok), the one that failed, and
    the rest marked `skipped`. `on_progress(worker, done, total)` is called as a worker starts
    (done = workers finished before it) and once more with done = total when all succeeded.
    """
    order = planned_workers(ws)
    total = len(order)
    results: list[DeployResult] = []
    for i, name in enumerate(order):
        if on_progress:
            on_progress(name, i, total)
        r = await deploy_worker(ws, name, dry_run=dry_run, on_line=on_line)
        results.append(r)
        if not r.ok:
            results += [DeployResult(n, False, dry_run, skipped=True,
                                     error=f"not deployed: stopped after {name} failed")
                        for n in order[i + 1:]]
            return results
    if on_progress and order:
        on_progress(order[-1], total, total)
    return results
