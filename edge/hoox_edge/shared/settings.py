"""The KV manifest: every runtime setting in CONFIG_KV, its type, default and meaning.

KV stores strings. `parse` turns a stored string into its typed value and `encode` does the
reverse; both raise `SettingError` with the key and the expected type, which the CLI and the
operator API show as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from hoox_edge.ports import KVNamespace

SettingType = Literal["boolean", "integer", "number", "string", "string_list", "json", "seconds_list"]

TRADINGVIEW_IPS = ["52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7"]
EXCHANGES = ("bybit", "binance", "mexc")


@dataclass(frozen=True)
class Setting:
    key: str  # exact key, or a prefix ending in ':' followed by '{NAME}' for families
    type: SettingType
    default: Any
    description: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None

    @property
    def is_family(self) -> bool:
        return "{" in self.key

    @property
    def prefix(self) -> str:
        return self.key.split("{", 1)[0]


class SettingError(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


PAPER_INSTRUMENTS = {
    # Starting price and trading rules of the simulated markets. Add a symbol here, or set
    # exchanges:paper:price:{SYMBOL}, to trade it on paper.
    "BTCUSDT": {"price": 60000.0, "qtyStep": 0.001, "minQty": 0.001, "minNotional": 5.0, "tickSize": 0.1},
    "ETHUSDT": {"price": 3000.0, "qtyStep": 0.01, "minQty": 0.01, "minNotional": 5.0, "tickSize": 0.01},
    "SOLUSDT": {"price": 150.0, "qtyStep": 0.1, "minQty": 0.1, "minNotional": 5.0, "tickSize": 0.01},
}

MANIFEST: tuple[Setting, ...] = (
    Setting("trade:kill_switch", "boolean", False, "Global emergency halt: when true no signal is executed."),
    Setting("trade:kill_switch_reason", "string", "", "Why the kill switch was last turned on."),
    Setting("trade:mode", "string", "paper", "paper sends every order to the paper exchange; live to the real one.",
            choices=("paper", "live")),
    Setting("trade:max_leverage", "integer", 125, "Highest leverage a signal may ask for.", minimum=1),
    Setting("trade:margin_mode", "string", "isolated", "Margin mode set before leveraged orders.",
            choices=("isolated", "cross")),
    Setting("trade:max_daily_drawdown_percent", "number", 5.0,
            "Daily loss (percent of balance) at which the risk manager turns the kill switch on.", minimum=0),
    Setting("webhooks:queue_mode", "string", "queue_failover",
            "direct_only: call trade-worker, fail if it fails; "
            "queue_failover: queue when the direct call fails; queue_everywhere: always queue.",
            choices=("direct_only", "queue_failover", "queue_everywhere")),
    Setting("webhooks:rate_limit_per_minute", "integer", 10, "Signals accepted per rolling minute.", minimum=1),
    Setting("webhooks:retry_schedule_seconds", "seconds_list", [30, 60, 300, 900, 1800],
            "Delays between queue retries; after the last one the signal is dead-lettered."),
    Setting("webhooks:direct_timeout_ms", "integer", 2500,
            "How long the gateway waits for a direct execution before it queues the signal (TradingView waits 3 s).",
            minimum=50),
    Setting("webhook:tradingview:ip_check", "boolean", False, "Only accept signals from TradingView's addresses."),
    Setting("webhook:tradingview:allowed_ips", "string_list", TRADINGVIEW_IPS,
            "Addresses accepted when ip_check is on."),
    Setting("exchanges:default_routing", "string", "bybit", "Exchange used when a signal names none.",
            choices=EXCHANGES),
    Setting("exchanges:routing:{SYMBOL}", "string", None, "Send this symbol's signals to another exchange.",
            choices=EXCHANGES),
    Setting("exchanges:paper:price:{SYMBOL}", "number", None, "Pin the paper market's price of a symbol.", minimum=0),
    Setting("exchanges:paper:fault", "string", "", "Inject a paper-exchange fault: outage, rate_limit or timeout.",
            choices=("", "outage", "rate_limit", "timeout")),
    Setting("exchanges:paper:fee_rate", "number", 0.00055, "Paper taker fee as a fraction of notional.", minimum=0),
    Setting("exchanges:paper:slippage_bps", "number", 2.0, "Paper market-order slippage in basis points.", minimum=0),
    Setting("exchanges:paper:initial_balance", "number", 10000.0, "USDT each paper account starts with.", minimum=0),
    Setting("exchanges:paper:instruments", "json", PAPER_INSTRUMENTS, "Paper markets: start price and trading rules."),
    Setting("exchanges:paper:seed", "integer", 7, "Seed of the paper market's random walk."),
    *(s for name in EXCHANGES for s in (
        Setting(f"exchanges:{name}:testnet", "boolean", False,
                f"Live orders go to {name}'s testnet instead of the real exchange."),
        Setting(f"exchanges:{name}:base_url", "string", "",
                f"Send {name} requests to this URL (a regional host, a local test server); overrides testnet."),
    )),
    Setting("exchanges:instrument_cache_ttl", "integer", 3600,
            "Seconds a live exchange's instrument rules (step, minimums, tick) are cached in KV.", minimum=60),
    Setting("operator:query_timeout_ms", "integer", 5000,
            "Time limit of one /v1/db/query statement (100 to 60000 ms); longer ones answer QUERY_TIMEOUT.",
            minimum=100),
)

_EXACT = {s.key: s for s in MANIFEST if not s.is_family}
_FAMILIES = [s for s in MANIFEST if s.is_family]


def lookup(key: str) -> Setting | None:
    if key in _EXACT:
        return _EXACT[key]
    for fam in _FAMILIES:
        if key.startswith(fam.prefix) and len(key) > len(fam.prefix):
            return fam
    return None


def defaults() -> dict[str, Any]:
    """Key → default value of every exact key (what a new workspace's KV holds)."""
    return {s.key: s.default for s in MANIFEST if not s.is_family}


def parse(key: str, raw: str) -> Any:
    """A stored string as its typed value; unknown keys come back as the string."""
    s = lookup(key)
    if s is None:
        return raw
    return _check(s, key, _decode(s, key, raw))


def coerce(key: str, value: Any) -> Any:
    """Validate a typed value (or a string as typed by a user) against the manifest."""
    s = lookup(key)
    if s is None:
        return value
    if isinstance(value, str) and s.type != "string":
        value = _decode(s, key, value)
    return _check(s, key, value)


def encode(key: str, value: Any) -> str:
    """Validated value → the string stored in KV."""
    v = coerce(key, value)
    s = lookup(key)
    if s is None:
        return v if isinstance(v, str) else json.dumps(v)
    if s.type == "boolean":
        return "true" if v else "false"
    if s.type == "string":
        return v
    if s.type == "seconds_list":
        return ",".join(str(x) for x in v)
    if s.type in ("integer", "number"):
        return repr(v) if s.type == "number" else str(v)
    return json.dumps(v, separators=(",", ":"))


def type_label(s: Setting) -> str:
    if s.choices:
        return "one of " + ", ".join(repr(c) for c in s.choices)
    return {
        "boolean": "a boolean (true or false)",
        "integer": "an integer",
        "number": "a number",
        "string": "a string",
        "string_list": "a JSON array of strings",
        "json": "a JSON value",
        "seconds_list": "comma-separated whole seconds, e.g. 30,60,300",
    }[s.type]


def _decode(s: Setting, key: str, raw: str) -> Any:
    text = raw.strip()
    try:
        if s.type == "boolean":
            low = text.lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if s.type == "integer":
            return int(text)
        if s.type == "number":
            return float(text)
        if s.type == "string":
            return raw
        if s.type == "seconds_list":
            return [int(p) for p in text.split(",") if p.strip()]
        return json.loads(text)
    except ValueError:
        raise SettingError(key, f"expected {type_label(s)}, got {raw!r}") from None


def _check(s: Setting, key: str, v: Any) -> Any:
    bad = SettingError(key, f"expected {type_label(s)}, got {v!r}")
    if s.type == "boolean" and not isinstance(v, bool):
        raise bad
    if s.type == "integer" and (isinstance(v, bool) or not isinstance(v, int)):
        raise bad
    if s.type == "number":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            raise bad
        v = float(v)
    if s.type == "string" and not isinstance(v, str):
        raise bad
    if s.type == "string_list" and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
        raise bad
    if s.type == "seconds_list" and not (
        isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v)
    ):
        raise bad
    if s.choices and v not in s.choices:
        raise SettingError(key, f"expected {type_label(s)}, got {v!r}")
    if s.minimum is not None and isinstance(v, (int, float)) and v < s.minimum:
        raise SettingError(key, f"must be at least {s.minimum:g}, got {v!r}")
    return v


async def get(kv: KVNamespace, key: str) -> Any:
    """The typed value in KV, else the manifest default. A corrupt stored value raises SettingError."""
    raw = await kv.get(key)
    if raw is None:
        s = lookup(key)
        return s.default if s else None
    return parse(key, raw)


async def put(kv: KVNamespace, key: str, value: Any) -> str:
    """Validate and store; returns the stored string."""
    stored = encode(key, value)
    await kv.put(key, stored)
    return stored
