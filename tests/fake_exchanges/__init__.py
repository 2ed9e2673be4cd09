"""Loopback fake exchanges for the live connectors' tests.

Each fake is a Starlette app served by uvicorn on 127.0.0.1 on a free port, inside the test's own
event loop (so a connector under test and the fake share one loop and nothing leaks past the test).
A fake checks every signed request's signature itself, from the vendor's documented rule (never by
calling the connector's code), keeps its own account (balance, orders by client order id,
positions, leverage), and answers in the vendor's documented shapes and codes.

Knobs shared by every fake (`FakeExchange`):
- `rate_limit_next(n)`: the next n calls are refused with the vendor's rate-limit answer;
- `accept_then_timeout(n=1, seconds=...)`: the next n order placements are carried out, then the
  answer is held back for `seconds` (longer than the client waits);
- `skew_ms`: the exchange's clock runs this far ahead of ours (signed calls outside the receive
  window are refused with the vendor's clock-skew code);
- `move_price(symbol, price)`: the market moves; resting limit orders it reaches fill at their price;
  `fill_part(client_id, qty)`: a resting order fills in part; `cancel(client_id)` (the vendors' cancel
  routes call it);
- `balance`, `instruments`, `prices`: the account and the market rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import uvicorn
from hoox_edge.shared import clock
from netutil import free_port


def total_params_signature(query: str, raw: bytes, secret: str) -> tuple[list[str], str]:
    """Binance's and MEXC's documented rule, written here (never taken from the connector): the
    `signature` values the query carries, and the one expected, the hex HMAC-SHA256 keyed with the
    secret of totalParams = the query string as received without `signature`, then the raw body."""
    pairs = query.split("&") if query else []
    sent = [p[len("signature="):] for p in pairs if p.startswith("signature=")]
    total = "&".join(p for p in pairs if not p.startswith("signature=")).encode() + raw
    return sent, hmac.new(secret.encode(), total, hashlib.sha256).hexdigest()


@dataclass
class Instrument:
    qty_step: str = "0.001"
    min_qty: str = "0.001"
    min_notional: str = "5"
    tick_size: str = "0.1"


@dataclass
class FakeOrder:
    order_id: str
    client_id: str
    symbol: str
    side: str  # BUY | SELL
    order_type: str  # MARKET | LIMIT
    qty: Decimal
    price: Decimal | None
    status: str  # vendor-neutral: NEW | PARTIALLY_FILLED | FILLED | CANCELLED
    executed: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    reduce_only: bool = False
    market: str = "futures"
    created_ms: int = 0


@dataclass
class FakePosition:
    size: Decimal = Decimal(0)  # signed: > 0 long, < 0 short
    entry: Decimal = Decimal(0)


@dataclass
class FakeExchange:
    """State and knobs common to every fake; a vendor subclass adds `app()` with its routes."""

    api_key: str = "test-key-0123456789"
    api_secret: str = "test-secret-abcdefghijklmnop"
    balance: Decimal = Decimal("10000")
    fee_rate: Decimal = Decimal("0.00055")
    skew_ms: int = 0
    prices: dict[str, Decimal] = field(default_factory=lambda: {"BTCUSDT": Decimal("60000"),
                                                                "ETHUSDT": Decimal("3000")})
    instruments: dict[str, Instrument] = field(default_factory=lambda: {
        "BTCUSDT": Instrument("0.001", "0.001", "5", "0.1"),
        "ETHUSDT": Instrument("0.01", "0.01", "5", "0.01")})
    orders: dict[str, FakeOrder] = field(default_factory=dict)  # by client order id
    positions: dict[str, FakePosition] = field(default_factory=dict)
    leverage: dict[str, Decimal] = field(default_factory=dict)
    margin_mode: str = "REGULAR_MARGIN"
    calls: list[dict[str, Any]] = field(default_factory=list)  # every request: method, path, params, body
    bad_signatures: int = 0
    _rate_limited: int = 0
    _timeouts: int = 0
    timeout_seconds: float = 2.0
    _server: uvicorn.Server | None = None
    _task: asyncio.Task | None = None
    port: int = 0

    # ------------------------------------------------------------------ knobs
    def rate_limit_next(self, n: int) -> None:
        self._rate_limited = n

    def accept_then_timeout(self, n: int = 1, seconds: float = 2.0) -> None:
        self._timeouts = n
        self.timeout_seconds = seconds

    def take_rate_limit(self) -> bool:
        if self._rate_limited > 0:
            self._rate_limited -= 1
            return True
        return False

    def take_timeout(self) -> bool:
        if self._timeouts > 0:
            self._timeouts -= 1
            return True
        return False

    def server_ms(self) -> int:
        return clock.now_ms() + self.skew_ms

    # ------------------------------------------------------------------ the account
    def fill(self, o: FakeOrder, leverage: Decimal) -> str | None:
        """Fill `o` at the market price; a vendor-neutral reason when it cannot ("balance", "reduce")."""
        price = o.price if o.order_type == "LIMIT" and o.price is not None else self.prices[o.symbol]
        return self.trade(o, o.qty - o.executed, price, leverage)

    def trade(self, o: FakeOrder, qty: Decimal, price: Decimal, leverage: Decimal) -> str | None:
        """`qty` of `o` trades at `price` (the order's fill so far grows); a reason when it cannot."""
        signed = qty if o.side == "BUY" else -qty
        pos = self.positions.setdefault(o.symbol, FakePosition())
        if o.reduce_only and (pos.size == 0 or (pos.size > 0) == (signed > 0) or abs(signed) > abs(pos.size)):
            return "reduce"
        fee = qty * price * self.fee_rate
        opening = pos.size == 0 or (pos.size > 0) == (signed > 0)
        if opening and o.market == "futures":
            margin = qty * price / (leverage or 1)
            if margin + fee > self.available():
                return "balance"
        if o.market == "spot" and o.side == "BUY" and qty * price + fee > self.balance:
            return "balance"
        if opening:
            new = pos.size + signed
            pos.entry = (abs(pos.size) * pos.entry + qty * price) / abs(new)
            pos.size = new
        else:
            closed = min(abs(signed), abs(pos.size))
            pnl = (price - pos.entry) * closed * (1 if pos.size > 0 else -1)
            self.balance += pnl
            pos.size += signed
            if pos.size == 0:
                pos.entry = Decimal(0)
        if o.market == "spot":
            self.balance -= qty * price if o.side == "BUY" else -qty * price
        self.balance -= fee
        o.avg_price = (o.avg_price * o.executed + price * qty) / (o.executed + qty)
        o.executed += qty
        o.fee += fee
        o.status = "FILLED" if o.executed >= o.qty else "PARTIALLY_FILLED"
        return None

    def move_price(self, symbol: str, price: Decimal) -> None:
        """The market moves to `price`; every resting limit order it reaches fills (the rest of it)."""
        self.prices[symbol] = price
        for o in self.orders.values():
            if (o.symbol == symbol and o.status in ("NEW", "PARTIALLY_FILLED") and o.price is not None
                    and ((o.side == "BUY" and price <= o.price) or (o.side == "SELL" and price >= o.price))):
                self.trade(o, o.qty - o.executed, o.price, self.leverage.get(symbol, Decimal(1)))

    def fill_part(self, client_id: str, qty: Decimal) -> None:
        o = self.orders[client_id]
        assert o.price is not None and o.status in ("NEW", "PARTIALLY_FILLED")
        assert self.trade(o, qty, o.price, self.leverage.get(o.symbol, Decimal(1))) is None

    def cancel(self, client_id: str, symbol: str) -> FakeOrder | None:
        """Cancel an open order (its fills so far stay); None when there is no open order with that id."""
        o = self.orders.get(client_id)
        if o is None or o.symbol != symbol or o.status not in ("NEW", "PARTIALLY_FILLED"):
            return None
        o.status = "CANCELLED"
        return o

    def available(self) -> Decimal:
        used = sum((abs(p.size) * p.entry / (self.leverage.get(s) or 1) for s, p in self.positions.items()),
                   Decimal(0))
        return self.balance - used

    # ------------------------------------------------------------------ server
    def app(self) -> Any:  # pragma: no cover - every vendor fake defines its routes
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeExchange:
        self.port = free_port()
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]  # leave pytest's
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(500):
            if self._server.started:
                return self
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        raise RuntimeError("fake exchange did not start")

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            await asyncio.wait_for(self._task, 10)
            self._server = None
            self._task = None
