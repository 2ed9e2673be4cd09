"""The local edge over real loopback HTTP: connections survive errors, slow ones are closed, and a
client cannot claim another address.

- An unhandled error answers the 500 envelope and the next request on the same keep-alive
  connection is answered (shared/app.py's guard does not re-raise).
- A malformed request (no request line, no Host, a bad header, a bad chunk, two lengths) is answered
  400 MALFORMED_REQUEST and its connection closed, a head over 16 KiB 431 HEADERS_TOO_LARGE (read by a
  client still sending 200 KB of it); a 404 and pipelined requests keep the connection.
- A connection that sends nothing, half a head, or half a body is closed by the server after the
  runtime's request timeout; an idle keep-alive connection after its keep-alive timeout; a request
  the app takes longer than that to answer is not cut (local/protocol.py). Each test waits on the
  condition "the socket reads EOF" (with a generous hang guard), never on a sleep.
- `X-Forwarded-For` / `Forwarded` from a loopback client do not pass the TradingView allowlist;
  from a peer listed in `webhook:trusted_proxies` they do (shared/origin.py).
- A KV key whose percent-encoded bytes are not UTF-8 is refused 400, not read as another key.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.shared import settings
from netutil import free_base_port

HANG_GUARD = 30.0  # seconds before a socket read gives up: only a hung server reaches it
REQUEST_TIMEOUT = 0.3  # the runtime's request timeout in these tests (production: 10 s)
KEEP_ALIVE = 0.3


@pytest.fixture
async def served(workspace) -> AsyncIterator[LocalRuntime]:
    """The gateway and d1-worker over HTTP on free ports, with short connection timeouts."""
    rt = LocalRuntime(workspace, base_port=free_base_port(), workers=["hoox", "d1-worker"],
                      request_timeout=REQUEST_TIMEOUT, keep_alive_timeout=KEEP_ALIVE)
    await rt.start(serve_http=True)
    try:
        yield rt
    finally:
        await rt.stop()


def _connect(rt: LocalRuntime, worker: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", rt.ports[worker]), timeout=HANG_GUARD)
    return sock


def _read_response(sock: socket.socket, buf: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body (what the workers send) from `sock`."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    body = bytearray(rest)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection mid-body")
        body += chunk
    buf[:] = body[length:]
    return status, headers, bytes(body[:length])


def _reads_eof(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    out = bytearray()
    while chunk := sock.recv(65536):
        out += chunk
    return bytes(out)


def _get(path: str, key: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Internal-Auth-Key: {key}\r\n\r\n".encode()


# --------------------------------------------------------------------------- keep-alive after an error
async def test_an_unhandled_error_answers_the_envelope_and_keeps_the_connection(served, monkeypatch):
    from hoox_edge.workers import d1

    async def broken(env, mode=None):
        raise RuntimeError("boom with request data")

    monkeypatch.setattr(d1, "dashboard_stats", broken)
    key = served.env("d1-worker").INTERNAL_KEY_BINDING

    def two_requests_on_one_connection() -> list[tuple[int, dict[str, str], bytes]]:
        with _connect(served, "d1-worker") as sock:
            buf = bytearray()
            sock.sendall(_get("/api/dashboard/stats", key))
            first = _read_response(sock, buf)
            sock.sendall(_get("/health", key))
            return [first, _read_response(sock, buf)]

    (s1, h1, b1), (s2, _, b2) = await asyncio.to_thread(two_requests_on_one_connection)
    assert s1 == 500 and h1.get("connection") != "close"
    err = json.loads(b1)
    assert err["success"] is False and err["error"]["code"] == "INTERNAL_ERROR"
    assert "boom" not in b1.decode()  # the exception text is not shown
    assert s2 == 200 and json.loads(b2)["status"] == "ok"


# --------------------------------------------------------------------------- malformed requests
@pytest.mark.parametrize("sent", [
    b"GARBAGE\r\n\r\n",  # no request line
    b"GET /health HTTP/1.1\r\nX-A: b\r\n\r\n",  # HTTP/1.1 without Host
    b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",  # a space in a header name
    b"POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",  # bad chunk size
    b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",  # two lengths
])  # fmt: skip
async def test_a_malformed_request_is_answered_400_and_closed(served, sent):
    answer = await _sent_then_closed(served, sent)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:80]
    assert _envelope(answer)["error"]["code"] == "MALFORMED_REQUEST"


@pytest.mark.parametrize("pad", [17 * 1024, 200 * 1024])
async def test_a_head_over_16_kib_is_answered_431_and_the_client_reads_it(served, pad):
    # The client sends its whole head before it reads: closing while it still sends would reset the
    # connection and lose the answer (200 KB), so the server drains until the client is done.
    sent = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * pad + b"\r\n\r\n"
    answer = await _sent_then_closed(served, sent)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    err = _envelope(answer)["error"]
    assert err["code"] == "HEADERS_TOO_LARGE" and "16 KiB" in err["message"]


def _envelope(answer: bytes) -> dict:
    """The JSON error envelope of a refusal: the edge's, as every other error."""
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return json.loads(body)


async def test_bad_bytes_after_a_complete_request_are_refused_after_its_answer(served):
    # The signal is taken (queued: trade-worker does not run here): its sender must read that
    # answer, then the 400 for what followed it.
    body = json.dumps({"apiKey": served.env("hoox").WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG",
                       "symbol": "BTCUSDT", "quantity": 0.01, "idempotencyKey": "junk-after"}).encode()
    sent = (b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body + b"GARBAGE\r\n\r\n")
    answer = await _sent_then_closed(served, sent)
    first, _, rest = answer.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 202 "), answer[:200]
    assert b'"status":"Enqueued"' in rest and b"HTTP/1.1 400 " in rest, rest[-200:]


async def _sent_then_closed(served, sent: bytes) -> bytes:
    """What the gateway answers to `sent` on a connection of its own, read until it closes it."""
    def send() -> bytes:
        with _connect(served, "hoox") as sock:
            sock.sendall(sent)
            return _reads_eof(sock)

    return await asyncio.to_thread(send)


async def test_a_head_under_the_bound_is_served(served):
    key = served.env("d1-worker").INTERNAL_KEY_BINDING
    pad = f"X-Pad: {'p' * 12 * 1024}\r\n".encode()

    def padded() -> int:
        with _connect(served, "d1-worker") as sock:
            sock.sendall(_get("/health", key).replace(b"\r\n\r\n", b"\r\n" + pad + b"\r\n"))
            return _read_response(sock, bytearray())[0]

    assert await asyncio.to_thread(padded) == 200


async def test_a_client_error_and_pipelined_requests_keep_the_connection(served):
    key = served.env("d1-worker").INTERNAL_KEY_BINDING

    def on_one_connection() -> list[int]:
        with _connect(served, "d1-worker") as sock:
            buf = bytearray()
            sock.sendall(_get("/no-such-route", key))
            statuses = [_read_response(sock, buf)[0]]
            sock.sendall(_get("/health", key) * 3)  # pipelined: answered in order
            return statuses + [_read_response(sock, buf)[0] for _ in range(3)]

    assert await asyncio.to_thread(on_one_connection) == [404, 200, 200, 200]


# --------------------------------------------------------------------------- timeouts
@pytest.mark.parametrize("sent", [
    b"",  # connects and sends nothing
    b"GET /health HTTP/1.1\r\nHo",  # half a head
    b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a",
])  # fmt: skip
async def test_an_idle_or_half_sent_request_is_closed_by_the_server(served, sent):
    answer = await _sent_then_closed(served, sent)
    assert b"200 OK" not in answer  # closed, never answered as if complete


async def test_an_idle_keep_alive_connection_is_closed_after_its_response(served):
    key = served.env("d1-worker").INTERNAL_KEY_BINDING

    def one_request_then_idle() -> tuple[int, bytes]:
        with _connect(served, "d1-worker") as sock:
            buf = bytearray()
            sock.sendall(_get("/health", key))
            status, _, _ = _read_response(sock, buf)
            return status, bytes(buf) + _reads_eof(sock)

    status, rest = await asyncio.to_thread(one_request_then_idle)
    assert status == 200 and rest == b""


async def test_a_request_the_app_takes_long_to_answer_is_not_cut(served, monkeypatch):
    """The request timeout covers receiving a request, not answering it (an event stream runs for hours)."""
    from hoox_edge.workers import d1

    started, release = asyncio.Event(), asyncio.Event()
    original = d1.dashboard_stats

    async def slow(env, mode=None):
        started.set()
        await release.wait()
        return await original(env, mode)

    monkeypatch.setattr(d1, "dashboard_stats", slow)
    key = served.env("d1-worker").INTERNAL_KEY_BINDING

    def slow_request() -> int:
        with _connect(served, "d1-worker") as sock:
            sock.sendall(_get("/api/dashboard/stats", key))
            return _read_response(sock, bytearray())[0]

    def half_request_closed() -> bytes:
        with _connect(served, "d1-worker") as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\n")
            return _reads_eof(sock)

    waiting = asyncio.ensure_future(asyncio.to_thread(slow_request))
    await asyncio.wait_for(started.wait(), HANG_GUARD)
    # A connection opened after the slow request started has now been closed by the timeout, so the
    # slow request has been in the app for longer than the request timeout.
    await asyncio.to_thread(half_request_closed)
    assert not waiting.done()
    release.set()
    assert await asyncio.wait_for(waiting, HANG_GUARD) == 200


# --------------------------------------------------------------------------- client address
async def _webhook(rt: LocalRuntime, headers: dict[str, str]) -> httpx.Response:
    body = {"apiKey": rt.env("hoox").WEBHOOK_API_KEY, "action": "LONG", "symbol": "BTCUSDT", "quantity": 0.01,
            "idempotencyKey": json.dumps(headers)}  # one signal per header set: no duplicate refusal
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{rt.ports['hoox']}", timeout=HANG_GUARD) as c:
        return await c.post("/webhook", json=body, headers=headers)


async def test_a_spoofed_forwarded_for_from_loopback_is_refused(served):
    kv = served.env("hoox").CONFIG_KV
    await settings.put(kv, "webhook:tradingview:ip_check", True)
    for headers in ({"X-Forwarded-For": "52.89.214.238"}, {"Forwarded": "for=52.89.214.238"},
                    {"X-Real-IP": "52.89.214.238"}, {"CF-Connecting-IP": "52.89.214.238"}):
        r = await _webhook(served, headers)
        assert r.status_code == 403, headers
        assert r.json()["error"]["code"] == "FORBIDDEN_IP"
        assert "127.0.0.1" in r.json()["error"]["message"]  # the socket peer, not the claimed address


async def test_forwarding_headers_count_only_from_a_trusted_proxy(served):
    kv = served.env("hoox").CONFIG_KV
    await settings.put(kv, "webhook:tradingview:ip_check", True)
    await settings.put(kv, "webhooks:queue_mode", "queue_everywhere")
    await settings.put(kv, "webhook:trusted_proxies", ["127.0.0.0/8"])  # the test client is the "proxy"

    passed = await _webhook(served, {"X-Forwarded-For": "52.89.214.238"})
    assert passed.status_code == 202  # allowlisted through the trusted proxy, queued
    assert (await _webhook(served, {"Forwarded": 'for="52.89.214.238:4711";proto=https'})).status_code == 202
    # The right-most address the proxy did not add itself is the client; what stands left of it is not.
    spoofed = await _webhook(served, {"X-Forwarded-For": "52.89.214.238, 6.6.6.6"})
    assert spoofed.status_code == 403 and "6.6.6.6" in spoofed.json()["error"]["message"]
    # Two headers naming different clients: no address can be believed.
    both = await _webhook(served, {"X-Forwarded-For": "52.89.214.238", "Forwarded": "for=6.6.6.6"})
    assert both.status_code == 403
    garbage = await _webhook(served, {"X-Forwarded-For": "not-an-address"})
    assert garbage.status_code == 403


# --------------------------------------------------------------------------- a path's bytes
async def test_a_kv_key_whose_bytes_are_not_utf8_is_a_400_not_another_key(served):
    # The server decodes %ff%fe to U+FFFD U+FFFD: the key asked for is not that one, and a 404 would say
    # the operator's key does not exist.
    token = served.env("hoox").OPERATOR_API_KEY
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served.ports['hoox']}") as client:
        r = await client.get("/v1/config/kv/trade:mode%ff%fe", headers={"Authorization": f"Bearer {token}"})
        ok = await client.get("/v1/config/kv/trade%3Amode", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "VALIDATION_ERROR" and err["details"][0]["field"] == "key" and "UTF-8" in err["message"]
    assert ok.status_code == 200 and ok.json()["result"]["key"] == "trade:mode"
