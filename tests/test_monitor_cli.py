"""`hoox monitor`, `hoox logs tail` and `hoox check health` against a real local edge.

The edge is a LocalRuntime serving every enabled worker over HTTP on free loopback ports (the
workspace's [dev] port is set to them, so the CLI finds the gateway and the operator token the
way a user's CLI does). CLI commands run in a worker thread (the runtime's event loop must keep
serving); `logs tail` runs as a real process so that Ctrl+C can be sent to it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

import cli_support
import httpx
import pytest
from cli_support import as_json
from hoox_edge import catalog
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from hoox_edge.shared import events, settings
from netutil import free_base_port

GW = "hoox"
DEADLINE = 20.0  # the longest any awaited output may take before the test fails


async def hoox(*args: str, input: str | None = None) -> Any:
    return await asyncio.to_thread(cli_support.hoox, *args, input=input)


def gateway_url(rt: LocalRuntime) -> str:
    return f"http://127.0.0.1:{rt.ports[GW]}"


async def send_signal(rt: LocalRuntime, **changes: Any) -> httpx.Response:
    body = {"apiKey": rt.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT",
            "quantity": 0.001}
    body.update(changes)
    async with httpx.AsyncClient(timeout=15) as c:
        return await c.post(gateway_url(rt) + "/webhook", json=body)


# ============================================================================ logs tail (the stream)
async def _read_until(proc: asyncio.subprocess.Process, predicate: Any, lines: list[str]) -> None:
    """Read `proc`'s stdout lines into `lines` until `predicate(lines)`; past DEADLINE, fail showing what
    it printed on both streams."""
    async def loop() -> None:
        while True:
            raw = await proc.stdout.readline()  # type: ignore[union-attr]
            assert raw, "logs tail ended early:\n" + "".join(lines)
            lines.append(raw.decode())
            if predicate(lines):
                return

    try:
        await asyncio.wait_for(loop(), DEADLINE)
    except TimeoutError:
        proc.kill()
        err = (await proc.stderr.read()).decode(errors="replace")  # type: ignore[union-attr]
        raise AssertionError(f"logs tail printed nothing wanted in {DEADLINE} s; stdout:\n{''.join(lines)}\n"
                             f"stderr:\n{err}") from None


async def test_logs_tail_follows_new_lines_until_ctrl_c(edge: LocalRuntime, workspace: Workspace) -> None:
    start = await events.latest_id(edge.d1(catalog.TRADE_DB))
    env = dict(os.environ, HOOX_WORKSPACE=str(workspace.root), PYTHONUNBUFFERED="1")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hoox_cli", "logs", "tail", GW, "--json", "--after", str(start),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    try:
        r = await send_signal(edge)
        assert r.status_code == 200, r.text
        rid = r.json()["requestId"]
        lines: list[str] = []
        await _read_until(proc, lambda ls: any("signal received" in x for x in ls), lines)
        rows = [json.loads(x) for x in lines]
        received = next(x for x in rows if x["message"] == "signal received")
        assert received["requestId"] == rid and received["worker"] == GW and received["level"] == "info"
        assert received["eventId"] > start
        assert all(x["worker"] == GW for x in rows)  # the WORKER filter holds
        ids = [x["eventId"] for x in rows]
        assert ids == sorted(set(ids))

        proc.send_signal(signal.SIGINT)  # Ctrl+C
        rc = await asyncio.wait_for(proc.wait(), DEADLINE)
        err = (await proc.stderr.read()).decode()  # type: ignore[union-attr]
        assert rc == 0, err
        assert "Traceback" not in err
        token = workspace.secrets()["OPERATOR_API_KEY"]
        assert token not in err and token not in "".join(lines)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_logs_tail_prints_human_lines_and_stops_after_max(edge: LocalRuntime) -> None:
    start = await events.latest_id(edge.d1(catalog.TRADE_DB))
    r = await send_signal(edge)
    assert r.status_code == 200, r.text
    rid = r.json()["requestId"]
    # The lines were written before the command started: --after resumes exactly there.
    res = await hoox("logs", "tail", "--after", str(start), "--max", "2", "--level", "info")
    assert res.exit_code == 0, res.output
    out = res.stdout.strip().splitlines()
    assert len(out) == 2
    assert "INFO" in out[0] and "signal received" in out[0] and rid in out[0]


# ============================================================================ errors
async def test_commands_say_how_to_start_the_edge_when_none_runs(workspace: Workspace,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    doc = workspace.config()
    doc["dev"]["port"] = free_base_port()  # type: ignore[index]
    workspace.save_config(doc)
    monkeypatch.setenv("HOOX_WORKSPACE", str(workspace.root))
    for name in ("HOOX_API_URL", "HOOX_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for args in (["monitor", "status"], ["check", "health"], ["monitor", "kill-switch", "show"]):
        r = await hoox(*args, "--json")
        assert r.exit_code == 1, r.output
        err = as_json(r)["error"]
        assert err["code"] == "EDGE_UNREACHABLE" and "hoox dev start" in err["message"], err
    r = await hoox("monitor", "status")
    assert r.exit_code == 1 and "hoox dev start" in r.stderr


async def test_a_remote_without_a_token_is_refused_before_any_request(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Any) -> None:
    monkeypatch.setenv("HOOX_WORKSPACE", str(tmp_path))
    monkeypatch.delenv("HOOX_API_TOKEN", raising=False)
    r = await hoox("monitor", "--remote", "https://hoox.example.invalid", "status", "--json")
    assert r.exit_code == 1
    err = as_json(r)["error"]
    assert err["code"] == "NO_EDGE_CONFIG" and "HOOX_API_TOKEN" in err["message"]


async def test_a_wrong_token_is_unauthorized_and_never_printed(edge: LocalRuntime,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "wrong-token-abcdef123456"
    monkeypatch.setenv("HOOX_API_TOKEN", wrong)
    r = await hoox("monitor", "kill-switch", "show", "--remote", gateway_url(edge), "--json")
    assert r.exit_code == 1
    err = as_json(r)["error"]
    assert err["code"] == "UNAUTHORIZED" and "OPERATOR_API_KEY" in err["message"]
    assert "refused the operator token from HOOX_API_TOKEN" in err["message"]  # which token, how to set it
    assert wrong not in r.output


async def test_kill_switch_prompt_rules(edge: LocalRuntime) -> None:
    kv = edge.kv(catalog.CONFIG_KV)
    # --json never prompts: without --yes nothing changes
    r = await hoox("monitor", "kill-switch", "on", "--json")
    assert r.exit_code == 2 and as_json(r)["error"]["code"] == "CONFIRMATION_REQUIRED"
    assert await settings.get(kv, "trade:kill_switch") is False
    # answering no at the prompt changes nothing
    r = await hoox("monitor", "kill-switch", "on", "--reason", "test", input="n\n")
    assert r.exit_code != 0 and "Turn the kill switch ON" in r.stdout
    assert await settings.get(kv, "trade:kill_switch") is False
    r = await hoox("monitor", "kill-switch", "sideways", "--json")
    assert r.exit_code == 2 and as_json(r)["error"]["code"] == "USAGE_ERROR"


# ============================================================================ kill switch, trades, status
async def test_kill_switch_on_halts_signals_and_off_resumes_them(edge: LocalRuntime) -> None:
    kv = edge.kv(catalog.CONFIG_KV)
    r = await hoox("monitor", "kill-switch", "on", "--reason", "exchange maintenance", "--yes", "--json")
    assert r.exit_code == 0, r.output
    out = as_json(r)
    assert out["on"] is True and out["reason"] == "exchange maintenance" and isinstance(out["eventId"], int)
    assert await settings.get(kv, "trade:kill_switch") is True
    assert await settings.get(kv, "trade:kill_switch_reason") == "exchange maintenance"

    refused = await send_signal(edge)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "KILL_SWITCH_ACTIVE"
    assert "exchange maintenance" in refused.json()["error"]["message"]

    shown = await hoox("monitor", "kill-switch", "--json")  # show is the default
    assert as_json(shown)["on"] is True and as_json(shown)["reason"] == "exchange maintenance"
    human = await hoox("monitor", "kill-switch", "show")
    assert "Kill switch ON" in human.stdout and "exchange maintenance" in human.stdout

    # the prompt: yes turns it off
    r = await hoox("monitor", "kill-switch", "off", input="y\n")
    assert r.exit_code == 0, r.output
    assert "Turn the kill switch OFF" in r.stdout and "Kill switch off" in r.stdout
    assert await settings.get(kv, "trade:kill_switch") is False
    assert (await send_signal(edge)).status_code == 200


async def test_trades_lists_a_fill_made_in_the_test(edge: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    r = await hoox("monitor", "trades", "--json")
    assert r.exit_code == 0, r.output
    assert as_json(r) == {"items": [], "nextCursor": None}
    r = await hoox("monitor", "trades")
    assert "No trades yet" in r.stdout

    await settings.put(edge.kv(catalog.CONFIG_KV), "webhooks:rate_limit_per_minute", 1000)
    rids = []
    for i, (symbol, action) in enumerate([("BTCUSDT", "LONG"), ("ETHUSDT", "SHORT"), ("BTCUSDT", "CLOSE")]):
        resp = await send_signal(edge, symbol=symbol, action=action, quantity=0.01, idempotencyKey=f"cli-{i}")
        assert resp.status_code == 200, resp.text
        rids.append(resp.json()["requestId"])

    r = await hoox("monitor", "trades", "2", "--json")
    page = as_json(r)
    assert [t["requestId"] for t in page["items"]] == [rids[2], rids[1]]  # newest first, N of them
    assert page["nextCursor"] is not None
    eth = page["items"][1]
    assert (eth["symbol"], eth["action"], eth["side"], eth["status"], eth["exchange"], eth["mode"]) == (
        "ETHUSDT", "SHORT", "SELL", "Filled", "bybit", "paper")
    assert eth["quantity"] == 0.01 and eth["price"] > 0
    assert eth["fee"] == pytest.approx(eth["price"] * 0.01 * 0.00055)  # the paper taker fee

    # N larger than one page: the pages are followed, in order, and nothing is left over
    from hoox_cli.commands import monitor as monitor_cmd

    monkeypatch.setattr(monitor_cmd, "PAGE_LIMIT", 1)
    paged = as_json(await hoox("monitor", "trades", "5", "--json"))
    assert [t["requestId"] for t in paged["items"]] == rids[::-1] and paged["nextCursor"] is None

    r = await hoox("monitor", "trades", "10", "--symbol", "btc/usdt", "--json")
    assert [t["requestId"] for t in as_json(r)["items"]] == [rids[2], rids[0]]
    human = await hoox("monitor", "trades", "5")
    assert human.exit_code == 0 and "ETHUSDT" in human.stdout and rids[1][:8] in human.stdout
    assert "…" not in human.stdout  # fits an 80-column terminal


async def test_status_check_health_queue_depth_and_logs(edge: LocalRuntime) -> None:
    resp = await send_signal(edge)
    assert resp.status_code == 200
    rid = resp.json()["requestId"]

    r = await hoox("monitor", "status", "--json")
    assert r.exit_code == 0, r.output
    st = as_json(r)
    assert st["killSwitch"]["on"] is False and st["tradingMode"] == "paper" and st["runtime"] == "local"
    assert st["lastSignalAt"] is not None and st["queues"]["available"] is True
    assert {w["name"] for w in st["workers"]} == {w.name for w in catalog.WORKERS}
    human = await hoox("monitor", "status")
    assert "kill switch off" in human.stdout and "trade-worker" in human.stdout
    # a worker hoox.toml does not enable is "disabled", not a failing "offline"
    not_enabled = sorted({w.name for w in catalog.WORKERS} - set(edge.workers))
    assert not_enabled
    for name in not_enabled:
        [row] = [ln for ln in human.stdout.splitlines() if f" {name} " in ln]
        assert "disabled" in row and "offline" not in row, row

    r = await hoox("check", "health", "--json")
    health = as_json(r)
    running = set(edge.workers)
    online = {w["name"] for w in health["workers"] if w["status"] == "online"}
    assert running <= online
    assert health["healthy"] is True and health["problems"] == [] and r.exit_code == 0
    # workers the workspace does not run are a warning, not a fault
    not_run = {w.name for w in catalog.WORKERS} - running
    assert len([w for w in health["warnings"] if "not running" in w]) == len(not_run)

    # a worker whose /health fails makes the edge unhealthy (exit 1); the kill switch is a warning
    await settings.put(edge.kv(catalog.CONFIG_KV), "trade:kill_switch", True)
    broken = "d1-worker"

    async def crashed(scope: dict, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"boom"})

    edge._apps[broken] = crashed  # the app the service binding resolves to (a crashed worker)
    r = await hoox("check", "health", "--json")
    health = as_json(r)
    assert r.exit_code == 1 and health["healthy"] is False
    assert len(health["problems"]) == 1 and health["problems"][0].startswith(f"{broken}: degraded")
    assert any("kill switch is ON" in w for w in health["warnings"])
    human = await hoox("check", "health")
    assert human.exit_code == 1 and "unhealthy" in human.stdout and broken in human.stdout

    r = await hoox("monitor", "queue-depth", "--json")
    q = as_json(r)
    assert r.exit_code == 0 and [x["name"] for x in q["queues"]] == [catalog.TRADE_QUEUE, catalog.TRADE_DLQ]
    assert q["deadLetters"]["count"] == 0 and q["deadLetters"]["items"] == []
    assert "dead letters" in (await hoox("monitor", "queue-depth")).stdout

    r = await hoox("monitor", "logs", GW, "--json", "-n", "5")
    rows = as_json(r)["items"]
    assert r.exit_code == 0 and 0 < len(rows) <= 5 and all(x["worker"] == GW for x in rows)
    assert any(x["message"] == "signal received" and x["requestId"] == rid for x in rows)
    r = await hoox("monitor", "logs", "--level", "warning", "--json")
    assert all(x["level"] in ("warning", "error", "critical") for x in as_json(r)["items"])
    human = await hoox("monitor", "logs", "--grep", "signal received")
    assert "signal received" in human.stdout and rid in human.stdout


async def test_logs_tail_shows_recent_lines_then_new_ones_each_once(edge: LocalRuntime,
                                                                     workspace: Workspace) -> None:
    first = await send_signal(edge)
    assert first.status_code == 200
    env = dict(os.environ, HOOX_WORKSPACE=str(workspace.root), PYTHONUNBUFFERED="1")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hoox_cli", "logs", "tail", "-n", "3", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    try:
        lines: list[str] = []
        await _read_until(proc, lambda ls: len(ls) == 3, lines)
        history = [json.loads(x) for x in lines]
        assert [h["eventId"] for h in history] == [None, None, None]
        assert all(h["requestId"] == first.json()["requestId"] for h in history)
        second = await send_signal(edge, idempotencyKey="second")
        assert second.status_code == 200, second.text
        rid = second.json()["requestId"]
        await _read_until(proc, lambda ls: rid in ls[-1] and "Order filled" in ls[-1], lines)
        rows = [json.loads(x) for x in lines]
        log_ids = [r["logId"] for r in rows]
        assert log_ids == sorted(set(log_ids))  # oldest first, none twice, none skipped below:
        assert log_ids == list(range(log_ids[0], log_ids[-1] + 1))
        assert {r["requestId"] for r in rows[3:] if r["requestId"]} == {rid}  # (a cron line has none)
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), DEADLINE)
