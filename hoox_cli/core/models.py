"""Pydantic models of every `/v1` result (the `result` of the standard envelope).

The shapes are defined on the edge, in `hoox_edge/operator/shapes.py` (one TypedDict per model, same
name, same fields); HooxClient parses answers into these. At run time they are lenient on purpose:
unknown keys are kept and most fields have defaults, so an older client still reads a newer edge.
`tests/test_contract.py` checks them strictly against the shapes and real answers (no unknown key,
every key the edge always sends required), so a field renamed on either side fails a test.
Field names are the JSON names (camelCase); docs/operator-api.md defines every figure.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


# --------------------------------------------------------------------------- /v1/status
class KillSwitch(_Model):
    on: bool
    reason: str | None = None
    alerted: bool | None = None  # POST only: the alert reached telegram-worker
    eventId: int | None = None  # POST only: id of the `status` event on the stream
    flatten: FlattenResult | None = None  # POST with flatten only: the books closed after the switch


Features = Literal["available", "partial", "not available"]


class WorkerHealth(_Model):
    name: str
    status: Literal["online", "degraded", "offline"]
    latencyMs: float | None = None
    error: str | None = None
    features: Features | None = None  # what an online worker serves, as its /health says


NOT_RUNNING_LOCALLY = "not running in this local runtime"  # the edge's error for a worker not enabled


def tool_call_label(ev: dict[str, Any]) -> str:
    """A desk tool call of the AI gateway as the CLI and the cockpit show it:
    `desk_positions(symbol=SOL): ok`, or the error the model was given."""
    args = ", ".join(f"{k}={v}" for k, v in (ev.get("arguments") or {}).items())
    return f"{ev.get('name')}({args}): " + ("ok" if ev.get("ok") else f"error — {ev.get('error')}")


def status_label(status: str, features: str | None, error: str | None = None) -> str:
    """How a worker is shown: an online worker that serves none of its features is "not available",
    never "operational"; one that serves some is "operational (partial)"; one the local runtime
    does not run because hoox.toml does not enable it is "disabled", not a failing "offline"."""
    if status == "offline" and (error or "").startswith(NOT_RUNNING_LOCALLY):
        return "disabled"
    if status == "online" and features == "not available":
        return "not available"
    if status == "online":
        return "operational (partial)" if features == "partial" else "operational"
    return status


class QueueSummary(_Model):
    available: bool
    error: str | None = None
    depth: int | None = None
    inFlight: int | None = None
    deadLetters: int | None = None


class ExchangeStatus(_Model):
    name: str
    credentials: bool  # its API key secrets are set on trade-worker (never their values)
    secrets: list[str]
    endpoint: str  # production | testnet | custom | invalid setting
    live: bool  # trade:mode is live and the keys are set: its signals trade for real


class ExchangesStatus(_Model):
    available: bool
    error: str | None = None
    items: list[ExchangeStatus] = []


class StatusResult(_Model):
    killSwitch: KillSwitch
    tradingMode: str
    queueMode: str
    workers: list[WorkerHealth]
    queues: QueueSummary
    lastSignalAt: str | None = None
    exchanges: ExchangesStatus | None = None
    version: str | None = None
    runtime: Literal["local", "cloudflare"]
    time: str


# --------------------------------------------------------------------------- /v1/workers
class WindowFigures(_Model):
    requests: int
    errors: int
    clientErrors: int
    refused: int | None = None  # of clientErrors, 401/403: callers turned away (None: an older edge)
    p50Ms: float | None = None
    p95Ms: float | None = None


class DurableObjectInfo(_Model):
    className: str
    instances: int | None = None
    nextAlarm: str | None = None
    pendingAlarms: int | None = None
    note: str | None = None


class BindingInfo(_Model):
    name: str
    kind: str
    resource: str


class LogEntry(_Model):
    id: int
    createdAt: str
    level: str
    worker: str
    requestId: str | None = None
    message: str
    details: Any = None


class CpuFigures(_Model):
    """CPU time per invocation of a worker, measured by the local runtime (on Cloudflare the edge sends
    None and `cpuNote`: the core reads Cloudflare's figures itself, `core/cf_usage.py`)."""

    source: Literal["local runtime", "cloudflare"]
    window: str
    invocations: int
    p50Ms: float | None = None
    p95Ms: float | None = None
    coreShare: float | None = None


class MemorySample(_Model):
    t: str
    rssBytes: int


class MemoryFigures(_Model):
    scope: Literal["process"]
    rssBytes: int | None = None
    samples: list[MemorySample] = Field(default_factory=list)
    note: str


class WorkerDetail(_Model):
    name: str
    description: str
    status: Literal["online", "degraded", "offline"]
    healthLatencyMs: float | None = None
    healthError: str | None = None
    features: Features | None = None
    uptimeSeconds: float | None = None
    uptimeNote: str | None = None
    traffic: dict[str, WindowFigures] | None = None  # keys "5m", "1h"
    trafficError: str | None = None
    signalsProcessed: int | None = None
    durableObjects: list[DurableObjectInfo]
    bindings: list[BindingInfo]
    crons: list[str]
    public: bool
    cpu: CpuFigures | None = None  # None: see cpuNote (an older edge sends neither)
    cpuNote: str | None = None
    memory: MemoryFigures | None = None
    memoryNote: str | None = None
    recentLogs: list[LogEntry] | None = None  # GET /v1/workers/{name} only


class LatencyBucket(_Model):
    start: str
    requests: int
    errors: int
    p50Ms: float | None = None  # None: no request in the bucket
    p95Ms: float | None = None


class LatencyHistory(_Model):
    """`GET /v1/workers/{name}/latency`: a worker's request figures per time bucket, from analytics."""

    worker: str
    window: str
    bucketSeconds: int
    from_: str = Field(alias="from")
    to: str
    available: bool
    error: str | None = None
    truncated: bool = False
    buckets: list[LatencyBucket]


class SignalVolume(_Model):
    """`GET /v1/analytics/volume`: signals received per weekday (Monday first) × hour, UTC, from the ledger."""

    days: int
    from_: str = Field(alias="from")
    to: str
    timezone: str
    weekdays: list[str]
    total: int
    peak: int
    counts: list[list[int]]


class WorkersResult(_Model):
    items: list[WorkerDetail]
    nextCursor: str | None = None


# --------------------------------------------------------------------------- ledger
class Trade(_Model):
    seq: int  # the row's sequence number: the cursor of /v1/trades
    id: str
    requestId: str
    exchange: str
    symbol: str
    action: str
    side: str
    orderType: str
    quantity: float
    price: float | None = None
    fee: float
    realizedPnl: float
    leverage: float
    orderId: str | None = None
    clientOrderId: str
    mode: str
    status: str
    filledQty: float = 0.0
    limitPrice: float | None = None
    reason: str | None = None
    expiresAt: str | None = None
    errorCode: str | None = None
    error: str | None = None
    attempts: int
    createdAt: str
    updatedAt: str


class TradesPage(_Model):
    items: list[Trade]
    nextCursor: str | None = None


class OpenPosition(_Model):
    id: int
    exchange: str
    symbol: str
    side: Literal["LONG", "SHORT"]
    size: float
    entryPrice: float
    leverage: float
    mode: str
    markPrice: float | None = None
    markError: str | None = None
    unrealizedPnl: float | None = None
    liquidationPrice: float | None = None
    margin: float
    notional: float
    realizedPnl: float
    fees: float
    requestId: str
    openedAt: str
    updatedAt: str


class PositionsResult(_Model):
    items: list[OpenPosition]
    nextCursor: str | None = None
    mode: Literal["paper", "live", "all"] = "all"  # the book shown


class OpenOrder(_Model):
    """A resting order (trades row in status Resting), followed until it fills, is cancelled or expires."""

    requestId: str
    tradeId: str
    orderId: str | None = None
    clientOrderId: str
    exchange: str
    symbol: str
    side: str
    action: str
    orderType: str
    quantity: float
    filledQty: float
    limitPrice: float | None = None
    avgPrice: float | None = None
    fee: float
    mode: str
    status: str
    reason: str | None = None
    createdAt: str
    updatedAt: str
    expiresAt: str | None = None


class OrderResult(_Model):
    """trade-worker's account of one order: what `DELETE /v1/orders/{requestId}` answers (and the
    `result` of a webhook's 200 / 202 Resting, and of an OrderOutcome)."""

    orderId: str | None = None
    clientOrderId: str
    status: str
    exchange: str
    symbol: str
    side: str
    action: str
    quantity: float
    executedQty: float = 0.0  # filled so far
    price: float | None = None  # average fill price
    limitPrice: float | None = None
    fee: float = 0.0
    realizedPnl: float = 0.0
    leverage: float | None = None
    mode: str
    reason: str | None = None
    expiresAt: str | None = None
    timestamp: str | None = None


class OrdersResult(_Model):
    items: list[OpenOrder]
    nextCursor: str | None = None


class OrderOutcome(_Model):
    """One cancel or close of a flatten: its request id and what became of it."""

    requestId: str
    exchange: str
    symbol: str
    mode: str
    side: str
    size: float | None = None  # closes: the position's size
    status: str  # Filled | Cancelled | Rejected | Resting | in_progress | unknown | error | already_flat | closing
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    note: str | None = None  # already_flat (requestId: what closed it), closing (requestId: what closes it)


class FlattenScope(_Model):
    mode: str
    exchange: str | None = None
    symbol: str | None = None


class FlattenResult(_Model):
    scope: FlattenScope
    cancelled: list[OrderOutcome]
    closes: list[OrderOutcome]
    closed: int
    alreadyFlat: int = 0  # not sent: flat already
    closing: int = 0  # not sent: another close of the desk is closing it
    failed: int
    time: str


class DailyPnl(_Model):
    date: str
    pnl: float
    fees: float
    fills: int
    cumulative: float


class HoldingTimes(_Model):
    closedPositions: int
    averageSeconds: float | None
    longestSeconds: float | None
    shortestSeconds: float | None


class StatsResult(_Model):
    mode: str | None = None  # paper | live | all: the book the figures are of
    tradeCount: int
    closingTrades: int
    wins: int
    losses: int
    winRate: float | None = None
    realizedPnl: float
    fees: float
    netRealizedPnl: float
    unrealizedPnl: float
    dailyPnl: list[DailyPnl]
    sharpeRatio: float | None = None
    maxDrawdown: float
    openPositions: int
    unpricedPositions: list[str]
    holding: HoldingTimes


class EquityPoint(_Model):
    t: str  # the time of the (last) fill of the point
    equity: float  # cumulative net realized P&L after it
    peak: float  # the running peak of equity (from 0)
    drawdown: float  # the largest fall below the peak within the point's fills (>= 0)
    fills: int
    closing: int  # closing fills among them


class EquityCurve(_Model):
    """`GET /v1/stats/equity`: the equity curve of one book, from its fills."""

    mode: str  # paper | live | all
    since: str | None = None
    points: list[EquityPoint]
    fills: int
    closingTrades: int
    fillsPerPoint: int
    netRealizedPnl: float
    maxDrawdown: float  # over the points shown (since `since`)
    maxDrawdownAllTime: float


class LogsPage(_Model):
    items: list[LogEntry]
    nextCursor: str | None = None


class AlertEntry(_Model):
    id: int
    createdAt: str
    level: str
    source: str
    requestId: str | None = None
    message: str
    delivery: Literal["raised", "outbox", "pending", "sent", "failed", "muted"]
    error: str | None = None
    nextAttemptAt: str | None = None  # pending only
    attempts: int = 0
    sentAt: str | None = None


class AlertsPage(_Model):
    items: list[AlertEntry]
    nextCursor: str | None = None


# --------------------------------------------------------------------------- /v1/signals/{id}/timeline
StageKind = Literal[
    "received", "validated", "rejected", "locked", "resend", "delivered", "queued", "queue-delivery", "order",
    "exchange-call", "exchange-unavailable", "fill", "position", "balance", "resting", "ended", "retry",
    "dead-letter", "queue", "log", "call", "alert", "answered", "outcome"]


class TimelineStage(_Model):
    at: str | None = None  # ISO time of the stage (None: its record carries no time)
    offsetMs: float | None = None  # since the first stage (the webhook's arrival)
    kind: StageKind
    worker: str | None = None
    level: str | None = None
    summary: str
    details: Any = None  # what the record holds, secrets redacted
    source: Literal["ledger", "log", "analytics", "queue"]


class SwapRecord(_Model):
    """A swap as the ledger keeps it; `*Units` amounts are in the tokens' smallest units."""

    exchange: str
    status: str
    chain: str
    router: str
    tokenIn: str
    tokenOut: str
    amountIn: str
    recipient: str | None = None
    txHash: str | None = None
    explorerUrl: str | None = None
    blockNumber: int | None = None
    gasUsed: int | None = None
    approveTxHash: str | None = None
    amountInUnits: str | None = None
    quotedOutUnits: str | None = None
    amountOutMinUnits: str | None = None

    def summary(self) -> str:
        """One line for the timeline's heading (CLI and cockpit)."""
        text = f"swap: {self.amountIn} {self.tokenIn} -> {self.tokenOut} on {self.chain}"
        if self.txHash:
            text += f", tx {self.txHash}" + (f" (block {self.blockNumber})" if self.blockNumber is not None else "")
        if self.quotedOutUnits is not None:
            text += f", quoted {self.quotedOutUnits} out, at least {self.amountOutMinUnits} (smallest units)"
        return text


class TimelineSignal(_Model):
    status: str
    errorCode: str | None = None
    error: str | None = None
    source: str | None = None
    exchange: str | None = None
    symbol: str | None = None
    action: str | None = None
    quantity: float | None = None
    reason: str | None = None
    createdAt: str
    updatedAt: str
    swap: SwapRecord | None = None  # a swap's recorded outcome ("exchange": "dex")


class TimelineTrade(_Model):
    status: str
    mode: str
    exchange: str
    symbol: str
    side: str
    quantity: float
    filledQty: float
    price: float | None = None
    fee: float
    realizedPnl: float
    orderId: str | None = None
    clientOrderId: str
    attempts: int


class RelatedSignal(_Model):
    requestId: str
    status: str | None = None
    errorCode: str | None = None
    at: str | None = None


class Unavailable(_Model):
    source: str
    reason: str


class SignalTimeline(_Model):
    requestId: str
    signal: TimelineSignal | None = None  # None: the request never became a signal (refused before auth)
    trade: TimelineTrade | None = None
    original: RelatedSignal | None = None  # the signal this request repeated (a resend)
    resends: list[RelatedSignal] = []
    stages: list[TimelineStage]  # in order; the last is always the signal's state now ("outcome")
    truncated: bool
    maxStages: int
    unavailable: list[Unavailable] = []
    time: str


# --------------------------------------------------------------------------- config
class KvEntry(_Model):
    key: str
    type: str | None = None
    expected: str | None = None
    description: str | None = None
    default: Any = None
    raw: str | None = None
    value: Any = None
    source: Literal["kv", "default", "unset"]
    error: str | None = None
    previous: str | None = None  # PUT only


class KvList(_Model):
    items: list[KvEntry]
    nextCursor: str | None = None


class AlertPosted(_Model):
    sent: bool


class KvDeleted(_Model):
    key: str
    deleted: bool
    previous: str | None = None
    default: Any = None


# --------------------------------------------------------------------------- queues
class QueueInfo(_Model):
    name: str
    depth: int
    ready: int
    delayed: int
    inFlight: int
    oldestEnqueuedAt: str | None = None


class DeadLetter(_Model):
    id: str
    requestId: str | None = None
    symbol: str | None = None
    action: str | None = None
    exchange: str | None = None
    lastError: str | None = None
    attempts: int | None = None
    deadLetteredAt: str | None = None
    originQueue: str | None = None


class DeadLetters(_Model):
    queue: str
    count: int
    shown: int
    items: list[DeadLetter]


class QueuesResult(_Model):
    queues: list[QueueInfo]
    deadLetters: DeadLetters


class ReplayResult(_Model):
    id: str
    requestId: str | None = None
    queue: str
    replayed: bool


# --------------------------------------------------------------------------- SQL
class QueryResult(_Model):
    columns: list[str]
    rows: list[dict[str, Any]]
    rowCount: int
    truncated: bool
    maxRows: int


# --------------------------------------------------------------------------- /v1/risk
class RiskTarget(_Model):
    number: int  # 1-based, in the order of trade:take_profit_targets
    profitPercent: float
    closeFraction: float
    moveStopToBreakEven: bool
    price: float  # LONG entry × (1 + p/100), SHORT entry × (1 − p/100)


class RiskPosition(_Model):
    positionId: int
    mode: Literal["paper", "live"]
    exchange: str
    symbol: str
    side: Literal["LONG", "SHORT"]
    size: float
    entryPrice: float
    markPrice: float | None = None
    markError: str | None = None
    unrealizedPnl: float | None = None
    trailingPercent: float  # the symbol's override, else trade:trailing_stop_percent (0: off)
    seenByRun: bool  # False: no run has seen it yet (no watermark, no stop)
    watermark: float | None = None
    stopPrice: float | None = None
    stopKind: Literal["trailing", "break_even"] | None = None
    distanceToStopPercent: float | None = None  # room before the stop, % of the mark; <= 0: crossed
    targetsDone: int
    targetsTotal: int
    nextTarget: RiskTarget | None = None
    closing: bool  # its close was decided; a pending action finishes it


class RiskDrawdown(_Model):
    mode: Literal["paper", "live"]
    exchange: str
    day: str
    startEquity: float
    startTakenAt: str
    equity: float
    drawdownPercent: float
    limitPercent: float  # trade:max_daily_drawdown_percent now (0: off)
    trippedAt: str | None = None
    measuredAt: str  # when the run that measured it started
    runId: int


class RiskRun(_Model):
    id: int
    trigger: str
    status: Literal["running", "ok", "error", "skipped"]
    startedAt: str
    finishedAt: str | None = None
    durationMs: float | None = None
    positionsSeen: int
    actions: int
    errors: int
    ageSeconds: float | None = None  # /v1/risk's lastRun only
    details: dict[str, Any] | None = None  # /v1/risk/runs only: actions, errors, drawdowns, skipped, reconciliation


class ReconciliationIssue(_Model):
    id: int
    exchange: str
    symbol: str
    kind: Literal["size", "side", "missing_at_exchange", "not_in_ledger"]
    ledgerPositionId: int | None = None
    ledgerSide: str | None = None
    ledgerSize: float | None = None
    exchangeSide: str | None = None
    exchangeSize: float | None = None
    status: Literal["open", "cleared"]
    firstSeenAt: str
    lastSeenAt: str
    clearedAt: str | None = None
    firstRunId: int | None = None
    lastRunId: int | None = None
    clearedRunId: int | None = None


class RiskReconciliation(_Model):
    openIssues: list[ReconciliationIssue]


class RiskSettings(_Model):
    trailingStopPercent: float
    takeProfitTargets: list[dict[str, Any]]
    maxDailyDrawdownPercent: float
    errors: list[str]  # corrupt stored values (read as their defaults)


class RiskStatus(_Model):
    at: str
    intervalMinutes: int
    lastRun: RiskRun | None = None
    stale: bool  # no run, or the last one is older than twice the interval
    killSwitch: KillSwitch
    settings: RiskSettings
    positions: list[RiskPosition]
    drawdowns: list[RiskDrawdown]
    reconciliation: RiskReconciliation


class RiskRunsPage(_Model):
    items: list[RiskRun]
    nextCursor: str | None = None


class RiskConfigChange(_Model):
    key: str
    previous: str | None = None
    stored: str | None = None  # None: removed (the default applies)


class RiskConfig(KvList):
    changed: list[RiskConfigChange] | None = None  # POST only


# --------------------------------------------------------------------------- /v1/watchdog
WatchdogState = Literal["ok", "quiet", "outside_hours", "no_expectation"]


class WatchdogPending(_Model):
    kind: Literal["quiet", "back"]
    createdAt: str
    attempts: int
    error: str | None = None


class WatchdogSource(_Model):
    source: str
    lastSignalAt: str | None = None
    lastKind: Literal["signal", "heartbeat"] | None = None
    lastRequestId: str | None = None
    ageSeconds: float | None = None
    signals: int = 0
    heartbeats: int = 0
    watchingSince: str | None = None
    expectation: dict[str, Any] | None = None  # {"maxGapMinutes", "hours"?: {"days", "from", "to", "tz"}}
    expectationError: str | None = None
    state: WatchdogState
    gapMinutes: float | None = None  # minutes of the gap used (inside the hours, when it has hours)
    quietSince: str | None = None
    alerted: bool = False
    pendingAlerts: list[WatchdogPending] = []


class WatchdogCheck(_Model):
    checkedAt: str
    sources: int
    quiet: int
    errors: list[str] = []


class WatchdogResult(_Model):
    time: str
    lastCheck: WatchdogCheck | None = None
    sources: list[WatchdogSource]


# --------------------------------------------------------------------------- /v1/reports
class ReportItem(_Model):
    name: str  # daily-pnl-YYYY-MM-DD-HH (the UTC hour it was made in)
    createdAt: str
    period: str | None = None  # 12h | 24h | 7d
    since: str | None = None
    until: str | None = None
    htmlBytes: int | None = None
    pdfBytes: int | None = None  # None: no PDF (pdfError says why)
    renderer: str | None = None
    pdfError: str | None = None


class ReportsList(_Model):
    items: list[ReportItem] = []
    nextCursor: str | None = None
    retentionDays: int = 30


class ReportDelivery(_Model):
    channel: Literal["telegram", "outbox", "none"]
    method: Literal["sendDocument", "sendMessage"] | None = None
    messageId: int | None = None
    error: str | None = None


class ReportBook(_Model):
    mode: str
    tradeCount: int = 0
    closingTrades: int = 0
    winRate: float | None = None
    realizedPnl: float = 0.0
    fees: float = 0.0
    netRealizedPnl: float = 0.0
    unrealizedPnl: float = 0.0
    openPositions: int = 0


class ReportResult(_Model):
    report: ReportItem
    books: list[ReportBook] = []
    telegram: ReportDelivery
    swept: int = 0


# --------------------------------------------------------------------------- /v1/wallet
class WalletBalance(_Model):
    chain: str
    chainId: int
    address: str
    token: str | None = None
    symbol: str | None = None
    decimals: int
    balanceRaw: str
    balance: str


class WalletEstimate(_Model):
    chain: str
    chainId: int
    from_: str = Field(alias="from")
    gas: int
    gasPriceGwei: str
    maxFeePerGasGwei: str
    maxPriorityFeePerGasGwei: str
    maxCost: str
    symbol: str


class WalletTx(_Model):
    requestId: str
    chain: str
    chainId: int
    from_: str = Field(alias="from")
    to: str
    valueWei: str
    tokenAddress: str | None = None
    nonce: int
    txHash: str | None = None
    status: Literal["signing", "pending", "confirmed", "reverted", "rejected"]
    blockNumber: int | None = None
    gasUsed: int | None = None
    effectiveGasPrice: str | None = None
    error: str | None = None
    explorerUrl: str | None = None
    createdAt: str
    updatedAt: str
    replayed: bool | None = None


class WalletChainBalance(_Model):
    chain: str
    chainId: int
    symbol: str
    address: str | None = None
    balance: str | None = None
    error: str | None = None


class WalletBalances(_Model):
    items: list[WalletChainBalance] = []
    error: str | None = None
# --------------------------------------------------------------------------- /v1/agent/* (the AI gateway)
class AgentProviderHealth(_Model):
    provider: str
    kind: str
    model: str
    configured: bool
    notConfiguredReason: str | None = None
    breaker: Literal["closed", "open", "half-open"]
    consecutiveFailures: int = 0
    lastSuccessAt: str | None = None
    lastLatencyMs: int | None = None
    lastError: str | None = None
    lastFailureAt: str | None = None


class AgentMemoryError(_Model):
    item: str
    error: str | None = None
    retryAt: str | None = None


class AgentMemory(_Model):
    available: bool
    reason: str | None = None
    fills: int = 0
    embedded: int = 0
    reportsEmbedded: int = 0
    pending: int = 0
    failing: int = 0
    lastEmbeddedAt: str | None = None
    models: dict[str, int] = {}
    lastError: AgentMemoryError | None = None
    embeddingProviders: list[str] = []


class AgentHealth(_Model):
    providers: list[AgentProviderHealth] = []
    memory: AgentMemory


class AgentModel(_Model):
    name: str
    kind: str
    model: str
    baseUrl: str
    keySecret: str | None = None
    timeoutMs: int
    retries: int
    images: bool
    embeddingModel: str | None = None
    tools: bool
    configured: bool
    notConfiguredReason: str | None = None
    capabilities: list[str] = []


class AgentModels(_Model):
    providers: list[AgentModel] = []


class AgentUsageDay(_Model):
    day: str
    provider: str
    model: str
    requests: int
    inputTokens: int
    outputTokens: int
    cost: float | None = None
    unpricedRequests: int = 0


class AgentUsage(_Model):
    days: list[AgentUsageDay] = []


class AgentTokens(_Model):
    inputTokens: int
    outputTokens: int
    cost: float | None = None


class AgentTestModel(_Model):
    provider: str
    ok: bool
    model: str | None = None
    text: str | None = None
    latencyMs: int | None = None
    usage: AgentTokens | None = None
    error: str | None = None
    message: str | None = None
