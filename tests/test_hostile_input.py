"""Each hostile input found by trying the local edge (issue 9) gets a clear 4xx and loses nothing.

In-process (`runtime.request`, plus a small ASGI caller for bodies streamed without a length).
The fuzz tests (test_fuzz.py) cover the same ground at random; these pin each case down.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.shared import bodies, settings

GW = "hoox"
CREDENTIAL = "AKIA9X7Q2LM4ZP8RT3VW6YB1"  # looks like a credential (not one of the runtime's secrets)


def keys(rt: LocalRuntime) -> dict[str, str]:
    env = rt.env(GW)
    return {"passkey": env.WEBHOOK_API_KEY, "operator": env.OPERATOR_API_KEY, "internal": env.INTERNAL_KEY_BINDING}


def signal(rt: LocalRuntime, **changes: Any) -> dict[str, Any]:
    body = {"apiKey": keys(rt)["passkey"], "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT",
            "quantity": 0.01}
    body.update(changes)
    return body


async def webhook(rt: LocalRuntime, raw: bytes | str, **headers: str):
    data = raw.encode("utf-8", errors="surrogatepass") if isinstance(raw, str) else raw
    return await rt.request(GW, "POST", "/webhook", body=data, headers={"Content-Type": "application/json", **headers})


async def v1(rt: LocalRuntime, method: str, path: str, *, raw: bytes | None = None, json_body: Any = None):
    return await rt.request(GW, method, f"/v1{path}", body=raw, json=json_body,
                            headers={"Authorization": f"Bearer {keys(rt)['operator']}"})


async def rows(rt: LocalRuntime, sql: str, *args: Any) -> list[dict[str, Any]]:
    return (await rt.env(GW).DB.prepare(sql).bind(*args).all())["results"]


async def counts(rt: LocalRuntime) -> dict[str, int]:
    out = {}
    for table in ("trade_signals", "system_logs", "events", "alerts"):
        out[table] = (await rows(rt, f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"]
    return out


def error(resp) -> dict[str, Any]:
    body = resp.json()
    assert body["success"] is False and body["result"] is None, body
    return body["error"]


@pytest.fixture
async def rt(runtime: LocalRuntime) -> LocalRuntime:
    await settings.put(runtime.env(GW).CONFIG_KV, "webhooks:queue_mode", "queue_everywhere")
    return runtime


# --------------------------------------------------------------------------- JSON bodies
async def test_json_nested_1000_deep_is_a_400_even_without_a_passkey(rt):
    for raw in ("[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000):
        r = await webhook(rt, raw)
        assert r.status == 400 and "nested deeper than 32" in error(r)["message"]
    r = await v1(rt, "PUT", "/config/kv/trade:mode", raw=('{"value":' + "[" * 1000 + "]" * 1000 + "}").encode())
    assert r.status == 400 and "nested deeper" in error(r)["message"]
    r = await rt.request("trade-worker", "POST", "/process", body=b"[" * 5000 + b"]" * 5000,
                         headers={"X-Internal-Auth-Key": keys(rt)["internal"]})
    assert r.status == 400
    assert (await counts(rt))["trade_signals"] == 0


async def test_32_levels_still_parse() -> None:
    assert bodies.parse_json("[" * 32 + "]" * 32) is not None
    assert bodies.nesting_depth_exceeds("[" * 33 + "]" * 33)
    assert not bodies.nesting_depth_exceeds('["' + "[" * 100 + '"]')  # brackets inside a string do not count


@pytest.mark.parametrize("raw", [
    '{{"apiKey": "{key}", "action": "LONG", "symbol": "BTCUSDT", "quantity": 1, "note": "\\ud800"}}',
    '{{"apiKey": "{key}", "action": "LONG", "symbol": "BTC\\udfffUSDT", "quantity": 1}}',
    '{{"apiKey": "{key}", "action": "LONG", "symbol": "BTCUSDT", "quantity": 1, "\\ud800": 1}}',
    '{{"apiKey": "{key}", "action": "LONG", "symbol": "BTCUSDT", "quantity": [["\\udbff"]]}}',
])  # fmt: skip
async def test_a_lone_surrogate_in_any_key_or_value_is_refused_at_the_boundary(rt, raw):
    r = await webhook(rt, raw.format(key=keys(rt)["passkey"]))
    assert r.status == 400 and "surrogate" in error(r)["message"]
    assert (await counts(rt))["trade_signals"] == 0
    # a valid surrogate pair is an ordinary character
    ok = await webhook(rt, json.dumps(signal(rt, idempotencyKey="\U0001f680")))
    assert ok.status == 202


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "9" * 25])
async def test_non_finite_and_huge_numbers_are_refused(rt, number):
    raw = json.dumps(signal(rt)).replace('"quantity": 0.01', f'"quantity": {number}')
    r = await webhook(rt, raw)
    assert r.status == 400 and error(r)["code"] == "VALIDATION_ERROR"
    r = await v1(rt, "PUT", "/config/kv/exchanges:paper:price:BTCUSDT", raw=f'{{"value": {number}}}'.encode())
    assert r.status == 400
    r = await v1(rt, "POST", "/db/query", raw=f'{{"query": "SELECT ?", "params": [{number}]}}'.encode())
    assert r.status == 400
    assert await rt.env(GW).CONFIG_KV.get("exchanges:paper:price:BTCUSDT") is None


# --------------------------------------------------------------------------- body size
async def test_bodies_over_the_limit_get_413_before_parsing(rt):
    big = json.dumps(signal(rt, note="x" * (70 * 1024)))
    r = await webhook(rt, big)
    assert r.status == 413 and error(r)["code"] == "PAYLOAD_TOO_LARGE" and "64 KB" in error(r)["message"]
    assert r.headers.get("connection") == "close"
    r = await v1(rt, "POST", "/db/query", raw=b'{"query": "SELECT 1", "pad": "' + b"x" * (1024 * 1024) + b'"}')
    assert r.status == 413 and "1 MB" in error(r)["message"]
    assert (await counts(rt))["trade_signals"] == 0


async def test_a_body_streamed_without_a_length_is_cut_at_the_limit(rt):
    """No Content-Length: the streamed length is counted, and reading stops at the limit."""
    app, env = rt.app(GW), rt.env(GW)
    chunk = b"x" * 16384
    served = {"chunks": 0}
    answer: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        served["chunks"] += 1
        return {"type": "http.request", "body": chunk, "more_body": served["chunks"] < 400}  # 6.4 MB

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] = answer.get("body", b"") + message.get("body", b"")

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/webhook", "raw_path": b"/webhook", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), (b"transfer-encoding", b"chunked")],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80), "state": {}, "env": env}
    await app(scope, receive, send)
    assert answer["status"] == 413 and json.loads(answer["body"])["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert served["chunks"] == 5  # 64 KB = 4 chunks; the 5th crossed the limit and nothing more was read


async def test_stored_snippets_are_capped_at_4_kb(rt):
    r = await webhook(rt, json.dumps(signal(rt, note="why " * 15_000, idempotencyKey="big-1")))
    assert r.status == 400  # `note` is not a field of a signal
    [row] = await rows(rt, "SELECT payload, error FROM trade_signals")
    assert len(row["payload"].encode()) <= 4096 and json.loads(row["payload"])["truncated"] is True
    for log in await rows(rt, "SELECT message, details FROM system_logs"):
        assert len(log["message"].encode()) <= 4096 and len((log["details"] or "").encode()) <= 4096
    for ev in await rows(rt, "SELECT data FROM events"):
        assert len(ev["data"].encode()) <= 3 * 4096


# --------------------------------------------------------------------------- query parameters
@pytest.mark.parametrize(("query", "field"), [
    ("/trades?symbol=!!!", "symbol"),
    ("/trades?since=9999-12-31T23:59:59-14:00", "since"),
    ("/trades?since=0001-01-01T00:00:00%2B14:00", "since"),
    ("/trades?cursor=99999999999999999999", "cursor"),
    ("/trades?limit=1_0", "limit"),
    ("/trades?limit=%EF%BC%95", "limit"),  # a full-width digit
    ("/trades?exchange=nasdaq", "exchange"),
    ("/trades?status=Exploded", "status"),
    ("/trades?limt=5", "limt"),
    ("/trades?limit=5&limit=6", "limit"),
    ("/logs?level=loud", "level"),
    ("/logs?worker=Robert%27);DROP", "worker"),
    ("/logs?requestId=" + "r" * 200, "requestId"),
    ("/logs?q=" + "q" * 201, "q"),
    ("/alerts?cursor=-1", "cursor"),
    ("/stats?mode=yolo", "mode"),
    ("/config/kv?prefix=" + "p" * 513, "prefix"),
    ("/config/kv/" + "k" * 600, "key"),
    ("/status?verbose=1", "verbose"),
    ("/stream?since=" + "9" * 30, "since"),
])  # fmt: skip
async def test_every_query_parameter_is_validated(rt, query, field):
    r = await v1(rt, "GET", query)
    assert r.status == 400, r.text()
    err = error(r)
    assert err["code"] == "VALIDATION_ERROR" and err["details"][0]["field"] == field and field in err["message"]


async def test_valid_parameters_still_work(rt):
    for query in ("/trades?symbol=btc/usdt&exchange=BYBIT&status=filled&since=2026-01-05&limit=5&cursor=10",
                  "/logs?level=WARNING&worker=hoox&requestId=abc-1&q=100%25", "/config/kv?prefix=trade:",
                  "/stats?mode=paper", "/alerts?level=info&limit=500"):
        assert (await v1(rt, "GET", query)).status == 200, query


async def test_sql_results_carry_blobs_and_non_finite_numbers_as_strings(rt):
    r = await v1(rt, "POST", "/db/query", json_body={"query": "SELECT x'00ff' AS b, 1e999 AS big, -1e999 AS small"})
    assert r.status == 200
    assert r.json()["result"]["rows"] == [{"b": "X'00FF'", "big": "Infinity", "small": "-Infinity"}]
    d1 = await rt.request("d1-worker", "POST", "/query", json={"query": "SELECT x'00ff' AS b, 1e999 AS big"},
                          headers={"X-Internal-Auth-Key": keys(rt)["internal"]})
    assert d1.status == 200 and d1.json()["results"] == [{"b": "X'00FF'", "big": "Infinity"}]


# --------------------------------------------------------------------------- KV settings
async def test_out_of_bounds_settings_are_refused_and_nothing_is_written(rt):
    kv = rt.env(GW).CONFIG_KV
    for key, value, rule in (("webhooks:rate_limit_per_minute", 10**200, "64-bit range"),
                             ("webhooks:rate_limit_per_minute", 10**18, "at most 100000"),
                             ("webhooks:rate_limit_per_minute", "1e200", "an integer"),
                             ("webhooks:retry_schedule_seconds", 0, "expected comma-separated"),
                             ("webhooks:retry_schedule_seconds", "0", "from 1 to 43200"),
                             ("exchanges:paper:price:BTCUSDT", -1, "greater than 0"),
                             ("exchanges:paper:price:BTCUSDT", "1e400", "finite")):
        before = await kv.get(key)
        r = await v1(rt, "PUT", f"/config/kv/{key}", raw=json.dumps({"value": value}).encode())
        assert r.status == 400, (key, value)
        assert key in error(r)["message"] and rule in error(r)["message"], error(r)["message"]
        assert await kv.get(key) == before


async def test_a_stored_infinity_breaks_neither_the_settings_list_nor_an_order(rt):
    kv = rt.env(GW).CONFIG_KV
    await kv.put("exchanges:paper:price:BTCUSDT", "inf")  # written by hand, or before the bound existed
    listed = await v1(rt, "GET", "/config/kv?prefix=exchanges:paper:price:")
    assert listed.status == 200
    [item] = listed.json()["result"]["items"]
    assert item["raw"] == "inf" and item["value"] is None and "finite" in item["error"]
    assert (await v1(rt, "GET", "/config/kv/exchanges:paper:price:BTCUSDT")).status == 200
    await settings.put(kv, "webhooks:queue_mode", "direct_only")
    order = await webhook(rt, json.dumps(signal(rt, idempotencyKey="inf-1")))
    assert order.status in (400, 502) and order.json()["error"]["code"] != "INTERNAL_ERROR"


async def test_a_refused_kill_switch_request_changes_nothing(rt):
    before = await counts(rt)
    for raw in (b'{"on": true, "reason": "\\ud800"}', b'{"on": true, "reason": "' + b"r" * 501 + b'"}',
                b'{"on": true, "reason": "ok", "extra": 1}', b'{"on": "yes"}', b'{"on": true, "reason": "a\\u0000b"}'):
        r = await v1(rt, "POST", "/kill-switch", raw=raw)
        assert r.status == 400, raw
    assert await rt.env(GW).CONFIG_KV.get("trade:kill_switch") is None or \
        not settings.parse("trade:kill_switch", await rt.env(GW).CONFIG_KV.get("trade:kill_switch"))
    assert (await v1(rt, "GET", "/kill-switch")).json()["result"]["on"] is False
    assert await counts(rt) == before  # no log, no alert, no event


# --------------------------------------------------------------------------- what is quoted back
async def test_a_credential_in_the_wrong_field_is_never_quoted_back_or_stored_in_a_message(rt):
    r = await webhook(rt, json.dumps(signal(rt, quantity=CREDENTIAL, action=CREDENTIAL, idempotencyKey="c-1")))
    assert r.status == 400
    assert CREDENTIAL[:6] not in r.text()
    fields = {d["field"]: d["issue"] for d in error(r)["details"]}
    assert "not shown" in fields["quantity"] and "not shown" in fields["action"]
    [row] = await rows(rt, "SELECT error FROM trade_signals")
    assert CREDENTIAL not in row["error"]
    for log in await rows(rt, "SELECT message, details FROM system_logs"):
        assert CREDENTIAL not in json.dumps(log)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("PUT", "/config/kv/trade:take_profit_targets", {"value": [{CREDENTIAL: 1}]}),  # a nested field name
    ("PUT", "/config/kv/agent:config", {"value": {CREDENTIAL: 1}}),
    ("POST", "/risk/config", {"values": {CREDENTIAL: 1}}),
    ("PUT", f"/config/kv/watchdog:expect:{CREDENTIAL.lower()}", {"value": {"maxGapMinutes": 5}}),
    ("DELETE", f"/orders/{CREDENTIAL}", None),  # an id in a path
    ("POST", f"/queues/dead-letter/{CREDENTIAL}/replay", None),
    ("GET", f"/{CREDENTIAL}", None),  # no such route
    ("POST", "/db/query", {"query": f"SELECT * FROM x{CREDENTIAL}"}),  # the database's words
])
async def test_no_error_quotes_a_credential_whatever_check_refused_it(rt, method, path, body):
    r = await v1(rt, method, path, json_body=body)
    assert 400 <= r.status < 500, r.text()
    text = r.text()
    assert CREDENTIAL[:12] not in text and CREDENTIAL[:12].lower() not in text, text
    assert "not shown" in text


async def test_a_method_a_route_does_not_take_is_405_method_not_allowed(rt):
    r = await v1(rt, "DELETE", "/status")
    assert r.status == 405 and error(r)["code"] == "METHOD_NOT_ALLOWED"
    assert "DELETE /v1/status" in error(r)["message"]
    assert error(await v1(rt, "GET", "/no-such-thing"))["code"] == "NOT_FOUND"


async def test_request_ids_and_times_are_quoted_back_as_they_are(rt):
    rid = "0f052435-6c3e-4e0b-9d5e-3f1f0a1b2c3d"
    r = await v1(rt, "DELETE", f"/orders/{rid}")
    assert r.status == 404 and rid in error(r)["message"]
    r = await v1(rt, "GET", "/trades?since=9999-12-31T23:59:59-14:00")  # year 10000 in UTC
    assert r.status == 400 and "years 1970 to 9999" in error(r)["message"]
    assert "9999-12-31T23:59" in error(r)["message"]  # a time is quoted, not hidden as if a key


async def test_unknown_field_names_are_reported_and_stored_cut_and_masked(rt):
    long_name = "field with a long name " * 10
    r = await webhook(rt, json.dumps(signal(rt, **{CREDENTIAL: 1, long_name: 2, "password": "hunter2"},
                                             idempotencyKey="u-1")))
    assert r.status == 400
    reported = [d["field"] for d in error(r)["details"]]
    assert CREDENTIAL not in r.text() and long_name not in r.text()
    assert any(f.startswith("***(") for f in reported) and (long_name[:40] + "…") in reported
    [row] = await rows(rt, "SELECT payload FROM trade_signals")
    stored = json.loads(row["payload"])
    assert CREDENTIAL not in row["payload"] and long_name not in row["payload"] and "hunter2" not in row["payload"]
    assert stored["password"] == "***" and "apiKey" not in stored


async def test_a_body_that_is_not_json_is_shown_without_credentials(rt):
    r = await webhook(rt, f"buy BTCUSDT now key {CREDENTIAL} please", **{"Content-Type": "text/plain"})
    assert r.status == 400
    message = error(r)["message"]
    assert "buy BTCUSDT now key" in message and CREDENTIAL not in message
