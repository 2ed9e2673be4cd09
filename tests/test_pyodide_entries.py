"""Every worker's entry.py imports inside real Pyodide (decision 10): run in tests/pyodide/inside."""

from __future__ import annotations

from hoox_edge import catalog
from pyodide_support import run_in_pyodide


def test_every_worker_entry_imports_in_pyodide() -> None:
    out = run_in_pyodide("pyodide/inside/test_entry_imports.py")
    assert f"{len(catalog.names())} passed" in out
