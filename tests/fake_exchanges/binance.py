"""A fake Binance (USDⓈ-M futures under /fapi, spot under /api/v3) on loopback.

Signatures are checked from Binance's documented rule, written here independently of the
connector: the `X-MBX-APIKEY` header names the key; `signature` is the hex HMAC-SHA256, keyed with
the secret, of totalParams = the query string as received without its `signature` parameter,
followed by the raw request body. The timing rule is Binance's: a request is processed only when
`timestamp < serverTime + 1000` and `serverTime - timestamp <= recvWindow` (-1021 otherwise).

Answers use Binance's shapes and codes: errors are `{"code": -NNNN, "msg": ...}` with HTTP 4xx;
rate limits answer 429 with `Retry-After` and -1003, and a client that keeps calling while limited
gets 418 (IP ban) the same way. Spot and futures share one fake account here (one test uses one
market at a time).
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fake_exchanges import FakeExchange, FakeOrder, total_params_signature

CLIENT_ID_CHARS = set(".ABCDEFGHIJKLMNOPQRSTUVWXYZ:/abcdefghijklmnopqrstuvwxyz0123456789_-")
_STATUS = {"NEW": "NEW", "PARTIALLY_FILLED": "PARTIALLY_FILLED", "FILLED": "FILLED", "CANCELLED": "CANCELED"}


def text(d: Decimal | None) -> str:
    if d is None:
        return "0"
    return format(d.normalize(), "f") if d else "0"


def base_of(symbol: str) -> str:
    return symbol[:-4] if symbol.endswith("USDT") else symbol[:-3]


@dataclass
class FakeBinance(FakeExchange):
    # symbol -> (stepSize, minQty) of MARKET_LOT_SIZE when it differs from LOT_SIZE
    market_lot: dict[str, tuple[str, str]] = field(default_factory=dict)
    margin_mode: str = "CROSSED"  # Binance's default margin type
    retry_after: int = 2  # seconds the rate-limit answers ask the client to wait
    _ids: Any = field(default_factory=lambda: itertools.count(8_389_765_000))
    _limited_in_a_row: int = 0
    # What GET /sapi/v1/account/apiRestrictions reports of the key; reading and trading only by default.
    api_restrictions: dict[str, Any] = field(default_factory=lambda: {
        "ipRestrict": False, "createTime": 1767225600000, "enableReading": True, "enableWithdrawals": False,
        "enableInternalTransfer": False, "enableMargin": False, "enableFutures": True,
        "permitsUniversalTransfer": False, "enableVanillaOptions": False, "enableSpotAndMarginTrading": True})

    # ------------------------------------------------------------------ plumbing
    def error(self, code: int, msg: str, status: int = 400, headers: dict | None = None) -> JSONResponse:
        return JSONResponse({"code": code, "msg": msg}, status_code=status, headers=headers)

    def ok(self, payload: Any) -> JSONResponse:
        return JSONResponse(payload, headers={"X-MBX-USED-WEIGHT-1M": str(len(self.calls))})

    def check(self, request: Request, raw: bytes) -> JSONResponse | None:
        """Binance's SIGNED-endpoint rule, from its docs."""
        key = request.headers.get("X-MBX-APIKEY")
        if key != self.api_key:
            return self.error(-2015, "Invalid API-key, IP, or permissions for action.", status=401)
        signatures, expected = total_params_signature(request.url.query, raw, self.api_secret)
        if len(signatures) != 1:
            return self.error(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        if not hmac.compare_digest(expected, signatures[0].lower()):
            self.bad_signatures += 1
            return self.error(-1022, "Signature for this request is not valid.")
        params = dict(request.query_params)
        try:
            ts = int(params["timestamp"])
            window = int(params.get("recvWindow", "5000"))
        except (KeyError, ValueError):
            return self.error(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
        server = self.server_ms()
        if ts >= server + 1000:
            return self.error(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if server - ts > window:
            return self.error(-1021, "Timestamp for this request is outside of the recvWindow.")
        return None

    def app(self) -> Starlette:
        async def handle(request: Request) -> JSONResponse:
            raw = await request.body()
            params = dict(request.query_params)
            path = request.url.path
            self.calls.append({"method": request.method, "path": path, "params": params,
                               "body": json.loads(raw) if raw else None, "query": request.url.query})
            if self.take_rate_limit():
                self._limited_in_a_row += 1
                headers = {"Retry-After": str(self.retry_after)}
                if self._limited_in_a_row > 1:  # kept calling after a 429: Binance bans the IP (418)
                    return self.error(-1003, "Way too many requests; IP banned until now + 2 s. Please use "
                                      "the websocket for live updates to avoid bans.", status=418, headers=headers)
                return self.error(-1003, "Too many requests; current limit is 2400 requests per minute.",
                                  status=429, headers=headers)
            self._limited_in_a_row = 0
            route = _PUBLIC.get((request.method, path))
            if route is not None:
                return await route(self, params)
            route = _SIGNED.get((request.method, path))
            if route is None:
                return JSONResponse({"code": -5000, "msg": f"Path {path}, Method {request.method} is invalid"},
                                    status_code=404)
            if (bad := self.check(request, raw)) is not None:
                return bad
            return await route(self, params)

        return Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST", "DELETE"])])

    # ------------------------------------------------------------------ public
    async def time(self, p: dict) -> JSONResponse:
        return self.ok({"serverTime": self.server_ms()})

    def symbol_row(self, sym: str, spot: bool) -> dict[str, Any]:
        ins = self.instruments[sym]
        m_step, m_min = self.market_lot.get(sym, (ins.qty_step, ins.min_qty))
        filters: list[dict[str, Any]] = [
            {"filterType": "PRICE_FILTER", "minPrice": ins.tick_size, "maxPrice": "1000000", "tickSize": ins.tick_size},
            {"filterType": "LOT_SIZE", "minQty": ins.min_qty, "maxQty": "1000", "stepSize": ins.qty_step},
            {"filterType": "MARKET_LOT_SIZE", "minQty": m_min, "maxQty": "120", "stepSize": m_step},
        ]
        if spot:
            filters.append({"filterType": "NOTIONAL", "minNotional": ins.min_notional, "applyMinToMarket": True,
                            "maxNotional": "9000000", "applyMaxToMarket": False, "avgPriceMins": 5})
        else:
            filters.append({"filterType": "MIN_NOTIONAL", "notional": ins.min_notional})
        row = {"symbol": sym, "status": "TRADING", "baseAsset": base_of(sym), "quoteAsset": "USDT",
               "filters": filters}
        if not spot:
            row.update({"pair": sym, "contractType": "PERPETUAL", "marginAsset": "USDT"})
        return row

    async def futures_exchange_info(self, p: dict) -> JSONResponse:
        return self.ok({"timezone": "UTC", "serverTime": self.server_ms(), "rateLimits": [],
                        "symbols": [self.symbol_row(s, False) for s in self.instruments]})

    async def spot_exchange_info(self, p: dict) -> JSONResponse:
        sym = p.get("symbol")
        if sym is not None and sym not in self.instruments:
            return self.error(-1121, "Invalid symbol.")
        syms = [sym] if sym else list(self.instruments)
        return self.ok({"timezone": "UTC", "serverTime": self.server_ms(), "rateLimits": [],
                        "symbols": [self.symbol_row(s, True) for s in syms]})

    async def ticker_price(self, p: dict) -> JSONResponse:
        sym = p.get("symbol", "")
        if sym not in self.prices:
            return self.error(-1121, "Invalid symbol.")
        return self.ok({"symbol": sym, "price": text(self.prices[sym]), "time": self.server_ms()})

    async def premium_index(self, p: dict) -> JSONResponse:
        sym = p.get("symbol", "")
        if sym not in self.prices:
            return self.error(-1121, "Invalid symbol.")
        return self.ok({"symbol": sym, "markPrice": text(self.prices[sym]), "indexPrice": text(self.prices[sym]),
                        "lastFundingRate": "0.0001", "time": self.server_ms()})

    # ------------------------------------------------------------------ orders
    async def new_order(self, p: dict, *, spot: bool) -> JSONResponse:
        sym, cid = p.get("symbol", ""), p.get("newClientOrderId", "")
        if sym not in self.instruments or sym not in self.prices:
            return self.error(-1121, "Invalid symbol.")
        if not (1 <= len(cid) <= 36) or not set(cid) <= CLIENT_ID_CHARS:
            return self.error(-1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is "
                              "'^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
        if cid in self.orders:
            return self.error(-2010, "Duplicate order sent.") if spot else \
                self.error(-4116, "ClientOrderId is duplicated.")
        ins = self.instruments[sym]
        kind = p.get("type")
        try:
            qty = Decimal(p["quantity"])
        except (KeyError, ArithmeticError):
            return self.error(-1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.")
        step, min_qty = (Decimal(x) for x in self.market_lot.get(sym, (ins.qty_step, ins.min_qty))) \
            if kind == "MARKET" else (Decimal(ins.qty_step), Decimal(ins.min_qty))
        if qty % Decimal(ins.qty_step) != 0 or qty % step != 0 or qty < min_qty or qty < Decimal(ins.min_qty):
            return self.error(-1013, "Filter failure: MARKET_LOT_SIZE" if kind == "MARKET" else
                              "Filter failure: LOT_SIZE")
        price = None
        if kind == "LIMIT":
            if p.get("timeInForce") != "GTC":
                return self.error(-1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or "
                                  "malformed.")
            price = Decimal(p["price"])
            if price % Decimal(ins.tick_size) != 0:
                return self.error(-1013, "Filter failure: PRICE_FILTER") if spot else \
                    self.error(-4014, "Price not increased by tick size.")
        elif kind != "MARKET":
            return self.error(-1116, "Invalid orderType.")
        reduce = p.get("reduceOnly") == "true"
        if spot and "reduceOnly" in p:
            return self.error(-1104, "Not all sent parameters were read; read '8' parameter(s) but was sent '9'.")
        notional = qty * (price or self.prices[sym])
        if notional < Decimal(ins.min_notional) and not reduce:
            return self.error(-1013, "Filter failure: NOTIONAL") if spot else \
                self.error(-4164, f"Order's notional must be no smaller than {ins.min_notional} (unless you "
                           "choose reduce only).")
        o = FakeOrder(order_id=str(next(self._ids)), client_id=cid, symbol=sym, side=p.get("side", ""),
                      order_type=kind, qty=qty, price=price, status="NEW", reduce_only=reduce,
                      market="spot" if spot else "futures", created_ms=self.server_ms())
        if spot and o.side == "SELL":
            o.reduce_only = True  # spot sells only what it holds: the fake's account treats it as closing
        marketable = kind == "MARKET" or (price is not None and (
            (o.side == "BUY" and price >= self.prices[sym]) or (o.side == "SELL" and price <= self.prices[sym])))
        if marketable:
            reason = self.fill(o, self.leverage.get(sym, Decimal(1)))
            if reason == "balance":
                return self.error(-2010, "Account has insufficient balance for requested action.") if spot else \
                    self.error(-2019, "Margin is insufficient.")
            if reason == "reduce":
                return self.error(-2010, "Account has insufficient balance for requested action.") if spot else \
                    self.error(-2022, "ReduceOnly Order is rejected.")
        self.orders[cid] = o
        if self.take_timeout():  # carried out; the answer is held back past the client's patience
            await asyncio.sleep(self.timeout_seconds)
        row = self.order_row(o, spot)
        if spot:
            row["transactTime"] = o.created_ms
            row["fills"] = [] if not o.executed else [
                {"price": text(o.avg_price), "qty": text(o.executed), "commission": text(o.fee),
                 "commissionAsset": "USDT", "tradeId": int(o.order_id) + 1}]
        return self.ok(row)

    def order_row(self, o: FakeOrder, spot: bool) -> dict[str, Any]:
        row: dict[str, Any] = {
            "symbol": o.symbol, "orderId": int(o.order_id), "clientOrderId": o.client_id,
            "price": text(o.price), "origQty": text(o.qty), "executedQty": text(o.executed),
            "status": _STATUS[o.status], "timeInForce": "GTC", "type": o.order_type, "side": o.side,
        }
        if spot:
            row.update({"orderListId": -1, "cummulativeQuoteQty": text(o.executed * o.avg_price),
                        "time": o.created_ms, "updateTime": o.created_ms, "isWorking": o.status == "NEW",
                        "origQuoteOrderQty": "0", "workingTime": o.created_ms,
                        "selfTradePreventionMode": "EXPIRE_MAKER"})
        else:
            row.update({"avgPrice": text(o.avg_price), "cumQty": text(o.executed),
                        "cumQuote": text(o.executed * o.avg_price), "reduceOnly": o.reduce_only,
                        "positionSide": "BOTH", "closePosition": False, "stopPrice": "0",
                        "workingType": "CONTRACT_PRICE",
                        "priceProtect": False, "origType": o.order_type, "updateTime": o.created_ms})
        return row

    async def futures_new_order(self, p: dict) -> JSONResponse:
        return await self.new_order(p, spot=False)

    async def spot_new_order(self, p: dict) -> JSONResponse:
        return await self.new_order(p, spot=True)

    async def query_order(self, p: dict, *, spot: bool) -> JSONResponse:
        if not p.get("origClientOrderId") and not p.get("orderId"):
            return self.error(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        for o in self.orders.values():
            if o.symbol == p.get("symbol") and (o.market == "spot") == spot and (
                    o.client_id == p.get("origClientOrderId") or o.order_id == p.get("orderId")):
                return self.ok(self.order_row(o, spot))
        return self.error(-2013, "Order does not exist.")

    async def cancel_order(self, p: dict, *, spot: bool) -> JSONResponse:
        o = self.cancel(p.get("origClientOrderId") or "", p.get("symbol") or "")
        if o is None or (o.market == "spot") != spot:
            return self.error(-2011, "Unknown order sent.")
        return self.ok(self.order_row(o, spot))

    async def futures_cancel_order(self, p: dict) -> JSONResponse:
        return await self.cancel_order(p, spot=False)

    async def spot_cancel_order(self, p: dict) -> JSONResponse:
        return await self.cancel_order(p, spot=True)

    async def futures_query_order(self, p: dict) -> JSONResponse:
        return await self.query_order(p, spot=False)

    async def spot_query_order(self, p: dict) -> JSONResponse:
        return await self.query_order(p, spot=True)

    async def trades(self, p: dict, *, spot: bool) -> JSONResponse:
        rows = []
        for o in self.orders.values():
            if o.symbol != p.get("symbol") or (p.get("orderId") and o.order_id != p["orderId"]) or not o.executed:
                continue
            row = {"symbol": o.symbol, "id": int(o.order_id) + 1, "orderId": int(o.order_id),
                   "price": text(o.avg_price), "qty": text(o.executed), "quoteQty": text(o.executed * o.avg_price),
                   "commission": text(o.fee), "commissionAsset": "USDT", "time": o.created_ms, "maker": False}
            if spot:
                row.update({"orderListId": -1, "isBuyer": o.side == "BUY", "isMaker": False, "isBestMatch": True})
                row.pop("maker")
            else:
                row.update({"side": o.side, "buyer": o.side == "BUY", "positionSide": "BOTH", "realizedPnl": "0",
                            "marginAsset": "USDT"})
            rows.append(row)
        return self.ok(rows)

    async def futures_trades(self, p: dict) -> JSONResponse:
        return await self.trades(p, spot=False)

    async def spot_trades(self, p: dict) -> JSONResponse:
        return await self.trades(p, spot=True)

    # ------------------------------------------------------------------ futures account
    async def set_leverage(self, p: dict) -> JSONResponse:
        sym = p.get("symbol", "")
        if sym not in self.instruments:
            return self.error(-1121, "Invalid symbol.")
        try:
            lev = int(p.get("leverage", ""))
        except ValueError:
            return self.error(-1102, "Mandatory parameter 'leverage' was not sent, was empty/null, or malformed.")
        if not 1 <= lev <= 125:
            return self.error(-4028, f"Leverage {lev} is not valid")
        self.leverage[sym] = Decimal(lev)
        return self.ok({"leverage": lev, "maxNotionalValue": "1000000", "symbol": sym})

    async def set_margin_type(self, p: dict) -> JSONResponse:
        mode = p.get("marginType")
        if mode not in ("ISOLATED", "CROSSED"):
            return self.error(-1102, "Mandatory parameter 'marginType' was not sent, was empty/null, or malformed.")
        if self.margin_mode == mode:
            return self.error(-4046, "No need to change margin type.")
        self.margin_mode = mode
        return self.ok({"code": 200, "msg": "success"})

    async def position_risk(self, p: dict) -> JSONResponse:
        rows = []
        for sym, pos in self.positions.items():
            if (p.get("symbol") and sym != p["symbol"]) or pos.size == 0:
                continue
            mark = self.prices[sym]
            notional = pos.size * mark
            lev = self.leverage.get(sym, Decimal(1))
            margin = abs(notional) / lev
            rows.append({"symbol": sym, "positionSide": "BOTH", "positionAmt": text(pos.size),
                         "entryPrice": text(pos.entry), "breakEvenPrice": text(pos.entry), "markPrice": text(mark),
                         "unRealizedProfit": text((mark - pos.entry) * pos.size), "liquidationPrice": "0",
                         "isolatedMargin": "0", "notional": text(notional), "marginAsset": "USDT",
                         "isolatedWallet": "0", "initialMargin": text(margin), "maintMargin": text(margin / 50),
                         "positionInitialMargin": text(margin), "openOrderInitialMargin": "0", "adl": 1,
                         "bidNotional": "0", "askNotional": "0", "updateTime": self.server_ms()})
        return self.ok(rows)

    async def futures_balance(self, p: dict) -> JSONResponse:
        return self.ok([{"accountAlias": "SgsR", "asset": "USDT", "balance": text(self.balance),
                         "crossWalletBalance": text(self.balance), "crossUnPnl": "0",
                         "availableBalance": text(self.available()), "maxWithdrawAmount": text(self.available()),
                         "marginAvailable": True, "updateTime": self.server_ms()}])

    # ------------------------------------------------------------------ spot account
    async def spot_account(self, p: dict) -> JSONResponse:
        balances = [{"asset": "USDT", "free": text(self.balance), "locked": "0"}]
        for sym, pos in self.positions.items():
            if pos.size or p.get("omitZeroBalances") != "true":
                balances.append({"asset": base_of(sym), "free": text(pos.size), "locked": "0"})
        return self.ok({"makerCommission": 10, "takerCommission": 10, "canTrade": True, "canWithdraw": True,
                        "canDeposit": True, "updateTime": self.server_ms(), "accountType": "SPOT",
                        "balances": balances, "permissions": ["SPOT"], "uid": 354937868})


_PUBLIC = {
    ("GET", "/fapi/v1/time"): FakeBinance.time,
    ("GET", "/fapi/v1/exchangeInfo"): FakeBinance.futures_exchange_info,
    ("GET", "/fapi/v2/ticker/price"): FakeBinance.ticker_price,
    ("GET", "/fapi/v1/premiumIndex"): FakeBinance.premium_index,
    ("GET", "/api/v3/time"): FakeBinance.time,
    ("GET", "/api/v3/exchangeInfo"): FakeBinance.spot_exchange_info,
    ("GET", "/api/v3/ticker/price"): FakeBinance.ticker_price,
}
async def _api_restrictions(self: FakeBinance, p: dict) -> JSONResponse:
    return self.ok(dict(self.api_restrictions))


_SIGNED = {
    ("GET", "/sapi/v1/account/apiRestrictions"): _api_restrictions,
    ("POST", "/fapi/v1/order"): FakeBinance.futures_new_order,
    ("GET", "/fapi/v1/order"): FakeBinance.futures_query_order,
    ("DELETE", "/fapi/v1/order"): FakeBinance.futures_cancel_order,
    ("DELETE", "/api/v3/order"): FakeBinance.spot_cancel_order,
    ("GET", "/fapi/v1/userTrades"): FakeBinance.futures_trades,
    ("POST", "/fapi/v1/leverage"): FakeBinance.set_leverage,
    ("POST", "/fapi/v1/marginType"): FakeBinance.set_margin_type,
    ("GET", "/fapi/v3/positionRisk"): FakeBinance.position_risk,
    ("GET", "/fapi/v2/balance"): FakeBinance.futures_balance,
    ("POST", "/api/v3/order"): FakeBinance.spot_new_order,
    ("GET", "/api/v3/order"): FakeBinance.spot_query_order,
    ("GET", "/api/v3/myTrades"): FakeBinance.spot_trades,
    ("GET", "/api/v3/account"): FakeBinance.spot_account,
}
