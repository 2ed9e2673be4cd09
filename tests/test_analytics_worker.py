"""analytics-worker: tracked events become data points in the documented layout; /query only reads."""

from __future__ import annotations

import pytest
from hoox_edge.shared import telemetry

W = "analytics-worker"
COLUMNS = "blob1, blob2, blob3, blob4, blob5, blob6, blob7, double1, double2, double3, double4, index1"
# Every worker also records its own requests (blob5 "http", shared/app.py): these tests look at the rest.
TRACKED = "NOT (blob1 = 'api-call' AND blob5 = 'http')"


def key(runtime) -> dict[str, str]:
    return {"X-Internal-Auth-Key": runtime.env(W).INTERNAL_KEY_BINDING}


async def track(runtime, kind: str, payload: dict, rid: str):
    return await runtime.request(
        W,
        "POST",
        f"/track/{kind}",
        json={"requestId": rid, "payload": payload},
        headers={**key(runtime), "X-Request-Id": rid},
    )


async def query(runtime, sql: str, params: list | None = None):
    body = {"query": sql} if params is None else {"query": sql, "params": params}
    return await runtime.request(W, "POST", "/query", json=body, headers=key(runtime))


async def point(runtime, rid: str) -> dict:
    r = await query(runtime, f"SELECT {COLUMNS} FROM hoox_telemetry WHERE index1 = ? AND {TRACKED}",
                    [rid])
    assert r.status == 200, r.json()
    [row] = r.json()["results"]
    return row


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "POST",
            "/track/api-call",
            {"payload": {"worker": "hoox", "endpoint": "/", "latencyMs": 1, "success": True}},
        ),
        ("POST", "/track/nope", {}),
        ("POST", "/query", {"query": "SELECT 1"}),
    ],
)
async def test_internal_routes_need_the_key(runtime, method, path, body):
    assert (await runtime.request(W, method, path, json=body)).status == 401
    assert (
        await runtime.request(W, method, path, json=body, headers={"X-Internal-Auth-Key": "bad"})
    ).status == 401


async def test_health_reports_the_dataset(runtime):
    r = await runtime.request(W, "GET", "/health")
    assert r.status == 200 and r.json()["dataset"] == "hoox_telemetry"


async def test_api_call_layout(runtime):
    r = await track(
        runtime,
        "api-call",
        {"worker": "hoox", "endpoint": "/webhook", "latencyMs": 12.5, "success": False, "status": 503},
        "rid-api",
    )
    assert r.status == 200
    row = await point(runtime, "rid-api")
    assert [row["blob1"], row["blob2"], row["blob3"], row["blob4"]] == [
        "api-call",
        "hoox",
        "/webhook",
        "error",
    ]
    assert [row["double1"], row["double2"], row["double3"]] == [12.5, 503.0, 0.0]


async def test_trade_layout(runtime):
    await track(
        runtime,
        "trade",
        {
            "exchange": "bybit",
            "symbol": "BTCUSDT",
            "side": "BUY",
            "quantity": 0.01,
            "price": 60000.0,
            "fee": 0.33,
            "status": "Filled",
            "mode": "paper",
        },
        "rid-trade",
    )
    row = await point(runtime, "rid-trade")
    assert [row[f"blob{i}"] for i in range(1, 8)] == [
        "trade",
        "trade-worker",
        "bybit",
        "BTCUSDT",
        "BUY",
        "Filled",
        "paper",
    ]
    assert [row["double1"], row["double2"], row["double3"]] == [0.01, 60000.0, 0.33]
    assert row["double4"] == pytest.approx(600.0)


async def test_signal_and_exchange_call_layouts(runtime):
    await track(
        runtime,
        "signal",
        {"exchange": None, "symbol": "ETHUSDT", "action": "SHORT", "outcome": "Enqueued", "quantity": 0.5},
        "rid-signal",
    )
    row = await point(runtime, "rid-signal")
    assert [row[f"blob{i}"] for i in range(1, 7)] == ["signal", "hoox", "", "ETHUSDT", "SHORT", "Enqueued"]
    assert row["double1"] == 0.5

    await track(
        runtime,
        "exchange-call",
        {
            "exchange": "bybit",
            "operation": "place_order",
            "latencyMs": 80,
            "success": False,
            "errorKind": "timeout",
            "mode": "paper",
        },
        "rid-ex",
    )
    row = await point(runtime, "rid-ex")
    assert [row[f"blob{i}"] for i in range(1, 7)] == [
        "exchange-call",
        "trade-worker",
        "bybit",
        "place_order",
        "timeout",
        "paper",
    ]
    assert [row["double1"], row["double2"], row["double3"]] == [80.0, 0.0, 0.0]


async def test_points_aggregate_per_worker(runtime):
    for i, ms in enumerate([10, 20, 30]):
        await track(
            runtime,
            "api-call",
            {"worker": "trade-worker", "endpoint": "/process", "latencyMs": ms, "success": True},
            f"agg-{i}",
        )
    r = await query(
        runtime,
        "SELECT SUM(double1) AS total, COUNT() AS calls FROM hoox_telemetry "
        "WHERE blob1 = 'api-call' AND blob2 = ?",
        ["trade-worker"],
    )
    assert r.json()["results"] == [{"total": 60.0, "calls": 3}]


async def test_unknown_kind_lists_the_kinds(runtime):
    r = await track(runtime, "page-view", {}, "x")
    assert r.status == 404
    assert "api-call, signal, trade, exchange-call" in r.json()["error"]["message"]


async def test_invalid_payload_is_refused_with_details(runtime):
    r = await track(runtime, "api-call", {"worker": "hoox", "latencyMs": -1, "success": True}, "bad")
    assert r.status == 400
    fields = {d["field"] for d in r.json()["error"]["details"]}
    assert {"endpoint", "latencyMs"} <= fields
    counted = await query(runtime, f"SELECT COUNT() AS n FROM hoox_telemetry WHERE {TRACKED}")
    assert counted.json()["results"] == [{"n": 0}]


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM hoox_telemetry",
        "INSERT INTO hoox_telemetry (timestamp) VALUES ('x')",
        "SELECT 1; DROP TABLE hoox_telemetry",
        "PRAGMA table_info(hoox_telemetry)",
        "UPDATE hoox_telemetry SET blob1 = 'x'",
        "ATTACH DATABASE 'x.db' AS x",
        "/* SELECT */ DROP TABLE hoox_telemetry",
    ],
)
async def test_query_refuses_anything_but_one_select(runtime, sql):
    await track(
        runtime, "api-call", {"worker": "hoox", "endpoint": "/", "latencyMs": 1, "success": True}, "keep"
    )
    r = await query(runtime, sql)
    assert r.status == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    assert len((await query(runtime, f"SELECT * FROM hoox_telemetry WHERE {TRACKED}")).json()["results"]) == 1


async def test_query_params_are_literals_not_sql(runtime):
    await track(
        runtime, "api-call", {"worker": "hoox", "endpoint": "/", "latencyMs": 1, "success": True}, "p-1"
    )
    r = await query(runtime, "SELECT blob2 FROM hoox_telemetry WHERE blob2 = ?", ["x' OR '1'='1"])
    assert r.status == 200 and r.json()["results"] == []
    # a semicolon or a keyword inside a quoted literal is data
    r = await query(runtime, f"SELECT blob2 FROM hoox_telemetry WHERE blob3 <> 'a; DROP TABLE x' AND {TRACKED}")
    assert r.status == 200 and r.json()["results"] == [{"blob2": "hoox"}]
    r = await query(runtime, "SELECT blob2 FROM hoox_telemetry WHERE blob2 = ?", [])
    assert r.status == 400 and "1 placeholder" in r.json()["error"]["message"]



@pytest.mark.parametrize(("kind", "event"), [
    ("trade", telemetry.TradeEvent(worker="trade-worker", exchange="bybit", symbol="BTCUSDT", side="BUY",
                                   quantity=0.5, price=65000.5, fee=0.25, status="Filled", mode="paper")),
    ("signal", telemetry.SignalEvent(worker="gateway-worker", exchange="", symbol="BTCUSDT", action="LONG",
                                     outcome="Filled", quantity=None)),
])
def test_a_point_the_worker_built_is_laid_out_as_its_checked_fields(kind: str, event: telemetry.Event) -> None:
    # A worker's own event is not checked field by field again: the same point as its JSON fields give.
    fields = {k: v for k, v in vars(event).items() if v is not None}
    assert telemetry.data_point(kind, event, "r-1") == telemetry.data_point(kind, fields, "r-1")
