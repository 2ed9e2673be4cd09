"""hoox, the gateway: authenticates, de-duplicates and routes signals.

`POST /webhook` runs the stage functions of `STAGES` in order. Each returns a `Rejection` (status,
code, message, details), an answer, or None to pass the signal on; the first that does not pass
ends the request. Every rejection is written by `_reject` alone: before authentication a log row;
after it the signal's row made final (Rejected with the code) with its log row, in one batch; so
what the sender is told is what the ledger records. The signal is parsed once, by `validate`; the
row, the lock and trade-worker's `/process` all read the normalised `Signal` it makes.

1. read_body, parse_body: at most 64 KB (413 PAYLOAD_TOO_LARGE), and the body must be a JSON object
   (TradingView sends `text/plain` when the alert message is not JSON) -> 400 VALIDATION_ERROR showing how the
   body starts, passkey and credential-looking words masked; JSON that is too deep or holds lone
   surrogates or non-finite numbers is refused too (`shared/bodies.py`);
2. check_origin: TradingView IP allowlist when `webhook:tradingview:ip_check` is on -> 403 FORBIDDEN_IP
   (the client address: `shared/origin.py`);
3. authenticate, refuse_secrets: passkey `apiKey` against the secret WEBHOOK_API_KEY, in constant
   time -> 401 UNAUTHORIZED;
   from here on every signal has a `trade_signals` row (payload without the passkey, secrets masked,
   at most 4 KB) that ends in a final state (`hoox_edge.lifecycle`); a refusal below is written
   final at once (Rejected with its code). A field name or value that *is* one of the deployment's
   secrets (other than the passkey in apiKey) -> 400 VALIDATION_ERROR naming the field, never the value;
4. kill_switch: `trade:kill_switch` -> 503 KILL_SWITCH_ACTIVE with `trade:kill_switch_reason`;
5. rate_limit: `webhooks:rate_limit_per_minute`, a rolling 60 s counted in the RateLimiter Durable
   Object -> 429 RATE_LIMITED with Retry-After;
6. validate (`hoox_edge.shared.signal`) -> 400 VALIDATION_ERROR with `details[{field, issue}]`; a signal
   with `"exchange": "dex"` is a swap, checked by its own rules (`parse_dex_signal`);
7. receive, dedup: the row is written Received (with the normalised signal), then the
   IdempotencyStore lock of the key is taken (`idempotencyKey` for 24 h, else the hash of the normalised signal for
   60 s; names are hashed). When another request holds it:
   - that signal is final -> 409 DUPLICATE_REQUEST with `original: {requestId, status, result|error}`
     (except a signal whose lock should have been given back: an implicit key of a signal that
     ended without a fill, or any key of one NOT_PLACED or KILL_SWITCH_ACTIVE — the lock is released
     and taken again);
   - it is not final -> it is resumed: delivered again under its own request id (trade-worker
     lets one attempt hold its order and finds an order already placed by its client order id),
     and this request answers its outcome (200, 202 Resting / in_progress / Enqueued, or its
     rejection). Never a 409, never a second order;
8. execute: delivery by `webhooks:queue_mode`:
   - `direct_only`: trade-worker `/process`; a failed delivery that provably placed nothing is
     Rejected NOT_PLACED (the lock released, so the sender may send again) and answers 502/503;
     one that may have placed an order answers 504 OUTCOME_UNKNOWN and keeps the lock;
   - `queue_failover` (default): the direct call, waiting at most `webhooks:direct_timeout_ms`; when
     it fails for a reason worth retrying (trade-worker unreachable, timed out, 503 or another
     5xx) the signal goes to the `trade-execution` queue -> 202 Enqueued. A timed-out call may
     still fill: the queued retry carries the same request id, and the trade-worker finds the order
     by its client order id instead of placing another;
   - `queue_everywhere`: always the queue -> 202.
   trade-worker's own answers pass through: 200 Filled, 202 Resting (a limit order on the book,
   followed until it ends) or in_progress, 400 VALIDATION_ERROR, 422 NO_OPEN_POSITION, 502
   EXCHANGE_ERROR. Those are decisions about the signal, recorded by trade-worker.
   A swap goes the same way to trade-worker's `/dex` instead of `/process` (`hoox_edge.dex`): the same
   lock, row, queue and resend rules; web3-wallet-worker's ledger is what finds a swap already sent.

The gateway always makes its own request id (a client's X-Request-Id is not trusted on a public
route). A failure of the idempotency store refuses the signal (503): without the lock the
exactly-once guarantee is gone. A failure of the rate limiter lets it through with an error log:
the limiter protects capacity, losing a signal over it would be worse.

A heartbeat (`{"apiKey", "action": "HEARTBEAT", "strategy"?}`) passes stages 1-3 like any signal, then
(stage `heartbeat`)
is only recorded for the signal watchdog (`hoox_edge.watchdog`): never a trade_signals row, never an
order, answered 200 `Heartbeat` even while the kill switch is on (the strategy is alive; trading is
what is halted). It has its own rate limit (the same number per minute, another RateLimiter object),
so heartbeats never take a trade signal's place. Every authenticated request counts for the watchdog
as the last signal of `webhook` and of the strategy it names, in the batch that writes its row.
The watchdog's check runs on the gateway's cron, every minute (`scheduled`).

`GET /health` probes the gateway's real bindings: KV read, D1 `SELECT 1`, the Durable Object
namespaces, the queue binding and every service binding's `/health` (2 s each).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from hoox_edge import catalog, ledger, lifecycle
from hoox_edge.desk import ingress as desk_ingress
from hoox_edge.mail import mailgun
from hoox_edge.operator.workers import HEALTH_BUDGET_S, call_health
from hoox_edge.ports import Env, ServiceResponse
from hoox_edge.shared import bodies, calls, clock, settings
from hoox_edge.shared.access import AccessGate
from hoox_edge.shared.app import env_of, make_app
from hoox_edge.shared.auth import REQUEST_ID_HEADER, secret_matches
from hoox_edge.shared.errors import (
    DUPLICATE_REQUEST,
    EXCHANGE_ERROR,
    EXCHANGE_UNAVAILABLE,
    FORBIDDEN_IP,
    IDEMPOTENCY_UNAVAILABLE,
    INTERNAL_ERROR,
    KILL_SWITCH_ACTIVE,
    NO_OPEN_POSITION,
    NOT_PLACED,
    OUTCOME_UNKNOWN,
    RATE_LIMITED,
    TRADE_SERVICE_ERROR,
    TRADE_SERVICE_UNAVAILABLE,
    UNAUTHORIZED,
    VALIDATION_ERROR,
    ApiError,
    error_body,
)
from hoox_edge.shared.logs import log
from hoox_edge.shared.memo import Memo
from hoox_edge.shared.origin import client_ip, ip_allowed
from hoox_edge.shared.redact import (
    body_preview,
    capped,
    field_name,
    mask_credentials,
    preview,
    redact,
    secret_fields,
    stored_payload,
)
from hoox_edge.shared.signal import (
    DEX_ACTION,
    PASSKEY_FIELD,
    DexSignal,
    Signal,
    SignalError,
    is_dex,
    parse_any_signal,
    public_fields,
)
from hoox_edge.shared.telemetry import SignalEvent
from hoox_edge.watchdog import check as watchdog_check
from hoox_edge.watchdog import record as watchdog_record
from hoox_edge.watchdog.rules import strategy_name
from hoox_edge.workers import operator_api, stream

WORKER = "hoox"
RATE_WINDOW_S = 60
RATE_LIMITER_OBJECT = "webhook"
HEARTBEAT_LIMITER_OBJECT = "heartbeat"
HEARTBEAT = "HEARTBEAT"
HEARTBEAT_FIELDS = (PASSKEY_FIELD, "action", "strategy")
QUEUE_NAME = catalog.TRADE_QUEUE
SNIPPET_CHARS = 80

# Answers of trade-worker that decide a signal (keep the lock, never queue).
_DECIDED = {400: VALIDATION_ERROR, 422: NO_OPEN_POSITION}


# --------------------------------------------------------------------------- settings
_SETTING_KEYS = (
    settings.KILL_SWITCH, settings.KILL_SWITCH_REASON, settings.MAX_LEVERAGE, settings.QUEUE_MODE,
    settings.RATE_LIMIT, settings.DIRECT_TIMEOUT, settings.TRADINGVIEW_IP_CHECK,
    settings.TRADINGVIEW_ALLOWED_IPS, settings.TRUSTED_PROXIES,
)  # fmt: skip
# A corrupt value of a safety setting fails safe: trading halted, only TradingView accepted, no proxy trusted.
_FAIL_SAFE = {settings.KILL_SWITCH: True, settings.TRADINGVIEW_IP_CHECK: True,
              settings.TRADINGVIEW_ALLOWED_IPS: settings.TRADINGVIEW_IPS, settings.TRUSTED_PROXIES: []}


async def _settings(env: Env) -> tuple[dict[str, Any], list[str]]:
    """Every gateway setting at once; corrupt values are replaced (fail-safe or default) and reported.
    Read on every request, worked out again only when a stored text changed: the same (shared, not
    to be changed) answer for the same texts."""
    try:
        raws = tuple(await env.CONFIG_KV.get_many(_SETTING_KEYS))
    except Exception as exc:
        return _settings_of([exc] * len(_SETTING_KEYS))
    seen = _SETTINGS_OF.get(raws)
    return seen if seen is not None else _SETTINGS_OF.keep(raws, _settings_of(raws))


_SETTINGS_OF: Memo[tuple[str | None, ...], tuple[dict[str, Any], list[str]]] = Memo(64)


def _settings_of(raws: Sequence[str | BaseException | None]) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, raw in zip(_SETTING_KEYS, raws, strict=True):
        default = settings.known(key).default
        if isinstance(raw, BaseException):
            values[key] = _FAIL_SAFE.get(key, default)
            problems.append(f"{key}: KV read failed ({type(raw).__name__})")
            continue
        try:
            values[key] = default if raw is None else settings.parse(key, raw)
        except settings.SettingError as exc:
            values[key] = _FAIL_SAFE.get(key, default)
            problems.append(str(exc))
    if any(p.startswith(f"{settings.KILL_SWITCH}:") for p in problems):
        values[settings.KILL_SWITCH_REASON] = (f"{settings.KILL_SWITCH} could not be read, so trading is halted "
                                               "until it holds true or false")
    return values, problems


# --------------------------------------------------------------------------- helpers
def _number_or_none(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _text_or_none(v: Any, limit: int = 64) -> str | None:
    return v[:limit] if isinstance(v, str) and v else None


@dataclass(frozen=True)
class Rejection:
    """A webhook refused: what the sender is told (status, code, message, details) and what the
    operator reads (`log`). `_reject` writes every one of them, in one place."""

    status: int
    code: str
    message: str
    log: str  # the log row's text
    details: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    original: dict[str, Any] | None = None  # the outcome of the signal a duplicate repeats
    level: str = "warning"
    # False: the gateway leaves the signal's state as it is (trade-worker recorded the decision, or
    # the outcome is not known yet); the answer and its log row only.
    final: bool = True
    request_id: str | None = None  # the signal it decides when not this request's own (a resumed one)
    ledger: tuple[str, str] | None = None  # (code, text) the ledger records when not the answer's own

    def error(self, rid: str) -> ApiError:
        return ApiError(self.status, self.code, self.message, self.details,
                        headers={REQUEST_ID_HEADER: rid, **self.headers},
                        extra={"original": self.original} if self.original else None)


@dataclass
class _Webhook:
    """One webhook call as its stages learn it, for the ledger row, the answer and the data points."""

    request: Request | None  # None: a signal from the Telegram desk (`submit_signal`), not an HTTP webhook
    env: Env
    rid: str
    source: str = "webhook"  # trade_signals.source: webhook | telegram
    cfg: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    ip: str | None = None
    raw_body: bytes = b""
    body: dict[str, Any] = field(default_factory=dict)  # as sent (passkey included)
    raw: dict[str, Any] = field(default_factory=dict)  # as stored: secrets and credential-looking words masked
    authenticated: bool = False
    heartbeat: bool = False
    signal: Signal | DexSignal | None = None  # parsed once, by `validate`; everything after reads this
    payload: dict[str, Any] = field(default_factory=dict)  # the signal as its row and trade-worker take it
    written: bool = False  # the Received row exists
    lock_key: str | None = None
    ttl: int = 0
    locked: bool = False  # this request holds the idempotency lock
    pending_log: asyncio.Future[None] | None = None  # the "lock taken" log row, written beside the delivery
    outcome: str = "Received"
    watch: list[Any] = field(default_factory=list)  # the watchdog's upserts, written with the first batch

    def take_watch(self) -> list[Any]:
        """The watchdog statements, once: a later batch of the same request must not count it again."""
        out, self.watch = self.watch, []
        return out

    def label(self, key: str) -> str:
        if self.signal is not None:
            v = getattr(self.signal, key)
            return str(v) if v is not None else ""
        return str(_text_or_none(self.raw.get(key)) or "")


@dataclass(frozen=True)
class _Delivery:
    """A signal on its way to trade-worker: this request's own, or the one a resend resumes."""

    rid: str
    payload: dict[str, Any]  # the normalised signal (trade-worker's /process payload, or /dex's for a swap)

    @property
    def path(self) -> str:
        return "/dex" if is_dex(self.payload) else "/process"


Outcome = Rejection | JSONResponse | None  # what a stage returns: refused, answered, or passed on


# --------------------------------------------------------------------------- trade_signals
def _row(w: _Webhook, **cols: Any) -> Any:
    """The signal's row (see hoox_edge.lifecycle): the payload as received, passkey removed (`w.raw`:
    redacted when the sender was authenticated, and a row is written only from then on)."""
    s, env = w.signal, w.env
    return lifecycle.insert_statement(
        env.DB, request_id=w.rid, source=w.source,
        stored_payload=capped(stored_payload(w.raw, env.secret_values(), drop=(PASSKEY_FIELD,), redacted=True)),
        idempotency_key=s.idempotencyKey if s else _text_or_none(w.raw.get("idempotencyKey"), 128),
        exchange=s.exchange if s else _text_or_none(w.raw.get("exchange")),
        symbol=s.symbol if s else _text_or_none(w.raw.get("symbol")),
        action=s.action if s else _text_or_none(w.raw.get("action")),
        quantity=_quantity(s) if s else _number_or_none(w.raw.get("quantity")), **cols)


def _stored_view(env: Env, body: dict[str, Any]) -> dict[str, Any]:
    """The body as it is stored and labelled: secrets and credential-looking words masked, except the
    idempotency key (one by design) and a swap's addresses."""
    view: dict[str, Any] = mask_credentials(redact(body, env.secret_values()),
                                            keep=("idempotencyKey", *public_fields(body)))
    return view


def _quantity(s: Signal | DexSignal) -> float | None:
    """The signal's size as the ledger's REAL column and the data points take it."""
    return s.row_quantity() if isinstance(s, DexSignal) else s.quantity


async def _reject(w: _Webhook, r: Rejection) -> ApiError:
    """The one writer of a refusal. Before authentication: a log row only (no signal row: anyone can
    send anything). A heartbeat: its log row with the watchdog's upserts. A signal: its row made
    final (Rejected with the code: a new row, or the Received one moved with its order and lock per
    `lifecycle.finish`), with its log row, in one batch. Returns the error the sender gets."""
    env, db = w.env, w.env.DB
    rid = r.request_id or w.rid
    if not w.authenticated:
        await log(env, r.level, f"webhook rejected before authentication: {r.log}", request_id=rid,
                  details={"ip": w.ip, "code": r.code})
        return r.error(rid)
    if w.heartbeat:
        await db.batch([*w.take_watch(), lifecycle.log_statement(db, env, r.level, f"heartbeat refused: {r.message}",
                                                                  rid, {"code": r.code})])
        return r.error(rid)
    logged: dict[str, Any] = {"code": r.code}
    if r.details:
        logged["details"] = r.details
    if r.original:
        logged["original"] = r.original.get("requestId")
    also = [lifecycle.log_statement(db, env, r.level, r.log, rid, logged), *w.take_watch()]
    if r.request_id is None:
        w.outcome = lifecycle.REJECTED if r.final else r.code
    code, text = r.ledger or (r.code, r.message[:1000])
    if not r.final:
        await db.batch(also)
    elif w.written or r.request_id is not None:
        await lifecycle.finish(env, rid, lifecycle.REJECTED, code, text, also=also,
                               frm=(lifecycle.RECEIVED,) if r.request_id is None else lifecycle.OPEN[:3],
                               release=w.locked or r.request_id is not None)
    else:
        await db.batch([_row(w, status=lifecycle.REJECTED, error_code=code, error=text), *also])
    return r.error(rid)


# --------------------------------------------------------------------------- stages
async def read_body(w: _Webhook) -> Outcome:
    """At most 64 KB (413 PAYLOAD_TOO_LARGE), read before anything else."""
    assert w.request is not None
    try:
        w.raw_body = await bodies.read_body(w.request, bodies.WEBHOOK_MAX_BYTES)
    except ApiError as exc:
        return Rejection(exc.status, exc.code, exc.message, "body refused", exc.details, exc.headers)
    return None


async def parse_body(w: _Webhook) -> Outcome:
    """A JSON object (TradingView sends text/plain when the alert message is not JSON), safely parsed."""
    assert w.request is not None
    raw_body = w.raw_body
    body: Any = None
    parsed = False
    if raw_body.strip():
        try:
            body, parsed = bodies.parse_json(raw_body), True
        except bodies.UnsafeJson as exc:
            return Rejection(400, VALIDATION_ERROR, f"The alert message was refused: {exc}", "body refused")
        except ValueError:  # not JSON (UnicodeDecodeError is a ValueError too)
            pass
    if not parsed:
        if not raw_body.strip():
            why = "The request body is empty: the TradingView alert message must be a JSON signal"
        else:
            ctype = w.request.headers.get("content-type", "none")
            why = (f"The alert message must be valid JSON (a signal object like "
                   f'{{"apiKey": "...", "action": "LONG", "symbol": "BTCUSDT", "quantity": 0.01}}); '
                   f"TradingView sends text/plain when it is not. Content-Type was {preview(ctype, limit=40)} and the "
                   f"body starts with: {body_preview(raw_body, w.env.secret_values(), limit=SNIPPET_CHARS)!r}")
        return Rejection(400, VALIDATION_ERROR, why + ".", "body is not JSON")
    if not isinstance(body, dict):
        return Rejection(400, VALIDATION_ERROR,
                         f"The alert message must be a JSON object {{...}}, got a JSON {type(body).__name__}.",
                         "body is not a JSON object")
    w.body = w.raw = body
    return None


async def check_origin(w: _Webhook) -> Outcome:
    """The TradingView IP allowlist, when `webhook:tradingview:ip_check` is on."""
    if w.cfg[settings.TRADINGVIEW_IP_CHECK] and not ip_allowed(w.ip, w.cfg[settings.TRADINGVIEW_ALLOWED_IPS]):
        return Rejection(403, FORBIDDEN_IP,
                         f"Requests from {w.ip or 'an unknown address'} are not accepted: webhook:tradingview:ip_check "
                         "is on and the address is not in webhook:tradingview:allowed_ips.", "address not allowed")
    return None


async def authenticate(w: _Webhook) -> Outcome:
    """The passkey `apiKey` against WEBHOOK_API_KEY, in constant time. From here on the payload is
    kept masked and the request counts for the watchdog."""
    env, body = w.env, w.body
    given = body.get(PASSKEY_FIELD)
    expected = env.get("WEBHOOK_API_KEY")
    if not secret_matches(given if isinstance(given, str) else None, expected):
        reason = "WEBHOOK_API_KEY is not set on the gateway" if not expected else (
            "apiKey missing" if given in (None, "") else "wrong apiKey")
        return Rejection(401, UNAUTHORIZED, "Authentication failed: missing or wrong apiKey.", reason)
    w.authenticated = True
    w.heartbeat = isinstance(body.get("action"), str) and body["action"].strip().upper() == HEARTBEAT
    # What is stored and labelled from here on: secrets and credential-looking words masked.
    w.raw = _stored_view(env, body)
    # The watchdog reads the masked body: a secret sent as a strategy never becomes a source.
    w.watch = watchdog_record.seen_statements(
        env.DB, watchdog_record.sources_of(w.raw),
        watchdog_record.HEARTBEAT if w.heartbeat else watchdog_record.SIGNAL, w.rid)
    for p in w.problems:
        await log(env, "error", f"invalid setting replaced by its safe value: {p}", request_id=w.rid)
    return None


async def refuse_secrets(w: _Webhook) -> Outcome:
    """A field name or value that is one of the deployment's secrets (other than the passkey in apiKey)."""
    leaked = secret_fields(w.body, w.env.secret_values(), allowed={PASSKEY_FIELD: w.env.get("WEBHOOK_API_KEY")})
    if leaked:
        return Rejection(400, VALIDATION_ERROR,
                         "Invalid signal payload: a field holds a secret of this deployment (only apiKey may "
                         "carry the passkey). Nothing was executed and the value was not stored.",
                         "signal refused: a field holds a secret of this deployment", leaked)
    return None


async def heartbeat(w: _Webhook) -> Outcome:
    """A TradingView heartbeat: recorded for the watchdog, never a signal, never executed."""
    if not w.heartbeat:
        return None
    w.outcome = "Heartbeat"
    issues = [{"field": field_name(k), "issue": "A heartbeat carries only apiKey, action and strategy."}
              for k in w.body if k not in HEARTBEAT_FIELDS]
    strategy: str | None = None
    if w.body.get("strategy") is not None:
        try:
            strategy = strategy_name(w.body["strategy"])
        except ValueError as exc:
            issues.append({"field": "strategy", "issue": str(exc)})
    if issues:
        return Rejection(400, VALIDATION_ERROR, "Invalid heartbeat: nothing was recorded as a heartbeat.",
                         "invalid heartbeat", issues)
    limited = await _limit(w, HEARTBEAT_LIMITER_OBJECT, "heartbeat")
    if limited is not None:
        return limited
    db, env = w.env.DB, w.env
    sources = [watchdog_record.WEBHOOK_SOURCE, *([strategy] if strategy else [])]
    await db.batch([*w.take_watch(), lifecycle.log_statement(db, env, "debug", "heartbeat", w.rid,
                                                              {"sources": sources})])
    return JSONResponse({"success": True, "requestId": w.rid, "status": "Heartbeat",
                         "message": f"Heartbeat recorded for {', '.join(sources)}; nothing is executed.",
                         "sources": sources, "result": None, "error": None},
                        headers={REQUEST_ID_HEADER: w.rid})


async def kill_switch(w: _Webhook) -> Outcome:
    """`trade:kill_switch` -> 503 KILL_SWITCH_ACTIVE with `trade:kill_switch_reason`."""
    if w.cfg[settings.KILL_SWITCH]:
        reason = w.cfg[settings.KILL_SWITCH_REASON] or "no reason given"
        return Rejection(503, KILL_SWITCH_ACTIVE,
                         f"Trading halted: the kill switch (trade:kill_switch) is on. Reason: {reason}",
                         f"signal refused: kill switch is on ({reason})")
    return None


async def rate_limit(w: _Webhook) -> Outcome:
    """`webhooks:rate_limit_per_minute`, a rolling minute counted in the RateLimiter object."""
    return await _limit(w, RATE_LIMITER_OBJECT, "signal")


async def _limit(w: _Webhook, name: str, what: str) -> Rejection | None:
    """A hit on the RateLimiter object `name`. A limiter that fails lets the request through (logged):
    it protects capacity, and losing a signal over it would be worse."""
    env, limit = w.env, w.cfg[settings.RATE_LIMIT]
    try:
        limiter = env.RATE_LIMITER.get(env.RATE_LIMITER.id_from_name(name))
        verdict = await limiter.hit(limit, RATE_WINDOW_S)
    except Exception as exc:
        await log(env, "error", f"rate limiter unavailable ({type(exc).__name__}); {what} let through",
                  request_id=w.rid)
        return None
    if verdict["allowed"]:
        return None
    retry = int(verdict["retryAfter"])
    return Rejection(429, RATE_LIMITED, f"Too many {what}s: at most {limit} per rolling minute "
                                        f"(webhooks:rate_limit_per_minute). Retry in {retry} s.",
                     f"signal refused: over {limit} signals per minute", headers={"Retry-After": str(retry)})


async def validate(w: _Webhook) -> Outcome:
    """The one parse of the signal (`hoox_edge.shared.signal`): every later stage, the ledger row and
    trade-worker read the normalised `Signal` it makes."""
    try:
        w.signal = parse_any_signal(w.body, max_leverage=w.cfg[settings.MAX_LEVERAGE], source=w.source)
    except SignalError as exc:
        return Rejection(400, VALIDATION_ERROR, "Invalid signal payload.", "signal refused: invalid fields",
                         exc.details)
    return None


async def receive(w: _Webhook) -> Outcome:
    """The Received row, before the lock: a stop from here on leaves a signal the reconciler resolves."""
    signal, db, env = w.signal, w.env.DB, w.env
    assert signal is not None
    w.lock_key, w.ttl = lifecycle.lock_for(signal.idempotencyKey, signal.canonical())
    w.payload = signal.to_payload()
    await db.batch([
        _row(w, signal=w.payload, lock_key=w.lock_key),
        lifecycle.log_statement(db, env, "info", "signal received", w.rid,
                                {"ip": w.ip, "action": signal.action, "symbol": signal.symbol,
                                 "queueMode": w.cfg[settings.QUEUE_MODE]}),
        *w.take_watch(),
    ])
    w.written = True
    return None


async def dedup(w: _Webhook) -> Outcome:
    """The IdempotencyStore lock of the key; a held one is a duplicate (409) or a resend (resumed)."""
    signal, env, lock_key, ttl = w.signal, w.env, w.lock_key, w.ttl
    assert signal is not None and lock_key is not None
    for _ in range(2):  # a second time only after a lock its holder should have given back was released
        try:
            lock = await lifecycle.lock_stub(env, lock_key).acquire(lock_key, ttl, w.rid)
        except Exception as exc:
            return Rejection(503, IDEMPOTENCY_UNAVAILABLE,
                             "The duplicate check is unavailable, so the signal was not executed; send it again.",
                             f"idempotency store unavailable ({type(exc).__name__}); signal refused", level="error")
        if lock["acquired"]:
            w.locked = True
            # The signal's timeline shows when (and which kind of) lock it took. Not awaited before
            # the delivery: it shares a commit with what trade-worker writes, and the answer still
            # leaves only once every write is durable.
            w.pending_log = asyncio.ensure_future(log(
                env, "info", "idempotency lock taken", request_id=w.rid,
                details={"key": "explicit" if signal.idempotencyKey is not None else "implicit",
                         "ttlSeconds": ttl, "expiresAt": clock.iso(lock["expiresAt"] / 1000)}))
            return None
        answer = await _resend(w, lock["requestId"])
        if answer is not None:
            return answer
    return Rejection(503, IDEMPOTENCY_UNAVAILABLE, "The duplicate check could not settle; send the signal again.",
                     "the duplicate check could not settle", final=False)


async def execute(w: _Webhook) -> Outcome:
    """Delivery to trade-worker by `webhooks:queue_mode`."""
    assert w.signal is not None
    w.outcome = "Delivered"
    try:
        return await _deliver(w.env, _Delivery(w.rid, w.payload), w.cfg)
    finally:
        if w.pending_log is not None:
            await w.pending_log


STAGES = (read_body, parse_body, check_origin, authenticate, refuse_secrets, heartbeat, kill_switch, rate_limit,
          validate, receive, dedup, execute)


# --------------------------------------------------------------------------- delivery
def _accepted(rid: str, status: str, message: str, result: dict[str, Any] | None = None,
              **extra: Any) -> JSONResponse:
    body = {"success": True, "requestId": rid, "status": status, "message": message, **extra,
            "result": result, "error": None}
    return JSONResponse(body, status_code=202, headers={REQUEST_ID_HEADER: rid})


async def _enqueue(env: Env, d: _Delivery, reason: str) -> JSONResponse:
    # Sent first, marked after: a stop in between leaves a Received row whose message still runs.
    await env.TRADE_QUEUE.send({"requestId": d.rid, "payload": d.payload, "enqueuedAt": clock.iso(), "reason": reason})
    await lifecycle.enqueued(env.DB, d.rid)
    await log(env, "warning" if reason != "queue_everywhere" else "info",
              f"signal enqueued in {QUEUE_NAME}: {reason}", request_id=d.rid)
    return _accepted(d.rid, "Enqueued", f"Signal enqueued in {QUEUE_NAME} queue for background execution retry "
                                        f"({reason}).")


def _answer(d: _Delivery, resp: ServiceResponse, body: dict[str, Any]) -> JSONResponse:
    """trade-worker's 200 (filled) or 202 (resting, in progress) as the webhook's answer."""
    result = body.get("result") if isinstance(body.get("result"), dict) else None
    if resp.status == 200 and result is not None:
        return JSONResponse({"success": True, "requestId": d.rid, "status": lifecycle.FILLED,
                             "exchange": result.get("exchange"), "symbol": result.get("symbol"),
                             "action": d.payload.get("action") or (DEX_ACTION if is_dex(d.payload) else None),
                             "result": result, "error": None},
                            headers={REQUEST_ID_HEADER: d.rid})
    if result is not None and result.get("status") in (lifecycle.RESTING, lifecycle.CANCELLED, lifecycle.EXPIRED):
        filled = result.get("executedQty") or 0
        text = (f"The order rests on the exchange's book (order {result.get('orderId')}); it is followed until it "
                f"fills, is cancelled or expires." if result["status"] == lifecycle.RESTING
                else f"The order ended {result['status'].lower()} on the exchange.")
        if filled:
            text += f" Filled so far: {filled}."
        return _accepted(d.rid, result["status"], text, result, exchange=result.get("exchange"),
                         symbol=result.get("symbol"), action=d.payload.get("action"))
    return _accepted(d.rid, "in_progress", str(body.get("message") or "The signal is being executed."))


async def _deliver(env: Env, d: _Delivery, cfg: dict[str, Any]) -> JSONResponse | Rejection:
    mode = cfg[settings.QUEUE_MODE]
    if mode == "queue_everywhere":
        return await _enqueue(env, d, "queue_everywhere")

    timeout = cfg[settings.DIRECT_TIMEOUT] / 1000
    resp: ServiceResponse | None = None
    err: dict[str, Any] = {}
    details: dict[str, Any] = {}
    failure: str
    outcome_unknown = False  # the order may have reached the exchange
    try:
        resp = await asyncio.wait_for(
            calls.call(env, "TRADE_SERVICE", "POST", d.path, request_id=d.rid, payload=d.payload, timeout=timeout),
            timeout + 0.25)  # the binding's own timeout should fire first; this is the backstop
    except TimeoutError:
        failure = f"trade-worker did not answer within {cfg[settings.DIRECT_TIMEOUT]} ms"
        outcome_unknown = True
    except Exception as exc:
        failure = f"trade-worker unreachable ({type(exc).__name__})"

    if resp is not None:
        body, err, details = calls.envelope(resp)
        if resp.status in (200, 202):
            return _answer(d, resp, body)
        code = err.get("code")
        if resp.status in _DECIDED or (resp.status in (409, 422, 502) and not details.get("retryable")):
            # Decided and recorded by trade-worker; an implicit lock is given back here.
            state = await lifecycle.load(env.DB, d.rid)
            if state is not None:
                await lifecycle.release_lock(env, state)
            message = err.get("message") or f"trade-worker answered {resp.status}"
            return Rejection(resp.status, code or _DECIDED.get(resp.status, EXCHANGE_ERROR), message,
                             f"signal rejected: {message}", err.get("details"), final=False, request_id=d.rid)
        failure = (f"trade-worker answered {resp.status} {code or ''}: "
                   f"{err.get('message') or resp.text()[:200]}")
        outcome_unknown = bool(details.get("orderMayExist"))

    # Not executed, or not known to be: a retry finds an order placed meanwhile by its client order id.
    if mode == "queue_failover":
        try:
            return await _enqueue(env, d, failure)
        except Exception as exc:
            failure = f"{failure}; the queue refused it too ({type(exc).__name__})"
    if outcome_unknown:
        # Deciding here could let a resend (with a new request id) fill a second order: the
        # reconciler settles it by its client order id, and a resend with the same key resumes it.
        return Rejection(504, OUTCOME_UNKNOWN,
                         f"{failure}. The order may still have reached the exchange, so the duplicate lock is kept: "
                         f"send the signal again with the same idempotencyKey to learn its outcome (request {d.rid}).",
                         f"signal outcome unknown, idempotency lock kept: {failure}", level="error", final=False,
                         request_id=d.rid)
    hint = " Nothing was placed and the duplicate lock was released: the signal may be sent again."
    not_placed: dict[str, Any] = {"log": f"signal not delivered, idempotency lock released: {failure}",
                                  "level": "error", "request_id": d.rid,
                                  "ledger": (NOT_PLACED, f"not delivered: {failure}")}
    if resp is not None and resp.status == 503:
        headers = {"Retry-After": str(int(details["retryAfter"]))} if details.get("retryAfter") else {}
        return Rejection(503, err.get("code") or EXCHANGE_UNAVAILABLE, (err.get("message") or failure) + hint,
                         details=err.get("details"), headers=headers, **not_placed)
    if resp is None:
        return Rejection(503, TRADE_SERVICE_UNAVAILABLE, failure + "." + hint, **not_placed)
    return Rejection(502, TRADE_SERVICE_ERROR, failure + "." + hint, **not_placed)


# --------------------------------------------------------------------------- resends
async def _resend(w: _Webhook, holder: str) -> Outcome:
    """The lock is held by `holder`: a finished signal answers 409 with its outcome; an unfinished one
    is resumed and answered. None when the holder should not hold it any more (its lock was released
    and may be taken again)."""
    env = w.env
    h = await lifecycle.load(env.DB, holder)
    if h is None or (h.final and lifecycle.should_release(h)):
        if h is not None:
            await lifecycle.release_lock(env, h)
        return None
    key = w.signal.idempotencyKey if w.signal else None
    what = f"idempotencyKey {key!r}" if key is not None else "an identical signal"
    if h.final:
        message = (f"Duplicate signal: {what} was already accepted as request {holder}, which is {h.status}. "
                   "Nothing new was executed; `original` holds its outcome.")
        if key is None:
            message += " Give each signal its own idempotencyKey to send the same order twice on purpose."
        return Rejection(409, DUPLICATE_REQUEST, message, f"signal refused: duplicate of {holder}",
                         original=h.outcome())
    # Not finished: resume it (never a second order; the same request id, its client order id). This
    # request's own row ends as the resend it was.
    await _reject(w, Rejection(409, DUPLICATE_REQUEST, f"resend of request {holder} ({h.status}), which it resumed",
                               f"resend of {holder} ({h.status}): resuming it", original={"requestId": holder},
                               level="info"))
    w.outcome = "Resumed"
    if h.status == lifecycle.ENQUEUED or not h.signal:
        return _accepted(holder, "in_progress", f"Request {holder} is queued for execution; it has not finished.",
                         resumed=True)
    if h.status == lifecycle.RESTING and h.trade is not None:
        return _accepted(holder, lifecycle.RESTING, "The order rests on the exchange's book.",
                         ledger.trade_result(h.trade), resumed=True)
    # Received or Executing: delivered again under its own request id. If its first delivery is
    # still running, trade-worker lets one attempt hold the order and answers the other "in progress".
    return await _deliver(env, _Delivery(holder, h.signal), w.cfg)


# --------------------------------------------------------------------------- the webhook
async def _process(w: _Webhook, stages: tuple[Any, ...]) -> JSONResponse:
    """The stages in order: the first that refuses or answers ends the request."""
    w.cfg, w.problems = await _settings(w.env)
    if w.request is not None:
        w.ip = client_ip(w.request, w.cfg[settings.TRUSTED_PROXIES])
    for stage in stages:
        out = await stage(w)
        if isinstance(out, Rejection):
            raise await _reject(w, out)
        if out is not None:
            return out
    raise AssertionError("the last stage answers")


def _outcome_of(response: JSONResponse) -> str:
    """The signal's outcome as its data point names it: Filled, Resting, in_progress, Enqueued."""
    try:
        status = json.loads(bytes(response.body)).get("status")
    except (ValueError, AttributeError):
        status = None
    return str(status or response.status_code)


async def webhook(request: Request) -> JSONResponse:
    env = env_of(request)
    # Our own id, always: a public caller must not pick the key the ledger is indexed by.
    rid = str(uuid.uuid4())
    request.scope["hoox.request_id"] = rid
    return await _run(_Webhook(request, env, rid), STAGES)


async def trusted_sender(w: _Webhook) -> Outcome:
    """A signal from the Telegram desk: its sender was authenticated by the desk (the bot's secret
    token and an allowed chat), so it starts where a webhook's starts after the passkey."""
    env = w.env
    w.authenticated = True
    w.raw = _stored_view(env, w.body)
    for p in w.problems:
        await log(env, "error", f"invalid setting replaced by its safe value: {p}", request_id=w.rid)
    return None


# The webhook's stages after authentication: a chat can never bypass what a webhook cannot.
SUBMIT_STAGES = (trusted_sender, refuse_secrets, kill_switch, rate_limit, validate, receive, dedup, execute)


async def submit_signal(env: Env, body: dict[str, Any], *, source: str) -> tuple[int, dict[str, Any]]:
    """Run `body` (signal fields, no passkey) through the gateway's own signal path as `source`:
    (HTTP status, the answer's JSON body) exactly as a webhook would have been answered."""
    w = _Webhook(None, env, str(uuid.uuid4()), source=source, body=body, raw=body)
    try:
        response = await _run(w, SUBMIT_STAGES)
    except ApiError as exc:
        return exc.status, {**error_body(exc.code, exc.message, w.rid, exc.details), **exc.extra}
    return response.status_code, json.loads(bytes(response.body))


async def _run(w: _Webhook, stages: tuple[Any, ...]) -> JSONResponse:
    env, rid = w.env, w.rid
    try:
        response = await _process(w, stages)
        if w.authenticated:
            w.outcome = _outcome_of(response)
        return response
    except ApiError as exc:
        if w.outcome in ("Received", "Delivered"):
            w.outcome = exc.code
        raise
    except Exception as exc:
        failed = Rejection(500, INTERNAL_ERROR, f"Internal error in the gateway ({type(exc).__name__}).",
                           f"webhook failed: {type(exc).__name__}", level="error",
                           ledger=(INTERNAL_ERROR, f"gateway error ({type(exc).__name__})"))
        try:
            if not (w.written and not w.heartbeat):
                raise RuntimeError("no row to decide")
            await _reject(w, failed)  # the Received row made final, with the log row
        except Exception:
            await log(env, "error", failed.log, request_id=rid)
        raise failed.error(rid) from None
    finally:
        # The request itself is recorded by the api-call middleware (shared/app.py); what only the
        # gateway knows is the signal.
        if w.authenticated and not w.heartbeat:
            await calls.track(env, "signal", SignalEvent(
                worker=env.worker, exchange=w.label("exchange"), symbol=w.label("symbol"), action=w.label("action"),
                outcome=w.outcome, quantity=_quantity(w.signal) if w.signal is not None else None), request_id=rid)


# --------------------------------------------------------------------------- health
async def _timed(coro: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(coro, HEALTH_BUDGET_S)
        out = {"status": "connected", "latencyMs": round((time.perf_counter() - started) * 1000, 2)}
        if isinstance(detail, dict):
            out.update(detail)
        return out
    except Exception as exc:
        return {"status": "error", "latencyMs": round((time.perf_counter() - started) * 1000, 2),
                "error": (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:300],
                "errorType": type(exc).__name__}


async def _kv_probe(env: Env) -> None:
    await env.CONFIG_KV.get(settings.KILL_SWITCH)


async def _d1_probe(env: Env) -> None:
    row = await env.DB.prepare("SELECT 1 AS ok").first()
    if not row or row.get("ok") != 1:
        raise RuntimeError("SELECT 1 returned no row")


async def _do_probe(env: Env, binding: str, name: str) -> None:
    ns = env.get(binding)
    await ns.get(ns.id_from_name(name)).ping()


async def _service_probe(env: Env, binding: str) -> dict[str, Any]:
    resp = await call_health(env, binding)
    if resp.status != 200:
        raise RuntimeError(f"/health answered {resp.status}")
    return {}


async def health(request: Request) -> JSONResponse:
    env = env_of(request)
    w = catalog.worker(WORKER)
    probes: dict[str, Any] = {}
    if env.has("CONFIG_KV"):
        probes["kv"] = _kv_probe(env)
    if env.has("DB"):
        probes["d1"] = _d1_probe(env)
    if env.has("IDEMPOTENCY_STORE"):
        probes["idempotencyStore"] = _do_probe(env, "IDEMPOTENCY_STORE", "health")
    if env.has("RATE_LIMITER"):
        probes["rateLimiter"] = _do_probe(env, "RATE_LIMITER", "health")
    services = [b for b in w.bindings_of("service") if env.has(b.name)]
    for b in services:
        probes[b.resource] = _service_probe(env, b.name)
    names = list(probes)
    results = dict(zip(names, await asyncio.gather(*(_timed(probes[n]) for n in names)), strict=True))
    # A producer binding cannot be probed without sending a message, and /health sends nothing.
    results["queue"] = ({"status": "bound", "queue": QUEUE_NAME} if env.has("TRADE_QUEUE")
                        else {"status": "error", "error": "TRADE_QUEUE is not bound"})
    for b in services:
        r = results[b.resource]
        # The local runtime runs the workers the workspace enables; one left off is reported as such,
        # not as a fault. A worker that runs and fails its /health is a fault.
        if r.get("errorType") == "ServiceUnavailable":
            r["status"] = "not_running"
    degraded = any(r["status"] == "error" for r in results.values())
    body = {"status": "degraded" if degraded else "ok", "timestamp": clock.now_ms(), "bindings": results}
    return JSONResponse(body, status_code=503 if degraded else 200)


async def scheduled(cron: str, env: Env) -> None:
    """Every minute: the signal watchdog's check (`hoox_edge.watchdog.check`)."""
    await watchdog_check.run(env)


routes = [
    Route("/webhook", webhook, methods=["POST"]),
    Route("/health", health, methods=["GET"]),
    # Telegram's webhook (the bot's desk): checked and taken by telegram-worker, handled here.
    *desk_ingress.routes(submit_signal),
    # Mailgun's inbound e-mail (hoox_edge.mail): signature, replay window, then the same signal path.
    *mailgun.routes(submit_signal),
    # The operator API: what the CLI and the cockpit stand on (Bearer OPERATOR_API_KEY on every route,
    # and a Cloudflare Access JWT first when [operator.access] is configured: shared/access.py).
    Mount("/v1", routes=[*operator_api.routes, *stream.routes], middleware=[Middleware(AccessGate)]),
]

app = make_app(WORKER, routes)
