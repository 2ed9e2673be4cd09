"""No query holds up the edge: `/v1/db/query` has a time limit (KV `operator:query_timeout_ms`) and a
long read runs off the event loop, so a signal sent meanwhile is answered first (ordering, no stopwatch)."""

from __future__ import annotations

import asyncio

import pytest
from hoox_edge import catalog
from hoox_edge.shared import settings
from test_sqlio import ENDLESS, until

GW = "hoox"


async def query(rt, sql: str):
    headers = {"Authorization": f"Bearer {rt.env(GW).OPERATOR_API_KEY}"}
    return await rt.request(GW, "POST", "/v1/db/query", json={"query": sql}, headers=headers)


def ledger_reads(rt) -> int:
    return rt.d1(catalog.TRADE_DB).reader.running


async def test_a_signal_is_answered_while_a_long_query_runs(runtime):
    await settings.put(runtime.env(GW).CONFIG_KV, "operator:query_timeout_ms", 60_000)
    long_query = asyncio.create_task(query(runtime, ENDLESS))
    await until(lambda: ledger_reads(runtime) == 1, "the query runs in a reader thread")
    signal = {"apiKey": runtime.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG",
              "symbol": "BTCUSDT", "quantity": 0.01}
    r = await runtime.request(GW, "POST", "/webhook", json=signal)
    assert r.status == 200, r.json()
    assert not long_query.done()  # the signal did not wait for it
    long_query.cancel()  # the caller gives up: the read is interrupted in its thread
    with pytest.raises(asyncio.CancelledError):
        await long_query
    await until(lambda: ledger_reads(runtime) == 0, "the interrupted read stopped")


async def test_a_query_past_its_time_limit_answers_query_timeout(runtime):
    await settings.put(runtime.env(GW).CONFIG_KV, "operator:query_timeout_ms", 200)
    r = await query(runtime, ENDLESS)
    assert r.status == 400
    err = r.json()["error"]
    assert err["code"] == "QUERY_TIMEOUT" and err["details"] == {"timeoutMs": 200}
    assert "operator:query_timeout_ms" in err["message"]
    await until(lambda: ledger_reads(runtime) == 0, "the timed-out read stopped")
    # the ledger answers as before
    assert (await query(runtime, "SELECT COUNT(*) AS n FROM trades")).json()["result"]["rows"] == [{"n": 0}]


# Outside the manifest's bounds (100 ms to 60 s) a value is invalid: the default applies.
@pytest.mark.parametrize(("stored", "used"), [(None, 5000), ("50", 5000), ("2500", 2500), ("600000", 5000)])
async def test_the_time_limit_is_held_to_its_bounds(runtime, stored, used):
    from hoox_edge.operator import sql

    kv = runtime.env(GW).CONFIG_KV
    if stored is not None:
        await kv.put("operator:query_timeout_ms", stored)  # as the CLI could have written it
    assert await sql.timeout_ms(kv) == used


@pytest.mark.parametrize("sql", [
    "SELECT zeroblob(400000000) AS b",  # one value past what D1 stores (it once took 1.3 GB)
    "SELECT randomblob(1500000) AS b FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 40) SELECT x FROM c)",  # 60 MB of rows in a reader thread
    "SELECT printf('%.*c', 100000, 'x') AS t FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
    "FROM c WHERE x < 60) SELECT x FROM c)",  # 6 MB: more than an answer may hold
])
async def test_a_query_whose_answer_is_too_large_is_refused_and_the_edge_goes_on(runtime, sql):
    r = await query(runtime, sql)
    assert r.status == 400, r.text()
    err = r.json()["error"]
    assert err["code"] == "VALIDATION_ERROR"
    assert any(w in err["message"] for w in ("too big", "larger than", "over the")), err["message"]
    assert (await query(runtime, "SELECT COUNT(*) AS n FROM trades")).json()["result"]["rows"] == [{"n": 0}]


async def test_a_large_answer_within_the_limits_is_served_whole(runtime):
    r = await query(runtime, "SELECT length(zeroblob(1900000)) AS n, substr(hex(randomblob(900000)), 1, 8) AS h")
    assert r.status == 200 and r.json()["result"]["rows"][0]["n"] == 1_900_000
