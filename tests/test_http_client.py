"""`http_client()` in CPython: httpx's own transport (on Cloudflare it is FetchTransport, which
tests/test_pyodide_edge.py runs inside real Pyodide)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from hoox_edge.shared.http import http_client
from loopback_servers import LoopbackServers


@pytest.fixture(scope="module")
def servers() -> Iterator[LoopbackServers]:
    s = LoopbackServers().start()
    try:
        yield s
    finally:
        s.stop()


def test_http_client_keeps_httpx_transport_in_cpython() -> None:
    client = http_client(timeout=3.0)
    try:
        assert isinstance(client._transport, httpx.AsyncHTTPTransport)
        assert client.timeout.read == 3.0 and client.timeout.connect == 3.0
    finally:
        asyncio.run(client.aclose())


async def test_http_client_reaches_a_loopback_server_in_cpython(servers: LoopbackServers) -> None:
    async with http_client(timeout=5.0) as client:
        resp = await client.post(f"{servers.url}/echo", json={"a": 1})
    assert resp.status_code == 200 and resp.json()["body"] == '{"a":1}'


def test_http_client_honours_a_given_transport() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(204))
    client = http_client(transport=transport)
    assert client._transport is transport
    asyncio.run(client.aclose())
