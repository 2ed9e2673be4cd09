"""`hoox infra provision` and `hoox infra d1|kv|r2|queues|vectorize list|create|delete`.

Locally the resources are the local runtime's state (hoox_edge.local: KV and D1 as SQLite files,
R2 buckets as folders). With `--remote` they are Cloudflare's, through the REST API (httpx); the ids
of created KV namespaces and D1 databases are written into hoox.toml `[cloudflare.kv]` /
`[cloudflare.d1]`, so the next rendered wrangler.jsonc binds them.

Local queues need no creating (a local queue exists as soon as a message is sent to it) and there is
no local Vectorize: those commands say so instead of pretending.

JSON objects (--json):
- list:      {"target", "kind", "resources": [{"name", "id", "declared": bool, "recorded": bool, ...}]}
- create:    {"target", "kind", "name", "id", "created": bool, "recorded": bool}
- delete:    {"target", "kind", "name", "id", "deleted": bool}
- provision: {"target", "resources": [{"kind", "name", "id", "created": bool, "lifecycle"?}], "changed": [path]}
  (`lifecycle`: with --remote, the report bucket's rule: its reports/ objects deleted 30 days after upload)
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hoox_cli.core.errors import fail, run_async
from hoox_cli.core.provision import KINDS, declared, provision_remote, remote_create, remote_delete, remote_items
from hoox_cli.core.workspace import workspace
from hoox_cli.options import JsonOpt, handle_errors
from hoox_cli.output import emit_json, esc, say, show, table

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace


app = typer.Typer(help="Provision and manage KV, D1, R2, Queues and Vectorize (local state or --remote).",
                  no_args_is_help=True)

LABEL = {"d1": "D1 database", "kv": "KV namespace", "r2": "R2 bucket", "queues": "queue",
         "vectorize": "Vectorize index"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
RemoteOpt = Annotated[bool, typer.Option("--remote", help="On Cloudflare (REST API) instead of the local state.")]
ConfirmOpt = Annotated[bool, typer.Option("--confirm", help="Delete without asking (required with --json).")]


def _check_name(kind: str, name: str) -> None:
    if not _NAME.match(name):
        fail("BAD_NAME", f"{LABEL[kind]} name {name!r}: use letters, digits, - and _ (at most 63, no leading -).")


# ----------------------------------------------------------------------------- local state
def _local_path(ws: Workspace, kind: str, name: str) -> Path:
    return {"kv": ws.kv_file, "d1": ws.d1_file, "r2": ws.r2_dir}[kind](name)


def _not_local(kind: str) -> None:
    if kind == "vectorize":
        fail("NOT_AVAILABLE_LOCALLY", "Locally a Vectorize index is a vector table the runtime makes itself: "
             "manage Vectorize indexes with --remote.")


def local_list(ws: Workspace, kind: str) -> list[dict[str, Any]]:
    _not_local(kind)
    wanted = set(declared(ws)[kind])
    rows: list[dict[str, Any]] = []
    if kind == "queues":
        from hoox_edge.local.queues import QueueStore

        store = QueueStore(ws.queues_file)
        try:
            for q in sorted(wanted | set(store.queues())):
                rows.append({"name": q, "id": None, "declared": q in wanted, "recorded": False,
                             "messages": store.depth(q)})
        finally:
            store.close()
        return rows
    folder = ws.resource_dir(kind)
    found = set()
    if folder.is_dir():
        for p in folder.iterdir():
            if kind == "r2" and p.is_dir():
                found.add(p.name)
            elif kind != "r2" and p == _local_path(ws, kind, p.stem):
                found.add(p.stem)
    for n in sorted(found | wanted):
        path = _local_path(ws, kind, n)
        rows.append({"name": n, "id": None, "declared": n in wanted, "recorded": False,
                     "exists": n in found, "path": str(path)})
    return rows


def local_create(ws: Workspace, kind: str, name: str) -> bool:
    """Create the local resource; False when it was already there."""
    _not_local(kind)
    if kind == "queues":
        fail("NOTHING_TO_CREATE", "Local queues need no creating: a local queue exists as soon as a message "
                                  "is sent to it. Create Cloudflare queues with --remote.")
    path = _local_path(ws, kind, name)
    existed = path.exists()
    if kind == "kv":
        from hoox_edge.local.kv import LocalKV

        LocalKV(path).close()
    elif kind == "d1":
        from hoox_edge import catalog, migrations
        from hoox_edge.local.d1 import LocalD1, connect

        connect(path).close()  # the file exists from now on, even with no table in it
        db = LocalD1(path)
        try:
            if name == catalog.TRADE_DB:  # the ledger gets its schema, as the runtime gives it on start
                run_async(migrations.apply(db))
        finally:
            db.close()
    else:
        from hoox_edge.local.r2 import LocalR2

        LocalR2(path).close()
    return not existed


def local_delete(ws: Workspace, kind: str, name: str) -> bool:
    _not_local(kind)
    if kind == "queues":
        fail("NOTHING_TO_DELETE", "Local queues are not resources of their own; their messages are managed with "
                                  "`hoox monitor queue-depth` and the cockpit. Delete Cloudflare queues with --remote.")
    from hoox_cli.core import process

    if process.probe(ws).running:
        fail("RUNTIME_RUNNING", "The local runtime is running and holds these files open: stop it first "
                                "(`hoox dev stop`).")
    path = _local_path(ws, kind, name)
    if not path.exists():
        return False
    if path.is_dir():
        shutil.rmtree(path)
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    return True


def _recorded(ws: Workspace, kind: str) -> dict[str, str]:
    from hoox_cli.core import deploy

    return deploy.resources(ws).get(kind, {}) if kind in ("kv", "d1") else {}


# ----------------------------------------------------------------------------- commands
def _list(kind: str, remote: bool, json_out: bool) -> None:
    ws = workspace()
    if remote:
        async def go() -> list[dict[str, Any]]:
            from hoox_cli.core.cloudflare_api import api_client

            async with api_client(ws) as api:
                return await remote_items(api, kind)

        rows = run_async(go())
        wanted, rec = set(declared(ws)[kind]), _recorded(ws, kind)
        for r in rows:
            r["declared"] = r["name"] in wanted
            r["recorded"] = bool(r["id"]) and rec.get(r["name"]) == r["id"]
    else:
        rows = local_list(ws, kind)
    target = "remote" if remote else "local"
    if json_out:
        emit_json({"target": target, "kind": kind, "resources": rows})
        return
    if not rows:
        say(f"No {LABEL[kind]}s ({target}).")
        return
    cols = ["name", "id", "used by hoox"] + (["messages"] if kind == "queues" and not remote else [])
    show(table(cols, [[r["name"], r["id"] or "", "yes" if r["declared"] else ""]
                      + ([r["messages"]] if kind == "queues" and not remote else []) for r in rows],
               title=f"{LABEL[kind]}s ({target})"))


def _create(kind: str, name: str, remote: bool, json_out: bool, *, dimensions: int | None = None,
            metric: str = "cosine") -> None:
    from hoox_cli.core import deploy

    ws = workspace()
    _check_name(kind, name)
    if remote:
        async def go() -> tuple[dict[str, Any], bool]:
            from hoox_cli.core.cloudflare_api import api_client

            async with api_client(ws) as api:
                existing = next((i for i in await remote_items(api, kind) if i["name"] == name), None)
                if existing:
                    return existing, False
                return await remote_create(api, kind, name, dimensions=dimensions, metric=metric), True

        item, created = run_async(go())
        recorded = False
        if kind in ("kv", "d1") and item.get("id"):
            deploy.record_resource(ws, kind, name, item["id"])
            recorded = True
        rid = item.get("id")
    else:
        created, recorded, rid = local_create(ws, kind, name), False, None
    out = {"target": "remote" if remote else "local", "kind": kind, "name": name, "id": rid,
           "created": created, "recorded": recorded}
    if json_out:
        emit_json(out)
        return
    where = "on Cloudflare" if remote else "locally"
    say(f"{'Created' if created else 'Already there:'} {LABEL[kind]} {esc(name)} {where}"
        + (f" (id {esc(rid)})" if rid else "") + ".")
    if recorded:
        say(f"Recorded its id in {esc(ws.config_path.name)} [cloudflare.{kind}]; deploys bind it.")


def _delete(kind: str, name: str, remote: bool, confirm: bool, json_out: bool) -> None:
    from hoox_cli.core import deploy

    ws = workspace()
    where = "on Cloudflare" if remote else "in the local state"
    if not confirm:
        if json_out or not sys.stdin.isatty():
            fail("CONFIRM_REQUIRED", f"Deleting {LABEL[kind]} {name} {where} destroys its data: add --confirm.")
        if not typer.confirm(f"Delete {LABEL[kind]} {name} {where}? Its data is lost for good.", default=False):
            fail("ABORTED", "Nothing was deleted.")
    rid = None
    if remote:
        async def go() -> dict[str, Any] | None:
            from hoox_cli.core.cloudflare_api import api_client

            async with api_client(ws) as api:
                item = next((i for i in await remote_items(api, kind) if i["name"] == name), None)
                if item is not None:
                    await remote_delete(api, kind, item)
                return item

        item = run_async(go())
        deleted = item is not None
        rid = item.get("id") if item else None
        if kind in ("kv", "d1") and name in _recorded(ws, kind):
            deploy.record_resource(ws, kind, name, None)
    else:
        deleted = local_delete(ws, kind, name)
    if json_out:
        emit_json({"target": "remote" if remote else "local", "kind": kind, "name": name, "id": rid,
                   "deleted": deleted})
        return
    say(f"Deleted {LABEL[kind]} {esc(name)} {where}." if deleted else f"No {LABEL[kind]} {esc(name)} {where}.")


def _group(kind: str) -> typer.Typer:
    sub = typer.Typer(help=f"{LABEL[kind].capitalize()}s: list, create, delete.", no_args_is_help=True)

    @sub.command("list")
    @handle_errors
    def list_cmd(remote: RemoteOpt = False, json_out: JsonOpt = False) -> None:
        """List them, marking the ones hoox's workers use."""
        _list(kind, remote, json_out)

    if kind == "vectorize":
        @sub.command("create")
        @handle_errors
        def create_vec(
            name: Annotated[str, typer.Argument(help="Index name.")],
            dimensions: Annotated[int, typer.Option("--dimensions", min=1, max=1536,
                                                    help="Vector size of the embedding model.")],
            metric: Annotated[str, typer.Option("--metric", help="cosine, euclidean or dot-product.")] = "cosine",
            remote: RemoteOpt = False,
            json_out: JsonOpt = False,
        ) -> None:
            """Create an index (Cloudflare only)."""
            if metric not in ("cosine", "euclidean", "dot-product"):
                fail("BAD_METRIC", f"--metric must be cosine, euclidean or dot-product, not {metric!r}.")
            if not remote:
                _not_local(kind)
            _create(kind, name, remote, json_out, dimensions=dimensions, metric=metric)
    else:
        @sub.command("create")
        @handle_errors
        def create_cmd(name: Annotated[str, typer.Argument(help="Name.")], remote: RemoteOpt = False,
                       json_out: JsonOpt = False) -> None:
            """Create one (an existing one of that name is reused, never duplicated)."""
            _create(kind, name, remote, json_out)

    @sub.command("delete")
    @handle_errors
    def delete_cmd(name: Annotated[str, typer.Argument(help="Name.")], remote: RemoteOpt = False,
                   confirm: ConfirmOpt = False, json_out: JsonOpt = False) -> None:
        """Delete one and all its data (asks first, or --confirm)."""
        _delete(kind, name, remote, confirm, json_out)

    return sub


for _kind in KINDS:
    app.add_typer(_group(_kind), name=_kind)


@app.command("provision")
@handle_errors
def provision(remote: RemoteOpt = False, json_out: JsonOpt = False) -> None:
    """Create every KV namespace, D1 database, R2 bucket, queue and Vectorize index the enabled workers bind."""
    from hoox_cli.core import deploy

    ws = workspace()
    need = declared(ws)
    done: list[dict[str, Any]] = []
    changed: list[str] = []
    if remote:
        async def go() -> None:
            from hoox_cli.core.cloudflare_api import api_client

            async with api_client(ws) as api:
                done.extend(await provision_remote(api, ws))

        run_async(go())
        res = deploy.resources(ws)
        from hoox_edge import catalog

        for w in catalog.WORKERS:
            changed += [str(p) for p in deploy.stage_config(ws, w.name, res)]
    else:
        for kind in ("kv", "d1", "r2"):
            for name in need[kind]:
                done.append({"kind": kind, "name": name, "id": None, "created": local_create(ws, kind, name)})
    target = "remote" if remote else "local"
    if json_out:
        emit_json({"target": target, "resources": done, "changed": changed})
        return
    show(table(["kind", "name", "id", "state"],
               [[LABEL[d["kind"]], d["name"], d["id"] or "", "created" if d["created"] else "already there"]
                for d in done], title=f"Provisioned ({target})"))
    if not remote:
        say("Local queues need no provisioning (they exist once a message is sent).")
    else:
        say(f"Ids recorded in {esc(ws.config_path.name)}; wrangler.jsonc files rendered with them "
            f"({len(changed)} changed).")


# ----------------------------------------------------------------------------- infra domain
# `hoox infra domain add WORKER HOSTNAME | list | remove HOSTNAME`: custom domains of the public workers.
#
# Through Cloudflare's Workers Domains API (hoox_cli.core.domains): `add` attaches the hostname to the
# worker (Cloudflare creates its DNS record and certificate) and records it in hoox.toml
# `[cloudflare.hostnames]`, so that every later deploy renders it as a custom-domain route and every
# command shows the worker at it; attaching a hostname that is already the worker's sends nothing.
# `remove` detaches it and forgets it. `list` shows the account's custom domains beside the ones
# hoox.toml names (a configured hostname not attached yet is listed as such). The zone is `--zone-id`,
# else CLOUDFLARE_ZONE_ID, `[cloudflare] zone_id`, or the zone named `[cloudflare] zone`.
#
# JSON objects (--json):
# - add:    {"hostname", "worker", "zone_id", "id", "created": bool, "url", "replaced": hostname|null}
# - list:   {"domains": [{"hostname", "worker", "zone_id", "zone_name", "id", "attached": bool,
#           "configured": bool}]}
# - remove: {"hostname", "worker"|null, "removed": bool, "forgotten": bool}
domain_app = typer.Typer(help="Custom domains of the public workers (Cloudflare): add, list, remove.",
                  no_args_is_help=True)


def _host(text: str) -> str:
    return text.strip().lower().rstrip(".")


@domain_app.command("add")
@handle_errors
def domain_add(
    worker: Annotated[str, typer.Argument(help="A public worker, e.g. hoox (the gateway).")],
    hostname: Annotated[str, typer.Argument(help="Hostname in your zone, e.g. api.example.com.")],
    zone_id: Annotated[str | None, typer.Option("--zone-id", help="Zone of the hostname (else [cloudflare] zone).")]
    = None,
    json_out: JsonOpt = False,
) -> None:
    """Attach HOSTNAME to WORKER on Cloudflare and record it in hoox.toml."""
    from hoox_cli.core import cloudflare_table, domains
    from hoox_cli.core.cloudflare_api import api_client

    ws = workspace()
    host = _host(hostname)
    problem = domains.hostname_problem(ws, worker, host)
    if problem:
        fail("BAD_HOSTNAME", f"{problem}. Nothing was attached.")

    async def go() -> tuple[dict[str, Any], bool]:
        async with api_client(ws) as api:
            return await domains.attach(api, ws, worker, host, zone_id)

    found, created = run_async(go())
    before = domains.hostnames(ws).get(worker)
    cloudflare_table.set_cloudflare(ws, ["hostnames", worker], host)
    replaced = before if before and before != host else None
    out = {"hostname": host, "worker": worker, "zone_id": found.get("zone_id"), "id": found.get("id"),
           "created": created, "url": domains.public_url(ws, worker), "replaced": replaced}
    if json_out:
        emit_json(out)
        return
    say(f"[green]✓[/green] {esc(host)} {'now routes' if created else 'already routed'} to {esc(worker)}: "
        f"{esc(out['url'])}")
    say(f"Recorded in {esc(ws.config_path.name)} [cloudflare.hostnames]; deploys render it as a route.")
    if replaced:
        say(f"{esc(replaced)} is no longer in hoox.toml but still attached: "
            f"`hoox infra domain remove {esc(replaced)}`.")


@domain_app.command("list")
@handle_errors
def domain_list(json_out: JsonOpt = False) -> None:
    """The account's custom domains, and the hostnames hoox.toml names."""
    from hoox_cli.core import domains
    from hoox_cli.core.cloudflare_api import api_client

    ws = workspace()
    configured = domains.hostnames(ws)

    async def go() -> list[dict[str, Any]]:
        async with api_client(ws) as api:
            return await domains.listed(api)

    rows = [{**d, "attached": True, "configured": configured.get(str(d["worker"])) == d["hostname"]}
            for d in run_async(go())]
    seen = {r["hostname"] for r in rows}
    rows += [{"hostname": h, "worker": w, "zone_id": None, "zone_name": None, "id": None, "attached": False,
              "configured": True} for w, h in configured.items() if h not in seen]
    if json_out:
        emit_json({"domains": rows})
        return
    if not rows:
        say("No custom domains: `hoox infra domain add hoox api.example.com` gives the gateway one.")
        return
    show(table(["hostname", "worker", "zone", "attached", "in hoox.toml"],
               [[r["hostname"], r["worker"], r["zone_name"] or r["zone_id"] or "", "yes" if r["attached"] else "no",
                 "yes" if r["configured"] else ""] for r in rows], title="Custom domains"))


@domain_app.command("remove")
@handle_errors
def domain_remove(hostname: Annotated[str, typer.Argument(help="The hostname to detach.")],
           json_out: JsonOpt = False) -> None:
    """Detach HOSTNAME from its worker on Cloudflare and forget it in hoox.toml."""
    from hoox_cli.core import cloudflare_table, domains
    from hoox_cli.core.cloudflare_api import api_client

    ws = workspace()
    host = _host(hostname)

    async def go() -> dict[str, Any] | None:
        async with api_client(ws) as api:
            return await domains.detach(api, host)

    found = run_async(go())
    hosts = cloudflare_table.cloudflare_table(ws).get("hostnames", {}) or {}
    owner = next((str(w) for w, h in hosts.items() if str(h).strip().lower() == host), None) \
        if hasattr(hosts, "items") else None
    if owner:
        cloudflare_table.set_cloudflare(ws, ["hostnames", owner], None)
    out = {"hostname": host, "worker": (found or {}).get("worker") or owner, "removed": found is not None,
           "forgotten": owner is not None}
    if json_out:
        emit_json(out)
        return
    if found:
        say(f"[green]✓[/green] {esc(host)} detached from {esc(found['worker'])}.")
    else:
        say(f"{esc(host)} was not attached to any worker.")
    if owner:
        say(f"Forgotten in {esc(ws.config_path.name)}; the next deploy of {esc(owner)} renders no route for it.")


app.add_typer(domain_app, name="domain")
