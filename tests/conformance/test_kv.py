"""KV port: get/put/list/delete, TTL, pagination, persistence."""

from __future__ import annotations

import pytest


async def test_put_get_delete(adapters):
    kv = adapters.kv("config")
    assert await kv.get("missing") is None
    await kv.put("trade:mode", "paper")
    assert await kv.get("trade:mode") == "paper"
    await kv.put("trade:mode", "live")
    assert await kv.get("trade:mode") == "live"
    await kv.delete("trade:mode")
    assert await kv.get("trade:mode") is None
    await kv.delete("trade:mode")  # deleting a missing key is not an error


async def test_ttl_below_sixty_seconds_is_refused(adapters):
    kv = adapters.kv("config")
    with pytest.raises(ValueError, match="at least 60 seconds"):
        await kv.put("k", "v", expiration_ttl=30)
    assert await kv.get("k") is None


@pytest.mark.needs("fake_clock")
async def test_expired_key_is_invisible(adapters, clock):
    kv = adapters.kv("sessions")
    await kv.put("session:1", "alice", expiration_ttl=60)
    await kv.put("session:2", "bob")
    listed = await kv.list(prefix="session:")
    assert [k.name for k in listed.keys] == ["session:1", "session:2"]
    assert listed.keys[0].expiration == int(clock() + 60)
    assert listed.keys[1].expiration is None
    clock.advance(59)
    assert await kv.get("session:1") == "alice"
    clock.advance(2)
    assert await kv.get("session:1") is None
    assert [k.name for k in (await kv.list(prefix="session:")).keys] == ["session:2"]


async def test_list_is_sorted_prefixed_and_paginated(adapters):
    kv = adapters.kv("config")
    names = [f"exchanges:routing:{s}" for s in ("SOLUSDT", "BTCUSDT", "ETHUSDT", "XRPUSDT", "ADAUSDT")]
    for n in names:
        await kv.put(n, "bybit")
    await kv.put("trade:mode", "paper")
    await kv.put("exchanges_x", "not under the prefix")

    first = await kv.list(prefix="exchanges:routing:", limit=2)
    assert [k.name for k in first.keys] == sorted(names)[:2]
    assert first.list_complete is False and first.cursor
    second = await kv.list(prefix="exchanges:routing:", limit=2, cursor=first.cursor)
    third = await kv.list(prefix="exchanges:routing:", limit=2, cursor=second.cursor)
    assert [k.name for k in second.keys + third.keys] == sorted(names)[2:]
    assert third.list_complete is True and third.cursor is None

    everything = await kv.list()
    assert [k.name for k in everything.keys] == sorted([*names, "trade:mode", "exchanges_x"])
    with pytest.raises(ValueError):
        await kv.list(limit=1001)


async def test_prefix_with_like_wildcards_matches_literally(adapters):
    kv = adapters.kv("config")
    await kv.put("a%b", "1")
    await kv.put("axb", "2")
    assert [k.name for k in (await kv.list(prefix="a%")).keys] == ["a%b"]


async def test_namespaces_are_separate(adapters):
    await adapters.kv("one").put("k", "1")
    assert await adapters.kv("two").get("k") is None


@pytest.mark.needs("restart")
async def test_values_survive_a_restart(adapters):
    await adapters.kv("config").put("trade:kill_switch", "true")
    again = adapters.reopen()
    assert await again.kv("config").get("trade:kill_switch") == "true"
