"""Start-up time of the CLI against a bare interpreter, measured in the same run.

    python bench/cli_startup.py [--runs N]

Times (wall clock, median of N runs, each a fresh process):
  baseline   python -c pass
  help       python -m hoox_cli --help
  kv get     python -m hoox_cli config kv get trade:mode   (in a fresh temp workspace)
and prints each as milliseconds and as a ratio to the baseline.

The commands run with bytecode caching on (PYTHONDONTWRITEBYTECODE is dropped for them, and the
warm-up run writes the .pyc files), as an installed hoox runs: otherwise every run would compile
hoox's modules again and the figures would measure the compiler. Other processes on the machine
slow every case alike: compare the ratios, and run it on a quiet machine for the milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def wall(cmd: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - t0)
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {p.stderr.strip()}")
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hoox-bench-") as tmp:
        ws = Path(tmp) / "ws"
        env = dict(os.environ, HOOX_WORKSPACE=str(ws))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-m", "hoox_cli", "clone", str(ws), "--quiet"], env=env, check=True)
        py = sys.executable
        cases = [
            ("python -c pass", [py, "-c", "pass"]),
            ("hoox --help", [py, "-m", "hoox_cli", "--help"]),
            ("hoox config kv get trade:mode", [py, "-m", "hoox_cli", "config", "kv", "get", "trade:mode"]),
        ]
        for _, cmd in cases:  # warm the file cache once
            wall(cmd, env, 1)
        results = [(name, wall(cmd, env, args.runs)) for name, cmd in cases]
    base = results[0][1]
    print(f"median of {args.runs} runs, each a new process ({sys.version.split()[0]})")
    print(f"{'command':<32} {'ms':>8} {'x baseline':>11}")
    for name, t in results:
        print(f"{name:<32} {t * 1000:8.1f} {t / base:11.2f}")


if __name__ == "__main__":
    main()
