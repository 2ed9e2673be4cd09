"""The binding conformance suite (tests/conformance) on the `cloudflare` adapters: inside real Pyodide
0.28.2 on Node 24, against Miniflare's own KV, D1, R2, queue producer, Analytics Engine and service
bindings, and the documented JS shapes of Durable Object state/stubs and queue batches where
Miniflare cannot serve Python code (tests/pyodide/durable.mjs). The same files run on the `local`
adapters in CPython as tests/conformance itself. One run for all areas; a failure names its area."""

from __future__ import annotations

import re

import pytest
from pyodide_support import run_sessions_in_pyodide

AREAS = ["analytics", "d1", "durable_objects", "kv", "queues", "r2", "service_bindings"]
# Inside Pyodide only tests/conformance's own conftest applies (tests/conftest.py opens local runtimes).
ARGS = ["--confcutdir", "/hoox/tests/conformance"]


@pytest.mark.heavy
def test_every_conformance_area_passes_on_the_cloudflare_adapters_and_a_broken_conversion_fails() -> None:
    # One boot of Pyodide and Miniflare (~8 s of CPU) for two pytest sessions, in one test so that one
    # xdist worker runs both: every conformance area (one session for all: -rA lists each test's outcome
    # with its file, so a failure still names its area), then the D1 area again with one conversion
    # broken on purpose: the suite must turn red under it, or it proves nothing. Last: it stays broken.
    files = [f"conformance/test_{area}.py" for area in AREAS]
    (rc, out), (broken_rc, broken) = run_sessions_in_pyodide(
        [(files, [*ARGS, "-rA"]), (["conformance/test_d1.py"], [*ARGS, "-p", "broken_conversion"])])
    if rc != 0:
        failing = sorted(set(re.findall(r"^(?:FAILED|ERROR) \S*conformance/test_(\w+)\.py", out, re.MULTILINE)))
        raise AssertionError(f"conformance areas failing inside Pyodide: {', '.join(failing) or '?'}\n{out}")
    # pytest's last summary line (workerd may write to stderr after it)
    [summary] = re.findall(r"^=* ?(\d+ passed.* in [\d.]+s)", out, re.MULTILINE)[-1:]
    assert not re.search(r"failed|error|skipped|xfail", summary), out
    ran = set(re.findall(r"^PASSED \S*conformance/test_(\w+)\.py::", out, re.MULTILINE))
    assert ran == set(AREAS), f"areas with no passing test inside Pyodide: {sorted(set(AREAS) - ran)}\n{out}"

    assert broken_rc != 0 and re.search(r"\d+ (failed|errors?)\b", broken), broken
    # failing for the reason planted: a JS object where a row (a dict) should be
    assert "AttributeError: get" in broken, broken
