"""Binding ports: the only way worker code reaches storage, queues and other workers.

Each port mirrors the shape of the Cloudflare binding it stands for (names in snake_case, JS
`null` as `None`), so the same worker code runs on Cloudflare (adapters in `hoox_edge.cloudflare`)
and in the local runtime (adapters in `hoox_edge.local`). All I/O is async because it is on
Cloudflare; the one exception is Durable Object SQL, which is synchronous there too.
"""

from __future__ import annotations

import json as _json
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

JSONValue = Any


# --------------------------------------------------------------------------- KV
@dataclass(frozen=True)
class KVKey:
    name: str
    expiration: int | None = None  # epoch seconds, as Cloudflare reports it


@dataclass(frozen=True)
class KVListResult:
    keys: list[KVKey]
    list_complete: bool
    cursor: str | None = None


class KVNamespace(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        """`get` of each key, in order: one read where the adapter can (locally: no task per key)."""

    async def put(self, key: str, value: str, *, expiration_ttl: int | None = None) -> None:
        """Store `value`; `expiration_ttl` is in seconds and, as on Cloudflare, at least 60."""

    async def list(self, *, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> KVListResult: ...

    async def delete(self, key: str) -> None: ...


# The checks below are the ports' own rules, made the same way by every adapter set (a JS binding
# would refuse some of them with a raw JsException, and accept others the local adapters refuse).
KV_MAX_KEY_BYTES = 512
KV_MAX_LIST = 1000


def check_kv_key(key: str) -> None:
    if not isinstance(key, str) or key == "":
        raise ValueError("KV key must be a non-empty string")
    if key in (".", ".."):
        raise ValueError(f"KV key {key!r} is not allowed")
    if len(key.encode("utf-8")) > KV_MAX_KEY_BYTES:
        raise ValueError(f"KV key is longer than {KV_MAX_KEY_BYTES} bytes")


def check_page_limit(limit: int, most: int = KV_MAX_LIST) -> None:
    """A KV or R2 list page size: 1..1000."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most:
        raise ValueError(f"list limit must be between 1 and {most}, got {limit}")


# --------------------------------------------------------------------------- D1
class D1Meta(TypedDict, total=False):
    duration: float
    changes: int
    last_row_id: int
    rows_read: int
    rows_written: int
    changed_db: bool


class D1Result(TypedDict):
    success: bool
    results: list[dict[str, Any]]
    meta: D1Meta


class D1ExecResult(TypedDict):
    count: int
    duration: float


class D1PreparedStatement(Protocol):
    def bind(self, *values: Any) -> D1PreparedStatement:
        """Return a new statement with these positional parameters (`?` / `?N`)."""

    async def all(self) -> D1Result: ...

    async def run(self) -> D1Result: ...

    async def first(self, column: str | None = None) -> Any:
        """First row as a dict (or that column's value); None when there is no row."""

    async def raw(self) -> list[list[Any]]: ...


class D1Database(Protocol):
    def prepare(self, query: str) -> D1PreparedStatement: ...

    async def batch(self, statements: Sequence[D1PreparedStatement]) -> list[D1Result]:
        """Run the statements in one transaction: all of them or none."""

    async def exec(self, query: str) -> D1ExecResult:
        """Run one or more unparameterised statements (migrations)."""


class D1Error(Exception):
    """A statement failed (syntax, constraint, ...). The message is the database's."""


def d1_value(v: Any) -> Any:
    """A bound parameter as D1 accepts it (bool -> 0/1; objects are refused as D1 refuses them)."""
    if v is None or isinstance(v, (int, float, str, bytes)):
        return int(v) if isinstance(v, bool) else v
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    raise D1Error(f"D1_TYPE_ERROR: Type '{type(v).__name__}' not supported for value '{v!r}'")


# --------------------------------------------------------------------------- Durable Objects
class SqlCursor(Protocol):
    def __iter__(self) -> Iterator[dict[str, Any]]: ...

    def to_list(self) -> list[dict[str, Any]]: ...

    def one(self) -> dict[str, Any]:
        """Exactly one row, else an error (as Cloudflare's `cursor.one()`)."""

    @property
    def rows_written(self) -> int: ...


class SqlStorage(Protocol):
    def exec(self, query: str, *bindings: Any) -> SqlCursor: ...


class DurableObjectStorage(Protocol):
    """An object's private storage: key-value entries, SQL tables and one alarm.

    Key-value entries (Cloudflare's `ctx.storage.get/put/delete/list`, on SQLite-backed objects
    too) hold JSON-compatible values (not None: delete the key instead); key and value together at
    most 2 MB. Reads see the call's own writes at once; a call's writes are durable before its
    caller gets the result.
    """

    @property
    def sql(self) -> SqlStorage: ...

    async def get(self, key: str) -> JSONValue:
        """The value stored under `key`, or None."""

    async def put(self, key: str, value: JSONValue) -> None: ...

    async def delete(self, key: str) -> bool:
        """True when the key existed."""

    async def list(self, *, prefix: str = "", limit: int | None = None) -> dict[str, JSONValue]:
        """Entries whose key starts with `prefix`, in key order, at most `limit`."""

    async def get_alarm(self) -> float | None:
        """Scheduled alarm time in epoch milliseconds, or None."""

    async def set_alarm(self, scheduled_time_ms: float) -> None: ...

    async def delete_alarm(self) -> None: ...

    async def delete_all(self) -> None:
        """Drop every entry, every table and the alarm (the object then costs nothing)."""


# Built once: json.dumps with options builds an encoder on every call.
_STRICT_JSON = _json.JSONEncoder(allow_nan=False, separators=(",", ":"))
MAX_STORAGE_ENTRY_BYTES = 2 * 1024 * 1024  # key and value together, on SQLite-backed objects


def check_storage_entry(key: Any, value: Any = None, *, putting: bool = False) -> str | None:
    """Refuse (TypeError/ValueError) a storage key, and a value when `putting`, the same way in every
    adapter; the value as JSON text."""
    if not isinstance(key, str):
        raise TypeError(f"Durable Object storage keys are strings, got {type(key).__name__}")
    if not putting:
        return None
    if value is None:
        raise TypeError("Durable Object storage cannot hold None: delete the key instead")
    try:
        text = _STRICT_JSON.encode(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Durable Object storage values must be JSON-compatible: {exc}") from None
    if len(key.encode("utf-8")) + len(text.encode("utf-8")) > MAX_STORAGE_ENTRY_BYTES:
        raise ValueError("a Durable Object storage key and value together must not exceed 2 MB")
    return text


def check_list_limit(limit: Any) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError("list limit must be a positive integer")


@dataclass(frozen=True)
class DurableObjectId:
    hex: str
    name: str | None = None

    def __str__(self) -> str:
        return self.hex


@dataclass
class DurableObjectState:
    id: DurableObjectId
    storage: DurableObjectStorage


class DurableObject:
    """Base of every Durable Object class written against the ports.

    Public async methods are its RPC surface (`await stub.method(...)`); `alarm()` runs when an
    alarm set through `self.ctx.storage.set_alarm` comes due. The runtime guarantees that one
    object handles one call at a time.
    """

    def __init__(self, ctx: DurableObjectState, env: Env) -> None:
        self.ctx = ctx
        self.env = env

    async def alarm(self) -> None:  # pragma: no cover - default does nothing
        return None


class DurableObjectError(Exception):
    """An exception raised inside a Durable Object, as its caller sees it (the type does not cross RPC)."""

    def __init__(self, class_name: str, method: str, remote_type: str, message: str) -> None:
        super().__init__(f"{class_name}.{method} raised {remote_type}: {message}")
        self.remote_type = remote_type
        self.remote_message = message


class DurableObjectStub(Protocol):
    id: DurableObjectId

    def __getattr__(self, method: str) -> Callable[..., Awaitable[Any]]: ...


class DurableObjectNamespace(Protocol):
    def id_from_name(self, name: str) -> DurableObjectId: ...

    def get(self, object_id: DurableObjectId) -> DurableObjectStub: ...


# --------------------------------------------------------------------------- Queues
class Queue(Protocol):
    """Producer side of a queue."""

    async def send(self, body: JSONValue, *, delay_seconds: int = 0) -> None: ...

    async def send_batch(self, bodies: Sequence[JSONValue], *, delay_seconds: int = 0) -> None: ...


class QueueMessage(Protocol):
    id: str
    timestamp: float  # epoch seconds of the first send
    body: JSONValue
    attempts: int  # 1 on first delivery

    def ack(self) -> None: ...

    def retry(self, *, delay_seconds: int = 0) -> None: ...


class MessageBatch(Protocol):
    queue: str
    messages: Sequence[QueueMessage]

    def ack_all(self) -> None: ...

    def retry_all(self, *, delay_seconds: int = 0) -> None: ...


class QueueAdmin(Protocol):
    """Operator side of the queues: what a producer binding cannot see (depth, in-flight, dead letters).

    Messages are dicts `{"id", "queue", "body", "timestamp", "enqueued_at", "visible_at", "attempts",
    "in_flight", "last_error", "origin_queue", "dead_lettered_at"}` (times in epoch seconds;
    `origin_queue`/`dead_lettered_at` set on a message the runtime dead-lettered itself).
    """

    async def stats(self, queue: str) -> dict[str, Any]:
        """`{"queue", "messages", "ready", "delayed", "in_flight", "depth", "oldest_timestamp"}`."""

    async def list(self, queue: str, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]: ...

    async def message(self, message_id: str) -> dict[str, Any] | None: ...

    async def move(self, message_id: str, to_queue: str | None = None) -> bool:
        """Put a message back as new (attempts from zero) in `to_queue`, by default the queue a dead
        letter failed in; False when it is not there or is being processed."""


class QueueAdminUnavailable(RuntimeError):
    """The runtime cannot show or move queue messages (Cloudflare, in this version)."""


QUEUE_MAX_DELAY_SECONDS = 12 * 3600
QUEUE_MAX_MESSAGE_BYTES = 128 * 1024
QUEUE_MAX_BATCH_MESSAGES = 100
QUEUE_MAX_BATCH_BYTES = 256 * 1024


def encode_queue_body(body: JSONValue) -> str:
    """A message body as JSON text; TypeError when it is not JSON, ValueError when too large."""
    try:
        text = _STRICT_JSON.encode(body)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"queue message body must be JSON-serialisable: {exc}") from None
    if len(text.encode("utf-8")) > QUEUE_MAX_MESSAGE_BYTES:
        raise ValueError(f"queue message body is larger than {QUEUE_MAX_MESSAGE_BYTES // 1024} KB")
    return text


def check_queue_delay(delay_seconds: int | float) -> float:
    if not 0 <= delay_seconds <= QUEUE_MAX_DELAY_SECONDS:
        raise ValueError(f"delay_seconds must be between 0 and {QUEUE_MAX_DELAY_SECONDS} (12 hours), "
                         f"got {delay_seconds}")
    return float(delay_seconds)


def encode_queue_batch(bodies: Sequence[JSONValue]) -> list[str]:
    """Every body of a `send_batch` checked and encoded: at most 100 messages and 256 KB in all."""
    if len(bodies) > QUEUE_MAX_BATCH_MESSAGES:
        raise ValueError(f"send_batch takes at most {QUEUE_MAX_BATCH_MESSAGES} messages, got {len(bodies)}")
    encoded = [encode_queue_body(b) for b in bodies]
    if sum(len(e.encode("utf-8")) for e in encoded) > QUEUE_MAX_BATCH_BYTES:
        raise ValueError(f"send_batch takes at most {QUEUE_MAX_BATCH_BYTES // 1024} KB in total")
    return encoded


# --------------------------------------------------------------------------- R2
@dataclass(frozen=True)
class R2ObjectInfo:
    key: str
    size: int
    uploaded: float  # epoch seconds
    etag: str
    content_type: str | None = None
    custom_metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class R2Object(R2ObjectInfo):
    body: bytes = b""

    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> JSONValue:
        return _json.loads(self.body)


@dataclass(frozen=True)
class R2ListResult:
    objects: list[R2ObjectInfo]
    truncated: bool
    cursor: str | None = None


class R2Bucket(Protocol):
    async def put(
        self,
        key: str,
        value: bytes | str,
        *,
        content_type: str | None = None,
        custom_metadata: Mapping[str, str] | None = None,
    ) -> R2ObjectInfo: ...

    async def get(self, key: str) -> R2Object | None: ...

    async def head(self, key: str) -> R2ObjectInfo | None: ...

    async def list(self, *, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> R2ListResult: ...

    async def delete(self, keys: str | Sequence[str]) -> None: ...


R2_MAX_KEY_BYTES = 1024
_R2_REFUSED_CHAR = re.compile(r"[\\\x00-\x1f\x7f]")  # a backslash or a control character


class R2KeyError(ValueError):
    """An object key that is refused."""


def validate_r2_key(key: str) -> str:
    """Keys as the platform's own tools expect them: no empty key, no leading `/`, no `.`/`..`
    segment (path traversal), no backslash or control character, at most 1024 bytes."""
    if not isinstance(key, str) or not key:
        raise R2KeyError("R2 key must be a non-empty string")
    if len(key.encode("utf-8")) > R2_MAX_KEY_BYTES:
        raise R2KeyError(f"R2 key is longer than {R2_MAX_KEY_BYTES} bytes")
    if key.startswith("/"):
        raise R2KeyError(f"R2 key {key!r} must not start with '/'")
    if _R2_REFUSED_CHAR.search(key):
        raise R2KeyError(f"R2 key {key!r} contains a backslash or a control character")
    if any(seg in (".", "..") for seg in key.split("/")):
        raise R2KeyError(f"R2 key {key!r} has a '.' or '..' segment (path traversal)")
    return key


# --------------------------------------------------------------------------- Analytics Engine
# Analytics Engine's limits on one data point.
MAX_BLOBS = 20
MAX_DOUBLES = 20
MAX_INDEX_BYTES = 96
MAX_BLOB_BYTES = 16 * 1024  # all blobs of the point together


def index_of(request_id: str | None) -> str:
    """A request id as an index: cut to Analytics Engine's byte limit without splitting a character."""
    return (request_id or "").encode("utf-8")[:MAX_INDEX_BYTES].decode("utf-8", errors="ignore")


def check_data_point(blobs: Sequence[str | None], doubles: Sequence[float], indexes: Sequence[str]) -> None:
    """Refuse (ValueError) a data point over Analytics Engine's limits, in every adapter alike."""
    if len(blobs) > MAX_BLOBS or len(doubles) > MAX_DOUBLES or len(indexes) > 1:
        raise ValueError(f"a data point takes at most {MAX_BLOBS} blobs, {MAX_DOUBLES} doubles, 1 index")
    if indexes and len(indexes[0].encode("utf-8")) > MAX_INDEX_BYTES:
        raise ValueError(f"the index is longer than {MAX_INDEX_BYTES} bytes")
    if len("".join(map(str, filter(None, blobs))).encode("utf-8")) > MAX_BLOB_BYTES:  # no frame per blob
        raise ValueError(f"the blobs of a data point exceed {MAX_BLOB_BYTES // 1024} KB")


class AnalyticsEngineDataset(Protocol):
    def write_data_point(
        self,
        *,
        blobs: Sequence[str | None] = (),
        doubles: Sequence[float] = (),
        indexes: Sequence[str] = (),
    ) -> None:
        """Fire-and-forget, like Cloudflare's `writeDataPoint`, within the limits `check_data_point` enforces."""


class AnalyticsSql(Protocol):
    """Read side of Analytics Engine: its SQL API (columns timestamp, index1, blob1.., double1..)."""

    async def query(self, sql: str) -> list[dict[str, Any]]: ...


# --------------------------------------------------------------------------- Vectorize
# Vectorize's limits (its documented ones): an id of at most 64 bytes, at most 10 KiB of metadata a
# vector, at most 1536 dimensions, topK at most 20 when metadata comes back, 1000 vectors an upsert.
VECTOR_MAX_ID_BYTES = 64
VECTOR_MAX_METADATA_BYTES = 10 * 1024
VECTOR_MAX_DIMENSIONS = 1536
VECTOR_MAX_TOP_K = 20
VECTOR_MAX_BATCH = 1000


@dataclass(frozen=True)
class VectorRecord:
    id: str
    values: Sequence[float]
    metadata: Mapping[str, str | int | float | bool]


@dataclass(frozen=True)
class VectorMatch:
    id: str
    score: float  # cosine similarity: 1 the same direction, 0 unrelated
    metadata: dict[str, Any]


def check_vectors(records: Sequence[VectorRecord]) -> None:
    """Refuse (ValueError) what Vectorize refuses, in every adapter alike."""
    if not 1 <= len(records) <= VECTOR_MAX_BATCH:
        raise ValueError(f"an upsert takes 1 to {VECTOR_MAX_BATCH} vectors")
    for r in records:
        if not r.id or len(r.id.encode("utf-8")) > VECTOR_MAX_ID_BYTES:
            raise ValueError(f"vector id {r.id[:80]!r}: 1 to {VECTOR_MAX_ID_BYTES} bytes")
        check_query_vector(r.values)
        if len(_json.dumps(dict(r.metadata)).encode("utf-8")) > VECTOR_MAX_METADATA_BYTES:
            raise ValueError(f"vector {r.id!r}: metadata over {VECTOR_MAX_METADATA_BYTES // 1024} KiB")
    if len({len(r.values) for r in records}) > 1:
        raise ValueError("the vectors of one upsert have different dimensions")


def check_query_vector(values: Sequence[float]) -> None:
    if not 1 <= len(values) <= VECTOR_MAX_DIMENSIONS or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise ValueError(f"a vector is 1 to {VECTOR_MAX_DIMENSIONS} finite numbers")


class VectorIndex(Protocol):
    """A Vectorize index (cosine metric): vectors with metadata by id, queried by nearness."""

    async def upsert(self, records: Sequence[VectorRecord]) -> None:
        """Insert or replace by id. ValueError when the dimensions are not the index's."""

    async def query(self, vector: Sequence[float], *, top_k: int = 5) -> list[VectorMatch]:
        """The `top_k` nearest (at most VECTOR_MAX_TOP_K), nearest first, with their metadata."""
        ...


# --------------------------------------------------------------------------- Service bindings
@dataclass(frozen=True)
class ServiceResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> JSONValue:
        return _json.loads(self.body) if self.body else None

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class ServiceStream:
    """A service binding's answer whose body is read as the callee sends it (an SSE answer, token by
    token): iterate it for the chunks, or `read()` the rest. `aclose()` (or leaving `async with`)
    before the end tells the callee that its caller went, as a client's disconnect does; the callee's
    stream stops at its next write.
    """

    def __init__(self, status: int, headers: dict[str, str], chunks: AsyncIterator[bytes],
                 close: Callable[[], Awaitable[None]]) -> None:
        self.status = status
        self.headers = headers
        self._chunks = chunks
        self._close = close
        self._closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def read(self) -> bytes:
        """The rest of the body, all of it."""
        try:
            return b"".join([chunk async for chunk in self._chunks])
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._close()

    async def __aenter__(self) -> ServiceStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Fetcher(Protocol):
    """A service binding: a call to another worker without a network hop.

    `fetch` hands over the whole answer; `stream` hands it over once its status and headers are in,
    with the body to read as it comes (`timeout`: for the status and headers only).
    """

    async def fetch(
        self,
        method: str,
        path: str,
        *,
        json: JSONValue = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> ServiceResponse: ...

    async def stream(
        self,
        method: str,
        path: str,
        *,
        json: JSONValue = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> ServiceStream: ...


# --------------------------------------------------------------------------- Env
class Env:
    """A worker's bindings, secrets and vars as attributes (`env.CONFIG_KV`, `env.WEBHOOK_API_KEY`).

    Secrets and vars are strings; a missing secret reads as None through `get`, never as a default.
    `also_secret` gives further values to treat as secrets (redacted, refused in requests) that
    are not this worker's bindings: the local runtime passes every secret of the workspace, so a
    Telegram token pasted into a signal is masked by the gateway too.
    """

    def __init__(self, bindings: Mapping[str, Any], *, worker: str, secret_names: Sequence[str] = (),
                 also_secret: Callable[[], Sequence[str]] | None = None) -> None:
        self.__dict__["_bindings"] = dict(bindings)
        self.__dict__["worker"] = worker
        self.__dict__["_secret_names"] = frozenset(secret_names)
        self.__dict__["_also_secret"] = also_secret

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_bindings"][name]
        except KeyError:
            raise AttributeError(f"worker {self.worker!r} has no binding {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Env is read-only")

    def get(self, name: str, default: Any = None) -> Any:
        return self.__dict__["_bindings"].get(name, default)

    def has(self, name: str) -> bool:
        return name in self.__dict__["_bindings"]

    def secret_values(self) -> list[str]:
        """Every secret's value, for redaction: the same list (not to be changed) until a secret does.

        Asked a dozen times a signal. The bindings are updated in place when `.dev.vars` changes, so
        what the list was made from (a few strings) is compared on every call."""
        d = self.__dict__
        given = tuple(map(d["_bindings"].get, d["_secret_names"]))  # no Python frame: the check is cheap
        also = tuple(d["_also_secret"]()) if d["_also_secret"] is not None else ()
        made = d.get("_secrets_made")
        if made is None or made[0] != given or made[1] != also:
            own = [v for v in given if isinstance(v, str) and v]
            made = d["_secrets_made"] = (given, also,
                                         own + [v for v in also if isinstance(v, str) and v and v not in own])
        return made[2]

    def __repr__(self) -> str:  # never print values: secrets live here
        return f"Env(worker={self.worker!r}, bindings={sorted(self.__dict__['_bindings'])})"
