"""Every KV key is a named constant of the settings catalog (`shared/settings.py`), and a key the
manifest does not know is an error where KV is read or written, never a silent None."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from hoox_edge.local.workspace import Workspace
from hoox_edge.shared import settings

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [*(ROOT / "edge" / "hoox_edge").rglob("*.py"), *(ROOT / "hoox_cli").rglob("*.py"),
           *(ROOT / "hoox_tui").rglob("*.py")]


def _constants() -> dict[str, str]:
    return {n: v for n, v in vars(settings).items() if n.isupper() and isinstance(v, str) and ":" in v}


def test_every_key_of_the_manifest_has_a_name_and_every_name_is_a_key():
    named = _constants()
    exact = {s.key for s in settings.MANIFEST if not s.is_family}
    per_exchange = {settings.testnet_of(e) for e in settings.EXCHANGES} | {
        settings.base_url_of(e) for e in settings.EXCHANGES}
    assert exact - per_exchange <= set(named.values()), exact - per_exchange - set(named.values())
    for name, key in named.items():
        s = settings.lookup(key) if not key.endswith(":") else settings.lookup(key + "BTCUSDT")
        assert s is not None, name
    # A family key comes from its function, and the manifest knows it as a member of its family.
    for key in (settings.trailing_stop_of("BTCUSDT"), settings.routing_of("BTCUSDT"),
                settings.paper_price_of("BTCUSDT"), settings.expectation_of("webhook")):
        assert settings.lookup(key).is_family, key  # type: ignore[union-attr]


def test_no_kv_key_is_written_as_a_string_outside_the_catalog():
    keys = {s.key for s in settings.MANIFEST}
    found = []
    for path in SOURCES:
        if (path.name == "settings.py" and path.parent.name == "shared"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in keys:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value}")
    assert found == []


async def test_a_mistyped_key_is_an_error_not_none(workspace: Workspace):
    from hoox_edge.local.runtime import LocalRuntime

    rt = LocalRuntime(workspace)
    await rt.open()
    try:
        kv = rt.env("hoox").CONFIG_KV
        assert await settings.get(kv, settings.KILL_SWITCH) is False
        with pytest.raises(settings.UnknownSetting, match="'trade:kill_swich' is not a setting"):
            await settings.get(kv, "trade:kill_swich")  # one letter off: before, this read None
        with pytest.raises(settings.UnknownSetting):
            await settings.put(kv, "trade:kill_swich", True)
        assert await kv.get("trade:kill_swich") is None  # nothing was written
        # A family member is known; a malformed one is refused by the manifest's own check.
        await settings.put(kv, settings.trailing_stop_of("BTCUSDT"), 1.5)
        assert await settings.get(kv, settings.trailing_stop_of("BTCUSDT")) == 1.5
        with pytest.raises(settings.SettingError):
            await settings.put(kv, settings.trailing_stop_of("btc usdt"), 1.5)
    finally:
        await rt.stop()


def test_a_parsed_value_is_remembered_but_each_caller_gets_its_own_copy():
    raw = json.dumps(settings.PAPER_INSTRUMENTS)
    first = settings.parse(settings.PAPER_MARKETS, raw)
    symbol = next(iter(first))
    first[symbol].clear()
    first.pop(symbol)
    assert settings.parse(settings.PAPER_MARKETS, raw) == settings.PAPER_INSTRUMENTS
    assert settings.parse("not:a:setting", raw) == raw  # an unknown key stays its text, remembered or not
