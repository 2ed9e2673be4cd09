"""hoox, the gateway: authenticates, de-duplicates and routes signals.

`POST /webhook` runs these stages in order; the first that fails answers:

1. parse: at most 64 KB (413 PAYLOAD_TOO_LARGE), and the body must be a JSON object (TradingView
   sends `text/plain` when the alert message is not JSON) -> 400 VALIDATION_ERROR showing how the
   body starts, passkey and credential-looking words masked; JSON that is too deep or holds lone
   surrogates or non-finite numbers is refused too (`shared/bodies.py`);
2. TradingView IP allowlist when `webhook:tradingview:ip_check` is on -> 403 FORBIDDEN_IP (the
   client address: `shared/origin.py`);
3. passkey `apiKey` against the secret WEBHOOK_API_KEY, in constant time -> 401 UNAUTHORIZED;
   from here on every signal has a `trade_signals` row (payload without the passkey, secrets masked,
   at most 4 KB) that ends in a final state (`hoox_edge.lifecycle`); a refusal below is written
   final at once (Rejected with its code). A field name or value that *is* one of the deployment's
   secrets (other than the passkey in apiKey) -> 400 VALIDATION_ERROR naming the field, never the value;
4. kill switch `trade:kill_switch` -> 503 KILL_SWITCH_ACTIVE with `trade:kill_switch_reason`;
5. rate limit `webhooks:rate_limit_per_minute`, a rolling 60 s counted in the RateLimiter Durable
   Object -> 429 RATE_LIMITED with Retry-After;
6. validation (`hoox_edge.shared.signal`) -> 400 VALIDATION_ERROR with `details[{field, issue}]`;
7. idempotency: the row is written Received (with the normalised signal), then the IdempotencyStore
   lock of the key is taken (`idempotencyKey` for 24 h, else the hash of the normalised signal for
   60 s; names are hashed). When another request holds it:
   - that signal is final -> 409 DUPLICATE_REQUEST with `original: {requestId, status, result|error}`
     (except a signal whose lock should have been given back: an implicit key of a signal that
     ended without a fill, or any key of one NOT_PLACED — the lock is released and taken again);
   - it is not final -> it is resumed: delivered again under its own request id (trade-worker
     lets one attempt hold its order and finds an order already placed by its client order id),
     and this request answers its outcome (200, 202 Resting / in_progress / Enqueued, or its
     rejection). Never a 409, never a second order;
8. delivery by `webhooks:queue_mode`:
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

The gateway always makes its own request id (a client's X-Request-Id is not trusted on a public
route). A failure of the idempotency store refuses the signal (503): without the lock the
exactly-once guarantee is gone. A failure of the rate limiter lets it through with an error log:
the limiter protects capacity, losing a signal over it would be worse.

A heartbeat (`{"apiKey", "action": "HEARTBEAT", "strategy"?}`) passes stages 1-3 like any signal, then
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
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from hoox_edge import catalog, ledger, lifecycle
from hoox_edge.operator.workers import HEALTH_BUDGET_S, call_health
from hoox_edge.ports import Env, ServiceResponse
from hoox_edge.shared import bodies, calls, clock, settings
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
)
from hoox_edge.shared.logs import log
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
from hoox_edge.shared.signal import PASSKEY_FIELD, Signal, SignalError, parse_signal
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
    """Every gateway setting at once; corrupt values are replaced (fail-safe or default) and reported."""
    kv = env.CONFIG_KV
    raws = await asyncio.gather(*(kv.get(k) for k in _SETTING_KEYS), return_exceptions=True)
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


@dataclass
class _Signal:
    """What one webhook call learned, for the ledger row and the data points."""

    rid: str
    authenticated: bool = False
    signal: Signal | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    outcome: str = "Received"
    heartbeat: bool = False
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
    payload: dict[str, Any]  # the normalised signal (trade-worker's /process payload)


# --------------------------------------------------------------------------- trade_signals
def _row(env: Env, st: _Signal, **cols: Any) -> Any:
    """The signal's row (see hoox_edge.lifecycle): the payload as received, passkey removed."""
    s = st.signal
    return lifecycle.insert_statement(
        env.DB, request_id=st.rid, source="webhook",
        stored_payload=capped(stored_payload(st.raw, env.secret_values(), drop=(PASSKEY_FIELD,))),
        idempotency_key=s.idempotencyKey if s else _text_or_none(st.raw.get("idempotencyKey"), 128),
        exchange=s.exchange if s else _text_or_none(st.raw.get("exchange")),
        symbol=s.symbol if s else _text_or_none(st.raw.get("symbol")),
        action=s.action if s else _text_or_none(st.raw.get("action")),
        quantity=s.quantity if s else _number_or_none(st.raw.get("quantity")), **cols)


def _decided(env: Env, st: _Signal, code: str, error: str, *, written: bool) -> Any:
    """The signal's row final (Rejected with `code`): a new row, or the Received one moved."""
    if written:
        return lifecycle.move_statement(env.DB, st.rid, lifecycle.REJECTED, (lifecycle.RECEIVED,),
                                        error_code=code, error=error)
    return _row(env, st, status=lifecycle.REJECTED, error_code=code, error=error)


async def _refuse(env: Env, st: _Signal, status: int, code: str, message: str, log_message: str,
                  details: Any = None, headers: dict[str, str] | None = None,
                  original: dict[str, Any] | None = None, written: bool = False) -> ApiError:
    """A signal the gateway itself refuses: its row is made final (Rejected, with the code) with its
    log row, in one batch. `original` is the outcome of the signal a duplicate repeats; `written`
    says the Received row exists already."""
    st.outcome = lifecycle.REJECTED
    db = env.DB
    logged: dict[str, Any] = {"code": code}
    if details:
        logged["details"] = details
    if original:
        logged["original"] = original.get("requestId")
    await db.batch([
        _decided(env, st, code, message[:1000], written=written),
        lifecycle.log_statement(db, env, "warning", log_message, st.rid, logged),
        *st.take_watch(),
    ])
    return ApiError(status, code, message, details, headers={REQUEST_ID_HEADER: st.rid, **(headers or {})},
                    extra={"original": original} if original else None)


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
                             "action": d.payload.get("action"), "result": result, "error": None},
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


async def _deliver(env: Env, d: _Delivery, cfg: dict[str, Any]) -> JSONResponse:
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
            calls.call(env, "TRADE_SERVICE", "POST", "/process", request_id=d.rid, payload=d.payload, timeout=timeout),
            timeout + 0.25)  # the binding's own timeout should fire first; this is the backstop
    except TimeoutError:
        failure = f"trade-worker did not answer within {cfg['webhooks:direct_timeout_ms']} ms"
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
            await log(env, "warning", f"signal rejected: {message}", request_id=d.rid)
            raise ApiError(resp.status, code or _DECIDED.get(resp.status, EXCHANGE_ERROR), message,
                           err.get("details"), headers={REQUEST_ID_HEADER: d.rid})
        failure = (f"trade-worker answered {resp.status} {code or ''}: "
                   f"{err.get('message') or resp.text()[:200]}")
        outcome_unknown = bool(details.get("orderMayExist"))

    # Not executed, or not known to be: a retry finds an order placed meanwhile by its client order id.
    if mode == "queue_failover":
        try:
            return await _enqueue(env, d, failure)
        except Exception as exc:
            failure = f"{failure}; the queue refused it too ({type(exc).__name__})"
    headers = {REQUEST_ID_HEADER: d.rid}
    if outcome_unknown:
        # Deciding here could let a resend (with a new request id) fill a second order: the
        # reconciler settles it by its client order id, and a resend with the same key resumes it.
        await log(env, "error", f"signal outcome unknown, idempotency lock kept: {failure}", request_id=d.rid)
        raise ApiError(504, OUTCOME_UNKNOWN,
                       f"{failure}. The order may still have reached the exchange, so the duplicate lock is kept: "
                       f"send the signal again with the same idempotencyKey to learn its outcome (request {d.rid}).",
                       headers=headers)
    await lifecycle.reject(env, d.rid, NOT_PLACED, f"not delivered: {failure}")
    await log(env, "error", f"signal not delivered, idempotency lock released: {failure}", request_id=d.rid)
    hint = " Nothing was placed and the duplicate lock was released: the signal may be sent again."
    if resp is not None and resp.status == 503:
        if details.get("retryAfter"):
            headers["Retry-After"] = str(int(details["retryAfter"]))
        raise ApiError(503, err.get("code") or EXCHANGE_UNAVAILABLE, (err.get("message") or failure) + hint,
                       err.get("details"), headers=headers)
    if resp is None:
        raise ApiError(503, TRADE_SERVICE_UNAVAILABLE, failure + "." + hint, headers=headers)
    raise ApiError(502, TRADE_SERVICE_ERROR, failure + "." + hint, headers=headers)


# --------------------------------------------------------------------------- resends
async def _resend(env: Env, st: _Signal, holder: str, cfg: dict[str, Any]) -> JSONResponse | None:
    """The lock is held by `holder`: a finished signal answers 409 with its outcome; an unfinished one
    is resumed and answered. None when the holder should not hold it any more (its lock was released
    and may be taken again)."""
    db = env.DB
    h = await lifecycle.load(db, holder)
    if h is None or (h.final and lifecycle.should_release(h)):
        if h is not None:
            await lifecycle.release_lock(env, h)
        return None
    key = st.signal.idempotencyKey if st.signal else None
    what = f"idempotencyKey {key!r}" if key is not None else "an identical signal"
    if h.final:
        message = (f"Duplicate signal: {what} was already accepted as request {holder}, which is {h.status}. "
                   "Nothing new was executed; `original` holds its outcome.")
        if key is None:
            message += " Give each signal its own idempotencyKey to send the same order twice on purpose."
        raise await _refuse(env, st, 409, DUPLICATE_REQUEST, message, f"signal refused: duplicate of {holder}",
                            original=h.outcome(), written=True)
    # Not finished: resume it (never a second order; the same request id, its client order id).
    st.outcome = "Resumed"
    await db.batch([
        _decided(env, st, DUPLICATE_REQUEST, f"resend of request {holder} ({h.status}), which it resumed",
                 written=True),
        lifecycle.log_statement(db, env, "info", f"resend of {holder} ({h.status}): resuming it", st.rid,
                                {"original": holder}),
    ])
    d = _Delivery(holder, h.signal or {})
    if h.status == lifecycle.ENQUEUED or not h.signal:
        return _accepted(holder, "in_progress", f"Request {holder} is queued for execution; it has not finished.",
                         resumed=True)
    if h.status == lifecycle.RESTING and h.trade is not None:
        return _accepted(holder, lifecycle.RESTING, "The order rests on the exchange's book.",
                         ledger.trade_result(h.trade), resumed=True)
    # Received or Executing: delivered again under its own request id. If its first delivery is
    # still running, trade-worker lets one attempt hold the order and answers the other "in progress".
    return await _deliver(env, d, cfg)


# --------------------------------------------------------------------------- the webhook
async def _pre_auth_reject(env: Env, st: _Signal, status: int, code: str, message: str, reason: str,
                           ip: str | None) -> ApiError:
    await log(env, "warning", f"webhook rejected before authentication: {reason}", request_id=st.rid,
              details={"ip": ip, "code": code})
    return ApiError(status, code, message, headers={REQUEST_ID_HEADER: st.rid})


async def _process(request: Request, env: Env, st: _Signal) -> JSONResponse:
    cfg, problems = await _settings(env)
    ip = client_ip(request, cfg["webhook:trusted_proxies"])
    try:
        raw_body = await bodies.read_body(request, bodies.WEBHOOK_MAX_BYTES)
    except ApiError as exc:
        refused = await _pre_auth_reject(env, st, exc.status, exc.code, exc.message, "body refused", ip)
        refused.details, refused.headers = exc.details, {**exc.headers, **refused.headers}
        raise refused from None

    # 1. parse
    body: Any = None
    parsed = False
    if raw_body.strip():
        try:
            body, parsed = bodies.parse_json(raw_body), True
        except bodies.UnsafeJson as exc:
            raise await _pre_auth_reject(env, st, 400, VALIDATION_ERROR, f"The alert message was refused: {exc}",
                                         "body refused", ip) from None
        except ValueError:  # not JSON (UnicodeDecodeError is a ValueError too)
            pass
    if not parsed:
        if not raw_body.strip():
            why = "The request body is empty: the TradingView alert message must be a JSON signal"
        else:
            ctype = request.headers.get("content-type", "none")
            why = (f"The alert message must be valid JSON (a signal object like "
                   f'{{"apiKey": "...", "action": "LONG", "symbol": "BTCUSDT", "quantity": 0.01}}); '
                   f"TradingView sends text/plain when it is not. Content-Type was {preview(ctype, limit=40)} and the "
                   f"body starts with: {body_preview(raw_body, env.secret_values(), limit=SNIPPET_CHARS)!r}")
        raise await _pre_auth_reject(env, st, 400, VALIDATION_ERROR, why + ".", "body is not JSON", ip)
    if not isinstance(body, dict):
        raise await _pre_auth_reject(
            env, st, 400, VALIDATION_ERROR,
            f"The alert message must be a JSON object {{...}}, got a JSON {type(body).__name__}.",
            "body is not a JSON object", ip)
    st.raw = body

    # 2. IP allowlist
    if cfg["webhook:tradingview:ip_check"] and not ip_allowed(ip, cfg["webhook:tradingview:allowed_ips"]):
        raise await _pre_auth_reject(
            env, st, 403, FORBIDDEN_IP,
            f"Requests from {ip or 'an unknown address'} are not accepted: webhook:tradingview:ip_check is "
            "on and the address is not in webhook:tradingview:allowed_ips.", "address not allowed", ip)

    # 3. passkey
    given = body.get(PASSKEY_FIELD)
    expected = env.get("WEBHOOK_API_KEY")
    if not secret_matches(given if isinstance(given, str) else None, expected):
        reason = "WEBHOOK_API_KEY is not set on the gateway" if not expected else (
            "apiKey missing" if given in (None, "") else "wrong apiKey")
        raise await _pre_auth_reject(env, st, 401, UNAUTHORIZED,
                                     "Authentication failed: missing or wrong apiKey.", reason, ip)
    st.authenticated = True
    st.heartbeat = isinstance(body.get("action"), str) and body["action"].strip().upper() == HEARTBEAT
    secrets = env.secret_values()
    leaked = secret_fields(body, secrets, allowed={PASSKEY_FIELD: expected})
    # What is stored and labelled from here on: secrets and credential-looking words masked.
    st.raw = mask_credentials(redact(body, secrets), keep=("idempotencyKey",))
    # The watchdog reads the masked body: a secret sent as a strategy never becomes a source.
    st.watch = watchdog_record.seen_statements(
        env.DB, watchdog_record.sources_of(st.raw),
        watchdog_record.HEARTBEAT if st.heartbeat else watchdog_record.SIGNAL, st.rid)
    for p in problems:
        await log(env, "error", f"invalid setting replaced by its safe value: {p}", request_id=st.rid)
    if leaked:
        raise await _refuse(env, st, 400, VALIDATION_ERROR,
                            "Invalid signal payload: a field holds a secret of this deployment (only apiKey may "
                            "carry the passkey). Nothing was executed and the value was not stored.",
                            "signal refused: a field holds a secret of this deployment", details=leaked)
    if st.heartbeat:
        return await _heartbeat(env, st, body, cfg)

    # 4. kill switch
    if cfg["trade:kill_switch"]:
        reason = cfg["trade:kill_switch_reason"] or "no reason given"
        raise await _refuse(env, st, 503, KILL_SWITCH_ACTIVE,
                            f"Trading halted: the kill switch (trade:kill_switch) is on. Reason: {reason}",
                            f"signal refused: kill switch is on ({reason})")

    # 5. rate limit
    limit = cfg["webhooks:rate_limit_per_minute"]
    verdict = await _hit(env, st, RATE_LIMITER_OBJECT, limit, "signal")
    if not verdict["allowed"]:
        retry = int(verdict["retryAfter"])
        raise await _refuse(env, st, 429, RATE_LIMITED,
                            f"Too many signals: at most {limit} per rolling minute "
                            f"(webhooks:rate_limit_per_minute). Retry in {retry} s.",
                            f"signal refused: over {limit} signals per minute", headers={"Retry-After": str(retry)})

    # 6. validation
    try:
        st.signal = parse_signal(body, max_leverage=cfg["trade:max_leverage"], source="webhook")
    except SignalError as exc:
        raise await _refuse(env, st, 400, VALIDATION_ERROR, "Invalid signal payload.",
                            "signal refused: invalid fields", details=exc.details) from None

    # 7. idempotency: the row first (so a stop from here on leaves a signal the reconciler resolves),
    # then the lock.
    signal = st.signal
    lock_key, ttl = lifecycle.lock_for(signal.idempotencyKey, signal.canonical())
    db = env.DB
    await db.batch([
        _row(env, st, signal=signal.to_payload(), lock_key=lock_key),
        lifecycle.log_statement(db, env, "info", "signal received", st.rid,
                                {"ip": ip, "action": signal.action, "symbol": signal.symbol,
                                 "queueMode": cfg["webhooks:queue_mode"]}),
        *st.take_watch(),
    ])
    for _ in range(2):  # a second time only after a lock its holder should have given back was released
        try:
            lock = await lifecycle.lock_stub(env, lock_key).acquire(lock_key, ttl, st.rid)
        except Exception as exc:
            await lifecycle.reject(env, st.rid, IDEMPOTENCY_UNAVAILABLE,
                                   f"idempotency store unavailable ({type(exc).__name__}); nothing was executed")
            await log(env, "error", f"idempotency store unavailable ({type(exc).__name__}); signal refused",
                      request_id=st.rid)
            raise ApiError(503, IDEMPOTENCY_UNAVAILABLE,
                           "The duplicate check is unavailable, so the signal was not executed; send it again.",
                           headers={REQUEST_ID_HEADER: st.rid}) from None
        if lock["acquired"]:
            # The signal's timeline shows when (and which kind of) lock it took.
            await log(env, "info", "idempotency lock taken", request_id=st.rid,
                      details={"key": "explicit" if signal.idempotencyKey is not None else "implicit",
                               "ttlSeconds": ttl, "expiresAt": clock.iso(lock["expiresAt"] / 1000)})
            break
        answer = await _resend(env, st, lock["requestId"], cfg)
        if answer is not None:
            return answer
    else:
        raise ApiError(503, IDEMPOTENCY_UNAVAILABLE, "The duplicate check could not settle; send the signal again.",
                       headers={REQUEST_ID_HEADER: st.rid})

    # 8. delivery
    st.outcome = "Delivered"
    return await _deliver(env, _Delivery(st.rid, signal.to_payload()), cfg)


async def _hit(env: Env, st: _Signal, name: str, limit: int, what: str) -> dict[str, Any]:
    """A hit on the RateLimiter object `name`. A limiter that fails lets the request through (logged):
    it protects capacity, and losing a signal over it would be worse."""
    try:
        limiter = env.RATE_LIMITER.get(env.RATE_LIMITER.id_from_name(name))
        return await limiter.hit(limit, RATE_WINDOW_S)
    except Exception as exc:
        await log(env, "error", f"rate limiter unavailable ({type(exc).__name__}); {what} let through",
                  request_id=st.rid)
        return {"allowed": True}


async def _heartbeat(env: Env, st: _Signal, body: dict[str, Any], cfg: dict[str, Any]) -> JSONResponse:
    """A TradingView heartbeat: recorded for the watchdog, never a signal, never executed."""
    db = env.DB
    st.outcome = "Heartbeat"

    async def refused(status: int, code: str, message: str, details: Any = None,
                      headers: dict[str, str] | None = None) -> ApiError:
        # Refused, but authenticated: the source still sends, so it counts for the watchdog.
        await db.batch([*st.take_watch(), lifecycle.log_statement(db, env, "warning", f"heartbeat refused: {message}",
                                                                   st.rid, {"code": code})])
        return ApiError(status, code, message, details, headers={REQUEST_ID_HEADER: st.rid, **(headers or {})})

    unknown = [k for k in body if k not in HEARTBEAT_FIELDS]
    issues = [{"field": field_name(k), "issue": "A heartbeat carries only apiKey, action and strategy."}
              for k in unknown]
    strategy: str | None = None
    if body.get("strategy") is not None:
        try:
            strategy = strategy_name(body["strategy"])
        except ValueError as exc:
            issues.append({"field": "strategy", "issue": str(exc)})
    if issues:
        raise await refused(400, VALIDATION_ERROR, "Invalid heartbeat: nothing was recorded as a heartbeat.", issues)
    limit = cfg[settings.RATE_LIMIT]
    verdict = await _hit(env, st, HEARTBEAT_LIMITER_OBJECT, limit, "heartbeat")
    if not verdict["allowed"]:
        retry = int(verdict["retryAfter"])
        raise await refused(429, RATE_LIMITED, f"Too many heartbeats: at most {limit} per rolling minute "
                                               f"(webhooks:rate_limit_per_minute). Retry in {retry} s.",
                            headers={"Retry-After": str(retry)})
    sources = [watchdog_record.WEBHOOK_SOURCE, *([strategy] if strategy else [])]
    await db.batch([*st.take_watch(), lifecycle.log_statement(db, env, "debug", "heartbeat", st.rid,
                                                               {"sources": sources})])
    return JSONResponse({"success": True, "requestId": st.rid, "status": "Heartbeat",
                         "message": f"Heartbeat recorded for {', '.join(sources)}; nothing is executed.",
                         "sources": sources, "result": None, "error": None},
                        headers={REQUEST_ID_HEADER: st.rid})


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
    st = _Signal(rid)
    try:
        response = await _process(request, env, st)
        if st.authenticated:
            st.outcome = _outcome_of(response)
        return response
    except ApiError as exc:
        if st.outcome in ("Received", "Delivered"):
            st.outcome = exc.code
        raise
    except Exception as exc:
        if st.authenticated:
            with contextlib.suppress(Exception):
                await lifecycle.reject(env, rid, INTERNAL_ERROR, f"gateway error ({type(exc).__name__})",
                                       frm=(lifecycle.RECEIVED,))
        await log(env, "error", f"webhook failed: {type(exc).__name__}", request_id=rid)
        raise ApiError(500, INTERNAL_ERROR, f"Internal error in the gateway ({type(exc).__name__}).",
                       headers={REQUEST_ID_HEADER: rid}) from None
    finally:
        # The request itself is recorded by the api-call middleware (shared/app.py); what only the
        # gateway knows is the signal.
        if st.authenticated and not st.heartbeat:
            point: dict[str, Any] = {"exchange": st.label("exchange"), "symbol": st.label("symbol"),
                     "action": st.label("action"), "outcome": st.outcome}
            if st.signal is not None and st.signal.quantity is not None:
                point["quantity"] = st.signal.quantity
            await calls.track(env, "signal", point, request_id=rid)


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
    # The operator API: what the CLI and the cockpit stand on (Bearer OPERATOR_API_KEY on every route).
    Mount("/v1", routes=[*operator_api.routes, *stream.routes]),
]

app = make_app(WORKER, routes)
