"""`hoox deploy all --auto` end to end in an empty account, and `repair check --remote`, against the
loopback Cloudflare fake, a stand-in wrangler (tests/fake_wrangler.py) and a loopback transport that
answers the gateway's /health as the deployed gateway would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_support import as_json, hoox, use_wheel_cache
from fake_cloudflare import FakeCloudflare, start_fake
from fake_wrangler import use_fake_wrangler
from hoox_edge import catalog, migrations
from hoox_edge.local.workspace import Workspace

from hoox_cli.core import cloudflare_table, deploy, rollout

WORKERS = ["d1-worker", "trade-worker", "hoox"]  # binding order of what this workspace enables


class Gateway:
    """The deployed gateway's /health: 200, or 503 naming the bindings set to fail."""

    def __init__(self) -> None:
        self.broken: set[str] = set()
        self.urls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        bindings: dict[str, Any] = {"kv": {"status": "ok"}, "d1": {"status": "ok"}, "queue": {"status": "bound"}}
        for w in WORKERS[:-1]:
            bindings[w] = ({"status": "error", "error": f"{w} answered 500"} if w in self.broken
                           else {"status": "ok"})
        bad = bool(self.broken)
        return httpx.Response(503 if bad else 200, json={"status": "degraded" if bad else "ok", "bindings": bindings})


@pytest.fixture
def setup(ws: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    use_wheel_cache(ws)
    for w in ("agent-worker", "analytics-worker", "telegram-worker"):  # fewer bundles to build
        assert hoox("config", "set", f"workers.{w}.enabled", "false").exit_code == 0
    assert deploy.planned_workers(ws) == WORKERS
    fake = start_fake(monkeypatch, tmp_path / "home")
    wrangler = use_fake_wrangler(monkeypatch, tmp_path / "bin")
    gateway = Gateway()
    monkeypatch.setattr(rollout, "health_transport", httpx.MockTransport(gateway))
    monkeypatch.setattr(rollout, "HEALTH_TIMEOUT_S", 0.0)  # one look: the fake answers at once
    yield ws, fake, wrangler, gateway
    fake.stop()


def _writes(fake: FakeCloudflare) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.requests if r.method != "GET"]


@pytest.mark.heavy
def test_auto_rollout_in_an_empty_account_then_again_then_a_failed_health_rolled_back(setup: Any) -> None:
    ws, fake, wrangler, gateway = setup
    vault = ws.secrets()
    res = hoox("deploy", "all", "--auto", "--yes", "--json")
    assert res.exit_code == 0, res.stdout
    out = as_json(res)
    assert out["ok"] is True and out["failed"] is None and out["order"] == WORKERS
    # provisioned what the workers bind, ids recorded and bound
    assert {(r["kind"], r["name"]) for r in out["provisioned"]} == {
        ("kv", catalog.CONFIG_KV), ("kv", catalog.SESSIONS_KV), ("d1", catalog.TRADE_DB),
        ("r2", catalog.SYSTEM_LOGS_BUCKET), ("queues", catalog.TRADE_QUEUE), ("queues", catalog.TRADE_DLQ)}
    assert all(r["created"] for r in out["provisioned"])
    assert set(deploy.resources(ws)["kv"]) == {catalog.CONFIG_KV, catalog.SESSIONS_KV}
    # migrations by wrangler, before any deploy; then the deploys in binding order
    cmds = wrangler.commands()
    assert cmds[0] == ["d1", "migrations", "apply", catalog.TRADE_DB, "--remote"]
    assert out["migrations"] == {"ok": True, "applied": [m.name for m in migrations.available()], "error": None}
    assert [c for c in cmds if c[0] == "deploy"] == [["deploy"]] * 3
    assert [Path(c["cwd"]).name for c in wrangler.calls() if c["args"][0] == "deploy"] == WORKERS
    assert [r["worker"] for r in out["deploy"] if r["ok"]] == WORKERS
    assert set(fake.state.scripts) == set(WORKERS)
    # the KV manifest in the CONFIG_KV namespace
    ns = deploy.resources(ws)["kv"][catalog.CONFIG_KV]
    assert set(out["kv"]["written"]) == set(fake.state.kv[ns]["values"]) and out["kv"]["written"]
    # every secret the vault holds, pushed to the workers that declare it, by name in the report only
    for w in WORKERS:
        for s in catalog.worker(w).secrets:
            assert fake.state.secrets[w][s] == vault[s]
    assert {"worker": "hoox", "name": "OPERATOR_API_KEY"} in out["secrets"]["pushed"]
    assert not any(v in res.stdout for v in vault.values() if len(v) >= 12)
    # health through the gateway's public URL (the workers.dev URL its deploy reported)
    assert gateway.urls == ["https://hoox.desk.workers.dev/health"]
    assert [h["ok"] for h in out["health"]] == [True] * 3 and out["rolled_back"] == []
    assert next(r for r in out["deploy"] if r["worker"] == "hoox")["url"] == "https://hoox.desk.workers.dev"
    assert fake.shape_errors == []

    # again: nothing to create or push, a new version of each
    fake.requests.clear()
    out = as_json(hoox("deploy", "all", "--auto", "--yes", "--json"))
    assert out["ok"] is True
    assert not any(r["created"] for r in out["provisioned"]) and out["secrets"]["pushed"] == []
    assert out["kv"]["written"] == []
    assert not [w for w in _writes(fake) if "/secrets" in w or w.startswith("POST")]
    assert all(len(fake.state.scripts[w]["versions"]) == 2 for w in WORKERS)

    # a trade-worker whose /health fails after the next deploy goes back to the version it served before
    served = {w: fake.active_version(w) for w in WORKERS}
    gateway.broken = {"trade-worker"}
    res = hoox("deploy", "all", "--auto", "--yes", "--json")
    assert res.exit_code == 1
    out = as_json(res)
    assert out["ok"] is False and out["failed"] == "trade-worker"
    bad = next(h for h in out["health"] if h["worker"] == "trade-worker")
    assert bad["ok"] is False and "500" in bad["detail"]
    assert all(h["ok"] for h in out["health"] if h["worker"] != "trade-worker")
    assert out["rolled_back"] == [{"worker": "trade-worker", "version_id": served["trade-worker"], "ok": True,
                                   "error": None}]
    assert wrangler.commands()[-1] == ["rollback", served["trade-worker"], "--name", "trade-worker", "--message",
                                       "hoox deploy all --auto: /health failed", "--yes"]
    assert fake.active_version("trade-worker") == served["trade-worker"]
    assert fake.active_version("hoox") != served["hoox"]  # the healthy ones keep their new version
    assert fake.shape_errors == []


def test_a_first_deploy_that_fails_its_health_has_nothing_to_roll_back_to(setup: Any) -> None:
    _ws, _fake, wrangler, gateway = setup
    gateway.broken = {"d1-worker"}
    res = hoox("deploy", "all", "--auto", "--yes")
    assert res.exit_code == 1
    assert "d1-worker not rolled back" in res.stdout and "first time" in res.stdout
    assert "The rollout failed at d1-worker" in res.stdout
    assert not [c for c in wrangler.commands() if c[0] == "rollback"]


def test_a_failed_upload_stops_the_rollout_and_skips_the_rest(setup: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _ws, fake, _wrangler, _gateway = setup
    monkeypatch.setenv("FAKE_WRANGLER_FAIL", "trade-worker")
    out = as_json(hoox("deploy", "all", "--auto", "--yes", "--json"))
    assert out["failed"] == "trade-worker"
    assert [(r["worker"], r["ok"], r["skipped"]) for r in out["deploy"]] == [
        ("d1-worker", True, False), ("trade-worker", False, False), ("hoox", False, True)]
    assert "fake wrangler was told to" in out["deploy"][1]["error"]
    assert set(fake.state.scripts) == {"d1-worker"}


def test_secrets_are_asked_for_first_and_a_missing_one_changes_nothing(setup: Any) -> None:
    ws, fake, wrangler, _gateway = setup
    res = hoox("deploy", "all", "--auto", "--json")  # nobody to ask: --yes needed
    assert res.exit_code == 1
    err = as_json(res)["error"]
    assert err["code"] == "CONFIRM_REQUIRED" and "OPERATOR_API_KEY" in err["message"]
    assert _writes(fake) == [] and wrangler.commands() == []
    # a required secret in neither place stops everything before it starts
    text = ws.dev_vars_path.read_text()
    ws.dev_vars_path.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("WEBHOOK_API_KEY")))
    res = hoox("deploy", "all", "--auto", "--yes", "--json")
    err = as_json(res)["error"]
    assert err["code"] == "SECRETS_MISSING" and "WEBHOOK_API_KEY (hoox)" in err["message"]
    assert _writes(fake) == [] and wrangler.commands() == []
    assert hoox("deploy", "all", "--yes", "--json").exit_code == 2
    assert hoox("deploy", "all", "--auto", "--dry-run", "--json").exit_code == 2


def test_repair_check_remote_names_what_the_account_lacks(setup: Any) -> None:
    ws, fake, _wrangler, gateway = setup
    res = hoox("repair", "check", "--remote", "--json")
    remote = {c["name"]: c for c in as_json(res)["checks"] if c["name"].startswith("cloudflare-")}
    assert res.exit_code == 1
    assert not remote["cloudflare-resources"]["ok"] and "KV namespace hoox-config" in remote[
        "cloudflare-resources"]["detail"]
    assert not remote["cloudflare-workers"]["ok"]
    # the gateway on a custom domain: its route rendered, its domain created, its health checked there
    fake.state.zones["z1"] = {"name": "desk.example"}
    cloudflare_table.set_cloudflare(ws, ["zone"], "desk.example")
    cloudflare_table.set_cloudflare(ws, ["hostnames", "hoox"], "api.desk.example")
    res = hoox("deploy", "all", "--auto", "--yes", "--json")
    assert res.exit_code == 0, res.stdout
    assert as_json(res)["domains"] == [{"hostname": "api.desk.example", "worker": "hoox", "created": True,
                                        "error": None}]
    staged = (deploy.worker_dir(ws, "hoox") / "wrangler.jsonc").read_text()
    assert '"pattern": "api.desk.example"' in staged and '"custom_domain": true' in staged
    assert [(d["hostname"], d["service"]) for d in fake.state.domains.values()] == [("api.desk.example", "hoox")]
    assert gateway.urls == ["https://api.desk.example/health"]
    res = hoox("repair", "check", "--remote", "--json")
    remote = {c["name"]: c for c in as_json(res)["checks"] if c["name"].startswith("cloudflare-")}
    assert set(remote) == {"cloudflare-resources", "cloudflare-bindings", "cloudflare-workers", "cloudflare-secrets",
                           "cloudflare-routes"}
    assert all(c["ok"] for c in remote.values()), remote
    # break the account: a secret gone, a namespace re-created under another id, a hostname not attached
    del fake.state.secrets["trade-worker"]["INTERNAL_KEY_BINDING"]
    ns = deploy.resources(ws)["kv"][catalog.SESSIONS_KV]
    fake.state.kv["other-id"] = fake.state.kv.pop(ns)
    fake.state.domains.clear()
    res = hoox("repair", "check", "--remote")
    assert res.exit_code == 1
    assert "trade-worker: INTERNAL_KEY_BINDING" in res.stdout
    assert "hoox.toml binds" in res.stdout and "other-id" in res.stdout
    assert "api.desk.example is not attached to hoox" in res.stdout
    assert json.loads(hoox("repair", "check", "--json").stdout)["checks"][0]["name"] != "cloudflare-resources"



def test_the_setup_wizards_last_step_rolls_out_with_deploy(setup: Any) -> None:
    ws, fake, _wrangler, gateway = setup
    res = hoox("init", "--no-input", "--cloudflare-account-id", fake.account_id, "--subdomain", "desk",
               "--workers", "trade-worker,d1-worker", "--skip-secrets", "--deploy", "--json")
    assert res.exit_code == 0, res.stdout
    report = as_json(res)["rollout"]
    assert report["ok"] is True and [r["worker"] for r in report["deploy"] if r["ok"]] == WORKERS
    assert set(fake.state.scripts) == set(WORKERS)
    assert fake.state.secrets["hoox"]["OPERATOR_API_KEY"] == ws.secrets()["OPERATOR_API_KEY"]
    assert gateway.urls == ["https://hoox.desk.workers.dev/health"]
    # without --deploy (and nobody at a terminal) the wizard deploys nothing
    res = hoox("init", "--no-input", "--restart", "--cloudflare-account-id", fake.account_id, "--subdomain", "desk",
               "--skip-secrets", "--workers", "trade-worker,d1-worker", "--json")
    assert res.exit_code == 0, res.stdout
    assert as_json(res)["rollout"] is None
    assert all(len(fake.state.scripts[w]["versions"]) == 1 for w in WORKERS)
