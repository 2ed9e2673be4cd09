"""The signal → exchange → ledger pipeline, the queue consumer, the cron and the SSE stream inside
real Pyodide on Miniflare, entered through entry.py as on Cloudflare
(tests/pyodide/inside/test_pipeline.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyodide_support import run_in_pyodide
from test_pyodide_fetch_transport import LoopbackServers


@pytest.fixture
def servers() -> Iterator[LoopbackServers]:
    s = LoopbackServers().start()
    try:
        yield s
    finally:
        s.stop()


def test_the_pipeline_runs_in_pyodide(servers: LoopbackServers) -> None:
    out = run_in_pyodide("pyodide/inside/test_pipeline.py", env={
        "HOOX_BINANCE_URL": servers.fake.url, "HOOX_BINANCE_KEY": servers.fake.api_key,
        "HOOX_BINANCE_SECRET": servers.fake.api_secret})
    assert "3 passed" in out
    orders = [c for c in servers.fake.calls if c["path"] == "/fapi/v1/order" and c["method"] == "POST"]
    assert len(orders) == 2  # the direct signal and the queued one, each placed once over HTTP via fetch
