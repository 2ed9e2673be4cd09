"""hoox.toml's `[cloudflare]` table: reading it, writing one key of it, and the zone it names.

Its own module because deploy (resource ids) and domains (hostnames, zone) both read it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

    from hoox_cli.core.cloudflare_api import CloudflareAPI


def cloudflare_table(ws: Workspace) -> Any:
    cf = ws.config().get("cloudflare", {}) if ws.exists else {}
    return cf if hasattr(cf, "get") else {}


def set_cloudflare(ws: Workspace, path: list[str], value: str | None) -> None:
    """Set (or with None remove) `[cloudflare.<path…>]` in hoox.toml, keeping comments and order (tomlkit)."""
    import tomlkit

    doc = ws.config()
    node: Any = doc
    for key in ["cloudflare", *path[:-1]]:
        if key not in node:
            if value is None:
                return
            node[key] = tomlkit.table()
        node = node[key]
    if value is None:
        if path[-1] in node:
            del node[path[-1]]
    else:
        node[path[-1]] = value
    ws.save_config(doc)


async def resolve_zone(api: CloudflareAPI, ws: Workspace, override: str | None = None) -> str:
    """The id of the zone hoox's domains and WAF rules live in: `override` (--zone-id),
    CLOUDFLARE_ZONE_ID, `[cloudflare] zone_id`, else the zone named by `[cloudflare] zone` (looked up on
    the account once, then recorded as zone_id). CloudflareError saying what to set when there is none."""
    import os

    from hoox_cli.core.cloudflare_api import CloudflareError

    cf = cloudflare_table(ws)
    found = override or os.environ.get("CLOUDFLARE_ZONE_ID") or cf.get("zone_id")
    if found:
        return str(found)
    name = cf.get("zone")
    if not name:
        raise CloudflareError("No zone: add zone = \"example.com\" (your domain on Cloudflare) under [cloudflare] "
                              "in hoox.toml, or pass --zone-id.")
    zid = await api.zone_id(str(name))
    if zid is None:
        raise CloudflareError(f"No zone named {name} on the Cloudflare account ([cloudflare] zone in hoox.toml): "
                              "add the domain to Cloudflare first, or correct the name.")
    set_cloudflare(ws, ["zone_id"], zid)
    return zid
