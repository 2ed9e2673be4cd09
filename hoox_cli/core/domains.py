"""Custom domains of the public workers, and the one public URL of each worker.

hoox.toml names the zone and, per public worker, the hostname it answers on:

    [cloudflare]
    zone = "desk.example"                 # your domain on Cloudflare (its id is looked up once: zone_id)
    [cloudflare.hostnames]
    hoox = "api.desk.example"             # the gateway: /webhook, the operator API, /telegram-webhook

Only public workers (catalog `public`) can have one: the others are reached through service bindings
and have no URL at all. The deploy renders each hostname into the worker's wrangler.jsonc as a custom
domain route (`{"pattern": host, "custom_domain": true}`), and `hoox infra domain add|list|remove`
attaches and detaches them at once through Cloudflare's Workers Domains API.

`public_url(ws, worker)` is where every command that shows a worker's URL takes it from: its custom
domain, else the workers.dev URL wrangler reported on its last deploy, else the one its workers.dev
subdomain gives (`[cloudflare] subdomain`), else None (not deployed, or not public).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from hoox_cli.core.errors import fail

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

    from hoox_cli.core.cloudflare_api import CloudflareAPI

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"^(?:{_LABEL}\.)+{_LABEL}$")


def zone_problem(zone: str) -> str | None:
    if len(zone) > 253 or not _HOSTNAME.match(zone):
        return f"{zone!r} is not a domain name (e.g. example.com)"
    return None


def hostname_problem(ws: Workspace | None, worker: str, host: str) -> str | None:
    """Why `host` cannot be `worker`'s custom domain (in the workspace's zone when `ws` is given), or None."""
    from hoox_edge import catalog

    from hoox_cli.core import cloudflare_table

    try:
        w = catalog.worker(worker)
    except KeyError as exc:
        return str(exc.args[0])
    if not w.public:
        return (f"{worker} is not public (it is reached only through service bindings): only "
                f"{', '.join(x.name for x in catalog.WORKERS if x.public)} can have a custom domain")
    if len(host) > 253 or not _HOSTNAME.match(host):
        return (f"{host!r} is not a hostname (lower-case letters, digits and -, labels joined by dots, "
                "e.g. api.example.com)")
    if host.endswith(".workers.dev"):
        return f"{host} is a workers.dev address, not a custom domain: give a hostname in your own zone"
    zone = cloudflare_table.cloudflare_table(ws).get("zone") if ws is not None else None
    if zone and host != str(zone) and not host.endswith("." + str(zone)):
        return f"{host} is not in the zone {zone} ([cloudflare] zone in hoox.toml)"
    return None


def hostnames(ws: Workspace) -> dict[str, str]:
    """{worker: hostname} from `[cloudflare.hostnames]`; CliError BAD_HOSTNAME naming the key when one is wrong."""
    from hoox_cli.core import cloudflare_table

    table = cloudflare_table.cloudflare_table(ws).get("hostnames", {}) or {}
    if not hasattr(table, "items"):
        fail("BAD_HOSTNAME", "hoox.toml: cloudflare.hostnames must be a table ([cloudflare.hostnames] worker = host).")
    out: dict[str, str] = {}
    for worker, host in table.items():
        plain = str(host).strip().lower() if isinstance(host, str) else None
        problem = (hostname_problem(ws, str(worker), plain) if plain
                   else f"takes one hostname (text), got {host!r}")
        if problem:
            fail("BAD_HOSTNAME", f"hoox.toml: cloudflare.hostnames.{worker}: {problem}.")
        out[str(worker)] = plain  # type: ignore[assignment]
    return out


def routes(ws: Workspace) -> dict[str, list[str]]:
    """What the rendered wrangler.jsonc files route: {worker: [hostname]}."""
    return {w: [h] for w, h in hostnames(ws).items()}


def public_url(ws: Workspace, worker: str) -> str | None:
    """The URL the internet reaches `worker` at (see the module's docstring), without a trailing slash."""
    from hoox_edge import catalog

    from hoox_cli.core import cloudflare_table

    try:
        if not catalog.worker(worker).public:
            return None
    except KeyError:
        return None
    cf = cloudflare_table.cloudflare_table(ws)
    hosts = cf.get("hostnames", {}) or {}
    host = hosts.get(worker) if hasattr(hosts, "get") else None
    if isinstance(host, str) and host.strip():
        return f"https://{host.strip().lower()}"
    urls = cf.get("urls", {}) or {}
    recorded = urls.get(worker) if hasattr(urls, "get") else None
    if recorded:
        return str(recorded).rstrip("/")
    sub = cf.get("subdomain")
    if sub:
        return f"https://{worker}.{sub}.workers.dev"
    return None


# ----------------------------------------------------------------------------- Cloudflare
def _row(d: dict[str, Any]) -> dict[str, Any]:
    return {"hostname": d.get("hostname"), "worker": d.get("service"), "zone_id": d.get("zone_id"),
            "zone_name": d.get("zone_name"), "id": d.get("id")}


async def listed(api: CloudflareAPI) -> list[dict[str, Any]]:
    """Every custom domain of the account's workers: [{"hostname", "worker", "zone_id", "zone_name", "id"}]."""
    return [_row(d) for d in await api.domains_list()]


async def attach(api: CloudflareAPI, ws: Workspace, worker: str, host: str,
                 zone_id: str | None = None) -> tuple[dict[str, Any], bool]:
    """Attach `host` to `worker` (already so: nothing sent); (the domain, created)."""
    from hoox_cli.core import cloudflare_table

    for d in await listed(api):
        if d["hostname"] == host:
            if d["worker"] == worker:
                return d, False
            fail("DOMAIN_TAKEN", f"{host} already routes to the worker {d['worker']}: "
                                 f"`hoox infra domain remove {host}` first.")
    zid = await cloudflare_table.resolve_zone(api, ws, zone_id)
    return _row(await api.domain_attach(host, worker, zid)), True


async def detach(api: CloudflareAPI, host: str) -> dict[str, Any] | None:
    """Detach `host` from its worker; the domain it was, or None when none had it."""
    found = next((d for d in await listed(api) if d["hostname"] == host), None)
    if found is not None:
        await api.domain_delete(str(found["id"]))
    return found
