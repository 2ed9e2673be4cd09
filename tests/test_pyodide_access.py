"""The Access JWT check inside real Pyodide (the runtime Cloudflare runs the gateway on): pure-Python RS256
and the keys fetched through the runtime's `fetch` (tests/pyodide/inside/test_access_jwt.py)."""

from __future__ import annotations

import time

from fake_access import FakeAccess, SigningKey
from pyodide_support import run_in_pyodide


def test_access_jwt_verification_runs_in_pyodide() -> None:
    with FakeAccess() as team:
        now = time.time()
        env = {"HOOX_ACCESS_ORIGIN": team.origin, "HOOX_ACCESS_AUD": team.audience,
               "HOOX_ACCESS_GOOD": team.token(now=now),
               "HOOX_ACCESS_FORGED": team.token(now=now, key=SigningKey("key-1", SigningKey.new("x").private)),
               "HOOX_ACCESS_EXPIRED": team.token(now=now - 7200, ttl=600),
               "HOOX_ACCESS_WRONG_AUD": team.token(now=now, aud=["another-app"])}
        output = run_in_pyodide("pyodide/inside/test_access_jwt.py", env=env)
        assert "1 passed" in output, output
        assert team.fetches >= 1  # the keys came over fetch from the loopback JWKS
