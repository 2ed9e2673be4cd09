"""The cockpit's one data store: REST polling + the /v1/stream event stream, ring buffers, and the
connection state machine.

Connection: CONNECTING → CONNECTED; a failed poll or a broken stream → RECONNECTING, retried after
min(2^n × 1 s, 30 s) with jitter (n = failures in a row); after 5 failures in a row → OFFLINE,
probed every 30 s. An authorised answer → CONNECTED, and the stream resumes with Last-Event-ID, so
every event written while the edge was away is still delivered. A refused token (401/403, from a
poll or the stream) → UNAUTHORIZED: the edge is there but will not talk to this token, so nothing
is retried at once (no retry storm); the next try waits min(2^n × 1 s, 30 s) as above and stays
at 30 s, and `refused_advice` says which token was sent and how to set the right one.
Nothing here blocks the UI: the loop is one asyncio task, and views only read the buffers.

Views are told what changed in batches: each poll result goes to its `apply_*` method (named with
the call that fetched it, no lookup by name) and each stream event to `ingest`; both mark data keys
dirty, and the app's flush timer takes them (`take_changes`) and posts them to the visible view as
a Textual message (hoox_tui/messages.py). The data keys ("store keys": status, workers, trades, …)
are the store's own, not the edge's stream topics. REST keys are polled only for the visible view
(`View.poll_topics`); `status` is always polled (status bar, kill switch). A change of connection
state and a risk run worth telling are posted to the app as messages (`post`, the app's post_message).

The risk manager (`risk`, /v1/risk) is of both books; its `risk` stream event (a finished run) has
it re-read at once, and a run that acted or failed adds a line to the alerts and is reported
(a notification: for a failing run, only the first of a series, so an exchange that stays down does
not raise one every run).

Books (paper and live): positions and stats are of one book, `book` — None, the default, is the
book the desk trades in now (KV trade:mode, the edge's own default), else paper, live or all (both)
as the operator picked it for the session. `shown_book` says which book the figures held are of.
Open orders are of every book (a resting order can open a position in any of them).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hoox_edge.operator.shapes import STREAM_TOPICS
from hoox_edge.shared import clock

from hoox_cli.core.client import (
    AlertEvent,
    Download,
    HooxApiError,
    HooxConnectionError,
    HooxError,
    LogEvent,
    RiskEvent,
    StatusEvent,
    StreamEvent,
    StreamState,
    TradeEvent,
    backoff_delay,
)
from hoox_cli.core.models import status_label
from hoox_tui.fmt import count
from hoox_tui.messages import Conn, ConnectionChanged, RiskRunReported

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace
    from textual.message import Message

    from hoox_cli.core import models as m
    from hoox_cli.core.cf_usage import CloudflareUsage
    from hoox_cli.core.client import AsyncHooxClient

_log = logging.getLogger("hoox.tui.store")

TRADES_MAX = 500
LOGS_MAX = 10_000
ALERTS_MAX = 200
WALLET_WORKER = "web3-wallet-worker"
# Each read asks every chain's RPC provider (metered, rate limited): balances move with the desk's own sends.
WALLET_SECONDS = 30.0
ALERT_STATES_POLLED = 50  # the newest alerts re-read each poll while the console shows: their delivery moves on
OFFLINE_AFTER = 5
REFUSED_STATUSES = frozenset({401, 403})  # the edge answered but refused this token
PROBE_SECONDS = 30.0
# The store's topics: what changed, for the views to redraw. Not the stream's topics (STREAM_TOPICS, the
# edge's list): those mark their namesakes, and the polled REST answers mark the rest. All of them at
# once is a full redraw (a view shown or rebuilt, Ctrl+R).
STORE_TOPICS = frozenset({*STREAM_TOPICS, "workers", "positions", "stats", "equity", "orders", "queues", "watchdog",
                          "latency", "analytics"})
ANALYTICS_WINDOWS = ("1h", "24h")  # the analytics view's latency lines: the last hour or day
ANALYTICS_BUCKETS = 48  # points per latency line: fits beside a worker's name at 100 columns
VOLUME_DAYS = 28  # the signal heat map: the last four weeks
BOOKS = ("paper", "live", "all")
BOOK_TOPICS = ("positions", "stats", "equity")  # the topics whose figures are of one book
CF_USAGE_SECONDS = 60.0  # Cloudflare's GraphQL API is rate limited: once a minute is plenty for 5-minute figures
ORDER_ENDED = frozenset({"Cancelled", "Filled", "Expired"})  # a cancel outcome after which nothing rests

@dataclass
class TradeRow:
    id: str
    created_at: str
    symbol: str
    side: str
    action: str
    quantity: float | None
    price: float | None
    fee: float | None
    realized_pnl: float | None
    status: str
    mode: str
    exchange: str
    request_id: str | None
    error: str | None = None


@dataclass
class LogRow:
    id: int
    created_at: str
    level: str
    worker: str
    message: str
    request_id: str | None = None


@dataclass
class AlertRow:
    id: int
    created_at: str
    level: str
    source: str
    message: str
    # Telegram delivery: sent, pending (next_attempt_at), failed (error), muted, outbox; None: not an
    # alert of the ledger (a risk run's line) or not known yet
    delivery: str | None = None
    next_attempt_at: str | None = None
    error: str | None = None


@dataclass
class SignalOutcome:
    accepted: bool
    text: str  # what happened, in words (redact before showing: it can quote the edge)
    title: str | None = None


def level_of(name: str | None) -> str:
    n = (name or "info").lower()
    return {"warn": "warning", "fatal": "critical", "err": "error"}.get(n, n)


def run_summary(ev: RiskEvent) -> str:
    """What a finished risk run did, in words: `1 action, 0 errors, 3 positions seen`."""
    text = (f"{count(ev.actions or 0, 'action')}, {count(ev.errors or 0, 'error')}, "
            f"{count(ev.positions_seen or 0, 'position')} seen")
    opened = (ev.reconciliation or {}).get("opened")
    return text + (f"; {count(opened, 'new reconciliation issue')}" if opened else "")


def _log_row(row: m.LogEntry) -> LogRow:
    return LogRow(row.id, row.createdAt, level_of(row.level), row.worker, row.message, row.requestId)


class Store:
    def __init__(
        self,
        client: AsyncHooxClient | None,
        *,
        refresh_seconds: float = 5.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        offline_after: int = OFFLINE_AFTER,
        probe_seconds: float = PROBE_SECONDS,
        live_stream: bool = True,
        rand: Callable[[], float] = random.random,
        cloudflare: Callable[[], Awaitable[CloudflareUsage]] | None = None,
    ) -> None:
        self.client = client
        self.refresh_seconds = refresh_seconds
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.offline_after = offline_after
        self.probe_seconds = probe_seconds
        self.live_stream = live_stream
        self._rand = rand
        # data
        self.status: m.StatusResult | None = None
        self.workers: list[m.WorkerDetail] = []
        self.worker_details: dict[str, m.WorkerDetail] = {}
        self.trades: OrderedDict[str, TradeRow] = OrderedDict()  # oldest first, at most TRADES_MAX
        self.positions: list[m.OpenPosition] = []
        self.stats: m.StatsResult | None = None
        self.equity: m.EquityCurve | None = None  # the equity curve of the book shown
        self.orders: list[m.OpenOrder] = []  # resting orders of every book
        self.book: str | None = None  # the book positions and stats are asked for; None: the desk's
        self.shown_book: dict[str, str | None] = {}  # topic -> the book its figures are of
        self.queues: m.QueuesResult | None = None
        self.watchdog: m.WatchdogResult | None = None  # the signal watchdog's sources
        self.risk: m.RiskStatus | None = None  # the risk manager (/v1/risk): both books, reconciliation
        self.wallet: m.WalletBalances | None = None  # the web3 wallet's balances, when its worker runs
        self.logs: deque[LogRow] = deque(maxlen=LOGS_MAX)
        self.alerts: deque[AlertRow] = deque(maxlen=ALERTS_MAX)
        # worker -> its latency history, read from the edge's analytics (so it outlives the cockpit)
        self.latency: dict[str, m.LatencyHistory] = {}
        # a deployed edge: its workers' CPU and data centres, read by the core from Cloudflare's GraphQL
        # API with the account token (`cloudflare`: None when the cockpit has no way to read it)
        self.cloudflare = cloudflare
        self.cf_usage: CloudflareUsage | None = None
        self.cf_usage_error: str | None = None
        self._cf_usage_at: float | None = None
        # the analytics view: every worker's latency over `analytics_window`, the signal volume heat
        # map, and the error-rate threshold of its banners (KV analytics:error_rate_alert_percent)
        self.analytics_window = ANALYTICS_WINDOWS[0]
        self.analytics_latency: dict[str, m.LatencyHistory] = {}
        self.volume: m.SignalVolume | None = None
        self.error_threshold: float | None = None
        self.updated_at: dict[str, float] = {}
        self.errors: dict[str, str] = {}  # topic -> the edge's error for it (the edge answered)
        self.logs_total = 0  # log lines ever received: a view reading `logs` incrementally tracks it
        self._log_ids: set[int] = set()
        # connection
        self.state = Conn.CONNECTING if client is not None else Conn.NO_EDGE
        self.failures = 0
        self.last_error: str | None = None
        self.refused_advice: str | None = None  # set while UNAUTHORIZED: which token, how to set it
        self.attempts = 0  # requests sent to the edge (polls and stream connections), for the tests' count
        self.next_attempt_at: float | None = None
        self.last_event_id: int | None = None
        self.stream_connected = False
        self.focus_worker: str | None = None
        self.active_topics: frozenset[str] = frozenset()
        # plumbing
        self._shown_by: int | None = None  # the visible view (its id), whose poll_topics are polled
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._stream_task: asyncio.Task[None] | None = None
        self._loaded_history = False
        self.post: Callable[[Message], object] | None = None  # the app's post_message: state, risk runs
        self._risk_failing = False  # the last risk run the stream brought had errors

    # ================================================================ views
    def show(self, key: int, topics: frozenset[str]) -> None:
        """View `key` became visible: its REST keys are polled now, and it gets a full redraw."""
        self._shown_by = key  # one visible view at a time
        self.active_topics = topics
        self._dirty.update(STORE_TOPICS)
        self.refresh_now()

    def hide(self, key: int) -> None:
        """View `key` was hidden (not a newer one shown meanwhile): nothing view-specific is polled."""
        if self._shown_by == key:
            self._shown_by = None
            self.active_topics = frozenset()

    def mark(self, *topics: str) -> None:
        self._dirty.update(topics)

    def take_changes(self) -> frozenset[str]:
        """The keys changed since the last call (the app posts them to the visible view)."""
        topics = frozenset(self._dirty)
        self._dirty.clear()
        return topics

    def _post(self, message: Message) -> None:
        if self.post is not None:
            self.post(message)

    def age(self, topic: str) -> float | None:
        at = self.updated_at.get(topic)
        return None if at is None else max(0.0, clock.now() - at)

    @property
    def has_edge(self) -> bool:
        """An edge is configured (local or remote): the actions below can reach it."""
        return self.client is not None

    @property
    def edge_url(self) -> str | None:
        return self.client.base_url if self.client is not None else None

    @property
    def live(self) -> bool:
        """The figures held are the edge's answer of now (CONNECTED), not the last one it gave."""
        return self.state == Conn.CONNECTED

    def edge_problem(self) -> str | None:
        """Why nothing live comes from the edge now, in full (None while CONNECTED or connecting)."""
        from hoox_tui.fmt import ago

        if self.state == Conn.UNAUTHORIZED:
            return self.refused_advice or "The edge refused the operator token."
        if self.state not in (Conn.RECONNECTING, Conn.OFFLINE):
            return None
        where = f" at {self.client.base_url}" if self.client is not None else ""
        last = self.age("status")
        since = f"last answer {ago(last)}" if last is not None else "it has not answered yet"
        return f"The edge{where} is unreachable ({since}): worker states are unknown until it answers."

    def waiting_text(self) -> str:
        """What a view shows before the edge's first answer."""
        problem = self.edge_problem() if self.state == Conn.UNAUTHORIZED else None
        return problem or "waiting for the edge…"

    # ================================================================ loop
    def refresh_now(self) -> None:
        """Poll (and reconnect) now instead of at the next tick (Ctrl+R)."""
        self._wake.set()

    async def run(self) -> None:
        """The store's life: poll, keep the stream up, back off when the edge is away. Never raises."""
        if self.client is None:
            return
        try:
            while True:
                self._wake.clear()  # a refresh asked while this round runs starts another at once
                try:
                    await self.poll()
                except HooxConnectionError as exc:
                    wait = self._failed(str(exc))
                except HooxApiError as exc:
                    if exc.status in REFUSED_STATUSES:
                        wait = self._refused(exc)
                    elif exc.status in (502, 503, 504):
                        wait = self._failed(str(exc))
                    else:  # the edge answered this token (a 404 of an older edge, a 429): it is there
                        self._connected()
                        wait = self.refresh_seconds
                else:
                    self._connected()
                    wait = self.refresh_seconds
                await self._sleep(wait)
        finally:
            await self._stop_stream()

    async def _sleep(self, seconds: float) -> None:
        self.next_attempt_at = clock.now() + seconds if self.state != Conn.CONNECTED else None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    def _connected(self) -> None:
        self.failures = 0
        self.last_error = None
        self.refused_advice = None
        self.next_attempt_at = None
        self._set_state(Conn.CONNECTED)
        if self.live_stream and (self._stream_task is None or self._stream_task.done()):
            self._stream_task = asyncio.create_task(self._stream(), name="hoox-stream")

    def _failed(self, error: str) -> float:
        """One more failure in a row; the wait before the next attempt."""
        self.failures += 1
        self.last_error = error
        self.mark("status")  # the views show how old the last answer is now
        if self._stream_task is not None and not self._stream_task.done():
            self._stream_task.cancel()
        if self.failures >= self.offline_after:
            self._set_state(Conn.OFFLINE)
            return self.probe_seconds
        self._set_state(Conn.RECONNECTING)
        return backoff_delay(self.failures - 1, base=self.backoff_base, cap=self.backoff_cap, rand=self._rand)

    def _refused(self, exc: HooxApiError) -> float:
        """The edge refused the token: UNAUTHORIZED, and the wait before asking again (growing, bounded)."""
        self.failures += 1
        self.last_error = f"{exc.code} ({exc.status}): {exc.message}"
        client = self.client
        self.refused_advice = client.refused_advice() if client is not None else str(exc)
        self.mark("status")
        if self._stream_task is not None and not self._stream_task.done():
            self._stream_task.cancel()
        self._set_state(Conn.UNAUTHORIZED)
        return backoff_delay(self.failures - 1, base=self.backoff_base, cap=self.backoff_cap, rand=self._rand)

    def _set_state(self, state: Conn) -> None:
        if state != self.state:
            _log.info("connection %s -> %s", self.state.value, state.value)
            self.state = state
            self.mark("status")
            self._post(ConnectionChanged(state))

    async def _stop_stream(self) -> None:
        task, self._stream_task = self._stream_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ================================================================ REST
    async def poll(self) -> None:
        """One round: status always, then what the visible view needs (and history once)."""
        c = self.client
        assert c is not None
        self.attempts += 1
        self.apply_status(await c.status())
        topics = self.active_topics
        book = self.book
        # (store key, the call, the method that applies its result)
        calls: list[tuple[str, Callable[[], Awaitable[Any]], Callable[[Any], None]]] = []
        if not self._loaded_history:
            calls += [("trades", lambda: c.trades(limit=200), self.apply_trades),
                      ("logs", lambda: c.logs(limit=500), self.apply_logs),
                      ("alerts", lambda: c.alerts(limit=ALERTS_MAX), self.apply_alerts)]
        if "alerts" in topics and self._loaded_history:  # delivery states move on (pending → sent)
            calls.append(("alerts", lambda: c.alerts(limit=ALERT_STATES_POLLED), self.apply_alerts))
        if "workers" in topics:
            calls.append(("workers", c.workers, self.apply_workers))
        if "trades" in topics and self._loaded_history:
            calls.append(("trades", lambda: c.trades(limit=100), self.apply_trades))
        if "positions" in topics:
            calls.append(("positions", lambda: c.positions(mode=book), self.apply_positions))
        if "stats" in topics:
            calls.append(("stats", lambda: c.stats(mode=book), self.apply_stats))
        if "equity" in topics:
            calls.append(("equity", lambda: c.equity(mode=book), self.apply_equity))
        if "orders" in topics:
            calls.append(("orders", c.orders, self.apply_orders))
        if "queues" in topics:
            calls.append(("queues", c.queues, self.apply_queues))
        if "watchdog" in topics:
            calls.append(("watchdog", c.watchdog, self.apply_watchdog))
        if "risk" in topics:
            calls.append(("risk", c.risk, self.apply_risk))
        if "wallet" in topics and self.wallet_enabled() and (
                self.wallet is None or clock.now() - self.updated_at.get("wallet", 0.0) >= WALLET_SECONDS):
            calls.append(("wallet", c.wallet_balances, self.apply_wallet))
        if "worker" in topics and self.focus_worker:
            name = self.focus_worker
            calls.append(("worker", lambda: c.worker(name), self.apply_worker))
        if "latency" in topics and self.focus_worker:
            focus = self.focus_worker
            calls.append(("latency", lambda: c.worker_latency(focus), self.apply_latency))
        if topics & {"workers", "worker"} and self.status is not None and self.status.runtime == "cloudflare":
            await self.poll_cloudflare()
        if "analytics" in topics:
            calls.append(("analytics", lambda: self._fetch_analytics(c), self.apply_analytics))
        for topic, call, apply in calls:
            try:
                result = await call()
            except HooxApiError as exc:
                if exc.status in (502, 503, 504):
                    raise
                self.errors[topic] = str(exc)
                self.mark(topic)
                continue
            if topic in BOOK_TOPICS and self.book != book:
                continue  # the operator switched books meanwhile: these figures are of the other one
            self.errors.pop(topic, None)
            apply(result)
        self._loaded_history = True

    async def poll_cloudflare(self) -> None:
        """The deployed workers' figures from Cloudflare, at most once a CF_USAGE_SECONDS; a failure is
        kept in `cf_usage_error` (the views say it) and never breaks the poll of the edge."""
        if self._cf_usage_at is not None and clock.now() - self._cf_usage_at < CF_USAGE_SECONDS:
            return
        self._cf_usage_at = clock.now()
        if self.cloudflare is None:
            self.cf_usage_error = "the cockpit has no Cloudflare account to read it from"
        else:
            try:
                self.apply_cf_usage(await self.cloudflare())
                return
            except Exception as exc:  # CloudflareError, or a bad answer: said in the views
                self.cf_usage_error = str(exc) or type(exc).__name__
        self.mark("workers", "worker")

    def apply_cf_usage(self, usage: CloudflareUsage) -> None:
        self.cf_usage = usage
        self.cf_usage_error = None
        self._touch("workers", "worker")

    def apply_status(self, status: m.StatusResult) -> None:
        self.status = status
        self._touch("status")

    def apply_workers(self, result: m.WorkersResult) -> None:
        self.workers = list(result.items)
        self._touch("workers")

    def apply_worker(self, detail: m.WorkerDetail) -> None:
        self.worker_details[detail.name] = detail
        for row in reversed(detail.recentLogs or []):
            self._add_log(_log_row(row))
        self._touch("worker", "logs")

    def apply_latency(self, history: m.LatencyHistory) -> None:
        self.latency[history.worker] = history
        self._touch("latency")

    async def _fetch_analytics(self, c: AsyncHooxClient) -> tuple[str, list[m.LatencyHistory], m.SignalVolume, Any]:
        """One round of the analytics view: each worker's latency lines, the heat map, the threshold."""
        from hoox_edge.shared.settings import ERROR_RATE_ALERT

        window = self.analytics_window
        names = [w.name for w in self.status.workers] if self.status is not None else []
        histories = await asyncio.gather(*(c.worker_latency(n, window=window, buckets=ANALYTICS_BUCKETS)
                                           for n in names))
        volume = await c.signal_volume(days=VOLUME_DAYS)
        threshold = (await c.kv_get(ERROR_RATE_ALERT)).value
        return window, list(histories), volume, threshold

    def apply_analytics(self, result: tuple[str, list[m.LatencyHistory], m.SignalVolume, Any]) -> None:
        window, histories, volume, threshold = result
        if window == self.analytics_window:  # else the operator switched windows meanwhile
            self.analytics_latency = {h.worker: h for h in histories}
        self.volume = volume
        valid = isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
        self.error_threshold = float(threshold) if valid else None
        self._touch("analytics")

    def set_analytics_window(self, window: str) -> None:
        """The analytics view's latency window (1h or 24h): lines of the other window are dropped now."""
        if window not in ANALYTICS_WINDOWS:
            raise ValueError(f"unknown window {window!r}: {' or '.join(ANALYTICS_WINDOWS)}")
        if window != self.analytics_window:
            self.analytics_window = window
            self.analytics_latency = {}
            self.mark("analytics")
            self.refresh_now()

    def apply_trades(self, page: m.TradesPage) -> None:
        for t in reversed(page.items):  # newest first from the API
            self._put_trade(TradeRow(
                id=t.id, created_at=t.createdAt, symbol=t.symbol, side=t.side, action=t.action,
                quantity=t.quantity, price=t.price, fee=t.fee, realized_pnl=t.realizedPnl, status=t.status,
                mode=t.mode, exchange=t.exchange, request_id=t.requestId, error=t.error), keep_order=True)
        self._touch("trades")

    def apply_positions(self, result: m.PositionsResult) -> None:
        self.positions = list(result.items)
        self.shown_book["positions"] = self._book_of(result)
        self._touch("positions")

    def apply_stats(self, stats: m.StatsResult) -> None:
        self.stats = stats
        self.shown_book["stats"] = self._book_of(stats)
        self._touch("stats")

    def apply_equity(self, curve: m.EquityCurve) -> None:
        self.equity = curve
        self.shown_book["equity"] = self._book_of(curve)
        self._touch("equity")

    def apply_orders(self, result: m.OrdersResult) -> None:
        self.orders = list(result.items)
        self._touch("orders")

    def _book_of(self, result: m.PositionsResult | m.StatsResult | m.EquityCurve) -> str | None:
        """The book a result is of: as the edge named it, else the one asked for (by default the desk's)."""
        named = result.mode if "mode" in result.model_fields_set else None
        return named or self.book or self.desk_book

    # ================================================================ books
    @property
    def desk_book(self) -> str | None:
        """The book the desk trades in now (KV trade:mode)."""
        return self.status.tradingMode if self.status is not None else None

    def book_of(self, topic: str) -> str | None:
        """The book `topic`'s figures are of, or, until they come, the book they are asked for."""
        return self.shown_book.get(topic) or self.book or self.desk_book

    def set_book(self, book: str | None) -> None:
        """Show the figures of `book` (paper, live, all; None: the desk's) from now on, this session."""
        if book not in (None, *BOOKS):
            raise ValueError(f"unknown book {book!r}: paper, live or all")
        if book == self.book:
            return
        self.book = book
        # never the other book's figures under the new book's name: empty until its answer comes
        self.positions, self.stats, self.equity = [], None, None
        for topic in BOOK_TOPICS:
            self.shown_book.pop(topic, None)
            self.errors.pop(topic, None)
        self.mark(*BOOK_TOPICS)
        self.refresh_now()

    def apply_queues(self, queues: m.QueuesResult) -> None:
        self.queues = queues
        self._touch("queues")

    def apply_watchdog(self, result: m.WatchdogResult) -> None:
        self.watchdog = result
        self._touch("watchdog")

    def apply_risk(self, result: m.RiskStatus) -> None:
        self.risk = result
        self._touch("risk")

    def wallet_enabled(self) -> bool:
        """web3-wallet-worker runs (hoox.toml enables it; the edge's status says so)."""
        st = self.status
        return st is not None and any(w.name == WALLET_WORKER and status_label(w.status, w.features, w.error)
                                      != "disabled" for w in st.workers)

    def apply_wallet(self, result: m.WalletBalances) -> None:
        self.wallet = result
        self._touch("wallet")

    def apply_logs(self, page: m.LogsPage) -> None:
        for row in reversed(page.items):
            self._add_log(_log_row(row))
        self._touch("logs")

    def apply_alerts(self, page: m.AlertsPage) -> None:
        """Recent alerts from the ledger, so the console shows what happened before the cockpit opened,
        and where each delivery stands now."""
        seen = {a.id: a for a in self.alerts}
        for row in reversed(page.items):
            known = seen.get(row.id)
            if known is None:
                self.alerts.append(AlertRow(row.id, row.createdAt, level_of(row.level), row.source, row.message,
                                            row.delivery, row.nextAttemptAt, row.error))
            else:
                known.delivery, known.next_attempt_at, known.error = row.delivery, row.nextAttemptAt, row.error
        # by time: a risk run's line (a stream event, negative id) sits among the ledger's alerts of its moment
        self.alerts = deque(sorted(self.alerts, key=lambda a: (a.created_at, a.id)), maxlen=ALERTS_MAX)
        self._touch("alerts")

    def _touch(self, *topics: str) -> None:
        now = clock.now()
        for t in topics:
            self.updated_at[t] = now
        self.mark(*topics)

    # ================================================================ stream
    async def _stream(self) -> None:
        c = self.client
        assert c is not None

        def on_state(st: StreamState) -> None:
            # "failed" carries the resume point even when no event came (the stream's id-only opening)
            self.stream_connected = st.state == "connected"
            if st.last_event_id is not None:
                self.last_event_id = max(self.last_event_id or 0, st.last_event_id)

        self.attempts += 1
        try:
            async for ev in c.stream(last_event_id=self.last_event_id, on_state=on_state, max_failures=0):
                self.ingest(ev)
        except asyncio.CancelledError:
            self.stream_connected = False
            raise
        except HooxApiError as exc:
            if exc.status not in REFUSED_STATUSES:
                _log.info("event stream lost: %s", exc)
                self._failed(str(exc))
                self.refresh_now()
                return
            # refused: the poll loop asks again after its backoff; never at once (no retry storm)
            self._refused(exc)
            self.next_attempt_at = None
        except HooxError as exc:
            # the stream is part of the connection: its loss starts the backoff like a failed poll
            _log.info("event stream lost: %s", exc)
            self._failed(str(exc))
            self.refresh_now()
        except Exception as exc:  # never let the stream task die silently
            _log.exception("event stream crashed")
            self._failed(f"{type(exc).__name__}: {exc}")
            self.refresh_now()

    def ingest(self, ev: StreamEvent) -> None:
        """One stream event into the buffers (also the bench's and the tests' entry point)."""
        self.last_event_id = max(self.last_event_id or 0, ev.id)
        created = ev.created_at or clock.iso()
        if isinstance(ev, TradeEvent):
            self._put_trade(TradeRow(
                id=str(ev.trade_id if ev.trade_id is not None else f"event-{ev.id}"), created_at=created,
                symbol=ev.symbol or "?", side=ev.side or "", action=ev.action or "", quantity=ev.quantity,
                price=ev.price, fee=ev.fee, realized_pnl=ev.realized_pnl, status=ev.status or "",
                mode=ev.mode or "", exchange=ev.exchange or "", request_id=ev.request_id, error=ev.error))
            self._touch("trades")
            # any order event can start or end a resting order: the open orders follow at once
            refresh = "orders" in self.active_topics
            if (ev.status or "").lower() == "filled":
                self.mark("positions", "stats")
                refresh = refresh or "positions" in self.active_topics or "stats" in self.active_topics
            if refresh:
                self.refresh_now()  # new figures follow a fill at once, not at the next tick
        elif isinstance(ev, LogEvent):
            log_id = ev.log_id if ev.log_id is not None else -ev.id
            self._add_log(LogRow(log_id, created, level_of(ev.level), ev.worker or "?", ev.message, ev.request_id))
            self._touch("logs")
        elif isinstance(ev, AlertEvent):
            self.alerts.append(AlertRow(ev.alert_id if ev.alert_id is not None else ev.id, created,
                                        level_of(ev.level), ev.source or "?", ev.message,
                                        ev.delivery if isinstance(ev.delivery, str) else None))
            self._touch("alerts")
        elif isinstance(ev, RiskEvent):
            self._risk_run(ev, created)
        elif isinstance(ev, StatusEvent):
            if self.status is not None and ev.kill_switch is not None:
                ks = self.status.killSwitch.model_copy(update={"on": ev.kill_switch, "reason": ev.reason})
                self.status = self.status.model_copy(update={"killSwitch": ks})
            self._touch("status")

    def _risk_run(self, ev: RiskEvent, created: str) -> None:
        """A finished risk run: its figures are re-read now (stops, drawdowns, the run's age), and a run
        that acted or failed is a line in the alert console and a notification."""
        self.mark("risk")
        if "risk" in self.active_topics:
            self.refresh_now()
        failing_before, self._risk_failing = self._risk_failing, bool(ev.errors)
        if not ev.actions and not ev.errors:
            return
        line = f"risk run #{ev.run_id if ev.run_id is not None else '?'} ({ev.trigger or 'run'}): {run_summary(ev)}"
        # a negative id: never one of the ledger's alert ids (apply_alerts dedups on them)
        self.alerts.append(AlertRow(-ev.id, created, "error" if ev.errors else "warning", "agent-worker", line))
        self._touch("alerts")
        # every run that acted; a failing one when it starts failing, not again each run while it fails
        if ev.actions or not failing_before:
            self._post(RiskRunReported(ev))

    def _put_trade(self, row: TradeRow, keep_order: bool = False) -> None:
        known = row.id in self.trades
        self.trades[row.id] = row
        if known and not keep_order:
            self.trades.move_to_end(row.id)  # a status change is news: it goes to the top
        while len(self.trades) > TRADES_MAX:
            self.trades.popitem(last=False)

    def logs_since(self, seen_total: int) -> list[LogRow]:
        """The log rows received after a view last read `logs_total` (then `seen_total`), oldest first."""
        n = min(self.logs_total - seen_total, len(self.logs))
        return list(itertools.islice(reversed(self.logs), n))[::-1] if n > 0 else []

    def _add_log(self, row: LogRow) -> None:
        if row.id in self._log_ids:
            return
        if len(self.logs) == self.logs.maxlen:
            self._log_ids.discard(self.logs[0].id)
        self.logs.append(row)
        self._log_ids.add(row.id)
        self.logs_total += 1

    # ================================================================ actions
    # Views and the app act on the edge (and on the local runtime) only through these: nothing else
    # in the cockpit calls the client or controls a process.
    def _edge(self) -> AsyncHooxClient:
        if self.client is None:
            raise HooxError("no edge is configured")
        return self.client

    async def kv_list(self) -> m.KvList:
        return await self._edge().kv_list()

    async def kv_get(self, key: str) -> m.KvEntry:
        return await self._edge().kv_get(key)

    async def kv_put(self, key: str, value: Any) -> m.KvEntry:
        """Write one KV setting (the edge validates it again and answers with what it stored)."""
        return await self._edge().kv_put(key, value)

    async def fetch_status(self) -> m.StatusResult:
        """The edge's status asked now (not the last poll's)."""
        return await self._edge().status()

    async def signal_timeline(self, request_id: str) -> m.SignalTimeline:
        return await self._edge().signal_timeline(request_id)

    def agent_chat(self, message: str, *, desk: bool = True) -> AsyncIterator[dict[str, Any]]:
        """The AI gateway's answer to `message` as events (provider, token..., usage | error)."""
        return self._edge().agent_chat(message, desk=desk)

    async def reports(self) -> m.ReportsList:
        return await self._edge().reports()

    async def report_file(self, name: str) -> Download:
        return await self._edge().report_file(name)

    async def make_report(self, period: str) -> m.ReportResult:
        """A P&L report now: report-worker stores it and sends it to Telegram."""
        return await self._edge().make_report(period)

    async def send_test_signal(self, ws: Workspace) -> SignalOutcome:
        """LONG 0.001 BTCUSDT to the workspace's local gateway, and what came of it."""
        import httpx
        from hoox_edge.shared.http import tls_for

        from hoox_cli.core.signals import build_payload, webhook_url

        key = ws.secrets().get("WEBHOOK_API_KEY")
        if not key:
            return SignalOutcome(False, f"WEBHOOK_API_KEY is not set in {ws.dev_vars_path}.")
        payload = build_payload(api_key=key, symbol="BTCUSDT", action="LONG", quantity=0.001, exchange=None,
                                leverage=None, order_type=None, price=None, idempotency_key=None)
        try:
            url = webhook_url(ws.gateway_url())
            async with httpx.AsyncClient(timeout=15, verify=tls_for(url)) as http:
                r = await http.post(url, json=payload)
            body = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            return SignalOutcome(False, f"{type(exc).__name__}: {exc}", "Test signal failed")
        if r.status_code in (200, 202):
            return SignalOutcome(True, f"{r.status_code}: test signal accepted (request {body.get('requestId')})")
        err = body.get("error") if isinstance(body, dict) else None
        msg = err.get("message") if isinstance(err, dict) else str(body)[:200]
        return SignalOutcome(False, f"{r.status_code}: {msg}", "Test signal refused")

    async def restart_runtime(self, ws: Workspace, emit: Callable[[str], None], *, start_only: bool = False) -> int:
        """Stop the workspace's local runtime (if any) and start it detached, following its log into
        `emit`; the new pid. Raises RestartError saying why it did not serve."""
        tail = LogTail(ws)
        task = asyncio.create_task(tail.follow(emit))
        try:
            pid = await asyncio.to_thread(restart_local_runtime, ws, emit, start_only=start_only)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            tail.read(emit)  # what it wrote after the last tick
        self.refresh_now()
        return pid

    async def set_kill_switch(self, on: bool, reason: str | None, *, flatten: bool = False) -> m.KillSwitch:
        assert self.client is not None
        result = await self.client.set_kill_switch(on, reason, flatten=flatten)
        if self.status is not None:
            ks = self.status.killSwitch.model_copy(update={"on": result.on, "reason": result.reason})
            self.status = self.status.model_copy(update={"killSwitch": ks})
        self._touch("status")
        if result.flatten is not None:
            self._flattened(result.flatten)
        return result

    async def cancel_order(self, request_id: str) -> m.OrderResult:
        """Cancel a resting order; it leaves the open orders at once (what filled stays in its book)."""
        assert self.client is not None
        try:
            result = await self.client.cancel_order(request_id)
        except HooxApiError:
            self.refresh_now()  # the edge knows better (it filled meanwhile): show what it says now
            raise
        self._orders_gone({request_id})
        return result

    async def flatten_plan(self) -> tuple[list[m.OpenPosition], list[m.OpenOrder]]:
        """What a flatten would close and cancel, in every book, asked of the edge now."""
        assert self.client is not None
        positions, orders = await asyncio.gather(self.client.positions(mode="all"), self.client.orders())
        return list(positions.items), list(orders.items)

    async def flatten(self, mode: str | None, reason: str | None) -> m.FlattenResult:
        """Cancel the resting orders, then close the positions, of a book (None: every book)."""
        assert self.client is not None
        result = await self.client.flatten(mode=mode, reason=reason)
        self._flattened(result)
        return result

    def _flattened(self, result: m.FlattenResult) -> None:
        self._orders_gone({o.requestId for o in result.cancelled if o.status in ORDER_ENDED})

    def _orders_gone(self, request_ids: set[str]) -> None:
        self.orders = [o for o in self.orders if o.requestId not in request_ids]
        self._touch("orders")
        self.mark(*BOOK_TOPICS)
        self.refresh_now()  # the positions and figures they moved


# ==================================================================== the local runtime
class RestartError(Exception):
    pass


def restart_local_runtime(ws: Workspace, emit: Callable[[str], None], *, start_only: bool = False) -> int:
    """Stop the workspace's local runtime (if any) and start it detached; the new pid. Blocking."""
    from hoox_cli.core import process

    base = ws.base_port()
    state = process.probe(ws)
    if state.running:
        if start_only:
            emit(f"The local runtime already runs (pid {state.pid}).")
            return state.pid or 0
        emit(f"Stopping the local runtime (pid {state.pid}) ...")
        res = process.stop(ws)
        emit("Stopped." if not res.forced else f"It did not stop within {process.STOP_TIMEOUT:g} s and was killed.")
    emit(f"Starting the local runtime (ports from {base}) ...")
    try:
        proc, _info = process.start_detached(ws, base)
    except process.StartFailed as exc:
        hint = " Free them, or change [dev] port in hoox.toml (Config editor, F7)." if exc.code == "PORT_IN_USE" else ""
        raise RestartError(exc.message + hint) from None
    return proc.pid


class LogTail:
    """Follows the runtime log from where it ended when created (what a restart writes to it)."""

    def __init__(self, ws: Workspace) -> None:
        from hoox_cli.core import process

        self.path = process.log_path(ws)
        try:
            self.pos = self.path.stat().st_size
        except OSError:
            self.pos = 0
        self._pending = ""

    def read(self, emit: Callable[[str], None]) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.pos)
                data = fh.read()
        except OSError:
            return
        self.pos += len(data)
        self._pending += data.decode("utf-8", errors="replace")
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            emit(line)

    async def follow(self, emit: Callable[[str], None]) -> None:
        while True:
            await asyncio.sleep(0.2)
            self.read(emit)
