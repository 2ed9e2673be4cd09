"""Free loopback ports for tests that serve over real HTTP (never assume 8787 is free)."""

from __future__ import annotations

import socket

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


def free_base_port() -> int:
    """A port base (found by binding port 0) whose worker ports are all free right now."""
    for _ in range(200):
        base = free_port()
        if 1024 <= base <= 65535 - len(catalog.WORKERS) and _block_free(base):
            return base
    raise RuntimeError("no free block of loopback ports found")
