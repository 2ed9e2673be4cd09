"""Placing a signal's order, once, and recording what the exchange did with it.

`execute` serves trade-worker's `POST /process`, its queue consumer, a resend's resume and the
desk's own orders (flatten). For a request id it places at most one order, ever (see
`hoox_edge.lifecycle` for the states and the lease):

1. A signal in a final state answers its recorded outcome; a resting one its order; one whose
   order attempt holds a live lease answers "in progress" (`InProgress`). Nothing reaches the exchange.
2. The attempt takes the order's lease (the TRADE_PENDING row, with the planned order) before any
   exchange call. Taking over an earlier attempt, it first asks the exchange for the order by its
   client order id and records that order if it exists; it then places the *same* planned order.
   A `duplicate_order` answer is handled the same way.
3. `record_order` records what the exchange reports: a fill (or the new part of a partial fill)
   in one guarded D1 batch — trade, position of the mode's book, balance snapshot, the signal's
   state and the log row —, an order resting on the book, or its end (cancelled, expired, rejected).

Retryable exchange failures raise `Retryable` (503: the gateway queues the signal, the queue retries
it on KV `webhooks:retry_schedule_seconds`); rejections are recorded, alerted and never retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
from decimal import Decimal
from typing import Any

from hoox_edge import exchanges, ledger, lifecycle
from hoox_edge.alerts import outbox
from hoox_edge.exchanges.base import ExchangeError, ExchangeProvider, OrderRequest, OrderResult
from hoox_edge.ledger import dec, fmt
from hoox_edge.lifecycle import FILLED, PENDING, RESTING, Attempt
from hoox_edge.ports import Env
from hoox_edge.shared import calls, clock, settings
from hoox_edge.shared.errors import (
    EXCHANGE_ERROR,
    EXCHANGE_UNAVAILABLE,
    KILL_SWITCH_ACTIVE,
    NO_OPEN_POSITION,
    VALIDATION_ERROR,
    ApiError,
)
from hoox_edge.shared.logs import log
from hoox_edge.shared.redact import has_credential_word, redact_json
from hoox_edge.shared.signal import Signal, SignalError
from hoox_edge.shared.telemetry import TradeEvent

RECORD_TRIES = 5  # fill batches retried when a concurrent fill moved the position first
MODES = ("paper", "live")
# A desk order's reason: the operator's words (at most 64) and room for what names the action ("flatten: ").
MAX_REASON = 80
DESK_SOURCES = ("operator", "risk")  # orders the desk sends itself, each for a position of a known exchange
_LOG_JSON = json.JSONEncoder(default=str, separators=(",", ":"))  # json.dumps with options builds one a call
_DETAILS_JSON = json.JSONEncoder(default=str)  # a log row's details, as json.dumps(details, default=str) writes them
# What the exchange's order status means for the signal (an order rejected after it traded keeps its fills).
_END_OF = {"Filled": lifecycle.FILLED, "Cancelled": lifecycle.CANCELLED, "Expired": lifecycle.EXPIRED,
           "Rejected": lifecycle.CANCELLED}


# --------------------------------------------------------------------------- errors and answers
class Retryable(ApiError):
    """The exchange could not take the order now (outage, rate limit, timeout): try again later."""

    def __init__(self, message: str, exc: ExchangeError, *, order_may_exist: bool = False) -> None:
        retry_after = exc.retry_after
        headers = {"Retry-After": str(math.ceil(retry_after))} if retry_after else None
        # A timeout may have reached the exchange, and so may an earlier attempt's order until its
        # deadline: the caller must not treat either as "nothing placed".
        details = {"retryable": True, "retryAfter": retry_after, "exchangeCode": exc.code, "kind": exc.kind,
                   "orderMayExist": order_may_exist or exc.kind == "timeout"}
        super().__init__(503, EXCHANGE_UNAVAILABLE, message, details=details, headers=headers)
        self.retry_after = retry_after


class InProgress(Exception):
    """Another attempt holds the order's lease: it is being placed or recorded right now."""

    def __init__(self, request_id: str, lease_until: str | None, message: str | None = None) -> None:
        super().__init__(message or f"request {request_id} is being executed by another attempt (lease until "
                                    f"{lease_until})")
        self.request_id = request_id
        self.lease_until = lease_until


def rejection(code: str | None, message: str, exchange_code: str | None = None) -> ApiError:
    """The error a rejected signal answers with (also when its outcome is replayed)."""
    if code == NO_OPEN_POSITION:
        return ApiError(422, NO_OPEN_POSITION, message)
    if code == VALIDATION_ERROR:
        return ApiError(400, VALIDATION_ERROR, message, details=[{"field": "quantity", "issue": message}])
    if code is None or code == EXCHANGE_ERROR:
        return ApiError(502, EXCHANGE_ERROR, message, details={"retryable": False, "exchangeCode": exchange_code})
    # NOT_PLACED, DUPLICATE_REQUEST, KILL_SWITCH_ACTIVE, ...: decided before any order existed.
    return ApiError(409 if code == "DUPLICATE_REQUEST" else 422, code, message)


def replay(state: lifecycle.SignalState) -> dict[str, Any]:
    """The recorded outcome of a signal: the order's result (Filled, or Resting / ended with what
    filled), or its rejection raised again."""
    if state.trade is not None and state.status in (FILLED, RESTING, lifecycle.CANCELLED, lifecycle.EXPIRED):
        return ledger.trade_result(state.trade)
    if state.status == lifecycle.DEAD_LETTERED:
        raise ApiError(503, EXCHANGE_UNAVAILABLE, state.error or "dead-lettered after its retries",
                       details={"retryable": False, "deadLettered": True})
    raise rejection(state.error_code, state.error or "The order was rejected.")


# --------------------------------------------------------------------------- the signal
def parse_signal(payload: Any) -> tuple[Signal, dict[str, Any]]:
    """The signal of a `/process` payload, and the desk's own extras (`mode`, `reason`, `source`).

    The gateway parsed and normalised a webhook signal already; this guards the internal API against
    bad callers (a signal not in its normal form is refused), plus what only an execution decides
    (spot cannot short or lever).
    `mode` (paper | live) pins the book an order of the desk itself belongs to (flatten closes a
    live position while the desk trades paper); a signal from outside trades in `trade:mode`.
    """
    if not isinstance(payload, dict):
        raise ApiError(400, VALIDATION_ERROR, "payload must be a signal object.")
    source = payload.get("source")
    extras: dict[str, Any] = {"source": source if isinstance(source, str) and source else "webhook",
                              "mode": payload.get("mode"), "reason": payload.get("reason")}
    issues: list[dict[str, str]] = []
    if extras["mode"] is not None and extras["mode"] not in MODES:
        issues.append({"field": "mode", "issue": "must be paper or live"})
    reason = extras["reason"]
    if reason is not None and not (isinstance(reason, str) and 0 < len(reason) <= MAX_REASON and reason.isprintable()
                                   and not has_credential_word(reason)):
        issues.append({"field": "reason", "issue": f"must be printable text of at most {MAX_REASON} characters, "
                                                   "without a key-like word"})
    # Parsed once, by its sender: checked here, never normalised again (`Signal.from_payload`). Other
    # fields (what a caller adds) are not the signal's: ignored here, as the leverage cap
    # (trade:max_leverage) is the gateway's to apply.
    try:
        sig = Signal.from_payload(payload, source=extras["source"])
    except SignalError as exc:
        raise ApiError(400, VALIDATION_ERROR, "The signal is not valid.", details=exc.details + issues) from None
    if sig.market == "spot" and sig.action == "SHORT":
        issues.append({"field": "market", "issue": "spot cannot open a SHORT: send market futures"})
    if sig.market == "spot" and sig.leverage > 1:
        issues.append({"field": "leverage", "issue": "spot trades without leverage: send 1 or market futures"})
    if issues:
        raise ApiError(400, VALIDATION_ERROR, "The signal is not valid.", details=issues)
    return sig, extras


async def route(env: Env, signal: Signal) -> str:
    """KV `exchanges:routing:{SYMBOL}`, else the signal's exchange, else `exchanges:default_routing`."""
    override = await settings.get(env.CONFIG_KV, settings.routing_of(signal.symbol))
    if override:
        return override
    return signal.exchange or await settings.get(env.CONFIG_KV, settings.DEFAULT_ROUTING)


async def provider(env: Env, exchange: str, mode: str, market: str = "futures", *,
                   request_id: str | None = None) -> ExchangeProvider:
    p = await exchanges.provider_for(env, exchange, mode, market)
    if request_id and hasattr(p, "request_id"):
        p.request_id = request_id  # ties its request logs and data points to the signal
    return p


async def close_provider(p: ExchangeProvider | None) -> None:
    aclose = getattr(p, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):  # closing must not change a recorded outcome
            await aclose()


# --------------------------------------------------------------------------- one execution
class _Execution:
    def __init__(self, env: Env, rid: str, payload: dict[str, Any], signal: Signal, extras: dict[str, Any],
                 state: lifecycle.SignalState | None) -> None:
        self.env = env
        self.state = state  # as `execute` read it
        self.db = env.DB
        self.rid = rid
        self.payload = payload
        self.signal = signal
        self.extras = extras
        self.client_order_id = exchanges.client_order_id(rid)
        self.exchange = ""
        self.mode = ""
        self.attempt_no = 1
        self.order: OrderRequest | None = None
        # The signal as this attempt's lease left it (the trade row the lease batch returned): what
        # `record_order` would read back. The fill's batch is guarded, so a row moved meanwhile fails it.
        self.leased: lifecycle.SignalState | None = None
        self._provider: ExchangeProvider | None = None

    async def provider(self) -> ExchangeProvider:
        """The exchange's provider, made once per execution (a live one keeps its connection)."""
        if self._provider is None:
            self._provider = await provider(self.env, self.exchange, self.mode, self.signal.market,
                                            request_id=self.rid)
        return self._provider

    @property
    def label(self) -> str:
        s = self.signal
        return f"{self.mode} {self.exchange} {s.action} {s.symbol}"

    def details(self, **extra: Any) -> dict[str, Any]:
        d: dict[str, Any] = {"exchange": self.exchange, "symbol": self.signal.symbol, "action": self.signal.action,
                             "mode": self.mode, "clientOrderId": self.client_order_id, "attempt": self.attempt_no}
        if self.extras.get("reason"):
            d["reason"] = self.extras["reason"]
        d.update(extra)
        return d

    async def run(self) -> dict[str, Any]:
        try:
            return await self._run()
        finally:
            await close_provider(self._provider)

    async def _run(self) -> dict[str, Any]:
        sig = self.signal
        state = self.state
        trade = state.trade if state is not None else None
        if trade is not None and trade["status"] == RESTING:
            return ledger.trade_result(trade)  # the order follower owns it now
        if trade is not None and lifecycle.lease_alive(self.env, trade):
            raise InProgress(self.rid, trade.get("lease_until"))

        if trade is not None:  # an earlier attempt: stay on its venue, send the same order
            self.exchange, self.mode = trade["exchange"], trade["mode"]
            self.attempt_no = int(trade["attempts"]) + 1
            side, qty, limit = trade["side"], dec(trade["quantity"]), trade.get("limit_price")
            if (halt := await self._halted()) is not None:
                return await self._halted_takeover(trade, halt)
        else:
            # The desk's own orders (flatten, the risk manager) close a position on its own exchange.
            own = self.extras.get("source") in DESK_SOURCES and sig.exchange
            self.exchange = sig.exchange if own else await route(self.env, sig)  # type: ignore[assignment]
            self.mode = self.extras.get("mode") or await settings.get(self.env.CONFIG_KV, settings.TRADE_MODE)
            if (halt := await self._halted()) is not None:  # before any order exists: final, nothing placed
                return await self._reject(KILL_SWITCH_ACTIVE, halt, None)
            try:
                planned = await self._plan()
            except ExchangeError as exc:
                if exc.retryable:  # nothing was placed: only the sizing reads were tried
                    await log(self.env, "warning", f"Exchange unavailable for {self.label} ({exc.kind}): "
                              f"{_text(exc)}", request_id=self.rid, details=self.details(kind=exc.kind))
                    raise Retryable(f"{self.exchange} ({self.mode}) could not take the order now: {_text(exc)}",
                                    exc) from None
                return await self._reject(EXCHANGE_ERROR, _text(exc), exc.code, exc)
            if isinstance(planned, ApiError):
                return await self._reject(planned.code, planned.message, None)
            side, qty, limit = planned

        attempt = Attempt(lifecycle.owner(self.env), clock.iso())
        opening_futures = sig.action != "CLOSE" and sig.market == "futures"
        self.order = OrderRequest(
            symbol=sig.symbol, side=side, quantity=ledger.num(qty), client_order_id=self.client_order_id,
            order_type=sig.orderType,
            price=limit, reduce_only=sig.action == "CLOSE", leverage=sig.leverage,
            market=sig.market,
            # Every opening futures order sets its leverage, 1x included; above 1x the margin mode too.
            margin_mode=await settings.get(self.env.CONFIG_KV, settings.MARGIN_MODE)
            if opening_futures and sig.leverage > 1 else None,
            apply_leverage=opening_futures)
        what = "Retrying order" if trade is not None else "Order sent"
        res = await self.db.batch(lifecycle.begin_attempt_statements(
            self.db, request_id=self.rid, exchange=self.exchange, symbol=sig.symbol, action=sig.action,
            side=side, order_type=sig.orderType, quantity=ledger.num(qty), limit_price=limit, leverage=sig.leverage,
            client_order_id=self.client_order_id, mode=self.mode, reason=self.extras.get("reason"), seen=trade,
            attempt=attempt,
            log=lifecycle.log_statement(self.db, self.env, "info", f"{what}: {self.label} {side} {fmt(qty)}",
                                        self.rid, self.details(side=side, quantity=ledger.num(qty),
                                                               orderType=sig.orderType, price=limit,
                                                               reduceOnly=sig.action == "CLOSE",
                                                               leverage=sig.leverage))))
        if not res[0]["meta"].get("changes"):  # another attempt took the order first
            return await _answer_of(self.env, self.rid)
        if self.state is not None and res[0]["results"] and res[1]["meta"].get("changes"):
            self.leased = dataclasses.replace(self.state, status=lifecycle.EXECUTING, trade=res[0]["results"][0])

        try:
            p = await self.provider()
            if trade is not None:
                found = await p.get_order(sig.symbol, self.client_order_id)
                if found is not None:
                    await log(self.env, "info", f"Order {found.order_id} found by client order id on retry",
                              request_id=self.rid, details=self.details(orderId=found.order_id, status=found.status))
                    return await record_order(self.env, self.rid, found, provider=p, context=self)
            return await self._place(p)
        except ExchangeError as exc:
            if exc.retryable:
                text = _text(exc)
                await lifecycle.attempt_failed(self.db, self.rid, attempt,
                                               ledger.coded_error(EXCHANGE_UNAVAILABLE, text),
                                               to_queue=self.extras.get("queued", False))
                await log(self.env, "warning", f"Exchange unavailable for {self.label} ({exc.kind}): {text}",
                          request_id=self.rid, details=self.details(kind=exc.kind, retryAfter=exc.retry_after))
                earlier = trade is not None and not lifecycle.placement_deadline_passed(self.env, trade)
                raise Retryable(f"{self.exchange} ({self.mode}) could not take the order now: {text}", exc,
                                order_may_exist=earlier) from None
            return await self._reject(EXCHANGE_ERROR, _text(exc), exc.code, exc)

    async def _halted(self) -> str | None:
        """Why the kill switch refuses this order, or None. The gateway refuses a new signal at its
        door; this refuses one that was past it when the switch went on (queued, a dead letter
        replayed, a resend or a re-delivery), so no new order is placed while the switch is on. The
        desk's own closes (flatten, the risk manager's stops and drawdown) reduce risk: they go through."""
        if self.extras.get("source") in DESK_SOURCES and self.signal.action == "CLOSE":
            return None
        return await halt_reason(self.env)

    async def _halted_takeover(self, trade: dict[str, Any], halt: str) -> dict[str, Any]:
        """The kill switch is on and an earlier attempt may have placed the order: the order is looked
        up by its client order id and recorded when it exists (recording, not placing). Otherwise the
        signal is refused once no earlier request can reach the exchange any more; until then it is
        left as it is ("in progress": the queue looks again at the deadline, else the reconciler)."""
        p = await self.provider()
        earlier = not lifecycle.placement_deadline_passed(self.env, trade)
        try:
            found = await p.get_order(self.signal.symbol, self.client_order_id)
        except ExchangeError as exc:  # not known whether an earlier attempt placed it: not decided
            raise Retryable(f"{self.exchange} ({self.mode}) could not be asked for the order of an earlier "
                            f"attempt: {_text(exc)}", exc, order_may_exist=earlier) from None
        if found is not None:
            await log(self.env, "info", f"Order {found.order_id} found by client order id (kill switch on: "
                      "recorded, nothing placed)", request_id=self.rid,
                      details=self.details(orderId=found.order_id, status=found.status))
            return await record_order(self.env, self.rid, found, provider=p)
        if earlier:
            deadline = lifecycle.placement_deadline(self.env, trade)
            raise InProgress(self.rid, clock.iso(deadline), (
                f"{halt}. Request {self.rid} is not placed again; an earlier attempt's order could still reach "
                f"the exchange until {clock.iso(deadline)}, so it is looked up again then."))
        return await self._reject(KILL_SWITCH_ACTIVE, f"{halt} (an earlier attempt placed nothing)", None,
                                  attempts=int(trade["attempts"]))

    async def _plan(self) -> tuple[str, Decimal, float | None] | ApiError:
        """(side, quantity, limit price) of a new order, or the rejection that stops it. Reads only
        (the book's position only for a CLOSE: an opening order is sized from the signal)."""
        sig = self.signal
        if sig.action == "CLOSE":
            pos = await ledger.open_position(self.db, self.mode, self.exchange, sig.symbol)
            if pos is None:
                pos = await self._adopt_exchange_position()
            if pos is None:
                return ApiError(422, NO_OPEN_POSITION,
                                f"No open {sig.symbol} position on {self.exchange} ({self.mode}) to close.")
            # Exactly the open size of this book: it came from fills on the step. The risk manager's
            # take-profits close a share of it (rounded to the step by the risk manager). A LIMIT close
            # keeps its price: a reduce-only order resting on the book, followed like any other.
            limit = sig.price if sig.orderType == "LIMIT" else None
            if sig.quantity and self.extras.get("source") == "risk":
                return ledger.side_for("CLOSE", pos.side), min(dec(sig.quantity), pos.size), limit
            return ledger.side_for("CLOSE", pos.side), pos.size, limit
        p = await self.provider()
        rules = await p.instrument(sig.symbol)
        price = sig.price if sig.orderType == "LIMIT" else await p.ticker(sig.symbol)
        sizing = ledger.size_order(
            symbol=sig.symbol, quantity=sig.quantity or 0, quantity_type=sig.quantityType, leverage=sig.leverage,
            price=price, qty_step=rules.qty_step, min_qty=rules.min_qty, min_notional=rules.min_notional)
        if sizing.rejection:
            return ApiError(400, VALIDATION_ERROR, sizing.rejection)
        return ledger.side_for(sig.action), sizing.quantity, sig.price if sig.orderType == "LIMIT" else None

    async def _place(self, p: ExchangeProvider) -> dict[str, Any]:
        sig = self.signal
        assert self.order is not None
        try:
            result = await p.place_order(self.order)
        except ExchangeError as exc:
            if exc.kind != "duplicate_order":
                raise
            # The exchange already holds an order with this id (an earlier or concurrent attempt).
            found = await p.get_order(sig.symbol, self.client_order_id)
            if found is None:
                raise ExchangeError("unavailable", "the exchange reported a duplicate client order id but "
                                    "does not return that order yet", exc.code) from exc
            result = found
        return await record_order(self.env, self.rid, result, provider=p, context=self)

    async def _adopt_exchange_position(self) -> ledger.PositionState | None:
        """CLOSE with no open position in the book: close the exchange's own position instead.

        The exchange's position (side, size, entry price, leverage) is written to the book first,
        so the closing fill then settles it like any other: realised P&L against the exchange's
        entry price, and no phantom opposite position."""
        sig = self.signal
        found = [p for p in await (await self.provider()).positions(sig.symbol)
                 if p.symbol.upper() == sig.symbol and p.size > 0]
        if not found:
            return None
        p = found[0]
        now = clock.iso()
        await self.db.prepare(
            "INSERT OR IGNORE INTO positions (exchange, symbol, side, size, entry_price, leverage, mode, status,"
            " request_id, opened_at, updated_at) VALUES (?,?,?,?,?,?,?,'OPEN',?,?,?)"
        ).bind(self.exchange, sig.symbol, p.side, p.size, p.entry_price, p.leverage or 1, self.mode,
               self.rid, now, now).run()
        await log(self.env, "info", f"No {sig.symbol} position in the {self.mode} book: closing the exchange's "
                  f"{p.side} {fmt(p.size)} at entry {fmt(p.entry_price)}", request_id=self.rid,
                  details=self.details(exchangePosition={"side": p.side, "size": p.size, "entryPrice": p.entry_price}))
        return await ledger.open_position(self.db, self.mode, self.exchange, sig.symbol)

    async def _reject(self, code: str, message: str, exchange_code: str | None,
                      exc: ExchangeError | None = None, *, attempts: int | None = None) -> dict[str, Any]:
        # With `attempts`: only while no attempt started since the order row was read.
        if not await lifecycle.reject(self.env, self.rid, code, message, attempts=attempts):
            return await _answer_of(self.env, self.rid)
        await log(self.env, "warning", f"Rejected: {self.label}: {message}", request_id=self.rid,
                  details=self.details(code=code, exchangeCode=exchange_code))
        await calls.alert(self.env, f"{self.label} rejected: {message}", level="warning", request_id=self.rid)
        if exc is not None or self.order is not None:
            await self.store_log(lifecycle.REJECTED, {"error": {
                "code": code, "message": message, "exchangeCode": exchange_code,
                "kind": exc.kind if exc else None}})
        raise rejection(code, message, exchange_code)

    async def store_log(self, outcome: str, response: dict[str, Any], *,
                        ledger_view: dict[str, Any] | None = None) -> None:
        await store_request_log(self.env, self.rid, self.exchange, self.signal.symbol, {
            "requestId": self.rid, "worker": self.env.worker, "outcome": outcome, "exchange": self.exchange,
            "symbol": self.signal.symbol, "mode": self.mode, "attempt": self.attempt_no,
            "request": {"signal": self.payload, "order": dict(vars(self.order)) if self.order else None},
            "response": response, "ledger": ledger_view, "recordedAt": clock.iso(),
        })


async def halt_reason(env: Env) -> str | None:
    """The kill switch's refusal (as the gateway words it), or None while it is off. A value that
    cannot be read halts trading, as at the gateway (fail safe)."""
    try:
        on = await settings.get(env.CONFIG_KV, settings.KILL_SWITCH)
    except settings.SettingError as exc:
        return f"Trading halted: {settings.KILL_SWITCH} holds an invalid value ({exc})"
    if not on:
        return None
    try:
        reason = await settings.get(env.CONFIG_KV, settings.KILL_SWITCH_REASON)
    except settings.SettingError:
        reason = None
    return f"Trading halted: the kill switch ({settings.KILL_SWITCH}) is on. Reason: {reason or 'no reason given'}"


def _text(exc: ExchangeError) -> str:
    return exc.message if exc.code is None else f"{exc.message} (exchange code {exc.code})"


async def _answer_of(env: Env, rid: str) -> dict[str, Any]:
    """Someone else moved this signal while we looked: answer whatever it is now."""
    state = await lifecycle.load(env.DB, rid)
    assert state is not None
    if state.final or state.status == RESTING:
        return replay(state)
    raise InProgress(rid, (state.trade or {}).get("lease_until"))


# --------------------------------------------------------------------------- recording an order's state
async def record_order(env: Env, rid: str, result: OrderResult, *, provider: ExchangeProvider,
                       context: _Execution | None = None) -> dict[str, Any]:
    """Record what the exchange reports of a request's order: a fill or the new part of one, the
    order resting, or its end. Used by the execution, the order follower, cancels and the reconciler;
    safe to repeat (a state already recorded changes nothing). Returns the trade's result; raises
    the rejection of an order the exchange rejected with nothing filled."""
    db = env.DB
    state = context.leased if context is not None else None
    if context is not None:
        context.leased = None  # once: a later look (a retry, a duplicate order found) reads again
    if state is None:
        state = await lifecycle.load(db, rid)
    assert state is not None and state.trade is not None
    trade = state.trade
    label = f"{trade['mode']} {trade['exchange']} {trade['action']} {trade['symbol']}"
    prev = dec(trade.get("filled_qty") or 0)
    executed = dec(result.executed_qty)
    ended = _END_OF.get(result.status)

    if executed <= prev or result.avg_price is None:
        if state.final:
            return replay(state)
        if ended is None:  # nothing new: resting (or still), followed from now on
            if trade["status"] == PENDING:
                return await _resting(env, state, result, label)
            return ledger.trade_result(trade)
        if prev == 0 and result.status == "Rejected":
            text = f"the exchange rejected order {result.order_id}"
            if context is not None:
                return await context._reject(EXCHANGE_ERROR, text, None)
            moved = await lifecycle.reject(env, rid, EXCHANGE_ERROR, text, frm=lifecycle.OPEN)
        else:
            text = f"order {result.order_id} {ended.lower()} on the exchange" + (
                f" after {fmt(prev)} filled" if prev else " with nothing filled")
            moved = await lifecycle.finish(env, rid, ended, None, text, frm=lifecycle.OPEN)
        if moved:
            await log(env, "info", f"Order ended: {label}: {text}", request_id=rid,
                      details={"orderId": result.order_id, "status": result.status})
            await calls.alert(env, f"{label}: {text}", level="info", request_id=rid)
        return await _answer_of(env, rid)

    # A fill, or the new part of one: price and fee of the increment from the cumulative figures.
    prev_avg, prev_fee = dec(trade.get("price") or 0), dec(trade.get("fee") or 0)
    delta = executed - prev
    avg = dec(result.avg_price)
    delta_price = (avg * executed - prev_avg * prev) / delta if prev else avg
    delta_fee = max(dec(result.fee) - prev_fee, Decimal(0))
    status_after = ended or RESTING
    balance = None
    try:
        b = await provider.balance("USDT")
        balance = (b.asset, b.free, b.locked)
    except Exception as exc:  # the fill must be recorded even when the snapshot is unavailable
        await log(env, "warning", f"Balance snapshot unavailable after the fill ({type(exc).__name__})",
                  request_id=rid)
    fill = ledger.Fill(side=trade["side"], quantity=delta, price=delta_price, fee=delta_fee,
                       leverage=dec(trade.get("leverage") or 1))
    outcome: ledger.FillOutcome | None = None
    for _ in range(RECORD_TRIES):
        before = await ledger.open_position(db, trade["mode"], trade["exchange"], trade["symbol"])
        outcome = ledger.apply_fill(before, fill)
        part = "" if status_after == FILLED and not prev else f" (now {fmt(executed)} of {fmt(trade['quantity'])})"
        message = (f"Order filled: {label} {trade['side']} {fmt(delta)} at {fmt(delta_price)}{part}"
                   f" (order {result.order_id})")
        details = {"orderId": result.order_id, "side": trade["side"], "executedQty": ledger.num(executed),
                   "fillQty": ledger.num(delta), "price": ledger.num(delta_price), "fee": ledger.num(delta_fee),
                   "realizedPnl": ledger.num(outcome.realized_pnl), "mode": trade["mode"],
                   "exchange": trade["exchange"], "symbol": trade["symbol"], "status": status_after,
                   "clientOrderId": trade["client_order_id"],
                   # The book's position before and after this fill: the timeline's position change.
                   "positionBefore": _position_view(before), "positionAfter": _position_view(outcome.open_after)}
        totals = (executed, avg, dec(result.fee), dec(trade.get("realized_pnl") or 0) + outcome.realized_pnl)
        rec = lifecycle.FillRecord(
            request_id=rid, exchange=trade["exchange"], symbol=trade["symbol"], mode=trade["mode"],
            order_id=result.order_id, fill=fill, before=before, outcome=outcome,
            trade_from=(PENDING, RESTING, lifecycle.DEAD_LETTERED), prev_filled=prev, status_after=status_after,
            totals=totals, balance=balance, now=clock.iso(), worker=env.worker, log_message=message,
            log_details=redact_json(details, env.secret_values(), encoder=_DETAILS_JSON))
        alert = f"{label} {fmt(delta)} filled at {fmt(delta_price)}"
        if outcome.realized_pnl:
            alert += f", realised P&L {fmt(outcome.realized_pnl)} USDT"
        try:
            # The alert's row is part of the fill: it exists exactly when the fill does.
            await db.batch([*lifecycle.fill_statements(db, rec),
                            outbox.raised_statement(env, alert, level="info", request_id=rid, now=rec.now)])
            break
        except Exception:
            now_state = await lifecycle.load(db, rid)
            assert now_state is not None and now_state.trade is not None
            if dec(now_state.trade.get("filled_qty") or 0) != prev or now_state.final:
                return await _answer_of(env, rid)  # another writer recorded it
            now_pos = await ledger.open_position(db, trade["mode"], trade["exchange"], trade["symbol"])
            if (now_pos and now_pos.request_id) == (before and before.request_id):
                raise  # nothing moved: a real failure of the ledger
    else:
        raise RuntimeError("the position kept changing while this fill was recorded")

    assert outcome is not None
    # The row as the batch left it (nothing else can have moved it: the batch was guarded).
    res = ledger.trade_result({**trade, "status": status_after, "order_id": result.order_id,
                               "filled_qty": ledger.num(totals[0]), "price": ledger.num(totals[1]),
                               "fee": ledger.num(totals[2]), "realized_pnl": ledger.num(totals[3]),
                               "updated_at": rec.now})
    await _after_fill(env, rid, res, result, outcome, balance, delta, delta_price, context)
    return res


def _position_view(p: ledger.PositionState | None) -> dict[str, Any] | None:
    """An open position as a fill's log details carry it (None: flat)."""
    if p is None:
        return None
    return {"side": p.side, "size": ledger.num(p.size), "entryPrice": ledger.num(p.entry_price)}


async def _resting(env: Env, state: lifecycle.SignalState, result: OrderResult, label: str) -> dict[str, Any]:
    db = env.DB
    ttl = await settings.get(env.CONFIG_KV, settings.RESTING_ORDER_TTL)
    expires = clock.iso(clock.now() + ttl * 60) if ttl else None
    note = (f"order {result.order_id} rests on the exchange's book; it is followed until it fills, is "
            f"cancelled" + (f" or expires at {expires}" if expires else ""))
    await db.batch(lifecycle.resting_statements(
        db, state.request_id, result.order_id, note, lifecycle.log_statement(
            db, env, "info", f"Order resting: {label}: {note}", state.request_id,
            {"orderId": result.order_id, "status": result.status}), expires))
    await calls.alert(env, f"{label}: {note}", level="info", request_id=state.request_id)
    return await _answer_of(env, state.request_id)


async def _after_fill(env: Env, rid: str, res: dict[str, Any], result: OrderResult, outcome: ledger.FillOutcome,
                      balance: tuple[str, float, float] | None, qty: Decimal, price: Decimal,
                      context: _Execution | None) -> None:
    """Best effort: the request log, the alert's delivery and the data point never fail a recorded trade."""
    open_after = outcome.open_after
    view = {
        "trade": res, "realizedPnl": ledger.num(outcome.realized_pnl),
        "positionAfter": None if open_after is None else {
            "side": open_after.side, "size": ledger.num(open_after.size),
            "entryPrice": ledger.num(open_after.entry_price)},
        "balance": None if balance is None else {"asset": balance[0], "free": balance[1], "locked": balance[2]},
    }
    if context is not None:
        stored = context.store_log(FILLED, {"order": dict(vars(result))}, ledger_view=view)
    else:
        stored = store_request_log(env, rid, res["exchange"], res["symbol"], {
            "requestId": rid, "worker": env.worker, "outcome": res["status"], "exchange": res["exchange"],
            "symbol": res["symbol"], "mode": res["mode"], "response": {"order": dict(vars(result))}, "ledger": view,
            "recordedAt": clock.iso()})
    # Side by side: neither raises. The alert's row was written with the fill; telegram-worker routes and sends it.
    await asyncio.gather(stored, calls.drain_alerts(env, request_id=rid))
    await calls.track(env, "trade", TradeEvent(
        worker=env.worker, exchange=res["exchange"], symbol=res["symbol"], side=res["side"], quantity=ledger.num(qty),
        price=ledger.num(price), fee=res["fee"], status=res["status"], mode=res["mode"]), request_id=rid)


# --------------------------------------------------------------------------- request logs
def request_log_key(exchange: str, symbol: str, request_id: str, recorded_at: str) -> str:
    """The log's R2 key, under the day it was recorded (its `recordedAt`)."""
    return f"trades/{exchange or 'unrouted'}/{symbol or 'unknown'}/{recorded_at[:10]}/{request_id}.json"


async def store_request_log(env: Env, request_id: str, exchange: str, symbol: str, doc: dict[str, Any]) -> None:
    """The verbose request/response JSON to R2, secrets redacted. Never raises."""
    bucket = env.get("SYSTEM_LOGS_BUCKET")
    if bucket is None:
        return
    try:
        text = redact_json(doc, env.secret_values(), encoder=_LOG_JSON)
        await bucket.put(request_log_key(exchange, symbol, request_id, doc["recordedAt"]), text,
                         content_type="application/json")
    except Exception as exc:
        await log(env, "warning", f"Could not store the request log in R2 ({type(exc).__name__})",
                  request_id=request_id)


# --------------------------------------------------------------------------- entry
async def execute(env: Env, request_id: Any, payload: Any, *, queued: bool = False) -> dict[str, Any]:
    """Execute a signal once per request id. Returns the order's result (Filled, or Resting);
    raises `InProgress` while another attempt holds it, `Retryable` for a failure worth retrying,
    any other `ApiError` for a final rejection (recorded)."""
    if not isinstance(request_id, str) or not request_id.strip() or len(request_id) > 128:
        raise ApiError(400, VALIDATION_ERROR, "requestId is required (at most 128 characters).")
    state = await lifecycle.load(env.DB, request_id)
    if state is not None and state.final:
        # A re-delivery (queue retry, resend): answered from the ledger, the exchange is not asked.
        await log(env, "info", f"Request already {state.status}: answered from the ledger, no new order",
                  request_id=request_id)
        return replay(state)
    if state is None:  # a direct caller of trade-worker: the signal gets its row here
        await lifecycle.ensure(env.DB, request_id, payload, env.secret_values())
        state = await lifecycle.load(env.DB, request_id)
    try:
        signal, extras = parse_signal(payload)
    except ApiError as exc:
        await lifecycle.reject(env, request_id, VALIDATION_ERROR, exc.message)
        await log(env, "warning", f"Rejected an invalid signal: {exc.message}", request_id=request_id,
                  details={"issues": exc.details})
        raise
    extras["queued"] = queued
    return await _Execution(env, request_id, payload, signal, extras, state).run()
