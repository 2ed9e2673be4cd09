"""HooxClient: the one way the CLI and the cockpit talk to an edge (local or remote).

`HooxClient` (sync) and `AsyncHooxClient` (async) share everything but the I/O: each route is
described once (`_Call`: method, path, parameters, how to parse the result) and both clients
send the description.

Transport rules:
- timeouts: connect 3 s, read/write/pool 10 s; the event stream reads with 45 s (three missed
  15 s heartbeats mean the connection is dead, and it is reconnected); an order action (cancel,
  flatten, the kill switch with flatten) waits 65 s, since the edge gives each exchange call 30 s;
- retries: only GET (idempotent), on connection errors and 502/503/504, with exponential backoff
  and jitter (0.5 s, 1 s, 2 s: three retries); a connection refused by a loopback address is final
  at once, since nothing listens there; a `Retry-After` is honoured (a wait longer than
  `max_retry_after`, 30 s, is not waited out: the error is raised). POST/PUT/DELETE are sent
  once, whatever happens: a retried write could act twice (a dead letter replayed twice);
- errors: `HooxApiError(status, code, message, details, request_id)` from the edge's envelope,
  `HooxConnectionError` when no answer came, `HooxConfigError` when there is no URL or token.
  The operator token never appears in an exception message, a repr or a log line.

The stream (`stream(topics, last_event_id)`) is an iterator of typed events over `/v1/stream`
(Server-Sent Events). It reconnects on any disconnect, a clean end of the stream included, waiting
min(2^n x 1 s, 30 s) with jitter (n = failures in a row, reset by a successful connection), and
resumes with `Last-Event-ID`, so the caller sees every event exactly once and in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import os
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload
from urllib.parse import urlsplit, urlunsplit

import httpx
from hoox_edge.operator.shapes import STREAM_TOPICS
from hoox_edge.shared.http import tls_for
from hoox_edge.shared.origin import is_loopback_host
from httpx_sse import ServerSentEvent, SSEError, aconnect_sse, connect_sse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hoox_cli.core import models as m
from hoox_cli.core.redact import MASK, scrub

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

_log = logging.getLogger("hoox.client")

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
STREAM_READ_TIMEOUT = 45.0
# The edge gives a cancel 30 s and a close 30 s; a flatten runs its cancels, then its closes.
ORDER_ACTION_TIMEOUT = 65.0
AI_TIMEOUT = 310.0  # the AI gateway: every provider of the chain in turn, each within its own timeout
REPORT_TIMEOUT = 130.0  # a report starts a headless browser; the gateway gives report-worker 120 s
RETRY_STATUSES = frozenset({502, 503, 504})
DEFAULT_RETRIES = 3
RETRY_BASE = 0.5
RETRY_CAP = 8.0
MAX_RETRY_AFTER = 30.0
STREAM_BACKOFF_BASE = 1.0
STREAM_BACKOFF_CAP = 30.0
JITTER = 0.2
ALL_TOPICS = tuple(STREAM_TOPICS)  # the edge's one list of stream topics


# ============================================================================ errors
class HooxError(Exception):
    """Base of every client error; `str()` says what happened and what to do."""


class HooxConfigError(HooxError):
    """No edge URL or no operator token could be found."""


class HooxConnectionError(HooxError):
    """The edge gave no answer: refused, unreachable, timed out, or the connection broke."""

    def __init__(self, message: str, *, url: str | None = None, kind: str = "connect") -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.kind = kind  # connect | timeout | protocol | closed


class HooxApiError(HooxError):
    """The edge answered with an error envelope (or a non-2xx status)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        request_id: str | None = None,
        *,
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.request_id = request_id
        self.hint = hint
        self.retry_after = retry_after

    def __str__(self) -> str:
        text = f"{self.code} ({self.status}): {self.message}"
        return f"{text} {self.hint}" if self.hint else text

    def __repr__(self) -> str:
        return (f"HooxApiError(status={self.status}, code={self.code!r}, message={self.message!r}, "
                f"request_id={self.request_id!r})")


# ============================================================================ configuration
@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    token: str
    source: str  # "--remote", "HOOX_API_URL" or "workspace": decides the advice in errors
    token_source: str = "HOOX_API_TOKEN"  # where the token came from: HOOX_API_TOKEN or a .dev.vars file
    access: tuple[str, str] | None = None  # Cloudflare Access service token (client id, client secret)

    def __repr__(self) -> str:
        return (f"ClientConfig(base_url={self.base_url!r}, token={MASK!r}, source={self.source!r}, "
                f"token_source={self.token_source!r}, access={'set' if self.access else None!r})")

    @property
    def secrets(self) -> list[str]:
        """Every credential this config sends (for redaction)."""
        return [self.token, *(self.access or ())]


ACCESS_ID_VAR = "HOOX_ACCESS_CLIENT_ID"
ACCESS_SECRET_VAR = "HOOX_ACCESS_CLIENT_SECRET"


def access_service_token(environ: Mapping[str, str], workspace: Workspace | None) -> tuple[str, str] | None:
    """The Cloudflare Access service token to send to a remote edge: HOOX_ACCESS_CLIENT_ID and
    HOOX_ACCESS_CLIENT_SECRET from the environment, else from the workspace's .dev.vars. Half of one is
    a HooxConfigError naming the other half (sent alone, Access would refuse with no reason)."""
    cid, secret = environ.get(ACCESS_ID_VAR) or None, environ.get(ACCESS_SECRET_VAR) or None
    where = "the environment"
    if not cid and not secret:
        from hoox_edge.local.workspace import Workspace

        ws = workspace or Workspace.at()
        have = ws.secrets() if ws.exists else {}
        cid, secret = have.get(ACCESS_ID_VAR) or None, have.get(ACCESS_SECRET_VAR) or None
        where = str(ws.dev_vars_path)
    if cid and secret:
        return cid.strip(), secret.strip()
    if cid or secret:
        missing = ACCESS_SECRET_VAR if cid else ACCESS_ID_VAR
        raise HooxConfigError(f"{missing} is not set in {where} while its other half is: a Cloudflare Access service "
                              "token is a client id and a client secret (Zero Trust → Access → Service Auth).")
    return None


WORKSPACE_TOKEN = "the workspace's OPERATOR_API_KEY"  # a token source when the file is not known


def token_source_of(source: str) -> str:
    """Where a client built without a ClientConfig got its token, as well as can be said."""
    return WORKSPACE_TOKEN if source == "workspace" else "HOOX_API_TOKEN"


def refused_token_advice(url: str, source: str, token_source: str) -> str:
    """What to do when the edge at `url` refuses the operator token (401/403), in full: which token
    was sent (where it came from) and how to send the right one."""
    where = "" if source == "workspace" else f" (the URL from {source})"
    head = f"The edge at {display_url(url)}{where} refused the operator token from {token_source}."
    if token_source == "HOOX_API_TOKEN":
        if source == "workspace":
            return (f"{head} Set HOOX_API_TOKEN to this edge's OPERATOR_API_KEY (the one in the workspace's "
                    ".dev.vars when the edge runs from this workspace), or unset it to send that key.")
        return (f"{head} Set HOOX_API_TOKEN to that edge's OPERATOR_API_KEY (`wrangler secret put "
                "OPERATOR_API_KEY` sets it on Cloudflare; a local edge's is in its workspace's .dev.vars).")
    return (f"{head} The edge on that port may belong to another workspace, or the key changed after it "
            "started: restart this workspace's edge (`hoox dev stop`, then `hoox dev start`), or set "
            "HOOX_API_TOKEN to the OPERATOR_API_KEY of the edge that runs there.")


def _is_loopback(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname or "")


def display_url(url: str) -> str:
    """The URL without user:password@ (a remote URL may carry credentials)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def resolve_config(
    remote: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    workspace: Workspace | None = None,
) -> ClientConfig:
    """URL and token: --remote / HOOX_API_URL + HOOX_API_TOKEN, else the workspace's local gateway.

    The workspace's OPERATOR_API_KEY is only ever sent to the workspace's gateway or to a loopback
    URL: a remote edge has its own key, and the local one must not travel to another host.
    """
    env = os.environ if environ is None else environ
    token = env.get("HOOX_API_TOKEN") or None
    url = remote or env.get("HOOX_API_URL") or None
    if url:
        source = "--remote" if remote else "HOOX_API_URL"
        url = url.strip().rstrip("/")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise HooxConfigError(f"{source} must be an http(s) URL such as https://hoox.example.workers.dev, "
                                  f"got {display_url(url)!r}.")
        token_source = "HOOX_API_TOKEN"
        if not token and _is_loopback(url):
            token, token_source = _workspace_token(workspace)
        if not token:
            raise HooxConfigError(
                f"No operator token for {display_url(url)}: set HOOX_API_TOKEN to that edge's OPERATOR_API_KEY "
                "(`wrangler secret put OPERATOR_API_KEY` sets it on Cloudflare).")
        # Only an edge named by URL can sit behind Access; the workspace's own gateway is on 127.0.0.1.
        return ClientConfig(url, token, source, token_source, access_service_token(env, workspace))

    from hoox_edge.local.workspace import Workspace

    ws = workspace or Workspace.at()
    if not ws.exists:
        raise HooxConfigError(
            f"No edge to talk to: there is no hoox workspace at {ws.root} and neither --remote nor HOOX_API_URL "
            "is set. Run `hoox dev start` to create a workspace and start the local edge, or set HOOX_API_URL "
            "and HOOX_API_TOKEN for a remote one.")
    token_source = "HOOX_API_TOKEN"
    if not token:
        token, token_source = _workspace_token(ws)
    if not token:
        raise HooxConfigError(
            f"OPERATOR_API_KEY is not set in {ws.dev_vars_path}: run `hoox dev start` once to generate it "
            "(or `hoox secrets set OPERATOR_API_KEY`), or set HOOX_API_TOKEN.")
    return ClientConfig(ws.gateway_url(), token, "workspace", token_source)


def _workspace_token(workspace: Workspace | None) -> tuple[str | None, str]:
    """The workspace's OPERATOR_API_KEY and where it is written (None when there is none)."""
    from hoox_edge.local.workspace import Workspace

    ws = workspace or Workspace.at()
    if not ws.exists:
        return None, WORKSPACE_TOKEN
    return ws.secrets().get("OPERATOR_API_KEY") or None, f"OPERATOR_API_KEY in {ws.dev_vars_path}"


def _access_login(resp: httpx.Response) -> bool:
    """Cloudflare Access answered instead of the edge: a redirect to the team's login page."""
    where = resp.headers.get("location") or ""
    return resp.status_code in (302, 303) and "/cdn-cgi/access/login" in where


# ============================================================================ backoff
def backoff_delay(
    attempt: int,
    *,
    base: float = STREAM_BACKOFF_BASE,
    cap: float = STREAM_BACKOFF_CAP,
    jitter: float = JITTER,
    rand: Callable[[], float] = random.random,
) -> float:
    """min(2^attempt x base, cap), minus up to `jitter` of itself (attempt 0 is the first retry).

    Jitter only shortens the wait, so the cap is a true upper bound and many clients cut off by
    the same restart do not reconnect in lockstep.
    """
    full = min((2.0 ** max(attempt, 0)) * base, cap)
    return full * (1.0 - jitter * rand())


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# ============================================================================ stream events
class StreamEvent(BaseModel):
    """One event of /v1/stream. `id` is the stream's monotonic id (the SSE `id:` line)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    type: str
    id: int
    created_at: str | None = Field(None, alias="createdAt")
    request_id: str | None = Field(None, alias="requestId")
    data: dict[str, Any] = Field(default_factory=dict)  # the event's whole JSON object, as sent


class TradeEvent(StreamEvent):
    """A fill or a status change of an order."""

    type: Literal["trade"] = "trade"
    trade_id: int | str | None = Field(None, alias="tradeId")
    exchange: str | None = None
    symbol: str | None = None
    action: str | None = None
    side: str | None = None
    quantity: float | None = None
    price: float | None = None
    fee: float | None = None
    realized_pnl: float | None = Field(None, alias="realizedPnl")
    status: str | None = None
    mode: str | None = None
    error: str | None = None


class LogEvent(StreamEvent):
    type: Literal["log"] = "log"
    log_id: int | None = Field(None, alias="logId")  # the system_logs row (the `id` of /v1/logs items)
    level: str = "info"
    worker: str | None = None
    message: str = ""
    details: Any = None


class AlertEvent(StreamEvent):
    type: Literal["alert"] = "alert"
    alert_id: int | None = Field(None, alias="alertId")
    level: str | None = None
    source: str | None = None
    message: str = ""
    delivery: Any = None


class StatusEvent(StreamEvent):
    type: Literal["status"] = "status"
    kill_switch: bool | None = Field(None, alias="killSwitch")
    reason: str | None = None
    by: str | None = None  # operator | operator (risk override) | risk-manager


class RiskEvent(StreamEvent):
    """A finished run of the risk manager (`risk_runs` row; `reconciliation` None when it did not get there)."""

    type: Literal["risk"] = "risk"
    run_id: int | None = Field(None, alias="runId")
    trigger: str | None = None
    status: str | None = None  # ok | error
    started_at: str | None = Field(None, alias="startedAt")
    finished_at: str | None = Field(None, alias="finishedAt")
    duration_ms: float | None = Field(None, alias="durationMs")
    positions_seen: int | None = Field(None, alias="positionsSeen")
    actions: int | None = None
    errors: int | None = None
    reconciliation: dict[str, Any] | None = None  # {"openIssues", "opened", "cleared"} (counts)


_EVENT_TYPES: dict[str, type[StreamEvent]] = {
    "trade": TradeEvent, "log": LogEvent, "alert": AlertEvent, "status": StatusEvent, "risk": RiskEvent,
}


def parse_event(sse: ServerSentEvent) -> StreamEvent | None:
    """The typed event of one SSE message; None for control messages (retry:, empty data)."""
    if not sse.data:
        return None  # `retry:` alone, or an id-only message: control, not data
    try:
        event_id = int(sse.id)
    except (TypeError, ValueError):
        _log.warning("stream message without a numeric id skipped (event %r)", sse.event)
        return None
    try:
        body = json.loads(sse.data)
    except ValueError:
        _log.warning("stream event %s is not JSON; skipped", event_id)
        return None
    if not isinstance(body, dict):
        return None
    kind = str(body.get("type") or sse.event or "message")
    fields = dict(body)
    # The SSE id is authoritative; a log/alert row's own id stays available in `data`.
    fields.update({"type": kind, "id": event_id, "data": body})
    cls = _EVENT_TYPES.get(kind, StreamEvent)
    try:
        return cls.model_validate(fields)
    except ValidationError:
        # A field of an unexpected type must not kill the operator's stream: keep it untyped.
        return StreamEvent.model_validate({"type": kind, "id": event_id, "createdAt": body.get("createdAt"),
                                           "requestId": body.get("requestId"), "data": body})


@dataclass(frozen=True)
class StreamState:
    """What the stream is doing, for a status line: connected, reconnecting (attempt, delay) or failed."""

    state: Literal["connected", "reconnecting", "failed"]
    attempt: int = 0
    delay: float | None = None
    error: str | None = None
    last_event_id: int | None = None


StateCallback = Callable[[StreamState], None]


@dataclass(frozen=True)
class Download:
    """A file an operator route answers (a report): its bytes, type and the name the edge gives it."""

    content: bytes
    content_type: str
    filename: str

    @classmethod
    def of(cls, resp: httpx.Response) -> Download:
        disposition = resp.headers.get("content-disposition") or ""
        _, _, given = disposition.partition('filename="')
        # only a plain file name: never a path the edge (or a proxy) could make us write elsewhere
        name = os.path.basename(given.rstrip('"').replace("\\", "/")) or resp.request.url.path.rsplit("/", 1)[-1]
        return cls(resp.content, resp.headers.get("content-type") or "application/octet-stream", name)


# ============================================================================ route descriptions
@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    parse: Callable[[Any], Any] = lambda r: r
    read_timeout: float | None = None  # None: the client's own
    raw: bool = False  # a download: the answer's bytes (a Download), not an envelope

    def timeout(self) -> httpx.Timeout | Any:
        return httpx.USE_CLIENT_DEFAULT if self.read_timeout is None else _timeout(self.read_timeout)


def _clean(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (",".join(v) if isinstance(v, (list, tuple)) else v) for k, v in params.items() if v is not None}


def _both_books(mode: str | None) -> str | None:
    """`all` as a list filter is no filter (the trades list shows both books by default)."""
    return None if mode == "all" else mode


def _parser(model: type[BaseModel]) -> Callable[[Any], Any]:
    return model.model_validate


def _quote(segment: str) -> str:
    from urllib.parse import quote

    return quote(segment, safe="")


class _Routes:
    """One description per /v1 route; both clients send them."""

    @staticmethod
    def health() -> _Call:
        return _Call("GET", "/health")

    @staticmethod
    def status() -> _Call:
        return _Call("GET", "/v1/status", parse=_parser(m.StatusResult))

    @staticmethod
    def workers() -> _Call:
        return _Call("GET", "/v1/workers", parse=_parser(m.WorkersResult))

    @staticmethod
    def worker(name: str) -> _Call:
        return _Call("GET", f"/v1/workers/{_quote(name)}", parse=_parser(m.WorkerDetail))

    @staticmethod
    def worker_latency(name: str, window: str | None, buckets: int | None) -> _Call:
        return _Call("GET", f"/v1/workers/{_quote(name)}/latency", _clean({"window": window, "buckets": buckets}),
                     parse=_parser(m.LatencyHistory))

    @staticmethod
    def signal_volume(days: int | None) -> _Call:
        return _Call("GET", "/v1/analytics/volume", _clean({"days": days}), parse=_parser(m.SignalVolume))

    @staticmethod
    def trades(*, limit: int | None, cursor: str | None, symbol: str | None, exchange: str | None,
               status: str | None, since: str | None, mode: str | None) -> _Call:
        return _Call("GET", "/v1/trades", _clean({"limit": limit, "cursor": cursor, "symbol": symbol,
                                                  "exchange": exchange, "status": status, "since": since,
                                                  "mode": _both_books(mode)}),
                     parse=_parser(m.TradesPage))

    @staticmethod
    def positions(mode: str | None) -> _Call:
        return _Call("GET", "/v1/positions", _clean({"mode": mode}), parse=_parser(m.PositionsResult))

    @staticmethod
    def orders(*, mode: str | None, exchange: str | None, symbol: str | None) -> _Call:
        return _Call("GET", "/v1/orders", _clean({"mode": mode, "exchange": exchange, "symbol": symbol}),
                     parse=_parser(m.OrdersResult))

    @staticmethod
    def cancel_order(request_id: str) -> _Call:
        return _Call("DELETE", f"/v1/orders/{_quote(request_id)}", parse=_parser(m.OrderResult),
                     read_timeout=ORDER_ACTION_TIMEOUT)

    @staticmethod
    def signal_timeline(request_id: str) -> _Call:
        return _Call("GET", f"/v1/signals/{_quote(request_id)}/timeline", parse=_parser(m.SignalTimeline))

    @staticmethod
    def flatten(*, exchange: str | None, symbol: str | None, mode: str | None, reason: str | None) -> _Call:
        body = _clean({"exchange": exchange, "symbol": symbol, "mode": mode, "reason": reason})
        return _Call("POST", "/v1/positions/flatten", json=body, parse=_parser(m.FlattenResult),
                     read_timeout=ORDER_ACTION_TIMEOUT)

    @staticmethod
    def stats(mode: str | None) -> _Call:
        return _Call("GET", "/v1/stats", _clean({"mode": mode}), parse=_parser(m.StatsResult))

    @staticmethod
    def equity(mode: str | None, since: str | None, points: int | None) -> _Call:
        return _Call("GET", "/v1/stats/equity", _clean({"mode": mode, "since": since, "points": points}),
                     parse=_parser(m.EquityCurve))

    @staticmethod
    def logs(*, limit: int | None, cursor: str | None, level: str | None, worker: str | None,
             q: str | None, request_id: str | None) -> _Call:
        return _Call("GET", "/v1/logs", _clean({"limit": limit, "cursor": cursor, "level": level, "worker": worker,
                                                "q": q, "requestId": request_id}), parse=_parser(m.LogsPage))

    @staticmethod
    def logs_export(*, since: str, until: str, worker: str | None, level: str | None, cursor: str | None,
                    limit: int | None) -> _Call:
        return _Call("GET", "/v1/logs/export", _clean({"since": since, "until": until, "worker": worker,
                                                       "level": level, "cursor": cursor, "limit": limit}),
                     parse=_parser(m.LogsPage))

    @staticmethod
    def alerts(*, limit: int | None, cursor: str | None, level: str | None) -> _Call:
        return _Call("GET", "/v1/alerts", _clean({"limit": limit, "cursor": cursor, "level": level}),
                     parse=_parser(m.AlertsPage))

    @staticmethod
    def alert_post(message: str, level: str) -> _Call:
        return _Call("POST", "/v1/alerts", json={"message": message, "level": level}, parse=_parser(m.AlertPosted))

    @staticmethod
    def kv_list(prefix: str | None) -> _Call:
        return _Call("GET", "/v1/config/kv", _clean({"prefix": prefix}), parse=_parser(m.KvList))

    @staticmethod
    def kv_get(key: str) -> _Call:
        return _Call("GET", f"/v1/config/kv/{_quote(key)}", parse=_parser(m.KvEntry))

    @staticmethod
    def kv_put(key: str, value: Any) -> _Call:
        return _Call("PUT", f"/v1/config/kv/{_quote(key)}", json={"value": value}, parse=_parser(m.KvEntry))

    @staticmethod
    def kv_delete(key: str) -> _Call:
        return _Call("DELETE", f"/v1/config/kv/{_quote(key)}", parse=_parser(m.KvDeleted))

    @staticmethod
    def kill_switch() -> _Call:
        return _Call("GET", "/v1/kill-switch", parse=_parser(m.KillSwitch))

    @staticmethod
    def set_kill_switch(on: bool, reason: str | None, flatten: bool) -> _Call:
        body: dict[str, Any] = {"on": on}
        if reason is not None:
            body["reason"] = reason
        if flatten:  # only sent when asked: an edge without books would refuse the field
            body["flatten"] = True
        return _Call("POST", "/v1/kill-switch", json=body, parse=_parser(m.KillSwitch),
                     read_timeout=ORDER_ACTION_TIMEOUT if flatten else None)

    @staticmethod
    def risk() -> _Call:
        return _Call("GET", "/v1/risk", parse=_parser(m.RiskStatus))

    @staticmethod
    def risk_runs(*, limit: int | None, cursor: str | None, status: str | None) -> _Call:
        return _Call("GET", "/v1/risk/runs", _clean({"limit": limit, "cursor": cursor, "status": status}),
                     parse=_parser(m.RiskRunsPage))

    @staticmethod
    def risk_config() -> _Call:
        return _Call("GET", "/v1/risk/config", parse=_parser(m.RiskConfig))

    @staticmethod
    def set_risk_config(values: Mapping[str, Any]) -> _Call:
        return _Call("POST", "/v1/risk/config", json={"values": dict(values)}, parse=_parser(m.RiskConfig))

    @staticmethod
    def agent_health() -> _Call:
        return _Call("GET", "/v1/agent/health", parse=_parser(m.AgentHealth))

    @staticmethod
    def agent_models() -> _Call:
        return _Call("GET", "/v1/agent/models", parse=_parser(m.AgentModels))

    @staticmethod
    def agent_usage(since: str | None) -> _Call:
        return _Call("GET", "/v1/agent/usage", _clean({"since": since}), parse=_parser(m.AgentUsage))

    @staticmethod
    def agent_test_model(provider: str) -> _Call:
        return _Call("POST", "/v1/agent/test-model", json={"provider": provider}, parse=_parser(m.AgentTestModel),
                     read_timeout=AI_TIMEOUT)

    @staticmethod
    def queues() -> _Call:
        return _Call("GET", "/v1/queues", parse=_parser(m.QueuesResult))

    @staticmethod
    def replay_dead_letter(message_id: str | int) -> _Call:
        return _Call("POST", f"/v1/queues/dead-letter/{_quote(str(message_id))}/replay",
                     parse=_parser(m.ReplayResult))

    @staticmethod
    def db_query(query: str, params: Iterable[Any] | None, max_rows: int | None) -> _Call:
        body: dict[str, Any] = {"query": query, "params": list(params or [])}
        if max_rows is not None:
            body["maxRows"] = max_rows
        return _Call("POST", "/v1/db/query", json=body, parse=_parser(m.QueryResult))

    @staticmethod
    def watchdog() -> _Call:
        return _Call("GET", "/v1/watchdog", parse=_parser(m.WatchdogResult))

    @staticmethod
    def reports() -> _Call:
        return _Call("GET", "/v1/reports", parse=_parser(m.ReportsList))

    @staticmethod
    def make_report(period: str | None) -> _Call:
        body = {"period": period} if period else {}
        return _Call("POST", "/v1/reports", json=body, parse=_parser(m.ReportResult),
                     read_timeout=REPORT_TIMEOUT)

    @staticmethod
    def report_file(name: str) -> _Call:
        return _Call("GET", f"/v1/reports/{_quote(name)}", raw=True, read_timeout=REPORT_TIMEOUT)

    @staticmethod
    def wallet_balance(body: dict[str, Any]) -> _Call:
        return _Call("POST", "/v1/wallet/balance", json=body, parse=_parser(m.WalletBalance))

    @staticmethod
    def wallet_estimate(body: dict[str, Any]) -> _Call:
        return _Call("POST", "/v1/wallet/estimate", json=body, parse=_parser(m.WalletEstimate))

    @staticmethod
    def wallet_send(body: dict[str, Any]) -> _Call:
        # The edge waits for the receipt up to timeoutSeconds (default 30), plus its own slack.
        wait = body.get("timeoutSeconds") or 30
        return _Call("POST", "/v1/wallet/send", json=body, parse=_parser(m.WalletTx), read_timeout=wait + 60.0)

    @staticmethod
    def wallet_balances() -> _Call:
        return _Call("GET", "/v1/wallet/balances", parse=_parser(m.WalletBalances))

    @staticmethod
    def wallet_tx(request_id: str) -> _Call:
        return _Call("GET", f"/v1/wallet/tx/{_quote(request_id)}", parse=_parser(m.WalletTx))


# ============================================================================ shared core
class _Core:
    """Configuration, headers, error mapping and retry decisions common to both clients."""

    def __init__(self, base_url: str, token: str, *, source: str, retries: int, retry_base: float,
                 retry_cap: float, max_retry_after: float, backoff_base: float, backoff_cap: float,
                 rand: Callable[[], float], token_source: str | None = None,
                 access: tuple[str, str] | None = None) -> None:
        if not token:
            raise HooxConfigError("An operator token is required (HOOX_API_TOKEN or the workspace's OPERATOR_API_KEY).")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._access = access
        self.source = source
        self.token_source = token_source or token_source_of(source)
        self.retries = max(0, retries)
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.max_retry_after = max_retry_after
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.rand = rand

    @property
    def shown_url(self) -> str:
        return display_url(self.base_url)

    def headers(self) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self._token}", "Accept": "application/json", "User-Agent": "hoox-client"}
        if self._access:
            # Cloudflare Access checks these at its edge and hands the gateway a JWT in their place.
            h["CF-Access-Client-Id"], h["CF-Access-Client-Secret"] = self._access
        return h

    def scrub(self, value: Any) -> Any:
        """`value` with the token (and every remembered secret) masked: server text is echoed into exceptions."""
        return scrub(value, [self._token, *(self._access or ())])

    def _start_hint(self) -> str:
        if self.source == "workspace":
            return ("Start the local edge with `hoox dev start` (or `hoox dev start --detach`), "
                    "or point --remote / HOOX_API_URL at a running edge.")
        return f"Check the URL given by {self.source} and that the edge is deployed and reachable."

    def connection_error(self, exc: httpx.TransportError, method: str, path: str, *,
                         stream: bool = False, read_timeout: float | None = None) -> HooxConnectionError:
        where = f"{self.shown_url}{path}"
        if isinstance(exc, httpx.ConnectTimeout):
            msg = (f"Could not connect to the hoox edge at {self.shown_url} within {CONNECT_TIMEOUT:g} s. "
                   + self._start_hint())
            kind = "timeout"
        elif isinstance(exc, httpx.ConnectError):
            msg = f"Nothing answers at {self.shown_url}: the hoox edge is not running there. " + self._start_hint()
            kind = "connect"
        elif isinstance(exc, httpx.TimeoutException):
            secs = STREAM_READ_TIMEOUT if stream else read_timeout or READ_TIMEOUT
            msg = f"The hoox edge at {self.shown_url} did not answer {method} {path} within {secs:g} s. "
            msg += ("It may be overloaded or stuck; check `hoox dev status` or its logs." if method == "GET" else
                    "It was sent once and may still take effect: look at its outcome before sending it again.")
            kind = "timeout"
        else:
            msg = (f"The connection to {where} broke ({type(exc).__name__}). "
                   "If the edge was restarting, try again.")
            kind = "closed"
        return HooxConnectionError(self.scrub(msg), url=self.shown_url, kind=kind)

    def api_error(self, resp: httpx.Response, body: Any) -> HooxApiError:
        status = resp.status_code
        retry_after = parse_retry_after(resp.headers.get("retry-after"))
        rid = resp.headers.get("x-request-id")
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(body, dict):
            rid = body.get("requestId") or rid
        if isinstance(err, dict) and err.get("code"):
            code = str(err["code"])
            message = str(err.get("message") or code)
            details = err.get("details")
        else:
            code = {401: "UNAUTHORIZED", 404: "NOT_FOUND", 429: "RATE_LIMITED"}.get(status, f"HTTP_{status}")
            snippet = resp.text[:200].strip() if isinstance(body, str) else ""
            message = (f"The edge at {self.shown_url} answered {resp.request.method} {resp.request.url.path} "
                       f"with HTTP {status} and no hoox error envelope" + (f": {snippet}" if snippet else "."))
            details = None
        hint = None
        if status == 401:
            hint = refused_token_advice(self.base_url, self.source, self.token_source)
        elif code == "ACCESS_DENIED" or _access_login(resp):
            hint = ("The service token from HOOX_ACCESS_CLIENT_ID/SECRET was sent; check that the Access application "
                     "has a Service Auth policy that includes it." if self._access else
                     f"Set {ACCESS_ID_VAR} and {ACCESS_SECRET_VAR} (in the environment or with `hoox secrets set`) "
                     "to a service token of the Access application in front of this edge.")
            if code.startswith("HTTP_"):
                code = "ACCESS_DENIED"
                message = f"Cloudflare Access in front of {self.shown_url} did not let the request through."
        elif status == 404 and code == "NOT_FOUND" and resp.request.url.path.startswith("/v1/"):
            hint = "If the route itself is missing, the edge may be older than this client: update and redeploy it."
        elif status in RETRY_STATUSES and code.startswith("HTTP_"):
            hint = "The edge or a proxy in front of it is unavailable; try again shortly."
        return HooxApiError(status, code, self.scrub(message), self.scrub(details), rid,
                            hint=hint, retry_after=retry_after)

    def result(self, resp: httpx.Response, raw: bool = False) -> Any:
        if raw and 200 <= resp.status_code < 300:
            return Download.of(resp)
        try:
            body: Any = resp.json()
        except ValueError:
            body = resp.text
        ok = 200 <= resp.status_code < 300
        if isinstance(body, dict) and "success" in body:
            if ok and body.get("success") is not False:
                return body.get("result")
            return self._raise(self.api_error(resp, body))
        if ok:
            return body  # a route outside the envelope (/health)
        return self._raise(self.api_error(resp, body))

    @staticmethod
    def _raise(err: HooxApiError) -> Any:
        raise err

    def may_retry(self, exc: httpx.TransportError) -> bool:
        """A refused connection on this machine is final (nothing listens there): say so at once.

        Anywhere else a refusal can be a load balancer or a deploy in progress, worth a retry.
        """
        return not (isinstance(exc, httpx.ConnectError) and _is_loopback(self.base_url))

    @overload
    def retry_wait(self, attempt: int, retry_after: None) -> float: ...

    @overload
    def retry_wait(self, attempt: int, retry_after: str | None) -> float | None: ...

    def retry_wait(self, attempt: int, retry_after: str | None) -> float | None:
        """Seconds before retry number attempt+1, or None when the server asks for too long a wait."""
        wait = backoff_delay(attempt, base=self.retry_base, cap=self.retry_cap, rand=self.rand)
        asked = parse_retry_after(retry_after)
        if asked is not None:
            if asked > self.max_retry_after:
                return None
            wait = max(wait, asked)
        return wait

    def stream_wait(self, failures: int, retry_after: float | None = None) -> float:
        wait = backoff_delay(failures - 1, base=self.backoff_base, cap=self.backoff_cap, rand=self.rand)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.backoff_cap))
        return wait

    def stream_params(self, topics: Iterable[str] | str) -> dict[str, str]:
        names = [topics] if isinstance(topics, str) else list(topics)
        return {"topics": ",".join(t.strip() for t in names if t.strip())}


def _event_id(value: str | int | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise HooxConfigError(f"last_event_id must be an event id (an integer), got {value!r}.") from None


class _StreamRun:
    """The bookkeeping of one stream() call, shared by the sync and async loops."""

    def __init__(self, core: _Core, last_event_id: int | None, on_state: StateCallback | None,
                 max_failures: int | None) -> None:
        self.core = core
        self.last_id = last_event_id
        self.on_state = on_state
        self.max_failures = max_failures
        self.failures = 0

    def headers(self) -> dict[str, str]:
        h = self.core.headers()
        if self.last_id is not None:
            h["Last-Event-ID"] = str(self.last_id)
        return h

    def notify(self, state: StreamState) -> None:
        if self.on_state is not None:
            self.on_state(state)

    def connected(self) -> None:
        self.failures = 0
        self.notify(StreamState("connected", last_event_id=self.last_id))

    def accept(self, sse: ServerSentEvent) -> StreamEvent | None:
        ev = parse_event(sse)
        if ev is None:
            # An `id:` without data moves the resume point without an event (as in a browser's
            # EventSource): a stream opened without Last-Event-ID says where it starts this way, so
            # a drop before the first event still resumes without a gap.
            if not sse.data and sse.id:
                with contextlib.suppress(ValueError):
                    position = int(sse.id)
                    if self.last_id is None or position > self.last_id:
                        self.last_id = position
            return None
        if self.last_id is not None and ev.id <= self.last_id:
            return None  # already delivered before a reconnect: never hand it out twice
        self.last_id = ev.id
        return ev

    def check_response(self, resp: httpx.Response, body: Any) -> tuple[HooxError, float | None]:
        """The error of a non-200 answer: returned when worth reconnecting, raised otherwise."""
        err = self.core.api_error(resp, body)
        if resp.status_code in RETRY_STATUSES or resp.status_code == 429:
            return err, err.retry_after
        self.notify(StreamState("failed", self.failures, error=str(err), last_event_id=self.last_id))
        raise err

    def failed(self, err: HooxError, retry_after: float | None = None) -> float:
        """Count a failure; the wait before the next attempt, or raise when out of attempts."""
        self.failures += 1
        if self.max_failures is not None and self.failures > self.max_failures:
            self.notify(StreamState("failed", self.failures - 1, error=str(err), last_event_id=self.last_id))
            raise err
        delay = self.core.stream_wait(self.failures, retry_after)
        _log.info("event stream: %s; reconnecting in %.2f s (attempt %d)", err, delay, self.failures)
        self.notify(StreamState("reconnecting", self.failures, delay, str(err), self.last_id))
        return delay

    def content_type_error(self, exc: SSEError) -> HooxApiError:
        return HooxApiError(200, "NOT_AN_EVENT_STREAM",
                            f"{self.core.shown_url}/v1/stream did not answer with an event stream ({exc}).",
                            hint="Is the URL a hoox edge?")


def _body_of(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text


def _ended(core: _Core) -> HooxConnectionError:
    return HooxConnectionError(f"The event stream from {core.shown_url} ended.", url=core.shown_url, kind="closed")


def _timeout(read: float = READ_TIMEOUT) -> httpx.Timeout:
    return httpx.Timeout(read, connect=CONNECT_TIMEOUT)


# ============================================================================ sync client
class HooxClient:
    """Synchronous client of an edge's operator API. Use as a context manager or call close()."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        source: str = "--remote",
        timeout: httpx.Timeout | float | None = None,
        retries: int = DEFAULT_RETRIES,
        retry_base: float = RETRY_BASE,
        retry_cap: float = RETRY_CAP,
        max_retry_after: float = MAX_RETRY_AFTER,
        backoff_base: float = STREAM_BACKOFF_BASE,
        backoff_cap: float = STREAM_BACKOFF_CAP,
        stream_read_timeout: float = STREAM_READ_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
        token_source: str | None = None,
        access: tuple[str, str] | None = None,
    ) -> None:
        self._core = _Core(base_url, token, source=source, retries=retries, retry_base=retry_base,
                           retry_cap=retry_cap, max_retry_after=max_retry_after, backoff_base=backoff_base,
                           backoff_cap=backoff_cap, rand=rand, token_source=token_source, access=access)
        self._sleep = sleep
        self._stream_timeout = _timeout(stream_read_timeout)
        t = timeout if isinstance(timeout, httpx.Timeout) else _timeout(timeout or READ_TIMEOUT)
        self._http = httpx.Client(base_url=self._core.base_url, timeout=t, transport=transport,
                                  headers=self._core.headers(), verify=tls_for(self._core.base_url))

    @classmethod
    def from_env(cls, remote: str | None = None, **kwargs: Any) -> HooxClient:
        cfg = resolve_config(remote, workspace=kwargs.pop("workspace", None))
        return cls(cfg.base_url, cfg.token, source=cfg.source, access=cfg.access, **kwargs)

    @property
    def base_url(self) -> str:
        return self._core.shown_url

    @property
    def token_source(self) -> str:
        """Where the operator token came from (HOOX_API_TOKEN, or OPERATOR_API_KEY in a .dev.vars file)."""
        return self._core.token_source

    def refused_advice(self) -> str:
        """What to do when this edge refuses the token (401/403): which token, and how to set it."""
        return refused_token_advice(self._core.base_url, self._core.source, self._core.token_source)

    def __repr__(self) -> str:
        return f"HooxClient(base_url={self._core.shown_url!r}, token={MASK!r})"

    def __enter__(self) -> HooxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ transport
    def _send(self, call: _Call) -> Any:
        core = self._core
        retryable = call.method == "GET"
        attempt = 0
        while True:
            wait: float | None
            try:
                resp = self._http.request(call.method, call.path, params=call.params, json=call.json,
                                          timeout=call.timeout())
            except httpx.TransportError as exc:
                err = core.connection_error(exc, call.method, call.path, read_timeout=call.read_timeout)
                if not (retryable and attempt < core.retries and core.may_retry(exc)):
                    raise err from None
                wait = core.retry_wait(attempt, None)
                _log.warning("%s %s: %s; retry %d/%d in %.2f s", call.method, call.path, err.kind,
                             attempt + 1, core.retries, wait)
            else:
                wait = None
                if retryable and resp.status_code in RETRY_STATUSES and attempt < core.retries:
                    wait = core.retry_wait(attempt, resp.headers.get("retry-after"))
                if wait is None:
                    return call.parse(core.result(resp, call.raw))
                _log.warning("%s %s: HTTP %d; retry %d/%d in %.2f s", call.method, call.path,
                             resp.status_code, attempt + 1, core.retries, wait)
            attempt += 1
            self._sleep(wait)

    # ------------------------------------------------------------------ routes
    def health(self) -> dict[str, Any]:
        """The gateway's own /health (no token needed): {"status", "bindings"}; 503 when degraded."""
        return self._send(_Routes.health())

    def status(self) -> m.StatusResult:
        return self._send(_Routes.status())

    def workers(self) -> m.WorkersResult:
        return self._send(_Routes.workers())

    def worker(self, name: str) -> m.WorkerDetail:
        return self._send(_Routes.worker(name))

    def worker_latency(self, name: str, *, window: str | None = None,
                       buckets: int | None = None) -> m.LatencyHistory:
        """A worker's latency history (window 15m, 1h, 6h or 24h in `buckets` buckets) from analytics."""
        return self._send(_Routes.worker_latency(name, window, buckets))

    def signal_volume(self, *, days: int | None = None) -> m.SignalVolume:
        """Signals received per weekday × hour (UTC) over the last `days`, from the ledger."""
        return self._send(_Routes.signal_volume(days))

    def trades(self, *, limit: int | None = None, cursor: str | None = None, symbol: str | None = None,
               exchange: str | None = None, status: str | None = None, since: str | None = None,
               mode: str | None = None) -> m.TradesPage:
        """Trades of both books, or of one (`mode` paper or live; `all` is both)."""
        return self._send(_Routes.trades(limit=limit, cursor=cursor, symbol=symbol, exchange=exchange,
                                         status=status, since=since, mode=mode))

    def positions(self, *, mode: str | None = None) -> m.PositionsResult:
        """Open positions of a book (paper, live or all); None: the desk's current book."""
        return self._send(_Routes.positions(mode))

    def orders(self, *, mode: str | None = None, exchange: str | None = None,
               symbol: str | None = None) -> m.OrdersResult:
        """Resting orders (of both books unless `mode` says paper or live)."""
        return self._send(_Routes.orders(mode=mode, exchange=exchange, symbol=symbol))

    def cancel_order(self, request_id: str) -> m.OrderResult:
        """Cancel the resting order of a signal; 409 ORDER_NOT_OPEN (outcome in details) when it is not resting."""
        return self._send(_Routes.cancel_order(request_id))

    def flatten(self, *, exchange: str | None = None, symbol: str | None = None, mode: str | None = None,
                reason: str | None = None) -> m.FlattenResult:
        """Cancel the resting orders, then close the open positions, of a scope (default: every book)."""
        return self._send(_Routes.flatten(exchange=exchange, symbol=symbol, mode=mode, reason=reason))

    def stats(self, *, mode: str | None = None) -> m.StatsResult:
        """Figures of a book (paper, live or all); None: the desk's current book."""
        return self._send(_Routes.stats(mode))

    def equity(self, *, mode: str | None = None, since: str | None = None,
               points: int | None = None) -> m.EquityCurve:
        """The equity curve (net realized P&L per fill, peak, drawdown) of a book; None: the desk's."""
        return self._send(_Routes.equity(mode, since, points))

    def logs(self, *, limit: int | None = None, cursor: str | None = None, level: str | None = None,
             worker: str | None = None, q: str | None = None, request_id: str | None = None) -> m.LogsPage:
        return self._send(_Routes.logs(limit=limit, cursor=cursor, level=level, worker=worker, q=q,
                                       request_id=request_id))

    def logs_export(self, *, since: str, until: str, worker: str | None = None, level: str | None = None,
                    cursor: str | None = None, limit: int | None = None) -> m.LogsPage:
        """One page of the logs with since <= createdAt < until, oldest first (`nextCursor` while more follow)."""
        return self._send(_Routes.logs_export(since=since, until=until, worker=worker, level=level, cursor=cursor,
                                              limit=limit))

    def alerts(self, *, limit: int | None = None, cursor: str | None = None,
               level: str | None = None) -> m.AlertsPage:
        return self._send(_Routes.alerts(limit=limit, cursor=cursor, level=level))

    def kv_list(self, prefix: str | None = None) -> m.KvList:
        return self._send(_Routes.kv_list(prefix))

    def alert(self, message: str, level: str = "warning") -> m.AlertPosted:
        """One alert through the edge's telegram-worker (sent once: a POST is never retried)."""
        return self._send(_Routes.alert_post(message, level))

    def kv_get(self, key: str) -> m.KvEntry:
        return self._send(_Routes.kv_get(key))

    def kv_put(self, key: str, value: Any) -> m.KvEntry:
        return self._send(_Routes.kv_put(key, value))

    def kv_delete(self, key: str) -> m.KvDeleted:
        return self._send(_Routes.kv_delete(key))

    def kill_switch(self) -> m.KillSwitch:
        return self._send(_Routes.kill_switch())

    def set_kill_switch(self, on: bool, reason: str | None = None, *, flatten: bool = False) -> m.KillSwitch:
        """Turn the switch on or off; `flatten` (with on only) then flattens every book."""
        return self._send(_Routes.set_kill_switch(on, reason, flatten))

    def risk(self) -> m.RiskStatus:
        """The risk manager: stops, next targets and distances per position, today's drawdowns against
        the limit, the last run and its age, open reconciliation issues."""
        return self._send(_Routes.risk())

    def risk_runs(self, *, limit: int | None = None, cursor: str | None = None,
                  status: str | None = None) -> m.RiskRunsPage:
        return self._send(_Routes.risk_runs(limit=limit, cursor=cursor, status=status))

    def risk_config(self) -> m.RiskConfig:
        return self._send(_Routes.risk_config())

    def set_risk_config(self, values: Mapping[str, Any]) -> m.RiskConfig:
        """Change risk settings ({key: value, or None to remove}); all validated before any is written."""
        return self._send(_Routes.set_risk_config(values))

    def queues(self) -> m.QueuesResult:
        return self._send(_Routes.queues())

    def replay_dead_letter(self, message_id: str | int) -> m.ReplayResult:
        return self._send(_Routes.replay_dead_letter(message_id))

    def watchdog(self) -> m.WatchdogResult:
        """The signal watchdog: each source's last signal, age, expectation and state."""
        return self._send(_Routes.watchdog())

    def reports(self) -> m.ReportsList:
        """The stored P&L reports, newest first."""
        return self._send(_Routes.reports())

    def make_report(self, period: str | None = None) -> m.ReportResult:
        """Make a P&L report of the last `period` (12h, 24h, 7d; default 24h) now and send it to Telegram."""
        return self._send(_Routes.make_report(period))

    def report_file(self, name: str) -> Download:
        """A report's file: `name` (its PDF, else its HTML), `name.pdf`, `name.html` or `latest`."""
        return self._send(_Routes.report_file(name))

    def wallet_balance(self, body: dict[str, Any]) -> m.WalletBalance:
        """A native or ERC-20 balance through web3-wallet-worker (`{chain, address?, tokenAddress?, account?}`)."""
        return self._send(_Routes.wallet_balance(body))

    def wallet_estimate(self, body: dict[str, Any]) -> m.WalletEstimate:
        """Gas and fees of a transaction (`{chain, to, value? | tokenAddress + amount, account?}`)."""
        return self._send(_Routes.wallet_estimate(body))

    def wallet_send(self, body: dict[str, Any]) -> m.WalletTx:
        """Sign and send a transaction; the same `requestId` again answers the first one."""
        return self._send(_Routes.wallet_send(body))

    def wallet_tx(self, request_id: str) -> m.WalletTx:
        """A wallet send as the ledger records it (its receipt looked for again while pending)."""
        return self._send(_Routes.wallet_tx(request_id))

    def wallet_balances(self) -> m.WalletBalances:
        """The wallet's native balance on every chain of web3:chains (each chain's failure on its row)."""
        return self._send(_Routes.wallet_balances())

    def signal_timeline(self, request_id: str) -> m.SignalTimeline:
        """Every stage of one signal (the request id, or a unique start of it of 8+ characters), in order."""
        return self._send(_Routes.signal_timeline(request_id))

    def db_query(self, query: str, params: Iterable[Any] | None = None, *,
                 max_rows: int | None = None) -> m.QueryResult:
        """A read-only SELECT on the ledger (a write or a second statement is a 400)."""
        return self._send(_Routes.db_query(query, params, max_rows))

    def agent_health(self) -> m.AgentHealth:
        """The AI gateway: each provider's breaker, last success, latency and last error."""
        return self._send(_Routes.agent_health())

    def agent_models(self) -> m.AgentModels:
        return self._send(_Routes.agent_models())

    def agent_usage(self, since: str | None = None) -> m.AgentUsage:
        """AI tokens and cost per day, provider and model (since YYYY-MM-DD)."""
        return self._send(_Routes.agent_usage(since))

    def agent_test_model(self, provider: str) -> m.AgentTestModel:
        """One short call to `provider` alone (no fallback, its breaker not consulted)."""
        return self._send(_Routes.agent_test_model(provider))

    def agent_chat(self, message: str, *, system: str | None = None, prompt: str | None = None,
                   desk: bool = False) -> Generator[dict[str, Any], None, None]:
        """The AI gateway's answer as events: {"event": "provider" | "tool" | "token" | "usage" | "error", ...};
        `desk`: a question about the trader's desk, answered from the ledger."""
        body = _clean({"message": message, "system": system, "prompt": prompt, "desk": desk or None})
        with connect_sse(self._http, "POST", "/v1/agent/chat", json=body, timeout=_timeout(AI_TIMEOUT)) as source:
            resp = source.response
            if resp.status_code != 200:
                resp.read()
                raise self._core.api_error(resp, _body_of(resp))
            for sse in source.iter_sse():
                yield {"event": sse.event, **sse.json()}

    # ------------------------------------------------------------------ stream
    def stream(
        self,
        topics: Iterable[str] | str = ALL_TOPICS,
        last_event_id: str | int | None = None,
        *,
        on_state: StateCallback | None = None,
        max_failures: int | None = None,
    ) -> Generator[StreamEvent, None, None]:
        """Events of `topics` after `last_event_id`, forever (max_failures=None) across reconnects.

        With max_failures=N the iterator raises the last error after N failed attempts in a row.
        Close the iterator (or break out of the loop) to stop; the connection is closed with it.
        """
        run = _StreamRun(self._core, _event_id(last_event_id), on_state, max_failures)
        params = self._core.stream_params(topics)
        while True:
            retry_after: float | None = None
            try:
                with connect_sse(self._http, "GET", "/v1/stream", params=params, headers=run.headers(),
                                 timeout=self._stream_timeout) as source:
                    resp = source.response
                    if resp.status_code != 200:
                        resp.read()
                        err, retry_after = run.check_response(resp, _body_of(resp))
                    else:
                        run.connected()
                        for sse in source.iter_sse():
                            ev = run.accept(sse)
                            if ev is not None:
                                yield ev
                        err = _ended(self._core)
            except httpx.TransportError as exc:
                err = self._core.connection_error(exc, "GET", "/v1/stream", stream=True)
            except SSEError as exc:
                bad = run.content_type_error(exc)
                run.notify(StreamState("failed", run.failures, error=str(bad), last_event_id=run.last_id))
                raise bad from None
            self._sleep(run.failed(err, retry_after))


# ============================================================================ async client
class AsyncHooxClient:
    """The asyncio twin of HooxClient (the cockpit's): same routes, same rules."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        source: str = "--remote",
        timeout: httpx.Timeout | float | None = None,
        retries: int = DEFAULT_RETRIES,
        retry_base: float = RETRY_BASE,
        retry_cap: float = RETRY_CAP,
        max_retry_after: float = MAX_RETRY_AFTER,
        backoff_base: float = STREAM_BACKOFF_BASE,
        backoff_cap: float = STREAM_BACKOFF_CAP,
        stream_read_timeout: float = STREAM_READ_TIMEOUT,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        transport: httpx.AsyncBaseTransport | None = None,
        token_source: str | None = None,
        access: tuple[str, str] | None = None,
    ) -> None:
        self._core = _Core(base_url, token, source=source, retries=retries, retry_base=retry_base,
                           retry_cap=retry_cap, max_retry_after=max_retry_after, backoff_base=backoff_base,
                           backoff_cap=backoff_cap, rand=rand, token_source=token_source, access=access)
        self._sleep = sleep
        self._stream_timeout = _timeout(stream_read_timeout)
        t = timeout if isinstance(timeout, httpx.Timeout) else _timeout(timeout or READ_TIMEOUT)
        self._http = httpx.AsyncClient(base_url=self._core.base_url, timeout=t, transport=transport,
                                       headers=self._core.headers(), verify=tls_for(self._core.base_url))

    @classmethod
    def from_env(cls, remote: str | None = None, **kwargs: Any) -> AsyncHooxClient:
        cfg = resolve_config(remote, workspace=kwargs.pop("workspace", None))
        return cls(cfg.base_url, cfg.token, source=cfg.source, access=cfg.access, **kwargs)

    @property
    def base_url(self) -> str:
        return self._core.shown_url

    @property
    def token_source(self) -> str:
        """Where the operator token came from (HOOX_API_TOKEN, or OPERATOR_API_KEY in a .dev.vars file)."""
        return self._core.token_source

    def refused_advice(self) -> str:
        """What to do when this edge refuses the token (401/403): which token, and how to set it."""
        return refused_token_advice(self._core.base_url, self._core.source, self._core.token_source)

    def __repr__(self) -> str:
        return f"AsyncHooxClient(base_url={self._core.shown_url!r}, token={MASK!r})"

    async def __aenter__(self) -> AsyncHooxClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ transport
    async def _send(self, call: _Call) -> Any:
        core = self._core
        retryable = call.method == "GET"
        attempt = 0
        while True:
            wait: float | None
            try:
                resp = await self._http.request(call.method, call.path, params=call.params, json=call.json,
                                                timeout=call.timeout())
            except httpx.TransportError as exc:
                err = core.connection_error(exc, call.method, call.path, read_timeout=call.read_timeout)
                if not (retryable and attempt < core.retries and core.may_retry(exc)):
                    raise err from None
                wait = core.retry_wait(attempt, None)
                _log.warning("%s %s: %s; retry %d/%d in %.2f s", call.method, call.path, err.kind,
                             attempt + 1, core.retries, wait)
            else:
                wait = None
                if retryable and resp.status_code in RETRY_STATUSES and attempt < core.retries:
                    wait = core.retry_wait(attempt, resp.headers.get("retry-after"))
                if wait is None:
                    return call.parse(core.result(resp, call.raw))
                _log.warning("%s %s: HTTP %d; retry %d/%d in %.2f s", call.method, call.path,
                             resp.status_code, attempt + 1, core.retries, wait)
            attempt += 1
            await self._sleep(wait)

    # ------------------------------------------------------------------ routes
    async def health(self) -> dict[str, Any]:
        return await self._send(_Routes.health())

    async def status(self) -> m.StatusResult:
        return await self._send(_Routes.status())

    async def workers(self) -> m.WorkersResult:
        return await self._send(_Routes.workers())

    async def worker(self, name: str) -> m.WorkerDetail:
        return await self._send(_Routes.worker(name))

    async def worker_latency(self, name: str, *, window: str | None = None,
                             buckets: int | None = None) -> m.LatencyHistory:
        return await self._send(_Routes.worker_latency(name, window, buckets))

    async def signal_volume(self, *, days: int | None = None) -> m.SignalVolume:
        return await self._send(_Routes.signal_volume(days))

    async def trades(self, *, limit: int | None = None, cursor: str | None = None, symbol: str | None = None,
                     exchange: str | None = None, status: str | None = None, since: str | None = None,
                     mode: str | None = None) -> m.TradesPage:
        return await self._send(_Routes.trades(limit=limit, cursor=cursor, symbol=symbol, exchange=exchange,
                                               status=status, since=since, mode=mode))

    async def positions(self, *, mode: str | None = None) -> m.PositionsResult:
        return await self._send(_Routes.positions(mode))

    async def orders(self, *, mode: str | None = None, exchange: str | None = None,
                     symbol: str | None = None) -> m.OrdersResult:
        return await self._send(_Routes.orders(mode=mode, exchange=exchange, symbol=symbol))

    async def cancel_order(self, request_id: str) -> m.OrderResult:
        return await self._send(_Routes.cancel_order(request_id))

    async def flatten(self, *, exchange: str | None = None, symbol: str | None = None, mode: str | None = None,
                      reason: str | None = None) -> m.FlattenResult:
        return await self._send(_Routes.flatten(exchange=exchange, symbol=symbol, mode=mode, reason=reason))

    async def stats(self, *, mode: str | None = None) -> m.StatsResult:
        return await self._send(_Routes.stats(mode))

    async def equity(self, *, mode: str | None = None, since: str | None = None,
                     points: int | None = None) -> m.EquityCurve:
        return await self._send(_Routes.equity(mode, since, points))

    async def logs(self, *, limit: int | None = None, cursor: str | None = None, level: str | None = None,
                   worker: str | None = None, q: str | None = None, request_id: str | None = None) -> m.LogsPage:
        return await self._send(_Routes.logs(limit=limit, cursor=cursor, level=level, worker=worker, q=q,
                                             request_id=request_id))

    async def logs_export(self, *, since: str, until: str, worker: str | None = None, level: str | None = None,
                          cursor: str | None = None, limit: int | None = None) -> m.LogsPage:
        return await self._send(_Routes.logs_export(since=since, until=until, worker=worker, level=level,
                                                    cursor=cursor, limit=limit))

    async def alerts(self, *, limit: int | None = None, cursor: str | None = None,
                     level: str | None = None) -> m.AlertsPage:
        return await self._send(_Routes.alerts(limit=limit, cursor=cursor, level=level))

    async def kv_list(self, prefix: str | None = None) -> m.KvList:
        return await self._send(_Routes.kv_list(prefix))

    async def alert(self, message: str, level: str = "warning") -> m.AlertPosted:
        return await self._send(_Routes.alert_post(message, level))

    async def kv_get(self, key: str) -> m.KvEntry:
        return await self._send(_Routes.kv_get(key))

    async def kv_put(self, key: str, value: Any) -> m.KvEntry:
        return await self._send(_Routes.kv_put(key, value))

    async def kv_delete(self, key: str) -> m.KvDeleted:
        return await self._send(_Routes.kv_delete(key))

    async def kill_switch(self) -> m.KillSwitch:
        return await self._send(_Routes.kill_switch())

    async def set_kill_switch(self, on: bool, reason: str | None = None, *, flatten: bool = False) -> m.KillSwitch:
        return await self._send(_Routes.set_kill_switch(on, reason, flatten))

    async def risk(self) -> m.RiskStatus:
        return await self._send(_Routes.risk())

    async def risk_runs(self, *, limit: int | None = None, cursor: str | None = None,
                        status: str | None = None) -> m.RiskRunsPage:
        return await self._send(_Routes.risk_runs(limit=limit, cursor=cursor, status=status))

    async def risk_config(self) -> m.RiskConfig:
        return await self._send(_Routes.risk_config())

    async def set_risk_config(self, values: Mapping[str, Any]) -> m.RiskConfig:
        return await self._send(_Routes.set_risk_config(values))

    async def queues(self) -> m.QueuesResult:
        return await self._send(_Routes.queues())

    async def replay_dead_letter(self, message_id: str | int) -> m.ReplayResult:
        return await self._send(_Routes.replay_dead_letter(message_id))

    async def watchdog(self) -> m.WatchdogResult:
        return await self._send(_Routes.watchdog())

    async def reports(self) -> m.ReportsList:
        return await self._send(_Routes.reports())

    async def make_report(self, period: str | None = None) -> m.ReportResult:
        return await self._send(_Routes.make_report(period))

    async def report_file(self, name: str) -> Download:
        return await self._send(_Routes.report_file(name))

    async def wallet_balance(self, body: dict[str, Any]) -> m.WalletBalance:
        return await self._send(_Routes.wallet_balance(body))

    async def wallet_estimate(self, body: dict[str, Any]) -> m.WalletEstimate:
        return await self._send(_Routes.wallet_estimate(body))

    async def wallet_send(self, body: dict[str, Any]) -> m.WalletTx:
        return await self._send(_Routes.wallet_send(body))

    async def wallet_tx(self, request_id: str) -> m.WalletTx:
        return await self._send(_Routes.wallet_tx(request_id))

    async def wallet_balances(self) -> m.WalletBalances:
        return await self._send(_Routes.wallet_balances())

    async def signal_timeline(self, request_id: str) -> m.SignalTimeline:
        return await self._send(_Routes.signal_timeline(request_id))

    async def db_query(self, query: str, params: Iterable[Any] | None = None, *,
                       max_rows: int | None = None) -> m.QueryResult:
        return await self._send(_Routes.db_query(query, params, max_rows))

    async def agent_chat(self, message: str, *, system: str | None = None,
                         prompt: str | None = None, desk: bool = False) -> AsyncGenerator[dict[str, Any], None]:
        """The AI gateway's answer as events, as `HooxClient.agent_chat`."""
        body = _clean({"message": message, "system": system, "prompt": prompt, "desk": desk or None})
        async with aconnect_sse(self._http, "POST", "/v1/agent/chat", json=body,
                                timeout=_timeout(AI_TIMEOUT)) as source:
            resp = source.response
            if resp.status_code != 200:
                await resp.aread()
                raise self._core.api_error(resp, _body_of(resp))
            async for sse in source.aiter_sse():
                yield {"event": sse.event, **sse.json()}

    # ------------------------------------------------------------------ stream
    async def stream(
        self,
        topics: Iterable[str] | str = ALL_TOPICS,
        last_event_id: str | int | None = None,
        *,
        on_state: StateCallback | None = None,
        max_failures: int | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """See HooxClient.stream."""
        run = _StreamRun(self._core, _event_id(last_event_id), on_state, max_failures)
        params = self._core.stream_params(topics)
        while True:
            retry_after: float | None = None
            try:
                async with aconnect_sse(self._http, "GET", "/v1/stream", params=params, headers=run.headers(),
                                        timeout=self._stream_timeout) as source:
                    resp = source.response
                    if resp.status_code != 200:
                        await resp.aread()
                        err, retry_after = run.check_response(resp, _body_of(resp))
                    else:
                        run.connected()
                        async for sse in source.aiter_sse():
                            ev = run.accept(sse)
                            if ev is not None:
                                yield ev
                        err = _ended(self._core)
            except httpx.TransportError as exc:
                err = self._core.connection_error(exc, "GET", "/v1/stream", stream=True)
            except SSEError as exc:
                bad = run.content_type_error(exc)
                run.notify(StreamState("failed", run.failures, error=str(bad), last_event_id=run.last_id))
                raise bad from None
            await self._sleep(run.failed(err, retry_after))
