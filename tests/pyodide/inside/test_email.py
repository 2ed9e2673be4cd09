"""E-mail signals in Pyodide: the gateway's Default class (entry.py, the path Cloudflare takes) answers
`POST /webhook/mailgun` on Miniflare's D1 and KV — the stdlib e-mail parser, HMAC and the token table's
`ON CONFLICT DO NOTHING` change count as Cloudflare runs them."""

from __future__ import annotations

import importlib.util
import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import js  # type: ignore[import-not-found]
from harness_plugin import fresh_bindings
from hoox_edge import migrations
from hoox_edge.cloudflare.d1 import CloudflareD1
from hoox_edge.cloudflare.kv import CloudflareKV
from hoox_edge.mail import mailgun
from hoox_edge.shared import settings
from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]

EDGE = Path("/hoox/edge")
DATA = Path("/hoox/tests/data/email")
KEY = "key-" + "m" * 32
SECRETS = {"WEBHOOK_API_KEY": "wh-" + "k" * 30, "INTERNAL_KEY_BINDING": "in-" + "i" * 30,
           "OPERATOR_API_KEY": "op-" + "o" * 30, "MAILGUN_SIGNING_KEY": KEY}


def _obj(values: dict[str, Any]) -> Any:
    return to_js(values, dict_converter=js.Object.fromEntries)


def _gateway(b: Any) -> Any:
    spec = importlib.util.spec_from_file_location("email_gateway_entry", EDGE / "hoox" / "entry.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ctx = _obj({"waitUntil": create_proxy(lambda p: None), "passThroughOnException": create_proxy(lambda: None)})
    return module.Default(ctx, _obj({"DB": b.DB, "CONFIG_KV": b.CONFIG_KV, "SESSIONS_KV": b.SESSIONS_KV, **SECRETS}))


async def _post(gateway: Any, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
    init = {"method": "POST", "headers": _obj({"content-type": "application/x-www-form-urlencoded"}),
            "body": urllib.parse.urlencode(fields)}
    resp = await gateway.fetch(js.Request.new("https://hoox.example/webhook/mailgun", _obj(init)))
    return resp.status, json.loads(await resp.text())


def _form(name: str, token: str, key: str = KEY) -> dict[str, str]:
    ts = str(int(time.time()))
    return {"timestamp": ts, "token": token, "signature": mailgun.signature(key, ts, token),
            "body-mime": (DATA / name).read_text()}


async def test_the_mailgun_webhook_runs_on_cloudflares_bindings() -> None:
    b = fresh_bindings(d1Databases=["DB"], kvNamespaces=["CONFIG_KV", "SESSIONS_KV"])
    db = CloudflareD1(b.DB)
    await migrations.apply(db)
    await settings.put(CloudflareKV(b.CONFIG_KV), settings.EMAIL_AUTHORIZED_SENDERS, ["alerts@signals.example.com"])
    gateway = _gateway(b)

    status, body = await _post(gateway, _form("forwarded.eml", "t" * 50, key="wrong"))
    assert status == 401 and body["error"]["code"] == "UNAUTHORIZED"

    fields = _form("forwarded.eml", "a" * 50)
    status, body = await _post(gateway, fields)
    assert status == 200 and body["outcome"] == "ignored" and "scan_subject" in body["reason"]
    status, body = await _post(gateway, fields)  # the same token again
    assert status == 406 and body["error"]["code"] == "DUPLICATE_REQUEST"

    status, body = await _post(gateway, _form("tradingview_alert.eml", "b" * 50))
    assert status == 200 and body["outcome"] == "rejected" and "authorized_senders" in body["reason"]

    rows = (await db.prepare("SELECT via, outcome, sender FROM email_messages ORDER BY id").all())["results"]
    assert [(r["via"], r["outcome"], r["sender"]) for r in rows] == [
        ("mailgun", "ignored", "alerts@signals.example.com"), ("mailgun", "rejected", "noreply@tradingview.com")]
    tokens = (await db.prepare("SELECT COUNT(*) AS n FROM email_mailgun_tokens").first())["n"]
    assert tokens == 2
