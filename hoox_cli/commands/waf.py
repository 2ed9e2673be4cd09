"""`hoox waf configure --tradingview-only | --no-tradingview-only | --limit-requests N`.

By default it sets the gateway's own guards in its CONFIG_KV: `webhook:tradingview:ip_check` (only
TradingView's addresses may post signals; `--no-tradingview-only` turns it off again, the allowlist
itself is kept for the next time) and `webhooks:rate_limit_per_minute`. The settings go through the
edge (hoox_cli.core.edge): `--remote URL` (or HOOX_API_URL), else the workspace's local edge, running
or not. `waf show` reads them back.

With `--cloudflare` (a bare `--remote`, its old spelling, still means this) it writes Cloudflare WAF
rules on the zone that serves the gateway (custom rule in the `http_request_firewall_custom` phase,
rate-limiting rule in `http_ratelimit`) through the REST API, so floods are dropped before they reach
a worker. Only hoox's own rules (by `ref`) are replaced (or, with `--no-tradingview-only`, removed);
every other rule of the zone is kept. WAF rules act on a custom domain in one of your zones, not on
`*.workers.dev`.

JSON (--json):
- configure: {"target": "local"|"edge"|"remote" (the workspace's edge, a --remote URL's, Cloudflare),
  "zone_id": str|null, "changes": [{"what", "value"}], "edge": {"url", "local", "running"}|null}
  (a removed rule's value is null; edge: the edge whose KV was written)
- show: {"settings": [{"key", "value", "source"}], "edge"}
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from hoox_cli.core.errors import fail, run_async
from hoox_cli.core.workspace import workspace
from hoox_cli.options import JsonOpt, RemoteOpt, handle_errors
from hoox_cli.output import edge, emit_json, esc, say, show, table, where, where_of

app = typer.Typer(help="Firewall for the webhook: TradingView-only and rate limits (local KV or Cloudflare WAF).",
                  no_args_is_help=True)

TV_REF = "hoox_tradingview_only"
RATE_REF = "hoox_webhook_rate_limit"
CUSTOM_PHASE = "http_request_firewall_custom"
RATE_PHASE = "http_ratelimit"
PERIODS = (10, 60, 120, 300, 600, 3600)  # what Cloudflare's rate-limiting rules accept
_READ_ONLY = ("version", "last_updated")


def _path_expr(host: str | None) -> str:
    expr = 'http.request.uri.path eq "/webhook"'
    return f'http.host eq "{host}" and {expr}' if host else expr


def tradingview_rule(ips: list[str], host: str | None) -> dict[str, Any]:
    return {
        "ref": TV_REF,
        "description": "hoox: only TradingView may post signals to /webhook",
        "expression": f"({_path_expr(host)} and not ip.src in {{{' '.join(ips)}}})",
        "action": "block",
        "enabled": True,
    }


def rate_rule(limit: int, period: int, host: str | None) -> dict[str, Any]:
    return {
        "ref": RATE_REF,
        "description": f"hoox: at most {limit} signals per {period} s per address to /webhook",
        "expression": f"({_path_expr(host)})",
        "action": "block",
        "ratelimit": {"characteristics": ["ip.src", "cf.colo.id"], "period": period,
                      "requests_per_period": limit, "mitigation_timeout": period},
        "enabled": True,
    }


async def _merge(api: Any, zone: str, phase: str, rule: dict[str, Any] | None, ref: str) -> bool:
    """Put `rule` (None: no rule) in place of hoox's rule `ref` in the phase, every other rule kept.
    False when there was nothing to remove (no write then)."""
    current = await api.phase_entrypoint(zone, phase)
    rules = (current or {}).get("rules", []) or []
    kept = [{k: v for k, v in r.items() if k not in _READ_ONLY} for r in rules if r.get("ref") != ref]
    if rule is None and len(kept) == len(rules):
        return False
    await api.put_phase_entrypoint(zone, phase, [*kept, *([rule] if rule is not None else [])])
    return True


@app.command("configure")
@handle_errors
def configure(
    tradingview_only: Annotated[bool | None, typer.Option(
        "--tradingview-only/--no-tradingview-only",
        help="Accept signals only from TradingView's published addresses / from any address again.")] = None,
    limit_requests: Annotated[int | None, typer.Option(
        "--limit-requests", min=1, help="At most N signals per minute (per --period with --remote).")] = None,
    cloudflare: Annotated[bool, typer.Option("--cloudflare", help="Write Cloudflare WAF rules on the gateway's zone "
                                                                  "(a bare --remote means this too).")] = False,
    zone_id: Annotated[str | None, typer.Option(
        "--zone-id", help="Zone of the gateway's custom domain (else CLOUDFLARE_ZONE_ID or [cloudflare] zone_id).")]
    = None,
    host: Annotated[str | None, typer.Option("--host", help="Limit the rules to this hostname.")] = None,
    period: Annotated[int, typer.Option("--period", help=f"Rate-limit window in seconds with --cloudflare: "
                                                         f"{', '.join(map(str, PERIODS))}.")] = 60,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Turn the TradingView allowlist on or off and/or set a webhook rate limit."""
    from hoox_edge.shared import settings

    if tradingview_only is None and limit_requests is None:
        fail("USAGE_ERROR", "Give --tradingview-only (or --no-tradingview-only) and/or --limit-requests N.",
             exit_code=2)
    if cloudflare and remote:
        fail("USAGE_ERROR", "--cloudflare writes the zone's WAF rules, --remote URL an edge's settings: give one.",
             exit_code=2)
    changes: list[dict[str, Any]] = []
    zone = None
    info: dict[str, Any] | None = None
    if cloudflare:
        from hoox_cli.core import deploy
        from hoox_cli.core.cloudflare_api import api_client

        ws = workspace()

        if period not in PERIODS:
            fail("BAD_PERIOD", f"--period must be one of {', '.join(map(str, PERIODS))} seconds.")
        zone = zone_id or os.environ.get("CLOUDFLARE_ZONE_ID") or deploy.cloudflare_table(ws).get("zone_id")
        if not zone:
            fail("NO_ZONE", "WAF rules belong to a zone: pass --zone-id (the zone of the gateway's custom domain).")
        zone = str(zone)

        async def go() -> None:
            async with api_client(ws) as api:
                if tradingview_only:
                    rule = tradingview_rule(settings.TRADINGVIEW_IPS, host)
                    await _merge(api, zone, CUSTOM_PHASE, rule, TV_REF)
                    changes.append({"what": f"{CUSTOM_PHASE}:{TV_REF}", "value": rule["expression"]})
                elif tradingview_only is False and await _merge(api, zone, CUSTOM_PHASE, None, TV_REF):
                    changes.append({"what": f"{CUSTOM_PHASE}:{TV_REF}", "value": None})
                if limit_requests is not None:
                    rule = rate_rule(limit_requests, period, host)
                    await _merge(api, zone, RATE_PHASE, rule, RATE_REF)
                    changes.append({"what": f"{RATE_PHASE}:{RATE_REF}", "value": rule["ratelimit"]})

        run_async(go())
        if zone_id:
            deploy.set_cloudflare(ws, ["zone_id"], zone_id)
    else:
        with edge(remote) as e:
            if tradingview_only is not None:
                e.kv_put(settings.TRADINGVIEW_IP_CHECK, tradingview_only)
                changes.append({"what": settings.TRADINGVIEW_IP_CHECK, "value": tradingview_only})
            if tradingview_only and e.kv_get(settings.TRADINGVIEW_ALLOWED_IPS)["source"] != "kv":
                e.kv_put(settings.TRADINGVIEW_ALLOWED_IPS, settings.TRADINGVIEW_IPS)
                changes.append({"what": settings.TRADINGVIEW_ALLOWED_IPS, "value": settings.TRADINGVIEW_IPS})
            if limit_requests is not None:
                e.kv_put(settings.RATE_LIMIT, limit_requests)
                changes.append({"what": settings.RATE_LIMIT, "value": limit_requests})
        info = e.info.as_json()
    target = "remote" if cloudflare else ("local" if info and info["local"] else "edge")
    out = {"target": target, "zone_id": zone, "changes": changes, "edge": info}
    if json_out:
        emit_json(out)
        return
    for c in changes:
        say(f"[green]✓[/green] {esc(c['what'])} = {esc(c['value'])}" if c["value"] is not None
            else f"[green]✓[/green] removed {esc(c['what'])}")
    if tradingview_only is False and cloudflare and not changes:
        say(f"No {TV_REF} rule on zone {esc(zone)}: signals were not limited to TradingView there.")
    if info is not None:
        say(f"The gateway applies these on its next signal.  {where_of(info)}")


@app.command("show")
@handle_errors
def show_(remote: RemoteOpt = None, json_out: JsonOpt = False) -> None:
    """The gateway's webhook guards as its edge holds them (TradingView allowlist, rate limit)."""
    from hoox_edge.shared import settings

    with edge(remote) as e:
        items = [e.kv_get(k) for k in (settings.TRADINGVIEW_IP_CHECK, settings.TRADINGVIEW_ALLOWED_IPS,
                                        settings.RATE_LIMIT)]
    rows = [{"key": i["key"], "value": i["value"], "source": i["source"]} for i in items]
    if json_out:
        emit_json({"settings": rows, "edge": e.info.as_json()})
        return
    show(table(["setting", "value", "source"], [[r["key"], r["value"], r["source"]] for r in rows]))
    say(where(e.info))
