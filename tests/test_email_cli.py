"""`hoox email test FILE.eml [--json]`: what an e-mail would do, with the edge's email:* settings;
nothing submitted or recorded."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import as_json, hoox
from hoox_edge.local.workspace import Workspace

DATA = Path(__file__).parent / "data" / "email"
SENDERS = json.dumps(["alerts@signals.example.com", "noreply@tradingview.com"])


def allow(ws: Workspace) -> None:
    assert hoox("config", "kv", "set", "email:authorized_senders", SENDERS).exit_code == 0


def test_a_signal_email_shows_the_signal_it_would_submit(ws: Workspace) -> None:
    allow(ws)
    r = hoox("email", "test", str(DATA / "quoted_printable.eml"), "--json")
    assert r.exit_code == 0, r.stdout
    out = as_json(r)
    assert out["outcome"] == "would_submit"
    assert {k: v for k, v in out["signal"].items() if k != "idempotencyKey"} == {
        "action": "SHORT", "symbol": "ETHUSDT", "quantity": 0.1, "leverage": 3}
    assert out["email"]["dkim"] == "pass" and out["email"]["spf"] == "pass"
    assert out["edge"] == {"url": None, "local": True, "running": False}


def test_the_settings_of_the_edge_are_used(ws: Workspace) -> None:
    allow(ws)
    assert hoox("config", "kv", "set", "email:quantity_multiplier", "10").exit_code == 0
    out = as_json(hoox("email", "test", str(DATA / "multipart.eml"), "--json"))
    assert out["signal"]["quantity"] == 5.0
    # The default allowlist is empty: nobody may trade by e-mail until it is set.
    assert hoox("config", "kv", "delete", "email:authorized_senders").exit_code == 0
    out = as_json(hoox("email", "test", str(DATA / "multipart.eml"), "--json"))
    assert out["outcome"] == "rejected" and "email:authorized_senders (it is empty)" in out["reason"]


def test_an_ignored_email_says_why_in_words(ws: Workspace) -> None:
    allow(ws)
    r = hoox("email", "test", str(DATA / "forwarded.eml"))
    assert r.exit_code == 0
    assert "ignored" in r.stdout and "does not match email:scan_subject" in r.stdout


def test_nothing_is_recorded_or_submitted(ws: Workspace) -> None:
    allow(ws)
    ledger = ws.root / ".hoox" / "state" / "d1"
    before = sorted(p.name for p in ledger.glob("*")) if ledger.exists() else []
    assert as_json(hoox("email", "test", str(DATA / "tradingview_alert.eml"), "--json"))["outcome"] == "would_submit"
    assert (sorted(p.name for p in ledger.glob("*")) if ledger.exists() else []) == before  # no ledger touched


def test_a_missing_file_is_an_error_naming_it(ws: Workspace, tmp_path: Path) -> None:
    r = hoox("email", "test", str(tmp_path / "nope.eml"), "--json")
    assert r.exit_code != 0 and "nope.eml" in as_json(r)["error"]["message"]
