"""`http_client()` in CPython: httpx's own transport (on Cloudflare it is FetchTransport, which
tests/test_pyodide_edge.py runs inside real Pyodide)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator

import httpx
import pytest
from hoox_edge.shared.http import http_client, tls_for
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


def test_one_verifying_tls_context_per_process_and_none_loaded_for_plain_http() -> None:
    """Every client shares the CA bundle loaded once (httpx would load it per client, ~20 ms each); a
    client whose base URL is plain http gets a context that trusts nothing, so it could never accept a
    certificate if it were ever used."""
    verified = tls_for()
    assert tls_for("https://hoox.example.workers.dev") is verified
    assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
    assert verified.cert_store_stats() == httpx.create_ssl_context().cert_store_stats()  # httpx's own CAs
    plain = tls_for("http://127.0.0.1:8787")
    assert plain is not verified and plain.cert_store_stats()["x509_ca"] == 0
    assert plain.verify_mode == ssl.CERT_REQUIRED and plain.check_hostname
    client = http_client()
    try:
        assert client._transport._pool._ssl_context is verified  # type: ignore[attr-defined]
    finally:
        asyncio.run(client.aclose())
