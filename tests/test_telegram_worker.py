"""telegram-worker: alerts land in the ledger and, with a bot token, go out through the Bot API.

The Bot API is a fake on 127.0.0.1 (a thread running http.server): nothing here talks to Telegram.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hoox_edge import catalog
from netutil import ServedInThread

W = "telegram-worker"
TOKEN = "123456789:AAH-fake-bot-token-for-tests_xyz"


class FakeBotApi:
    """Records sendMessage calls; answers ok with message id 42, or Telegram's error shape."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.fail_with: tuple[int, str] | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.calls.append({"path": self.path, "body": body})
                if fake.fail_with:
                    status, desc = fake.fail_with
                    answer = {"ok": False, "error_code": status, "description": desc}
                else:
                    status, answer = 200, {"ok": True, "result": {"message_id": 42, "text": body["text"]}}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.served = ServedInThread(self.server)

    def __enter__(self) -> FakeBotApi:
        self.served.start()
        return self

    def __exit__(self, *exc) -> None:
        self.served.stop()


@pytest.fixture
def bot_api():
    with FakeBotApi() as fake:
        yield fake


def key(runtime) -> dict[str, str]:
    return {"X-Internal-Auth-Key": runtime.env(W).INTERNAL_KEY_BINDING}


async def alert(runtime, payload: dict, request_id: str = "req-alert-1"):
    return await runtime.request(
        W,
        "POST",
        "/alert",
        json={"requestId": request_id, "payload": payload},
        headers={**key(runtime), "X-Request-Id": request_id},
    )


async def alerts(runtime) -> list[dict]:
    return (await runtime.env(W).DB.prepare("SELECT * FROM alerts ORDER BY id").all())["results"]


async def all_log_text(runtime) -> str:
    rows = (await runtime.env(W).DB.prepare("SELECT * FROM system_logs").all())["results"]
    return json.dumps(rows) + json.dumps(await alerts(runtime))


@pytest.fixture
def configure_bot(runtime, workspace, monkeypatch):
    """Set the bot's secrets in .dev.vars (picked up without a restart) and point it at `url`."""

    def configure(url: str, chat: str | None = "777") -> None:
        workspace.set_secret("TELEGRAM_BOT_TOKEN", TOKEN)
        if chat:
            workspace.set_secret("TELEGRAM_CHAT_ID", chat)
        if any(name == "TELEGRAM_API_BASE" for name, _ in catalog.worker(W).vars):
            workspace.set_secret("TELEGRAM_API_BASE", url)  # .dev.vars overrides a var, as with wrangler
        else:  # the catalog does not declare the var yet: give it to this worker's env directly
            monkeypatch.setitem(runtime.env(W).__dict__["_bindings"], "TELEGRAM_API_BASE", url)
        assert runtime.env(W).get("TELEGRAM_API_BASE") == url

    return configure


@pytest.mark.parametrize(("method", "path"), [("POST", "/alert"), ("POST", "/telegram/update"),
                                             ("POST", "/telegram/send")])
async def test_internal_routes_need_the_key(runtime, method, path):
    body = {"payload": {"message": "x", "level": "info", "source": "t"}}
    assert (await runtime.request(W, method, path, json=body)).status == 401
    assert (
        await runtime.request(W, method, path, json=body, headers={"X-Internal-Auth-Key": "not-the-key"})
    ).status == 401


async def test_without_a_token_the_alert_waits_in_the_outbox(runtime):
    health = (await runtime.request(W, "GET", "/health")).json()
    assert health["botToken"] == "not configured" and health["delivery"] == "outbox"

    r = await alert(runtime, {"message": "BTCUSDT LONG filled", "level": "info", "source": "trade-worker"})
    assert r.status == 200
    res = r.json()["result"]
    assert res["delivery"] == "outbox" and res["messageId"] is None
    [row] = await alerts(runtime)
    assert row["id"] == res["alertId"]
    assert (row["message"], row["level"], row["source"], row["request_id"], row["delivery"]) == (
        "BTCUSDT LONG filled",
        "info",
        "trade-worker",
        "req-alert-1",
        "outbox",
    )


async def test_invalid_alerts_are_refused(runtime):
    r = await alert(runtime, {"message": "x", "level": "panic", "source": "t"})
    assert r.status == 400 and r.json()["error"]["details"][0]["field"] == "level"
    r = await alert(runtime, {"level": "info", "source": "t"})
    assert r.status == 400
    assert await alerts(runtime) == []


async def test_with_a_token_the_bot_api_gets_the_escaped_text(runtime, configure_bot, bot_api, caplog):
    configure_bot(bot_api.url)
    health = (await runtime.request(W, "GET", "/health")).json()
    assert health["botToken"] == "configured" and TOKEN not in json.dumps(health)

    caplog.set_level(logging.DEBUG)
    r = await alert(
        runtime, {"message": "Stop <hit> on BTC & ETH > 5%", "level": "critical", "source": "agent-worker"}
    )
    assert r.status == 200
    assert r.json()["result"]["delivery"] == "sent" and r.json()["result"]["messageId"] == 42

    [call] = bot_api.calls
    assert call["path"] == f"/bot{TOKEN}/sendMessage"
    assert call["body"]["chat_id"] == 777  # a numeric chat id goes as the number Telegram gave
    assert call["body"]["parse_mode"] == "HTML"
    assert call["body"]["text"] == "<b>[CRITICAL]</b> agent-worker\nStop &lt;hit&gt; on BTC &amp; ETH &gt; 5%"

    [row] = await alerts(runtime)
    assert (row["delivery"], row["telegram_message_id"], row["error"]) == ("sent", 42, None)
    # httpx logs the request URL, which carries the token: the line is there, masked
    assert "/bot***/sendMessage" in caplog.text and TOKEN not in caplog.text


async def test_payload_chat_id_and_preformatted_text_are_sent_as_given(runtime, configure_bot, bot_api):
    configure_bot(bot_api.url, chat=None)
    r = await alert(
        runtime,
        {
            "message": "<b>Filled</b>",
            "level": "info",
            "source": "trade-worker",
            "chatId": -100123,
            "parseMode": "HTML",
        },
    )
    assert r.json()["result"]["delivery"] == "sent"
    body = bot_api.calls[0]["body"]
    assert body["chat_id"] == -100123 and body["text"] == "<b>Filled</b>"


async def test_long_messages_are_split_under_telegrams_limit_without_breaking_an_entity(
    runtime, configure_bot, bot_api
):
    configure_bot(bot_api.url)
    r = await alert(runtime, {"message": "a<b " * 2000, "level": "info", "source": "trade-worker"})
    assert r.json()["result"]["delivery"] == "sent"
    texts = [c["body"]["text"] for c in bot_api.calls]
    assert len(texts) == 4 and all(len(t) <= 4096 for t in texts)
    assert not any(re.search(r"&(?!(amp|lt|gt);)", t) for t in texts)
    # nothing lost: the parts together are the header and the whole escaped message
    assert "".join(texts) == "<b>[INFO]</b> trade-worker\n" + "a&lt;b " * 2000
    [row] = await alerts(runtime)
    assert row["message"] == "a<b " * 2000  # the ledger keeps the whole message


async def test_a_bot_api_error_is_a_failed_delivery_not_a_failed_request(runtime, configure_bot, bot_api):
    configure_bot(bot_api.url)
    bot_api.fail_with = (400, "Bad Request: chat not found")
    r = await alert(runtime, {"message": "x", "level": "error", "source": "trade-worker"})
    assert r.status == 200
    res = r.json()["result"]
    assert res["delivery"] == "failed" and res["messageId"] is None
    [row] = await alerts(runtime)
    assert row["delivery"] == "failed" and "chat not found" in row["error"]
    logs = (
        await runtime.env(W)
        .DB.prepare("SELECT level, message FROM system_logs WHERE request_id = ?")
        .bind("req-alert-1")
        .all()
    )["results"]
    assert logs and logs[0]["level"] == "warning" and "chat not found" in logs[0]["message"]
    assert TOKEN not in await all_log_text(runtime)


async def test_an_unreachable_bot_api_is_a_pending_delivery_without_the_token(runtime, configure_bot):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    configure_bot(f"http://127.0.0.1:{port}")
    r = await alert(runtime, {"message": "x", "level": "error", "source": "trade-worker"})
    # Telegram away is not a refusal: the alert waits in the outbox for the next try
    assert r.status == 200 and r.json()["result"]["delivery"] == "pending"
    assert r.json()["result"]["nextAttemptAt"] is not None
    [row] = await alerts(runtime)
    assert "could not reach the Telegram Bot API" in row["error"]
    assert TOKEN not in await all_log_text(runtime)
    assert TOKEN not in r.text()


async def test_a_token_without_a_chat_id_says_so(runtime, configure_bot, bot_api):
    configure_bot(bot_api.url, chat=None)
    r = await alert(runtime, {"message": "x", "level": "info", "source": "trade-worker"})
    assert r.json()["result"]["delivery"] == "failed"
    assert "TELEGRAM_CHAT_ID" in (await alerts(runtime))[0]["error"]
    assert bot_api.calls == []


async def test_the_desk_sends_only_replies_and_only_to_the_allowed_chats(runtime, configure_bot, bot_api):
    configure_bot(bot_api.url)
    send = {"calls": [{"method": "sendMessage", "params": {"chat_id": 999, "text": "x"}}]}
    r = await runtime.request(W, "POST", "/telegram/send", json={"payload": send}, headers=key(runtime))
    assert r.status == 400 and r.json()["error"]["details"][0]["field"] == "calls[0].params.chat_id"
    send = {"calls": [{"method": "setWebhook", "params": {"url": "https://evil.example"}}]}
    r = await runtime.request(W, "POST", "/telegram/send", json={"payload": send}, headers=key(runtime))
    assert r.status == 400 and bot_api.calls == []
