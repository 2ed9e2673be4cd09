"""`hoox infra domain add WORKER HOSTNAME | list | remove HOSTNAME`: custom domains of the public workers.

Through Cloudflare's Workers Domains API (hoox_cli.core.domains): `add` attaches the hostname to the
worker (Cloudflare creates its DNS record and certificate) and records it in hoox.toml
`[cloudflare.hostnames]`, so that every later deploy renders it as a custom-domain route and every
command shows the worker at it; attaching a hostname that is already the worker's sends nothing.
`remove` detaches it and forgets it. `list` shows the account's custom domains beside the ones
hoox.toml names (a configured hostname not attached yet is listed as such). The zone is `--zone-id`,
else CLOUDFLARE_ZONE_ID, `[cloudflare] zone_id`, or the zone named `[cloudflare] zone`.

JSON objects (--json):
- add:    {"hostname", "worker", "zone_id", "id", "created": bool, "url", "replaced": hostname|null}
- list:   {"domains": [{"hostname", "worker", "zone_id", "zone_name", "id", "attached": bool,
          "configured": bool}]}
- remove: {"hostname", "worker"|null, "removed": bool, "forgotten": bool}
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hoox_cli.core.errors import fail, run_async
from hoox_cli.core.workspace import workspace
from hoox_cli.options import JsonOpt, handle_errors
from hoox_cli.output import emit_json, esc, say, show, table

app = typer.Typer(help="Custom domains of the public workers (Cloudflare): add, list, remove.",
                  no_args_is_help=True)


def _host(text: str) -> str:
    return text.strip().lower().rstrip(".")


@app.command("add")
@handle_errors
def add(
    worker: Annotated[str, typer.Argument(help="A public worker, e.g. hoox (the gateway).")],
    hostname: Annotated[str, typer.Argument(help="Hostname in your zone, e.g. api.example.com.")],
    zone_id: Annotated[str | None, typer.Option("--zone-id", help="Zone of the hostname (else [cloudflare] zone).")]
    = None,
    json_out: JsonOpt = False,
) -> None:
    """Attach HOSTNAME to WORKER on Cloudflare and record it in hoox.toml."""
    from hoox_cli.core import deploy, domains
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
    deploy.set_cloudflare(ws, ["hostnames", worker], host)
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


@app.command("list")
@handle_errors
def list_(json_out: JsonOpt = False) -> None:
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


@app.command("remove")
@handle_errors
def remove(hostname: Annotated[str, typer.Argument(help="The hostname to detach.")],
           json_out: JsonOpt = False) -> None:
    """Detach HOSTNAME from its worker on Cloudflare and forget it in hoox.toml."""
    from hoox_cli.core import deploy, domains
    from hoox_cli.core.cloudflare_api import api_client

    ws = workspace()
    host = _host(hostname)

    async def go() -> dict[str, Any] | None:
        async with api_client(ws) as api:
            return await domains.detach(api, host)

    found = run_async(go())
    hosts = deploy.cloudflare_table(ws).get("hostnames", {}) or {}
    owner = next((str(w) for w, h in hosts.items() if str(h).strip().lower() == host), None) \
        if hasattr(hosts, "items") else None
    if owner:
        deploy.set_cloudflare(ws, ["hostnames", owner], None)
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
