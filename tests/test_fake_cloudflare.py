"""The loopback Cloudflare fake holds hoox to the documented shapes of the endpoints issue 18 added
(zone Rulesets, Workers custom Domains, Workers deployments of versions): a body that does not have
the shape is answered 400 and listed in `shape_errors`. Without this the `fake.shape_errors == []`
of the WAF, domain and rollout tests could not fail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fake_cloudflare import ACCOUNT, TOKEN, FakeCloudflare

ZONE = "zone1"


@pytest.fixture
def api() -> Iterator[tuple[FakeCloudflare, httpx.Client]]:
    fake = FakeCloudflare(TOKEN, ACCOUNT).start()
    fake.state.zones[ZONE] = {"name": "desk.example"}
    with httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield fake, client
    fake.stop()


def refused(fake: FakeCloudflare, r: httpx.Response, says: str) -> bool:
    return (r.status_code == 400 and r.json()["success"] is False and bool(fake.shape_errors)
            and says in fake.shape_errors[-1])


def test_rulesets_take_rules_of_the_documented_shape_only(api: Any) -> None:
    fake, client = api
    entry = f"/zones/{ZONE}/rulesets/phases/http_ratelimit/entrypoint"
    assert client.get(entry).status_code == 404  # a phase without an entry point yet
    rule = {"ref": "r1", "expression": "true", "action": "block",
            "ratelimit": {"characteristics": ["ip.src", "cf.colo.id"], "period": 60, "requests_per_period": 5}}
    r = client.put(entry, json={"rules": [rule]})
    assert r.status_code == 200 and fake.shape_errors == []
    assert r.json()["result"]["rules"][0]["id"]  # Cloudflare assigns the id
    # a rate-limit rule without cf.colo.id among its characteristics, a rule with no expression,
    # an appended rule that names its own id
    bad = {**rule, "ratelimit": {**rule["ratelimit"], "characteristics": ["ip.src"]}}
    assert refused(fake, client.put(entry, json={"rules": [bad]}), "cf.colo.id")
    assert refused(fake, client.post(f"/zones/{ZONE}/rulesets/rs-http_ratelimit/rules",
                                     json={"action": "block"}), "expression")
    assert refused(fake, client.post(f"/zones/{ZONE}/rulesets/rs-http_ratelimit/rules",
                                     json={**rule, "id": "mine"}), "assigned by Cloudflare")
    assert len(fake.state.rulesets[(ZONE, "http_ratelimit")]) == 1  # nothing refused was kept


def test_custom_domains_need_a_hostname_a_service_and_a_zone(api: Any) -> None:
    fake, client = api
    domains = f"/accounts/{ACCOUNT}/workers/domains"
    assert refused(fake, client.put(domains, json={"hostname": "api.desk.example"}), "service")
    r = client.put(domains, json={"hostname": "api.desk.example", "service": "hoox", "zone_id": ZONE})
    assert r.status_code == 200 and r.json()["result"]["zone_name"] == "desk.example"
    r = client.put(domains, json={"hostname": "api.other.example", "service": "hoox", "zone_id": ZONE})
    assert r.status_code == 400 and "not in the zone" in r.json()["errors"][0]["message"]
    assert [d["hostname"] for d in client.get(domains).json()["result"]] == ["api.desk.example"]


def test_a_deployment_names_existing_versions_at_percentages_that_add_up_to_100(api: Any) -> None:
    fake, client = api
    first = fake.new_version("hoox")
    fake.new_version("hoox")
    v1 = fake.state.scripts["hoox"]["versions"][0]["id"]
    deployments = f"/accounts/{ACCOUNT}/workers/scripts/hoox/deployments"
    assert first["deployment_id"]
    assert refused(fake, client.post(deployments, json={"strategy": "percentage",
                                                        "versions": [{"version_id": v1, "percentage": 50}]}),
                   "add up to 100")
    assert refused(fake, client.post(deployments, json={"versions": [{"version_id": v1, "percentage": 100}]}),
                   "strategy")
    r = client.post(deployments, json={"strategy": "percentage", "versions": [{"version_id": "nope",
                                                                              "percentage": 100}]})
    assert r.status_code == 404  # a version the worker does not have
    r = client.post(deployments, json={"strategy": "percentage", "versions": [{"version_id": v1, "percentage": 100}],
                                       "annotations": {"workers/message": "rollback"}})
    assert r.status_code == 200 and fake.active_version("hoox") == v1
    listed = client.get(deployments).json()["result"]["deployments"]
    assert listed[0]["versions"] == [{"version_id": v1, "percentage": 100}]  # newest first
