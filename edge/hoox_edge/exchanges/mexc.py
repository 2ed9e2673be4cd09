"""MEXC spot v3 connector (`MexcSpot`).

Signed like Binance (`hoox_edge.exchanges.signing`: hex HMAC-SHA256 of the query string,
`signature=` last) with the key in `X-MEXC-APIKEY`. MEXC futures order placement is closed to the
public API, so only spot trades here: a signal for MEXC must say `market: "spot"`, at leverage 1,
and cannot open a short. Anything else gets a clear rejection rather than a guess.

Exactly once: every order carries `newClientOrderId` (at most 32 letters, digits, `_` or `-`);
`get_order` looks it up by `origClientOrderId`. MEXC does not document a code of its own for a
reused client order id, so a rejected placement is followed by a lookup of that id: if the order
exists, it is ours, and the answer is `duplicate_order` (the trade-worker records that order).

Errors by meaning: HTTP 429 / 418 (and 403, MEXC's WAF limit) -> rate_limited with `Retry-After`;
700003 / 10073 (timestamp outside recvWindow) -> clock_skew; HTTP 5xx -> timeout, execution status
unknown as MEXC documents; the rest -> rejected with MEXC's message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from hoox_edge.exchanges.base import Balance, ExchangeError, MarginMode, Market, OrderRequest, OrderResult, Position
from hoox_edge.exchanges.binance import _BinanceStyle, _rules_from_filters, spot_v3_balance, spot_v3_ticker
from hoox_edge.exchanges.live import num, plain, retry_after_seconds

MEXC_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
FUTURES_CLOSED = ("MEXC futures order placement is closed to the public API; hoox trades MEXC spot only: "
                  "send market \"spot\" at leverage 1 (spot cannot go short)")
_CLOCK_CODES = (700003, 10073)


def classify_mexc(status: int, headers: Mapping[str, str], payload: Any) -> ExchangeError | None:
    """MEXC spot v3's answer by meaning; None when it succeeded."""
    code = payload.get("code") if isinstance(payload, dict) else None
    msg = str(payload.get("msg") or "") if isinstance(payload, dict) else ""
    has_code = isinstance(code, int) and not isinstance(code, bool) and code not in (0, 200) and "msg" in payload
    shown = str(code) if has_code else str(status)
    retry_after = retry_after_seconds(headers)
    if status in (418, 429) or code == 429:
        return ExchangeError("rate_limited", f"MEXC rate limit reached: {msg or f'HTTP {status}'}", code=shown,
                             retry_after=retry_after)
    if status == 403:
        return ExchangeError("rate_limited", f"MEXC denied access (WAF limit): {msg or 'HTTP 403'}", code=shown,
                             retry_after=retry_after)
    if has_code and code in _CLOCK_CODES:
        return ExchangeError("clock_skew", f"MEXC: {msg}", code=shown)
    if status >= 500:
        return ExchangeError("timeout", f"MEXC answered HTTP {status}: execution status unknown", code=shown)
    if has_code or status >= 400:
        return ExchangeError("rejected", f"MEXC: {msg or f'HTTP {status}'}", code=shown)
    return None


def _rules(s: Mapping[str, Any]) -> dict[str, Any]:
    """MEXC lists precisions rather than filters: the step is 10^-baseAssetPrecision, the tick
    10^-quotePrecision, the minimum quantity baseSizePrecision, the minimum order value
    quoteAmountPrecision (the market-order one when it is larger). Filters win when MEXC sends them."""
    rules = _rules_from_filters(s)
    qty_digits = int(num(s.get("baseAssetPrecision"), 8))
    price_digits = int(num(s.get("quotePrecision", s.get("quoteAssetPrecision")), 8))
    step = rules["qty_step"] or float(Decimal(1).scaleb(-qty_digits))
    return {
        "qty_step": step,
        "min_qty": rules["min_qty"] or num(s.get("baseSizePrecision")) or step,
        "min_notional": rules["min_notional"] or max(num(s.get("quoteAmountPrecision")),
                                                     num(s.get("quoteAmountPrecisionMarket"))),
        "tick_size": rules["tick_size"] or float(Decimal(1).scaleb(-price_digits)),
        "base_asset": s.get("baseAsset"), "quote_asset": s.get("quoteAsset"),
    }


class MexcSpot(_BinanceStyle):
    name: ClassVar[str] = "mexc"
    # A futures signal reaches this class too, to be refused with the reason (see FUTURES_CLOSED).
    markets: ClassVar[tuple[Market, ...]] = ("spot", "futures")
    default_base_url: ClassVar[str] = "https://api.mexc.com"
    testnet_base_url: ClassVar[str | None] = None  # MEXC runs no public testnet
    api_key_header: ClassVar[str] = "X-MEXC-APIKEY"
    vendor: ClassVar[str] = "MEXC"
    client_id_rule: ClassVar[re.Pattern[str]] = MEXC_CLIENT_ID
    client_id_rule_text: ClassVar[str] = "1-32 letters, digits, _ or -"
    order_path: ClassVar[str] = "/api/v3/order"
    trades_path: ClassVar[str] = "/api/v3/myTrades"

    def classify(self, status: int, headers: Mapping[str, str], payload: Any) -> ExchangeError | None:
        return classify_mexc(status, headers, payload)

    async def server_time_ms(self) -> int:
        return int((await self.request("GET", "/api/v3/time", endpoint="time"))["serverTime"])

    def _spot_only(self, *, side: str = "BUY", reduce_only: bool = False, leverage: float = 1) -> None:
        if self.market != "spot" or leverage != 1:
            raise ExchangeError("rejected", FUTURES_CLOSED, code="MEXC_FUTURES_CLOSED")
        if side == "SELL" and not reduce_only:
            raise ExchangeError("rejected", "MEXC spot cannot open a short (" + FUTURES_CLOSED + ")",
                                code="MEXC_FUTURES_CLOSED")

    async def fetch_instrument_info(self, symbol: str) -> dict[str, Any]:
        data = await self.request("GET", "/api/v3/exchangeInfo", params={"symbol": symbol}, endpoint="exchangeInfo")
        for s in data.get("symbols") or []:
            if s.get("symbol") == symbol:
                status = str(s.get("status"))
                if status not in ("1", "ENABLED", "TRADING") or s.get("isSpotTradingAllowed") is False:
                    raise ExchangeError("rejected", f"MEXC spot {symbol} is not trading (status {status})",
                                        code="SYMBOL_NOT_TRADING")
                return _rules(s)
        raise ExchangeError("rejected", f"MEXC spot has no symbol {symbol}", code="-1121")

    async def submit(self, order: OrderRequest) -> OrderResult:
        self._spot_only(side=order.side, reduce_only=order.reduce_only, leverage=order.leverage)
        self._check_client_id(order.client_order_id)
        symbol = order.symbol.upper()
        params: dict[str, Any] = {"symbol": symbol, "side": order.side, "type": order.order_type,
                                  "quantity": plain(order.quantity)}
        if order.order_type == "LIMIT":
            params["price"] = await self._limit_price(order)
        params["newClientOrderId"] = order.client_order_id
        try:
            await self.request("POST", self.order_path, params=params, signed=True, endpoint="order")
        except ExchangeError as exc:
            if exc.kind != "rejected" or exc.code in ("MEXC_FUTURES_CLOSED", "NO_CREDENTIALS"):
                raise
            # A rejection while an order with our id exists means the id was taken: by us, earlier.
            if await self.get_order(symbol, order.client_order_id) is not None:
                raise ExchangeError("duplicate_order", exc.message, code=exc.code) from exc
            raise
        # MEXC answers a placement with the order's id only: read its state and fills.
        found = await self.get_order(symbol, order.client_order_id)
        if found is None:
            raise ExchangeError("timeout", "MEXC accepted the order but does not return it yet", code="NOT_VISIBLE")
        return found

    async def set_leverage(self, symbol: str, leverage: float) -> None:
        self._spot_only(leverage=leverage)

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        raise ExchangeError("rejected", FUTURES_CLOSED, code="MEXC_FUTURES_CLOSED")

    @property
    def reads_positions(self) -> bool:
        return False  # MEXC futures live on another API (contract.mexc.com) that hoox does not trade on

    async def positions(self, symbol: str | None = None) -> list[Position]:
        return []  # spot holdings are balances, not positions

    async def balance(self, asset: str = "USDT") -> Balance:
        return await spot_v3_balance(self, asset)

    async def ticker(self, symbol: str) -> float:
        return await spot_v3_ticker(self, symbol)

    async def mark_price(self, symbol: str) -> float:
        return await self.ticker(symbol)  # spot has no mark price: the last price is the market's price
