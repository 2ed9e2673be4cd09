"""The Pyodide harness boots offline: real Pyodide 0.28.2 (Python 3.13), Miniflare's bindings and the
Python Workers SDK from PyPI, as the other test_pyodide_* modules use them."""

from __future__ import annotations

from pyodide_support import run_in_pyodide


def test_the_harness_runs_pytest_in_pyodide_against_miniflare() -> None:
    out = run_in_pyodide("pyodide/inside/test_harness.py")
    assert "3 passed" in out
