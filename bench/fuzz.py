"""Fuzz the local edge with 30,000 generated requests (10,000 per route family) and a random seed.

    python bench/fuzz.py [--n 30000] [--seed N] [--families webhook,operator,internal]

The seed is printed first, so a failure can be replayed with `--seed`. Every 5xx is printed with
its request and body (deliberate ones such as 502 EXCHANGE_ERROR too, marked as such); the exit
status is 1 when any answer breaks the rules of `tests/fuzzing.py:check` (a 500, an undeliberate
5xx, an error outside the envelope). Everything runs in-process in a throwaway workspace (in RAM
when the machine has a RAM disk), on loopback only, and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import fuzzing  # the generator lives with the tests that use it

FAMILIES = ("webhook", "operator", "internal")


async def one_family(family: str, n: int, seed: int) -> fuzzing.Report:
    async with fuzzing.scratch_runtime() as rt:
        return await fuzzing.run(rt, family, n, seed)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=30_000, help="requests in all (split evenly over the families)")
    parser.add_argument("--seed", type=int, default=None, help="replay a run (default: a random seed)")
    parser.add_argument("--families", default=",".join(FAMILIES))
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    print(f"seed {seed}", flush=True)
    bad = 0
    for i, family in enumerate(families):
        started = time.perf_counter()
        report = await one_family(family, args.n // len(families), seed + i)
        took = time.perf_counter() - started
        print(f"{family}: {report.sent} requests in {took:.1f} s, statuses {dict(sorted(report.statuses.items()))}")
        for line in report.server_errors:
            print(f"  5xx {line}")
        for line in report.problems:
            print(f"  BAD {line}")
        bad += len(report.problems)
    print("no bad answers" if not bad else f"{bad} bad answers (seed {seed})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
