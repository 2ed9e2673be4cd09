"""What the AI gateway's tests share: the provider keys, each provider's config pointing at the
loopback fake (tests/fake_ai.py), calls to agent-worker, SSE parsing and the signals that fill a book."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fake_ai import FakeAI
from hoox_edge.shared import settings

AGENT = "agent-worker"
GW = "hoox"
KEYS = {
    "ANTHROPIC_API_KEY": "sk-ant-test-9f8e7d6c5b4a39281706",
    "OPENAI_API_KEY": "sk-proj-test-0a1b2c3d4e5f60718293",
    "GOOGLE_AI_API_KEY": "AIzaTest-4d5e6f7a8b9c0d1e2f3a4b",
    "CLOUDFLARE_API_TOKEN": "cf-token-test-7a6b5c4d3e2f1a0b9c8d",
    "AZURE_OPENAI_API_KEY": "azure-test-1234567890abcdef1234",
}
ROUTE_KEY = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "gemini": "GOOGLE_AI_API_KEY",
             "workers-ai": "CLOUDFLARE_API_TOKEN", "azure": "AZURE_OPENAI_API_KEY"}


@contextmanager
def keyed_fake(workspace: Any) -> Iterator[FakeAI]:
    """The providers' fake, each route taking its key, the keys set as the workspace's secrets."""
    with FakeAI(keys={route: KEYS[name] for route, name in ROUTE_KEY.items()}) as f:
        for name, value in KEYS.items():
            workspace.set_secret(name, value)
        yield f


def providers(fake: FakeAI) -> dict[str, dict[str, Any]]:
    return {
        "workers-ai": {"kind": "workers-ai", "model": "@cf/meta/llama-3.1-8b-instruct", "accountId": "acct0123",
                       "baseUrl": fake.url + "/client/v4", "embeddingModel": "@cf/baai/bge-base-en-v1.5"},
        "anthropic": {"kind": "anthropic", "model": "claude-3-5-haiku-latest", "baseUrl": fake.url},
        "gemini": {"kind": "gemini", "model": "gemini-2.0-flash", "baseUrl": fake.url},
        "openai": {"kind": "openai", "model": "gpt-4o-mini", "baseUrl": fake.url + "/v1",
                   "embeddingModel": "text-embedding-3-small"},
        "azure": {"kind": "azure-openai", "model": "desk-gpt4o", "baseUrl": fake.url},
        "local": {"kind": "openai-compatible", "model": "llama3.2", "baseUrl": fake.url + "/v1", "keySecret": ""},
    }


async def configure(rt, fake: FakeAI, order: list[str], **top: Any) -> None:
    value = {"order": order, "providers": providers(fake), "timeoutMs": 3000, "retries": 0, "backoffMs": 0} | top
    await settings.put(rt.env(GW).CONFIG_KV, "agent:config", value)


async def agent(rt, method: str, path: str, body: Any = None):
    return await rt.request(AGENT, method, path, json=body,
                            headers={"X-Internal-Auth-Key": rt.env(AGENT).INTERNAL_KEY_BINDING})


def sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


async def rows(rt, sql: str, *args: Any) -> list[dict[str, Any]]:
    return (await rt.env(GW).DB.prepare(sql).bind(*args).all())["results"]


async def signal(rt, **fields: Any) -> None:
    body = {"apiKey": rt.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "symbol": "SOLUSDT"} | fields
    r = await rt.request(GW, "POST", "/webhook", json=body)
    assert r.status == 200, r.json()


async def price(rt, symbol: str, value: float) -> None:
    await settings.put(rt.env(GW).CONFIG_KV, f"exchanges:paper:price:{symbol}", value)


def assert_no_provider_key(workspace: Any, texts: list[bytes]) -> None:
    """No provider key in `texts` (answers, logs) nor in any file of the workspace but `.dev.vars`."""
    texts = list(texts)
    for path in workspace.root.rglob("*"):
        if path.is_file() and path.name != ".dev.vars":
            texts.append(path.read_bytes())
    for secret in KEYS.values():
        assert not any(secret.encode() in t for t in texts), secret
