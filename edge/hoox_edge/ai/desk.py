"""Desk questions grounded in the ledger (`/agent/chat` with `"desk": true`, the Telegram desk's free
text). A provider that calls tools gets the read-only tools of `ai.tools` and rules to quote their
results. One that does not (Workers AI, a local server without `tools`) gets retrieved context
instead: the gateway reads the ledger — open positions of both books with their average entry, mark
and unrealized P&L, and today's figures per book (fills, closing trades, win rate, realized P&L,
fees) — through the same read-only functions as `/v1/positions` and `/v1/stats`, and hands them to
the model as facts it must quote. Nothing here writes: the assistant can suggest a hoox command,
never run one.
"""

from __future__ import annotations

from typing import Any

from hoox_edge.ports import Env
from hoox_edge.shared import clock

BOOKS = ("paper", "live")
RULES = ("Answer questions about the trader's desk only from the DESK FACTS below, quoting their figures "
         "exactly; if a figure is not there, say it is not in the ledger. Never claim to place, change or "
         "close an order: suggest the hoox command (for example `hoox orders cancel ID`) for the operator to run.")


def figure(v: Any) -> str:
    """A ledger figure as quoted: up to 8 decimals, trailing zeros dropped (150.25, 0.001, 60000)."""
    if v is None:
        return "unknown"
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    text = f"{v:.8f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


async def facts(env: Env) -> str:
    from hoox_edge.operator import positions as positions_mod
    from hoox_edge.workers import operator_api  # its stats_of: the figures of /v1/stats, one definition

    now = clock.iso()
    day = now[:10]
    lines = [f"DESK FACTS (from the ledger at {now}):", "Open positions:"]
    positions = await positions_mod.open_positions(env)
    for p in positions:
        lines.append(f"- {p['mode']} {p['exchange']} {p['symbol']} {p['side']} size {figure(p['size'])}, "
                     f"average entry {figure(p['entryPrice'])}, mark {figure(p['markPrice'])}, "
                     f"unrealized P&L {figure(p['unrealizedPnl'])}, leverage {figure(p['leverage'])}")
    if not positions:
        lines.append("- none")
    lines.append(f"Today ({day} UTC), per book:")
    for book in BOOKS:
        s = await operator_api.stats_of(env, book, since=f"{day}T00:00:00.000Z")
        rate = "no closing trade" if s["winRate"] is None else f"{figure(round(s['winRate'] * 100, 2))}%"
        lines.append(f"- {book}: {s['tradeCount']} fills, {s['closingTrades']} closing trades ({s['wins']} won, "
                     f"{s['losses']} lost), win rate {rate}, realized P&L {figure(s['realizedPnl'])}, "
                     f"fees {figure(s['fees'])}, net {figure(s['netRealizedPnl'])}")
    return "\n".join(lines)


TOOL_RULES = ("Answer questions about the trader's desk from the desk_* tools: call them for every figure you "
              "give and quote their figures exactly as they return them. If a tool reports an error, say what "
              "failed; never guess or invent a figure. The tools only read: never claim to place, change or "
              "close an order; suggest the hoox command (for example `hoox orders cancel ID`) for the operator "
              "to run.")


async def system_prompt(env: Env, base: str, *, tools: bool, history: str) -> str:
    """`history`: the memory's nearest items (ai.memory.Recall.context), or why there are none."""
    if tools:
        return f"{base}\n\n{TOOL_RULES}\nThe time now is {clock.iso()} (UTC).\n\n{history}"
    return f"{base}\n\n{RULES}\n\n{await facts(env)}\n\n{history}"
