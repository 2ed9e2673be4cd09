"""Telemetry data points: the layout of every kind (`api-call`, `signal`, `trade`, `exchange-call`).

A worker writes its own points straight to its `ANALYTICS_ENGINE` binding (`shared.calls.track`),
as Cloudflare's `writeDataPoint` is fire-and-forget; analytics-worker's `POST /track/{kind}` writes
the same layout for a caller without the binding. The layout is documented in
`hoox_edge.workers.analytics`.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from hoox_edge.ports import index_of
from hoox_edge.shared.errors import VALIDATION_ERROR, ApiError

MAX_BLOB = 1024  # keep each blob small: the whole point has a 16 KB blob budget


class ApiCall(BaseModel):
    worker: str = Field(min_length=1)
    endpoint: str = Field(min_length=1)
    latencyMs: float = Field(ge=0)
    success: bool
    status: int | None = None


class SignalEvent(BaseModel):
    worker: str | None = None
    exchange: str | None = None
    symbol: str | None = None
    action: str | None = None
    outcome: str = Field(min_length=1)
    quantity: float | None = None


class TradeEvent(BaseModel):
    worker: str | None = None
    exchange: str = Field(min_length=1)
    symbol: str = Field(min_length=1)
    side: str | None = None  # unknown when the order failed before a side was chosen
    quantity: float = Field(ge=0)
    price: float | None = Field(default=None, ge=0)
    fee: float = 0.0
    status: str = Field(min_length=1)
    mode: str = Field(min_length=1)


class ExchangeCall(BaseModel):
    worker: str | None = None
    exchange: str = Field(min_length=1)
    operation: str = Field(min_length=1)
    latencyMs: float = Field(ge=0)
    success: bool
    status: int | None = None
    errorKind: str | None = None
    mode: str | None = None


def _s(v: str | None) -> str:
    return (v or "")[:MAX_BLOB]


def _api_call(p: ApiCall) -> tuple[str, list[str], list[float]]:
    return p.worker, [p.endpoint, "ok" if p.success else "error"], [p.latencyMs, float(p.status or 0),
                                                                      1.0 if p.success else 0.0]


def _signal(p: SignalEvent) -> tuple[str, list[str], list[float]]:
    return p.worker or "hoox", [_s(p.exchange), _s(p.symbol), _s(p.action), p.outcome], [p.quantity or 0.0]


def _trade(p: TradeEvent) -> tuple[str, list[str], list[float]]:
    price = p.price or 0.0
    return (p.worker or "trade-worker", [p.exchange, p.symbol, _s(p.side), p.status, p.mode],
            [p.quantity, price, p.fee, p.quantity * price])


def _exchange_call(p: ExchangeCall) -> tuple[str, list[str], list[float]]:
    outcome = "ok" if p.success else (p.errorKind or "error")
    return (p.worker or "trade-worker", [p.exchange, p.operation, outcome, _s(p.mode)],
            [p.latencyMs, 1.0 if p.success else 0.0, float(p.status or 0)])


KINDS: dict[str, tuple[type[BaseModel], Any]] = {
    "api-call": (ApiCall, _api_call),
    "signal": (SignalEvent, _signal),
    "trade": (TradeEvent, _trade),
    "exchange-call": (ExchangeCall, _exchange_call),
}


def data_point(kind: str, payload: Any, request_id: str) -> dict[str, Any]:
    """The data point for a tracked event (raises pydantic's ValidationError on a bad payload)."""
    model, layout = KINDS[kind]
    worker, blobs, doubles = layout(model.model_validate(payload))
    index = index_of(request_id)
    for d in doubles:
        if not math.isfinite(d):
            raise ApiError(400, VALIDATION_ERROR, "Telemetry numbers must be finite.")
    return {"blobs": [kind, _s(worker), *(_s(b) for b in blobs)], "doubles": doubles, "indexes": [index]}


def details(exc: ValidationError) -> list[dict[str, str]]:
    return [{"field": ".".join(str(p) for p in e["loc"]) or "body", "issue": e["msg"]} for e in exc.errors()]
