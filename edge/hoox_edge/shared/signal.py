"""The trade signal: what a webhook (or e-mail, or Telegram) may ask for, validated and normalised.

`parse_signal` checks every field at once and raises `SignalError` with one `{field, issue}` per
problem, so a trader fixing a TradingView alert sees everything that is wrong in one answer.

Decisions:
- Unknown fields are rejected, not ignored: a typo such as `levrage` or `idempotency_key` would
  otherwise silently trade with leverage 1 or without the de-duplication the sender asked for.
- Numbers may arrive as JSON numbers or numeric strings (TradingView placeholders such as
  `{{strategy.order.contracts}}` expand to text); a placeholder that did not expand is reported.
- `quantity` is optional for CLOSE (the trade-worker closes the open position's exact size);
  `price` only means something for LIMIT orders and is dropped from MARKET ones.
- The implicit idempotency key hashes the *normalised* signal, so `btc/usdt` and `BTCUSDT` sent
  twice within the window are the same signal.
- `strategy` (optional) names the TradingView strategy or alert that sent the signal, lowercased; the
  signal watchdog keeps a last-signal time per strategy (`hoox_edge.watchdog`). Two strategies sending
  the same order are two signals: the strategy is part of the implicit key when given.

A signal with `"exchange": "dex"` is an on-chain swap, not an order: `parse` hands it to
`parse_dex_signal`, which makes a `DexSignal` (chain, router, tokenIn, tokenOut, quantity,
slippageBps, deadlineSeconds, to?, account?) for trade-worker's `/dex`. Its quantity stays a decimal
string (a float would lose the token's smallest units); its addresses are checked (EIP-55 when
mixed-case) and stored checksummed, so `0xabc…` and `0xABC…` are the same swap for the implicit key.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal

from hoox_edge import exchange_catalog
from hoox_edge.shared.redact import field_name, preview
from hoox_edge.shared.settings import DEFAULT_ROUTING, EXCHANGES
from hoox_edge.wallet import config as wallet_config
from hoox_edge.wallet import evm
from hoox_edge.watchdog.rules import strategy_name

Action = Literal["LONG", "SHORT", "CLOSE"]
ACTIONS: tuple[str, ...] = ("LONG", "SHORT", "CLOSE")
ORDER_TYPES: tuple[str, ...] = ("MARKET", "LIMIT")
QUANTITY_TYPES: tuple[str, ...] = ("contracts", "usdt")
MARKETS: tuple[str, ...] = ("futures", "spot")
MAX_IDEMPOTENCY_KEY = 128
PASSKEY_FIELD = "apiKey"

ACCEPTED_FIELDS: tuple[str, ...] = (
    PASSKEY_FIELD, "exchange", "action", "symbol", "quantity", "leverage", "orderType", "price",
    "quantityType", "market", "idempotencyKey", "strategy",
)  # fmt: skip

_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")
_SEPARATORS = re.compile(r"[/\-_\s]")
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))  # a signal's stable text (`canonical`)


@dataclass(frozen=True, kw_only=True)
class Signal:
    """A validated signal, made by `parse_signal` (which checks and normalises every field);
    `to_payload()` is the dict the trade-worker's `/process` receives."""

    exchange: exchange_catalog.Name | None = None
    action: Action
    symbol: str
    quantity: float | None = None  # None only for a CLOSE that closes the whole position
    leverage: float = 1.0
    orderType: Literal["MARKET", "LIMIT"] = "MARKET"
    price: float | None = None
    quantityType: Literal["contracts", "usdt"] = "contracts"
    market: Literal["futures", "spot"] = "futures"
    source: str = "webhook"
    idempotencyKey: str | None = None
    strategy: str | None = None  # the sending strategy or alert, for the watchdog

    def to_payload(self) -> dict[str, Any]:
        # Every field is a plain value: a shallow copy is `asdict` without its deep copy of each one.
        return dict(vars(self))

    @classmethod
    def from_payload(cls, payload: dict[str, Any], *, source: str = "webhook") -> Signal:
        """The signal `to_payload()` wrote, back: checked, never normalised again. trade-worker's
        `/process` takes a signal its sender parsed already (the gateway, the desk's own orders), so
        a field not in its normal form (`btc/usdt`, `long`, `"0.1"`) is a bad caller's, refused with
        `SignalError`. Fields left out take their defaults; fields that are not the signal's are ignored."""
        details: list[dict[str, str]] = []
        out: dict[str, Any] = {"source": source}
        for name, ok, rule, required in _NORMAL_FIELDS:
            v = payload.get(name)
            if v is None:
                if required(payload):
                    details.append({"field": name, "issue": f"Required: {rule}."})
            elif ok(v):
                out[name] = float(v) if isinstance(v, int) and name in _NUMBERS else v
            else:
                details.append({"field": name, "issue": f"Must be {rule} (a normalised signal)."})
        if out.get("orderType", "MARKET") != "LIMIT":
            out.pop("price", None)  # a MARKET order has no price, as parse_signal makes it
        if details:
            raise SignalError(details)
        return cls(**out)

    def canonical(self) -> str:
        """The signal as stable text: sorted keys, no spaces, no idempotency key."""
        body = self.to_payload()
        del body["idempotencyKey"]
        if body["strategy"] is None:  # signals without one keep the key they always had
            del body["strategy"]
        return _CANONICAL.encode(body)

    def implicit_key(self) -> str:
        """sha256 of the canonical signal: two identical signals share it."""
        return hashlib.sha256(self.canonical().encode("utf-8")).hexdigest()


class SignalError(ValueError):
    """The payload is not a valid signal; `details` lists every problem as `{field, issue}`."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        fields = ", ".join(d["field"] for d in details)
        super().__init__(f"Invalid signal: check {fields}.")
        self.details = details


def normalize_symbol(raw: str) -> str:
    """`btc/usdt`, `BTC-USDT`, `BINANCE:BTCUSDT.P`, `BTC/USDT:USDT` → `BTCUSDT`.

    Raises ValueError when what is left is not a plain ticker.
    """
    s = raw.strip().upper()
    if ":" in s:
        left, right = s.split(":", 1)
        # ccxt writes the settle asset after the colon (BTC/USDT:USDT); TradingView puts the venue before it.
        s = left if "/" in left else right
    if "." in s:
        # TradingView marks perpetuals with a suffix (BTCUSDT.P); the exchanges do not use it.
        s = s.split(".", 1)[0]
    s = _SEPARATORS.sub("", s)
    if not _SYMBOL.match(s):
        raise ValueError("Not a symbol hoox can trade: expected e.g. BTCUSDT, BTC/USDT, BTC-USDT "
                         "or BINANCE:BTCUSDT.P.")
    return s


_NUMBERS = ("quantity", "leverage", "price")


# Above these no market trades (a quadrillion units, a trillion a unit); beyond them the figures
# an exchange works out from an order (its steps, its cost) leave a double's range.
MAX_QUANTITY = 1e15
MAX_PRICE = 1e12


def _positive(v: Any, limit: float = MAX_QUANTITY) -> bool:
    """A finite JSON number greater than zero and at most `limit` (not a string, not a boolean)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 < v <= limit


def _power(limit: float) -> str:
    return f"1e{round(math.log10(limit))}"


def _amount(value: Any, limit: float) -> float:
    """A number greater than zero and at most `limit`; ValueError naming the rule otherwise."""
    n = _number(value)
    if n <= 0:
        raise ValueError("Must be greater than zero.")
    if n > limit:
        raise ValueError(f"Must be at most {_power(limit)}.")
    return n


def _is_strategy_name(v: Any) -> bool:
    try:
        return isinstance(v, str) and strategy_name(v) == v
    except ValueError:
        return False


def _never(payload: dict[str, Any]) -> bool:
    return False


def _always(payload: dict[str, Any]) -> bool:
    return True


# A normalised signal's fields (`Signal.from_payload`), made once: the name, its test, the rule it
# states, and when it is required (asked only of a field left out).
_NORMAL_FIELDS: tuple[tuple[str, Callable[[Any], Any], str, Callable[[dict[str, Any]], bool]], ...] = (
    ("exchange", lambda v: v in EXCHANGES, "one of " + ", ".join(sorted(EXCHANGES)), _never),
    ("action", lambda v: v in ACTIONS, "one of " + ", ".join(ACTIONS), _always),
    ("symbol", lambda v: isinstance(v, str) and _SYMBOL.match(v), "a normalised symbol such as BTCUSDT", _always),
    ("quantity", _positive, f"a number greater than zero, at most {_power(MAX_QUANTITY)}",
     lambda p: p.get("action") != "CLOSE"),
    ("leverage", lambda v: _positive(v) and v >= 1, "a number from 1", _never),
    ("orderType", lambda v: v in ORDER_TYPES, "one of " + ", ".join(ORDER_TYPES), _never),
    ("price", lambda v: _positive(v, MAX_PRICE), f"a number greater than zero, at most {_power(MAX_PRICE)}",
     lambda p: p.get("orderType") == "LIMIT"),
    ("quantityType", lambda v: v in QUANTITY_TYPES, "one of " + ", ".join(QUANTITY_TYPES), _never),
    ("market", lambda v: v in MARKETS, "one of " + ", ".join(MARKETS), _never),
    ("idempotencyKey", lambda v: isinstance(v, str) and 0 < len(v) <= MAX_IDEMPOTENCY_KEY and v.isprintable(),
     f"printable text of at most {MAX_IDEMPOTENCY_KEY} characters", _never),
    ("strategy", _is_strategy_name, "a strategy name as the gateway writes it", _never),
)


def _number(value: Any) -> float:
    """A finite number from a JSON number or a numeric string; ValueError with the reason otherwise."""
    if isinstance(value, bool):
        raise ValueError("Must be a number, not true/false.")
    if isinstance(value, (int, float)):
        try:
            n = float(value)
        except OverflowError:  # an int beyond a double
            raise ValueError("Must be a finite number.") from None
    elif isinstance(value, str):
        text = value.strip()
        if "{{" in text:
            raise ValueError(f"Must be a number; got the placeholder {preview(text, limit=40)}, "
                             "which TradingView did not fill in.")
        try:
            n = float(text)
        except ValueError:
            raise ValueError(f"Must be a number, got {preview(text)}.") from None
    else:
        raise ValueError(f"Must be a number, got {type(value).__name__}.")
    if not math.isfinite(n):
        raise ValueError("Must be a finite number.")
    return n


def _idempotency_key(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("Must be a non-empty string.")
    if len(v) > MAX_IDEMPOTENCY_KEY:
        raise ValueError(f"At most {MAX_IDEMPOTENCY_KEY} characters (got {len(v)}).")
    if not v.isprintable():
        raise ValueError("Must be printable text (no control characters).")
    return v


def _choice(value: Any, choices: tuple[str, ...], *, upper: bool) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"Must be one of {', '.join(choices)}.")
    v = value.strip().upper() if upper else value.strip().lower()
    if v not in choices:
        raise ValueError(f"Must be one of {', '.join(choices)} (any case); got {preview(value.strip())}.")
    return v


def _present(raw: dict[str, Any], key: str) -> bool:
    """A field counts as given unless it is absent, null or an empty string."""
    v = raw.get(key)
    return v is not None and not (isinstance(v, str) and not v.strip())


def parse_signal(raw: Any, *, max_leverage: float = 125, source: str = "webhook") -> Signal:
    """Validate and normalise a signal payload (the passkey, if present, is ignored here)."""
    if not isinstance(raw, dict):
        raise SignalError([{"field": "(body)", "issue": "The signal must be a JSON object {...}."}])
    details: list[dict[str, str]] = []
    out: dict[str, Any] = {"source": source}

    def check(name: str, fn: Any) -> None:
        try:
            fn()
        except ValueError as exc:
            details.append({"field": name, "issue": str(exc)})

    for key in raw:
        if key not in ACCEPTED_FIELDS:
            details.append({"field": field_name(key),
                            "issue": f"Unknown field. Accepted fields: {', '.join(ACCEPTED_FIELDS)}."})

    def exchange() -> None:
        if _present(raw, "exchange"):
            v = raw["exchange"]
            if not isinstance(v, str) or v.strip().lower() not in EXCHANGES:
                raise ValueError(f"Must be one of {', '.join(sorted(EXCHANGES))}, or left out to use "
                                 f"{DEFAULT_ROUTING} (or {DEX} for an on-chain swap).")
            out["exchange"] = v.strip().lower()

    def action() -> None:
        if not _present(raw, "action"):
            raise ValueError("Required: LONG, SHORT or CLOSE.")
        out["action"] = _choice(raw["action"], ACTIONS, upper=True)

    def symbol() -> None:
        if not _present(raw, "symbol"):
            raise ValueError("Required, e.g. BTCUSDT.")
        if not isinstance(raw["symbol"], str):
            raise ValueError("Must be a string, e.g. BTCUSDT.")
        out["symbol"] = normalize_symbol(raw["symbol"])

    def quantity() -> None:
        if not _present(raw, "quantity"):
            if str(raw.get("action", "")).strip().upper() == "CLOSE":
                return  # CLOSE closes the open position's size
            raise ValueError("Required for LONG and SHORT: a number greater than zero.")
        out["quantity"] = _amount(raw["quantity"], MAX_QUANTITY)

    def leverage() -> None:
        if not _present(raw, "leverage"):
            return
        lev = _number(raw["leverage"])
        if lev < 1 or lev > max_leverage:
            raise ValueError(f"Must be between 1 and {max_leverage:g} (trade:max_leverage).")
        out["leverage"] = lev

    def order_type() -> None:
        if _present(raw, "orderType"):
            out["orderType"] = _choice(raw["orderType"], ORDER_TYPES, upper=True)

    def price() -> None:
        is_limit = isinstance(raw.get("orderType"), str) and raw["orderType"].strip().upper() == "LIMIT"
        if not _present(raw, "price"):
            if is_limit:
                raise ValueError("Required for LIMIT orders: a number greater than zero.")
            return
        p = _amount(raw["price"], MAX_PRICE)
        if is_limit:
            out["price"] = p

    def quantity_type() -> None:
        if _present(raw, "quantityType"):
            out["quantityType"] = _choice(raw["quantityType"], QUANTITY_TYPES, upper=False)

    def market() -> None:
        if _present(raw, "market"):
            out["market"] = _choice(raw["market"], MARKETS, upper=False)

    def idempotency_key() -> None:
        if raw.get("idempotencyKey") is not None:
            out["idempotencyKey"] = _idempotency_key(raw["idempotencyKey"])

    def strategy() -> None:
        if raw.get("strategy") is not None:
            out["strategy"] = strategy_name(raw["strategy"])

    checks = (("exchange", exchange), ("action", action), ("symbol", symbol), ("quantity", quantity),
              ("leverage", leverage), ("orderType", order_type), ("price", price),
              ("quantityType", quantity_type), ("market", market), ("idempotencyKey", idempotency_key),
              ("strategy", strategy))
    for name, fn in checks:
        check(name, fn)
    if details:
        raise SignalError(details)
    return Signal(**out)


def without_passkey(raw: Any) -> Any:
    """The payload as it may be stored: the passkey field removed (whatever its case)."""
    if isinstance(raw, dict):
        return {k: v for k, v in raw.items()
                if not (isinstance(k, str) and k.lower() == PASSKEY_FIELD.lower())}
    return raw


# =========================================================================== on-chain swaps
DEX = "dex"
DEX_ACTION = "SWAP"  # what a swap's ledger row shows as its action
DEFAULT_SLIPPAGE_BPS = 50
MAX_SLIPPAGE_BPS = 5000  # 50 %: a larger bound is no bound
DEFAULT_DEADLINE_S = 300
DEADLINE_RANGE_S = (30, 3600)  # shorter expires before a block; longer lets a stale quote execute
MAX_ACCOUNT = 2**31 - 1  # an HD account index (m/44'/60'/0'/0/i, unhardened)
MAX_QUANTITY_CHARS = 80  # 78 digits hold any uint256, plus a point and slack
DEX_FIELDS: tuple[str, ...] = (
    PASSKEY_FIELD, "exchange", "chain", "router", "tokenIn", "tokenOut", "quantity", "slippageBps",
    "deadlineSeconds", "to", "account", "idempotencyKey", "strategy",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class DexSignal:
    """A validated swap signal, made by `parse_dex_signal`: `quantity` of tokenIn for tokenOut through a
    Uniswap V2-style router on `chain` (a name of KV `web3:chains`), at least the router's quote less
    `slippageBps`. `to_payload()` is what trade-worker's `/dex` receives."""

    exchange: Literal["dex"] = "dex"
    chain: str
    router: str  # addresses: EIP-55 checksummed
    tokenIn: str
    tokenOut: str
    quantity: str  # tokenIn, in whole tokens, as a decimal string ("12.5")
    slippageBps: int = DEFAULT_SLIPPAGE_BPS
    deadlineSeconds: int = DEFAULT_DEADLINE_S
    to: str | None = None  # the recipient of tokenOut; the wallet's own address when left out
    account: int = 0  # the wallet's HD account that signs
    source: str = "webhook"
    idempotencyKey: str | None = None
    strategy: str | None = None

    action: ClassVar[str] = DEX_ACTION
    symbol: ClassVar[None] = None  # a swap has no exchange symbol; its row names the tokens in its signal

    def to_payload(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_payload(cls, payload: Any, *, source: str = "webhook") -> DexSignal:
        """The signal `to_payload()` wrote, back (checked again: trade-worker's `/dex` is an internal
        API, and a bad caller's payload is refused with `SignalError`). Parsing is idempotent, so a
        normalised payload comes back unchanged; `source` is its own, not a field to check."""
        body = {k: v for k, v in payload.items() if k != "source"} if isinstance(payload, dict) else payload
        return parse_dex_signal(body, source=source)

    def canonical(self) -> str:
        body = self.to_payload()
        del body["idempotencyKey"]
        if body["strategy"] is None:
            del body["strategy"]
        return _CANONICAL.encode(body)

    def implicit_key(self) -> str:
        return hashlib.sha256(self.canonical().encode("utf-8")).hexdigest()

    def row_quantity(self) -> float:
        """The ledger column's figure (REAL); the exact amount stays in the stored signal."""
        return float(Decimal(self.quantity))


_ADDRESS_SHAPE = re.compile(r"^0x[0-9a-fA-F]{40}$")
DEX_ADDRESS_FIELDS = ("router", "tokenIn", "tokenOut", "to")


def public_fields(raw: Any) -> tuple[str, ...]:
    """A swap's fields that hold exactly an address: public on chain, and what the operator reads, so
    they are stored as sent (a 42-character hex word would otherwise be masked as a credential)."""
    if not is_dex(raw):
        return ()
    return tuple(k for k in DEX_ADDRESS_FIELDS if isinstance(raw.get(k), str) and _ADDRESS_SHAPE.match(raw[k]))


def is_dex(raw: Any) -> bool:
    """Is this payload a swap (`"exchange": "dex"`, any case)?"""
    v = raw.get("exchange") if isinstance(raw, dict) else None
    return isinstance(v, str) and v.strip().lower() == DEX


def parse_any_signal(raw: Any, *, max_leverage: float = 125, source: str = "webhook") -> Signal | DexSignal:
    """A swap (`"exchange": "dex"`) or an exchange order, each by its own rules."""
    if is_dex(raw):
        return parse_dex_signal(raw, source=source)
    return parse_signal(raw, max_leverage=max_leverage, source=source)


def _address(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("Must be a 0x-prefixed 20-byte hex address as a string.")
    try:
        return evm.checksum(evm.parse_address(v.strip()))
    except ValueError as exc:
        raise ValueError(f"Must be a 0x-prefixed 20-byte hex address (42 characters); {preview(v.strip())} "
                         f"{exc}." if "checksum" in str(exc) else
                         f"Must be a 0x-prefixed 20-byte hex address (42 characters); got {preview(v.strip())}."
                         ) from None


def _decimal_text(v: Any) -> str:
    """A positive amount from a JSON number or a numeric string, as a plain decimal string."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError('Must be a positive amount: a number or a decimal string such as "12.5".')
    text = repr(v) if isinstance(v, float) else str(v).strip()
    if "{{" in text:
        raise ValueError(f"Must be an amount; got the placeholder {preview(text, limit=40)}, which TradingView did "
                         "not fill in.")
    if len(text) > MAX_QUANTITY_CHARS:
        raise ValueError(f"At most {MAX_QUANTITY_CHARS} characters (got {len(text)}).")
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise ValueError(f'Must be a decimal amount such as "12.5"; got {preview(text)}.') from None
    if not d.is_finite() or d <= 0:
        raise ValueError(f"Must be greater than zero; got {preview(text)}.")
    return format(d.normalize(), "f")


def _whole_in(v: Any, lo: int, hi: int, what: str) -> int:
    """A whole number from lo to hi, as a JSON number or a numeric string (`"100"`, `100.0`)."""
    n: int | None = None
    if isinstance(v, int) and not isinstance(v, bool):
        n = v
    elif (isinstance(v, float) and v.is_integer()) or (isinstance(v, str) and re.fullmatch(r"\s*[0-9]{1,12}\s*", v)):
        n = int(v)
    if n is None:
        if isinstance(v, str) and "{{" in v:
            raise ValueError(f"Must be {what}; got the placeholder {preview(v, limit=40)}, which TradingView did not "
                             "fill in.")
        raise ValueError(f"Must be {what} from {lo} to {hi}; got {preview(v)}.")
    if not lo <= n <= hi:
        raise ValueError(f"Must be {what} from {lo} to {hi}; got {n}.")
    return n


def parse_dex_signal(raw: Any, *, source: str = "webhook") -> DexSignal:
    """Validate and normalise a swap signal (the passkey, if present, is ignored here): every problem at
    once, as `SignalError` details of `{field, issue}` like an exchange signal's."""
    if not isinstance(raw, dict):
        raise SignalError([{"field": "(body)", "issue": "The signal must be a JSON object {...}."}])
    details: list[dict[str, str]] = []
    out: dict[str, Any] = {"source": source}

    def field(name: str, parse: Any, *, required: str | None = None) -> None:
        if not _present(raw, name):
            if required:
                details.append({"field": name, "issue": f"Required: {required}."})
            return
        try:
            out[name] = parse(raw[name])
        except ValueError as exc:
            details.append({"field": name, "issue": str(exc)})

    for key in raw:
        if key not in DEX_FIELDS:
            details.append({"field": field_name(key), "issue": "Unknown field for a swap (exchange dex). Accepted "
                            f"fields: {', '.join(DEX_FIELDS)}."})

    def exchange(v: Any) -> str:
        if not (isinstance(v, str) and v.strip().lower() == DEX):
            raise ValueError(f'Must be "{DEX}" for a swap.')
        return DEX

    def chain(v: Any) -> str:
        name = v.strip().lower() if isinstance(v, str) else None
        if name is None or not wallet_config.CHAIN_NAME.match(name):
            raise ValueError("Must be the name of a chain of KV web3:chains (1-32 lower-case letters, digits or "
                             f"'-', e.g. base); got {preview(v)}.")
        return name

    field("exchange", exchange, required=f'"{DEX}"')
    field("chain", chain, required="the chain's name in KV web3:chains, e.g. base")
    field("router", _address, required="the Uniswap V2-style router's 0x address")
    field("tokenIn", _address, required="the 0x address of the ERC-20 to sell")
    field("tokenOut", _address, required="the 0x address of the ERC-20 to buy")
    field("quantity", _decimal_text, required='the tokenIn amount to sell, e.g. "12.5"')
    field("slippageBps", lambda v: _whole_in(v, 0, MAX_SLIPPAGE_BPS, "basis points"))
    field("deadlineSeconds", lambda v: _whole_in(v, *DEADLINE_RANGE_S, "seconds"))
    field("to", _address)
    field("account", lambda v: _whole_in(v, 0, MAX_ACCOUNT, "an HD account index"))
    field("idempotencyKey", _idempotency_key)
    field("strategy", strategy_name)
    if out.get("tokenIn") is not None and out.get("tokenIn") == out.get("tokenOut"):
        details.append({"field": "tokenOut", "issue": "Must differ from tokenIn: a swap sells one token for another."})
    if details:
        raise SignalError(details)
    return DexSignal(**out)
