"""`hoox init`, `hoox clone`, `hoox check prerequisites|setup`, `hoox config show|set|env ...|kv apply-manifest`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from cli_support import as_json as out
from cli_support import hoox, kv_raw
from hoox_edge import catalog
from hoox_edge import migrations as _migrations
from hoox_edge.local.workspace import GENERATED_SECRETS, Workspace
from hoox_edge.shared import settings

from hoox_cli.core import setup

ALL_MIGRATIONS = [m.name for m in _migrations.available()]

ACCOUNT = "0123456789abcdef0123456789abcdef"
TOKEN = "cf-token-abcdefghijklmnop"
BOT_TOKEN = "123456:telegram-token-abcdefghijklmnopqrstuvwxyz"


def state_of(ws: Workspace) -> dict:
    return json.loads((ws.hoox_dir / setup.STATE_FILE).read_text())


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("HOOX_WORKSPACE", str(tmp_path / "desk"))
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    return Workspace(tmp_path / "desk")


# ----------------------------------------------------------------------------- init
def test_init_scripted_writes_everything_and_never_prints_a_credential(fresh: Workspace, tmp_path: Path) -> None:
    secrets_file = tmp_path / "keys.env"
    secrets_file.write_text("BYBIT_API_KEY=bybit-key-1234567\nBYBIT_API_SECRET='bybit-secret-7654321'\n"
                            f"TELEGRAM_BOT_TOKEN={BOT_TOKEN}\nTELEGRAM_CHAT_ID=-100123\n")
    r = hoox("init", "--no-input", "--cloudflare-account-id", ACCOUNT.upper(), "--subdomain", "alpha",
             "--workers", "trade-worker,telegram-worker,d1-worker", "--secrets-file", str(secrets_file), "--json",
             env={"CLOUDFLARE_API_TOKEN": TOKEN})
    assert r.exit_code == 0, r.output
    res = out(r)
    for leaked in (ACCOUNT, ACCOUNT.upper(), TOKEN, "bybit-key-1234567", "bybit-secret-7654321", BOT_TOKEN):
        assert leaked not in r.output
    assert res["completed"] == list(setup.STEP_IDS) and res["state_file_removed"] is True
    assert res["toolchain"]["tools"][0]["name"] == "python"
    assert res["steps"]["workers"]["enabled"] == ["hoox", "trade-worker", "telegram-worker", "d1-worker"]
    assert res["database"]["applied"] == ALL_MIGRATIONS
    assert res["steps"]["exchanges"]["written"] == ["BYBIT_API_KEY", "BYBIT_API_SECRET"]
    assert res["steps"]["telegram"]["written"] == ["TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "TELEGRAM_WEBHOOK_SECRET"]
    assert res["steps"]["ai"] == {"done": True, "written": []} and res["steps"]["strategy"]["done"] is False
    assert "hoox deploy all --auto" in res["next"]

    assert fresh.enabled_workers() == ["hoox", "trade-worker", "telegram-worker", "d1-worker"]
    cfg = fresh.config()
    assert cfg["cloudflare"]["account_id"] == ACCOUNT and cfg["cloudflare"]["subdomain"] == "alpha"
    sec = fresh.secrets()
    assert sec["CLOUDFLARE_API_TOKEN"] == TOKEN and sec["BYBIT_API_SECRET"] == "bybit-secret-7654321"
    assert sec["TELEGRAM_WEBHOOK_SECRET"] and all(sec[n] for n in GENERATED_SECRETS)
    assert fresh.d1_file(catalog.TRADE_DB).exists()
    assert not (fresh.hoox_dir / setup.STATE_FILE).exists()


def test_init_no_input_names_the_missing_flag(fresh: Workspace) -> None:
    r = hoox("init", "--no-input", "--json")
    assert r.exit_code == 2
    err = out(r)["error"]
    assert err["code"] == "ANSWER_REQUIRED" and "--skip-cloudflare" in err["message"]
    r = hoox("init", "--no-input", "--skip-cloudflare", "--json")
    assert r.exit_code == 2 and "--workers" in out(r)["error"]["message"]
    r = hoox("init", "--no-input", "--skip-cloudflare", "--workers", "trade-worker", "--json")
    assert r.exit_code == 2 and "--skip-secrets" in out(r)["error"]["message"]
    # the steps answered so far are kept: the next run resumes at the exchange keys
    state = state_of(fresh)
    assert state["step"] == "exchanges" and state["done"] == ["workers"]  # Cloudflare was skipped
    assert TOKEN not in json.dumps(state)
    r = hoox("init", "--no-input", "--skip-secrets", "--json")
    assert r.exit_code == 0, r.output
    assert out(r)["resumed_from"] == "exchanges"
    assert fresh.enabled_workers() == ["hoox", "trade-worker"]


def test_init_interactive_interrupted_then_resumed(fresh: Workspace) -> None:
    # account id typed wrong once, token hidden, no subdomain; then the input ends at the workers step
    answers = "y\nnot-an-id\n" + ACCOUNT + "\n" + TOKEN + "\n\n"
    r = hoox("init", input=answers)
    assert r.exit_code != 0
    assert "32 hexadecimal" in r.stdout and TOKEN not in r.output
    state = state_of(fresh)
    assert state["step"] == "workers" and state["done"] == ["cloudflare"]
    assert fresh.secrets()["CLOUDFLARE_API_TOKEN"] == TOKEN

    # resumed: not asked about Cloudflare again; disable email... answer each worker, then no optional secrets
    from hoox_edge import catalog

    others = [w for w in catalog.WORKERS if w.name != "hoox"]
    worker_answers = "".join("n\n" if w.name == "agent-worker" else "y\n" for w in others)
    r = hoox("init", input=worker_answers + "n\n" * 10)
    assert r.exit_code == 0, r.output
    assert "Resuming the setup wizard at workers" in r.stdout and "Cloudflare account id" not in r.stdout
    assert "agent-worker" not in fresh.enabled_workers() and "report-worker" in fresh.enabled_workers()
    assert not (fresh.hoox_dir / setup.STATE_FILE).exists()


def test_init_refuses_to_disable_the_gateway_and_unknown_workers(fresh: Workspace) -> None:
    r = hoox("init", "--yes", "--skip-cloudflare", "--disable", "hoox", "--json")
    assert r.exit_code == 2 and out(r)["error"]["code"] == "INVALID_VALUE"
    r = hoox("init", "--yes", "--skip-cloudflare", "--enable", "nope-worker", "--json")
    assert r.exit_code == 2 and "known workers" in out(r)["error"]["message"]


# ----------------------------------------------------------------------------- clone
def test_clone_creates_a_workspace_and_refuses_a_non_empty_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HOOX_WORKSPACE", raising=False)
    r = hoox("clone", "desk2", "--json")
    assert r.exit_code == 0, r.output
    res = out(r)
    ws = Workspace(tmp_path / "desk2")
    assert ws.exists and res["migrations_applied"] == ALL_MIGRATIONS
    assert all(ws.secrets()[n] for n in GENERATED_SECRETS)
    for v in ws.secrets().values():
        assert v not in r.output

    r = hoox("clone", "desk2", "--json")
    assert r.exit_code == 1 and out(r)["error"]["code"] == "TARGET_NOT_EMPTY"

    # from a template: its config, fresh secrets
    (tmp_path / "desk2" / "hoox.toml").write_text((tmp_path / "desk2" / "hoox.toml").read_text()
                                                  .replace("port = 8787", "port = 9100"))
    r = hoox("clone", "desk3", "--from", "desk2", "--json")
    assert r.exit_code == 0, r.output
    ws3 = Workspace(tmp_path / "desk3")
    assert ws3.base_port() == 9100 and ws3.secrets()["WEBHOOK_API_KEY"] != ws.secrets()["WEBHOOK_API_KEY"]


# ----------------------------------------------------------------------------- check
def test_check_prerequisites_probes_real_tools(ws: Workspace, tmp_path: Path, monkeypatch) -> None:
    r = hoox("check", "prerequisites", "--json")
    assert r.exit_code == 0, r.output
    tools = {t["name"]: t for t in out(r)["tools"]}
    assert list(tools) == ["python", "node", "wrangler", "git"]
    assert tools["python"]["ok"] and tools["python"]["version"].startswith("3.")
    assert tools["wrangler"]["ok"] and tools["wrangler"]["version"].startswith("4.")
    # an optional tool that is missing is reported with its fix, without failing the check
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOOX_WRANGLER", str(tmp_path / "no-wrangler"))
    r = hoox("check", "prerequisites", "--json")
    tools = {t["name"]: t for t in out(r)["tools"]}
    assert r.exit_code == 0 and out(r)["ok"] is True
    assert not tools["git"]["found"] and tools["git"]["fix"] == "Install git."
    assert not tools["wrangler"]["ok"]


def test_check_setup_fails_with_fixes_then_passes(ws: Workspace) -> None:
    r = hoox("check", "setup", "--json")
    assert r.exit_code == 1
    checks = {c["name"]: c for c in out(r)["checks"]}
    assert not checks["ledger"]["ok"] and checks["ledger"]["fix"].startswith("`hoox repair db`")
    assert checks["ledger"]["repair"] == "db"
    assert hoox("db", "apply").exit_code == 0
    lines = [ln for ln in ws.dev_vars_path.read_text().splitlines() if not ln.startswith("OPERATOR_API_KEY=")]
    ws.dev_vars_path.write_text("\n".join(lines) + "\n")
    ws.manifest_path.write_text(json.dumps({"trade:kill_switch": "maybe"}))
    checks = {c["name"]: c for c in out(hoox("check", "setup", "--json"))["checks"]}
    assert not checks["secrets"]["ok"] and "hoox repair secrets" in checks["secrets"]["fix"]
    assert not checks["kv-manifest"]["ok"] and "trade:kill_switch" in checks["kv-manifest"]["detail"]
    assert checks["kv-manifest"]["repair"] is None  # a person decides what the manifest says
    assert checks["ledger"]["ok"] and checks["config"]["ok"]
    assert hoox("repair", "secrets").exit_code == 0
    ws.manifest_path.write_text(json.dumps({"trade:kill_switch": False}))
    r = hoox("check", "setup")
    assert r.exit_code == 0, r.output
    assert "The workspace is set up" in r.stdout
    # `repair check` is the same report
    assert out(hoox("repair", "check", "--json"))["checks"] == out(hoox("check", "setup", "--json"))["checks"]


# ----------------------------------------------------------------------------- config show / set
def test_config_set_keeps_comments_and_order_and_checks_types(ws: Workspace) -> None:
    text = ws.config_path.read_text().replace("[workers.hoox]", "# my note about workers\n[workers.hoox]")
    ws.config_path.write_text(text)
    r = hoox("config", "set", "workers.email-worker.enabled", "true", "--json")
    assert r.exit_code == 0, r.output
    assert out(r) | {"workspace": None, "file": None} == {
        "workspace": None, "file": None, "key": "workers.email-worker.enabled", "value": True, "previous": False,
        "restart_needed": False}
    new = ws.config_path.read_text()
    assert new.replace("[workers.email-worker]\nenabled = true", "[workers.email-worker]\nenabled = false") == text
    assert "email-worker" in ws.enabled_workers()

    for key, value, code in [("dev.port", "80", "INVALID_VALUE"), ("workers.trade-worker.enabled", "maybe",
                             "INVALID_VALUE"), ("workers.hoox.enabled", "false", "INVALID_VALUE"),
                             ("dev.prot", "9000", "UNKNOWN_KEY"), ("cloudflare.account_id", "xyz", "INVALID_VALUE")]:
        r = hoox("config", "set", key, value, "--json")
        assert r.exit_code == 1 and out(r)["error"]["code"] == code, key
    assert ws.config_path.read_text() == new  # nothing written

    assert hoox("config", "set", "dev.port", "9200").exit_code == 0
    assert ws.base_port() == 9200
    assert hoox("config", "set", "cloudflare.account_id", ACCOUNT).exit_code == 0
    shown = out(hoox("config", "show", "--json"))
    assert shown["config"]["dev"]["port"] == 9200 and shown["config"]["cloudflare"]["account_id"] == "***"
    assert {w["name"]: w["enabled"] for w in shown["workers"]}["email-worker"] is True
    assert out(hoox("config", "show", "dev.port", "--json"))["value"] == 9200
    r = hoox("config", "show")
    assert "email-worker" in r.stdout and ACCOUNT not in r.stdout
    assert hoox("config", "set", "extra.thing", "[1, 2]", "--force").exit_code == 0
    assert ws.config()["extra"]["thing"] == [1, 2]


# ----------------------------------------------------------------------------- config env
def test_env_show_validate_and_generate_dev_vars(ws: Workspace) -> None:
    ws.set_secret("BYBIT_API_KEY", "bybit-key-abcdef")
    r = hoox("config", "env", "show", "--json")
    assert r.exit_code == 0
    variables = {v["name"]: v for v in out(r)["variables"]}
    # trade-worker places orders with it; agent-worker reads live balances and positions
    assert variables["BYBIT_API_KEY"] == {"name": "BYBIT_API_KEY", "workers": ["trade-worker", "agent-worker"],
                                          "enabled_workers": ["trade-worker", "agent-worker"], "required": False,
                                          "set": True, "value": "***"}
    assert variables["WEBHOOK_API_KEY"]["required"] is True
    assert "bybit-key-abcdef" not in r.output and ws.secrets()["WEBHOOK_API_KEY"] not in r.output

    r = hoox("config", "env", "validate", "--json")
    assert r.exit_code == 1
    problems = out(r)["problems"]
    assert [p["name"] for p in problems] == ["BYBIT_API_SECRET"] and problems[0]["fix"] == "hoox secrets set " \
        "BYBIT_API_SECRET"
    ws.set_secret("BYBIT_API_SECRET", "bybit-secret-abcdef")
    ws.set_secret("BYBT_TYPO", "whatever-value")
    r = hoox("config", "env", "validate", "--json")
    assert r.exit_code == 0 and out(r)["valid"] is True
    assert [w["name"] for w in out(r)["warnings"]] == ["BYBT_TYPO"]

    r = hoox("config", "env", "generate-dev-vars", "--json")
    assert r.exit_code == 0, r.output
    files = {f["worker"]: f for f in out(r)["files"]}
    assert set(files) == set(ws.enabled_workers())
    trade = Path(files["trade-worker"]["path"])
    assert trade == ws.root / ".hoox" / "dev-vars" / "trade-worker" / ".dev.vars"
    lines = dict(ln.split("=", 1) for ln in trade.read_text().splitlines() if not ln.startswith("#"))
    assert set(lines) == {"INTERNAL_KEY_BINDING", "BYBIT_API_KEY", "BYBIT_API_SECRET"}
    assert lines["BYBIT_API_SECRET"] == "bybit-secret-abcdef"
    gw = Path(files["hoox"]["path"]).read_text()
    assert "BYBIT" not in gw and "OPERATOR_API_KEY=" in gw
    assert stat.S_IMODE(os.stat(trade).st_mode) == 0o600


def test_env_init_sets_secrets_from_a_file_or_hidden_prompts(ws: Workspace, tmp_path: Path) -> None:
    bad = tmp_path / "bad.env"
    bad.write_text("BYBIT_API_KEY=k1234567\nNOPE_KEY=zzz\n")
    r = hoox("config", "env", "init", "--secrets-file", str(bad), "--json")
    assert r.exit_code == 2 and out(r)["error"]["code"] == "UNKNOWN_SECRET"
    assert "BYBIT_API_KEY" not in ws.secrets()  # nothing written
    # interactive: no to the gateway's (MAILGUN_SIGNING_KEY), yes to trade-worker's, type two, skip the rest
    answers = "n\ny\nkey-typed-123456\nsecret-typed-654321\n" + "\n" * 4 + "n\n" * 5
    r = hoox("config", "env", "init", input=answers)
    assert r.exit_code == 0, r.output
    assert ws.secrets()["BYBIT_API_KEY"] == "key-typed-123456"
    assert ws.secrets()["BYBIT_API_SECRET"] == "secret-typed-654321"
    assert "key-typed-123456" not in r.output and "secret-typed-654321" not in r.output


# ----------------------------------------------------------------------------- kv apply-manifest
def test_kv_apply_manifest_validates_everything_first(ws: Workspace) -> None:
    manifest = settings.defaults() | {"webhooks:rate_limit_per_minute": 25}
    ws.manifest_path.write_text(json.dumps(manifest | {"trade:kill_switch": "sometimes", "trade:mode": "yolo"}))
    r = hoox("config", "kv", "apply-manifest", "--json")
    assert r.exit_code == 1
    err = out(r)["error"]
    assert err["code"] == "INVALID_MANIFEST" and len(err["details"]["problems"]) == 2
    assert kv_raw(ws, "webhooks:rate_limit_per_minute") is None  # nothing written

    ws.manifest_path.write_text(json.dumps(manifest))
    assert hoox("config", "kv", "set", "trade:kill_switch", "true").exit_code == 0
    r = hoox("config", "kv", "apply-manifest", "--json")
    assert r.exit_code == 0, r.output
    res = out(r)
    assert kv_raw(ws, "webhooks:rate_limit_per_minute") == "25"
    assert kv_raw(ws, "trade:kill_switch") == "true"  # a value you set is kept without --overwrite
    assert [k["key"] for k in res["kept"]] == ["trade:kill_switch"]
    r = hoox("config", "kv", "apply-manifest", "--overwrite", "--json")
    assert kv_raw(ws, "trade:kill_switch") == "false"
    assert [w["key"] for w in out(r)["written"]] == ["trade:kill_switch"]
    assert len(out(r)["unchanged"]) == len([v for v in manifest.values() if v is not None]) - 1


def test_wranglers_version_is_read_from_its_package_as_it_prints_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe reads an npm-installed wrangler's version instead of starting it: it must be the one
    `wrangler --version` prints; a wrangler outside an npm package is still run for it."""
    from hoox_cli.core import tools
    from hoox_cli.core.wrangler_cli import find_wrangler

    monkeypatch.delenv("HOOX_WRANGLER", raising=False)
    wrangler = tools.TOOLS[2]
    printed = subprocess.run([str(find_wrangler(None)), "--version"], capture_output=True, text=True,
                             timeout=60).stdout
    probe = tools.probe_tool(wrangler)
    assert probe["ok"] and probe["version"] and probe["version"] in printed
    script = tmp_path / "bin" / "wrangler"  # a bin/ folder with no package.json next to it
    script.parent.mkdir()
    script.write_text("#!/bin/sh\necho ' wrangler 3.9.1'\n")
    script.chmod(0o755)
    monkeypatch.setenv("HOOX_WRANGLER", str(script))
    probe = tools.probe_tool(wrangler)
    assert probe["found"] and probe["version"] == "3.9.1" and not probe["ok"]
    assert probe["error"] == "wrangler 3.9.1 is older than 4.0"
