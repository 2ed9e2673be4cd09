"""Snapshots (SVG, 120×40) of the cockpit's shell and its five live views, from fixture data with a
frozen clock. Update after a deliberate change with `pytest tests/test_tui_snapshots.py --snapshot-update`
and look at the SVGs under snapshots/ before committing them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

sys.path.insert(0, str(Path(__file__).parent))
from tui_support import fixture_ctx, frozen_clock

from hoox_tui.app import HooxApp

SIZE = (120, 40)


def shot(*keys: str, after: Any = None) -> Any:
    async def run_before(pilot: Any) -> None:
        await pilot.pause(0.3)
        for k in keys:
            await pilot.press(k)
            await pilot.pause(0.3)
        if after is not None:
            await after(pilot)
            await pilot.pause(0.3)
        for inp in pilot.app.screen.query(Input):
            inp.cursor_blink = False
        await pilot.pause(0.3)  # a flush (4 Hz) has delivered everything
    return run_before


@pytest.fixture
def app() -> Any:
    with frozen_clock():
        yield HooxApp(fixture_ctx(), run_store=False)


def test_shell_and_dashboard(snap_compare: Any, app: HooxApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=shot())


def test_workers(snap_compare: Any, app: HooxApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=shot("f2"))


def test_worker_detail(snap_compare: Any, app: HooxApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=shot("f3"))


def test_trade_monitor(snap_compare: Any, app: HooxApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=shot("f4"))


def test_logs_filtered_by_search(snap_compare: Any, app: HooxApp) -> None:
    async def search(pilot: Any) -> None:
        await pilot.click("#search")
        await pilot.press(*"sgnl 3")
    assert snap_compare(app, terminal_size=SIZE, run_before=shot("f5", after=search))


def test_kill_switch_dialog_over_the_shell(snap_compare: Any, app: HooxApp) -> None:
    assert snap_compare(app, terminal_size=SIZE, run_before=shot("K"))
