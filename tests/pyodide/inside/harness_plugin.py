"""pytest inside Pyodide: async tests run on Pyodide's own event loop (the WebLoop), awaited with
JSPI's `run_sync` (pytest-asyncio's runner needs loop features the WebLoop does not have), as are
`async def` fixtures, and the
`bindings` fixture: an empty in-memory Miniflare per test."""

from __future__ import annotations

import inspect
from typing import Any

import js  # type: ignore[import-not-found]
import pytest
from pyodide.ffi import run_sync, to_js  # type: ignore[import-not-found]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    run_sync(pyfuncitem.obj(**args))
    return True


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Any:
    """An `async def` fixture (returning, not yielding): awaited the same way."""
    if not inspect.iscoroutinefunction(fixturedef.func):
        return None
    kwargs = {name: request.getfixturevalue(name) for name in fixturedef.argnames}
    result = run_sync(fixturedef.func(**kwargs))
    fixturedef.cached_result = (result, fixturedef.cache_key(request), None)
    return result


def fresh_bindings(**options: Any) -> Any:
    """The bindings of an empty in-memory Miniflare (the running one, wiped, when its bindings are the
    same: tests/pyodide/runner.mjs)."""
    js_options = to_js(options, dict_converter=js.Object.fromEntries) if options else None
    return run_sync(js.hooxHarness.fresh(js_options))


@pytest.fixture
def bindings() -> Any:
    return fresh_bindings()
