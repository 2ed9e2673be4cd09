"""Telemetry data points: the layout of every kind (`api-call`, `signal`, `trade`, `exchange-call`).

A worker writes its own points straight to its `ANALYTICS_ENGINE` binding (`shared.calls.track`),
as Cloudflare's `writeDataPoint` is fire-and-forget; analytics-worker's `POST /track/{kind}` writes
the same layout for a caller without the binding. The layout is documented in
`hoox_edge.workers.analytics`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hoox_edge.ports import index_of
from hoox_edge.shared.checks import Fields, boolean, number, optional, text, whole
from hoox_edge.shared.errors import VALIDATION_ERROR, ApiError

MAX_BLOB = 1024  # keep each blob small: the whole point has a 16 KB blob budget

_NAME = text(min_len=1)
_LABEL = optional(text())
_AMOUNT = number(ge=0)
_STATUS = optional(whole)
_OPTIONAL_AMOUNT = optional(_AMOUNT)  # the checks are made once, not on every point
_NUMBER = number()
_OPTIONAL_NUMBER = optional(_NUMBER)


@dataclass(frozen=True, kw_only=True)
class ApiCall:
    worker: str
    endpoint: str
    latencyMs: float
    success: bool
    status: int | None = None
    startedAtMs: float | None = None

    @classmethod
    def parse(cls, raw: Any) -> ApiCall:
        f = Fields(raw)
        return f.build(cls, worker=f.required("worker", _NAME),
                       endpoint=f.required("endpoint", _NAME),
                       latencyMs=f.required("latencyMs", _AMOUNT),
                       success=f.required("success", boolean),
                       status=f.optional("status", _STATUS, None),
                       startedAtMs=f.optional("startedAtMs", _OPTIONAL_AMOUNT, None))


@dataclass(frozen=True, kw_only=True)
class SignalEvent:
    worker: str | None = None
    exchange: str | None = None
    symbol: str | None = None
    action: str | None = None
    outcome: str
    quantity: float | None = None

    @classmethod
    def parse(cls, raw: Any) -> SignalEvent:
        f = Fields(raw)
        return f.build(cls, worker=f.optional("worker", _LABEL, None),
                       exchange=f.optional("exchange", _LABEL, None),
                       symbol=f.optional("symbol", _LABEL, None),
                       action=f.optional("action", _LABEL, None),
                       outcome=f.required("outcome", _NAME),
                       quantity=f.optional("quantity", _OPTIONAL_NUMBER, None))


@dataclass(frozen=True, kw_only=True)
class TradeEvent:
    worker: str | None = None
    exchange: str
    symbol: str
    side: str | None = None  # unknown when the order failed before a side was chosen
    quantity: float
    price: float | None = None
    fee: float = 0.0
    status: str
    mode: str

    @classmethod
    def parse(cls, raw: Any) -> TradeEvent:
        f = Fields(raw)
        return f.build(cls, worker=f.optional("worker", _LABEL, None),
                       exchange=f.required("exchange", _NAME),
                       symbol=f.required("symbol", _NAME),
                       side=f.optional("side", _LABEL, None),
                       quantity=f.required("quantity", _AMOUNT),
                       price=f.optional("price", _OPTIONAL_AMOUNT, None),
                       fee=f.optional("fee", _NUMBER, 0.0),
                       status=f.required("status", _NAME),
                       mode=f.required("mode", _NAME))


@dataclass(frozen=True, kw_only=True)
class ExchangeCall:
    worker: str | None = None
    exchange: str
    operation: str
    latencyMs: float
    success: bool
    status: int | None = None
    errorKind: str | None = None
    mode: str | None = None

    @classmethod
    def parse(cls, raw: Any) -> ExchangeCall:
        f = Fields(raw)
        return f.build(cls, worker=f.optional("worker", _LABEL, None),
                       exchange=f.required("exchange", _NAME),
                       operation=f.required("operation", _NAME),
                       latencyMs=f.required("latencyMs", _AMOUNT),
                       success=f.required("success", boolean),
                       status=f.optional("status", _STATUS, None),
                       errorKind=f.optional("errorKind", _LABEL, None),
                       mode=f.optional("mode", _LABEL, None))


Layout = tuple[str, list[str], list[float]]  # worker, blobs after it, doubles


def _s(v: str | None) -> str:
    return (v or "")[:MAX_BLOB]


def _api_call(p: ApiCall) -> Layout:
    doubles = [p.latencyMs, float(p.status or 0), 1.0 if p.success else 0.0]
    if p.startedAtMs is not None:
        doubles.append(p.startedAtMs)
    return p.worker, [p.endpoint, "ok" if p.success else "error"], doubles


def _signal(p: SignalEvent) -> Layout:
    return p.worker or "hoox", [_s(p.exchange), _s(p.symbol), _s(p.action), p.outcome], [p.quantity or 0.0]


def _trade(p: TradeEvent) -> Layout:
    price = p.price or 0.0
    return (p.worker or "trade-worker", [p.exchange, p.symbol, _s(p.side), p.status, p.mode],
            [p.quantity, price, p.fee, p.quantity * price])


def _exchange_call(p: ExchangeCall) -> Layout:
    outcome = "ok" if p.success else (p.errorKind or "error")
    return (p.worker or "trade-worker", [p.exchange, p.operation, outcome, _s(p.mode)],
            [p.latencyMs, 1.0 if p.success else 0.0, float(p.status or 0)])


Event = ApiCall | SignalEvent | TradeEvent | ExchangeCall
# kind -> (its event, lay the point out)
KINDS: dict[str, tuple[type[Event], Callable[[Any], Layout]]] = {
    "api-call": (ApiCall, _api_call),
    "signal": (SignalEvent, _signal),
    "trade": (TradeEvent, _trade),
    "exchange-call": (ExchangeCall, _exchange_call),
}


def exchange_call_point(*, worker: str, exchange: str, operation: str, outcome: str, mode: str, rate: str,
                        latency_ms: float, status: int, budget: float | None, started_ms: int,
                        request_id: str | None) -> dict[str, Any]:
    """The `exchange-call` point a connector writes for each call it makes (live and paper alike):
    blobs kind, worker, exchange, operation, outcome ("ok" or the error kind), mode, rate-limit
    headers (JSON); doubles latency ms, success, HTTP status (0: none, as for the paper exchange),
    remaining rate budget (-1: not reported), start (epoch ms: it orders a signal's timeline)."""
    return {"blobs": ["exchange-call", worker, exchange, operation, outcome, mode, rate],
            "doubles": [round(latency_ms, 3), 1.0 if outcome == "ok" else 0.0, float(status),
                        -1.0 if budget is None else float(budget), float(started_ms)],
            "indexes": [index_of(request_id)]}


def data_point(kind: str, payload: Any, request_id: str) -> dict[str, Any]:
    """The data point for a tracked event: `payload` a JSON object, checked (`checks.Invalid` with
    every field's problem), or the event itself, made by the worker that writes it (typed: not checked
    again). ApiError 400 when a figure (or quantity × price) is not finite."""
    event, layout = KINDS[kind]
    worker, blobs, doubles = layout(payload if isinstance(payload, event) else event.parse(payload))
    index = index_of(request_id)
    for d in doubles:
        if not math.isfinite(d):
            raise ApiError(400, VALIDATION_ERROR, "Telemetry numbers must be finite.")
    return {"blobs": [kind, _s(worker), *(_s(b) for b in blobs)], "doubles": doubles, "indexes": [index]}

