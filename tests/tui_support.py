"""Deterministic cockpit data for the TUI tests and snapshots: a fixed clock and a store fed from
fixture objects shaped exactly like the operator API's answers (parsed by the same models)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hoox_edge.shared import clock
from httpx_sse import ServerSentEvent
from rich.text import Text
from textual.app import App
from textual.css.query import NoMatches
from textual.widgets import DataTable

from hoox_cli.core import models as m
from hoox_cli.core.client import parse_event
from hoox_tui.context import CockpitContext
from hoox_tui.settings import UserSettings
from hoox_tui.store import Conn, Store

NOW = 1767614460.0  # 2026-01-05T12:01:00Z
WORKERS = ["hoox", "trade-worker", "telegram-worker", "d1-worker", "web3-wallet-worker", "agent-worker",
           "email-worker", "analytics-worker", "report-worker"]


@contextmanager
def frozen_clock(t: float = NOW) -> Iterator[None]:
    clock.set_clock(lambda: t)
    try:
        yield
    finally:
        clock.set_clock(None)


def _window(req: int, err: int, p50: float | None) -> dict[str, Any]:
    return {"requests": req, "errors": err, "clientErrors": 1 if req else 0, "p50Ms": p50,
            "p95Ms": None if p50 is None else p50 * 3}


def status_json(kill: bool = False) -> dict[str, Any]:
    run = {"hoox", "trade-worker", "telegram-worker", "d1-worker", "analytics-worker"}
    return {
        "killSwitch": {"on": kill, "reason": "exchange incident" if kill else None},
        "tradingMode": "paper", "queueMode": "queue_failover",
        "workers": [{"name": n, "status": "online" if n in run else "offline",
                     "latencyMs": 2.5 + i if n in run else None,
                     "error": None if n in run else "not running in this local runtime"}
                    for i, n in enumerate(WORKERS)],
        "queues": {"available": True, "error": None, "depth": 2, "inFlight": 0, "deadLetters": 1},
        "lastSignalAt": "2026-01-05T12:00:30.000Z", "version": "0.1.0", "runtime": "local",
        "time": "2026-01-05T12:01:00.000Z",
    }


def worker_json(name: str, i: int) -> dict[str, Any]:
    online = name in {"hoox", "trade-worker", "telegram-worker", "d1-worker", "analytics-worker"}
    dos = [{"className": "IdempotencyStore", "instances": 3, "pendingAlarms": 1,
            "nextAlarm": "2026-01-06T12:00:00.000Z"}] if name == "hoox" else []
    return {
        "name": name, "description": f"{name} worker", "status": "online" if online else "offline",
        "healthLatencyMs": 3.0 if online else None,
        "healthError": None if online else "not running in this local runtime (enable it in hoox.toml)",
        "uptimeSeconds": 3725.0 if online else None, "uptimeNote": None,
        "traffic": {"5m": _window(12 + i, i % 2, 4.0 + i), "1h": _window(140 + i * 10, i % 3, 5.0 + i)}
        if online else None,
        "trafficError": None if online else "not running",
        "signalsProcessed": 7 if name in ("hoox", "trade-worker") else None,
        "durableObjects": dos,
        "bindings": [{"name": "CONFIG_KV", "kind": "kv", "resource": "hoox-config"},
                     {"name": "DB", "kind": "d1", "resource": "hoox-ledger"}],
        "crons": ["*/5 * * * *"] if name == "agent-worker" else [], "public": name == "hoox",
        "cpu": {"source": "local runtime", "window": "5m", "invocations": 12 + i, "p50Ms": 0.5 + i / 10,
                "p95Ms": 1.5 + i / 4, "coreShare": 0.0004 * (i + 1)} if online else None,
        "cpuNote": None if online else "not running in this local runtime",
        "memory": {"scope": "process", "rssBytes": RSS_MB[-1] * MB, "samples": [], "note": MEMORY_NOTE}
        if online else None,
        "memoryNote": None if online else "not running in this local runtime",
    }


MB = 1_048_576
# the runtime's resident memory every 5 minutes over the last hour at NOW (11:05 … 12:00), in MB
RSS_MB = [80, 81, 81, 83, 86, 86, 85, 88, 90, 89, 91, 92]
MEMORY_NOTE = "one process serves every worker: this is the whole runtime's resident memory"


def memory_samples_json() -> list[dict[str, Any]]:
    return [{"t": f"2026-01-05T{11 + (i + 1) // 12:02d}:{(5 + i * 5) % 60:02d}:00.000Z", "rssBytes": mb * MB}
            for i, mb in enumerate(RSS_MB)]


def trade_json(seq: int, status: str = "Filled") -> dict[str, Any]:
    side = "BUY" if seq % 2 else "SELL"
    return {
        "seq": seq, "id": f"t-{seq:04d}", "requestId": f"req-{seq:04d}", "exchange": "bybit",
        "symbol": "BTCUSDT" if seq % 3 else "ETHUSDT", "action": "LONG" if side == "BUY" else "CLOSE",
        "side": side, "orderType": "MARKET", "quantity": 0.01, "price": 60000.0 + seq * 10,
        "fee": 0.36, "realizedPnl": 0.0 if side == "BUY" else 4.5, "leverage": 5, "orderId": f"o-{seq}",
        "clientOrderId": f"c-{seq}", "mode": "paper", "status": status, "errorCode": None, "error": None,
        "attempts": 1, "createdAt": f"2026-01-05T11:{10 + seq:02d}:00.000Z",
        "updatedAt": f"2026-01-05T11:{10 + seq:02d}:01.000Z",
    }


def stats_json() -> dict[str, Any]:
    return {"mode": None, "tradeCount": 6, "closingTrades": 3, "wins": 2, "losses": 1, "winRate": 2 / 3,
            "realizedPnl": 13.5, "fees": 2.16, "netRealizedPnl": 11.34, "unrealizedPnl": -3.2,
            "dailyPnl": [{"date": "2026-01-04", "pnl": 5.0, "fees": 1.0, "fills": 2, "cumulative": 5.0},
                         {"date": "2026-01-05", "pnl": 6.34, "fees": 1.16, "fills": 4, "cumulative": 11.34}],
            "sharpeRatio": 1.87, "maxDrawdown": 4.2, "openPositions": 1, "unpricedPositions": [],
            "holding": {"closedPositions": 3, "averageSeconds": 2460.0, "longestSeconds": 5400.0,
                        "shortestSeconds": 600.0}}


def equity_json() -> dict[str, Any]:
    """/v1/stats/equity of the six fixture trades (paper): equity = running sum of realized P&L - fee."""
    points, equity, peak = [], 0.0, 0.0
    for seq in range(1, 7):
        t = trade_json(seq)
        equity = round(equity + t["realizedPnl"] - t["fee"], 6)
        peak = max(peak, equity)
        points.append({"t": t["updatedAt"], "equity": equity, "peak": peak, "drawdown": round(peak - equity, 6),
                       "fills": 1, "closing": 1 if t["action"] == "CLOSE" else 0})
    return {"mode": "paper", "since": None, "points": points, "fills": 6, "closingTrades": 3, "fillsPerPoint": 1,
            "netRealizedPnl": equity, "maxDrawdown": max(p["drawdown"] for p in points),
            "maxDrawdownAllTime": max(p["drawdown"] for p in points)}


def latency_json(worker: str) -> dict[str, Any]:
    """/v1/workers/{worker}/latency over the last hour at NOW, in 5-minute buckets, two of them quiet."""
    buckets = []
    for i in range(12):
        quiet = i in (3, 4)
        p50 = 2.0 + (i * 7 % 5) * 0.5
        buckets.append({"start": f"2026-01-05T{11 + (i + 1) // 12:02d}:{(5 + i * 5) % 60:02d}:00.000Z",
                        "requests": 0 if quiet else 10 + i, "errors": 1 if i == 9 else 0,
                        "p50Ms": None if quiet else p50, "p95Ms": None if quiet else p50 * 3 + i % 4})
    return {"worker": worker, "window": "1h", "bucketSeconds": 300, "from": "2026-01-05T11:05:00.000Z",
            "to": "2026-01-05T12:05:00.000Z", "available": True, "error": None, "truncated": False,
            "buckets": buckets}


def positions_json() -> dict[str, Any]:
    return {"items": [{"id": 1, "exchange": "bybit", "symbol": "BTCUSDT", "side": "LONG", "size": 0.02,
                       "entryPrice": 60010.0, "leverage": 5, "mode": "paper", "markPrice": 59850.0,
                       "markError": None, "unrealizedPnl": -3.2, "liquidationPrice": 48308.05, "margin": 240.04,
                       "notional": 1197.0, "realizedPnl": 0.0, "fees": 0.72, "requestId": "req-0001",
                       "openedAt": "2026-01-05T11:11:00.000Z", "updatedAt": "2026-01-05T11:11:01.000Z"}],
            "nextCursor": None}


def watchdog_json() -> dict[str, Any]:
    """Four sources of /v1/watchdog at NOW (12:01): alive, quiet (alerted), outside its hours, not watched."""
    hours = {"days": "sat-sun", "from": "09:00", "to": "17:00", "tz": "UTC"}

    def source(name: str, last: str | None, age: float | None, kind: str | None, exp: dict[str, Any] | None,
               state: str, **extra: Any) -> dict[str, Any]:
        return {"source": name, "lastSignalAt": last, "lastKind": kind, "lastRequestId": None, "ageSeconds": age,
                "signals": 3, "heartbeats": 12, "watchingSince": "2026-01-05T09:00:00.000Z", "expectation": exp,
                "expectationError": None, "state": state, "gapMinutes": None if age is None else age / 60,
                "quietSince": None, "alerted": state == "quiet", "pendingAlerts": []} | extra

    return {"time": "2026-01-05T12:01:00.000Z",
            "lastCheck": {"checkedAt": "2026-01-05T12:01:00.000Z", "sources": 3, "quiet": 1, "errors": []},
            "sources": [
                source("btc-trend", "2026-01-05T11:14:00.000Z", 2820.0, "signal", {"maxGapMinutes": 30}, "quiet",
                       quietSince="2026-01-05T11:45:00.000Z"),
                source("eth-weekend", "2026-01-04T16:30:00.000Z", 70260.0, "heartbeat",
                       {"maxGapMinutes": 60, "hours": hours}, "outside_hours"),
                source("manual", "2026-01-05T10:00:00.000Z", 7260.0, "signal", None, "no_expectation"),
                source("webhook", "2026-01-05T12:00:30.000Z", 30.0, "heartbeat", {"maxGapMinutes": 60}, "ok"),
            ]}


def risk_json(**changes: Any) -> dict[str, Any]:
    """/v1/risk at NOW (12:01): run #41 2m 30s ago (interval 5 min); a paper BTCUSDT LONG on its trailing
    stop, a live ETHUSDT SHORT on its break-even stop after target 1, a paper SOLUSDT no run has seen yet;
    drawdowns of 1.2% (paper bybit) and 4.2% (live binance, amber) of 5%; one reconciliation issue."""
    targets = [{"profit_percent": 2.0, "close_fraction": 0.5, "move_stop_to_break_even": True},
               {"profit_percent": 5.0, "close_fraction": 0.5, "move_stop_to_break_even": False}]

    def position(pid: int, mode: str, exchange: str, symbol: str, side: str, entry: float, mark: float,
                 **extra: Any) -> dict[str, Any]:
        return {"positionId": pid, "mode": mode, "exchange": exchange, "symbol": symbol, "side": side, "size": 0.5,
                "entryPrice": entry, "markPrice": mark, "markError": None, "unrealizedPnl": None,
                "trailingPercent": 2.0, "seenByRun": True, "watermark": None, "stopPrice": None, "stopKind": None,
                "distanceToStopPercent": None, "targetsDone": 0, "targetsTotal": 2, "nextTarget": None,
                "closing": False} | extra

    def drawdown(mode: str, exchange: str, percent: float) -> dict[str, Any]:
        return {"mode": mode, "exchange": exchange, "day": "2026-01-05", "startEquity": 10000.0,
                "startTakenAt": "2026-01-05T00:00:10.000Z", "equity": 10000.0 * (1 - percent / 100),
                "drawdownPercent": percent, "limitPercent": 5.0, "trippedAt": None,
                "measuredAt": "2026-01-05T11:58:30.000Z", "runId": 41}

    return {
        "at": "2026-01-05T12:01:00.000Z", "intervalMinutes": 5,
        "lastRun": {"id": 41, "trigger": "cron", "status": "ok", "startedAt": "2026-01-05T11:58:30.000Z",
                    "finishedAt": "2026-01-05T11:58:30.200Z", "durationMs": 200.0, "positionsSeen": 2, "actions": 0,
                    "errors": 0, "ageSeconds": 150.0},
        "stale": False, "killSwitch": {"on": False, "reason": None},
        "settings": {"trailingStopPercent": 2.0, "takeProfitTargets": targets, "maxDailyDrawdownPercent": 5.0,
                     "errors": []},
        "positions": [
            position(1, "paper", "bybit", "BTCUSDT", "LONG", 60010.0, 59850.0, watermark=59850.0, stopPrice=58653.0,
                     stopKind="trailing", distanceToStopPercent=2.0,
                     nextTarget={"number": 1, "profitPercent": 2.0, "closeFraction": 0.5, "moveStopToBreakEven": True,
                                 "price": 61210.2}),
            position(7, "live", "binance", "ETHUSDT", "SHORT", 3000.0, 2950.0, watermark=2950.0, stopPrice=3001.5,
                     stopKind="break_even", distanceToStopPercent=1.7457627, targetsDone=1,
                     nextTarget={"number": 2, "profitPercent": 5.0, "closeFraction": 0.5,
                                 "moveStopToBreakEven": False, "price": 2850.0}),
            position(9, "paper", "bybit", "SOLUSDT", "LONG", 140.0, 141.2, seenByRun=False,
                     nextTarget={"number": 1, "profitPercent": 2.0, "closeFraction": 0.5, "moveStopToBreakEven": True,
                                 "price": 142.8}),
        ],
        "drawdowns": [drawdown("paper", "bybit", 1.2), drawdown("live", "binance", 4.2)],
        "reconciliation": {"openIssues": [
            {"id": 3, "exchange": "binance", "symbol": "ETHUSDT", "kind": "size", "ledgerPositionId": 7,
             "ledgerSide": "SHORT", "ledgerSize": 0.5, "exchangeSide": "SHORT", "exchangeSize": 0.8, "status": "open",
             "firstSeenAt": "2026-01-05T11:48:30.000Z", "lastSeenAt": "2026-01-05T11:58:30.000Z", "clearedAt": None,
             "firstRunId": 39, "lastRunId": 41, "clearedRunId": None}]},
    } | changes


def log_json(i: int) -> dict[str, Any]:
    levels = ["info", "info", "warning", "error", "debug", "critical"]
    return {"id": i, "createdAt": f"2026-01-05T11:{i % 60:02d}:{i % 60:02d}.000Z", "level": levels[i % 6],
            "worker": WORKERS[i % 4], "requestId": f"req-{i:04d}",
            "message": f"signal {i} processed for BTCUSDT" if i % 2 else f"health probe {i} answered",
            "details": None}


def sse(event_id: int, body: dict[str, Any]) -> Any:
    import json

    return parse_event(ServerSentEvent(event=body.get("type", ""), data=json.dumps(body), id=str(event_id)))


def fed_store(client: Any = None) -> Store:
    """A store holding the fixture, CONNECTED, its data stamped with the frozen clock."""
    store = Store(client)
    store.apply_status(m.StatusResult.model_validate(status_json()))
    store.apply_workers(m.WorkersResult.model_validate(
        {"items": [worker_json(n, i) for i, n in enumerate(WORKERS)], "nextCursor": None}))
    store.apply_logs(m.LogsPage.model_validate({"items": [log_json(i) for i in range(40, 0, -1)],
                                                "nextCursor": None}))
    detail = worker_json("hoox", 0) | {"recentLogs": [log_json(i) for i in (4, 8, 12)]}
    detail["memory"] = detail["memory"] | {"samples": memory_samples_json()}
    store.apply_worker(m.WorkerDetail.model_validate(detail))
    store.apply_latency(m.LatencyHistory.model_validate(latency_json("hoox")))
    store.apply_trades(m.TradesPage.model_validate({"items": [trade_json(s) for s in range(6, 0, -1)],
                                                    "nextCursor": None}))
    store.apply_positions(m.PositionsResult.model_validate(positions_json()))
    store.apply_stats(m.StatsResult.model_validate(stats_json()))
    store.apply_equity(m.EquityCurve.model_validate(equity_json()))
    store.apply_watchdog(m.WatchdogResult.model_validate(watchdog_json()))
    store.apply_risk(m.RiskStatus.model_validate(risk_json()))
    for i, (lvl, msg) in enumerate([("warning", "drawdown 4.2 USDT over the last day"),
                                    ("critical", "kill switch turned ON: exchange incident"),
                                    ("info", "kill switch turned off")], 1):
        store.ingest(sse(100 + i, {"type": "alert", "alertId": i, "level": lvl, "source": "trade-worker",
                                   "message": msg, "createdAt": f"2026-01-05T11:5{i}:00.000Z"}))
    store.focus_worker = "hoox"
    store.state = Conn.CONNECTED
    return store


def fixture_ctx(store: Store | None = None, *, client: Any = None) -> CockpitContext:
    return CockpitContext(store=store or fed_store(client), workspace=None,
                          settings=UserSettings(), safe_mode=False, local_runtime_started=False)


def plain(widget: Any, width: int = 120) -> str:
    """The text a Static (or any renderable) shows."""
    from rich.console import Console

    renderable = getattr(widget, "content", widget)
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def shown(app: Any, selector: str) -> bool:
    """A widget matching `selector` is laid out on the current screen, so a click lands on it."""
    widget = app.screen.query_one(selector)
    return bool(widget.display and widget.region)


@pytest.fixture(autouse=True)
def cockpit_settings(workspace: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cockpit's settings file (a theme switch saves it) inside the test's workspace, never the
    user's. Autouse in each module that imports it."""
    monkeypatch.setattr("hoox_tui.settings.config_path", lambda: workspace.root / "cockpit-test.toml")


def make_ctx(ws: Any, rt: Any, token: str | None = None, **store_kw: Any) -> CockpitContext:
    """A cockpit context on a test's local edge (`rt`): its gateway, the workspace's operator key
    unless `token` is given, no retries."""
    from order_support import gateway_url

    from hoox_cli.core.client import AsyncHooxClient

    client = AsyncHooxClient(gateway_url(rt), token or ws.secrets()["OPERATOR_API_KEY"], source="workspace",
                             retries=0)
    return CockpitContext(store=Store(client, **store_kw), workspace=ws, settings=UserSettings(),
                          safe_mode=False, local_runtime_started=False)


# Every view is snapshotted at the documented minimum and at a large terminal (issue 13 item 7).
SNAPSHOT_SIZES = [(100, 30), (160, 50)]
by_size = pytest.mark.parametrize("size", SNAPSHOT_SIZES, ids=[f"{w}x{h}" for w, h in SNAPSHOT_SIZES])

DEADLINE = 30.0  # generous: a wait returns as soon as its condition holds, and CI machines are slow


async def until(pilot: Any, cond: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    """Let the app run until `cond()` holds; fail saying `what` did not happen by the deadline.

    The app moves on its own (timers, workers, message queues); this only polls, so a test waits
    for exactly what it checks and never for a guessed time. A query in `cond` that finds nothing
    yet (NoMatches) counts as "not yet"; the app stopping ends the wait at once.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    last: NoMatches | None = None
    while True:
        try:
            if cond():
                return
            last = None
        except NoMatches as exc:
            last = exc
        app = pilot.app
        if not app.is_running or app.return_code is not None:
            raise AssertionError(f"the app stopped while waiting for: {what}") from getattr(app, "crash", None)
        waited = loop.time() - start
        if waited > timeout:
            raise AssertionError(f"timed out after {waited:.1f} s waiting for: {what}"
                                 + (f" (last query: {last})" if last else ""))
        await pilot.pause(0.02)


def _cell_width(cell: Any) -> int:
    text = cell if isinstance(cell, Text) else Text.from_markup(cell) if isinstance(cell, str) else Text(str(cell))
    return max((Text(line).cell_len for line in text.plain.splitlines()), default=0)


def tables_settled(app: App[Any]) -> bool:
    """Every DataTable on the screen has measured its rows. A DataTable widens its columns when it is next
    idle, after rows are added: a screenshot taken before then shows every cell cut to its header's width."""
    for table in app.screen.query(DataTable):
        for key, column in table.columns.items():
            if column.auto_width and column.content_width < max(map(_cell_width, table.get_column(key)), default=0):
                return False
    return True
