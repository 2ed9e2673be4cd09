"""The cockpit's P&L reports (R, the palette): the stored reports listed, the latest downloaded into the
workspace and handed to the viewer, one made now after a confirmation, against a real local edge running
report-worker. Every wait is on a condition (`until`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from textual.widgets import DataTable, Static
from tui_support import (
    cockpit_settings,  # noqa: F401  (autouse)
    make_ctx,
    until,
)

from hoox_tui.app import HooxApp
from hoox_tui.dialogs import ConfirmScreen
from hoox_tui.reports import ReportsScreen

SIZE = (100, 30)
RW = "report-worker"


@pytest.fixture
def workspace(workspace: Workspace) -> Workspace:
    doc = workspace.config()
    doc["workers"]["report-worker"]["enabled"] = True  # type: ignore[index]
    workspace.save_config(doc)
    return workspace


def text_of(screen: ReportsScreen, widget_id: str) -> str:
    return str(screen.query_one(widget_id, Static).render())


async def test_reports_are_listed_opened_and_made_from_the_cockpit(edge: LocalRuntime, workspace: Workspace,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    empty = tmp_path / "no-chromium"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # HTML reports: this test is about the cockpit, not the PDF
    key = {"X-Internal-Auth-Key": edge.env(RW).INTERNAL_KEY_BINDING}
    first = await edge.request(RW, "POST", "/report", json={"period": "7d"}, headers=key)
    assert first.status == 200, first.json()
    name = first.json()["result"]["report"]["name"]

    opened: list[str] = []
    ctx = make_ctx(workspace, edge, refresh_seconds=3600)
    ctx.open_url = lambda url: opened.append(url) or True
    app = HooxApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ReportsScreen) and app.screen.loaded, "the reports listed")
        screen = app.screen
        assert isinstance(screen, ReportsScreen)
        assert [i.name for i in screen.items] == [name]
        assert "1 kept (30 days)" in text_of(screen, "#heading")
        assert list(screen.query_one("#reports", DataTable).rows) and screen.problem is None

        await pilot.press("l")  # the latest: downloaded into the workspace, handed to the viewer
        await until(pilot, lambda: screen.opened is not None, "the latest report saved")
        saved = workspace.root / "reports" / f"{name}.html"
        assert screen.opened == saved and opened == [saved.as_uri()]
        stored = await edge.env(RW).REPORTS_BUCKET.get(f"reports/{name}.html")
        assert stored is not None and saved.read_bytes() == stored.body
        assert "and opened it" in text_of(screen, "#outcome")

        await pilot.press("n")  # make one now: asks first; no keeps it
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("n")
        await until(pilot, lambda: app.screen is screen, "back to the list")
        listed = (await edge.request(RW, "GET", "/reports", headers=key)).json()["result"]["items"]
        assert len(listed) == 1 and listed[0]["period"] == "7d"  # nothing was made
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question again")
        await pilot.press("y")
        await until(pilot, lambda: "Made " in text_of(screen, "#outcome"), "the report made")
        assert "HTML only" in text_of(screen, "#outcome")
        listed = (await edge.request(RW, "GET", "/reports", headers=key)).json()["result"]["items"]
        assert [i["period"] for i in listed] == ["24h"]  # the same hour: the new report replaced the first
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ReportsScreen), "the list closed")


async def test_the_reports_say_what_to_do_when_report_worker_does_not_run(edge: LocalRuntime,
                                                                          workspace: Workspace) -> None:
    edge.workers.remove(RW)  # as a workspace that does not enable it (the gateway's binding then fails)
    ctx = make_ctx(workspace, edge, refresh_seconds=3600)
    app = HooxApp(ctx)
    opened: list[Any] = []
    ctx.open_url = lambda url: opened.append(url) or True
    async with app.run_test(size=SIZE) as pilot:
        app.action_reports(open_latest=True)
        await until(pilot, lambda: isinstance(app.screen, ReportsScreen) and app.screen.loaded, "the answer")
        screen = app.screen
        assert isinstance(screen, ReportsScreen)
        assert screen.problem is not None and "hoox config set workers.report-worker.enabled true" in screen.problem
        assert opened == [] and screen.opened is None
