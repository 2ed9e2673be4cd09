"""The analytics view (F10 / A): error banners over a KV threshold, every worker's p50/p95 latency
lines from the edge's own analytics, the signal volume heat map from the ledger — each checked
against figures this test computes from the points and signals it wrote itself — and its snapshots."""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_clock import START
from hoox_edge.shared import settings as kv_settings
from hoox_edge.shared.app import api_call_point
from test_operator_api import rt, v1, webhook  # noqa: F401 (rt: a fixture)
from textual.widgets import Static
from tui_support import (  # noqa: F401 (cockpit_settings: autouse)
    WORKERS,
    by_size,
    cockpit_settings,
    fed_store,
    fixture_ctx,
    frozen_clock,
    make_ctx,
    plain,
    until,
)

from hoox_cli.core import models as m
from hoox_tui.app import HooxApp
from hoox_tui.store import ANALYTICS_BUCKETS
from hoox_tui.views.analytics import BLOCKS, NAME_WIDTH, SHADES

HOUR = 3600.0


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# The email-worker (not running locally, so no health probe adds points of its own): requests per
# time, (latency ms, HTTP status). The last batch is inside the last 5 minutes: 1 of 4 failed (25 %).
EMAIL_POINTS = {
    "2026-01-05T11:10:00": [(10, 200), (20, 200), (30, 200), (40, 200)],
    "2026-01-05T11:30:00": [(400, 200)],
    "2026-01-05T11:57:00": [(50, 200), (60, 200), (70, 200), (80, 500)],
}
# web3-wallet-worker: 1 of 10 failed in the last 5 minutes (10 %): under the 20 % threshold.
WALLET_POINTS = {"2026-01-05T11:58:00": [(5, 503)] + [(5, 200)] * 9}
# Signals into the ledger: weekday/hour (UTC) -> how many. The first is older than the 28 days shown.
SIGNALS = ["2025-11-20T10:00:00", "2025-12-31T23:59:00", "2026-01-04T09:30:00", "2026-01-04T09:45:00",
           "2026-01-05T12:00:00", "2026-01-05T12:00:00", "2026-01-05T12:00:00"]


def expected_email_lines() -> tuple[str, str]:
    """The p95 and p50 lines of the email-worker over the last hour in ANALYTICS_BUCKETS buckets."""
    width = math.ceil(HOUR / ANALYTICS_BUCKETS)
    start = (int(START) // width + 1) * width - width * ANALYTICS_BUCKETS
    per_bucket: dict[int, list[float]] = {}
    for when, points in EMAIL_POINTS.items():
        per_bucket.setdefault(int((at(when) - start) // width), []).extend(lat for lat, _ in points)
    p95 = {i: nearest_rank(v, 95) for i, v in per_bucket.items()}
    p50 = {i: nearest_rank(v, 50) for i, v in per_bucket.items()}
    top = max(p95.values())

    def line(values: dict[int, float]) -> str:
        return "".join(BLOCKS[math.ceil(values[i] / top * len(BLOCKS)) - 1] if i in values else " "
                       for i in range(ANALYTICS_BUCKETS))
    return line(p95), line(p50)


async def test_the_view_shows_what_the_edge_computed_from_known_points_and_signals(
        edge: Any, workspace: Any, clock: Any) -> None:
    # the ledger: each signal sent at its own time
    for i, when in enumerate(SIGNALS):
        clock.set(at(when))
        r = await webhook(edge, idempotencyKey=f"heat-{i}")
        assert r.status in (200, 202), r.json()
    # the analytics points
    dataset = edge.env("analytics-worker").ANALYTICS_ENGINE
    for worker, batches in (("email-worker", EMAIL_POINTS), ("web3-wallet-worker", WALLET_POINTS)):
        for when, points in batches.items():
            clock.set(at(when))
            for n, (latency, status) in enumerate(points):
                dataset.write_data_point(**api_call_point(worker, "/email", status, latency, f"{worker}-{when}-{n}"))
    clock.set(START)
    await kv_settings.put(edge.env("hoox").CONFIG_KV, kv_settings.ERROR_RATE_ALERT, 20)

    app = HooxApp(make_ctx(workspace, edge))
    store = app.ctx.store
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("A")

        def text(sel: str) -> str:
            return plain(app.screen.query_one(sel, Static), width=160)

        await until(pilot, lambda: app.current_mode == "analytics" and store.volume is not None
                    and "email-worker" in store.analytics_latency and "email-worker" in text("#an-banners")
                    and "Mon" in text("#an-volume"), "the analytics view filled from the edge")

        # the heat map: Monday first, 28 days, the November signal left out
        want = [[0] * 24 for _ in range(7)]
        for when in SIGNALS[1:]:
            d = datetime.fromisoformat(when)
            want[d.weekday()][d.hour] += 1
        assert store.volume.counts == want and (store.volume.total, store.volume.peak) == (6, 3)
        rows = {ln.split()[0]: ln for ln in text("#an-volume").splitlines() if ln[:3] in ("Mon", "Sun", "Wed")}
        cell = lambda day, hour: rows[day][5 + 3 * hour:5 + 3 * hour + 2]  # noqa: E731
        assert cell("Mon", 12) == SHADES[3] * 2  # 3 of 3: the busiest
        assert cell("Sun", 9) == SHADES[2] * 2  # 2 of 3
        assert cell("Wed", 23) == SHADES[1] * 2  # 1 of 3
        assert cell("Mon", 11).strip() == "·"
        assert "6 in all, busiest hour 3" in text("#an-volume")
        assert text("#an-volume").splitlines()[-1].split() == ["·", "none", "▒▒", "1", "▓▓", "2", "██", "3"]

        # the banner: the email-worker's 25 % passes the 20 % threshold, the wallet's 10 % does not
        banners = " ".join(text("#an-banners").split())
        assert "email-worker: 25.0% of 4 requests failed (HTTP 5xx) in the last 5 min; threshold 20%" in banners
        assert "web3-wallet-worker" not in banners

        # the latency lines of the email-worker, bucket by bucket
        p95_line, p50_line = expected_email_lines()
        lines = text("#an-latency").splitlines()
        i = next(n for n, ln in enumerate(lines) if ln.startswith("email-worker"))
        col = NAME_WIDTH + 4
        assert lines[i][NAME_WIDTH:col] == "p95 " and lines[i][col:col + ANALYTICS_BUCKETS] == p95_line
        assert lines[i + 1][NAME_WIDTH:col] == "p50 " and lines[i + 1][col:col + ANALYTICS_BUCKETS] == p50_line
        assert lines[i].endswith(" 80.0 ms (max 400.0 ms)") and lines[i + 1].endswith(" 60.0 ms, 9 req")

        # w: the last day; the lines of the hour are dropped at once, the day's come from the edge
        await pilot.press("w")
        await until(pilot, lambda: store.analytics_window == "24h" and "last day" in text("#an-latency-head")
                    and store.analytics_latency.get("email-worker") is not None
                    and store.analytics_latency["email-worker"].window == "24h", "the day's lines")
        # a 30-minute bucket holds the 11:30 and 11:57 requests: one line, no gap between them
        day = store.analytics_latency["email-worker"]
        assert sum(b.requests for b in day.buckets) == 9

        # a lower threshold written in Settings raises the wallet's banner too
        await kv_settings.put(edge.env("hoox").CONFIG_KV, kv_settings.ERROR_RATE_ALERT, 5)
        app.action_refresh()
        await until(pilot, lambda: "web3-wallet-worker: 10.0% of 10 requests" in " ".join(
            text("#an-banners").split()), "the wallet's banner over the 5% threshold")


# ------------------------------------------------------------------------------------------ snapshots
def analytics_store() -> Any:
    """The fixture store plus analytics figures: latency lines of two workers, a heat map, a banner."""
    store = fed_store()
    hours = [f"2026-01-05T{11 + (i * 75 + 75) // 3600:02d}:{(i * 75 + 75) % 3600 // 60:02d}:{(i * 75) % 60:02d}.000Z"
             for i in range(ANALYTICS_BUCKETS)]

    def history(worker: str, base: float) -> m.LatencyHistory:
        buckets = [{"start": hours[i], "requests": 0 if i % 11 == 5 else 3 + i % 4, "errors": 0,
                    "p50Ms": None if i % 11 == 5 else base + (i * 7 % 9),
                    "p95Ms": None if i % 11 == 5 else base * 3 + (i * 5 % 13)} for i in range(ANALYTICS_BUCKETS)]
        return m.LatencyHistory.model_validate({
            "worker": worker, "window": "1h", "bucketSeconds": 75, "from": "2026-01-05T11:01:15.000Z",
            "to": "2026-01-05T12:01:15.000Z", "available": True, "error": None, "truncated": False,
            "buckets": buckets})

    counts = [[(d * 7 + h * 3) % 5 if 8 <= h <= 20 and d < 5 else 0 for h in range(24)] for d in range(7)]
    volume = m.SignalVolume.model_validate({
        "days": 28, "from": "2025-12-08T12:01:00.000Z", "to": "2026-01-05T12:01:00.000Z", "timezone": "UTC",
        "weekdays": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], "total": sum(map(sum, counts)),
        "peak": max(map(max, counts)), "counts": counts})
    quiet = [history(w, 0.0).model_copy(update={"buckets": []}) for w in WORKERS[2:-1]]
    down = m.LatencyHistory.model_validate({
        "worker": WORKERS[-1], "window": "1h", "bucketSeconds": 75, "from": "2026-01-05T11:01:15.000Z",
        "to": "2026-01-05T12:01:15.000Z", "available": False, "error": "analytics-worker unreachable",
        "truncated": False, "buckets": []})
    store.apply_analytics(("1h", [history("hoox", 4.0), history("trade-worker", 9.0), *quiet, down], volume, 7))
    return store


def analytics_ready(app: HooxApp) -> bool:
    def text(sel: str) -> str:
        return plain(app.screen.query_one(sel, Static))
    return (app.current_mode == "analytics" and "ERROR RATE" in text("#an-banners")
            and "p95" in text("#an-latency") and "Mon" in text("#an-volume"))


@by_size
def test_analytics_view(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await pilot.press("f10")
        await until(pilot, lambda: analytics_ready(pilot.app), "the analytics view")

    with frozen_clock():
        app = HooxApp(fixture_ctx(analytics_store()), run_store=False)
        assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_no_banner_when_the_threshold_is_zero_or_nobody_fails() -> None:
    from hoox_tui.views.analytics import error_banners

    store = fed_store()
    assert error_banners(store.workers, 0) == []
    failing = [w for w in store.workers if w.traffic and w.traffic["5m"].requests and w.traffic["5m"].errors]
    assert failing, "the fixture has a worker with failed requests"
    w = failing[0]
    rate = w.traffic["5m"].errors / w.traffic["5m"].requests * 100
    assert [b.split(":")[0] for b in error_banners(store.workers, rate - 0.01)] == [
        x.name for x in store.workers if x.traffic and x.traffic["5m"].requests
        and x.traffic["5m"].errors / x.traffic["5m"].requests * 100 > rate - 0.01]
    assert error_banners(store.workers, rate) == [
        b for b in error_banners(store.workers, rate - 0.01) if b.split(":")[0] != w.name
        or w.traffic["5m"].errors / w.traffic["5m"].requests * 100 > rate]


@pytest.mark.parametrize("window", ["2h"])
def test_an_unknown_window_is_refused(window: str) -> None:
    store = fed_store()
    with pytest.raises(ValueError, match="1h or 24h"):
        store.set_analytics_window(window)


# ------------------------------------------------------------------------------------------ the route
async def test_the_volume_route_refuses_a_bad_days_value_naming_it(rt: Any) -> None:  # noqa: F811
    r = await v1(rt, "GET", "/analytics/volume?days=0")
    assert r.status == 400, r.json()
    err = r.json()["error"]
    assert err["code"] == "VALIDATION_ERROR" and err["details"][0]["field"] == "days"
    r = await v1(rt, "GET", "/analytics/volume?weeks=2")
    assert r.status == 400 and r.json()["error"]["details"][0]["field"] == "weeks"
    empty = (await v1(rt, "GET", "/analytics/volume")).json()["result"]
    assert (empty["days"], empty["total"], empty["peak"]) == (28, 0, 0) and empty["counts"] == [[0] * 24] * 7


async def test_safe_mode_asks_nothing_for_the_analytics_view_and_says_why() -> None:
    with frozen_clock():
        ctx = fixture_ctx()
        ctx.safe_mode = True
        app = HooxApp(ctx, run_store=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("A")
            await until(pilot, lambda: app.current_mode == "analytics" and "off in safe mode" in plain(
                app.screen.query_one("#an-safe", Static)), "the safe-mode note")
            assert "analytics" not in ctx.store.active_topics
