"""Exchange providers: which one serves an order, and the client order id every order carries."""

from __future__ import annotations

import importlib

from hoox_edge import exchange_catalog
from hoox_edge.exchanges import live
from hoox_edge.exchanges.base import ExchangeError, ExchangeProvider
from hoox_edge.exchanges.live import LiveExchange
from hoox_edge.ports import Env

KNOWN_EXCHANGES = exchange_catalog.NAMES


def live_connector(exchange: str, market: str = "futures") -> type[LiveExchange]:
    """The `LiveExchange` subclass serving `exchange` on `market`: the one in
    `hoox_edge.exchanges.{exchange}` whose `name` is the exchange and whose `markets` include it."""
    module = importlib.import_module(f"hoox_edge.exchanges.{exchange}")
    found = [c for c in vars(module).values()
             if isinstance(c, type) and issubclass(c, LiveExchange) and c is not LiveExchange
             and c.__module__ == module.__name__ and getattr(c, "name", None) == exchange and market in c.markets]
    if not found:
        raise ExchangeError("rejected", f"{exchange} has no live connector for the {market} market", code="NO_MARKET")
    found.sort(key=lambda c: len(c.__mro__), reverse=True)  # the most specific class wins
    return found[0]


async def provider_for(env: Env, exchange: str, mode: str, market: str = "futures", *,
                       need_credentials: bool = True) -> ExchangeProvider:
    """The provider of `exchange` in trading `mode` (KV `trade:mode`) for a signal's `market`.
    `need_credentials=False` serves public market data (mark prices) without an API key."""
    name = (exchange or "").lower()
    if name not in KNOWN_EXCHANGES:
        raise ExchangeError(
            "rejected", f"unknown exchange {exchange!r}: expected one of {', '.join(KNOWN_EXCHANGES)}"
        )
    if mode == "paper":
        from hoox_edge.exchanges.paper import PaperProvider

        return PaperProvider(env, name)
    if mode == "live":
        creds = live.credentials(env, name)
        if creds is None and need_credentials:
            key, secret = live.secret_names(name)
            raise ExchangeError(
                "rejected",
                f"live trading on {name} needs its API key: set the secrets {key} and {secret} "
                "(see README, Going live), or set KV trade:mode to paper",
                code="NO_CREDENTIALS",
            )
        cls = live_connector(name, market)
        return cls(env, base_url=await live.base_url(env, name, cls), creds=creds, market=market)  # type: ignore[arg-type]
    raise ExchangeError("rejected", f"unknown trade:mode {mode!r}: expected paper or live")


def client_order_id(request_id: str) -> str:
    """The exchange client order id of a request: "hx" + the request id without dashes, first 30
    characters (alphanumeric, at most 32: fits Bybit 36, Binance 36, MEXC 32). The same request id
    always gives the same id, so a retried request can never fill twice."""
    return "hx" + request_id.replace("-", "")[:30]
