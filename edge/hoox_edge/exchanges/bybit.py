"""Bybit v5 (unified account): category `linear` (USDT perpetuals) and `spot`.

Signing (v5 "HMAC" keys): headers X-BAPI-API-KEY, X-BAPI-TIMESTAMP (ms), X-BAPI-RECV-WINDOW and
X-BAPI-SIGN = hex HMAC-SHA256(secret, timestamp + apiKey + recvWindow + payload), where payload is
the query string of a GET and the exact JSON body of a POST.

Answers are `{retCode, retMsg, result, time}`; they are read by meaning in `classify`:
"not modified" answers (110043 leverage, 110025 position mode, 110026 margin mode) are success,
10006 / 10018 and HTTP 403 / 429 are rate limits, 10002 is clock skew, a duplicate orderLinkId is
`duplicate_order`, server-side codes are retryable and every other code is a rejection.

Orders carry `orderLinkId` (<= 36 characters: letters, digits, "-", "_"; ours are 32 alphanumerics).
`/v5/order/create` answers only ids, so the fill is read back through `/v5/order/realtime` (then
`/v5/order/history`) by that id, which is also how a retry finds an order an earlier attempt placed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from hoox_edge.exchanges.base import (
    Balance,
    ExchangeError,
    MarginMode,
    OrderRequest,
    OrderResult,
    Position,
)
from hoox_edge.exchanges.live import LiveExchange, body_bytes, num, plain, retry_after_seconds
from hoox_edge.exchanges.signing import canonical_query, hmac_sha256_hex
from hoox_edge.shared import clock

RECV_WINDOW = "5000"
SUCCESS_ALREADY_SET = {110043, 110025, 110026}  # leverage / position mode / margin mode not modified
RATE_LIMIT = {10006, 10018}
CLOCK_SKEW = {10002}
DUPLICATE_ID = {110072, 170141}  # orderLinkId already used (derivatives / spot)
SERVER_SIDE = {10000, 10016, 10019}  # server timeout / error / restarting: try again later
ORDER_NOT_FOUND = {110001, 170213}
FILL_POLLS = 5  # a market order is read back until it reports its fill
FILL_POLL_DELAY = 0.2  # seconds between those reads
_STATUS = {
    "Filled": "Filled", "PartiallyFilled": "PartiallyFilled", "New": "New", "Untriggered": "New",
    "Created": "New", "Active": "New", "Rejected": "Rejected", "Cancelled": "Cancelled",
    "PartiallyFilledCanceled": "Cancelled", "Deactivated": "Expired", "Triggered": "New",
}


def sign_payload(secret: str, timestamp_ms: int | str, api_key: str, recv_window: str, payload: str) -> str:
    """The X-BAPI-SIGN of a request (hex HMAC-SHA256)."""
    return hmac_sha256_hex(secret, f"{timestamp_ms}{api_key}{recv_window}{payload}")


class Bybit(LiveExchange):
    name = "bybit"
    default_base_url = "https://api.bybit.com"
    testnet_base_url = "https://api-testnet.bybit.com"
    markets = ("futures", "spot")

    @property
    def category(self) -> str:
        return "spot" if self.market == "spot" else "linear"

    # ------------------------------------------------------------------ LiveExchange hooks
    def sign(self, method: str, path: str, params: dict, body: dict | None,
             timestamp_ms: int) -> tuple[dict[str, str], dict, bytes | None]:
        assert self.creds is not None
        raw = body_bytes(body) if method != "GET" else None
        payload = raw.decode("utf-8") if raw is not None else canonical_query(params)
        headers = {
            "X-BAPI-API-KEY": self.creds.api_key,
            "X-BAPI-TIMESTAMP": str(timestamp_ms),
            "X-BAPI-RECV-WINDOW": RECV_WINDOW,
            "X-BAPI-SIGN": sign_payload(self.creds.api_secret, timestamp_ms, self.creds.api_key, RECV_WINDOW,
                                        payload),
        }
        return headers, params, raw

    def classify(self, status: int, headers: Mapping[str, str], payload: Any) -> ExchangeError | None:
        if status == 403:
            # Bybit's IP limit: the ban lifts after about ten minutes.
            return ExchangeError("rate_limited", "bybit refused the request (HTTP 403: IP rate limit, or a "
                                 "region Bybit does not serve); retry after 10 minutes", code="403",
                                 retry_after=600)
        if status == 429:
            return ExchangeError("rate_limited", "bybit system-level frequency protection (HTTP 429)", code="429",
                                 retry_after=_retry_after(headers) or 1)
        if status >= 500:
            return ExchangeError("unavailable", f"bybit answered HTTP {status}", code=str(status))
        if not isinstance(payload, dict) or "retCode" not in payload:
            if status >= 400:
                return ExchangeError("rejected", f"bybit answered HTTP {status}: {str(payload)[:200]}",
                                     code=str(status))
            return ExchangeError("unavailable", "bybit answered without a retCode", code=str(status))
        code = int(payload.get("retCode") or 0)
        msg = str(payload.get("retMsg") or "")
        if code == 0 or code in SUCCESS_ALREADY_SET:
            return None
        text = f"bybit: {msg}" if msg else f"bybit retCode {code}"
        if code in RATE_LIMIT:
            return ExchangeError("rate_limited", text, code=str(code), retry_after=_retry_after(headers) or 1)
        if code in CLOCK_SKEW:
            return ExchangeError("clock_skew", text, code=str(code))
        if code in DUPLICATE_ID or ("duplicate" in msg.lower() and "orderlinkid" in msg.lower()):
            return ExchangeError("duplicate_order", text, code=str(code))
        if code in SERVER_SIDE:
            return ExchangeError("unavailable", text, code=str(code))
        return ExchangeError("rejected", text, code=str(code))

    async def server_time_ms(self) -> int:
        data = await self.request("GET", "/v5/market/time", endpoint="market_time")
        result = data.get("result") or {}
        if result.get("timeNano"):
            return int(result["timeNano"]) // 1_000_000
        if result.get("timeSecond"):
            return int(result["timeSecond"]) * 1000
        return int(data["time"])

    def rate_budget(self, headers: Mapping[str, str]) -> float | None:
        v = headers.get("X-Bapi-Limit-Status") or headers.get("x-bapi-limit-status")
        try:
            return float(v) if v is not None else None
        except ValueError:
            return None

    # ------------------------------------------------------------------ ExchangeProvider
    async def submit(self, order: OrderRequest) -> OrderResult:
        body: dict[str, Any] = {
            "category": self.category,
            "symbol": order.symbol.upper(),
            "side": "Buy" if order.side == "BUY" else "Sell",
            "orderType": "Limit" if order.order_type == "LIMIT" else "Market",
            "qty": plain(order.quantity),
            "orderLinkId": order.client_order_id,
        }
        if order.order_type == "LIMIT":
            if order.price is None:
                raise ExchangeError("rejected", "a LIMIT order needs a price", code="NO_PRICE")
            body["price"] = plain(order.price)
            body["timeInForce"] = "GTC"
        if self.category == "linear":
            body["positionIdx"] = 0  # one-way mode
            if order.reduce_only:
                body["reduceOnly"] = True
        elif order.order_type == "MARKET":
            body["marketUnit"] = "baseCoin"  # a spot market buy counts qty in the quote coin otherwise
        data = await self.request("POST", "/v5/order/create", body=body, signed=True, endpoint="order_create")
        order_id = str((data.get("result") or {}).get("orderId") or "")
        found: OrderResult | None = None
        for i in range(FILL_POLLS if order.order_type == "MARKET" else 1):
            found = await self.get_order(order.symbol, order.client_order_id)
            if found is not None and found.status in ("Filled", "Rejected", "Cancelled"):
                break
            if i + 1 < FILL_POLLS and order.order_type == "MARKET":
                await asyncio.sleep(FILL_POLL_DELAY)
        if found is not None:
            return found
        # Accepted, not readable yet: a later attempt records the fill by its client order id.
        return OrderResult(order_id=order_id, client_order_id=order.client_order_id, symbol=order.symbol.upper(),
                           side=order.side, status="New", quantity=order.quantity, executed_qty=0.0,
                           avg_price=None, fee=0.0, timestamp_ms=self.now_ms())

    async def get_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        params = {"category": self.category, "symbol": symbol.upper(), "orderLinkId": client_order_id}
        for path, ep in (("/v5/order/realtime", "order_realtime"), ("/v5/order/history", "order_history")):
            try:
                data = await self.request("GET", path, params=params, signed=True, endpoint=ep)
            except ExchangeError as exc:
                if exc.code is not None and exc.code.isdigit() and int(exc.code) in ORDER_NOT_FOUND:
                    continue
                raise
            rows = (data.get("result") or {}).get("list") or []
            mine = [r for r in rows if r.get("orderLinkId") == client_order_id]
            if mine:
                return self._order(mine[0])
        return None

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderResult:
        body = {"category": self.category, "symbol": symbol.upper(), "orderLinkId": client_order_id}
        await self.request("POST", "/v5/order/cancel", body=body, signed=True, endpoint="order_cancel")
        found = await self.get_order(symbol, client_order_id)
        if found is None:
            raise ExchangeError("timeout", "Bybit cancelled the order but does not return it yet", code="NOT_VISIBLE")
        return found

    def _order(self, r: dict[str, Any]) -> OrderResult:
        executed = num(r.get("cumExecQty"))
        avg = num(r.get("avgPrice"))
        if not avg and executed and num(r.get("cumExecValue")):
            avg = num(r.get("cumExecValue")) / executed
        fee = num(r.get("cumExecFee"))
        side = "BUY" if r.get("side") == "Buy" else "SELL"
        if self.category == "spot" and side == "BUY" and avg:
            fee = fee * avg  # a spot buy pays its fee in the coin bought: valued in USDT at the fill price
        return OrderResult(
            order_id=str(r.get("orderId") or ""), client_order_id=str(r.get("orderLinkId") or ""),
            symbol=str(r.get("symbol") or ""), side=side,  # type: ignore[arg-type]
            status=_STATUS.get(str(r.get("orderStatus")), "New"),  # type: ignore[arg-type]
            quantity=num(r.get("qty")), executed_qty=executed, avg_price=avg or None, fee=fee,
            fee_asset="USDT", timestamp_ms=int(num(r.get("updatedTime")) or num(r.get("createdTime"))))

    async def set_leverage(self, symbol: str, leverage: float) -> None:
        if self.category == "spot":
            if leverage > 1:
                raise ExchangeError("rejected", "spot orders trade without leverage: send leverage 1 or "
                                    'market "futures"', code="SPOT_LEVERAGE")
            return
        lev = plain(leverage)
        await self.request("POST", "/v5/position/set-leverage", signed=True, endpoint="set_leverage",
                           body={"category": "linear", "symbol": symbol.upper(), "buyLeverage": lev,
                                 "sellLeverage": lev})

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        if self.category == "spot":
            return
        # Unified accounts set the margin mode for the whole account, not per symbol.
        await self.request("POST", "/v5/account/set-margin-mode", signed=True, endpoint="set_margin_mode",
                           body={"setMarginMode": "ISOLATED_MARGIN" if mode == "isolated" else "REGULAR_MARGIN"})

    async def positions(self, symbol: str | None = None) -> list[Position]:
        if self.category == "spot":
            return []  # spot holds coins, not positions
        params: dict[str, Any] = {"category": "linear"}
        if symbol:
            params["symbol"] = symbol.upper()
        else:
            params["settleCoin"] = "USDT"
        data = await self.request("GET", "/v5/position/list", params=params, signed=True, endpoint="position_list")
        out = []
        for r in (data.get("result") or {}).get("list") or []:
            size = num(r.get("size"))
            if size <= 0 or r.get("side") not in ("Buy", "Sell"):
                continue
            out.append(Position(
                symbol=str(r.get("symbol")), side="LONG" if r["side"] == "Buy" else "SHORT", size=size,
                entry_price=num(r.get("avgPrice")), leverage=num(r.get("leverage")) or 1.0,
                mark_price=num(r.get("markPrice")) or None, unrealized_pnl=num(r.get("unrealisedPnl")),
                liquidation_price=num(r.get("liqPrice")) or None))
        return out

    async def balance(self, asset: str = "USDT") -> Balance:
        data = await self.request("GET", "/v5/account/wallet-balance", signed=True, endpoint="wallet_balance",
                                  params={"accountType": "UNIFIED", "coin": asset.upper()})
        for account in (data.get("result") or {}).get("list") or []:
            for c in account.get("coin") or []:
                if str(c.get("coin")).upper() == asset.upper():
                    total = num(c.get("walletBalance"))
                    locked = min(total, num(c.get("locked")) + num(c.get("totalOrderIM"))
                                 + num(c.get("totalPositionIM")))
                    return Balance(asset=asset.upper(), free=total - locked, locked=locked)
        return Balance(asset=asset.upper(), free=0.0, locked=0.0)

    async def _ticker(self, symbol: str) -> dict[str, Any]:
        data = await self.request("GET", "/v5/market/tickers", endpoint="market_tickers",
                                  params={"category": self.category, "symbol": symbol.upper()})
        rows = (data.get("result") or {}).get("list") or []
        if not rows:
            raise ExchangeError("rejected", f"bybit has no {self.category} ticker for {symbol}", code="NO_TICKER")
        return rows[0]

    async def ticker(self, symbol: str) -> float:
        return num((await self._ticker(symbol)).get("lastPrice"))

    async def mark_price(self, symbol: str) -> float:
        t = await self._ticker(symbol)
        return num(t.get("markPrice")) or num(t.get("lastPrice"))  # spot has no mark price: last trade

    async def fetch_instrument_info(self, symbol: str) -> dict[str, Any]:
        data = await self.request("GET", "/v5/market/instruments-info", endpoint="instruments_info",
                                  params={"category": self.category, "symbol": symbol})
        rows = (data.get("result") or {}).get("list") or []
        if not rows:
            raise ExchangeError("rejected", f"bybit has no {self.category} instrument {symbol}", code="10001")
        r = rows[0]
        lot = r.get("lotSizeFilter") or {}
        price = r.get("priceFilter") or {}
        if self.category == "spot":  # spot states the step as basePrecision and the minimum value as minOrderAmt
            step = num(lot.get("basePrecision")) or num(lot.get("qtyStep"))
            min_notional = num(lot.get("minOrderAmt")) or num(lot.get("minNotionalValue"))
        else:
            step = num(lot.get("qtyStep"))
            min_notional = num(lot.get("minNotionalValue"))
        return {"qty_step": step, "min_qty": num(lot.get("minOrderQty")), "min_notional": min_notional,
                "tick_size": num(price.get("tickSize"))}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: Retry-After, else X-Bapi-Limit-Reset-Timestamp (ms epoch) from now."""
    if headers.get("Retry-After") or headers.get("retry-after"):
        return retry_after_seconds(headers)
    reset = headers.get("X-Bapi-Limit-Reset-Timestamp") or headers.get("x-bapi-limit-reset-timestamp")
    if reset:
        try:
            return max(0.0, (int(reset) - clock.now_ms()) / 1000)
        except ValueError:
            return None
    return None
