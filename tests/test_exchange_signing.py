"""Request signing against the vendors' official test vectors, and the exact bytes signed."""

from __future__ import annotations

import httpx
import pytest
from hoox_edge.exchanges.base import ExchangeError
from hoox_edge.exchanges.binance import BinanceFutures, classify_binance, round_to_step
from hoox_edge.exchanges.live import Credentials, plain
from hoox_edge.exchanges.mexc import MexcSpot, classify_mexc
from hoox_edge.exchanges.signing import canonical_query, hmac_sha256_hex, signed_params
from hoox_edge.ports import Env

# Binance's documented example (API docs, "SIGNED endpoint examples").
BINANCE_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
BINANCE_MESSAGE = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
                   "&recvWindow=5000&timestamp=1499827319559")
BINANCE_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
# MEXC spot v3's documented example.
MEXC_SECRET = "45d0b3c26f2644f19bfb98b07741b2f5"
MEXC_MESSAGE = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11&recvWindow=5000&timestamp=1644489390087"
MEXC_SIGNATURE = "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a"


def test_hmac_matches_the_official_vectors() -> None:
    assert hmac_sha256_hex(BINANCE_SECRET, BINANCE_MESSAGE) == BINANCE_SIGNATURE
    assert hmac_sha256_hex(MEXC_SECRET, MEXC_MESSAGE) == MEXC_SIGNATURE


def test_signed_params_build_the_documented_query_with_signature_last() -> None:
    out = signed_params({"symbol": "LTCBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                         "quantity": "1", "price": "0.1"}, BINANCE_SECRET, timestamp_ms=1499827319559)
    assert list(out)[-1] == "signature"
    assert canonical_query(out) == BINANCE_MESSAGE + "&signature=" + BINANCE_SIGNATURE

    mexc = signed_params({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": 1, "price": 11},
                         MEXC_SECRET, timestamp_ms=1644489390087)
    assert canonical_query(mexc) == MEXC_MESSAGE + "&signature=" + MEXC_SIGNATURE


def test_a_body_is_signed_after_the_query_string() -> None:
    body = b'{"a":1}'
    out = signed_params({"symbol": "X"}, "s", timestamp_ms=1, recv_window_ms=None, body=body)
    assert out["signature"] == hmac_sha256_hex("s", "symbol=X&timestamp=1" + body.decode())


def test_a_stale_signature_or_timestamp_is_replaced() -> None:
    out = signed_params({"symbol": "X", "timestamp": 5, "signature": "old"}, "s", timestamp_ms=9)
    assert list(out) == ["symbol", "recvWindow", "timestamp", "signature"]
    assert out["timestamp"] == 9 and out["signature"] != "old"


async def test_the_connector_signs_the_bytes_it_sends() -> None:
    """Through the real transport: the query that reaches the server verifies with the secret."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"leverage": 5, "symbol": "BTCUSDT", "maxNotionalValue": "1000000"})

    env = Env({}, worker="trade-worker")
    ex = BinanceFutures(env, base_url="http://127.0.0.1:9", creds=Credentials("key-1", BINANCE_SECRET))
    ex._client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    await ex.set_leverage("BTCUSDT", 5)
    await ex.aclose()
    req = seen[0]
    raw_query = req.url.query.decode()
    unsigned, _, sig = raw_query.rpartition("&signature=")
    assert hmac_sha256_hex(BINANCE_SECRET, unsigned) == sig
    assert req.headers["X-MBX-APIKEY"] == "key-1"
    assert unsigned.startswith("symbol=BTCUSDT&leverage=5&recvWindow=5000&timestamp=")


def test_numbers_are_sent_plain_and_on_the_grid() -> None:
    assert plain(0.00001) == "0.00001"
    assert plain(1.0) == "1"
    assert plain(60000.5) == "60000.5"
    assert str(round_to_step(0.0199, 0.001)) == "0.019"
    assert str(round_to_step(100.04, 0.1, up=True)) == "100.1"


@pytest.mark.parametrize(("status", "headers", "payload", "kind", "code", "retry_after"), [
    (429, {"Retry-After": "7"}, {"code": -1003, "msg": "Too many requests."}, "rate_limited", "-1003", 7.0),
    (418, {"Retry-After": "120"}, {"code": -1003, "msg": "Way too many requests; IP banned."}, "rate_limited",
     "-1003", 120.0),
    (400, {}, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}, "clock_skew",
     "-1021", None),
    (400, {}, {"code": -1022, "msg": "Signature for this request is not valid."}, "rejected", "-1022", None),
    (401, {}, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}, "rejected", "-2015",
     None),
    (400, {}, {"code": -2019, "msg": "Margin is insufficient."}, "rejected", "-2019", None),
    (400, {}, {"code": -2010, "msg": "Account has insufficient balance for requested action."}, "rejected",
     "-2010", None),
    (400, {}, {"code": -2010, "msg": "Duplicate order sent."}, "duplicate_order", "-2010", None),
    (400, {}, {"code": -4116, "msg": "ClientOrderId is duplicated."}, "duplicate_order", "-4116", None),
    (400, {}, {"code": -1121, "msg": "Invalid symbol."}, "rejected", "-1121", None),
    (400, {}, {"code": -4164, "msg": "Order's notional must be no smaller than 5."}, "rejected", "-4164", None),
    (408, {}, {"code": -1007, "msg": "Timeout waiting for response from backend server."}, "timeout", "-1007",
     None),
    (503, {}, {"code": -1001, "msg": "Internal error; unable to process your request."}, "unavailable", "-1001",
     None),
    (502, {}, "<html>bad gateway</html>", "timeout", "502", None),
])
def test_binance_answers_by_meaning(status, headers, payload, kind, code, retry_after) -> None:
    err = classify_binance(status, httpx.Headers(headers), payload)
    assert isinstance(err, ExchangeError)
    assert (err.kind, err.code, err.retry_after) == (kind, code, retry_after)
    if isinstance(payload, dict):
        assert payload["msg"] in err.message  # the exchange's own words reach the operator


def test_binance_success_answers_are_not_errors() -> None:
    assert classify_binance(200, httpx.Headers(), {"code": 200, "msg": "success"}) is None  # marginType
    assert classify_binance(200, httpx.Headers(), [{"asset": "USDT"}]) is None


@pytest.mark.parametrize(("status", "headers", "payload", "kind", "code"), [
    (429, {"Retry-After": "3"}, {"code": 429, "msg": "Too Many Requests"}, "rate_limited", "429"),
    (400, {}, {"code": 700003, "msg": "Timestamp for this request is outside of the recvWindow."}, "clock_skew",
     "700003"),
    (400, {}, {"code": 10101, "msg": "Insufficient balance"}, "rejected", "10101"),
    (400, {}, {"code": 700002, "msg": "Signature for this request is not valid."}, "rejected", "700002"),
    (400, {}, {"code": 30002, "msg": "The minimum transaction volume cannot be less than:5USDT"}, "rejected",
     "30002"),
    (500, {}, {"code": 500, "msg": "Internal error"}, "timeout", "500"),
])
def test_mexc_answers_by_meaning(status, headers, payload, kind, code) -> None:
    err = classify_mexc(status, httpx.Headers(headers), payload)
    assert isinstance(err, ExchangeError)
    assert (err.kind, err.code) == (kind, code)
    assert classify_mexc(200, httpx.Headers(), {"symbol": "BTCUSDT", "orderId": "C02__1"}) is None


def test_mexc_and_binance_check_client_order_ids() -> None:
    env = Env({}, worker="trade-worker")
    ex = MexcSpot(env, base_url="http://127.0.0.1:9", creds=None, market="spot")
    ex._check_client_id("hx" + "a" * 30)
    with pytest.raises(ExchangeError) as e:
        ex._check_client_id("hx" + "a" * 31)
    assert e.value.kind == "rejected"
    bf = BinanceFutures(env, base_url="http://127.0.0.1:9", creds=None)
    bf._check_client_id("x:/._-" + "a" * 30)
    with pytest.raises(ExchangeError):
        bf._check_client_id("has space")
