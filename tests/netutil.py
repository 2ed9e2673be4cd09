"""Free loopback ports for tests that serve over real HTTP (never assume 8787 is free), an ASGI app
served by uvicorn on one of them inside the test's event loop, and the fakes' socketservers served from
a thread."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import socketserver
import threading
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from hoox_edge import catalog


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _block_free(base: int) -> bool:
    for port in range(base, base + len(catalog.WORKERS)):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_base_port() -> int:
    """A port base whose worker ports are all free right now, below the ephemeral range: a port the
    kernel hands to an outgoing connection (any test's client socket) can never land in the block
    between this check and the runtime's bind, as one from binding port 0 could."""
    high = _ephemeral_low() - len(catalog.WORKERS)
    for _ in range(200):
        base = random.randrange(10_000, high)
        if _block_free(base):
            return base
    raise RuntimeError("no free block of loopback ports found")


@contextlib.asynccontextmanager
async def serve(app: Any, *, log_level: str = "warning") -> AsyncIterator[str]:
    """Serve `app` on a free loopback port in the running loop; yields the base URL, stops on exit."""
    # proto IPPROTO_TCP: asyncio sets TCP_NODELAY only on such sockets (else Nagle adds ~40 ms)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="off", access_log=False,
                                           timeout_graceful_shutdown=2))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]  # leave the caller's
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # uvicorn's own error, not a hang
                    raise RuntimeError("uvicorn stopped before it started serving")
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class ServedInThread:
    """A socketserver's `serve_forever` in a daemon thread. `stop()` returns within POLL_S: with
    socketserver's default half-second poll, every fake's teardown waited up to 0.5 s (a minute of the
    suite)."""

    POLL_S = 0.02

    def __init__(self, server: socketserver.BaseServer) -> None:
        self.server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": self.POLL_S},
                                        name=f"served-{type(server).__name__}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
