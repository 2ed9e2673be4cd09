"""Structured operator logs: one `system_logs` row per event worth following across workers.

Secrets are redacted and a row's message and details are capped at 4 KB each: a log row is copied
into the event stream, which sends it to every subscriber.
"""

from __future__ import annotations

import logging
from typing import Any

from hoox_edge.ports import D1Database, D1PreparedStatement, Env
from hoox_edge.shared import clock
from hoox_edge.shared.redact import cap_json, cap_text, known_secrets, redact

LEVELS = ("debug", "info", "warning", "error", "critical")
_py = logging.getLogger("hoox.edge")


def row_statement(db: D1Database, env: Env, level: str, message: str, *, request_id: str | None = None,
                  details: dict[str, Any] | None = None) -> D1PreparedStatement:
    """The INSERT of a log row (secrets redacted), to run alone or in a batch with the change it records."""
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {LEVELS}")
    known = known_secrets(env.secret_values())
    safe_details = redact(details, known) if details else None
    safe_message = cap_text(redact(message, known))
    return db.prepare(
        "INSERT INTO system_logs (created_at, level, worker, request_id, message, details) VALUES (?,?,?,?,?,?)"
    ).bind(clock.iso(), level, env.worker, request_id, safe_message,
           cap_json(safe_details) if safe_details else None)


async def log(env: Env, level: str, message: str, *, request_id: str | None = None,
              details: dict[str, Any] | None = None) -> None:
    """Write a log row. Never raises: a logging failure must not fail the signal it describes."""
    db = env.get("DB")
    statement = row_statement(db, env, level, message, request_id=request_id, details=details) if db else None
    if statement is None:
        return
    try:
        await statement.run()
    except Exception as exc:  # the ledger may be unreachable; fall back to the process log
        _py.warning("could not write system log (%s): %s %s", type(exc).__name__, env.worker,
                    redact(message, env.secret_values()))
