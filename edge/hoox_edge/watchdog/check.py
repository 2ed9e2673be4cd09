"""The watchdog's check (the gateway's cron, every minute) and the status the operator API shows.

One check:
1. read every expectation (`watchdog:expect:*` in CONFIG_KV) and every source's row;
2. a source with an expectation and no row gets one: the gap of a source that never signalled is
   counted from then;
3. ok → quiet when more than maxGapMinutes of counted time (all of it, or the part inside the trading
   hours) passed without a signal and it is inside the hours now: the state change and its alert are
   one batch, guarded by the state and the last signal read, so two checks never both declare it;
4. quiet → ok when a signal or heartbeat came after the one it was declared quiet on ("back", with the
   length of the silence), inside the hours or not; an expectation removed from a quiet source ends
   the episode without an alert;
5. deliver the outbox in order through telegram-worker's /alert (the alert's id is its request id):
   one that reached the alerts table is marked delivered, never sent again; one that could not be
   delivered stays and the next check sends it (the rest wait behind it, so "back" never overtakes
   "quiet");
6. write the check's row (time, sources watched, quiet, errors).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from hoox_edge.operator import shapes
from hoox_edge.ports import Env
from hoox_edge.shared import calls, clock, settings
from hoox_edge.shared.logs import log, row_statement
from hoox_edge.watchdog.rules import Expectation, counted_minutes, overdue, parse_expectation, shown_state

PREFIX = settings.EXPECTATION_OF
CLAIM_S = 60  # longer than an alert call's 5 s budget: a check that died releases its claim by then
_NAMESPACE = uuid.UUID("6f1d2b1e-8f6a-4c1e-9b7a-2b3c4d5e6f70")
_py = logging.getLogger("hoox.edge")


@dataclass
class Expectations:
    by_source: dict[str, Expectation]
    errors: dict[str, str]  # source -> why its stored value cannot be used


async def expectations(env: Env) -> Expectations:
    """Every `watchdog:expect:{source}` in KV, parsed; a corrupt one is reported, never guessed at."""
    kv = env.CONFIG_KV
    out = Expectations({}, {})
    for key in await settings.stored_keys(kv, PREFIX):
        source = key[len(PREFIX):]
        raw = await kv.get(key)
        if raw is None:  # deleted between list and get
            continue
        try:
            out.by_source[source] = parse_expectation(settings.parse(key, raw))
        except (settings.SettingError, ValueError) as exc:
            out.errors[source] = str(exc)
    return out


async def _rows(env: Env) -> dict[str, dict[str, Any]]:
    rows = (await env.DB.prepare("SELECT * FROM watchdog_sources ORDER BY source").all())["results"]
    return {r["source"]: r for r in rows}


def _since(row: dict[str, Any]) -> float:
    """Where the gap of a source starts: its last signal, else when the watchdog began watching it."""
    return clock.parse(row.get("last_signal_at") or row["watching_since"])  # type: ignore[return-value]


def _alert_id(source: str, kind: str, quiet_since: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{source}:{kind}:{quiet_since}"))


def _span(minutes: float) -> str:
    m = int(minutes)
    if m < 60:
        return f"{m} min"
    if m < 48 * 60:
        return f"{m // 60} h {m % 60:02d} min"
    return f"{m // 1440} d {m % 1440 // 60} h"


def _describe(exp: Expectation) -> str:
    text = f"at most {exp.max_gap_minutes} min between signals"
    if exp.hours is not None:
        h = exp.hours.spec
        text += f" within {h['days']} {h['from']}-{h['to']} {h.get('tz', 'UTC')}"
    return text


def _insert_alert(env: Env, alert_id: str, source: str, kind: str, level: str, message: str, now: str,
                  only_if: str, args: tuple[Any, ...]) -> Any:
    """The alert's outbox row, written only when `only_if` (a condition on the source's row) holds
    after the state change of the same batch; its id makes a repeat a no-op."""
    return env.DB.prepare(
        "INSERT OR IGNORE INTO watchdog_alerts (id, source, kind, level, message, created_at) "
        f"SELECT ?,?,?,?,?,? WHERE EXISTS (SELECT 1 FROM watchdog_sources WHERE source = ? AND {only_if})"
    ).bind(alert_id, source, kind, level, message, now, source, *args)


async def _declare_quiet(env: Env, row: dict[str, Any], exp: Expectation, now: float) -> bool:
    db = env.DB
    source, at = row["source"], clock.iso(now)
    last = row.get("last_signal_at")
    gap = counted_minutes(exp, _since(row), now)
    seen = (f"last signal {last}" if last
            else f"no signal since the watchdog began watching it at {row['watching_since']}")
    message = (f"Signal source {source} is quiet: {_span(gap)} without a signal ({seen}); expected "
               f"{_describe(exp)}. TradingView drops an alert silently when it expires or an answer is slow: "
               "check the alert.")
    guard = "state = 'ok' AND COALESCE(last_signal_at, '') = ?"
    results = await db.batch([
        db.prepare(f"UPDATE watchdog_sources SET state = 'quiet', quiet_since = ?, quiet_last_signal_at = ?, "
                   f"updated_at = ? WHERE source = ? AND {guard}").bind(at, last, at, source, last or ""),
        _insert_alert(env, _alert_id(source, "quiet", at), source, "quiet", "warning", message, at,
                      "state = 'quiet' AND quiet_since = ?", (at,)),
        row_statement(db, env, "warning", f"watchdog: {source} is quiet ({_span(gap)} without a signal)",
                      details={"source": source, "lastSignalAt": last, "expectation": exp.as_dict()}),
    ])
    return bool(results[0]["meta"]["changes"])


async def _declare_back(env: Env, row: dict[str, Any], now: float) -> bool:
    db = env.DB
    source, at, since = row["source"], clock.iso(now), row["quiet_since"]
    silent = (clock.parse(row["last_signal_at"]) - _since_quiet(row)) / 60  # type: ignore[operator]
    message = (f"Signal source {source} is back: a {row['last_kind']} at {row['last_signal_at']} after "
               f"{_span(silent)} without one (quiet since {since}).")
    results = await db.batch([
        db.prepare("UPDATE watchdog_sources SET state = 'ok', quiet_since = NULL, quiet_last_signal_at = NULL, "
                   "updated_at = ? WHERE source = ? AND state = 'quiet' AND quiet_since = ?").bind(at, source, since),
        _insert_alert(env, _alert_id(source, "back", since), source, "back", "info", message, at,
                      "NOT (state = 'quiet' AND quiet_since = ?)", (since,)),
        row_statement(db, env, "info", f"watchdog: {source} is back", details={"source": source}),
    ])
    return bool(results[0]["meta"]["changes"])


def _since_quiet(row: dict[str, Any]) -> float:
    """The signal a quiet episode began after (or when watching began, for a source never seen)."""
    return clock.parse(row.get("quiet_last_signal_at") or row["watching_since"])  # type: ignore[return-value]


async def _deliver(env: Env, now: float) -> list[str]:
    """Send the undelivered alerts, oldest first; stop at the first that cannot be delivered."""
    db = env.DB
    at, until = clock.iso(now), clock.iso(now + CLAIM_S)
    pending = (await db.prepare("SELECT * FROM watchdog_alerts WHERE delivered_at IS NULL "
                                "ORDER BY created_at, rowid").all())["results"]
    errors: list[str] = []
    for a in pending:
        claim = await db.prepare(
            "UPDATE watchdog_alerts SET claimed_until = ?, attempts = attempts + 1 WHERE id = ? AND "
            "delivered_at IS NULL AND (claimed_until IS NULL OR claimed_until < ?)").bind(until, a["id"], at).run()
        if not claim["meta"]["changes"]:
            break  # another check is delivering it (and what follows it)
        # Already in the alerts table (a check that died after telegram-worker stored it): not again.
        stored = await db.prepare("SELECT id FROM alerts WHERE request_id = ? LIMIT 1").bind(a["id"]).first()
        if stored is None and not await calls.alert(env, a["message"], level=a["level"], request_id=a["id"]):
            error = "telegram-worker did not take the alert; the next check retries it"
            await db.prepare("UPDATE watchdog_alerts SET claimed_until = NULL, error = ? WHERE id = ?"
                             ).bind(error, a["id"]).run()
            errors.append(f"alert {a['kind']} of {a['source']}: {error}")
            break
        await db.prepare("UPDATE watchdog_alerts SET delivered_at = ?, claimed_until = NULL, error = NULL "
                         "WHERE id = ?").bind(at, a["id"]).run()
    return errors


async def run(env: Env) -> dict[str, Any]:
    """One check (see the module's docstring); returns what it did."""
    now = clock.now()
    at = clock.iso(now)
    exps = await expectations(env)
    errors = [f"{PREFIX}{s}: {e}" for s, e in sorted(exps.errors.items())]
    rows = await _rows(env)
    db = env.DB
    missing = [s for s in exps.by_source if s not in rows]
    if missing:
        await db.batch([db.prepare("INSERT OR IGNORE INTO watchdog_sources (source, watching_since, updated_at) "
                                   "VALUES (?,?,?)").bind(s, at, at) for s in missing])
        rows = await _rows(env)
    quiet, back = [], []
    for source, row in rows.items():
        exp = exps.by_source.get(source)
        if row["state"] == "quiet":
            if (row.get("last_signal_at") or "") > (row.get("quiet_last_signal_at") or ""):
                if await _declare_back(env, row, now):
                    back.append(source)
            elif exp is None and source not in exps.errors:
                await db.batch([
                    db.prepare("UPDATE watchdog_sources SET state = 'ok', quiet_since = NULL, "
                               "quiet_last_signal_at = NULL, updated_at = ? WHERE source = ? AND state = 'quiet'"
                               ).bind(at, source),
                    row_statement(db, env, "info", f"watchdog: {source} is no longer watched (its expectation "
                                                   "was removed while it was quiet)", details={"source": source}),
                ])
        elif exp is not None and overdue(exp, _since(row), now) and await _declare_quiet(env, row, exp, now):
            quiet.append(source)
    errors += await _deliver(env, now)
    still_quiet = (await db.prepare("SELECT COUNT(*) AS n FROM watchdog_sources WHERE state = 'quiet'"
                                    ).first("n")) or 0
    await db.prepare(
        "INSERT INTO watchdog_checks (id, checked_at, sources, quiet, errors) VALUES (1,?,?,?,?) "
        "ON CONFLICT(id) DO UPDATE SET checked_at = excluded.checked_at, sources = excluded.sources, "
        "quiet = excluded.quiet, errors = excluded.errors"
    ).bind(at, len(exps.by_source), still_quiet, json.dumps(errors) if errors else None).run()
    if errors:
        await log(env, "error", "watchdog check: " + "; ".join(errors)[:1000])
    return {"checkedAt": at, "watched": len(exps.by_source), "quiet": quiet, "back": back, "errors": errors}


# --------------------------------------------------------------------------- status
async def status(env: Env) -> shapes.WatchdogResult:
    """Every source (seen or expected): its last signal, age, expectation and state now."""
    now = clock.now()
    exps = await expectations(env)
    rows = await _rows(env)
    pending = (await env.DB.prepare(
        "SELECT source, kind, created_at, attempts, error FROM watchdog_alerts WHERE delivered_at IS NULL "
        "ORDER BY created_at, rowid").all())["results"]
    check = await env.DB.prepare("SELECT checked_at, sources, quiet, errors FROM watchdog_checks WHERE id = 1").first()
    items: list[shapes.WatchdogSource] = []
    for source in sorted({*rows, *exps.by_source, *exps.errors}):
        row = rows.get(source) or {}
        exp = exps.by_source.get(source)
        last = row.get("last_signal_at")
        since = _since(row) if row else None
        quiet = row.get("state") == "quiet"
        items.append({
            "source": source,
            "lastSignalAt": last,
            "lastKind": row.get("last_kind"),
            "lastRequestId": row.get("last_request_id"),
            "ageSeconds": round(now - clock.parse(last), 3) if last else None,  # type: ignore[operator]
            "signals": row.get("signals", 0),
            "heartbeats": row.get("heartbeats", 0),
            "watchingSince": row.get("watching_since"),
            "expectation": exp.as_dict() if exp else None,
            "expectationError": exps.errors.get(source),
            "state": shown_state(exp, quiet=quiet, since=since, now=now),
            # minutes of the gap used so far (inside the hours, when the expectation has hours)
            "gapMinutes": round(counted_minutes(exp, since, now), 2) if exp and since is not None else None,
            "quietSince": row.get("quiet_since"),
            "alerted": quiet,  # the quiet alert is written (in the outbox or delivered) once declared
            "pendingAlerts": [{"kind": p["kind"], "createdAt": p["created_at"], "attempts": p["attempts"],
                               "error": p["error"]} for p in pending if p["source"] == source],
        })
    return {
        "time": clock.iso(now),
        "lastCheck": None if check is None else {
            "checkedAt": check["checked_at"], "sources": check["sources"], "quiet": check["quiet"],
            "errors": json.loads(check["errors"]) if check["errors"] else []},
        "sources": items,
    }
