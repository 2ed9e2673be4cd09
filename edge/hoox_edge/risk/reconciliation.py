"""Reconciliation (issue 11, item 5): the ledger's open live positions against the positions each live
exchange reports, size and side, once per risk run.

- Only the live book: the paper exchange *is* the ledger's own, so there is nothing to compare.
- Only derivative (futures) positions: a spot holding is a coin balance, not a position, and an
  exchange account may hold coins hoox never bought. Live spot positions of the ledger are listed
  in the run's `skipped`, with that reason; so is an exchange whose connector cannot read
  positions (MEXC: hoox trades its spot API only).
- Which exchanges are asked: every one the live ledger holds a futures position on, and every one
  whose API keys are set (a position opened behind hoox's back on an account with no ledger
  position is a mismatch too). An exchange that cannot be asked (no keys, an error) is an error of
  the run, never a mismatch; its issues stay as they were.
- A mismatch — `size`, `side`, `missing_at_exchange` (the ledger holds it, the exchange does not)
  or `not_in_ledger` — is one row of `reconciliation_issues` (at most one open per exchange and
  symbol). It is alerted once, when it first appears; later runs update its figures silently; when
  ledger and exchange agree again it is marked cleared, with an info alert. Nothing is fixed.
- A symbol with a signal still on its way to the exchange (Received, Enqueued, Executing) or a
  resting live order may differ for a moment: a new mismatch there is not opened this run (it is
  listed in `skipped`); an open issue that now matches still clears.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hoox_edge import lifecycle
from hoox_edge.exchanges import KNOWN_EXCHANGES, live, provider_for
from hoox_edge.ledger import dec, fmt, num
from hoox_edge.operator import shapes
from hoox_edge.ports import Env
from hoox_edge.shared import calls, clock
from hoox_edge.shared.logs import log

# Two sizes agree when they differ by at most this share of the larger (the ledger keeps REALs, the
# exchanges send decimal text: a float's last digit must not be a mismatch; a step never is this small).
TOLERANCE = Decimal("1e-9")
KINDS = ("size", "side", "missing_at_exchange", "not_in_ledger")


async def market_of(env: Env, request_id: str) -> str:
    """The market (futures | spot) of the signal that last changed a position; futures by default."""
    raw = await env.DB.prepare("SELECT signal FROM trade_signals WHERE request_id = ?").bind(
        request_id).first("signal")
    try:
        market = (json.loads(raw) if raw else {}).get("market")
    except ValueError:
        market = None
    return market if market in ("futures", "spot") else "futures"


@dataclass(frozen=True)
class Held:
    side: str  # LONG | SHORT
    size: Decimal
    position_id: int | None = None  # the ledger's positions.id


def mismatch(ledger: Held | None, exchange: Held | None) -> str | None:
    """The kind of disagreement between the ledger's position and the exchange's, or None."""
    if ledger is None and exchange is None:
        return None
    if exchange is None:
        return "missing_at_exchange"
    if ledger is None:
        return "not_in_ledger"
    if ledger.side != exchange.side:
        return "side"
    if abs(ledger.size - exchange.size) > TOLERANCE * max(ledger.size, exchange.size, Decimal(1)):
        return "size"
    return None


def _held_text(h: Held | None) -> str:
    return f"{h.side} {fmt(h.size)}" if h is not None else "nothing"


@dataclass
class Outcome:
    """What one reconciliation saw and did (kept in the run's details)."""

    exchanges: list[dict[str, Any]] = field(default_factory=list)  # asked: {exchange, ledger, reported}
    opened: list[shapes.ReconciliationIssue] = field(default_factory=list)
    cleared: list[shapes.ReconciliationIssue] = field(default_factory=list)
    open_issues: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"exchanges": self.exchanges, "opened": self.opened, "cleared": self.cleared,
                "openIssues": self.open_issues}


def issue_item(r: dict[str, Any]) -> shapes.ReconciliationIssue:
    """A `reconciliation_issues` row as the API shows it."""
    return {"id": r["id"], "exchange": r["exchange"], "symbol": r["symbol"], "kind": r["kind"],
            "ledgerPositionId": r["ledger_position_id"], "ledgerSide": r["ledger_side"],
            "ledgerSize": r["ledger_size"], "exchangeSide": r["exchange_side"], "exchangeSize": r["exchange_size"],
            "status": r["status"], "firstSeenAt": r["first_seen_at"], "lastSeenAt": r["last_seen_at"],
            "clearedAt": r["cleared_at"], "firstRunId": r["first_run_id"], "lastRunId": r["last_run_id"],
            "clearedRunId": r["cleared_run_id"]}


async def open_issues(env: Env) -> list[shapes.ReconciliationIssue]:
    rows = (await env.DB.prepare(
        "SELECT * FROM reconciliation_issues WHERE status = 'open' ORDER BY id").all())["results"]
    return [issue_item(r) for r in rows]


async def _ledger(env: Env, out: Outcome) -> dict[str, dict[str, Held]]:
    """The live book's open futures positions: exchange -> symbol -> Held. Spot ones go to `skipped`."""
    rows = (await env.DB.prepare(
        "SELECT id, exchange, symbol, side, size, request_id FROM positions WHERE status = 'OPEN' AND mode = 'live' "
        "ORDER BY id").all())["results"]
    book: dict[str, dict[str, Held]] = {}
    for r in rows:
        if await market_of(env, r["request_id"]) == "spot":
            out.skipped.append({"stage": "reconcile", "exchange": r["exchange"], "symbol": r["symbol"],
                                "reason": "a spot holding is a coin balance, not an exchange position: not reconciled"})
            continue
        book.setdefault(r["exchange"], {})[r["symbol"]] = Held(r["side"], dec(r["size"]), int(r["id"]))
    return book


async def _in_flight(env: Env, exchange: str) -> set[str]:
    """Symbols of `exchange` with an order that may change the position before the ledger says so."""
    rows = (await env.DB.prepare(
        "SELECT symbol FROM trade_signals WHERE exchange = ? AND status IN (?,?,?) "
        "UNION SELECT symbol FROM trades WHERE exchange = ? AND mode = 'live' AND status IN (?,?)"
    ).bind(exchange, lifecycle.RECEIVED, lifecycle.ENQUEUED, lifecycle.EXECUTING, exchange, lifecycle.RESTING,
           lifecycle.PENDING).all())["results"]
    return {r["symbol"] for r in rows}


async def _reported(env: Env, exchange: str) -> dict[str, Held] | None:
    """The exchange's open futures positions by symbol; None when its connector cannot read them."""
    provider = await provider_for(env, exchange, "live", "futures")
    try:
        if not getattr(provider, "reads_positions", False):
            return None
        return {p.symbol.upper(): Held(p.side, dec(p.size)) for p in await provider.positions() if p.size > 0}
    finally:
        if hasattr(provider, "aclose"):
            await provider.aclose()


async def reconcile(env: Env, run_id: int) -> Outcome:
    """Compare, record and alert (see the module docstring). Never raises for one exchange's failure."""
    out = Outcome()
    book = await _ledger(env, out)
    keyed = {e for e in KNOWN_EXCHANGES if live.credentials(env, e) is not None}
    for exchange in sorted(set(book) | keyed):
        ledger = book.get(exchange, {})
        try:
            reported = await _reported(env, exchange)
        except Exception as exc:  # no keys, refused, unreachable: unknown, never a mismatch
            text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            out.errors.append({"stage": "reconcile", "exchange": exchange,
                               "error": f"{exchange} positions could not be read: {text}"[:300]})
            continue
        if reported is None:
            if ledger:
                out.errors.append({"stage": "reconcile", "exchange": exchange,
                                   "error": f"the {exchange} connector cannot read futures positions"})
            else:
                out.skipped.append({"stage": "reconcile", "exchange": exchange,
                                    "reason": f"{exchange}: hoox trades its spot API only; no positions to compare"})
            continue
        out.exchanges.append({"exchange": exchange, "ledger": len(ledger), "reported": len(reported)})
        await _settle(env, run_id, exchange, ledger, reported, out)
    out.open_issues = int(await env.DB.prepare(
        "SELECT COUNT(*) AS n FROM reconciliation_issues WHERE status = 'open'").first("n") or 0)
    return out


async def _settle(env: Env, run_id: int, exchange: str, ledger: dict[str, Held], reported: dict[str, Held],
                  out: Outcome) -> None:
    """Open, update or clear the issues of one exchange that was read."""
    db = env.DB
    existing = {r["symbol"]: r for r in (await db.prepare(
        "SELECT * FROM reconciliation_issues WHERE status = 'open' AND exchange = ?").bind(exchange).all())["results"]}
    busy = await _in_flight(env, exchange)
    now = clock.iso()
    for symbol in sorted(set(ledger) | set(reported) | set(existing)):
        mine, theirs = ledger.get(symbol), reported.get(symbol)
        kind = mismatch(mine, theirs)
        issue = existing.get(symbol)
        figures = (mine.position_id if mine else None, mine.side if mine else None,
                   num(mine.size) if mine else None, theirs.side if theirs else None,
                   num(theirs.size) if theirs else None)
        if kind is None:
            if issue is not None:
                await db.prepare(
                    "UPDATE reconciliation_issues SET status = 'cleared', cleared_at = ?, cleared_run_id = ?, "
                    "last_seen_at = ? WHERE id = ?").bind(now, run_id, now, issue["id"]).run()
                item = issue_item({**issue, "status": "cleared", "cleared_at": now, "cleared_run_id": run_id})
                out.cleared.append(item)
                await calls.alert(env, f"Reconciliation cleared: {exchange} {symbol} — the ledger and the exchange "
                                  f"agree again ({_held_text(mine)}).", level="info")
            continue
        if issue is not None:  # still there: its figures follow, no second alert
            await db.prepare(
                "UPDATE reconciliation_issues SET kind = ?, ledger_position_id = ?, ledger_side = ?, ledger_size = ?, "
                "exchange_side = ?, exchange_size = ?, last_seen_at = ?, last_run_id = ? WHERE id = ?"
            ).bind(kind, *figures, now, run_id, issue["id"]).run()
            continue
        if symbol in busy:
            out.skipped.append({"stage": "reconcile", "exchange": exchange, "symbol": symbol,
                                "reason": f"{kind} while an order is on its way: looked at again next run"})
            continue
        res = await db.prepare(
            "INSERT INTO reconciliation_issues (exchange, symbol, kind, ledger_position_id, ledger_side, ledger_size, "
            "exchange_side, exchange_size, status, first_seen_at, last_seen_at, first_run_id, last_run_id) "
            "VALUES (?,?,?,?,?,?,?,?,'open',?,?,?,?)"
        ).bind(exchange, symbol, kind, *figures, now, now, run_id, run_id).run()
        row = await db.prepare("SELECT * FROM reconciliation_issues WHERE id = ?").bind(
            int(res["meta"]["last_row_id"])).first()
        assert row is not None
        out.opened.append(issue_item(row))
        text = (f"Reconciliation mismatch on {exchange} {symbol} ({kind.replace('_', ' ')}): the ledger's live book "
                f"holds {_held_text(mine)}, {exchange} reports {_held_text(theirs)}. Nothing was changed: the "
                "risk manager's stops and targets act on the ledger's figures until an operator reconciles them "
                "(hoox risk status).")
        await log(env, "error", text, details={"runId": run_id, "issue": out.opened[-1]})
        await calls.alert(env, text, level="critical")
