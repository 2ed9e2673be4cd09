"""The desk assistant's tools: read-only functions over the ledger that a model may call, each the
same code as an operator API route (one definition of every figure):

- `desk_positions` — open positions with their average entry (`/v1/positions`);
- `desk_trades` — trades newest first, filtered by symbol, book, status and since, at most 50 (`/v1/trades`);
- `desk_stats` — fills, closing trades, wins, win rate, realized P&L, fees per book (`/v1/stats`);
- `desk_risk` — the kill switch, trailing stops, next targets, today's drawdown (`/v1/risk`).

None of them writes: the assistant can suggest a hoox command, never run one. Arguments are checked
with the operator API's own rules; a bad one, or a tool that fails, is answered to the model as an
error it must report (never a figure made up in its place).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hoox_edge.ai.wire import ToolCall, ToolResult, ToolSpec
from hoox_edge.ports import Env
from hoox_edge.shared import clock
from hoox_edge.shared.errors import ApiError
from hoox_edge.shared.redact import redact

BOOKS = ("paper", "live")
MAX_TRADES = 50
MAX_RESULT_CHARS = 24_000  # what one tool result may add to the conversation

_BOOK = {"type": "string", "enum": ["paper", "live", "all"],
         "description": "paper or live book; all (the default) for both"}
_SYMBOL = {"type": "string", "description": "a symbol such as SOLUSDT, SOL/USDT, or a base asset such as SOL"}
_SINCE = {"type": "string", "description": "from this ISO-8601 UTC date or time on (e.g. 2026-01-05), or "
                                           "today, 7d or 30d"}


@dataclass(frozen=True)
class Tool:
    spec: ToolSpec
    run: Callable[[Env, dict[str, str]], Awaitable[Any]]


def _text_args(args: dict[str, Any]) -> dict[str, str]:
    """The arguments as the operator API's query text (checked there by the same rules)."""
    out: dict[str, str] = {}
    for name, value in args.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f"{name} must be a string{' or a whole number' if name == 'limit' else ''}")
        out[name] = str(value)
    return out


def _book(q: dict[str, str]) -> str | None:
    from hoox_edge.operator.params import Params

    book = Params.of(q).choice("book", ("paper", "live", "all"))
    return None if book in (None, "all") else book


def _since(q: dict[str, str]) -> str | None:
    from hoox_edge.operator.params import Params

    raw = q.get("since")
    days = {"today": 0, "7d": 7, "30d": 30}.get((raw or "").strip().lower())
    if days is not None:  # a period the model need not turn into a date itself
        start = clock.now() - days * 86_400
        return clock.iso(start)[:10] + "T00:00:00.000Z" if days == 0 else clock.iso(start)
    return Params.of(q).since()


def _matches(symbol: str, wanted: str) -> bool:
    """SOLUSDT matches SOLUSDT, and SOL (a base asset) matches SOLUSDT, SOLUSDC, SOLUSD."""
    return symbol == wanted or symbol in (wanted + q for q in ("USDT", "USDC", "USD", "BUSD", "FDUSD"))


async def _positions(env: Env, q: dict[str, str]) -> Any:
    from hoox_edge.operator import positions
    from hoox_edge.operator.params import Params

    wanted = Params.of(q).symbol()
    items = await positions.open_positions(env, mode=_book(q))
    items = [p for p in items if wanted is None or _matches(p["symbol"], wanted)]
    return {"filters": {"book": q.get("book", "all"), "symbol": wanted}, "positions": items,
            "note": "entryPrice is the average entry of the open position"}


async def _trades(env: Env, q: dict[str, str]) -> Any:
    from hoox_edge.operator.params import Params
    from hoox_edge.workers import operator_api

    params = Params.of(q)
    limit = params.limit(default=20, maximum=MAX_TRADES)
    since = _since(q)
    wanted = params.symbol()
    status = params.status()
    book = _book(q)
    query = {k: v for k, v in (("limit", str(limit)), ("since", since), ("status", status),
                               ("mode", book)) if v is not None}
    symbols: list[str | None] = [None]
    if wanted is not None:  # SOL: each SOL market the ledger has traded
        traded = (await env.DB.prepare("SELECT DISTINCT symbol FROM trades").all())["results"]
        symbols = [r["symbol"] for r in traded if _matches(r["symbol"], wanted)] or [wanted]
    items, more = [], False
    for symbol in symbols:
        page = await operator_api.trades_of(env, Params.of(query | ({"symbol": symbol} if symbol else {})))
        items += page["items"]
        more = more or page["nextCursor"] is not None
    items.sort(key=lambda t: t["seq"], reverse=True)
    return {"trades": items[:limit], "more": more or len(items) > limit,
            "filters": {"book": book or "all", "symbols": symbols if wanted else "all", "status": status,
                        "since": since, "limit": limit}}


async def _stats(env: Env, q: dict[str, str]) -> Any:
    from hoox_edge.workers import operator_api

    book, since = _book(q), _since(q)
    books = (book,) if book else BOOKS  # never one figure over both books: each book on its own
    return {"since": since, "books": {b: await operator_api.stats_of(env, b, since=since) for b in books}}


async def _risk(env: Env, q: dict[str, str]) -> Any:
    from hoox_edge.risk import surface

    return await surface.status(env)


TOOLS = (
    Tool(ToolSpec("desk_positions", "Open positions of the trader's books: side, size, average entry price "
                  "(entryPrice), mark price, unrealized P&L, leverage, liquidation price.",
                  {"type": "object", "properties": {"book": _BOOK, "symbol": _SYMBOL}}),
         lambda env, q: _positions(env, _checked(q, ("book", "symbol")))),
    Tool(ToolSpec("desk_trades", f"The trader's trades (orders and fills) newest first, at most {MAX_TRADES}.",
                  {"type": "object", "properties": {
                      "book": _BOOK, "symbol": _SYMBOL, "since": _SINCE,
                      "status": {"type": "string", "description": "Filled, Resting, Cancelled, Expired, Rejected, "
                                                                  "DeadLettered or Pending"},
                      "limit": {"type": "integer", "description": f"1 to {MAX_TRADES}, default 20"}}}),
         lambda env, q: _trades(env, _checked(q, ("book", "symbol", "since", "status", "limit")))),
    Tool(ToolSpec("desk_stats", "Trading figures per book: fills, closing trades, wins, losses, win rate "
                  "(a fraction: 0.5 is 50%), realized P&L, fees, net realized P&L, open positions.",
                  {"type": "object", "properties": {"book": _BOOK, "since": _SINCE}}),
         lambda env, q: _stats(env, _checked(q, ("book", "since")))),
    Tool(ToolSpec("desk_risk", "Risk status: the kill switch, each open position's trailing stop, stop price "
                  "and next take-profit target, today's drawdown per book against its limit, the last risk run.",
                  {"type": "object", "properties": {}}),
         lambda env, q: _risk(env, _checked(q, ()))),
)
SPECS = tuple(t.spec for t in TOOLS)
_BY_NAME = {t.spec.name: t for t in TOOLS}


def _checked(q: dict[str, str], accepted: tuple[str, ...]) -> dict[str, str]:
    for name in q:
        if name not in accepted:
            raise ValueError(f"{name[:40]} is not an argument of this tool (it takes: {', '.join(accepted) or 'none'})")
    return q


async def run(env: Env, call: ToolCall) -> ToolResult:
    """The result of one call, as JSON text; an error the model must report when it fails."""
    tool = _BY_NAME.get(call.name)
    try:
        if tool is None:
            raise ValueError(f"no tool named {call.name[:60]!r} (tools: {', '.join(_BY_NAME)})")
        if call.arguments is None:
            raise ValueError("the arguments are not a JSON object")
        result = await tool.run(env, _text_args(call.arguments))
    except ApiError as exc:
        return _error(env, call, exc.message)
    except ValueError as exc:
        return _error(env, call, str(exc))
    except Exception as exc:  # a ledger or exchange failure: reported, never papered over
        return _error(env, call, f"the tool failed ({type(exc).__name__}: {str(exc)[:200]})")
    text = json.dumps(result, default=str, separators=(",", ":"))
    if len(text) > MAX_RESULT_CHARS:
        return _error(env, call, f"the result is {len(text)} characters, more than {MAX_RESULT_CHARS}: narrow it "
                            "(a symbol, a book, a later since, a smaller limit)")
    return ToolResult(call, text)


def _error(env: Env, call: ToolCall, message: str) -> ToolResult:
    return ToolResult(call, json.dumps({"error": redact(message, env.secret_values())}), is_error=True)
