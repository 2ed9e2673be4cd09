"""Workers' CPU time and data centres on Cloudflare, read by the core from the GraphQL Analytics API
(`hoox_cli/core/cf_usage.py`), against the loopback fake answering in the documented shape.

The fake holds single invocations; the figures expected here are worked out from them by the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare

from hoox_cli.core import cf_usage
from hoox_cli.core.cloudflare_api import CloudflareAPI, CloudflareError


@pytest.fixture
def fake() -> Iterator[FakeCloudflare]:
    f = FakeCloudflare(TOKEN, ACCOUNT).start()
    try:
        yield f
    finally:
        f.stop()


def call(when: str, script: str, colo: str, cpu_us: int, status: str = "success") -> dict[str, Any]:
    return {"datetime": f"2026-01-05T{when}.000Z", "scriptName": script, "coloCode": colo, "status": status,
            "cpuTime": cpu_us}


HOOX_CPU_US = [1200, 800, 3000, 950, 15000, 1100, 700, 2500, 1300, 990]  # ten requests to the gateway


def invocations() -> list[dict[str, Any]]:
    rows = [call(f"11:5{6 + i % 3}:{i:02d}", "hoox", "LHR" if i < 7 else "FRA", us)
            for i, us in enumerate(HOOX_CPU_US)]
    rows += [call("11:58:00", "trade-worker", "FRA", 4000),
             call("11:58:30", "trade-worker", "FRA", 6000, "scriptThrewException"),
             call("11:59:00", "trade-worker", "SJC", 5000)]
    rows.append(call("11:59:10", "someone-elses-worker", "LHR", 99_000))  # another script of the account
    rows.append(call("11:50:00", "hoox", "NRT", 50_000))  # before the window
    return rows


def nearest_rank(values: list[int], p: int) -> int:
    ordered = sorted(values)
    return ordered[max(1, -(-len(ordered) * p // 100)) - 1]


async def test_cpu_per_worker_and_requests_per_data_centre(fake: FakeCloudflare, clock: Any) -> None:
    fake.state.invocations = invocations()
    async with CloudflareAPI(TOKEN, ACCOUNT, base=fake.base_url) as api:
        usage = await cf_usage.fetch(api)
    assert fake.shape_errors == []
    [sent] = fake.calls("POST", r"/graphql$")
    assert sent.json()["variables"] == {"accountTag": ACCOUNT, "since": "2026-01-05T11:55:00.000Z",
                                        "until": "2026-01-05T12:00:00.000Z"}
    assert usage.window == "5m" and set(usage.scripts) == {"hoox", "trade-worker"}
    hoox = usage.scripts["hoox"]
    assert (hoox.requests, hoox.errors) == (10, 0)
    assert hoox.cpu_p50_ms == nearest_rank(HOOX_CPU_US, 50) / 1000  # microseconds in the schema
    assert hoox.cpu_p99_ms == nearest_rank(HOOX_CPU_US, 99) / 1000 == 15.0
    trade = usage.scripts["trade-worker"]
    assert (trade.requests, trade.errors, trade.cpu_p50_ms, trade.cpu_p99_ms) == (3, 1, 5.0, 6.0)
    # hoox's workers only, busiest data centre first; the invocation before the window is not there
    assert [(c.colo, c.requests, c.errors) for c in usage.colos] == [("LHR", 7, 0), ("FRA", 5, 1), ("SJC", 1, 0)]


async def test_a_graphql_error_is_said_with_its_message(fake: FakeCloudflare, clock: Any) -> None:
    async with CloudflareAPI(TOKEN, "another-account", base=fake.base_url) as api:
        with pytest.raises(CloudflareError, match="not authorized for that account"):
            await cf_usage.fetch(api)
    async with CloudflareAPI("wrong-token", ACCOUNT, base=fake.base_url) as api:
        with pytest.raises(CloudflareError, match="HTTP 403"):
            await cf_usage.fetch(api)
    async with CloudflareAPI(TOKEN, None, base=fake.base_url) as api:
        with pytest.raises(CloudflareError, match="No Cloudflare account id"):
            await cf_usage.fetch(api)


async def test_the_fake_refuses_a_field_the_dataset_does_not_have(fake: FakeCloudflare) -> None:
    query = cf_usage.QUERY.replace("cpuTimeP99", "cpuTimeP95")
    async with CloudflareAPI(TOKEN, ACCOUNT, base=fake.base_url) as api:
        with pytest.raises(CloudflareError, match="cpuTimeP95"):
            await api.graphql(query, {"accountTag": ACCOUNT, "since": "x", "until": "y"})
