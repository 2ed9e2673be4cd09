"""`PaperExchange`: the paper exchange, one Durable Object per exchange account.

trade-worker reaches it as `env.PAPER_EXCHANGE.get(env.PAPER_EXCHANGE.id_from_name("bybit"))`
(also "binance", "mexc"); `hoox_edge.exchanges.paper.PaperProvider` is the only caller in the code
base. All state lives in the object's SQL storage, so it is continuous across calls and restarts.

RPC shape. Every public method takes one JSON object (its JSON text, or a dict) and answers one as
JSON text (text crosses Cloudflare's JS boundary unchanged):

    in:   {"config": {...}, ...method arguments...}
    out:  {"ok": true, "result": ...}
          {"ok": false, "error": {"kind", "message", "code", "retryAfter", "details"}}

Errors are returned, not raised: an exception crossing Cloudflare's RPC boundary loses its type.
`kind` is an `ExchangeError` kind. `config` is the provider's snapshot of the KV settings
(`exchanges:paper:*`), read on every call, so the object never reads KV itself:

    {"account": "bybit", "fault": "", "feeRate": 0.00055, "slippageBps": 2.0,
     "initialBalance": 10000.0, "instruments": {...}, "seed": 7, "prices": {"BTCUSDT": 61000.0}}

Behaviour (what a trader can rely on):
- Account: one USDT wallet, funded with `initialBalance` when the account is first used (later
  changes of the setting affect only new or reset accounts). `locked` = margin of open positions
  + reservations of resting limit orders; `free` = wallet - locked. Unrealised P&L is not part of
  the wallet; it is reported per position.
- Positions are one-way per symbol (signed size, average entry). Opening or adding locks
  notional / leverage as margin and needs free >= margin + fee, else "insufficient balance" (with
  the numbers). Reducing releases margin pro rata and settles realised P&L minus fee into the
  wallet; an order larger than an opposite position closes it and opens the rest the other way
  (the rest needs margin). Leverage (default 1, at most 125) and margin mode (default isolated)
  are per symbol. Liquidation is not simulated: `positions` reports an estimated liquidation price
  (see market.liquidation_price) and a position held past it keeps its whole loss.
- Orders: MARKET fills at once at the price moved `slippageBps` against the trader (BUY up, SELL
  down, onto the tick). LIMIT fills at once when marketable (BUY limit >= price, SELL limit <=
  price) at the slipped price bounded by the limit, else rests as "New" with its margin + fee
  reserved; a resting order fills at its limit price the first time a later call observes the
  market at or through it, and can be cancelled. A limit price off the tick is moved onto it in
  the trader's favour (BUY down, SELL up). The fee is `feeRate` x notional for every fill.
- reduce_only never increases or flips a position: rejected when there is no position or the
  order points the same way; trimmed to the position size when larger (executedQty says how much
  traded). A resting reduce-only order is re-checked when it fills and cancelled if the position
  is gone.
- Quantity must be a multiple of the symbol's qtyStep (float tolerance), >= minQty, and the
  notional (at the limit price, or the market price for MARKET) >= minNotional.
- Client order ids are unique per account among accepted orders: a second order with a used id
  answers kind "duplicate_order" and places nothing. A rejected order is not stored (its id may be
  reused, as on real exchanges). `get_order` finds an order by client order id.
- Only USDT-margined perpetual futures are simulated: `market: "spot"` is rejected as not
  available.
- Faults (`config.fault`) apply to every method except `reset`: "outage" answers kind
  "unavailable" and does nothing, "rate_limit" answers "rate_limited" with retryAfter 1 and does
  nothing, "timeout" carries the call out (an order IS placed, leverage IS set) and then answers
  "timeout": the answer was lost.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hoox_edge.exchanges.base import ExchangeError
from hoox_edge.paper import market
from hoox_edge.paper.market import Rules, clean, round_to
from hoox_edge.ports import DurableObject
from hoox_edge.shared import clock

MAX_LEVERAGE = 125
ASSET = "USDT"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS paper_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # Last observed walk price per symbol (unrounded) and the whole second it was observed at.
    "CREATE TABLE IF NOT EXISTS paper_markets (symbol TEXT PRIMARY KEY, raw_price REAL NOT NULL, "
    "observed_s INTEGER NOT NULL, tick_size REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS paper_symbol_settings (symbol TEXT PRIMARY KEY, "
    "leverage REAL NOT NULL DEFAULT 1, margin_mode TEXT NOT NULL DEFAULT 'isolated')",
    "CREATE TABLE IF NOT EXISTS paper_positions (symbol TEXT PRIMARY KEY, size REAL NOT NULL, "
    "entry_price REAL NOT NULL, margin REAL NOT NULL, opened_at_ms INTEGER NOT NULL, "
    "updated_at_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS paper_orders (seq INTEGER PRIMARY KEY, order_id TEXT NOT NULL UNIQUE, "
    "client_order_id TEXT NOT NULL UNIQUE, symbol TEXT NOT NULL, side TEXT NOT NULL, "
    "order_type TEXT NOT NULL, "
    "limit_price REAL, quantity REAL NOT NULL, executed_qty REAL NOT NULL DEFAULT 0, avg_price REAL, "
    "fee REAL NOT NULL DEFAULT 0, realized_pnl REAL NOT NULL DEFAULT 0, status TEXT NOT NULL, "
    "reduce_only INTEGER NOT NULL DEFAULT 0, leverage REAL NOT NULL, reserved REAL NOT NULL DEFAULT 0, "
    "note TEXT, created_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS paper_orders_open ON paper_orders (symbol, status)",
    # The account's reservations sum the resting orders of every symbol: without this, every fill
    # would read every order the account ever had.
    "CREATE INDEX IF NOT EXISTS paper_orders_status ON paper_orders (status)",
)


def _error_json(e: ExchangeError) -> dict[str, Any]:
    """An error as the RPC answer carries it (read back into an `ExchangeError` by the provider)."""
    return {"kind": e.kind, "message": e.message, "code": e.code, "retryAfter": e.retry_after,
            "details": e.details}


def _reject(message: str, code: str, **details: Any) -> ExchangeError:
    return ExchangeError("rejected", message, code, details=details)


def _num(x: float) -> str:
    """A money or size figure for messages (no float noise)."""
    return f"{clean(x):.8f}".rstrip("0").rstrip(".")


class PaperExchange(DurableObject):
    """One paper exchange account (see the module docstring)."""

    _ready = False
    # What this instance last read or wrote of its small tables (meta, symbol settings, markets,
    # positions, the resting orders and the next order number), so a call does not read them again;
    # dropped whenever a call fails unexpectedly (its writes may be rolled back) and on reset. One
    # object runs one call at a time, so it cannot go stale.
    _memo: dict[str, dict[Any, Any]] | None = None

    # ================================================================ RPC surface
    async def place_order(self, params: Any) -> str:
        """{"order": {"symbol", "side", "quantity", "clientOrderId", "orderType"?, "price"?,
        "reduceOnly"?, "market"?}} -> order."""
        return self._call(params, self._place_order)

    async def get_order(self, params: Any) -> str:
        """{"clientOrderId", "symbol"?} -> order or null."""
        return self._call(params, self._get_order)

    async def cancel_order(self, params: Any) -> str:
        """{"clientOrderId"} -> the cancelled order (only a resting order can be cancelled)."""
        return self._call(params, self._cancel_order)

    async def orders(self, params: Any) -> str:
        """{"symbol"?, "status"?, "limit"?} -> newest orders first."""
        return self._call(params, self._orders)

    async def set_leverage(self, params: Any) -> str:
        """{"symbol", "leverage"} -> {"symbol", "leverage"}."""
        return self._call(params, self._set_leverage)

    async def set_margin_mode(self, params: Any) -> str:
        """{"symbol", "mode": "isolated" | "cross"} -> {"symbol", "marginMode"}."""
        return self._call(params, self._set_margin_mode)

    async def positions(self, params: Any) -> str:
        """{"symbol"?} -> open positions with mark price, unrealised P&L, liquidation estimate."""
        return self._call(params, self._positions)

    async def balance(self, params: Any) -> str:
        """{"asset"?} -> {"asset", "free", "locked", "wallet", "unrealizedPnl"}."""
        return self._call(params, self._balance)

    async def ticker(self, params: Any) -> str:
        """{"symbol"} -> {"symbol", "price", "markPrice", "pinned", "timestampMs"}."""
        return self._call(params, self._ticker)

    async def instrument(self, params: Any) -> str:
        """{"symbol"} -> the symbol's trading rules."""
        return self._call(params, self._instrument)

    async def quote(self, params: Any) -> str:
        """{"symbol"} -> {"rules": the symbol's trading rules, "price": its price now} (sizing in one call)."""
        return self._call(params, self._quote)

    async def execute(self, params: Any) -> str:
        """{"setup": [{"method": "set_margin_mode" | "set_leverage", ...its arguments}], "order": {...}}
        -> {"order", "balance"}: an order with the symbol settings it needs first and the balance
        after it, in one call (each step as its own method does it; a step that fails ends the call)."""
        return self._call(params, self._execute)

    async def reset(self, params: Any) -> str:
        """Close the account and open it again with the configured initial balance (no fault applies)."""
        return self._call(params, self._reset, faults=False)

    # ================================================================ plumbing
    def _call(self, params: Any, fn: Callable[[dict, dict], Any], *, faults: bool = True) -> str:
        # Synchronous from here on: the whole call is one storage transaction on Cloudflare and
        # one uninterrupted turn under the local runtime's per-object lock.
        if isinstance(params, str):
            params = json.loads(params)
        elif hasattr(params, "to_py"):  # a JS object handed over by Cloudflare's RPC
            params = params.to_py()
        params = dict(params or {})
        cfg = dict(params.get("config") or {})
        fault = (cfg.get("fault") or "") if faults else ""
        try:
            if fault == "outage":
                raise ExchangeError(
                    "unavailable", "paper exchange outage (fault injection: outage)", "PAPER_OUTAGE"
                )
            if fault == "rate_limit":
                raise ExchangeError(
                    "rate_limited", "too many requests (fault injection: rate_limit)", "PAPER_RATE_LIMIT",
                    retry_after=1,
                )
            self._ensure_schema()
            self._ensure_account(cfg)
            answer: dict[str, Any] = {"ok": True, "result": fn(cfg, params)}
        except ExchangeError as e:
            answer = {"ok": False, "error": _error_json(e)}
        except market.RulesError as e:
            answer = {"ok": False, "error": _error_json(_reject(str(e), "PAPER_CONFIG"))}
        except BaseException:
            self._memo = None  # its writes may be rolled back: read the tables again next time
            raise
        if fault == "timeout":
            # Whatever happened (an order placed, or a rejection), the caller never hears of it.
            answer = {"ok": False, "error": _error_json(ExchangeError(
                "timeout",
                "the paper exchange carried out the request but its answer was lost "
                "(fault injection: timeout)",
                "PAPER_TIMEOUT",
            ))}
        return json.dumps(answer)

    def _sql(self, query: str, *args: Any) -> list[dict[str, Any]]:
        return self.ctx.storage.sql.exec(query, *args).to_list()

    def _ensure_schema(self) -> None:
        if self._ready:
            return
        for stmt in _SCHEMA:
            self._sql(stmt)
        self._ready = True

    def _memo_of(self, table: str) -> dict[Any, Any]:
        if self._memo is None:
            self._memo = {"settings": {}, "markets": {}}  # filled symbol by symbol
        memo = self._memo.get(table)
        if memo is None:  # read whole, once
            if table == "meta":
                memo = {r["key"]: r["value"] for r in self._sql("SELECT key, value FROM paper_meta")}
            elif table == "positions":  # in rowid order, as a table scan sums them
                memo = {r["symbol"]: r for r in self._sql("SELECT * FROM paper_positions")}
            elif table == "resting":
                memo = {r["seq"]: r for r in self._sql("SELECT * FROM paper_orders WHERE status = 'New' ORDER BY seq")}
            else:
                assert table == "seq"
                memo = {"next": int(self._sql("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM paper_orders")[0]["n"])}
            self._memo[table] = memo
        return memo

    def _meta(self, key: str) -> str | None:
        return self._memo_of("meta").get(key)

    def _set_meta(self, key: str, value: Any) -> None:
        self._sql(
            "INSERT INTO paper_meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            key,
            str(value),
        )
        self._memo_of("meta")[key] = str(value)

    def _ensure_account(self, cfg: dict) -> None:
        if self._meta("wallet") is not None:
            return
        initial = float(cfg.get("initialBalance", 10000.0))
        self._set_meta("account", cfg.get("account") or "paper")
        self._set_meta("wallet", repr(initial))
        self._set_meta("initial_balance", repr(initial))
        self._set_meta("created_at_ms", clock.now_ms())

    def _wallet(self) -> float:
        return float(self._meta("wallet") or 0.0)

    def _locked(self) -> float:
        # Summed in the order SQL's SUM would scan the rows: the same float.
        pos = sum(p["margin"] for p in self._memo_of("positions").values())
        res = sum(o["reserved"] for o in self._memo_of("resting").values())
        return clean(float(pos) + float(res))

    def _free(self) -> float:
        return clean(self._wallet() - self._locked())

    def _symbol_settings(self, symbol: str) -> tuple[float, str]:
        memo = self._memo_of("settings")
        if symbol not in memo:
            rows = self._sql("SELECT leverage, margin_mode FROM paper_symbol_settings WHERE symbol = ?", symbol)
            memo[symbol] = (float(rows[0]["leverage"]), str(rows[0]["margin_mode"])) if rows else (1.0, "isolated")
        return memo[symbol]

    def _save_symbol_settings(self, symbol: str, leverage: float, mode: str) -> None:
        self._sql(
            "INSERT INTO paper_symbol_settings (symbol, leverage, margin_mode) VALUES (?, ?, ?) "
            "ON CONFLICT(symbol) DO UPDATE SET leverage = excluded.leverage, margin_mode = excluded.margin_mode",
            symbol, leverage, mode,
        )  # fmt: skip
        self._memo_of("settings")[symbol] = (leverage, mode)

    def _market_row(self, symbol: str) -> tuple[float, int, float] | None:
        """(raw price, observed second, tick size) last stored for the symbol."""
        memo = self._memo_of("markets")
        if symbol not in memo:
            rows = self._sql("SELECT raw_price, observed_s, tick_size FROM paper_markets WHERE symbol = ?", symbol)
            memo[symbol] = (float(rows[0]["raw_price"]), int(rows[0]["observed_s"]), float(rows[0]["tick_size"])) \
                if rows else None
        return memo[symbol]

    def _position(self, symbol: str) -> dict[str, Any] | None:
        return self._memo_of("positions").get(symbol)

    # ================================================================ market
    def _rules(self, cfg: dict, symbol: str) -> Rules:
        rules = market.rules_for(symbol, cfg.get("instruments") or {}, _pinned(cfg, symbol))
        if rules is None:
            raise _reject(market.unknown_symbol_message(symbol), "PAPER_UNKNOWN_SYMBOL", symbol=symbol)
        return rules

    def _observe(self, cfg: dict, symbol: str, rules: Rules) -> float:
        """The symbol's price now (pinned, else the walk advanced to this second); resting orders
        that the price reaches fill here."""
        now_s = int(clock.now())
        pinned = _pinned(cfg, symbol)
        row = self._market_row(symbol)
        if pinned is not None:
            # The walk resumes from the pinned price once the pin is removed.
            raw, price = pinned, pinned
            t = max(now_s, row[1]) if row else now_s
        elif row is None:
            raw, t = rules.start_price, now_s
            price = market.quote(raw, rules.tick_size)
        else:
            t = max(now_s, row[1])  # a clock set backwards does not rewind the market
            raw = market.walk(row[0], row[1], t, int(cfg.get("seed", 7)), symbol)
            price = market.quote(raw, rules.tick_size)
        if row != (raw, t, rules.tick_size):  # the market moves once a second: most calls write nothing
            self._sql(
                "INSERT INTO paper_markets (symbol, raw_price, observed_s, tick_size) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(symbol) DO UPDATE SET raw_price = excluded.raw_price, "
                "observed_s = excluded.observed_s, tick_size = excluded.tick_size",
                symbol, raw, t, rules.tick_size,
            )  # fmt: skip
            self._memo_of("markets")[symbol] = (raw, t, rules.tick_size)
        self._match_resting(cfg, symbol, rules, price)
        return price

    def _mark(self, cfg: dict, symbol: str) -> float | None:
        """Mark price for reporting; a symbol no longer tradeable keeps its last observed price."""
        try:
            rules = self._rules(cfg, symbol)
        except ExchangeError:
            return self._last_price(cfg, symbol)
        return self._observe(cfg, symbol, rules)

    def _last_price(self, cfg: dict, symbol: str) -> float | None:
        pinned = _pinned(cfg, symbol)
        if pinned is not None:
            return pinned
        row = self._market_row(symbol)
        return None if row is None else market.quote(row[0], row[2])

    # ================================================================ fills
    def _plan_fill(self, symbol: str, side: str, qty: float, price: float, fee_rate: float) -> dict[str, Any]:
        """What filling `qty` at `price` does to the account, or ExchangeError when it cannot."""
        pos = self._position(symbol)
        size = float(pos["size"]) if pos else 0.0
        entry = float(pos["entry_price"]) if pos else 0.0
        margin = float(pos["margin"]) if pos else 0.0
        leverage, _ = self._symbol_settings(symbol)
        signed = qty if side == "BUY" else -qty
        fee = clean(qty * price * fee_rate)
        realized = release = add = 0.0
        if size == 0 or (size > 0) == (signed > 0):
            new_size = clean(size + signed)
            new_entry = (abs(size) * entry + qty * price) / abs(new_size)
            add = qty * price / leverage
        else:
            close_qty = min(qty, abs(size))
            realized = close_qty * (price - entry) * (1 if size > 0 else -1)
            release = margin * close_qty / abs(size)
            open_qty = clean(qty - close_qty)
            new_size = clean(size + signed)
            if open_qty > 0:
                new_entry = price
                add = open_qty * price / leverage
            else:
                new_entry = entry
        if add > 0:
            available = clean(self._free() + release + realized)
            need = clean(add + fee)
            if available < need:
                raise _reject(
                    f"insufficient balance: {symbol} {side} {_num(qty)} at {_num(price)} needs "
                    f"{_num(need)} {ASSET} (margin {_num(add)} at {leverage:g}x + fee {_num(fee)}), "
                    f"available {_num(available)} {ASSET}",
                    "PAPER_INSUFFICIENT_BALANCE",
                    required=need,
                    available=available,
                    margin=clean(add),
                    fee=fee,
                )
        return {
            "symbol": symbol,
            "new_size": new_size,
            "new_entry": new_entry,
            "new_margin": clean(margin - release + add),
            "realized": clean(realized),
            "fee": fee,
            "opened": pos is None,
        }

    def _apply_fill(self, plan: dict[str, Any]) -> None:
        now = clock.now_ms()
        self._set_meta("wallet", repr(clean(self._wallet() + plan["realized"] - plan["fee"])))
        symbol = plan["symbol"]
        positions = self._memo_of("positions")
        if plan["new_size"] == 0:
            self._sql("DELETE FROM paper_positions WHERE symbol = ?", symbol)
            positions.pop(symbol, None)
        elif plan["opened"]:
            self._sql(
                "INSERT INTO paper_positions (symbol, size, entry_price, margin, opened_at_ms, "
                "updated_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
                symbol, plan["new_size"], plan["new_entry"], plan["new_margin"], now, now,
            )  # fmt: skip
            positions[symbol] = {"symbol": symbol, "size": plan["new_size"], "entry_price": plan["new_entry"],
                                 "margin": plan["new_margin"], "opened_at_ms": now, "updated_at_ms": now}
        else:
            self._sql(
                "UPDATE paper_positions SET size = ?, entry_price = ?, margin = ?, updated_at_ms = ? "
                "WHERE symbol = ?",
                plan["new_size"], plan["new_entry"], plan["new_margin"], now, symbol,
            )  # fmt: skip
            positions[symbol].update(size=plan["new_size"], entry_price=plan["new_entry"],
                                     margin=plan["new_margin"], updated_at_ms=now)

    def _reduce_only_qty(self, symbol: str, side: str, qty: float) -> float:
        """The quantity a reduce-only order may trade (trimmed to the position), or ExchangeError."""
        pos = self._position(symbol)
        size = float(pos["size"]) if pos else 0.0
        if size == 0:
            raise _reject(
                f"reduce-only order rejected: no open {symbol} position to reduce", "PAPER_REDUCE_ONLY"
            )
        if (size > 0) == (side == "BUY"):
            raise _reject(
                f"reduce-only order rejected: {side} would increase the {'LONG' if size > 0 else 'SHORT'} "
                f"{symbol} position",
                "PAPER_REDUCE_ONLY",
            )
        return min(qty, abs(size))

    def _match_resting(self, cfg: dict, symbol: str, rules: Rules, price: float) -> None:
        memo = self._memo_of("resting")
        resting = [o for o in memo.values() if o["symbol"] == symbol]
        if not resting:
            return
        fee_rate = float(cfg.get("feeRate", 0.0))
        for o in resting:
            limit = float(o["limit_price"])
            if not ((o["side"] == "BUY" and price <= limit) or (o["side"] == "SELL" and price >= limit)):
                continue
            now = clock.now_ms()
            # Release the reservation first: the fill itself is checked against the freed balance.
            self._sql("UPDATE paper_orders SET reserved = 0 WHERE seq = ?", o["seq"])
            del memo[o["seq"]]  # filled or cancelled below: its reservation no longer counts either way
            try:
                qty = float(o["quantity"])
                if o["reduce_only"]:
                    qty = self._reduce_only_qty(symbol, o["side"], qty)
                plan = self._plan_fill(symbol, o["side"], qty, limit, fee_rate)
            except ExchangeError as e:
                self._sql(
                    "UPDATE paper_orders SET status = 'Cancelled', note = ?, updated_at_ms = ? WHERE seq = ?",
                    e.message, now, o["seq"],
                )  # fmt: skip
                continue
            self._apply_fill(plan)
            self._sql(
                "UPDATE paper_orders SET status = 'Filled', executed_qty = ?, avg_price = ?, fee = ?, "
                "realized_pnl = ?, updated_at_ms = ? WHERE seq = ?",
                qty, limit, plan["fee"], plan["realized"], now, o["seq"],
            )  # fmt: skip

    # ================================================================ orders
    def _place_order(self, cfg: dict, params: dict) -> dict[str, Any]:
        o = params.get("order") or {}
        symbol = str(o.get("symbol") or "").upper()
        side = str(o.get("side") or "").upper()
        order_type = str(o.get("orderType") or "MARKET").upper()
        coid = o.get("clientOrderId")
        reduce_only = bool(o.get("reduceOnly", False))
        if o.get("market", "futures") != "futures":
            raise _reject(
                "spot orders are not available on the paper exchange in this version: it simulates "
                "USDT-margined perpetual futures (send market futures)",
                "PAPER_SPOT_NOT_AVAILABLE",
            )
        if side not in ("BUY", "SELL"):
            raise _reject(f"side must be BUY or SELL, got {o.get('side')!r}", "PAPER_BAD_REQUEST")
        if order_type not in ("MARKET", "LIMIT"):
            raise _reject(
                f"orderType must be MARKET or LIMIT, got {o.get('orderType')!r}", "PAPER_BAD_REQUEST"
            )
        if not isinstance(coid, str) or not coid or len(coid) > 36:
            raise _reject("clientOrderId must be a string of 1 to 36 characters", "PAPER_BAD_REQUEST")
        qty = o.get("quantity")
        if isinstance(qty, bool) or not isinstance(qty, (int, float)) or not qty > 0:
            raise _reject(f"quantity must be a positive number, got {qty!r}", "PAPER_BAD_REQUEST")
        qty = float(qty)

        existing = self._sql("SELECT order_id, status FROM paper_orders WHERE client_order_id = ?", coid)
        if existing:
            raise ExchangeError(
                "duplicate_order",
                f"client order id {coid} was already used by order {existing[0]['order_id']} "
                f"({existing[0]['status']}); nothing was placed",
                "PAPER_DUPLICATE_ORDER",
                details={"orderId": existing[0]["order_id"], "status": existing[0]["status"]},
            )

        rules = self._rules(cfg, symbol)
        if not market.is_multiple(qty, rules.qty_step):
            raise _reject(
                f"quantity {_num(qty)} is not a multiple of {symbol}'s step {_num(rules.qty_step)} "
                f"(round it down to {_num(round_to(qty, rules.qty_step, 'down'))})",
                "PAPER_QTY_STEP", qtyStep=rules.qty_step,
            )  # fmt: skip
        qty = round_to(qty, rules.qty_step)
        if qty < rules.min_qty - rules.qty_step * 1e-6:
            raise _reject(
                f"quantity {_num(qty)} is below {symbol}'s minimum order quantity {_num(rules.min_qty)}",
                "PAPER_MIN_QTY", minQty=rules.min_qty,
            )  # fmt: skip

        limit: float | None = None
        if order_type == "LIMIT":
            lp = o.get("price")
            if isinstance(lp, bool) or not isinstance(lp, (int, float)) or not lp > 0:
                raise _reject(f"a LIMIT order needs a positive price, got {lp!r}", "PAPER_BAD_REQUEST")
            # Onto the tick in the trader's favour: never pay more / sell for less than asked.
            limit = round_to(float(lp), rules.tick_size, "down" if side == "BUY" else "up")
            if limit <= 0:
                raise _reject(
                    f"limit price {lp!r} is below {symbol}'s tick {_num(rules.tick_size)}",
                    "PAPER_BAD_REQUEST",
                )

        price = self._observe(cfg, symbol, rules)
        ref = limit if limit is not None else price
        notional = qty * ref
        if notional < rules.min_notional - 1e-9:
            raise _reject(
                f"order value {_num(notional)} {ASSET} ({_num(qty)} x {_num(ref)}) is below {symbol}'s "
                f"minimum notional {_num(rules.min_notional)} {ASSET}",
                "PAPER_MIN_NOTIONAL", minNotional=rules.min_notional,
            )  # fmt: skip

        leverage, _ = self._symbol_settings(symbol)
        fee_rate = float(cfg.get("feeRate", 0.0))
        exec_qty = self._reduce_only_qty(symbol, side, qty) if reduce_only else qty
        marketable = (
            limit is None or (side == "BUY" and limit >= price) or (side == "SELL" and limit <= price)
        )
        now = clock.now_ms()
        seq = self._memo_of("seq")["next"]
        order_id = f"paper-{self._meta('account') or 'paper'}-{seq:08d}"
        note = f"reduce-only: trimmed from {_num(qty)} to the position size" if exec_qty < qty else None

        if marketable:
            slip = float(cfg.get("slippageBps", 0.0)) / 10_000
            if side == "BUY":
                fill = round_to(price * (1 + slip), rules.tick_size, "up")
                fill = min(fill, limit) if limit is not None else fill
            else:
                fill = round_to(price * (1 - slip), rules.tick_size, "down")
                fill = max(fill, limit) if limit is not None else fill
            plan = self._plan_fill(symbol, side, exec_qty, fill, fee_rate)
            self._apply_fill(plan)
            row = self._insert_order(
                seq=seq, order_id=order_id, client_order_id=coid, symbol=symbol, side=side,
                order_type=order_type, limit_price=limit, quantity=qty, executed_qty=exec_qty,
                avg_price=fill, fee=plan["fee"], realized_pnl=plan["realized"], status="Filled",
                reduce_only=int(reduce_only), leverage=leverage, reserved=0.0, note=note,
                created_at_ms=now, updated_at_ms=now,
            )  # fmt: skip
        else:
            assert limit is not None
            reserved = 0.0
            if not reduce_only:
                reserved = clean(qty * limit / leverage + qty * limit * fee_rate)
                free = self._free()
                if free < reserved:
                    raise _reject(
                        f"insufficient balance: resting {symbol} {side} {_num(qty)} at {_num(limit)} "
                        f"reserves {_num(reserved)} {ASSET} (margin at {leverage:g}x + fee), "
                        f"available {_num(free)} {ASSET}",
                        "PAPER_INSUFFICIENT_BALANCE", required=reserved, available=free,
                    )  # fmt: skip
            row = self._insert_order(
                seq=seq, order_id=order_id, client_order_id=coid, symbol=symbol, side=side,
                order_type=order_type, limit_price=limit, quantity=qty, executed_qty=0.0, avg_price=None,
                fee=0.0, realized_pnl=0.0, status="New", reduce_only=int(reduce_only), leverage=leverage,
                reserved=reserved, note=None, created_at_ms=now, updated_at_ms=now,
            )  # fmt: skip
        return _order_json(row)  # the row as inserted: not read back

    def _insert_order(self, **cols: Any) -> dict[str, Any]:
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        self._sql(f"INSERT INTO paper_orders ({names}) VALUES ({marks})", *cols.values())
        self._memo_of("seq")["next"] = cols["seq"] + 1
        if cols["status"] == "New":
            self._memo_of("resting")[cols["seq"]] = cols
        return cols

    def _order_by_coid(self, coid: str) -> dict[str, Any] | None:
        rows = self._sql("SELECT * FROM paper_orders WHERE client_order_id = ?", coid)
        return _order_json(rows[0]) if rows else None

    def _get_order(self, cfg: dict, params: dict) -> dict[str, Any] | None:
        coid = str(params.get("clientOrderId") or "")
        rows = self._sql("SELECT symbol, status FROM paper_orders WHERE client_order_id = ?", coid)
        if not rows:
            return None
        symbol = params.get("symbol")
        if symbol and str(symbol).upper() != rows[0]["symbol"]:
            return None
        if rows[0]["status"] == "New":
            self._mark(cfg, rows[0]["symbol"])  # a resting order fills when the market reaches it
        return self._order_by_coid(coid)

    def _cancel_order(self, cfg: dict, params: dict) -> dict[str, Any]:
        coid = str(params.get("clientOrderId") or "")
        rows = self._sql("SELECT symbol, status FROM paper_orders WHERE client_order_id = ?", coid)
        if not rows:
            raise _reject(f"order {coid} does not exist", "PAPER_ORDER_NOT_FOUND")
        if rows[0]["status"] == "New":
            self._mark(cfg, rows[0]["symbol"])  # it may have filled before the cancel arrived
        order = self._order_by_coid(coid)
        assert order is not None
        if order["status"] != "New":
            raise _reject(
                f"order {coid} is {order['status']} and cannot be cancelled", "PAPER_ORDER_NOT_OPEN"
            )
        self._sql(
            "UPDATE paper_orders SET status = 'Cancelled', reserved = 0, note = 'cancelled by request', "
            "updated_at_ms = ? WHERE client_order_id = ?",
            clock.now_ms(), coid,
        )  # fmt: skip
        resting = self._memo_of("resting")
        for seq in [s for s, o in resting.items() if o["client_order_id"] == coid]:
            del resting[seq]
        return self._order_by_coid(coid)  # type: ignore[return-value]

    def _orders(self, cfg: dict, params: dict) -> list[dict[str, Any]]:
        where, args = [], []
        if params.get("symbol"):
            where.append("symbol = ?")
            args.append(str(params["symbol"]).upper())
        if params.get("status"):
            where.append("status = ?")
            args.append(str(params["status"]))
        limit = max(1, min(int(params.get("limit") or 100), 1000))
        q = "SELECT * FROM paper_orders" + (" WHERE " + " AND ".join(where) if where else "")
        return [_order_json(r) for r in self._sql(q + " ORDER BY seq DESC LIMIT ?", *args, limit)]

    # ================================================================ account
    def _set_leverage(self, cfg: dict, params: dict) -> dict[str, Any]:
        symbol = str(params.get("symbol") or "").upper()
        lev = params.get("leverage")
        if isinstance(lev, bool) or not isinstance(lev, (int, float)) or not 1 <= lev <= MAX_LEVERAGE:
            raise _reject(f"leverage must be between 1 and {MAX_LEVERAGE}, got {lev!r}", "PAPER_BAD_LEVERAGE")
        lev = float(lev)
        self._rules(cfg, symbol)
        current, mode = self._symbol_settings(symbol)
        if lev == current:  # already set: nothing to change (an exchange answers "not modified")
            return {"symbol": symbol, "leverage": lev}
        pos = self._position(symbol)
        if pos is not None:
            # The open position's margin follows the new leverage; more margin must be free.
            new_margin = clean(abs(float(pos["size"])) * float(pos["entry_price"]) / lev)
            extra = clean(new_margin - float(pos["margin"]))
            free = self._free()
            if extra > free:
                raise _reject(
                    f"insufficient balance: {lev:g}x on the open {symbol} position needs {_num(extra)} "
                    f"{ASSET} more margin, available {_num(free)} {ASSET}",
                    "PAPER_INSUFFICIENT_BALANCE", required=extra, available=free,
                )  # fmt: skip
            now = clock.now_ms()
            self._sql("UPDATE paper_positions SET margin = ?, updated_at_ms = ? WHERE symbol = ?",
                      new_margin, now, symbol)  # fmt: skip
            pos.update(margin=new_margin, updated_at_ms=now)
        self._save_symbol_settings(symbol, lev, mode)
        return {"symbol": symbol, "leverage": lev}

    def _set_margin_mode(self, cfg: dict, params: dict) -> dict[str, Any]:
        symbol = str(params.get("symbol") or "").upper()
        mode = str(params.get("mode") or "").lower()
        if mode not in ("isolated", "cross"):
            raise _reject(
                f"margin mode must be isolated or cross, got {params.get('mode')!r}", "PAPER_BAD_REQUEST"
            )
        self._rules(cfg, symbol)
        lev, current = self._symbol_settings(symbol)
        if mode != current:
            busy = self._position(symbol) is not None or any(
                o["symbol"] == symbol for o in self._memo_of("resting").values()
            )
            if busy:
                raise _reject(
                    f"cannot switch {symbol} from {current} to {mode} margin while a position or order "
                    "is open",
                    "PAPER_MARGIN_MODE_BUSY",
                )
            self._save_symbol_settings(symbol, lev, mode)
        return {"symbol": symbol, "marginMode": mode}

    def _positions(self, cfg: dict, params: dict) -> list[dict[str, Any]]:
        symbol = params.get("symbol")
        if symbol:
            symbols = [str(symbol).upper()]
        else:
            symbols = sorted({*self._memo_of("positions"), *(o["symbol"] for o in self._memo_of("resting").values())})
        # Advance every market first: resting orders may fill and change positions and the balance.
        marks = {s: self._mark(cfg, s) for s in symbols}
        out = []
        free = self._free()
        for s in symbols:
            pos = self._position(s)
            if pos is None:
                continue
            mark = marks[s]
            size, entry, margin = float(pos["size"]), float(pos["entry_price"]), float(pos["margin"])
            lev, mode = self._symbol_settings(s)
            out.append({
                "symbol": s,
                "side": "LONG" if size > 0 else "SHORT",
                "size": abs(size),
                "entryPrice": entry,
                "leverage": lev,
                "marginMode": mode,
                "margin": margin,
                "markPrice": mark,
                "unrealizedPnl": clean(size * (mark - entry)) if mark is not None else None,
                "liquidationPrice": market.liquidation_price(
                    size=size, entry=entry, leverage=lev, margin_mode=mode, margin=margin, free=free
                ),
                "openedAtMs": int(pos["opened_at_ms"]),
                "updatedAtMs": int(pos["updated_at_ms"]),
            })  # fmt: skip
        return out

    def _balance(self, cfg: dict, params: dict) -> dict[str, Any]:
        asset = str(params.get("asset") or ASSET).upper()
        if asset != ASSET:
            # Paper accounts hold USDT only: any other asset is an empty balance, as on an exchange.
            return {"asset": asset, "free": 0.0, "locked": 0.0, "wallet": 0.0, "unrealizedPnl": 0.0}
        unrealized = 0.0
        for pos in self._memo_of("positions").values():
            # Last observed prices: a balance query does not move the markets.
            mark = self._last_price(cfg, pos["symbol"])
            if mark is not None:
                unrealized += float(pos["size"]) * (mark - float(pos["entry_price"]))
        wallet, locked = self._wallet(), self._locked()
        return {
            "asset": ASSET,
            "free": clean(wallet - locked),
            "locked": locked,
            "wallet": wallet,
            "unrealizedPnl": clean(unrealized),
        }

    def _ticker(self, cfg: dict, params: dict) -> dict[str, Any]:
        symbol = str(params.get("symbol") or "").upper()
        rules = self._rules(cfg, symbol)
        price = self._observe(cfg, symbol, rules)
        return {
            "symbol": symbol,
            "price": price,
            "markPrice": price,
            "pinned": _pinned(cfg, symbol) is not None,
            "timestampMs": clock.now_ms(),
        }

    def _quote(self, cfg: dict, params: dict) -> dict[str, Any]:
        symbol = str(params.get("symbol") or "").upper()
        rules = self._rules(cfg, symbol)
        return {"rules": rules.as_dict(), "price": self._observe(cfg, symbol, rules)}

    def _execute(self, cfg: dict, params: dict) -> dict[str, Any]:
        steps = {"set_margin_mode": self._set_margin_mode, "set_leverage": self._set_leverage}
        for step in params.get("setup") or []:
            method = step.get("method") if isinstance(step, dict) else None
            fn = steps.get(method) if isinstance(method, str) else None
            if fn is None:
                raise _reject("a setup step must be set_margin_mode or set_leverage", "PAPER_BAD_REQUEST")
            fn(cfg, step)
        return {"order": self._place_order(cfg, params), "balance": self._balance(cfg, {})}

    def _instrument(self, cfg: dict, params: dict) -> dict[str, Any]:
        return self._rules(cfg, str(params.get("symbol") or "").upper()).as_dict()

    def _reset(self, cfg: dict, params: dict) -> dict[str, Any]:
        for table in ("paper_meta", "paper_markets", "paper_symbol_settings", "paper_positions", "paper_orders"):
            self._sql(f"DELETE FROM {table}")
        self._memo = None
        self._ensure_account(cfg)
        return self._balance(cfg, {})


def _pinned(cfg: dict, symbol: str) -> float | None:
    v = (cfg.get("prices") or {}).get(symbol)
    return float(v) if v is not None else None


def _order_json(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "orderId": r["order_id"],
        "clientOrderId": r["client_order_id"],
        "symbol": r["symbol"],
        "side": r["side"],
        "orderType": r["order_type"],
        "price": r["limit_price"],
        "quantity": float(r["quantity"]),
        "executedQty": float(r["executed_qty"]),
        "avgPrice": float(r["avg_price"]) if r["avg_price"] is not None else None,
        "fee": float(r["fee"]),
        "feeAsset": ASSET,
        "realizedPnl": float(r["realized_pnl"]),
        "status": r["status"],
        "reduceOnly": bool(r["reduce_only"]),
        "leverage": float(r["leverage"]),
        "note": r["note"],
        "createdAtMs": int(r["created_at_ms"]),
        "updatedAtMs": int(r["updated_at_ms"]),
    }
