"""Issue 15 item 4: the desk assistant's memory — fills embedded (through the gateway's embedding path)
into agent-worker's VECTORIZE binding, the local vector table here, after they commit and never on
their path; a failure to embed costs a trade nothing and is caught up later; a desk question is asked
with the nearest items of the history; without an embedding provider the memory says so plainly.

Every provider is tests/fake_ai.py (loopback); its embeddings count words, so texts about the same
symbol are near each other.
"""

from __future__ import annotations

import json
import math
import sqlite3

import pytest
from ai_support import AGENT, GW, agent, configure, keyed_fake, price, rows, signal
from hoox_edge import catalog
from hoox_edge.local.vectorize import LocalVectorIndex, cosine
from hoox_edge.ports import VectorRecord
from hoox_edge.shared import settings

CRON = "* * * * *"


@pytest.fixture
def fake(workspace, clock):  # the fixed clock: backoffs move with it
    with keyed_fake(workspace) as f:
        f.vocabulary = ("sol", "btc", "eth", "win", "loss")
        yield f


async def trade_btc_and_sol(rt) -> None:
    await settings.put(rt.env(GW).CONFIG_KV, "exchanges:paper:slippage_bps", 0)
    await price(rt, "SOLUSDT", 150)
    await signal(rt, action="LONG", quantity=2)
    await price(rt, "BTCUSDT", 60000)
    await signal(rt, action="LONG", symbol="BTCUSDT", quantity=0.01)
    await price(rt, "BTCUSDT", 59000)
    await signal(rt, action="CLOSE", symbol="BTCUSDT")  # a loss of 10


def vector_rows(workspace) -> list[tuple[str, dict]]:
    path = workspace.vectorize_file(catalog.DESK_MEMORY_INDEX)
    with sqlite3.connect(path) as conn:
        return [(i, json.loads(m)) for i, m in conn.execute("SELECT id, metadata FROM vectors ORDER BY id")]


async def test_fills_are_embedded_after_they_commit_and_a_question_recalls_the_nearest(runtime, fake, workspace):
    rt = runtime
    await configure(rt, fake, ["anthropic", "openai"])  # anthropic answers; openai has the embedding model
    await trade_btc_and_sol(rt)
    fills = await rows(rt, "SELECT request_id FROM trades WHERE filled_qty > 0")
    assert len(fills) == 3
    assert fake.embedded == [] and await rows(rt, "SELECT * FROM ai_memory") == []  # never on a fill's path

    await rt.run_cron(AGENT, CRON)  # the minute's cron: the risk run, then the memory catches up
    stored = vector_rows(workspace)
    assert sorted(i for i, _ in stored) == sorted(f"trade:{f['request_id']}" for f in fills)
    assert {m["model"] for _, m in stored} == {"text-embedding-3-small"}
    close = next(m for _, m in stored if m["symbol"] == "BTCUSDT" and "CLOSE" in m["text"])
    assert "realized P&L -10 (a loss)" in close["text"]
    status = (await agent(rt, "GET", "/agent/memory")).json()["result"]
    assert (status["fills"], status["embedded"], status["pending"], status["failing"]) == (3, 3, 0, 0)
    health = (await agent(rt, "GET", "/agent/health")).json()["result"]["memory"]
    assert health["embeddingProviders"] == ["openai"] and health["embedded"] == 3 and "reason" not in health
    await rt.run_cron(AGENT, CRON)
    assert len(fake.embedded) == 3  # nothing embedded twice

    fake.script("anthropic", {"echo_system": "BTCUSDT"})
    r = await agent(rt, "POST", "/agent/chat", {"message": "how did my btc trades go?", "desk": True,
                                                "stream": False})
    answer = r.json()["result"]
    assert "BTCUSDT: CLOSE" in answer["text"] and "realized P&L -10 (a loss)" in answer["text"]
    assert answer["memory"] == {"available": True, "model": "text-embedding-3-small", "items": 3}
    system = fake.calls_to("anthropic")[0].body["system"]
    history = system[system.index("TRADE HISTORY"):].splitlines()[1:]
    assert "BTCUSDT" in history[0] and "BTCUSDT" in history[1] and "SOLUSDT" in history[2]  # nearest first
    assert fake.embedded[-1] == "how did my btc trades go?"


async def test_a_fill_that_changes_later_is_embedded_again(runtime, fake, workspace):
    rt = runtime
    await configure(rt, fake, ["openai"])
    await trade_btc_and_sol(rt)
    await rt.run_cron(AGENT, CRON)
    [sol] = await rows(rt, "SELECT request_id FROM trades WHERE symbol = 'SOLUSDT'")
    await rt.env(GW).DB.prepare("UPDATE trades SET fee = 0.5, updated_at = '2099-01-01T00:00:00.000Z' "
                                "WHERE request_id = ?").bind(sol["request_id"]).run()
    await rt.run_cron(AGENT, CRON)
    assert len(fake.embedded) == 4 and "fee 0.5" in fake.embedded[-1]
    [(_, meta)] = [(i, m) for i, m in vector_rows(workspace) if i == f"trade:{sol['request_id']}"]
    assert "fee 0.5" in meta["text"]


async def test_a_failure_to_embed_never_touches_a_trade_and_is_caught_up_later(runtime, fake, workspace, clock):
    rt = runtime
    await configure(rt, fake, ["openai"])
    fake.script("openai:embed", {"status": 500})
    await trade_btc_and_sol(rt)  # every signal still fills (200): the memory is not on its path
    await rt.run_cron(AGENT, CRON)
    failed = await rows(rt, "SELECT * FROM ai_memory ORDER BY item")
    assert len(failed) == 3 and all(r["attempts"] == 1 and r["model"] is None for r in failed)
    assert all("HTTP 500" in r["last_error"] for r in failed)
    [log] = await rows(rt, "SELECT * FROM system_logs WHERE message LIKE 'desk memory:%'")
    assert log["level"] == "warning" and "HTTP 500" in log["details"]
    assert len(await rows(rt, "SELECT * FROM trades WHERE status = 'Filled'")) == 3

    await rt.run_cron(AGENT, CRON)  # within the backoff: not tried again
    assert len(fake.calls_to("openai")) == 1
    clock.advance(61)
    await rt.run_cron(AGENT, CRON)  # caught up
    status = (await agent(rt, "GET", "/agent/memory")).json()["result"]
    assert (status["embedded"], status["pending"], status["failing"], status["lastError"]) == (3, 0, 0, None)
    assert len(vector_rows(workspace)) == 3


async def test_without_an_embedding_provider_the_memory_says_so_and_the_tools_still_answer(runtime, fake, workspace):
    rt = runtime
    await configure(rt, fake, ["anthropic"])  # no provider with an embeddingModel
    await trade_btc_and_sol(rt)
    r = await agent(rt, "POST", "/agent/memory/sync")
    result = r.json()["result"]
    assert result["available"] is False and "no embedding provider is configured" in result["reason"]
    assert await rows(rt, "SELECT * FROM ai_memory") == []  # nothing marked failing: there is nothing to retry
    health = (await agent(rt, "GET", "/agent/health")).json()["result"]["memory"]
    assert health["reason"].startswith("no embedding provider is configured") and health["pending"] == 3
    fake.script("anthropic", {"tool_calls": [{"name": "desk_positions", "arguments": {"symbol": "SOL"}}]},
                {"quote_tool": "entryPrice"})
    answer = (await agent(rt, "POST", "/agent/chat", {"message": "average entry on SOL?", "desk": True,
                                                      "stream": False})).json()["result"]
    assert answer["text"] == "entryPrice: 150.0\n" and answer["grounding"] == "tools"
    assert answer["memory"] == {"available": False, "reason": "no embedding provider is configured"}
    system = fake.calls_to("anthropic")[0].body["system"]
    assert "TRADE HISTORY SEARCH: not available (no embedding provider is configured)." in system


# --------------------------------------------------------------------------- the local vector table
async def test_the_local_vector_table_ranks_by_cosine_and_keeps_vectorizes_rules(tmp_path):
    index = LocalVectorIndex(tmp_path / "index.sqlite")
    try:
        await index.upsert([VectorRecord("a", [1, 0, 0], {"text": "a"}), VectorRecord("b", [1, 1, 0], {"text": "b"}),
                            VectorRecord("c", [0, 0, 1], {"text": "c"})])
        got = await index.query([1, 0.1, 0], top_k=2)
        assert [m.id for m in got] == ["a", "b"]
        assert math.isclose(got[0].score, cosine([1, 0.1, 0], [1, 0, 0])) and got[0].metadata == {"text": "a"}
        await index.upsert([VectorRecord("a", [0, 0, 2], {"text": "a2"})])  # replaced in full
        assert [(m.id, m.metadata["text"]) for m in await index.query([0, 0, 1], top_k=2)] == [("a", "a2"),
                                                                                               ("c", "c")]
        for bad, text in (([VectorRecord("d", [1, 0], {})], "holds vectors of 3 dimensions, not 2"),
                          ([VectorRecord("x" * 65, [1, 0, 0], {})], "1 to 64 bytes"),
                          ([VectorRecord("e", [1, math.nan, 0], {})], "finite numbers"),
                          ([VectorRecord("f", [1, 0, 0], {"text": "x" * 11_000})], "metadata over 10 KiB")):
            with pytest.raises(ValueError, match=text):
                await index.upsert(bad)
        with pytest.raises(ValueError, match="topK must be 1 to 20"):
            await index.query([1, 0, 0], top_k=21)
        with pytest.raises(ValueError, match="holds vectors of 3 dimensions, not 2"):
            await index.query([1, 0])
    finally:
        index.close()


async def test_a_stored_report_is_embedded_with_its_figures(runtime, fake, workspace, monkeypatch, tmp_path, clock):
    rt = runtime
    empty = tmp_path / "no-chromium"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # the report without a PDF: only its figures matter here
    await configure(rt, fake, ["openai"])
    await trade_btc_and_sol(rt)
    clock.advance(60)  # the report's window ends after the fills
    key = {"X-Internal-Auth-Key": rt.env("report-worker").INTERNAL_KEY_BINDING}
    made = await rt.request("report-worker", "POST", "/report", json={"period": "24h"}, headers=key)
    assert made.status == 200, made.json()
    await rt.run_cron(AGENT, CRON)
    [(report_id, meta)] = [(i, m) for i, m in vector_rows(workspace) if i.startswith("report:")]
    assert meta["kind"] == "report" and report_id.startswith("report:daily-pnl-")
    assert "PAPER book: net P&L" in meta["text"] and "(0 of 1 closing)" in meta["text"]  # the BTC loss
    assert "worst BTCUSDT -10." in meta["text"]
    status = (await agent(rt, "GET", "/agent/memory")).json()["result"]
    assert (status["embedded"], status["reportsEmbedded"]) == (3, 1)
    await rt.run_cron(AGENT, CRON)
    assert len(fake.embedded) == 4  # the report once


async def test_another_embedding_provider_embeds_the_history_again_and_a_fallback_never_mixes_models(
        runtime, fake, workspace, clock):
    rt = runtime
    await configure(rt, fake, ["openai", "gemini"])
    cfg = await settings.get(rt.env(GW).CONFIG_KV, "agent:config")
    cfg["providers"]["gemini"]["embeddingModel"] = "text-embedding-004"
    await settings.put(rt.env(GW).CONFIG_KV, "agent:config", cfg)
    await trade_btc_and_sol(rt)
    fake.script("openai:embed", {"status": 503})  # the first embedder fails: gemini would answer instead
    await rt.run_cron(AGENT, CRON)
    failing = await rows(rt, "SELECT * FROM ai_memory")
    assert len(failing) == 3 and all(r["model"] is None for r in failing)
    assert all("text-embedding-3-small did not answer" in r["last_error"] for r in failing)
    assert vector_rows(workspace) == []  # nothing of the fallback's model went in

    clock.advance(61)
    await rt.run_cron(AGENT, CRON)
    assert {m["model"] for _, m in vector_rows(workspace)} == {"text-embedding-3-small"}

    cfg["order"] = ["gemini", "openai"]  # the operator moves to another embedding model
    await settings.put(rt.env(GW).CONFIG_KV, "agent:config", cfg)
    await rt.run_cron(AGENT, CRON)
    stored = vector_rows(workspace)
    assert len(stored) == 3 and {m["model"] for _, m in stored} == {"text-embedding-004"}
    fake.script("gemini", {"echo_system": "BTCUSDT"})
    answer = (await agent(rt, "POST", "/agent/chat", {"message": "btc?", "desk": True, "stream": False})).json()
    assert answer["result"]["memory"] == {"available": True, "model": "text-embedding-004", "items": 3}
