"""The HTTP/1.1 protocol the local runtime serves with: uvicorn's httptools protocol plus a request
timeout and a bound on a request's head.

uvicorn closes a keep-alive connection that stays idle after a response (`timeout_keep_alive`),
but nothing closes a connection that never sends a request, or sends half of one (a slow head, a
body that never ends): thousands of those hold sockets and memory forever. Here a deadline runs
from the moment a connection opens, and again from the first byte of each later request, until
that request's head and body are complete; a connection that misses it is closed. While the app
works on a request (an event stream may run for hours) no deadline runs.

The deadline is reset per complete request, not per byte: a client dribbling one byte a second
does not keep it open.

httptools (llhttp, in C) parses instead of h11 (pure Python, ~4x the CPU a request). llhttp puts no
bound on a head, which h11 did (16 KiB, uvicorn's default): a head over `MAX_HEAD_BYTES` is answered
431 and the connection closed. While it arrives the bytes counted are those of the reads it spans,
so a head that starts inside a read is counted from that read's start (at worst a pipelined
request's read is counted whole); a head that came whole is measured (its target and headers). An
HTTP/1.1 request without Host is refused as h11 refused it. Where llhttp is stricter than h11 (bare
LF line ends, folded header lines: 400 now) or reads more (an absolute-form target `GET
http://host/path` is served as `/path`, as RFC 9112 asks), it is left so. A 400 for bad bytes that
follow complete requests on the same connection is sent after their answers, never instead of them.

A refusal is the edge's JSON error envelope (`MALFORMED_REQUEST`, `HEADERS_TOO_LARGE`), not
uvicorn's plain text, and the connection is closed lingering: the server stops writing, then reads
and drops what the client still sends (at most `LINGER_SECONDS`). Closing at once while a client
is still sending (a 200 KB header) resets the connection, and the client reads the reset instead
of the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hoox_edge.shared.errors import HEADERS_TOO_LARGE, MALFORMED_REQUEST, error_body

_py = logging.getLogger("hoox.local")

REQUEST_TIMEOUT_SECONDS = 10.0  # head and body of one request; TradingView's whole call is 3 s
KEEP_ALIVE_SECONDS = 5.0  # idle between requests on one connection (uvicorn's default)
MAX_HEAD_BYTES = 16 * 1024  # request line and headers (h11's bound, which uvicorn used before)
LINGER_SECONDS = 2.0  # after a refusal: what the client still sends is read and dropped this long
_REFUSALS = {400: (b"400 Bad Request", MALFORMED_REQUEST,
                   "This is not a valid HTTP/1.1 request (its request line, a header, its framing or a chunk)."),
             431: (b"431 Request Header Fields Too Large", HEADERS_TOO_LARGE,
                   f"The request line and headers exceed {MAX_HEAD_BYTES // 1024} KiB: send less in them.")}


class TimedHttpProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` that closes a connection whose request is not complete within
    `request_timeout`, and answers 400 to a head longer than `MAX_HEAD_BYTES`."""

    request_timeout: float = REQUEST_TIMEOUT_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._in_message = False  # between a request's first byte and its end
        self._head_bytes: int | None = None  # while a head is being received: its bytes so far
        self._refusal: int | None = None  # a refusal's status, held until the requests before it are answered
        self._linger: asyncio.TimerHandle | None = None  # set once refused: the connection only drains
        self._too_large = False  # the head being parsed is over MAX_HEAD_BYTES

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is closed too

    def data_received(self, data: bytes) -> None:
        if self._linger is not None:
            return  # refused: read and dropped until the client closes or the linger ends
        in_head = self._head_bytes is not None
        super().data_received(data)
        if self._head_bytes is not None:
            self._head_bytes = (self._head_bytes if in_head else 0) + len(data)
            if self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
                self._head_bytes = None
                self.logger.warning("A request head over %d bytes refused.", MAX_HEAD_BYTES)
                self._refuse(431)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_message = True
        self._head_bytes = 0
        if self._deadline is None and not self._answering():
            self._arm()  # the first byte of the next request starts its clock

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        if len(self.url) + sum(len(name) + len(value) for name, value in self.headers) > MAX_HEAD_BYTES:
            self._too_large = True  # a whole head that came in one read: refused as one still arriving
            raise httptools.HttpParserError("a request head over the bound")
        if self.parser.get_http_version() == "1.1" and not any(name == b"host" for name, _ in self.headers):
            # RFC 9112 3.2: 400 (h11 refused it; llhttp does not): raised, the parser stops and uvicorn answers 400
            raise httptools.HttpParserError("an HTTP/1.1 request without Host")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_message = False
        self._disarm()  # the request is complete: the app has it
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:  # uvicorn's one call for bytes llhttp cannot parse
        self._refuse(431 if self._too_large else 400)

    def _refuse(self, status: int) -> None:
        """Answer `status` and close. Bad bytes behind complete requests (pipelined, or junk after a
        body) must not cut off their answers although the app runs them (a signal filled while its
        sender read only "400"): the refusal waits for those answers."""
        if self._refusal is not None or self._linger is not None:
            return  # already refused: what follows the bad bytes is not read
        mid_body = self.cycle is not None and self.cycle.more_body  # the bad bytes are this request's own
        if (self._answering() or self.pipeline) and not mid_body:
            self._refusal = status
            self.transport.pause_reading()
            return
        self._send_refusal(status)

    def _send_refusal(self, status: int) -> None:
        line, code, message = _REFUSALS[status]
        body = json.dumps(error_body(code, message, None)).encode()
        head = [b"HTTP/1.1 " + line + b"\r\n"]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [b"content-type: application/json\r\ncontent-length: ", str(len(body)).encode(),
                 b"\r\nconnection: close\r\n\r\n"]
        self.transport.write(b"".join(head) + body)
        self._disarm()
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()  # the answer is whole; the client's EOF (eof_received) then closes
        self._linger = self.loop.call_later(LINGER_SECONDS, self.transport.close)
        self.transport.resume_reading()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._refusal is not None:
            if not (self._answering() or self.pipeline) and not self.transport.is_closing():
                self._unset_keepalive_if_required()
                status, self._refusal = self._refusal, None
                self._send_refusal(status)
            return
        if self._in_message and self._deadline is None and not self.transport.is_closing():
            self._arm()  # a request pipelined behind the answer is still incomplete: its clock runs now

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def _answering(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        _py.debug("closing a connection from %s: no complete request within %g s", self.client,
                  self.request_timeout)
        self.transport.close()  # an app waiting for the rest of the body gets http.disconnect


def timed_protocol(request_timeout: float) -> type[TimedHttpProtocol]:
    """The protocol class with its own request timeout (uvicorn builds one instance per connection)."""
    return type("TimedHttpProtocol", (TimedHttpProtocol,), {"request_timeout": float(request_timeout)})
