"""The edge inside real Pyodide 0.28.2 on Node 24 against Miniflare's bindings (decision 10), as
Cloudflare runs it: one Pyodide run for every file of tests/pyodide/inside (each run boots Pyodide
and pytest, ~3 s; seven runs cost two and a half times one). Each file's outcome is checked on its
own, so a failure names the file:

- test_harness: the harness boots offline with the Python workerd uses and the SDK from PyPI;
- test_entry_imports: every worker's entry.py imports (no package without a Pyodide build);
- test_access_jwt: the Access JWT check (pure-Python RS256, keys fetched from a loopback JWKS);
- test_email: the Mailgun webhook through the gateway's entry.py on Miniflare's D1 and KV;
- test_wallet_signing: the wallet signs eth-account's bytes;
- test_fetch_transport: httpx over the runtime's `fetch` against loopback servers served from here;
- test_pipeline: signal → exchange → ledger, the queue consumer, the cron and the SSE stream;
- test_ai_chat: agent-worker's /agent/chat SSE against a loopback provider, and the gateway's
  /v1/agent/chat relaying it through a service binding's stream.
"""

from __future__ import annotations

import hashlib
import re
import time

import pytest
from fake_access import FakeAccess, SigningKey
from fake_ai import FakeAI
from hoox_edge import catalog
from loopback_servers import BIG, LoopbackServers
from netutil import free_port
from pyodide_support import PyodideRunFailed, run_in_pyodide

INSIDE = {  # file under tests/pyodide/inside → the tests it holds, all of which must pass
    "test_harness.py": 3,
    "test_entry_imports.py": len(catalog.names()),
    "test_access_jwt.py": 1,
    "test_email.py": 1,
    "test_wallet_signing.py": 2,
    "test_fetch_transport.py": 20,
    "test_pipeline.py": 3,
    "test_ai_chat.py": 1,
}
AI_KEY = "sk-pyodide-ai-test-0123456789abcdef"


def outcomes(out: str) -> dict[str, dict[str, int]]:
    """{file: {outcome: count}} from pytest's -rA short summary."""
    seen: dict[str, dict[str, int]] = {}
    summary = re.findall(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) \S*?(test_\w+\.py)", out, re.MULTILINE)
    for outcome, file in summary:
        counts = seen.setdefault(file, {})
        counts[outcome] = counts.get(outcome, 0) + 1
    return seen


@pytest.mark.heavy
def test_the_edge_runs_in_pyodide() -> None:
    servers = LoopbackServers().start()
    try:
        with FakeAccess() as team, FakeAI(keys={"openai": AI_KEY},
                                          default={"text": ["Streamed", " from", " a fake."], "usage": (11, 3)}) as ai:
            now = time.time()
            env = {
                # test_access_jwt: tokens minted here with `cryptography`
                "HOOX_ACCESS_ORIGIN": team.origin, "HOOX_ACCESS_AUD": team.audience,
                "HOOX_ACCESS_GOOD": team.token(now=now),
                "HOOX_ACCESS_FORGED": team.token(now=now, key=SigningKey("key-1", SigningKey.new("x").private)),
                "HOOX_ACCESS_EXPIRED": team.token(now=now - 7200, ttl=600),
                "HOOX_ACCESS_WRONG_AUD": team.token(now=now, aud=["another-app"]),
                # test_fetch_transport (the refused URL: a port nothing listens on) and test_pipeline
                "HOOX_TEST_URL": servers.url, "HOOX_REFUSED_URL": f"http://127.0.0.1:{free_port()}",
                "HOOX_BIG_SHA256": hashlib.sha256(BIG).hexdigest(), "HOOX_BIG_SIZE": str(len(BIG)),
                "HOOX_BINANCE_URL": servers.fake.url, "HOOX_BINANCE_KEY": servers.fake.api_key,
                "HOOX_BINANCE_SECRET": servers.fake.api_secret,
                # test_ai_chat: the loopback OpenAI and the key it takes
                "HOOX_AI_URL": ai.url, "HOOX_AI_KEY": AI_KEY,
            }
            try:
                out = run_in_pyodide(*(f"pyodide/inside/{f}" for f in INSIDE), env=env, extra=["-rA"])
            except PyodideRunFailed as exc:
                out = str(exc)
            counts = outcomes(out)
            wrong = {f: counts.get(f, {}) for f, n in INSIDE.items() if counts.get(f) != {"PASSED": n}}
            assert not wrong, f"inside Pyodide, files not passing all their tests: {wrong}\n{out}"
            assert team.fetches >= 1  # the Access keys came over fetch from the loopback JWKS
            # test_ai_chat's two chats each reached the provider once, in its documented shape
            assert len(ai.calls_to("openai")) == 2 and not ai.shape_errors
        # The fake exchange saw the signed calls that went out through fetch, each signature valid:
        # test_fetch_transport's leverage call, and test_pipeline's direct and queued signals placed once.
        assert any(c["path"] == "/fapi/v1/leverage" for c in servers.fake.calls)
        orders = [c for c in servers.fake.calls if c["path"] == "/fapi/v1/order" and c["method"] == "POST"]
        assert len(orders) == 2
        assert servers.fake.bad_signatures == 0
    finally:
        servers.stop()
