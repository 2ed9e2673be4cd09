"""The Telegram desk (issue 14 items 1 and 2): Telegram's updates reach the gateway's /telegram-webhook,
telegram-worker checks them, the gateway runs the command, and the replies go out through the Bot API.

The Bot API is tests/fake_telegram.py (loopback): nothing here talks to Telegram.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fake_telegram import FakeTelegram, callback_update, message_update, photo_update
from hoox_edge.desk.updates import message
from hoox_edge.local import telegram_poll
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.shared import settings

GW = "hoox"
TOKEN = "123456789:AAH-desk-token-for-tests_xyz"
SECRET = "desk-webhook-secret_0123456789"
CHAT = 111
STRANGER = 666
HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
def bot(workspace):
    with FakeTelegram() as fake:
        workspace.set_secret("TELEGRAM_BOT_TOKEN", TOKEN)
        workspace.set_secret("TELEGRAM_CHAT_ID", f"{CHAT},222")
        workspace.set_secret("TELEGRAM_WEBHOOK_SECRET", SECRET)
        workspace.set_secret("TELEGRAM_API_BASE", fake.url)
        yield fake


@pytest.fixture(autouse=True)
def _fixed_time(clock):
    return clock


async def post(runtime, update: dict[str, Any], secret: str | None = SECRET):
    headers = {HEADER: secret} if secret is not None else {}
    return await runtime.request(GW, "POST", "/telegram-webhook", json=update, headers=headers)


def texts(bot: FakeTelegram, chat: int = CHAT) -> list[str]:
    return [c.body["text"] for c in bot.sent() if str(c.body.get("chat_id")) == str(chat)]


async def rows(runtime, sql: str, *args: Any) -> list[dict]:
    return (await runtime.env(GW).DB.prepare(sql).bind(*args).all())["results"]


def keyboard_token(bot: FakeTelegram) -> str:
    markup = bot.sent()[-1].body["reply_markup"]
    ok_button = markup["inline_keyboard"][0][0]
    assert ok_button["text"] == "Confirm" and ok_button["callback_data"].startswith("ok:")
    return ok_button["callback_data"]


# --------------------------------------------------------------------------- ingress
@pytest.mark.parametrize("secret", [None, "wrong-secret", SECRET + "x"])
async def test_a_missing_or_wrong_secret_token_is_401_and_nothing_is_answered(runtime, bot, secret):
    r = await post(runtime, message_update(1, "/status"), secret=secret)
    assert r.status == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    assert bot.calls == [] and await rows(runtime, "SELECT * FROM telegram_updates") == []
    assert SECRET not in json.dumps(await rows(runtime, "SELECT * FROM system_logs"))


async def test_without_a_configured_secret_every_webhook_is_401(runtime, bot, workspace):
    workspace.set_secret("TELEGRAM_WEBHOOK_SECRET", "")
    r = await post(runtime, message_update(1, "/status"), secret="")
    assert r.status == 401 and bot.calls == []


async def test_a_command_is_answered_in_the_chat_it_came_from(runtime, bot):
    r = await post(runtime, message_update(10, "/status"))
    assert r.status == 200 and r.json() == {"ok": True, "taken": True}
    [text] = texts(bot)
    assert "Kill switch: off" in text and "Mode: paper" in text and "Queue: depth 0" in text
    assert "trade-worker: online" in text
    call = bot.sent()[0]
    assert call.token == TOKEN and call.body["parse_mode"] == "HTML"


async def test_the_seeds_path_form_takes_the_secret_in_the_path_and_never_records_it(runtime, bot):
    r = await runtime.request(GW, "POST", f"/telegram/{SECRET}", json=message_update(11, "/help"))
    assert r.status == 200 and "/killon" in texts(bot)[0]
    assert (await runtime.request(GW, "POST", "/telegram/not-the-secret", json=message_update(12, "/help"))
            ).status == 401
    await runtime.analytics.flush()
    recorded = await runtime.analytics_sql().query("SELECT blob3 FROM hoox_telemetry")
    assert recorded and SECRET not in json.dumps(recorded)


async def test_a_strangers_chat_gets_a_silent_200_and_a_security_log_row(runtime, bot):
    r = await post(runtime, message_update(20, "/killon", chat_id=STRANGER))
    assert r.status == 200 and r.json()["taken"] is False
    assert bot.calls == []
    [row] = await rows(runtime, "SELECT * FROM system_logs WHERE message LIKE 'telegram update 20 %'")
    assert row["level"] == "warning" and row["worker"] == "telegram-worker"
    details = json.loads(row["details"])
    assert details["security"] is True and details["chatId"] == str(STRANGER)
    assert not (await settings.get(runtime.env(GW).CONFIG_KV, settings.KILL_SWITCH))


async def test_a_redelivered_update_is_handled_once(runtime, bot):
    first = await post(runtime, message_update(30, "/help"))
    again = await post(runtime, message_update(30, "/help"))
    assert first.status == again.status == 200
    assert again.json()["taken"] is False and len(texts(bot)) == 1


async def test_a_body_that_is_not_an_update_is_400_naming_the_field(runtime, bot):
    r = await post(runtime, {"message": {"text": "/status"}})
    assert r.status == 400 and r.json()["error"]["details"][0]["field"] == "update.update_id"
    r = await runtime.request(GW, "POST", "/telegram-webhook", body=b"not json", headers={HEADER: SECRET})
    assert r.status == 400 and bot.calls == []


async def test_telegram_worker_not_running_is_503_so_telegram_delivers_again(workspace, bot):
    rt = LocalRuntime(workspace, workers=["hoox"])
    await rt.open()
    try:
        r = await post(rt, message_update(40, "/status"))
        assert r.status == 503 and r.json()["error"]["code"] == "TELEGRAM_UNAVAILABLE"
        assert "not running" in r.json()["error"]["message"]
    finally:
        await rt.stop()


@pytest.mark.parametrize(("update", "answer"), [
    (message_update(50, "/status", edited=True), "Edited messages are not run"),
    (photo_update(51, caption="look"), "chart analysis is not available"),
    (message_update(52, "should I close BTC?"), "AI chat is not available"),
    (message_update(53, "/moon"), "Unknown command /moon."),
])
async def test_edited_messages_photos_free_text_and_unknown_commands(runtime, bot, update, answer):
    assert (await post(runtime, update)).status == 200
    [text] = texts(bot)
    assert answer in text
    if "Unknown" in answer:
        assert "/positions" in text  # the help follows


# --------------------------------------------------------------------------- confirmations
async def test_killon_asks_first_then_the_confirmation_halts_the_webhook(runtime, bot):
    await post(runtime, message_update(60, "/killon fat finger <test>"))
    assert not await settings.get(runtime.env(GW).CONFIG_KV, settings.KILL_SWITCH)  # asked, not done
    assert "Reason: fat finger &lt;test&gt;" in texts(bot)[-1]
    data = keyboard_token(bot)

    await post(runtime, callback_update(61, data))
    [answer] = bot.sent("answerCallbackQuery")
    assert answer.body == {"callback_query_id": "cbq-61", "text": "Confirmed."}
    assert bot.sent("editMessageReplyMarkup")[0].body["reply_markup"] == {"inline_keyboard": []}
    assert "Kill switch <b>ON</b>: fat finger <test>" not in texts(bot)[-1]  # escaped
    assert "Kill switch <b>ON</b>: fat finger &lt;test&gt;" in texts(bot)[-1]
    assert await settings.get(runtime.env(GW).CONFIG_KV, settings.KILL_SWITCH) is True

    webhook = await runtime.request(GW, "POST", "/webhook", json={
        "apiKey": runtime.env(GW).WEBHOOK_API_KEY, "action": "LONG", "symbol": "BTCUSDT", "quantity": 0.01})
    assert webhook.status == 503 and webhook.json()["error"]["code"] == "KILL_SWITCH_ACTIVE"
    [logged] = await rows(runtime, "SELECT details FROM system_logs WHERE message = ?",
                          "telegram turned the kill switch on")
    assert json.loads(logged["details"])["by"] == "telegram"

    # The token is spent: a second press changes nothing and says so.
    await post(runtime, callback_update(62, data))
    assert "expired or was already used" in bot.sent("answerCallbackQuery")[-1].body["text"]


async def test_a_confirmation_expires_after_60_s_and_cancel_changes_nothing(runtime, bot, clock):
    await post(runtime, message_update(70, "/killoff"))
    late = keyboard_token(bot)
    await post(runtime, message_update(71, "/flatten"))
    cancel = keyboard_token(bot).replace("ok:", "no:")
    clock.advance(61)
    await post(runtime, callback_update(72, late))
    assert "expired" in bot.sent("answerCallbackQuery")[-1].body["text"]
    await post(runtime, callback_update(73, cancel))
    assert "expired" in bot.sent("answerCallbackQuery")[-1].body["text"]

    await post(runtime, message_update(74, "/flatten"))
    await post(runtime, callback_update(75, keyboard_token(bot).replace("ok:", "no:")))
    assert bot.sent("answerCallbackQuery")[-1].body["text"] == "Cancelled."
    assert "/flatten cancelled" in texts(bot)[-1]


async def test_a_token_confirms_only_in_its_own_chat(runtime, bot):
    await post(runtime, message_update(80, "/killon"))
    data = keyboard_token(bot)
    await post(runtime, callback_update(81, data, chat_id=222))  # the other allowed chat
    assert "expired or was already used" in bot.sent("answerCallbackQuery")[-1].body["text"]
    assert not await settings.get(runtime.env(GW).CONFIG_KV, settings.KILL_SWITCH)


# --------------------------------------------------------------------------- signals and books
async def test_long_goes_through_the_signal_path_with_dedup_and_the_kill_switch(runtime, bot):
    await post(runtime, message_update(90, "/long btcusdt 0.01 3"))
    assert "LONG BTCUSDT: <b>filled</b> 0.01 @" in texts(bot)[-1]
    [sig] = await rows(runtime, "SELECT * FROM trade_signals")
    assert (sig["source"], sig["status"], sig["symbol"]) == ("telegram", "Filled", "BTCUSDT")
    [trade] = await rows(runtime, "SELECT * FROM trades")
    assert trade["leverage"] == 3 and trade["request_id"] == sig["request_id"]

    await post(runtime, message_update(91, "/long BTCUSDT 0.01 3"))  # the same order within 60 s
    assert "<b>refused</b> (DUPLICATE_REQUEST, HTTP 409)" in texts(bot)[-1]
    assert len(await rows(runtime, "SELECT * FROM trades")) == 1

    await settings.put(runtime.env(GW).CONFIG_KV, settings.KILL_SWITCH, True)
    await post(runtime, message_update(92, "/short ETHUSDT 1"))
    assert "(KILL_SWITCH_ACTIVE, HTTP 503)" in texts(bot)[-1]
    assert len(await rows(runtime, "SELECT * FROM trades")) == 1


async def test_bad_signal_arguments_are_refused_naming_the_field(runtime, bot):
    await post(runtime, message_update(95, "/long BTCUSDT lots"))
    assert "• quantity:" in texts(bot)[-1] and "VALIDATION_ERROR" in texts(bot)[-1]
    await post(runtime, message_update(96, "/long BTCUSDT"))
    assert texts(bot)[-1] == "Usage: /long SYMBOL QTY [leverage]"
    [sig] = await rows(runtime, "SELECT source, status, error_code FROM trade_signals")
    assert sig == {"source": "telegram", "status": "Rejected", "error_code": "VALIDATION_ERROR"}


async def test_positions_trades_pnl_risk_and_flatten_read_and_close_the_real_book(runtime, bot):
    await post(runtime, message_update(100, "/long BTCUSDT 0.02"))
    [fill] = await rows(runtime, "SELECT * FROM trades")

    await post(runtime, message_update(101, "/positions"))
    text = texts(bot)[-1]
    assert "<b>paper</b>: 1" in text and "<b>live</b>: none" in text
    assert f"bybit <b>BTCUSDT</b> LONG 0.02 @ {fill['price']:,.8f}".rstrip("0").rstrip(".") in text
    assert "uPnL" in text

    await post(runtime, message_update(102, "/trades 5"))
    assert "<b>Last 1 trades</b>" in texts(bot)[-1] and "BTCUSDT</b> LONG 0.02" in texts(bot)[-1]
    await post(runtime, message_update(103, "/trades 500"))
    assert "from 1 to 50" in texts(bot)[-1]

    await post(runtime, message_update(104, "/pnl"))
    text = texts(bot)[-1]
    assert "<b>P&amp;L today</b>" in text and "1 fills" in text
    assert f"fees {fill['fee']:,.2f}" in text
    await post(runtime, message_update(105, "/pnl 1y"))
    assert texts(bot)[-1] == "Usage: /pnl [today|7d|30d]"

    await post(runtime, message_update(106, "/risk"))
    assert "<b>Risk manager</b>" in texts(bot)[-1] and "paper <b>BTCUSDT</b> LONG" in texts(bot)[-1]

    await post(runtime, message_update(107, "/flatten"))
    await post(runtime, callback_update(108, keyboard_token(bot)))
    assert "<b>Flatten</b>: 1/1 positions closed" in texts(bot)[-1]
    assert await rows(runtime, "SELECT * FROM positions WHERE status = 'OPEN'") == []
    [logged] = await rows(runtime, "SELECT message FROM system_logs WHERE message LIKE 'flatten (telegram)%'")
    assert "1/1 positions closed" in logged["message"]


# --------------------------------------------------------------------------- replies
def test_long_replies_are_split_under_4096_at_line_breaks_with_the_keyboard_on_the_last():
    text = "\n".join(f"line {i} &amp; <b>{'x' * 50}</b>" for i in range(300))
    calls = message(CHAT, text, [[{"text": "Confirm", "callback_data": "ok:t"}]])
    parts = [c["params"]["text"] for c in calls]
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    assert "\n".join(parts) == text  # cut at line breaks: nothing lost, no tag or entity broken
    assert [("reply_markup" in c["params"]) for c in calls] == [False] * (len(calls) - 1) + [True]


async def test_the_bot_token_and_secret_never_reach_the_ledger(runtime, bot):
    await post(runtime, message_update(120, "/status"))
    await post(runtime, message_update(121, "/killon"))
    for table in ("system_logs", "telegram_updates", "telegram_confirmations", "alerts"):
        dump = json.dumps(await rows(runtime, f"SELECT * FROM {table}"))
        assert TOKEN not in dump and SECRET not in dump, table


# --------------------------------------------------------------------------- long polling (no webhook)
def calls_of(f: FakeTelegram, method: str = "sendMessage") -> list[Any]:
    """For wait_for's predicates: they run holding the fake's lock, which `sent()` takes too."""
    return [c for c in f.calls if c.method == method]


def polling_task(rt: LocalRuntime) -> asyncio.Task:
    [task] = [t for t in rt._loops if t.get_name() == "telegram polling"]
    return task


async def test_local_long_polling_takes_a_command_end_to_end_with_no_webhook(workspace, bot):
    rt = LocalRuntime(workspace)
    await rt.start(serve_http=False)
    try:
        bot.push_update(message_update(200, "/killon from the laptop"))
        assert await asyncio.to_thread(bot.wait_for, lambda f: any(
            "reply_markup" in c.body for c in calls_of(f)))
        data = keyboard_token(bot)
        bot.push_update(callback_update(201, data))
        assert await asyncio.to_thread(bot.wait_for, lambda f: any(
            "Kill switch <b>ON</b>: from the laptop" in c.body.get("text", "") for c in calls_of(f)))
        assert await settings.get(rt.env(GW).CONFIG_KV, settings.KILL_SWITCH) is True
        # the webhook's checks hold here too: a stranger is dropped, and the offset moves past it
        bot.push_update(message_update(202, "/killoff", chat_id=STRANGER))
        assert await asyncio.to_thread(bot.wait_for, lambda f: any(
            c.method == "getUpdates" and int(c.body.get("offset") or 0) == 203 for c in f.calls))
        assert texts(bot, STRANGER) == []
        assert await telegram_poll.next_offset(rt.env(GW).DB) == 203
        [via] = await rows(rt, "SELECT DISTINCT via FROM telegram_updates")
        assert via == {"via": "polling"}
    finally:
        task = polling_task(rt)
        await rt.stop()
    assert task.done() and not task.cancelled()  # it ended with the runtime, not cut off after the grace


async def test_polling_resumes_at_its_durable_offset_and_idles_while_a_webhook_is_set(workspace, bot):
    rt = LocalRuntime(workspace)
    await rt.open()
    await telegram_poll.save_offset(rt.env(GW).DB, 300)
    await rt.stop()
    bot.webhook = {"url": "https://hoox.example/telegram-webhook"}
    rt = LocalRuntime(workspace)
    await rt.start(serve_http=False)
    try:
        assert await asyncio.to_thread(bot.wait_for, lambda f: bool(calls_of(f, "getWebhookInfo")))
    finally:
        await rt.stop()
    assert bot.sent("getUpdates") == []  # the webhook is how updates arrive

    bot.webhook = {}
    bot.push_update(message_update(299, "/help"))  # already taken before the restart
    bot.push_update(message_update(300, "/help"))
    rt = LocalRuntime(workspace)
    await rt.start(serve_http=False)
    try:
        assert await asyncio.to_thread(bot.wait_for, lambda f: len(calls_of(f)) >= 1)
        assert bot.sent("getUpdates")[0].body["offset"] == 300
    finally:
        await rt.stop()
    assert len(texts(bot)) == 1


async def test_a_command_that_fails_says_so_in_the_chat_and_in_the_logs(runtime, bot, monkeypatch):
    from hoox_edge.operator import orders

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("exchange gone")

    monkeypatch.setattr(orders, "flatten", broken)
    await post(runtime, message_update(130, "/flatten"))
    r = await post(runtime, callback_update(131, keyboard_token(bot)))
    assert r.status == 200  # the update is taken: Telegram must not deliver it again
    assert "The confirmed action failed (RuntimeError)" in texts(bot)[-1]
    assert await rows(runtime, "SELECT * FROM system_logs WHERE message = 'telegram desk: confirmation failed "
                               "(RuntimeError)'")
