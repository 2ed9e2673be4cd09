"""The `--remote` paths of `hoox secrets` and `hoox db`, with the real wrangler pointed at a loopback fake
of the Cloudflare API (CLOUDFLARE_API_BASE_URL), and `hoox secrets check` locally."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from cli_support import as_json as out_of
from cli_support import enable_only, hoox
from fake_cloudflare import FakeCloudflare, start_fake
from hoox_edge import catalog, migrations
from hoox_edge.local.workspace import Workspace

from hoox_cli.core import deploy, wrangler_cli

SECRET = "sk-live-9f8e7d6c5b4a39281706"


@pytest.fixture
def fake(ws: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    f = start_fake(monkeypatch, tmp_path / "home")
    yield f
    f.stop()


@pytest.fixture
def argv_log(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """Every command line wrangler_cli starts (to prove secret values never appear on one)."""
    seen: list[tuple[str, ...]] = []
    real = asyncio.create_subprocess_exec

    async def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(tuple(str(a) for a in args))
        return await real(*args, **kwargs)

    monkeypatch.setattr(wrangler_cli.asyncio, "create_subprocess_exec", spy)
    return seen


# --------------------------------------------------------------------------- secrets
def test_secrets_set_remote_sends_the_value_on_stdin_to_every_enabled_owner(
        ws: Workspace, fake: FakeCloudflare, argv_log: list) -> None:
    res = hoox("secrets", "set", "BYBIT_API_SECRET", "--remote", "--json", input=SECRET + "\n")
    assert res.exit_code == 0, res.stdout
    out = out_of(res)
    # trade-worker places orders with it; agent-worker reads live balances and positions
    assert out["remote"] is True and out["set_on"] == ["trade-worker", "agent-worker"] and out["failed"] == []
    for owner in ("trade-worker", "agent-worker"):
        assert fake.state.secrets[owner]["BYBIT_API_SECRET"] == SECRET
        (put,) = fake.calls("PUT", rf"/workers/scripts/{owner}/secrets$")
        assert put.json() == {"name": "BYBIT_API_SECRET", "text": SECRET, "type": "secret_text"}
    assert SECRET not in fake.all_text()  # only in the request body
    assert argv_log and all(SECRET not in " ".join(a) for a in argv_log)
    assert any(a[1:4] == ("secret", "put", "BYBIT_API_SECRET") for a in argv_log)
    assert SECRET not in res.stdout
    assert "BYBIT_API_SECRET" not in ws.secrets()  # --remote leaves .dev.vars alone


@pytest.mark.heavy
def test_secrets_set_remote_to_a_shared_secret_and_one_worker(ws: Workspace, fake: FakeCloudflare) -> None:
    enable_only(ws, ["hoox", "trade-worker", "d1-worker", "email-worker"])
    out = out_of(hoox("secrets", "set", "INTERNAL_KEY_BINDING", "--remote", "--json", input=SECRET))
    assert out["set_on"] == [w for w in ws.enabled_workers() if "INTERNAL_KEY_BINDING" in catalog.worker(w).secrets]
    out = out_of(hoox("secrets", "set", "INTERNAL_KEY_BINDING", "--remote", "-w", "hoox", "--json", input="x" * 40))
    assert out["set_on"] == ["hoox"]
    assert fake.state.secrets["hoox"]["INTERNAL_KEY_BINDING"] == "x" * 40


def test_secrets_set_remote_reports_a_wrangler_failure(ws: Workspace, fake: FakeCloudflare) -> None:
    fake.fail_next[r"/workers/scripts/trade-worker/secrets$"] = 500
    res = hoox("secrets", "set", "MEXC_API_KEY", "--remote", "--json", input=SECRET)
    assert res.exit_code == 1
    out = out_of(res)
    assert out["set_on"] == ["agent-worker"] and [f["worker"] for f in out["failed"]] == ["trade-worker"]
    assert SECRET not in res.stdout


def test_secrets_check_locally(ws: Workspace) -> None:
    res = hoox("secrets", "check", "--json")
    assert res.exit_code == 0, res.stdout
    out = out_of(res)
    assert out["target"] == "local" and out["ok"] is True
    rows = {r["worker"]: r for r in out["workers"]}
    assert set(rows) == set(ws.enabled_workers())
    assert rows["hoox"]["required"] == {"WEBHOOK_API_KEY": True, "INTERNAL_KEY_BINDING": True,
                                        "OPERATOR_API_KEY": True}
    assert rows["trade-worker"]["exchanges"] == {"bybit": False, "binance": False, "mexc": False}
    ws.set_secret("BYBIT_API_KEY", "k" * 20)
    ws.set_secret("BYBIT_API_SECRET", "s" * 20)
    rows = {r["worker"]: r for r in out_of(hoox("secrets", "check", "--json"))["workers"]}
    assert rows["trade-worker"]["exchanges"]["bybit"] is True
    assert rows["trade-worker"]["optional"]["BYBIT_API_KEY"] is True
    # a required secret missing: named, and a non-zero exit
    lines = [ln for ln in ws.dev_vars_path.read_text().splitlines() if not ln.startswith("OPERATOR_API_KEY=")]
    ws.dev_vars_path.write_text("\n".join(lines) + "\n")
    res = hoox("secrets", "check", "--json")
    assert res.exit_code == 1
    out = out_of(res)
    assert out["ok"] is False
    assert {r["worker"]: r["missing"] for r in out["workers"]}["hoox"] == ["OPERATOR_API_KEY"]
    assert "k" * 20 not in res.stdout
    assert "email-worker" in {r["worker"] for r in out_of(hoox("secrets", "check", "--all", "--json"))["workers"]}


def test_half_an_exchange_key_pair_is_one_problem_everywhere_and_secrets_delete_removes_it(ws: Workspace) -> None:
    ws.set_secret("BYBIT_API_KEY", "k" * 20)
    res = hoox("secrets", "check", "--json")
    assert res.exit_code == 1  # not "Every required secret is set"
    rows = {r["worker"]: r for r in out_of(res)["workers"]}
    assert rows["trade-worker"]["incomplete"] == [{"name": "BYBIT_API_KEY", "missing": "BYBIT_API_SECRET"}]
    human = hoox("secrets", "check")
    assert "BYBIT_API_SECRET" in human.output and "Every required secret is set" not in human.output
    problems = out_of(hoox("config", "env", "validate", "--json"))["problems"]
    assert [p["name"] for p in problems] == ["BYBIT_API_SECRET"]

    res = hoox("secrets", "delete", "BYBIT_API_KEY", "--json")
    assert res.exit_code == 0 and out_of(res)["deleted"] is True
    assert "BYBIT_API_KEY" not in ws.secrets() and "WEBHOOK_API_KEY" in ws.secrets()  # the others are kept
    assert hoox("secrets", "check", "--json").exit_code == 0
    assert out_of(hoox("secrets", "delete", "BYBIT_API_KEY", "--json"))["deleted"] is False


@pytest.mark.heavy
def test_secrets_check_remote(ws: Workspace, fake: FakeCloudflare) -> None:
    enable_only(ws, ["hoox", "trade-worker", "d1-worker"])  # fewer wrangler runs; the rule is the same
    for w in ws.enabled_workers():
        for s in catalog.worker(w).secrets:
            fake.state.secrets.setdefault(w, {})[s] = "v" * 12
    del fake.state.secrets["hoox"]["OPERATOR_API_KEY"]
    res = hoox("secrets", "check", "--remote", "--json")
    assert res.exit_code == 1, res.stdout
    rows = {r["worker"]: r for r in out_of(res)["workers"]}
    assert rows["hoox"]["missing"] == ["OPERATOR_API_KEY"]
    assert rows["trade-worker"]["missing"] == [] and "error" not in rows["trade-worker"]
    del fake.state.secrets["d1-worker"]  # not deployed: wrangler's error is shown
    rows = {r["worker"]: r for r in out_of(hoox("secrets", "check", "--remote", "--json"))["workers"]}
    assert rows["d1-worker"]["error"] == 'Worker "d1-worker" not found.'


# --------------------------------------------------------------------------- db --remote
def test_db_apply_remote_runs_wrangler_migrations_against_the_recorded_database(
        ws: Workspace, fake: FakeCloudflare) -> None:
    res = hoox("db", "apply", "--remote", "--json")
    assert out_of(res)["error"]["code"] == "NO_DATABASE"
    fake.state.d1["db-uuid"] = {"name": catalog.TRADE_DB, "queries": []}
    deploy.record_resource(ws, "d1", catalog.TRADE_DB, "db-uuid")
    res = hoox("db", "apply", "--remote", "--json")
    assert res.exit_code == 0, res.stdout
    out = out_of(res)
    names = [m.name for m in migrations.available()]
    assert out["applied"] == names and out["remote"] is True
    sqls = [q["sql"] for q in fake.state.d1["db-uuid"]["queries"]]
    assert any("d1_migrations" in s for s in sqls)
    assert any("CREATE TABLE trade_signals" in s for s in sqls)
    assert fake.shape_errors == []


def test_db_query_and_list_remote_use_the_d1_api_with_bound_params(ws: Workspace, fake: FakeCloudflare) -> None:
    fake.state.d1["db-uuid"] = {"name": catalog.TRADE_DB, "queries": [],
                                "answer": [{"symbol": "BTCUSDT", "n": 2}]}
    deploy.record_resource(ws, "d1", catalog.TRADE_DB, "db-uuid")
    res = hoox("db", "query", "SELECT symbol, COUNT(*) AS n FROM trades WHERE exchange = ? GROUP BY symbol",
               "-p", "bybit", "--remote", "--json")
    assert res.exit_code == 0, res.stdout
    out = out_of(res)
    assert out["rows"] == [{"symbol": "BTCUSDT", "n": 2}] and out["columns"] == ["symbol", "n"]
    assert out["read_only"] is True and out["remote"] is True
    (q,) = fake.state.d1["db-uuid"]["queries"]
    assert q == {"sql": "SELECT symbol, COUNT(*) AS n FROM trades WHERE exchange = ? GROUP BY symbol;",
                 "params": ["bybit"]}
    res = hoox("db", "query", "DELETE FROM trades", "--remote", "--json")
    assert res.exit_code == 1 and out_of(res)["error"]["code"] == "READ_ONLY"
    assert len(fake.state.d1["db-uuid"]["queries"]) == 1  # refused before anything was sent
    assert hoox("db", "query", "DELETE FROM trades", "--remote", "--write", "--json").exit_code == 0
    fake.state.d1["db-uuid"]["answer"] = lambda sql: [{"name": "trades"}] if "sqlite_master" in sql else [{"n": 2}]
    out = out_of(hoox("db", "list", "--remote", "--json"))
    assert out["tables"] == [{"name": "trades", "rows": 2}]
    assert fake.shape_errors == []
