"""The cockpit's CPU and memory widgets: the workers' cards, the worker detail's figures and its load
chart (request velocity and the runtime's memory over time), locally and on Cloudflare.

Expected figures are worked out here from the fixture (tests/tui_support.py) or from the single
invocations the Cloudflare fake holds, never read back from the code under test.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_cloudflare import start_fake
from test_cf_usage import HOOX_CPU_US, invocations, nearest_rank
from tui_support import RSS_MB, fed_store, fixture_ctx, frozen_clock, latency_json, plain, until, worker_json

from hoox_cli.core import cf_usage
from hoox_tui.app import HooxApp
from hoox_tui.charts import LoadChart
from hoox_tui.views.workers import WorkerCard


def card_text(app: HooxApp, name: str) -> str:
    return plain(app.screen.query_one(f"#card-{name}", WorkerCard).render())


async def test_cards_show_cpu_per_invocation_and_the_runtime_memory() -> None:
    with frozen_clock():
        app = HooxApp(fixture_ctx(), run_store=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f2")
            await until(pilot, lambda: "cpu" in card_text(app, "trade-worker"), "the cards")
            trade = worker_json("trade-worker", 1)["cpu"]
            assert f"cpu p50/95 {trade['p50Ms']:.2f}/{trade['p95Ms']:.2f} ms" in card_text(app, "trade-worker")
            assert f"memory   {RSS_MB[-1]:.1f} MB (runtime)" in card_text(app, "trade-worker")
            # a worker this runtime does not run: no figure, not the process's
            off = card_text(app, "agent-worker")
            assert "cpu      n/a" in off and "memory   n/a" in off and "MB" not in off


async def test_the_detail_charts_request_velocity_and_memory_over_time() -> None:
    with frozen_clock():
        app = HooxApp(fixture_ctx(), run_store=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f3")
            chart = app.screen.query_one("#load-chart", LoadChart)
            text = app.screen.query_one("#metrics-text")
            await until(pilot, lambda: "cpu 5m" in plain(text), "the detail's figures")
            assert not chart.display  # a short quadrant: the latency chart first
            hoox = worker_json("hoox", 0)["cpu"]
            shown = plain(text)
            assert f"cpu 5m: p50 {hoox['p50Ms']:.2f} ms, p95 {hoox['p95Ms']:.2f} ms, " \
                   f"{hoox['coreShare'] * 100:.2f}% core" in shown
            assert f"memory {RSS_MB[-1]:.1f} MB (whole runtime: one process)" in shown
            await pilot.press("g")
            await until(pilot, lambda: bool(chart.display) and bool(chart.series.get("memoryMB")), "the load chart")
            assert not app.screen.query_one("#latency-chart").display
            buckets = latency_json("hoox")["buckets"]
            assert chart.series["requestsPerMinute"] == [b["requests"] / 5 for b in buckets]  # 5-minute buckets
            assert chart.series["memoryMB"] == [float(v) for v in RSS_MB]
            assert "req/min" in plain(app.screen.query_one("#load-note"))


async def test_a_tall_detail_shows_both_charts() -> None:
    with frozen_clock():
        app = HooxApp(fixture_ctx(), run_store=False)
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.press("f3")
            await until(pilot, lambda: bool(app.screen.query_one("#load-chart").display)
                        and bool(app.screen.query_one("#latency-chart").display), "both charts")


def deployed_store() -> Any:
    """The fixture as a deployed edge answers: no CPU or memory from the edge, with its notes."""
    store = fed_store()
    store.status = store.status.model_copy(update={"runtime": "cloudflare"})
    for w in [*store.workers, *store.worker_details.values()]:
        w.cpu, w.memory = None, None
        w.cpuNote = "a worker cannot read its CPU time on Cloudflare"
        w.memoryNote = "not reported by Cloudflare"
    return store


async def test_on_cloudflare_the_cards_show_cloudflare_cpu_and_say_memory_is_not_reported(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = start_fake(monkeypatch, tmp_path)
    try:
        fake.state.invocations = invocations()
        with frozen_clock(1767614400.0):  # 12:00:00: the fake's invocations end at 11:59
            store = deployed_store()
            store.cloudflare = lambda: cf_usage.read(None)
            await store.poll_cloudflare()
            assert store.cf_usage_error is None
            app = HooxApp(fixture_ctx(store), run_store=False)
            async with app.run_test(size=(100, 30)) as pilot:
                await pilot.press("f2")
                await until(pilot, lambda: "p50/99" in card_text(app, "hoox"), "Cloudflare's CPU on the card")
                p50, p99 = nearest_rank(HOOX_CPU_US, 50) / 1000, nearest_rank(HOOX_CPU_US, 99) / 1000
                hoox = card_text(app, "hoox")
                assert f"cpu p50/99 {p50:.2f}/{p99:.2f} ms" in hoox
                assert "not reported by" in hoox and "Cloudflare" in hoox and "MB" not in hoox
                assert "none in 5m" in card_text(app, "d1-worker")  # deployed, no invocation
    finally:
        fake.stop()
    assert fake.shape_errors == []


async def test_cloudflare_is_asked_once_a_minute_and_a_failure_is_said(clock: Any) -> None:
    calls: list[float] = []

    async def failing() -> Any:
        calls.append(clock())
        raise cf_usage.CloudflareError("Cloudflare GraphQL API failed with HTTP 403 (not authorized)")

    store = deployed_store()
    store.cloudflare = failing
    await store.poll_cloudflare()
    await store.poll_cloudflare()
    clock.advance(61)
    await store.poll_cloudflare()
    assert len(calls) == 2
    assert store.cf_usage_error == "Cloudflare GraphQL API failed with HTTP 403 (not authorized)"
    app = HooxApp(fixture_ctx(store), run_store=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f3")
        text = app.screen.query_one("#metrics-text")
        await until(pilot, lambda: "cpu n/a" in plain(text), "the failure in the detail")
        assert "HTTP 403" in plain(text) and "memory: not reported by Cloudflare" in plain(text)
