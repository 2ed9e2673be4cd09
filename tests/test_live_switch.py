"""Switching the desk to live trading (issue 13, item 15): never silent.

- `hoox config kv set trade:mode live` names the exchanges with and without API keys and asks (or
  takes --yes); under --json / --quiet without --yes it refuses with CONFIRMATION_REQUIRED (exit 2).
- The cockpit's config editor asks the same before it writes trade:mode = "live" (pilot test on a
  real in-process edge), and a live desk shows a red LIVE segment in the status bar and a LIVE
  TRADING badge in every view's title bar, at the minimum size and a large one.
"""

from __future__ import annotations

from typing import Any

import pytest
from cli_support import as_json as out
from cli_support import hoox, kv_raw
from hoox_edge import catalog
from hoox_edge.local.workspace import Workspace

# the config editor's host app and its real in-process edge (fixture `edge`, which uses `workspace` below)
from test_tui_views_4b import Host, ctx_for, edge, editor_view, opened, user_dirs  # noqa: F401
from textual.widgets import Static, TextArea
from tui_support import fixture_ctx, frozen_clock, status_json, until

from hoox_cli.core import models as m
from hoox_tui.app import HooxApp
from hoox_tui.dialogs import ConfirmScreen
from hoox_tui.store import Store
from hoox_tui.views.config_editor import ConfigEditorView
from hoox_tui.widgets import LIVE_STYLE, StatusBar, TitleBar

BYBIT_KEY, BYBIT_SECRET = "bybit-key-0123456789", "bybit-secret-9876543210"


@pytest.fixture
def workspace(tmp_path: Any) -> Workspace:
    """A new workspace whose trade-worker has Bybit's API key pair and only half of Binance's."""
    ws = Workspace(tmp_path / "workspace")
    ws.create()
    ws.set_secret("BYBIT_API_KEY", BYBIT_KEY)
    ws.set_secret("BYBIT_API_SECRET", BYBIT_SECRET)
    ws.set_secret("BINANCE_API_KEY", "binance-key-without-its-secret")
    return ws


# ----------------------------------------------------------------------------- CLI
def test_kv_set_live_names_the_exchanges_and_needs_a_yes(ws: Workspace) -> None:
    r = hoox("config", "kv", "set", "trade:mode", "live", "--json")
    assert r.exit_code == 2
    err = out(r)["error"]
    assert err["code"] == "CONFIRMATION_REQUIRED" and "--yes" in err["message"]
    assert "API keys are set for bybit; not for binance, mexc" in err["message"]
    keys = {e["name"]: e["credentials"] for e in err["details"]["exchanges"]}
    assert keys == {"bybit": True, "binance": False, "mexc": False}  # half a pair is no keys
    assert kv_raw(ws, "trade:mode") is None  # nothing written
    r = hoox("config", "kv", "set", "trade:mode", "live", "--quiet")
    assert r.exit_code == 2 and kv_raw(ws, "trade:mode") is None

    # asked at a prompt: each exchange named; no keeps paper
    r = hoox("config", "kv", "set", "trade:mode", "live", input="n\n")
    assert r.exit_code == 1
    assert "LIVE TRADING" in r.stdout and "Switch this desk to live trading?" in r.stdout
    assert "bybit    API keys set: real orders (production)" in r.stdout
    assert "binance  no API keys (BINANCE_API_KEY, BINANCE_API_SECRET): its signals cannot be placed" in r.stdout
    assert kv_raw(ws, "trade:mode") is None
    r = hoox("config", "kv", "set", "trade:mode", "live", input="y\n")
    assert r.exit_code == 0, r.output
    assert kv_raw(ws, "trade:mode") == "live"
    for secret in (BYBIT_KEY, BYBIT_SECRET, "binance-key-without-its-secret"):
        assert secret not in r.output

    # already live: nothing to confirm; back to paper: never asked
    r = hoox("config", "kv", "set", "trade:mode", "live", "--json")
    assert r.exit_code == 0 and out(r)["previous"] == "live"
    assert hoox("config", "kv", "set", "trade:mode", "paper", "--json").exit_code == 0
    assert kv_raw(ws, "trade:mode") == "paper"

    # --yes: no question, the exchanges in the answer
    r = hoox("config", "kv", "set", "trade:mode", "live", "--yes", "--json")
    assert r.exit_code == 0, r.output
    res = out(r)
    assert res["value"] == "live" and res["previous"] == "paper"
    assert [(e["name"], e["credentials"], e["endpoint"]) for e in res["exchanges"]] == [
        ("bybit", True, "production"), ("binance", False, "production"), ("mexc", False, "production")]


def test_kv_set_live_without_any_keys_says_every_signal_will_fail(tmp_path: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    bare = Workspace(tmp_path / "bare")
    bare.create()
    monkeypatch.setenv("HOOX_WORKSPACE", str(bare.root))
    r = hoox("config", "kv", "set", "trade:mode", "live", "--json")
    assert r.exit_code == 2 and "no exchange has its API keys set" in out(r)["error"]["message"]
    r = hoox("config", "kv", "set", "trade:mode", "live", "--yes")
    assert r.exit_code == 0 and "no exchange has its API keys" in r.stdout


def test_a_manifest_that_goes_live_asks_too(ws: Workspace) -> None:
    import json

    manifest = json.loads(ws.manifest_path.read_text())
    ws.manifest_path.write_text(json.dumps(manifest | {"trade:mode": "live"}))
    assert kv_raw(ws, "trade:mode") is None  # a new workspace's KV: the manifest would write it
    r = hoox("config", "kv", "apply-manifest", "--json")
    assert r.exit_code == 2 and out(r)["error"]["code"] == "CONFIRMATION_REQUIRED"
    assert kv_raw(ws, "trade:mode") is None and kv_raw(ws, "trade:max_leverage") is None  # nothing written
    r = hoox("config", "kv", "apply-manifest", "--yes", "--json")
    assert r.exit_code == 0, r.output
    assert kv_raw(ws, "trade:mode") == "live"
    # stored paper is kept without --overwrite (nothing to ask); --overwrite would switch it: asked
    assert hoox("config", "kv", "set", "trade:mode", "paper").exit_code == 0
    assert hoox("config", "kv", "apply-manifest", "--json").exit_code == 0
    assert kv_raw(ws, "trade:mode") == "paper"
    r = hoox("config", "kv", "apply-manifest", "--overwrite", input="n\n")
    assert r.exit_code == 1 and "bybit    API keys set" in r.stdout and kv_raw(ws, "trade:mode") == "paper"


# ----------------------------------------------------------------------------- cockpit: config editor
async def test_config_editor_asks_before_it_switches_the_desk_to_live(workspace: Workspace, edge) -> None:  # noqa: F811
    rt, client = edge
    app = Host(lambda: ConfigEditorView(ctx_for(workspace, client=client)))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: opened(app) and "kv:trade:mode" in editor_view(app).docs, "the KV values listed")
        view = editor_view(app)
        await view.open("kv:trade:mode")
        editor = app.query_one("#cfg-editor", TextArea)
        assert editor.text.strip() == '"paper"'

        def lint() -> str:
            return str(app.query_one("#cfg-lint", Static).render())

        def question() -> str:
            return str(app.screen.query_one("#question", Static).render())

        editor.load_text('"live"')
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the live-trading question")
        text = question()
        assert "Switch this desk to LIVE trading?" in text and "real money" in text
        assert "bybit    API keys set: real orders (production)" in text
        assert "binance  no API keys: its signals cannot be placed" in text and "mexc" in text
        assert app.screen.focused is not None and app.screen.focused.id == "no"  # the safe answer first
        await pilot.press("n")
        await until(pilot, lambda: lint().startswith("Not saved: live trading was not confirmed"), "refused")
        assert await rt.kv(catalog.CONFIG_KV).get("trade:mode") in (None, "paper")

        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "asked again")
        await pilot.press("y")
        await until(pilot, lambda: lint() == "✓ saved KV trade:mode", "saved once confirmed")
        assert await rt.kv(catalog.CONFIG_KV).get("trade:mode") == "live"

        # already live: saving it again asks nothing; paper never asks (a save leaves the prettified
        # text, with its final newline, in the editor: that is how the wait knows it happened)
        for value in ("live", "paper"):
            editor.load_text(f'"{value}"')
            await pilot.press("ctrl+s")
            await until(pilot, lambda v=value: editor.text == f'"{v}"\n' and lint() == "✓ saved KV trade:mode",
                        f"{value} saved without a question")
            assert not isinstance(app.screen, ConfirmScreen)
            assert await rt.kv(catalog.CONFIG_KV).get("trade:mode") == value


# ----------------------------------------------------------------------------- cockpit: a live desk shows it
@pytest.mark.parametrize("size", [(100, 30), (160, 50)])
async def test_a_live_desk_is_unmistakable_on_every_view(size: tuple[int, int]) -> None:
    store = Store(None)
    store.apply_status(m.StatusResult.model_validate(status_json() | {"tradingMode": "live"}))
    with frozen_clock():
        app = HooxApp(fixture_ctx(store), run_store=False)
        async with app.run_test(size=size) as pilot:
            for view, key in (("dashboard", "f1"), ("config", "f7"), ("settings", "f9")):
                await pilot.press(key)
                await until(pilot, lambda v=view: app.current_mode == v, f"{view} shown")
                bar = app.screen.query_one(StatusBar).render()
                live = [s for s in bar.spans if s.style == LIVE_STYLE]
                assert [bar.plain[s.start:s.end] for s in live] == [" LIVE "], view
                assert live[0].end <= app.screen.query_one(StatusBar).size.width, view  # within the bar, not cut
                title = app.screen.query_one(TitleBar).render()
                badge = [title.plain[s.start:s.end] for s in title.spans if s.style == LIVE_STYLE]
                assert badge == [" LIVE TRADING — real orders "], view
                assert title.cell_len <= app.screen.query_one(TitleBar).size.width, view
            # a paper desk shows none of it
            store.apply_status(m.StatusResult.model_validate(status_json()))
            app.screen.query_one(TitleBar).refresh()
            title = app.screen.query_one(TitleBar).render()
            assert "LIVE" not in title.plain
            assert "PAPER" in app.screen.query_one(StatusBar).render().plain
