"""E-mail signals (issue 16 item 1): real MIME samples read by the KV patterns, the sender and
DKIM/SPF checks, the Mailgun webhook (signature, stale timestamps, replays) and the one signal path
(the gateway's `submit_signal`, source email, one execution per Message-ID)."""

from __future__ import annotations

import asyncio
import json
import random
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from hoox_edge.mail import intake, mailgun, message, rules
from hoox_edge.shared import safe_regex, settings

DATA = Path(__file__).parent / "data" / "email"
GW = "hoox"
KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
SENDERS = ["alerts@signals.example.com", "noreply@tradingview.com"]


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def cfg(**over: Any) -> dict[str, Any]:
    out = {k: settings.known(k).default for k in rules.KEYS}
    out[settings.EMAIL_AUTHORIZED_SENDERS] = SENDERS
    out.update({k.replace("_", ":", 1): v for k, v in over.items()})
    return out


def with_header(raw: bytes, name: str, value: str) -> bytes:
    """`raw` with its `name` header replaced by `value` (the first one)."""
    lines = raw.split(b"\r\n")
    for i, line in enumerate(lines):
        if line.lower().startswith(name.lower().encode() + b":"):
            lines[i] = f"{name}: {value}".encode()
            return b"\r\n".join(lines)
    return f"{name}: {value}\r\n".encode() + raw


# --------------------------------------------------------------------------- the parser
@pytest.mark.parametrize(("name", "outcome", "signal", "reason"), [
    ("multipart.eml", "signal", {"action": "LONG", "symbol": "SOLUSDT", "quantity": 0.5}, "email:* patterns"),
    ("quoted_printable.eml", "signal", {"action": "SHORT", "symbol": "ETHUSDT", "quantity": 0.1, "leverage": 3},
     "email:* patterns"),
    # The visible text only: the <title> says BUY and the <script> SELL, the body LONG on BTC/USDT.
    ("html_only.eml", "signal", {"action": "LONG", "symbol": "BTCUSDT", "quantity": 0.01}, "email:* patterns"),
    # A forwarded e-mail is the forwarder's: its subject ("Fwd: ...") is what is scanned.
    ("forwarded.eml", "ignored", None, "subject does not match email:scan_subject"),
    # TradingView's alert e-mail: its JSON alert message, the passkey in it dropped.
    ("tradingview_alert.eml", "signal",
     {"action": "LONG", "symbol": "BTCUSDT", "quantity": 0.002, "strategy": "ema-cross"}, "TradingView"),
])
def test_each_sample_is_read_or_refused_with_its_reason(name, outcome, signal, reason):
    d = rules.decide(message.parse(sample(name)), cfg())
    assert (d.outcome, d.signal) == (outcome, signal)
    assert reason in d.reason


def test_a_tradingview_alert_without_json_is_read_by_the_patterns_whatever_its_subject():
    raw = sample("tradingview_alert.eml")
    head, _, _ = raw.partition(b"\r\n\r\n")
    head = head.replace(b'multipart/alternative; boundary="tv_boundary_91"', b"text/plain")
    plain = head + b"\r\n\r\nYour ETHUSDT alert was triggered: SELL ETH, qty 0.3\r\n"
    d = rules.decide(message.parse(plain), cfg())
    assert d.outcome == "signal" and d.signal == {"action": "SHORT", "symbol": "ETHUSDT", "quantity": 0.3}


def test_the_samples_bodies_are_decoded():
    qp = message.parse(sample("quoted_printable.eml"))
    assert qp.subject == "TRADE SIGNAL: Cross Over — ETH"  # an RFC 2047 encoded word
    assert "on the daily chart" in qp.text and "Target = 3,100" in qp.text  # soft breaks and =3D undone
    html = message.parse(sample("html_only.eml"))
    assert html.html_only and "<b>" not in html.text and "SELL" not in html.text
    assert message.parse(sample("html_only.eml")).sender == "alerts@signals.example.com"  # lower-cased
    fwd = message.parse(sample("forwarded.eml"))
    assert "link-original" not in fwd.text  # the attached original is not the body


@pytest.mark.parametrize(("auth", "why"), [
    ("mx.example; dkim=fail header.d=signals.example.com; spf=pass smtp.mailfrom=signals.example.com", "dkim=fail"),
    ("mx.example; dkim=pass header.d=signals.example.com; spf=softfail smtp.mailfrom=signals.example.com",
     "spf=softfail"),
    # DKIM passed, but for another domain than the sender's.
    ("mx.example; dkim=pass header.d=attacker.example; spf=pass smtp.mailfrom=signals.example.com",
     "dkim=pass for attacker.example"),
    ("mx.example; spf=pass smtp.mailfrom=signals.example.com", "dkim=none"),
])
def test_a_failed_dkim_or_spf_is_refused(auth, why):
    raw = with_header(sample("multipart.eml"), "Authentication-Results", auth)
    d = rules.decide(message.parse(raw), cfg())
    assert d.outcome == "rejected" and why in d.reason and d.signal is None


def test_only_the_topmost_authentication_results_is_believed():
    # A forged "pass" added by the sender sits below the receiving server's own header.
    raw = sample("multipart.eml").replace(
        b"Authentication-Results: mx.routing.example; dkim=pass",
        b"Authentication-Results: mx.routing.example; dkim=fail header.d=signals.example.com; spf=fail "
        b"smtp.mailfrom=signals.example.com\r\nAuthentication-Results: mx.routing.example; dkim=pass", 1)
    assert rules.decide(message.parse(raw), cfg()).outcome == "rejected"


def test_an_unknown_sender_is_refused():
    raw = with_header(sample("multipart.eml"), "From", "Mallory <alerts@signals.example.com.evil.example>")
    d = rules.decide(message.parse(raw), cfg())
    assert d.outcome == "rejected" and "is not in email:authorized_senders" in d.reason
    d = rules.decide(message.parse(sample("multipart.eml")), cfg(email_authorized_senders=[]))
    assert d.outcome == "rejected" and "it is empty" in d.reason


def test_the_patterns_and_multiplier_come_from_the_settings():
    mail = message.parse(sample("multipart.eml"))
    d = rules.decide(mail, cfg(email_coin_pattern="(ETH|BTC)"))
    assert d.outcome == "rejected" and "no asset found by email:coin_pattern" in d.reason
    d = rules.decide(mail, cfg(email_quantity_multiplier=4.0))
    assert d.signal == {"action": "LONG", "symbol": "SOLUSDT", "quantity": 2.0}
    d = rules.decide(mail, cfg(email_scan_subject="^URGENT"))
    assert d.outcome == "ignored"


@pytest.mark.parametrize(("pattern", "rule"), [
    ("(a+)+$", "repeat a group that itself repeats"),
    ("(\\w+\\s?)*$", "repeat a group that itself repeats"),
    ("(BTC)\\1", "backreference"),
    ("(?=BTC)", "lookahead"),
    ("x" * 201, "at most 200 characters"),
    ("(BTC|ETH", "not a valid regular expression"),
])
def test_a_dangerous_or_broken_pattern_is_refused_naming_the_rule(pattern, rule):
    assert rule in (safe_regex.problem(pattern) or "")
    with pytest.raises(settings.SettingError, match="email:coin_pattern") as exc:
        settings.coerce(settings.EMAIL_COIN_PATTERN, pattern)
    assert rule in str(exc.value)


def test_a_pattern_runs_over_a_bounded_text():
    found = safe_regex.search("SOL", "x" * (safe_regex.MAX_SUBJECT + 10) + "SOL")
    assert found.match is None  # beyond what is searched


@pytest.mark.heavy
def test_mutated_samples_are_read_or_unreadable_never_a_crash():
    """3,000 mutations of the samples (fixed seed): the parser and the rules answer, or say Unreadable."""
    rnd = random.Random(20261206)
    samples = [p.read_bytes() for p in sorted(DATA.glob("*.eml"))]
    inserts = [b"=?utf-8?b?", b"=?x?q?=ZZ", b"\r\n", b'"', b"<", b";", b"boundary=", b'charset="nope"', b"(", b"\\",
               b"Content-Transfer-Encoding: base64\r\n", b"\xff\xfe", b"=\r\n", b"Content-Type: message/rfc822\r\n"]
    seen = set()
    for _ in range(3000):
        b = bytearray(rnd.choice(samples))
        for _ in range(rnd.randint(1, 12)):
            pos, op = rnd.randrange(len(b)), rnd.random()
            if op < 0.4:
                b[pos] = rnd.randrange(256)
            elif op < 0.7:
                del b[pos:pos + rnd.randint(1, 40)]
            else:
                b[pos:pos] = rnd.choice(inserts)
        try:
            seen.add(rules.decide(message.parse(bytes(b)), cfg()).outcome)
        except message.Unreadable:
            seen.add("unreadable")
    assert seen == {"signal", "ignored", "rejected", "unreadable"}  # the mutations reach every answer


def test_garbage_is_unreadable_with_a_reason():
    with pytest.raises(message.Unreadable, match="From header names no e-mail address"):
        message.parse(b"Subject: hello\r\n\r\nno sender")
    with pytest.raises(message.Unreadable, match="more than"):
        message.parse(b"x" * (message.MAX_BYTES + 1))


# --------------------------------------------------------------------------- Mailgun and the signal path
@pytest.fixture
async def mail_runtime(runtime, workspace, clock):
    workspace.set_secret("MAILGUN_SIGNING_KEY", KEY)
    await settings.put(runtime.env(GW).CONFIG_KV, settings.EMAIL_AUTHORIZED_SENDERS, SENDERS)
    return runtime


def form(raw: bytes, *, ts: int, token: str, key: str = KEY) -> dict[str, str]:
    return {"timestamp": str(ts), "token": token, "signature": mailgun.signature(key, str(ts), token),
            "body-mime": raw.decode()}


async def post_form(runtime, fields: dict[str, str], *, multipart: bool = False, path: str = "/webhook/mailgun"):
    if multipart:
        boundary = "hooxtestboundary42"
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                 for k, v in fields.items()]
        body = ("".join(parts) + f"--{boundary}--\r\n").encode()
        ctype = f"multipart/form-data; boundary={boundary}"
    else:
        body = urllib.parse.urlencode(fields).encode()
        ctype = "application/x-www-form-urlencoded"
    return await runtime.request(GW, "POST", path, body=body, headers={"Content-Type": ctype})


async def rows(runtime, sql: str, *args: Any) -> list[dict]:
    return (await runtime.env(GW).DB.prepare(sql).bind(*args).all())["results"]


async def test_a_signed_mailgun_email_becomes_an_executed_signal(mail_runtime, clock):
    now = int(clock())
    r = await post_form(mail_runtime, form(sample("multipart.eml"), ts=now, token="tok-1" * 10), multipart=True,
                        path="/webhook/mailgun/mime")
    assert r.status == 200, r.json()
    out = r.json()
    assert out["outcome"] == "executed" and out["requestId"]
    [sig] = await rows(mail_runtime, "SELECT * FROM trade_signals")
    assert (sig["source"], sig["status"], sig["symbol"], sig["action"]) == ("email", "Filled", "SOLUSDT", "LONG")
    assert sig["request_id"] == out["requestId"]
    assert sig["idempotency_key"] == intake.idempotency_key("<breakout-sol-20261206@signals.example.com>")
    [row] = await rows(mail_runtime, "SELECT * FROM email_messages")
    assert (row["via"], row["outcome"], row["request_id"], row["sender"]) == (
        "mailgun", "executed", out["requestId"], "alerts@signals.example.com")


async def test_the_same_message_id_twice_executes_once(mail_runtime, clock):
    now = int(clock())
    first = await post_form(mail_runtime, form(sample("tradingview_alert.eml"), ts=now, token="a" * 50))
    again = await post_form(mail_runtime, form(sample("tradingview_alert.eml"), ts=now, token="b" * 50))
    assert first.json()["outcome"] == "executed"
    assert again.status == 200 and again.json()["outcome"] == "ignored"
    assert "duplicate" in again.json()["reason"] and again.json()["requestId"] == first.json()["requestId"]
    assert len(await rows(mail_runtime, "SELECT * FROM trade_signals")) == 1
    assert [r["outcome"] for r in await rows(mail_runtime, "SELECT outcome FROM email_messages ORDER BY id")] == [
        "executed", "ignored"]
    # The passkey in TradingView's alert message never reaches the ledger.
    assert "not-the-real-passkey" not in json.dumps(await rows(mail_runtime, "SELECT * FROM trade_signals"))


async def test_a_mailgun_replay_is_refused(mail_runtime, clock):
    fields = form(sample("multipart.eml"), ts=int(clock()), token="replay" * 8)
    assert (await post_form(mail_runtime, fields)).status == 200
    replay = await post_form(mail_runtime, fields)
    assert replay.status == 406 and replay.json()["error"]["code"] == "DUPLICATE_REQUEST"
    assert len(await rows(mail_runtime, "SELECT * FROM email_messages")) == 1
    # The token is kept hashed, never as sent.
    assert "replay" not in json.dumps(await rows(mail_runtime, "SELECT * FROM email_mailgun_tokens"))


@pytest.mark.parametrize("change", ["signature", "key", "stale", "future"])
async def test_a_bad_signature_or_stale_timestamp_is_401_and_nothing_is_recorded(mail_runtime, clock, change):
    now = int(clock())
    fields = form(sample("multipart.eml"), ts=now, token="t" * 50)
    if change == "signature":
        fields["signature"] = fields["signature"][:-1] + ("0" if fields["signature"][-1] != "0" else "1")
    elif change == "key":
        fields = form(sample("multipart.eml"), ts=now, token="t" * 50, key="another-key")
    else:
        ts = now - mailgun.WINDOW_S - 1 if change == "stale" else now + mailgun.WINDOW_S + 1
        fields = form(sample("multipart.eml"), ts=ts, token="t" * 50)
    r = await post_form(mail_runtime, fields)
    assert r.status == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    assert await rows(mail_runtime, "SELECT * FROM email_messages") == []
    assert KEY not in json.dumps(await rows(mail_runtime, "SELECT * FROM system_logs"))


async def test_a_signed_form_without_the_email_is_400_and_its_token_is_not_spent(mail_runtime, clock):
    fields = form(sample("multipart.eml"), ts=int(clock()), token="m" * 50)
    body_mime = fields.pop("body-mime")
    r = await post_form(mail_runtime, fields)
    assert r.status == 400 and r.json()["error"]["details"][0]["field"] == "body-mime"
    r = await post_form(mail_runtime, {**fields, "body-mime": body_mime})  # Mailgun's retry, complete
    assert r.status == 200 and r.json()["outcome"] == "executed"


async def test_a_missing_field_is_400_naming_it(mail_runtime, clock):
    fields = form(sample("multipart.eml"), ts=int(clock()), token="t" * 50)
    del fields["token"]
    r = await post_form(mail_runtime, fields)
    assert r.status == 400 and r.json()["error"]["details"] == [
        {"field": "token", "issue": "is required (Mailgun signs every webhook)"}]


async def test_mailguns_parsed_fields_are_read_when_there_is_no_body_mime(mail_runtime, clock):
    now = int(clock())
    fields = {"timestamp": str(now), "token": "p" * 50, "signature": mailgun.signature(KEY, str(now), "p" * 50),
              "message-headers": json.dumps([
                  ["Authentication-Results", "mx.mailgun.org; dkim=pass header.d=signals.example.com; "
                                             "spf=pass smtp.mailfrom=signals.example.com"],
                  ["From", "alerts@signals.example.com"], ["Subject", "TRADE SIGNAL: close"],
                  ["Message-Id", "<close-1@signals.example.com>"]]),
              "body-plain": "Action: CLOSE, Asset: SOLUSDT"}
    r = await post_form(mail_runtime, fields)
    assert r.status == 200
    [row] = await rows(mail_runtime, "SELECT * FROM email_messages")
    assert json.loads(row["signal"])["action"] == "CLOSE" and row["message_id"] == "<close-1@signals.example.com>"


async def test_every_email_gets_a_recorded_outcome(mail_runtime, clock):
    now = int(clock())
    spoofed = with_header(sample("quoted_printable.eml"), "Authentication-Results",
                          "mx.example; dkim=fail header.d=signals.example.com; spf=fail smtp.mailfrom=x.example")
    for i, raw in enumerate([sample("forwarded.eml"), spoofed, b"not an e-mail at all"]):
        assert (await post_form(mail_runtime, form(raw, ts=now, token=f"{i}" * 40))).status == 200
    got = [(r["outcome"], r["reason"]) for r in await rows(mail_runtime, "SELECT * FROM email_messages ORDER BY id")]
    assert [o for o, _ in got] == ["ignored", "rejected", "rejected"]
    assert "scan_subject" in got[0][1] and "dkim=fail" in got[1][1] and got[2][1].startswith("unreadable")
    assert await rows(mail_runtime, "SELECT * FROM trade_signals") == []


async def test_the_kill_switch_refuses_an_email_signal_like_a_webhook(mail_runtime, clock):
    await settings.put(mail_runtime.env(GW).CONFIG_KV, settings.KILL_SWITCH, True)
    r = await post_form(mail_runtime, form(sample("multipart.eml"), ts=int(clock()), token="k" * 50))
    assert r.json()["outcome"] == "rejected" and "KILL_SWITCH_ACTIVE" in r.json()["reason"]
    [sig] = await rows(mail_runtime, "SELECT * FROM trade_signals")
    assert (sig["source"], sig["status"], sig["error_code"]) == ("email", "Rejected", "KILL_SWITCH_ACTIVE")


async def test_a_secret_in_an_email_never_lands_in_a_row(mail_runtime, clock, workspace):
    passkey = "whk_live_passkey_4f9a8b7c6d5e"
    workspace.set_secret("WEBHOOK_API_KEY", passkey)
    raw = sample("tradingview_alert.eml").replace(b'"strategy": "ema-cross"', f'"note": "{passkey}"'.encode())
    raw = raw.replace(b"Subject: Alert: BTCUSDT", f"Subject: Alert {passkey}: BTCUSDT".encode())
    r = await post_form(mail_runtime, form(raw, ts=int(clock()), token="s" * 50))
    # The gateway refuses a field whose value is one of the deployment's secrets, naming the field only.
    assert r.status == 200 and r.json()["outcome"] == "rejected" and "note" in r.json()["reason"]
    stored = json.dumps([await rows(mail_runtime, f"SELECT * FROM {t}")
                         for t in ("email_messages", "trade_signals", "system_logs")])
    assert passkey not in stored and passkey not in json.dumps(r.json())


@pytest.mark.parametrize(("ctype", "body", "status"), [
    ("multipart/form-data", b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--", 400),  # no boundary
    ("multipart/form-data; boundary=x", b"\x00\xff garbage without parts", 400),
    ("application/x-www-form-urlencoded", b"timestamp=%ff%fe&token=1", 400),
    ("application/json", b'{"timestamp": "1"}', 400),
    ("text/plain", b"", 400),
    ("application/x-www-form-urlencoded", b"a=" + b"x" * (mailgun.MAX_BYTES + 10), 413),
])
async def test_hostile_mailgun_bodies_get_a_4xx_naming_the_problem(mail_runtime, ctype, body, status):
    r = await mail_runtime.request(GW, "POST", "/webhook/mailgun", body=body, headers={"Content-Type": ctype})
    assert r.status == status and r.json()["error"]["code"] in ("VALIDATION_ERROR", "PAYLOAD_TOO_LARGE")
    assert await rows(mail_runtime, "SELECT * FROM email_messages") == []


async def test_a_signed_form_with_broken_fields_is_refused_or_recorded_never_a_500(mail_runtime, clock):
    now = int(clock())
    sig = {"timestamp": str(now), "token": "h" * 50, "signature": mailgun.signature(KEY, str(now), "h" * 50)}
    r = await post_form(mail_runtime, {**sig, "message-headers": "not json", "body-plain": "x"})
    assert r.status == 400 and r.json()["error"]["details"][0]["field"] == "message-headers"
    sig2 = {"timestamp": str(now), "token": "g" * 50, "signature": mailgun.signature(KEY, str(now), "g" * 50)}
    r = await post_form(mail_runtime, {**sig2, "body-mime": "\x00\x01From: nobody\r\n\r\n\x00"}, multipart=True)
    assert r.status == 200 and r.json()["outcome"] == "rejected" and r.json()["reason"].startswith("unreadable")


async def test_the_same_email_arriving_twice_at_once_trades_once(mail_runtime):
    gw = mail_runtime.module(GW)
    env = mail_runtime.env(GW)
    outs = await asyncio.gather(*(intake.handle(env, sample("multipart.eml"), via=via, submit=gw.submit_signal)
                                  for via in ("mailgun", "imap")))
    # The gateway's idempotency lock (the key from the Message-ID): one order, the other arrival a duplicate.
    sigs = await rows(mail_runtime, "SELECT status, error_code, idempotency_key FROM trade_signals")
    assert sorted((r["status"], r["error_code"]) for r in sigs) == [("Filled", None), ("Rejected", "DUPLICATE_REQUEST")]
    assert len({r["idempotency_key"] for r in sigs}) == 1
    assert len(await rows(mail_runtime, "SELECT * FROM trades")) == 1
    # The later arrival is answered with the first one's outcome (resumed or a 409): the same request id.
    assert len({o["requestId"] for o in outs}) == 1 and {o["outcome"] for o in outs} <= {"executed", "ignored"}
    assert len(await rows(mail_runtime, "SELECT * FROM email_messages")) == 2  # each arrival recorded
