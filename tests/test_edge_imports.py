"""Every module a worker imports on Cloudflare runs in Pyodide (DESIGN decision 10).

Python Workers have the standard library, the runtime's own modules and pure-Python packages; nothing
compiled (`pydantic_core` does not exist there). Two proofs, one per worker:

- statically: the import closure of `edge/<worker>/entry.py` through `hoox_edge` (every import
  statement, also those inside functions, plus the modules `hoox_edge` imports by name at run time)
  names no third-party package outside `ALLOWED`. `hoox_edge.local` is the CPython-only local
  runtime: it is not walked, and the Cloudflare path may not import it.
- at run time: in a fresh interpreter where `pydantic` and `pydantic_core` cannot be imported, every
  module of the closure imports and every `entry.py` builds its classes.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hoox_edge import catalog
from hoox_edge.exchanges import KNOWN_EXCHANGES

EDGE = Path(__file__).resolve().parents[1] / "edge"
PACKAGE = "hoox_edge"
CPYTHON_ONLY = "hoox_edge.local"

# Pure-Python packages available to Python Workers: starlette, httpx and their dependencies.
ALLOWED = frozenset({"starlette", "httpx", "anyio", "sniffio", "idna", "h11", "httpcore", "certifi",
                     "typing_extensions"})
# The runtime's own modules: they exist only on Cloudflare.
RUNTIME = frozenset({"workers", "js", "pyodide", "asgi"})
# Modules that import others by a name computed at run time (importlib), which no import statement
# shows; `dynamic_imports` says what they import. A new one must be added there.
DYNAMIC = frozenset({"hoox_edge.cloudflare.entry", "hoox_edge.exchanges"})


def dynamic_imports(worker: catalog.Worker) -> dict[str, set[str]]:
    return {
        # entrypoint() and durable_object() import the catalog's modules of the worker
        "hoox_edge.cloudflare.entry": {worker.module, *(d.module for d in worker.durable_objects)},
        # live_connector() imports hoox_edge.exchanges.<exchange>
        "hoox_edge.exchanges": {f"hoox_edge.exchanges.{e}" for e in KNOWN_EXCHANGES},
    }


def module_file(name: str, root: Path = EDGE) -> Path | None:
    """The source of module `name` under `root`, or None when it is not a module there."""
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_names(path: Path, module: str) -> set[str]:
    """Every dotted name an import statement of `path` may load: `from a import b` gives `a` and `a.b`
    (`a.b` counts only if it is a module)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names if a.name != "*")
    return names


def closure(roots: set[str], extra: dict[str, set[str]],
            root: Path = EDGE) -> tuple[set[str], list[tuple[str, str]]]:
    """(the package's modules reached from `roots`, [(module, import) that is not allowed]).

    `roots` are module names or `file:<path>` (an entry.py); `extra` adds the run-time imports of a module."""
    allowed = ALLOWED | RUNTIME | set(sys.stdlib_module_names)
    seen: set[str] = set()
    bad: list[tuple[str, str]] = []
    todo: list[tuple[str, Path]] = []

    def reach(importer: str, name: str) -> None:
        top = name.split(".")[0]
        if top != PACKAGE:
            if top not in allowed:
                bad.append((importer, top))
            return
        if name == CPYTHON_ONLY or name.startswith(CPYTHON_ONLY + "."):
            bad.append((importer, CPYTHON_ONLY))
            return
        parts = name.split(".")
        # importing a.b.c runs a and a.b first; a name that is no module file is an attribute
        for i in range(1, len(parts) + 1):
            mod = ".".join(parts[:i])
            path = module_file(mod, root)
            if path is not None and mod not in seen:
                seen.add(mod)
                todo.append((mod, path))

    for r in roots:
        if r.startswith("file:"):
            path = Path(r[5:])
            for name in imported_names(path, "__main__"):
                reach(str(path), name)
        else:
            reach("(root)", r)
    while todo:
        mod, path = todo.pop()
        for name in sorted(imported_names(path, mod) | extra.get(mod, set())):
            reach(mod, name)
    return seen, sorted(set(bad))


def worker_closure(w: catalog.Worker) -> tuple[set[str], list[tuple[str, str]]]:
    return closure({f"file:{EDGE / w.package_dir / 'entry.py'}"}, dynamic_imports(w))


@pytest.mark.parametrize("w", catalog.WORKERS, ids=lambda w: w.name)
def test_a_worker_imports_only_the_standard_library_runtime_and_allowed_packages(w: catalog.Worker) -> None:
    modules, bad = worker_closure(w)
    assert not bad, (f"{w.name} would import what Python Workers do not have (compiled, or not allowed): "
                     + "; ".join(f"{m} imports {n}" for m, n in bad)
                     + f". Allowed besides the standard library: {', '.join(sorted(ALLOWED | RUNTIME))}.")
    # the walk reached the worker's code, not just its entry file
    assert {w.module, "hoox_edge.cloudflare.entry", "hoox_edge.shared.app"} <= modules
    assert {d.module for d in w.durable_objects} <= modules


def test_every_import_by_name_is_known_to_the_walk() -> None:
    """A module that imports by a computed name hides those imports from `imported_names`."""
    callers = set()
    for path in (EDGE / PACKAGE).rglob("*.py"):
        module = ".".join(path.relative_to(EDGE).with_suffix("").parts).removesuffix(".__init__")
        if module.startswith(CPYTHON_ONLY):
            continue
        text = path.read_text(encoding="utf-8")
        if "import_module(" in text or "__import__(" in text:
            callers.add(module)
    assert callers == DYNAMIC, "update DYNAMIC and dynamic_imports() with what these modules import by name"


def test_the_walk_finds_a_forbidden_import_anywhere(tmp_path: Path) -> None:
    """The checker itself: an import inside a function counts; a local-runtime module is not walked,
    but importing it from the Cloudflare path is refused."""
    pkg = tmp_path / PACKAGE
    (pkg / "local").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "local" / "__init__.py").write_text("import sqlite3\nimport pydantic\n")
    (pkg / "a.py").write_text("from . import b\nfrom hoox_edge.b import helper\nimport json, starlette.routing\n")
    (pkg / "b.py").write_text("def helper():\n    from pydantic import BaseModel\n    return BaseModel\n")
    (pkg / "c.py").write_text("from hoox_edge.local import runtime\n")
    entry = tmp_path / "entry.py"
    entry.write_text("from hoox_edge import a\nfrom workers import WorkerEntrypoint\n")
    modules, bad = closure({f"file:{entry}"}, {}, root=tmp_path)
    assert modules == {"hoox_edge", "hoox_edge.a", "hoox_edge.b"}
    assert bad == [("hoox_edge.b", "pydantic")]
    _, bad = closure({"hoox_edge.c"}, {}, root=tmp_path)
    assert bad == [("hoox_edge.c", "hoox_edge.local")]


_IMPORT_ALL = textwrap.dedent("""
    import importlib, importlib.abc, importlib.util, json, sys, types
    before = set(sys.modules)  # the interpreter's own start-up (site, .pth hooks)
    for name in ("pydantic", "pydantic_core"):
        sys.modules[name] = None  # as on Python Workers: `import pydantic` raises ImportError
    available = set(sys.stdlib_module_names) | set(json.loads(sys.argv[2]))

    class OnlyWhatWorkersHave(importlib.abc.MetaPathFinder):
        \"\"\"Any other installed package is absent, as on Cloudflare: a package's optional import
        (httpx's command line, say) falls back as it would there; a hard one fails the import.\"\"\"

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] not in available:
                raise ModuleNotFoundError(f"No module named {name!r} on Python Workers", name=name)
            return None

    sys.meta_path.insert(0, OnlyWhatWorkersHave())

    class _Base:
        def __init__(self, ctx, env):
            self.ctx, self.env = ctx, env

    workers = types.ModuleType("workers")  # the runtime's SDK, which exists only on Cloudflare
    workers.WorkerEntrypoint = type("WorkerEntrypoint", (_Base,), {})
    workers.DurableObject = type("DurableObject", (_Base,), {})
    sys.modules["workers"] = workers

    modules, entries = json.loads(sys.argv[1])
    for name in modules:
        importlib.import_module(name)
    for i, path in enumerate(entries):
        spec = importlib.util.spec_from_file_location(f"_entry{i}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # builds Default and the Durable Object classes
        assert issubclass(module.Default, workers.WorkerEntrypoint), path
    print(json.dumps(sorted({m.split(".")[0] for m, v in sys.modules.items() if v is not None and m not in before})))
""")


@pytest.mark.heavy
def test_every_module_of_the_closure_imports_without_pydantic() -> None:
    modules: set[str] = set()
    for w in catalog.WORKERS:
        modules |= worker_closure(w)[0]
    entries = [str(EDGE / w.package_dir / "entry.py") for w in catalog.WORKERS]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EDGE), os.environ.get("PYTHONPATH", "")])}
    available = sorted(ALLOWED | RUNTIME | {PACKAGE})
    proc = subprocess.run([sys.executable, "-c", _IMPORT_ALL, json.dumps([sorted(modules), entries]),
                           json.dumps(available)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = set(json.loads(proc.stdout.splitlines()[-1]))
    assert "pydantic" not in loaded and "pydantic_core" not in loaded
    third_party = {m for m in loaded - set(sys.stdlib_module_names) - {PACKAGE, "workers"}
                   if not m.startswith("_entry")}
    assert third_party <= ALLOWED, f"imported at run time but not allowed: {sorted(third_party - ALLOWED)}"


def _endpoints(routes: list) -> list:
    from starlette.routing import Mount, Route
    found = []
    for route in routes:
        if isinstance(route, Mount):
            found += _endpoints(route.routes)
        elif isinstance(route, Route):
            found.append(route.endpoint)
    return found


@pytest.mark.parametrize("w", catalog.WORKERS, ids=lambda w: w.name)
def test_every_endpoint_is_async_so_nothing_needs_anyios_thread_pool(w: catalog.Worker) -> None:
    # Starlette runs a sync endpoint in anyio's thread pool; anyio's asyncio backend imports `ssl`,
    # which Pyodide does not ship: such a route would answer 500 on Cloudflare only.
    import asyncio
    import importlib

    app = importlib.import_module(w.module).app
    endpoints = _endpoints(app.app.routes)  # inside the boundary layer (shared/app.py)
    assert endpoints, f"{w.name} serves no route"
    sync = [e.__qualname__ for e in endpoints if not asyncio.iscoroutinefunction(e)]
    assert not sync, f"{w.name}: sync endpoints {sync} would run in anyio's thread pool"
