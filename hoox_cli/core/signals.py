"""A trading signal as the gateway's webhook takes it (TradingView's JSON), and where to send it."""

from __future__ import annotations

from typing import Any


def build_payload(
    *,
    api_key: str,
    symbol: str,
    action: str,
    quantity: float,
    exchange: str | None,
    leverage: float | None,
    order_type: str | None,
    price: float | None,
    idempotency_key: str | None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "apiKey": api_key,
        "action": action.upper(),
        "symbol": symbol,
        "quantity": quantity,
    }
    if exchange:
        payload["exchange"] = exchange.lower()
    if leverage is not None:
        payload["leverage"] = leverage
    if order_type:
        payload["orderType"] = order_type.upper()
    if price is not None:
        payload["price"] = price
    if idempotency_key:
        payload["idempotencyKey"] = idempotency_key
    return payload


def webhook_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith("/webhook") else base + "/webhook"
