"""The HTTP/1.1 protocol the local runtime serves with: uvicorn's h11 protocol plus a request timeout.

uvicorn closes a keep-alive connection that stays idle after a response (`timeout_keep_alive`),
but nothing closes a connection that never sends a request, or sends half of one (a slow head, a
body that never ends): thousands of those hold sockets and memory forever. Here a deadline runs
from the moment a connection opens, and again from the first byte of each later request, until
that request's head and body are complete; a connection that misses it is closed. While the app
works on a request (an event stream may run for hours) no deadline runs.

The deadline is reset per complete request, not per byte: a client dribbling one byte a second
does not keep it open. Pinned to h11 (uvicorn's pure-Python parser) so the behaviour does not
change when httptools happens to be installed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_py = logging.getLogger("hoox.local")

REQUEST_TIMEOUT_SECONDS = 10.0  # head and body of one request; TradingView's whole call is 3 s
KEEP_ALIVE_SECONDS = 5.0  # idle between requests on one connection (uvicorn's default)


class TimedH11Protocol(H11Protocol):
    """`H11Protocol` that closes a connection whose request is not complete within `request_timeout`."""

    request_timeout: float = REQUEST_TIMEOUT_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is closed too

    def data_received(self, data: bytes) -> None:
        if self._deadline is None:
            self._arm()  # the first bytes of the next request start its clock
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()  # the request is complete (or the connection is done): the app has it

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

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


def timed_protocol(request_timeout: float) -> type[TimedH11Protocol]:
    """The protocol class with its own request timeout (uvicorn builds one instance per connection)."""
    return type("TimedH11Protocol", (TimedH11Protocol,), {"request_timeout": float(request_timeout)})
