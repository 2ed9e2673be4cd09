"""Deploying workers to Cloudflare with wrangler: shared by `hoox deploy …` and the cockpit's service manager.

A deploy never runs from the repository's `edge/` folder: each worker is first *staged* under the
workspace, `.hoox/deploy/<worker>/edge/`, holding

    hoox_edge/            the worker code (CPython-only `hoox_edge/local/` left out)
    <worker>/wrangler.jsonc  rendered from the catalog with the workspace's resource ids
    <worker>/entry.py
    <worker>/pyproject.toml  the Python packages the worker imports (for pywrangler)
    <worker>/python_modules/ those packages, vendored (real deploys only)

One tree per worker, because wrangler attaches every `.py` under `base_dir` and would otherwise carry
one worker's vendored packages into another's bundle.

`--dry-run` is `wrangler deploy --dry-run --outdir …`: it runs offline and proves the configuration
and bindings without uploading anything. A real deploy needs the KV namespace and D1 ids recorded by
`hoox infra provision --remote`, a Cloudflare API token, and the packages vendored by pywrangler
(PyPI `workers-py`), which needs the network; when any of these is missing the deploy fails and says
which, it never reports a deploy that did not happen.

Resource ids live in the workspace's hoox.toml:

    [cloudflare]
    account_id = "…"
    [cloudflare.kv]        # namespace name = id
    hoox-config = "…"
    [cloudflare.d1]        # database name = uuid
    trade-data-db = "…"
    [cloudflare.urls]      # worker = URL wrangler reported on its last deploy
    hoox = "https://hoox.example.workers.dev"
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoox_cli import wrangler_cli

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

DEPLOY_DIR = "deploy"
VENDOR_DIR = "python_modules"
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
    url: str | None = None  # what wrangler reported (real deploys of public workers)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- workspace resource ids
def cloudflare_table(ws: Workspace) -> Any:
    cf = ws.config().get("cloudflare", {}) if ws.exists else {}
    return cf if hasattr(cf, "get") else {}


def resources(ws: Workspace) -> dict[str, Any]:
    """The ids `hoox_edge.wrangler.render` binds: {"kv": {name: id}, "d1": {name: uuid}, "account_id"}."""
    cf = cloudflare_table(ws)
    out: dict[str, Any] = {
        "kv": {str(k): str(v) for k, v in dict(cf.get("kv", {}) or {}).items()},
        "d1": {str(k): str(v) for k, v in dict(cf.get("d1", {}) or {}).items()},
        "workers": ws.enabled_workers(),  # service bindings only to workers that are deployed too
    }
    account = wrangler_cli.credentials(ws).get("CLOUDFLARE_ACCOUNT_ID")
    if account:
        out["account_id"] = account
    return out


def set_cloudflare(ws: Workspace, path: list[str], value: str | None) -> None:
    """Set (or with None remove) `[cloudflare.<path…>]` in hoox.toml, keeping comments and order (tomlkit)."""
    import tomlkit

    doc = ws.config()
    node: Any = doc
    for key in ["cloudflare", *path[:-1]]:
        if key not in node:
            if value is None:
                return
            node[key] = tomlkit.table()
        node = node[key]
    if value is None:
        if path[-1] in node:
            del node[path[-1]]
    else:
        node[path[-1]] = value
    ws.save_config(doc)


def record_resource(ws: Workspace, kind: str, name: str, resource_id: str | None) -> None:
    set_cloudflare(ws, [kind, name], resource_id)


# ----------------------------------------------------------------------------- staging
def edge_source() -> Path:
    """The hoox_edge package the workers are built from."""
    import hoox_edge

    return Path(hoox_edge.__file__).resolve().parent


def stage_root(ws: Workspace, name: str) -> Path:
    return ws.hoox_dir / DEPLOY_DIR / name / "edge"


def worker_dir(ws: Workspace, name: str) -> Path:
    return stage_root(ws, name) / name


def _ignore(src: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo"))}
    if Path(src) == edge_source():
        skip.add("local")  # CPython-only adapters (sqlite3, uvicorn): never part of a bundle
    return skip


def stage_config(ws: Workspace, name: str, res: dict[str, Any] | None = None) -> list[Path]:
    """Render the worker's wrangler.jsonc and entry.py into its staging tree; return the files that changed."""
    from hoox_edge import catalog, wrangler

    w = catalog.worker(name)
    res = resources(ws) if res is None else res
    target = worker_dir(ws, name)
    target.mkdir(parents=True, exist_ok=True)
    changed = []
    for path, text in ((target / wrangler.CONFIG_FILE, wrangler.render(w, res)),
                       (target / wrangler.ENTRY_FILE, wrangler.render_entry(w))):
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def required_packages(source: Path | None = None) -> list[str]:
    """Distributions the worker code imports (stdlib and runtime modules left out), with the version
    ranges hoox itself declares for them: derived from the code, so a new import is never forgotten."""
    from importlib import metadata

    source = source or edge_source()
    tops: set[str] = set()
    for py in source.rglob("*.py"):
        if "local" in py.relative_to(source).parts[:1]:
            continue
        tree = ast.parse(py.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                tops.add(node.module.split(".")[0])
    tops -= _RUNTIME_MODULES
    tops -= set(sys.stdlib_module_names)
    dists = metadata.packages_distributions()
    names = sorted({d for t in tops for d in dists.get(t, [t])})
    declared: dict[str, str] = {}
    try:
        for req in metadata.requires("hoox") or []:
            spec = req.split(";")[0].strip()
            m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)$", spec)
            if m:
                declared[m.group(1).lower().replace("_", "-")] = m.group(3).strip()
    except metadata.PackageNotFoundError:
        pass
    return [n + declared.get(n.lower().replace("_", "-"), "") for n in names]


def _pyproject(name: str, packages: list[str]) -> str:
    deps = "".join(f'  "{p}",\n' for p in packages)
    return (f'# Packages the {name} worker imports; `pywrangler sync` vendors them into {VENDOR_DIR}/.\n'
            f'[project]\nname = "hoox-{name}"\nversion = "0.0.0"\nrequires-python = ">=3.12"\n'
            f"dependencies = [\n{deps}]\n")


def stage_worker(ws: Workspace, name: str) -> Path:
    """Stage the worker's code, rendered config and package list; return the folder wrangler runs in."""
    root = stage_root(ws, name)
    code = root / "hoox_edge"
    if code.exists():
        shutil.rmtree(code)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(edge_source(), code, ignore=_ignore)
    stage_config(ws, name)
    target = worker_dir(ws, name)
    pyproject = _pyproject(name, required_packages())
    path = target / "pyproject.toml"
    if not path.exists() or path.read_text(encoding="utf-8") != pyproject:
        path.write_text(pyproject, encoding="utf-8")
        shutil.rmtree(target / VENDOR_DIR, ignore_errors=True)  # the package list changed: vendor again
    return target


def find_pywrangler() -> str | None:
    return os.environ.get("HOOX_PYWRANGLER") or shutil.which("pywrangler")


async def vendor(ws: Workspace, target: Path, on_line: Callable[[str], None] | None) -> str | None:
    """Vendor the worker's packages into python_modules/ with pywrangler; return an error message or None."""
    import asyncio

    if (target / VENDOR_DIR).is_dir() and any((target / VENDOR_DIR).iterdir()):
        return None
    exe = find_pywrangler()
    if exe is None:
        return (f"the worker's Python packages ({', '.join(required_packages())}) are not vendored and "
                "pywrangler is not installed. Vendoring needs pywrangler (PyPI package workers-py, e.g. "
                "`uv tool install workers-py`) and network access; nothing was deployed.")
    proc = await asyncio.create_subprocess_exec(
        exe, "sync", cwd=str(target), env=wrangler_cli.child_env(ws),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    tail: list[str] = []
    while raw := await proc.stdout.readline():
        line = raw.decode("utf-8", "replace").rstrip()
        tail = [*tail[-20:], line]
        if on_line:
            on_line(line)
    if await proc.wait() != 0 or not (target / VENDOR_DIR).is_dir():
        return "pywrangler sync failed to vendor the packages (it needs network access): " + " | ".join(tail[-3:])
    return None


def _missing_ids(ws: Workspace, name: str, res: dict[str, Any]) -> list[str]:
    from hoox_edge import catalog

    w = catalog.worker(name)
    missing = [f"KV namespace {b.resource}" for b in w.bindings_of("kv") if not res["kv"].get(b.resource)]
    missing += [f"D1 database {b.resource}" for b in w.bindings_of("d1") if not res["d1"].get(b.resource)]
    return missing


# ----------------------------------------------------------------------------- deploy
async def deploy_worker(ws: Workspace, name: str, *, dry_run: bool,
                        on_line: Callable[[str], None] | None = None) -> DeployResult:
    """Stage and deploy one worker (`wrangler deploy`, or with dry_run `wrangler deploy --dry-run`)."""
    from hoox_edge import catalog

    try:
        catalog.worker(name)
    except KeyError as exc:
        return DeployResult(name, False, dry_run, error=str(exc.args[0]))
    try:
        target = stage_worker(ws, name)
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
            err = await vendor(ws, target, on_line)
            if err:
                return DeployResult(name, False, dry_run, error=err)
            args = ["deploy"]
        else:
            outdir = target.parent.parent / "dist"
            shutil.rmtree(outdir, ignore_errors=True)
            args = ["deploy", "--dry-run", "--outdir", str(outdir)]
        result = await wrangler_cli.run(args, cwd=target, ws=ws, on_line=on_line)
    except wrangler_cli.WranglerNotFound as exc:
        return DeployResult(name, False, dry_run, error=str(exc))
    except OSError as exc:
        return DeployResult(name, False, dry_run, error=f"could not stage {name}: {exc}")
    if not result.ok:
        return DeployResult(name, False, dry_run, error=result.error(), output_tail=result.tail())
    url = None
    if not dry_run:
        m = _URL.search(result.text)
        if m:
            url = m.group(0)
            record_resource(ws, "urls", name, url)
    return DeployResult(name, True, dry_run, output_tail=result.tail(), url=url)


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
