"""`hoox waf configure --tradingview-only | --no-tradingview-only | --limit-requests N | --off` and `waf show`.

By default it sets the gateway's own guards in its CONFIG_KV: `webhook:tradingview:ip_check` (only
TradingView's addresses may post signals; `--no-tradingview-only` turns it off again, the allowlist
itself is kept for the next time) and `webhooks:rate_limit_per_minute` (`--off`: both back to their
defaults, the check off). The settings go through the edge (hoox_cli.core.edge): `--remote URL` (or
HOOX_API_URL), else the workspace's local edge, running or not. `waf show` reads them back.

With `--cloudflare` (a bare `--remote`, its old spelling, still means this) it writes Cloudflare WAF
rules on the zone that serves the gateway (custom rule in the `http_request_firewall_custom` phase,
rate-limiting rule in `http_ratelimit`) through the Rulesets API (hoox_cli.core.waf), so floods are
dropped before they reach a worker. Only hoox's own rules (by `ref`) are added, edited or removed; the
zone's other rules are never touched, and a rule already as wanted is not written again. `--off`
removes both. `waf show --cloudflare` reads them back from the zone. The zone is `--zone-id`, else
CLOUDFLARE_ZONE_ID, `[cloudflare] zone_id`, or the zone named `[cloudflare] zone` in hoox.toml; the
rules are limited to the gateway's hostname (`--host`, else `[cloudflare.hostnames] hoox`) when there
is one. WAF rules act on a custom domain in one of your zones, not on `*.workers.dev`.

JSON (--json):
- configure: {"target": "local"|"edge"|"remote" (the workspace's edge, a --remote URL's, Cloudflare),
  "zone_id": str|null, "changes": [{"what", "value", "action"?}], "unchanged": [what],
  "edge": {"url", "local", "running"}|null}
  (remote: action is created|updated|removed, a removed rule's value is null; unchanged lists the
  rules already as asked; edge: the edge whose KV was written)
- show: {"settings": [{"key", "value", "source"}], "edge"}; with --cloudflare
  {"target": "remote", "zone_id", "rules": [{"ref", "phase", "id", "expression", "action", "enabled",
  "ratelimit"}]}
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hoox_cli.core.errors import fail, run_async
from hoox_cli.core.waf import PERIODS, PHASE_OF, RATE_PHASE, RATE_REF, TV_REF
from hoox_cli.core.workspace import workspace
from hoox_cli.options import JsonOpt, RemoteOpt, handle_errors
from hoox_cli.output import edge, emit_json, esc, say, show, table, where, where_of

app = typer.Typer(help="Firewall for the webhook: TradingView-only and rate limits (local KV or Cloudflare WAF).",
                  no_args_is_help=True)

_ZONE_HELP = "Zone of the gateway's custom domain (else CLOUDFLARE_ZONE_ID, [cloudflare] zone_id or zone)."
CloudflareOpt = Annotated[bool, typer.Option("--cloudflare", help="The zone's Cloudflare WAF rules "
                                                                  "(a bare --remote means this too).")]
ZoneOpt = Annotated[str | None, typer.Option("--zone-id", help=_ZONE_HELP)]


def _gateway_host(ws: Any) -> str | None:
    from hoox_cli.core import cloudflare_table

    hosts = cloudflare_table.cloudflare_table(ws).get("hostnames", {}) or {}
    host = hosts.get("hoox") if hasattr(hosts, "get") else None
    return str(host) if host else None


@app.command("configure")
@handle_errors
def configure(
    tradingview_only: Annotated[bool | None, typer.Option(
        "--tradingview-only/--no-tradingview-only",
        help="Accept signals only from TradingView's published addresses / from any address again.")] = None,
    limit_requests: Annotated[int | None, typer.Option(
        "--limit-requests", min=1, help="At most N signals per minute (per --period with --cloudflare).")] = None,
    off: Annotated[bool, typer.Option("--off", help="Remove both guards (Cloudflare: delete hoox's rules; "
                                                    "locally: check off, rate limit back to its default).")]
    = False,
    cloudflare: CloudflareOpt = False,
    zone_id: ZoneOpt = None,
    host: Annotated[str | None, typer.Option("--host", help="Limit the rules to this hostname "
                                                            "(default: [cloudflare.hostnames] hoox).")] = None,
    period: Annotated[int, typer.Option("--period", help=f"Rate-limit window in seconds with --cloudflare: "
                                                         f"{', '.join(map(str, PERIODS))}.")] = 60,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Turn the TradingView allowlist on or off and/or set a webhook rate limit (or --off: neither)."""
    from hoox_edge.shared import settings

    if tradingview_only is None and limit_requests is None and not off:
        fail("USAGE_ERROR", "Give --tradingview-only (or --no-tradingview-only) and/or --limit-requests N, "
                            "or --off.", exit_code=2)
    if off and (tradingview_only is not None or limit_requests is not None):
        fail("USAGE_ERROR", "--off removes both guards: give it alone.", exit_code=2)
    if cloudflare and remote:
        fail("USAGE_ERROR", "--cloudflare writes the zone's WAF rules, --remote URL an edge's settings: give one.",
             exit_code=2)
    changes: list[dict[str, Any]] = []
    unchanged: list[str] = []
    zone = None
    info: dict[str, Any] | None = None
    if cloudflare:
        from hoox_cli.core import cloudflare_table
        from hoox_cli.core import waf as core_waf
        from hoox_cli.core.cloudflare_api import api_client

        ws = workspace()
        if period not in PERIODS:
            fail("BAD_PERIOD", f"--period must be one of {', '.join(map(str, PERIODS))} seconds, not {period}.")
        rule_host = host or _gateway_host(ws)
        wanted: dict[str, dict[str, Any] | None] = {}
        if off or tradingview_only is False:
            wanted[TV_REF] = None
        elif tradingview_only:
            wanted[TV_REF] = core_waf.tradingview_rule(settings.TRADINGVIEW_IPS, rule_host)
        if off:
            wanted[RATE_REF] = None
        elif limit_requests is not None:
            wanted[RATE_REF] = core_waf.rate_rule(limit_requests, period, rule_host)

        async def go() -> str:
            async with api_client(ws) as api:
                zid = await cloudflare_table.resolve_zone(api, ws, zone_id)
                for ref, rule in wanted.items():
                    what = f"{PHASE_OF[ref]}:{ref}"
                    done = await core_waf.apply(api, zid, ref, rule)
                    if done is None:
                        unchanged.append(what)
                        continue
                    value = None if rule is None else (rule["ratelimit"] if ref == RATE_REF else rule["expression"])
                    changes.append({"what": what, "value": value, "action": done})
                return zid

        zone = run_async(go())
        if zone_id:
            cloudflare_table.set_cloudflare(ws, ["zone_id"], zone_id)
    else:
        with edge(remote) as e:
            if off:
                tradingview_only = False
            if tradingview_only is not None:
                e.kv_put(settings.TRADINGVIEW_IP_CHECK, tradingview_only)
                changes.append({"what": settings.TRADINGVIEW_IP_CHECK, "value": tradingview_only})
            if tradingview_only and e.kv_get(settings.TRADINGVIEW_ALLOWED_IPS)["source"] != "kv":
                e.kv_put(settings.TRADINGVIEW_ALLOWED_IPS, settings.TRADINGVIEW_IPS)
                changes.append({"what": settings.TRADINGVIEW_ALLOWED_IPS, "value": settings.TRADINGVIEW_IPS})
            if limit_requests is not None:
                e.kv_put(settings.RATE_LIMIT, limit_requests)
                changes.append({"what": settings.RATE_LIMIT, "value": limit_requests})
            if off and e.kv_get(settings.RATE_LIMIT)["source"] == "kv":
                e.kv_delete(settings.RATE_LIMIT)  # back to the manifest's default
                changes.append({"what": settings.RATE_LIMIT, "value": None})
        info = e.info.as_json()
    target = "remote" if cloudflare else ("local" if info and info["local"] else "edge")
    out = {"target": target, "zone_id": zone, "changes": changes, "unchanged": unchanged, "edge": info}
    if json_out:
        emit_json(out)
        return
    for c in changes:
        if c["value"] is None:
            say(f"[green]✓[/green] removed {esc(c['what'])}" if cloudflare
                else f"[green]✓[/green] {esc(c['what'])} back to its default")
        else:
            say(f"[green]✓[/green] {esc(c.get('action', 'set'))} {esc(c['what'])} = {esc(c['value'])}"
                if cloudflare else f"[green]✓[/green] {esc(c['what'])} = {esc(c['value'])}")
    for what in unchanged:
        say(f"Already so on zone {esc(zone)}: {esc(what)} (nothing sent).")
    if info is not None:
        say(f"The gateway applies these on its next signal.  {where_of(info)}")


@app.command("show")
@handle_errors
def show_(remote: RemoteOpt = None, cloudflare: CloudflareOpt = False, zone_id: ZoneOpt = None,
          json_out: JsonOpt = False) -> None:
    """The webhook guards: as the gateway's edge holds them, or (--cloudflare) hoox's WAF rules on the zone."""
    from hoox_edge.shared import settings

    if cloudflare:
        from hoox_cli.core import cloudflare_table
        from hoox_cli.core import waf as core_waf
        from hoox_cli.core.cloudflare_api import api_client

        ws = workspace()

        async def go() -> tuple[str, list[dict[str, Any]]]:
            async with api_client(ws) as api:
                zid = await cloudflare_table.resolve_zone(api, ws, zone_id)
                return zid, await core_waf.read(api, zid)

        zone, rules = run_async(go())
        if json_out:
            emit_json({"target": "remote", "zone_id": zone, "rules": rules})
            return
        if not rules:
            say(f"No hoox WAF rules on zone {esc(zone)}.")
            return
        rows = []
        for r in rules:
            rl = r["ratelimit"] or {}
            what = (f"{rl.get('requests_per_period')} per {rl.get('period')} s" if r["phase"] == RATE_PHASE
                    else "TradingView addresses only")
            rows.append([r["ref"], r["phase"], what, r["action"], "yes" if r["enabled"] else "no"])
        show(table(["rule", "phase", "what", "action", "enabled"], rows, title=f"WAF rules on zone {zone}"))
        return
    with edge(remote) as e:
        items = [e.kv_get(k) for k in (settings.TRADINGVIEW_IP_CHECK, settings.TRADINGVIEW_ALLOWED_IPS,
                                        settings.RATE_LIMIT)]
    rows2 = [{"key": i["key"], "value": i["value"], "source": i["source"]} for i in items]
    if json_out:
        emit_json({"settings": rows2, "edge": e.info.as_json()})
        return
    show(table(["setting", "value", "source"], [[r["key"], r["value"], r["source"]] for r in rows2]))
    say(where(e.info))
