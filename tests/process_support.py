"""The local runtime as real processes, for tests: `python -m hoox_cli ...` in a temp workspace.

Every process runs with HOOX_WORKSPACE set to a temp folder and a port base whose nine ports were
free a moment ago. The `edge` fixture (see tests that import it) kills whatever runtime is still
alive at the end, whatever happened in the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hoox_edge import catalog
from netutil import free_base_port

DEADLINE = 30.0  # seconds any awaited state may take before the test fails




def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        if state == "Z":
            return False
    return True


def wait_for(what: str, fn: Callable[[], Any], timeout: float = DEADLINE) -> Any:
    """Poll `fn` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


class Edge:
    def __init__(self, root: Path, base_port: int) -> None:
        self.root = root
        self.base_port = base_port
        self.env = {k: v for k, v in os.environ.items() if k != "HOOX_DETACHED"}
        self.env["HOOX_WORKSPACE"] = str(root)
        self.pids: set[int] = set()

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hoox_cli", *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def json(self, *args: str, ok: bool = True) -> dict[str, Any]:
        p = self.run(*args, "--json")
        if ok:
            assert p.returncode == 0, f"hoox {' '.join(args)}: {p.stdout}{p.stderr}"
        return json.loads(p.stdout)

    def start(self) -> dict[str, Any]:
        out = self.json("dev", "start", "--detach", "--port", str(self.base_port))
        self.pids.add(out["pid"])
        return out

    # ledger and state, read directly (the runtime may be running or not)
    def sql(self, database: Path, query: str, *params: Any) -> list[dict[str, Any]]:
        conn = sqlite3.connect(database, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(query, params).fetchall()]
        finally:
            conn.close()

    def ledger(self, query: str, *params: Any) -> list[dict[str, Any]]:
        return self.sql(self.root / ".hoox/state/d1" / f"{catalog.TRADE_DB}.sqlite", query, *params)

    def paper_orders(self, client_order_id: str | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for f in sorted((self.root / ".hoox/state/do/PaperExchange").glob("*.sqlite")):
            q = "SELECT * FROM paper_orders" + (" WHERE client_order_id = ?" if client_order_id else "")
            rows += self.sql(f, q, *([client_order_id] if client_order_id else []))
        return rows

    def queued(self) -> list[dict[str, Any]]:
        return self.sql(self.root / ".hoox/state/queues.sqlite", "SELECT queue, attempts FROM messages")

    def kill_all(self) -> None:
        """Finalizer: stop a runtime still holding the workspace, then SIGKILL anything left."""
        with contextlib.suppress(Exception):
            self.run("dev", "stop", timeout=30)
        lock = self.root / ".hoox" / "runtime.lock"
        with contextlib.suppress(OSError, ValueError):
            self.pids.add(int(lock.read_text().strip()))
        for pid in self.pids:
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"hoox_cli" in cmdline and pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Edge]:
    """A workspace folder and free ports for `hoox dev start --detach`; every runtime killed at the end."""
    root = tmp_path / "ws"
    root.mkdir()
    e = Edge(root, free_base_port())
    try:
        yield e
    finally:
        e.kill_all()
