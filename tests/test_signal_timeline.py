"""`GET /v1/signals/{requestId}/timeline`: one signal's stages across the workers, from the real records.

Signals go through one local runtime (gateway -> trade-worker -> paper exchange, the real queue and
ledger), on the real clock (so the stages' times are real and their order is measured, not assumed)
except where a retry delay must pass; the timeline is then read through the operator API.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import cli_support
from cli_support import as_json
from fake_exchanges.bybit import FakeBybit
from hoox_edge.local.service import asgi_call
from hoox_edge.shared import settings
from hoox_edge.shared.app import make_app
from hoox_edge.workers import gateway
from order_support import paper_position, webhook
from test_pipeline import send, signal

from hoox_cli.core import models

GW = "hoox"
APP = make_app(GW, gateway.routes)


async def timeline(runtime, rid: str, *, status: int = 200) -> dict:
    env = runtime.env(GW)
    r = await asgi_call(APP, env, "GET", f"/v1/signals/{rid}/timeline",
                        headers={"Authorization": f"Bearer {env.OPERATOR_API_KEY}"})
    body = r.json()
    assert r.status == status, body
    if status != 200:
        assert body["success"] is False
        return body["error"]
    models.SignalTimeline.model_validate(body["result"])
    assert set(body["result"]) <= set(models.SignalTimeline.model_fields)  # the documented shape
    return body["result"]


def kinds(t: dict) -> list[str]:
    return [s["kind"] for s in t["stages"]]


def first(t: dict, kind: str) -> dict:
    return next(s for s in t["stages"] if s["kind"] == kind)


def assert_in_order(t: dict, expected: list[str]) -> None:
    got = kinds(t)
    positions = [got.index(k) for k in expected]
    assert positions == sorted(positions), "\n".join(f"{s['at']} {s['kind']} {s['summary']}" for s in t["stages"])


def assert_no_secret(runtime, t: dict) -> None:
    text = json.dumps(t)
    for value in runtime.workspace.secrets().values():
        if value and len(value) >= 4:
            assert value not in text


async def test_a_filled_signal_shows_every_stage_in_order_with_exchange_latency(runtime):
    r = await send(runtime, signal(runtime))
    assert r.status == 200, r.json()
    rid = r.json()["requestId"]

    t = await timeline(runtime, rid)
    assert t["requestId"] == rid and t["unavailable"] == [] and t["truncated"] is False
    assert_in_order(t, ["received", "validated", "locked", "delivered", "order", "fill", "position", "alert",
                        "answered", "outcome"])
    assert kinds(t)[-1] == "outcome" and first(t, "outcome")["summary"].startswith("Filled")
    # Times only go forward, measured from the webhook's arrival.
    offsets = [s["offsetMs"] for s in t["stages"][:-1]]  # the last is the state now
    assert offsets[0] == 0 and offsets == sorted(offsets)
    assert first(t, "received")["worker"] == "hoox"
    assert "LONG BTCUSDT 0.01 on bybit" in first(t, "received")["summary"]
    assert first(t, "delivered")["worker"] == "trade-worker"
    # The order's exchange call, with its latency, after the order was sent and before the fill.
    calls = [s for s in t["stages"] if s["kind"] == "exchange-call"]
    execute = next(c for c in calls if c["details"]["operation"] == "execute")
    assert execute["details"]["mode"] == "paper" and execute["details"]["outcome"] == "ok"
    assert execute["details"]["latencyMs"] > 0
    quote = next(c for c in calls if c["details"]["operation"] == "quote")  # sizing, before the order
    assert (kinds(t).index("delivered") < t["stages"].index(quote) < kinds(t).index("order")
            < t["stages"].index(execute) < kinds(t).index("fill"))
    position = first(t, "position")
    assert position["details"]["before"] is None
    assert position["details"]["after"]["side"] == "LONG" and position["details"]["after"]["size"] == 0.01
    assert "flat -> LONG 0.01 @" in position["summary"]
    assert t["trade"]["status"] == "Filled" and t["signal"]["status"] == "Filled"
    assert_no_secret(runtime, t)


async def test_a_request_id_prefix_resolves_and_a_bad_one_is_refused_clearly(runtime):
    rid = (await send(runtime, signal(runtime))).json()["requestId"]
    assert (await timeline(runtime, rid[:8]))["requestId"] == rid
    short = await timeline(runtime, rid[:5], status=400)
    assert short["code"] == "VALIDATION_ERROR" and "at least its first 8 characters" in short["message"]
    missing = await timeline(runtime, "ffffffff-0000", status=404)
    assert missing["code"] == "NOT_FOUND" and "ffffffff-0000" in missing["message"]
    # Two signals whose ids start alike: the start names neither.
    db = runtime.env(GW).DB
    for suffix in ("a", "b"):
        await db.prepare("INSERT INTO trade_signals (request_id, payload, status, created_at, updated_at) "
                         "VALUES (?, '{}', 'Received', '2026-01-05T12:00:00.000Z', '2026-01-05T12:00:00.000Z')"
                         ).bind(f"twinprefix-{suffix}").run()
    ambiguous = await timeline(runtime, "twinprefix", status=400)
    assert ambiguous["code"] == "AMBIGUOUS_REQUEST_ID"
    assert "twinprefix-a" in ambiguous["message"] and "twinprefix-b" in ambiguous["message"]


async def test_a_rejected_signal_ends_in_its_rejection_with_the_code(runtime):
    r = await send(runtime, signal(runtime, quantity=-1))
    assert r.status == 400
    rid = r.json()["requestId"]
    t = await timeline(runtime, rid)
    assert "locked" not in kinds(t) and "delivered" not in kinds(t)
    assert_in_order(t, ["received", "rejected", "answered", "outcome"])
    last = t["stages"][-1]
    assert last["kind"] == "outcome" and last["details"]["errorCode"] == "VALIDATION_ERROR"
    assert last["summary"].startswith("Rejected VALIDATION_ERROR")
    assert first(t, "answered")["details"]["httpStatus"] == 400
    assert "(VALIDATION_ERROR; quantity: " in first(t, "rejected")["summary"]  # which field, on its line
    assert_no_secret(runtime, t)


async def test_a_refusal_before_authentication_is_explained_without_the_passkey(runtime):
    r = await send(runtime, signal(runtime, apiKey="not-the-passkey-at-all"))
    assert r.status == 401
    t = await timeline(runtime, r.json()["requestId"])
    assert t["signal"] is None and t["stages"][-1]["summary"].startswith("never became a signal")
    assert "rejected" in kinds(t)
    assert "not-the-passkey-at-all" not in json.dumps(t)


async def test_a_resend_shows_its_original_and_the_original_its_resends(runtime):
    first_r = await send(runtime, signal(runtime, idempotencyKey="resend-1"))
    again = await send(runtime, signal(runtime, idempotencyKey="resend-1"))
    assert first_r.status == 200 and again.status == 409
    rid, resend_rid = first_r.json()["requestId"], again.json()["requestId"]

    t = await timeline(runtime, resend_rid)
    assert t["original"]["requestId"] == rid and t["original"]["status"] == "Filled"
    assert any(s["kind"] == "resend" and rid in s["summary"] for s in t["stages"])
    assert t["stages"][-1]["details"]["errorCode"] == "DUPLICATE_REQUEST"
    assert "exchange-call" not in kinds(t)  # nothing new reached the exchange

    t = await timeline(runtime, rid)
    assert [r["requestId"] for r in t["resends"]] == [resend_rid]
    assert any(s["kind"] == "resend" and resend_rid in s["summary"] for s in t["stages"])


async def test_a_queued_signal_shows_its_attempts_retries_and_the_fill(runtime, clock):
    kv = runtime.env(GW).CONFIG_KV
    await settings.put(kv, "webhooks:retry_schedule_seconds", [2, 2, 2])
    await settings.put(kv, "exchanges:paper:fault", "outage")
    r = await send(runtime, signal(runtime))
    assert r.status == 202
    rid = r.json()["requestId"]
    t = await timeline(runtime, rid)
    waiting = first(t, "queue")
    assert waiting["details"]["queue"] == "trade-execution" and "next delivery" in waiting["summary"]
    assert not t["stages"][-1]["details"]["final"]

    assert await runtime.drain_queues() == 1  # still down: a retry is scheduled
    await settings.put(kv, "exchanges:paper:fault", "")
    clock.advance(2)
    assert await runtime.drain_queues() == 1
    t = await timeline(runtime, rid)
    assert_in_order(t, ["received", "validated", "locked", "delivered", "exchange-unavailable", "queued",
                        "queue-delivery", "retry", "order", "fill", "position", "outcome"])
    assert kinds(t).count("queue-delivery") == 2 and kinds(t).count("retry") == 1
    failed = [s for s in t["stages"] if s["kind"] == "exchange-call" and s["details"]["outcome"] != "ok"]
    assert failed and failed[0]["details"]["outcome"] == "unavailable"
    assert "queue" not in kinds(t)  # nothing waits any more
    assert t["stages"][-1]["summary"].startswith("Filled")


# --------------------------------------------------------------------------- hoox signal show
async def hoox(*args: str) -> Any:
    return await asyncio.to_thread(cli_support.hoox, *args)


async def test_signal_show_prints_a_readable_timeline_and_json(edge) -> None:
    rid = await paper_position(edge)
    r = await hoox("signal", "show", rid[:8])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), r.stdout  # an 80-column terminal, nothing cut
    assert "…" not in r.stdout
    assert f"signal {rid}" in lines[0]
    body = [line.split() for line in lines if line.strip().startswith(("+", "now"))]
    stages = [words[1] for words in body]
    for kind in ("received", "validated", "locked", "delivered", "order", "exchange-call", "fill", "position"):
        assert kind in stages, r.stdout
    assert stages.index("received") < stages.index("locked") < stages.index("fill") < stages.index("position")
    assert body[0][0] == "+0ms" and body[-1][:3] == ["now", "state", "Filled"]
    assert "paper bybit execute: ok in" in r.stdout

    j = await hoox("signal", "show", rid, "--json")
    assert j.exit_code == 0
    data = as_json(j)
    assert data["requestId"] == rid and data["stages"][-1]["kind"] == "outcome"
    for value in edge.workspace.secrets().values():
        assert len(value) < 4 or (value not in r.stdout and value not in j.stdout)


async def test_signal_show_refuses_an_unknown_or_ambiguous_id_clearly(edge) -> None:
    r = await hoox("signal", "show", "nothing-here-0", "--json")
    assert r.exit_code == 1 and as_json(r)["error"]["code"] == "NOT_FOUND"
    assert as_json(r)["error"]["message"] == ("No signal or log has a request id that is or starts with "
                                              "'nothing-here-0'.")
    r = await hoox("signal", "show", "abc")
    assert r.exit_code == 2 and "at least its first 8 characters" in r.output
    rejected = await webhook(edge, quantity=-1)
    assert rejected.status_code == 400
    r = await hoox("signal", "show", rejected.json()["requestId"])
    assert r.exit_code == 0
    last = [line.split() for line in r.stdout.splitlines() if line.strip().startswith("now")][-1]
    assert last[:4] == ["now", "state", "Rejected", "VALIDATION_ERROR:"]


async def test_a_live_signal_to_a_loopback_exchange_shows_each_signed_call_without_a_secret(runtime) -> None:
    fake = FakeBybit()
    await fake.start()
    try:
        runtime.workspace.set_secret("BYBIT_API_KEY", fake.api_key)
        runtime.workspace.set_secret("BYBIT_API_SECRET", fake.api_secret)
        kv = runtime.env(GW).CONFIG_KV
        await settings.put(kv, "trade:mode", "live")
        await settings.put(kv, "exchanges:bybit:base_url", fake.url)
        r = await send(runtime, signal(runtime))
        assert r.status == 200, r.json()
        t = await timeline(runtime, r.json()["requestId"])
    finally:
        await fake.stop()
    calls = [s for s in t["stages"] if s["kind"] == "exchange-call"]
    create = next(c for c in calls if c["details"]["operation"] == "order_create")
    assert create["details"]["mode"] == "live" and create["details"]["httpStatus"] == 200
    assert create["details"]["outcome"] == "ok" and create["details"]["latencyMs"] > 0
    assert "(HTTP 200)" in create["summary"]
    assert_in_order(t, ["received", "locked", "delivered", "order", "fill", "position", "outcome"])
    assert kinds(t).index("order") < t["stages"].index(create) < kinds(t).index("fill")
    text = json.dumps(t)
    assert fake.api_key not in text and fake.api_secret not in text
    assert_no_secret(runtime, t)
