"""trade-worker: the execution engine.

One code path (`execute`) serves `POST /process` (the gateway's direct call) and the
`trade-execution` queue consumer. For a request id it places at most one order, ever:

1. `trades.request_id` is UNIQUE. A request already Filled answers its recorded result, one
   already Rejected its recorded rejection; neither touches the exchange.
2. The TRADE_PENDING row (client order id derived from the request id, attempts + 1) is written
   before any exchange call. A pending (or dead-lettered, then re-driven) row means an earlier
   attempt may have reached the exchange, so the exchange is asked for the order by client order
   id first and that order is recorded if it exists. A `duplicate_order` answer is handled the
   same way. The exchange itself refuses a second order with the same client order id.
3. A fill is recorded in one D1 batch: trade, position, balance snapshot, the signal's status and
   the "order filled" log row. The batch is guarded (see `ledger.fill_statements`): if another
   writer got there first it fails as a whole and the outcome is re-read instead.

Retryable exchange failures answer 503 (the gateway queues the signal) and, in the queue, are
retried on KV `webhooks:retry_schedule_seconds`, then dead-lettered to TRADE_DLQ with a critical
alert. Rejections are recorded, alerted and never retried.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import uuid
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hoox_edge import exchanges, ledger
from hoox_edge.exchanges import live
from hoox_edge.exchanges.base import ExchangeError, ExchangeProvider, OrderRequest, OrderResult
from hoox_edge.ledger import FAILED, FILLED, REJECTED, dec, fmt
from hoox_edge.ports import Env, MessageBatch, QueueMessage
from hoox_edge.shared import calls, clock, settings
from hoox_edge.shared import signal as signals
from hoox_edge.shared.app import env_of, envelope_request_id, json_body, make_app, payload_of
from hoox_edge.shared.auth import require_internal
from hoox_edge.shared.errors import (
    EXCHANGE_ERROR,
    EXCHANGE_UNAVAILABLE,
    NO_OPEN_POSITION,
    VALIDATION_ERROR,
    ApiError,
    ok,
)
from hoox_edge.shared.logs import log
from hoox_edge.shared.redact import redact
from hoox_edge.shared.signal import Signal, SignalError

WORKER = "trade-worker"
MAX_QUEUE_DELAY = 12 * 3600  # Cloudflare Queues' longest retry delay
RECORD_TRIES = 5  # fill batches retried when a concurrent fill moved the position first


# --------------------------------------------------------------------------- errors
class Retryable(ApiError):
    """The exchange could not take the order now (outage, rate limit, timeout): try again later."""

    def __init__(self, message: str, exc: ExchangeError) -> None:
        retry_after = exc.retry_after
        headers = {"Retry-After": str(math.ceil(retry_after))} if retry_after else None
        # A timeout may have reached the exchange: the caller must not treat it as "nothing placed".
        details = {"retryable": True, "retryAfter": retry_after, "exchangeCode": exc.code, "kind": exc.kind,
                   "orderMayExist": exc.kind == "timeout"}
        super().__init__(503, EXCHANGE_UNAVAILABLE, message, details=details, headers=headers)
        self.retry_after = retry_after


def _rejection(code: str, message: str, exchange_code: str | None = None) -> ApiError:
    if code == EXCHANGE_ERROR:
        details = {"retryable": False, "exchangeCode": exchange_code}
        return ApiError(502, EXCHANGE_ERROR, message, details=details)
    if code == NO_OPEN_POSITION:
        return ApiError(422, NO_OPEN_POSITION, message)
    return ApiError(400, VALIDATION_ERROR, message, details=[{"field": "quantity", "issue": message}])


def replay(row: dict[str, Any]) -> dict[str, Any]:
    """The recorded outcome of a finished request: its result, or its rejection raised again."""
    if row["status"] == FILLED:
        return ledger.trade_result(row)
    code, message = ledger.split_error(row.get("error"))
    raise _rejection(code or EXCHANGE_ERROR, message or "The order was rejected.")


# --------------------------------------------------------------------------- the signal
def parse_signal(payload: Any) -> Signal:
    """The gateway validated the signal already; this guards the internal API against bad callers
    with the same rules, plus what only an execution decides (spot cannot short or lever)."""
    if not isinstance(payload, dict):
        raise ApiError(400, VALIDATION_ERROR, "payload must be a signal object.")
    source = payload.get("source")
    # Other fields (`source`, what a caller adds) are not the signal's: ignored here, as the
    # leverage cap (trade:max_leverage) is the gateway's to apply.
    fields = {k: v for k, v in payload.items() if k in signals.ACCEPTED_FIELDS}
    try:
        sig = signals.parse_signal(fields, max_leverage=math.inf,
                                   source=source if isinstance(source, str) and source else "webhook")
    except SignalError as exc:
        raise ApiError(400, VALIDATION_ERROR, "The signal is not valid.", details=exc.details) from None
    issues: list[dict[str, str]] = []
    if sig.market == "spot" and sig.action == "SHORT":
        issues.append({"field": "market", "issue": "spot cannot open a SHORT: send market futures"})
    if sig.market == "spot" and sig.leverage > 1:
        issues.append({"field": "leverage", "issue": "spot trades without leverage: send 1 or market futures"})
    if issues:
        raise ApiError(400, VALIDATION_ERROR, "The signal is not valid.", details=issues)
    return sig


async def route(env: Env, signal: Signal) -> str:
    """KV `exchanges:routing:{SYMBOL}`, else the signal's exchange, else `exchanges:default_routing`."""
    override = await settings.get(env.CONFIG_KV, f"exchanges:routing:{signal.symbol}")
    if override:
        return override
    return signal.exchange or await settings.get(env.CONFIG_KV, "exchanges:default_routing")


async def _provider(env: Env, exchange: str, mode: str, market: str = "futures") -> ExchangeProvider:
    p = exchanges.provider_for(env, exchange, mode, market)
    return await p if inspect.isawaitable(p) else p


# --------------------------------------------------------------------------- one execution
class _Execution:
    def __init__(self, env: Env, rid: str, payload: dict[str, Any], signal: Signal) -> None:
        self.env = env
        self.db = env.DB
        self.rid = rid
        self.payload = payload
        self.signal = signal
        self.client_order_id = exchanges.client_order_id(rid)
        self.exchange = ""
        self.mode = ""
        self.attempt = 1
        self.order: OrderRequest | None = None
        self._provider: ExchangeProvider | None = None

    async def provider(self) -> ExchangeProvider:
        """The exchange's provider, made once per execution (a live one keeps its connection)."""
        if self._provider is None:
            self._provider = await _provider(self.env, self.exchange, self.mode, self.signal.market)
            if hasattr(self._provider, "request_id"):
                self._provider.request_id = self.rid  # ties its request logs and data points to the signal
        return self._provider

    @property
    def label(self) -> str:
        s = self.signal
        return f"{self.mode} {self.exchange} {s.action} {s.symbol}"

    def _log_details(self, **extra: Any) -> dict[str, Any]:
        d: dict[str, Any] = {"exchange": self.exchange, "symbol": self.signal.symbol,
                             "action": self.signal.action, "mode": self.mode,
                             "clientOrderId": self.client_order_id, "attempt": self.attempt}
        d.update(extra)
        return d

    async def run(self) -> dict[str, Any]:
        try:
            return await self._run()
        finally:
            aclose = getattr(self._provider, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):  # closing must not change the recorded outcome
                    await aclose()

    async def _run(self) -> dict[str, Any]:
        sig = self.signal
        row = await ledger.get_trade(self.db, self.rid)
        if row is not None and row["status"] not in ledger.RETRIABLE_STATES:
            return self._replay(row)
        if row is not None:  # an earlier attempt: stay on the venue it may have reached
            self.exchange, self.mode = row["exchange"], row["mode"]
            self.attempt = int(row["attempts"]) + 1
        else:
            self.exchange = await route(self.env, sig)
            self.mode = await settings.get(self.env.CONFIG_KV, "trade:mode")

        pos = await ledger.open_position(self.db, self.exchange, sig.symbol)
        if sig.action == "CLOSE" and pos is None and row is None:
            pos = await self._adopt_exchange_position()
            if pos is None:
                return await self._no_position(recorded=False)
        if sig.action == "CLOSE":
            side = ledger.side_for("CLOSE", pos.side) if pos else row["side"]  # type: ignore[index]
            planned = float(pos.size) if pos else float(row["quantity"])  # type: ignore[index]
        else:
            side = ledger.side_for(sig.action)
            planned = float(sig.quantity or 0)

        now = clock.iso()
        started = await ledger.begin_attempt(
            self.db, trade_id=str(uuid.uuid4()), request_id=self.rid, exchange=self.exchange,
            symbol=sig.symbol, action=sig.action, side=side, order_type=sig.orderType, quantity=planned,
            leverage=sig.leverage, client_order_id=self.client_order_id, mode=self.mode, now=now)
        if not started:  # another attempt recorded an outcome in between
            final = await ledger.get_trade(self.db, self.rid)
            return self._replay(final)  # type: ignore[arg-type]

        try:
            provider = await self.provider()
            if row is not None:
                found = await provider.get_order(sig.symbol, self.client_order_id)
                if found is not None:
                    await log(self.env, "info", f"Order {found.order_id} found by client order id on retry",
                              request_id=self.rid, details=self._log_details(orderId=found.order_id,
                                                                             status=found.status))
                    return await self._record(provider, found)
            return await self._place(provider, pos)
        except ExchangeError as exc:
            if exc.retryable:
                return await self._retryable(exc)
            return await self._rejected(EXCHANGE_ERROR, exc.message, exc.code, exchange_error=exc)

    async def _place(self, provider: ExchangeProvider, pos: ledger.PositionState | None) -> dict[str, Any]:
        sig = self.signal
        if sig.action == "CLOSE":
            if pos is None:
                return await self._no_position(recorded=True)
            side = ledger.side_for("CLOSE", pos.side)
            qty: Decimal = pos.size  # exactly the open size: it came from fills on the step
        else:
            side = ledger.side_for(sig.action)
            rules = await provider.instrument(sig.symbol)
            price = sig.price if sig.orderType == "LIMIT" else await provider.ticker(sig.symbol)
            sizing = ledger.size_order(
                symbol=sig.symbol, quantity=sig.quantity or 0, quantity_type=sig.quantityType,
                leverage=sig.leverage, price=price, qty_step=rules.qty_step, min_qty=rules.min_qty,
                min_notional=rules.min_notional)
            if sizing.rejection:
                return await self._rejected(VALIDATION_ERROR, sizing.rejection, None)
            qty = sizing.quantity

        await ledger.set_order_plan(self.db, self.rid, side=side, quantity=ledger.num(qty),
                                    leverage=sig.leverage, now=clock.iso())
        if sig.action != "CLOSE" and sig.market == "futures":
            # Set on every opening futures order, 1x included: an exchange keeps a symbol's last
            # leverage, so a 1x signal after a 10x one would otherwise trade at 10x.
            if sig.leverage > 1:
                # Margin mode first: exchanges refuse to change it under a leverage they do not expect.
                margin_mode = await settings.get(self.env.CONFIG_KV, "trade:margin_mode")
                await provider.set_margin_mode(sig.symbol, margin_mode)
            await provider.set_leverage(sig.symbol, sig.leverage)

        self.order = OrderRequest(
            symbol=sig.symbol, side=side, quantity=ledger.num(qty), client_order_id=self.client_order_id,
            order_type=sig.orderType,  # type: ignore[arg-type]
            price=sig.price, reduce_only=sig.action == "CLOSE", leverage=sig.leverage,
            market=sig.market)  # type: ignore[arg-type]
        await log(self.env, "info", f"Order sent: {self.label} {side} {fmt(qty)}", request_id=self.rid,
                  details=self._log_details(side=side, quantity=ledger.num(qty), orderType=sig.orderType,
                                            reduceOnly=sig.action == "CLOSE", leverage=sig.leverage))
        try:
            result = await provider.place_order(self.order)
        except ExchangeError as exc:
            if exc.kind != "duplicate_order":
                raise
            # The exchange already holds an order with this id (an earlier or concurrent attempt).
            found = await provider.get_order(sig.symbol, self.client_order_id)
            if found is None:
                raise ExchangeError("unavailable", "the exchange reported a duplicate client order id but "
                                    "does not return that order yet", exc.code) from exc
            result = found
        return await self._record(provider, result)

    async def _adopt_exchange_position(self) -> ledger.PositionState | None:
        """CLOSE with no open position in the ledger: close the exchange's own position instead.

        The exchange's position (side, size, entry price, leverage) is written to the ledger as an
        open position first, so the closing fill then settles it like any other: realised P&L
        against the exchange's entry price, and no phantom opposite position."""
        sig = self.signal
        try:
            found = [p for p in await (await self.provider()).positions(sig.symbol)
                     if p.symbol.upper() == sig.symbol and p.size > 0]
        except ExchangeError as exc:
            if exc.retryable:
                await self._retryable(exc)
            text = exc.message if exc.code is None else f"{exc.message} (exchange code {exc.code})"
            await ledger.signal_status_statement(self.db, self.rid, REJECTED, text, clock.iso()).run()
            await log(self.env, "warning", f"Rejected: {self.label}: {text}", request_id=self.rid,
                      details=self._log_details(code=EXCHANGE_ERROR, exchangeCode=exc.code))
            await calls.alert(self.env, f"{self.label} rejected: {text}", level="warning", request_id=self.rid)
            raise _rejection(EXCHANGE_ERROR, text, exc.code) from None
        if not found:
            return None
        p = found[0]
        now = clock.iso()
        await self.db.prepare(
            "INSERT OR IGNORE INTO positions (exchange, symbol, side, size, entry_price, leverage, mode, status,"
            " request_id, opened_at, updated_at) VALUES (?,?,?,?,?,?,?,'OPEN',?,?,?)"
        ).bind(self.exchange, sig.symbol, p.side, p.size, p.entry_price, p.leverage or 1, self.mode,
               self.rid, now, now).run()
        await log(self.env, "info", f"No {sig.symbol} position in the ledger: closing the exchange's "
                  f"{p.side} {fmt(p.size)} at entry {fmt(p.entry_price)}", request_id=self.rid,
                  details=self._log_details(exchangePosition={"side": p.side, "size": p.size,
                                                              "entryPrice": p.entry_price}))
        return await ledger.open_position(self.db, self.exchange, sig.symbol)

    # ------------------------------------------------------------------ outcomes
    def _replay(self, row: dict[str, Any]) -> dict[str, Any]:
        return replay(row)

    async def _no_position(self, *, recorded: bool) -> dict[str, Any]:
        sig = self.signal
        msg = f"No open {sig.symbol} position on {self.exchange} ({self.mode}) to close."
        now = clock.iso()
        if recorded:
            await ledger.finish(self.db, self.rid, REJECTED, ledger.coded_error(NO_OPEN_POSITION, msg), now)
        else:  # nothing was sent or started: only the signal's row records it
            await ledger.signal_status_statement(self.db, self.rid, REJECTED, msg, now).run()
        await log(self.env, "warning", f"Rejected: {msg}", request_id=self.rid, details=self._log_details())
        await calls.alert(self.env, f"{self.label} rejected: {msg}", level="warning", request_id=self.rid)
        raise _rejection(NO_OPEN_POSITION, msg)

    async def _rejected(self, code: str, message: str, exchange_code: str | None, *,
                        exchange_error: ExchangeError | None = None) -> dict[str, Any]:
        text = message if exchange_code is None else f"{message} (exchange code {exchange_code})"
        done = await ledger.finish(self.db, self.rid, REJECTED, ledger.coded_error(code, text), clock.iso())
        if not done:  # recorded by a concurrent attempt meanwhile
            final = await ledger.get_trade(self.db, self.rid)
            return self._replay(final)  # type: ignore[arg-type]
        await log(self.env, "warning", f"Order rejected: {self.label}: {text}", request_id=self.rid,
                  details=self._log_details(code=code, exchangeCode=exchange_code))
        await calls.alert(self.env, f"{self.label} rejected: {text}", level="warning", request_id=self.rid)
        response = {"error": {"code": code, "message": text, "exchangeCode": exchange_code,
                              "kind": exchange_error.kind if exchange_error else None}}
        await self._store_log(REJECTED, response)
        raise _rejection(code, text, exchange_code)

    async def _retryable(self, exc: ExchangeError) -> dict[str, Any]:
        text = f"{exc.message} (exchange code {exc.code})" if exc.code else exc.message
        error = ledger.coded_error(EXCHANGE_UNAVAILABLE, text)
        await ledger.note_error(self.db, self.rid, error, clock.iso())
        await log(self.env, "warning", f"Exchange unavailable for {self.label} ({exc.kind}): {text}",
                  request_id=self.rid, details=self._log_details(kind=exc.kind, retryAfter=exc.retry_after))
        raise Retryable(f"{self.exchange} ({self.mode}) could not take the order now: {text}", exc)

    async def _record(self, provider: ExchangeProvider, result: OrderResult) -> dict[str, Any]:
        if result.executed_qty <= 0 or result.avg_price is None:
            if result.status in ("Rejected", "Cancelled"):
                return await self._rejected(EXCHANGE_ERROR, f"the exchange {result.status.lower()} order "
                                            f"{result.order_id}", None)
            return await self._resting(result)

        balance = None
        try:
            b = await provider.balance("USDT")
            balance = (b.asset, b.free, b.locked)
        except Exception as exc:  # the fill must be recorded even when the snapshot is unavailable
            await log(self.env, "warning",
                      f"Balance snapshot unavailable after the fill ({type(exc).__name__})",
                      request_id=self.rid, details=self._log_details())

        sig = self.signal
        fill = ledger.Fill(side=result.side, quantity=dec(result.executed_qty), price=dec(result.avg_price),
                           fee=dec(result.fee), leverage=dec(sig.leverage))
        outcome: ledger.FillOutcome | None = None
        for _ in range(RECORD_TRIES):
            before = await ledger.open_position(self.db, self.exchange, sig.symbol)
            outcome = ledger.apply_fill(before, fill)
            message = (f"Order filled: {self.label} {result.side} {fmt(fill.quantity)} at {fmt(fill.price)}"
                       f" (order {result.order_id})")
            rec = ledger.FillRecord(
                request_id=self.rid, exchange=self.exchange, symbol=sig.symbol, mode=self.mode,
                order_id=result.order_id, executed_qty=fill.quantity, avg_price=fill.price, fee=fill.fee,
                before=before, outcome=outcome, balance=balance, now=clock.iso(), worker=self.env.worker,
                log_message=message,
                log_details=redact(self._log_details(
                    orderId=result.order_id, side=result.side, executedQty=result.executed_qty,
                    price=result.avg_price, fee=result.fee, realizedPnl=ledger.num(outcome.realized_pnl),
                ), self.env.secret_values()))
            try:
                await self.db.batch(ledger.fill_statements(self.db, rec))
                break
            except Exception:
                row = await ledger.get_trade(self.db, self.rid)
                if row is not None and row["status"] not in ledger.RETRIABLE_STATES:
                    return self._replay(row)  # another attempt recorded it
                now_pos = await ledger.open_position(self.db, self.exchange, sig.symbol)
                if (now_pos and now_pos.request_id) == (before and before.request_id):
                    raise  # nothing moved: a real failure of the ledger
        else:
            raise RuntimeError("the position kept changing while this fill was recorded")

        row = await ledger.get_trade(self.db, self.rid)
        assert row is not None and outcome is not None
        res = ledger.trade_result(row)
        await self._after_fill(res, result, outcome, balance)
        return res

    async def _resting(self, result: OrderResult) -> dict[str, Any]:
        """A limit order the exchange keeps on its book: accepted, nothing filled yet."""
        note = (f"order {result.order_id} rests on the exchange's book ({result.status}); resting limit "
                "orders are not tracked in this version: the fill is recorded when this request is "
                "processed again")
        await ledger.note_error(self.db, self.rid, ledger.coded_error("ORDER_RESTING", note), clock.iso())
        await log(self.env, "info", f"Order accepted, not filled yet: {self.label}: {note}",
                  request_id=self.rid,
                  details=self._log_details(orderId=result.order_id, status=result.status))
        return {"orderId": result.order_id, "clientOrderId": self.client_order_id, "status": result.status,
                "exchange": self.exchange, "symbol": self.signal.symbol, "side": result.side,
                "action": self.signal.action, "executedQty": result.executed_qty, "price": result.avg_price,
                "fee": result.fee, "mode": self.mode, "timestamp": clock.iso()}

    async def _after_fill(self, res: dict[str, Any], result: OrderResult, outcome: ledger.FillOutcome,
                          balance: tuple[str, float, float] | None) -> None:
        """Best effort: the request log, the alert and the data point never fail a recorded trade."""
        sig = self.signal
        open_after = outcome.open_after
        await self._store_log(FILLED, {"order": asdict(result)}, ledger_view={
            "trade": res,
            "realizedPnl": ledger.num(outcome.realized_pnl),
            "positionAfter": None if open_after is None else {
                "side": open_after.side, "size": ledger.num(open_after.size),
                "entryPrice": ledger.num(open_after.entry_price)},
            "balance": None if balance is None else {
                "asset": balance[0], "free": balance[1], "locked": balance[2]},
        })
        msg = f"{self.label} {fmt(result.executed_qty)} filled at {fmt(result.avg_price or 0)}"
        if outcome.realized_pnl:
            msg += f", realised P&L {fmt(outcome.realized_pnl)} USDT"
        await calls.alert(self.env, msg, level="info", request_id=self.rid)
        await calls.track(self.env, "trade", {
            "exchange": self.exchange, "symbol": sig.symbol, "side": result.side,
            "quantity": result.executed_qty, "price": result.avg_price, "fee": result.fee,
            "status": FILLED, "mode": self.mode}, request_id=self.rid)

    async def _store_log(self, outcome: str, response: dict[str, Any], *,
                         ledger_view: dict[str, Any] | None = None) -> None:
        await store_request_log(self.env, self.rid, self.exchange, self.signal.symbol, {
            "requestId": self.rid, "worker": self.env.worker, "outcome": outcome, "exchange": self.exchange,
            "symbol": self.signal.symbol, "mode": self.mode, "attempt": self.attempt,
            "request": {"signal": self.payload, "order": asdict(self.order) if self.order else None},
            "response": response, "ledger": ledger_view, "recordedAt": clock.iso(),
        })


def request_log_key(exchange: str, symbol: str, request_id: str, ts: float | None = None) -> str:
    return f"trades/{exchange or 'unrouted'}/{symbol or 'unknown'}/{clock.iso(ts)[:10]}/{request_id}.json"


async def store_request_log(env: Env, request_id: str, exchange: str, symbol: str,
                            doc: dict[str, Any]) -> None:
    """The verbose request/response JSON to R2, secrets redacted. Never raises."""
    bucket = env.get("SYSTEM_LOGS_BUCKET")
    if bucket is None:
        return
    try:
        text = json.dumps(redact(doc, env.secret_values()), default=str, indent=2)
        await bucket.put(request_log_key(exchange, symbol, request_id), text, content_type="application/json")
    except Exception as exc:
        await log(env, "warning", f"Could not store the request log in R2 ({type(exc).__name__})",
                  request_id=request_id)


async def execute(env: Env, request_id: str, payload: Any) -> dict[str, Any]:
    """Execute a signal once per request id. Returns the result of a fill; raises `ApiError` otherwise
    (`Retryable` for a failure worth retrying; any other `ApiError` is final and recorded)."""
    if not isinstance(request_id, str) or not request_id.strip():
        raise ApiError(400, VALIDATION_ERROR, "requestId is required.")
    row = await ledger.get_trade(env.DB, request_id)
    if row is not None and row["status"] not in ledger.RETRIABLE_STATES:
        # A re-delivery (queue retry, re-drive): answered from the ledger, the exchange is not asked.
        await log(env, "info", f"Request already {row['status']}: answered from the ledger, no new order",
                  request_id=request_id, details={"tradeId": row["id"], "attempts": row["attempts"]})
        return replay(row)
    try:
        signal = parse_signal(payload)
    except ApiError as exc:
        now = clock.iso()
        await ledger.signal_status_statement(env.DB, request_id, REJECTED, exc.message, now).run()
        await log(env, "warning", f"Rejected an invalid signal: {exc.message}", request_id=request_id,
                  details={"issues": exc.details})
        raise
    return await _Execution(env, request_id, payload, signal).run()


# --------------------------------------------------------------------------- HTTP
async def process(request: Request) -> JSONResponse:
    require_internal(request)
    env = env_of(request)
    body = await json_body(request)
    payload = payload_of(body)
    # The signal's request id keys its ledger row: taken from the envelope, else the header; never made up.
    given = body.get("requestId") or request.headers.get("X-Request-Id")
    rid = envelope_request_id({"requestId": given}, request) if given else None
    result = await execute(env, rid, payload)
    return ok(result, request_id=rid)


async def health(request: Request) -> JSONResponse:
    env = env_of(request)
    checks: dict[str, str] = {}
    mode = None
    try:
        await env.DB.prepare("SELECT 1 AS ok").first()
        checks["db"] = "ok"
    except Exception as exc:
        checks["db"] = f"error ({type(exc).__name__})"
    try:
        mode = await settings.get(env.CONFIG_KV, "trade:mode")
        checks["kv"] = "ok"
    except Exception as exc:
        checks["kv"] = f"error ({type(exc).__name__})"
    healthy = all(v == "ok" for v in checks.values())
    return ok({"worker": env.worker, "status": "healthy" if healthy else "degraded", "mode": mode,
               "checks": checks, "exchanges": await exchange_status(env, mode)}, status=200 if healthy else 503)


async def exchange_status(env: Env, mode: str | None) -> list[dict[str, Any]]:
    """Per exchange: are its API keys set (never their values), where live orders go, and whether
    signals routed to it trade live now (trade:mode live and keys set)."""
    out = []
    for name in settings.EXCHANGES:
        has_keys = live.credentials(env, name) is not None
        try:
            base_url = await settings.get(env.CONFIG_KV, f"exchanges:{name}:base_url")
            testnet = await settings.get(env.CONFIG_KV, f"exchanges:{name}:testnet")
            endpoint = "custom" if base_url else "testnet" if testnet else "production"
        except Exception:
            endpoint = "invalid setting"
        out.append({"name": name, "credentials": has_keys, "secrets": list(live.secret_names(name)),
                    "endpoint": endpoint, "live": mode == "live" and has_keys})
    return out


app = make_app(WORKER, [
    Route("/process", process, methods=["POST"]),
    Route("/health", health, methods=["GET"]),
])


# --------------------------------------------------------------------------- queue
async def retry_schedule(env: Env) -> list[int]:
    try:
        return list(await settings.get(env.CONFIG_KV, "webhooks:retry_schedule_seconds"))
    except Exception:  # a corrupt setting must not lose messages: fall back to the default
        return list(settings.lookup("webhooks:retry_schedule_seconds").default)  # type: ignore[union-attr]


async def queue(batch: MessageBatch, env: Env) -> None:
    """Consumer of `trade-execution`: the same path as /process, retried on the KV schedule."""
    for message in batch.messages:
        await consume(env, message)


async def consume(env: Env, message: QueueMessage) -> None:
    body = message.body
    rid = body.get("requestId") if isinstance(body, dict) else None
    payload = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(rid, str) or not rid or not isinstance(payload, dict):
        # It can never run; keep it where an operator sees it instead of retrying it.
        await _dead_letter(env, message, rid if isinstance(rid, str) else None, payload,
                           "malformed queue message: expected {requestId, payload}")
        return
    sig = payload
    await log(env, "info", f"Queued signal picked up (delivery {message.attempts}): "
                           f"{sig.get('action', '?')} {sig.get('symbol', '?')}",
              request_id=rid, details={"attempt": message.attempts, "messageId": message.id,
                                       "reason": body.get("reason")})
    try:
        await execute(env, rid, payload)
        message.ack()
    except Retryable as exc:
        await _retry_or_dead_letter(env, message, rid, payload, exc.message, exc.retry_after)
    except ApiError:
        message.ack()  # rejected: recorded and alerted by execute, never retried
    except Exception as exc:
        await log(env, "error", f"Unexpected {type(exc).__name__} while executing a queued signal",
                  request_id=rid, details={"attempt": message.attempts})
        await _retry_or_dead_letter(env, message, rid, payload, f"internal error ({type(exc).__name__})",
                                    None)


async def _retry_or_dead_letter(env: Env, message: QueueMessage, rid: str, payload: Any, error: str,
                                retry_after: float | None) -> None:
    schedule = await retry_schedule(env)
    n = message.attempts
    if n <= len(schedule):
        delay = min(MAX_QUEUE_DELAY, max(schedule[n - 1], math.ceil(retry_after or 0)))
        message.retry(delay_seconds=delay)
        await log(env, "warning", f"Retry {n}/{len(schedule)} scheduled in {delay}s: {error}", request_id=rid,
                  details={"attempt": n, "delaySeconds": delay, "retryAfter": retry_after})
        return
    await _dead_letter(env, message, rid, payload, error)


async def _dead_letter(env: Env, message: QueueMessage, rid: str | None, payload: Any, error: str) -> None:
    """To TRADE_DLQ, then the ledger and a critical alert; acked only once the DLQ holds it."""
    try:
        await env.TRADE_DLQ.send({"requestId": rid, "payload": payload, "lastError": error,
                                  "attempts": message.attempts, "deadLetteredAt": clock.iso()})
    except Exception as exc:
        await log(env, "error", f"Could not dead-letter the message ({type(exc).__name__}); retrying it",
                  request_id=rid)
        schedule = await retry_schedule(env)
        message.retry(delay_seconds=min(MAX_QUEUE_DELAY, schedule[-1] if schedule else 60))
        return
    text = f"gave up after {message.attempts} attempts: {error}"
    try:
        if rid:
            error = ledger.coded_error(EXCHANGE_UNAVAILABLE, text)
            await ledger.finish(env.DB, rid, FAILED, error, clock.iso())
    except Exception as exc:  # the DLQ holds the message; the ledger catches up on a re-drive
        await log(env, "error", f"Could not mark the trade Failed ({type(exc).__name__})", request_id=rid)
    sig = payload if isinstance(payload, dict) else {}
    what = f"{sig.get('action', '?')} {sig.get('symbol', '?')}"
    await log(env, "critical", f"Dead-lettered {what}: {text}", request_id=rid,
              details={"attempts": message.attempts, "queue": "trade-execution-dlq"})
    await calls.alert(env, f"Trade {what} dead-lettered after {message.attempts} attempts: {error}. "
                      f"Request {rid}; it is in the dead-letter queue.", level="critical", request_id=rid)
    message.ack()

