"""The alert outbox: every alert is stored before it is sent, and sent in order, once.

`enqueue` writes the alert's row in `alerts` (migration 0009) with where it goes, decided when it
is raised:

- its kind's route in KV `telegram:alerts:{info,warning,critical}` (`error` follows `critical`): a chat
  id, `muted` (the row is `muted`, kept and never sent) or empty for the first `TELEGRAM_CHAT_ID`;
  a `chatId` in the alert overrides the route, but not a mute;
- without `TELEGRAM_BOT_TOKEN` the row is `outbox` (kept locally, nothing to send with); with a
  token but no chat it is `failed` and says so; otherwise `pending`.

`drain` sends the pending alerts, per chat in the order they were raised: only the oldest pending
alert of a chat may be sent, so one Telegram refuses holds back the later ones of its chat (other
chats go on). Taking that head is one conditional UPDATE (`claim_id`, with a lease in
`claimed_until`), so two drains never send one alert twice; a lease left by a drain that died runs out
and the next drain resends what it had not confirmed. An alert split into several messages records
each sent part (`parts_sent`), so a retry goes on with the next part, never resends one.

Outcomes: Telegram's message → `sent`. A 429 → pending again after Telegram's `retry_after`; a 5xx,
timeout or unreachable API → pending again after the backoff (RETRY_DELAYS, then every 30 min), until
the alert is MAX_AGE_S old: then `failed`, with the last error. Any other refusal (a chat that does not
exist, a bot blocked, text Telegram cannot parse) → `failed` with Telegram's reason at once, and the
chat's next alert goes on. Errors never hold the token (`shared.telegram_api`).

The drain runs on telegram-worker's cron (every minute) and right after each enqueue, for that chat
only and within INLINE_BUDGET_S, so the worker that raised the alert gets its answer in time (it waits
5 s); what the budget leaves is the cron's.

**Raised in the raiser's own batch.** A worker that must not lose an alert, nor send it twice, with
the record it is about (trade-worker's fill) writes the row itself, `raised` (`raised_statement`),
in the batch of that record: the alert exists exactly when the record does, a crash in between
cannot split them, and no service call is made per alert. Where it goes is decided by
telegram-worker, which holds the bot token and the default chat: `route_raised` gives every raised
row its delivery as `enqueue` would have, and runs first in every drain (`POST /alert/drain`, the
cron, and `/alert` before its own row, so the order per chat is kept). The raiser then asks for a
drain (`shared.calls.drain_alerts`), one call for all the alerts raised meanwhile.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal, get_args

from hoox_edge.alerts import format as fmt
from hoox_edge.ports import D1PreparedStatement, Env
from hoox_edge.shared import clock, settings
from hoox_edge.shared import telegram_api as bot_api
from hoox_edge.shared.checks import Check, Fields, one_of, optional, text, whole
from hoox_edge.shared.logs import log
from hoox_edge.shared.redact import redact

Level = Literal["info", "warning", "error", "critical"]
ParseMode = Literal["HTML", "MarkdownV2", "Markdown"]
Delivery = Literal["raised", "outbox", "pending", "sent", "failed", "muted"]

RETRY_DELAYS = (10, 30, 60, 300, 900, 1800)  # seconds after the 1st, 2nd, ... failed send; then the last
MAX_AGE_S = 24 * 3600  # a pending alert older than this is given up (failed, with its last error)
CLAIM_S = 60  # lease of a claim: longer than a drain takes to send one alert
INLINE_BUDGET_S = 3.0  # the drain right after an enqueue (the caller waits 5 s for its answer)
CRON_BUDGET_S = 50.0  # a cron drain ends before the next minute's starts
MIN_CALL_S = 0.5  # a send is not started with less time than this left
DEFAULT_SOURCE = "unknown"  # the seeds' payload does not say which worker raised it
RAISED = "raised"  # written by the raiser in its own batch, not routed yet (`route_raised`)

_CHAT_ID = Check("a chat id: a whole number, or a string such as -100123 or @channel",
                 lambda v: _chat_id(v))


def _chat_id(v: Any) -> str | int | None:
    if not isinstance(v, str):  # a number is kept a number (2.0 too), never a bool or 1.5
        return whole.convert(v)
    v = v.strip()
    if v == "":  # the seeds send "" for "the default chat"
        return None
    if settings.chat_route_problem(v) is None and v != "muted":
        return v
    raise ValueError


@dataclass(frozen=True, kw_only=True)
class Alert:
    """`{message, level?, source?, chatId?, parseMode?}`: hoox's own shape, and the seeds'
    `{chatId, message, parseMode}` (no level: info; no source: unknown)."""

    message: str
    level: Level = "info"
    source: str = DEFAULT_SOURCE
    chatId: str | int | None = None
    parseMode: ParseMode | None = None  # None: plain text

    @classmethod
    def parse(cls, raw: Any) -> Alert:
        f = Fields(raw)
        return f.build(cls, message=f.required("message", text(min_len=1)),
                       level=f.optional("level", one_of(*get_args(Level)), "info"),
                       source=f.optional("source", text(min_len=1, max_len=100), DEFAULT_SOURCE),
                       chatId=f.optional("chatId", optional(_CHAT_ID), None),
                       parseMode=f.optional("parseMode", optional(one_of(*get_args(ParseMode))), None))


def kind_of(level: str) -> str:
    """The routing kind of a level: `error` alerts follow `critical`."""
    return "critical" if level in ("error", "critical") else level


async def route(env: Env, level: str) -> tuple[str | None, bool, str | None]:
    """(chat id from the kind's route or the default chat, muted, the route's error). A stored route that
    does not read (written by hand, bypassing the manifest) falls back to the default chat: an alert is
    never lost to a typo."""
    key = settings.ALERT_ROUTES[kind_of(level)]
    problem = None
    try:
        value = await settings.get(env.CONFIG_KV, key)
    except settings.SettingError as exc:
        value, problem = "", str(exc)
    if value == "muted":
        return None, True, problem
    if value:
        return str(value), False, problem
    chats = bot_api.chat_ids(env)
    return (chats[0] if chats else None), False, problem


def backoff(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed sends (1 = the first)."""
    return float(RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1])


@dataclass
class Outcome:
    alert_id: int
    delivery: Delivery
    message_id: int | None = None
    next_attempt_at: str | None = None
    error: str | None = None

    def answer(self) -> dict[str, Any]:
        return {"alertId": self.alert_id, "delivery": self.delivery, "messageId": self.message_id,
                "nextAttemptAt": self.next_attempt_at, "error": self.error}


def _delivery(token: str | None, chat: str | None, muted: bool) -> tuple[Delivery, str | None]:
    """(delivery, error) of a new alert: muted, kept in the outbox (no token), failed (no chat) or pending."""
    if muted:
        return "muted", None
    if not token:
        return "outbox", None
    if chat is None:
        return "failed", "no chat id: set TELEGRAM_CHAT_ID, a route in telegram:alerts:*, or pass chatId"
    return "pending", None


async def enqueue(env: Env, alert: Alert, request_id: str | None) -> Outcome:
    """Store the alert with where it goes; nothing is sent here."""
    secret_values = env.secret_values()
    token = bot_api.bot_token(env)
    chat, muted, route_error = await route(env, alert.level)
    if alert.chatId is not None and not muted:
        chat = str(alert.chatId)
    delivery, error = _delivery(token, chat, muted)
    now = clock.iso()
    next_at = None
    if delivery == "pending":  # behind its chat's waiting alerts: its next try is theirs, not now
        ahead = await env.DB.prepare("SELECT MAX(next_attempt_at) AS t FROM alerts WHERE delivery = 'pending' "
                                     "AND chat_id = ?").bind(chat).first()
        next_at = max(now, (ahead or {}).get("t") or now)
    res = await env.DB.prepare(
        "INSERT INTO alerts (created_at, level, source, request_id, message, delivery, error, chat_id, parse_mode,"
        " next_attempt_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
    ).bind(now, alert.level, redact(alert.source, secret_values), request_id, redact(alert.message, secret_values),
           delivery, error, chat, alert.parseMode, next_at).run()
    alert_id = int(res["meta"]["last_row_id"])
    if route_error:
        await log(env, "warning", f"Alert route unreadable, the default chat is used: {route_error}",
                  request_id=request_id, details={"alertId": alert_id})
    if error:
        await log(env, "warning", f"Telegram delivery of alert {alert_id} failed: {error}", request_id=request_id,
                  details={"alertId": alert_id, "level": alert.level, "source": alert.source})
    return Outcome(alert_id, delivery, error=error, next_attempt_at=next_at)


def raised_statement(env: Env, message: str, *, level: Level, request_id: str | None,
                     now: str | None = None) -> D1PreparedStatement:
    """The row of an alert raised by this worker, for a batch of its own (see the module docstring):
    `raised`, routed by telegram-worker's next drain (`route_raised`)."""
    secret_values = env.secret_values()
    return env.DB.prepare(
        "INSERT INTO alerts (created_at, level, source, request_id, message, delivery) VALUES (?,?,?,?,?,?)"
    ).bind(now or clock.iso(), level, redact(env.worker, secret_values), request_id, redact(message, secret_values),
           RAISED)


async def route_raised(env: Env) -> int:
    """Give every `raised` alert its delivery (chat, mute, outbox or failed), as `enqueue` decides it;
    one conditional UPDATE per level, so two drains never route a row twice. The number routed."""
    db = env.DB
    levels = (await db.prepare("SELECT DISTINCT level FROM alerts WHERE delivery = ?").bind(RAISED).all())["results"]
    routed = 0
    token = bot_api.bot_token(env)
    for level in sorted(r["level"] for r in levels):
        chat, muted, route_error = await route(env, level)
        delivery, error = _delivery(token, chat, muted)
        now = clock.iso()
        # Behind its chat's waiting alerts, as `enqueue` places one.
        res = await db.prepare(
            "UPDATE alerts SET delivery = ?1, chat_id = ?2, error = ?3, next_attempt_at = CASE WHEN ?1 = 'pending' "
            "THEN MAX(?4, COALESCE((SELECT MAX(p.next_attempt_at) FROM alerts p WHERE p.delivery = 'pending' "
            "AND p.chat_id = ?2), ?4)) END WHERE delivery = ?5 AND level = ?6"
        ).bind(delivery, chat, error, now, RAISED, level).run()
        n = int(res["meta"]["changes"])
        routed += n
        if n and route_error:
            await log(env, "warning", f"Alert route unreadable, the default chat is used for {n} alert(s): "
                      f"{route_error}", details={"level": level})
        if n and error:
            await log(env, "warning", f"Telegram delivery of {n} raised {level} alert(s) failed: {error}",
                      details={"level": level})
    return routed


async def state(env: Env, alert_id: int) -> Outcome:
    row = await env.DB.prepare("SELECT id, delivery, telegram_message_id, next_attempt_at, error FROM alerts "
                               "WHERE id = ?").bind(alert_id).first()
    assert row is not None
    return Outcome(row["id"], row["delivery"], row["telegram_message_id"],
                   row["next_attempt_at"] if row["delivery"] == "pending" else None, row["error"])


@dataclass
class DrainReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "retrying": self.retrying, "failed": self.failed}


async def drain(env: Env, *, chats: list[str] | None = None, budget_s: float = CRON_BUDGET_S) -> DrainReport:
    """Send what is due, per chat in order (all chats, or only `chats`), until done or out of time."""
    report = DrainReport()
    await route_raised(env)
    token = bot_api.bot_token(env)
    if not token:
        return report
    deadline = time.monotonic() + budget_s  # real time: it bounds how long the caller waits
    if chats is None:
        rows = (await env.DB.prepare("SELECT DISTINCT chat_id FROM alerts WHERE delivery = 'pending' "
                                     "ORDER BY chat_id").all())["results"]
        chats = [r["chat_id"] for r in rows]
    for chat in chats:
        while deadline - time.monotonic() >= MIN_CALL_S:
            done = await _send_head(env, token, chat, deadline, report)
            if not done:
                break
    return report


async def _send_head(env: Env, token: str, chat: str, deadline: float, report: DrainReport) -> bool:
    """Claim and send the oldest pending alert of `chat`; True when the chat's next one may follow."""
    db = env.DB
    now = clock.now()
    at = clock.iso(now)
    head = await db.prepare("SELECT * FROM alerts WHERE delivery = 'pending' AND chat_id = ? ORDER BY id LIMIT 1"
                            ).bind(chat).first()
    if head is None or (head["next_attempt_at"] or "") > at:
        return False  # nothing left, or the head waits (and the rest of the chat with it)
    claim = secrets.token_hex(8)
    taken = await db.prepare(
        "UPDATE alerts SET claim_id = ?, claimed_until = ? WHERE id = ? AND delivery = 'pending' "
        "AND (claimed_until IS NULL OR claimed_until <= ?) AND NOT EXISTS (SELECT 1 FROM alerts p "
        "WHERE p.delivery = 'pending' AND p.chat_id = alerts.chat_id AND p.id < alerts.id)"
    ).bind(claim, clock.iso(now + CLAIM_S), head["id"], at).run()
    if not taken["meta"]["changes"]:
        return False  # another drain is sending this chat's head
    texts, mode = fmt.render(head["message"], level=head["level"], source=head["source"],
                             parse_mode=head["parse_mode"])
    secret_values = env.secret_values()
    chat_id: str | int = int(chat) if chat.lstrip("-").isdigit() else chat
    first_id = head["telegram_message_id"]
    for part in range(head["parts_sent"], len(texts)):
        left = deadline - time.monotonic()
        if left < MIN_CALL_S:  # out of time between parts: the next drain sends the rest
            await _release(env, head["id"], claim)
            return False
        answer = await bot_api.call(env, token, "sendMessage", {
            "chat_id": chat_id, "text": redact(texts[part], secret_values), "parse_mode": mode,
            "disable_web_page_preview": True}, timeout=min(bot_api.DEFAULT_TIMEOUT_S, left))
        if not answer.ok:
            return await _failed_send(env, head, claim, answer, report)
        mid = answer.result.get("message_id") if isinstance(answer.result, dict) else None
        first_id = first_id if first_id is not None else (mid if isinstance(mid, int) else None)
        await db.prepare("UPDATE alerts SET parts_sent = ?, telegram_message_id = ? WHERE id = ? AND claim_id = ?"
                         ).bind(part + 1, first_id, head["id"], claim).run()
    done = await db.prepare(
        "UPDATE alerts SET delivery = 'sent', sent_at = ?, error = NULL, next_attempt_at = NULL, claim_id = NULL, "
        "claimed_until = NULL WHERE id = ? AND claim_id = ?").bind(clock.iso(), head["id"], claim).run()
    if not done["meta"]["changes"]:
        return False  # our lease ran out meanwhile: the drain that took the alert over records it
    report.sent += 1
    return True


async def _release(env: Env, alert_id: int, claim: str) -> None:
    await env.DB.prepare("UPDATE alerts SET claim_id = NULL, claimed_until = NULL WHERE id = ? AND claim_id = ?"
                         ).bind(alert_id, claim).run()


async def _failed_send(env: Env, head: dict[str, Any], claim: str, answer: bot_api.BotAnswer,
                       report: DrainReport) -> bool:
    """Record a refused send: pending again later (Telegram away or rate-limiting), or failed."""
    now = clock.now()
    attempts = int(head["attempts"]) + 1
    error = answer.error or "Telegram refused the message"
    age = now - (clock.parse(head["created_at"]) or now)
    if answer.retryable and age < MAX_AGE_S:
        # 429: exactly when Telegram says; otherwise the backoff schedule
        wait = answer.retry_after if answer.status == 429 and answer.retry_after is not None else backoff(attempts)
        await env.DB.prepare(
            "UPDATE alerts SET attempts = ?, error = ?, next_attempt_at = ?, claim_id = NULL, claimed_until = NULL "
            "WHERE id = ? AND claim_id = ?").bind(attempts, error, clock.iso(now + wait), head["id"], claim).run()
        # the chat's later alerts wait behind it: their next try is its (what /v1/alerts shows)
        await env.DB.prepare(
            "UPDATE alerts SET next_attempt_at = ? WHERE delivery = 'pending' AND chat_id = ? AND id > ? "
            "AND next_attempt_at < ?").bind(clock.iso(now + wait), head["chat_id"], head["id"],
                                            clock.iso(now + wait)).run()
        report.retrying += 1
        if attempts == 1:  # once per alert: a long outage must not write a log line per minute
            await log(env, "warning", f"Telegram did not take alert {head['id']}; retrying in {wait:g} s: {error}",
                      request_id=head["request_id"], details={"alertId": head["id"]})
        return False  # the chat's later alerts wait behind it
    if answer.retryable:
        error = f"gave up after {MAX_AGE_S // 3600} h of retries: {error}"
    await env.DB.prepare(
        "UPDATE alerts SET delivery = 'failed', attempts = ?, error = ?, next_attempt_at = NULL, claim_id = NULL, "
        "claimed_until = NULL WHERE id = ? AND claim_id = ?").bind(attempts, error, head["id"], claim).run()
    report.failed += 1
    await log(env, "warning", f"Telegram delivery of alert {head['id']} failed: {error}",
              request_id=head["request_id"],
              details={"alertId": head["id"], "level": head["level"], "source": head["source"]})
    return True  # a refusal that no retry cures must not hold back the chat's next alerts


async def deliver(env: Env, alert: Alert, request_id: str | None) -> Outcome:
    """`/alert`: enqueue, then drain this alert's chat within the inline budget; the alert's state."""
    await route_raised(env)  # alerts raised before this one go first in their chat
    queued = await enqueue(env, alert, request_id)
    if queued.delivery != "pending":
        return queued
    row = await env.DB.prepare("SELECT chat_id FROM alerts WHERE id = ?").bind(queued.alert_id).first()
    await drain(env, chats=[row["chat_id"]] if row else [], budget_s=INLINE_BUDGET_S)
    return await state(env, queued.alert_id)
