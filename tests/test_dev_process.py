"""The local runtime as real processes: `hoox dev start --detach`, status, signals, stop, and crashes."""

from __future__ import annotations

import json
import os
import signal

import pytest
from hoox_edge import catalog
from netutil import free_base_port
from process_support import Edge, edge, pid_alive, wait_for

__all__ = ["edge"]  # the fixture, used by name


@pytest.mark.heavy
def test_detached_runtime_lifecycle(edge: Edge) -> None:
    started = edge.start()
    assert set(started["created"]) == {"hoox.toml", ".dev.vars", "kv-manifest.json"}
    gateway = f"http://127.0.0.1:{edge.base_port}"
    assert started["gateway_url"] == gateway and started["detached"] is True
    assert {w["name"]: w["port"] for w in started["workers"]}["trade-worker"] == edge.base_port + 1
    pid = started["pid"]
    assert pid_alive(pid)
    info = json.loads((edge.root / ".hoox/runtime.json").read_text())
    assert info["pid"] == pid and info["base_port"] == edge.base_port and info["ports"]["hoox"] == edge.base_port

    status = edge.json("dev", "status")
    assert status["running"] is True and status["pid"] == pid and status["gateway_url"] == gateway
    assert status["uptime_seconds"] >= 0
    assert {w["name"] for w in status["workers"]} == set(info["workers"])
    assert all(w["health"]["ok"] for w in status["workers"]), status["workers"]

    # one runtime per workspace, even on other ports
    second = edge.run("dev", "start", "--port", str(free_base_port()), "--json", timeout=30)
    assert second.returncode != 0
    err = json.loads(second.stdout)["error"]
    assert err["code"] == "ALREADY_RUNNING" and str(pid) in err["message"]

    sent = edge.json("signal", "send", "--symbol", "BTCUSDT", "--action", "LONG", "--quantity", "0.01")
    assert sent["status_code"] == 200 and sent["ok"] is True
    assert sent["response"]["result"]["status"] == "Filled"
    secrets = (edge.root / ".dev.vars").read_text()
    values = [line.split("=", 1)[1] for line in secrets.splitlines() if "=" in line]
    log = (edge.root / ".hoox/logs/runtime.log").read_text()
    for value in values:
        assert value not in json.dumps([started, status, sent]) and value not in log
    rid = sent["response"]["requestId"]
    assert [t["status"] for t in edge.ledger("SELECT status FROM trades WHERE request_id = ?", rid)] == ["Filled"]

    stopped = edge.json("dev", "stop")
    assert stopped == {
        "workspace": str(edge.root),
        "was_running": True,
        "pid": pid,
        "forced": False,
        "stale_runtime_file_removed": False,
    }
    assert not pid_alive(pid)
    assert not (edge.root / ".hoox/runtime.json").exists()
    assert edge.json("dev", "status")["running"] is False
    assert edge.json("dev", "stop")["was_running"] is False
    assert "hoox local edge running" in (edge.root / ".hoox/logs/runtime.log").read_text()


def test_signal_send_when_the_edge_is_down(edge: Edge) -> None:
    assert edge.run("dev", "start", "--detach", "--port", str(edge.base_port)).returncode == 0
    assert edge.run("dev", "stop").returncode == 0
    p = edge.run("signal", "send", "--symbol", "BTCUSDT", "--action", "LONG")
    assert p.returncode != 0
    assert "not running" in p.stderr and "hoox dev start" in p.stderr


@pytest.mark.heavy
@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_a_queued_signal_survives_a_stop_or_crash_and_fills_exactly_once(edge: Edge, how: str) -> None:
    first = edge.start()
    # short retries so the test takes seconds, and enough of them that nothing dead-letters meanwhile
    edge.json("config", "kv", "set", "webhooks:retry_schedule_seconds", "1,1,1,1,1,1,1,1")
    edge.json("config", "kv", "set", "exchanges:paper:fault", "outage")

    sent = edge.json("signal", "send", "--symbol", "ETHUSDT", "--action", "LONG", "--quantity", "0.5")
    assert sent["status_code"] == 202 and sent["response"]["status"] == "Enqueued"
    rid = sent["response"]["requestId"]

    # the queue consumer has tried it at least once and failed (the exchange is still down)
    wait_for(
        "a queue delivery attempt",
        lambda: edge.ledger("SELECT 1 FROM system_logs WHERE request_id = ? AND message LIKE 'Retry %'", rid),
    )

    if how == "sigterm":
        assert edge.json("dev", "stop")["was_running"] is True
    else:
        os.kill(first["pid"], signal.SIGKILL)
        wait_for("the killed runtime to be gone", lambda: not pid_alive(first["pid"]))
        assert edge.json("dev", "status")["running"] is False

    # nothing lost: the signal is still the queue's (no order was started) and its message still queued
    assert [s["status"] for s in edge.ledger("SELECT status FROM trade_signals WHERE request_id = ?", rid)] == [
        "Enqueued"
    ]
    assert edge.ledger("SELECT 1 FROM trades WHERE request_id = ?", rid) == []
    assert [m["queue"] for m in edge.queued()] == [catalog.TRADE_QUEUE]
    assert edge.paper_orders() == []

    edge.json("config", "kv", "set", "exchanges:paper:fault", "")
    second = edge.start()
    assert second["pid"] != first["pid"]

    wait_for(
        "the queued signal to fill",
        lambda: edge.ledger("SELECT 1 FROM trades WHERE request_id = ? AND status = 'Filled'", rid),
    )
    wait_for("the queue to empty", lambda: edge.queued() == [])
    assert edge.json("dev", "stop")["was_running"] is True

    trades = edge.ledger("SELECT request_id, status, quantity, client_order_id FROM trades")
    assert len(trades) == 1 and trades[0]["request_id"] == rid and trades[0]["status"] == "Filled"
    assert trades[0]["quantity"] == pytest.approx(0.5)
    orders = edge.paper_orders()
    assert len(orders) == 1 and orders[0]["client_order_id"] == trades[0]["client_order_id"]
    signals = edge.ledger("SELECT status FROM trade_signals WHERE request_id = ?", rid)
    assert [s["status"] for s in signals] == ["Filled"]
    positions = edge.ledger("SELECT symbol, side, size FROM positions WHERE status = 'OPEN'")
    assert positions == [{"symbol": "ETHUSDT", "side": "LONG", "size": pytest.approx(0.5)}]
    assert edge.queued() == []  # not in the queue, not in the dead letter


def test_an_exited_runtime_left_a_zombie_by_its_parent_counts_as_stopped() -> None:
    """A detached runtime is not the stopping CLI's child: when it exits, the process that reaps it (an
    init that reaps late, as in a container) may leave it a zombie for a while. `hoox dev stop` takes
    it as gone at once instead of waiting two seconds for it to disappear."""
    import subprocess
    import sys

    from hoox_cli.core import process

    # the parent forks a child that exits at once, waits for that exit without reaping it, says its pid
    code = ("import os, sys\n"
            "pid = os.fork()\n"
            "if pid == 0:\n    os._exit(0)\n"
            "os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)\n"
            "print(pid, flush=True)\n"
            "sys.stdin.read()\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        zombie = int(parent.stdout.readline())
        os.kill(zombie, 0)  # still in the process table
        assert process.pid_alive(zombie) is False
        assert process.pid_alive(parent.pid) is True
    finally:
        parent.communicate("")
