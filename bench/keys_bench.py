"""A day of distinct idempotency keys under a low open-file limit: the local runtime must hold it.

    python bench/keys_bench.py [--keys 100000] [--signals 300] [--nofile 256] [--json]

One process (this one) lowers its own open-file limit (`RLIMIT_NOFILE`, soft and hard), starts the
local runtime with every worker serving HTTP on free loopback ports, and on a fake clock:

1. spreads `--keys` distinct keys over one simulated day: each takes its lock in the
   IdempotencyStore (24 h, as an explicit idempotencyKey does) and counts a hit in a RateLimiter
   object of its own (a 60 s window, so those alarms fire and delete their storage as the day goes);
2. sends `--signals` full signals over HTTP to the gateway (16 at a time, each with its own
   idempotencyKey: gateway -> trade-worker -> paper exchange -> ledger);
3. asks `GET /v1/status`;
4. moves the clock two days on and lets every alarm run: the locks expire and their storage goes.

It prints the time, the open file descriptors (highest seen, sampled every 500 keys, and at the end),
the Durable Object databases' sizes and files, and every answer that was not what it should be.
`--json` prints one JSON object instead (the test suite runs this with 5,000 keys).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import START, FakeClock  # the suite's fake clock and its readable start
from desk import serving_desk
from hoox_edge.shared import clock

DAY = 86_400.0
GW = "hoox"
BATCH = 64  # keys taken at once


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def storage_of(state: Path) -> dict[str, Any]:
    """Files under state/do, the class databases' sizes, and their entries and alarms."""
    do = state / "do"
    files = [p for p in do.rglob("*") if p.is_file()]
    rows = {}
    for db in sorted(do.glob("*.sqlite")):
        with contextlib.closing(sqlite3.connect(db)) as conn:
            rows[db.stem] = [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("kv", "alarms")]
    return {"files": len(files),
            "bytes": {p.name: p.stat().st_size for p in sorted(files) if p.parent == do},
            "objectFiles": sum(1 for p in files if p.parent != do),
            "entriesAndAlarms": rows}


async def run(n_keys: int, n_signals: int) -> dict[str, Any]:
    fake = FakeClock(START)
    clock.set_clock(fake)
    out: dict[str, Any] = {"keys": n_keys, "signals": n_signals,
                           "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hoox-keys-") as tmp:
        rt = await serving_desk(Path(tmp))
        try:
            env = rt.env(GW)
            locks, limiters = env.IDEMPOTENCY_STORE, env.RATE_LIMITER
            peak = open_fds()
            started = time.perf_counter()

            async def one(i: int) -> None:
                key = f"explicit:key-{i}"
                got = await locks.get(locks.id_from_name(key)).acquire(key, DAY, f"r-{i}")
                if not got["acquired"]:
                    problems.append(f"key {i} not acquired: {got}")
                hit = await limiters.get(limiters.id_from_name(f"sender-{i}")).hit(10, 60)
                if not hit["allowed"]:
                    problems.append(f"hit {i} refused: {hit}")

            for first in range(0, n_keys, BATCH):
                fake.t = START + first * DAY / n_keys
                await asyncio.gather(*(one(i) for i in range(first, min(n_keys, first + BATCH))))
                if first % 512 == 0:
                    await rt.fire_due_alarms()
                    peak = max(peak, open_fds())
            await rt.fire_due_alarms()
            out["keySeconds"] = round(time.perf_counter() - started, 2)
            out["keysPerSecond"] = round(n_keys / out["keySeconds"], 1)
            out["afterKeys"] = storage_of(rt.state_dir)

            base = f"http://127.0.0.1:{rt.ports[GW]}"
            statuses: Counter[int] = Counter()
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(n_signals):
                queue.put_nowait(i)
            started = time.perf_counter()
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                async def sender() -> None:
                    while not queue.empty():
                        queue.get_nowait()
                        r = await client.post("/webhook", json={
                            "apiKey": env.WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG",
                            "symbol": "BTCUSDT", "quantity": 0.001, "idempotencyKey": uuid.uuid4().hex})
                        statuses[r.status_code] += 1
                        if r.status_code != 200:
                            problems.append(f"signal answered {r.status_code}: {r.text[:200]}")

                await asyncio.gather(*(sender() for _ in range(16)))
                out["signalSeconds"] = round(time.perf_counter() - started, 2)
                peak = max(peak, open_fds())
                status = await client.get("/v1/status", headers={"Authorization": f"Bearer {env.OPERATOR_API_KEY}"})
                out["statusCode"] = status.status_code
                if status.status_code != 200:
                    problems.append(f"/v1/status answered {status.status_code}: {status.text[:200]}")
            out["signalStatuses"] = dict(statuses)
            out["peakOpenFds"] = peak

            fake.t = START + 3 * DAY  # every lock has expired
            started = time.perf_counter()
            while await rt.fire_due_alarms():
                pass
            out["expirySeconds"] = round(time.perf_counter() - started, 2)
            out["openFdsAtEnd"] = open_fds()
            out["afterExpiry"] = storage_of(rt.state_dir)
        finally:
            await rt.stop()
            clock.set_clock(None)
    out["problems"] = problems[:20]
    out["problemCount"] = len(problems)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--signals", type=int, default=300)
    ap.add_argument("--nofile", type=int, default=256, help="open-file limit of this process")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))
    out = asyncio.run(run(args.keys, args.signals))
    if args.json:
        print(json.dumps(out))
    else:
        print(f"open-file limit {out['nofile']}; highest open descriptors seen {out['peakOpenFds']}, "
              f"at the end {out['openFdsAtEnd']}")
        print(f"{out['keys']} keys over a simulated day in {out['keySeconds']} s "
              f"({out['keysPerSecond']} keys/s; each a lock and a rate-limiter hit)")
        print(f"  storage after the day: {out['afterKeys']}")
        print(f"{out['signals']} full signals over HTTP in {out['signalSeconds']} s: {out['signalStatuses']}; "
              f"/v1/status {out['statusCode']}")
        print(f"every lock expired two days on: alarms ran in {out['expirySeconds']} s; "
              f"storage {out['afterExpiry']}")
        print(f"problems: {out['problemCount']}" + "".join(f"\n  {p}" for p in out["problems"]))
    return 0 if out["problemCount"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
