"""IMAP polling (issue 16 item 1c) against a loopback IMAP server over TLS (tests/fake_imap.py, its
self-signed certificate made in the test): unseen mail read once, flagged, its UID kept in D1 so a
restart in the middle reads nothing twice."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path
from typing import Any

import pytest
from fake_imap import FakeImap
from hoox_edge.local import imap_poll
from hoox_edge.shared import settings

DATA = Path(__file__).parent / "data" / "email"
GW = "hoox"
USER, PASSWORD = "signals@my-trading-app.example", "app-password-9f8e7d6c5b4a"


@pytest.fixture
def server(workspace):
    with FakeImap(USER, PASSWORD) as fake:
        workspace.set_secret("EMAIL_HOST", f"127.0.0.1:{fake.port}")
        workspace.set_secret("EMAIL_USER", USER)
        workspace.set_secret("EMAIL_PASS", PASSWORD)
        for name in ("multipart.eml", "quoted_printable.eml", "forwarded.eml"):
            fake.add((DATA / name).read_bytes())
        yield fake


async def allow(rt) -> None:
    await settings.put(rt.env(GW).CONFIG_KV, settings.EMAIL_AUTHORIZED_SENDERS, ["alerts@signals.example.com"])


@pytest.fixture
async def mailbox(runtime, server, clock):
    await allow(runtime)
    return server


def submit_of(runtime):
    return runtime.module(GW).submit_signal


async def poll(runtime, server: FakeImap, submit=None) -> dict[str, Any]:
    return await imap_poll.poll_once(runtime.env(GW), runtime.env(imap_poll.EMAIL), submit or submit_of(runtime),
                                     context=server.client_context())


async def rows(runtime, sql: str) -> list[dict]:
    return (await runtime.env(GW).DB.prepare(sql).all())["results"]


async def test_unseen_mail_is_read_once_flagged_and_each_outcome_recorded(runtime, mailbox):
    out = await poll(runtime, mailbox)
    assert out == {"configured": True, "read": 3, "outcomes": ["executed", "executed", "ignored"]}
    assert all(m.flags == {"\\Seen", "$HooxProcessed"} for m in mailbox.messages)
    assert all("BODY.PEEK[]" in c for c in mailbox.commands if c.startswith("UID FETCH"))
    got = await rows(runtime, "SELECT via, outcome, sender FROM email_messages ORDER BY id")
    assert [(r["via"], r["outcome"]) for r in got] == [("imap", "executed"), ("imap", "executed"), ("imap", "ignored")]
    sigs = await rows(runtime, "SELECT source, symbol, status FROM trade_signals ORDER BY created_at")
    assert sorted((s["source"], s["symbol"], s["status"]) for s in sigs) == [
        ("email", "ETHUSDT", "Filled"), ("email", "SOLUSDT", "Filled")]
    [state] = await rows(runtime, "SELECT * FROM email_imap_state")
    assert (state["uidvalidity"], state["last_uid"]) == (7, 3)
    # The next round finds nothing new; a new e-mail is read on its own.
    again = await poll(runtime, mailbox)
    assert again["read"] == 0 and mailbox.fetched() == [1, 2, 3]
    mailbox.add((DATA / "html_only.eml").read_bytes())
    assert (await poll(runtime, mailbox))["outcomes"] == ["executed"] and mailbox.fetched() == [1, 2, 3, 4]


async def test_a_restart_in_the_middle_reads_nothing_twice(runtime, mailbox):
    real = submit_of(runtime)
    calls = 0

    async def dies_on_the_second(env, body, *, source):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the runtime stopped here")
        return await real(env, body, source=source)

    with pytest.raises(RuntimeError):
        await poll(runtime, mailbox, dies_on_the_second)
    [state] = await rows(runtime, "SELECT last_uid FROM email_imap_state")
    assert state["last_uid"] == 1 and mailbox.messages[0].flags == {"\\Seen", "$HooxProcessed"}
    out = await poll(runtime, mailbox)  # a new round, as after a restart
    assert out["outcomes"] == ["executed", "ignored"]
    # UID 1 was read once; UID 2 (whose handling never finished) once more; nothing executed twice.
    assert mailbox.fetched() == [1, 2, 2, 3]
    assert len(await rows(runtime, "SELECT * FROM trade_signals")) == 2
    assert len(await rows(runtime, "SELECT * FROM email_messages")) == 3


async def test_a_message_handled_but_not_saved_is_recorded_as_a_duplicate_not_executed_again(runtime, mailbox):
    await poll(runtime, mailbox)
    await runtime.env(GW).DB.prepare("UPDATE email_imap_state SET last_uid = 0").run()
    for m in mailbox.messages:
        m.flags.clear()
    out = await poll(runtime, mailbox)
    assert out["outcomes"] == ["ignored", "ignored", "ignored"]
    assert len(await rows(runtime, "SELECT * FROM trade_signals")) == 2
    reasons = [r["reason"] for r in await rows(runtime, "SELECT reason FROM email_messages ORDER BY id")][3:5]
    assert all(r.startswith("duplicate: this Message-ID was executed already") for r in reasons)


async def test_the_servers_certificate_is_verified(runtime, mailbox):
    with pytest.raises(ssl.SSLCertVerificationError):
        await poll_with(runtime, ssl.create_default_context())
    assert mailbox.logins == 0


async def poll_with(runtime, context: ssl.SSLContext) -> dict[str, Any]:
    return await imap_poll.poll_once(runtime.env(GW), runtime.env(imap_poll.EMAIL), submit_of(runtime),
                                     context=context)


async def test_without_the_secrets_nothing_is_read(runtime, workspace):
    workspace.set_secret("EMAIL_HOST", "")
    out = await imap_poll.poll_once(runtime.env(GW), runtime.env(imap_poll.EMAIL), submit_of(runtime))
    assert out == {"configured": False, "read": 0, "outcomes": []}


async def test_a_failed_round_is_logged_without_the_password_and_the_loop_goes_on(runtime, mailbox, workspace):
    workspace.set_secret("EMAIL_PASS", "wrong-" + PASSWORD)
    stopping = asyncio.Event()
    task = asyncio.create_task(imap_poll.run(lambda: (runtime.env(GW), runtime.env(imap_poll.EMAIL)),
                                             submit_of(runtime), stopping, mailbox.client_context()))
    try:
        async with asyncio.timeout(20):
            while not await rows(runtime, "SELECT * FROM system_logs WHERE message LIKE 'e-mail polling failed%'"):
                await asyncio.sleep(0.02)
        assert not task.done()  # the loop waits for its next round
    finally:
        stopping.set()
        await asyncio.wait_for(task, 5)
    logged = json.dumps(await rows(runtime, "SELECT * FROM system_logs"))
    assert "AUTHENTICATIONFAILED" in logged and PASSWORD not in logged
    assert await rows(runtime, "SELECT * FROM email_messages") == []


async def test_the_runtime_polls_the_mailbox_when_email_worker_runs(workspace, server, monkeypatch):
    from hoox_edge.local.runtime import LocalRuntime

    # The runtime's own TLS context (ssl.create_default_context) trusting the test server's certificate.
    monkeypatch.setenv("SSL_CERT_FILE", server.cafile)
    mailbox = server
    rt = LocalRuntime(workspace, workers=[*workspace.enabled_workers(), imap_poll.EMAIL])
    await rt.open()
    await allow(rt)  # before the loop's first round
    await rt.start(serve_http=False)
    try:
        async with asyncio.timeout(30):
            while len(await rows(rt, "SELECT * FROM email_messages")) < 3:
                await asyncio.sleep(0.05)
        assert mailbox.fetched() == [1, 2, 3]
        got = await rows(rt, "SELECT via, outcome FROM email_messages ORDER BY id")
        assert [(r["via"], r["outcome"]) for r in got] == [("imap", "executed"), ("imap", "executed"),
                                                           ("imap", "ignored")]
        [task] = [t for t in rt._loops if t.get_name() == "e-mail polling"]
    finally:
        await rt.stop()
    assert task.done() and not task.cancelled()  # it ended with the runtime, not cut off
