"""Credential hygiene: when each secret was last set is kept (never its value), and `hoox secrets check`
flags the ones older than the rotation period (hoox.toml secrets.rotation_days, default 90) after a jump of
the fake clock, locally and on the deployed workers (wrangler against the loopback Cloudflare API fake)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import as_json, enable_only, hoox
from fake_cloudflare import FakeCloudflare, start_fake
from hoox_edge.local.workspace import Workspace

KEY = "bybit-key-7Hq2xLw9"
SECRET = "bybit-secret-Zp4vN8kR2mQ6"
DAY = 86400


def _set(name: str, value: str, *args: str) -> None:
    r = hoox("secrets", "set", name, *args, "--json", input=value)
    assert r.exit_code == 0, r.stdout


def _check(*args: str) -> dict:
    r = hoox("secrets", "check", *args, "--json")
    assert r.stdout, r.stderr
    return as_json(r)


def test_secrets_are_dated_when_set_and_flagged_once_past_the_rotation_period(ws: Workspace, clock) -> None:
    _set("BYBIT_API_KEY", KEY)
    _set("BYBIT_API_SECRET", SECRET)
    dates = ws.secret_dates_path.read_text(encoding="utf-8")
    assert "BYBIT_API_KEY" in dates and KEY not in dates and SECRET not in dates  # names and dates only
    out = _check()
    assert out["overdue"] == [] and out["rotation"]["days"] == 90
    ages = {a["name"]: a for a in out["rotation"]["secrets"]}
    assert ages["BYBIT_API_KEY"]["age_days"] == 0 and ages["BYBIT_API_KEY"]["set_at"].startswith("2026-01-05")

    clock.advance(60 * DAY)
    _set("BYBIT_API_SECRET", SECRET)  # the same value again is not a rotation
    _set("BYBIT_API_KEY", KEY + "-new")  # a new key is
    clock.advance(31 * DAY)  # day 91
    out = _check()
    assert out["overdue"] == ["BYBIT_API_SECRET"]
    ages = {a["name"]: a for a in out["rotation"]["secrets"]}
    assert ages["BYBIT_API_SECRET"]["age_days"] == 91 and ages["BYBIT_API_SECRET"]["fix"] == \
        "hoox secrets set BYBIT_API_SECRET"
    assert ages["BYBIT_API_KEY"]["age_days"] == 31 and not ages["BYBIT_API_KEY"]["overdue"]
    assert out["ok"] is True  # overdue is a warning, not a failure

    r = hoox("secrets", "check")  # the text report says what to do
    assert "BYBIT_API_SECRET was set 91 days ago" in r.stderr and "`hoox secrets set BYBIT_API_SECRET`" in r.stderr
    assert SECRET not in r.stdout + r.stderr

    _set("BYBIT_API_SECRET", SECRET + "-rotated")
    assert _check()["overdue"] == []


def test_the_generated_secrets_age_too_and_the_period_is_settable(ws: Workspace, clock) -> None:
    assert "OPERATOR_API_KEY" in ws.secret_dates()  # dated when the workspace generated it
    # a line written into .dev.vars by hand has no date: reported as such, never flagged
    with ws.dev_vars_path.open("a", encoding="utf-8") as f:
        f.write("TELEGRAM_CHAT_ID=4242\n")
    out = _check()
    assert [a["name"] for a in out["rotation"]["secrets"] if a["set_at"] is None] == ["TELEGRAM_CHAT_ID"]
    assert "No date is recorded for TELEGRAM_CHAT_ID" in hoox("secrets", "check").stdout

    _set("OPERATOR_API_KEY", "o" * 40)
    r = hoox("config", "set", "secrets.rotation_days", "0", "--json")
    assert r.exit_code != 0 and "secrets.rotation_days" in as_json(r)["error"]["message"]
    assert hoox("config", "set", "secrets.rotation_days", "30").exit_code == 0
    clock.advance(29 * DAY)
    assert _check()["overdue"] == []
    clock.advance(DAY)
    out = _check()
    assert out["rotation"]["days"] == 30 and out["overdue"] == ["OPERATOR_API_KEY"]


def test_deleting_a_secret_forgets_its_date(ws: Workspace, clock) -> None:
    _set("TELEGRAM_BOT_TOKEN", "123:abc")
    assert "TELEGRAM_BOT_TOKEN" in ws.secret_dates()
    assert hoox("secrets", "delete", "TELEGRAM_BOT_TOKEN").exit_code == 0
    assert "TELEGRAM_BOT_TOKEN" not in ws.secret_dates()


@pytest.fixture
def fake(ws: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    f = start_fake(monkeypatch, tmp_path / "home")
    yield f
    f.stop()


@pytest.mark.heavy
def test_remote_secrets_are_dated_per_worker(ws: Workspace, fake: FakeCloudflare, clock) -> None:
    enable_only(ws, ["hoox", "trade-worker", "agent-worker"])  # the key's two owners and one without it
    _set("BYBIT_API_SECRET", SECRET, "--remote")
    clock.advance(45 * DAY)
    _set("BYBIT_API_SECRET", SECRET + "2", "--remote", "--worker", "agent-worker")
    clock.advance(46 * DAY)
    out = _check("--remote")
    flagged = [(a["name"], a["where"]) for a in out["rotation"]["secrets"] if a["overdue"]]
    assert flagged == [("BYBIT_API_SECRET", "trade-worker")]
    (a,) = [a for a in out["rotation"]["secrets"] if a["overdue"]]
    assert a["fix"] == "hoox secrets set BYBIT_API_SECRET --remote --worker trade-worker"
    assert "BYBIT_API_SECRET" not in ws.secrets()


# ----------------------------------------------------------------------------- exchange key permissions
async def test_a_key_that_can_withdraw_is_flagged_from_what_the_exchange_reports(ws: Workspace) -> None:
    import asyncio

    from fake_exchanges.binance import FakeBinance
    from fake_exchanges.bybit import FakeBybit

    bybit, binance = FakeBybit(), FakeBinance()
    await bybit.start()
    await binance.start()
    try:
        for ex, fake in (("BYBIT", bybit), ("BINANCE", binance)):
            await asyncio.to_thread(_set, f"{ex}_API_KEY", fake.api_key)
            await asyncio.to_thread(_set, f"{ex}_API_SECRET", fake.api_secret)
            r = await asyncio.to_thread(hoox, "config", "kv", "set", f"exchanges:{ex.lower()}:base_url", fake.url)
            assert r.exit_code == 0, r.stdout
        await asyncio.to_thread(_set, "MEXC_API_KEY", "mx0-key")
        await asyncio.to_thread(_set, "MEXC_API_SECRET", "mx0-secret")

        async def check() -> tuple[int, dict]:
            r = await asyncio.to_thread(hoox, "secrets", "check", "--permissions", "--json")
            assert bybit.api_secret not in r.stdout and binance.api_secret not in r.stdout
            return r.exit_code, as_json(r)

        code, out = await check()  # the fakes' keys may trade and read only
        perms = {p["exchange"]: p for p in out["permissions"]}
        assert code == 0 and out["ok"] is True
        assert perms["bybit"]["known"] and perms["bybit"]["withdraw"] is False and perms["bybit"]["transfer"] is False
        assert "ContractTrade.Order" in perms["bybit"]["granted"]
        assert perms["binance"]["known"] and perms["binance"]["withdraw"] is False
        assert perms["mexc"]["known"] is False and perms["mexc"]["withdraw"] is None  # MEXC cannot tell
        assert "does not report" in perms["mexc"]["error"]
        assert [c["path"] for c in bybit.calls] == ["/v5/user/query-api"]  # signed, and the fake checked it
        assert bybit.bad_signatures == 0 and binance.bad_signatures == 0

        bybit.key_permissions["Wallet"] = ["AccountTransfer", "Withdraw"]
        binance.api_restrictions["enableWithdrawals"] = True
        code, out = await check()
        perms = {p["exchange"]: p for p in out["permissions"]}
        assert code == 1 and out["ok"] is False
        assert perms["bybit"]["withdraw"] is True and perms["bybit"]["transfer"] is True
        assert perms["binance"]["withdraw"] is True and perms["binance"]["transfer"] is False

        r = await asyncio.to_thread(hoox, "secrets", "check", "--permissions")
        assert "bybit: the key in BYBIT_API_KEY can withdraw and transfer funds" in " ".join(r.stdout.split())
        assert "binance: the key in BINANCE_API_KEY can withdraw funds" in " ".join(r.stdout.split())
    finally:
        await bybit.stop()
        await binance.stop()


def test_permissions_are_not_asked_of_the_deployed_keys(ws: Workspace) -> None:
    r = hoox("secrets", "check", "--permissions", "--remote", "--json")
    assert r.exit_code != 0 and "without --remote" in as_json(r)["error"]["message"]


async def test_an_overdue_secret_raises_one_alert_through_the_edge(edge, clock) -> None:
    import asyncio

    async def rows() -> list[dict]:
        return (await edge.env("hoox").DB.prepare(
            "SELECT level, message FROM alerts WHERE message LIKE 'Credential rotation%'").all())["results"]

    await asyncio.to_thread(_set, "BYBIT_API_SECRET", SECRET)
    clock.advance(90 * DAY)
    for _ in range(2):  # the second check finds the alert already sent
        r = await asyncio.to_thread(hoox, "secrets", "check", "--json")
        assert as_json(r)["overdue"] == ["BYBIT_API_SECRET"]
    [row] = await rows()
    assert row["level"] == "warning" and "BYBIT_API_SECRET was set 90 days ago" in row["message"]
    assert "hoox secrets set BYBIT_API_SECRET" in row["message"] and SECRET not in row["message"]

    await asyncio.to_thread(_set, "BYBIT_API_SECRET", SECRET + "-2")  # replaced: a new rotation clock
    clock.advance(91 * DAY)
    out = as_json(await asyncio.to_thread(hoox, "secrets", "check", "--json"))
    assert out["alerts"] == {"sent": ["BYBIT_API_SECRET"], "error": None}
    assert len(await rows()) == 2


def test_an_alert_that_cannot_be_sent_is_tried_again_next_time(ws: Workspace, clock) -> None:
    _set("BYBIT_API_SECRET", SECRET)
    clock.advance(100 * DAY)
    out = _check()  # no edge runs: nothing sent, and it says why
    assert out["alerts"]["sent"] == [] and "hoox dev start" in out["alerts"]["error"]
    assert "alerted" not in ws.secret_dates()["BYBIT_API_SECRET"]


async def test_the_cockpit_names_the_overdue_secrets_when_it_starts(workspace: Workspace, clock) -> None:
    from hoox_tui.app import HooxApp
    from hoox_tui.context import CockpitContext
    from hoox_tui.settings import UserSettings
    from hoox_tui.store import Store

    def started() -> list[str]:
        return [f"{n.title}: {n.message}" for n in app._notifications]

    workspace.set_secret("BYBIT_API_KEY", KEY)
    workspace.set_secret("BYBIT_API_SECRET", SECRET)
    clock.advance(40 * DAY)
    workspace.set_secret("BYBIT_API_KEY", KEY + "-new")
    clock.advance(30 * DAY)
    for expect in (False, True):
        ctx = CockpitContext(store=Store(None), workspace=workspace, settings=UserSettings(), safe_mode=True,
                             local_runtime_started=False)
        app = HooxApp(ctx, run_store=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            notes = [n for n in started() if n.startswith("Credential rotation")]
            if expect:
                assert notes == ["Credential rotation: Set longer ago than the 60-day rotation period: "
                                 "BYBIT_API_SECRET (70 days). Replace each with `hoox secrets set NAME`; "
                                 "`hoox secrets check` lists them."]
            else:
                assert notes == []  # 70 days: within the default 90
        doc = workspace.config()
        doc["secrets"] = {"rotation_days": 60}
        workspace.save_config(doc)


async def test_the_alert_route_refuses_bad_input_naming_the_field(runtime) -> None:
    from hoox_edge.local.service import asgi_call
    from hoox_edge.shared.app import make_app
    from hoox_edge.workers import gateway

    app, env = make_app("hoox", gateway.routes), runtime.env("hoox")
    auth = {"Authorization": f"Bearer {env.OPERATOR_API_KEY}"}
    for body, field in (({"message": ""}, "message"), ({"message": "x" * 1001}, "message"),
                        ({"message": "ok", "level": "loud"}, "level"), ({"level": "info"}, "message")):
        r = await asgi_call(app, env, "POST", "/v1/alerts", json=body, headers=auth)
        assert r.status == 400, body
        assert field in [d["field"] for d in r.json()["error"]["details"]], (body, r.json())
    rows = (await env.DB.prepare("SELECT COUNT(*) AS n FROM alerts").all())["results"]
    assert rows[0]["n"] == 0  # nothing refused was raised
    r = await asgi_call(app, env, "POST", "/v1/alerts", json={"message": "rotate BYBIT_API_SECRET"}, headers=auth)
    assert r.status == 200 and r.json()["result"] == {"sent": True}


async def test_the_cockpit_warns_at_start_of_an_exchange_key_that_can_move_funds(edge, workspace: Workspace) -> None:
    from fake_exchanges.bybit import FakeBybit
    from tui_support import make_ctx, until

    from hoox_tui.app import HooxApp

    async def warnings_at_start() -> list[str]:
        """Open the cockpit, wait until the exchange was asked and the check is over: its warnings."""
        asked = len(bybit.calls)
        app = HooxApp(make_ctx(workspace, edge))
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: len(bybit.calls) > asked, "the exchange asked what the key may do")
            await until(pilot, lambda: all(w.is_finished for w in app.workers if w.name == "key-permissions"),
                        "the check finished")
            return [f"{n.title}: {n.message}" for n in app._notifications
                    if n.title == "Exchange key can move funds"]

    bybit = FakeBybit()
    await bybit.start()
    try:
        workspace.set_secret("BYBIT_API_KEY", bybit.api_key)
        workspace.set_secret("BYBIT_API_SECRET", bybit.api_secret)
        await edge.env("hoox").CONFIG_KV.put("exchanges:bybit:base_url", bybit.url)
        assert await warnings_at_start() == []  # a key that may only trade and read
        bybit.key_permissions["Wallet"] = ["Withdraw"]
        (note,) = await warnings_at_start()
        assert "bybit (BYBIT_API_KEY can withdraw)" in note and "hoox secrets check --permissions" in note
        assert bybit.api_secret not in note and bybit.api_key not in note
    finally:
        await bybit.stop()
