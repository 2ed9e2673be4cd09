"""Every KV setting declares its bounds, and every way in refuses what is out of them with the key
and the rule: `settings.encode` (which `PUT /v1/config/kv` uses), `hoox config kv set`, and the
workspace's kv-manifest.json applied on start."""

from __future__ import annotations

import json

import pytest
from cli_support import as_json, hoox, kv_raw
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import MANIFEST_FILE, Workspace, WorkspaceError
from hoox_edge.shared import settings

SECRET_LOOKING = "sk_live_4eC39HqLyjWDarjtT1zdp7dcQ"


@pytest.mark.parametrize("s", settings.MANIFEST, ids=lambda s: s.key)
def test_every_setting_declares_its_bounds(s: settings.Setting) -> None:
    if s.type in ("integer", "number"):
        assert s.minimum is not None and s.maximum is not None, "numbers need a minimum and a maximum"
    elif s.type == "string":
        assert s.choices or s.max_length is not None, "free text needs a maximum length"
    elif s.type in ("string_list", "seconds_list"):
        assert s.max_length is not None, "lists need a maximum number of items"
        assert s.item is not None or (s.item_minimum is not None and s.item_maximum is not None)
    elif s.type == "json":
        assert s.check is not None, "structured values need a check of their shape"
    if s.default is not None and not s.is_family:
        assert settings.coerce(s.key, s.default) == s.default  # the defaults are inside the bounds


@pytest.mark.parametrize(("key", "value", "rule"), [
    ("webhooks:rate_limit_per_minute", 10**200, "at most 100000"),
    ("webhooks:rate_limit_per_minute", "1" + "0" * 200, "an integer (from 1 to 100000)"),
    ("webhooks:retry_schedule_seconds", "0", "from 1 to 43200"),
    ("webhooks:retry_schedule_seconds", "30,60,50000", "from 1 to 43200"),
    ("webhooks:retry_schedule_seconds", ",".join(["30"] * 11), "at most 10"),
    ("exchanges:paper:price:BTCUSDT", -5, "greater than 0"),
    ("exchanges:paper:price:BTCUSDT", 0, "greater than 0"),
    ("exchanges:paper:price:BTCUSDT", "1e400", "finite"),
    ("exchanges:paper:price:BTCUSDT", "nan", "finite"),
    ("exchanges:paper:price:btc!", 100, "{SYMBOL}"),
    ("trade:max_leverage", 126, "at most 125"),
    ("trade:max_daily_drawdown_percent", 101, "at most 100"),
    ("webhooks:direct_timeout_ms", 10**9, "at most 30000"),
    ("exchanges:paper:fee_rate", 0.5, "at most 0.1"),
    ("exchanges:instrument_cache_ttl", 10, "at least 60"),
    ("trade:kill_switch_reason", "x" * 501, "at most 500"),
    ("trade:kill_switch_reason", "\ud800", "surrogate"),
    ("webhook:tradingview:allowed_ips", ["52.89.214.238", "nope"], "IP address or a CIDR"),
    ("webhook:trusted_proxies", ["10.0.0.0/8"] * 101, "at most 100"),
    ("exchanges:paper:instruments", {"BTCUSDT": {"price": -1, "qtyStep": 1, "minQty": 1, "minNotional": 0,
                                                 "tickSize": 1}}, "BTCUSDT.price"),
    ("exchanges:paper:instruments", '{"BTCUSDT": 1e400}', "must be finite"),
    ("exchanges:paper:instruments", "[" * 40 + "]" * 40, "deeper than 32"),
    ("exchanges:bybit:base_url", "javascript:alert(1)", "http(s) URL"),
])  # fmt: skip
def test_out_of_bounds_values_are_refused_with_the_key_and_the_rule(key, value, rule) -> None:
    with pytest.raises(settings.SettingError) as e:
        settings.encode(key, value)
    assert str(e.value).startswith(key[:80]) and rule in str(e.value)


def test_a_bad_value_is_quoted_only_as_a_safe_preview() -> None:
    with pytest.raises(settings.SettingError) as e:
        settings.encode("webhooks:rate_limit_per_minute", SECRET_LOOKING)
    assert SECRET_LOOKING[:8] not in str(e.value) and "not shown" in str(e.value)
    with pytest.raises(settings.SettingError) as e:
        settings.encode("trade:mode", "lots of words that go on and on")
    assert "lots of words" in str(e.value) and "on and on" not in str(e.value)


def test_a_stored_value_out_of_bounds_reads_as_an_error_not_as_infinity() -> None:
    with pytest.raises(settings.SettingError):
        settings.parse("exchanges:paper:price:BTCUSDT", "inf")
    with pytest.raises(settings.SettingError):
        settings.parse("webhooks:retry_schedule_seconds", "0")


@pytest.mark.parametrize(("key", "value", "rule"), [
    ("webhooks:rate_limit_per_minute", "1" + "0" * 200, "from 1 to 100000"),
    ("webhooks:retry_schedule_seconds", "0", "from 1 to 43200"),
    ("exchanges:paper:price:BTCUSDT", "-1", "greater than 0"),
    ("exchanges:paper:price:BTCUSDT", "1e400", "finite"),
])  # fmt: skip
def test_cli_kv_set_refuses_out_of_bounds_values_and_writes_nothing(ws: Workspace, key, value, rule) -> None:
    r = hoox("config", "kv", "set", "--json", "--", key, value)  # `--`: "-1" is a value, not an option
    assert r.exit_code != 0
    err = as_json(r)["error"]
    assert err["code"] == "INVALID_VALUE" and key in err["message"] and rule in err["message"]
    assert kv_raw(ws, key) is None


async def test_the_manifest_refuses_out_of_bounds_values_on_start(workspace: Workspace) -> None:
    manifest = json.loads(workspace.manifest_path.read_text())
    manifest["webhooks:retry_schedule_seconds"] = [0]
    workspace.manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(WorkspaceError) as e:
        await LocalRuntime(workspace).open()
    assert MANIFEST_FILE in str(e.value) and "webhooks:retry_schedule_seconds" in str(e.value)
    assert "from 1 to 43200" in str(e.value)
