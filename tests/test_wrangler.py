"""The rendered wrangler.jsonc / entry.py of every worker: in sync with the catalog, and valid for wrangler.

The second half runs the real wrangler (`node_modules/.bin/wrangler`, installed by `npm ci`) in
dry-run mode on every worker folder and checks the bindings it reports against the catalog.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyjson5
import pytest
from hoox_edge import catalog, wrangler

REPO = Path(__file__).resolve().parents[1]
EDGE = REPO / "edge"
WRANGLER_BIN = REPO / "node_modules" / ".bin" / "wrangler"


def _parse(text: str) -> dict:
    return pyjson5.decode(text)


# --------------------------------------------------------------------------- sync with the catalog
def test_every_catalog_worker_has_a_folder_and_every_folder_a_worker():
    folders = {p.name for p in EDGE.iterdir()
               if p.is_dir() and p.name != "hoox_edge" and not p.name.startswith((".", "_"))}
    assert folders == {w.package_dir for w in catalog.WORKERS}


@pytest.mark.parametrize("w", catalog.WORKERS, ids=lambda w: w.name)
def test_committed_files_equal_the_rendering_of_the_catalog(w):
    committed = (EDGE / w.package_dir / "wrangler.jsonc").read_text(encoding="utf-8")
    assert committed == wrangler.render(w), (
        f"edge/{w.package_dir}/wrangler.jsonc is out of date: run `python -m hoox_edge.wrangler`")
    entry = (EDGE / w.package_dir / "entry.py").read_text(encoding="utf-8")
    assert entry == wrangler.render_entry(w), (
        f"edge/{w.package_dir}/entry.py is out of date: run `python -m hoox_edge.wrangler`")


def test_check_all_is_clean_and_names_files_a_catalog_change_makes_stale(monkeypatch):
    assert wrangler.check_all() == []
    assert wrangler.check_all(REPO) == []  # the repo root works too
    changed = dataclasses.replace(catalog.worker("report-worker"), crons=("0 7 * * *",))
    monkeypatch.setattr(catalog, "WORKERS", tuple(changed if w.name == changed.name else w
                                                  for w in catalog.WORKERS))
    assert wrangler.check_all() == ["report-worker/wrangler.jsonc"]


def test_write_all_writes_a_fresh_tree_that_check_all_accepts(tmp_path):
    (tmp_path / "edge" / "hoox_edge").mkdir(parents=True)
    written = wrangler.write_all(tmp_path)
    assert len(written) == 2 * len(catalog.WORKERS)
    assert wrangler.check_all(tmp_path) == []
    assert wrangler.write_all(tmp_path) == []  # nothing changes the second time
    (tmp_path / "edge" / "d1-worker" / "wrangler.jsonc").write_text("{}", encoding="utf-8")
    assert wrangler.check_all(tmp_path) == ["d1-worker/wrangler.jsonc"]


def test_cli_check_exit_codes(tmp_path, monkeypatch, capsys):
    assert wrangler.main(["--check"]) == 0
    changed = dataclasses.replace(catalog.worker("hoox"), vars=(("ENVIRONMENT", "staging"),))
    workers = tuple(changed if w.name == "hoox" else w for w in catalog.WORKERS)
    monkeypatch.setattr(catalog, "WORKERS", workers)
    assert wrangler.main(["--check"]) == 1
    assert "edge/hoox/wrangler.jsonc" in capsys.readouterr().out
    assert wrangler.main(["--bogus"]) == 2


# --------------------------------------------------------------------------- what is rendered
def test_rendering_of_the_gateway():
    w = catalog.worker("hoox")
    text = wrangler.render(w)
    cfg = _parse(text)
    assert text.startswith("// Worker hoox:")
    assert "python -m hoox_edge.wrangler" in text.split("{", 1)[0]
    header = text.split("\n{", 1)[0]
    for secret in w.secrets:  # listed, so the operator knows what `wrangler secret put` needs
        assert secret in header
    assert cfg["name"] == "hoox" and cfg["main"] == "entry.py" and cfg["base_dir"] == ".."
    assert cfg["compatibility_flags"] == ["python_workers"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", cfg["compatibility_date"])
    assert cfg["workers_dev"] is True
    assert cfg["vars"] == {"ENVIRONMENT": "production"}
    assert cfg["kv_namespaces"] == [{"binding": "CONFIG_KV"}, {"binding": "SESSIONS_KV"}]
    assert cfg["d1_databases"] == [{"binding": "DB", "database_name": "trade-data-db",
                                    "migrations_dir": "../hoox_edge/migrations"}]
    assert (EDGE / "hoox" / cfg["d1_databases"][0]["migrations_dir"] / "0001_ledger.sql").is_file()
    assert cfg["queues"] == {"producers": [{"binding": "TRADE_QUEUE", "queue": "trade-execution"}]}
    assert cfg["durable_objects"] == {"bindings": [
        {"name": "IDEMPOTENCY_STORE", "class_name": "IdempotencyStore"},
        {"name": "RATE_LIMITER", "class_name": "RateLimiter"},
        # defined by trade-worker: the operator API reads paper mark prices from it
        {"name": "PAPER_EXCHANGE", "class_name": "PaperExchange", "script_name": "trade-worker"}]}
    assert cfg["migrations"] == [
        {"tag": "create-IdempotencyStore", "new_sqlite_classes": ["IdempotencyStore"]},
        {"tag": "create-RateLimiter", "new_sqlite_classes": ["RateLimiter"]}]
    assert {s["binding"]: s["service"] for s in cfg["services"]} == {
        b.name: b.resource for b in w.bindings_of("service")}
    assert cfg["triggers"] == {"crons": ["* * * * *"]}  # the signal watchdog's check
    assert cfg["observability"] == {"enabled": True}
    assert cfg["placement"] == {"mode": "smart"}


def test_rendering_of_the_trade_worker_consumer_r2_and_internal_only():
    cfg = _parse(wrangler.render(catalog.worker("trade-worker")))
    assert cfg["workers_dev"] is False and cfg["preview_urls"] is False
    assert cfg["queues"]["consumers"] == [{"queue": "trade-execution", "max_batch_size": 10,
                                           "max_batch_timeout": 5, "max_retries": 10,
                                           "dead_letter_queue": "trade-execution-dlq"}]
    assert cfg["queues"]["producers"] == [{"binding": "TRADE_DLQ", "queue": "trade-execution-dlq"}]
    assert cfg["r2_buckets"] == [{"binding": "SYSTEM_LOGS_BUCKET", "bucket_name": "hoox-system-logs"}]
    assert cfg["migrations"][0]["new_sqlite_classes"] == ["PaperExchange"]
    assert _parse(wrangler.render(catalog.worker("report-worker")))["triggers"] == {"crons": ["0 6,18 * * *"]}
    ae = _parse(wrangler.render(catalog.worker("analytics-worker")))["analytics_engine_datasets"]
    assert ae == [{"binding": "ANALYTICS_ENGINE", "dataset": "hoox_telemetry"}]


def test_resources_fill_ids_and_account():
    resources = {"kv": {"hoox-config": "kv-id-1", "hoox-sessions": "kv-id-2"},
                 "d1": {"trade-data-db": "d1-uuid"}, "account_id": "acc123"}
    cfg = _parse(wrangler.render(catalog.worker("hoox"), resources))
    assert cfg["account_id"] == "acc123"
    assert cfg["kv_namespaces"] == [{"binding": "CONFIG_KV", "id": "kv-id-1"},
                                    {"binding": "SESSIONS_KV", "id": "kv-id-2"}]
    assert cfg["d1_databases"][0]["database_id"] == "d1-uuid"
    assert "CLOUDFLARE_ACCOUNT_ID" not in cfg["vars"]  # only the analytics worker reads it
    analytics = _parse(wrangler.render(catalog.worker("analytics-worker"), resources))
    assert analytics["vars"]["CLOUDFLARE_ACCOUNT_ID"] == "acc123"
    # ids of other namespaces do not leak into a worker that does not bind them
    d1w = _parse(wrangler.render(catalog.worker("d1-worker"), resources))
    assert d1w["kv_namespaces"] == [{"binding": "CONFIG_KV", "id": "kv-id-1"}]


def test_a_deploy_binds_only_the_workers_deployed_with_it():
    gateway = catalog.worker("hoox")
    every = {s["service"] for s in wrangler.config(gateway)["services"]}
    assert {"email-worker", "report-worker", "web3-wallet-worker"} <= every  # the committed file binds all
    enabled = ["hoox", "trade-worker", "telegram-worker", "d1-worker", "agent-worker", "analytics-worker"]
    bound = {s["service"] for s in wrangler.config(gateway, {"workers": enabled})["services"]}
    assert bound == set(enabled) - {"hoox"}


def test_a_durable_object_bound_from_another_worker_names_its_script():
    binding = catalog.Binding("PAPER_EXCHANGE", "durable_object", "PaperExchange")
    borrower = catalog.Worker(name="x-worker", description="test", module="m", port_offset=50,
                              bindings=(binding,))
    cfg = _parse(wrangler.render(borrower))
    assert cfg["durable_objects"]["bindings"] == [
        {"name": "PAPER_EXCHANGE", "class_name": "PaperExchange", "script_name": "trade-worker"}]
    assert "migrations" not in cfg  # the owner creates the class, not the borrower


def test_no_secret_is_ever_rendered_as_a_value():
    for w in catalog.WORKERS:
        cfg = _parse(wrangler.render(w))
        assert not set(w.all_secrets) & set(cfg.get("vars", {})), w.name


# --------------------------------------------------------------------------- wrangler dry-run
_ROW = re.compile(r"^env\.(?P<name>\w+)(?: \((?P<res>.*?)\))?\s{2,}(?P<type>\S.*?)\s*$")
_TYPES = {
    "kv": "KV Namespace",
    "d1": "D1 Database",
    "durable_object": "Durable Object",
    "queue_producer": "Queue",
    "r2": "R2 Bucket",
    "analytics_engine": "Analytics Engine Dataset",
    "service": "Worker",
    "vectorize": "Vectorize Index",
}


def _expected_rows(w: catalog.Worker) -> dict[str, tuple[str | None, str]]:
    rows: dict[str, tuple[str | None, str]] = {}
    for b in w.bindings:
        # KV namespaces have no id in the committed files, so wrangler shows no resource for them.
        res: str | None = None if b.kind == "kv" else b.resource
        if b.kind == "durable_object" and catalog.durable_object_owner(b.resource).name != w.name:
            res = f"{b.resource}, defined in {catalog.durable_object_owner(b.resource).name}"
        rows[b.name] = (res, _TYPES[b.kind])
    for k, v in w.vars:
        rows[k] = (f'"{v}"', "Environment Variable")
    return rows


def _dry_run(w: catalog.Worker, tmp: Path) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp / "out" / w.name
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "TMPDIR": str(tmp),  # wrangler's update-check cache
        "WRANGLER_SEND_METRICS": "false",
        "WRANGLER_HIDE_BANNER": "true",  # no banner, hence no update check over the network
        "CI": "true",
        "NO_COLOR": "1",
        **{k: os.environ[k] for k in ("NODE_COMPILE_CACHE",) if k in os.environ},  # see conftest.py
    }
    proc = subprocess.run([str(WRANGLER_BIN), "deploy", "--dry-run", "--outdir", str(out)],
                          cwd=EDGE / w.package_dir, env=env, capture_output=True, text=True, timeout=180)
    return proc, out


@pytest.mark.heavy
def test_wrangler_dry_run_accepts_every_worker_and_reports_the_catalog_bindings(tmp_path):
    assert WRANGLER_BIN.exists(), (
        f"wrangler is not installed at {WRANGLER_BIN}: run `npm ci` at the repository root "
        "(package.json pins wrangler 4.86.0)")
    with ThreadPoolExecutor(max_workers=len(catalog.WORKERS)) as pool:
        results = dict(zip(catalog.WORKERS,
                           pool.map(lambda w: _dry_run(w, tmp_path), catalog.WORKERS), strict=True))
    failures = []
    for w, (proc, out) in results.items():
        text = proc.stdout + proc.stderr
        if proc.returncode != 0:
            failures.append(f"{w.name}: wrangler exited {proc.returncode}\n{text[-3000:]}")
            continue
        if "WARNING" in text:
            failures.append(f"{w.name}: wrangler warned\n{text[-3000:]}")
        _, _, table = text.partition("Your Worker has access to the following bindings:")
        reported = {}
        for line in table.splitlines():
            m = _ROW.match(line.strip())
            if m:
                reported[m["name"]] = (m["res"], m["type"])
        if reported != _expected_rows(w):
            failures.append(f"{w.name}: wrangler reports {reported}, the catalog says {_expected_rows(w)}")
        # The bundle carries entry.py as the main module and hoox_edge/** beside it.
        if (out / "entry.py").read_text(encoding="utf-8") != wrangler.render_entry(w):
            failures.append(f"{w.name}: the bundled entry.py is not the worker's")
        needed = ["hoox_edge/__init__.py", "hoox_edge/ports.py", "hoox_edge/catalog.py",
                  "hoox_edge/shared/app.py", "hoox_edge/cloudflare/entry.py", "hoox_edge/cloudflare/env.py",
                  w.module.replace(".", "/") + ".py",
                  *(d.module.replace(".", "/") + ".py" for d in w.durable_objects)]
        missing = [p for p in needed if not (out / p).is_file()]
        if missing:
            failures.append(f"{w.name}: bundle lacks {missing}")
        attached = re.findall(r"│ (hoox_edge/\S+\.py)\s+│ python", text)
        if "hoox_edge/cloudflare/entry.py" not in attached:
            failures.append(f"{w.name}: wrangler did not attach hoox_edge modules as Python modules")
    assert not failures, "\n\n".join(failures)
