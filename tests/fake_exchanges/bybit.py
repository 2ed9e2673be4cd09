"""A fake Bybit v5 (unified account, categories linear and spot) on loopback.

Signatures are checked from Bybit's documented rule: hex HMAC-SHA256 with the API secret of
timestamp + apiKey + recvWindow + payload, payload being the raw query string of a GET or the raw
body of a POST, exactly as received. A timestamp outside [server - recvWindow, server + 1000) is
refused with 10002. Answers use the `{retCode, retMsg, result, retExtInfo, time}` envelope.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fake_exchanges import FakeExchange, FakeOrder

_STATUS = {"NEW": "New", "PARTIALLY_FILLED": "PartiallyFilled", "FILLED": "Filled", "CANCELLED": "Cancelled"}


def _text(d: Decimal | None) -> str:
    if d is None:
        return ""
    return format(d.normalize(), "f") if d else "0"


@dataclass
class FakeBybit(FakeExchange):
    # What GET /v5/user/query-api reports of the key (Bybit's permission groups); trading only by default.
    key_permissions: dict[str, list[str]] = field(default_factory=lambda: {
        "ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"], "Wallet": [], "Options": [],
        "Derivatives": [], "CopyTrading": [], "BlockTrade": [], "Exchange": [], "NFT": [], "Affiliate": []})

    def envelope(self, result: Any = None, code: int = 0, msg: str = "OK", headers: dict | None = None,
                 status: int = 200) -> JSONResponse:
        h = {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "9",
             "X-Bapi-Limit-Reset-Timestamp": str(self.server_ms())}
        h.update(headers or {})
        return JSONResponse({"retCode": code, "retMsg": msg, "result": {} if result is None else result,
                             "retExtInfo": {}, "time": self.server_ms()}, status_code=status, headers=h)

    def check(self, request: Request, raw: bytes) -> JSONResponse | None:
        """Bybit's authentication of a signed request, from its docs."""
        key = request.headers.get("X-BAPI-API-KEY")
        ts = request.headers.get("X-BAPI-TIMESTAMP")
        window = request.headers.get("X-BAPI-RECV-WINDOW") or "5000"
        sign = request.headers.get("X-BAPI-SIGN")
        if not key or not ts or not sign:
            return self.envelope(code=10003, msg="API key is invalid.")
        if key != self.api_key:
            return self.envelope(code=10003, msg="API key is invalid.")
        payload = request.url.query if request.method == "GET" else raw.decode("utf-8")
        expected = hmac.new(self.api_secret.encode(), f"{ts}{key}{window}{payload}".encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sign):
            self.bad_signatures += 1
            return self.envelope(code=10004, msg="error sign! origin_string[...]")
        server = self.server_ms()
        if not (server - int(window) <= int(ts) < server + 1000):
            return self.envelope(code=10002, msg=f"invalid request, please check your server timestamp or "
                                 f"recv_window param. req_timestamp[{ts}],server_timestamp[{server}],"
                                 f"recv_window[{window}]")
        return None

    def app(self) -> Starlette:
        async def signed(request: Request) -> JSONResponse:
            raw = await request.body()
            params = dict(request.query_params)
            body = json.loads(raw) if raw else None
            self.calls.append({"method": request.method, "path": request.url.path, "params": params,
                               "body": body})
            if self.take_rate_limit():
                return self.envelope(code=10006, msg="Too many visits. Exceeded the API Rate Limit.",
                                     headers={"X-Bapi-Limit-Status": "0",
                                              "X-Bapi-Limit-Reset-Timestamp": str(self.server_ms() + 2000)})
            if request.url.path.startswith("/v5/market/"):
                return await self.public(request.url.path, params)
            if (bad := self.check(request, raw)) is not None:
                return bad
            handler = _ROUTES.get((request.method, request.url.path))
            if handler is None:
                return JSONResponse({"retCode": 10017, "retMsg": "Route not found"}, status_code=404)
            return await handler(self, params, body or {})

        return Starlette(routes=[Route("/{path:path}", signed, methods=["GET", "POST"])])

    # ------------------------------------------------------------------ public
    async def public(self, path: str, p: dict[str, str]) -> JSONResponse:
        if path == "/v5/market/time":
            ms = self.server_ms()
            return self.envelope({"timeSecond": str(ms // 1000), "timeNano": str(ms * 1_000_000)})
        sym = p.get("symbol", "")
        if path == "/v5/market/tickers":
            if sym not in self.prices:
                return self.envelope(code=10001, msg="Not supported symbols")
            row = {"symbol": sym, "lastPrice": _text(self.prices[sym])}
            if p.get("category") == "linear":
                row["markPrice"] = _text(self.prices[sym])
            return self.envelope({"category": p.get("category"), "list": [row]})
        if path == "/v5/market/instruments-info":
            ins = self.instruments.get(sym)
            if ins is None:
                return self.envelope({"category": p.get("category"), "list": [], "nextPageCursor": ""})
            if p.get("category") == "spot":
                lot = {"basePrecision": ins.qty_step, "minOrderQty": ins.min_qty, "minOrderAmt": ins.min_notional}
            else:
                lot = {"qtyStep": ins.qty_step, "minOrderQty": ins.min_qty, "minNotionalValue": ins.min_notional}
            row = {"symbol": sym, "status": "Trading", "lotSizeFilter": lot, "priceFilter": {"tickSize": ins.tick_size}}
            return self.envelope({"category": p.get("category"), "list": [row]})
        return JSONResponse({"retCode": 10017, "retMsg": "Route not found"}, status_code=404)

    # ------------------------------------------------------------------ private
    async def order_create(self, p: dict, b: dict) -> JSONResponse:
        cat, sym, link = b.get("category"), b.get("symbol"), b.get("orderLinkId") or ""
        if cat not in ("linear", "spot"):
            return self.envelope(code=10001, msg="params error: category")
        if sym not in self.instruments or sym not in self.prices:
            return self.envelope(code=10001, msg="params error: symbol invalid")
        if not isinstance(b.get("qty"), str):
            return self.envelope(code=10001, msg="params error: qty must be a string")
        if len(link) > 36:
            return self.envelope(code=10001, msg="params error: orderLinkId is too long")
        if link in self.orders:
            return self.envelope(code=110072, msg="OrderLinkedID is duplicate")
        ins = self.instruments[sym]
        qty = Decimal(b["qty"])
        if qty % Decimal(ins.qty_step) != 0:
            return self.envelope(code=10001, msg="Qty invalid")
        if qty < Decimal(ins.min_qty):
            return self.envelope(code=170136 if cat == "spot" else 110094,
                                 msg="Order quantity exceeded lower limit.")
        if cat == "spot" and b.get("orderType") == "Market" and b.get("side") == "Buy" \
                and b.get("marketUnit") != "baseCoin":
            return self.envelope(code=10001, msg="this fake only takes base-coin market buys")
        price = Decimal(b["price"]) if b.get("price") else None
        o = FakeOrder(order_id=str(uuid.uuid4()), client_id=link, symbol=sym,
                      side="BUY" if b.get("side") == "Buy" else "SELL",
                      order_type="LIMIT" if b.get("orderType") == "Limit" else "MARKET", qty=qty, price=price,
                      status="NEW", reduce_only=bool(b.get("reduceOnly")),
                      market="spot" if cat == "spot" else "futures", created_ms=self.server_ms())
        marketable = o.order_type == "MARKET" or (
            price is not None and ((o.side == "BUY" and price >= self.prices[sym])
                                   or (o.side == "SELL" and price <= self.prices[sym])))
        if marketable:
            reason = self.fill(o, self.leverage.get(sym, Decimal(1)))
            if reason == "balance":
                code = 170131 if cat == "spot" else 110007
                return self.envelope(code=code, msg="ab not enough for new order")
            if reason == "reduce":
                return self.envelope(code=110017, msg="Reduce-only rule not satisfied")
        self.orders[link] = o
        if self.take_timeout():  # carried out; the answer is held back past the client's patience
            await asyncio.sleep(self.timeout_seconds)
        return self.envelope({"orderId": o.order_id, "orderLinkId": link})

    def order_row(self, o: FakeOrder) -> dict[str, Any]:
        return {"orderId": o.order_id, "orderLinkId": o.client_id, "symbol": o.symbol,
                "side": "Buy" if o.side == "BUY" else "Sell", "orderType": o.order_type.title(),
                "price": _text(o.price), "qty": _text(o.qty), "orderStatus": _STATUS[o.status],
                "avgPrice": _text(o.avg_price) if o.executed else "", "cumExecQty": _text(o.executed),
                "cumExecValue": _text(o.executed * o.avg_price), "cumExecFee": _text(o.fee),
                "reduceOnly": o.reduce_only, "createdTime": str(o.created_ms), "updatedTime": str(o.created_ms)}

    async def order_query(self, p: dict, b: dict, *, history: bool) -> JSONResponse:
        rows = [o for o in self.orders.values()
                if (not p.get("orderLinkId") or o.client_id == p["orderLinkId"])
                and (not p.get("symbol") or o.symbol == p["symbol"])
                and (o.market == "spot") == (p.get("category") == "spot")
                and ((o.status in ("FILLED", "CANCELLED")) if history
                     else (o.status in ("NEW", "PARTIALLY_FILLED") or bool(p.get("orderLinkId"))))]
        return self.envelope({"category": p.get("category"), "list": [self.order_row(o) for o in rows],
                              "nextPageCursor": ""})

    async def order_realtime(self, p: dict, b: dict) -> JSONResponse:
        return await self.order_query(p, b, history=False)

    async def order_history(self, p: dict, b: dict) -> JSONResponse:
        return await self.order_query(p, b, history=True)

    async def order_cancel(self, p: dict, b: dict) -> JSONResponse:
        o = self.cancel(b.get("orderLinkId") or "", b.get("symbol") or "")
        if o is None:
            return self.envelope(code=110001, msg="order not exists or too late to cancel")
        return self.envelope({"orderId": o.order_id, "orderLinkId": o.client_id})

    async def set_leverage(self, p: dict, b: dict) -> JSONResponse:
        sym = b.get("symbol")
        if sym not in self.instruments:
            return self.envelope(code=10001, msg="params error: symbol invalid")
        if b.get("buyLeverage") != b.get("sellLeverage") or not isinstance(b.get("buyLeverage"), str):
            return self.envelope(code=10001, msg="buy leverage must equal sell leverage")
        lev = Decimal(b["buyLeverage"])
        if self.leverage.get(sym, Decimal(1)) == lev:
            return self.envelope(code=110043, msg="leverage not modified")
        self.leverage[sym] = lev
        return self.envelope({})

    async def set_margin_mode(self, p: dict, b: dict) -> JSONResponse:
        mode = b.get("setMarginMode")
        if mode not in ("ISOLATED_MARGIN", "REGULAR_MARGIN", "PORTFOLIO_MARGIN"):
            return self.envelope(code=10001, msg="params error: setMarginMode")
        self.margin_mode = mode
        return self.envelope({"reasons": []})

    async def position_list(self, p: dict, b: dict) -> JSONResponse:
        rows = []
        for sym, pos in self.positions.items():
            if (p.get("symbol") and sym != p["symbol"]) or pos.size == 0:
                continue
            rows.append({"symbol": sym, "side": "Buy" if pos.size > 0 else "Sell", "size": _text(abs(pos.size)),
                         "avgPrice": _text(pos.entry), "leverage": _text(self.leverage.get(sym, Decimal(1))),
                         "markPrice": _text(self.prices[sym]), "unrealisedPnl": "0", "liqPrice": "",
                         "positionIdx": 0})
        return self.envelope({"category": "linear", "list": rows, "nextPageCursor": ""})

    async def wallet_balance(self, p: dict, b: dict) -> JSONResponse:
        im = self.balance - self.available()
        return self.envelope({"list": [{"accountType": "UNIFIED", "coin": [
            {"coin": "USDT", "walletBalance": _text(self.balance), "locked": "0",
             "totalPositionIM": _text(im), "totalOrderIM": "0"}]}]})


async def _query_api(self: FakeBybit, p: dict, b: dict) -> JSONResponse:
    return self.envelope({"id": "28844402", "note": "hoox", "apiKey": self.api_key, "readOnly": 0, "secret": "",
                          "permissions": self.key_permissions, "ips": ["*"], "type": 1, "deadlineDay": 90,
                          "expiredAt": "", "createdAt": "2026-01-01T00:00:00Z", "unified": 1, "uta": 1})


_ROUTES = {
    ("GET", "/v5/user/query-api"): _query_api,
    ("POST", "/v5/order/create"): FakeBybit.order_create,
    ("GET", "/v5/order/realtime"): FakeBybit.order_realtime,
    ("POST", "/v5/order/cancel"): FakeBybit.order_cancel,
    ("GET", "/v5/order/history"): FakeBybit.order_history,
    ("POST", "/v5/position/set-leverage"): FakeBybit.set_leverage,
    ("POST", "/v5/account/set-margin-mode"): FakeBybit.set_margin_mode,
    ("GET", "/v5/position/list"): FakeBybit.position_list,
    ("GET", "/v5/account/wallet-balance"): FakeBybit.wallet_balance,
}
