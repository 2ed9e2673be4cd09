"""The worker catalog: the one description of every worker.

It drives the local runtime's wiring, the rendered `wrangler.jsonc` files, the deploy order, the
secrets checks and the docs. Nothing else lists the workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from hoox_edge import exchange_catalog
from hoox_edge.wallet import config as wallet_config

BindingKind = Literal[
    "kv", "d1", "durable_object", "queue_producer", "r2", "analytics_engine", "service", "vectorize"
]

# Every worker binds DB so that it can write its own system_logs rows, and ANALYTICS_ENGINE so that
# it can record its own requests.
# Cloud resources, by the name they carry on Cloudflare (and under .hoox/state/ locally).
CONFIG_KV = "hoox-config"
SESSIONS_KV = "hoox-sessions"
TRADE_DB = "trade-data-db"
TRADE_QUEUE = "trade-execution"
TRADE_DLQ = "trade-execution-dlq"
SYSTEM_LOGS_BUCKET = "hoox-system-logs"
REPORTS_BUCKET = "trade-reports"
TELEMETRY_DATASET = "hoox_telemetry"
# The desk assistant's memory (agent-worker, hoox_edge.ai.memory): trade history as vectors, cosine
# metric, of the dimensions of the default embedding models (Workers AI @cf/baai/bge-base-en-v1.5 and
# Gemini text-embedding-004 both give 768).
DESK_MEMORY_INDEX = "hoox-desk-memory"
DESK_MEMORY_DIMENSIONS = 768


@dataclass(frozen=True)
class Binding:
    name: str  # attribute on env, e.g. CONFIG_KV
    kind: BindingKind
    resource: str  # namespace / database / queue / bucket / dataset / worker / Durable Object class


@dataclass(frozen=True)
class DurableObjectClass:
    class_name: str
    module: str  # python module that defines the class (portable code)


@dataclass(frozen=True)
class QueueConsumer:
    queue: str
    max_batch_size: int = 10
    max_batch_timeout: int = 5  # seconds
    max_retries: int = 10  # backstop; the trade-worker dead-letters by its own KV schedule first
    dead_letter_queue: str | None = None


@dataclass(frozen=True)
class Worker:
    name: str
    description: str
    module: str  # python module exposing `app` (ASGI) and optionally `scheduled` and `queue`
    port_offset: int  # local port = base port + offset
    bindings: tuple[Binding, ...] = ()
    durable_objects: tuple[DurableObjectClass, ...] = ()
    consumers: tuple[QueueConsumer, ...] = ()
    crons: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()  # required to run
    optional_secrets: tuple[str, ...] = ()  # features that need them say so when they are absent
    vars: tuple[tuple[str, str], ...] = ()
    public: bool = False  # reached from the internet (all others only through service bindings)
    enabled_by_default: bool = True

    @property
    def package_dir(self) -> str:
        """Folder under edge/ that holds this worker's wrangler.jsonc and entry.py."""
        return self.name

    def binding(self, name: str) -> Binding:
        for b in self.bindings:
            if b.name == name:
                return b
        raise KeyError(f"{self.name} has no binding {name}")

    def bindings_of(self, kind: BindingKind) -> list[Binding]:
        return [b for b in self.bindings if b.kind == kind]

    @property
    def all_secrets(self) -> tuple[str, ...]:
        return self.secrets + self.optional_secrets


def _kv(name: str = "CONFIG_KV", ns: str = CONFIG_KV) -> Binding:
    return Binding(name, "kv", ns)


def _svc(name: str, worker: str) -> Binding:
    return Binding(name, "service", worker)


_DB = Binding("DB", "d1", TRADE_DB)
# Every worker records its own requests (shared/app.py) for the operator API's figures.
_TELEMETRY = Binding("ANALYTICS_ENGINE", "analytics_engine", TELEMETRY_DATASET)
_TELEGRAM = _svc("TELEGRAM_SERVICE", "telegram-worker")
_ANALYTICS = _svc("ANALYTICS_SERVICE", "analytics-worker")
_TRADE = _svc("TRADE_SERVICE", "trade-worker")
_D1 = _svc("D1_SERVICE", "d1-worker")
_INTERNAL = "INTERNAL_KEY_BINDING"
_EXCHANGE_SECRETS = exchange_catalog.all_secrets()

DEFAULT_PORT = 8787

WORKERS: tuple[Worker, ...] = (
    Worker(
        name="hoox",
        description="Gateway: authenticates, de-duplicates and routes signals; serves the operator API",
        module="hoox_edge.workers.gateway",
        port_offset=0,
        public=True,
        bindings=(
            _kv(),
            _kv("SESSIONS_KV", SESSIONS_KV),
            _DB,
            Binding("IDEMPOTENCY_STORE", "durable_object", "IdempotencyStore"),
            Binding("RATE_LIMITER", "durable_object", "RateLimiter"),
            Binding("TRADE_QUEUE", "queue_producer", TRADE_QUEUE),
            _TRADE,
            _TELEGRAM,
            _ANALYTICS,
            _D1,
            _svc("AGENT_SERVICE", "agent-worker"),
            _svc("EMAIL_SERVICE", "email-worker"),
            _svc("WEB3_SERVICE", "web3-wallet-worker"),
            _svc("REPORT_SERVICE", "report-worker"),
            # The operator API reads mark prices of paper positions from the paper exchange.
            Binding("PAPER_EXCHANGE", "durable_object", "PaperExchange"),
            _TELEMETRY,
        ),
        durable_objects=(
            DurableObjectClass("IdempotencyStore", "hoox_edge.workers.idempotency"),
            DurableObjectClass("RateLimiter", "hoox_edge.workers.rate_limiter"),
        ),
        crons=("* * * * *",),  # the signal watchdog's check (it owns the signals' last-seen times)
        secrets=("WEBHOOK_API_KEY", _INTERNAL, "OPERATOR_API_KEY"),
        optional_secrets=("MAILGUN_SIGNING_KEY",),  # /webhook/mailgun (hoox_edge.mail.mailgun)
        vars=(("ENVIRONMENT", "production"),),
    ),
    Worker(
        name="trade-worker",
        description="Execution engine: sizes, places and records orders on the exchanges",
        module="hoox_edge.workers.trade",
        port_offset=1,
        bindings=(
            _kv(),
            _DB,
            Binding("SYSTEM_LOGS_BUCKET", "r2", SYSTEM_LOGS_BUCKET),
            Binding("PAPER_EXCHANGE", "durable_object", "PaperExchange"),
            Binding("TRADE_DLQ", "queue_producer", TRADE_DLQ),
            _TELEGRAM,
            _ANALYTICS,
            _TELEMETRY,
            _svc("WEB3_SERVICE", "web3-wallet-worker"),  # /dex: swaps signed by the wallet
        ),
        durable_objects=(DurableObjectClass("PaperExchange", "hoox_edge.paper.exchange"),),
        consumers=(QueueConsumer(TRADE_QUEUE, dead_letter_queue=TRADE_DLQ),),
        crons=("* * * * *",),  # the reconciler and the order follower
        secrets=(_INTERNAL,),
        optional_secrets=_EXCHANGE_SECRETS,
    ),
    Worker(
        name="telegram-worker",
        description="Alerts to Telegram (a local outbox when no bot token is set)",
        module="hoox_edge.workers.telegram",
        port_offset=2,
        bindings=(_kv(), _DB, _ANALYTICS, _TELEMETRY),
        crons=("* * * * *",),  # the alert outbox's retries (alerts/outbox.py)
        secrets=(_INTERNAL,),
        optional_secrets=("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "TELEGRAM_WEBHOOK_SECRET"),
        vars=(("TELEGRAM_API_BASE", "https://api.telegram.org"),),
    ),
    Worker(
        name="d1-worker",
        description="SQL hub: parameterised queries and atomic batches on the ledger",
        module="hoox_edge.workers.d1",
        port_offset=3,
        bindings=(_DB, _kv(), _TELEMETRY),
        secrets=(_INTERNAL,),
    ),
    Worker(
        name="web3-wallet-worker",
        description="EVM wallet: balances, gas estimates and signed EIP-1559 transactions",
        module="hoox_edge.workers.web3_wallet",
        port_offset=4,
        bindings=(_kv(), _DB, _TELEMETRY),
        secrets=(_INTERNAL,),
        # The signing key (a private key, or a BIP-39 mnemonic whose m/44'/60'/0'/0/i accounts it uses)
        # and the chains' RPC URLs (web3:chains names which); signing is pure Python (hoox_edge.wallet.evm).
        optional_secrets=("WALLET_PK_SECRET", "WALLET_MNEMONIC_SECRET", *wallet_config.RPC_SECRETS),
        enabled_by_default=False,
    ),
    Worker(
        name="agent-worker",
        description="Risk manager: trailing stops, take-profits, drawdown kill switch",
        module="hoox_edge.workers.agent",
        port_offset=5,
        # PAPER_EXCHANGE: the mark prices and balances of the paper book. The exchange keys: the live
        # book's balances (drawdown) and positions (reconciliation) are read with them; orders still go
        # through trade-worker. SYSTEM_LOGS_BUCKET: those calls' request logs, as trade-worker's.
        # VECTORIZE: the desk assistant's memory of the trade history and of the reports it reads
        # from REPORTS_BUCKET (hoox_edge.ai.memory).
        bindings=(_kv(), _DB, _TRADE, _TELEGRAM, _D1, _ANALYTICS, _TELEMETRY,
                  Binding("PAPER_EXCHANGE", "durable_object", "PaperExchange"),
                  Binding("SYSTEM_LOGS_BUCKET", "r2", SYSTEM_LOGS_BUCKET),
                  Binding("REPORTS_BUCKET", "r2", REPORTS_BUCKET),
                  Binding("VECTORIZE", "vectorize", DESK_MEMORY_INDEX)),
        crons=("* * * * *",),  # a run every agent:risk_interval_minutes (default 5), checked each minute
        secrets=(_INTERNAL,),
        # The AI gateway's provider keys (hoox_edge.ai.config.KEY_SECRETS); CLOUDFLARE_API_TOKEN with
        # CLOUDFLARE_ACCOUNT_ID (filled in by the deploy) calls Workers AI's REST API.
        optional_secrets=(*_EXCHANGE_SECRETS, "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_AI_API_KEY",
                          "AZURE_OPENAI_API_KEY", "OPENAI_COMPATIBLE_API_KEY", "CLOUDFLARE_API_TOKEN"),
        vars=(("CLOUDFLARE_ACCOUNT_ID", ""),),
    ),
    Worker(
        name="email-worker",
        description="Signals from e-mail",
        module="hoox_edge.workers.email",
        port_offset=6,
        bindings=(_kv(), _DB, _TRADE, _TELEGRAM, _TELEMETRY),
        crons=("*/5 * * * *",),
        secrets=(_INTERNAL,),
        optional_secrets=("EMAIL_HOST", "EMAIL_USER", "EMAIL_PASS"),  # IMAP polling (hoox_edge.local.imap_poll)
        enabled_by_default=False,
    ),
    Worker(
        name="analytics-worker",
        description="Observability: API-call and trade telemetry into Analytics Engine",
        module="hoox_edge.workers.analytics",
        port_offset=7,
        bindings=(_kv(), _DB, _TELEMETRY),
        secrets=(_INTERNAL,),
        optional_secrets=("CLOUDFLARE_API_TOKEN",),
    ),
    Worker(
        name="report-worker",
        description="Twice-daily P&L reports",
        module="hoox_edge.workers.report",
        port_offset=8,
        # PAPER_EXCHANGE: the mark prices of the paper book's open positions. The Telegram secrets: the PDF
        # goes out with sendDocument (telegram-worker's /alert carries text only).
        bindings=(Binding("REPORTS_BUCKET", "r2", REPORTS_BUCKET), _DB, _D1, _TELEGRAM, _kv(), _TELEMETRY,
                  Binding("PAPER_EXCHANGE", "durable_object", "PaperExchange")),
        crons=("0 6,18 * * *",),
        secrets=(_INTERNAL,),
        # CLOUDFLARE_API_TOKEN (Browser Rendering: Edit) prints the PDF on Cloudflare; the deploy fills
        # CLOUDFLARE_ACCOUNT_ID in.
        optional_secrets=("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "CLOUDFLARE_API_TOKEN"),
        vars=(("TELEGRAM_API_BASE", "https://api.telegram.org"),
              ("CLOUDFLARE_API_BASE", "https://api.cloudflare.com/client/v4"), ("CLOUDFLARE_ACCOUNT_ID", "")),
        enabled_by_default=False,
    ),
)


@cache
def _by_name() -> dict[str, Worker]:
    return {w.name: w for w in WORKERS}


def worker(name: str) -> Worker:
    try:
        return _by_name()[name]
    except KeyError:
        known = ", ".join(w.name for w in WORKERS)
        raise KeyError(f"unknown worker {name!r}; known workers: {known}") from None


def names() -> list[str]:
    return [w.name for w in WORKERS]


def local_port(w: Worker, base: int = DEFAULT_PORT) -> int:
    return base + w.port_offset


def secret_owners(secret: str) -> list[Worker]:
    """Workers that declare `secret` (required or optional)."""
    return [w for w in WORKERS if secret in w.all_secrets]


def durable_object_owner(class_name: str) -> Worker:
    for w in WORKERS:
        if any(d.class_name == class_name for d in w.durable_objects):
            return w
    raise KeyError(f"no worker defines Durable Object class {class_name}")


def deploy_order(selected: list[str] | None = None) -> list[str]:
    """Workers in an order where every service binding's target, and the worker defining every Durable
    Object class bound from another worker, comes first (Kahn's algorithm)."""
    chosen = set(selected) if selected is not None else set(names())

    def targets(w: Worker) -> set[str]:
        out = {b.resource for b in w.bindings_of("service")}
        out |= {durable_object_owner(b.resource).name for b in w.bindings_of("durable_object")}
        return {t for t in out if t in chosen and t != w.name}

    deps = {w.name: targets(w) for w in WORKERS if w.name in chosen}
    order: list[str] = []
    ready = sorted(n for n, d in deps.items() if not d)
    while ready:
        n = ready.pop(0)
        order.append(n)
        for m, d in deps.items():
            if n in d:
                d.discard(n)
                if not d and m not in order and m not in ready:
                    ready.append(m)
                    ready.sort()
    if len(order) != len(deps):
        cycle = sorted(set(deps) - set(order))
        raise ValueError(f"service bindings form a cycle among: {', '.join(cycle)}")
    return order
