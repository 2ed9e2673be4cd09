"""Top-level code draws no entropy and reads no clock: Cloudflare snapshots a Python worker after its
imports ran at upload, so anything drawn then would be shared by every instance (and `random` at import
is refused outright).

For every worker, `entropy_probe.py` imports its `entry.py` in a fresh interpreter — the whole import
closure: the hoox_edge modules it reaches and the packages its bundle carries — with `random`, `secrets`,
`os.urandom`, `uuid.uuid4`, `time.time`, `datetime.now` … patched to raise, and reports every call.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from hoox_edge import catalog
from packaging.requirements import Requirement

from hoox_cli.core import deploy

TESTS = Path(__file__).resolve().parent
EDGE = TESTS.parent / "edge"
PROBE = TESTS / "entropy_probe.py"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def bundle_top_levels() -> str:
    """The top-level packages of the distributions the edge imports and their dependencies (no extras),
    as this interpreter resolves them: what the worker's import closure may reach besides the stdlib."""
    todo = [Requirement(r).name for r in deploy.required_packages()]
    seen: set[str] = set()
    while todo:
        name = _norm(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for spec in requires:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return ",".join(sorted(top for top, dists in metadata.packages_distributions().items()
                           if any(_norm(d) in seen for d in dists)))


def probe(edge: Path, w: catalog.Worker, allowed: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(PROBE), str(edge), w.package_dir, allowed],
                          capture_output=True, text=True, timeout=120, cwd=TESTS.parent)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_no_worker_draws_entropy_or_reads_the_clock_at_import() -> None:
    allowed = bundle_top_levels()
    with ThreadPoolExecutor(max_workers=len(catalog.WORKERS)) as pool:
        reports = dict(zip(catalog.WORKERS, pool.map(lambda w: probe(EDGE, w, allowed), catalog.WORKERS),
                           strict=True))
    failures = []
    for w, r in reports.items():
        assert r["edge"] == str((EDGE / "hoox_edge").resolve()), r["edge"]  # this checkout's code, freshly imported
        if r["calls"] or r["error"]:
            failures.append(f"{w.name}: {r['calls']} {r['error']}")
            continue
        # the closure really was imported: the worker's module, its Durable Objects, the Cloudflare adapters
        reached = set(r["imported"])
        assert {w.module, "hoox_edge.cloudflare.entry", *(d.module for d in w.durable_objects)} <= reached, w.name
        assert not any(m.startswith("hoox_edge.local") for m in reached), w.name  # CPython-only, never bundled
        assert "starlette" in r["packages"], w.name
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("line", ["_SEED = random.random()", "_TOKEN = uuid.uuid4().hex",
                                  "_STARTED = time.time()", "_KEY = os.urandom(8)"])
def test_the_probe_catches_entropy_drawn_by_an_edge_module(tmp_path: Path, line: str) -> None:
    edge = tmp_path / "edge"
    shutil.copytree(EDGE, edge, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    w = catalog.worker("d1-worker")
    target = edge / "hoox_edge" / "shared" / "app.py"  # every worker's app is built on it
    target.write_text(target.read_text() + f"\nimport os, random, time, uuid  # noqa\n{line}\n")
    module = ".".join(target.relative_to(edge).with_suffix("").parts)
    r = probe(edge, w, bundle_top_levels())
    assert r["edge"] == str((edge / "hoox_edge").resolve())
    assert [c["module"] for c in r["calls"]] == [module], r
    assert r["error"] and "EntropyAtImport" in r["error"] and module in r["error"]
