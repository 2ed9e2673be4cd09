"""The chart routes of the operator API: `GET /v1/stats/equity` (the equity curve of a book, from its
fills) and `GET /v1/workers/{name}/latency` (a worker's latency history, from the analytics data).

Expected figures are worked out by hand here (the ledger of test_operator_api, whose per-fill equity
is written out there). Time is the fake clock (2026-01-05 12:00:00 UTC)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hoox_edge import catalog
from hoox_edge.shared.app import api_call_point

sys.path.insert(0, str(Path(__file__).parent))
import test_operator_api
from test_operator_api import build_ledger, result, v1

from hoox_cli.core import models

rt = test_operator_api.rt  # the runtime fixture of the operator API's tests


async def test_equity_curve_is_the_cumulative_net_realized_pnl_per_fill(rt):
    await build_ledger(rt)
    c = await result(rt, "GET", "/stats/equity", models.EquityCurve)  # the current book: paper
    assert c["mode"] == "paper" and c["fills"] == 5 and c["closingTrades"] == 2 and c["fillsPerPoint"] == 1
    # per fill: net = realized_pnl - fee; equity -3.3, 93.345, 91.695, 50.023, 49.198 (peak from 0)
    assert [p["t"] for p in c["points"]] == [
        "2026-01-02T10:00:00.000Z", "2026-01-02T15:00:00.000Z", "2026-01-03T09:00:00.000Z",
        "2026-01-03T12:00:00.000Z", "2026-01-05T09:00:00.000Z"]
    assert [p["equity"] for p in c["points"]] == pytest.approx([-3.3, 93.345, 91.695, 50.023, 49.198])
    assert [p["peak"] for p in c["points"]] == pytest.approx([0, 93.345, 93.345, 93.345, 93.345])
    assert [p["drawdown"] for p in c["points"]] == pytest.approx([3.3, 0, 1.65, 43.322, 44.147])
    assert [p["closing"] for p in c["points"]] == [0, 1, 0, 1, 0]
    stats = await result(rt, "GET", "/stats", models.StatsResult)
    # one definition: the curve's deepest drawdown and last point are /v1/stats' figures
    assert c["maxDrawdown"] == pytest.approx(stats["maxDrawdown"]) == pytest.approx(44.147)
    assert c["netRealizedPnl"] == pytest.approx(stats["netRealizedPnl"])

    # since: later points only, the equity carried from the fills before
    c = await result(rt, "GET", "/stats/equity?since=2026-01-03", models.EquityCurve)
    assert [p["equity"] for p in c["points"]] == pytest.approx([91.695, 50.023, 49.198])
    assert c["maxDrawdown"] == pytest.approx(44.147) and c["since"] == "2026-01-03T00:00:00.000Z"

    # at most `points` points: consecutive fills grouped, the deepest drawdown of a group kept
    c = await result(rt, "GET", "/stats/equity?points=2", models.EquityCurve)
    assert c["fillsPerPoint"] == 3 and [p["fills"] for p in c["points"]] == [3, 2]
    assert [p["equity"] for p in c["points"]] == pytest.approx([91.695, 49.198])
    assert [p["drawdown"] for p in c["points"]] == pytest.approx([3.3, 44.147])
    assert [p["t"] for p in c["points"]] == ["2026-01-03T09:00:00.000Z", "2026-01-05T09:00:00.000Z"]

    # the other book has no fill: an empty curve, never a flat line
    live = await result(rt, "GET", "/stats/equity?mode=live", models.EquityCurve)
    assert (live["mode"], live["points"], live["fills"], live["closingTrades"]) == ("live", [], 0, 0)
    assert live["maxDrawdown"] == 0.0


@pytest.mark.parametrize(("query", "field", "issue"), [
    ("mode=demo", "mode", "must be one of paper, live, all"),
    ("points=1", "points", "must be a whole number from 2 to 500"),
    ("points=501", "points", "must be a whole number from 2 to 500"),
    ("points=ten", "points", "must be a whole number from 2 to 500"),
    ("since=yesterday", "since", "must be an ISO-8601 date or time"),
    ("limit=5", "limit", "not a parameter of this route (it takes: mode, since, points)"),
])
async def test_equity_refuses_bad_parameters_with_a_clear_message(rt, query, field, issue):
    r = await v1(rt, "GET", f"/stats/equity?{query}")
    assert r.status == 400, r.text()
    err = r.json()["error"]
    assert err["code"] == "VALIDATION_ERROR"
    assert err["details"][0]["field"] == field and issue in err["details"][0]["issue"], err


async def test_latency_history_buckets_the_analytics_points(rt, clock):
    dataset = rt.analytics.dataset(catalog.TELEMETRY_DATASET)
    now = clock.t  # 12:00:00, a multiple of every bucket width: the last bucket starts at now

    def at(seconds_ago: float, latency: float, status: int = 200, worker: str = "email-worker") -> None:
        clock.set(now - seconds_ago)
        dataset.write_data_point(**api_call_point(worker, "/email", status, latency, "r"))

    at(3700, 77)  # before the hour: in no bucket
    for lat in range(1, 11):  # 50 minutes ago (11:10): 1..10 ms, one 500
        at(3000, lat, 500 if lat == 1 else 200)
    for lat in (100, 200, 300, 400):  # 5 minutes ago (11:55)
        at(300, lat)
    at(300, 5, worker="d1-worker")  # another worker's point is not this one's
    clock.set(now)

    h = await result(rt, "GET", "/workers/email-worker/latency?window=1h&buckets=6")
    models.LatencyHistory.model_validate(h)
    assert (h["worker"], h["window"], h["bucketSeconds"], h["available"], h["error"]) == (
        "email-worker", "1h", 600, True, None)
    # six 10-minute buckets, the last one holding now: 11:10, 11:20, ..., 12:00
    assert h["from"] == "2026-01-05T11:10:00.000Z" and h["to"] == "2026-01-05T12:10:00.000Z"
    assert [b["start"][11:16] for b in h["buckets"]] == ["11:10", "11:20", "11:30", "11:40", "11:50", "12:00"]
    assert [b["requests"] for b in h["buckets"]] == [10, 0, 0, 0, 4, 0]
    assert [b["errors"] for b in h["buckets"]] == [1, 0, 0, 0, 0, 0]
    # nearest rank: of 1..10 the 5th and the 10th; of 100..400 the 2nd and the 4th
    assert [(b["p50Ms"], b["p95Ms"]) for b in h["buckets"]] == [
        (5, 10), (None, None), (None, None), (None, None), (200, 400), (None, None)]

    default = await result(rt, "GET", "/workers/email-worker/latency")
    assert default["window"] == "1h" and default["bucketSeconds"] == 60 and len(default["buckets"]) == 60
    assert sum(b["requests"] for b in default["buckets"]) == 14


@pytest.mark.parametrize(("path", "status", "needle"), [
    ("/workers/email-worker/latency?window=2h", 400, "must be one of 15m, 1h, 6h, 24h"),
    ("/workers/email-worker/latency?buckets=0", 400, "must be a whole number from 1 to 120"),
    ("/workers/email-worker/latency?buckets=121", 400, "must be a whole number from 1 to 120"),
    ("/workers/email-worker/latency?since=2026-01-01", 400, "not a parameter of this route"),
    ("/workers/nosuch/latency", 404, "No worker named"),
])
async def test_latency_history_refuses_bad_parameters_with_a_clear_message(rt, path, status, needle):
    r = await v1(rt, "GET", path)
    assert r.status == status, r.text()
    err = r.json()["error"]
    assert needle in err["message"] + str(err.get("details")), err
