"""The binding conformance suite (tests/conformance) on the `cloudflare` adapters: inside real Pyodide
0.28.2 on Node 24, against Miniflare's own KV, D1, R2, queue producer, Analytics Engine and service
bindings, and the documented JS shapes of Durable Object state/stubs and queue batches where
Miniflare cannot serve Python code (tests/pyodide/durable.mjs). The same files run on the `local`
adapters in CPython as tests/conformance itself. One run for all areas; a failure names its area."""

from __future__ import annotations

import re

import pytest
from pyodide_support import PyodideRunFailed, run_in_pyodide

AREAS = ["analytics", "d1", "durable_objects", "kv", "queues", "r2", "service_bindings"]
# Inside Pyodide only tests/conformance's own conftest applies (tests/conftest.py opens local runtimes).
ARGS = ["--confcutdir", "/hoox/tests/conformance"]


@pytest.mark.heavy
def test_every_conformance_area_passes_on_the_cloudflare_adapters() -> None:
    # One Pyodide run for all areas (each run boots Pyodide and Miniflare: seven runs cost twice the
    # time of one); -rA lists every test's outcome with its file, so a failure still names its area.
    files = [f"conformance/test_{area}.py" for area in AREAS]
    try:
        out = run_in_pyodide(*files, extra=[*ARGS, "-rA"])
    except PyodideRunFailed as exc:
        failing = sorted(set(re.findall(r"^(?:FAILED|ERROR) \S*conformance/test_(\w+)\.py", str(exc), re.MULTILINE)))
        raise AssertionError(f"conformance areas failing inside Pyodide: {', '.join(failing) or '?'}\n{exc}") from None
    # pytest's last summary line (workerd may write to stderr after it)
    [summary] = re.findall(r"^=* ?(\d+ passed.* in [\d.]+s)", out, re.MULTILINE)[-1:]
    assert not re.search(r"failed|error|skipped|xfail", summary), out
    ran = set(re.findall(r"^PASSED \S*conformance/test_(\w+)\.py::", out, re.MULTILINE))
    assert ran == set(AREAS), f"areas with no passing test inside Pyodide: {sorted(set(AREAS) - ran)}\n{out}"


@pytest.mark.heavy
def test_a_broken_conversion_in_a_cloudflare_adapter_turns_the_suite_red() -> None:
    with pytest.raises(PyodideRunFailed) as failed:
        run_in_pyodide("conformance/test_d1.py", extra=[*ARGS, "-p", "broken_conversion"])
    out = str(failed.value)
    assert re.search(r"\d+ (failed|errors?)\b", out), out
    # failing for the reason planted: a JS object where a row (a dict) should be
    assert "AttributeError: get" in out, out
