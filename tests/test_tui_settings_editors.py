"""Settings (F9) editors: keybindings with clash detection (applied live, saved, checked at start) and
the Telegram alert routes / error-banner threshold written to the edge's KV through the core."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hoox_edge.shared import settings as kv_settings
from textual.widgets import Button, DataTable, Input, Static
from tui_support import cockpit_settings, fixture_ctx, frozen_clock, make_ctx, plain, until  # noqa: F401

from hoox_tui import keymap as km
from hoox_tui import settings as user_settings
from hoox_tui.app import HooxApp
from hoox_tui.settings import UserSettings
from hoox_tui.views.settings_view import check_routes


# ------------------------------------------------------------------------------------------ the keymap rules
def test_keys_are_normalised_and_a_bad_key_is_named() -> None:
    assert km.parse_keys(" Ctrl+Shift+F5 , [ ,A") == ["ctrl+shift+f5", "left_square_bracket", "A"]
    with pytest.raises(ValueError, match="'hyperx' is not a modifier"):
        km.parse_keys("hyperx+a")
    with pytest.raises(ValueError, match="'fx12' is not a key"):
        km.parse_keys("ctrl+fx12")
    with pytest.raises(ValueError, match="at least one key"):
        km.parse_keys(" , ")


def test_the_default_keys_do_not_clash_and_a_users_clash_names_both_bindings() -> None:
    items = km.catalogue(HooxApp)
    assert km.clashes(items, {}) == []
    # a global key against another global one, against a view's key, and a reserved key
    [c] = km.clashes(items, {"book": "K"})
    assert (c.key, {c.first, c.second}) == ("K", {"book", "kill-switch"})
    [c] = km.clashes(items, {"view.logs": "d"})
    assert {c.first, c.second} == {"view.logs", "services.deploy"} and "everywhere" in c.why
    [c] = km.clashes(items, {"trades.cancel": "ctrl+p"})
    assert c.second == "reserved" and "command palette" in c.why
    # two views may use one key: only one of them is active at a time
    assert km.clashes(items, {"trades.timeline": "d"}) == []
    good, problems = km.check(items, {"book": "K", "quit": "ctrl+x", "nope": "z"})
    assert good == {"quit": "ctrl+x"}
    assert any("kill-switch" in p and "book" in p for p in problems) and any("'nope'" in p for p in problems)


# ------------------------------------------------------------------------------------------ keybindings in the view
async def _open_keys(pilot: Any, app: HooxApp, binding: str) -> None:
    await pilot.press("f9")
    await until(pilot, lambda: app.current_mode == "settings"
                and app.screen.query_one("#set-keys-table", DataTable).row_count > 0, "the settings view")
    table = app.screen.query_one("#set-keys-table", DataTable)
    ids = [b.id for b in km.catalogue(HooxApp)]
    table.move_cursor(row=ids.index(binding))
    await until(pilot, lambda: app.screen.query_one("#set-key-input", Input).value
                == ",".join(map(km.display_key, km.effective(km.catalogue(HooxApp), {})[binding])),
                f"the keys of {binding} in the input")


async def test_a_remapped_key_works_at_once_and_is_saved() -> None:
    with frozen_clock():
        app = HooxApp(fixture_ctx(), run_store=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await _open_keys(pilot, app, "view.trades")
            app.screen.query_one("#set-key-input", Input).value = "f12, ctrl+4"
            app.screen.query_one("#set-key-apply", Button).press()
            status = app.screen.query_one("#set-key-status", Static)
            await until(pilot, lambda: "applied and saved" in plain(status), "the new keys applied")
            await pilot.press("f12")
            await until(pilot, lambda: app.current_mode == "trades", "f12 opens the trade monitor")
            await pilot.press("f4")  # no longer bound: F4 leaves the trade monitor where it is
            await pilot.press("f9")
            await until(pilot, lambda: app.current_mode == "settings", "back in settings")
    assert UserSettings.load(user_settings.config_path()).keymap == {"view.trades": "f12,ctrl+4"}


async def test_a_key_shown_as_typed_is_read_back_the_same() -> None:
    with frozen_clock():
        ctx = fixture_ctx()
        app = HooxApp(ctx, run_store=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await _open_keys(pilot, app, "detail.prev")
            assert app.screen.query_one("#set-key-input", Input).value == "["
            app.screen.query_one("#set-key-input", Input).value = "[,ctrl+left"
            app.screen.query_one("#set-key-apply", Button).press()
            status = app.screen.query_one("#set-key-status", Static)
            await until(pilot, lambda: "applied and saved" in plain(status), "the new keys applied")
            assert ctx.settings.keymap == {"detail.prev": "left_square_bracket,ctrl+left"}
            assert "detail.prev (Previous worker): [,ctrl+left" in plain(status)


async def test_a_clashing_key_is_refused_with_both_bindings_named_and_nothing_changes() -> None:
    with frozen_clock():
        ctx = fixture_ctx()
        app = HooxApp(ctx, run_store=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await _open_keys(pilot, app, "kill-switch")
            app.screen.query_one("#set-key-input", Input).value = "b"
            app.screen.query_one("#set-key-apply", Button).press()
            status = app.screen.query_one("#set-key-status", Static)
            await until(pilot, lambda: "Not changed" in plain(status), "the clash refused")
            text = " ".join(plain(status).split())
            assert "b is bound twice everywhere: kill-switch (Kill switch) and book (Book)" in text
            assert ctx.settings.keymap == {}
            assert not user_settings.config_path().exists()
            await pilot.press("b")  # still the book key
            await until(pilot, lambda: ctx.store.book == "live", "b still cycles the book")


async def test_a_clashing_keymap_in_the_file_is_not_applied_and_the_user_is_told() -> None:
    with frozen_clock():
        ctx = fixture_ctx()
        ctx.settings.keymap = {"view.workers": "ctrl+b", "view.logs": "f11"}
        app = HooxApp(ctx, run_store=False)
        notes: list[str] = []
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await until(pilot, lambda: any("ctrl+b is bound twice" in str(n.message) for n in app._notifications),
                        "the clash reported at start")
            notes = [str(n.message) for n in app._notifications]
            await pilot.press("f11")
            await until(pilot, lambda: app.current_mode == "logs", "the valid entry is applied")
            await pilot.press("ctrl+b")  # still the sidebar, not the workers view
            await until(pilot, lambda: app.sidebar_visible is not None, "ctrl+b toggled the sidebar")
            assert app.current_mode == "logs"
    assert any("view.workers" in n and "sidebar" in n for n in notes)


# ------------------------------------------------------------------------------------------ alert routes
def test_alert_routes_follow_the_manifests_rule() -> None:
    good, problems = check_routes({"telegram:alerts:info": " -1001234567890 ", "telegram:alerts:warning": "@hoox_ops",
                                   "telegram:alerts:critical": "muted"})
    assert good == {"telegram:alerts:info": "-1001234567890", "telegram:alerts:warning": "@hoox_ops",
                    "telegram:alerts:critical": "muted"} and problems == []
    good, problems = check_routes({"telegram:alerts:info": "ops-room", "telegram:alerts:warning": "@ab"})
    assert good == {}
    assert problems[0].startswith("telegram:alerts:info must be a chat id") and "'ops-room'" in problems[0]
    assert problems[1].startswith("telegram:alerts:warning must be a chat id")


async def test_alert_routes_and_threshold_are_written_to_the_edges_kv(edge: Any, workspace: Any) -> None:
    env = edge.env("hoox")
    await kv_settings.put(env.CONFIG_KV, "telegram:alerts:warning", "@old_channel")
    info_before = await env.CONFIG_KV.get("telegram:alerts:info")
    app = HooxApp(make_ctx(workspace, edge), run_store=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f9")
        route = lambda level: app.screen.query_one(f"#set-route-{level}", Input)  # noqa: E731
        status = lambda: plain(app.screen.query_one("#set-alert-status", Static))  # noqa: E731
        await until(pilot, lambda: "Read from the edge" in status(), "the routes read from the edge")
        assert (route("info").value, route("warning").value, route("critical").value) == ("", "@old_channel", "")
        assert app.screen.query_one("#set-error-rate", Input).value == "5"

        # one bad field: nothing is written, and the message names the key and the rule
        route("info").value = "-1001234567890"
        route("critical").value = "everyone"
        app.screen.query_one("#set-alerts-apply", Button).press()
        await until(pilot, lambda: "Not changed" in status(), "the bad route refused")
        assert "telegram:alerts:critical must be a chat id" in " ".join(status().split())
        assert await env.CONFIG_KV.get("telegram:alerts:info") == info_before

        route("critical").value = "muted"
        app.screen.query_one("#set-error-rate", Input).value = "250"
        app.screen.query_one("#set-alerts-apply", Button).press()
        await until(pilot, lambda: "at most 100" in status(), "the bad threshold refused")

        app.screen.query_one("#set-error-rate", Input).value = "12.5"
        app.screen.query_one("#set-alerts-apply", Button).press()
        await until(pilot, lambda: "written to the edge" in status(), "the settings written")
    assert await kv_settings.get(env.CONFIG_KV, "telegram:alerts:info") == "-1001234567890"
    assert await kv_settings.get(env.CONFIG_KV, "telegram:alerts:warning") == "@old_channel"
    assert await kv_settings.get(env.CONFIG_KV, "telegram:alerts:critical") == "muted"
    assert await kv_settings.get(env.CONFIG_KV, kv_settings.ERROR_RATE_ALERT) == 12.5
