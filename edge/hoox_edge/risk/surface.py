"""What the operator sees of the risk manager, and the settings it changes: one definition served by
agent-worker (`/agent/status`, `/agent/config`, `/agent/risk-override`) and by the gateway's operator
API (`/v1/risk`, `/v1/risk/runs`, `/v1/risk/config`) alike, both reading the same ledger and KV.

`status` figures:
- per open position (both books): the mark now (the paper market, or the exchange's public
  ticker), the watermark, stop and stop kind the last run kept (`risk_positions`; null before a run
  has seen the position), the distance to the stop in % of the mark — LONG (mark − stop) / mark ×
  100, SHORT (stop − mark) / mark × 100: what the price may still move before the stop fires, ≤ 0
  when it is crossed (the next run closes) — and the next take-profit target with its price, LONG
  entry × (1 + p/100), SHORT entry × (1 − p/100);
- per book and exchange, today's (UTC) drawdown as the last run measured it against the limit now
  set (`measuredAt` says when: the figure is a run's, not a fresh balance read);
- the last run and its age; `stale` when it is older than twice the interval (the cron is not
  running, or runs fail to start);
- the open reconciliation issues.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hoox_edge.ledger import dec, num
from hoox_edge.operator import kill_switch, shapes
from hoox_edge.operator.positions import open_positions
from hoox_edge.ports import Env
from hoox_edge.risk import manager, reconciliation, rules
from hoox_edge.shared import clock, settings
from hoox_edge.shared.errors import VALIDATION_ERROR, ApiError
from hoox_edge.shared.logs import log

TRAILING, TRAILING_SYMBOL = settings.TRAILING_STOP, settings.TRAILING_STOP_OF  # the global one, the family
TARGETS, DRAWDOWN, INTERVAL = settings.TAKE_PROFIT_TARGETS, settings.MAX_DAILY_DRAWDOWN, settings.RISK_INTERVAL
RISK_KEYS = (TRAILING, TARGETS, DRAWDOWN, INTERVAL)
MAX_CHANGES = 50  # keys one config write may change


def is_risk_key(key: str) -> bool:
    return key in RISK_KEYS or (key.startswith(TRAILING_SYMBOL) and len(key) > len(TRAILING_SYMBOL))


async def _read(env: Env, key: str, errors: list[str]) -> Any:
    """A setting's value; a corrupt stored value reads as its default, with the error listed."""
    try:
        return await settings.get(env.CONFIG_KV, key)
    except settings.SettingError as exc:
        errors.append(str(exc))
        s = settings.lookup(key)
        return s.default if s else None


def run_item(r: dict[str, Any], *, details: bool = True) -> shapes.RiskRun:
    """A `risk_runs` row as the API shows it (`details`: what it did, as JSON)."""
    item: shapes.RiskRun = {
        "id": r["id"], "trigger": r["trigger"], "status": r["status"], "startedAt": r["started_at"],
        "finishedAt": r["finished_at"], "durationMs": r["duration_ms"], "positionsSeen": r["positions_seen"],
        "actions": r["actions"], "errors": r["errors"]}
    if details:
        try:
            item["details"] = json.loads(r["details"]) if r["details"] else None
        except ValueError:
            item["details"] = {"raw": str(r["details"])[:2000]}
    return item


# --------------------------------------------------------------------------- status
def _distance(side: str, mark: Decimal, stop: Decimal) -> Decimal:
    return (mark - stop) / mark * rules.HUNDRED * rules.sign(side)


def _target_price(side: str, entry: Decimal, percent: Decimal) -> Decimal:
    return entry * (rules.ONE + percent / rules.HUNDRED * rules.sign(side))


async def status(env: Env) -> shapes.RiskStatus:
    errors: list[str] = []
    now = clock.now()
    default_trail = dec(await _read(env, TRAILING, errors) or 0)
    try:
        targets = rules.parse_targets(await _read(env, TARGETS, errors))
    except ValueError as exc:
        errors.append(f"{TARGETS}: {exc}")
        targets = []
    limit = dec(await _read(env, DRAWDOWN, errors) or 0)
    interval = int(await _read(env, INTERVAL, errors))

    state = {r["position_id"]: r for r in (await env.DB.prepare(
        "SELECT r.* FROM risk_positions r JOIN positions p ON p.id = r.position_id WHERE p.status = 'OPEN'"
    ).all())["results"]}
    positions: list[shapes.RiskPosition] = []
    for p in await open_positions(env):
        st = state.get(p["id"])
        side, entry = p["side"], dec(p["entryPrice"])
        mark = dec(p["markPrice"]) if p["markPrice"] is not None else None
        override = await _read(env, settings.trailing_stop_of(p["symbol"]), errors)
        trail = default_trail if override is None else dec(override)
        stop = dec(st["stop_price"]) if st and st["stop_price"] is not None else None
        done = int(st["targets_done"]) if st else 0
        nxt: shapes.RiskTarget | None = None
        if done < len(targets):
            t = targets[done]
            nxt = {"number": done + 1, "profitPercent": num(t.profit_percent), "closeFraction": num(t.close_fraction),
                   "moveStopToBreakEven": t.move_stop_to_break_even,
                   "price": num(_target_price(side, entry, t.profit_percent))}
        positions.append({
            "positionId": p["id"], "mode": p["mode"], "exchange": p["exchange"], "symbol": p["symbol"], "side": side,
            "size": p["size"], "entryPrice": p["entryPrice"], "markPrice": p["markPrice"], "markError": p["markError"],
            "unrealizedPnl": p["unrealizedPnl"], "trailingPercent": num(trail),
            "seenByRun": st is not None, "watermark": st["watermark"] if st else None,
            "stopPrice": num(stop) if stop is not None else None, "stopKind": st["stop_kind"] if st else None,
            "distanceToStopPercent": num(_distance(side, mark, stop)) if stop is not None and mark else None,
            "targetsDone": done, "targetsTotal": len(targets), "nextTarget": nxt,
            "closing": bool(st["closed"]) if st else False,
        })  # fmt: skip

    last = await manager.last_run(env)
    last_item: shapes.RiskRun | None = None
    if last is not None:
        last_item = run_item(last, details=False)
        started = clock.parse(last["started_at"])
        last_item["ageSeconds"] = round(now - started, 3) if started is not None else None
    age = last_item.get("ageSeconds") if last_item is not None else None
    stale = age is None or age > 2 * interval * 60

    today = clock.iso(now)[:10]
    drawdowns: list[shapes.RiskDrawdown] = []
    if last is not None and last["details"]:
        try:
            measured = json.loads(last["details"]).get("drawdowns") or []
        except ValueError:
            measured = []
        for d in measured:
            if d.get("day") != today:
                continue  # yesterday's figures are not today's drawdown
            drawdowns.append({
                "mode": d["mode"], "exchange": d["exchange"], "day": d["day"], "startEquity": d["startEquity"],
                "startTakenAt": d["startTakenAt"], "equity": d["equity"], "drawdownPercent": d["drawdownPercent"],
                "limitPercent": num(limit), "trippedAt": d["trippedAt"], "measuredAt": last["started_at"],
                "runId": last["id"]})  # fmt: skip

    return {
        "at": clock.iso(now), "intervalMinutes": interval, "lastRun": last_item, "stale": stale,
        "killSwitch": await kill_switch.state(env),
        "settings": {"trailingStopPercent": num(default_trail), "takeProfitTargets": [
            {"profit_percent": num(t.profit_percent), "close_fraction": num(t.close_fraction),
             "move_stop_to_break_even": t.move_stop_to_break_even} for t in targets],
            "maxDailyDrawdownPercent": num(limit), "errors": errors},
        "positions": positions, "drawdowns": drawdowns,
        "reconciliation": {"openIssues": await reconciliation.open_issues(env)},
    }  # fmt: skip


# --------------------------------------------------------------------------- runs
async def runs_page(env: Env, *, limit: int, cursor: int | None, status: str | None) -> shapes.RiskRunsPage:
    """`risk_runs`, newest first, paged by id like the other lists (`nextCursor`)."""
    where: list[str] = []
    args: list[Any] = []
    if status is not None:
        where.append("status = ?")
        args.append(status)
    if cursor is not None:
        where.append("id < ?")
        args.append(cursor)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    rows = (await env.DB.prepare(f"SELECT * FROM risk_runs{clause} ORDER BY id DESC LIMIT ?").bind(
        *args, limit + 1).all())["results"]
    items = [run_item(r) for r in rows[:limit]]
    return {"items": items, "nextCursor": str(items[-1]["id"]) if len(rows) > limit and items else None}


# --------------------------------------------------------------------------- config
async def config(env: Env) -> shapes.RiskConfig:
    """The risk settings as KV entries (`settings.describe`): the four keys and every stored override."""
    keys = [*RISK_KEYS, *sorted(await settings.stored_keys(env.CONFIG_KV, TRAILING_SYMBOL))]
    return {"items": [settings.describe(k, await env.CONFIG_KV.get(k)) for k in keys], "nextCursor": None}


async def set_config(env: Env, values: Any, *, request_id: str | None, by: str) -> shapes.RiskConfig:
    """`values` = {key: value | null}: every key a risk setting, every value checked by the manifest
    (`settings.encode`) before the first write, so a refused request changes nothing. null removes
    the stored value (the default, or for an override the global trailing stop, applies again)."""
    if not isinstance(values, dict) or not values:
        raise ApiError(400, VALIDATION_ERROR, 'Expected {"values": {"<risk setting>": <value or null>, ...}}.',
                       [{"field": "values", "issue": "must be a non-empty JSON object of setting: value"}])
    if len(values) > MAX_CHANGES:
        raise ApiError(400, VALIDATION_ERROR, f"values: at most {MAX_CHANGES} settings at once.",
                       [{"field": "values", "issue": f"at most {MAX_CHANGES} keys"}])
    stored: dict[str, str | None] = {}
    problems: list[dict[str, Any]] = []
    for key, value in values.items():
        if not isinstance(key, str) or not is_risk_key(key):
            problems.append({"field": str(key)[:80], "issue": "not a risk setting: " + ", ".join(
                [*RISK_KEYS, TRAILING_SYMBOL + "{SYMBOL}"])})
            continue
        if value is None:
            try:
                settings.coerce(key, settings.known(key).default if key in RISK_KEYS else 0)
            except settings.SettingError as exc:  # a malformed {SYMBOL}
                problems.append({"field": exc.key, "issue": exc.message})
                continue
            stored[key] = None
            continue
        try:
            stored[key] = settings.encode(key, value)
        except settings.SettingError as exc:
            s = settings.lookup(key)
            problems.append({"field": exc.key, "issue": exc.message,
                             "expected": settings.type_label(s) if s else None})
    if problems:
        first = problems[0]
        raise ApiError(400, VALIDATION_ERROR, f"{first['field']}: {first['issue']}; nothing was changed.", problems)
    changed: list[shapes.RiskConfigChange] = []
    for key, text in stored.items():
        previous = await env.CONFIG_KV.get(key)
        if text is None:
            await env.CONFIG_KV.delete(key)
        else:
            await env.CONFIG_KV.put(key, text)
        changed.append({"key": key, "previous": previous, "stored": text})
    await log(env, "info", f"{by} changed the risk settings: {', '.join(stored)}", request_id=request_id,
              details={"changed": changed})
    out = await config(env)
    out["changed"] = changed
    return out


# --------------------------------------------------------------------------- override
async def override(env: Env, action: Any, reason: Any, *, request_id: str | None) -> dict[str, Any]:
    """`action` engage | release: the kill switch, turned by the operator with a reason (required both
    ways), recorded (log, alert, status event). Releasing is the operator's act, never the manager's."""
    if action not in ("engage", "release"):
        raise ApiError(400, VALIDATION_ERROR, 'Expected {"action": "engage" | "release", "reason": "..."}.',
                       [{"field": "action", "issue": "must be engage or release"}])
    on = action == "engage"
    reason = kill_switch.checked_reason(reason, on=on, required=True)
    return {"action": action, **await kill_switch.turn(env, on, reason, request_id=request_id,
                                                       by="operator (risk override)")}
