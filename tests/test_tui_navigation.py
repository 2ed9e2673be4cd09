"""Cockpit navigation that runs an app action from a view: Escape out of a worker's detail, a click
on the sidebar (both await `App.run_action`, a coroutine)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from tui_support import fixture_ctx, frozen_clock, until

from hoox_tui.app import HooxApp
from hoox_tui.widgets import VIEW_ORDER, Sidebar


async def test_escape_leaves_the_worker_detail_for_the_workers_view() -> None:
    with frozen_clock():
        app = HooxApp(fixture_ctx(), run_store=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f3")
            await until(pilot, lambda: app.current_mode == "worker-detail", "the worker detail")
            await pilot.press("escape")
            await until(pilot, lambda: app.current_mode == "workers", "back on the workers view")


async def test_a_click_on_the_sidebar_opens_that_view() -> None:
    with frozen_clock():
        app = HooxApp(fixture_ctx(), run_store=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.current_mode == "dashboard", "the dashboard")
            target = VIEW_ORDER.index("trades")
            await pilot.click(app.screen.query_one(Sidebar), offset=(3, 3 + target))
            await until(pilot, lambda: app.current_mode == "trades", "the trades view")
