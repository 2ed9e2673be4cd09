"""`hoox deploy …` and the deploy module the cockpit shares.

Dry runs use the real wrangler (`wrangler deploy --dry-run --outdir`, offline): that is how these tests
prove the staged configs and bundles. Bundles vendor from the repository's wheel cache (filled by .ci/run),
offline. Nothing here reaches Cloudflare or Telegram: remote calls go to loopback fakes.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyjson5
import pytest
from cli_support import WHEEL_CACHE, enable_only, hoox, kv_raw, use_wheel_cache
from fake_cloudflare import ACCOUNT, TOKEN, start_fake
from fake_telegram import FakeTelegram as FakeBotApi
from hoox_edge import catalog, wrangler
from hoox_edge.local import telegram_poll
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace

from hoox_cli.core import deploy


@pytest.fixture
def ws(ws: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Workspace:
    """The shared `ws`, with wrangler's HOME in the test's folder and the repository's wheel cache."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    use_wheel_cache(ws)
    return ws


def staged_config(ws: Workspace, name: str) -> dict[str, Any]:
    return pyjson5.decode((deploy.worker_dir(ws, name) / "wrangler.jsonc").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- deploy all (dry run)
@pytest.mark.heavy
def test_deploy_all_dry_run_runs_every_enabled_worker_in_dependency_order(ws: Workspace) -> None:
    # a chain of three (telegram-worker <- trade-worker <- hoox by service bindings): the order is
    # tested as well as with all ten, at a third of the wrangler runs; tests/test_wrangler.py dry-runs
    # every worker's own folder
    enable_only(ws, ["hoox", "trade-worker", "telegram-worker"])
    env = {**os.environ, "COLUMNS": "120"}
    proc = subprocess.run([sys.executable, "-m", "hoox_cli", "deploy", "all", "--dry-run", "--json"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    expected = catalog.deploy_order(ws.enabled_workers())
    assert out["order"] == expected and out["deployed"] == expected
    assert out["failed"] is None and out["not_deployed"] == []
    assert {r["worker"] for r in out["results"]} == set(expected)
    assert all(r["ok"] and r["dry_run"] and not r["skipped"] for r in out["results"])
    # every service-binding target comes before the worker that binds it
    for name in expected:
        for b in catalog.worker(name).bindings_of("service"):
            if b.resource in expected:
                assert expected.index(b.resource) < expected.index(name)
    # the bundle wrangler wrote is the worker's own entry module, the portable package (no local/) and
    # the vendored packages, each module once
    for r in out["results"]:
        name, bundle = r["worker"], r["bundle"]
        dist = ws.hoox_dir / "deploy" / name / "dist"
        assert (dist / "entry.py").read_text() == wrangler.render_entry(catalog.worker(name))
        assert (dist / "hoox_edge" / "catalog.py").is_file()
        assert not (dist / "hoox_edge" / "local").exists()
        for pkg in ("starlette", "httpx", "anyio", "h11", "httpcore", "idna", "certifi"):
            assert (dist / "python_modules" / pkg / "__init__.py").is_file(), (name, pkg)
        written = [f.relative_to(dist).as_posix() for f in dist.rglob("*") if f.is_file()]
        assert [n for n in written if "python_modules/" in n and not n.startswith("python_modules/")] == []
        assert deploy.duplicated_modules(n for n in written if n != "README.md") == []
        assert bundle["duplicates"] == [] and bundle["wrangler"]["duplicates"] == []
        # our count is wrangler's, our compressed size within 1% of the one it printed
        assert bundle["modules"] == bundle["wrangler"]["modules"] == len(written) - 1  # less its README.md
        assert abs(bundle["gzip_bytes"] - bundle["wrangler"]["gzip_bytes"]) <= bundle["gzip_bytes"] / 100
        assert 0 < bundle["gzip_bytes"] <= bundle["limit_bytes"] == 3 * 1024 * 1024
        assert bundle["bytes"] > bundle["gzip_bytes"]
        assert {p.split("==")[0] for p in bundle["packages"]} >= {"starlette", "httpx", "anyio", "certifi"}
        assert not any(p.startswith("pydantic") for p in bundle["packages"])
        assert len(bundle["largest"]) == 5 and bundle["largest"][0]["gzip_bytes"] >= bundle["largest"][-1]["gzip_bytes"]
    # the progress bar went to stderr, stdout held only the JSON object
    assert f"{len(expected)}/{len(expected)}" in proc.stderr
    # disabled workers were not deployed
    assert "email-worker" not in out["order"]


@pytest.mark.heavy
def test_deploy_all_stops_at_the_first_failure_and_says_what_was_not_deployed(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    order = catalog.deploy_order(ws.enabled_workers())
    broken = order[1]
    real_render = wrangler.render

    def render(w: catalog.Worker, resources: Any = None, **kw: Any) -> str:
        text = real_render(w, resources, **kw)
        # the staged copy of one worker gets a binding wrangler must reject
        return text.replace('"binding": "CONFIG_KV"', '"binding": 42') if w.name == broken else text

    monkeypatch.setattr(wrangler, "render", render)
    progress: list[tuple[str, int, int]] = []
    lines: list[str] = []
    results = asyncio.run(deploy.deploy_all(ws, dry_run=True, on_line=lines.append,
                                  on_progress=lambda n, d, t: progress.append((n, d, t))))
    assert [r.worker for r in results] == order
    assert results[0].ok
    failed = results[1]
    assert failed.worker == broken and not failed.ok and not failed.skipped
    assert "kv_namespaces" in failed.error or any("kv_namespaces" in ln for ln in failed.output_tail)
    assert all(r.skipped and not r.ok and broken in r.error for r in results[2:])
    assert progress == [(order[0], 0, len(order)), (order[1], 1, len(order))]
    assert lines, "wrangler's output is streamed line by line"

    # the CLI reports the same and exits non-zero
    res = hoox("deploy", "all", "--dry-run", "--json")
    assert res.exit_code == 1
    out = json.loads(res.stdout)
    assert out["deployed"] == order[:1] and out["failed"] == broken and out["not_deployed"] == order[1:]


def test_deploy_worker_binds_the_workspace_resource_ids(ws: Workspace) -> None:
    deploy.record_resource(ws, "kv", catalog.CONFIG_KV, "kvid-config")
    deploy.record_resource(ws, "kv", catalog.SESSIONS_KV, "kvid-sessions")
    deploy.record_resource(ws, "d1", catalog.TRADE_DB, "d1-uuid-1")
    res = hoox("deploy", "worker", "hoox", "--dry-run", "--json")
    assert res.exit_code == 0, res.stdout
    out = json.loads(res.stdout)
    assert out["deployed"] == ["hoox"]
    cfg = staged_config(ws, "hoox")
    assert cfg["kv_namespaces"] == [{"binding": "CONFIG_KV", "id": "kvid-config"},
                                    {"binding": "SESSIONS_KV", "id": "kvid-sessions"}]
    assert cfg["d1_databases"][0]["database_id"] == "d1-uuid-1"
    # wrangler itself read the ids: its binding table names the namespace id
    assert any("kvid-config" in ln for ln in out["results"][0]["output_tail"])
    # the repository's committed configs stay id-free
    assert "kvid-config" not in (wrangler.config_path(catalog.worker("hoox"))).read_text()
    pyproject = (deploy.worker_dir(ws, "hoox") / "pyproject.toml").read_text()
    for pkg in ("starlette", "httpx"):
        assert f'"{pkg}' in pyproject
    assert "pydantic" not in pyproject  # compiled (pydantic_core): not on Python Workers, not imported by the edge


def test_deploy_worker_rejects_an_unknown_worker(ws: Workspace) -> None:
    res = hoox("deploy", "worker", "nope", "--json")
    assert res.exit_code == 1
    assert json.loads(res.stdout)["error"]["code"] == "UNKNOWN_WORKER"


def test_a_real_deploy_never_pretends(ws: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[Any] = []

    async def no_wrangler(*a: Any, **k: Any) -> Any:
        calls.append(a)
        raise AssertionError("wrangler must not run")

    monkeypatch.setattr(deploy.wrangler_cli, "run", no_wrangler)
    r = asyncio.run(deploy.deploy_worker(ws, "d1-worker", dry_run=False))
    assert not r.ok and "API token" in r.error and "infra provision" in r.error
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    deploy.record_resource(ws, "kv", catalog.CONFIG_KV, "kvid")
    deploy.record_resource(ws, "d1", catalog.TRADE_DB, "d1id")
    assert hoox("config", "set", "deploy.wheel_cache", str(tmp_path / "no-wheels")).exit_code == 0
    r = asyncio.run(deploy.deploy_worker(ws, "d1-worker", dry_run=False))
    assert not r.ok and "hoox deploy fetch-wheels" in r.error and "Nothing was deployed" in r.error
    assert calls == []
    res = hoox("deploy", "worker", "d1-worker", "--json")
    assert res.exit_code == 1 and json.loads(res.stdout)["deployed"] == []


# --------------------------------------------------------------------------- bundles
def test_a_bundle_over_the_size_limit_is_an_error_naming_its_largest_modules(ws: Workspace) -> None:
    assert hoox("config", "set", "deploy.size_limit_mb", "0.05").exit_code == 0
    res = hoox("deploy", "worker", "d1-worker", "--dry-run", "--json")
    assert res.exit_code == 1
    (r,) = json.loads(res.stdout)["results"]
    bundle = r["bundle"]
    assert not r["ok"] and bundle["limit_bytes"] == int(0.05 * 1024 * 1024) < bundle["gzip_bytes"]
    assert "over the 0.05 MB limit" in r["error"] and "deploy.size_limit_mb" in r["error"]
    assert "Nothing was deployed" in r["error"]
    everything = deploy.measure(deploy.worker_dir(ws, "d1-worker"), bundle["limit_bytes"], top=10_000)["largest"]
    assert [m["module"] for m in bundle["largest"]] == [m["module"] for m in everything[:5]]
    for m in bundle["largest"]:
        assert m["module"] in r["error"]
    assert "wrangler" not in bundle  # refused before wrangler ran
    assert not (deploy.worker_dir(ws, "d1-worker") / "dist").exists()
    # the same in text, and a limit hoox.toml cannot hold is refused
    text = hoox("deploy", "worker", "d1-worker", "--dry-run")
    assert text.exit_code == 1 and bundle["largest"][0]["module"] in " ".join(text.stdout.split())
    for bad in ("0", "nan", "big"):
        res = hoox("config", "set", "deploy.size_limit_mb", bad, "--json")
        assert res.exit_code == 1 and json.loads(res.stdout)["error"]["code"] == "INVALID_VALUE", bad
    ws.config_path.write_text(ws.config_path.read_text().replace("size_limit_mb = 0.05", 'size_limit_mb = "3"'))
    r = asyncio.run(deploy.deploy_worker(ws, "d1-worker", dry_run=True))
    assert not r.ok and "deploy.size_limit_mb takes a number of megabytes" in r.error


def test_a_missing_wheel_is_an_error_that_says_how_to_fetch_it(ws: Workspace, tmp_path: Path) -> None:
    empty = tmp_path / "empty-cache"
    assert hoox("config", "set", "deploy.wheel_cache", str(empty)).exit_code == 0
    res = hoox("deploy", "all", "--dry-run", "--json")
    assert res.exit_code == 1
    out = json.loads(res.stdout)
    first = out["results"][0]
    assert out["deployed"] == [] and out["failed"] == first["worker"]
    assert str(empty) in first["error"] and "hoox deploy fetch-wheels" in first["error"]
    assert "pip download" in first["error"] and "--platform any" in first["error"]
    # a cache that lacks one wheel: pip (offline, --no-index) names it
    partial = tmp_path / "partial-cache"
    partial.mkdir()
    for whl in WHEEL_CACHE.glob("*.whl"):
        if not whl.name.startswith("h11-"):
            shutil.copy(whl, partial / whl.name)
    assert hoox("config", "set", "deploy.wheel_cache", str(partial)).exit_code == 0
    r = asyncio.run(deploy.deploy_worker(ws, "d1-worker", dry_run=True))
    assert not r.ok and "has no wheel for h11" in r.error and "hoox deploy fetch-wheels" in r.error
    assert not (deploy.worker_dir(ws, "d1-worker") / deploy.VENDOR_DIR).exists()
    # a relative wheel_cache is the workspace's own folder; the default is .hoox/cache/wheels
    assert deploy.deploy_settings(ws).wheel_cache == partial
    assert hoox("config", "set", "deploy.wheel_cache", "wheels").exit_code == 0
    assert deploy.deploy_settings(ws).wheel_cache == ws.root / "wheels"
    assert deploy.DeploySettings().wheel_cache == Path(".hoox/cache/wheels")


def test_fetch_wheels_runs_pip_download_for_the_pure_python_packages(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    seen: list[list[str]] = []

    class FakePopen:  # no network in tests: pip itself is stood in for
        def __init__(self, cmd: list[str], **kw: Any) -> None:
            seen.append(cmd)
            dest = Path(cmd[cmd.index("--dest") + 1])
            (dest / "starlette-9.9-py3-none-any.whl").write_bytes(b"")
            self.stdout = iter(["Saved starlette-9.9-py3-none-any.whl\n"])

        def wait(self) -> int:
            return 0

    monkeypatch.setattr(deploy.subprocess, "Popen", FakePopen)
    res = hoox("deploy", "fetch-wheels", "--dest", str(tmp_path / "wheels"), "--json")
    assert res.exit_code == 0, res.stdout
    out = json.loads(res.stdout)
    (cmd,) = seen
    assert cmd[1:4] == ["-m", "pip", "download"] and cmd == out["command"]
    for flag in ("--only-binary=:all:", "--platform", "any", "--python-version", deploy.PYTHON_VERSION,
                 "--implementation", "py"):
        assert flag in cmd
    packages = deploy.bundle_packages()[0]
    assert out["packages"] == packages == cmd[-len(packages):]
    assert {deploy._dist_name(p) for p in packages} >= {"starlette", "httpx"}
    assert not any(deploy._dist_name(p) in deploy.NOT_VENDORED for p in packages)
    assert out["wheels"] == ["starlette-9.9-py3-none-any.whl"]


def test_update_internal_urls_renders_every_worker_with_the_recorded_ids(ws: Workspace) -> None:
    res = hoox("deploy", "update-internal-urls", "--json")
    assert res.exit_code == 0
    assert len(json.loads(res.stdout)["changed"]) == 2 * len(catalog.WORKERS)
    deploy.record_resource(ws, "kv", catalog.CONFIG_KV, "kv-new")
    out = json.loads(hoox("deploy", "update-internal-urls", "--json").stdout)
    changed = {Path(p).parent.name for p in out["changed"]}
    assert changed == {w.name for w in catalog.WORKERS if w.bindings_of("kv")}
    assert staged_config(ws, "trade-worker")["kv_namespaces"] == [{"binding": "CONFIG_KV", "id": "kv-new"}]
    assert out["resources"]["kv"] == {catalog.CONFIG_KV: "kv-new"}
    assert "[cloudflare.kv]" in ws.config_path.read_text()


# --------------------------------------------------------------------------- kv-config
def test_kv_config_locally_writes_absent_keys_and_keeps_operator_values(ws: Workspace) -> None:
    assert hoox("config", "kv", "set", "webhooks:rate_limit_per_minute", "3").exit_code == 0
    manifest = json.loads(ws.manifest_path.read_text())
    manifest["webhooks:rate_limit_per_minute"] = 7
    ws.manifest_path.write_text(json.dumps(manifest))
    res = hoox("deploy", "kv-config", "--json")
    assert res.exit_code == 0, res.stdout
    out = json.loads(res.stdout)
    assert out["target"] == "local" and "webhooks:rate_limit_per_minute" in out["kept"]
    assert "trade:kill_switch" in out["written"]
    assert kv_raw(ws, "webhooks:rate_limit_per_minute") == "3"
    assert kv_raw(ws, "trade:kill_switch") == "false"
    out = json.loads(hoox("deploy", "kv-config", "--overwrite", "--json").stdout)
    assert out["written"] == ["webhooks:rate_limit_per_minute"]
    assert kv_raw(ws, "webhooks:rate_limit_per_minute") == "7"


def test_kv_config_remote_bulk_puts_to_the_recorded_namespace(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    fake = start_fake(monkeypatch, tmp_path / "home")
    try:
        res = hoox("deploy", "kv-config", "--remote", "--json")
        assert res.exit_code == 1 and json.loads(res.stdout)["error"]["code"] == "NO_NAMESPACE"
        fake.state.kv["ns1"] = {"title": catalog.CONFIG_KV, "values": {"trade:kill_switch": "true"}}
        deploy.record_resource(ws, "kv", catalog.CONFIG_KV, "ns1")
        res = hoox("deploy", "kv-config", "--remote", "--json")
        assert res.exit_code == 0, res.stdout
        out = json.loads(res.stdout)
        assert out["namespace"] == "ns1" and "trade:kill_switch" in out["kept"]
        (put,) = fake.calls("PUT", r"/storage/kv/namespaces/ns1/bulk$")
        body = put.json()
        assert {i["key"] for i in body} == set(out["written"])
        assert fake.state.kv["ns1"]["values"]["trade:kill_switch"] == "true"  # the operator's halt is kept
        assert fake.shape_errors == []
    finally:
        fake.stop()


# --------------------------------------------------------------------------- telegram webhook
async def _with_polling_offset(rt: LocalRuntime) -> None:
    await rt.open()
    try:
        await telegram_poll.save_offset(rt.env("hoox").DB, 42)
    finally:
        await rt.stop()


def test_telegram_webhook_registers_with_a_secret_token_and_syncs_it(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tg = FakeBotApi().__enter__()
    fake = start_fake(monkeypatch, tmp_path / "home")
    try:
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", tg.url)
        res = hoox("deploy", "telegram-webhook", "--json")
        assert json.loads(res.stdout)["error"]["code"] == "NO_BOT_TOKEN"
        ws.set_secret("TELEGRAM_BOT_TOKEN", "123456:bot-token-abc")
        res = hoox("deploy", "telegram-webhook", "--json")
        assert json.loads(res.stdout)["error"]["code"] == "NO_URL"
        deploy.record_resource(ws, "urls", "hoox", "https://hoox.desk.workers.dev")
        res = hoox("deploy", "telegram-webhook", "--json")
        assert res.exit_code == 0, res.stdout
        out = json.loads(res.stdout)
        secret = ws.secrets()["TELEGRAM_WEBHOOK_SECRET"]
        url = "https://hoox.desk.workers.dev/telegram-webhook"  # the route the gateway serves
        kinds = ["message", "edited_message", "callback_query"]
        assert out == {"url": url, "registered": True, "secret_generated": True,
                       "secret_synced": ["telegram-worker"], "description": None, "allowed_updates": kinds,
                       "webhook": {"url": url, "pending_update_count": 0, "last_error_date": None,
                                   "last_error_message": None, "allowed_updates": kinds},
                       "polling_state_deleted": False}
        set_call, info_call = tg.calls
        assert (set_call.method, set_call.token, info_call.method) == ("setWebhook", "123456:bot-token-abc",
                                                                      "getWebhookInfo")
        body = set_call.body
        assert body["url"] == url and body["secret_token"] == secret and len(secret) >= 32
        assert body["allowed_updates"] == kinds
        assert fake.state.secrets["telegram-worker"]["TELEGRAM_WEBHOOK_SECRET"] == secret
        assert secret not in res.stdout and "bot-token-abc" not in res.stdout
        assert secret not in fake.all_text()
        # a second registration reuses the secret
        out = json.loads(hoox("deploy", "telegram-webhook", "--no-sync-secret", "--json").stdout)
        assert out["secret_generated"] is False and tg.sent("setWebhook")[-1].body["secret_token"] == secret
        # what Telegram reports is printed; switching to the webhook deletes the local polling offset
        tg.push_update({"update_id": 1})
        rt = LocalRuntime(ws)
        asyncio.run(_with_polling_offset(rt))
        text = hoox("deploy", "telegram-webhook", "--no-sync-secret").stdout
        assert "1 pending update(s)" in text and secret not in text
        assert "long-polling state was deleted" in text
        assert sqlite3.connect(ws.d1_file(catalog.TRADE_DB)).execute("SELECT * FROM telegram_polling").fetchall() == []
    finally:
        fake.stop()
        tg.__exit__(None, None, None)


@pytest.mark.heavy
def test_workspaces_sharing_a_wheel_cache_vendor_it_once_even_at_the_same_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The vendored packages live beside the wheel cache: two workspaces vendoring it at once run pip
    twice but publish one tree, and a later one runs pip not at all; a set of wheels that changed gets a
    new tree and the old one goes, as does an unfinished vendoring left by a process that died."""
    cache = tmp_path / "wheels"
    shutil.copytree(WHEEL_CACHE, cache, ignore=shutil.ignore_patterns(".vendored"))
    spaces = []
    for name in ("a", "b", "c"):
        space = Workspace(tmp_path / name)
        space.create()
        spaces.append(space)
    settings = deploy.DeploySettings(wheel_cache=cache)
    pips: list[tuple[str, ...]] = []
    real = asyncio.create_subprocess_exec

    async def spy(*args: Any, **kwargs: Any) -> Any:
        pips.append(tuple(str(a) for a in args))
        return await real(*args, **kwargs)

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spy)

    async def both() -> list[Path]:
        return list(await asyncio.gather(*(deploy.vendor_packages(s, settings) for s in spaces[:2])))

    first, second = asyncio.run(both())
    assert first == second and first.parent == cache / ".vendored" and len(pips) == 2
    assert (first / "httpx" / "__init__.py").is_file() and (first / ".complete").is_file()
    assert [p.name for p in (cache / ".vendored").iterdir()] == [first.name]  # no leftover of the loser
    assert asyncio.run(deploy.vendor_packages(spaces[2], settings)) == first and len(pips) == 2
    stale = cache / ".vendored" / "0123456789abcdef.999.dead.tmp"
    stale.mkdir()
    os.utime(stale, (0, 0))
    newest = sorted(cache.glob("*.whl"))[-1]
    newest.write_bytes(newest.read_bytes() + b"\0")  # another build of a wheel: another set
    changed = asyncio.run(deploy.vendor_packages(spaces[0], settings))
    assert changed != first and len(pips) == 3
    assert [p.name for p in (cache / ".vendored").iterdir()] == [changed.name]
