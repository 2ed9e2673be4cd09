"""Cockpit navigation that runs an app action from a view: Escape out of a worker's detail, a click
on the sidebar (both await `App.run_action`, a coroutine); the sidebar on a narrow terminal."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from tui_support import fixture_ctx, frozen_clock, plain, until

from hoox_tui.app import HooxApp
from hoox_tui.views import VIEW_IDS
from hoox_tui.widgets import Sidebar, TitleBar


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
            target = VIEW_IDS.index("trades")
            await pilot.click(app.screen.query_one(Sidebar), offset=(3, 3 + target))
            await until(pilot, lambda: app.current_mode == "trades", "the trades view")


async def test_the_sidebar_gives_way_on_a_narrow_terminal_until_the_user_chooses() -> None:
    def sidebar_shown(app: HooxApp) -> bool:
        return bool(app.screen.query_one(Sidebar).display)

    def title(app: HooxApp) -> str:
        return plain(app.screen.query_one(TitleBar).render())

    with frozen_clock():
        app = HooxApp(fixture_ctx(), run_store=False)
        async with app.run_test(size=(100, 30)) as pilot:
            # at the documented minimum the view gets every column, and the title names the keys instead
            await until(pilot, lambda: app.current_mode == "dashboard" and not sidebar_shown(app)
                        and "F1–F9 views · ^B menu" in title(app), "the dashboard without the sidebar")
            await pilot.resize_terminal(130, 40)
            await until(pilot, lambda: sidebar_shown(app) and "^B menu" not in title(app),
                        "the sidebar back on a wide terminal")
            await pilot.press("ctrl+b")  # the user's choice holds whatever the width
            await until(pilot, lambda: not sidebar_shown(app), "ctrl+b hides it")
            await pilot.resize_terminal(100, 30)
            await pilot.press("ctrl+b", "f4")
            await until(pilot, lambda: app.current_mode == "trades" and sidebar_shown(app),
                        "shown on request at 100 columns, on the next view too")
