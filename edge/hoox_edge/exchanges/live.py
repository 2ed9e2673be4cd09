"""`LiveExchange`: the shared base of the real exchange connectors (mode "live").

A connector subclass supplies six things: `sign` (the vendor's signing rule: headers, the final
query parameters and the exact body bytes), `classify` (the vendor's answers by meaning: an
`ExchangeError` to raise, or None for success), `server_time_ms`, `fetch_instrument_info`, `submit`
(an order; `place_order` sets the symbol's margin mode and leverage first when the order asks) and
the other `ExchangeProvider` methods built on `request`. Everything else is here, once for every exchange:

- Instrument rules, cached in KV and kept by the connector for the orders it serves (`instrument_info`).
- Transport failures by what they mean for an order: a connection that could not be made (or a
  request that could not be written) never reached the exchange -> "unavailable"; a timeout or a
  dropped connection after the request was sent may have been executed -> "timeout" (the
  trade-worker then looks the order up by its client order id before it places anything).
- Clock skew: when `classify` answers "clock_skew" the offset to the exchange's server time is
  measured once and the call is repeated once with a fresh timestamp and signature.
- Request logs: every call, request and response with secrets and signatures redacted, to R2
  (`SYSTEM_LOGS_BUCKET`) under `logs/{exchange}/{symbol}/{YYYY-MM-DD}/{HHMMSSmmm}-{n}-{endpoint}.json`,
  and one "exchange-call" data point to the worker's Analytics Engine dataset (layout in
  `hoox_edge.workers.analytics`; blob7 holds the rate-limit headers as JSON, double4 the remaining
  rate budget the exchange reported, -1 when it reported none, double5 when the call started).

Credentials come from `credentials(env, exchange)`, the one place that knows the secret names;
where requests go from `base_url(env, exchange, cls)` (KV `exchanges:{exchange}:base_url`, else the
vendor's testnet when `exchanges:{exchange}:testnet` is true, else the production host).

Which class serves an exchange and market: `hoox_edge.exchanges.provider_for` imports
`hoox_edge.exchanges.{exchange}` and takes the `LiveExchange` subclass whose `name` is the exchange
and whose `markets` include the signal's market.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal

import httpx

from hoox_edge import exchange_catalog
from hoox_edge.exchanges.base import (
    Balance,
    ExchangeError,
    InstrumentRules,
    MarginMode,
    Market,
    OrderRequest,
    OrderResult,
    Position,
)
from hoox_edge.exchanges.signing import canonical_query
from hoox_edge.ports import Env
from hoox_edge.shared import clock, settings
from hoox_edge.shared.http import http_client
from hoox_edge.shared.redact import MASK, capped, redact
from hoox_edge.shared.telemetry import exchange_call_point

DEFAULT_TIMEOUT = 5.0  # seconds per HTTP call; the gateway queues a signal slower than its own budget
_RATE_HEADER = re.compile(r"(limit|retry-after|used-weight|order-count)", re.IGNORECASE)
_SIGNATURE_PARAMS = ("signature", "sign")
_seq = itertools.count(1)


@dataclass(frozen=True)
class Credentials:
    api_key: str
    api_secret: str

    def __repr__(self) -> str:  # never print the values
        return "Credentials(api_key=***, api_secret=***)"


def secret_names(exchange: str) -> tuple[str, str]:
    """The secrets holding an exchange's API key and secret, e.g. BYBIT_API_KEY / BYBIT_API_SECRET."""
    return exchange_catalog.exchange(exchange).secrets


def credentials(env: Env, exchange: str) -> Credentials | None:
    """The exchange's API key pair from the worker's secrets; None when either is missing."""
    key_name, secret_name = secret_names(exchange)
    key, secret = env.get(key_name), env.get(secret_name)
    if not isinstance(key, str) or not key.strip() or not isinstance(secret, str) or not secret.strip():
        return None
    return Credentials(key.strip(), secret.strip())


async def base_url(env: Env, exchange: str, cls: type[LiveExchange]) -> str:
    """KV `exchanges:{exchange}:base_url`, else the testnet host when `exchanges:{exchange}:testnet`,
    else the vendor's production host."""
    kv = env.CONFIG_KV
    try:
        override = await settings.get(kv, settings.base_url_of(exchange))
        testnet = await settings.get(kv, settings.testnet_of(exchange))
    except settings.SettingError as e:
        raise ExchangeError("rejected", f"setting {e.key} is invalid: {e.message}", code="CONFIG") from None
    if override:
        url = str(override).strip()
        if not re.match(r"^https?://[^/\s]+", url):
            raise ExchangeError("rejected", f"KV exchanges:{exchange}:base_url must be an http(s) URL, got {url!r}",
                                code="CONFIG")
        return url.rstrip("/")
    if testnet:
        if not cls.testnet_base_url:
            raise ExchangeError(
                "rejected", f"{exchange} has no testnet for this market: unset KV exchanges:{exchange}:testnet "
                f"or point exchanges:{exchange}:base_url at a host", code="NO_TESTNET")
        return cls.testnet_base_url.rstrip("/")
    return cls.default_base_url.rstrip("/")


def dec(v: Any) -> Decimal:
    """`v` as a Decimal (0 when it is not a number)."""
    try:
        return Decimal(str(v))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def plain(v: Any) -> str:
    """A number as a plain decimal string (never `1e-05`): how the exchanges want quantities."""
    d = dec(v)
    if d == d.to_integral_value():
        return str(d.quantize(Decimal(1)))
    text = format(d.normalize(), "f")
    return "0" if text in ("-0", "") else text


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The Retry-After header in seconds; None when absent, malformed or negative."""
    raw = headers.get("Retry-After") or headers.get("retry-after")
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None


def num(v: Any, default: float = 0.0) -> float:
    """A number the exchange sent (often as text) as a float; `default` when missing or not finite."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return default
    return f if math.isfinite(f) else default


def body_bytes(body: Mapping[str, Any] | None) -> bytes | None:
    """Compact JSON bytes of a body (sign these exact bytes)."""
    if body is None:
        return None
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


class LiveExchange:
    """Base of every real connector (implements `ExchangeProvider`, mode "live")."""

    name: ClassVar[str]
    default_base_url: ClassVar[str]
    testnet_base_url: ClassVar[str | None] = None
    markets: ClassVar[tuple[Market, ...]] = ("futures", "spot")
    instrument_info_keys: ClassVar[tuple[str, ...]] = ("qty_step", "min_qty", "min_notional", "tick_size")
    mode: Literal["paper", "live"] = "live"

    def __init__(self, env: Env, *, base_url: str, creds: Credentials | None, market: Market = "futures",
                 timeout: float | None = None) -> None:
        self.env = env
        self.base_url = base_url.rstrip("/")
        self.creds = creds
        self.market: Market = market
        self.timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self.request_id: str | None = None  # set by the trade-worker: ties logs and data points to a signal
        self.offset_ms = 0  # exchange clock minus ours, measured after a clock-skew answer
        self._client: httpx.AsyncClient | None = None
        self._instruments: dict[str, dict[str, Any]] = {}  # by symbol: see `instrument_info`

    # ------------------------------------------------------------------ subclass hooks
    def sign(self, method: str, path: str, params: dict, body: dict | None,
             timestamp_ms: int) -> tuple[dict[str, str], dict, bytes | None]:
        """Headers to add, the final query parameters and the exact body bytes of a signed call."""
        raise NotImplementedError

    def classify(self, status: int, headers: Mapping[str, str], payload: Any) -> ExchangeError | None:
        """The vendor's answer by meaning: an error to raise, or None when it succeeded."""
        raise NotImplementedError

    async def server_time_ms(self) -> int:
        raise NotImplementedError

    async def fetch_instrument_info(self, symbol: str) -> dict[str, Any]:
        """The trading rules of a symbol read from the exchange, as a dict with `instrument_info_keys`
        (`instrument_info` caches it)."""
        raise NotImplementedError

    async def submit(self, order: OrderRequest) -> OrderResult:
        """Send the order itself (the vendor's call); `place_order` sets the symbol up first."""
        raise NotImplementedError

    # The rest of `ExchangeProvider`: the vendor's calls.
    async def get_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        raise NotImplementedError

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderResult:
        raise NotImplementedError

    async def set_leverage(self, symbol: str, leverage: float) -> None:
        raise NotImplementedError

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        raise NotImplementedError

    async def positions(self, symbol: str | None = None) -> list[Position]:
        raise NotImplementedError

    async def balance(self, asset: str = "USDT") -> Balance:
        raise NotImplementedError

    async def ticker(self, symbol: str) -> float:
        raise NotImplementedError

    async def mark_price(self, symbol: str) -> float:
        raise NotImplementedError

    async def place_order(self, order: OrderRequest) -> OrderResult:
        if order.margin_mode is not None:
            # Margin mode first: exchanges refuse to change it under a leverage they do not expect.
            await self.set_margin_mode(order.symbol, order.margin_mode)
        if order.apply_leverage:
            await self.set_leverage(order.symbol, order.leverage)
        return await self.submit(order)

    def rate_budget(self, headers: Mapping[str, str]) -> float | None:
        """Remaining requests (or weight) the exchange reported, for analytics; None when unknown."""
        return None

    @property
    def reads_positions(self) -> bool:
        """Does `positions()` read the account's derivative positions from the exchange? Spot
        connectors hold coins (balances), not positions, and answer `positions()` with []."""
        return self.market == "futures"

    async def instrument_info(self, symbol: str) -> dict[str, Any]:
        """Trading rules, cached in KV (`cache:instruments:{exchange}:{market}:{SYMBOL}`) for
        `exchanges:instrument_cache_ttl` seconds (they change rarely and cost a call per order), and
        kept by this connector, which reads them several times for one order."""
        symbol = symbol.upper()
        if symbol in self._instruments:
            return self._instruments[symbol]
        key = f"cache:instruments:{self.name}:{self.market}:{symbol}"
        kv = self.env.get("CONFIG_KV")
        info: Any = None
        if kv is not None:
            cached = await kv.get(key)
            try:
                info = json.loads(cached) if cached else None
            except ValueError:
                info = None
            if not isinstance(info, dict) or not all(k in info for k in self.instrument_info_keys):
                info = None  # an old or broken entry: read the rules again
        if info is None:
            info = await self.fetch_instrument_info(symbol)
            if kv is not None:
                try:
                    ttl = int(await settings.get(kv, settings.INSTRUMENT_CACHE_TTL))
                except settings.SettingError:
                    ttl = 3600
                await kv.put(key, json.dumps(info), expiration_ttl=max(60, ttl))
        self._instruments[symbol] = info
        return info

    async def instrument(self, symbol: str) -> InstrumentRules:
        i = await self.instrument_info(symbol)
        return InstrumentRules(symbol=symbol.upper(), qty_step=i["qty_step"], min_qty=i["min_qty"],
                               min_notional=i["min_notional"], tick_size=i["tick_size"])

    # ------------------------------------------------------------------ plumbing
    def now_ms(self) -> int:
        return clock.now_ms() + self.offset_ms

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = http_client(timeout=self.timeout)
        return self._client

    def _secrets(self) -> list[str]:
        known = list(self.env.secret_values())
        if self.creds is not None:
            known += [self.creds.api_key, self.creds.api_secret]
        return known

    async def request(self, method: str, path: str, *, params: dict | None = None, body: dict | None = None,
                      signed: bool = False, endpoint: str | None = None) -> Any:
        """One call to the exchange; the payload on success, else `ExchangeError` by meaning."""
        try:
            return await self._request_once(method, path, params, body, signed, endpoint)
        except ExchangeError as exc:
            if exc.kind != "clock_skew":
                raise
        # Our clock and the exchange's disagree: measure the offset once and try once more.
        self.offset_ms = int(await self.server_time_ms()) - clock.now_ms()
        return await self._request_once(method, path, params, body, signed, endpoint)

    async def _request_once(self, method: str, path: str, params: dict | None, body: dict | None,
                            signed: bool, endpoint: str | None) -> Any:
        method = method.upper()
        params = {k: v for k, v in (params or {}).items() if v is not None}
        headers: dict[str, str] = {}
        if signed:
            if self.creds is None:
                key, secret = secret_names(self.name)
                raise ExchangeError("rejected", f"{self.name} credentials are not set: set the secrets {key} and "
                                    f"{secret}", code="NO_CREDENTIALS")
            headers, params, raw = self.sign(method, path, dict(params), body, self.now_ms())
        else:
            raw = body_bytes(body)
        if raw is not None:
            headers.setdefault("Content-Type", "application/json")
        qs = canonical_query(params)  # the exact text `sign` signed
        url = f"{self.base_url}{path}" + (f"?{qs}" if qs else "")
        started = time.perf_counter()
        started_ms = clock.now_ms()
        status = 0
        resp_headers: Mapping[str, str] = {}
        payload: Any = None
        error: ExchangeError | None = None
        try:
            try:
                resp = await self._http().request(method, url, headers=headers, content=raw)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as e:
                raise ExchangeError("unavailable", f"{self.name} could not be reached ({type(e).__name__}); "
                                    "nothing was sent", code="UNREACHABLE") from None
            except (httpx.TimeoutException, httpx.TransportError) as e:
                # Sent (or partly sent): the exchange may have carried it out.
                raise ExchangeError("timeout", f"{self.name} did not answer {method} {path} within "
                                    f"{self.timeout:g} s ({type(e).__name__}); it may have been carried out",
                                    code="TIMEOUT") from None
            status = resp.status_code
            resp_headers = resp.headers
            try:
                payload = resp.json()
            except ValueError:
                payload = resp.text[:2000]
            error = self.classify(status, resp_headers, payload)
            if error is None and status >= 500:
                error = ExchangeError("unavailable", f"{self.name} answered HTTP {status}", code=str(status))
            if error is not None:
                raise error
            return payload
        except ExchangeError as exc:
            error = exc
            raise
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            await self._record(method, path, endpoint, params, body, headers, status, resp_headers, payload,
                               error, latency_ms, started_ms)

    # ------------------------------------------------------------------ records
    async def _record(self, method: str, path: str, endpoint: str | None, params: dict, body: dict | None,
                      headers: Mapping[str, str], status: int, resp_headers: Mapping[str, str], payload: Any,
                      error: ExchangeError | None, latency_ms: float, started_ms: int | None = None) -> None:
        """Request log to R2 and a data point to Analytics Engine. Never raises."""
        if started_ms is None:  # the call ended now
            started_ms = int(clock.now_ms() - latency_ms)
        op = endpoint or path.strip("/").replace("/", "_")
        rate = {k: v for k, v in resp_headers.items() if _RATE_HEADER.search(k)}
        symbol = str(params.get("symbol") or (body or {}).get("symbol") or "_").upper()
        secrets = self._secrets()
        safe_params = {k: (MASK if k in _SIGNATURE_PARAMS else v) for k, v in params.items()}
        at = clock.iso()
        doc = {
            "exchange": self.name, "mode": "live", "market": self.market, "endpoint": op,
            "requestId": self.request_id, "at": at,
            "request": {"method": method, "url": f"{self.base_url}{path}", "params": safe_params, "body": body,
                        "headers": dict(headers)},
            "response": {"status": status, "headers": dict(resp_headers), "body": payload},
            "error": None if error is None else {"kind": error.kind, "code": error.code, "message": error.message},
            "latencyMs": round(latency_ms, 3),
        }
        bucket = self.env.get("SYSTEM_LOGS_BUCKET")
        if bucket is not None:
            try:
                stamp = re.sub(r"\D", "", at[11:23])
                key = f"logs/{self.name}/{symbol}/{at[:10]}/{stamp}-{next(_seq)}-{op}.json"
                safe = redact(doc, secrets)
                # Bodies capped at 4 KB each (after redaction, so no secret is cut in half): an
                # instruments list or an error page can weigh megabytes.
                for part in ("request", "response"):
                    safe[part]["body"] = capped(safe[part]["body"])
                text = json.dumps(safe, default=str, indent=2)
                await bucket.put(key, text, content_type="application/json")
            except Exception:  # a log must never fail the order it describes
                pass
        dataset = self.env.get("ANALYTICS_ENGINE")
        if dataset is not None:
            try:
                budget = self.rate_budget(resp_headers)
                outcome = "ok" if error is None else error.kind
                rate_text = json.dumps(redact(rate, secrets), separators=(",", ":"))[:1024]
                dataset.write_data_point(**exchange_call_point(
                    worker=self.env.worker, exchange=self.name, operation=op, outcome=outcome, mode="live",
                    rate=rate_text, latency_ms=latency_ms, status=status, budget=budget, started_ms=started_ms,
                    request_id=self.request_id))
            except Exception:
                pass
