"""The one path of an e-mail, whichever way it came in (Mailgun, IMAP):
parse (`message`), decide (`rules`), submit through the gateway's own signal path (`submit`, which is
`gateway.submit_signal`: kill switch, rate limit, validation, dedup — never a shortcut to trade-worker)
and record the outcome in `email_messages`: ignored or rejected with why, executed with the request id.

The same Message-ID is executed once: an e-mail whose Message-ID already executed is recorded ignored
(a duplicate) without reaching the gateway, and the signal carries an idempotency key made from the
Message-ID, so the gateway's lock refuses a copy that arrives at the same moment (409).
`dry_run` (`hoox email test`) decides and says what would happen, writes nothing and submits nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from hoox_edge.mail import message, rules
from hoox_edge.ports import Env
from hoox_edge.shared import clock
from hoox_edge.shared.logs import log
from hoox_edge.shared.redact import capped, mask_credentials, redact, stored_payload

SOURCE = "email"
VIA = ("mailgun", "imap")
Submit = Callable[..., Awaitable[tuple[int, dict[str, Any]]]]


def idempotency_key(message_id: str) -> str:
    return "email:" + hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:48]


def describe(mail: message.Mail | None) -> dict[str, Any]:
    if mail is None:
        return {}
    return {"sender": mail.sender, "subject": mail.subject[:200], "messageId": mail.message_id[:200],
            "dkim": mail.auth.dkim, "spf": mail.auth.spf, "htmlOnly": mail.html_only, "parts": mail.parts}


async def _record(env: Env, via: str, mail: message.Mail | None, message_id: str, outcome: str, reason: str,
                  request_id: str | None = None, signal: dict[str, Any] | None = None) -> None:
    # Stored as the ledger stores a payload: a secret value or a credential-looking word never lands in a row.
    secrets = env.secret_values()
    stored = (capped(mask_credentials(stored_payload(signal, secrets), keep=("idempotencyKey",)))
              if signal is not None else None)
    await env.DB.prepare(
        "INSERT INTO email_messages (message_id, received_at, via, sender, subject, outcome, reason, request_id,"
        " signal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ).bind(message_id[:998], clock.iso(), via, mail.sender if mail else None,
           redact(mail.subject[:200], secrets) if mail else None, outcome, redact(reason[:1000], secrets), request_id,
           json.dumps(stored) if stored is not None else None).run()


async def _executed_before(env: Env, message_id: str) -> str | None:
    row = await env.DB.prepare(
        "SELECT request_id FROM email_messages WHERE message_id = ? AND outcome = 'executed' LIMIT 1"
    ).bind(message_id[:998]).first()
    return str(row["request_id"]) if row else None


async def handle(env: Env, raw: bytes, *, via: str, submit: Submit | None, dry_run: bool = False) -> dict[str, Any]:
    """The e-mail's outcome: `{"outcome", "reason", "requestId", "signal", "email", "notes"}`."""
    assert via in VIA
    try:
        mail = message.parse(raw)
    except message.Unreadable as exc:
        mid = "sha256:" + hashlib.sha256(raw).hexdigest()
        reason = f"unreadable: {exc}"
        if not dry_run:
            await _record(env, via, None, mid, "rejected", reason)
        out: dict[str, Any] = {"outcome": "rejected", "reason": reason, "requestId": None, "signal": None,
                               "email": {}, "notes": []}
        return out
    cfg, problems = await rules.load(env.CONFIG_KV)
    decision = rules.decide(mail, cfg)
    notes = [*problems, *decision.notes]
    out = {"outcome": decision.outcome, "reason": decision.reason, "requestId": None,
           "signal": decision.signal, "email": describe(mail), "notes": notes}
    for p in problems:
        await log(env, "error", f"e-mail signals: invalid setting replaced by its default: {p}")
    if decision.signal is None:
        if not dry_run:
            await _record(env, via, mail, mail.message_id, decision.outcome, decision.reason)
        return out
    body = {**decision.signal, "idempotencyKey": idempotency_key(mail.message_id)}
    if dry_run:
        out.update(outcome="would_submit", reason=f"{decision.reason}; the gateway would check and run it",
                   signal=body)
        return out
    earlier = await _executed_before(env, mail.message_id)
    if earlier is not None:
        reason = f"duplicate: this Message-ID was executed already (request {earlier})"
        await _record(env, via, mail, mail.message_id, "ignored", reason, earlier, body)
        out.update(outcome="ignored", reason=reason, requestId=earlier, signal=body)
        return out
    assert submit is not None
    status, answer = await submit(env, body, source=SOURCE)
    rid = answer.get("requestId")
    if answer.get("success"):
        outcome, reason = "executed", f"{answer.get('status') or 'accepted'} (HTTP {status})"
    else:
        err = answer.get("error") or {}
        outcome = "ignored" if err.get("code") == "DUPLICATE_REQUEST" else "rejected"
        details = err.get("details")
        extra = "; ".join(f"{d.get('field')}: {d.get('issue')}" for d in details if isinstance(d, dict)) \
            if isinstance(details, list) else ""
        reason = f"gateway {err.get('code')} (HTTP {status}): {err.get('message')}" + (f" — {extra}" if extra else "")
    await _record(env, via, mail, mail.message_id, outcome, reason, rid, body)
    out.update(outcome=outcome, reason=reason, requestId=rid, signal=body)
    return out
