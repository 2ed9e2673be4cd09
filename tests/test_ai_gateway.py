"""Issue 15: agent-worker's AI gateway — each provider on its own wire format, the fallback chain
(timeouts, 429/5xx with retry-after, circuit breakers), the streamed chat, vision, embeddings,
usage and prices, prompts, the validated config, the operator API's /v1/agent/*, and no provider key
anywhere but the secrets.

Every provider is tests/fake_ai.py (loopback): nothing here reaches a real AI service.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import pytest
from ai_support import AGENT, GW, agent, assert_no_provider_key, configure, keyed_fake, rows, sse
from hoox_edge.shared import settings


@pytest.fixture(autouse=True)
def _fixed_time(clock):
    return clock


@pytest.fixture
def fake(workspace):
    with keyed_fake(workspace) as f:
        yield f


# --------------------------------------------------------------------------- each provider's format
@pytest.mark.parametrize(("provider", "route"), [
    ("workers-ai", "workers-ai"), ("anthropic", "anthropic"), ("gemini", "gemini"), ("openai", "openai"),
    ("azure", "azure"), ("local", "openai")])
async def test_each_provider_streams_in_its_own_format_and_its_usage_is_counted(runtime, fake, provider, route):
    await configure(runtime, fake, [provider])
    if provider == "local":
        fake.keys.pop("openai")  # a local server that takes no key
    fake.script(route, {"text": ["The ", "mark ", "is ", "150."], "usage": (42, 7)})
    r = await agent(runtime, "POST", "/agent/chat", {"message": "mark of SOL?", "system": "Be brief."})
    assert r.status == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse(r.body)
    assert [e for e, _ in events] == ["provider", "token", "token", "token", "token", "usage"]
    assert "".join(d["text"] for e, d in events if e == "token") == "The mark is 150."
    usage = events[-1][1]
    assert (usage["provider"], usage["inputTokens"], usage["outputTokens"], usage["trail"]) == (provider, 42, 7, [])
    assert fake.shape_errors == []
    [call] = fake.calls_to(route)
    body = json.dumps(call.body)
    assert "mark of SOL?" in body and "Be brief." in body  # the system prompt goes the provider's own way
    if provider == "local":
        assert "authorization" not in call.headers  # a local server without a key gets none
    [row] = await rows(runtime, "SELECT * FROM ai_usage")
    assert (row["provider"], row["requests"], row["input_tokens"], row["output_tokens"]) == (provider, 1, 42, 7)


# --------------------------------------------------------------------------- the fallback chain
async def test_two_providers_fail_the_third_streams_tokens_in_order_with_the_trail_and_usage_once(runtime, fake):
    await configure(runtime, fake, ["workers-ai", "anthropic", "gemini"], retries=1)
    runtime_cfg = await settings.get(runtime.env(GW).CONFIG_KV, "agent:config")
    runtime_cfg["providers"]["workers-ai"]["timeoutMs"] = 300
    await settings.put(runtime.env(GW).CONFIG_KV, "agent:config", runtime_cfg)
    fake.script("workers-ai", {"timeout": True})
    fake.script("anthropic", {"status": 429, "retry_after": "0"}, {"status": 429, "retry_after": "0"})
    fake.script("gemini", {"text": ["one", " two", " three"], "usage": (30, 3)})

    events = sse((await agent(runtime, "POST", "/agent/chat", {"message": "count"})).body)
    assert [e for e, _ in events] == ["provider", "token", "token", "token", "usage"]
    assert [d["text"] for e, d in events if e == "token"] == ["one", " two", " three"]
    first, usage = events[0][1], events[-1][1]
    assert first["provider"] == usage["provider"] == "gemini"
    trail = [(t["provider"], t["error"]) for t in usage["trail"]]
    assert trail == [("workers-ai", "timeout"), ("anthropic", "rate_limited")] == \
        [(t["provider"], t["error"]) for t in first["trail"]]
    assert "HTTP 429" in usage["trail"][1]["message"] and "2 attempts" in usage["trail"][1]["message"]
    assert len(fake.calls_to("anthropic")) == 2  # retried once, as configured
    [row] = await rows(runtime, "SELECT * FROM ai_usage")
    assert (row["provider"], row["requests"], row["input_tokens"], row["output_tokens"]) == ("gemini", 1, 30, 3)


async def test_retry_after_is_honoured_before_the_retry(runtime, fake):
    await configure(runtime, fake, ["anthropic"], retries=1)
    fake.script("anthropic", {"status": 503, "retry_after": "1"}, {"text": ["ok"], "usage": (5, 1)})
    r = await agent(runtime, "POST", "/agent/chat", {"message": "hi", "stream": False})
    assert r.status == 200 and r.json()["result"]["text"] == "ok"
    first, second = fake.calls_to("anthropic")
    assert second.at - first.at >= 0.95


async def test_every_provider_failing_is_a_plain_error_listing_each_never_a_reply(runtime, fake):
    await configure(runtime, fake, ["anthropic", "openai"])
    fake.script("anthropic", {"status": 500})
    fake.script("openai", {"status": 429})
    r = await agent(runtime, "POST", "/agent/chat", {"message": "hi", "stream": False})
    assert r.status == 502
    err = r.json()["error"]
    assert err["code"] == "AI_PROVIDERS_FAILED"
    assert [(d["provider"], d["error"]) for d in err["details"]] == [("anthropic", "server_error"),
                                                                     ("openai", "rate_limited")]
    assert r.json()["result"] is None
    fake.script("anthropic", {"status": 500})
    fake.script("openai", {"status": 500})
    events = sse((await agent(runtime, "POST", "/agent/chat", {"message": "hi"})).body)
    assert [e for e, _ in events] == ["error"] and len(events[0][1]["trail"]) == 2
    assert await rows(runtime, "SELECT * FROM ai_usage") == []


async def test_a_breaker_opens_after_the_threshold_and_half_opens_for_one_probe(runtime, fake, clock):
    await configure(runtime, fake, ["anthropic", "openai"], breaker={"threshold": 2, "halfOpenSeconds": 60})
    fake.script("anthropic", {"status": 503}, {"status": 503})
    for _ in range(2):
        r = await agent(runtime, "POST", "/agent/chat", {"message": "hi", "stream": False})
        assert r.json()["result"]["provider"] == "openai"
    health = {p["provider"]: p for p in (await agent(runtime, "GET", "/agent/health")).json()["result"]["providers"]}
    assert health["anthropic"]["breaker"] == "open" and health["anthropic"]["consecutiveFailures"] == 2
    assert health["openai"]["breaker"] == "closed" and health["openai"]["lastSuccessAt"] is not None

    r = await agent(runtime, "POST", "/agent/chat", {"message": "hi", "stream": False})
    assert len(fake.calls_to("anthropic")) == 2  # open: not called at all
    assert r.json()["result"]["trail"][0]["error"] == "circuit_open"

    clock.advance(61)
    health = {p["provider"]: p for p in (await agent(runtime, "GET", "/agent/health")).json()["result"]["providers"]}
    assert health["anthropic"]["breaker"] == "half-open"
    fake.script("anthropic", {"status": 503})  # the probe fails: open again at once
    await agent(runtime, "POST", "/agent/chat", {"message": "hi", "stream": False})
    assert len(fake.calls_to("anthropic")) == 3
    health = {p["provider"]: p for p in (await agent(runtime, "GET", "/agent/health")).json()["result"]["providers"]}
    assert health["anthropic"]["breaker"] == "open"

    clock.advance(61)
    r = await agent(runtime, "POST", "/agent/chat", {"message": "hi", "stream": False})  # the probe answers
    assert r.json()["result"]["provider"] == "anthropic"
    health = {p["provider"]: p for p in (await agent(runtime, "GET", "/agent/health")).json()["result"]["providers"]}
    assert health["anthropic"]["breaker"] == "closed" and health["anthropic"]["consecutiveFailures"] == 0


async def test_a_client_that_disconnects_cancels_the_upstream_stream(runtime, fake):
    await configure(runtime, fake, ["openai"])
    fake.script("openai", {"text": ["first", " second"], "hold_after": 1})
    app = runtime.app(AGENT)
    body = json.dumps({"message": "long answer please"}).encode()
    got_token = asyncio.Event()
    sent: list[bytes] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await got_token.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            sent.append(message["body"])
            if b"event: token" in message["body"]:
                got_token.set()

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/agent/chat", "raw_path": b"/agent/chat",
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
             "headers": [(b"content-type", b"application/json"),
                         (b"x-internal-auth-key", runtime.env(AGENT).INTERNAL_KEY_BINDING.encode())],
             "env": runtime.env(AGENT), "state": {}}
    await asyncio.wait_for(app(scope, receive, send), timeout=10)
    assert await asyncio.to_thread(fake.wait_closed, "openai")
    text = b"".join(sent).decode()
    assert "first" in text and "second" not in text and "event: usage" not in text


# --------------------------------------------------------------------------- vision, embeddings
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


async def test_an_image_reaches_only_a_provider_that_takes_images(runtime, fake):
    await configure(runtime, fake, ["workers-ai", "local", "anthropic"])
    fake.script("anthropic", {"text": ["An uptrend."], "usage": (900, 3)})
    r = await agent(runtime, "POST", "/agent/vision",
                    {"image": base64.b64encode(PNG).decode(), "mimeType": "image/png", "prompt": "trend?"})
    assert r.status == 200, r.json()
    res = r.json()["result"]
    assert res["provider"] == "anthropic" and res["text"] == "An uptrend."
    assert [(t["provider"], t["error"]) for t in res["trail"]] == [("workers-ai", "no_images"), ("local", "no_images")]
    assert fake.calls_to("workers-ai") == [] and fake.calls_to("openai") == []
    [call] = fake.calls_to("anthropic")
    image = call.body["messages"][-1]["content"][0]
    assert image["type"] == "image" and base64.b64decode(image["source"]["data"]) == PNG


async def test_vision_refuses_an_image_over_the_limit_and_a_bad_field(runtime, fake):
    await configure(runtime, fake, ["anthropic"], maxImageBytes=1000)
    big = {"image": base64.b64encode(PNG).decode(), "mimeType": "image/png"}
    r = await agent(runtime, "POST", "/agent/vision", big)
    assert r.status == 413 and r.json()["error"]["details"][0]["field"] == "image"
    r = await agent(runtime, "POST", "/agent/vision", {"image": "aGk=", "mimeType": "text/html"})
    assert r.status == 400 and r.json()["error"]["details"][0]["field"] == "mimeType"
    assert fake.calls == []


async def test_embeddings_come_from_the_first_provider_that_has_an_embedding_model(runtime, fake):
    await configure(runtime, fake, ["anthropic", "openai"])
    r = await agent(runtime, "POST", "/agent/embedding", {"texts": ["BTC long", "SOL short!"]})
    res = r.json()["result"]
    assert res["provider"] == "openai" and res["vectors"] == [[8.0, 0.0, 0.5], [10.0, 1.0, 0.5]]
    assert res["trail"][0]["error"] == "no_embeddings"


# --------------------------------------------------------------------------- usage, prices, prompts, config
async def test_usage_per_provider_and_day_with_the_cost_from_the_price_table(runtime, fake, clock):
    await configure(runtime, fake, ["anthropic"])
    await settings.put(runtime.env(GW).CONFIG_KV, "agent:prices",
                       {"claude-3-5-haiku-latest": {"input": 0.8, "output": 4}})
    fake.script("anthropic", {"text": ["a"], "usage": (1000, 500)}, {"text": ["b"], "usage": (2000, 100)})
    for _ in range(2):
        await agent(runtime, "POST", "/agent/chat", {"message": "hi", "stream": False})
    [day] = (await agent(runtime, "GET", "/agent/usage")).json()["result"]["days"]
    assert (day["provider"], day["requests"], day["inputTokens"], day["outputTokens"]) == ("anthropic", 2, 3000, 600)
    assert day["cost"] == pytest.approx((3000 * 0.8 + 600 * 4) / 1e6)
    r = await agent(runtime, "GET", "/agent/usage?since=yesterday")
    assert r.status == 400 and r.json()["error"]["details"][0]["field"] == "since"


async def test_prompts_are_versioned_and_a_chat_uses_the_latest(runtime, fake):
    await configure(runtime, fake, ["openai"])
    for text in ("You are terse.", "You are terse and quote figures."):
        assert (await agent(runtime, "POST", "/agent/prompts", {"name": "desk", "text": text})).status == 200
    listed = (await agent(runtime, "GET", "/agent/prompts")).json()["result"]["prompts"]
    assert [(p["name"], p["version"], p["versions"]) for p in listed] == [("desk", 2, 2)]
    await agent(runtime, "POST", "/agent/chat", {"message": "hi", "prompt": "desk", "stream": False})
    assert fake.calls_to("openai")[0].body["messages"][0] == {"role": "system",
                                                              "content": "You are terse and quote figures."}
    r = await agent(runtime, "POST", "/agent/chat", {"message": "hi", "prompt": "nope"})
    assert r.status == 400 and r.json()["error"]["details"][0]["field"] == "prompt"


@pytest.mark.parametrize(("change", "field_text"), [
    ({"order": ["nobody"]}, "order names 'nobody'"),
    ({"retries": 9}, "retries must be a whole number from 0 to 5"),
    ({"breaker": {"threshold": 0}}, "breaker.threshold"),
    ({"providers": {"x": {"kind": "openai", "model": "m", "keySecret": "INTERNAL_KEY_BINDING"}}, "order": ["x"]},
     "providers.x.keySecret must be empty or one of"),
])
async def test_a_bad_config_is_refused_naming_the_field_and_the_rule(runtime, fake, change, field_text):
    await configure(runtime, fake, ["openai"])
    before = await settings.get(runtime.env(GW).CONFIG_KV, "agent:config")
    r = await agent(runtime, "POST", "/agent/ai-config", {"value": before | change})
    assert r.status == 400 and field_text in r.json()["error"]["message"]
    assert await settings.get(runtime.env(GW).CONFIG_KV, "agent:config") == before


async def test_models_and_test_model_report_each_provider(runtime, fake):
    await configure(runtime, fake, ["anthropic", "gemini"])
    fake.script("gemini", {"status": 500})
    models = (await agent(runtime, "GET", "/agent/models")).json()["result"]["providers"]
    assert [(m["name"], m["configured"], "vision" in m["capabilities"]) for m in models] == [
        ("anthropic", True, True), ("gemini", True, True)]
    ok = (await agent(runtime, "POST", "/agent/test-model", {"provider": "anthropic"})).json()["result"]
    assert ok["ok"] is True and ok["text"] == "Hello there"
    bad = (await agent(runtime, "POST", "/agent/test-model", {"provider": "gemini"})).json()["result"]
    assert bad["ok"] is False and bad["error"] == "server_error"
    r = await agent(runtime, "POST", "/agent/test-model", {"provider": "nope"})
    assert r.status == 400 and r.json()["error"]["details"][0]["field"] == "provider"


async def test_without_any_provider_configured_chat_says_it_is_not_available(runtime):
    r = await agent(runtime, "POST", "/agent/chat", {"message": "hi", "stream": False})
    assert r.status == 503 and r.json()["error"]["code"] == "NOT_AVAILABLE"
    assert "no provider is configured" in r.json()["error"]["message"]


async def test_the_operator_api_reaches_the_gateway_as_v1_agent(runtime, fake):
    await configure(runtime, fake, ["openai"])
    token = runtime.env(GW).OPERATOR_API_KEY
    auth = {"Authorization": f"Bearer {token}"}
    r = await runtime.request(GW, "POST", "/v1/agent/chat", json={"message": "hi"}, headers=auth)
    assert r.status == 200 and [e for e, _ in sse(r.body)] == ["provider", "token", "token", "usage"]
    r = await runtime.request(GW, "GET", "/v1/agent/health", headers=auth)
    assert r.status == 200 and r.json()["result"]["providers"][0]["provider"] == "openai"
    assert (await runtime.request(GW, "GET", "/v1/agent/health")).status == 401


# --------------------------------------------------------------------------- secrets
async def test_no_provider_key_appears_in_any_stored_file_or_output(runtime, fake, workspace, caplog):
    caplog.set_level(logging.DEBUG)
    await configure(runtime, fake, ["anthropic", "openai", "gemini"])
    fake.keys["anthropic"] = "a-different-key"  # the fake now refuses ours and quotes it back
    fake.script("openai", {"status": 500})
    outputs = [await agent(runtime, "POST", "/agent/chat", {"message": "hi"}),
               await agent(runtime, "POST", "/agent/chat", {"message": "hi", "stream": False}),
               await agent(runtime, "GET", "/agent/health"), await agent(runtime, "GET", "/agent/models"),
               await agent(runtime, "GET", "/agent/ai-config"),
               await agent(runtime, "POST", "/agent/test-model", {"provider": "anthropic"})]
    assert any(b"invalid api key" in o.body for o in outputs)
    assert_no_provider_key(workspace, [o.body for o in outputs] + [caplog.text.encode()])


# --------------------------------------------------------------------------- Telegram free text
async def test_telegram_free_text_is_answered_by_the_gateway_with_its_provider(runtime, fake, workspace):
    from fake_telegram import FakeTelegram, message_update

    with FakeTelegram() as bot:
        workspace.set_secret("TELEGRAM_BOT_TOKEN", "123456789:AAH-ai-desk-token_xyz")
        workspace.set_secret("TELEGRAM_CHAT_ID", "111")
        workspace.set_secret("TELEGRAM_WEBHOOK_SECRET", "ai-desk-secret_0123456789")
        workspace.set_secret("TELEGRAM_API_BASE", bot.url)
        await configure(runtime, fake, ["anthropic", "openai"])
        fake.script("anthropic", {"status": 503})
        fake.script("openai", {"text": ["Hold ", "<BTC> ", "& wait."], "usage": (9, 3)})
        headers = {"X-Telegram-Bot-Api-Secret-Token": "ai-desk-secret_0123456789"}
        r = await runtime.request(GW, "POST", "/telegram-webhook", json=message_update(70, "should I close BTC?"),
                                  headers=headers)
        assert r.status == 200
        [typing] = bot.sent("sendChatAction")
        assert typing.body == {"chat_id": 111, "action": "typing"}
        assert bot.calls.index(typing) < bot.calls.index(bot.sent()[0])  # before the answer
        [sent] = [c.body["text"] for c in bot.sent()]
        assert sent.startswith("Hold &lt;BTC&gt; &amp; wait.") and "openai (after anthropic: server_error)" in sent
        assert "should I close BTC?" in json.dumps(fake.calls_to("openai")[0].body)

        fake.script("anthropic", {"status": 503})
        fake.script("openai", {"status": 500})
        await runtime.request(GW, "POST", "/telegram-webhook", json=message_update(71, "and now?"), headers=headers)
        failed = [c.body["text"] for c in bot.sent()][-1]
        assert failed.startswith("AI chat failed: anthropic: HTTP 503") and "openai: HTTP 500" in failed


async def test_half_open_lets_one_probe_through_and_others_pass_it_by(runtime, fake, clock):
    await configure(runtime, fake, ["anthropic", "openai"], breaker={"threshold": 1, "halfOpenSeconds": 60})
    fake.script("anthropic", {"status": 503})
    await agent(runtime, "POST", "/agent/chat", {"message": "hi", "stream": False})  # opens at once
    clock.advance(61)
    fake.script("anthropic", {"text": ["probe ", "answer"], "hold_after": 1})  # the probe stays busy
    probe = asyncio.create_task(agent(runtime, "POST", "/agent/chat", {"message": "probe"}))
    assert await asyncio.to_thread(fake.wait_calls, "anthropic", 2)
    other = (await agent(runtime, "POST", "/agent/chat", {"message": "hi", "stream": False})).json()["result"]
    assert other["provider"] == "openai" and other["trail"][0]["error"] == "circuit_open"
    assert len(fake.calls_to("anthropic")) == 2  # only the probe reached it
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe


async def test_a_provider_failing_mid_answer_ends_it_with_an_error_and_no_fallback(runtime, fake):
    await configure(runtime, fake, ["openai", "anthropic"])
    cfg = await settings.get(runtime.env(GW).CONFIG_KV, "agent:config")
    cfg["providers"]["openai"]["timeoutMs"] = 300
    await settings.put(runtime.env(GW).CONFIG_KV, "agent:config", cfg)
    fake.script("openai", {"text": ["half", " never"], "hold_after": 1})
    events = sse((await agent(runtime, "POST", "/agent/chat", {"message": "hi"})).body)
    assert [e for e, _ in events] == ["provider", "token", "error"]
    assert events[-1][1]["code"] == "AI_STREAM_BROKEN" and events[-1][1]["trail"][0]["error"] == "timeout"
    assert fake.calls_to("anthropic") == []  # the half-shown answer is not swapped for another's
    assert await rows(runtime, "SELECT * FROM ai_usage") == []


async def test_a_telegram_photo_goes_to_vision_on_a_provider_that_takes_images(runtime, fake, workspace):
    from fake_telegram import FakeTelegram, photo_update

    token = "123456789:AAH-ai-photo-token_xyz"
    with FakeTelegram() as bot:
        workspace.set_secret("TELEGRAM_BOT_TOKEN", token)
        workspace.set_secret("TELEGRAM_CHAT_ID", "111")
        workspace.set_secret("TELEGRAM_WEBHOOK_SECRET", "ai-photo-secret_0123456789")
        workspace.set_secret("TELEGRAM_API_BASE", bot.url)
        bot.files["photos/AgAD-large.jpg"] = PNG  # the largest size of the photo
        await configure(runtime, fake, ["workers-ai", "gemini"])
        fake.script("gemini", {"text": ["Higher ", "lows."], "usage": (700, 2)})
        r = await runtime.request(GW, "POST", "/telegram-webhook", json=photo_update(80, caption="trend?"),
                                  headers={"X-Telegram-Bot-Api-Secret-Token": "ai-photo-secret_0123456789"})
        assert r.status == 200
        [sent] = [c.body["text"] for c in bot.sent()]
        assert sent.startswith("Higher lows.") and "gemini (after workers-ai: no_images)" in sent
        assert fake.calls_to("workers-ai") == []
        [call] = fake.calls_to("gemini")
        parts = call.body["contents"][-1]["parts"]
        assert base64.b64decode(parts[0]["inline_data"]["data"]) == PNG and parts[1]["text"] == "trend?"
        assert bot.downloads == [token] and token not in sent
