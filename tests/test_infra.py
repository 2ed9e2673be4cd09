"""`hoox infra …` and `hoox waf configure`: the local state, and Cloudflare through a loopback fake."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pyjson5
import pytest
from cli_support import as_json as out_of
from cli_support import hoox
from fake_cloudflare import FakeCloudflare, start_fake
from hoox_edge import catalog
from hoox_edge.local.kv import LocalKV
from hoox_edge.local.workspace import Workspace
from hoox_edge.shared import settings

from hoox_cli.core import cloudflare_table, deploy


@pytest.fixture
def fake(ws: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    f = start_fake(monkeypatch, tmp_path / "home")
    yield f
    f.stop()


# --------------------------------------------------------------------------- local
def test_local_provision_creates_the_state_the_enabled_workers_bind(ws: Workspace) -> None:
    res = hoox("infra", "provision", "--json")
    assert res.exit_code == 0, res.stdout
    out = out_of(res)
    assert out["target"] == "local"
    made = {(r["kind"], r["name"]) for r in out["resources"]}
    # trade-reports: report-worker is disabled by default, but agent-worker reads the reports into its memory
    assert made == {("kv", catalog.CONFIG_KV), ("kv", catalog.SESSIONS_KV), ("d1", catalog.TRADE_DB),
                    ("r2", catalog.SYSTEM_LOGS_BUCKET), ("r2", catalog.REPORTS_BUCKET)}
    assert all(r["created"] for r in out["resources"])
    state = ws.state_dir
    assert (state / "kv" / "hoox-config.sqlite").is_file() and (state / "kv" / "hoox-sessions.sqlite").is_file()
    assert (state / "r2" / catalog.SYSTEM_LOGS_BUCKET).is_dir()
    with sqlite3.connect(state / "d1" / "trade-data-db.sqlite") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"trades", "trade_signals", "d1_migrations"} <= tables
    again = out_of(hoox("infra", "provision", "--json"))
    assert not any(r["created"] for r in again["resources"])


def test_local_kv_create_list_delete(ws: Workspace) -> None:
    out = out_of(hoox("infra", "kv", "create", "staging-config", "--json"))
    assert out == {"target": "local", "kind": "kv", "name": "staging-config", "id": None, "created": True,
                   "recorded": False}
    path = ws.state_dir / "kv" / "staging-config.sqlite"
    assert path.is_file()
    rows = {r["name"]: r for r in out_of(hoox("infra", "kv", "list", "--json"))["resources"]}
    assert rows["staging-config"]["exists"] and not rows["staging-config"]["declared"]
    assert rows[catalog.CONFIG_KV]["declared"]
    res = hoox("infra", "kv", "delete", "staging-config", "--json")
    assert res.exit_code == 1 and out_of(res)["error"]["code"] == "CONFIRM_REQUIRED"
    assert path.is_file()
    out = out_of(hoox("infra", "kv", "delete", "staging-config", "--confirm", "--json"))
    assert out["deleted"] is True and not path.exists()
    assert out_of(hoox("infra", "kv", "create", "../evil", "--json"))["error"]["code"] == "BAD_NAME"


def test_local_r2_and_d1_create(ws: Workspace) -> None:
    assert out_of(hoox("infra", "r2", "create", "archive", "--json"))["created"] is True
    assert (ws.state_dir / "r2" / "archive" / "objects").is_dir()
    assert out_of(hoox("infra", "d1", "create", "scratch", "--json"))["created"] is True
    assert (ws.state_dir / "d1" / "scratch.sqlite").is_file()
    names = [r["name"] for r in out_of(hoox("infra", "d1", "list", "--json"))["resources"]]
    assert "scratch" in names and catalog.TRADE_DB in names


def test_local_queues_and_vectorize_say_what_is_not_there(ws: Workspace) -> None:
    rows = out_of(hoox("infra", "queues", "list", "--json"))["resources"]
    assert {r["name"] for r in rows} == {catalog.TRADE_QUEUE, catalog.TRADE_DLQ}
    assert all(r["messages"] == 0 for r in rows)
    assert out_of(hoox("infra", "queues", "create", "x", "--json"))["error"]["code"] == "NOTHING_TO_CREATE"
    res = hoox("infra", "vectorize", "create", "rag-index", "--dimensions", "8", "--json")
    assert res.exit_code == 1 and out_of(res)["error"]["code"] == "NOT_AVAILABLE_LOCALLY"


# --------------------------------------------------------------------------- remote
def test_remote_provision_creates_missing_resources_and_records_their_ids(ws: Workspace,
                                                                          fake: FakeCloudflare) -> None:
    ws.config_path.write_text("# my desk\n" + ws.config_path.read_text())
    fake.state.kv["existing-id"] = {"title": catalog.SESSIONS_KV, "values": {}}  # adopted, not duplicated
    res = hoox("infra", "provision", "--remote", "--json")
    assert res.exit_code == 0, res.stdout
    out = out_of(res)
    by = {(r["kind"], r["name"]): r for r in out["resources"]}
    assert set(by) == {("kv", catalog.CONFIG_KV), ("kv", catalog.SESSIONS_KV), ("d1", catalog.TRADE_DB),
                       ("r2", catalog.SYSTEM_LOGS_BUCKET), ("r2", catalog.REPORTS_BUCKET),
                       ("queues", catalog.TRADE_QUEUE), ("queues", catalog.TRADE_DLQ),
                       ("vectorize", catalog.DESK_MEMORY_INDEX)}
    assert by[("kv", catalog.SESSIONS_KV)] == {"kind": "kv", "name": catalog.SESSIONS_KV, "id": "existing-id",
                                               "created": False}
    assert [c.json() for c in fake.calls("POST", r"/storage/kv/namespaces$")] == [{"title": catalog.CONFIG_KV}]
    assert [c.json() for c in fake.calls("POST", r"/d1/database$")] == [{"name": catalog.TRADE_DB}]
    assert sorted(c.json()["name"] for c in fake.calls("POST", r"/r2/buckets$")) == [catalog.SYSTEM_LOGS_BUCKET,
                                                                                 catalog.REPORTS_BUCKET]
    # the desk memory's index: the dimensions of the default embedding models, cosine
    [index] = [c.json() for c in fake.calls("POST", r"/vectorize/v2/indexes$")]
    assert index["name"] == catalog.DESK_MEMORY_INDEX
    assert index["config"] == {"dimensions": catalog.DESK_MEMORY_DIMENSIONS, "metric": "cosine"}
    assert sorted(c.json()["queue_name"] for c in fake.calls("POST", r"/queues$")) == sorted(
        [catalog.TRADE_QUEUE, catalog.TRADE_DLQ])
    assert fake.shape_errors == []
    # ids in hoox.toml (comments kept), and the staged configs bind them
    text = ws.config_path.read_text()
    assert text.startswith("# my desk\n")
    res_ids = deploy.resources(ws)
    assert res_ids["kv"][catalog.SESSIONS_KV] == "existing-id"
    assert res_ids["d1"][catalog.TRADE_DB] == by[("d1", catalog.TRADE_DB)]["id"]
    cfg = pyjson5.decode((deploy.worker_dir(ws, "hoox") / "wrangler.jsonc").read_text())
    assert {"binding": "SESSIONS_KV", "id": "existing-id"} in cfg["kv_namespaces"]
    assert cfg["account_id"] == fake.account_id
    # idempotent
    fake.requests.clear()
    out = out_of(hoox("infra", "provision", "--remote", "--json"))
    assert not any(r["created"] for r in out["resources"])
    assert not [r for r in fake.requests if r.method == "POST"]


def test_remote_create_list_delete_of_every_kind(ws: Workspace, fake: FakeCloudflare) -> None:
    for kind in ("kv", "d1", "r2", "queues"):
        out = out_of(hoox("infra", kind, "create", "extra-res", "--remote", "--json"))
        assert out["created"] is True and out["target"] == "remote", (kind, out)
        assert out["recorded"] is (kind in ("kv", "d1"))
        again = out_of(hoox("infra", kind, "create", "extra-res", "--remote", "--json"))
        assert again["created"] is False and again["id"] == out["id"]
        names = [r["name"] for r in out_of(hoox("infra", kind, "list", "--remote", "--json"))["resources"]]
        assert names == ["extra-res"]
        res = hoox("infra", kind, "delete", "extra-res", "--remote", "--json")
        assert out_of(res)["error"]["code"] == "CONFIRM_REQUIRED"
        out = out_of(hoox("infra", kind, "delete", "extra-res", "--remote", "--confirm", "--json"))
        assert out["deleted"] is True
        assert out_of(hoox("infra", kind, "list", "--remote", "--json"))["resources"] == []
    assert deploy.resources(ws)["kv"] == {} and deploy.resources(ws)["d1"] == {}
    out = out_of(hoox("infra", "vectorize", "create", "rag-index", "--dimensions", "768", "--metric", "cosine",
                      "--remote", "--json"))
    assert out["created"] is True
    (post,) = fake.calls("POST", r"/vectorize/v2/indexes$")
    assert post.json() == {"name": "rag-index", "config": {"dimensions": 768, "metric": "cosine"}}
    rows = out_of(hoox("infra", "vectorize", "list", "--remote", "--json"))["resources"]
    assert rows[0]["dimensions"] == 768
    assert out_of(hoox("infra", "vectorize", "delete", "rag-index", "--remote", "--confirm", "--json"))["deleted"]
    assert fake.shape_errors == []
    assert all(r.headers["authorization"] == f"Bearer {fake.token}" for r in fake.requests)


def test_remote_without_credentials_says_what_to_set(ws: Workspace) -> None:
    res = hoox("infra", "kv", "list", "--remote", "--json")
    assert res.exit_code == 1 and out_of(res)["error"]["code"] == "NO_CREDENTIALS"


def test_remote_api_errors_are_reported(ws: Workspace, fake: FakeCloudflare) -> None:
    fake.fail_next[r"/d1/database$"] = 500
    res = hoox("infra", "d1", "list", "--remote", "--json")
    assert res.exit_code == 1
    err = out_of(res)["error"]
    assert err["code"] == "CLOUDFLARE_ERROR" and "500" in err["message"]
    assert fake.token not in res.stdout


# --------------------------------------------------------------------------- waf
def test_waf_locally_sets_the_gateway_allowlist_and_rate_limit(ws: Workspace) -> None:
    res = hoox("waf", "configure", "--tradingview-only", "--limit-requests", "4", "--json")
    assert res.exit_code == 0, res.stdout
    out = out_of(res)
    assert out["target"] == "local"
    kv = LocalKV(ws.state_dir / "kv" / f"{catalog.CONFIG_KV}.sqlite")
    try:
        assert asyncio.run(kv.get("webhook:tradingview:ip_check")) == "true"
        assert settings.parse("webhook:tradingview:allowed_ips",
                              asyncio.run(kv.get("webhook:tradingview:allowed_ips"))) == settings.TRADINGVIEW_IPS
        assert asyncio.run(kv.get("webhooks:rate_limit_per_minute")) == "4"
    finally:
        kv.close()
    assert hoox("waf", "configure", "--json").exit_code == 2


def test_waf_turns_the_tradingview_only_filter_off_again(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from hoox_edge.local.runtime import LocalRuntime

    def from_elsewhere() -> int:
        async def go() -> int:
            rt = LocalRuntime(ws)
            await rt.open()
            try:
                # a signal from 127.0.0.1, not a TradingView address (the gateway's own check, end to end)
                resp = await rt.request("hoox", "POST", "/webhook", json={
                    "apiKey": ws.secrets()["WEBHOOK_API_KEY"], "exchange": "bybit", "action": "LONG",
                    "symbol": "BTCUSDT", "quantity": 0.001})
                return resp.status
            finally:
                await rt.stop()

        return asyncio.run(go())

    assert hoox("waf", "configure", "--tradingview-only", "--json").exit_code == 0
    assert from_elsewhere() == 403
    res = hoox("waf", "configure", "--no-tradingview-only", "--json")
    assert res.exit_code == 0, res.stdout
    assert out_of(res)["changes"] == [{"what": "webhook:tradingview:ip_check", "value": False}]
    kv = LocalKV(ws.state_dir / "kv" / f"{catalog.CONFIG_KV}.sqlite")
    try:
        assert asyncio.run(kv.get("webhook:tradingview:ip_check")) == "false"
        # the allowlist is kept for the next time the filter is turned on
        assert asyncio.run(kv.get("webhook:tradingview:allowed_ips")) is not None
    finally:
        kv.close()
    assert from_elsewhere() in (200, 202)  # filled on paper, or queued
    assert "removed" not in hoox("waf", "configure", "--no-tradingview-only").stdout


def test_waf_remote_writes_zone_rules_once_keeps_the_others_and_removes_them(ws: Workspace,
                                                                            fake: FakeCloudflare) -> None:
    other = {"id": "r-mine", "ref": "my_rule", "expression": '(http.request.uri.path eq "/admin")', "action": "block",
             "description": "the operator's own rule"}
    fake.state.rulesets[("zone1", "http_request_firewall_custom")] = [other]
    res = hoox("waf", "configure", "--tradingview-only", "--limit-requests", "20", "--cloudflare",
               "--zone-id", "zone1", "--json")
    assert res.exit_code == 0, res.stdout
    assert fake.shape_errors == []
    assert [(c["what"], c["action"]) for c in out_of(res)["changes"]] == [
        ("http_request_firewall_custom:hoox_tradingview_only", "created"),
        ("http_ratelimit:hoox_webhook_rate_limit", "created")]
    custom = fake.state.rulesets[("zone1", "http_request_firewall_custom")]
    assert custom[0] == other  # the operator's rule untouched, never re-sent
    assert not fake.calls("PUT", r"/zones/zone1/rulesets/phases/http_request_firewall_custom/entrypoint$")
    (added,) = fake.calls("POST", r"/zones/zone1/rulesets/rs-http_request_firewall_custom/rules$")
    tv = custom[1]
    assert tv["action"] == "block" and all(ip in tv["expression"] for ip in settings.TRADINGVIEW_IPS)
    assert '"/webhook"' in tv["expression"] and added.json()["ref"] == "hoox_tradingview_only"
    (rate,) = fake.state.rulesets[("zone1", "http_ratelimit")]  # that phase had no entry point: created
    assert rate["ratelimit"]["requests_per_period"] == 20 and rate["ratelimit"]["period"] == 60
    # again (zone remembered; --remote, the old spelling of --cloudflare): nothing is written, the rules
    # are reported unchanged, even with the defaults Cloudflare adds to a stored rule
    fake.state.rulesets[("zone1", "http_ratelimit")][0]["ratelimit"]["requests_to_origin"] = False
    writes = [r for r in fake.requests if r.method != "GET"]
    res = hoox("waf", "configure", "--tradingview-only", "--limit-requests", "20", "--remote", "--json")
    assert res.exit_code == 0, res.stdout
    assert out_of(res)["changes"] == [] and len(out_of(res)["unchanged"]) == 2
    assert [r for r in fake.requests if r.method != "GET"] == writes
    # a new limit edits hoox's rule in place (same id)
    res = hoox("waf", "configure", "--limit-requests", "5", "--remote", "--period", "10", "--json")
    assert [c["action"] for c in out_of(res)["changes"]] == ["updated"]
    (rate2,) = fake.state.rulesets[("zone1", "http_ratelimit")]
    assert rate2["id"] == rate["id"] and rate2["ratelimit"]["requests_per_period"] == 5
    res = hoox("waf", "configure", "--limit-requests", "5", "--remote", "--period", "7", "--json")
    assert out_of(res)["error"]["code"] == "BAD_PERIOD"
    # waf show reads them back from the zone
    shown = out_of(hoox("waf", "show", "--cloudflare", "--json"))
    assert shown["zone_id"] == "zone1" and shown == out_of(hoox("waf", "show", "--remote", "--json"))
    assert {(r["ref"], r["phase"]) for r in shown["rules"]} == {
        ("hoox_tradingview_only", "http_request_firewall_custom"), ("hoox_webhook_rate_limit", "http_ratelimit")}
    assert next(r for r in shown["rules"] if r["ref"] == "hoox_webhook_rate_limit")["ratelimit"][
        "requests_per_period"] == 5
    # --off removes both, the operator's own rule kept; a second time changes nothing
    res = hoox("waf", "configure", "--off", "--remote", "--json")
    assert res.exit_code == 0, res.stdout
    assert [(c["action"], c["value"]) for c in out_of(res)["changes"]] == [("removed", None), ("removed", None)]
    assert fake.state.rulesets[("zone1", "http_request_firewall_custom")] == [other]
    assert fake.state.rulesets[("zone1", "http_ratelimit")] == []
    assert out_of(hoox("waf", "show", "--remote", "--json"))["rules"] == []
    res = hoox("waf", "configure", "--off", "--remote", "--json")
    assert res.exit_code == 0 and out_of(res)["changes"] == []
    assert fake.shape_errors == []
    assert hoox("waf", "configure", "--off", "--limit-requests", "3", "--json").exit_code == 2


def test_waf_remote_finds_the_zone_by_its_name_and_limits_rules_to_the_gateway_host(
        ws: Workspace, fake: FakeCloudflare) -> None:
    res = hoox("waf", "configure", "--tradingview-only", "--remote", "--json")
    assert res.exit_code == 1 and "zone" in out_of(res)["error"]["message"]
    fake.state.zones["zid-77"] = {"name": "desk.example"}
    cloudflare_table.set_cloudflare(ws, ["zone"], "desk.example")
    cloudflare_table.set_cloudflare(ws, ["hostnames", "hoox"], "api.desk.example")
    res = hoox("waf", "configure", "--tradingview-only", "--remote", "--json")
    assert res.exit_code == 0, res.stdout
    assert out_of(res)["zone_id"] == "zid-77" and cloudflare_table.cloudflare_table(ws)["zone_id"] == "zid-77"
    (tv,) = fake.state.rulesets[("zid-77", "http_request_firewall_custom")]
    assert tv["expression"].startswith('(http.host eq "api.desk.example" and ')


def test_waf_off_locally_turns_both_guards_back_to_their_defaults(ws: Workspace) -> None:
    assert hoox("waf", "configure", "--tradingview-only", "--limit-requests", "4", "--json").exit_code == 0
    res = hoox("waf", "configure", "--off", "--json")
    assert res.exit_code == 0, res.stdout
    assert out_of(res)["changes"] == [{"what": "webhook:tradingview:ip_check", "value": False},
                                      {"what": "webhooks:rate_limit_per_minute", "value": None}]
    shown = {r["key"]: r for r in out_of(hoox("waf", "show", "--json"))["settings"]}
    assert shown["webhook:tradingview:ip_check"]["value"] is False
    assert shown["webhooks:rate_limit_per_minute"]["source"] == "default"
