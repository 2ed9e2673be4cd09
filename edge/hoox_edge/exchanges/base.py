"""One provider interface for the paper exchange and the real ones.

Every method raises `ExchangeError` on failure; its `retryable` flag decides between the queue's
retry schedule (outage, rate limit, timeout) and a recorded rejection that is never retried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Side = Literal["BUY", "SELL"]
OrderType = Literal["MARKET", "LIMIT"]
MarginMode = Literal["isolated", "cross"]
Market = Literal["futures", "spot"]


@dataclass(frozen=True)
class InstrumentRules:
    symbol: str
    qty_step: float
    min_qty: float
    min_notional: float
    tick_size: float


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    side: Side
    quantity: float  # already rounded to the step
    client_order_id: str
    order_type: OrderType = "MARKET"
    price: float | None = None  # LIMIT only
    reduce_only: bool = False
    leverage: float = 1
    market: Market = "futures"
    # The symbol settings `place_order` sets first, in this order (an opening futures order sets its
    # leverage every time: an exchange keeps a symbol's last one, so 1x would otherwise trade at 10x).
    margin_mode: MarginMode | None = None
    apply_leverage: bool = False


@dataclass(frozen=True)
class OrderResult:
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    status: Literal["Filled", "New", "PartiallyFilled", "Cancelled", "Expired", "Rejected"]
    quantity: float  # requested
    executed_qty: float
    avg_price: float | None
    fee: float
    fee_asset: str = "USDT"
    timestamp_ms: int = 0


@dataclass(frozen=True)
class Position:
    symbol: str
    side: Literal["LONG", "SHORT"]
    size: float
    entry_price: float
    leverage: float
    mark_price: float | None = None
    unrealized_pnl: float | None = None
    liquidation_price: float | None = None


@dataclass(frozen=True)
class Balance:
    asset: str
    free: float
    locked: float

    @property
    def total(self) -> float:
        return self.free + self.locked


ErrorKind = Literal["rate_limited", "unavailable", "timeout", "rejected", "clock_skew", "duplicate_order"]


@dataclass
class ExchangeError(Exception):
    kind: ErrorKind
    message: str
    code: str | None = None  # the exchange's own code, e.g. "10006", "-2019"
    retry_after: float | None = None  # seconds, from Retry-After when the exchange sent one
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def retryable(self) -> bool:
        return self.kind in ("rate_limited", "unavailable", "timeout", "clock_skew")


class ExchangeProvider(Protocol):
    @property
    def name(self) -> str:  # bybit | binance | mexc (read-only: a connector class's constant)
        ...

    mode: Literal["paper", "live"]

    async def place_order(self, order: OrderRequest) -> OrderResult:
        """Place the order, after setting the symbol's margin mode and leverage when it asks for them."""

    async def get_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        """The order placed with this client order id, or None if the exchange never took it."""

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderResult:
        """Cancel a resting order; its state after (fills so far kept). An order that is not open any
        more raises a "rejected" ExchangeError (the caller then reads it with `get_order`)."""

    async def set_leverage(self, symbol: str, leverage: float) -> None: ...

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None: ...

    async def positions(self, symbol: str | None = None) -> list[Position]: ...

    async def balance(self, asset: str = "USDT") -> Balance: ...

    async def ticker(self, symbol: str) -> float:
        """Last traded price."""

    async def mark_price(self, symbol: str) -> float: ...

    async def instrument(self, symbol: str) -> InstrumentRules: ...
