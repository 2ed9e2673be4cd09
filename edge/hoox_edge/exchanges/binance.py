"""Binance connectors: USDⓈ-M futures (`BinanceFutures`) and spot (`BinanceSpot`).

Both sign the Binance way (`hoox_edge.exchanges.signing`: hex HMAC-SHA256 of the query string,
`signature=` last, key in `X-MBX-APIKEY`) and send every parameter in the query string, POST
included, so the signed text is exactly the text sent.

Exactly once: every order carries `newClientOrderId` (the trade-worker's client order id, checked
against Binance's rule `^[.A-Z:/a-z0-9_-]{1,36}$`); `get_order` looks it up by
`origClientOrderId`; a duplicate-id rejection (futures -4116, spot -2010 "Duplicate order sent.")
is `duplicate_order`, which the trade-worker answers by looking the existing order up.

Errors by meaning (`classify`): HTTP 429 / 418 and -1003 / -1015 -> rate_limited (with
`Retry-After`); -1021 -> clock_skew (the base class resyncs once and retries); HTTP 5xx and
-1000 / -1006 / -1007 -> timeout, because Binance documents their execution status as unknown;
-1001 / -1004 / -1008 -> unavailable; everything else -> rejected with Binance's own message.
-4046 (margin type already set) is success in `set_margin_mode`.

`_BinanceStyle` holds what MEXC spot v3 shares with Binance spot (`hoox_edge.exchanges.mexc`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, ClassVar

from hoox_edge.exchanges.base import (
    Balance,
    ExchangeError,
    MarginMode,
    Market,
    OrderRequest,
    OrderResult,
    Position,
)
from hoox_edge.exchanges.live import LiveExchange, body_bytes, dec, num, plain, retry_after_seconds
from hoox_edge.exchanges.signing import signed_params

BINANCE_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")

_STATUS = {
    "NEW": "New", "PARTIALLY_FILLED": "PartiallyFilled", "FILLED": "Filled", "CANCELED": "Cancelled",
    "CANCELLED": "Cancelled", "PENDING_CANCEL": "New", "REJECTED": "Rejected", "EXPIRED": "Expired",
    "EXPIRED_IN_MATCH": "Expired", "PARTIALLY_CANCELED": "Cancelled",
}


# --------------------------------------------------------------------------- numbers
def round_to_step(value: Any, step: Any, *, up: bool = False) -> Decimal:
    """`value` on the `step` grid, rounded down (or up)."""
    v, s = dec(value), dec(step)
    if s <= 0:
        return v
    n = (v / s).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return (n * s).normalize()


# --------------------------------------------------------------------------- the shared base
class _BinanceStyle(LiveExchange):
    """Signing, order lookup (by client order id, with its fee from the fills) and parsing shared by
    Binance and MEXC."""

    api_key_header: ClassVar[str] = "X-MBX-APIKEY"
    # fees are valued in the quote asset, so the cached rules carry the symbol's assets too
    instrument_info_keys: ClassVar[tuple[str, ...]] = (*LiveExchange.instrument_info_keys, "base_asset",
                                                       "quote_asset")
    order_path: ClassVar[str]  # place and query an order
    trades_path: ClassVar[str]  # an order's fills, with their commissions
    vendor: ClassVar[str] = "Binance"
    client_id_rule: ClassVar[re.Pattern[str]] = BINANCE_CLIENT_ID
    client_id_rule_text: ClassVar[str] = "1-36 characters of letters, digits and . : / _ -"

    # ------------------------------------------------------------------ LiveExchange hooks
    def sign(self, method: str, path: str, params: dict, body: dict | None,
             timestamp_ms: int) -> tuple[dict[str, str], dict, bytes | None]:
        assert self.creds is not None  # the base class checks before it calls sign
        raw = body_bytes(body)
        out = signed_params(params, self.creds.api_secret, timestamp_ms=timestamp_ms, body=raw)
        return {self.api_key_header: self.creds.api_key}, out, raw

    # ------------------------------------------------------------------ helpers
    def _check_client_id(self, client_order_id: str) -> None:
        if not self.client_id_rule.match(client_order_id or ""):
            raise ExchangeError("rejected", f"client order id {client_order_id!r} does not fit {self.vendor}'s rule "
                                f"({self.client_id_rule_text})", code="CLIENT_ORDER_ID")

    async def _limit_price(self, order: OrderRequest) -> str:
        """The limit price on the tick grid, never worse for us: a BUY rounds down, a SELL up."""
        if order.price is None or order.price <= 0:
            raise ExchangeError("rejected", "a LIMIT order needs a price greater than 0", code="PRICE")
        tick = (await self.instrument_info(order.symbol))["tick_size"]
        return plain(round_to_step(order.price, tick, up=order.side == "SELL"))

    async def _fee_in_quote(self, symbol: str, trades: list[dict[str, Any]]) -> float:
        """Commission of the fills in the quote asset: a fee charged in the base asset is valued at
        its fill price, one in a third asset (e.g. BNB) at that asset's last price in the quote."""
        info = await self.instrument_info(symbol)
        base, quote = info.get("base_asset") or "", info.get("quote_asset") or "USDT"
        total = Decimal(0)
        prices: dict[str, Decimal] = {}
        for t in trades:
            commission = dec(t.get("commission"))
            asset = str(t.get("commissionAsset") or quote)
            if commission == 0 or asset == quote:
                total += commission
            elif asset == base:
                total += commission * dec(t.get("price"))
            else:
                if asset not in prices:
                    prices[asset] = dec(await self.ticker(asset + quote))
                total += commission * prices[asset]
        return float(total)

    async def get_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        symbol = symbol.upper()
        try:
            o = await self.request("GET", self.order_path, params={"symbol": symbol,
                                                                   "origClientOrderId": client_order_id},
                                   signed=True, endpoint="order_query")
        except ExchangeError as exc:
            if exc.code in ("-2013", "-2011"):  # Order does not exist: it was never taken
                return None
            raise
        return await self._complete(symbol, o)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderResult:
        symbol = symbol.upper()
        o = await self.request("DELETE", self.order_path, params={"symbol": symbol,
                                                                  "origClientOrderId": client_order_id},
                               signed=True, endpoint="order_cancel")
        return await self._complete(symbol, o)

    async def _complete(self, symbol: str, o: Mapping[str, Any],
                        fills: list[dict[str, Any]] | None = None) -> OrderResult:
        """The order's result, its fee read from `fills` (else from its trades when it traded)."""
        if fills is None and num(o.get("executedQty")) > 0:
            fills = list(await self.request("GET", self.trades_path,
                                            params={"symbol": symbol, "orderId": o.get("orderId")},
                                            signed=True, endpoint=self.trades_path.rsplit("/", 1)[-1]) or [])
        fee = await self._fee_in_quote(symbol, fills) if fills else 0.0
        quote = (await self.instrument_info(symbol)).get("quote_asset") or "USDT"
        return self._result(o, fee, quote)

    def _result(self, o: Mapping[str, Any], fee: float, quote: str) -> OrderResult:
        executed = num(o.get("executedQty"))
        avg = num(o.get("avgPrice"))
        cum_quote = num(o.get("cumQuote", o.get("cummulativeQuoteQty")))
        if executed > 0 and avg <= 0 and cum_quote > 0:
            avg = cum_quote / executed
        status = _STATUS.get(str(o.get("status") or "").upper(), "New")
        return OrderResult(
            order_id=str(o.get("orderId")), client_order_id=str(o.get("clientOrderId") or ""),
            symbol=str(o.get("symbol") or ""), side=str(o.get("side") or "BUY").upper(),  # type: ignore[arg-type]
            status=status,  # type: ignore[arg-type]
            quantity=num(o.get("origQty")), executed_qty=executed,
            avg_price=avg if executed > 0 and avg > 0 else None, fee=fee, fee_asset=quote,
            timestamp_ms=int(num(o.get("updateTime") or o.get("transactTime") or o.get("time"))))


def classify_binance(status: int, headers: Mapping[str, str], payload: Any) -> ExchangeError | None:
    """Binance's answer (spot or futures) by meaning; None when it succeeded."""
    code = payload.get("code") if isinstance(payload, dict) else None
    msg = str(payload.get("msg") or "") if isinstance(payload, dict) else ""
    is_error_code = isinstance(code, int) and not isinstance(code, bool) and code < 0
    retry_after = retry_after_seconds(headers)
    shown = str(code) if is_error_code else str(status)
    if status in (418, 429) or code in (-1003, -1015):
        what = "IP banned for sending too many requests" if status == 418 else "rate limit reached"
        return ExchangeError("rate_limited", f"Binance {what}: {msg or f'HTTP {status}'}", code=shown,
                             retry_after=retry_after)
    if is_error_code:
        if code == -1021:
            return ExchangeError("clock_skew", f"Binance: {msg}", code=shown)
        if code in (-1000, -1006, -1007):
            return ExchangeError("timeout", f"Binance: {msg} (execution status unknown)", code=shown)
        if code in (-1001, -1004, -1008, -1016):
            return ExchangeError("unavailable", f"Binance: {msg}", code=shown, retry_after=retry_after)
        if code == -4116 or (code == -2010 and "duplicate" in msg.lower()):
            return ExchangeError("duplicate_order", f"Binance: {msg}", code=shown)
        return ExchangeError("rejected", f"Binance: {msg or 'request rejected'}", code=shown)
    if status >= 500:
        return ExchangeError("timeout", f"Binance answered HTTP {status}: execution status unknown", code=shown)
    if status >= 400:
        return ExchangeError("rejected", f"Binance answered HTTP {status}: {msg or str(payload)[:200]}", code=shown)
    return None


def _rules_from_filters(s: Mapping[str, Any]) -> dict[str, Any]:
    """Step, minimums and tick from exchangeInfo filters. LOT_SIZE and MARKET_LOT_SIZE both bind a
    market order: take the coarser step and the larger minimum (steps are powers of ten, so the
    coarser one is a multiple of the finer)."""
    f = {x.get("filterType"): x for x in s.get("filters") or []}
    lot, mlot = f.get("LOT_SIZE") or {}, f.get("MARKET_LOT_SIZE") or {}
    step = max(num(lot.get("stepSize")), num(mlot.get("stepSize")))
    min_qty = max(num(lot.get("minQty")), num(mlot.get("minQty")))
    notional = f.get("MIN_NOTIONAL") or f.get("NOTIONAL") or {}
    min_notional = num(notional.get("notional", notional.get("minNotional")))
    tick = num((f.get("PRICE_FILTER") or {}).get("tickSize"))
    return {"qty_step": step, "min_qty": min_qty, "min_notional": min_notional, "tick_size": tick,
            "base_asset": s.get("baseAsset"), "quote_asset": s.get("quoteAsset")}


# --------------------------------------------------------------------------- USDⓈ-M futures
class BinanceFutures(_BinanceStyle):
    name: ClassVar[str] = "binance"
    markets: ClassVar[tuple[Market, ...]] = ("futures",)
    default_base_url: ClassVar[str] = "https://fapi.binance.com"
    testnet_base_url: ClassVar[str | None] = "https://testnet.binancefuture.com"
    order_path: ClassVar[str] = "/fapi/v1/order"
    trades_path: ClassVar[str] = "/fapi/v1/userTrades"

    def classify(self, status: int, headers: Mapping[str, str], payload: Any) -> ExchangeError | None:
        return classify_binance(status, headers, payload)

    def rate_budget(self, headers: Mapping[str, str]) -> float | None:
        # Futures allow 2400 request weight a minute per IP; the header says how much is used.
        used = headers.get("X-MBX-USED-WEIGHT-1M") or headers.get("x-mbx-used-weight-1m")
        return None if used is None else max(0.0, 2400 - num(used))

    async def server_time_ms(self) -> int:
        return int((await self.request("GET", "/fapi/v1/time", endpoint="time"))["serverTime"])

    async def fetch_instrument_info(self, symbol: str) -> dict[str, Any]:
        data = await self.request("GET", "/fapi/v1/exchangeInfo", endpoint="exchangeInfo")
        for s in data.get("symbols") or []:
            if s.get("symbol") == symbol:
                if s.get("status") != "TRADING":
                    raise ExchangeError("rejected", f"Binance futures {symbol} is not trading (status "
                                        f"{s.get('status')})", code="SYMBOL_NOT_TRADING")
                return _rules_from_filters(s)
        raise ExchangeError("rejected", f"Binance futures has no symbol {symbol}", code="-1121")

    async def submit(self, order: OrderRequest) -> OrderResult:
        self._check_client_id(order.client_order_id)
        symbol = order.symbol.upper()
        params: dict[str, Any] = {"symbol": symbol, "side": order.side, "type": order.order_type,
                                  "quantity": plain(order.quantity)}
        if order.order_type == "LIMIT":
            params["timeInForce"] = "GTC"
            params["price"] = await self._limit_price(order)
        if order.reduce_only:
            params["reduceOnly"] = "true"
        params["newClientOrderId"] = order.client_order_id
        params["newOrderRespType"] = "RESULT"  # the final state, not just "accepted"
        o = await self.request("POST", self.order_path, params=params, signed=True, endpoint="order")
        return await self._complete(symbol, o)

    async def set_leverage(self, symbol: str, leverage: float) -> None:
        if leverage < 1 or leverage != int(leverage):
            raise ExchangeError("rejected", f"Binance futures takes a whole-number leverage of at least 1, "
                                f"not {leverage:g}", code="LEVERAGE")
        await self.request("POST", "/fapi/v1/leverage", params={"symbol": symbol.upper(), "leverage": int(leverage)},
                           signed=True, endpoint="leverage")

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        params = {"symbol": symbol.upper(), "marginType": "ISOLATED" if mode == "isolated" else "CROSSED"}
        try:
            await self.request("POST", "/fapi/v1/marginType", params=params, signed=True, endpoint="marginType")
        except ExchangeError as exc:
            if exc.code != "-4046":  # "No need to change margin type.": already set, which is success
                raise

    async def positions(self, symbol: str | None = None) -> list[Position]:
        params = {"symbol": symbol.upper()} if symbol else {}
        rows = await self.request("GET", "/fapi/v3/positionRisk", params=params, signed=True,
                                  endpoint="positionRisk")
        out: list[Position] = []
        for r in rows or []:
            amt = num(r.get("positionAmt"))
            if amt == 0:
                continue
            # v3 reports the position's initial margin, not its leverage: notional / margin is the leverage.
            margin = num(r.get("positionInitialMargin", r.get("initialMargin")))
            notional = abs(num(r.get("notional")))
            leverage = round(notional / margin, 2) if margin > 0 and notional > 0 else num(r.get("leverage"), 1.0)
            liq = num(r.get("liquidationPrice"))
            out.append(Position(symbol=str(r.get("symbol")), side="LONG" if amt > 0 else "SHORT", size=abs(amt),
                                entry_price=num(r.get("entryPrice")), leverage=leverage,
                                mark_price=num(r.get("markPrice")) or None,
                                unrealized_pnl=num(r.get("unRealizedProfit")),
                                liquidation_price=liq if liq > 0 else None))
        return out

    async def balance(self, asset: str = "USDT") -> Balance:
        rows = await self.request("GET", "/fapi/v2/balance", signed=True, endpoint="balance")
        for r in rows or []:
            if r.get("asset") == asset:
                total, free = num(r.get("balance")), num(r.get("availableBalance"))
                return Balance(asset=asset, free=free, locked=max(0.0, total - free))
        return Balance(asset=asset, free=0.0, locked=0.0)

    async def ticker(self, symbol: str) -> float:
        r = await self.request("GET", "/fapi/v2/ticker/price", params={"symbol": symbol.upper()}, endpoint="ticker")
        return num(r.get("price"))

    async def mark_price(self, symbol: str) -> float:
        r = await self.request("GET", "/fapi/v1/premiumIndex", params={"symbol": symbol.upper()},
                               endpoint="premiumIndex")
        return num(r.get("markPrice"))


# --------------------------------------------------------------------------- spot
class BinanceSpot(_BinanceStyle):
    """Spot at leverage 1: LONG buys, CLOSE sells what the ledger holds; spot cannot open a short."""

    name: ClassVar[str] = "binance"
    markets: ClassVar[tuple[Market, ...]] = ("spot",)
    default_base_url: ClassVar[str] = "https://api.binance.com"
    testnet_base_url: ClassVar[str | None] = "https://testnet.binance.vision"
    order_path: ClassVar[str] = "/api/v3/order"
    trades_path: ClassVar[str] = "/api/v3/myTrades"

    def classify(self, status: int, headers: Mapping[str, str], payload: Any) -> ExchangeError | None:
        return classify_binance(status, headers, payload)

    def rate_budget(self, headers: Mapping[str, str]) -> float | None:
        # Spot allows 6000 request weight a minute per IP.
        used = headers.get("X-MBX-USED-WEIGHT-1M") or headers.get("x-mbx-used-weight-1m")
        return None if used is None else max(0.0, 6000 - num(used))

    async def server_time_ms(self) -> int:
        return int((await self.request("GET", "/api/v3/time", endpoint="time"))["serverTime"])

    async def fetch_instrument_info(self, symbol: str) -> dict[str, Any]:
        data = await self.request("GET", "/api/v3/exchangeInfo", params={"symbol": symbol}, endpoint="exchangeInfo")
        for s in data.get("symbols") or []:
            if s.get("symbol") == symbol:
                if s.get("status") != "TRADING":
                    raise ExchangeError("rejected", f"Binance spot {symbol} is not trading (status "
                                        f"{s.get('status')})", code="SYMBOL_NOT_TRADING")
                return _rules_from_filters(s)
        raise ExchangeError("rejected", f"Binance spot has no symbol {symbol}", code="-1121")

    def _spot_guard(self, side: str, reduce_only: bool, leverage: float) -> None:
        if leverage != 1:
            raise ExchangeError("rejected", f"Binance spot trades at leverage 1 only (the signal asks for "
                                f"{leverage:g}x): send market \"futures\" for a leveraged order", code="SPOT_LEVERAGE")
        if side == "SELL" and not reduce_only:
            raise ExchangeError("rejected", "Binance spot cannot open a short: send market \"futures\" to go short",
                                code="SPOT_SHORT")

    async def submit(self, order: OrderRequest) -> OrderResult:
        self._check_client_id(order.client_order_id)
        self._spot_guard(order.side, order.reduce_only, order.leverage)
        symbol = order.symbol.upper()
        params: dict[str, Any] = {"symbol": symbol, "side": order.side, "type": order.order_type,
                                  "quantity": plain(order.quantity)}
        if order.order_type == "LIMIT":
            params["timeInForce"] = "GTC"
            params["price"] = await self._limit_price(order)
        params["newClientOrderId"] = order.client_order_id
        params["newOrderRespType"] = "FULL"  # the fills, with their commissions
        o = await self.request("POST", self.order_path, params=params, signed=True, endpoint="order")
        return await self._complete(symbol, o, list(o.get("fills") or []))

    async def set_leverage(self, symbol: str, leverage: float) -> None:
        if leverage != 1:
            self._spot_guard("BUY", False, leverage)

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        raise ExchangeError("rejected", "Binance spot has no margin mode: send market \"futures\" for leverage",
                            code="SPOT_MARGIN")

    async def positions(self, symbol: str | None = None) -> list[Position]:
        return []  # spot holdings are balances, not positions

    async def balance(self, asset: str = "USDT") -> Balance:
        return await spot_v3_balance(self, asset, {"omitZeroBalances": "true"})

    async def ticker(self, symbol: str) -> float:
        return await spot_v3_ticker(self, symbol)

    async def mark_price(self, symbol: str) -> float:
        return await self.ticker(symbol)  # spot has no mark price: the last price is the market's price


# Spot v3 account and ticker calls, which MEXC's spot API shares with Binance's.
async def spot_v3_balance(ex: LiveExchange, asset: str, params: dict[str, str] | None = None) -> Balance:
    data = await ex.request("GET", "/api/v3/account", params=params, signed=True, endpoint="account")
    for b in data.get("balances") or []:
        if b.get("asset") == asset:
            return Balance(asset=asset, free=num(b.get("free")), locked=num(b.get("locked")))
    return Balance(asset=asset, free=0.0, locked=0.0)


async def spot_v3_ticker(ex: LiveExchange, symbol: str) -> float:
    r = await ex.request("GET", "/api/v3/ticker/price", params={"symbol": symbol.upper()}, endpoint="ticker")
    return num(r.get("price"))
