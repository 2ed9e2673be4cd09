"""Exchange providers: which one serves an order, and the client order id every order carries."""

from __future__ import annotations

from hoox_edge.exchanges.base import ExchangeError, ExchangeProvider
from hoox_edge.ports import Env

KNOWN_EXCHANGES = ("bybit", "binance", "mexc")


def provider_for(env: Env, exchange: str, mode: str) -> ExchangeProvider:
    """The provider of `exchange` in trading `mode` (KV `trade:mode`)."""
    name = (exchange or "").lower()
    if name not in KNOWN_EXCHANGES:
        raise ExchangeError(
            "rejected", f"unknown exchange {exchange!r}: expected one of {', '.join(KNOWN_EXCHANGES)}"
        )
    if mode == "paper":
        from hoox_edge.exchanges.paper import PaperProvider

        return PaperProvider(env, name)
    if mode == "live":
        raise ExchangeError(
            "rejected",
            f"live trading on {name} is not available in this version: set KV trade:mode to paper "
            "(orders then go to the paper exchange)",
            code="LIVE_NOT_AVAILABLE",
        )
    raise ExchangeError("rejected", f"unknown trade:mode {mode!r}: expected paper or live")


def client_order_id(request_id: str) -> str:
    """The exchange client order id of a request: "hx" + the request id without dashes, first 30
    characters (alphanumeric, at most 32: fits Bybit 36, Binance 36, MEXC 32). The same request id
    always gives the same id, so a retried request can never fill twice."""
    return "hx" + request_id.replace("-", "")[:30]
