"""Signal volume by day of week × hour of day (UTC), counted from the ledger's `trade_signals`:
`GET /v1/analytics/volume?days=N` (the cockpit's analytics heat map).

Every signal the ledger received counts once, whatever became of it (filled, rejected, queued) and
whatever its source (webhook, e-mail, Telegram, the desk's own): it is the load the edge took.
"""

from __future__ import annotations

from hoox_edge.operator import shapes
from hoox_edge.ports import Env
from hoox_edge.shared import clock

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DEFAULT_DAYS = 28
MAX_DAYS = 366


async def signal_volume(env: Env, days: int) -> shapes.SignalVolume:
    now = clock.now()
    since = clock.iso(now - days * 86400)
    # Grouped in SQL (D1 is SQLite): one row per busy (weekday, hour), never one per signal.
    rows = (await env.DB.prepare(
        "SELECT CAST(strftime('%w', created_at) AS INTEGER) AS dow, "
        "CAST(strftime('%H', created_at) AS INTEGER) AS hour, COUNT(*) AS n "
        "FROM trade_signals WHERE created_at >= ? GROUP BY dow, hour").bind(since).all())["results"]
    counts = [[0] * 24 for _ in WEEKDAYS]
    for r in rows:
        if r["dow"] is None or r["hour"] is None:
            continue  # a created_at SQLite cannot read: not a time, so in no cell
        counts[(int(r["dow"]) + 6) % 7][int(r["hour"])] += int(r["n"])  # %w: 0 is Sunday; rows start Monday
    return {"days": days, "from": since, "to": clock.iso(now), "timezone": "UTC", "weekdays": list(WEEKDAYS),
            "total": sum(map(sum, counts)), "peak": max(map(max, counts)), "counts": counts}
