"""Workers whose features are later issues say so: health is ok, feature routes answer 501, crons log it.
agent-worker serves the risk manager; only its AI chat is not built, and its /health says so. report-worker
serves every feature (its reports are tested in test_reports.py)."""

from __future__ import annotations

import pytest

FEATURES = {
    "email-worker": ["/email", "/email/inbound"],
}
CRONS = {"email-worker": "*/5 * * * *"}


@pytest.fixture
async def rt(workspace):
    from hoox_edge.local.runtime import LocalRuntime

    runtime = LocalRuntime(workspace, workers=[*FEATURES, "web3-wallet-worker", "agent-worker", "report-worker",
                                               "d1-worker", "hoox", "trade-worker", "telegram-worker"])
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


async def test_agent_worker_says_what_it_serves_and_what_it_does_not(rt):
    health = (await rt.request("agent-worker", "GET", "/health")).json()
    assert health["features"] == {"riskManager": "available", "aiGateway": "available", "deskAssistant": "available"}
    key = {"X-Internal-Auth-Key": rt.env("agent-worker").INTERNAL_KEY_BINDING}
    r = await rt.request("agent-worker", "POST", "/agent/chat", json={"message": "hi", "stream": False}, headers=key)
    assert r.status == 503 and "no provider is configured" in r.json()["error"]["message"]  # no AI key set
    assert (await rt.request("agent-worker", "POST", "/agent/chat", json={})).status == 401


async def test_web3_wallet_worker_says_it_serves_the_wallet_and_swaps(rt):
    health = (await rt.request("web3-wallet-worker", "GET", "/health")).json()
    assert health["features"] == {"wallet": "available", "swap": "available"}


async def test_the_workers_list_shows_each_worker_as_what_it_serves(rt):
    from hoox_edge.operator import workers

    from hoox_cli.core.models import status_label

    probes = {w: await workers.probe(rt.env("hoox"), w) for w in [*FEATURES, "web3-wallet-worker", "agent-worker",
                                                                "report-worker"]}
    assert {w: p["features"] for w, p in probes.items()} == {
        "web3-wallet-worker": "available", "email-worker": "not available", "report-worker": "available",
        "agent-worker": "available"}
    assert {w: status_label(p["status"], p["features"]) for w, p in probes.items()} == {
        "web3-wallet-worker": "operational", "email-worker": "not available",
        "report-worker": "operational",
        "agent-worker": "operational"}
