"""Shared fixtures: a fake clock, a fresh workspace, and an opened local runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from hoox_edge.shared import clock as clock_module

# 2026-01-05 12:00:00 UTC, a Monday: a fixed, readable start for every test that moves time.
START = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC).timestamp()


class FakeClock:
    """Epoch seconds that only move when a test moves them."""

    def __init__(self, start: float = START) -> None:
        self.t = float(start)

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t

    def set(self, t: float) -> None:
        self.t = float(t)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    fake = FakeClock()
    clock_module.set_clock(fake)
    try:
        yield fake
    finally:
        clock_module.set_clock(None)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "workspace")
    ws.create()
    return ws


@pytest.fixture
async def runtime(workspace: Workspace) -> AsyncIterator[LocalRuntime]:
    """An opened runtime (state, migrations, KV defaults) without HTTP servers or loops.

    Worker modules are imported only when a test calls into a worker.
    """
    rt = LocalRuntime(workspace)
    await rt.open()
    try:
        yield rt
    finally:
        await rt.stop()


def pytest_configure(config: pytest.Config) -> None:
    """Cockpit snapshot SVGs live in the repository's snapshots/<test module>/ (not tests/__snapshots__)."""
    from pytest_textual_snapshot import SVGImageExtension

    root = Path(__file__).resolve().parent.parent / "snapshots"

    def dirname(cls: object, *, test_location: object) -> str:
        return str(root / Path(test_location.filepath).stem)  # type: ignore[attr-defined]

    SVGImageExtension.dirname = classmethod(dirname)  # type: ignore[method-assign, assignment]
