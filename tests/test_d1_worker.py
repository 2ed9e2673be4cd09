"""d1-worker: parameterised queries, atomic batches, dashboard figures and the ledger table listings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hoox_edge.shared import clock as clock_mod

W = "d1-worker"


def key(runtime) -> dict[str, str]:
    return {"X-Internal-Auth-Key": runtime.env(W).INTERNAL_KEY_BINDING}


async def call(runtime, method, path, json=None):
    return await runtime.request(W, method, path, json=json, headers=key(runtime))


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/query", {"query": "SELECT 1", "params": []}),
        ("POST", "/batch", {"queries": [{"query": "SELECT 1"}]}),
        ("GET", "/api/dashboard/stats", None),
        ("GET", "/trades", None),
        ("GET", "/no_such_table", None),
    ],
)
async def test_every_route_but_health_needs_the_internal_key(runtime, method, path, body):
    missing = await runtime.request(W, method, path, json=body)
    wrong = await runtime.request(
        W, method, path, json=body, headers={"X-Internal-Auth-Key": "wrong-key-123"}
    )
    assert missing.status == 401 and wrong.status == 401
    assert missing.json()["error"]["code"] == "UNAUTHORIZED"


async def test_health_runs_a_query_without_a_key(runtime):
    r = await runtime.request(W, "GET", "/health")
    assert r.status == 200
    assert r.json()["status"] == "ok" and r.json()["database"] == "ok"


async def test_query_binds_parameters_bare_and_in_the_envelope(runtime):
    ins = await call(
        runtime,
        "POST",
        "/query",
        {
            "requestId": "r-1",
            "query": "INSERT INTO system_logs (created_at, level, worker, request_id, message) VALUES (?,?,?,?,?)",
            "params": [
                "2026-01-01T00:00:00.000Z",
                "info",
                "test",
                "r-1",
                "it's a 'quoted' message; DROP TABLE trades",
            ],
        },
    )
    assert ins.status == 200 and ins.json()["success"] is True
    assert ins.json()["meta"]["changes"] == 1

    sel = await call(
        runtime,
        "POST",
        "/query",
        {
            "requestId": "r-2",
            "payload": {"query": "SELECT message FROM system_logs WHERE request_id = ?", "params": ["r-1"]},
        },
    )
    assert sel.status == 200
    assert sel.json()["results"] == [{"message": "it's a 'quoted' message; DROP TABLE trades"}]
    assert "rows_read" in sel.json()["meta"]


async def test_query_refusals_say_why(runtime):
    bad_sql = await call(runtime, "POST", "/query", {"query": "SELEC oops"})
    assert bad_sql.status == 400 and "syntax error" in bad_sql.json()["error"]["message"]
    no_query = await call(runtime, "POST", "/query", {"params": [1]})
    assert no_query.status == 400 and no_query.json()["error"]["details"][0]["field"] == "query"
    nested = await call(runtime, "POST", "/query", {"query": "SELECT ?", "params": [{"a": 1}]})
    assert nested.status == 400
    [detail] = nested.json()["error"]["details"]
    assert detail["field"] == "params.0" and "string, number, true/false or null" in detail["issue"]
    batch = await call(runtime, "POST", "/batch", {"queries": [{"query": "SELECT 1"}, {"params": [[1]]}]})
    assert batch.status == 400 and batch.json()["error"]["code"] == "VALIDATION_ERROR"
    assert {d["field"] for d in batch.json()["error"]["details"]} == {"queries.1.query", "queries.1.params.0"}
    body = await call(runtime, "POST", "/query", ["SELECT 1"])
    assert body.status == 400 and body.json()["error"]["details"][0]["field"] == "body"


async def test_query_params_are_bound_as_sent(runtime):
    r = await call(runtime, "POST", "/query", {"query": "SELECT typeof(?) AS a, typeof(?) AS b, typeof(?) AS c,"
                                                        " typeof(?) AS d, ? AS e", "params": ["1", 1, 1.5, None, True]})
    assert r.status == 200
    assert r.json()["results"] == [{"a": "text", "b": "integer", "c": "real", "d": "null", "e": 1}]


async def test_batch_is_atomic(runtime):
    insert = (
        "INSERT INTO trade_signals (request_id, payload, status, created_at, updated_at) "
        "VALUES (?, '{}', 'Received', 't', 't')"
    )
    ok = await call(
        runtime,
        "POST",
        "/batch",
        {
            "queries": [
                {"query": insert, "params": ["b-1"]},
                {
                    "query": "UPDATE trade_signals SET status = ? WHERE request_id = ?",
                    "params": ["Filled", "b-1"],
                },
            ]
        },
    )
    assert ok.status == 200
    results = ok.json()["results"]
    assert [r["meta"]["changes"] for r in results] == [1, 1]

    # The second statement breaks the UNIQUE request_id: the first must not stay applied either.
    bad = await call(
        runtime,
        "POST",
        "/batch",
        {
            "requestId": "x",
            "payload": {
                "queries": [
                    {"query": insert, "params": ["b-2"]},
                    {"query": insert, "params": ["b-1"]},
                ]
            },
        },
    )
    assert bad.status == 400
    assert "UNIQUE constraint failed: trade_signals.request_id" in bad.json()["error"]["message"]
    rows = await call(
        runtime, "POST", "/query", {"query": "SELECT request_id, status FROM trade_signals ORDER BY id"}
    )
    assert rows.json()["results"] == [{"request_id": "b-1", "status": "Filled"}]


async def _trade(
    db,
    n: int,
    *,
    created_at: str,
    pnl: float,
    fee: float,
    status: str = "Filled",
    mode: str = "paper",
    symbol: str = "BTCUSDT",
) -> None:
    await (
        db.prepare(
            "INSERT INTO trades (id, request_id, exchange, symbol, action, side, quantity, price, fee, realized_pnl,"
            " client_order_id, mode, status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        )
        .bind(
            f"t-{n}",
            f"req-{n}",
            "bybit",
            symbol,
            "LONG",
            "BUY",
            0.01,
            60000.0,
            fee,
            pnl,
            f"hx{n}",
            mode,
            status,
            created_at,
            created_at,
        )
        .run()
    )


async def _position(db, symbol: str, status: str, mode: str = "paper") -> None:
    await (
        db.prepare(
            "INSERT INTO positions (exchange, symbol, side, size, entry_price, mode, status, request_id, opened_at,"
            " updated_at) VALUES ('bybit', ?, 'LONG', 0.01, 60000, ?, ?, 'r', 't', 't')"
        )
        .bind(symbol, mode, status)
        .run()
    )


async def test_dashboard_stats_are_computed_from_the_ledger(runtime, clock):
    db = runtime.env(W).DB
    now = clock_mod.now()
    midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    today, yesterday = clock_mod.iso(midnight + 1), clock_mod.iso(midnight - 3600)
    await _trade(db, 1, created_at=yesterday, pnl=0.0, fee=0.5)  # opening fill
    await _trade(db, 2, created_at=yesterday, pnl=30.0, fee=0.5)  # win
    await _trade(db, 3, created_at=today, pnl=-10.0, fee=0.25)  # loss
    await _trade(db, 4, created_at=today, pnl=0.0, fee=0.25)  # break-even / opening: not a closing fill
    await _trade(db, 5, created_at=today, pnl=5.0, fee=0.5)  # win
    await _trade(db, 6, created_at=today, pnl=99.0, fee=9.0, status="Rejected")  # moved no money
    await _trade(db, 7, created_at=today, pnl=-40.0, fee=1.0, mode="live")  # live loss
    await _position(db, "BTCUSDT", "OPEN")
    await _position(db, "ETHUSDT", "OPEN", mode="live")
    await _position(db, "SOLUSDT", "CLOSED")

    r = await call(runtime, "GET", "/api/dashboard/stats")
    assert r.status == 200
    s = r.json()["stats"]
    # fills 1,2,3,4,5,7; closing fills 2,3,5,7 of which 2 and 5 won
    assert s["totalTrades"] == 6
    assert (s["winningTrades"], s["closingTrades"]) == (2, 4)
    assert s["winRate"] == 50.0
    assert s["realizedPnlUSDT"] == pytest.approx(30 - 10 + 5 - 40)
    assert s["totalFeesUSDT"] == pytest.approx(0.5 + 0.5 + 0.25 + 0.25 + 0.5 + 1.0)
    assert s["totalPnlUSDT"] == pytest.approx(-15 - 3.0)
    assert s["activePositionsCount"] == 2
    assert s["dailyTradesCount"] == 4  # 3, 4, 5, 7

    paper = (await call(runtime, "GET", "/api/dashboard/stats?mode=paper")).json()["stats"]
    assert paper["totalTrades"] == 5 and paper["winRate"] == pytest.approx(66.67)
    assert paper["activePositionsCount"] == 1 and paper["dailyTradesCount"] == 3


async def test_win_rate_is_null_before_any_closing_fill(runtime):
    s = (await call(runtime, "GET", "/api/dashboard/stats")).json()["stats"]
    assert s["totalTrades"] == 0 and s["winRate"] is None and s["totalPnlUSDT"] == 0


async def test_table_listing_filters_orders_and_limits(runtime, clock):
    db = runtime.env(W).DB
    for n, sym in enumerate(["BTCUSDT", "ETHUSDT", "BTCUSDT", "BTCUSDT"], 1):
        await _trade(
            db,
            n,
            created_at=clock_mod.iso(),
            pnl=0.0,
            fee=0.1,
            symbol=sym,
            status="Rejected" if n == 3 else "Filled",
        )

    r = await call(runtime, "GET", "/trades?symbol=BTCUSDT&status=Filled")
    assert r.status == 200
    assert [row["id"] for row in r.json()["rows"]] == ["t-4", "t-1"]  # newest first

    r = await call(runtime, "GET", "/trades?limit=2&order=asc")
    assert [row["id"] for row in r.json()["rows"]] == ["t-1", "t-2"]
    r = await call(runtime, "GET", "/trades?symbol=ETHUSDT&symbol=BTCUSDT&status=Rejected")
    assert [row["id"] for row in r.json()["rows"]] == ["t-3"]

    # a value is only ever a bound value
    r = await call(runtime, "GET", "/trades?symbol=BTCUSDT'%20OR%20'1'='1")
    assert r.status == 200 and r.json()["rows"] == []


@pytest.mark.parametrize(
    "query",
    ["limit=501", "limit=0", "limit=abc", "order=sideways", "nope=1", "symbol%20%3D%20symbol%20OR%201=1"],
)
async def test_table_listing_refuses_bad_parameters_and_unknown_columns(runtime, query):
    r = await call(runtime, "GET", f"/trades?{query}")
    assert r.status == 400, r.json()
    assert r.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("table", ["d1_migrations", "sqlite_master", "users", "trades;DROP"])
async def test_only_ledger_tables_are_listed(runtime, table):
    r = await call(runtime, "GET", f"/{table}")
    assert r.status == 404
    assert "tables: trades, positions" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "table", ["trades", "positions", "balances", "trade_signals", "system_logs", "alerts"]
)
async def test_each_ledger_table_lists(runtime, table):
    r = await call(runtime, "GET", f"/{table}?limit=500")
    assert r.status == 200 and r.json()["meta"]["table"] == table
