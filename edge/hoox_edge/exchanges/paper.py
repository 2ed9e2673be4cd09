"""`PaperProvider`: the `ExchangeProvider` of the paper exchange (mode "paper").

It talks to the `PaperExchange` Durable Object of its account (`env.PAPER_EXCHANGE`, object
named after the exchange: "bybit", "binance", "mexc"), so every exchange keeps its own paper
account. On every call it reads the `exchanges:paper:*` KV settings (fault, fee rate, slippage,
initial balance, instruments, seed, pinned prices) and hands them to the object with the call:
a setting changed at runtime, a fault switched on or off, applies to the next call.

Faults apply to every method (see `hoox_edge.paper.exchange`): "outage" -> ExchangeError
"unavailable" and nothing happens; "rate_limit" -> "rate_limited" with retry_after 1 and nothing
happens; "timeout" -> the call is carried out (an order IS placed) and "timeout" is raised.
Errors the object reports come back as `ExchangeError` with the object's kind, code and details;
a call that does not reach the object at all is "unavailable" (retryable). Each call writes an
`exchange-call` data point (mode "paper"), as a live connector's calls do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import weakref
from typing import Any, Literal

from hoox_edge.exchanges.base import (
    Balance,
    ExchangeError,
    InstrumentRules,
    MarginMode,
    OrderRequest,
    OrderResult,
    Position,
)
from hoox_edge.ports import Env
from hoox_edge.shared import clock, settings
from hoox_edge.shared.memo import Memo
from hoox_edge.shared.telemetry import exchange_call_point

PRICE_PREFIX = settings.PAPER_PRICE_OF
# What the exchange last quoted, per binding (one per runtime locally), account and symbol: the
# second and the settings it was quoted under, and (its rules, its price), or None when that call
# failed. The market moves once a second and the rules follow the settings, so a signal in the same
# second under the same settings sizes against that quote instead of asking again (the order's own
# call observes the market anyway); one that arrives while the quote is on its way waits for it
# (at most QUOTE_WAIT_S, then it asks itself).
_Quote = tuple[dict[str, Any], float] | None
_QUOTES: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], tuple[tuple[Any, ...], asyncio.Future[_Quote]]]] = \
    weakref.WeakKeyDictionary()
QUOTE_WAIT_S = 1.0
# A call's settings, by account, symbols and the KV texts they were made from: the same texts make
# the same settings, and settings are asked for twice a signal (its sizing and its order).
_CONFIGS: Memo[tuple[Any, ...], dict[str, Any]] = Memo(256)
_SCALARS = (
    ("fault", settings.PAPER_FAULT),
    ("feeRate", settings.PAPER_FEE_RATE),
    ("slippageBps", settings.PAPER_SLIPPAGE),
    ("initialBalance", settings.PAPER_INITIAL_BALANCE),
    ("instruments", settings.PAPER_MARKETS),
    ("seed", settings.PAPER_SEED),
)
_SCALAR_KEYS = tuple(key for _, key in _SCALARS)


class PaperProvider:
    """One paper exchange account, e.g. `PaperProvider(env, "bybit")`."""

    mode: Literal["paper", "live"] = "paper"

    def __init__(self, env: Env, exchange: str) -> None:
        self.env = env
        self.name = exchange.lower()
        self.request_id: str | None = None  # set by the trade-worker: ties the call data points to a signal
        # Fewer round trips: the price and balance an answer carried serve the next ask for them.
        self._quotes: dict[str, tuple[float, int]] = {}  # symbol -> (price, the second it was observed)
        self._balance_after: dict[str, Any] | None = None

    # ---------------------------------------------------------------- plumbing
    def _record(self, method: str, outcome: str, started: float, started_ms: int) -> None:
        """An `exchange-call` data point, as the live connectors write one per call (mode "paper",
        no HTTP status): a signal's timeline shows each call with its latency. Never raises."""
        dataset = self.env.get("ANALYTICS_ENGINE")
        if dataset is None:
            return
        with contextlib.suppress(Exception):  # telemetry must never fail the call it describes
            dataset.write_data_point(**exchange_call_point(
                worker=self.env.worker, exchange=self.name, operation=method, outcome=outcome, mode="paper",
                rate="", latency_ms=(time.perf_counter() - started) * 1000, status=0, budget=None,
                started_ms=started_ms, request_id=self.request_id))

    def _stub(self) -> Any:
        ns = self.env.PAPER_EXCHANGE
        return ns.get(ns.id_from_name(self.name))

    async def _config(self, symbols: list[str] | None) -> dict[str, Any]:
        """The KV settings the exchange needs; `symbols` None = every pinned price and instrument.

        Read on every call; worked out again only when a stored text changed (see `_CONFIGS`): the
        same dict, not to be changed, for the same texts."""
        kv = self.env.CONFIG_KV
        requested = symbols
        if symbols is None:
            symbols = await _pinned_symbols(kv)
        keys = (*_SCALAR_KEYS, *map(settings.paper_price_of, symbols))
        raws = tuple(await kv.get_many(keys))
        memo_key = (self.name, requested is None, keys, raws)
        cfg = _CONFIGS.get(memo_key)
        if cfg is not None:
            return cfg
        try:
            values = settings.values_of(keys, raws)
        except settings.SettingError as e:
            raise ExchangeError(
                "rejected", f"paper exchange setting {e.key} is invalid: {e.message}", code="PAPER_CONFIG"
            ) from None
        cfg = {name: v for (name, _), v in zip(_SCALARS, values, strict=False)}
        prices = values[len(_SCALARS):]
        cfg["prices"] = {s: p for s, p in zip(symbols, prices, strict=True) if p is not None}
        if requested is not None and isinstance(cfg.get("instruments"), dict):  # the rules the call can use
            cfg["instruments"] = {s: r for s, r in cfg["instruments"].items() if s in requested}
        cfg["account"] = self.name
        return _CONFIGS.keep(memo_key, cfg)

    def _shared_quotes(self) -> dict[tuple[str, str], tuple[tuple[Any, ...], asyncio.Future[_Quote]]]:
        try:
            return _QUOTES.setdefault(self.env.PAPER_EXCHANGE, {})
        except TypeError:  # a binding that cannot be weakly referenced: nothing shared
            return {}

    async def _rpc(self, method: str, args: dict[str, Any], symbols: list[str] | None,
                   cfg: dict[str, Any] | None = None) -> Any:
        self._balance_after = None
        params = dict(args, config=cfg if cfg is not None else await self._config(symbols))
        started, started_ms = time.perf_counter(), clock.now_ms()
        try:
            raw = await getattr(self._stub(), method)(json.dumps(params))
        except Exception as e:  # never reached the object, or it crashed: the caller may retry
            self._record(method, "unavailable", started, started_ms)
            raise ExchangeError(
                "unavailable", f"paper exchange ({self.name}) did not answer {method}: {e}", code="PAPER_RPC"
            ) from e
        answer = _from_js(raw)
        self._record(method, "ok" if answer.get("ok") else str((answer.get("error") or {}).get("kind") or "error"),
                     started, started_ms)
        if not answer.get("ok"):
            err = answer.get("error") or {}
            raise ExchangeError(
                kind=err.get("kind") or "unavailable",
                message=err.get("message") or f"paper exchange {method} failed",
                code=err.get("code"),
                retry_after=err.get("retryAfter"),
                details=err.get("details") or {},
            )
        return answer.get("result")

    # ---------------------------------------------------------------- ExchangeProvider
    async def place_order(self, order: OrderRequest) -> OrderResult:
        symbol = order.symbol.upper()
        body = {
            "symbol": symbol,
            "side": order.side,
            "quantity": order.quantity,
            "clientOrderId": order.client_order_id,
            "orderType": order.order_type,
            "price": order.price,
            "reduceOnly": order.reduce_only,
            "market": order.market,
        }
        setup: list[dict[str, Any]] = []
        if order.margin_mode is not None:
            setup.append({"method": "set_margin_mode", "symbol": symbol, "mode": order.margin_mode})
        if order.apply_leverage:
            setup.append({"method": "set_leverage", "symbol": symbol, "leverage": order.leverage})
        # The symbol settings, the order and the balance after it: one call.
        res = await self._rpc("execute", {"setup": setup, "order": body}, [symbol])
        self._balance_after = res["balance"]
        return _order(res["order"])

    async def get_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        symbol = symbol.upper()
        res = await self._rpc("get_order", {"symbol": symbol, "clientOrderId": client_order_id}, [symbol])
        return _order(res) if res else None

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderResult:
        """Cancel a resting limit order (paper only; not part of ExchangeProvider)."""
        symbol = symbol.upper()
        return _order(await self._rpc("cancel_order", {"clientOrderId": client_order_id}, [symbol]))

    async def open_orders(self, symbol: str | None = None) -> list[OrderResult]:
        """Resting limit orders, newest first (paper only)."""
        sym = symbol.upper() if symbol else None
        rows = await self._rpc("orders", {"symbol": sym, "status": "New"}, [sym] if sym else None)
        return [_order(r) for r in rows]

    async def set_leverage(self, symbol: str, leverage: float) -> None:
        symbol = symbol.upper()
        await self._rpc("set_leverage", {"symbol": symbol, "leverage": leverage}, [symbol])

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        symbol = symbol.upper()
        await self._rpc("set_margin_mode", {"symbol": symbol, "mode": mode}, [symbol])

    async def positions(self, symbol: str | None = None) -> list[Position]:
        sym = symbol.upper() if symbol else None
        rows = await self._rpc("positions", {"symbol": sym}, [sym] if sym else None)
        return [
            Position(
                symbol=r["symbol"],
                side=r["side"],
                size=r["size"],
                entry_price=r["entryPrice"],
                leverage=r["leverage"],
                mark_price=r["markPrice"],
                unrealized_pnl=r["unrealizedPnl"],
                liquidation_price=r["liquidationPrice"],
            )
            for r in rows
        ]

    async def balance(self, asset: str = "USDT") -> Balance:
        after = self._balance_after  # what the last order's answer carried, when nothing came between
        r = after if after is not None and after["asset"] == asset.upper() else \
            await self._rpc("balance", {"asset": asset}, None)
        return Balance(asset=r["asset"], free=r["free"], locked=r["locked"])

    async def ticker(self, symbol: str) -> float:
        symbol = symbol.upper()
        seen = self._quotes.get(symbol)
        if seen is not None and seen[1] == int(clock.now()):  # the market moves once a second
            return seen[0]
        return float((await self._rpc("ticker", {"symbol": symbol}, [symbol]))["price"])

    async def mark_price(self, symbol: str) -> float:
        symbol = symbol.upper()
        return float((await self._rpc("ticker", {"symbol": symbol}, [symbol]))["markPrice"])

    async def instrument(self, symbol: str) -> InstrumentRules:
        """The symbol's rules; its price comes in the same call and serves a `ticker` in that second.
        The exchange is asked once a second per symbol and settings (see `_QUOTES`); with a fault
        switched on, always (the fault applies to the call)."""
        symbol = symbol.upper()
        cfg = await self._config([symbol])
        now_s = int(clock.now())
        stamp = (now_s, cfg.get("instruments"), cfg["prices"], cfg.get("seed"))
        shared = self._shared_quotes()
        seen = shared.get((self.name, symbol))
        quote: _Quote = None
        if seen is not None and seen[0] == stamp and not cfg.get("fault"):
            with contextlib.suppress(TimeoutError):
                quote = seen[1].result() if seen[1].done() else \
                    await asyncio.wait_for(asyncio.shield(seen[1]), QUOTE_WAIT_S)
        if quote is None:
            asked: asyncio.Future[_Quote] = asyncio.get_running_loop().create_future()
            shared[(self.name, symbol)] = (stamp, asked)
            try:
                q = await self._rpc("quote", {"symbol": symbol}, [symbol], cfg)
                quote = (q["rules"], float(q["price"]))
            finally:
                asked.set_result(quote)  # None when it failed: who waited asks itself
        r, price = quote
        self._quotes[symbol] = (price, now_s)
        return InstrumentRules(
            symbol=r["symbol"],
            qty_step=r["qtyStep"],
            min_qty=r["minQty"],
            min_notional=r["minNotional"],
            tick_size=r["tickSize"],
        )

    async def reset(self) -> dict[str, Any]:
        """Start this paper account over: no positions or orders, the configured initial balance."""
        answer = await self._rpc("reset", {}, [])
        shared = self._shared_quotes()
        for key in [k for k in shared if k[0] == self.name]:  # the walk starts again
            del shared[key]
        return answer


async def _pinned_symbols(kv: Any) -> list[str]:
    names: list[str] = []
    cursor: str | None = None
    while True:
        page = await kv.list(prefix=PRICE_PREFIX, cursor=cursor)
        names.extend(k.name[len(PRICE_PREFIX):] for k in page.keys)
        if page.list_complete or not page.cursor:
            return names
        cursor = page.cursor


def _from_js(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        return json.loads(raw)
    if hasattr(raw, "to_py"):  # a JS value from Cloudflare's RPC
        raw = raw.to_py()
    return dict(raw or {})


def _order(r: dict[str, Any]) -> OrderResult:
    return OrderResult(
        order_id=r["orderId"],
        client_order_id=r["clientOrderId"],
        symbol=r["symbol"],
        side=r["side"],
        status=r["status"],
        quantity=r["quantity"],
        executed_qty=r["executedQty"],
        avg_price=r["avgPrice"],
        fee=r["fee"],
        fee_asset=r.get("feeAsset", "USDT"),
        timestamp_ms=r["updatedAtMs"],
    )
