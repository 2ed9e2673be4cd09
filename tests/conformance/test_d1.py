"""D1 port: statements, result shapes, errors, atomic batches, read-only access, persistence."""

from __future__ import annotations

import pytest
from hoox_edge.ports import D1Error

SCHEMA = """
CREATE TABLE trades (id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT UNIQUE NOT NULL,
                     symbol TEXT NOT NULL, qty REAL NOT NULL);
CREATE TABLE balances (asset TEXT PRIMARY KEY, amount REAL NOT NULL);
"""


@pytest.fixture
async def db(adapters):
    database = adapters.d1("ledger")
    result = await database.exec(SCHEMA)
    assert result["count"] == 2
    return database


async def test_run_reports_the_write(db):
    res = await db.prepare("INSERT INTO trades (request_id, symbol, qty) VALUES (?, ?, ?)").bind(
        "r1", "BTCUSDT", 0.5).run()
    assert res["success"] is True
    assert res["results"] == []
    meta = res["meta"]
    assert meta["changes"] == 1 and meta["last_row_id"] == 1
    assert meta["rows_written"] >= 1 and meta["changed_db"] is True
    assert isinstance(meta["duration"], float)


async def test_all_first_raw_and_numbered_parameters(db):
    for i, sym in enumerate(("BTCUSDT", "ETHUSDT")):
        await db.prepare("INSERT INTO trades (request_id, symbol, qty) VALUES (?1, ?2, ?3)").bind(
            f"r{i}", sym, i + 1.5).run()
    res = await db.prepare("SELECT request_id, symbol, qty FROM trades ORDER BY id").all()
    assert res["results"] == [{"request_id": "r0", "symbol": "BTCUSDT", "qty": 1.5},
                              {"request_id": "r1", "symbol": "ETHUSDT", "qty": 2.5}]
    assert res["meta"]["changed_db"] is False and res["meta"]["rows_read"] >= 2
    stmt = db.prepare("SELECT symbol FROM trades WHERE request_id = ?")
    assert await stmt.bind("r1").first() == {"symbol": "ETHUSDT"}
    assert await stmt.bind("r1").first("symbol") == "ETHUSDT"
    assert await stmt.bind("nope").first() is None
    raw = await db.prepare("SELECT request_id, qty FROM trades ORDER BY id").raw()
    assert raw == [["r0", 1.5], ["r1", 2.5]]
    # bind returns a new statement: the prepared one is reusable
    assert await stmt.bind("r0").first("symbol") == "BTCUSDT"


async def test_errors_carry_the_database_message(db):
    with pytest.raises(D1Error, match="no such table"):
        await db.prepare("SELECT * FROM nowhere").all()
    await db.prepare("INSERT INTO trades (request_id, symbol, qty) VALUES ('r', 'BTCUSDT', 1)").run()
    with pytest.raises(D1Error, match="UNIQUE constraint failed"):
        await db.prepare("INSERT INTO trades (request_id, symbol, qty) VALUES ('r', 'BTCUSDT', 1)").run()
    with pytest.raises(D1Error):
        await db.prepare("SELEC nonsense").all()
    with pytest.raises(D1Error, match="not supported"):
        await db.prepare("SELECT ?").bind({"a": 1}).all()


async def test_exec_runs_statements_written_over_several_lines(adapters):
    database = adapters.d1("ledger")
    script = """
    -- a comment; with a semicolon
    CREATE TABLE notes (id INTEGER PRIMARY KEY,
                        body TEXT NOT NULL DEFAULT 'a;b
    c');
    CREATE TABLE audit (n INTEGER);
    /* a block comment;
       over lines */
    CREATE TRIGGER notes_audit AFTER INSERT ON notes BEGIN
        INSERT INTO audit (n) VALUES (NEW.id);
        INSERT INTO audit (n) VALUES (NEW.id * 10);
    END;
    INSERT INTO notes (id) VALUES (1)
    """
    assert (await database.exec(script))["count"] == 4
    assert await database.prepare("SELECT body FROM notes").first("body") == "a;b\n    c"
    assert (await database.prepare("SELECT n FROM audit ORDER BY n").raw()) == [[1], [10]]
    assert isinstance((await database.exec("SELECT 1"))["duration"], float)


async def test_numbers_and_blobs_keep_their_sqlite_types(db):
    await db.exec("CREATE TABLE kinds (i INTEGER, r REAL, f DOUBLE PRECISION, b BLOB, t TEXT)")
    await db.prepare("INSERT INTO kinds VALUES (?, ?, ?, ?, ?)").bind(2, 2.0, 3, b"\x00\x01\xff", "2").run()
    row = await db.prepare("SELECT i, r, f, b, t FROM kinds").first()
    assert row == {"i": 2, "r": 2.0, "f": 3.0, "b": b"\x00\x01\xff", "t": "2"}
    assert [type(v) for v in row.values()] == [int, float, float, bytes, str]
    [raw] = await db.prepare("SELECT i, r, b FROM kinds").raw()
    assert [type(v) for v in raw] == [int, float, bytes]
    assert type(await db.prepare("SELECT r FROM kinds").first("r")) is float
    [res] = await db.batch([db.prepare("SELECT qty FROM trades UNION ALL SELECT r FROM kinds")])
    assert res["results"] == [{"qty": 2.0}] and type(res["results"][0]["qty"]) is float


async def test_batch_is_all_or_nothing(db):
    ok = await db.batch([
        db.prepare("INSERT INTO balances (asset, amount) VALUES (?, ?)").bind("USDT", 100.0),
        db.prepare("SELECT amount FROM balances WHERE asset = ?").bind("USDT"),
    ])
    assert [r["success"] for r in ok] == [True, True]
    assert ok[1]["results"] == [{"amount": 100.0}]

    with pytest.raises(D1Error, match="UNIQUE constraint failed"):
        await db.batch([
            db.prepare("UPDATE balances SET amount = amount - 40 WHERE asset = 'USDT'"),
            db.prepare("INSERT INTO trades (request_id, symbol, qty) VALUES ('x', 'BTCUSDT', 1)"),
            db.prepare("INSERT INTO trades (request_id, symbol, qty) VALUES ('x', 'BTCUSDT', 1)"),
        ])
    assert await db.prepare("SELECT amount FROM balances").first("amount") == 100.0
    assert await db.prepare("SELECT COUNT(*) AS n FROM trades").first("n") == 0
    # the database is usable after the rollback
    await db.prepare("INSERT INTO trades (request_id, symbol, qty) VALUES ('y', 'BTCUSDT', 1)").run()


@pytest.mark.needs("readonly_d1")
async def test_readonly_database_refuses_writes(adapters, db):
    await db.prepare("INSERT INTO balances (asset, amount) VALUES ('USDT', 5)").run()
    ro = adapters.d1("ledger", readonly=True)
    assert (await ro.prepare("SELECT amount FROM balances").all())["results"] == [{"amount": 5.0}]
    for sql in ("DELETE FROM balances", "INSERT INTO balances VALUES ('BTC', 1)", "DROP TABLE balances",
                "ATTACH DATABASE 'other.sqlite' AS other", "PRAGMA query_only = OFF"):
        with pytest.raises(D1Error):
            await ro.prepare(sql).run()
    assert await db.prepare("SELECT COUNT(*) AS n FROM balances").first("n") == 1
    # a write through the writer is visible to the reader
    await db.prepare("INSERT INTO balances (asset, amount) VALUES ('BTC', 1)").run()
    assert await ro.prepare("SELECT COUNT(*) AS n FROM balances").first("n") == 2


@pytest.mark.needs("restart")
async def test_rows_survive_a_restart(adapters, db):
    await db.prepare("INSERT INTO balances (asset, amount) VALUES ('USDT', 7)").run()
    again = adapters.reopen()
    assert await again.d1("ledger").prepare("SELECT amount FROM balances").first("amount") == 7.0
