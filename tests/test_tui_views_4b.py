"""Cockpit views: service manager, config editor, setup wizard, settings (Pilot and snapshot tests).

Each view is mounted alone in a small host app with a CockpitContext built here: a real workspace in
tmp_path, a real local edge (in-process, over its ASGI app) where KV is needed, and a recording
deployer standing in for wrangler where a real deploy would need Cloudflare.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import seed_ledgers
from hoox_edge import catalog
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input, Log, OptionList, Select, Static, TextArea
from tui_support import by_size, fed_store, frozen_clock, shown, tables_settled, until

from hoox_cli.core import setup as setup_model
from hoox_cli.core.client import AsyncHooxClient
from hoox_tui import settings as user_settings
from hoox_tui.context import CockpitContext
from hoox_tui.dialogs import ConfirmScreen
from hoox_tui.settings import UserSettings
from hoox_tui.store import Store
from hoox_tui.themes import load_themes
from hoox_tui.views.base import View
from hoox_tui.views.config_editor import ConfigEditorView, lint_toml, prettify_toml
from hoox_tui.views.services import ServicesView
from hoox_tui.views.settings_view import SettingsView
from hoox_tui.views.setup import SetupView

SIZE = (120, 40)
SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"


class Host(App[None]):
    """Mounts one view, with the cockpit's themes; counts the TextArea.Changed events that went
    through the view (they bubble up to the app after the view's handler)."""

    def __init__(self, make: Callable[[], View]) -> None:
        super().__init__()
        self._make = make
        self.view: View | None = None
        self.text_changes = 0
        themes, _ = load_themes()
        for t in themes:
            self.register_theme(t)
        self.theme = "hoox-dark"

    def compose(self) -> ComposeResult:
        self.view = self._make()
        yield self.view

    def on_text_area_changed(self) -> None:
        self.text_changes += 1


def ctx_for(ws: Workspace | None, *, client: AsyncHooxClient | None = None, store: Store | None = None,
            safe_mode: bool = False) -> CockpitContext:
    return CockpitContext(store=store or Store(client), workspace=ws, settings=UserSettings(),
                          safe_mode=safe_mode, local_runtime_started=False)


def text_of(app: App[Any], selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def focus_in_view(app: Host) -> bool:
    """Something inside the view has the focus, so the view's key bindings apply."""
    focused = app.focused
    return focused is not None and app.view in focused.ancestors_with_self


@pytest.fixture(autouse=True)
def user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The user's config and cache dirs (platformdirs follows XDG_*) inside tmp_path."""
    dirs = {"config": tmp_path / "xdg-config", "cache": tmp_path / "xdg-cache"}
    monkeypatch.setenv("XDG_CONFIG_HOME", str(dirs["config"]))
    monkeypatch.setenv("XDG_CACHE_HOME", str(dirs["cache"]))
    return dirs


@pytest.fixture
async def edge(workspace: Workspace,
               migrated_ledgers: list[Path]) -> AsyncIterator[tuple[LocalRuntime, AsyncHooxClient]]:
    """A real local edge, reached in-process through the gateway's ASGI app (no ports)."""
    rt = LocalRuntime(seed_ledgers(workspace, migrated_ledgers))
    await rt.open()
    client = AsyncHooxClient("http://edge.test", rt.env("hoox").OPERATOR_API_KEY, source="workspace",
                             transport=httpx.ASGITransport(app=rt.app("hoox")), retries=0)
    try:
        yield rt, client
    finally:
        await client.aclose()
        await rt.stop()


# ============================================================================ config editor
MESSY = """# hoox workspace, edited by hand
[dev]
port=8787      # local port of the gateway



[workers.hoox]
  enabled=true   # the gateway
[workers.report-worker]
enabled   =   false
"""

TIDY = """# hoox workspace, edited by hand
[dev]
port = 8787      # local port of the gateway

[workers.hoox]
enabled = true   # the gateway
[workers.report-worker]
enabled = false
"""


def test_lint_and_prettify_functions() -> None:
    err = lint_toml("[dev]\nport = 8787 8\n")
    assert err is not None and (err.line, err.column) == (1, 12)
    err = lint_toml("[dev]\nport = 80\n")
    assert err is not None and err.line == 1 and "between 1024" in err.message
    err = lint_toml("[workers.nope]\nenabled = true\n")
    assert err is not None and "unknown worker 'nope'" in err.message
    assert prettify_toml(MESSY) == TIDY
    assert prettify_toml(TIDY) == TIDY


def editor_view(app: Host) -> ConfigEditorView:
    assert isinstance(app.view, ConfigEditorView)
    return app.view


def opened(app: Host) -> bool:
    """The editor has opened its first document, and the focus is in the view (Ctrl+S applies)."""
    return editor_view(app).current is not None and focus_in_view(app)


async def test_config_editor_lint_puts_cursor_on_the_error_and_refuses_to_save(workspace: Workspace) -> None:
    original = workspace.config_path.read_text()
    app = Host(lambda: ConfigEditorView(ctx_for(workspace)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: opened(app), "hoox.toml is open")
        editor = app.query_one("#cfg-editor", TextArea)
        assert editor.text == original and editor.language == "toml"
        lines = original.splitlines()
        port_line = next(i for i, ln in enumerate(lines) if ln.startswith("port"))
        editor.focus()
        editor.move_cursor((port_line, len("port = 8787")))
        await pilot.press("space", "x")  # "port = 8787 x..." is not TOML
        await until(pilot, lambda: "✗" in text_of(app, "#cfg-lint"), "the lint line flags the stray x")
        assert "line " in text_of(app, "#cfg-lint")
        editor.move_cursor((0, 0))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: text_of(app, "#cfg-lint").startswith("Not saved"), "the save is refused")
        assert workspace.config_path.read_text() == original  # nothing written
        assert f"line {port_line + 1}, column 13" in text_of(app, "#cfg-lint")
        assert editor.cursor_location == (port_line, 12)  # on the stray "x"
        # a semantic error is refused too, and says why
        editor.load_text(original.replace("port = 8787", "port = 80"))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "between 1024" in text_of(app, "#cfg-lint"), "the port is refused")
        assert text_of(app, "#cfg-lint").startswith("Not saved")
        assert workspace.config_path.read_text() == original


async def test_a_late_change_event_keeps_the_message_of_the_save(workspace: Workspace) -> None:
    # Ctrl+S can overtake the TextArea.Changed of the last edit; linting that same text again when
    # the event arrives must not replace what the save said.
    original = workspace.config_path.read_text()
    app = Host(lambda: ConfigEditorView(ctx_for(workspace)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: opened(app) and app.text_changes >= 1, "hoox.toml is open, its load seen")
        view = editor_view(app)
        seen = app.text_changes
        app.query_one("#cfg-editor", TextArea).load_text(original.replace("port = 8787", "port = 80"))
        assert not await view.save()  # before the Changed event of that edit has run
        refused = text_of(app, "#cfg-lint")
        assert refused.startswith("Not saved") and "between 1024" in refused
        await until(pilot, lambda: app.text_changes > seen, "the edit's Changed event went through the view")
        assert text_of(app, "#cfg-lint") == refused


async def test_config_editor_saves_prettified_toml_keeping_comments(workspace: Workspace) -> None:
    app = Host(lambda: ConfigEditorView(ctx_for(workspace)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: opened(app), "hoox.toml is open")
        editor = app.query_one("#cfg-editor", TextArea)
        editor.load_text(MESSY)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: text_of(app, "#cfg-lint").startswith("✓ saved"), "the file is saved")
        assert workspace.config_path.read_text() == TIDY
        assert editor.text == TIDY
        assert workspace.enabled_workers().count("report-worker") == 0
        assert not list(workspace.root.glob("*.tmp"))  # written through a temp file, then renamed


async def test_wrangler_files_are_read_only_and_saving_says_how_to_change_them(workspace: Workspace) -> None:
    from hoox_edge import wrangler

    path = wrangler.config_path(catalog.worker("trade-worker"))
    before = path.read_text()
    app = Host(lambda: ConfigEditorView(ctx_for(workspace)))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: opened(app), "hoox.toml is open")
        # each worker's file listed whole at the minimum size (by worker: the header names the file)
        files = app.query_one("#cfg-files", OptionList)
        labels = [str(files.get_option_at_index(i).prompt) for i in range(files.option_count)]
        labels = labels[:labels.index("KV values")]
        assert "  web3-wallet-worker" in labels and "wrangler.jsonc (read-only)" in labels
        assert max(map(len, labels)) <= files.content_region.width - 1  # room for the scroll bar
        view = editor_view(app)
        await view.open("wrangler:trade-worker")
        assert text_of(app, "#cfg-title").startswith("trade-worker/wrangler.jsonc")
        editor = app.query_one("#cfg-editor", TextArea)
        assert editor.read_only and editor.text == before and editor.language == "json"
        assert "✓ valid" in text_of(app, "#cfg-lint")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "generated from the worker catalog" in text_of(app, "#cfg-lint"),
                    "the save is refused with the reason")
        assert "python -m hoox_edge.wrangler" in text_of(app, "#cfg-lint")
    assert path.read_text() == before


async def test_safe_mode_turns_syntax_highlighting_off(workspace: Workspace) -> None:
    app = Host(lambda: ConfigEditorView(ctx_for(workspace, safe_mode=True)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: opened(app), "hoox.toml is open")
        assert app.query_one("#cfg-editor", TextArea).language is None


async def test_config_editor_edits_kv_values_through_the_edge(workspace: Workspace, edge) -> None:
    rt, client = edge
    app = Host(lambda: ConfigEditorView(ctx_for(workspace, client=client)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: opened(app) and "kv:trade:max_leverage" in editor_view(app).docs,
                    "the KV values are listed")
        view = editor_view(app)
        await view.open("kv:trade:max_leverage")
        editor = app.query_one("#cfg-editor", TextArea)
        assert editor.text.strip() == "125"

        def lint() -> str:
            return text_of(app, "#cfg-lint")

        editor.load_text('"lots"')
        await pilot.press("ctrl+s")
        await until(pilot, lambda: lint().startswith("Not saved"), "the invalid value is refused")
        assert "expected an integer" in lint()
        assert await rt.kv(catalog.CONFIG_KV).get("trade:max_leverage") == "125"  # the invalid value not saved
        editor.load_text("[30, 60,\n 300,, 900]")  # a syntax error on the second line
        await pilot.press("ctrl+s")
        await until(pilot, lambda: lint().startswith("Not saved") and "line 2" in lint(),
                    "the syntax error is refused")
        assert editor.cursor_location == (1, 5)
        editor.load_text("  25  ")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: lint() == "✓ saved KV trade:max_leverage", "the value is saved")
        assert await rt.kv(catalog.CONFIG_KV).get("trade:max_leverage") == "25"
        assert editor.text == "25\n"
        await view.open("kv:webhooks:retry_schedule_seconds")
        editor.load_text("[10,20,]")  # JSON5's trailing comma is taken, and the saved text is plain JSON
        await pilot.press("ctrl+s")
        await until(pilot, lambda: lint() == "✓ saved KV webhooks:retry_schedule_seconds", "the list is saved")
        assert await rt.kv(catalog.CONFIG_KV).get("webhooks:retry_schedule_seconds") == "10,20"
        assert json.loads(editor.text) == [10, 20]


async def test_config_editor_lists_each_kv_key_on_one_line_at_100_columns(workspace: Workspace, edge) -> None:
    # the longest setting key was broken over two lines at 100 x 30: "analytics:error_rate_alert_perce" / "nt"
    rt, client = edge
    long_key = "exchanges:paper:price:1000000PEPEUSDT:of:the:operator"  # wider than any list: cut with …
    await rt.kv(catalog.CONFIG_KV).put(long_key, "0.01")
    app = Host(lambda: ConfigEditorView(ctx_for(workspace, client=client)))
    key = "analytics:error_rate_alert_percent"
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: opened(app) and f"kv:{key}" in editor_view(app).docs, "the KV values are listed")
        files = app.query_one("#cfg-files", OptionList)
        files.highlighted = files.get_option_index(f"kv:{key}")  # scrolled into view

        def lines() -> list[str]:
            return [files.render_line(y).text.strip() for y in range(files.size.height)]

        await until(pilot, lambda: any(key in line for line in lines()), "the key shown whole on one line")
        # each line is one whole entry: a header, or a file or key under it (indented)
        labels = {"Workspace", "wrangler.jsonc (read-only)", "KV values",
                  *(d.label for d in editor_view(app).docs.values()),
                  *(oid.split(":", 1)[1] for oid in editor_view(app).docs)}
        assert all(not line or line.rstrip("▁▂▃▄▅▆▇█ ").strip() in labels for line in lines()), lines()
        files.highlighted = files.get_option_index(f"kv:{long_key}")
        await until(pilot, lambda: any(line.startswith(long_key[:20]) for line in lines()), "the long key shown")
        cut = [line for line in lines() if line.startswith(long_key[:20])]
        assert len(cut) == 1 and cut[0].rstrip("▁▂▃▄▅▆▇█ ").endswith("…"), lines()
        assert not any(long_key[-8:] in line for line in lines()), lines()  # no second line with its end


# ============================================================================ setup wizard
def wizard_at(app: Host, title: str) -> bool:
    """The wizard shows step `title` with its first field (or button) focused, so its keys work."""
    if text_of(app, "#setup-title") != title:
        return False
    targets = [*app.query("#setup-form Input, #setup-form Select"), *app.query("#setup-buttons Button")]
    return bool(targets) and app.focused is targets[0]


async def test_wizard_resumes_from_its_state_file_and_writes_secrets_without_echo(workspace: Workspace) -> None:
    state = workspace.hoox_dir / "setup-wizard.json"
    state.write_text(json.dumps({"version": 1, "step": "exchanges", "done": ["cloudflare"], "values": {},
                                 "written": {"config": [], "secrets": [], "kv": []}}))
    key, secret = "bybit-key-0123456789", "bybit-secret-ABCDEFGHIJ"
    app = Host(lambda: SetupView(ctx_for(workspace)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: wizard_at(app, "Step 3 of 7 — Exchanges"), "the wizard resumes at step 4")
        assert "Resumed" in text_of(app, "#setup-status")
        key_input = app.query_one("#f-bybit-api-key", Input)
        secret_input = app.query_one("#f-bybit-api-secret", Input)
        assert key_input.password and secret_input.password and app.focused is key_input
        await pilot.press(*key)
        await until(pilot, lambda: key_input.value == key, "the key is typed")
        await pilot.press("ctrl+n")  # the secret of the pair is missing: refused, nothing written
        await until(pilot, lambda: "needed together" in text_of(app, "#err-f-bybit-api-secret"),
                    "the missing secret is pointed out")
        assert "BYBIT_API_KEY" not in workspace.secrets()
        secret_input.focus()
        await until(pilot, lambda: secret_input.has_focus, "the secret field has the focus")
        await pilot.press(*secret)
        await until(pilot, lambda: secret_input.value == secret, "the secret is typed")
        assert key not in app.export_screenshot() and secret not in app.export_screenshot()
        await pilot.press("enter")
        await until(pilot, lambda: wizard_at(app, "Step 4 of 7 — AI keys"), "the wizard moves to step 4")
        assert "BYBIT_API_KEY, BYBIT_API_SECRET" in text_of(app, "#setup-status")
        screen = app.export_screenshot()
        assert key not in screen and secret not in screen
    secrets = workspace.secrets()
    assert secrets["BYBIT_API_KEY"] == key and secrets["BYBIT_API_SECRET"] == secret
    saved = state.read_text()
    assert key not in saved and secret not in saved
    data = json.loads(saved)
    assert data["step"] == "ai" and data["done"] == ["cloudflare", "exchanges"]
    assert data["written"]["secrets"] == ["BYBIT_API_KEY", "BYBIT_API_SECRET"]

    # a new cockpit resumes at the AI step, and shows the Bybit secrets as set (never their values)
    app = Host(lambda: SetupView(ctx_for(workspace)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: wizard_at(app, "Step 4 of 7 — AI keys") and shown(app, "#setup-back"),
                    "the wizard resumes at step 4")
        await pilot.click("#setup-back")
        await until(pilot, lambda: wizard_at(app, "Step 3 of 7 — Exchanges"), "Back leads to step 3")
        assert text_of(app, "#state-f-bybit-api-key") == "set"
        assert app.query_one("#f-bybit-api-key", Input).value == ""


@pytest.mark.parametrize("size", [(100, 30), (160, 50)])
async def test_wizard_fits_the_terminal_without_cutting_a_step_or_a_key(workspace: Workspace,
                                                                        size: tuple[int, int]) -> None:
    app = Host(lambda: SetupView(ctx_for(workspace)))
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: wizard_at(app, "Step 1 of 7 — Cloudflare"), "the wizard at step 1")
        steps = app.query_one("#setup-steps", Static)
        # every step named whole; at 100 columns the bar wraps between two steps, never inside one
        bar = str(steps.content)
        assert "▶ 1 Cloudflare" in bar and "· 7 Kickoff" in bar
        assert steps.region.right <= size[0] and steps.region.height == (2 if size[0] == 100 else 1)
        # where each value goes is on its own line under the input, as wide as the key needs
        for state in app.query(".field-state").results(Static):
            text = str(state.render())
            assert state.content_region.width >= len(text) and state.region.right <= size[0], text
        assert {str(s.render()) for s in app.query(".field-state").results(Static)} >= {
            "hoox.toml cloudflare.account_id", "hoox.toml cloudflare.subdomain"}
        for widget in [*app.query("#setup-form Input"), *app.query("#setup-buttons Button")]:
            assert widget.region.x >= 0 and widget.region.right <= size[0]


@pytest.mark.parametrize("width", [100, 104, 110, 140])
async def test_the_step_bar_wraps_between_steps_never_inside_one(workspace: Workspace, width: int) -> None:
    # the bar's no-break spaces were whitespace to the wrapping: at 100 columns it broke "6 Telegram" in two
    app = Host(lambda: SetupView(ctx_for(workspace)))
    async with app.run_test(size=(width, 30)) as pilot:
        await until(pilot, lambda: wizard_at(app, "Step 1 of 7 — Cloudflare"), "the wizard at step 1")
        steps = app.query_one("#setup-steps", Static)
        await until(pilot, lambda: steps.size.height > 0, "the step bar laid out")
        lines = [steps.render_line(y).text.strip() for y in range(steps.size.height)]
        names = [f"{i + 1} {s.title}" for i, s in enumerate(setup_model.STEPS)]
        # each line is whole steps: a tick, its number and its name, never a step cut at the line's end
        found = [m for line in lines for m in re.split(r"\s{3}", line)]
        assert [f[2:] for f in found] == names, lines


async def skip(app: Host, pilot: Any, then: str) -> None:
    await until(pilot, lambda: shown(app, "#setup-skip"), "the Skip button is on screen")
    await pilot.click("#setup-skip")
    await until(pilot, lambda: wizard_at(app, then), f"Skip leads to {then!r}")


async def test_wizard_writes_config_and_strategy_defaults_then_kickoff_lists_names(workspace: Workspace,
                                                                                   edge) -> None:
    rt, client = edge
    app = Host(lambda: SetupView(ctx_for(workspace, client=client)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: wizard_at(app, "Step 1 of 7 — Cloudflare"), "the wizard starts at step 1")
        app.query_one("#f-cloudflare-account-id", Input).value = "0123456789abcdef0123456789abcdef"
        app.query_one("#f-cloudflare-subdomain", Input).value = "my-desk"
        await pilot.press("ctrl+n")
        await until(pilot, lambda: wizard_at(app, "Step 2 of 7 — Workers"), "step 1 is saved")
        cf = workspace.config()["cloudflare"]
        assert cf["account_id"] == "0123456789abcdef0123456789abcdef" and cf["subdomain"] == "my-desk"
        assert workspace.config_path.read_text().startswith("# hoox workspace")  # comment kept
        # each worker's switch shows what hoox.toml says; turning one off is saved there
        agent = app.query_one("#f-workers-agent-worker-enabled", Select)
        assert agent.value == str("agent-worker" in workspace.enabled_workers()).lower()
        agent.value = "false"
        app.query_one("#f-workers-email-worker-enabled", Select).value = "true"
        await pilot.press("ctrl+n")
        await until(pilot, lambda: wizard_at(app, "Step 3 of 7 — Exchanges"), "step 2 is saved")
        assert "agent-worker" not in workspace.enabled_workers() and "email-worker" in workspace.enabled_workers()
        await skip(app, pilot, "Step 4 of 7 — AI keys")
        await skip(app, pilot, "Step 5 of 7 — Strategy defaults")
        app.query_one("#f-trade-max-leverage", Input).value = "0"
        await pilot.press("ctrl+n")
        await until(pilot, lambda: "at least 1" in text_of(app, "#err-f-trade-max-leverage"),
                    "the leverage 0 is refused")
        app.query_one("#f-trade-max-leverage", Input).value = "20"
        app.query_one("#f-trade-margin-mode", Select).value = "cross"
        await pilot.press("ctrl+n")
        await until(pilot, lambda: wizard_at(app, "Step 6 of 7 — Telegram"), "step 4 is saved")
        kv = rt.kv(catalog.CONFIG_KV)
        assert await kv.get("trade:max_leverage") == "20" and await kv.get("trade:margin_mode") == "cross"
        await skip(app, pilot, "Step 7 of 7 — Kickoff")
        summary = text_of(app, "#setup-summary")
        assert "cloudflare.account_id, cloudflare.subdomain" in summary
        assert "trade:margin_mode, trade:max_leverage" in summary
        assert "Skipped: Exchanges, AI keys, Telegram" in summary
        await until(pilot, lambda: shown(app, "#setup-finish"), "the Finish button is on screen")
        await pilot.click("#setup-finish")
        await until(pilot, lambda: "Setup finished" in text_of(app, "#setup-status"), "the wizard is finished")
    assert not (workspace.hoox_dir / "setup-wizard.json").exists()


# ============================================================================ settings
async def test_settings_persist_theme_and_refresh_and_reset_cache_after_confirmation(
        workspace: Workspace, user_dirs: dict[str, Path]) -> None:
    cache = user_settings.cache_dir()
    (cache / "sub").mkdir(parents=True)
    (cache / "session.json").write_text("{}")
    ctx = ctx_for(workspace)
    app = Host(lambda: SettingsView(ctx))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.view is not None and app.view.is_mounted, "the settings view is mounted")
        app.query_one("#set-theme", Select).value = "hoox-light"
        await until(pilot, lambda: app.theme == "hoox-light" and "hoox-light applied" in text_of(app, "#set-status"),
                    "the theme is applied")
        refresh = app.query_one("#set-refresh", Input)
        refresh.value = "0.2"
        refresh.focus()
        await until(pilot, lambda: refresh.has_focus, "the refresh field has the focus")
        await pilot.press("enter")
        await until(pilot, lambda: "Not changed" in text_of(app, "#set-status"), "0.2 s is refused")
        assert ctx.store.refresh_seconds == 5.0
        refresh.value = "12"
        await pilot.press("enter")
        await until(pilot, lambda: ctx.store.refresh_seconds == 12.0, "12 s is taken")
        await until(pilot, lambda: shown(app, "#set-reset-cache"), "the reset button is on screen")
        await pilot.click("#set-reset-cache")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the reset asks first")
        await pilot.press("n")
        await until(pilot, lambda: "kept" in text_of(app, "#set-status"), "the answer no keeps the cache")
        assert (cache / "session.json").exists()
        await until(pilot, lambda: shown(app, "#set-reset-cache"), "the reset button is on screen again")
        await pilot.click("#set-reset-cache")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the reset asks again")
        await pilot.press("y")
        await until(pilot, lambda: "2 entries removed" in text_of(app, "#set-status"), "the cache is reset")
        assert list(cache.iterdir()) == []
    saved = UserSettings.load()
    assert saved.theme == "hoox-light" and saved.refresh_seconds == 12.0 and not saved.problems
    assert user_settings.config_path().is_relative_to(user_dirs["config"])


# ============================================================================ service manager
@dataclass
class Result:
    worker: str
    ok: bool
    dry_run: bool
    error: str | None = None
    skipped: bool = False


class RecordingDeployer:
    """Stands in for hoox_cli.core.deploy where a real deploy would reach Cloudflare."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    async def deploy_worker(self, ws: Workspace, name: str, *, dry_run: bool, on_line: Any = None) -> Result:
        self.calls.append((name, dry_run))
        for i in range(3):
            on_line(f"{'dry-run' if dry_run else 'upload'} {name} step {i}")
        return Result(name, True, dry_run)

    async def deploy_all(self, ws: Workspace, *, dry_run: bool, on_line: Any = None,
                         on_progress: Any = None) -> list[Result]:
        order = catalog.deploy_order(ws.enabled_workers())
        out = []
        for i, n in enumerate(order):
            on_progress(n, i, len(order))
            out.append(await self.deploy_worker(ws, n, dry_run=dry_run, on_line=on_line))
        on_progress(order[-1], len(order), len(order))
        return out


def log_lines(app: Host) -> list[str]:
    assert app.view is not None  # the view's Log, whichever screen (a dialog) is on top
    return [str(line) for line in app.view.query_one("#svc-output", Log).lines]


def services_ready(app: Host) -> bool:
    """The worker table is filled and focused (the view's keys apply) and no operation runs."""
    view = app.view
    assert isinstance(view, ServicesView)
    table = view.query_one("#svc-table", DataTable)
    return table.row_count == len(catalog.WORKERS) and app.focused is table and not view.busy


async def test_service_manager_dry_runs_then_deploys_only_after_confirmation(workspace: Workspace) -> None:
    deployer = RecordingDeployer()
    app = Host(lambda: ServicesView(ctx_for(workspace), deployer=deployer))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: services_ready(app), "the worker table is filled and focused")
        table = app.query_one("#svc-table", DataTable)
        await pilot.press("down")
        await until(pilot, lambda: table.cursor_row == 1, "the second row is selected")
        assert table.get_row_at(1)[0] == "trade-worker"
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dry run passed and the deploy asks")
        assert deployer.calls == [("trade-worker", True)]
        await pilot.press("n")
        await until(pilot, lambda: "Deploy of trade-worker cancelled; nothing was deployed." in log_lines(app),
                    "the deploy is cancelled")
        assert deployer.calls == [("trade-worker", True)]
        await until(pilot, lambda: services_ready(app), "back on the table")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the deploy asks again")
        await pilot.press("y")
        await until(pilot, lambda: "trade-worker: deploy ok" in log_lines(app) and services_ready(app),
                    "trade-worker is deployed")
        assert deployer.calls[-1] == ("trade-worker", False)
        lines = log_lines(app)
        assert "$ hoox deploy worker trade-worker --dry-run" in lines and "upload trade-worker step 2" in lines
        assert table.get_row("trade-worker")[3] == "deployed"


async def test_bulk_redeploy_asks_once_after_a_dry_run_of_every_worker(workspace: Workspace) -> None:
    deployer = RecordingDeployer()
    app = Host(lambda: ServicesView(ctx_for(workspace), deployer=deployer))
    order = catalog.deploy_order(workspace.enabled_workers())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: services_ready(app), "the worker table is filled and focused")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the dry runs passed and the deploy asks")
        assert ", ".join(order) in str(app.screen.query_one("#question", Static).render())
        assert deployer.calls == [(n, True) for n in order]
        await pilot.press("y")
        await until(pilot, lambda: f"{order[-1]}: deploy ok" in log_lines(app) and services_ready(app),
                    "every worker is deployed")
        assert deployer.calls[len(order):] == [(n, False) for n in order]
        assert f"[{len(order)}/{len(order)}] finished" in log_lines(app)


async def test_real_dry_run_output_is_streamed_and_a_cancel_deploys_nothing(workspace: Workspace) -> None:
    from cli_support import use_wheel_cache

    from hoox_cli.core import deploy

    use_wheel_cache(workspace)  # the dry run vendors the bundle's packages from it
    app = Host(lambda: ServicesView(ctx_for(workspace)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: services_ready(app), "the worker table is filled and focused")
        await pilot.press("d")  # hoox, the first row
        # wrangler's real dry run: well under a minute, more on a loaded machine
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) or "FAILED" in " ".join(log_lines(app)),
                    "the dry run of hoox ends", timeout=180)
        assert isinstance(app.screen, ConfirmScreen), log_lines(app)
        await pilot.press("escape")
        await until(pilot, lambda: services_ready(app) and "Deploy of hoox cancelled; nothing was deployed."
                    in log_lines(app), "the deploy is cancelled")
        lines = log_lines(app)
    assert "hoox: dry run ok" in lines
    assert len(lines) > 4  # wrangler's own output came through
    assert lines[-1] == "Deploy of hoox cancelled; nothing was deployed."
    assert deploy.DeployResult  # the shared module the view used


# ============================================================================ snapshots
@pytest.fixture
def fixed_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths shown on screen, the same on every machine."""
    monkeypatch.setattr(user_settings, "config_path", lambda: Path("/home/operator/.config/hoox/cockpit.toml"))
    monkeypatch.setattr(user_settings, "cache_dir", lambda: Path("/home/operator/.cache/hoox"))


def steady(ready: Callable[[Host], bool], what: str) -> Callable[[Any], Awaitable[None]]:
    """Before the screenshot: wait until the view shows what the snapshot is of, cursors not blinking."""
    async def run(pilot: Any) -> None:
        await until(pilot, lambda: ready(pilot.app), what)
        await until(pilot, lambda: tables_settled(pilot.app), "the tables measured their rows")
        for w in pilot.app.query("Input, TextArea"):
            w.cursor_blink = False
    return run


@pytest.mark.usefixtures("fixed_paths")
@by_size
def test_snapshot_services(snap_compare: Any, workspace: Workspace, size: tuple[int, int]) -> None:
    with frozen_clock():
        ctx = ctx_for(workspace, store=fed_store())
        app = Host(lambda: ServicesView(ctx, deployer=RecordingDeployer()))
        assert snap_compare(app, terminal_size=size,
                            run_before=steady(services_ready, "the worker table is filled and focused"))


@pytest.mark.usefixtures("fixed_paths")
@by_size
def test_snapshot_config_editor(snap_compare: Any, workspace: Workspace, size: tuple[int, int]) -> None:
    workspace.config_path.write_text(TIDY)
    app = Host(lambda: ConfigEditorView(ctx_for(workspace)))
    assert snap_compare(app, terminal_size=size, run_before=steady(opened, "hoox.toml is open"))


@pytest.mark.usefixtures("fixed_paths")
@by_size
def test_snapshot_setup_wizard(snap_compare: Any, workspace: Workspace, size: tuple[int, int]) -> None:
    (workspace.hoox_dir / "setup-wizard.json").write_text(json.dumps(
        {"version": 1, "step": "exchanges", "done": ["cloudflare"], "values": {},
         "written": {"config": ["cloudflare.account_id"], "secrets": [], "kv": []}}))
    app = Host(lambda: SetupView(ctx_for(workspace)))
    assert snap_compare(app, terminal_size=size,
                        run_before=steady(lambda a: wizard_at(a, "Step 3 of 7 — Exchanges"), "step 3, focused"))


@pytest.mark.usefixtures("fixed_paths")
@by_size
def test_snapshot_settings(snap_compare: Any, workspace: Workspace, size: tuple[int, int]) -> None:
    app = Host(lambda: SettingsView(ctx_for(workspace)))
    assert snap_compare(app, terminal_size=size, run_before=steady(focus_in_view, "the settings view has the focus"))
