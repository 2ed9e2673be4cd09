"""Alerts that always arrive: telegram-worker's outbox against a loopback Bot API (tests/fake_telegram.py).

Time is the fake clock; the outbox's retries are driven by moving it and running the worker's cron, as
Cloudflare would each minute. Nothing here talks to Telegram.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from fake_telegram import Call, FakeTelegram
from hoox_edge import catalog
from hoox_edge.alerts import outbox
from hoox_edge.shared import settings

W = "telegram-worker"
GW = "hoox"
TOKEN = "123456789:AAH-fake-bot-token-for-outbox_xyz"
CHAT = "777"


@pytest.fixture
def telegram():
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def bot(runtime, workspace, telegram, clock):
    """A bot token and operator chat in .dev.vars, Telegram's API pointed at the fake."""
    assert any(name == "TELEGRAM_API_BASE" for name, _ in catalog.worker(W).vars)
    workspace.set_secret("TELEGRAM_BOT_TOKEN", TOKEN)
    workspace.set_secret("TELEGRAM_CHAT_ID", f"{CHAT},888")
    workspace.set_secret("TELEGRAM_API_BASE", telegram.url)
    return telegram


async def post(runtime, payload: dict, rid: str) -> dict:
    r = await runtime.request(W, "POST", "/alert", json={"requestId": rid, "payload": payload},
                              headers={"X-Internal-Auth-Key": runtime.env(W).INTERNAL_KEY_BINDING,
                                       "X-Request-Id": rid})
    assert r.status == 200, r.text()
    return r.json()["result"]


async def rows(runtime) -> list[dict]:
    return (await runtime.env(W).DB.prepare("SELECT * FROM alerts ORDER BY id").all())["results"]


async def v1_alerts(runtime) -> list[dict]:
    r = await runtime.request(GW, "GET", "/v1/alerts?limit=50",
                              headers={"Authorization": f"Bearer {runtime.env(GW).OPERATOR_API_KEY}"})
    assert r.status == 200
    return r.json()["result"]["items"]


async def test_a_burst_while_telegram_is_away_arrives_in_order_once(runtime, bot, clock):
    telegram = bot
    telegram.fail_next("sendMessage", 502)  # Telegram down...
    telegram.fail_next("sendMessage", 429, retry_after=7)  # ...then rate-limiting
    answers = [await post(runtime, {"message": f"fill {n}", "level": "info", "source": "trade-worker"}, f"r{n}")
               for n in range(1, 6)]

    # the first alert met the 502 and waits its backoff; the others queue behind it, untried
    assert [a["delivery"] for a in answers] == ["pending"] * 5
    assert len(telegram.sent()) == 1
    first = (await v1_alerts(runtime))[-1]
    assert first["delivery"] == "pending" and "502" in first["error"]
    assert first["nextAttemptAt"] == "2026-01-05T12:00:10.000Z"  # the first backoff, 10 s
    # the ones behind it say when they will be tried: with it, not before
    assert [a["nextAttemptAt"] for a in answers[1:]] == ["2026-01-05T12:00:10.000Z"] * 4

    clock.advance(5)
    await runtime.run_cron(W)
    assert len(telegram.sent()) == 1  # not before its time

    clock.advance(5)
    await runtime.run_cron(W)  # the retry meets the 429
    assert len(telegram.sent()) == 2
    [head] = [a for a in await v1_alerts(runtime) if a["id"] == answers[0]["alertId"]]
    assert head["delivery"] == "pending" and head["nextAttemptAt"] == "2026-01-05T12:00:17.000Z"  # retry_after 7
    assert head["attempts"] == 2 and "429" in head["error"]
    assert {a["nextAttemptAt"] for a in await v1_alerts(runtime)} == {"2026-01-05T12:00:17.000Z"}

    clock.advance(6)
    await runtime.run_cron(W)
    assert len(telegram.sent()) == 2  # Telegram said 7 s: not a second sooner

    clock.advance(1)
    await runtime.run_cron(W)
    texts = [c.body["text"] for c in telegram.sent()]
    assert texts == ["<b>[INFO]</b> trade-worker\nfill 1"] * 3 + [
        f"<b>[INFO]</b> trade-worker\nfill {n}" for n in range(2, 6)]
    assert {c.body["chat_id"] for c in telegram.sent()} == {777}
    listed = await v1_alerts(runtime)
    assert [a["delivery"] for a in listed] == ["sent"] * 5
    assert all(a["nextAttemptAt"] is None and a["error"] is None and a["sentAt"] for a in listed)

    await runtime.run_cron(W)  # a drain with nothing due sends nothing again
    assert len(telegram.sent()) == 7


async def test_two_drains_at_once_send_each_alert_once_in_order(runtime, bot, clock):
    telegram = bot
    telegram.fail_next("sendMessage", 502)
    for n in range(1, 9):
        await post(runtime, {"message": f"m{n}", "level": "warning", "source": "agent-worker"}, f"r{n}")
    clock.advance(10)
    env = runtime.env(W)
    reports = await asyncio.gather(outbox.drain(env), outbox.drain(env), outbox.drain(env))
    assert sum(r.sent for r in reports) == 8
    texts = [c.body["text"] for c in telegram.sent()][1:]  # after the refused first try
    assert texts == [f"<b>[WARNING]</b> agent-worker\nm{n}" for n in range(1, 9)]


async def test_a_refusal_no_retry_cures_fails_that_alert_and_the_chat_goes_on(runtime, bot):
    telegram = bot
    telegram.fail_next("sendMessage", 400, description="Bad Request: can't parse entities: unclosed tag")
    bad = await post(runtime, {"message": "<b>oops", "parseMode": "HTML", "source": "report-worker"}, "r1")
    good = await post(runtime, {"message": "next one", "source": "report-worker"}, "r2")
    assert bad["delivery"] == "failed" and "can't parse entities" in bad["error"]
    assert good["delivery"] == "sent" and good["messageId"] is not None
    logs = (await runtime.env(W).DB.prepare("SELECT level, message FROM system_logs WHERE request_id = 'r1'")
            .all())["results"]
    assert logs and "can't parse entities" in logs[0]["message"]
    assert TOKEN not in json.dumps(await rows(runtime)) + json.dumps(logs)


async def test_an_alert_pending_for_a_day_is_given_up_with_its_last_error(runtime, bot, clock):
    telegram = bot
    telegram.fail_next("sendMessage", 502, n=1000)
    await post(runtime, {"message": "x", "level": "critical", "source": "agent-worker"}, "r1")
    clock.advance(24 * 3600 + 1)
    await runtime.run_cron(W)
    [row] = await rows(runtime)
    assert row["delivery"] == "failed" and row["error"].startswith("gave up after 24 h of retries: ")
    assert "502" in row["error"]


async def test_a_long_alert_goes_in_parts_cut_at_line_breaks(runtime, bot):
    telegram = bot
    lines = [f"{n:04d} BTCUSDT & <ETH> filled" for n in range(400)]  # 16,000 escaped characters: 4 parts
    answer = await post(runtime, {"message": "\n".join(lines), "level": "info", "source": "trade-worker"}, "r1")
    assert answer["delivery"] == "sent"
    texts = [c.body["text"] for c in telegram.sent()]
    assert len(texts) == 4 and all(len(t) <= 4096 for t in texts)
    assert all(t.count("<b>") == t.count("</b>") for t in texts)
    # cut at line breaks: every part ends with a whole line, and together they hold every line, in order
    body = "\n".join(texts).split("\n", 1)[1]
    assert body == "\n".join(line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                             for line in lines)
    [row] = await rows(runtime)
    assert row["message"] == "\n".join(lines) and row["parts_sent"] == 4


async def test_a_split_alert_resumes_at_the_part_telegram_did_not_take(runtime, bot, clock):
    telegram = bot
    message = "\n".join(f"line {n} " + "x" * 60 for n in range(150))  # 3 parts
    original = telegram._handle  # script: the first part goes through, then Telegram answers 502 once

    def handle(call: Call) -> tuple[int, dict]:
        if call.method == "sendMessage" and len(telegram.sent()) == 1:
            telegram.fail_next("sendMessage", 502)
        return original(call)

    telegram._handle = handle  # type: ignore[method-assign]
    answer = await post(runtime, {"message": message, "source": "report-worker"}, "r1")
    assert answer["delivery"] == "pending" and answer["messageId"] is not None
    [row] = await rows(runtime)
    assert row["parts_sent"] == 1
    clock.advance(10)
    await runtime.run_cron(W)
    texts = [c.body["text"] for c in telegram.sent()]
    assert len(texts) == 4 and texts[1] == texts[2]  # part 2 refused once, then taken; part 1 once
    assert (await rows(runtime))[0]["delivery"] == "sent"


async def test_routes_and_mutes_per_kind(runtime, bot):
    telegram = bot
    kv = runtime.env(W).CONFIG_KV
    await settings.put(kv, "telegram:alerts:warning", "muted")
    await settings.put(kv, "telegram:alerts:critical", "-100999")
    answers = {level: await post(runtime, {"message": f"a {level}", "level": level, "source": "agent-worker"},
                                 f"r-{level}") for level in ("info", "warning", "error", "critical")}
    assert answers["warning"]["delivery"] == "muted" and answers["warning"]["messageId"] is None
    sent = {c.body["text"].split("\n")[1]: c.body["chat_id"] for c in telegram.sent()}
    assert sent == {"a info": 777, "a error": -100999, "a critical": -100999}  # error follows critical
    # a chatId in the alert picks the chat, but a muted kind stays muted
    r = await post(runtime, {"message": "to desk", "level": "info", "chatId": "888"}, "r-chat")
    assert r["delivery"] == "sent" and telegram.sent()[-1].body["chat_id"] == 888
    r = await post(runtime, {"message": "quiet", "level": "warning", "chatId": "888"}, "r-muted")
    assert r["delivery"] == "muted" and len(telegram.sent()) == 4
    states = {a["message"]: a["delivery"] for a in await v1_alerts(runtime)}
    assert states["a warning"] == "muted" and states["quiet"] == "muted" and states["a info"] == "sent"


@pytest.mark.parametrize("value", ["loud", "12ab", "@x", "-", "muted!"])
async def test_a_bad_route_is_refused_naming_the_key_and_the_rule(runtime, value):
    r = await runtime.request(GW, "PUT", "/v1/config/kv/telegram:alerts:info", json={"value": value},
                              headers={"Authorization": f"Bearer {runtime.env(GW).OPERATOR_API_KEY}"})
    assert r.status == 400
    text = r.text()
    assert "telegram:alerts:info" in text and "must be a chat id" in text
    assert await runtime.env(W).CONFIG_KV.get("telegram:alerts:info") in (None, "")


async def test_the_seeds_payload_is_accepted(runtime, bot):
    telegram = bot
    seeds = {"chatId": "", "message": "<b>Bybit LONG Filled!</b>\nSymbol: BTCUSDT\nPrice: $64,210.50",
             "parseMode": "HTML"}
    r = await post(runtime, seeds, "bdebd-bd-bad-bdd-bdbdcbd")
    assert r["delivery"] == "sent" and isinstance(r["messageId"], int)
    [call] = telegram.sent()
    assert call.body == {"chat_id": 777, "text": seeds["message"], "parse_mode": "HTML",
                         "disable_web_page_preview": True}
    [row] = await rows(runtime)
    assert (row["level"], row["source"], row["request_id"]) == ("info", "unknown", "bdebd-bd-bad-bdd-bdbdcbd")


async def test_a_bad_chat_id_is_a_400_naming_the_field(runtime):
    r = await runtime.request(W, "POST", "/alert", json={"payload": {"message": "x", "chatId": "not a chat"}},
                              headers={"X-Internal-Auth-Key": runtime.env(W).INTERNAL_KEY_BINDING})
    assert r.status == 400 and r.json()["error"]["details"][0]["field"] == "chatId"
    assert await rows(runtime) == []


async def test_a_drain_that_died_holding_an_alert_is_taken_over_when_its_lease_ends(runtime, bot, clock):
    telegram = bot
    telegram.fail_next("sendMessage", 502)
    await post(runtime, {"message": "held", "source": "agent-worker"}, "r1")
    await post(runtime, {"message": "behind it", "source": "agent-worker"}, "r2")
    clock.advance(10)
    env = runtime.env(W)
    # a drain claimed the chat's head, then its isolate died before sending
    await env.DB.prepare("UPDATE alerts SET claim_id = 'dead', claimed_until = ? WHERE id = 1").bind(
        "2026-01-05T12:01:10.000Z").run()
    await runtime.run_cron(W)
    assert len(telegram.sent()) == 1  # neither the held alert nor the one behind it jumps the claim
    clock.advance(60)
    await runtime.run_cron(W)
    assert [c.body["text"].split("\n")[1] for c in telegram.sent()[1:]] == ["held", "behind it"]


async def test_a_route_written_around_the_manifest_falls_back_to_the_default_chat_and_says_so(runtime, bot):
    telegram = bot
    await runtime.env(W).CONFIG_KV.put("telegram:alerts:info", "my phone")  # by hand, not through the manifest
    r = await post(runtime, {"message": "still arrives", "source": "trade-worker"}, "r1")
    assert r["delivery"] == "sent" and telegram.sent()[0].body["chat_id"] == 777
    logs = (await runtime.env(W).DB.prepare("SELECT level, message FROM system_logs WHERE request_id = 'r1'")
            .all())["results"]
    assert [(row["level"], "telegram:alerts:info" in row["message"]) for row in logs] == [("warning", True)]


# --------------------------------------------------------------------------- alerts raised in a fill's batch
def _signal(runtime, symbol: str, key: str) -> dict:
    return {"apiKey": runtime.env(GW).WEBHOOK_API_KEY, "exchange": "bybit", "action": "LONG", "symbol": symbol,
            "quantity": 0.01, "idempotencyKey": key}


async def test_each_fill_raises_one_alert_with_its_record_and_it_is_sent_once(runtime, bot):
    telegram = bot
    answers = await asyncio.gather(*(runtime.request(GW, "POST", "/webhook", json=_signal(runtime, s, f"k{n}"))
                                     for n, s in enumerate(("BTCUSDT", "ETHUSDT", "BTCUSDT", "ETHUSDT", "BTCUSDT"))))
    assert [a.status for a in answers] == [200] * 5, [a.text() for a in answers]
    rids = {a.json()["requestId"] for a in answers}
    alerts = await rows(runtime)
    # one alert per fill, raised by trade-worker with the fill, routed to the operator chat and sent
    assert sorted(a["request_id"] for a in alerts) == sorted(rids)
    assert {(a["source"], a["level"], a["delivery"], a["chat_id"]) for a in alerts} == {
        ("trade-worker", "info", "sent", CHAT)}
    texts = [c.body["text"] for c in telegram.sent()]
    assert sorted(texts) == sorted(f"<b>[INFO]</b> trade-worker\n{a['message']}" for a in alerts)
    assert all(" filled at " in a["message"] for a in alerts)
    await runtime.run_cron(W)  # the cron finds nothing left to send
    assert len(telegram.sent()) == 5


async def test_a_raised_alert_left_by_a_stop_before_its_drain_is_sent_once_after_the_restart(workspace, bot):
    from hoox_edge.local.runtime import LocalRuntime

    telegram = bot
    first = LocalRuntime(workspace)
    await first.open()
    try:
        env = first.env("trade-worker")
        # what a fill's batch leaves when the runtime stops right after its commit, before any drain
        await env.DB.batch([outbox.raised_statement(env, "paper bybit LONG BTCUSDT 0.01 filled at 60012.0",
                                                    level="info", request_id="r-stopped")])
    finally:
        await first.stop()
    assert telegram.sent() == []

    again = LocalRuntime(workspace)
    await again.open()
    try:
        env = again.env(W)
        # the cron and a raiser's drain at the same time: routed once, sent once
        await asyncio.gather(again.run_cron(W), outbox.drain(env), outbox.drain(env))
        await again.run_cron(W)
        [row] = await rows(again)
        assert (row["request_id"], row["delivery"], row["chat_id"]) == ("r-stopped", "sent", CHAT)
        assert [c.body["text"] for c in telegram.sent()] == [
            "<b>[INFO]</b> trade-worker\npaper bybit LONG BTCUSDT 0.01 filled at 60012.0"]
    finally:
        await again.stop()


async def test_raised_alerts_follow_the_routes_and_go_behind_their_chats_waiting_alerts(runtime, bot, clock):
    telegram = bot
    kv = runtime.env(W).CONFIG_KV
    await settings.put(kv, settings.ALERT_ROUTES["warning"], "muted")
    telegram.fail_next("sendMessage", 502)
    await post(runtime, {"message": "waiting", "source": "agent-worker"}, "r-wait")  # pending, 10 s backoff
    env = runtime.env("trade-worker")
    await env.DB.batch([outbox.raised_statement(env, "info one", level="info", request_id="r-a"),
                        outbox.raised_statement(env, "muted one", level="warning", request_id="r-b")])
    assert await outbox.route_raised(runtime.env(W)) == 2
    assert await outbox.route_raised(runtime.env(W)) == 0  # routed once
    by_rid = {r["request_id"]: r for r in await rows(runtime)}
    assert (by_rid["r-b"]["delivery"], by_rid["r-b"]["chat_id"]) == ("muted", None)
    assert by_rid["r-a"]["delivery"] == "pending" and by_rid["r-a"]["chat_id"] == CHAT
    assert by_rid["r-a"]["next_attempt_at"] == by_rid["r-wait"]["next_attempt_at"] == "2026-01-05T12:00:10.000Z"
    clock.advance(10)
    await runtime.run_cron(W)
    assert [c.body["text"].split("\n")[1] for c in telegram.sent()[1:]] == ["waiting", "info one"]


async def test_drains_asked_at_once_share_calls_and_each_asker_is_covered(runtime, bot):
    from hoox_edge.local import service
    from hoox_edge.shared import calls

    env = runtime.env("trade-worker")
    await env.DB.batch([outbox.raised_statement(env, f"fill {n}", level="info", request_id=f"r{n}")
                        for n in range(10)])
    before = service.HOPS["telegram-worker/alert/drain"]
    # the first asker's drain starts at once; the nine asking meanwhile share the one after it
    assert await asyncio.gather(*(calls.drain_alerts(env) for _ in range(10))) == [True] * 10
    assert service.HOPS["telegram-worker/alert/drain"] - before == 2
    assert [r["delivery"] for r in await rows(runtime)] == ["sent"] * 10
    assert len(bot.sent()) == 10
