"""The harness itself: real Pyodide, Miniflare's bindings, the SDK from PyPI."""

from __future__ import annotations

import sys


def test_runs_in_pyodide_with_the_python_workerd_uses() -> None:
    import pyodide  # type: ignore[import-not-found]

    assert sys.platform == "emscripten"
    assert pyodide.__version__ == "0.28.2"
    assert sys.version_info[:2] == (3, 13)


async def test_bindings_are_miniflares_own(bindings) -> None:
    await bindings.KV.put("k", "v")
    assert await bindings.KV.get("k") == "v"
    res = (await bindings.DB.prepare("select 2.0 as x").all()).to_py()
    assert res["results"] == [{"x": 2}]  # a JS number: REAL 2.0 comes back integral


def test_the_sdk_from_pypi_imports() -> None:
    import workers

    assert workers.WorkerEntrypoint and workers.DurableObject
