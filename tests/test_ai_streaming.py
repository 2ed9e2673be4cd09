"""Issue 15: a chat streams through the gateway token by token. `/v1/agent/chat` relays agent-worker's
SSE over its service binding as it comes (the operator sees the first token while the provider still
holds the rest), an operator who goes ends the provider's stream, and `hoox agent chat` prints each
token as it arrives. The local runtime serves the workers over HTTP; every provider is
tests/fake_ai.py (loopback)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fake_ai import FakeAI
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from hoox_edge.shared import settings
from test_ai_gateway import sse

GW = "hoox"
KEY = "sk-proj-stream-test-5a4b3c2d1e0f9a8b7c6d"
DEADLINE = 20.0  # seconds for what must come at once; a loaded machine is slow, never this slow


@pytest.fixture
def fake(workspace: Workspace) -> Any:
    with FakeAI(keys={"openai": KEY}) as f:
        workspace.set_secret("OPENAI_API_KEY", KEY)
        yield f


@pytest.fixture
def release(fake: FakeAI) -> Any:
    """Lets the fake provider send the rest of a paused answer; always set at the end, so a failing
    test never leaves the fake's thread waiting."""
    event = threading.Event()
    yield event
    event.set()


async def configure(rt: LocalRuntime, fake: FakeAI) -> None:
    await settings.put(rt.env(GW).CONFIG_KV, "agent:config", {
        # A provider timeout far past DEADLINE: what ends a held stream in these tests is never its timer.
        "order": ["openai"], "retries": 0, "timeoutMs": 120_000,
        "providers": {"openai": {"kind": "openai", "model": "gpt-4o-mini", "baseUrl": fake.url + "/v1"}}})


async def read_until(chunks: AsyncIterator[str], wanted: str) -> str:
    text = ""
    while wanted not in text:
        text += await anext(chunks)
    return text


def chat_url(rt: LocalRuntime) -> str:
    return f"http://127.0.0.1:{rt.ports[GW]}/v1/agent/chat"


def auth(rt: LocalRuntime) -> dict[str, str]:
    return {"Authorization": f"Bearer {rt.env(GW).OPERATOR_API_KEY}"}


async def test_v1_agent_chat_delivers_the_first_token_while_the_provider_holds_the_rest(edge, fake, release, clock):
    await configure(edge, fake)
    fake.script("openai", {"text": ["first", " second", " third"], "usage": (9, 3), "pause_after": 1,
                           "release": release})
    async with httpx.AsyncClient(timeout=DEADLINE) as client, \
            client.stream("POST", chat_url(edge), json={"message": "hi"}, headers=auth(edge)) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        chunks = r.aiter_text()
        text = await asyncio.wait_for(read_until(chunks, '"first"'), DEADLINE)
        assert "second" not in text  # the provider has not sent it yet: the token came on its own
        release.set()
        async for chunk in chunks:
            text += chunk
    events = sse(text.encode())
    assert [e for e, _ in events] == ["provider", "token", "token", "token", "usage"]
    assert "".join(d["text"] for e, d in events if e == "token") == "first second third"
    assert (events[-1][1]["inputTokens"], events[-1][1]["outputTokens"]) == (9, 3)


async def test_an_operator_who_leaves_v1_agent_chat_cancels_the_providers_stream(edge, fake, clock):
    await configure(edge, fake)
    fake.script("openai", {"text": ["first", " second"], "hold_after": 1})  # holds until its client goes
    async with httpx.AsyncClient(timeout=DEADLINE) as client, \
            client.stream("POST", chat_url(edge), json={"message": "a long answer"}, headers=auth(edge)) as r:
        assert r.status_code == 200
        await asyncio.wait_for(read_until(r.aiter_text(), '"first"'), DEADLINE)
    # The operator's connection is closed: the gateway's relay closes the binding's stream, agent-worker
    # sees its caller go and closes the provider's connection.
    assert await asyncio.to_thread(fake.wait_closed, "openai", DEADLINE)


async def test_hoox_agent_chat_prints_each_token_as_it_arrives(edge, fake, release, workspace, clock):
    await configure(edge, fake)
    fake.script("openai", {"text": ["first", " second"], "usage": (4, 2), "pause_after": 1, "release": release})
    env = dict(os.environ, HOOX_WORKSPACE=str(workspace.root), PYTHONUNBUFFERED="1")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "hoox_cli", "agent", "chat", "hello",
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                env=env)
    assert proc.stdout is not None and proc.stderr is not None

    async def printed() -> AsyncIterator[str]:
        while chunk := await proc.stdout.read(4096):  # type: ignore[union-attr]
            yield chunk.decode()

    try:
        out = printed()
        text = await asyncio.wait_for(read_until(out, "first"), DEADLINE)
        assert "second" not in text  # printed while the provider still holds the rest
        release.set()
        async for chunk in out:
            text += chunk
        rc = await asyncio.wait_for(proc.wait(), DEADLINE)
        err = (await proc.stderr.read()).decode()
        assert rc == 0, err
        assert text.startswith("first second")
        assert "openai (gpt-4o-mini), 4 in / 2 out tokens" in text
        assert KEY not in text + err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
