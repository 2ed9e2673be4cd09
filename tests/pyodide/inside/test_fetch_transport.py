"""Inside Pyodide: a real httpx.AsyncClient over FetchTransport (the runtime's `fetch`) against the
loopback servers tests/test_pyodide_edge.py starts (tests/loopback_servers.py) (their URLs come in os.environ)."""

from __future__ import annotations

import hashlib
import os
import time

import httpx
import pytest
from hoox_edge.cloudflare.fetch_transport import FetchTransport
from hoox_edge.shared.http import http_client

URL = os.environ["HOOX_TEST_URL"]
REFUSED = os.environ["HOOX_REFUSED_URL"]


def test_the_factory_picks_fetch_under_pyodide() -> None:
    assert isinstance(http_client()._transport, FetchTransport)


async def test_json_get_and_post_with_headers_and_body() -> None:
    async with http_client(timeout=5.0) as client:
        got = await client.get(f"{URL}/echo", params={"q": "1", "r": "two words"},
                               headers=[("X-One", "1"), ("X-Multi", "a"), ("X-Multi", "b")])
        assert got.status_code == 200 and got.headers["x-echo"] == "yes"
        doc = got.json()
        assert doc["method"] == "GET" and doc["query"] == "q=1&r=two+words" and doc["body"] == ""
        sent = {k: v for k, v in doc["headers"]}
        assert sent["x-one"] == "1"
        assert sent["x-multi"] == "a, b"  # both values reach the server (fetch joins a repeated name)

        posted = await client.post(f"{URL}/echo", json={"symbol": "BTCUSDT", "qty": 0.01, "note": "é"},
                                   headers={"Authorization": "Bearer t0k3n-value"})
        doc = posted.json()
        assert posted.status_code == 200 and doc["method"] == "POST"
        assert doc["body"] == '{"symbol":"BTCUSDT","qty":0.01,"note":"é"}'
        sent = {k: v for k, v in doc["headers"]}
        assert sent["content-type"] == "application/json" and sent["authorization"] == "Bearer t0k3n-value"

        raw = bytes(range(256)) * 4
        put = await client.put(f"{URL}/echo", content=raw)
        assert put.json()["body"] == raw.decode("utf-8", "replace")


@pytest.mark.parametrize("code", [400, 404, 422, 500, 503])
async def test_4xx_and_5xx_pass_through_as_responses(code: int) -> None:
    async with http_client(timeout=5.0) as client:
        resp = await client.get(f"{URL}/status/{code}")
    assert resp.status_code == code and resp.json() == {"error": f"status {code}"}
    with pytest.raises(httpx.HTTPStatusError):
        resp.raise_for_status()


async def test_a_slow_server_times_out() -> None:
    started = time.monotonic()
    async with http_client(timeout=0.3) as client:
        with pytest.raises(httpx.TimeoutException) as err:
            await client.get(f"{URL}/slow/x?token=sekrit-in-query")
        await client.get(f"{URL}/release")  # the server stops holding the answer back
    assert isinstance(err.value, httpx.ReadTimeout)
    assert time.monotonic() - started < 3
    assert "sekrit" not in str(err.value) and "/slow" not in str(err.value)


async def test_a_body_that_stalls_times_out() -> None:
    async with http_client(timeout=0.3) as client:
        async with client.stream("GET", f"{URL}/stall") as resp:
            assert resp.status_code == 200
            with pytest.raises(httpx.ReadTimeout):
                async for _ in resp.aiter_raw():
                    pass
        await client.get(f"{URL}/release")


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with http_client(timeout=5.0) as client:
        with pytest.raises(httpx.ConnectError) as err:
            await client.post(f"{REFUSED}/bot123456:SECRET-TOKEN/sendMessage", json={"x": 1})
    text = str(err.value)
    assert "SECRET-TOKEN" not in text and "/bot" not in text and REFUSED in text
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no JsException shown


async def test_a_large_body_is_streamed_in_chunks_and_intact() -> None:
    size, digest = int(os.environ["HOOX_BIG_SIZE"]), os.environ["HOOX_BIG_SHA256"]
    h = hashlib.sha256()
    chunks = 0
    largest = 0
    async with http_client(timeout=5.0) as client, client.stream("GET", f"{URL}/big") as resp:
        assert resp.status_code == 200
        async for chunk in resp.aiter_raw():
            h.update(chunk)
            chunks += 1
            largest = max(largest, len(chunk))
    assert h.hexdigest() == digest
    assert chunks > 1 and largest < size  # handed over as it arrived, not as one buffer
    async with http_client(timeout=5.0) as client:  # and read whole, as `client.get` does
        whole = await client.get(f"{URL}/big")
    assert len(whole.content) == size and hashlib.sha256(whole.content).hexdigest() == digest


async def test_redirects_are_followed_by_httpx() -> None:
    async with http_client(timeout=5.0) as client:
        first = await client.get(f"{URL}/redirect")
        assert first.status_code == 302 and first.headers["location"] == "/echo?from=redirect"
        followed = await client.get(f"{URL}/redirect", follow_redirects=True)
    assert followed.status_code == 200 and followed.json()["query"] == "from=redirect"
    assert [r.status_code for r in followed.history] == [302]


async def test_a_compressed_answer_is_decoded_once() -> None:
    async with http_client(timeout=5.0) as client:
        resp = await client.get(f"{URL}/gzip")
    assert resp.json()["compressed"] is True


async def test_every_set_cookie_comes_back() -> None:
    async with http_client(timeout=5.0) as client:
        resp = await client.get(f"{URL}/cookies")
    assert len(resp.headers.get_list("set-cookie")) == 2
    assert resp.cookies["a"] == "1" and resp.cookies["b"] == "2"


async def test_a_body_not_read_can_be_closed() -> None:
    async with http_client(timeout=5.0) as client:
        async with client.stream("GET", f"{URL}/big") as resp:
            first = await resp.aiter_raw().__anext__()
            assert first
        ok = await client.get(f"{URL}/echo")  # the client is still usable
    assert ok.status_code == 200


async def test_a_scheme_fetch_does_not_speak_is_refused() -> None:
    async with httpx.AsyncClient(transport=FetchTransport()) as client:
        with pytest.raises(httpx.UnsupportedProtocol):
            await client.get("ftp://127.0.0.1/x")


# ---------------------------------------------------------------- the exchanges' call path
def _binance(base_url: str):  # type: ignore[no-untyped-def]
    from hoox_edge.exchanges.binance import BinanceFutures
    from hoox_edge.exchanges.live import Credentials
    from hoox_edge.ports import Env

    creds = Credentials(os.environ["HOOX_BINANCE_KEY"], os.environ["HOOX_BINANCE_SECRET"])
    return BinanceFutures(Env({}, worker="trade-worker"), base_url=base_url, creds=creds, timeout=5.0)


async def test_a_live_exchange_call_goes_out_through_fetch() -> None:
    ex = _binance(os.environ["HOOX_BINANCE_URL"])
    try:
        await ex.set_leverage("BTCUSDT", 5)  # signed; the fake checks the signature itself
        assert isinstance(ex._http()._transport, FetchTransport)
    finally:
        await ex.aclose()


async def test_a_refused_exchange_is_unavailable_not_an_escape() -> None:
    from hoox_edge.exchanges.base import ExchangeError

    ex = _binance(REFUSED)
    try:
        with pytest.raises(ExchangeError) as err:
            await ex.set_leverage("BTCUSDT", 5)
    finally:
        await ex.aclose()
    assert err.value.kind == "unavailable" and err.value.code == "UNREACHABLE"
    assert os.environ["HOOX_BINANCE_SECRET"] not in str(err.value)


async def test_an_exchange_that_does_not_answer_is_a_timeout() -> None:
    from hoox_edge.exchanges.base import ExchangeError

    ex = _binance(f"{URL}/slow")
    ex.timeout = 0.3
    try:
        with pytest.raises(ExchangeError) as err:
            await ex.set_leverage("BTCUSDT", 5)
    finally:
        await ex.aclose()
        async with http_client() as client:
            await client.get(f"{URL}/release")
    assert err.value.kind == "timeout"  # sent: it may have been carried out


async def test_a_refused_telegram_delivery_is_a_retryable_failure_without_the_token() -> None:
    from hoox_edge.ports import Env
    from hoox_edge.shared.telegram_api import call

    token = "123456:SECRET-BOT-TOKEN"
    env = Env({"TELEGRAM_API_BASE": REFUSED, "TELEGRAM_BOT_TOKEN": token}, worker="telegram-worker",
              secret_names=["TELEGRAM_BOT_TOKEN"])
    answer = await call(env, token, "sendMessage", {"chat_id": 42, "text": "hello", "parse_mode": "HTML"})
    assert answer.error and "could not reach" in answer.error and token not in answer.error
    assert answer.retryable  # the alert outbox tries it again later
