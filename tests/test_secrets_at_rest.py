"""No secret is stored or echoed, whatever field a client puts it in.

Every configured secret (the three generated ones, exchange keys and a Telegram bot token added
to `.dev.vars`) goes into every field, every field name, nested values, text bodies, query
parameters and path segments of webhook signals and operator API requests. Then every file under
the workspace's `.hoox/` (raw bytes: SQLite files with their `-wal`, R2 folders, queue and
analytics files), the `events` rows and a `hoox db export` backup are searched for each secret's
bytes: none may be found. `.dev.vars`, where secrets live, is the only file left out. No answer
may echo a secret either.
"""

from __future__ import annotations

import json
import secrets as secrets_mod
import socket
from pathlib import Path
from urllib.parse import quote

import pytest
from cli_support import hoox
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from hoox_edge.shared import settings
from hoox_edge.shared.signal import ACCEPTED_FIELDS, PASSKEY_FIELD

GW = "hoox"
ADDED = ("BYBIT_API_KEY", "BYBIT_API_SECRET", "BINANCE_API_KEY", "BINANCE_API_SECRET", "TELEGRAM_BOT_TOKEN")
GENERATED = ("WEBHOOK_API_KEY", "INTERNAL_KEY_BINDING", "OPERATOR_API_KEY")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on return: Telegram calls are refused on loopback


@pytest.fixture
async def rt(ws: Workspace):
    for name in ADDED:
        ws.set_secret(name, secrets_mod.token_urlsafe(24))
    ws.set_secret("TELEGRAM_CHAT_ID", "4242")
    ws.set_secret("TELEGRAM_API_BASE", f"http://127.0.0.1:{_closed_port()}")  # a var: alerts are attempted
    runtime = LocalRuntime(ws)
    await runtime.open()
    # Every signal gets past the rate limit, so nothing is refused before the code that could store it.
    await settings.put(runtime.env(GW).CONFIG_KV, "webhooks:rate_limit_per_minute", 10_000)
    try:
        yield runtime
    finally:
        await runtime.stop()


def _secrets(ws: Workspace) -> dict[str, str]:
    values = ws.secrets()
    return {name: values[name] for name in (*GENERATED, *ADDED)}


def _stored_files(ws: Workspace) -> list[Path]:
    files = [p for p in ws.hoox_dir.rglob("*") if p.is_file()]
    files += [p for p in (ws.root / "backups").rglob("*") if p.is_file()]
    return files


def _found(ws: Workspace, secret_values: dict[str, str]) -> list[str]:
    hits = []
    for path in _stored_files(ws):
        data = path.read_bytes()
        hits += [f"{name} in {path.relative_to(ws.root)}" for name, v in secret_values.items()
                 if v.encode() in data]
    return hits


async def test_no_secret_is_stored_or_echoed_whatever_field_it_is_put_in(rt, ws):
    values = _secrets(ws)
    passkey, token = values["WEBHOOK_API_KEY"], values["OPERATOR_API_KEY"]
    auth = {"Authorization": f"Bearer {token}"}
    echoes: list[str] = []

    async def send(worker: str, method: str, path: str, **kw):
        r = await rt.request(worker, method, path, **kw)
        for name, v in values.items():
            if v in r.text() or quote(v, safe="") in r.text():
                echoes.append(f"{name} echoed by {method} {path[:60]} ({r.status})")
        return r

    def sig(n: int, **fields) -> dict:
        body = {PASSKEY_FIELD: passkey, "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT",
                "quantity": 0.01, "idempotencyKey": f"s-{n}"}
        body.update(fields)
        return body

    n = 0
    for name, secret in values.items():
        # ---------------------------------------------------------------- webhook signals
        variants: list[dict] = []
        for f in ACCEPTED_FIELDS:
            if f == PASSKEY_FIELD:
                continue
            variants += [{f: secret}, {f: f"x {secret} y"}]
        variants += [{secret: 1}, {f"pre{secret}": 1}, {"note": {"deep": [secret]}}, {"token": secret},
                     {"APIKEY": secret}, {"source": secret}]
        for extra in variants:
            n += 1
            r = await send(GW, "POST", "/webhook", json=sig(n, **extra))
            assert r.status >= 400, (name, extra.keys())  # never executed
        n += 1
        await send(GW, "POST", "/webhook", json={**sig(n), PASSKEY_FIELD: secret})  # a wrong passkey (or the right one)
        await send(GW, "POST", "/webhook", body=f"buy now apiKey={secret} {secret}".encode(),
                   headers={"Content-Type": "text/plain"})
        await send(GW, "POST", "/webhook", body=json.dumps(sig(n)).encode()[:-1] + f',"x":"{secret}'.encode())
        await send(GW, "POST", "/webhook", json=sig(n + 1000), headers={"X-Request-Id": secret})

        # ---------------------------------------------------------------- an internal caller
        # trade-worker's /process stores what a caller that skipped the gateway sent: masked the same way.
        internal = {"X-Internal-Auth-Key": values["INTERNAL_KEY_BINDING"]}
        for extra in ({"x": secret}, {"note": {"deep": [secret]}}, {secret: 1}, {"apiKey": secret},
                      {"password": secret}, {"symbol": secret}, {"reason": secret}, {"source": secret}):
            n += 1
            await send("trade-worker", "POST", "/process", headers=internal, json={
                "requestId": f"p-{n}", "payload": {"exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT",
                                                   "quantity": 0.001, **extra}})

        # ---------------------------------------------------------------- operator API
        q = quote(secret, safe="")
        for key in ("trade:kill_switch_reason", "exchanges:bybit:base_url", "trade:mode", "webhook:trusted_proxies"):
            for value in (secret, f"https://{secret}.example", [secret]):
                r = await send(GW, "PUT", f"/v1/config/kv/{key}", json={"value": value}, headers=auth)
                assert r.status == 400, (name, key)
        await send(GW, "PUT", "/v1/config/kv/trade:mode", json={"value": "paper", secret: 1}, headers=auth)
        for method in ("GET", "PUT", "DELETE"):
            await send(GW, method, f"/v1/config/kv/{q}", json={"value": 1} if method == "PUT" else None, headers=auth)
            await send(GW, method, f"/v1/config/kv/exchanges:paper:price:{q}",
                       json={"value": 1} if method == "PUT" else None, headers=auth)
        for body in ({"on": True, "reason": secret}, {"on": False, secret: 1}, {"on": True, "reason": f"a {secret}"}):
            assert (await send(GW, "POST", "/v1/kill-switch", json=body, headers=auth)).status == 400
        for body in ({"reason": secret}, {"reason": f"a {secret}"}):
            assert (await send(GW, "POST", "/v1/positions/flatten", json=body, headers=auth)).status == 400
        for body in ({"query": f"SELECT '{secret}'"}, {"query": "SELECT ?", "params": [secret]},
                     {"query": "SELECT 1", secret: 1}):
            assert (await send(GW, "POST", "/v1/db/query", json=body, headers=auth)).status == 400
        for path in (f"/v1/logs?q={q}", f"/v1/logs?worker={q}", f"/v1/logs?requestId={q}", f"/v1/trades?symbol={q}",
                     f"/v1/trades?since={q}", f"/v1/alerts?level={q}", f"/v1/config/kv?prefix={q}", f"/v1/status?{q}=1",
                     f"/v1/workers/{q}", f"/v1/stream?topics={q}", f"/v1/stats?mode={q}"):
            await send(GW, "GET", path, headers=auth)
        await send(GW, "POST", f"/v1/queues/dead-letter/{q}/replay", headers=auth)
        await send(GW, "GET", "/v1/kill-switch", headers={**auth, "X-Request-Id": secret})
        await send(GW, "GET", f"/{q}", headers=auth)  # no such route

    # Real work besides: a signal that fills, a kill switch with its alert (Telegram refused on loopback).
    ok = await send(GW, "POST", "/webhook", json=sig(99_999))
    assert ok.status in (200, 202), ok.text()
    assert (await send(GW, "POST", "/v1/kill-switch", json={"on": True, "reason": "drill"}, headers=auth)).status == 200
    await rt.drain_queues()

    assert not echoes, echoes[:10]
    events = (await rt.env(GW).DB.prepare("SELECT type, data FROM events").all())["results"]
    assert events and not [name for name, v in values.items() if v in json.dumps(events)]
    assert not _found(ws, values)  # while running: WAL files hold the newest writes

    await rt.stop()
    export = hoox("db", "export", "--json")
    assert export.exit_code == 0, export.stdout
    backup = Path(json.loads(export.stdout)["file"])
    assert backup.stat().st_size > 0 and backup in _stored_files(ws)
    assert not _found(ws, values)
