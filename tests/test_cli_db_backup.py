"""`hoox db export|reset|import` and `hoox monitor backup`: dumps that restore exactly."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from pathlib import Path

from cli_support import hoox
from hoox_edge import catalog, migrations
from hoox_edge.local.d1 import LocalD1
from hoox_edge.local.workspace import Workspace


def fill_ledger(ws: Workspace) -> None:
    asyncio.run(_fill_ledger(ws))


async def _fill_ledger(ws: Workspace) -> None:
    """Rows in every kind of table, with values a careless dump would bend."""
    db = LocalD1(ws.d1_file(catalog.TRADE_DB))
    try:
        await migrations.apply(db)
        for i in range(3):
            await db.prepare(
                "INSERT INTO trades (id, request_id, exchange, symbol, action, side, quantity, price, fee, "
                "client_order_id, mode, status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
            ).bind(f"t{i}", f"req-{i}", "bybit", "BTCUSDT", "LONG", "BUY", 0.1 + 0.2 * i, 60000.123456789012 + i,
                   1 / 3, f"c{i}", "paper", "Filled", f"2026-01-05T12:00:0{i}.000Z",
                   f"2026-01-05T12:00:0{i}.000Z").run()
        await db.prepare("UPDATE trades SET status = 'Failed', error = ? WHERE id = 't1'").bind(
            "it's \"quoted\"\nand multi-line ✓").run()
        await db.prepare(
            "INSERT INTO system_logs (created_at, level, worker, request_id, message, details) VALUES (?,?,?,?,?,?)"
        ).bind("2026-01-05T12:00:00.000Z", "error", "hoox", "req-0", "boom; DROP TABLE trades; --",
               json.dumps({"k": [1, 2]})).run()
        await db.prepare("DELETE FROM system_logs").run()  # AUTOINCREMENT must go on at 2, not 1
        await db.prepare(
            "INSERT INTO system_logs (created_at, level, worker, message) VALUES (?,?,?,?)"
        ).bind("2026-01-05T12:00:01.000Z", "info", "trade-worker", "second").run()
        await db.prepare(
            "INSERT INTO positions (exchange, symbol, side, size, entry_price, mode, status, request_id, opened_at, "
            "updated_at) VALUES ('bybit','BTCUSDT','LONG',0.3,60000.5,'paper','OPEN','req-0','t','t')").run()
    finally:
        db.close()


def snapshot(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        out = {n: conn.execute(f'SELECT * FROM "{n}" ORDER BY rowid').fetchall() for n in names}
        out["__schema__"] = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        return out
    finally:
        conn.close()


def test_export_reset_import_round_trip_restores_identical_rows(ws: Workspace) -> None:
    fill_ledger(ws)
    ledger = ws.d1_file(catalog.TRADE_DB)
    before = snapshot(ledger)
    assert len(before["trades"]) == 3 and len(before["events"]) >= 4

    r = hoox("db", "export", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    dump = Path(out["file"])
    assert dump.parent == ws.root / "backups"
    assert re.fullmatch(r"db-backup-\d{4}-\d{2}-\d{2}-\d{6}\.sql", dump.name)
    assert {t["name"]: t["rows"] for t in out["tables"]}["trades"] == 3
    assert out["rows"] == sum(len(before[t["name"]]) for t in out["tables"])
    assert out["restore_command"] == f"hoox db import {dump}"

    r = hoox("db", "reset", "--confirm", "--json")
    assert r.exit_code == 0, r.output
    reset = json.loads(r.stdout)
    assert reset["rows_deleted"] > 0 and Path(reset["backup"]["file"]).is_file()
    assert reset["migrations_applied"] == [m.name for m in migrations.available()]
    assert all(n == 0 for t, n in ((t["name"], t["rows"]) for t in json.loads(
        hoox("db", "list", "--json").stdout)["tables"]) if t != "d1_migrations")

    r = hoox("db", "import", str(dump), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["rows"] == out["rows"]
    after = snapshot(ledger)
    assert after == before  # every row of every table, sqlite_sequence and the schema too

    # the restored ledger keeps working: triggers fire, AUTOINCREMENT goes on where it was
    conn = sqlite3.connect(ledger)
    try:
        events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        conn.execute("INSERT INTO system_logs (created_at, level, worker, message) VALUES "
                     "('2026-01-05T12:00:02.000Z','info','hoox','third')")
        conn.commit()
        assert conn.execute("SELECT MAX(id) FROM system_logs").fetchone()[0] == 3
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == events + 1
    finally:
        conn.close()


def test_the_dump_restores_into_an_empty_database_with_plain_sqlite(ws: Workspace, tmp_path: Path) -> None:
    fill_ledger(ws)
    r = hoox("db", "export", "-o", str(tmp_path / "d.sql"))
    assert r.exit_code == 0, r.output
    assert "hoox db import" in r.stdout
    fresh = tmp_path / "fresh.sqlite"
    conn = sqlite3.connect(fresh)
    conn.executescript((tmp_path / "d.sql").read_text())
    conn.close()
    before = snapshot(ws.d1_file(catalog.TRADE_DB))
    assert snapshot(fresh) == before


def test_reset_refuses_without_confirmation_and_changes_nothing(ws: Workspace) -> None:
    fill_ledger(ws)
    ledger = ws.d1_file(catalog.TRADE_DB)
    before = snapshot(ledger)

    r = hoox("db", "reset", "--json")
    assert r.exit_code == 2
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "CONFIRMATION_REQUIRED" and "--confirm" in err["message"]
    r = hoox("db", "reset", input="n\n")
    assert r.exit_code == 1 and "nothing was changed" in r.stderr
    r = hoox("db", "reset", input="")  # nobody answers
    assert r.exit_code == 2
    r = hoox("--quiet", "db", "reset")  # --quiet never prompts
    assert r.exit_code == 2
    assert snapshot(ledger) == before
    assert not (ws.root / "backups").exists()

    r = hoox("db", "reset", input="y\n")
    assert r.exit_code == 0, r.output
    assert "backups" in r.stdout and "deleted" in r.stdout
    assert len(list((ws.root / "backups").glob("db-backup-*.sql"))) == 1
    assert snapshot(ledger)["trades"] == []


def test_import_refuses_a_ledger_with_data_and_a_broken_dump(ws: Workspace, tmp_path: Path) -> None:
    fill_ledger(ws)
    dump = Path(json.loads(hoox("db", "export", "--json").stdout)["file"])
    r = hoox("db", "import", str(dump), "--json")
    assert r.exit_code == 1
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "IMPORT_FAILED" and "hoox db reset --confirm" in err["message"]

    assert hoox("db", "reset", "--confirm").exit_code == 0
    ledger = ws.d1_file(catalog.TRADE_DB)
    empty = snapshot(ledger)
    broken = tmp_path / "broken.sql"
    broken.write_text(dump.read_text()[: len(dump.read_text()) // 2])  # cut mid-way
    r = hoox("db", "import", str(broken), "--json")
    assert r.exit_code == 1 and json.loads(r.stdout)["error"]["code"] == "IMPORT_FAILED"
    assert snapshot(ledger) == empty  # untouched


def test_monitor_backup_writes_the_same_dump(ws: Workspace) -> None:
    fill_ledger(ws)
    r = hoox("monitor", "backup", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert Path(out["file"]).read_text().count("INSERT INTO \"trades\"") == 3
    assert set(out) == {"workspace", "database", "file", "bytes", "tables", "rows", "unreadable", "restore_command"}
    r = hoox("monitor", "--remote", "http://127.0.0.1:9", "backup", "--json")
    assert r.exit_code == 1 and json.loads(r.stdout)["error"]["code"] == "NOT_AVAILABLE"


def test_export_without_a_ledger_says_how_to_create_it(ws: Workspace) -> None:
    r = hoox("db", "export", "--json")
    assert r.exit_code == 1
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "EXPORT_FAILED" and "hoox db apply" in err["message"]
