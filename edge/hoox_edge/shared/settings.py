"""The KV manifest: every runtime setting in CONFIG_KV, its type, default and meaning.

KV stores strings. `parse` turns a stored string into its typed value and `encode` does the
reverse; both raise `SettingError` with the key and the rule that was broken, which the CLI and the
operator API show as they are. A bad value is quoted back only as a short preview
(`redact.preview`): a key pasted into the wrong setting must not land in a log or an answer.

Every setting declares its bounds: numbers are finite and have a minimum and a maximum (prices are
above 0), strings a maximum length, lists a maximum number of items and bounds for each item, and
structured JSON values a check of their shape. `tests/test_settings_bounds.py` holds every setting
to that. A stored value out of its bounds (written before the bound existed, or by hand) reads as
an error, like a value of the wrong type: readers fall back to the default or to a safe value.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from hoox_edge import exchange_catalog
from hoox_edge.ai import config as ai_config
from hoox_edge.ports import KVNamespace
from hoox_edge.shared.bodies import UnsafeJson, check_value, parse_json
from hoox_edge.shared.memo import Memo
from hoox_edge.shared.redact import preview
from hoox_edge.wallet.config import chains_problem

if TYPE_CHECKING:  # annotations only: the workers that read settings need not build the API's shapes
    from hoox_edge.operator import shapes

SettingType = Literal["boolean", "integer", "number", "string", "string_list", "json", "seconds_list"]

TRADINGVIEW_IPS = ["52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7"]
EXCHANGES = exchange_catalog.NAMES


MAX_KEY_BYTES = 512  # Cloudflare KV's longest key
_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")  # a family key's {SYMBOL}, as `signal.normalize_symbol` leaves it
MAX_PRICE = 1e9


@dataclass(frozen=True)
class Setting:
    key: str  # exact key, or a prefix ending in ':' followed by '{NAME}' for families
    type: SettingType
    default: Any
    description: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None  # numbers: the lowest allowed value
    maximum: float | None = None  # numbers: the highest allowed value
    positive: bool = False  # numbers: strictly above 0 (prices); `minimum` is then 0
    max_length: int | None = None  # strings: characters; lists: items
    item_minimum: int | None = None  # seconds_list: the shortest delay
    item_maximum: int | None = None  # seconds_list: the longest delay
    item: Literal["ip_network", "email_address"] | None = None  # string_list: what each item must be
    check: Callable[[Any], str | None] | None = None  # json: the value's shape (None = fine, else the problem)

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


def _instruments_problem(value: Any) -> str | None:
    """The shape the paper market needs (`paper/market.listed_rules` applies the same rules)."""
    if not isinstance(value, dict):
        return "must be a JSON object of SYMBOL: {price, qtyStep, minQty, minNotional, tickSize}"
    if len(value) > 200:
        return "may list at most 200 instruments"
    for symbol, entry in value.items():
        if not _SYMBOL.match(symbol):
            return f"{preview(symbol)} is not a symbol such as BTCUSDT"
        if not isinstance(entry, dict):
            return f"{symbol} must be an object {{price, qtyStep, minQty, minNotional, tickSize}}"
        for name in ("price", "qtyStep", "minQty", "minNotional", "tickSize"):
            v = entry.get(name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                return f"{symbol}.{name} must be a finite number"
            if v < 0 or (v == 0 and name != "minNotional") or v > MAX_PRICE:
                return f"{symbol}.{name} must be above 0 (minNotional: at least 0) and at most {MAX_PRICE:g}"
    return None


MAX_TARGETS = 10


def _targets_problem(value: Any) -> str | None:
    """The shape `risk.rules.parse_targets` reads (it applies the same rules)."""
    from hoox_edge.risk.rules import targets_problem

    return targets_problem(value)


def _expectation_problem(value: Any) -> str | None:
    """The shape `watchdog.rules.parse_expectation` reads (it applies the same rules)."""
    from hoox_edge.watchdog.rules import expectation_problem

    return expectation_problem(value)


def _url_problem(value: Any) -> str | None:
    if value == "":
        return None
    if not re.match(r"^https?://[^\s/?#]+[^\s]*$", value):
        return "must be empty or an http(s) URL such as https://api.bybit.com"
    return None


PAPER_INSTRUMENTS = {
    # Starting price and trading rules of the simulated markets. Add a symbol here, or set
    # exchanges:paper:price:{SYMBOL}, to trade it on paper.
    "BTCUSDT": {"price": 60000.0, "qtyStep": 0.001, "minQty": 0.001, "minNotional": 5.0, "tickSize": 0.1},
    "ETHUSDT": {"price": 3000.0, "qtyStep": 0.01, "minQty": 0.01, "minNotional": 5.0, "tickSize": 0.01},
    "SOLUSDT": {"price": 150.0, "qtyStep": 0.1, "minQty": 0.1, "minNotional": 5.0, "tickSize": 0.01},
}

# --------------------------------------------------------------------------- the keys
# Every KV key by name: code reads and writes `settings.KILL_SWITCH`, never the string, and a family
# key (`…:{SYMBOL}`) through its function. `get`/`put` refuse a key the MANIFEST below does not know.
KILL_SWITCH = "trade:kill_switch"
KILL_SWITCH_REASON = "trade:kill_switch_reason"
TRADE_MODE = "trade:mode"
MAX_LEVERAGE = "trade:max_leverage"
MARGIN_MODE = "trade:margin_mode"
RESTING_ORDER_TTL = "trade:resting_order_ttl_minutes"
MAX_DAILY_DRAWDOWN = "trade:max_daily_drawdown_percent"
TRAILING_STOP = "trade:trailing_stop_percent"
TAKE_PROFIT_TARGETS = "trade:take_profit_targets"
RISK_INTERVAL = "agent:risk_interval_minutes"
QUEUE_MODE = "webhooks:queue_mode"
RATE_LIMIT = "webhooks:rate_limit_per_minute"
RETRY_SCHEDULE = "webhooks:retry_schedule_seconds"
DIRECT_TIMEOUT = "webhooks:direct_timeout_ms"
TRADINGVIEW_IP_CHECK = "webhook:tradingview:ip_check"
TRADINGVIEW_ALLOWED_IPS = "webhook:tradingview:allowed_ips"
TRUSTED_PROXIES = "webhook:trusted_proxies"
DEFAULT_ROUTING = "exchanges:default_routing"
PAPER_FAULT = "exchanges:paper:fault"
PAPER_FEE_RATE = "exchanges:paper:fee_rate"
PAPER_SLIPPAGE = "exchanges:paper:slippage_bps"
PAPER_INITIAL_BALANCE = "exchanges:paper:initial_balance"
PAPER_MARKETS = "exchanges:paper:instruments"
PAPER_SEED = "exchanges:paper:seed"
INSTRUMENT_CACHE_TTL = "exchanges:instrument_cache_ttl"
QUERY_TIMEOUT = "operator:query_timeout_ms"
ALERTS_INFO = "telegram:alerts:info"
ALERTS_WARNING = "telegram:alerts:warning"
ALERTS_CRITICAL = "telegram:alerts:critical"
# Where alerts of each kind go; an `error` alert follows `critical`.
ALERT_ROUTES = {"info": ALERTS_INFO, "warning": ALERTS_WARNING, "critical": ALERTS_CRITICAL}
# Family prefixes (for listing a family); a member's key comes from its function below.
TRAILING_STOP_OF = TRAILING_STOP + ":"
ROUTING_OF = "exchanges:routing:"
PAPER_PRICE_OF = "exchanges:paper:price:"
EXPECTATION_OF = "watchdog:expect:"


def trailing_stop_of(symbol: str) -> str:
    return TRAILING_STOP_OF + symbol


def routing_of(symbol: str) -> str:
    return ROUTING_OF + symbol


def paper_price_of(symbol: str) -> str:
    return PAPER_PRICE_OF + symbol


def expectation_of(source: str) -> str:
    return EXPECTATION_OF + source


def testnet_of(exchange: str) -> str:
    return f"exchanges:{exchange}:testnet"


def base_url_of(exchange: str) -> str:
    return f"exchanges:{exchange}:base_url"


# Telegram alert routes: which chat each alert level goes to. Unset ("") is the first TELEGRAM_CHAT_ID.
_TELEGRAM_CHAT = re.compile(r"^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$")


def chat_route_problem(value: Any) -> str | None:
    """None when `value` is a chat id (a whole number), an @channel name, `muted` or empty, else the rule."""
    if value == "" or value == "muted" or (isinstance(value, str) and _TELEGRAM_CHAT.match(value)):
        return None
    return ("must be a chat id (a whole number such as -1001234567890), an @channel name (@ and 5-32 "
            f"letters, digits or _), muted, or empty for the first TELEGRAM_CHAT_ID; not {preview(value)}")


# E-mail signals (hoox_edge.mail): the seeds' patterns, checked as regular expressions (shared/safe_regex.py).
EMAIL_SCAN_SUBJECT = "email:scan_subject"
EMAIL_COIN_PATTERN = "email:coin_pattern"
EMAIL_ACTION_PATTERN = "email:action_pattern"
EMAIL_QUANTITY_MULTIPLIER = "email:quantity_multiplier"
EMAIL_AUTHORIZED_SENDERS = "email:authorized_senders"


def _regex_problem(value: Any) -> str | None:
    from hoox_edge.shared import safe_regex

    return safe_regex.problem(value)


_EMAIL_ADDRESS = re.compile(r"[^@\s]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,63}")


# Analytics: the cockpit's error banner for a worker whose 5xx share passes this percentage.
ERROR_RATE_ALERT = "analytics:error_rate_alert_percent"
WEB3_CHAINS = "web3:chains"
WEB3_MAX_GAS_PRICE = "web3:max_gas_price_gwei"
# The AI gateway (agent-worker, hoox_edge.ai.chain): providers and fallback, prices, system prompts.
AI_CONFIG = "agent:config"
AI_PRICES = "agent:prices"
AI_PROMPTS = "agent:prompts"


MANIFEST: tuple[Setting, ...] = (
    Setting(KILL_SWITCH, "boolean", False, "Global emergency halt: when true no signal is executed."),
    Setting(KILL_SWITCH_REASON, "string", "", "Why the kill switch is on (cleared when it is turned off).",
            max_length=500),
    Setting(TRADE_MODE, "string", "paper", "paper sends every order to the paper exchange; live to the real one.",
            choices=("paper", "live")),
    Setting(MAX_LEVERAGE, "integer", 125, "Highest leverage a signal may ask for.", minimum=1, maximum=125),
    Setting(MARGIN_MODE, "string", "isolated", "Margin mode set before leveraged orders.",
            choices=("isolated", "cross")),
    Setting(RESTING_ORDER_TTL, "integer", 1440,
            "Minutes a limit order may rest on the book before it is cancelled as Expired (0: until cancelled).",
            minimum=0, maximum=43_200),
    Setting(MAX_DAILY_DRAWDOWN, "number", 5.0,
            "Drawdown from the start-of-day (00:00 UTC) equity of a book on an exchange, in percent, beyond "
            "which the risk manager turns the kill switch on and flattens that book on every exchange (0: off).",
            minimum=0, maximum=100),
    Setting(TRAILING_STOP, "number", 0.0,
            "Trailing stop of every open position, in percent from its peak (LONG) or trough (SHORT); 0: off.",
            minimum=0, maximum=50),
    Setting(trailing_stop_of("{SYMBOL}"), "number", None,
            "Trailing stop of this symbol's positions, in percent (overrides trade:trailing_stop_percent; 0: off).",
            minimum=0, maximum=50),
    Setting(TAKE_PROFIT_TARGETS, "json", [],
            "Scaled take-profits: a JSON list of {profit_percent, close_fraction, move_stop_to_break_even}, "
            "percents ascending, fractions (of the position's size) adding up to at most 1.",
            check=_targets_problem),
    Setting(RISK_INTERVAL, "integer", 5,
            "Minutes between two runs of the risk manager (its cron fires every minute; 1 to 60).",
            minimum=1, maximum=60),
    Setting(QUEUE_MODE, "string", "queue_failover",
            "direct_only: call trade-worker, fail if it fails; "
            "queue_failover: queue when the direct call fails; queue_everywhere: always queue.",
            choices=("direct_only", "queue_failover", "queue_everywhere")),
    Setting(RATE_LIMIT, "integer", 10,
            "Authenticated signals per rolling minute, refused ones included.",
            minimum=1, maximum=100_000),
    # Cloudflare Queues delay a retry by at most 12 h; the consumer's backstop (max_retries) is 10.
    Setting(RETRY_SCHEDULE, "seconds_list", [30, 60, 300, 900, 1800],
            "Delays between queue retries; after the last one the signal is dead-lettered.",
            max_length=10, item_minimum=1, item_maximum=12 * 3600),
    Setting(DIRECT_TIMEOUT, "integer", 2500,
            "How long the gateway waits for a direct execution before it queues the signal (TradingView waits 3 s).",
            minimum=50, maximum=30_000),
    Setting(TRADINGVIEW_IP_CHECK, "boolean", False, "Only accept signals from TradingView's addresses."),
    Setting(TRADINGVIEW_ALLOWED_IPS, "string_list", TRADINGVIEW_IPS,
            "Addresses accepted when ip_check is on.", max_length=100, item="ip_network"),
    Setting(TRUSTED_PROXIES, "string_list", [],
            "Reverse proxies (IPs or CIDRs) in front of the local gateway whose X-Forwarded-For / Forwarded "
            "headers are believed; empty: the socket peer is the client. Not used on Cloudflare "
            "(CF-Connecting-IP).", max_length=100, item="ip_network"),
    Setting(DEFAULT_ROUTING, "string", "bybit", "Exchange used when a signal names none.",
            choices=EXCHANGES),
    Setting(routing_of("{SYMBOL}"), "string", None, "Send this symbol's signals to another exchange.",
            choices=EXCHANGES),
    Setting(paper_price_of("{SYMBOL}"), "number", None, "Pin the paper market's price of a symbol.",
            positive=True, minimum=0, maximum=MAX_PRICE),
    Setting(PAPER_FAULT, "string", "", "Inject a paper-exchange fault: outage, rate_limit or timeout.",
            choices=("", "outage", "rate_limit", "timeout")),
    Setting(PAPER_FEE_RATE, "number", 0.00055, "Paper taker fee as a fraction of notional.",
            minimum=0, maximum=0.1),
    Setting(PAPER_SLIPPAGE, "number", 2.0, "Paper market-order slippage in basis points.",
            minimum=0, maximum=1000),
    Setting(PAPER_INITIAL_BALANCE, "number", 10000.0, "USDT each paper account starts with.",
            minimum=0, maximum=1e12),
    Setting(PAPER_MARKETS, "json", PAPER_INSTRUMENTS, "Paper markets: start price and trading rules.",
            check=_instruments_problem),
    Setting(PAPER_SEED, "integer", 7, "Seed of the paper market's random walk.",
            minimum=0, maximum=2**53),
    *(s for name in EXCHANGES for s in (
        Setting(testnet_of(name), "boolean", False,
                f"Live orders go to {name}'s testnet instead of the real exchange."),
        Setting(base_url_of(name), "string", "",
                f"Send {name} requests to this URL (a regional host, a local test server); overrides testnet.",
                max_length=2048, check=_url_problem),
    )),
    Setting(INSTRUMENT_CACHE_TTL, "integer", 3600,
            "Seconds a live exchange's instrument rules (step, minimums, tick) are cached in KV.",
            minimum=60, maximum=7 * 24 * 3600),
    Setting(expectation_of("{SOURCE}"), "json", None,
            "Signal watchdog: at most maxGapMinutes between two signals (heartbeats count) of this source "
            "(webhook, or a strategy name a signal carries), optionally only within trading hours: "
            '{"maxGapMinutes": 60, "hours": {"days": "mon-fri", "from": "08:00", "to": "22:00", "tz": "UTC"}}.',
            check=_expectation_problem),
    *(Setting(key, "string", "",
              f"Where {kind} alerts{' (and error ones)' if kind == 'critical' else ''} go: a Telegram chat id, "
              "muted (kept in the ledger, never sent), or empty for the first TELEGRAM_CHAT_ID.",
              max_length=40, check=chat_route_problem) for kind, key in ALERT_ROUTES.items()),
    Setting(QUERY_TIMEOUT, "integer", 5000,
            "Time limit of one /v1/db/query statement (100 to 60000 ms); longer ones answer QUERY_TIMEOUT.",
            minimum=100, maximum=60_000),
    Setting(EMAIL_SCAN_SUBJECT, "string", "^TRADE SIGNAL:.*",
            "E-mail signals: a regular expression the subject must match, else the e-mail is ignored "
            "(TradingView's own alert e-mails are read whatever their subject).", max_length=200, check=_regex_problem),
    Setting(EMAIL_COIN_PATTERN, "string", "(BTC|ETH|SOL|LINK)",
            "E-mail signals: a regular expression whose first group (or match) is the asset in the body; "
            "USDT is added when it names no quote.", max_length=200, check=_regex_problem),
    Setting(EMAIL_ACTION_PATTERN, "string", "(BUY|SELL|LONG|SHORT|CLOSE)",
            "E-mail signals: a regular expression whose first group (or match) is the action in the body "
            "(BUY means LONG, SELL means SHORT).", max_length=200, check=_regex_problem),
    Setting(EMAIL_QUANTITY_MULTIPLIER, "number", 1.0,
            "E-mail signals: the quantity an e-mail names is multiplied by this.",
            minimum=0, positive=True, maximum=1e6),
    Setting(EMAIL_AUTHORIZED_SENDERS, "string_list", [],
            "E-mail signals: the only senders whose e-mails may trade (empty: none). DKIM and SPF must "
            "pass for the sender's domain too.", max_length=50, item="email_address"),
    Setting(ERROR_RATE_ALERT, "number", 5.0,
            "Share of a worker's requests over the last 5 minutes that failed (HTTP 5xx), in percent, beyond "
            "which the cockpit shows an error banner for it (0: never).", minimum=0, maximum=100),
    Setting(WEB3_CHAINS, "json", {},
            "web3-wallet-worker's chains: a JSON object name → {chainId, rpcSecret (the secret holding the "
            'RPC URL), explorer}, e.g. {"base": {"chainId": 8453, "rpcSecret": "RPC_URL_BASE", '
            '"explorer": "https://basescan.org"}}.', check=chains_problem),
    Setting(WEB3_MAX_GAS_PRICE, "number", 100.0,
            "Gas-price trap: a transaction is refused, before signing, when the network's gas price is above "
            "this many gwei; no transaction offers a higher max fee.", positive=True, minimum=0, maximum=100_000),
    Setting(AI_CONFIG, "json", ai_config.DEFAULT_CONFIG,
            "AI providers and fallback: order, providers {name: {kind, model, baseUrl, keySecret, timeoutMs, "
            "retries, images, embeddingModel, accountId, tools}}, retries, backoffMs, maxBackoffMs, "
            "maxRetryAfterSeconds, breaker {threshold, halfOpenSeconds}, maxImageBytes, maxToolRounds (desk "
            "questions: tool-call rounds before the model must answer). Keys are secrets, "
            "never here: keySecret names the secret.", check=ai_config.config_problem),
    Setting(AI_PRICES, "json", {},
            'AI prices per model in USD per million tokens: {"model": {"input": 3, "output": 15}}; a model '
            "without a price has its tokens counted and no cost.", check=ai_config.prices_problem),
    Setting(AI_PROMPTS, "json", {},
            "AI system prompts, versioned: {name: [{version, text, at}]} (written by POST /agent/prompts).",
            check=ai_config.prompts_problem),
)

_EXACT = {s.key: s for s in MANIFEST if not s.is_family}
_FAMILIES = [s for s in MANIFEST if s.is_family]


@functools.lru_cache(maxsize=1024)  # ~25 a signal, a family's keys (paper prices) by a scan of the families
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


def key_problem(key: str) -> str | None:
    """Why `key` cannot name a KV entry (too long for Cloudflare KV, unprintable), else None."""
    if not key:
        return "a key must not be empty"
    if key in (".", ".."):
        return "a key may not be . or .. (Cloudflare KV refuses them)"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "a key must be text (it holds a lone surrogate)"
    if size > MAX_KEY_BYTES:
        return f"a key is at most {MAX_KEY_BYTES} bytes (Cloudflare KV), this one is {size}"
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        return "a key may not hold control characters"
    if "\ufffd" in key:  # what a URL's bytes that are not UTF-8 decode to: the key asked for was not this one
        return "a key may not hold U+FFFD (bytes of a path that are not UTF-8 read as it: percent-encode UTF-8)"
    return None


def _check_key(s: Setting, key: str) -> None:
    problem = key_problem(key)
    name = key[len(s.prefix):]
    if problem is None and s.is_family and s.key.endswith("{SYMBOL}") and not _SYMBOL.match(name):
        problem = f"{{SYMBOL}} must be a symbol such as BTCUSDT (2-30 capital letters and digits), not " \
                  f"{preview(name)}"
    if problem is None and s.is_family and s.key.endswith("{SOURCE}"):
        from hoox_edge.watchdog.rules import source_problem

        problem = source_problem(name)
        problem = f"{{SOURCE}}: {problem}" if problem else None
    if problem is not None:
        raise SettingError(key if len(key) <= 80 else key[:80] + "…", problem)


_parsed: Memo[tuple[str, str], Any] = Memo(4096)  # (key, stored text) -> its checked value


def parse(key: str, raw: str) -> Any:
    """A stored string as its typed value; unknown keys come back as the string.

    Settings are read many times per signal and change rarely: a text checked once is not checked
    again (containers are copied out, so a caller cannot change the remembered value)."""
    cached = _parsed.get((key, raw), _parsed)
    if cached is _parsed:  # only known keys are remembered: a hit needs no look at the manifest
        s = lookup(key)
        if s is None:
            return raw
        cached = _check(s, key, _decode(s, key, raw))
        _parsed.keep((key, raw), cached)
    return _copied(cached) if isinstance(cached, (list, dict)) else cached


def _copied(v: Any) -> Any:
    """A copy of a JSON value's containers (its scalars are immutable, so shared): what copy.deepcopy
    gives for JSON at a fraction of its cost (no memo, no dispatch per scalar)."""
    if isinstance(v, dict):
        return {k: _copied(x) if isinstance(x, (dict, list)) else x for k, x in v.items()}
    if isinstance(v, list):
        return [_copied(x) if isinstance(x, (dict, list)) else x for x in v]
    return v


def coerce(key: str, value: Any) -> Any:
    """Validate a typed value (or a string as typed by a user) against the manifest: its type and
    its bounds; the key itself too (a family's {SYMBOL})."""
    s = lookup(key)
    if s is None:
        return value
    _check_key(s, key)
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


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def bounds_label(s: Setting) -> str:
    """The range part of what a setting accepts ("from 1 to 10000"), or ""."""
    if s.type in ("integer", "number"):
        if s.positive:
            return f"above 0 and at most {_num(s.maximum)}" if s.maximum is not None else "above 0"
        if s.minimum is not None and s.maximum is not None:
            return f"from {_num(s.minimum)} to {_num(s.maximum)}"
        if s.minimum is not None:
            return f"at least {_num(s.minimum)}"
    if s.type == "seconds_list" and s.item_maximum is not None:
        return (f"each from {s.item_minimum} to {s.item_maximum} s, at most {s.max_length} delays")
    if s.type == "string_list" and s.max_length is not None:
        what = "IP addresses or CIDR ranges" if s.item == "ip_network" else "strings"
        return f"at most {s.max_length} {what}"
    if s.type == "string" and s.max_length is not None and not s.choices:
        return f"at most {s.max_length} characters"
    return ""


def type_label(s: Setting) -> str:
    if s.choices:
        return "one of " + ", ".join(repr(c) for c in s.choices)
    base = {
        "boolean": "a boolean (true or false)",
        "integer": "an integer",
        "number": "a number",
        "string": "a string",
        "string_list": "a JSON array of strings",
        "json": "a JSON value",
        "seconds_list": "comma-separated whole seconds, e.g. 30,60,300",
    }[s.type]
    bounds = bounds_label(s)
    return f"{base} ({bounds})" if bounds else base


def _typed(s: Setting, v: Any) -> bool:
    """Is `v` of the setting's type (and one of its choices)?"""
    ok = {
        "boolean": isinstance(v, bool),
        "integer": isinstance(v, int) and not isinstance(v, bool),
        "number": isinstance(v, (int, float)) and not isinstance(v, bool),
        "string": isinstance(v, str),
        "string_list": isinstance(v, list) and all(isinstance(x, str) for x in v),
        "seconds_list": isinstance(v, list) and bool(v) and all(isinstance(x, int) and not isinstance(x, bool)
                                                                 for x in v),
    }.get(s.type, True)
    return ok and (not s.choices or v in s.choices)


def _bad(s: Setting, key: str, got: Any) -> SettingError:
    return SettingError(key, f"expected {type_label(s)}, got {preview(got)}")


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
            if len(text.lstrip("+-")) > 19:  # int() of a huge text is slow; no setting needs one
                raise ValueError
            return int(text)
        if s.type == "number":
            return float(text)
        if s.type == "string":
            return raw
        if s.type == "seconds_list":
            return [int(p) for p in text.split(",") if p.strip() and len(p.strip()) <= 19]
        return parse_json(text)  # strict: depth, surrogates, non-finite numbers
    except UnsafeJson as exc:
        raise SettingError(key, f"expected {type_label(s)}: {exc}") from None
    except ValueError:
        raise _bad(s, key, raw) from None


def _check(s: Setting, key: str, v: Any) -> Any:
    if not _typed(s, v):
        raise _bad(s, key, v)
    if s.type == "number":
        if isinstance(v, int) and abs(v) > 2**63:
            raise SettingError(key, f"must be a finite number {bounds_label(s)}, got {preview(v)}")
        v = float(v)
        if not math.isfinite(v):
            raise SettingError(key, f"must be a finite number, got {preview(v)}")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if s.positive and not v > 0:
            raise SettingError(key, f"must be greater than 0, got {preview(v)}")
        if s.minimum is not None and v < s.minimum:
            raise SettingError(key, f"must be at least {_num(s.minimum)}, got {preview(v)}")
        if s.maximum is not None and v > s.maximum:
            raise SettingError(key, f"must be at most {_num(s.maximum)}, got {preview(v)}")
    problem = check_value(v)  # lone surrogates, depth, non-finite numbers anywhere in the value
    if problem is not None:
        raise SettingError(key, f"the value {problem}")
    if s.max_length is not None and isinstance(v, (str, list)) and len(v) > s.max_length:
        unit = "characters" if isinstance(v, str) else "items"
        raise SettingError(key, f"must have at most {s.max_length} {unit}, got {len(v)}")
    if s.type == "seconds_list":
        for i, x in enumerate(v):
            if (s.item_minimum is not None and x < s.item_minimum) or (
                    s.item_maximum is not None and x > s.item_maximum):
                raise SettingError(key, f"delay {i + 1} must be from {s.item_minimum} to {s.item_maximum} "
                                        f"seconds (12 h, Cloudflare Queues' longest delay), got {preview(x)}")
    if s.item == "ip_network":
        for i, x in enumerate(v):
            try:
                ipaddress.ip_network(x.strip(), strict=False)
            except ValueError:
                raise SettingError(key, f"item {i + 1} must be an IP address or a CIDR range such as "
                                        f"10.0.0.0/8, got {preview(x)}") from None
    if s.item == "email_address":
        for i, x in enumerate(v):
            if not _EMAIL_ADDRESS.fullmatch(x.strip()):
                raise SettingError(key, f"item {i + 1} must be an e-mail address such as alerts@example.com, "
                                        f"got {preview(x)}")
    if s.check is not None:
        problem = s.check(v)
        if problem is not None:
            raise SettingError(key, problem)
    return v


def describe(key: str, raw: str | None) -> shapes.KvEntry:
    """A KV entry as the operator sees it: the manifest's word on it, the stored text, the typed
    value (the default when nothing is stored), where it comes from and the error of a corrupt value."""
    s = lookup(key)
    item: shapes.KvEntry = {
        "key": key, "type": s.type if s else None, "expected": type_label(s) if s else None,
        "description": s.description if s else None, "default": s.default if s else None, "raw": raw,
        "error": None, "value": s.default if s else None, "source": "default" if s else "unset"}
    if raw is None:
        return item
    item["source"] = "kv"
    try:
        item["value"] = parse(key, raw)
    except SettingError as exc:
        item.update({"value": None, "error": str(exc)})
    return item


async def stored_keys(kv: KVNamespace, prefix: str) -> list[str]:
    """Every key stored under `prefix`, all pages of KV's list."""
    names: list[str] = []
    cursor: str | None = None
    while True:
        page = await kv.list(prefix=prefix, cursor=cursor)
        names.extend(k.name for k in page.keys)
        if page.list_complete or not page.cursor:
            return names
        cursor = page.cursor


class UnknownSetting(KeyError):
    """A key the MANIFEST does not know: a mistyped key is a bug to see, never a silent None."""

    def __str__(self) -> str:  # the message, not KeyError's repr of it
        return str(self.args[0])


def known(key: str) -> Setting:
    """The manifest's entry of `key`; UnknownSetting when there is none."""
    s = lookup(key)
    if s is None:
        raise UnknownSetting(f"{preview(key, limit=80)} is not a setting of the KV manifest (settings.MANIFEST)")
    return s


async def get(kv: KVNamespace, key: str) -> Any:
    """The typed value in KV, else the manifest default. A corrupt stored value raises SettingError,
    a key the manifest does not know UnknownSetting."""
    s = known(key)
    raw = await kv.get(key)
    if raw is None:
        return s.default
    return parse(key, raw)


async def get_many(kv: KVNamespace, keys: Sequence[str]) -> list[Any]:
    """`get` of each key, in order, in one read of KV (`KVNamespace.get_many`)."""
    manifest = [known(key) for key in keys]
    return values_of(keys, await kv.get_many(keys), manifest)


def values_of(keys: Sequence[str], raws: Sequence[str | None], manifest: Sequence[Setting] | None = None
              ) -> list[Any]:
    """The typed values of `keys` from their stored texts (`get_many` once KV has answered)."""
    manifest = manifest or [known(key) for key in keys]
    return [s.default if raw is None else parse(key, raw) for key, s, raw in zip(keys, manifest, raws, strict=True)]


async def put(kv: KVNamespace, key: str, value: Any) -> str:
    """Validate and store; returns the stored string. A key the manifest does not know: UnknownSetting."""
    known(key)
    stored = encode(key, value)
    await kv.put(key, stored)
    return stored
