"""Queue adapters: the producer binding, and the batch a consumer receives.

Message bodies go over as JS values (structured clone), so a dict arrives as a dict; delays are
`{"delaySeconds": n}` options. A body is first checked and copied with the ports' rule
(`encode_queue_body`: JSON only, at most 128 KB, TypeError/ValueError as locally), so what is sent
is the JSON value a local consumer would read back (a tuple arrives as a list) and no PyProxy of a
value JS cannot clone reaches the binding.
"""

from __future__ import annotations

import json as _json
from collections.abc import Sequence
from typing import Any

from hoox_edge.cloudflare._js import epoch_seconds, options, resolve, to_js, to_py, unwrap
from hoox_edge.ports import JSONValue, QueueAdminUnavailable, encode_queue_batch, encode_queue_body

MAX_DELAY_SECONDS = 12 * 3600


def _delay(delay_seconds: int | float) -> int:
    d = int(delay_seconds)
    if not 0 <= d <= MAX_DELAY_SECONDS:
        raise ValueError(f"delay_seconds must be between 0 and {MAX_DELAY_SECONDS}, got {delay_seconds}")
    return d


class CloudflareQueue:
    def __init__(self, js_queue: Any, name: str = "") -> None:
        self._js = js_queue
        self.name = name

    async def send(self, body: JSONValue, *, delay_seconds: int = 0) -> None:
        d = _delay(delay_seconds)
        value = to_js(_json.loads(encode_queue_body(body)))
        if d:
            await resolve(self._js.send(value, options(delay_seconds=d)))
        else:
            await resolve(self._js.send(value))

    async def send_batch(self, bodies: Sequence[JSONValue], *, delay_seconds: int = 0) -> None:
        if not bodies:
            return
        d = _delay(delay_seconds)
        messages = to_js([{"body": _json.loads(text)} for text in encode_queue_batch(bodies)])
        if d:
            await resolve(self._js.sendBatch(messages, options(delay_seconds=d)))
        else:
            await resolve(self._js.sendBatch(messages))

    def __repr__(self) -> str:
        return f"CloudflareQueue({self.name!r})"


class CloudflareMessage:
    def __init__(self, js_message: Any) -> None:
        self._js = js_message
        self.id = str(js_message.id)
        self.timestamp = epoch_seconds(js_message.timestamp) or 0.0
        self.body = to_py(js_message.body)
        self.attempts = int(js_message.attempts)

    def ack(self) -> None:
        self._js.ack()

    def retry(self, *, delay_seconds: int = 0) -> None:
        d = _delay(delay_seconds)
        if d:
            self._js.retry(options(delay_seconds=d))
        else:
            self._js.retry()

    def __repr__(self) -> str:
        return f"CloudflareMessage({self.id!r}, attempts={self.attempts})"


class CloudflareMessageBatch:
    def __init__(self, js_batch: Any) -> None:
        self._js = unwrap(js_batch)
        self.queue = str(self._js.queue)
        self.messages = [CloudflareMessage(m) for m in self._js.messages]

    def ack_all(self) -> None:
        self._js.ackAll()

    def retry_all(self, *, delay_seconds: int = 0) -> None:
        d = _delay(delay_seconds)
        if d:
            self._js.retryAll(options(delay_seconds=d))
        else:
            self._js.retryAll()


class CloudflareQueueAdmin:
    """The `QueueAdmin` port on Cloudflare: not available in this version.

    A Queue producer binding can only send; depth, in-flight counts and dead letters are behind
    Cloudflare's REST API (queue metrics, and pulling the dead-letter queue with an HTTP pull
    consumer), which needs an API token and is not wired yet. Every method says so.
    """

    MESSAGE = ("Queue depth, in-flight messages and dead letters are not available on Cloudflare in this "
               "version: a Queue producer binding cannot read them (see the queue in the Cloudflare dashboard).")

    async def stats(self, queue: str) -> dict:
        raise QueueAdminUnavailable(self.MESSAGE)

    async def list(self, queue: str, *, limit: int = 100, offset: int = 0) -> list:
        raise QueueAdminUnavailable(self.MESSAGE)

    async def message(self, message_id: str) -> dict | None:
        raise QueueAdminUnavailable(self.MESSAGE)

    async def move(self, message_id: str, to_queue: str | None = None) -> bool:
        raise QueueAdminUnavailable(self.MESSAGE)
