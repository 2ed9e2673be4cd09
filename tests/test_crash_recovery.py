"""kill -9 in the middle of a burst: no signal lost, none executed twice (issue 9, "Must show").

Five rounds: 200 signals, each with its own idempotencyKey, go to a real local runtime (`hoox dev
start --detach`) from 20 concurrent senders; the runtime is killed with SIGKILL at a random point of
the burst, started again, and every key without a final answer is sent again with the same key
until each has one. Then, over the 1,000 keys:

- every key has exactly one Filled signal and one filled order (its answer: 200, or 409 whose
  `original` is that fill);
- no signal is left in an intermediate state;
- the paper exchange holds exactly the ledger's orders, each one filled once, client order id for
  client order id;
- every SQLite file of the workspace passes `PRAGMA integrity_check`.

The kill points are random; the seed is printed with any failure so a run can be repeated.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from hoox_edge import exchanges, lifecycle
from hoox_edge.exchanges.paper import PaperProvider
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from process_support import Edge, edge, pid_alive, wait_for

__all__ = ["edge"]  # the fixture, used by name

KEYS = 200
SENDERS = 20
ROUNDS = 5


def _send_all(url: str, passkey: str, keys: list[str], answers: dict[str, tuple[int, dict]],
              received: list[int]) -> None:
    """Send each key's signal once (20 at a time); record the answers that came back."""

    def one(client: httpx.Client, key: str) -> None:
        body = {"apiKey": passkey, "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT",
                "quantity": 0.001, "idempotencyKey": key}
        try:
            r = client.post(url, json=body)
            answers[key] = (r.status_code, r.json())
            received.append(1)
        except (httpx.HTTPError, ValueError):
            pass  # the runtime died under it: no answer, it is sent again

    with httpx.Client(timeout=20) as client, ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(lambda k: one(client, k), keys))


def _final(answer: tuple[int, dict] | None) -> bool:
    """A final answer: the fill, or a 409 whose original finished (in_progress/queued is not final)."""
    if answer is None:
        return False
    status, body = answer
    return status == 200 or (status == 409 and body.get("original", {}).get("status") in lifecycle.FINAL)


def _kill_when(pid: int, received: list[int], at: int, done: threading.Event, killed: threading.Event) -> None:
    """SIGKILL the runtime once `at` answers of the burst have arrived."""
    while not done.is_set() and len(received) < at:
        done.wait(0.002)
    if not done.is_set():
        os.kill(pid, signal.SIGKILL)
        killed.set()


@pytest.mark.heavy
def test_kill_9_during_a_burst_loses_no_signal_and_fills_none_twice(edge: Edge) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    why = f"(seed {seed})"
    first = edge.start()
    edge.json("config", "kv", "set", "webhooks:rate_limit_per_minute", "100000")
    edge.json("config", "kv", "set", "exchanges:paper:initial_balance", "1000000000")
    passkey = Workspace(edge.root).secrets()["WEBHOOK_API_KEY"]
    url = f"http://127.0.0.1:{edge.base_port}/webhook"
    keys: list[str] = []
    answers: dict[str, tuple[int, dict]] = {}
    pid = first["pid"]
    kills = 0
    for rnd in range(ROUNDS):
        burst = [f"crash-{rnd}-{i:03d}" for i in range(KEYS)]
        keys += burst
        done, killed, received = threading.Event(), threading.Event(), []
        killer = threading.Thread(target=_kill_when,
                                  args=(pid, received, rng.randrange(1, KEYS - 10), done, killed))
        killer.start()
        _send_all(url, passkey, burst, answers, received)
        done.set()
        killer.join()
        if killed.is_set():
            kills += 1
            wait_for("the killed runtime to be gone", lambda p=pid: not pid_alive(p))
            pid = edge.start()["pid"]
        for _ in range(10):  # resend every key of the burst without a final answer, with its key
            todo = [k for k in burst if not _final(answers.get(k))]
            if not todo:
                break
            _send_all(url, passkey, todo, answers, [])
    assert kills == ROUNDS, f"the runtime was killed {kills} times, not {ROUNDS} {why}"
    assert all(_final(answers.get(k)) for k in keys), f"keys without a final answer after the resends {why}"
    assert edge.json("dev", "stop")["was_running"] is True

    asyncio.run(_check_state(edge.root, keys, answers, why))


async def _check_state(root: Path, keys: list[str], answers: dict[str, tuple[int, dict]], why: str) -> None:
    rt = LocalRuntime(Workspace(root))
    await rt.open()
    try:
        db = rt.env("hoox").DB
        signals = (await db.prepare("SELECT request_id, idempotency_key, status, error_code FROM trade_signals")
                   .all())["results"]
        stuck = [s for s in signals if s["status"] in lifecycle.OPEN]
        assert stuck == [], f"signals left in an intermediate state {why}: {stuck[:5]}"
        filled = {}
        for s in signals:
            if s["status"] == lifecycle.FILLED:
                assert s["idempotency_key"] not in filled, f"key {s['idempotency_key']} filled twice {why}"
                filled[s["idempotency_key"]] = s["request_id"]
        assert sorted(filled) == keys, f"keys without a fill {why}: {sorted(set(keys) - set(filled))[:5]}"
        for k in keys:  # what the sender was told is that one fill
            status, body = answers[k]
            told = body["requestId"] if status == 200 else body["original"]["requestId"]
            assert told == filled[k], f"{k}: answered {told}, filled {filled[k]} {why}"

        trades = (await db.prepare("SELECT request_id, status, filled_qty, client_order_id FROM trades").all())[
            "results"]
        assert all(t["status"] in (lifecycle.FILLED, lifecycle.REJECTED) for t in trades), why
        fills = {t["client_order_id"]: t for t in trades if t["status"] == lifecycle.FILLED}
        assert {t["request_id"] for t in fills.values()} == set(filled.values()), why
        orders = await PaperProvider(rt.env("trade-worker"), "bybit")._rpc("orders", {"limit": 1000}, None)
        assert sorted(o["clientOrderId"] for o in orders) == sorted(fills), f"exchange orders != ledger fills {why}"
        assert all(o["status"] == "Filled" and o["executedQty"] == fills[o["clientOrderId"]]["filled_qty"]
                   for o in orders), why
        assert all(exchanges.client_order_id(t["request_id"]) == c for c, t in fills.items())
        [pos] = (await db.prepare("SELECT size FROM positions WHERE status = 'OPEN'").all())["results"]
        assert abs(pos["size"] - len(keys) * 0.001) < 1e-9, why
    finally:
        await rt.stop()
    for f in sorted(root.glob(".hoox/state/**/*.sqlite")):
        conn = sqlite3.connect(f)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"{f} {why}"
        finally:
            conn.close()
