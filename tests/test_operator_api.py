"""The operator API (`/v1/*` on the gateway) against a ledger built in each test.

Every figure is checked against a value computed by hand and written here, not by calling the code
under test. Time is the fake clock (2026-01-05 12:00:00 UTC, a Monday).
"""

from __future__ import annotations

import json
import socket
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import seed_ledgers
from hoox_edge import catalog
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.service import asgi_call
from hoox_edge.local.workspace import Workspace
from hoox_edge.shared import clock as clock_module
from hoox_edge.shared import settings
from hoox_edge.shared.app import make_app
from hoox_edge.workers import gateway, operator_api
from starlette.routing import Route

from hoox_cli.core import models

START = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC).timestamp()  # the fake clock's start (conftest)

GW = "hoox"
APP = make_app(GW, gateway.routes)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def rt(clock, workspace: Workspace, migrated_ledgers: list[Path]):
    """A runtime opened at the fake clock's start (so its uptime is measured on that clock)."""
    runtime = LocalRuntime(seed_ledgers(workspace, migrated_ledgers))
    await runtime.open()
    try:
        yield runtime
    finally:
        await runtime.stop()


def token(rt: LocalRuntime) -> str:
    return rt.env(GW).OPERATOR_API_KEY


async def v1(rt: LocalRuntime, method: str, path: str, *, json_body=None, auth: str | None = "ok"):
    headers = {}
    if auth == "ok":
        headers["Authorization"] = f"Bearer {token(rt)}"
    elif auth is not None:
        headers["Authorization"] = auth
    return await asgi_call(APP, rt.env(GW), method, "/v1" + path, json=json_body, headers=headers)


async def result(rt: LocalRuntime, method: str, path: str, model: type | None = None, json_body=None):
    r = await v1(rt, method, path, json_body=json_body)
    body = r.json()
    assert r.status == 200, body
    assert body["success"] is True and body["error"] is None and body["requestId"]
    res = body["result"]
    if model is not None:
        model.model_validate(res)
        assert set(res) <= set(model.model_fields), set(res) - set(model.model_fields)  # documented shape
    return res


async def sql(rt: LocalRuntime, query: str, *args) -> list[dict]:
    return (await rt.env(GW).DB.prepare(query).bind(*args).all())["results"]


async def webhook(rt: LocalRuntime, **changes):
    body = {"apiKey": rt.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG",
            "symbol": "BTCUSDT", "quantity": 0.01}
    body.update(changes)
    return await rt.request(GW, "POST", "/webhook", json=body)


async def kv_set(rt: LocalRuntime, key: str, value) -> None:
    await settings.put(rt.env(GW).CONFIG_KV, key, value)


# --------------------------------------------------------------------------- the ledger of the figures
# Fills (paper): net P&L of a fill = realized_pnl - fee.
#   1 2026-01-02 10:00 LONG  BTCUSDT bybit   0.1 @ 60000 fee 3.3    pnl    0   -> equity  -3.3
#   2 2026-01-02 15:00 CLOSE BTCUSDT bybit   0.1 @ 61000 fee 3.355  pnl  100   -> equity  93.345
#   3 2026-01-03 09:00 SHORT ETHUSDT bybit   1   @ 3000  fee 1.65   pnl    0   -> equity  91.695
#   4 2026-01-03 12:00 CLOSE ETHUSDT bybit   1   @ 3040  fee 1.672  pnl  -40   -> equity  50.023
#   5 2026-01-05 09:00 LONG  SOLUSDT binance 10  @ 150   fee 0.825  pnl    0   -> equity  49.198
#   6 2026-01-05 10:00 LONG  BTCUSDT bybit   Rejected (not a fill)
TRADES = [
    ("t1", "LONG", "BUY", "BTCUSDT", "bybit", 0.1, 60000, 3.3, 0, "Filled", "2026-01-02T10:00:00.000Z"),
    ("t2", "CLOSE", "SELL", "BTCUSDT", "bybit", 0.1, 61000, 3.355, 100, "Filled", "2026-01-02T15:00:00.000Z"),
    ("t3", "SHORT", "SELL", "ETHUSDT", "bybit", 1, 3000, 1.65, 0, "Filled", "2026-01-03T09:00:00.000Z"),
    ("t4", "CLOSE", "BUY", "ETHUSDT", "bybit", 1, 3040, 1.672, -40, "Filled", "2026-01-03T12:00:00.000Z"),
    ("t5", "LONG", "BUY", "SOLUSDT", "binance", 10, 150, 0.825, 0, "Filled", "2026-01-05T09:00:00.000Z"),
    ("t6", "LONG", "BUY", "BTCUSDT", "bybit", 0.1, None, 0, 0, "Rejected", "2026-01-05T10:00:00.000Z"),
]


async def build_ledger(rt: LocalRuntime) -> None:
    db = rt.env(GW).DB
    for tid, action, side, symbol, exchange, qty, price, fee, pnl, status, at in TRADES:
        await db.prepare(
            "INSERT INTO trades (id, request_id, exchange, symbol, action, side, quantity, price, fee, "
            "realized_pnl, leverage, order_id, client_order_id, mode, status, error, attempts, created_at, "
            "updated_at, filled_qty) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        ).bind(tid, f"rid-{tid}", exchange, symbol, action, side, qty, price, fee, pnl, 1,
               f"ord-{tid}" if status == "Filled" else None, f"hx{tid}", "paper", status,
               "EXCHANGE_ERROR: insufficient balance" if status == "Rejected" else None, 1, at, at,
               qty if status == "Filled" else 0).run()
    # Open positions: two priced on the paper exchange (prices pinned below), one live (MEXC unreachable).
    for exchange, symbol, side, size, entry, lev, mode in (
        ("binance", "SOLUSDT", "LONG", 10, 150, 5, "paper"),
        ("bybit", "BTCUSDT", "SHORT", 0.2, 62000, 10, "paper"),
        ("mexc", "ETHUSDT", "LONG", 1, 3000, 2, "live"),
    ):
        await db.prepare(
            "INSERT INTO positions (exchange, symbol, side, size, entry_price, leverage, mode, status, "
            "request_id, opened_at, updated_at) VALUES (?,?,?,?,?,?,?,'OPEN',?,?,?)"
        ).bind(exchange, symbol, side, size, entry, lev, mode, f"rid-pos-{symbol}",
               "2026-01-05T09:00:00.000Z", "2026-01-05T09:00:00.000Z").run()
    # A closed position is not listed.
    await db.prepare(
        "INSERT INTO positions (exchange, symbol, side, size, entry_price, leverage, mode, status, request_id, "
        "opened_at, updated_at, closed_at) VALUES ('bybit','ETHUSDT','SHORT',1,3000,1,'paper','CLOSED','rid-t4',"
        "'2026-01-03T09:00:00.000Z','2026-01-03T12:00:00.000Z','2026-01-03T12:00:00.000Z')").run()
    await kv_set(rt, "exchanges:paper:price:SOLUSDT", 155.0)
    await kv_set(rt, "exchanges:paper:price:BTCUSDT", 61000.0)
    # The live position's mark price is asked of MEXC: here a loopback port nothing listens on.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    await kv_set(rt, "exchanges:mexc:base_url", f"http://127.0.0.1:{closed_port}")


# =========================================================================== auth
def _concrete(route: Route) -> list[tuple[str, str]]:
    path = (route.path.replace("{name}", "trade-worker").replace("{key:path}", "trade:mode")
            .replace("{id}", "nope"))
    return [(m, path) for m in sorted(route.methods or ()) if m != "HEAD"]


EVERY_ROUTE = [mp for r in operator_api.routes for mp in _concrete(r)]


def test_every_route_of_the_contract_is_served():
    served = {(m, p) for m, p in EVERY_ROUTE}
    for needed in [("GET", "/status"), ("GET", "/workers"), ("GET", "/workers/trade-worker"),
                   ("GET", "/trades"), ("GET", "/positions"), ("GET", "/stats"), ("GET", "/logs"),
                   ("GET", "/alerts"), ("GET", "/config/kv"), ("GET", "/config/kv/trade:mode"),
                   ("PUT", "/config/kv/trade:mode"),
                   ("DELETE", "/config/kv/trade:mode"), ("GET", "/kill-switch"), ("POST", "/kill-switch"),
                   ("GET", "/queues"), ("POST", "/queues/dead-letter/nope/replay"), ("POST", "/db/query")]:
        assert needed in served


@pytest.mark.parametrize(("method", "path"), EVERY_ROUTE)
@pytest.mark.parametrize("auth", [None, "Bearer wrong-token-0000", "Basic {token}", "Bearer"])
async def test_every_v1_route_answers_401_without_the_operator_token(rt, method, path, auth):
    if auth and "{token}" in auth:
        auth = auth.format(token=token(rt))  # the right secret with the wrong scheme
    body = {"on": True, "reason": "x"} if path == "/kill-switch" else {"value": "live", "query": "SELECT 1"}
    r = await v1(rt, method, path, json_body=body if method in ("POST", "PUT") else None, auth=auth)
    assert r.status == 401, (method, path, r.text())
    env = r.json()
    assert env["success"] is False and env["error"]["code"] == "UNAUTHORIZED" and env["result"] is None
    assert token(rt) not in r.text()
    # nothing was changed by a refused call
    # (the KV defaults the runtime applied on open; None would be a DELETE that went through)
    assert await rt.env(GW).CONFIG_KV.get("trade:kill_switch") == "false"
    assert await rt.env(GW).CONFIG_KV.get("trade:mode") == "paper"


async def test_no_operator_key_configured_refuses_everyone(rt):
    rt.workspace.set_secret("OPERATOR_API_KEY", "")
    r = await v1(rt, "GET", "/status", auth="Bearer ")
    assert r.status == 401


# =========================================================================== trades
async def test_trades_are_paged_newest_first_and_filtered(rt):
    await build_ledger(rt)
    page = await result(rt, "GET", "/trades?limit=4", models.TradesPage)
    assert [t["id"] for t in page["items"]] == ["t6", "t5", "t4", "t3"]
    assert page["nextCursor"] is not None
    rest = await result(rt, "GET", f"/trades?limit=4&cursor={page['nextCursor']}", models.TradesPage)
    assert [t["id"] for t in rest["items"]] == ["t2", "t1"] and rest["nextCursor"] is None

    t2 = rest["items"][0]
    assert (t2["action"], t2["price"], t2["fee"], t2["realizedPnl"], t2["status"]) == ("CLOSE", 61000, 3.355,
                                                                                        100, "Filled")
    t6 = page["items"][0]
    assert t6["errorCode"] == "EXCHANGE_ERROR" and t6["error"] == "insufficient balance"

    async def ids(query: str) -> list[str]:
        return [t["id"] for t in (await result(rt, "GET", "/trades?" + query))["items"]]

    assert await ids("symbol=btc/usdt") == ["t6", "t2", "t1"]  # normalised like a signal's symbol
    assert await ids("exchange=BINANCE") == ["t5"]
    assert await ids("status=Rejected") == ["t6"]
    assert await ids("since=2026-01-03") == ["t6", "t5", "t4", "t3"]
    assert await ids("since=2026-01-03T12:00:00Z") == ["t6", "t5", "t4"]  # at or after, to the ms
    assert await ids("symbol=ETHUSDT&since=2026-01-03T10:00:00Z") == ["t4"]

    bad = await v1(rt, "GET", "/trades?since=yesterday")
    assert bad.status == 400 and "since" in bad.json()["error"]["message"]
    assert (await v1(rt, "GET", "/trades?limit=0")).status == 400


# =========================================================================== positions
async def test_positions_are_valued_at_the_paper_mark_price(rt):
    await build_ledger(rt)
    # The desk trades paper: its book is the default; the live one is asked for, or both with `all`.
    paper = await result(rt, "GET", "/positions", models.PositionsResult)
    assert paper["mode"] == "paper" and {p["symbol"] for p in paper["items"]} == {"SOLUSDT", "BTCUSDT"}
    live_book = await result(rt, "GET", "/positions?mode=live", models.PositionsResult)
    assert live_book["mode"] == "live" and [p["symbol"] for p in live_book["items"]] == ["ETHUSDT"]
    assert (await v1(rt, "GET", "/positions?mode=both")).status == 400
    res = await result(rt, "GET", "/positions?mode=all", models.PositionsResult)
    by_symbol = {p["symbol"]: p for p in res["items"]}
    assert set(by_symbol) == {"SOLUSDT", "BTCUSDT", "ETHUSDT"}  # the CLOSED ETH row is not listed

    sol = by_symbol["SOLUSDT"]
    assert sol["markPrice"] == 155.0
    assert sol["unrealizedPnl"] == pytest.approx(50.0)  # (155 - 150) * 10
    assert sol["liquidationPrice"] == pytest.approx(120.75)  # 150 * (1 - 1/5 + 0.005)
    assert sol["margin"] == pytest.approx(300.0) and sol["notional"] == pytest.approx(1550.0)
    assert sol["leverage"] == 5

    btc = by_symbol["BTCUSDT"]
    assert btc["unrealizedPnl"] == pytest.approx(200.0)  # (61000 - 62000) * 0.2 * -1
    assert btc["liquidationPrice"] == pytest.approx(67890.0)  # 62000 * (1 + 1/10 - 0.005)
    assert btc["margin"] == pytest.approx(1240.0)

    live = by_symbol["ETHUSDT"]
    assert live["markPrice"] is None and live["unrealizedPnl"] is None
    assert "mexc could not be reached" in live["markError"]
    assert live["liquidationPrice"] == pytest.approx(1515.0)  # 3000 * (1 - 1/2 + 0.005)


# =========================================================================== stats
async def test_stats_from_the_ledger(rt):
    await build_ledger(rt)
    paper = await result(rt, "GET", "/stats", models.StatsResult)  # the current book: paper
    assert paper["mode"] == "paper" and paper["openPositions"] == 2 and paper["unpricedPositions"] == []
    s = await result(rt, "GET", "/stats?mode=all", models.StatsResult)
    assert s["mode"] == "all"
    assert s["tradeCount"] == 5  # the rejected one is not a fill
    assert (s["closingTrades"], s["wins"], s["losses"]) == (2, 1, 1)
    assert s["winRate"] == pytest.approx(0.5)
    assert s["realizedPnl"] == pytest.approx(60.0)  # 100 - 40
    assert s["fees"] == pytest.approx(10.802)  # 3.3 + 3.355 + 1.65 + 1.672 + 0.825
    assert s["netRealizedPnl"] == pytest.approx(49.198)
    assert s["unrealizedPnl"] == pytest.approx(250.0)  # SOL 50 + BTC 200; the live one has no price
    assert s["unpricedPositions"] == ["mexc:ETHUSDT"] and s["openPositions"] == 3
    assert [(d["date"], d["fills"]) for d in s["dailyPnl"]] == [
        ("2026-01-02", 2), ("2026-01-03", 2), ("2026-01-04", 0), ("2026-01-05", 1)]
    assert [d["pnl"] for d in s["dailyPnl"]] == pytest.approx([93.345, -43.322, 0.0, -0.825])
    assert [d["cumulative"] for d in s["dailyPnl"]] == pytest.approx([93.345, 50.023, 50.023, 49.198])
    # mean 12.2995, sample sd 57.6933 of the four days, x sqrt(365)
    assert s["sharpeRatio"] == pytest.approx(4.07292, abs=1e-4)
    # per-fill equity: -3.3, 93.345, 91.695, 50.023, 49.198 -> deepest fall 93.345 - 49.198
    assert s["maxDrawdown"] == pytest.approx(44.147)

    # Money is summed exactly: 0.1 + 0.2 fees are 0.3, not 0.30000000000000004.
    db = rt.env(GW).DB
    for i, fee in enumerate((0.1, 0.2)):
        await db.prepare(
            "INSERT INTO trades (id, request_id, exchange, symbol, action, side, quantity, price, fee, "
            "client_order_id, mode, status, created_at, updated_at, filled_qty) VALUES (?,?,'bybit','XUSDT',"
            "'LONG','BUY',1,1,?,'c','live','Filled','2026-01-05T11:00:00.000Z','2026-01-05T11:00:00.000Z',1)"
        ).bind(f"x{i}", f"rid-x{i}", fee).run()
    # Holding times, per book, of the closed positions: paper 3 h (build_ledger) and 30 min, live one day.
    for symbol, mode, opened, closed in (("XRPUSDT", "paper", "2026-01-04T10:00:00.000Z", "2026-01-04T10:30:00.000Z"),
                                         ("ADAUSDT", "live", "2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z")):
        await db.prepare(
            "INSERT INTO positions (exchange, symbol, side, size, entry_price, leverage, mode, status, request_id, "
            "opened_at, updated_at, closed_at) VALUES ('bybit',?,'LONG',1,1,1,?,'CLOSED','r',?,?,?)"
        ).bind(symbol, mode, opened, closed, closed).run()
    paper = await result(rt, "GET", "/stats?mode=paper", models.StatsResult)
    assert paper["holding"] == {"closedPositions": 2, "averageSeconds": 6300.0, "longestSeconds": 10800.0,
                                "shortestSeconds": 1800.0}
    both = await result(rt, "GET", "/stats?mode=all", models.StatsResult)
    assert both["holding"]["closedPositions"] == 3 and both["holding"]["longestSeconds"] == 86400.0
    live = await result(rt, "GET", "/stats?mode=live", models.StatsResult)
    assert live["holding"]["averageSeconds"] == 86400.0
    assert live["fees"] == 0.3 and live["tradeCount"] == 2 and live["winRate"] is None
    assert live["unrealizedPnl"] == 0.0 and live["unpricedPositions"] == ["mexc:ETHUSDT"]
    assert live["sharpeRatio"] is None  # one day only


async def test_stats_of_an_empty_ledger(rt):
    s = await result(rt, "GET", "/stats", models.StatsResult)
    assert (s["tradeCount"], s["winRate"], s["realizedPnl"], s["maxDrawdown"], s["dailyPnl"]) == (
        0, None, 0.0, 0.0, [])
    assert s["holding"] == {"closedPositions": 0, "averageSeconds": None, "longestSeconds": None,
                            "shortestSeconds": None}


# =========================================================================== logs
async def test_alerts_list_newest_first_with_their_delivery_and_a_minimum_level(rt):
    tg = rt.env("telegram-worker")
    for message, level in [("filled", "info"), ("rejected", "warning"), ("dead-lettered", "critical")]:
        r = await rt.request("telegram-worker", "POST", "/alert", json={
            "requestId": "r-" + message, "payload": {"message": message, "level": level, "source": "trade-worker"}},
            headers={"X-Internal-Auth-Key": tg.INTERNAL_KEY_BINDING})
        assert r.status == 200
    page = await result(rt, "GET", "/alerts", models.AlertsPage)
    assert [(a["message"], a["level"], a["delivery"]) for a in page["items"]] == [
        ("dead-lettered", "critical", "outbox"), ("rejected", "warning", "outbox"), ("filled", "info", "outbox")]
    assert page["items"][0]["requestId"] == "r-dead-lettered" and page["items"][0]["source"] == "trade-worker"
    warn = await result(rt, "GET", "/alerts?level=warning")
    assert [a["message"] for a in warn["items"]] == ["dead-lettered", "rejected"]
    first = await result(rt, "GET", "/alerts?limit=2")
    rest = await result(rt, "GET", f"/alerts?limit=2&cursor={first['nextCursor']}")
    assert [a["message"] for a in rest["items"]] == ["filled"] and rest["nextCursor"] is None


async def test_logs_filter_by_level_worker_and_text_and_page(rt):
    db = rt.env(GW).DB
    rows = [("debug", "d1-worker", "statement ran"), ("info", "hoox", "signal received"),
            ("warning", "trade-worker", "Retry 1/5 scheduled in 30s"),
            ("error", "trade-worker", "exchange down: 100% of calls failed"),
            ("critical", "hoox", "kill switch on"), ("error", "hoox", "100 calls failed")]
    for i, (level, worker, message) in enumerate(rows):
        await db.prepare("INSERT INTO system_logs (created_at, level, worker, request_id, message, details) "
                         "VALUES (?,?,?,?,?,?)").bind(clock_module.iso(START + i), level, worker, f"r{i}",
                                                      message, json.dumps({"n": i})).run()

    async def messages(query: str) -> list[str]:
        return [x["message"] for x in (await result(rt, "GET", "/logs?" + query, models.LogsPage))["items"]]

    assert await messages("level=error") == ["100 calls failed", "kill switch on",
                                             "exchange down: 100% of calls failed"]
    assert await messages("worker=trade-worker") == ["exchange down: 100% of calls failed",
                                                     "Retry 1/5 scheduled in 30s"]
    assert await messages("q=100%25") == ["exchange down: 100% of calls failed"]  # % is literal text
    assert await messages("q=retry") == ["Retry 1/5 scheduled in 30s"]
    assert await messages("level=warning&worker=hoox") == ["100 calls failed", "kill switch on"]
    first = await result(rt, "GET", "/logs?limit=4")
    assert len(first["items"]) == 4 and first["items"][0]["details"] == {"n": 5}
    second = await result(rt, "GET", f"/logs?limit=4&cursor={first['nextCursor']}")
    assert [x["message"] for x in second["items"]] == ["signal received", "statement ran"]
    assert second["nextCursor"] is None
    assert (await v1(rt, "GET", "/logs?level=loud")).status == 400


# =========================================================================== config
async def test_kv_values_are_checked_against_the_manifest(rt):
    kv = rt.env(GW).CONFIG_KV
    before = await kv.get("webhooks:rate_limit_per_minute")

    bad = await v1(rt, "PUT", "/config/kv/webhooks:rate_limit_per_minute", json_body={"value": "lots"})
    assert bad.status == 400
    err = bad.json()["error"]
    assert err["code"] == "VALIDATION_ERROR"
    assert "webhooks:rate_limit_per_minute" in err["message"] and "an integer" in err["message"]
    assert await kv.get("webhooks:rate_limit_per_minute") == before  # nothing written

    for key, value, expected in [("trade:kill_switch", "maybe", "a boolean"),
                                 ("webhooks:queue_mode", "sometimes", "'queue_failover'"),
                                 ("webhook:tradingview:allowed_ips", [1, 2], "a JSON array of strings"),
                                 ("trade:max_leverage", 0, "at least 1")]:
        r = await v1(rt, "PUT", f"/config/kv/{key}", json_body={"value": value})
        assert r.status == 400 and key in r.json()["error"]["message"], r.json()
        assert expected in r.json()["error"]["message"]
    too_long = await v1(rt, "GET", "/config/kv/" + "k" * 600)  # not a KV key: a 400 that says why, not a 500
    assert too_long.status == 400 and "at most 512 bytes" in too_long.json()["error"]["message"]
    unknown = await v1(rt, "PUT", "/config/kv/trade:kill_swich", json_body={"value": True})
    assert unknown.status == 400 and "trade:kill_switch" in unknown.json()["error"]["message"]
    assert await kv.get("trade:kill_swich") is None

    put = await result(rt, "PUT", "/config/kv/webhooks:rate_limit_per_minute", models.KvEntry, {"value": 25})
    assert (put["value"], put["raw"], put["source"], put["previous"]) == (25, "25", "kv", before)
    assert await kv.get("webhooks:rate_limit_per_minute") == "25"
    got = await result(rt, "GET", "/config/kv/webhooks:rate_limit_per_minute", models.KvEntry)
    assert got["value"] == 25 and got["type"] == "integer" and got["default"] == 10
    # a family key: exchanges:paper:price:{SYMBOL}
    assert (await result(rt, "PUT", "/config/kv/exchanges:paper:price:BTCUSDT", None, {"value": "65000"}))[
        "value"] == 65000.0

    listed = await result(rt, "GET", "/config/kv?prefix=webhooks:", models.KvList)
    keys = {i["key"]: i for i in listed["items"]}
    assert set(keys) == {"webhooks:queue_mode", "webhooks:rate_limit_per_minute",
                         "webhooks:retry_schedule_seconds", "webhooks:direct_timeout_ms"}
    assert keys["webhooks:rate_limit_per_minute"]["value"] == 25

    gone = await result(rt, "DELETE", "/config/kv/webhooks:rate_limit_per_minute", models.KvDeleted)
    assert gone == {"key": "webhooks:rate_limit_per_minute", "deleted": True, "previous": "25", "default": 10}
    after = await result(rt, "GET", "/config/kv/webhooks:rate_limit_per_minute")
    assert (after["value"], after["source"]) == (10, "default")
    assert (await v1(rt, "GET", "/config/kv/no:such:key")).status == 404
    # the operator's change is in the log
    assert await sql(rt, "SELECT worker FROM system_logs WHERE message = 'operator set webhooks:rate_limit_per_minute'")


# =========================================================================== kill switch
async def test_kill_switch_halts_the_webhook_and_leaves_a_log_an_alert_and_an_event(rt):
    await kv_set(rt, "webhooks:queue_mode", "queue_everywhere")
    assert (await result(rt, "GET", "/kill-switch", models.KillSwitch))["on"] is False

    on = await result(rt, "POST", "/kill-switch", models.KillSwitch, {"on": True, "reason": "exchange incident"})
    assert (on["on"], on["reason"], on["alerted"]) == (True, "exchange incident", True)
    kv = rt.env(GW).CONFIG_KV
    assert await kv.get("trade:kill_switch") == "true"
    assert await kv.get("trade:kill_switch_reason") == "exchange incident"

    refused = await webhook(rt, idempotencyKey="ks-1")
    assert refused.status == 503 and refused.json()["error"]["code"] == "KILL_SWITCH_ACTIVE"
    assert "exchange incident" in refused.json()["error"]["message"]

    logs = await sql(rt, "SELECT level, worker FROM system_logs WHERE message = 'operator turned the kill switch on'")
    assert logs == [{"level": "critical", "worker": "hoox"}]
    alerts = await sql(rt, "SELECT level, source, message FROM alerts")
    assert len(alerts) == 1 and alerts[0]["level"] == "critical" and alerts[0]["source"] == "hoox"
    assert "exchange incident" in alerts[0]["message"]
    events = await sql(rt, "SELECT id, data FROM events WHERE type = 'status'")
    assert [json.loads(e["data"]) for e in events] == [{"killSwitch": True, "reason": "exchange incident",
                                                         "by": "operator"}]
    assert on["eventId"] == events[0]["id"]

    status = await result(rt, "GET", "/status", models.StatusResult)
    assert status["killSwitch"] == {"on": True, "reason": "exchange incident"}

    off = await result(rt, "POST", "/kill-switch", models.KillSwitch, {"on": False})
    assert off["on"] is False and off["reason"] is None  # an off switch has no reason
    assert await kv.get("trade:kill_switch_reason") is None
    assert json.loads((await sql(rt, "SELECT data FROM events WHERE type = 'status' ORDER BY id DESC"))[0]["data"]) == {
        "killSwitch": False, "reason": None, "by": "operator"}
    assert (await webhook(rt, idempotencyKey="ks-2")).status == 202
    assert [a["level"] for a in await sql(rt, "SELECT level FROM alerts ORDER BY id")] == ["critical", "info"]

    for bad in ({"on": "yes"}, {"reason": "x"}, {"on": True, "reason": 5}):
        assert (await v1(rt, "POST", "/kill-switch", json_body=bad)).status == 400
    assert await kv.get("trade:kill_switch") == "false"


# =========================================================================== queues
async def test_a_dead_letter_is_listed_with_its_error_and_a_replay_delivers_it(rt, clock):
    await kv_set(rt, "webhooks:queue_mode", "queue_everywhere")
    await kv_set(rt, "webhooks:retry_schedule_seconds", [1])  # one retry after 1 s, then dead letter
    await kv_set(rt, "exchanges:paper:fault", "outage")
    sent = await webhook(rt, idempotencyKey="dlq-1")
    assert sent.status == 202
    rid = sent.json()["requestId"]

    q = await result(rt, "GET", "/queues", models.QueuesResult)
    assert q["queues"][0]["name"] == "trade-execution" and q["queues"][0]["depth"] == 1
    assert q["deadLetters"]["count"] == 0

    await rt.drain_queues()  # attempt 1 fails
    clock.advance(1)
    await rt.drain_queues()  # the retry fails, then it is dead-lettered
    q = await result(rt, "GET", "/queues", models.QueuesResult)
    assert q["queues"][0]["depth"] == 0 and q["queues"][1]["name"] == "trade-execution-dlq"
    assert q["deadLetters"]["count"] == 1
    [dead] = q["deadLetters"]["items"]
    assert dead["requestId"] == rid and dead["attempts"] == 2 and dead["symbol"] == "BTCUSDT"
    assert "outage" in dead["lastError"].lower() or "unavailable" in dead["lastError"].lower()
    assert dead["originQueue"] == "trade-execution"
    status = await result(rt, "GET", "/status", models.StatusResult)
    assert status["queues"] == {"available": True, "error": None, "depth": 0, "inFlight": 0, "deadLetters": 1}
    assert (await sql(rt, "SELECT status FROM trade_signals WHERE request_id = ?", rid))[0]["status"] == "DeadLettered"

    await rt.env(GW).CONFIG_KV.delete("exchanges:paper:fault")
    replayed = await result(rt, "POST", f"/queues/dead-letter/{dead['id']}/replay", models.ReplayResult)
    assert replayed == {"id": dead["id"], "requestId": rid, "queue": "trade-execution", "replayed": True}
    q = await result(rt, "GET", "/queues")
    assert q["queues"][0]["depth"] == 1 and q["deadLetters"]["count"] == 0

    # Replayed, the signal is the queue's again, and it fills.
    assert (await sql(rt, "SELECT status FROM trade_signals WHERE request_id = ?", rid))[0]["status"] == "Enqueued"
    await rt.drain_queues()
    [trade] = await sql(rt, "SELECT status, quantity FROM trades WHERE request_id = ?", rid)
    assert trade == {"status": "Filled", "quantity": 0.01}
    assert (await sql(rt, "SELECT status FROM trade_signals WHERE request_id = ?", rid))[0]["status"] == "Filled"
    assert (await result(rt, "GET", "/queues"))["queues"][0]["depth"] == 0
    assert (await v1(rt, "POST", f"/queues/dead-letter/{dead['id']}/replay")).status == 404


async def test_a_dead_letter_replayed_while_the_kill_switch_is_on_places_nothing(rt, clock):
    # The replay delivers it to trade-worker, which refuses it as the gateway would a new signal.
    await kv_set(rt, "webhooks:queue_mode", "queue_everywhere")
    await kv_set(rt, "webhooks:retry_schedule_seconds", [1])
    await kv_set(rt, "exchanges:paper:fault", "outage")
    rid = (await webhook(rt, idempotencyKey="dlq-halt")).json()["requestId"]
    await rt.drain_queues()
    clock.advance(1)
    await rt.drain_queues()  # dead-lettered
    [dead] = (await result(rt, "GET", "/queues"))["deadLetters"]["items"]
    await rt.env(GW).CONFIG_KV.delete("exchanges:paper:fault")
    await result(rt, "POST", "/kill-switch", models.KillSwitch, {"on": True, "reason": "halt all"})

    await result(rt, "POST", f"/queues/dead-letter/{dead['id']}/replay", models.ReplayResult)
    await rt.drain_queues()
    [sig] = await sql(rt, "SELECT status, error_code, error FROM trade_signals WHERE request_id = ?", rid)
    assert (sig["status"], sig["error_code"]) == ("Rejected", "KILL_SWITCH_ACTIVE") and "halt all" in sig["error"]
    assert await sql(rt, "SELECT status FROM trades WHERE status IN ('Filled', 'Resting')") == []


# =========================================================================== SQL
async def test_db_query_is_read_only_with_parameters_and_a_row_cap(rt):
    await build_ledger(rt)
    res = await result(rt, "POST", "/db/query", models.QueryResult,
                       {"query": "SELECT id, fee FROM trades WHERE exchange = ? AND fee > ? ORDER BY id",
                        "params": ["bybit", 2]})
    assert res["rows"] == [{"id": "t1", "fee": 3.3}, {"id": "t2", "fee": 3.355}]
    assert res["columns"] == ["id", "fee"] and res["truncated"] is False

    capped = await result(rt, "POST", "/db/query", None, {"query": "SELECT id FROM trades ORDER BY id;",
                                                           "maxRows": 2})
    assert capped["rowCount"] == 2 and capped["truncated"] is True
    many = await result(rt, "POST", "/db/query", None, {
        "query": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1500) SELECT x FROM n"})
    assert many["rowCount"] == 1000 and many["truncated"] is True and many["rows"][-1] == {"x": 1000}
    text = await result(rt, "POST", "/db/query", None, {"query": "SELECT 'a; DROP TABLE trades' AS s -- done"})
    assert text["rows"] == [{"s": "a; DROP TABLE trades"}]
    # a statement may end in a string literal or a quoted name
    ends_quoted = await result(rt, "POST", "/db/query", None,
                               {"query": "SELECT id, fee FROM \"trades\" WHERE fee > 2 AND exchange = 'bybit';"})
    assert sorted(ends_quoted["rows"], key=lambda r: r["id"]) == res["rows"]

    for query in ["DELETE FROM trades", "UPDATE trades SET fee = 0", "SELECT 1; DELETE FROM trades",
                  "INSERT INTO system_logs (created_at, level, worker, message) VALUES ('x','info','x','x')",
                  "WITH x AS (SELECT 1) DELETE FROM trades", "PRAGMA table_info(trades)", "DROP TABLE trades",
                  "ATTACH DATABASE 'x.db' AS x", "/* SELECT */ DELETE FROM trades"]:
        r = await v1(rt, "POST", "/db/query", json_body={"query": query})
        assert r.status == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR", query
    assert len(await sql(rt, "SELECT id FROM trades")) == 6
    bad_param = await v1(rt, "POST", "/db/query", json_body={"query": "SELECT ?", "params": [{"a": 1}]})
    assert bad_param.status == 400
    wrong = await v1(rt, "POST", "/db/query", json_body={"query": "SELECT nope FROM trades"})
    assert wrong.status == 400 and "nope" in wrong.json()["error"]["message"]


# =========================================================================== status and workers
async def test_status_reports_modes_health_queue_last_signal_and_version(rt, clock):
    await kv_set(rt, "webhooks:queue_mode", "queue_everywhere")
    clock.advance(30)
    assert (await webhook(rt, idempotencyKey="st-1")).status == 202
    s = await result(rt, "GET", "/status", models.StatusResult)
    assert s["killSwitch"] == {"on": False, "reason": None}
    assert (s["tradingMode"], s["queueMode"], s["runtime"]) == ("paper", "queue_everywhere", "local")
    assert s["lastSignalAt"] == "2026-01-05T12:00:30.000Z"
    assert s["queues"]["depth"] == 1 and s["queues"]["deadLetters"] == 0
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert s["version"] == version
    health = {w["name"]: w for w in s["workers"]}
    assert list(health) == catalog.names()
    enabled = set(rt.workers)
    for name, w in health.items():
        if name in enabled:
            assert w["status"] == "online", w
        else:  # disabled in the workspace: offline, and why
            assert w["status"] == "offline" and "not running" in w["error"]
    assert health["trade-worker"]["latencyMs"] is not None
    assert "email-worker" not in enabled


async def test_workers_show_traffic_from_analytics_data_points(rt, clock):
    from hoox_edge.shared.app import api_call_point

    dataset = rt.analytics.dataset(catalog.TELEMETRY_DATASET)
    now = clock.t

    def at(seconds_ago: float, latency: float, status: int = 200) -> None:
        clock.set(now - seconds_ago)
        dataset.write_data_point(**api_call_point("email-worker", "/email", status, latency, "r"))

    at(7200, 99999)  # two hours ago: in no window
    for i, lat in enumerate(range(1, 11)):  # 30 minutes ago: 1..10 ms, one of them a 500
        at(1800, lat, 500 if i == 0 else 200)
    for i, lat in enumerate(range(100, 1001, 100)):  # 2 minutes ago: 100..1000 ms, two 500s, a 404, a 401
        at(120, lat, {0: 500, 1: 500, 2: 404, 3: 401}.get(i, 200))
    clock.set(now)

    w = await result(rt, "GET", "/workers/email-worker", models.WorkerDetail)
    assert w["status"] == "offline" and "not running" in w["healthError"]
    # a refused caller (401) is a client error, never an edge error
    assert w["traffic"]["5m"] == {"requests": 10, "errors": 2, "clientErrors": 2, "refused": 1, "p50Ms": 500,
                                  "p95Ms": 1000}
    # 20 points: the 10th smallest is 10 ms, the 19th 900 ms (nearest rank)
    assert w["traffic"]["1h"] == {"requests": 20, "errors": 3, "clientErrors": 2, "refused": 1, "p50Ms": 10,
                                  "p95Ms": 900}
    assert w["trafficError"] is None
    assert w["crons"] == ["*/5 * * * *"] and w["signalsProcessed"] == 0
    assert {"name": "ANALYTICS_ENGINE", "kind": "analytics_engine", "resource": "hoox_telemetry"} in w["bindings"]
    assert w["uptimeSeconds"] is None and "not running" in w["uptimeNote"]


async def test_every_worker_records_its_own_requests(rt, clock):
    r = await rt.request("d1-worker", "GET", "/health", headers={"X-Request-Id": "probe-1"})
    assert r.status == 200
    [point] = await rt.analytics_sql().query(
        "SELECT blob1, blob2, blob3, blob4, blob5, double2, double3, index1, timestamp FROM hoox_telemetry "
        "WHERE index1 = 'probe-1'")
    assert point == {"blob1": "api-call", "blob2": "d1-worker", "blob3": "/health", "blob4": "ok", "blob5": "http",
                     "double2": 200.0, "double3": 1.0, "index1": "probe-1", "timestamp": "2026-01-05 12:00:00"}
    # the same layout analytics-worker writes for a tracked api-call (blob1..4, double1..3, index1)
    from hoox_edge.shared.app import api_call_point
    from hoox_edge.workers.analytics import data_point

    tracked = data_point("api-call", {"worker": "d1-worker", "endpoint": "/health", "latencyMs": 3.5,
                                      "success": True, "status": 200, "startedAtMs": 1767614400000}, "probe-1")
    mine = api_call_point("d1-worker", "/health", 200, 3.5, "probe-1", 1767614400000)
    assert mine["blobs"][:4] == tracked["blobs"] and mine["doubles"] == tracked["doubles"]
    assert mine["indexes"] == tracked["indexes"]
    # the outcome says whose fault a failure was: a refused caller is not an edge error
    outcomes = {st: api_call_point("hoox", "/v1/status", st, 1.0, "r")["blobs"][3] for st in (401, 403, 404, 500)}
    assert outcomes == {401: "refused", 403: "refused", 404: "client-error", 500: "error"}

    clock.advance(60)
    d1 = await result(rt, "GET", "/workers/d1-worker", models.WorkerDetail)
    # the request above, plus the /health probe of this very call (recorded before it answers)
    assert d1["traffic"]["5m"]["requests"] == 2 and d1["traffic"]["1h"]["errors"] == 0


async def test_workers_list_uptime_durable_objects_signals_and_logs(rt, clock):
    await kv_set(rt, "webhooks:queue_mode", "queue_everywhere")
    assert (await webhook(rt, idempotencyKey="w-1")).status == 202
    assert (await webhook(rt, idempotencyKey="w-2", symbol="ETHUSDT")).status == 202
    clock.advance(90)

    listed = await result(rt, "GET", "/workers", models.WorkersResult)
    assert [w["name"] for w in listed["items"]] == catalog.names()
    gw = next(w for w in listed["items"] if w["name"] == "hoox")
    assert gw["status"] == "online" and gw["uptimeSeconds"] == 90.0
    assert gw["signalsProcessed"] == 2 and gw["public"] is True and "recentLogs" not in gw
    dos = {d["className"]: d for d in gw["durableObjects"]}
    assert dos["IdempotencyStore"]["instances"] == 2 and dos["IdempotencyStore"]["pendingAlarms"] == 2
    assert dos["IdempotencyStore"]["nextAlarm"] == "2026-01-06T12:00:00.000Z"  # explicit keys: 24 h
    assert dos["RateLimiter"]["instances"] == 1 and dos["RateLimiter"]["nextAlarm"] == "2026-01-05T12:01:00.000Z"
    assert gw["traffic"]["5m"]["requests"] == 2  # the two webhooks
    trade = next(w for w in listed["items"] if w["name"] == "trade-worker")
    assert trade["signalsProcessed"] == 0 and trade["durableObjects"][0]["className"] == "PaperExchange"

    detail = await result(rt, "GET", "/workers/hoox", models.WorkerDetail)
    assert detail["recentLogs"] and all(entry["worker"] == "hoox" for entry in detail["recentLogs"])
    assert detail["recentLogs"][0]["id"] > detail["recentLogs"][-1]["id"]  # newest first
    assert any(entry["message"] == "signal received" for entry in detail["recentLogs"])
    missing = await v1(rt, "GET", "/workers/no-such-worker")
    assert missing.status == 404 and "known workers" in missing.json()["error"]["message"]
