"""Workers whose features are later issues say so: health is ok, feature routes answer 501, crons log it."""

from __future__ import annotations

import pytest

FEATURES = {
    "web3-wallet-worker": ["/dex", "/dex/swap"],
    "agent-worker": ["/agent/chat", "/agent/status"],
    "email-worker": ["/email", "/email/inbound"],
    "report-worker": ["/report", "/report/latest"],
}
CRONS = {"agent-worker": "*/5 * * * *", "email-worker": "*/5 * * * *", "report-worker": "0 6,18 * * *"}


@pytest.fixture
async def rt(workspace):
    from hoox_edge.local.runtime import LocalRuntime

    runtime = LocalRuntime(workspace, workers=[*FEATURES, "d1-worker"])
    await runtime.open()
    try:
        yield runtime
    finally:
        await runtime.stop()


def key(rt, worker) -> dict[str, str]:
    return {"X-Internal-Auth-Key": rt.env(worker).INTERNAL_KEY_BINDING}


@pytest.mark.parametrize("worker", list(FEATURES))
async def test_health_is_ok_and_says_features_are_not_available(rt, worker):
    r = await rt.request(worker, "GET", "/health")
    assert r.status == 200
    assert r.json()["status"] == "ok" and r.json()["features"] == "not available in this version"


@pytest.mark.parametrize(("worker", "path"), [(w, p) for w, ps in FEATURES.items() for p in ps])
async def test_feature_routes_answer_501_plainly(rt, worker, path):
    for method in ("GET", "POST"):
        r = await rt.request(
            worker, method, path, json={} if method == "POST" else None, headers=key(rt, worker)
        )
        assert r.status == 501
        err = r.json()["error"]
        assert err["code"] == "NOT_AVAILABLE" and "not available in this version" in err["message"]


@pytest.mark.parametrize("worker", list(FEATURES))
async def test_feature_routes_still_need_the_internal_key(rt, worker):
    path = FEATURES[worker][0]
    assert (await rt.request(worker, "POST", path, json={})).status == 401
    assert (
        await rt.request(worker, "POST", path, json={}, headers={"X-Internal-Auth-Key": "nope"})
    ).status == 401


@pytest.mark.parametrize("worker", list(CRONS))
async def test_cron_logs_that_it_fired_and_did_nothing(rt, worker):
    await rt.run_cron(worker, CRONS[worker])
    rows = (
        await rt.env("d1-worker")
        .DB.prepare("SELECT level, message, details FROM system_logs WHERE worker = ?")
        .bind(worker)
        .all()
    )["results"]
    assert len(rows) == 1
    assert rows[0]["level"] == "info"
    assert CRONS[worker] in rows[0]["message"] and "not available in this version" in rows[0]["message"]
