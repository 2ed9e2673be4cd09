"""`hoox repair check|all|worker|infra|secrets|kv|db|rebuild` against a workspace in a temp folder."""

from __future__ import annotations

import sqlite3

import pytest
from cli_support import as_json as out
from cli_support import hoox, kv_raw
from hoox_edge import catalog
from hoox_edge import migrations as _migrations
from hoox_edge.local.kv import LocalKV
from hoox_edge.local.workspace import GENERATED_SECRETS, Workspace

from hoox_cli.core import audits
from hoox_cli.core.errors import run_async

ALL_MIGRATIONS = [m.name for m in _migrations.available()]


@pytest.fixture
def ws(ws: Workspace) -> Workspace:
    """The shared `ws`, migrated and with the KV manifest applied."""
    assert hoox("db", "apply").exit_code == 0
    assert hoox("config", "kv", "apply-manifest").exit_code == 0
    return ws


def kv_put(ws: Workspace, key: str, value: str | None) -> None:
    kv = LocalKV(ws.kv_file(catalog.CONFIG_KV))
    try:
        run_async(kv.put(key, value) if value is not None else kv.delete(key))
    finally:
        kv.close()


def undo_events_migration(ws: Workspace) -> None:
    """The ledger as if 0002_events.sql (the events table and its triggers) had never run."""
    conn = sqlite3.connect(ws.d1_file(catalog.TRADE_DB))
    conn.execute("DELETE FROM d1_migrations WHERE name = '0002_events.sql'")
    conn.executescript("DROP TRIGGER events_retention; DROP TRIGGER events_alert_insert; "
                       "DROP TRIGGER events_log_insert; DROP TRIGGER events_trade_status; "
                       "DROP TRIGGER events_trade_insert; DROP TABLE events;")
    conn.close()


def checks(r) -> dict[str, dict]:
    return {c["name"]: c for c in out(r)["checks"]}


def test_repair_check_passes_on_a_healthy_workspace(ws: Workspace) -> None:
    r = hoox("repair", "check", "--json")
    assert r.exit_code == 0, r.output
    assert list(checks(r)) == [a.id for a in audits.AUDITS] == [
        "worker-code", "dependencies", "config", "kv-manifest", "secrets", "ledger", "kv", "gitignore"]
    assert all(c["checks"] and c["fix"] is None and c["repair"] is None for c in out(r)["checks"])
    r = hoox("repair", "check")
    assert "PASS secrets" in r.stdout and "The workspace is set up" in r.stdout


def test_each_broken_part_fails_its_step_and_its_repair_fixes_it(ws: Workspace) -> None:
    # break: a generated secret gone, a KV key gone and one invalid, a migration missing
    lines = [ln for ln in ws.dev_vars_path.read_text().splitlines() if not ln.startswith("WEBHOOK_API_KEY=")]
    ws.dev_vars_path.write_text("\n".join(lines) + "\n")
    kv_put(ws, "webhooks:rate_limit_per_minute", None)
    kv_put(ws, "trade:mode", "yolo")
    undo_events_migration(ws)

    r = hoox("repair", "check", "--json")
    assert r.exit_code == 1
    s = checks(r)
    assert not s["secrets"]["ok"] and "hoox repair secrets" in s["secrets"]["fix"]
    assert "0002_events.sql" in s["ledger"]["detail"] and s["ledger"]["repair"] == "db"
    assert "webhooks:rate_limit_per_minute" in s["kv"]["detail"] and "trade:mode" in s["kv"]["detail"]
    assert s["kv"]["repair"] == "kv"
    assert s["worker-code"]["ok"] and s["config"]["ok"]

    other = {n: v for n, v in ws.secrets().items()}
    r = hoox("repair", "secrets", "--json")
    assert r.exit_code == 0 and out(r)["generated"] == ["WEBHOOK_API_KEY"]
    assert ws.secrets()["WEBHOOK_API_KEY"] and all(ws.secrets()[n] == v for n, v in other.items())
    assert ws.secrets()["WEBHOOK_API_KEY"] not in r.output

    r = hoox("repair", "db", "--json")
    assert r.exit_code == 0 and out(r)["migrations_applied"] == ["0002_events.sql"]

    r = hoox("repair", "kv", "--json")
    assert r.exit_code == 0
    assert {w["key"] for w in out(r)["written"]} == {"webhooks:rate_limit_per_minute", "trade:mode"}
    assert out(r)["replaced_invalid"] == ["trade:mode"]
    assert kv_raw(ws, "trade:mode") == "paper" and kv_raw(ws, "webhooks:rate_limit_per_minute") == "10"

    assert hoox("repair", "check").exit_code == 0


def test_repair_infra_recreates_missing_local_resources(ws: Workspace) -> None:
    import shutil

    shutil.rmtree(ws.state_dir)
    r = hoox("repair", "infra", "--json")
    assert r.exit_code == 0, r.output
    res = out(r)
    assert "created the ledger" in res["actions"]
    assert res["ledger"]["migrations_applied"] == ALL_MIGRATIONS
    assert kv_raw(ws, "trade:kill_switch") == "false"
    assert all((ws.state_dir / d).is_dir() for d in ("kv", "d1", "do", "r2"))
    assert out(hoox("repair", "infra", "--json"))["actions"] == []


def test_repair_worker_fixes_locally_and_names_what_it_cannot(ws: Workspace) -> None:
    lines = [ln for ln in ws.dev_vars_path.read_text().splitlines() if not ln.startswith("INTERNAL_KEY_BINDING=")]
    ws.dev_vars_path.write_text("\n".join(lines) + "\n")
    r = hoox("repair", "worker", "trade-worker", "--json")
    assert r.exit_code == 0, r.output
    res = out(r)
    assert res["ok"] and "generated INTERNAL_KEY_BINDING" in res["actions"]
    dev_vars = (ws.root / ".hoox" / "dev-vars" / "trade-worker" / ".dev.vars").read_text()
    assert f"INTERNAL_KEY_BINDING={ws.secrets()['INTERNAL_KEY_BINDING']}" in dev_vars

    r = hoox("repair", "worker", "email-worker", "--json")  # disabled by default
    assert r.exit_code == 1
    assert out(r)["problems"][0]["fix"] == "hoox config set workers.email-worker.enabled true"
    r = hoox("repair", "worker", "nope", "--json")
    assert r.exit_code == 1 and out(r)["error"]["code"] == "UNKNOWN_WORKER"


def test_repair_rebuild_backs_up_asks_and_restores(ws: Workspace) -> None:
    ledger = ws.d1_file(catalog.TRADE_DB)
    conn = sqlite3.connect(ledger)
    conn.execute("INSERT INTO system_logs (created_at, level, worker, message) VALUES "
                 "('2026-01-05T12:00:00.000Z', 'error', 'hoox', 'keep me')")
    conn.commit()
    before = conn.execute("SELECT message FROM system_logs ORDER BY id").fetchall()  # apply-manifest's lines too
    conn.close()
    assert ("keep me",) in before
    kv_put(ws, "trade:kill_switch", "true")
    kv_put(ws, "trade:mode", "yolo")  # invalid: the rebuild puts the default back

    r = hoox("repair", "rebuild", input="n\n")
    assert r.exit_code == 1 and "nothing was changed" in r.stderr
    assert len(list((ws.root / "backups").glob("recovery-pre-rebuild-*.sql"))) == 1  # backup made before asking
    r = hoox("repair", "rebuild", "--json")
    assert r.exit_code == 2 and out(r)["error"]["code"] == "CONFIRMATION_REQUIRED"
    assert kv_raw(ws, "trade:mode") == "yolo"  # not touched

    r = hoox("repair", "rebuild", input="y\n")
    assert r.exit_code == 0, r.output
    assert "Rebuilt the ledger" in r.stdout
    conn = sqlite3.connect(ledger)
    assert conn.execute("SELECT message FROM system_logs ORDER BY id").fetchall() == before
    conn.close()
    assert kv_raw(ws, "trade:kill_switch") == "true" and kv_raw(ws, "trade:mode") == "paper"
    assert all(ws.secrets()[n] for n in GENERATED_SECRETS)
    assert hoox("repair", "check").exit_code == 0


def test_every_audit_with_a_repair_is_fixed_by_repair_then_reported_clean(ws: Workspace) -> None:
    # break what each repair fixes: generated secrets and .gitignore (secrets), a migration (db), CONFIG_KV (kv)
    lines = [ln for ln in ws.dev_vars_path.read_text().splitlines()
             if not ln.startswith(("WEBHOOK_API_KEY=", "OPERATOR_API_KEY="))]
    ws.dev_vars_path.write_text("\n".join(lines) + "\n")
    (ws.root / ".gitignore").write_text("*.pyc\n")
    undo_events_migration(ws)
    kv_put(ws, "webhooks:rate_limit_per_minute", None)
    kv_put(ws, "trade:mode", "yolo")

    r = hoox("check", "setup", "--json")
    assert r.exit_code == 1
    failing = {c["name"]: c["repair"] for c in out(r)["checks"] if not c["ok"]}
    repairable = {a.id: a.repair for a in audits.AUDITS if a.repair}
    assert failing == repairable  # every audit that has a repair was broken, and names it

    r = hoox("repair", "all", "--json")
    assert r.exit_code == 0, r.output
    res = out(r)
    assert [(x["repair"], x["audits"]) for x in res["repaired"]] == [
        ("secrets", ["secrets", "gitignore"]), ("db", ["ledger"]), ("kv", ["kv"])]
    assert res["ok"] and all(c["ok"] for c in res["checks"])
    assert ws.secrets()["WEBHOOK_API_KEY"] not in r.output
    r = hoox("check", "setup")
    assert r.exit_code == 0, r.output
    assert "The workspace is set up" in r.stdout
    assert kv_raw(ws, "trade:mode") == "paper"

    # what only a person can fix has no repair: `repair all` leaves it and says so
    ws.set_secret("BYBIT_API_KEY", "bybit-key-0123456789")
    r = hoox("check", "setup", "--json")
    secrets = {c["name"]: c for c in out(r)["checks"]}["secrets"]
    assert not secrets["ok"] and secrets["repair"] is None and "hoox secrets set BYBIT_API_SECRET" in secrets["fix"]
    r = hoox("repair", "all")
    assert r.exit_code == 1 and "nothing to repair" in r.stdout and "still failing secrets" in r.stdout
