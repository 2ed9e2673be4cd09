"""Every worker's entry.py imports in Pyodide, as Cloudflare imports it: real Pyodide 0.28.2, the
Python Workers SDK, only pure-Python packages (no pydantic_core has a Pyodide build)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from hoox_edge import catalog

EDGE = Path("/hoox/edge")


@pytest.mark.parametrize("name", catalog.names())
def test_the_entry_of_every_worker_imports_in_pyodide(name: str) -> None:
    w = catalog.worker(name)
    spec = importlib.util.spec_from_file_location(f"entry_{w.package_dir.replace('-', '_')}",
                                                  EDGE / w.package_dir / "entry.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    import workers

    assert issubclass(module.Default, workers.WorkerEntrypoint)
    for do in w.durable_objects:
        assert issubclass(getattr(module, do.class_name), workers.DurableObject)
    compiled = sorted(m for m in sys.modules if m.split(".")[0] in {"pydantic", "pydantic_core"})
    assert compiled == [], f"{name} imports compiled packages: {compiled}"
