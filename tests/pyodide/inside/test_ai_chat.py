"""The AI gateway's streamed chat in Pyodide, as Cloudflare runs it: agent-worker's `Default.fetch`
(entry.py) on Miniflare's D1 and KV calls a loopback OpenAI (tests/fake_ai.py, served by the CPython
side) through the fetch transport and answers `/agent/chat` as SSE; the gateway's `/v1/agent/chat`
reaches it over a Miniflare service binding and relays that SSE through the binding's stream. Both
answers are read from the JS body's reader: the events in order, the usage last."""

from __future__ import annotations

import json
import os
from typing import Any

from hoox_edge import migrations
from hoox_edge.cloudflare.d1 import CloudflareD1
from hoox_edge.cloudflare.kv import CloudflareKV
from hoox_edge.shared import settings
from workers_js import body_chunks, ctx, entry, gateway_bindings, js_object, request

INTERNAL = "in-" + "i" * 30
OPERATOR = "op-" + "o" * 30
JSON = {"content-type": "application/json"}


def events(chunks: list[str]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in "".join(chunks).split("\n\n"):
        if block.strip():
            fields = dict(line.split(": ", 1) for line in block.splitlines())
            out.append((fields["event"], json.loads(fields["data"])))
    return out


class Workers:
    """agent-worker and the gateway over one Miniflare, the gateway's AGENT_SERVICE bound to agent-worker."""

    def __init__(self) -> None:
        self.b = gateway_bindings(AGENT_SERVICE=self._to_agent)
        common = {"DB": self.b.DB, "CONFIG_KV": self.b.CONFIG_KV, "INTERNAL_KEY_BINDING": INTERNAL}
        self.agent = entry("agent-worker").Default(ctx(), js_object(
            {**common, "OPENAI_API_KEY": os.environ["HOOX_AI_KEY"]}))
        self.gateway = entry("hoox").Default(ctx(), js_object(
            {**common, "OPERATOR_API_KEY": OPERATOR, "AGENT_SERVICE": self.b.AGENT_SERVICE}))

    async def _to_agent(self, req: Any) -> Any:
        return await self.agent.fetch(req)

    async def prepare(self) -> None:
        await migrations.apply(CloudflareD1(self.b.DB))
        await settings.put(CloudflareKV(self.b.CONFIG_KV), "agent:config", {
            "order": ["openai"], "retries": 0, "timeoutMs": 30_000,
            "providers": {"openai": {"kind": "openai", "model": "gpt-4o-mini",
                                     "baseUrl": os.environ["HOOX_AI_URL"] + "/v1"}}})


async def test_agent_chat_streams_sse_in_order_with_the_usage_last_direct_and_through_the_gateway() -> None:
    w = Workers()
    await w.prepare()

    direct = await w.agent.fetch(request("/agent/chat", "POST", {"message": "hello"},
                                         {**JSON, "x-internal-auth-key": INTERNAL}))
    assert direct.status == 200, await direct.text()
    assert direct.headers.get("content-type").startswith("text/event-stream")
    got = events(await body_chunks(direct))
    assert [e for e, _ in got] == ["provider", "token", "token", "token", "usage"], got
    assert "".join(d["text"] for e, d in got if e == "token") == "Streamed from a fake."
    assert got[-1][1]["provider"] == "openai" and (got[-1][1]["inputTokens"], got[-1][1]["outputTokens"]) == (11, 3)

    relayed = await w.gateway.fetch(request("/v1/agent/chat", "POST", {"message": "hello again"},
                                            {**JSON, "authorization": f"Bearer {OPERATOR}"}))
    assert relayed.status == 200, await relayed.text()
    assert relayed.headers.get("content-type").startswith("text/event-stream")
    got = events(await body_chunks(relayed))
    assert [e for e, _ in got] == ["provider", "token", "token", "token", "usage"], got
    assert "".join(d["text"] for e, d in got if e == "token") == "Streamed from a fake."
    assert got[-1][1]["outputTokens"] == 3
