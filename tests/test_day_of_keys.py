"""A day of trading does not exhaust the process: 5,000 distinct idempotency keys (locks and
rate-limiter objects) and 200 full signals over HTTP in a runtime limited to 256 open files, then
`/v1/status` answers 200 and, once the locks expired, their storage is gone.

It runs `bench/keys_bench.py` in a subprocess: the open-file limit must apply to the whole runtime
process (its sockets included), not to the test runner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "keys_bench.py"


@pytest.mark.heavy
def test_five_thousand_keys_under_256_open_files():
    proc = subprocess.run([sys.executable, str(BENCH), "--keys", "5000", "--signals", "200", "--nofile", "256",
                           "--json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["nofile"] == 256 and out["problemCount"] == 0, out["problems"]
    assert out["signalStatuses"] == {"200": 200} and out["statusCode"] == 200
    assert out["peakOpenFds"] < 256
    # one database per Durable Object class; a file of its own only for SQL storage (3 paper accounts)
    assert out["afterKeys"]["objectFiles"] == 0
    assert set(out["afterKeys"]["bytes"]) <= {f"{c}.sqlite{s}" for c in ("IdempotencyStore", "RateLimiter")
                                               for s in ("", "-wal", "-shm")}
    assert out["afterKeys"]["entriesAndAlarms"]["IdempotencyStore"] == [5000, 5000]
    # two days on every lock has expired: its alarm deleted it
    assert out["afterExpiry"]["objectFiles"] <= 3
    assert out["afterExpiry"]["entriesAndAlarms"]["IdempotencyStore"] == [0, 0]
    assert out["afterExpiry"]["entriesAndAlarms"]["RateLimiter"] == [0, 0]
