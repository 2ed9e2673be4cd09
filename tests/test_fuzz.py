"""Fuzzing the three route families in-process with a fixed seed (generator: tests/fuzzing.py).

Each family gets 3,000 mutations of valid requests with the right credentials, so most of them
reach deep code: the webhook with the passkey (through auth, the rate limit, validation,
idempotency and a direct delivery that fills on the paper exchange), the operator API with the
bearer token (query strings, path segments and JSON bodies of every route), and the internal
routes with the internal key (trade-worker /process, d1-worker, telegram-worker /alert,
analytics-worker /track/*). No answer may be a 500; another 5xx must be one of the contract's
deliberate codes; every error must be the standard envelope. `bench/fuzz.py` runs 30,000 with a
random seed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import fuzzing
import pytest
from hoox_edge.local.runtime import LocalRuntime

N = 3000


@pytest.fixture
async def rt(clock) -> AsyncIterator[LocalRuntime]:
    """A runtime on the fake clock (the rate limit window and the paper market do not move), with
    its workspace in RAM when the machine has a RAM disk (see `fuzzing.scratch_root`)."""
    async with fuzzing.scratch_runtime() as runtime:
        yield runtime


def _assert_clean(report: fuzzing.Report) -> None:
    assert report.sent == N
    shown = "\n".join(report.problems[:10])
    assert not report.problems, f"{len(report.problems)} bad answers (seed {report.seed}):\n{shown}"


@pytest.mark.heavy
async def test_webhook_fuzz(rt):
    report = await fuzzing.run(rt, "webhook", N, seed=20260105)
    _assert_clean(report)
    s = report.statuses
    # The bodies reached every stage: refused unauthenticated, too large, invalid, duplicate, filled.
    assert s.get(401, 0) > 50 and s.get(413, 0) > 20 and s.get(400, 0) > 1000 and s.get(409, 0) > 10
    assert s.get(200, 0) + s.get(202, 0) > 100, s  # filled, or resting/queued


async def test_operator_fuzz(rt):
    report = await fuzzing.run(rt, "operator", N, seed=20260106)
    _assert_clean(report)
    s = report.statuses
    assert s.get(200, 0) > 300 and s.get(400, 0) > 1000 and s.get(404, 0) > 10 and s.get(413, 0) > 5, s


async def test_internal_fuzz(rt):
    report = await fuzzing.run(rt, "internal", N, seed=20260107)
    _assert_clean(report)
    s = report.statuses
    assert s.get(200, 0) > 300 and s.get(400, 0) > 1000 and s.get(404, 0) > 50, s
