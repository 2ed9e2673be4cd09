"""The exchange catalog: every exchange hoox trades on, defined once.

Settings (`shared/settings.py`: the choices of `exchanges:default_routing`, the per-exchange keys),
signal validation (`shared/signal.py`), the providers (`exchanges/`), the worker catalog's secrets
(`catalog.py`, so `hoox secrets check`), the setup wizard and the CLI read it. A leaf module (standard
library only): the CLI imports it without the exchange connectors.

The connectors (`exchanges/{name}.py`) implement what an entry says; tests/test_exchange_catalog.py
holds them to it (markets served, testnet hosts, client order id field).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Name = Literal["bybit", "binance", "mexc"]  # a signal's `exchange` (mypy reads the names here)
Market = Literal["futures", "spot"]


@dataclass(frozen=True)
class Exchange:
    name: Name
    title: str  # as the operator reads it
    site: str  # where the operator makes API keys (named in the setup wizard's hints)
    markets: tuple[Market, ...]  # the markets hoox places orders on
    signing: str  # how a private request is signed
    client_order_id: str  # the order field carrying the id derived from the request id (exactly once)
    testnet: bool  # a public testnet (KV exchanges:{name}:testnet sends live orders there)
    reduce_only: bool  # a futures CLOSE goes as a reduce-only order: it can never open the other side
    resting_orders: bool  # LIMIT orders rest on the book, followed until filled, cancelled or expired

    @property
    def secrets(self) -> tuple[str, str]:
        """The secrets (on trade-worker) holding its API key and secret."""
        up = self.name.upper()
        return f"{up}_API_KEY", f"{up}_API_SECRET"


EXCHANGES: tuple[Exchange, ...] = (
    Exchange("bybit", "Bybit", "bybit.com", ("futures", "spot"),
             "v5: hex HMAC-SHA256 of timestamp + key + recvWindow + query or body, in X-BAPI-SIGN",
             "orderLinkId", testnet=True, reduce_only=True, resting_orders=True),
    Exchange("binance", "Binance", "binance.com", ("futures", "spot"),
             "hex HMAC-SHA256 of query + body, `signature=` last; key in X-MBX-APIKEY",
             "newClientOrderId", testnet=True, reduce_only=True, resting_orders=True),
    Exchange("mexc", "MEXC", "mexc.com", ("spot",),  # its futures order placement is closed to the public API
             "as Binance (spot v3); key in X-MEXC-APIKEY",
             "newClientOrderId", testnet=False, reduce_only=False, resting_orders=True),
)
NAMES: tuple[str, ...] = tuple(e.name for e in EXCHANGES)
assert get_args(Name) == NAMES, "Name must list the catalog's exchanges"


def exchange(name: str) -> Exchange:
    """The catalog entry of `name` (KeyError for an exchange hoox does not trade on)."""
    for e in EXCHANGES:
        if e.name == name:
            return e
    raise KeyError(name)


def all_secrets() -> tuple[str, ...]:
    """Every exchange's API key secrets, in catalog order."""
    return tuple(s for e in EXCHANGES for s in e.secrets)
