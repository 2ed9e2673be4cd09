"""Cockpit benchmark: time to first paint, and sustained stream ingest with bounded memory.

Run: python bench/tui_bench.py [--events N]

- first paint: headless, 120×40, from App() to the dashboard's first frame; the baseline is a bare
  Textual app with one Static measured in the same run (so the figure is the cockpit's own cost).
- ingest: N stream events (70 % logs, 25 % trades, 5 % alerts) go through Store.ingest and are
  delivered to the visible Logs view by the 4 Hz flush that the app runs (Log.write_lines in batches).
  Reported: events/s and CPU seconds, against a baseline of the store alone (no UI), and the
  store's traced memory after 1×, 2× and 4× the events — flat once the ring buffers are full.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from httpx_sse import ServerSentEvent
from textual.app import App, ComposeResult
from textual.widgets import Static
from tui_support import fixture_ctx, frozen_clock

from hoox_cli.core.client import parse_event
from hoox_tui.app import HooxApp
from hoox_tui.store import ALERTS_MAX, LOGS_MAX, TRADES_MAX, Store


def events(n: int, start: int = 1) -> list[Any]:
    out = []
    for i in range(start, start + n):
        k = i % 20
        if k < 14:
            body = {"type": "log", "logId": i, "level": ("info", "warning", "error")[i % 3], "worker": "hoox",
                    "message": f"signal {i} processed", "createdAt": "2026-01-05T12:00:00.000Z"}
        elif k < 19:
            body = {"type": "trade", "tradeId": f"t{i}", "symbol": "BTCUSDT", "side": "BUY", "quantity": 0.01,
                    "price": 60000.0, "status": "Filled", "mode": "paper", "createdAt": "2026-01-05T12:00:00.000Z"}
        else:
            body = {"type": "alert", "alertId": i, "level": "warning", "source": "hoox", "message": "a"}
        out.append(parse_event(ServerSentEvent(event=body["type"], data=json.dumps(body), id=str(i))))
    return out


class Bare(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("hello")


async def first_paint(make: Any, ready: Any) -> float:
    app = make()
    t0 = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        while not ready(app):
            await pilot.pause(0.001)
        await pilot.pause()  # one more frame: it has painted
        return time.perf_counter() - t0


async def ingest_ui(evs: list[Any]) -> tuple[float, float]:
    with frozen_clock():
        app = HooxApp(fixture_ctx(Store(None)), run_store=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f5")
            await pilot.pause(0.3)
            store = app.ctx.store
            t0, c0 = time.perf_counter(), time.process_time()
            batch = max(1, len(evs) // 200)
            for i in range(0, len(evs), batch):
                for ev in evs[i:i + batch]:
                    store.ingest(ev)
                # what the 4 Hz timer's StoreChanged message does, here as fast as it can go
                await app.views["logs"].deliver(store.take_changes())
            await pilot.pause()
            return time.perf_counter() - t0, time.process_time() - c0


def ingest_store(evs: list[Any]) -> tuple[float, float]:
    store = Store(None)
    t0, c0 = time.perf_counter(), time.process_time()
    for ev in evs:
        store.ingest(ev)
    return time.perf_counter() - t0, time.process_time() - c0


def memory_curve(n: int) -> list[tuple[int, int, int]]:
    store = Store(None)
    tracemalloc.start()
    out = []
    done = 0
    for mult in (1, 2, 4):
        evs = events(n * mult - done, start=done + 1)
        for ev in evs:
            store.ingest(ev)
        done = n * mult
        del evs
        cur, _ = tracemalloc.get_traced_memory()
        out.append((done, cur, len(store.logs) + len(store.trades) + len(store.alerts)))
    tracemalloc.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=30_000)
    n = ap.parse_args().events

    bare = asyncio.run(first_paint(Bare, lambda a: a.screen.is_mounted))
    cockpit = asyncio.run(first_paint(lambda: HooxApp(fixture_ctx(), run_store=False),
                                      lambda a: "dashboard" in a.views and a.views["dashboard"].is_mounted))
    print(f"first paint   bare textual app {bare * 1000:7.1f} ms   cockpit {cockpit * 1000:7.1f} ms   "
          f"(cockpit costs {(cockpit - bare) * 1000:+.1f} ms over the baseline)")

    evs = events(n)
    wall_s, cpu_s = ingest_store(evs)
    wall_u, cpu_u = asyncio.run(ingest_ui(evs))
    print(f"ingest {n} ev  store only {n / wall_s:10,.0f} ev/s (cpu {cpu_s:.2f} s)   "
          f"store + Logs view {n / wall_u:10,.0f} ev/s (cpu {cpu_u:.2f} s)")
    for done, mem, held in memory_curve(n):
        print(f"memory after {done:7d} events: {mem / 1e6:6.1f} MB traced, {held} entries held "
              f"(caps: {LOGS_MAX} logs + {TRADES_MAX} trades + {ALERTS_MAX} alerts)")


if __name__ == "__main__":
    main()
