"""hoox's two Cloudflare WAF rules on a zone, through the Rulesets API.

- the TradingView-only custom rule (`ref` hoox_tradingview_only) in the zone's entry point of phase
  `http_request_firewall_custom`: block a POST to /webhook from any address but TradingView's;
- the rate-limiting rule (`ref` hoox_webhook_rate_limit) in phase `http_ratelimit`.

A rule is found by its `ref` and changed one at a time (add / edit / delete rule endpoints), so the
zone's other rules are never re-sent. Writing a rule that is already there as wanted sends nothing:
`waf configure` run twice changes the zone once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hoox_cli.core.cloudflare_api import CloudflareAPI

TV_REF = "hoox_tradingview_only"
RATE_REF = "hoox_webhook_rate_limit"
CUSTOM_PHASE = "http_request_firewall_custom"
RATE_PHASE = "http_ratelimit"
PHASE_OF = {TV_REF: CUSTOM_PHASE, RATE_REF: RATE_PHASE}
PERIODS = (10, 60, 120, 300, 600, 3600)  # what Cloudflare's rate-limiting rules accept


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


def _same(current: Any, wanted: Any) -> bool:
    # Cloudflare adds id, version, last_updated, and defaults inside ratelimit: compare what we set only.
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(_same(current.get(k), v) for k, v in wanted.items())
    return bool(current == wanted)


async def apply(api: CloudflareAPI, zone: str, ref: str, rule: dict[str, Any] | None) -> str | None:
    """Make hoox's rule `ref` on the zone be `rule` (None: absent). Returns what was done: "created",
    "updated", "removed", or None when the zone already was so (nothing sent)."""
    phase = PHASE_OF[ref]
    entry = await api.phase_entrypoint(zone, phase)
    rules = (entry or {}).get("rules") or []
    current = next((r for r in rules if r.get("ref") == ref), None)
    if rule is None:
        if current is None:
            return None
        await api.rule_delete(zone, str(entry["id"]), str(current["id"]))  # type: ignore[index]
        return "removed"
    if current is not None:
        if _same(current, rule):
            return None
        await api.rule_edit(zone, str(entry["id"]), str(current["id"]), rule)  # type: ignore[index]
        return "updated"
    if entry is None:  # the zone has no entry point in this phase yet: creating it holds the rule
        await api.put_phase_entrypoint(zone, phase, [rule])
    else:
        await api.rule_add(zone, str(entry["id"]), rule)
    return "created"


async def read(api: CloudflareAPI, zone: str) -> list[dict[str, Any]]:
    """hoox's rules as the zone holds them: [{"ref", "phase", "id", "expression", "action", "enabled",
    "ratelimit"}] (absent ones left out)."""
    out = []
    for ref, phase in PHASE_OF.items():
        entry = await api.phase_entrypoint(zone, phase)
        for r in (entry or {}).get("rules") or []:
            if r.get("ref") == ref:
                out.append({"ref": ref, "phase": phase, "id": r.get("id"), "expression": r.get("expression"),
                            "action": r.get("action"), "enabled": r.get("enabled", True),
                            "ratelimit": r.get("ratelimit")})
    return out
