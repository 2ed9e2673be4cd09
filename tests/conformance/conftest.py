"""The `adapters` fixture: every conformance test runs once per adapter set in FACTORIES that has the
capabilities the test declares (`@pytest.mark.needs(...)`, see adapters.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_clock import FakeClock
from hoox_edge.shared import clock as clock_module

from conformance.adapters import CAPABILITIES, FACTORIES


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*capabilities): adapter-set capabilities the test needs")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "adapters" not in metafunc.fixturenames:
        return
    needed: set[str] = set()
    for mark in metafunc.definition.iter_markers("needs"):
        needed.update(mark.args)
    unknown = needed - set(CAPABILITIES)
    if unknown:
        raise ValueError(f"{metafunc.definition.nodeid}: unknown capabilities {sorted(unknown)}")
    # Only the adapter sets that can run the test; when none here can, the test is dropped at
    # collection (reported as deselected, never as a skip): it is proven on the other side.
    names = [n for n in sorted(FACTORIES) if needed <= FACTORIES[n].capabilities]
    metafunc.parametrize("adapters", names, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # An empty parameter set leaves one placeholder item (pytest would skip it): drop that instead.
    dropped = [i for i in items if isinstance(i, pytest.Function) and "adapters" in i.fixturenames
               and getattr(getattr(i, "callspec", None), "params", {}).get("adapters") not in FACTORIES]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if i not in dropped]


@pytest.fixture
def adapters(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    made = FACTORIES[request.param](tmp_path / "state")
    yield made
    current = made
    while current is not None:  # a test may have reopened (restarted) them
        current.close()
        current = getattr(current, "successor", None)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    """The fake clock (as tests/conftest.py's, which Pyodide cannot import: it opens local runtimes)."""
    fake = FakeClock()
    clock_module.set_clock(fake)
    try:
        yield fake
    finally:
        clock_module.set_clock(None)
