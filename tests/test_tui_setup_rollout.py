"""The cockpit's setup wizard (F8) ends with the rollout of `hoox deploy all --auto` (hoox_cli.core.rollout):
asked before it starts and before secret values leave the local vault, its steps streamed, its report
shown. Against the loopback Cloudflare fake, the stand-in wrangler and a loopback gateway /health
(as tests/test_rollout.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_support import hoox, use_wheel_cache
from fake_cloudflare import FakeCloudflare, start_fake
from fake_wrangler import use_fake_wrangler
from hoox_edge import catalog
from hoox_edge.local.workspace import Workspace
from test_rollout import WORKERS, Gateway
from textual.app import App, ComposeResult
from textual.widgets import Button, Log, Static
from tui_support import cockpit_settings, plain, until  # noqa: F401  (autouse)

from hoox_cli.core import deploy, rollout, setup
from hoox_tui.context import CockpitContext
from hoox_tui.dialogs import ConfirmScreen
from hoox_tui.settings import UserSettings
from hoox_tui.store import Store
from hoox_tui.views.setup import SetupView

ROLLOUT_DEADLINE = 180.0  # bundles of three workers built on a shared machine; returns as soon as it is done


class Host(App[None]):
    def __init__(self, ws: Workspace) -> None:
        super().__init__()
        self.ws = ws

    def compose(self) -> ComposeResult:
        yield SetupView(CockpitContext(store=Store(None), workspace=self.ws, settings=UserSettings(),
                                       safe_mode=False, local_runtime_started=False))


@pytest.fixture
def cloud(ws: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    use_wheel_cache(ws)
    for w in ("agent-worker", "analytics-worker", "telegram-worker"):  # fewer bundles to build
        assert hoox("config", "set", f"workers.{w}.enabled", "false").exit_code == 0
    assert deploy.planned_workers(ws) == WORKERS
    fake = start_fake(monkeypatch, tmp_path / "home")
    wrangler = use_fake_wrangler(monkeypatch, tmp_path / "bin")
    gateway = Gateway()
    monkeypatch.setattr(rollout, "health_transport", httpx.MockTransport(gateway))
    monkeypatch.setattr(rollout, "HEALTH_TIMEOUT_S", 0.0)  # one look: the fake answers at once
    ws.hoox_dir.mkdir(parents=True, exist_ok=True)
    wiz = setup.SetupWizard(ws, None)  # at the kickoff step, every step before it skipped
    wiz.go(setup.STEP_IDS.index("kickoff"))
    wiz.save()
    yield ws, fake, wrangler, gateway
    fake.stop()


def _writes(fake: FakeCloudflare) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.requests if r.method != "GET"]


def text(app: App[Any], selector: str) -> str:
    return plain(app.screen.query_one(selector, Static), width=200) if selector else ""


def asking(app: App[Any], words: str) -> bool:
    return isinstance(app.screen, ConfirmScreen) and words in text(app, "#question")


def log_text(app: App[Any]) -> str:
    return "\n".join(str(line) for line in app.query_one("#setup-rollout-log", Log).lines)


def status(app: App[Any]) -> str:
    return plain(app.query_one("#setup-status", Static), width=200)


def report(app: App[Any]) -> str:
    return plain(app.query_one("#setup-rollout-report", Static), width=200)


async def start(app: App[Any], pilot: Any) -> None:
    await until(pilot, lambda: bool(app.query("#setup-rollout")), "the kickoff step")
    app.query_one("#setup-rollout", Button).press()
    await until(pilot, lambda: asking(app, "Roll out to Cloudflare?"), "the wizard asks before it starts")
    assert "d1-worker, trade-worker, hoox" in text(app, "#question")  # the binding order


@pytest.mark.heavy
async def test_the_wizards_last_step_rolls_out_asking_before_it_pushes_secrets(cloud: Any) -> None:
    ws, fake, wrangler, gateway = cloud
    vault = ws.secrets()
    app = Host(ws)
    async with app.run_test(size=(120, 50)) as pilot:
        await start(app, pilot)
        await pilot.press("y")
        await until(pilot, lambda: asking(app, "Push"), "the wizard asks before pushing secrets")
        question = text(app, "#question")
        assert "OPERATOR_API_KEY" in question
        assert not any(v in question for v in vault.values() if len(v) >= 12)  # names only
        assert _writes(fake) == [] and wrangler.commands() == []  # nothing changed before the answer
        await pilot.press("y")
        await until(pilot, lambda: "Rolled out to Cloudflare." in status(app), "the rollout finishes",
                    timeout=ROLLOUT_DEADLINE)
        steps = log_text(app)
        shown = report(app)
    # each step's progress, in order
    marks = ["provisioning the resources", "applying D1 migrations", "KV manifest:", "deploying d1-worker",
             "deploying trade-worker", "deploying hoox", "checking https://hoox.desk.workers.dev/health"]
    at = [steps.find(m) for m in marks]
    assert -1 not in at and at == sorted(at), steps
    # the final report: secrets by name, what was created, each worker and where the gateway answers
    assert "Secrets pushed:" in shown and "OPERATOR_API_KEY" in shown
    assert f"D1 database {catalog.TRADE_DB}" in shown
    assert "✓ hoox  https://hoox.desk.workers.dev" in shown
    assert "Rolled out; https://hoox.desk.workers.dev/health answers 200." in shown
    assert not any(v in steps + shown for v in vault.values() if len(v) >= 12)
    # on Cloudflare: every worker, its secrets, checked through the public URL
    assert set(fake.state.scripts) == set(WORKERS)
    assert fake.state.secrets["hoox"]["OPERATOR_API_KEY"] == vault["OPERATOR_API_KEY"]
    assert gateway.urls == ["https://hoox.desk.workers.dev/health"]
    assert fake.shape_errors == []

    # again, with trade-worker failing its health: nothing to push (one question), the failure rolled back
    served = fake.active_version("trade-worker")
    gateway.broken = {"trade-worker"}
    app = Host(ws)
    async with app.run_test(size=(120, 50)) as pilot:
        await start(app, pilot)
        await pilot.press("y")
        await until(pilot, lambda: "failed at trade-worker" in status(app), "the rollout fails",
                    timeout=ROLLOUT_DEADLINE)
        assert "rolling trade-worker back to version" in log_text(app)
        shown = report(app)
    assert f"↺ trade-worker rolled back to {served}" in shown
    assert "✗ trade-worker /health: trade-worker answered 500" in shown
    assert fake.active_version("trade-worker") == served


async def test_no_to_the_secrets_or_to_the_rollout_changes_nothing(cloud: Any) -> None:
    ws, fake, wrangler, _gateway = cloud
    app = Host(ws)
    async with app.run_test(size=(120, 50)) as pilot:
        await start(app, pilot)
        await pilot.press("n")
        await until(pilot, lambda: "Rollout cancelled; nothing was changed." in status(app), "cancelled")
        await start(app, pilot)
        await pilot.press("y")
        await until(pilot, lambda: asking(app, "Push"), "the question about secrets")
        await pilot.press("n")
        await until(pilot, lambda: "Secrets not pushed; nothing was changed." in status(app), "the refusal said")
        assert report(app).strip() == ""
    assert _writes(fake) == [] and wrangler.commands() == []
    assert fake.state.scripts == {}


async def test_without_cloudflare_credentials_the_wizard_says_which_step_to_fill(
        cloud: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ws, fake, wrangler, _gateway = cloud
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    app = Host(ws)
    async with app.run_test(size=(120, 50)) as pilot:
        await until(pilot, lambda: bool(app.query("#setup-rollout")), "the kickoff step")
        app.query_one("#setup-rollout", Button).press()
        await until(pilot, lambda: "fill in step 1 (Cloudflare)" in status(app), "the missing token said")
        assert not isinstance(app.screen, ConfirmScreen)
    assert fake.requests == [] and wrangler.commands() == []


async def test_cloudflare_failing_midway_stops_the_rollout_and_says_so(cloud: Any) -> None:
    ws, fake, wrangler, _gateway = cloud
    fake.fail_next[r"/storage/kv/namespaces$"] = 500  # while provisioning
    app = Host(ws)
    async with app.run_test(size=(120, 50)) as pilot:
        await start(app, pilot)
        await pilot.press("y")
        await until(pilot, lambda: asking(app, "Push"), "the question about secrets")
        await pilot.press("y")
        await until(pilot, lambda: "Rollout stopped:" in status(app), "the failure said")
        assert "Cloudflare API GET" in status(app) and "namespaces failed with HTTP 500" in status(app)
        assert "provisioning the resources" in log_text(app)
        assert app.query_one(SetupView).rolling is False  # Back, Finish and a new rollout work again
    assert fake.state.scripts == {} and not [c for c in wrangler.commands() if c[0] == "deploy"]
