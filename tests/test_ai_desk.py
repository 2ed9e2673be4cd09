"""Issue 15 item 4: the desk assistant answers questions about the trader's own desk from the ledger —
through read-only tools the model calls, each provider on its own documented tool-calling format
(Anthropic tool_use / tool_result, Chat Completions tool_calls / role tool, Gemini functionCall /
functionResponse), or with the ledger's facts in its context when the provider calls no tools.

Every provider is tests/fake_ai.py (loopback); the ledger is filled through the real webhook.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from ai_support import GW, agent, assert_no_provider_key, configure, keyed_fake, price, rows, signal, sse
from hoox_edge.shared import settings

TOOL_NAMES = {"desk_positions", "desk_trades", "desk_stats", "desk_risk"}
FILLS = [(150.0, 1.0), (160.0, 3.0)]  # two SOL buys


@pytest.fixture
def fake(workspace, clock):  # the fixed clock: "today" does not move under a test
    with keyed_fake(workspace) as f:
        yield f


async def fill_the_book(rt) -> None:
    """SOL bought twice (open), an ETH round trip won, a BTC round trip lost: all today, paper book."""
    await settings.put(rt.env(GW).CONFIG_KV, "exchanges:paper:slippage_bps", 0)
    for p, q in FILLS:
        await price(rt, "SOLUSDT", p)
        await signal(rt, action="LONG", quantity=q)
    await price(rt, "ETHUSDT", 3000)
    await signal(rt, action="LONG", symbol="ETHUSDT", quantity=1)
    await price(rt, "ETHUSDT", 3100)
    await signal(rt, action="CLOSE", symbol="ETHUSDT")  # a win
    await price(rt, "BTCUSDT", 60000)
    await signal(rt, action="LONG", symbol="BTCUSDT", quantity=0.01)
    await price(rt, "BTCUSDT", 59000)
    await signal(rt, action="CLOSE", symbol="BTCUSDT")  # a loss


def average_entry() -> float:
    return sum(p * q for p, q in FILLS) / sum(q for _, q in FILLS)  # 157.5


def declared_tools(route: str, body: dict[str, Any]) -> set[str]:
    if route == "gemini":
        return {d["name"] for d in body["tools"][0]["functionDeclarations"]}
    if route == "anthropic":
        return {t["name"] for t in body["tools"]}
    return {t["function"]["name"] for t in body["tools"]}


def system_of(route: str, body: dict[str, Any]) -> str:
    if route == "anthropic":
        return str(body["system"])
    if route == "gemini":
        return str(body["systemInstruction"]["parts"][0]["text"])
    return str(body["messages"][0]["content"])


async def ask(rt, question: str, **extra: Any) -> dict[str, Any]:
    r = await agent(rt, "POST", "/agent/chat", {"message": question, "desk": True, "stream": False} | extra)
    assert r.status == 200, r.json()
    return dict(r.json()["result"])


# --------------------------------------------------------------------------- through tool calls
@pytest.mark.parametrize("provider", ["anthropic", "openai", "gemini"])
async def test_ledger_questions_are_answered_through_tool_calls_with_the_exact_figures(runtime, fake, provider):
    rt = runtime
    await fill_the_book(rt)
    await configure(rt, fake, [provider])
    fake.script(provider,
                {"tool_calls": [{"name": "desk_positions", "arguments": {"symbol": "SOL"}}], "usage": (100, 20)},
                {"quote_tool": "entryPrice", "usage": (300, 8)},
                {"tool_calls": [{"name": "desk_stats", "arguments": {"since": "today", "book": "paper"}}],
                 "usage": (110, 15)},
                {"quote_tool": "winRate", "usage": (250, 6)})

    # Streamed: the tool turn runs to its result, then the answer streams.
    events = sse((await agent(rt, "POST", "/agent/chat", {"message": "average entry on SOL?", "desk": True})).body)
    names = [e for e, _ in events]
    assert names[:2] == ["provider", "tool"] and names[-1] == "usage" and set(names[2:-1]) == {"token"}
    assert events[1][1] == {"round": 1, "name": "desk_positions", "arguments": {"symbol": "SOL"}, "ok": True}
    answer = "".join(d["text"] for e, d in events if e == "token")
    assert answer == f"entryPrice: {average_entry()}\n"  # 157.5, as the ledger has it
    usage = events[-1][1]
    assert usage["tools"] == [events[1][1]] and usage["grounding"] == "tools"
    assert (usage["inputTokens"], usage["outputTokens"]) == (400, 28)  # both calls, counted once

    rate = await ask(rt, "win rate today?")
    wins, closing = 1, 2
    assert rate["text"] == f"winRate: {wins / closing}\n"
    assert [t["name"] for t in rate["tools"]] == ["desk_stats"] and rate["grounding"] == "tools"

    assert fake.shape_errors == []
    first, second = fake.chats(provider)[:2]
    assert declared_tools(provider, first.body) == TOOL_NAMES  # read-only tools only: none places or closes
    rules = system_of(provider, first.body)
    assert "never guess or invent a figure" in rules and "DESK FACTS" not in rules
    assert "157.5" not in json.dumps(first.body) and "157.5" in json.dumps(second.body)  # the tool brought it
    [row] = await rows(rt, "SELECT * FROM ai_usage WHERE model != 'text-embedding-3-small'")  # the chat's
    assert (row["requests"], row["input_tokens"], row["output_tokens"]) == (2, 760, 49)


async def test_a_provider_without_tool_calling_gets_the_ledgers_facts_instead(runtime, fake):
    rt = runtime
    await fill_the_book(rt)
    await configure(rt, fake, ["workers-ai"])  # Workers AI: no tools offered, the facts path
    fake.script("workers-ai", {"echo_system": "SOLUSDT"}, {"echo_system": "paper:"})
    entry = await ask(rt, "average entry on SOL?")
    assert f"average entry {average_entry():g}" in entry["text"] and "size 4" in entry["text"]
    assert entry["grounding"] == "facts" and entry["tools"] == []
    rate = await ask(rt, "win rate today?")
    assert "2 closing trades (1 won, 1 lost), win rate 50%" in rate["text"]
    call = fake.chats("workers-ai")[0].body
    assert "tools" not in call and "Never claim to place, change or close an order" in call["messages"][0]["content"]
    # Without desk, nothing of the ledger goes to a provider, and no tools are offered.
    await configure(rt, fake, ["openai"])
    await agent(rt, "POST", "/agent/chat", {"message": "hello", "stream": False})
    assert "SOLUSDT" not in json.dumps(fake.chats("openai")[-1].body)
    assert "tools" not in fake.chats("openai")[-1].body


async def test_a_provider_configured_without_tools_and_zero_rounds_take_the_facts_path(runtime, fake):
    await configure(runtime, fake, ["openai"], maxToolRounds=0)
    fake.script("openai", {"echo_system": "Open positions"})
    assert (await ask(runtime, "positions?"))["grounding"] == "facts"
    cfg = await settings.get(runtime.env(GW).CONFIG_KV, "agent:config")
    cfg["maxToolRounds"] = 4
    cfg["providers"]["openai"]["tools"] = False
    await settings.put(runtime.env(GW).CONFIG_KV, "agent:config", cfg)
    fake.script("openai", {"echo_system": "Open positions"})
    answer = await ask(runtime, "positions?")
    assert answer["grounding"] == "facts" and answer["text"] == "Open positions:\n"
    assert all("tools" not in c.body for c in fake.chats("openai"))


# --------------------------------------------------------------------------- the loop's bound and errors
async def test_the_tool_loop_stops_at_max_rounds_and_the_model_must_answer(runtime, fake):
    await configure(runtime, fake, ["openai"], maxToolRounds=2)
    again = {"tool_calls": [{"name": "desk_risk", "arguments": {}}]}
    fake.script("openai", again, again, again)
    answer = await ask(runtime, "is the kill switch on?")
    calls = fake.chats("openai")
    assert len(calls) == 3  # two tool rounds, then one call told to use none
    assert [c.body["tool_choice"] for c in calls] == ["auto", "auto", "none"]
    assert answer["text"] == "I will answer without tools." and len(answer["tools"]) == 2
    assert [t["round"] for t in answer["tools"]] == [1, 2] and all(t["ok"] for t in answer["tools"])

    # A model that asks for tools even then gets a plain error, not an endless loop.
    fake.script("openai", again, again, again | {"ignore_tool_choice": True})
    events = sse((await runtime_agent_stream(runtime, "is the kill switch on?")).body)
    assert [e for e, _ in events] == ["provider", "tool", "tool", "error"]
    error = events[-1][1]
    assert error["code"] == "AI_TOOL_LIMIT" and "maxToolRounds 2" in error["message"]
    assert len(fake.chats("openai")) == 6


async def runtime_agent_stream(rt, question: str):
    return await agent(rt, "POST", "/agent/chat", {"message": question, "desk": True})


@pytest.mark.parametrize(("arguments", "name", "error_text"), [
    ({"since": "last tuesday"}, "desk_trades", "since: must be an ISO-8601 date or time"),
    ({"symbol": "SOL", "side": "buy"}, "desk_positions", "side is not an argument of this tool"),
    ({"limit": 500}, "desk_trades", "limit: must be a whole number from 1 to 50"),
    ({}, "desk_close_position", "no tool named 'desk_close_position'"),
])
async def test_a_tool_error_goes_back_to_the_model_which_reports_it(runtime, fake, arguments, name, error_text):
    await configure(runtime, fake, ["anthropic"])
    fake.script("anthropic", {"tool_calls": [{"name": name, "arguments": arguments}]}, {"quote_tool": "x"})
    answer = await ask(runtime, "my trades since last tuesday?")
    assert answer["text"].startswith("tool error: ") and error_text in answer["text"]
    [called] = answer["tools"]
    assert called["ok"] is False and error_text in called["error"] and called["name"] == name
    [block] = fake.chats("anthropic")[1].body["messages"][-1]["content"]
    assert block["type"] == "tool_result" and block["is_error"] is True
    assert await rows(runtime, "SELECT * FROM trades") == []  # nothing was done on the desk


async def test_trades_and_risk_tools_read_the_same_figures_as_the_operator_api(runtime, fake):
    rt = runtime
    await fill_the_book(rt)
    await configure(rt, fake, ["gemini"])
    fake.script("gemini", {"tool_calls": [{"name": "desk_trades", "arguments": {"symbol": "BTC", "limit": 5}}]},
                {"quote_tool": "realizedPnl"},
                {"tool_calls": [{"name": "desk_risk", "arguments": {}}]}, {"quote_tool": "killSwitch"})
    pnl = await ask(rt, "what did I make on BTC?")
    auth = {"Authorization": f"Bearer {rt.env(GW).OPERATOR_API_KEY}"}
    api = (await rt.request(GW, "GET", "/v1/trades?symbol=BTCUSDT&limit=5", headers=auth)).json()["result"]
    assert pnl["text"] == "".join(f"realizedPnl: {t['realizedPnl']}\n" for t in api["items"])
    assert any(t["realizedPnl"] and t["realizedPnl"] < 0 for t in api["items"])  # the losing close
    risk = await ask(rt, "is the kill switch on?")
    api_risk = (await rt.request(GW, "GET", "/v1/risk", headers=auth)).json()["result"]
    assert risk["text"] == f"killSwitch: {api_risk['killSwitch']}\n"


# --------------------------------------------------------------------------- secrets
async def test_no_provider_key_appears_in_a_tool_conversation_or_anything_stored(runtime, fake, workspace, caplog):
    caplog.set_level(logging.DEBUG)
    await fill_the_book(runtime)
    await configure(runtime, fake, ["anthropic", "openai"])
    fake.script("anthropic", {"tool_calls": [{"name": "desk_stats", "arguments": {}}]}, {"status": 500},
                {"status": 500})  # the second question falls back to openai before anything went out
    fake.script("openai", {"tool_calls": [{"name": "desk_positions", "arguments": {}}]}, {"quote_tool": "entryPrice"})
    outputs = [await agent(runtime, "POST", "/agent/chat", {"message": "pnl?", "desk": True}),
               await agent(runtime, "POST", "/agent/chat", {"message": "positions?", "desk": True, "stream": False})]
    assert b"AI_STREAM_BROKEN" in outputs[0].body
    second = outputs[1].json()["result"]
    assert second["text"] == f"entryPrice: {average_entry()}\n" and second["provider"] == "openai"
    sent = [json.dumps(c.body).encode() for c in fake.calls]  # what went to the providers, tool results too
    assert_no_provider_key(workspace, [o.body for o in outputs] + [caplog.text.encode(), *sent])


# --------------------------------------------------------------------------- Telegram
async def test_telegram_free_text_is_a_desk_question_answered_through_the_tools(runtime, fake, workspace):
    from fake_telegram import FakeTelegram, message_update

    await fill_the_book(runtime)
    with FakeTelegram() as bot:
        workspace.set_secret("TELEGRAM_BOT_TOKEN", "123456789:AAH-ai-tools-token_xyz")
        workspace.set_secret("TELEGRAM_CHAT_ID", "111")
        workspace.set_secret("TELEGRAM_WEBHOOK_SECRET", "ai-tools-secret_0123456789")
        workspace.set_secret("TELEGRAM_API_BASE", bot.url)
        await configure(runtime, fake, ["gemini"])
        fake.script("gemini", {"tool_calls": [{"name": "desk_positions", "arguments": {"symbol": "SOLUSDT"}}]},
                    {"quote_tool": "entryPrice"})
        r = await runtime.request(GW, "POST", "/telegram-webhook", json=message_update(90, "average entry on SOL?"),
                                  headers={"X-Telegram-Bot-Api-Secret-Token": "ai-tools-secret_0123456789"})
        assert r.status == 200
        [sent] = [c.body["text"] for c in bot.sent()]
        assert sent.startswith(f"entryPrice: {average_entry()}") and "· read desk_positions" in sent
