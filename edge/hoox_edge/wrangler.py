"""Render each worker's `wrangler.jsonc` from the catalog (decision 4: nothing lists the workers twice).

    python -m hoox_edge.wrangler           rewrite edge/<worker>/wrangler.jsonc and entry.py of every worker
    python -m hoox_edge.wrangler --check   exit 1 and name the files that are out of date

The committed files are rendered without resource ids; a deploy renders them again with the ids of
the workspace's Cloudflare resources (`render(worker, resources)`), because wrangler, finding a KV
binding without an id, would create a separate namespace for every worker instead of sharing one.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hoox_edge import catalog
from hoox_edge.cloudflare.env import ACCOUNT_ID_VAR, API_TOKEN_SECRET  # what the SQL API adapter reads
from hoox_edge.shared.access import AUD_VAR as ACCESS_AUD_VAR
from hoox_edge.shared.access import TEAM_VAR as ACCESS_TEAM_VAR

# Pinned so that a deploy behaves the same whenever it runs; the workerd bundled with wrangler 4.86
# supports dates up to 2026-04-26. Move it deliberately, after reading the compatibility changelog.
COMPATIBILITY_DATE = "2026-04-01"
COMPATIBILITY_FLAGS = ("python_workers",)
CONFIG_FILE = "wrangler.jsonc"
ENTRY_FILE = "entry.py"
MIGRATIONS_DIR = "../hoox_edge/migrations"  # relative to edge/<worker>/
# A deploy bundle (hoox_cli.core.deploy) is laid out the way wrangler expects a vendored Python worker:
# wrangler.jsonc and python_modules/ side by side, the code in src/ (the module root). wrangler
# attaches python_modules/ once, from the config's folder; were it inside the module root (as with
# base_dir ".." and python_modules/ in the worker folder) every vendored module would be attached twice.
BUNDLE_SRC = "src"
OPERATOR_WORKER = "hoox"  # the worker serving the operator API

_EDGE_DIR = Path(__file__).resolve().parents[1]


def edge_dir(root: Path | None = None) -> Path:
    """The folder holding the worker folders: `root` itself, or `root/edge` when given the repo root."""
    if root is None:
        return _EDGE_DIR
    root = Path(root)
    return root / "edge" if (root / "edge" / "hoox_edge").is_dir() else root


def config_path(w: catalog.Worker, root: Path | None = None) -> Path:
    return edge_dir(root) / w.package_dir / CONFIG_FILE


def entry_path(w: catalog.Worker, root: Path | None = None) -> Path:
    return edge_dir(root) / w.package_dir / ENTRY_FILE


def config(w: catalog.Worker, resources: Mapping[str, Any] | None = None, *, bundle: bool = False) -> dict[str, Any]:
    """The wrangler configuration of `w` as a dict (what `render` writes as JSONC).

    `bundle`: for a deploy bundle (code under src/, python_modules/ beside the config) rather than
    the repository's edge/<worker>/ folder.
    """
    res = resources or {}
    kv_ids: Mapping[str, str] = res.get("kv") or {}
    d1_ids: Mapping[str, str] = res.get("d1") or {}
    account_id = res.get("account_id")

    cfg: dict[str, Any] = {"$schema": "../../node_modules/wrangler/config-schema.json", "name": w.name}
    if account_id:
        cfg["account_id"] = account_id
    cfg |= {
        "main": f"{BUNDLE_SRC}/{ENTRY_FILE}" if bundle else ENTRY_FILE,
        # The module root: wrangler attaches every .py below it, as hoox_edge/**/*.py beside entry.py
        # (in the repository one level up, in a bundle its src/).
        "base_dir": BUNDLE_SRC if bundle else "..",
        "compatibility_date": COMPATIBILITY_DATE,
        "compatibility_flags": list(COMPATIBILITY_FLAGS),
        # Internal workers are reached through service bindings only: no public URL at all.
        "workers_dev": w.public,
        "preview_urls": w.public,
    }
    # Custom domains of a public worker (hoox.toml [cloudflare.hostnames]): wrangler attaches each
    # hostname to the worker on deploy, creating its DNS record and certificate.
    hosts = list((res.get("routes") or {}).get(w.name) or []) if w.public else []
    if hosts:
        cfg["routes"] = [{"pattern": h, "custom_domain": True} for h in hosts]

    variables = dict(w.vars)
    # Only the worker that reads the SQL API (it holds the API token) needs the account id.
    if account_id and w.bindings_of("analytics_engine") and API_TOKEN_SECRET in w.all_secrets:
        variables[ACCOUNT_ID_VAR] = account_id
    # Cloudflare Access in front of the operator API (hoox.toml [operator.access]); half a configuration
    # is rendered as it is, so that the gateway refuses instead of running without the check.
    access = res.get("access") or {}
    if w.name == OPERATOR_WORKER:
        for key, var in (("team_domain", ACCESS_TEAM_VAR), ("audience", ACCESS_AUD_VAR)):
            if access.get(key):
                variables[var] = access[key]
    if variables:
        cfg["vars"] = variables

    kv = []
    for b in w.bindings_of("kv"):
        entry = {"binding": b.name}
        if kv_ids.get(b.resource):
            entry["id"] = kv_ids[b.resource]
        kv.append(entry)
    if kv:
        cfg["kv_namespaces"] = kv

    d1 = []
    for b in w.bindings_of("d1"):
        entry = {"binding": b.name, "database_name": b.resource}
        if d1_ids.get(b.resource):
            entry["database_id"] = d1_ids[b.resource]
        if b.resource == catalog.TRADE_DB:
            entry["migrations_dir"] = f"{BUNDLE_SRC}/hoox_edge/migrations" if bundle else MIGRATIONS_DIR
        d1.append(entry)
    if d1:
        cfg["d1_databases"] = d1

    r2 = [{"binding": b.name, "bucket_name": b.resource} for b in w.bindings_of("r2")]
    if r2:
        cfg["r2_buckets"] = r2

    vectorize = [{"binding": b.name, "index_name": b.resource} for b in w.bindings_of("vectorize")]
    if vectorize:
        cfg["vectorize"] = vectorize

    ae = [{"binding": b.name, "dataset": b.resource} for b in w.bindings_of("analytics_engine")]
    if ae:
        cfg["analytics_engine_datasets"] = ae

    # A deploy binds only the workers that are deployed with it: a service binding to a worker that
    # does not exist fails the upload. The committed files (no resources) bind every catalog worker.
    deployed = set(resources["workers"]) if resources and "workers" in resources else None
    services = [{"binding": b.name, "service": b.resource} for b in w.bindings_of("service")
                if deployed is None or b.resource in deployed]
    if services:
        cfg["services"] = services

    producers = [{"binding": b.name, "queue": b.resource} for b in w.bindings_of("queue_producer")]
    consumers = []
    for c in w.consumers:
        consumer: dict[str, Any] = {
            "queue": c.queue,
            "max_batch_size": c.max_batch_size,
            "max_batch_timeout": c.max_batch_timeout,
            "max_retries": c.max_retries,
        }
        if c.dead_letter_queue:
            consumer["dead_letter_queue"] = c.dead_letter_queue
        consumers.append(consumer)
    if producers or consumers:
        queues: dict[str, Any] = {}
        if producers:
            queues["producers"] = producers
        if consumers:
            queues["consumers"] = consumers
        cfg["queues"] = queues

    do_bindings = []
    for b in w.bindings_of("durable_object"):
        entry = {"name": b.name, "class_name": b.resource}
        owner = catalog.durable_object_owner(b.resource)
        if owner.name != w.name:
            entry["script_name"] = owner.name
        do_bindings.append(entry)
    if do_bindings:
        cfg["durable_objects"] = {"bindings": do_bindings}
    if w.durable_objects:
        # One migration per class, in catalog order: a class added later appends its own migration
        # instead of changing one Cloudflare has already applied.
        cfg["migrations"] = [
            {"tag": f"create-{d.class_name}", "new_sqlite_classes": [d.class_name]} for d in w.durable_objects
        ]

    # Always written, even empty: a deploy then removes crons the catalog no longer lists.
    cfg["triggers"] = {"crons": list(w.crons)}
    cfg["observability"] = {"enabled": True}
    cfg["placement"] = {"mode": "smart"}
    return cfg


def _header(w: catalog.Worker, resources: Mapping[str, Any] | None) -> list[str]:
    lines = [
        f"Worker {w.name}: {w.description}.",
        "GENERATED from edge/hoox_edge/catalog.py - do not edit by hand; change the catalog, then run",
        "  python -m hoox_edge.wrangler          (regenerate every edge/<worker>/wrangler.jsonc)",
        "  python -m hoox_edge.wrangler --check  (list the files that are out of date)",
        f"Python code: {w.module} (entry.py adapts it to Cloudflare).",
    ]
    if not (resources or {}).get("kv"):
        lines.append("KV namespace ids are left out here; the deploy renders this file again with the ids")
        lines.append("of the workspace's namespaces (else wrangler would create one namespace per worker).")
    lines.append("Secrets are never in this file; set each with `wrangler secret put NAME`:")
    lines.append("  required: " + (", ".join(w.secrets) or "none"))
    if w.optional_secrets:
        lines.append("  optional: " + ", ".join(w.optional_secrets))
    return ["// " + ln for ln in lines]


def render(worker: catalog.Worker, resources: Mapping[str, Any] | None = None, *, bundle: bool = False) -> str:
    """The worker's wrangler.jsonc text: a header comment, then its configuration."""
    body = json.dumps(config(worker, resources, bundle=bundle), indent=2, ensure_ascii=False)
    return "\n".join([*_header(worker, resources), body]) + "\n"


def render_entry(worker: catalog.Worker) -> str:
    """The text of `edge/<worker>/entry.py`: the classes Cloudflare's Python runtime looks for."""
    lines = [
        f'"""Cloudflare entry of the {worker.name} worker ({worker.module}).',
        "",
        "GENERATED from edge/hoox_edge/catalog.py by `python -m hoox_edge.wrangler`: do not edit by hand.",
        "The classes are built by hoox_edge.cloudflare.entry; the worker's code lives in hoox_edge.",
        '"""',
        "",
    ]
    bases = ["WorkerEntrypoint"] + (["DurableObject"] if worker.durable_objects else [])
    helpers = ["entrypoint"] + (["durable_object"] if worker.durable_objects else [])
    lines += [
        f"from hoox_edge.cloudflare.entry import {', '.join(sorted(helpers))}",
        f"from workers import {', '.join(sorted(bases))}  # Cloudflare's runtime SDK",
        "",
        f'Default = entrypoint("{worker.name}", WorkerEntrypoint)',
    ]
    lines += [f'{d.class_name} = durable_object("{worker.name}", "{d.class_name}", DurableObject)'
              for d in worker.durable_objects]
    return "\n".join(lines) + "\n"


def _files(root: Path | None, resources: Mapping[str, Any] | None) -> list[tuple[Path, str]]:
    out = []
    for w in catalog.WORKERS:
        out.append((config_path(w, root), render(w, resources)))
        out.append((entry_path(w, root), render_entry(w)))
    return out


def write_all(root: Path | None = None, resources: Mapping[str, Any] | None = None) -> list[Path]:
    """Write every worker's wrangler.jsonc and entry.py; return the files whose content changed."""
    changed = []
    for path, text in _files(root, resources):
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def check_all(root: Path | None = None) -> list[str]:
    """Paths (relative to the edge folder) of generated files missing or not equal to their rendering."""
    base = edge_dir(root)
    return [str(path.relative_to(base)) for path, text in _files(root, None)
            if not path.exists() or path.read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        stale = check_all()
        for s in stale:
            print(f"out of date: edge/{s} (run: python -m hoox_edge.wrangler)")
        return 1 if stale else 0
    if args:
        print("usage: python -m hoox_edge.wrangler [--check]", file=sys.stderr)
        return 2
    for p in write_all():
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
