"""`hoox orders`, `hoox monitor flatten|positions|trades --mode`, `kill-switch on --flatten` and the
outcomes `hoox signal send` prints, against a real local edge (the `edge` fixture).

CLI commands run in a worker thread: the runtime's event loop must keep serving.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import cli_support
import pytest
from cli_support import as_json
from hoox_edge import catalog
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.shared import settings
from order_support import (
    GW,
    gateway_url,
    hold_first_closes,
    ledger_status,
    live_position,
    paper_position,
    resting_order,
)


async def hoox(*args: str, input: str | None = None) -> Any:
    return await asyncio.to_thread(cli_support.hoox, *args, input=input)


async def open_positions(rt: LocalRuntime, mode: str) -> list[tuple[str, str]]:
    rows = (await rt.d1(catalog.TRADE_DB).prepare(
        "SELECT exchange, symbol FROM positions WHERE status = 'OPEN' AND mode = ? ORDER BY exchange").bind(
        mode).all())["results"]
    return [(r["exchange"], r["symbol"]) for r in rows]


async def test_orders_list_and_cancel_ask_first_and_refuse_under_json_without_yes(edge: LocalRuntime) -> None:
    r = await hoox("orders", "list", "--json")
    assert r.exit_code == 0 and as_json(r) == {"items": [], "nextCursor": None}
    assert "No open orders (paper and live books)" in (await hoox("orders", "list")).stdout
    r = await hoox("orders", "--remote", gateway_url(edge), "list", "--mode", "paper", "--json")  # as monitor's
    assert r.exit_code == 0 and as_json(r)["items"] == []

    rid = await resting_order(edge)
    listed = as_json(await hoox("orders", "list", "--json"))["items"]
    assert [(o["requestId"], o["status"], o["limitPrice"], o["filledQty"], o["mode"]) for o in listed] == [
        (rid, "Resting", 1000.0, 0.0, "paper")]
    assert as_json(await hoox("orders", "list", "--mode", "live", "--json"))["items"] == []
    assert len(as_json(await hoox("orders", "list", "-s", "btc/usdt", "-e", "bybit", "--json"))["items"]) == 1
    human = await hoox("orders", "list")
    assert human.exit_code == 0 and "1 open order(s) — paper and live books" in human.stdout
    assert rid[:8] in human.stdout and "BTCUSDT" in human.stdout and "1000" in human.stdout
    assert "paper" in human.stdout and "…" not in human.stdout  # fits an 80-column terminal

    # --json never prompts: without --yes nothing is cancelled
    r = await hoox("orders", "cancel", rid, "--json")
    assert r.exit_code == 2 and as_json(r)["error"]["code"] == "CONFIRMATION_REQUIRED"
    # the question names the order (found by the start of its request id); no keeps it
    r = await hoox("orders", "cancel", rid[:8], input="n\n")
    assert r.exit_code != 0
    assert f"Cancel the resting order of request {rid}: bybit BTCUSDT BUY 0.01 @ 1000 (paper book" in r.stdout
    assert await ledger_status(edge, rid) == "Resting"
    r = await hoox("orders", "cancel", rid[:8], input="y\n")
    assert r.exit_code == 0, r.output
    assert f"Cancelled: the order of request {rid}" in r.stdout
    assert await ledger_status(edge, rid) == "Cancelled"
    assert as_json(await hoox("orders", "list", "--json"))["items"] == []

    # not resting any more: the edge says what became of it, nothing is asked
    r = await hoox("orders", "cancel", rid, "--yes", "--json")
    err = as_json(r)["error"]
    assert r.exit_code == 1 and err["code"] == "ORDER_NOT_OPEN" and err["details"]["status"] == "Cancelled"
    assert as_json(await hoox("orders", "cancel", "no-such-request", "--yes", "--json"))["error"]["code"] == "NOT_FOUND"

    second = await resting_order(edge, symbol="ETHUSDT")
    r = await hoox("orders", "cancel", second[:4], "--yes", "--json")  # too short to be sure which
    assert r.exit_code == 2 and as_json(r)["error"]["code"] == "USAGE_ERROR"
    for n in (1, 2):  # two open orders whose request ids start alike (written into the ledger)
        await edge.d1(catalog.TRADE_DB).prepare(
            "INSERT INTO trades (id, request_id, exchange, symbol, action, side, order_type, quantity, limit_price, "
            "client_order_id, mode, status, created_at, updated_at) VALUES (?, ?, 'bybit', 'BTCUSDT', 'LONG', 'BUY', "
            "'LIMIT', 0.01, 1000, ?, 'paper', 'Resting', '2026-01-05T12:00:00.000Z', '2026-01-05T12:00:00.000Z')"
        ).bind(f"t-twin-{n}", f"twinsabc-{n}", f"hxtwin{n}").run()
    r = await hoox("orders", "cancel", "twinsabc", "--yes", "--json")
    assert r.exit_code == 2 and as_json(r)["error"]["code"] == "AMBIGUOUS_REQUEST_ID"
    r = await hoox("orders", "cancel", second, "--yes", "--json")
    out = as_json(r)
    assert r.exit_code == 0 and (out["requestId"], out["status"], out["symbol"]) == (second, "Cancelled", "ETHUSDT")
    assert await ledger_status(edge, "twinsabc-1") == "Resting"


async def test_cancel_by_a_start_of_the_id_of_an_order_that_filled_or_was_cancelled_says_what_became_of_it(
        edge: LocalRuntime) -> None:
    # The start of a request id is looked for among every order, not only the open ones: the order the
    # operator saw resting may have filled (or been cancelled) before the cancel reached it.
    filled = await paper_position(edge)  # a MARKET order: filled at once
    trade = as_json(await hoox("monitor", "trades", "--json"))["items"][0]
    r = await hoox("orders", "cancel", filled[:8], "--yes", "--json")
    err = as_json(r)["error"]
    assert r.exit_code == 1 and err["code"] == "ORDER_NOT_OPEN", r.output
    assert (err["details"]["requestId"], err["details"]["status"]) == (filled, "Filled")
    assert err["message"] == (f"The order of request {filled} was not cancelled: it is Filled (bybit BTCUSDT BUY, "
                              f"0.01 of 0.01 filled at {trade['price']:g}, paper book). Nothing was changed.")
    r = await hoox("orders", "cancel", filled[:8])  # nothing to ask about: the answer at once
    assert r.exit_code == 1 and "Cancel the resting order" not in r.output
    assert f"it is Filled (bybit BTCUSDT BUY, 0.01 of 0.01 filled at {trade['price']:g}" in r.stderr

    cancelled = await resting_order(edge)
    assert (await hoox("orders", "cancel", cancelled, "--yes", "--json")).exit_code == 0
    r = await hoox("orders", "cancel", cancelled[:8], "--yes", "--json")
    err = as_json(r)["error"]
    assert r.exit_code == 1 and err["code"] == "ORDER_NOT_OPEN", r.output
    assert (err["details"]["requestId"], err["details"]["status"]) == (cancelled, "Cancelled")
    assert err["message"].startswith(f"The order of request {cancelled} was not cancelled: it is Cancelled")
    r = await hoox("orders", "cancel", cancelled[:4], "--yes", "--json")  # too short to be sure which
    assert r.exit_code == 2 and as_json(r)["error"]["code"] == "USAGE_ERROR"
    r = await hoox("orders", "cancel", "zzzzzzzz-none", "--yes", "--json")
    assert r.exit_code == 1 and as_json(r)["error"]["code"] == "NOT_FOUND"


async def test_cancel_of_an_order_the_list_does_not_show_yet_still_asks_first(
        edge: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    # Placed after the open orders were listed: found through its signal, and still asked about.
    from hoox_cli.core import models
    from hoox_cli.core.client import HooxClient

    rid = await resting_order(edge)
    monkeypatch.setattr(HooxClient, "orders", lambda self, **_: models.OrdersResult(items=[]))
    r = await hoox("orders", "cancel", rid[:8], input="n\n")
    question = f"Cancel the resting order of request {rid}: bybit BTCUSDT BUY 0.01 (paper book, 0 filled)"
    assert r.exit_code == 1 and question in r.output, r.output
    assert await ledger_status(edge, rid) == "Resting"


async def test_flatten_shows_its_plan_asks_and_exits_1_when_a_close_failed(edge: LocalRuntime) -> None:
    await settings.put(edge.kv(catalog.CONFIG_KV), "webhooks:rate_limit_per_minute", 1000)
    await paper_position(edge)  # bybit BTCUSDT LONG
    await paper_position(edge, exchange="binance", symbol="ETHUSDT", action="SHORT", quantity=0.1)
    rid = await resting_order(edge)
    await live_position(edge)  # mexc ETHUSDT: no API key, so it cannot be closed

    r = await hoox("monitor", "flatten", "--json")
    assert r.exit_code == 2 and as_json(r)["error"]["code"] == "CONFIRMATION_REQUIRED"
    r = await hoox("monitor", "flatten", "--mode", "paper", input="n\n")
    assert r.exit_code != 0
    assert "1 resting order(s) to cancel" in r.stdout and "2 open position(s) to close" in r.stdout
    assert "binance" in r.stdout and "mexc" not in r.stdout and "Flatten (paper book)" in r.stdout
    assert await open_positions(edge, "paper") == [("binance", "ETHUSDT"), ("bybit", "BTCUSDT")]

    r = await hoox("monitor", "flatten", "--mode", "paper", "--reason", "cli test", input="y\n")
    assert r.exit_code == 0, r.output
    assert "Flatten — paper book: 2/2 position(s) closed, 1 resting order(s) handled" in r.stdout
    assert r.stdout.count("Filled") == 2 and "Cancelled" in r.stdout and "NOT closed" not in r.stdout
    assert await open_positions(edge, "paper") == [] and await ledger_status(edge, rid) == "Cancelled"
    r = await hoox("monitor", "flatten", "--exchange", "bybit")  # the live mexc position is out of scope
    assert r.exit_code == 0 and "Nothing to flatten (paper and live books, bybit)" in r.stdout

    r = await hoox("monitor", "flatten", "--yes", "--json")  # every book: the live close fails
    out = as_json(r)
    assert r.exit_code == 1 and (out["scope"]["mode"], out["closed"], out["failed"]) == ("all", 0, 1)
    assert [(c["exchange"], c["mode"], c["status"]) for c in out["closes"]] == [("mexc", "live", "Rejected")]
    r = await hoox("monitor", "flatten", "--mode", "live", "--yes")
    assert r.exit_code == 1 and "NOT closed:" in r.stdout and "live mexc ETHUSDT LONG" in r.stdout
    assert await open_positions(edge, "live") == [("mexc", "ETHUSDT")]


async def test_a_flatten_while_another_closes_the_same_positions_exits_0(
        edge: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    # Concurrent flattens: the one whose closes are under way closes them; the other says so and
    # exits 0 (it used to report each close failed, alarm CRITICAL and exit 1).
    await settings.put(edge.kv(catalog.CONFIG_KV), "webhooks:rate_limit_per_minute", 1000)
    await paper_position(edge, exchange="binance", symbol="ETHUSDT", action="SHORT", quantity=0.2)
    await paper_position(edge, exchange="binance", symbol="BTCUSDT")
    held, release = hold_first_closes(monkeypatch, 2)
    first = asyncio.create_task(hoox("monitor", "flatten", "--exchange", "binance", "--yes", "--json"))
    await held.wait()
    r = await hoox("monitor", "flatten", "--exchange", "binance", "--yes")
    assert r.exit_code == 0, r.output
    assert "0/2 position(s) closed, 2 being closed by another request" in r.stdout
    assert r.stdout.count("Being closed:") == 2 and "NOT closed" not in r.stdout
    r = await hoox("monitor", "flatten", "--exchange", "binance", "--yes", "--json")
    out = as_json(r)
    assert r.exit_code == 0 and (out["closed"], out["closing"], out["failed"]) == (0, 2, 0)
    release.set()
    r = await first
    assert r.exit_code == 0 and as_json(r)["closed"] == 2, r.output
    assert await open_positions(edge, "paper") == []
    critical = await edge.d1(catalog.TRADE_DB).prepare(
        "SELECT message FROM system_logs WHERE level = 'critical'").all()
    assert critical["results"] == []


async def test_kill_switch_on_with_flatten(edge: LocalRuntime) -> None:
    kv = edge.kv(catalog.CONFIG_KV)
    r = await hoox("monitor", "kill-switch", "off", "--flatten", "--json")
    assert r.exit_code == 2 and as_json(r)["error"]["code"] == "USAGE_ERROR"
    await paper_position(edge)
    r = await hoox("monitor", "kill-switch", "on", "--flatten", "--json")
    assert r.exit_code == 2 and as_json(r)["error"]["code"] == "CONFIRMATION_REQUIRED"
    assert await settings.get(kv, "trade:kill_switch") is False

    r = await hoox("monitor", "kill-switch", "on", "--flatten", "--reason", "incident", input="y\n")
    assert r.exit_code == 0, r.output
    assert "1 open position(s) to close" in r.stdout and "Turn the kill switch ON" in r.stdout
    assert "Kill switch ON incident" in r.stdout and "Flatten — paper and live books" in r.stdout
    assert "Filled" in r.stdout
    assert await settings.get(kv, "trade:kill_switch") is True and await open_positions(edge, "paper") == []

    await live_position(edge)
    r = await hoox("monitor", "kill-switch", "on", "--flatten", "--yes", "--json", "--remote", gateway_url(edge))
    out = as_json(r)
    assert r.exit_code == 1 and out["on"] is True and out["flatten"]["failed"] == 1
    r = await hoox("monitor", "kill-switch", "off", "--yes", "--json")
    assert r.exit_code == 0 and as_json(r)["on"] is False and as_json(r)["flatten"] is None


async def test_positions_and_trades_per_book(edge: LocalRuntime) -> None:
    r = await hoox("monitor", "positions")
    assert r.exit_code == 0 and "No open positions (paper book)." in r.stdout
    rid = await paper_position(edge)
    await live_position(edge)

    desk = as_json(await hoox("monitor", "positions", "--json"))  # the desk trades paper
    assert desk["mode"] == "paper" and [(p["exchange"], p["mode"]) for p in desk["items"]] == [("bybit", "paper")]
    live = as_json(await hoox("monitor", "positions", "--mode", "live", "--json"))
    assert live["mode"] == "live" and [p["exchange"] for p in live["items"]] == ["mexc"]
    assert len(as_json(await hoox("monitor", "positions", "--mode", "all", "--json"))["items"]) == 2
    human = await hoox("monitor", "positions")
    assert "1 open position(s) — paper book" in human.stdout and "BTCUSDT" in human.stdout
    assert "ETHUSDT" not in human.stdout and "unrealized P&L" in human.stdout
    human = await hoox("monitor", "positions", "--mode", "live")
    assert "LIVE book" in human.stdout and "no mark price for mexc ETHUSDT" in human.stdout
    both = await hoox("monitor", "positions", "--mode", "all")
    assert "2 open position(s) — paper and live books" in both.stdout
    assert any(line.split()[:2] == ["book", "exchange"] for line in both.stdout.splitlines())

    assert [t["requestId"] for t in as_json(await hoox("monitor", "trades", "--mode", "live", "--json"))["items"]] == [
        "rid-live-close"]
    assert [t["requestId"] for t in as_json(await hoox("monitor", "trades", "--mode", "paper", "--json"))["items"]] == [
        rid]
    assert "— LIVE book" in (await hoox("monitor", "trades", "--mode", "live")).stdout
    both = await hoox("monitor", "trades")
    assert "newest 2 trade(s) — paper and live books" in both.stdout and " book " in both.stdout
    r = await hoox("monitor", "trades", "--mode", "demo", "--json")
    assert r.exit_code == 2 and as_json(r)["error"]["code"] == "USAGE_ERROR"


async def test_signal_send_prints_resting_as_resting_and_a_duplicate_with_its_original(edge: LocalRuntime) -> None:
    limit = ("signal", "send", "-s", "BTCUSDT", "-a", "LONG", "--order-type", "LIMIT", "--price", "1000",
             "--idempotency-key", "rest-1")
    r = await hoox(*limit)
    assert r.exit_code == 0, r.output
    assert "202 Resting" in r.stdout and "rests on the exchange's book" in r.stdout and "Filled" not in r.stdout
    assert "hoox orders cancel" in r.stdout
    again = await hoox(*limit)  # unfinished: resumed, the same order, still resting
    assert again.exit_code == 0 and "202 Resting" in again.stdout
    assert len(as_json(await hoox("orders", "list", "--json"))["items"]) == 1

    market = ("signal", "send", "-s", "ETHUSDT", "-a", "SHORT", "--quantity", "0.1", "--idempotency-key", "mkt-1")
    first = as_json(await hoox(*market, "--json"))
    assert first["status_code"] == 200 and first["response"]["status"] == "Filled"
    dup = await hoox(*market)
    assert dup.exit_code == 1 and "409 DUPLICATE_REQUEST" in dup.stdout
    assert f"original request {first['response']['requestId']}: Filled" in dup.stdout
    assert "executedQty" in dup.stdout and "0.1" in dup.stdout
    dup_json = as_json(await hoox(*market, "--json"))
    assert dup_json["ok"] is False and dup_json["response"]["original"]["status"] == "Filled"
    assert edge.env(GW).WEBHOOK_API_KEY not in dup.stdout + dup_json.__repr__()


def test_the_order_commands_do_not_import_the_cockpit(tmp_path: Any) -> None:
    import subprocess
    import sys

    # each command runs until it finds no edge (an empty folder): its client and modules are loaded
    code = ("import json, sys\n"
            "from typer.testing import CliRunner\n"
            "from hoox_cli.main import app\n"
            "for args in (['orders', 'list'], ['monitor', 'flatten', '--yes'], ['monitor', 'positions']):\n"
            "    r = CliRunner().invoke(app, [*args, '--json'])\n"
            "    assert json.loads(r.stdout)['error']['code'] == 'NO_EDGE_CONFIG', r.stdout\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'hoox_tui'))))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOX_")} | {"HOOX_WORKSPACE": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


async def test_a_low_coin_prints_positional_and_a_flatten_with_nothing_left_says_so(edge: LocalRuntime) -> None:
    await settings.put(edge.kv(catalog.CONFIG_KV), "exchanges:paper:price:PEPEUSDT", 0.00001234)
    await paper_position(edge, symbol="PEPEUSDT", quantity=1000000)
    r = await hoox("monitor", "positions")
    assert r.exit_code == 0 and "0.00001234" in r.stdout and "e-05" not in r.stdout, r.stdout  # was 1.23425e-05
    r = await hoox("monitor", "flatten", "--yes")
    assert r.exit_code == 0 and "1/1 position(s) closed" in r.stdout and "e-05" not in r.stdout, r.stdout
    r = await hoox("monitor", "flatten", "--yes")  # what another flatten (or a signal) left: nothing
    assert r.exit_code == 0 and "nothing to close or cancel" in r.stdout and "0/0" not in r.stdout, r.stdout
