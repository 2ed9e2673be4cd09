"""What the deployed workers cost and where they are served from, read from Cloudflare's GraphQL
Analytics API with the account token (a worker cannot read any of this about itself).

One query, two views of the `workersInvocationsAdaptive` dataset over a window ending now:
per worker (`scriptName`) its requests, errors and CPU time percentiles (`cpuTimeP50`, `cpuTimeP99`,
in microseconds in the schema; milliseconds here), and per data centre (`coloCode`, an IATA airport
code) the requests and errors of every hoox worker. Cloudflare reports no memory figure per worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hoox_edge import catalog
from hoox_edge.shared import clock

from hoox_cli.core.cloudflare_api import CloudflareAPI, CloudflareError

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

WINDOW_SECONDS = 300  # as the local runtime's CPU window ("5m")
MEMORY_NOTE = "not reported by Cloudflare"
GROUPS_LIMIT = 10_000

# `limit` and the filter as in Cloudflare's "Querying Workers Metrics with GraphQL" tutorial
QUERY = """query HooxWorkerUsage($accountTag: string, $since: string, $until: string) {
  viewer {
    accounts(filter: {accountTag: $accountTag}) {
      byScript: workersInvocationsAdaptive(limit: {limit}, filter: {datetime_geq: $since, datetime_leq: $until}) {
        sum { requests errors }
        quantiles { cpuTimeP50 cpuTimeP99 }
        dimensions { scriptName }
      }
      byColo: workersInvocationsAdaptive(limit: {limit}, filter: {datetime_geq: $since, datetime_leq: $until}) {
        sum { requests errors }
        dimensions { scriptName coloCode }
      }
    }
  }
}""".replace("{limit}", str(GROUPS_LIMIT))


@dataclass(frozen=True)
class ScriptUsage:
    script: str
    requests: int
    errors: int
    cpu_p50_ms: float | None
    cpu_p99_ms: float | None


@dataclass(frozen=True)
class ColoUsage:
    colo: str  # IATA code of the data centre
    requests: int
    errors: int


@dataclass(frozen=True)
class CloudflareUsage:
    since: str
    until: str
    window: str
    scripts: dict[str, ScriptUsage]  # hoox workers with invocations in the window
    colos: list[ColoUsage]  # busiest first


def _ms(us: Any) -> float | None:
    return None if us is None else round(float(us) / 1000, 3)


def _groups(account: dict[str, Any], alias: str) -> list[dict[str, Any]]:
    groups = account.get(alias)
    if not isinstance(groups, list):
        raise CloudflareError(f"Cloudflare GraphQL answer has no {alias} list")
    return [g for g in groups if isinstance(g, dict)]


def parse(data: dict[str, Any], since: str, until: str) -> CloudflareUsage:
    """The figures of hoox's workers out of the query's `data` (other scripts of the account left out)."""
    accounts = ((data.get("viewer") or {}).get("accounts")) or []
    if not accounts:
        raise CloudflareError("Cloudflare GraphQL answer has no account: is the account id right?")
    account = accounts[0]
    ours = set(catalog.names())
    scripts: dict[str, ScriptUsage] = {}
    for g in _groups(account, "byScript"):
        name = str((g.get("dimensions") or {}).get("scriptName"))
        if name not in ours:
            continue
        s, q = g.get("sum") or {}, g.get("quantiles") or {}
        scripts[name] = ScriptUsage(name, int(s.get("requests") or 0), int(s.get("errors") or 0),
                                    _ms(q.get("cpuTimeP50")), _ms(q.get("cpuTimeP99")))
    colos: dict[str, list[int]] = {}
    for g in _groups(account, "byColo"):
        dims = g.get("dimensions") or {}
        if str(dims.get("scriptName")) not in ours or not dims.get("coloCode"):
            continue
        s = g.get("sum") or {}
        acc = colos.setdefault(str(dims["coloCode"]).upper(), [0, 0])
        acc[0] += int(s.get("requests") or 0)
        acc[1] += int(s.get("errors") or 0)
    listed = sorted((ColoUsage(c, r, e) for c, (r, e) in colos.items()), key=lambda c: (-c.requests, c.colo))
    return CloudflareUsage(since, until, f"{WINDOW_SECONDS // 60}m", scripts, listed)


async def fetch(api: CloudflareAPI, *, window_seconds: int = WINDOW_SECONDS) -> CloudflareUsage:
    """The last `window_seconds` of the account's hoox workers (CloudflareError when it cannot be read)."""
    if not api.account_id:
        raise CloudflareError("No Cloudflare account id: set CLOUDFLARE_ACCOUNT_ID or "
                              "add account_id = \"…\" under [cloudflare] in hoox.toml.")
    now = clock.now()
    since, until = clock.iso(now - window_seconds), clock.iso(now)
    data = await api.graphql(QUERY, {"accountTag": api.account_id, "since": since, "until": until})
    return parse(data, since, until)


async def read(ws: Workspace | None) -> CloudflareUsage:
    """`fetch` with the credentials of the environment or the workspace (`wrangler_cli.credentials`)."""
    from hoox_cli.core import wrangler_cli

    creds = wrangler_cli.credentials(ws)
    async with CloudflareAPI(creds.get("CLOUDFLARE_API_TOKEN", ""), creds.get("CLOUDFLARE_ACCOUNT_ID")) as api:
        return await fetch(api)
