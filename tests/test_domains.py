"""Custom domains of the public workers: hoox.toml names them, the deploy renders them as routes,
`hoox infra domain add|list|remove` manages them on Cloudflare (a loopback fake), and every command
shows a worker at `public_url`."""

from __future__ import annotations

from pathlib import Path

import pyjson5
import pytest
from cli_support import as_json, hoox
from fake_cloudflare import FakeCloudflare, start_fake
from hoox_edge.local.workspace import Workspace

from hoox_cli.core import cloudflare_table, deploy, domains

ZONE_ID = "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"


@pytest.fixture
def fake(ws: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    f = start_fake(monkeypatch, tmp_path / "home")
    f.state.zones[ZONE_ID] = {"name": "desk.example"}
    cloudflare_table.set_cloudflare(ws, ["zone"], "desk.example")
    yield f
    f.stop()


def _config(ws: Workspace, worker: str) -> dict:
    deploy.stage_config(ws, worker)
    return pyjson5.decode((deploy.worker_dir(ws, worker) / "wrangler.jsonc").read_text())


def test_the_gateway_hostname_is_rendered_as_a_custom_domain_route(ws: Workspace) -> None:
    assert "routes" not in _config(ws, "hoox")  # none configured: workers.dev only
    cloudflare_table.set_cloudflare(ws, ["zone"], "desk.example")
    cloudflare_table.set_cloudflare(ws, ["hostnames", "hoox"], "api.desk.example")
    assert _config(ws, "hoox")["routes"] == [{"pattern": "api.desk.example", "custom_domain": True}]
    assert "routes" not in _config(ws, "trade-worker")
    assert domains.public_url(ws, "hoox") == "https://api.desk.example"


@pytest.mark.parametrize(("worker", "host", "said"), [
    ("trade-worker", "trade.desk.example", "not public"),
    ("hoox", "api.other.example", "not in the zone desk.example"),
    ("hoox", "api desk", "not a hostname"),
    ("hoox", "hoox.me.workers.dev", "workers.dev"),
])
def test_a_hostname_that_cannot_route_is_refused_naming_the_key(ws: Workspace, worker: str, host: str,
                                                                 said: str) -> None:
    cloudflare_table.set_cloudflare(ws, ["zone"], "desk.example")
    cloudflare_table.set_cloudflare(ws, ["hostnames", worker], host)
    res = hoox("deploy", "update-internal-urls", "--json")
    assert res.exit_code == 1
    err = as_json(res)["error"]
    assert err["code"] == "BAD_HOSTNAME" and f"cloudflare.hostnames.{worker}" in err["message"]
    assert said in err["message"]


def test_config_set_checks_zone_and_hostnames(ws: Workspace) -> None:
    assert hoox("config", "set", "cloudflare.zone", "desk.example", "--json").exit_code == 0
    res = hoox("config", "set", "cloudflare.hostnames.hoox", "not a host", "--json")
    assert res.exit_code != 0 and as_json(res)["error"]["code"] == "INVALID_VALUE"
    assert hoox("config", "set", "cloudflare.hostnames.hoox", "api.desk.example", "--json").exit_code == 0
    assert domains.hostnames(ws) == {"hoox": "api.desk.example"}
    # an internal worker has no such key
    res = hoox("config", "set", "cloudflare.hostnames.d1-worker", "db.desk.example", "--json")
    assert res.exit_code != 0


def test_public_url_prefers_the_custom_domain_then_the_deployed_url_then_the_subdomain(ws: Workspace) -> None:
    assert domains.public_url(ws, "hoox") is None  # never deployed, nothing known
    cloudflare_table.set_cloudflare(ws, ["subdomain"], "alpha")
    assert domains.public_url(ws, "hoox") == "https://hoox.alpha.workers.dev"
    deploy.record_resource(ws, "urls", "hoox", "https://hoox.alpha-2.workers.dev/")
    assert domains.public_url(ws, "hoox") == "https://hoox.alpha-2.workers.dev"
    cloudflare_table.set_cloudflare(ws, ["hostnames", "hoox"], "api.desk.example")
    assert domains.public_url(ws, "hoox") == "https://api.desk.example"
    assert domains.public_url(ws, "trade-worker") is None  # internal: no URL at all


def test_infra_domain_add_list_remove_through_the_workers_domains_api(ws: Workspace, fake: FakeCloudflare) -> None:
    res = hoox("infra", "domain", "add", "hoox", "API.desk.example", "--json")
    assert res.exit_code == 0, res.stdout
    out = as_json(res)
    assert out["created"] is True and out["hostname"] == "api.desk.example" and out["zone_id"] == ZONE_ID
    assert out["url"] == "https://api.desk.example"
    (put,) = fake.calls("PUT", r"/workers/domains$")
    assert put.json() == {"hostname": "api.desk.example", "service": "hoox", "zone_id": ZONE_ID}
    assert cloudflare_table.cloudflare_table(ws)["hostnames"]["hoox"] == "api.desk.example"
    assert cloudflare_table.cloudflare_table(ws)["zone_id"] == ZONE_ID  # looked up once by name, then recorded
    # again: already so, nothing sent
    again = as_json(hoox("infra", "domain", "add", "hoox", "api.desk.example", "--json"))
    assert again["created"] is False and len(fake.calls("PUT", r"/workers/domains$")) == 1
    # the rendered config routes it
    assert _config(ws, "hoox")["routes"] == [{"pattern": "api.desk.example", "custom_domain": True}]
    # listed as attached and configured; a hostname configured but not attached is listed too
    fake.state.domains["other"] = {"id": "other", "hostname": "www.desk.example", "service": "site",
                                   "zone_id": ZONE_ID, "zone_name": "desk.example", "environment": "production"}
    rows = {r["hostname"]: r for r in as_json(hoox("infra", "domain", "list", "--json"))["domains"]}
    assert rows["api.desk.example"]["attached"] and rows["api.desk.example"]["configured"]
    assert rows["www.desk.example"]["worker"] == "site" and not rows["www.desk.example"]["configured"]
    # a hostname that routes to another worker is not taken over
    res = hoox("infra", "domain", "add", "hoox", "www.desk.example", "--json")
    assert res.exit_code == 1 and as_json(res)["error"]["code"] == "DOMAIN_TAKEN"
    assert cloudflare_table.cloudflare_table(ws)["hostnames"]["hoox"] == "api.desk.example"
    # refused before any call: an internal worker, a host outside the zone
    for args in (("d1-worker", "db.desk.example"), ("hoox", "api.elsewhere.example")):
        res = hoox("infra", "domain", "add", *args, "--json")
        assert res.exit_code == 1 and as_json(res)["error"]["code"] == "BAD_HOSTNAME"
    assert len(fake.calls("PUT", r"/workers/domains$")) == 1
    # remove: detached and forgotten; the route is gone from the next render
    out = as_json(hoox("infra", "domain", "remove", "api.desk.example", "--json"))
    assert out == {"hostname": "api.desk.example", "worker": "hoox", "removed": True, "forgotten": True}
    assert [d["hostname"] for d in fake.state.domains.values()] == ["www.desk.example"]
    assert "routes" not in _config(ws, "hoox")
    out = as_json(hoox("infra", "domain", "remove", "api.desk.example", "--json"))
    assert out["removed"] is False and out["forgotten"] is False
    assert fake.shape_errors == []


def test_the_cockpit_shows_a_public_worker_at_its_public_url(ws: Workspace) -> None:
    from types import SimpleNamespace

    from hoox_tui.views.worker_detail import WorkerDetailView

    view = WorkerDetailView.__new__(WorkerDetailView)  # only its rendering: no app needed
    view.ctx = SimpleNamespace(workspace=ws)  # type: ignore[assignment]
    detail = SimpleNamespace(bindings=[], public=True, crons=["* * * * *"])
    assert view.render_bindings(detail, "hoox").caption.startswith("public: yes ")  # nothing known yet
    cloudflare_table.set_cloudflare(ws, ["zone"], "desk.example")
    cloudflare_table.set_cloudflare(ws, ["hostnames", "hoox"], "api.desk.example")
    assert view.render_bindings(detail, "hoox").caption.startswith("public: https://api.desk.example ")
    internal = SimpleNamespace(bindings=[], public=False, crons=[])
    assert view.render_bindings(internal, "trade-worker").caption.startswith("public: no ")


async def test_the_cockpits_worker_cards_and_service_manager_show_each_workers_public_url(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.widgets import DataTable
    from tui_support import fed_store, frozen_clock, until

    from hoox_tui.app import HooxApp
    from hoox_tui.context import CockpitContext
    from hoox_tui.settings import UserSettings
    from hoox_tui.views.workers import WorkerCard

    monkeypatch.setattr("hoox_tui.settings.config_path", lambda: ws.root / "cockpit-test.toml")
    cloudflare_table.set_cloudflare(ws, ["zone"], "desk.example")
    cloudflare_table.set_cloudflare(ws, ["hostnames", "hoox"], "api.desk.example")

    def card(app: HooxApp, name: str) -> str:
        return app.screen.query_one(f"#card-{name}", WorkerCard).render().plain

    def url_cell(app: HooxApp, name: str) -> str:
        return str(app.screen.query_one("#svc-table", DataTable).get_row(name)[-1])

    with frozen_clock():
        ctx = CockpitContext(store=fed_store(), workspace=ws, settings=UserSettings(), safe_mode=False,
                             local_runtime_started=False)
        app = HooxApp(ctx, run_store=False)
        async with app.run_test(size=(160, 50)) as pilot:
            await pilot.press("f2")
            await until(pilot, lambda: "https://api.desk.example" in card(app, "hoox"), "the gateway's card")
            assert "internal: no URL" in card(app, "trade-worker")  # reached only through service bindings
            await pilot.press("f6")
            await until(pilot, lambda: url_cell(app, "hoox") == "https://api.desk.example", "the service manager")
            assert url_cell(app, "trade-worker") == "internal: no URL"
    # without a custom domain: the workers.dev URL its subdomain gives
    cloudflare_table.set_cloudflare(ws, ["hostnames", "hoox"], None)
    cloudflare_table.set_cloudflare(ws, ["subdomain"], "desk")
    from hoox_tui.context import url_label

    assert url_label(ws, "hoox", True) == "https://hoox.desk.workers.dev"
    cloudflare_table.set_cloudflare(ws, ["subdomain"], None)
    assert url_label(ws, "hoox", True) == "public, URL not known yet"
    assert url_label(None, "hoox", True) == "public"
