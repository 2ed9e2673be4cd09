"""A fake MEXC spot v3 on loopback.

Signatures are checked from MEXC's documented rule, written here independently of the connector:
the `X-MEXC-APIKEY` header names the key; `signature` is the lower-case hex HMAC-SHA256, keyed with
the secret, of totalParams = the query string (without `signature`) concatenated with the request
body. Timing as documented: processed only when `timestamp < serverTime + 1000` and
`serverTime - timestamp <= recvWindow` (700003 otherwise).

Answers use MEXC's shapes: errors `{"code": N, "msg": ...}` (10101 insufficient balance, 30002 below
the minimum, 700002 bad signature, 10072 bad key, -2013 unknown order, -1121 invalid symbol); rate
limits answer HTTP 429 with `Retry-After`, and 418 to a client that keeps calling. A placement answers
with the order's id only, as MEXC does; its state and fills are read with GET /api/v3/order and
/api/v3/myTrades. MEXC documents no code of its own for a reused client order id: this fake refuses
one with 26 "operation not allowed" (the connector does not depend on that code).
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
from fake_exchanges.binance import base_of, text

_STATUS = {"NEW": "NEW", "PARTIALLY_FILLED": "PARTIALLY_FILLED", "FILLED": "FILLED", "CANCELLED": "CANCELED"}


def digits(step: str) -> int:
    """Decimal places of a power-of-ten step ("0.001" -> 3)."""
    return max(0, -Decimal(step).normalize().as_tuple().exponent)  # type: ignore[operator]


@dataclass
class FakeMexc(FakeExchange):
    fee_rate: Decimal = Decimal("0.0005")
    retry_after: int = 3
    _ids: Any = field(default_factory=lambda: itertools.count(468615423963070464))
    _limited_in_a_row: int = 0

    def error(self, code: int, msg: str, status: int = 400, headers: dict | None = None) -> JSONResponse:
        return JSONResponse({"code": code, "msg": msg}, status_code=status, headers=headers)

    def check(self, request: Request, raw: bytes) -> JSONResponse | None:
        key = request.headers.get("X-MEXC-APIKEY")
        if not key:
            return self.error(400, "api key required")
        if key != self.api_key:
            return self.error(10072, "Api key info invalid")
        signatures, expected = total_params_signature(request.url.query, raw, self.api_secret)
        if len(signatures) != 1 or not hmac.compare_digest(expected, signatures[0]):
            self.bad_signatures += 1
            return self.error(700002, "Signature for this request is not valid.")
        params = dict(request.query_params)
        try:
            ts, window = int(params["timestamp"]), int(params.get("recvWindow", "5000"))
        except (KeyError, ValueError):
            return self.error(700001, "Mandatory parameter 'timestamp' was not sent")
        server = self.server_ms()
        if not (ts < server + 1000 and server - ts <= window):
            return self.error(700003, "Timestamp for this request is outside of the recvWindow.")
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
                status = 418 if self._limited_in_a_row > 1 else 429
                return self.error(429, "Too Many Requests", status=status,
                                  headers={"Retry-After": str(self.retry_after)})
            self._limited_in_a_row = 0
            route = _PUBLIC.get((request.method, path))
            if route is not None:
                return await route(self, params)
            route = _SIGNED.get((request.method, path))
            if route is None:
                return self.error(404, "Not Found", status=404)
            if (bad := self.check(request, raw)) is not None:
                return bad
            return await route(self, params)

        return Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST", "DELETE"])])

    # ------------------------------------------------------------------ public
    async def time(self, p: dict) -> JSONResponse:
        return JSONResponse({"serverTime": self.server_ms()})

    async def exchange_info(self, p: dict) -> JSONResponse:
        sym = p.get("symbol")
        if sym is not None and sym not in self.instruments:
            return self.error(-1121, "Invalid symbol.")
        rows = []
        for s in ([sym] if sym else list(self.instruments)):
            ins = self.instruments[s]
            rows.append({"symbol": s, "status": "1", "baseAsset": base_of(s),
                         "baseAssetPrecision": digits(ins.qty_step), "quoteAsset": "USDT",
                         "quotePrecision": digits(ins.tick_size), "quoteAssetPrecision": digits(ins.tick_size),
                         "baseCommissionPrecision": digits(ins.qty_step), "quoteCommissionPrecision": 8,
                         "orderTypes": ["LIMIT", "MARKET", "LIMIT_MAKER"], "isSpotTradingAllowed": True,
                         "isMarginTradingAllowed": False, "quoteAmountPrecision": ins.min_notional,
                         "baseSizePrecision": ins.min_qty, "permissions": ["SPOT"], "filters": [],
                         "maxQuoteAmount": "2000000", "makerCommission": "0", "takerCommission": "0.0005",
                         "quoteAmountPrecisionMarket": ins.min_notional, "maxQuoteAmountMarket": "100000",
                         "fullName": base_of(s), "tradeSideType": 1})
        return JSONResponse({"timezone": "CST", "serverTime": self.server_ms(), "rateLimits": [],
                             "exchangeFilters": [], "symbols": rows})

    async def ticker_price(self, p: dict) -> JSONResponse:
        sym = p.get("symbol", "")
        if sym not in self.prices:
            return self.error(-1121, "Invalid symbol.")
        return JSONResponse({"symbol": sym, "price": text(self.prices[sym])})

    # ------------------------------------------------------------------ orders
    async def new_order(self, p: dict) -> JSONResponse:
        sym, cid = p.get("symbol", ""), p.get("newClientOrderId", "")
        if sym not in self.instruments or sym not in self.prices:
            return self.error(-1121, "Invalid symbol.")
        if cid and cid in self.orders:
            return self.error(26, "operation not allowed")
        ins = self.instruments[sym]
        kind = p.get("type")
        qty = Decimal(p.get("quantity") or "0")
        price = Decimal(p["price"]) if kind == "LIMIT" and p.get("price") else None
        if kind == "LIMIT" and price is None:
            return self.error(700004, "Mandatory parameter 'price' was not sent")
        if kind not in ("LIMIT", "MARKET"):
            return self.error(30001, "current order type can not place order")
        notional = qty * (price or self.prices[sym])
        if qty < Decimal(ins.min_qty) or notional < Decimal(ins.min_notional):
            return self.error(30002, f"The minimum transaction volume cannot be less than:{ins.min_notional}USDT")
        if "reduceOnly" in p:
            return self.error(700008, "Illegal characters found in parameter 'reduceOnly'")
        o = FakeOrder(order_id=f"C02__{next(self._ids)}", client_id=cid, symbol=sym, side=p.get("side", ""),
                      order_type=kind, qty=qty, price=price, status="NEW", reduce_only=p.get("side") == "SELL",
                      market="spot", created_ms=self.server_ms())
        marketable = kind == "MARKET" or (price is not None and (
            (o.side == "BUY" and price >= self.prices[sym]) or (o.side == "SELL" and price <= self.prices[sym])))
        if marketable:
            reason = self.fill(o, Decimal(1))
            if reason == "balance":
                return self.error(10101, "Insufficient balance")
            if reason == "reduce":
                return self.error(30004, "Insufficient position")
        self.orders[cid or o.order_id] = o
        if self.take_timeout():  # carried out; the answer is held back past the client's patience
            await asyncio.sleep(self.timeout_seconds)
        return JSONResponse({"symbol": sym, "orderId": o.order_id, "orderListId": -1, "price": text(o.price),
                             "origQty": text(o.qty), "type": kind, "side": o.side, "transactTime": o.created_ms})

    def order_row(self, o: FakeOrder) -> dict[str, Any]:
        return {"symbol": o.symbol, "orderId": o.order_id, "orderListId": -1, "clientOrderId": o.client_id,
                "price": text(o.price), "origQty": text(o.qty), "executedQty": text(o.executed),
                "cummulativeQuoteQty": text(o.executed * o.avg_price), "status": _STATUS[o.status],
                "timeInForce": "GTC", "type": o.order_type, "side": o.side, "stopPrice": "",
                "icebergQty": "", "time": o.created_ms, "updateTime": o.created_ms, "isWorking": True,
                "origQuoteOrderQty": "0"}

    async def query_order(self, p: dict) -> JSONResponse:
        if not p.get("origClientOrderId") and not p.get("orderId"):
            return self.error(700004, "Param 'origClientOrderId' or 'orderId' must be sent, but both were "
                              "empty/null")
        for o in self.orders.values():
            if o.symbol == p.get("symbol") and (o.client_id == p.get("origClientOrderId")
                                                or o.order_id == p.get("orderId")):
                return JSONResponse(self.order_row(o))
        return self.error(-2013, "Order does not exist.")

    async def cancel_order(self, p: dict) -> JSONResponse:
        o = self.cancel(p.get("origClientOrderId") or "", p.get("symbol") or "")
        if o is None:
            return self.error(-2011, "Unknown order sent.")
        return JSONResponse(self.order_row(o))

    async def my_trades(self, p: dict) -> JSONResponse:
        rows = [{"symbol": o.symbol, "id": f"{o.order_id}-1", "orderId": o.order_id, "orderListId": -1,
                 "price": text(o.avg_price), "qty": text(o.executed), "quoteQty": text(o.executed * o.avg_price),
                 "commission": text(o.fee), "commissionAsset": "USDT", "time": o.created_ms,
                 "isBuyer": o.side == "BUY", "isMaker": False, "isBestMatch": True, "isSelfTrade": False,
                 "clientOrderId": o.client_id}
                for o in self.orders.values()
                if o.symbol == p.get("symbol") and o.executed and (not p.get("orderId") or o.order_id == p["orderId"])]
        return JSONResponse(rows)

    async def account(self, p: dict) -> JSONResponse:
        balances = [{"asset": "USDT", "free": text(self.balance), "locked": "0"}]
        balances += [{"asset": base_of(s), "free": text(pos.size), "locked": "0"}
                     for s, pos in self.positions.items() if pos.size]
        return JSONResponse({"canTrade": True, "canWithdraw": True, "canDeposit": True, "updateTime": None,
                             "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"]})


_PUBLIC = {
    ("GET", "/api/v3/time"): FakeMexc.time,
    ("GET", "/api/v3/exchangeInfo"): FakeMexc.exchange_info,
    ("GET", "/api/v3/ticker/price"): FakeMexc.ticker_price,
}
_SIGNED = {
    ("POST", "/api/v3/order"): FakeMexc.new_order,
    ("GET", "/api/v3/order"): FakeMexc.query_order,
    ("DELETE", "/api/v3/order"): FakeMexc.cancel_order,
    ("GET", "/api/v3/myTrades"): FakeMexc.my_trades,
    ("GET", "/api/v3/account"): FakeMexc.account,
}
