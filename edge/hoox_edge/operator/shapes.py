"""The operator API's answers: the `result` of every `/v1` route, defined once, here.

The route handlers (`workers/operator_api.py`, `operator/*.py`, `risk/surface.py`,
`watchdog/check.py`) build these; mypy checks that what they build has these keys and types. The
client's pydantic models (`hoox_cli/core/models.py`) carry the same names and fields, and
`tests/test_contract.py` validates real answers against strict copies of them (no unknown key,
every `Required` key present), so a field renamed here or there fails a test.
Keys are the JSON names (camelCase). A key is always sent (possibly null) unless it is
`NotRequired`; those say when they are sent. docs/operator-api.md defines the figures.
Plain TypedDicts: the edge carries no pydantic (DESIGN decision 10).
"""

from typing import Any, Literal, NotRequired, TypedDict

# `GET /v1/stream?topics=`: every topic, and the type of the events it carries. The one list of stream
# topics: the edge's stream, HooxClient and the cockpit read it from here.
STREAM_TOPICS: dict[str, str] = {"trades": "trade", "logs": "log", "alerts": "alert", "status": "status",
                                 "risk": "risk"}


class KillSwitch(TypedDict):
    on: bool
    reason: str | None
    alerted: NotRequired[bool]  # POST only: the alert reached telegram-worker
    eventId: NotRequired[int | None]  # POST only: id of the `status` event on the stream
    flatten: NotRequired["FlattenResult"]  # POST with flatten only: the books closed after the switch


Features = Literal["available", "partial", "not available"]


class WorkerHealth(TypedDict):
    name: str
    status: Literal["online", "degraded", "offline"]
    latencyMs: float | None
    error: str | None
    features: NotRequired[Features]  # a worker that answered 200 only: what it serves, as its /health says


class QueueSummary(TypedDict):
    available: bool
    error: str | None
    depth: int | None
    inFlight: int | None
    deadLetters: int | None


class ExchangeStatus(TypedDict):
    name: str
    credentials: bool  # its API key secrets are set on trade-worker (never their values)
    secrets: list[str]
    endpoint: str  # production | testnet | custom | invalid setting
    live: bool  # trade:mode is live and the keys are set: its signals trade for real


class ExchangesStatus(TypedDict):
    available: bool
    error: str | None
    items: list[ExchangeStatus]


class StatusResult(TypedDict):
    killSwitch: KillSwitch
    tradingMode: str
    queueMode: str
    workers: list[WorkerHealth]
    queues: QueueSummary
    lastSignalAt: str | None
    exchanges: ExchangesStatus | None
    version: str | None
    runtime: Literal["local", "cloudflare"]
    time: str


class WindowFigures(TypedDict):
    requests: int
    errors: int
    clientErrors: int
    refused: int | None  # of clientErrors, 401/403: callers turned away (None: an older edge)
    p50Ms: float | None
    p95Ms: float | None


class DurableObjectInfo(TypedDict):
    className: str
    instances: int | None
    nextAlarm: str | None
    pendingAlarms: int | None
    note: str | None


class BindingInfo(TypedDict):
    name: str
    kind: str
    resource: str


class LogEntry(TypedDict):
    id: int
    createdAt: str
    level: str
    worker: str
    requestId: str | None
    message: str
    details: Any


class CpuFigures(TypedDict):
    source: Literal["local runtime", "cloudflare"]
    window: str  # "5m"
    invocations: int
    p50Ms: float | None  # None: no invocation in the window
    p95Ms: float | None
    coreShare: float | None  # CPU seconds per second of the window: 1.0 is one core busy all the time


class MemorySample(TypedDict):
    t: str
    rssBytes: int


class MemoryFigures(TypedDict):
    scope: Literal["process"]  # one process serves every worker: no per-worker figure exists
    rssBytes: int | None
    samples: list[MemorySample]  # GET /v1/workers/{name} only (the list has [])
    note: str


class WorkerDetail(TypedDict):
    name: str
    description: str
    status: Literal["online", "degraded", "offline"]
    healthLatencyMs: float | None
    healthError: str | None
    features: Features | None
    uptimeSeconds: float | None
    uptimeNote: str | None
    traffic: dict[str, WindowFigures] | None  # keys "5m", "1h"
    trafficError: str | None
    signalsProcessed: int | None
    durableObjects: list[DurableObjectInfo]
    bindings: list[BindingInfo]
    crons: list[str]
    public: bool
    cpu: CpuFigures | None
    cpuNote: str | None
    memory: MemoryFigures | None
    memoryNote: str | None
    recentLogs: NotRequired[list[LogEntry]]  # GET /v1/workers/{name} only


class LatencyBucket(TypedDict):
    start: str
    requests: int
    errors: int
    p50Ms: float | None  # None: no request in the bucket
    p95Ms: float | None


LatencyHistory = TypedDict("LatencyHistory", {
    "worker": str,
    "window": str,
    "bucketSeconds": int,
    "from": str,
    "to": str,
    "available": bool,
    "error": str | None,
    "truncated": bool,
    "buckets": list[LatencyBucket],
})


SignalVolume = TypedDict("SignalVolume", {
    "days": int,
    "from": str,
    "to": str,
    "timezone": str,
    "weekdays": list[str],  # the rows of `counts`, Monday first
    "total": int,
    "peak": int,  # the largest cell
    "counts": list[list[int]],  # [weekday][hour 0-23]: signals received
})


class WorkersResult(TypedDict):
    items: list[WorkerDetail]
    nextCursor: str | None


class Trade(TypedDict):
    seq: int  # the row's sequence number: the cursor of /v1/trades
    id: str
    requestId: str
    exchange: str
    symbol: str
    action: str
    side: str
    orderType: str
    quantity: float
    price: float | None
    fee: float
    realizedPnl: float
    leverage: float
    orderId: str | None
    clientOrderId: str
    mode: str
    status: str
    filledQty: float
    limitPrice: float | None
    reason: str | None
    expiresAt: str | None
    errorCode: str | None
    error: str | None
    attempts: int
    createdAt: str
    updatedAt: str


class TradesPage(TypedDict):
    items: list[Trade]
    nextCursor: str | None


class OpenPosition(TypedDict):
    id: int
    exchange: str
    symbol: str
    side: Literal["LONG", "SHORT"]
    size: float
    entryPrice: float
    leverage: float
    mode: Literal["paper", "live"]
    markPrice: float | None
    markError: str | None
    unrealizedPnl: float | None
    liquidationPrice: float | None
    margin: float
    notional: float
    realizedPnl: float
    fees: float
    requestId: str
    openedAt: str
    updatedAt: str


class PositionsResult(TypedDict):
    items: list[OpenPosition]
    nextCursor: str | None
    mode: str  # the book shown: paper | live | all


class OpenOrder(TypedDict):
    """A resting order (trades row in status Resting), followed until it fills, is cancelled or expires."""

    requestId: str
    tradeId: str
    orderId: str | None
    clientOrderId: str
    exchange: str
    symbol: str
    side: str
    action: str
    orderType: str
    quantity: float
    filledQty: float
    limitPrice: float | None
    avgPrice: float | None
    fee: float
    mode: str
    status: str
    reason: str | None
    createdAt: str
    updatedAt: str
    expiresAt: str | None


class OrderResult(TypedDict):
    """trade-worker's account of one order: what `DELETE /v1/orders/{requestId}` answers (and the
    `result` of a webhook's 200 / 202 Resting, and of an OrderOutcome)."""

    orderId: str | None
    clientOrderId: str
    status: str
    exchange: str
    symbol: str
    side: str
    action: str
    quantity: float
    executedQty: float  # filled so far
    price: float | None  # average fill price
    limitPrice: float | None
    fee: float
    realizedPnl: float
    leverage: float | None
    mode: str
    reason: str | None
    expiresAt: str | None
    timestamp: str | None


class OrdersResult(TypedDict):
    items: list[OpenOrder]
    nextCursor: str | None


class OrderOutcome(TypedDict):
    """One cancel or close of a flatten: its request id and what became of it."""

    requestId: str
    exchange: str
    symbol: str
    mode: str
    side: str
    size: NotRequired[float]  # closes only: the position's size
    # Filled | Cancelled | Rejected | Resting | in_progress | unknown | error; a close also already_flat
    # (requestId: the request that closed it) or closing (requestId: the request closing it now)
    status: str
    result: NotRequired[dict[str, Any] | None]  # what trade-worker answered, when it answered
    error: NotRequired[dict[str, Any]]  # {"code", "message"} when it did not end well
    note: NotRequired[str]  # already_flat, closing: in words


class FlattenScope(TypedDict):
    mode: str
    exchange: str | None
    symbol: str | None


class FlattenResult(TypedDict):
    scope: FlattenScope
    cancelled: list[OrderOutcome]
    closes: list[OrderOutcome]
    closed: int
    alreadyFlat: int  # closes not sent: the position was flat already
    closing: int  # closes not sent: another close of the desk is closing the position
    failed: int
    time: str


class DailyPnl(TypedDict):
    date: str
    pnl: float
    fees: float
    fills: int
    cumulative: float


class HoldingTimes(TypedDict):
    """How long the book's positions were held, open to close (the closed ones)."""
    closedPositions: int
    averageSeconds: float | None  # null while no position has closed
    longestSeconds: float | None
    shortestSeconds: float | None


class StatsResult(TypedDict):
    mode: str | None  # paper | live | all: the book the figures are of
    tradeCount: int
    closingTrades: int
    wins: int
    losses: int
    winRate: float | None
    realizedPnl: float
    fees: float
    netRealizedPnl: float
    unrealizedPnl: float
    dailyPnl: list[DailyPnl]
    sharpeRatio: float | None
    maxDrawdown: float
    openPositions: int
    unpricedPositions: list[str]
    holding: HoldingTimes


class EquityPoint(TypedDict):
    t: str  # the time of the (last) fill of the point
    equity: float  # cumulative net realized P&L after it
    peak: float  # the running peak of equity (from 0)
    drawdown: float  # the largest fall below the peak within the point's fills (>= 0)
    fills: int
    closing: int  # closing fills among them


class EquityCurve(TypedDict):
    """`GET /v1/stats/equity`: the equity curve of one book, from its fills."""

    mode: str  # paper | live | all
    since: str | None
    points: list[EquityPoint]
    fills: int
    closingTrades: int
    fillsPerPoint: int
    netRealizedPnl: float
    maxDrawdown: float  # over the points shown (since `since`)
    maxDrawdownAllTime: float


class LogsPage(TypedDict):
    items: list[LogEntry]
    nextCursor: str | None


class AlertEntry(TypedDict):
    id: int
    createdAt: str
    level: str
    source: str
    requestId: str | None
    message: str
    # sent; pending (Telegram away or rate-limiting: nextAttemptAt); failed (error says why); muted (its
    # kind is muted); outbox (no bot token when it was raised: kept locally); raised (written by the worker
    # that raised it with its record, e.g. a fill: telegram-worker's next drain routes it)
    delivery: Literal["raised", "outbox", "pending", "sent", "failed", "muted"]
    error: str | None  # failed: why; pending: the last try's error
    nextAttemptAt: str | None  # pending only
    attempts: int  # sends Telegram did not take
    sentAt: str | None


class AlertsPage(TypedDict):
    items: list[AlertEntry]
    nextCursor: str | None


StageKind = Literal[
    "received", "validated", "rejected", "locked", "resend", "delivered", "queued", "queue-delivery", "order",
    "exchange-call", "exchange-unavailable", "fill", "position", "balance", "resting", "ended", "retry",
    "dead-letter", "queue", "log", "call", "alert", "answered", "outcome"]


StageSource = Literal["ledger", "log", "analytics", "queue"]


class TimelineStage(TypedDict):
    at: str | None  # ISO time of the stage (None: its record carries no time)
    offsetMs: float | None  # since the first stage (the webhook's arrival)
    kind: StageKind
    worker: str | None
    level: str | None
    summary: str
    details: Any  # what the record holds, secrets redacted
    source: StageSource


class SwapRecord(TypedDict):
    """What the ledger keeps of a swap that ended (`hoox_edge.dex.record`). Amounts in `*Units` are in
    the tokens' smallest units; None when the outcome was learned from the wallet's replay of a swap."""

    exchange: str
    status: str
    chain: str
    router: str
    tokenIn: str
    tokenOut: str
    amountIn: str
    recipient: str | None
    txHash: str | None
    explorerUrl: str | None
    blockNumber: int | None
    gasUsed: int | None
    approveTxHash: str | None
    amountInUnits: str | None
    quotedOutUnits: str | None
    amountOutMinUnits: str | None


class TimelineSignal(TypedDict):
    status: str
    errorCode: str | None
    error: str | None
    source: str | None
    exchange: str | None
    symbol: str | None
    action: str | None
    quantity: float | None
    reason: str | None
    createdAt: str
    updatedAt: str
    swap: SwapRecord | None  # a swap's recorded outcome ("exchange": "dex"); None for an exchange order


class TimelineTrade(TypedDict):
    status: str
    mode: str
    exchange: str
    symbol: str
    side: str
    quantity: float
    filledQty: float
    price: float | None
    fee: float
    realizedPnl: float
    orderId: str | None
    clientOrderId: str
    attempts: int


class RelatedSignal(TypedDict):
    requestId: str
    status: str | None
    errorCode: str | None
    at: str | None


class Unavailable(TypedDict):
    source: str
    reason: str


class SignalTimeline(TypedDict):
    requestId: str
    signal: TimelineSignal | None  # None: the request never became a signal (refused before auth)
    trade: TimelineTrade | None
    original: RelatedSignal | None  # the signal this request repeated (a resend)
    resends: list[RelatedSignal]
    stages: list[TimelineStage]  # in order; the last is always the signal's state now ("outcome")
    truncated: bool
    maxStages: int
    unavailable: list[Unavailable]
    time: str


class KvEntry(TypedDict):
    key: str
    type: str | None
    expected: str | None
    description: str | None
    default: Any
    raw: str | None
    value: Any
    source: Literal["kv", "default", "unset"]
    error: str | None
    previous: NotRequired[str | None]  # PUT only


class KvList(TypedDict):
    items: list[KvEntry]
    nextCursor: str | None


class AlertPosted(TypedDict):
    sent: bool  # telegram-worker took it (delivered, or kept in its outbox without a bot token)


class KvDeleted(TypedDict):
    key: str
    deleted: bool
    previous: str | None
    default: Any


class QueueInfo(TypedDict):
    name: str
    depth: int
    ready: int
    delayed: int
    inFlight: int
    oldestEnqueuedAt: str | None


class DeadLetter(TypedDict):
    id: str
    requestId: str | None
    symbol: str | None
    action: str | None
    exchange: str | None
    lastError: str | None
    attempts: int | None
    deadLetteredAt: str | None
    originQueue: str | None


class DeadLetters(TypedDict):
    queue: str
    count: int
    shown: int
    items: list[DeadLetter]


class QueuesResult(TypedDict):
    queues: list[QueueInfo]
    deadLetters: DeadLetters


class ReplayResult(TypedDict):
    id: str
    requestId: str | None
    queue: str
    replayed: bool


class QueryResult(TypedDict):
    columns: list[str]
    rows: list[dict[str, Any]]
    rowCount: int
    truncated: bool
    maxRows: int


class RiskTarget(TypedDict):
    number: int  # 1-based, in the order of trade:take_profit_targets
    profitPercent: float
    closeFraction: float
    moveStopToBreakEven: bool
    price: float  # LONG entry × (1 + p/100), SHORT entry × (1 − p/100)


class RiskPosition(TypedDict):
    positionId: int
    mode: Literal["paper", "live"]
    exchange: str
    symbol: str
    side: Literal["LONG", "SHORT"]
    size: float
    entryPrice: float
    markPrice: float | None
    markError: str | None
    unrealizedPnl: float | None
    trailingPercent: float  # the symbol's override, else trade:trailing_stop_percent (0: off)
    seenByRun: bool  # False: no run has seen it yet (no watermark, no stop)
    watermark: float | None
    stopPrice: float | None
    stopKind: Literal["trailing", "break_even"] | None
    distanceToStopPercent: float | None  # room before the stop, % of the mark; <= 0: crossed
    targetsDone: int
    targetsTotal: int
    nextTarget: RiskTarget | None
    closing: bool  # its close was decided; a pending action finishes it


class RiskDrawdown(TypedDict):
    mode: Literal["paper", "live"]
    exchange: str
    day: str
    startEquity: float
    startTakenAt: str
    equity: float
    drawdownPercent: float
    limitPercent: float  # trade:max_daily_drawdown_percent now (0: off)
    trippedAt: str | None
    measuredAt: str  # when the run that measured it started
    runId: int


class RiskRun(TypedDict):
    id: int
    trigger: str
    status: Literal["running", "ok", "error", "skipped"]
    startedAt: str
    finishedAt: str | None
    durationMs: float | None
    positionsSeen: int
    actions: int
    errors: int
    ageSeconds: NotRequired[float | None]  # /v1/risk's lastRun only
    # /v1/risk/runs only: actions, errors, drawdowns, skipped, reconciliation
    details: NotRequired[dict[str, Any] | None]


class ReconciliationIssue(TypedDict):
    id: int
    exchange: str
    symbol: str
    kind: Literal["size", "side", "missing_at_exchange", "not_in_ledger"]
    ledgerPositionId: int | None
    ledgerSide: str | None
    ledgerSize: float | None
    exchangeSide: str | None
    exchangeSize: float | None
    status: Literal["open", "cleared"]
    firstSeenAt: str
    lastSeenAt: str
    clearedAt: str | None
    firstRunId: int | None
    lastRunId: int | None
    clearedRunId: int | None


class RiskReconciliation(TypedDict):
    openIssues: list[ReconciliationIssue]


class RiskSettings(TypedDict):
    trailingStopPercent: float
    takeProfitTargets: list[dict[str, Any]]
    maxDailyDrawdownPercent: float
    errors: list[str]  # corrupt stored values (read as their defaults)


class RiskStatus(TypedDict):
    at: str
    intervalMinutes: int
    lastRun: RiskRun | None
    stale: bool  # no run, or the last one is older than twice the interval
    killSwitch: KillSwitch
    settings: RiskSettings
    positions: list[RiskPosition]
    drawdowns: list[RiskDrawdown]
    reconciliation: RiskReconciliation


class RiskRunsPage(TypedDict):
    items: list[RiskRun]
    nextCursor: str | None


class RiskConfigChange(TypedDict):
    key: str
    previous: str | None
    stored: str | None  # None: removed (the default applies)


class RiskConfig(KvList):
    changed: NotRequired[list[RiskConfigChange]]  # POST only


WatchdogState = Literal["ok", "quiet", "outside_hours", "no_expectation"]


class WatchdogPending(TypedDict):
    kind: Literal["quiet", "back"]
    createdAt: str
    attempts: int
    error: str | None


class WatchdogSource(TypedDict):
    source: str
    lastSignalAt: str | None
    lastKind: Literal["signal", "heartbeat"] | None
    lastRequestId: str | None
    ageSeconds: float | None
    signals: int
    heartbeats: int
    watchingSince: str | None
    expectation: dict[str, Any] | None  # {"maxGapMinutes", "hours"?: {"days", "from", "to", "tz"}}
    expectationError: str | None
    state: WatchdogState
    gapMinutes: float | None  # minutes of the gap used (inside the hours, when it has hours)
    quietSince: str | None
    alerted: bool
    pendingAlerts: list[WatchdogPending]


class WatchdogCheck(TypedDict):
    checkedAt: str
    sources: int
    quiet: int
    errors: list[str]


class WatchdogResult(TypedDict):
    time: str
    lastCheck: WatchdogCheck | None
    sources: list[WatchdogSource]




class ReportItem(TypedDict):
    """A stored P&L report (report-worker's R2 bucket, reports/<name>.html and .pdf)."""
    name: str  # daily-pnl-YYYY-MM-DD-HH (UTC hour it was made in)
    createdAt: str
    period: str | None  # 12h | 24h | 7d
    since: str | None
    until: str | None
    htmlBytes: int | None
    pdfBytes: int | None  # None: no PDF (pdfError says why)
    renderer: str | None  # what made the PDF (chromium)
    pdfError: str | None


class ReportsList(TypedDict):
    items: list[ReportItem]
    nextCursor: str | None
    retentionDays: int


class ReportDelivery(TypedDict):
    channel: Literal["telegram", "outbox", "none"]  # outbox: no bot token, kept by telegram-worker
    method: Literal["sendDocument", "sendMessage"] | None
    messageId: int | None
    error: str | None


class ReportBook(TypedDict):
    mode: str
    tradeCount: int
    closingTrades: int
    winRate: float | None
    realizedPnl: float
    fees: float
    netRealizedPnl: float
    unrealizedPnl: float
    openPositions: int


class ReportResult(TypedDict):
    """`POST /v1/reports` (report-worker's `POST /report`): the report just made and where it went."""
    report: ReportItem
    books: list[ReportBook]
    telegram: ReportDelivery
    swept: int  # report objects older than the retention deleted by this run


# --------------------------------------------------------------------------- /v1/wallet (web3-wallet-worker)
class WalletBalance(TypedDict):
    """`POST /v1/wallet/balance`: a native or ERC-20 balance."""
    chain: str
    chainId: int
    address: str
    token: str | None  # the ERC-20's address; None: the native coin
    symbol: str | None  # None: the token has no symbol()
    decimals: int
    balanceRaw: str  # in the smallest unit (wei), as a decimal string
    balance: str  # in whole units, as a decimal string


WalletEstimate = TypedDict("WalletEstimate", {
    "chain": str, "chainId": int, "from": str, "gas": int, "gasPriceGwei": str, "maxFeePerGasGwei": str,
    "maxPriorityFeePerGasGwei": str, "maxCost": str, "symbol": str})
"""`POST /v1/wallet/estimate`: gas and fees of a transaction (maxCost: gas × max fee, native units)."""

WalletTx = TypedDict("WalletTx", {
    "requestId": str, "chain": str, "chainId": int, "from": str, "to": str, "valueWei": str,
    "tokenAddress": str | None, "nonce": int, "txHash": str | None,
    "status": Literal["signing", "pending", "confirmed", "reverted", "rejected"], "blockNumber": int | None,
    "gasUsed": int | None, "effectiveGasPrice": str | None, "error": str | None, "explorerUrl": str | None,
    "createdAt": str, "updatedAt": str,
    "replayed": NotRequired[bool],  # a send answered from the ledger: the request id was sent before
})
"""`POST /v1/wallet/send`, `GET /v1/wallet/tx/{requestId}`: a send as the ledger records it."""


class WalletChainBalance(TypedDict):
    """One chain of web3:chains: the wallet's native balance, or why it could not be read."""
    chain: str
    chainId: int
    symbol: str
    address: str | None
    balance: str | None  # whole units, a decimal string; None: see error
    error: str | None


class WalletBalances(TypedDict):
    """`GET /v1/wallet/balances`: the wallet's native balance on every configured chain (the cockpit's
    dashboard). error: why none could be read (web3-wallet-worker not running, web3:chains unusable)."""
    items: list[WalletChainBalance]
    error: str | None
# --------------------------------------------------------------------------- /v1/agent/* (the AI gateway)
class AgentProviderHealth(TypedDict):
    provider: str
    kind: str
    model: str
    configured: bool  # its key (and Workers AI's account id) is set
    notConfiguredReason: str | None
    breaker: Literal["closed", "open", "half-open"]
    consecutiveFailures: int
    lastSuccessAt: str | None
    lastLatencyMs: int | None
    lastError: str | None  # kind: reason, secrets masked
    lastFailureAt: str | None


class AgentMemoryError(TypedDict):
    item: str  # trade:<request id> | report:<name>
    error: str | None
    retryAt: str | None


class AgentMemory(TypedDict):
    """The desk assistant's memory (hoox_edge.ai.memory): the fills and reports embedded for retrieval."""
    available: bool  # agent-worker has its VECTORIZE binding
    reason: NotRequired[str]  # sent when it cannot work: no binding, or no embedding provider
    fills: int  # fills in the ledger
    embedded: int  # of them in the index
    reportsEmbedded: int
    pending: int
    failing: int  # items whose last try failed, waiting for their retry
    lastEmbeddedAt: str | None
    models: dict[str, int]  # embedding model: items embedded with it
    lastError: AgentMemoryError | None
    embeddingProviders: list[str]  # configured providers with an embeddingModel, in order


class AgentHealth(TypedDict):
    providers: list[AgentProviderHealth]  # in the order of agent:config
    memory: AgentMemory


class AgentModel(TypedDict):
    name: str
    kind: str
    model: str
    baseUrl: str
    keySecret: str | None  # the secret's name, never its value
    timeoutMs: int
    retries: int
    images: bool
    embeddingModel: str | None
    tools: bool  # offered the desk's read-only tools (hoox_edge.ai.tools)
    configured: bool
    notConfiguredReason: str | None
    capabilities: list[str]


class AgentModels(TypedDict):
    providers: list[AgentModel]


class AgentUsageDay(TypedDict):
    day: str
    provider: str
    model: str
    requests: int
    inputTokens: int
    outputTokens: int
    cost: float | None  # USD of the priced requests; None: no request of this row had a price
    unpricedRequests: int


class AgentUsage(TypedDict):
    days: list[AgentUsageDay]


class AgentTokens(TypedDict):
    inputTokens: int
    outputTokens: int
    cost: float | None


class AgentTestModel(TypedDict):
    provider: str
    ok: bool
    model: NotRequired[str]  # ok
    text: NotRequired[str]
    latencyMs: NotRequired[int]
    usage: NotRequired[AgentTokens]
    error: NotRequired[str]  # not ok: the kind (timeout, rate_limited, not_configured, ...)
    message: NotRequired[str]
