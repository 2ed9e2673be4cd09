"""CPU per invocation and the process's memory, as the local runtime measures them and `/v1/workers`
reports them (`hoox_edge/local/usage.py`, `operator/workers.py`).

The metering is checked on a scripted CPU clock (each step of a handler "spends" what the test says),
so every figure is exact: the CPU of other requests interleaved on the loop is not a handler's, nor is
the CPU of a worker it calls inline. The operator API's figures are checked against the samples the
runtime kept, with percentiles and the core share worked out here.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hoox_edge.local import usage
from test_operator_api import result, rt  # noqa: F401 (rt: a fixture)

from hoox_cli.core import models


class ScriptedCpu:
    """A thread CPU clock that moves only when a handler "burns" CPU."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def burn(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def cpu(monkeypatch: pytest.MonkeyPatch) -> ScriptedCpu:
    fake = ScriptedCpu()
    monkeypatch.setattr(usage.time, "thread_time", fake)
    return fake


async def test_a_handler_is_charged_its_own_steps_not_the_requests_interleaved_with_it(cpu: ScriptedCpu) -> None:
    charged: dict[str, float] = {}

    async def handler(name: str, steps: list[float]) -> str:
        for s in steps:
            cpu.burn(s)
            await asyncio.sleep(0)  # another request runs here
        return name

    a = asyncio.ensure_future(usage.metered(handler("a", [0.002, 0.003, 0.001]), lambda s: charged.update(a=s)))
    b = asyncio.ensure_future(usage.metered(handler("b", [0.100, 0.050]), lambda s: charged.update(b=s)))
    assert await asyncio.gather(a, b) == ["a", "b"]
    assert charged == pytest.approx({"a": 0.006, "b": 0.150})


async def test_a_worker_called_inline_is_charged_to_the_callee(cpu: ScriptedCpu) -> None:
    charged: dict[str, float] = {}

    async def callee() -> None:
        cpu.burn(0.004)
        await asyncio.sleep(0)
        cpu.burn(0.001)

    async def caller() -> None:
        cpu.burn(0.002)
        await usage.metered(callee(), lambda s: charged.update(callee=s))
        cpu.burn(0.003)

    await usage.metered(caller(), lambda s: charged.update(caller=s))
    assert charged == pytest.approx({"caller": 0.005, "callee": 0.005})


async def test_a_handler_that_raises_or_is_cancelled_is_still_charged(cpu: ScriptedCpu) -> None:
    charged: list[float] = []

    async def failing() -> None:
        cpu.burn(0.007)
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        await usage.metered(failing(), charged.append)

    started = asyncio.Event()

    async def slow() -> None:
        cpu.burn(0.002)
        started.set()
        await asyncio.Event().wait()

    task = asyncio.ensure_future(usage.metered(slow(), charged.append))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert charged == pytest.approx([0.007, 0.002])


def test_memory_samples_keep_their_cadence_when_read() -> None:
    readings = iter([100, 200, 300, 400])
    u = usage.Usage(read_rss=lambda: next(readings))
    u.sample_memory(10.0)
    assert u.memory_now(11.0) == [(10.0, 100), (11.0, 200)]  # a reading of now, not kept
    u.sample_memory(25.0)
    assert list(u.memory) == [(10.0, 100), (25.0, 300)]


def test_resident_memory_is_read_from_proc() -> None:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    import os

    rss = usage.rss_bytes()
    assert rss is not None and abs(rss - pages * os.sysconf("SC_PAGE_SIZE")) < 64 * 1024 * 1024


def nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(1, -(-len(ordered) * p // 100))  # ceil(p% of n), at least the first
    return ordered[int(k) - 1]


async def test_workers_report_cpu_per_invocation_and_the_process_memory(rt: Any, clock: Any) -> None:  # noqa: F811
    for _ in range(5):
        assert (await rt.request("d1-worker", "GET", "/health")).status == 200
    clock.advance(120)
    d1 = await result(rt, "GET", "/workers/d1-worker", models.WorkerDetail)
    kept = [s * 1000 for _, s in rt.usage.cpu_since("d1-worker", clock() - 300)]
    assert len(kept) == 6  # five requests and this call's /health probe
    cpu = d1["cpu"]
    assert cpu["source"] == "local runtime" and cpu["window"] == "5m" and cpu["invocations"] == 6
    assert cpu["p50Ms"] == pytest.approx(nearest_rank(kept, 50), abs=1e-3)
    assert cpu["p95Ms"] == pytest.approx(nearest_rank(kept, 95), abs=1e-3)
    assert all(ms > 0 for ms in kept)
    # the runtime opened 120 s ago: the share is of those 120 s, not of the whole 5 minutes
    assert cpu["coreShare"] == pytest.approx(sum(kept) / 1000 / 120, abs=1e-6)
    assert d1["cpuNote"] is None

    mem = d1["memory"]
    assert mem["scope"] == "process" and "one process serves every worker" in mem["note"]
    assert mem["rssBytes"] == mem["samples"][-1]["rssBytes"] > 1_000_000
    assert mem["samples"][-1]["t"] == "2026-01-05T12:02:00.000Z"

    listed = await result(rt, "GET", "/workers", models.WorkersResult)
    by_name = {w["name"]: w for w in listed["items"]}
    assert by_name["d1-worker"]["cpu"]["invocations"] == 7  # and the probe of the list
    assert by_name["hoox"]["memory"]["samples"] == []  # the history only in a worker's detail
    # a worker this runtime does not run has no CPU figure, and says why
    off = next(w for w in listed["items"] if w["name"] not in rt.workers)
    assert off["cpu"] is None and off["cpuNote"] == "not running in this local runtime"
    assert off["memory"] is None and off["memoryNote"] == "not running in this local runtime"


async def test_a_cron_run_is_an_invocation_of_its_worker(rt: Any, clock: Any, cpu: ScriptedCpu) -> None:  # noqa: F811
    from hoox_edge import catalog

    worker = next(w.name for w in catalog.WORKERS if w.crons and w.name in rt.workers)
    before = len(rt.usage.cpu_since(worker, 0))
    await rt.run_cron(worker)
    assert len(rt.usage.cpu_since(worker, 0)) == before + 1
