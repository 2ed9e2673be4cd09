"""One run of the risk manager (agent-worker's cron, `POST /agent/run`).

A run, under the `risk_lock` lease (two runs never overlap):

1. finishes what an earlier run left pending (`risk_actions` rows still `pending`: their order is
   sent again under the same request id, which trade-worker executes at most once);
2. reads the open positions of both books with their mark prices (the paper market, or the live
   exchange's public ticker through its connector);
3. the daily drawdown, per book (paper | live) and exchange: the first run of a UTC day writes the
   start-of-day equity (`equity_snapshots`); beyond KV `trade:max_daily_drawdown_percent` the kill
   switch goes ON (latched: only an operator turns it off; it trips once per day and book), every
   resting order and every position of that book is closed on every exchange, and a critical
   alert goes out;
4. per remaining position: the watermark, the trailing stop and the break-even stop (never loosened),
   and the take-profit targets (`hoox_edge.risk.rules`);
5. reconciles the live book with the positions each live exchange reports
   (`hoox_edge.risk.reconciliation`: a mismatch is recorded and alerted once, never fixed);
6. writes its `risk_runs` row (duration, positions seen, actions, errors) and, once it is done,
   a `risk` event on the operator's stream (`run_event`).

Every order is a CLOSE (of the remaining size, or of a target's share) sent through trade-worker's
idempotent `/process` with its own request id, derived from (position, rule, step, attempt), and
its reason in the ledger (`trade_signals.reason`, `trades.reason`). The decision is written first —
the `risk_actions` row, the signal row and the position's new risk state in one batch — and the
order sent after: a run that stops in between leaves a pending action that the next run sends
under the same id, never a second one. An attempt that provably placed nothing (`NOT_PLACED`) is
followed by the next attempt's id.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hoox_edge import lifecycle
from hoox_edge.exchanges import provider_for
from hoox_edge.ledger import dec, fmt, num
from hoox_edge.operator import orders as orders_mod
from hoox_edge.operator.positions import open_positions
from hoox_edge.ports import Env
from hoox_edge.risk import reconciliation, rules
from hoox_edge.shared import calls, clock, events, settings
from hoox_edge.shared.logs import log

LOCK_NAME = "risk"
LOCK_SECONDS = 300.0  # a run's lease on the lock; a run that died holding it blocks the next for this long
CALL_TIMEOUT_S = 30.0
DUE_SLACK_S = 30.0  # a cron firing a little early still counts as due
SOURCE = "risk"
# Request ids of the risk manager's orders: uuid5 of (position, rule, step, attempt) in this namespace.
NAMESPACE = uuid.UUID("5b0f3c2e-8d4a-4c1e-9a57-6f2f1d0e7a11")


def action_request_id(position_id: int, rule: str, step: str, attempt: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"risk:{position_id}:{rule}:{step}:{attempt}"))


def _error_text(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


@dataclass
class RunResult:
    run_id: int | None
    status: str
    positions_seen: int = 0
    actions: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    drawdowns: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0
    reconciliation: dict[str, Any] | None = None  # `reconciliation.Outcome.as_dict()`; None: not reached

    def as_dict(self) -> dict[str, Any]:
        return {"runId": self.run_id, "status": self.status, "positionsSeen": self.positions_seen,
                "actions": self.actions, "errors": self.errors, "drawdowns": self.drawdowns,
                "skipped": self.skipped, "reconciliation": self.reconciliation, "durationMs": self.duration_ms}


def run_event(run: dict[str, Any]) -> dict[str, Any]:
    """The data of the `risk` stream event of a finished run (a `risk_runs` row with its details)."""
    details = json.loads(run["details"]) if run.get("details") else {}
    rec = details.get("reconciliation") or {}
    return {"runId": run["id"], "trigger": run["trigger"], "status": run["status"],
            "startedAt": run["started_at"], "finishedAt": run["finished_at"], "durationMs": run["duration_ms"],
            "positionsSeen": run["positions_seen"], "actions": run["actions"], "errors": run["errors"],
            "reconciliation": {"openIssues": rec.get("openIssues"), "opened": len(rec.get("opened") or []),
                               "cleared": len(rec.get("cleared") or [])} if rec else None}


# --------------------------------------------------------------------------- schedule and lock
async def interval_minutes(env: Env) -> int:
    try:
        return int(await settings.get(env.CONFIG_KV, settings.RISK_INTERVAL))
    except settings.SettingError:
        return int(settings.known(settings.RISK_INTERVAL).default)


async def last_run(env: Env) -> dict[str, Any] | None:
    return await env.DB.prepare(
        "SELECT * FROM risk_runs WHERE status != 'skipped' ORDER BY id DESC LIMIT 1").first()


async def due(env: Env) -> tuple[bool, str]:
    """Is a scheduled run due? The cron fires every minute; a run is due `agent:risk_interval_minutes`
    after the start of the last one."""
    minutes = await interval_minutes(env)
    last = await last_run(env)
    started = clock.parse(last["started_at"]) if last else None
    if started is None:
        return True, "no earlier run"
    age = clock.now() - started
    if age + DUE_SLACK_S >= minutes * 60:
        return True, f"last run {age:.0f} s ago"
    return False, f"last run {age:.0f} s ago, interval {minutes} min"


async def _take_lock(env: Env, owner: str) -> bool:
    now = clock.now()
    res = await env.DB.prepare(
        "INSERT INTO risk_lock (name, owner, until) VALUES (?,?,?) ON CONFLICT(name) DO UPDATE SET "
        "owner = excluded.owner, until = excluded.until WHERE risk_lock.until < ?"
    ).bind(LOCK_NAME, owner, clock.iso(now + LOCK_SECONDS), clock.iso(now)).run()
    return bool(res["meta"].get("changes"))


async def _release_lock(env: Env, owner: str) -> None:
    await env.DB.prepare("DELETE FROM risk_lock WHERE name = ? AND owner = ?").bind(LOCK_NAME, owner).run()


# --------------------------------------------------------------------------- entry
async def run(env: Env, *, trigger: str = "cron") -> RunResult:
    """One run (see the module docstring). A scheduled run that is not due does nothing."""
    if trigger == "cron":
        is_due, why = await due(env)
        if not is_due:
            return RunResult(None, "not_due", errors=[], skipped=[{"reason": why}])
    owner = f"{lifecycle.owner(env)}:{uuid.uuid4().hex[:12]}"
    started_at = clock.iso()
    t0 = time.perf_counter()
    if not await _take_lock(env, owner):
        res = await env.DB.prepare(
            "INSERT INTO risk_runs (trigger, status, started_at, finished_at, duration_ms, details) "
            "VALUES (?,?,?,?,0,?)"
        ).bind(trigger, "skipped", started_at, started_at,
               json.dumps({"reason": "another run holds the lock"})).run()
        await log(env, "warning", "Risk run skipped: another run is still going (lock held)")
        return RunResult(int(res["meta"]["last_row_id"]), "skipped", skipped=[{"reason": "lock held"}])
    res = await env.DB.prepare("INSERT INTO risk_runs (trigger, status, started_at) VALUES (?,?,?)").bind(
        trigger, "running", started_at).run()
    run_id = int(res["meta"]["last_row_id"])
    r = _Run(env, run_id)
    status = "ok"
    try:
        await r.execute()
    except Exception as exc:
        r.errors.append({"stage": "run", "error": _error_text(exc)})
        await log(env, "error", f"Risk run {run_id} stopped part-way: {_error_text(exc)}; the next run "
                  "finishes what it left pending", details={"runId": run_id})
    finally:
        if r.errors:
            status = "error"
        duration = round((time.perf_counter() - t0) * 1000, 2)
        rec = r.reconciliation.as_dict() if r.reconciliation is not None else None
        result = RunResult(run_id, status, r.positions_seen, r.actions, r.errors, r.drawdowns, r.skipped, duration,
                           rec)
        details = {"actions": r.actions, "errors": r.errors, "drawdowns": r.drawdowns, "skipped": r.skipped,
                   "reconciliation": rec}
        await env.DB.prepare(
            "UPDATE risk_runs SET status = ?, finished_at = ?, duration_ms = ?, positions_seen = ?, actions = ?, "
            "errors = ?, details = ? WHERE id = ?"
        ).bind(status, clock.iso(), duration, r.positions_seen, len(r.actions), len(r.errors),
               json.dumps(details, default=str)[:60_000], run_id).run()
        await _release_lock(env, owner)
    row = await env.DB.prepare("SELECT * FROM risk_runs WHERE id = ?").bind(run_id).first()
    if row is not None:
        await events.emit(env, "risk", run_event(row))
    if r.actions or r.errors:
        await log(env, "warning" if r.errors else "info",
                  f"Risk run {run_id}: {r.positions_seen} positions, {len(r.actions)} actions, "
                  f"{len(r.errors)} errors", details={"runId": run_id, "actions": r.actions, "errors": r.errors})
    return result


# --------------------------------------------------------------------------- one run
@dataclass
class _Position:
    id: int
    mode: str
    exchange: str
    symbol: str
    side: str
    size: Decimal
    entry: Decimal
    fees: Decimal
    request_id: str
    mark: Decimal | None
    unrealized: Decimal | None
    mark_error: str | None


class _Run:
    def __init__(self, env: Env, run_id: int) -> None:
        self.env = env
        self.db = env.DB
        self.run_id = run_id
        self.positions_seen = 0
        self.actions: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.drawdowns: list[dict[str, Any]] = []
        self.skipped: list[dict[str, Any]] = []
        self.done_positions: set[int] = set()  # closed (or being closed) by this run
        self.reconciliation: reconciliation.Outcome | None = None

    async def execute(self) -> None:
        await self.resume_pending()
        positions = await self.load_positions()
        self.positions_seen = len(positions)
        await self.check_drawdown(positions)
        trailing_default, targets = await self.rule_settings()
        for p in positions:
            if p.id in self.done_positions:
                continue
            if p.mark is None:
                self.errors.append({"stage": "mark", "positionId": p.id, "symbol": p.symbol,
                                    "exchange": p.exchange, "mode": p.mode, "error": p.mark_error})
                continue
            try:
                await self.evaluate(p, trailing_default, targets)
            except Exception as exc:
                self.errors.append({"stage": "rules", "positionId": p.id, "symbol": p.symbol,
                                    "error": _error_text(exc)})
                if isinstance(exc, InjectedFault):
                    raise
        # Last: the closes this run sent are in the ledger and at the exchange by now.
        self.reconciliation = await reconciliation.reconcile(self.env, self.run_id)
        self.errors.extend(self.reconciliation.errors)
        self.skipped.extend(self.reconciliation.skipped)

    # ----------------------------------------------------------------- reading
    async def load_positions(self) -> list[_Position]:
        rows = await open_positions(self.env)
        fees = {r["id"]: r["fees"] for r in (await self.db.prepare(
            "SELECT id, fees FROM positions WHERE status = 'OPEN'").all())["results"]}
        return [_Position(
            id=int(r["id"]), mode=r["mode"], exchange=r["exchange"], symbol=r["symbol"], side=r["side"],
            size=dec(r["size"]), entry=dec(r["entryPrice"]), fees=dec(fees.get(r["id"]) or 0),
            request_id=r["requestId"], mark=dec(r["markPrice"]) if r["markPrice"] is not None else None,
            unrealized=dec(r["unrealizedPnl"]) if r["unrealizedPnl"] is not None else None,
            mark_error=r["markError"]) for r in rows]

    async def rule_settings(self) -> tuple[Decimal, list[rules.Target]]:
        try:
            trailing = dec(await settings.get(self.env.CONFIG_KV, settings.TRAILING_STOP))
        except settings.SettingError as exc:
            self.errors.append({"stage": "settings", "error": str(exc)})
            trailing = Decimal(0)
        try:
            targets = rules.parse_targets(await settings.get(self.env.CONFIG_KV, settings.TAKE_PROFIT_TARGETS))
        except (settings.SettingError, ValueError) as exc:
            self.errors.append({"stage": "settings", "error": f"{settings.TAKE_PROFIT_TARGETS}: {exc}"})
            targets = []
        return trailing, targets

    async def trailing_percent(self, symbol: str, default: Decimal) -> Decimal:
        try:
            override = await settings.get(self.env.CONFIG_KV, settings.trailing_stop_of(symbol))
        except settings.SettingError as exc:
            self.errors.append({"stage": "settings", "error": str(exc)})
            return default
        return default if override is None else dec(override)

    # ----------------------------------------------------------------- actions
    async def _market_of(self, request_id: str) -> str:
        return await reconciliation.market_of(self.env, request_id)

    async def act(self, p: _Position, rule: str, step: str, quantity: Decimal | None, *,
                  state: list[Any], why: str, attempt: int = 0) -> dict[str, Any]:
        """Record the decision (action, signal row, the position's new risk state) in one batch, then
        send the CLOSE. Returns the action as reported in the run."""
        rid = action_request_id(p.id, rule, step, attempt)
        payload: dict[str, Any] = {"exchange": p.exchange, "action": "CLOSE", "symbol": p.symbol,
                                   "market": await self._market_of(p.request_id), "mode": p.mode,
                                   "reason": rule, "source": SOURCE}
        if quantity is not None:
            payload["quantity"] = num(quantity)
        now = clock.iso()
        await self.db.batch([
            self.db.prepare(
                "INSERT INTO risk_actions (request_id, run_id, position_id, rule, step, attempt, mode, exchange, "
                "symbol, quantity, price, status, error, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,'pending',?,?,?)"
            ).bind(rid, self.run_id, p.id, rule, step, attempt, p.mode, p.exchange, p.symbol,
                   num(quantity) if quantity is not None else None, num(p.mark) if p.mark is not None else None,
                   None, now, now),
            lifecycle.insert_statement(
                self.db, request_id=rid, source=SOURCE, stored_payload=payload, idempotency_key=None,
                exchange=p.exchange, symbol=p.symbol, action="CLOSE",
                quantity=num(quantity) if quantity is not None else num(p.size), signal=payload, reason=rule),
            *state,
        ])
        await log(self.env, "warning" if rule != "take_profit" else "info",
                  f"Risk manager: {rule.replace('_', ' ')} of {p.mode} {p.exchange} {p.side} {p.symbol}: {why}",
                  request_id=rid, details={"positionId": p.id, "rule": rule, "step": step, "attempt": attempt,
                                           "quantity": num(quantity) if quantity is not None else None,
                                           "mark": num(p.mark) if p.mark is not None else None, "runId": self.run_id})
        return await self.send(rid, payload, {"positionId": p.id, "rule": rule, "step": step, "why": why,
                                              "mode": p.mode, "exchange": p.exchange, "symbol": p.symbol,
                                              "side": p.side})

    async def send(self, rid: str, payload: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        """trade-worker's `/process` for a recorded action; its outcome moves the action row."""
        await before_send(self.env, rid)
        out = {"requestId": rid, **info}
        try:
            resp = await calls.call(self.env, "TRADE_SERVICE", "POST", "/process", request_id=rid, payload=payload,
                                    timeout=CALL_TIMEOUT_S)
        except Exception as exc:  # it may still run: the next run sends it again under the same id
            out.update(status="pending", error=f"trade-worker did not answer ({type(exc).__name__})")
            self.actions.append(out)
            return out
        body, err, details = calls.envelope(resp)
        result = r if isinstance(r := body.get("result"), dict) else {}
        if resp.status == 200:
            out.update(status="done", executedQty=result.get("executedQty"), price=result.get("price"))
            await self._mark(rid, "done", None)
            await self._alert_done(out, result)
        elif resp.status in (202, 503) or details.get("retryable"):
            out.update(status="pending", error=err.get("message") or body.get("status"))
        else:
            text = f"{err.get('code')}: {err.get('message')}"
            out.update(status="failed", error=text)
            await self._mark(rid, "failed", text)
            await self._failed(rid, out)
        self.actions.append(out)
        return out

    async def _mark(self, rid: str, status: str, error: str | None) -> None:
        await self.db.prepare("UPDATE risk_actions SET status = ?, error = ?, updated_at = ? WHERE request_id = ?"
                              ).bind(status, error, clock.iso(), rid).run()

    async def _alert_done(self, out: dict[str, Any], result: dict[str, Any]) -> None:
        what = {"trailing_stop": "Trailing stop", "break_even_stop": "Break-even stop",
                "take_profit": "Take-profit", "drawdown": "Drawdown flatten"}.get(out["rule"], out["rule"])
        qty, price = result.get("executedQty"), result.get("price")
        pnl = result.get("realizedPnl")
        text = (f"{what}: closed {fmt(qty) if qty is not None else '?'} {out['symbol']} of the {out['mode']} "
                f"{out['exchange']} {out['side']} at {fmt(price) if price is not None else '?'} ({out['why']})")
        if pnl:
            text += f", realised P&L {fmt(pnl)} USDT"
        await calls.alert(self.env, text, level="info" if out["rule"] == "take_profit" else "warning",
                          request_id=out["requestId"])

    async def _failed(self, rid: str, out: dict[str, Any]) -> None:
        """A close that was refused for good: a stop's position gets looked at again next run."""
        if out["rule"] in ("trailing_stop", "break_even_stop"):
            await self.db.prepare("UPDATE risk_positions SET closed = 0, updated_at = ? WHERE position_id = ?"
                                  ).bind(clock.iso(), out["positionId"]).run()
        await log(self.env, "error", f"Risk manager's {out['rule']} close was refused: {out['error']}",
                  request_id=rid, details=out)
        await calls.alert(self.env, f"Risk manager could not close {out['mode']} {out['exchange']} {out['symbol']} "
                          f"({out['rule']}): {out['error']}", level="critical", request_id=rid)

    # ----------------------------------------------------------------- 1. pending actions
    async def resume_pending(self) -> None:
        rows = (await self.db.prepare(
            "SELECT a.*, s.status AS signal_status, s.error_code, s.error AS signal_error, s.signal "
            "FROM risk_actions a LEFT JOIN trade_signals s ON s.request_id = a.request_id "
            "WHERE a.status = 'pending' ORDER BY a.id").all())["results"]
        for a in rows:
            info = {"positionId": a["position_id"], "rule": a["rule"], "step": a["step"], "why": "resumed",
                    "mode": a["mode"], "exchange": a["exchange"], "symbol": a["symbol"], "resumed": True}
            try:
                await self._resume(a, info)
            except Exception as exc:
                self.errors.append({"stage": "resume", "requestId": a["request_id"], "error": _error_text(exc)})
                if isinstance(exc, InjectedFault):
                    raise

    async def _resume(self, a: dict[str, Any], info: dict[str, Any]) -> None:
        rid = a["request_id"]
        status = a["signal_status"]
        payload = json.loads(a["signal"]) if a["signal"] else None
        if status == lifecycle.FILLED or status in (lifecycle.CANCELLED, lifecycle.EXPIRED):
            await self._mark(rid, "done", None)
            self.actions.append({"requestId": rid, **info, "status": "done", "note": "already executed"})
            return
        if status == lifecycle.REJECTED and a["error_code"] == lifecycle.NOT_PLACED and payload is not None:
            # Nothing was placed under this id: the next attempt's id carries the same decision.
            await self._mark(rid, "failed", f"{lifecycle.NOT_PLACED}: {a['signal_error']}")
            nxt = action_request_id(a["position_id"], a["rule"], a["step"], int(a["attempt"]) + 1)
            now = clock.iso()
            await self.db.batch([
                self.db.prepare(
                    "INSERT OR IGNORE INTO risk_actions (request_id, run_id, position_id, rule, step, attempt, mode, "
                    "exchange, symbol, quantity, price, status, created_at, updated_at) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,'pending',?,?)"
                ).bind(nxt, self.run_id, a["position_id"], a["rule"], a["step"], int(a["attempt"]) + 1, a["mode"],
                       a["exchange"], a["symbol"], a["quantity"], a["price"], now, now),
                lifecycle.insert_statement(
                    self.db, request_id=nxt, source=SOURCE, stored_payload=payload, idempotency_key=None,
                    exchange=a["exchange"], symbol=a["symbol"], action="CLOSE", quantity=a["quantity"],
                    signal=payload, reason=a["rule"]),
            ])
            await self.send(nxt, payload, info)
            return
        if status in lifecycle.FINAL or payload is None:
            text = f"{a['error_code']}: {a['signal_error']}" if status else "its signal row is missing"
            await self._mark(rid, "failed", text)
            out = {"requestId": rid, **info, "status": "failed", "error": text}
            self.actions.append(out)
            await self._failed(rid, out)
            return
        await self.send(rid, payload, info)

    # ----------------------------------------------------------------- 3. daily drawdown
    async def check_drawdown(self, positions: list[_Position]) -> None:
        try:
            limit = dec(await settings.get(self.env.CONFIG_KV, settings.MAX_DAILY_DRAWDOWN))
        except settings.SettingError as exc:
            self.errors.append({"stage": "settings", "error": str(exc)})
            limit = dec(settings.known(settings.MAX_DAILY_DRAWDOWN).default)
        day = clock.iso()[:10]
        books = {(p.mode, p.exchange) for p in positions}
        for r in (await self.db.prepare(
                "SELECT DISTINCT mode, exchange FROM balances UNION SELECT mode, exchange FROM equity_snapshots "
                "WHERE day = ?").bind(day).all())["results"]:
            books.add((r["mode"], r["exchange"]))
        tripped: dict[str, list[dict[str, Any]]] = {}
        for mode, exchange in sorted(books):
            try:
                dd = await self._book_drawdown(day, mode, exchange, [p for p in positions
                                                                     if (p.mode, p.exchange) == (mode, exchange)])
            except Exception as exc:
                self.errors.append({"stage": "drawdown", "mode": mode, "exchange": exchange,
                                    "error": _error_text(exc)})
                continue
            if dd is None:
                continue
            dd["limitPercent"] = num(limit)
            self.drawdowns.append(dd)
            if limit > 0 and dec(dd["drawdownPercent"]) > limit and dd["trippedAt"] is None:
                tripped.setdefault(mode, []).append(dd)
        for mode, books_hit in tripped.items():
            await self.trip(mode, day, books_hit, limit, positions)

    async def _book_drawdown(self, day: str, mode: str, exchange: str,
                             positions: list[_Position]) -> dict[str, Any] | None:
        missing = [p.symbol for p in positions if p.unrealized is None]
        if missing:
            self.errors.append({"stage": "drawdown", "mode": mode, "exchange": exchange,
                                "error": f"no mark price for {', '.join(missing)}: equity unknown"})
            return None
        provider = await provider_for(self.env, exchange, mode, need_credentials=mode == "live")
        try:
            bal = await provider.balance("USDT")
        finally:
            if hasattr(provider, "aclose"):
                await provider.aclose()
        balance = dec(bal.total)
        unreal = sum((p.unrealized for p in positions if p.unrealized is not None), Decimal(0))
        equity = balance + unreal
        now = clock.iso()
        await self.db.prepare(
            "INSERT OR IGNORE INTO equity_snapshots (day, mode, exchange, equity, balance, unrealized, taken_at) "
            "VALUES (?,?,?,?,?,?,?)").bind(day, mode, exchange, num(equity), num(balance), num(unreal), now).run()
        snap = await self.db.prepare(
            "SELECT * FROM equity_snapshots WHERE day = ? AND mode = ? AND exchange = ?").bind(
            day, mode, exchange).first()
        assert snap is not None
        start = dec(snap["equity"])
        return {"day": day, "mode": mode, "exchange": exchange, "startEquity": snap["equity"],
                "startTakenAt": snap["taken_at"], "equity": num(equity), "balance": num(balance),
                "unrealizedPnl": num(unreal), "drawdownPercent": num(rules.drawdown_percent(start, equity)),
                "trippedAt": snap["tripped_at"]}

    async def trip(self, mode: str, day: str, hit: list[dict[str, Any]], limit: Decimal,
                   positions: list[_Position]) -> None:
        """Kill switch ON (first: it holds even if what follows stops), then the flatten of the book."""
        worst = max(hit, key=lambda d: d["drawdownPercent"])
        reason = (f"risk manager: daily drawdown {worst['drawdownPercent']:.2f}% of the {mode} book on "
                  f"{worst['exchange']} is beyond the limit {fmt(limit)}% (trade:max_daily_drawdown_percent)")
        on = await settings.get(self.env.CONFIG_KV, settings.KILL_SWITCH)
        if not on:
            await settings.put(self.env.CONFIG_KV, settings.KILL_SWITCH, True)
            await settings.put(self.env.CONFIG_KV, settings.KILL_SWITCH_REASON, reason[:500])
            await events.emit(self.env, "status", {"killSwitch": True, "reason": reason, "by": "risk-manager"})
        await log(self.env, "critical", f"Kill switch ON: {reason}; flattening the {mode} book on every exchange",
                  details={"runId": self.run_id, "drawdowns": hit, "alreadyOn": bool(on)})
        now = clock.iso()
        await self.db.batch([self.db.prepare(
            "UPDATE equity_snapshots SET tripped_at = ? WHERE day = ? AND mode = ? AND exchange = ? "
            "AND tripped_at IS NULL").bind(now, day, mode, d["exchange"]) for d in hit])
        # Resting orders first: one could otherwise open a position after the flatten.
        cancelled = 0
        for o in await orders_mod.open_orders(self.env, mode=mode):
            try:
                resp = await orders_mod.cancel(self.env, o["requestId"], reason="drawdown", operator_rid=None)
                cancelled += resp.status == 200
            except Exception as exc:
                self.errors.append({"stage": "drawdown cancel", "requestId": o["requestId"], "error": _error_text(exc)})
        book = [p for p in positions if p.mode == mode]
        results = []
        for p in book:
            self.done_positions.add(p.id)
            state = [self.db.prepare(
                "INSERT INTO risk_positions (position_id, mode, exchange, symbol, side, entry_price, initial_size, "
                "watermark, closed, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,1,?,?) "
                "ON CONFLICT(position_id) DO UPDATE SET closed = 1, updated_at = excluded.updated_at"
            ).bind(p.id, p.mode, p.exchange, p.symbol, p.side, num(p.entry), num(p.size),
                   num(p.mark if p.mark is not None else p.entry), now, now)]
            results.append(await self.act(p, "drawdown", day, None, state=state, why=reason))
        closed = sum(1 for r in results if r["status"] == "done")
        left = [f"{r['exchange']} {r['symbol']}" for r in results if r["status"] != "done"]
        text = (f"KILL SWITCH ON — {reason}. Flattened the {mode} book: {closed}/{len(results)} positions closed, "
                f"{cancelled} resting orders cancelled" + (f"; NOT closed yet: {', '.join(left)}" if left else "")
                + ". Only an operator turns the switch off (hoox monitor kill-switch off).")
        await calls.alert(self.env, text, level="critical")

    # ----------------------------------------------------------------- 4. stops and targets
    async def evaluate(self, p: _Position, trailing_default: Decimal, targets: list[rules.Target]) -> None:
        assert p.mark is not None
        mark = p.mark
        st = await self.db.prepare("SELECT * FROM risk_positions WHERE position_id = ?").bind(p.id).first()
        now = clock.iso()
        if st is None:
            await self.db.prepare(
                "INSERT OR IGNORE INTO risk_positions (position_id, mode, exchange, symbol, side, entry_price, "
                "initial_size, watermark, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
            ).bind(p.id, p.mode, p.exchange, p.symbol, p.side, num(p.entry), num(p.size), num(mark), now, now).run()
            st = await self.db.prepare("SELECT * FROM risk_positions WHERE position_id = ?").bind(p.id).first()
            assert st is not None
        if st["closed"]:
            return  # its close was decided: a pending action finishes it
        initial = max(dec(st["initial_size"]), p.size)
        watermark = rules.new_watermark(p.side, dec(st["watermark"]), mark)
        stop = dec(st["stop_price"]) if st["stop_price"] is not None else None
        kind = st["stop_kind"]
        trail = await self.trailing_percent(p.symbol, trailing_default)
        if trail > 0:
            t_stop = rules.trailing_stop(p.side, watermark, trail)
            if rules.tighter(p.side, stop, t_stop) != stop:
                stop, kind = t_stop, "trailing"

        def state_update(*, closed: int = 0, targets_done: int | None = None) -> Any:
            return self.db.prepare(
                "UPDATE risk_positions SET watermark = ?, stop_price = ?, stop_kind = ?, initial_size = ?, "
                "entry_price = ?, closed = ?, targets_done = COALESCE(?, targets_done), updated_at = ? "
                "WHERE position_id = ?"
            ).bind(num(watermark), num(stop) if stop is not None else None, kind, num(initial), num(p.entry),
                   closed, targets_done, clock.iso(), p.id)

        if rules.breached(p.side, stop, mark):
            rule = "break_even_stop" if kind == "break_even" else "trailing_stop"
            why = (f"mark {fmt(mark)} crossed the {'break-even' if kind == 'break_even' else 'trailing'} stop "
                   f"{fmt(stop)} (watermark {fmt(watermark)})")  # type: ignore[arg-type]
            await self.act(p, rule, "close", None, state=[state_update(closed=1)], why=why)
            return

        done = int(st["targets_done"])
        remaining = p.size
        rules_of: Any = None
        profit = rules.profit_percent(p.side, p.entry, mark)
        share_left = sum((t.close_fraction for t in targets[done:]), Decimal(0))
        for i in range(done, len(targets)):
            t = targets[i]
            if profit < t.profit_percent:
                break
            if rules_of is None:
                rules_of = await self._instrument(p)
            share_left -= t.close_fraction
            is_last_share = share_left <= 0 and sum((x.close_fraction for x in targets), Decimal(0)) == 1
            size = rules.target_size(initial, remaining, t.close_fraction, dec(rules_of.qty_step),
                                     dec(rules_of.min_qty), dec(rules_of.min_notional), mark, is_last_share)
            if t.move_stop_to_break_even and not size.closes_all:
                be = rules.break_even(p.side, p.entry, p.fees, remaining - size.quantity)
                if rules.tighter(p.side, stop, be) != stop:
                    stop, kind = be, "break_even"
            step = str(i + 1)
            if size.skipped:
                text = f"take-profit target {step} ({fmt(t.profit_percent)}%) skipped: {size.skipped}"
                self.skipped.append({"positionId": p.id, "symbol": p.symbol, "target": i + 1, "reason": size.skipped})
                await log(self.env, "info", f"Risk manager: {p.mode} {p.exchange} {p.symbol}: {text}",
                          details={"positionId": p.id, "runId": self.run_id})
                await state_update(targets_done=i + 1).run()
                continue
            why = (f"profit {profit:.2f}% reached target {step} ({fmt(t.profit_percent)}%): closing "
                   f"{fmt(size.quantity)} of {fmt(remaining)}"
                   + ("; the stop of the rest moves to break-even " + fmt(stop) if t.move_stop_to_break_even
                      and kind == "break_even" and stop is not None and not size.closes_all else ""))
            await self.act(p, "take_profit", step, None if size.closes_all else size.quantity,
                           state=[state_update(closed=1 if size.closes_all else 0, targets_done=i + 1)], why=why)
            remaining -= size.quantity
            if size.closes_all:
                return
        await state_update(targets_done=None).run()

    async def _instrument(self, p: _Position) -> Any:
        provider = await provider_for(self.env, p.exchange, p.mode, await self._market_of(p.request_id),
                                      need_credentials=False)
        try:
            return await provider.instrument(p.symbol)
        finally:
            if hasattr(provider, "aclose"):
                await provider.aclose()


# --------------------------------------------------------------------------- fault injection (tests)
class InjectedFault(RuntimeError):
    """Raised by a test's `before_send` hook to stop a run between two actions."""


async def before_send(env: Env, request_id: str) -> None:
    """Called before each order is sent; the tests replace it to stop a run part-way. Does nothing."""
