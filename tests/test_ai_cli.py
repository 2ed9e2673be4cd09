"""Issue 15 item 5: `hoox agent chat|health|usage|models|test-model` through a local edge over HTTP,
with every AI provider a loopback fake (tests/fake_ai.py)."""

from __future__ import annotations

import asyncio
import json

import cli_support
import pytest
from cli_support import as_json
from fake_ai import FakeAI
from hoox_edge.shared import settings

KEY = "sk-ant-cli-test-0f1e2d3c4b5a69788796"


@pytest.fixture
def fake(workspace):
    with FakeAI(keys={"anthropic": KEY, "openai": "sk-other-cli-test-1234567890"}) as f:
        workspace.set_secret("ANTHROPIC_API_KEY", KEY)
        workspace.set_secret("OPENAI_API_KEY", "sk-other-cli-test-1234567890")
        yield f


async def hoox(*args: str):
    return await asyncio.to_thread(cli_support.hoox, *args)


async def configure(rt, fake: FakeAI) -> None:
    await settings.put(rt.env("hoox").CONFIG_KV, "agent:config", {
        "order": ["openai", "anthropic"], "retries": 0, "timeoutMs": 3000,
        "providers": {"openai": {"kind": "openai", "model": "gpt-4o-mini", "baseUrl": fake.url + "/v1"},
                      "anthropic": {"kind": "anthropic", "model": "claude-3-5-haiku-latest", "baseUrl": fake.url}}})


async def test_hoox_agent_chat_streams_and_json_emits_each_event(edge, fake, clock):
    await configure(edge, fake)
    fake.script("openai", {"status": 503})
    fake.script("anthropic", {"text": ["Win ", "rate ", "60%."], "usage": (20, 4)})
    r = await hoox("agent", "chat", "win rate?", "--json")
    assert r.exit_code == 0, r.output
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert [e["event"] for e in events] == ["provider", "token", "token", "token", "usage"]
    assert events[0]["provider"] == "anthropic" and events[0]["trail"][0]["provider"] == "openai"
    assert (events[-1]["inputTokens"], events[-1]["outputTokens"]) == (20, 4)

    fake.script("openai", {"text": ["Hi."], "usage": (3, 1)})
    human = await hoox("agent", "chat", "hello")
    assert human.exit_code == 0 and human.stdout.startswith("Hi.")
    assert "openai (gpt-4o-mini), 3 in / 1 out tokens, no price set" in human.stdout

    fake.script("openai", {"status": 500})
    fake.script("anthropic", {"status": 429})
    failed = await hoox("agent", "chat", "hello", "--json")
    assert failed.exit_code == 1
    assert json.loads(failed.stdout.splitlines()[-1])["code"] == "AI_PROVIDERS_FAILED"
    assert KEY not in r.stdout + human.stdout + failed.stdout


async def test_hoox_agent_health_usage_models_and_test_model(edge, fake, clock):
    await configure(edge, fake)
    assert (await hoox("agent", "chat", "hello", "--json")).exit_code == 0
    health = as_json(await hoox("agent", "health", "--json"))
    assert [(p["provider"], p["breaker"], p["configured"]) for p in health["providers"]] == [
        ("openai", "closed", True), ("anthropic", "closed", True)]
    usage = as_json(await hoox("agent", "usage", "--json"))
    assert [(d["provider"], d["requests"], d["inputTokens"]) for d in usage["days"]] == [("openai", 1, 12)]
    models = as_json(await hoox("agent", "models", "--json"))
    assert [m["keySecret"] for m in models["providers"]] == ["OPENAI_API_KEY", "ANTHROPIC_API_KEY"]
    ok = await hoox("agent", "test-model", "anthropic", "--json")
    assert ok.exit_code == 0 and as_json(ok)["ok"] is True
    fake.script("openai", {"status": 500})
    bad = await hoox("agent", "test-model", "openai", "--json")
    assert bad.exit_code == 1 and as_json(bad)["error"] == "server_error"
    human = await hoox("agent", "health")
    assert human.exit_code == 0 and "anthropic" in human.stdout


async def test_hoox_agent_chat_desk_shows_the_tool_calls_and_health_the_desk_memory(edge, fake, clock):
    await configure(edge, fake)
    fake.script("openai", {"tool_calls": [{"name": "desk_positions", "arguments": {"symbol": "SOL"}}]},
                {"text": ["No SOL position is open."]})
    human = await hoox("agent", "chat", "--desk", "average entry on SOL?")
    assert human.exit_code == 0, human.output
    assert "· desk_positions(symbol=SOL): ok" in human.stdout and "No SOL position is open." in human.stdout
    [first, _] = fake.chats("openai")
    assert first.body["messages"][-1]["content"] == "average entry on SOL?" and first.body["tools"]

    fake.script("openai", {"tool_calls": [{"name": "desk_trades", "arguments": {"since": "someday"}}]},
                {"quote_tool": "x"})
    r = await hoox("agent", "chat", "--desk", "my trades since someday?", "--json")
    events = [json.loads(line) for line in r.stdout.splitlines()]
    [tool] = [e for e in events if e["event"] == "tool"]
    assert tool["ok"] is False and "since: must be an ISO-8601 date or time" in tool["error"]
    assert events[-1]["event"] == "usage" and events[-1]["grounding"] == "tools"
    assert events[-1]["memory"] == {"available": False, "reason": "no embedding provider is configured"}

    health = await hoox("agent", "health")
    assert "Desk memory: not available — no embedding provider is configured" in health.stdout
