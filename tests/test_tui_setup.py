"""One setup wizard: `hoox init` and the cockpit's wizard (F8) drive the same model (hoox_cli.core.setup),
so a value is judged by the same rule in both and a setup begun in one resumes in the other."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import as_json as out
from cli_support import hoox as hoox_sync
from click.testing import Result
from hoox_edge.local.workspace import Workspace
from textual.app import App, ComposeResult
from textual.widgets import Button, Input, Select, Static
from tui_support import cockpit_settings, until  # noqa: F401  (autouse)

from hoox_cli.core import setup
from hoox_tui.context import CockpitContext
from hoox_tui.settings import UserSettings
from hoox_tui.store import Store
from hoox_tui.views.setup import SetupView

ACCOUNT = "0123456789abcdef0123456789abcdef"
TOKEN = "cf-token-abcdefghijklmnop"


class Host(App[None]):
    def __init__(self, ws: Workspace) -> None:
        super().__init__()
        self.ws = ws

    def compose(self) -> ComposeResult:
        yield SetupView(CockpitContext(store=Store(None), workspace=self.ws, settings=UserSettings(),
                                       safe_mode=False, local_runtime_started=False))


async def hoox(*args: str) -> Result:
    """The CLI runs its own event loop: from an async test, in a thread."""
    return await asyncio.to_thread(hoox_sync, *args)


def text_of(app: App[Any], selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def title(index: int) -> str:
    return f"Step {index + 1} of {len(setup.STEPS)} — {setup.STEPS[index].title}"


async def at_step(pilot: Any, app: App[Any], index: int, what: str) -> None:
    """Wait until the wizard shows step `index` and its first field has the focus (the view puts it
    there after a refresh): where an operator types, and what a key pressed then goes through."""
    await until(pilot, lambda: text_of(app, "#setup-title") == title(index)
                and isinstance(app.focused, (Input, Select, Button)), what)


def step_of(name: str) -> int:
    return next(i for i, s in enumerate(setup.STEPS) if any(f.name == name for f in s.fields))


def save_state(ws: Workspace, step: str) -> None:
    ws.hoox_dir.mkdir(parents=True, exist_ok=True)
    (ws.hoox_dir / setup.STATE_FILE).write_text(json.dumps(
        {"version": setup.STATE_VERSION, "step": step, "done": [], "values": {},
         "written": {"config": [], "secrets": [], "kv": []}}))


async def cockpit_error(ws: Workspace, name: str, value: str) -> str:
    """What the cockpit's wizard says under field `name` when `value` is typed and saved."""
    f = setup.field_named(name)
    index = step_of(name)
    save_state(ws, setup.STEP_IDS[index])
    app = Host(ws)
    wid = SetupView._wid(f)
    async with app.run_test(size=(120, 40)) as pilot:
        await at_step(pilot, app, index, f"the wizard at {name}'s step")
        app.query_one(f"#{wid}", Input).value = value
        await pilot.press("ctrl+n")
        await until(pilot, lambda: text_of(app, f"#err-{wid}") != "", f"the cockpit judges {name}")
        return text_of(app, f"#err-{wid}")


async def cli_error(ws: Workspace, tmp_path: Path, name: str, value: str) -> str:
    """What `hoox init` says about `value` for field `name`, given by its flag or its --secrets-file."""
    if name == "cloudflare.account_id":
        args = ["--cloudflare-account-id", value]
    elif name == "CLOUDFLARE_API_TOKEN":
        args = ["--cloudflare-account-id", ACCOUNT, "--cloudflare-api-token", value]
    else:
        keys = tmp_path / "keys.env"
        keys.write_text(f"{name}={value}\n")
        args = ["--skip-cloudflare", "--workers", "trade-worker", "--secrets-file", str(keys)]
    r = await hoox("init", "--no-input", *args, "--json")
    assert r.exit_code == 2, r.output
    err = out(r)["error"]
    assert err["code"] == "INVALID_VALUE"
    assert value not in r.output or name == "cloudflare.account_id"  # a credential is never echoed
    return str(err["message"])


@pytest.mark.parametrize(("name", "value", "says"), [
    # the rule the CLI had for the token was "no spaces"; the one rule now is the cockpit's stricter one
    ("CLOUDFLARE_API_TOKEN", "abc123", "at least 20 characters"),
    ("CLOUDFLARE_API_TOKEN", "cf-token-with-a-dot.abcdefgh", "letters, digits, - and _"),
    ("cloudflare.account_id", "not-an-id", "32 hexadecimal characters"),
    ("BYBIT_API_KEY", "abc12", "at least 8 characters"),
    ("TELEGRAM_BOT_TOKEN", "123:short-token", "digits, a colon, then the token"),
])
async def test_one_rule_per_field_in_the_cli_and_the_cockpit(ws: Workspace, tmp_path: Path, name: str, value: str,
                                                             says: str) -> None:
    rule = setup.check(setup.field_named(name), value)
    assert rule is not None and says in rule
    assert setup.field_named(name).fix in rule  # the message says how to fix it
    assert rule in await cli_error(ws, tmp_path, name, value)
    assert await cockpit_error(ws, name, value) == rule
    assert not ws.secrets().get(name)  # refused by both: nothing written


async def test_a_setup_begun_in_the_cli_resumes_in_the_cockpit_and_back(ws: Workspace) -> None:
    # the CLI: Cloudflare skipped, workers chosen, then no answer for the exchange keys
    r = await hoox("init", "--no-input", "--skip-cloudflare", "--workers", "trade-worker", "--json")
    assert r.exit_code == 2 and "--skip-secrets" in out(r)["error"]["message"]
    exchanges = setup.STEP_IDS.index("exchanges")

    # the cockpit resumes there, and saves the Bybit keys
    app = Host(ws)
    async with app.run_test(size=(120, 40)) as pilot:
        await at_step(pilot, app, exchanges, "the cockpit resumes")
        assert "Resumed" in text_of(app, "#setup-status")
        assert "✓ 2 Workers" in str(app.query_one("#setup-steps", Static).content)
        app.query_one("#f-bybit-api-key", Input).value = "bybit-key-0123456789"
        app.query_one("#f-bybit-api-secret", Input).value = "bybit-secret-0123456789"
        await pilot.press("ctrl+n")
        await until(pilot, lambda: text_of(app, "#setup-title") == title(exchanges + 1), "the keys are saved")
    assert ws.secrets()["BYBIT_API_KEY"] == "bybit-key-0123456789"

    # the CLI resumes where the cockpit left off, and finishes
    r = await hoox("init", "--no-input", "--skip-secrets", "--json")
    assert r.exit_code == 0, r.output
    res = out(r)
    assert res["resumed_from"] == "ai" and list(res["steps"]) == ["ai", "strategy", "telegram"]
    assert res["written"] == {"config": ["workers.agent-worker.enabled", "workers.analytics-worker.enabled",
                                         "workers.d1-worker.enabled", "workers.email-worker.enabled",
                                         "workers.report-worker.enabled", "workers.telegram-worker.enabled",
                                         "workers.trade-worker.enabled", "workers.web3-wallet-worker.enabled"],
                              "secrets": ["BYBIT_API_KEY", "BYBIT_API_SECRET"], "kv": []}
    assert ws.enabled_workers() == ["hoox", "trade-worker"]
    assert not (ws.hoox_dir / setup.STATE_FILE).exists()


async def test_the_cli_wizards_old_state_file_is_resumed_not_lost(ws: Workspace) -> None:
    legacy = ws.root / setup.LEGACY_STATE_FILE
    legacy.write_text(json.dumps({"version": 1, "completed": ["toolchain", "cloudflare", "workers", "database"],
                                  "results": {}, "created": []}))
    wiz = setup.SetupWizard(ws, None)
    assert wiz.resumed and wiz.current.id == "exchanges" and wiz.state.done == ["cloudflare", "workers"]

    app = Host(ws)  # the cockpit's wizard reads it too, and keeps its progress in the one state file
    async with app.run_test(size=(120, 40)) as pilot:
        index = setup.STEP_IDS.index("exchanges")
        await at_step(pilot, app, index, "the cockpit resumes")
        assert isinstance(app.focused, Input)  # which binds Ctrl+K itself: the step's key must still win
        await pilot.press("ctrl+k")
        await until(pilot, lambda: text_of(app, "#setup-title") == title(index + 1), "the step is skipped")
    assert not legacy.exists()
    state = json.loads((ws.hoox_dir / setup.STATE_FILE).read_text())
    assert state["step"] == "ai" and state["done"] == ["cloudflare", "workers"]

    legacy.write_text(json.dumps({"version": 1, "completed": ["toolchain", "cloudflare", "workers", "database",
                                                             "secrets"], "results": {}, "created": []}))
    (ws.hoox_dir / setup.STATE_FILE).unlink()
    r = await hoox("init", "--no-input", "--json")
    assert r.exit_code == 0, r.output
    assert out(r)["resumed_from"] == "strategy" and not legacy.exists()
