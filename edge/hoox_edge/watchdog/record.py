"""What the gateway writes for the watchdog: the last signal of each source a request counts for.

Every authenticated webhook request counts for `webhook`, and for the strategy it names when that
name is valid (`rules.strategy_name`), whether the signal is then executed, refused or is a heartbeat:
the watchdog asks whether the source still sends, not whether it traded. The statements join the
batch that writes the signal's own row, so they cost no commit of their own.
"""

from __future__ import annotations

import contextlib
from typing import Any

from hoox_edge.ports import D1Database, D1PreparedStatement
from hoox_edge.shared import clock
from hoox_edge.watchdog.rules import WEBHOOK_SOURCE, strategy_name

SIGNAL = "signal"
HEARTBEAT = "heartbeat"


def sources_of(body: dict[str, Any]) -> list[str]:
    """The sources an authenticated webhook body counts for: webhook, and its strategy if valid."""
    out = [WEBHOOK_SOURCE]
    if "strategy" in body and body["strategy"] is not None:
        # An invalid name is refused by the signal's validation; the request still counts for webhook.
        with contextlib.suppress(ValueError):
            out.append(strategy_name(body["strategy"]))
    return out


def seen_statements(db: D1Database, sources: list[str], kind: str, request_id: str,
                    at: str | None = None) -> list[D1PreparedStatement]:
    """Upserts of each source's last signal (never moved back by a late writer)."""
    at = at or clock.iso()
    signal, heartbeat = (1, 0) if kind == SIGNAL else (0, 1)
    return [db.prepare(
        "INSERT INTO watchdog_sources (source, last_signal_at, last_kind, last_request_id, signals, heartbeats, "
        "watching_since, updated_at) VALUES (?,?,?,?,?,?,?,?) "
        "ON CONFLICT(source) DO UPDATE SET "
        "last_kind = CASE WHEN excluded.last_signal_at >= COALESCE(last_signal_at, '') "
        "  THEN excluded.last_kind ELSE last_kind END, "
        "last_request_id = CASE WHEN excluded.last_signal_at >= COALESCE(last_signal_at, '') "
        "  THEN excluded.last_request_id ELSE last_request_id END, "
        "last_signal_at = MAX(COALESCE(last_signal_at, ''), excluded.last_signal_at), "
        "signals = signals + excluded.signals, heartbeats = heartbeats + excluded.heartbeats, "
        "updated_at = excluded.updated_at"
    ).bind(s, at, kind, request_id, signal, heartbeat, at, at) for s in sources]
