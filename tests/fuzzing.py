"""Hostile requests for the edge, generated from a seed (`tests/test_fuzz.py`, `bench/fuzz.py`).

A hand-written generator on `random.Random(seed)` rather than hypothesis: the same code drives a
fixed-seed test in the suite and a 30,000-request run with a printed random seed, every request
is a mutation of a *valid* one (so most reach deep code instead of the first type check), and
the raw bytes can hold what `json.dumps` cannot write (`1e400`, `NaN`, 1,000 brackets, invalid
UTF-8, duplicate keys).

`Fuzzer.requests(family, n)` yields `Request`s; `check(response)` says what is wrong with an
answer: a 500, a 5xx that is not one of the contract's deliberate codes, or an error that is
not the standard envelope.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

# The contract's deliberate 5xx answers (docs/architecture.md "Status codes", docs/operator-api.md).
# NOT_PLACED: the signal state machine's final refusal of a delivery that placed nothing (502/503).
DELIBERATE_5XX = {
    501: {"NOT_AVAILABLE"},
    502: {"EXCHANGE_ERROR", "TRADE_SERVICE_ERROR", "NOT_PLACED"},
    503: {"KILL_SWITCH_ACTIVE", "EXCHANGE_UNAVAILABLE", "TRADE_SERVICE_UNAVAILABLE", "IDEMPOTENCY_UNAVAILABLE",
          "NOT_AVAILABLE", "NOT_PLACED"},
    504: {"OUTCOME_UNKNOWN"},
}


class Raw:
    """JSON text written as it is (a number json.dumps refuses, a deep nest, a duplicate key)."""

    def __init__(self, text: str) -> None:
        self.text = text


def dump(value: Any) -> str:
    """JSON text of `value`; `Raw` parts verbatim, strings with ASCII escapes (so `\\ud800` stays one)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)


@dataclass
class Request:
    worker: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        body = (self.body or b"")[:300]
        return f"{self.worker} {self.method} {self.path[:300]} body={body!r}"


# Odd but harmless text: none of it is a statement that writes (d1-worker runs what it is sent).
STRINGS = [
    "", " ", "BTCUSDT", "btc/usdt", "BTC-USDT", "BINANCE:BTCUSDT.P", "!!!", "LONG", "long", "SHORT", "CLOSE",
    "MARKET", "LIMIT", "bybit", "paper", "live", "0", "-1", "1e400", "NaN", "Infinity", "-0", "0x10", "1_000",
    "{{strategy.order.contracts}}", "' OR 1=1 --", "%_\\", "\\", "\u0000", "\x7f", "\t\n", "🚀", "é" * 40,
    "a" * 600, "x" * 5000, "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "2026-01-05T12:00:00Z", "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00", "null", "true", "[]", "{}", "<script>", "../../etc/passwd", "trade:kill_switch",
    "exchanges:paper:price:BTCUSDT", "webhooks:retry_schedule_seconds",
]
SURROGATES = ["\\ud800", "\\udfff", "a\\ud83d", "\\ud83d\\ude80"]  # JSON escapes; the last is a valid pair
NUMBERS = [0, -1, 1, 0.5, -0.0, 1e-300, 1e308, 2**53, 2**63 - 1, -(2**63), 125, 126, 10_000, 10_001]
RAW_NUMBERS = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "9" * 20, "-" + "9" * 25, "1" + "0" * 400,
               "1e-400", "0.0000000000000000000000001", "123456789012345678901234567890.5"]


class Fuzzer:
    def __init__(self, seed: int, *, secrets: dict[str, str] | None = None) -> None:
        self.rng = random.Random(seed)
        self.secrets = secrets or {}

    # ------------------------------------------------------------------ values
    def string(self) -> Any:
        r = self.rng.random()
        if r < 0.1:
            return Raw('"' + self.rng.choice(SURROGATES) + '"')
        if r < 0.15:
            return "".join(chr(self.rng.randrange(0x20, 0x2FFF)) for _ in range(self.rng.randrange(1, 40)))
        return self.rng.choice(STRINGS)

    def number(self) -> Any:
        if self.rng.random() < 0.4:
            return Raw(self.rng.choice(RAW_NUMBERS))
        return self.rng.choice(NUMBERS)

    def value(self, depth: int = 0) -> Any:
        r = self.rng.random()
        if r < 0.3:
            return self.string()
        if r < 0.55:
            return self.number()
        if r < 0.65:
            return self.rng.choice([True, False, None])
        if r < 0.72:
            return self.deep()
        if depth > 2:
            return None
        if r < 0.86:
            return [self.value(depth + 1) for _ in range(self.rng.randrange(0, 4))]
        return {self.key(): self.value(depth + 1) for _ in range(self.rng.randrange(0, 4))}

    def deep(self) -> Raw:
        n = self.rng.choice([31, 32, 33, 40, 200, 1000, 5000])
        opener, closer = ("[", "]") if self.rng.random() < 0.5 else ('{"a":', "}")
        return Raw(opener * n + "1" + closer * n)

    def key(self) -> Any:
        r = self.rng.random()
        if r < 0.1 and self.secrets:
            return self.rng.choice(list(self.secrets.values()))
        if r < 0.2:
            return Raw('"' + self.rng.choice(SURROGATES) + '"')  # used as a key by `_object`
        if r < 0.3:
            return "k" * self.rng.choice([65, 600, 70_000])
        return self.rng.choice(["levrage", "idempotency_key", "APIKEY", "password", "token", "extra", "", "💥",
                                "__proto__", "constructor", "x.y", "a b"])

    # ------------------------------------------------------------------ bodies
    def _object(self, pairs: list[tuple[Any, Any]]) -> Raw:
        parts = []
        for k, v in pairs:
            key = k.text if isinstance(k, Raw) else json.dumps(str(k))
            parts.append(f"{key}:{dump(v)}")
        return Raw("{" + ",".join(parts) + "}")

    def mutate(self, valid: dict[str, Any]) -> bytes:
        """A mutation of `valid` (or, now and then, something that is not JSON at all)."""
        r = self.rng.random()
        if r < 0.04:
            return b""
        if r < 0.08:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 200)))
        if r < 0.11:
            return dump(valid).encode()[: self.rng.randrange(1, 40)]  # cut off
        if r < 0.14:
            return dump(self.value()).encode("utf-8", errors="surrogatepass")  # not an object
        if r < 0.16:
            return b"\xed\xa0\x80" + dump(valid).encode()  # a UTF-8-encoded surrogate: not UTF-8
        if r < 0.18:
            return self.deep().text.encode()
        pairs: list[tuple[Any, Any]] = list(valid.items())
        for _ in range(self.rng.randrange(1, 4)):
            op = self.rng.random()
            if op < 0.45 and pairs:
                i = self.rng.randrange(len(pairs))
                pairs[i] = (pairs[i][0], self.value())
            elif op < 0.6 and pairs:
                pairs.pop(self.rng.randrange(len(pairs)))
            elif op < 0.8:
                pairs.append((self.key(), self.value()))
            elif op < 0.9 and pairs:
                pairs.append(self.rng.choice(pairs))  # a duplicate key
            elif self.secrets and pairs:
                i = self.rng.randrange(len(pairs))
                pairs[i] = (pairs[i][0], self.rng.choice(list(self.secrets.values())))
        text = self._object(pairs).text
        if self.rng.random() < 0.03:
            text = text + " " * self.rng.choice([70_000, 1_100_000])  # over the body limits
        return text.encode("utf-8", errors="surrogatepass")

    # ------------------------------------------------------------------ query strings
    def query(self, names: list[str]) -> str:
        pairs = []
        for _ in range(self.rng.randrange(0, 4)):
            known = names and self.rng.random() < 0.8
            name = self.rng.choice(names) if known else self.rng.choice(["limt", "x", "", "é"])
            value = self.string()
            if isinstance(value, Raw):
                value = "\ud800"
            if self.rng.random() < 0.3:
                value = self.rng.choice(["0", "1", "500", "501", "-1", "9" * 20, "1e3", " 5", "1_0", "５",
                                         "2026-01-05", "9999-12-31T23:59:59-14:00", "warning", "WARNING"])
            pairs.append(quote(name, errors="surrogatepass") + "=" + quote(str(value), errors="surrogatepass"))
        if self.rng.random() < 0.05:
            pairs.append("%ff%fe=%ed%a0%80")  # bytes that are not UTF-8
        return ("?" + "&".join(pairs)) if pairs else ""

    def segment(self) -> str:
        value = self.string()
        text = "\ud800" if isinstance(value, Raw) else str(value)
        return quote(text, safe="", errors="surrogatepass") or "x"

    # ------------------------------------------------------------------ the families
    def requests(self, family: str, n: int) -> Iterator[Request]:
        make: Callable[[], Request] = getattr(self, f"_{family}")
        for _ in range(n):
            yield make()

    # The valid requests each family mutates; `ctx` values are filled in by the test.
    webhook_passkey = ""
    internal_key = ""
    operator_token = ""

    def _webhook(self) -> Request:
        valid = {"apiKey": self.webhook_passkey, "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT",
                 "quantity": 0.001, "idempotencyKey": f"fz-{self.rng.randrange(10**9)}"}
        if self.rng.random() < 0.3:
            valid.update(orderType="LIMIT", price=60000, leverage=3)
        if self.rng.random() < 0.1:
            valid = {"apiKey": self.webhook_passkey, "action": "CLOSE", "symbol": "BTCUSDT"}
        headers = {"Content-Type": self.rng.choice(["application/json", "text/plain", "", "application/x-www-form"])}
        if self.rng.random() < 0.1:
            headers["X-Forwarded-For"] = self.rng.choice(["52.89.214.238", "garbage", "1.2.3.4, 52.89.214.238"])
        return Request("hoox", "POST", "/webhook", self.mutate(valid), headers)

    def _operator(self) -> Request:
        auth = {"Authorization": f"Bearer {self.operator_token}"}
        r = self.rng.random()
        if r < 0.45:
            path, names = self.rng.choice([
                ("/v1/trades", ["symbol", "exchange", "status", "since", "limit", "cursor"]),
                ("/v1/logs", ["level", "worker", "requestId", "q", "limit", "cursor"]),
                ("/v1/alerts", ["level", "limit", "cursor"]),
                ("/v1/stats", ["mode"]),
                ("/v1/config/kv", ["prefix"]),
                ("/v1/kill-switch", []),
                ("/v1/positions", []),
                ("/v1/queues", []),
                ("/v1/stream", ["topics", "lastEventId", "since"]),
                (f"/v1/workers/{self.rng.choice(['hoox', 'trade-worker', self.segment()])}", []),
                (f"/v1/config/kv/{self.rng.choice(['trade:mode', 'exchanges:paper:price:BTCUSDT', self.segment()])}",
                 []),
            ])
            headers = dict(auth)
            if path == "/v1/stream" and self.rng.random() < 0.3:
                headers["Last-Event-ID"] = self.rng.choice(["abc", "9" * 30, "-1", "0", " 3"])
            return Request("hoox", "GET", path + self.query(names), None, headers)
        if r < 0.6:
            key = self.rng.choice(["webhooks:rate_limit_per_minute", "webhooks:retry_schedule_seconds",
                                   "exchanges:paper:price:BTCUSDT", "exchanges:paper:instruments",
                                   "webhook:trusted_proxies", "trade:kill_switch_reason", "trade:mode",
                                   "exchanges:paper:price:" + self.segment(), self.segment()])
            valid = {"value": self.rng.choice(["10", 10, [30, 60], "30,60", 61000.5, ["10.0.0.0/8"], "paper"])}
            return Request("hoox", "PUT", f"/v1/config/kv/{quote(key, safe=':')}", self.mutate(valid), auth)
        if r < 0.7:
            return Request("hoox", "POST", "/v1/kill-switch", self.mutate({"on": False, "reason": "fuzz"}), auth)
        if r < 0.9:
            valid = {"query": self.rng.choice(["SELECT 1", "SELECT * FROM trades WHERE symbol = ?",
                                               "SELECT x'00ff' AS b, 1e999 AS big",
                                               "WITH a AS (SELECT 1) SELECT * FROM a",
                                               "SELECT * FROM system_logs LIMIT ?"]),
                     "params": ["BTCUSDT"], "maxRows": 10}
            return Request("hoox", "POST", "/v1/db/query", self.mutate(valid), auth)
        if r < 0.95:
            return Request("hoox", "DELETE", f"/v1/config/kv/{self.segment()}", None, auth)
        return Request("hoox", "POST", f"/v1/queues/dead-letter/{self.segment()}/replay", None, auth)

    def _internal(self) -> Request:
        headers = {"X-Internal-Auth-Key": self.internal_key, "Content-Type": "application/json"}
        if self.rng.random() < 0.2:
            headers["X-Request-Id"] = self.rng.choice(["r-1", "x" * 300, "a b", "\u00e9"])
        r = self.rng.random()
        if r < 0.3:
            signal = {"action": "LONG", "symbol": "BTCUSDT", "quantity": 0.001, "exchange": "bybit",
                      "source": "webhook"}
            valid = {"requestId": f"fz-{self.rng.randrange(10**9)}", "payload": signal}
            if self.rng.random() < 0.5:
                body = self.mutate(valid)
            else:  # mutate the signal inside a valid envelope
                body = b'{"requestId":"fz-%d","payload":' % self.rng.randrange(10**9) + self.mutate(signal) + b"}"
            return Request("trade-worker", "POST", "/process", body, headers)
        if r < 0.45:
            valid = {"query": self.rng.choice(["SELECT 1 AS one", "SELECT * FROM trades WHERE symbol = ?",
                                               "SELECT x'00ff' AS b, 1e999 AS big"]), "params": ["BTCUSDT"]}
            return Request("d1-worker", "POST", "/query", self.mutate(valid), headers)
        if r < 0.55:
            valid = {"queries": [{"query": "SELECT 1", "params": []}, {"query": "SELECT ?", "params": [2]}]}
            return Request("d1-worker", "POST", "/batch", self.mutate(valid), headers)
        if r < 0.65:
            table = self.rng.choice(["trades", "system_logs", "alerts", "d1_migrations", self.segment()])
            names = ["limit", "offset", "order", "symbol", "status", "level", "nope"]
            return Request("d1-worker", "GET", f"/{table}" + self.query(names), None, headers)
        if r < 0.8:
            valid = {"requestId": "fz", "payload": {"message": "fuzz alert", "level": "info", "source": "fuzz"}}
            return Request("telegram-worker", "POST", "/alert", self.mutate(valid), headers)
        kind = self.rng.choice(["api-call", "signal", "trade", "exchange-call", self.segment()])
        valid = {"requestId": "fz", "payload": {"worker": "hoox", "endpoint": "/x", "latencyMs": 1.5, "success": True,
                                                "exchange": "bybit", "symbol": "BTCUSDT", "outcome": "Filled",
                                                "operation": "order", "quantity": 1, "status": "Filled",
                                                "mode": "paper"}}
        return Request("analytics-worker", "POST", f"/track/{kind}", self.mutate(valid), headers)


# A Durable Object's exception as its caller words it (`ports.DurableObjectError`), of a kind that is
# a bug, never an outage: such an answer was once a 503/202 and the signal was retried for an hour.
_CRASH = re.compile(r"\w+\.\w+ raised (?:Overflow|ZeroDivision|Type|Key|Attribute|Index|Recursion|Unicode\w*|"
                    r"Assertion|Name|Lookup|Arithmetic)Error")


def check(status: int, headers: dict[str, str], body: bytes) -> str | None:
    """What is wrong with an answer, or None: no 500, only the contract's deliberate 5xx, and every
    error in the standard envelope."""
    crash = _CRASH.search(body.decode("utf-8", "replace"))
    if crash:  # whatever the status: a 202 "queued for retry" can carry one too
        return f"{status}: a crash passed on as an answer ({crash.group(0)})"
    if status < 400:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return f"{status} without a JSON envelope"
    err = doc.get("error") if isinstance(doc, dict) else None
    if not (isinstance(doc, dict) and doc.get("success") is False and isinstance(err, dict)
            and isinstance(err.get("code"), str) and isinstance(err.get("message"), str)):
        return f"{status} without the standard error envelope"
    if status == 500:
        return f"500 {err.get('code')}: {err.get('message')}"
    if status >= 500 and err["code"] not in DELIBERATE_5XX.get(status, set()):
        return f"{status} {err['code']} is not one of the contract's deliberate answers"
    return None


async def send(runtime: Any, req: Request) -> tuple[int, dict[str, str], bytes]:
    """One request into a worker's ASGI app in-process (as `runtime.request` does), except that the
    client hangs up once a response has started streaming (an event stream never ends by itself).
    Raises when the app raises: the guard in shared/app.py must answer everything itself."""
    import asyncio
    from urllib.parse import urlsplit

    app, env = runtime.app(req.worker), runtime.env(req.worker)
    parts = urlsplit(req.path)
    body = req.body or b""
    headers = [(k.lower().encode("latin-1"), v.encode("utf-8")) for k, v in req.headers.items()]
    headers += [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": req.method, "scheme": "http", "path": parts.path, "raw_path": parts.path.encode(),
             "query_string": parts.query.encode("latin-1", errors="replace"), "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 80), "state": {},
             "env": env}
    hang_up = asyncio.Event()
    status: list[int] = []
    resp_headers: dict[str, str] = {}
    chunks: list[bytes] = []
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await hang_up.wait()
        return {"type": "http.disconnect"}

    async def send_(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
            resp_headers.update({k.decode("latin-1"): v.decode("latin-1") for k, v in message.get("headers", [])})
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                hang_up.set()  # a stream: its first chunk is enough

    try:
        await app(scope, receive, send_)
    finally:
        hang_up.set()
    if not status:
        raise AssertionError(f"no response to {req.describe()}")
    return status[0], resp_headers, b"".join(chunks)


# ---------------------------------------------------------------------------- running a family
@dataclass
class Report:
    family: str
    seed: int
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # "<problem> | <request> | <body of the answer>"
    server_errors: list[str] = field(default_factory=list)  # every 5xx, deliberate or not, with its body


def scratch_root() -> str | None:
    """A RAM-backed folder for fuzz workspaces when the machine has one: every request commits
    several SQLite transactions, and on a VM disk their fsyncs, not the code under test, would take
    most of the time. The storage engine is the same; only durability against power loss differs,
    which no fuzz check depends on."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


@contextlib.asynccontextmanager
async def scratch_runtime() -> AsyncIterator[Any]:
    """An opened local runtime over a throwaway workspace under `scratch_root`, stopped at the end."""
    from hoox_edge.local.runtime import LocalRuntime
    from hoox_edge.local.workspace import Workspace

    with tempfile.TemporaryDirectory(dir=scratch_root(), prefix="hoox-fuzz-") as tmp:
        ws = Workspace(Path(tmp) / "workspace")
        ws.create()
        runtime = LocalRuntime(ws)
        await runtime.open()
        try:
            yield runtime
        finally:
            await runtime.stop()


async def prepare(runtime: Any, fuzzer: Fuzzer) -> None:
    """The runtime's keys into the fuzzer, and a rate limit high enough for every signal to get past it."""
    from hoox_edge.shared import settings

    gw = runtime.env("hoox")
    fuzzer.webhook_passkey = gw.WEBHOOK_API_KEY
    fuzzer.operator_token = gw.OPERATOR_API_KEY
    fuzzer.internal_key = gw.INTERNAL_KEY_BINDING
    await settings.put(gw.CONFIG_KV, "webhooks:rate_limit_per_minute", 10_000)


async def run(runtime: Any, family: str, n: int, seed: int) -> Report:
    """Send `n` generated requests of a family; every wrong answer (see `check`) is in the report."""
    fuzzer = Fuzzer(seed)
    await prepare(runtime, fuzzer)
    report = Report(family, seed)
    for req in fuzzer.requests(family, n):
        report.sent += 1
        try:
            status, headers, body = await send(runtime, req)
        except Exception as exc:  # the app raised instead of answering
            report.problems.append(f"raised {type(exc).__name__} | {req.describe()}")
            continue
        report.statuses[status] = report.statuses.get(status, 0) + 1
        if status >= 500:
            report.server_errors.append(f"{status} | {req.describe()} | {body[:500]!r}")
        problem = check(status, headers, body)
        if problem is not None:
            report.problems.append(f"{problem} | {req.describe()} | {body[:500]!r}")
    return report
