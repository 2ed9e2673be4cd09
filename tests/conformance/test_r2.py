"""R2 port: objects with metadata, listing, deletes, key validation, persistence."""

from __future__ import annotations

import hashlib

import pytest


async def test_round_trip_with_metadata(adapters, clock):
    bucket = adapters.r2("hoox-system-logs")
    body = b'{"requestId": "r1", "status": "Filled"}'
    info = await bucket.put("trades/2026-01-05/r1.json", body, content_type="application/json",
                            custom_metadata={"requestId": "r1"})
    assert info.size == len(body) and info.etag == hashlib.md5(body).hexdigest()
    obj = await bucket.get("trades/2026-01-05/r1.json")
    assert obj is not None
    assert obj.body == body and obj.json() == {"requestId": "r1", "status": "Filled"}
    assert obj.content_type == "application/json" and obj.custom_metadata == {"requestId": "r1"}
    if "fake_clock" in adapters.capabilities:
        assert obj.uploaded == pytest.approx(clock())
    head = await bucket.head("trades/2026-01-05/r1.json")
    assert head is not None and head.size == len(body) and head.etag == obj.etag
    assert await bucket.get("missing") is None and await bucket.head("missing") is None


async def test_overwrite_text_and_nested_keys(adapters):
    bucket = adapters.r2("reports")
    await bucket.put("a", "first")
    await bucket.put("a/b", "nested")  # a key and a 'folder' of the same name coexist
    await bucket.put("a", "second")
    assert (await bucket.get("a")).text() == "second"
    assert (await bucket.get("a/b")).text() == "nested"


async def test_small_and_large_bodies_replace_each_other(adapters):
    bucket = adapters.r2("reports")
    large = bytes(range(256)) * 400  # 100 KB, every byte value
    await bucket.put("r", b"small")
    await bucket.put("r", large)
    assert (await bucket.get("r")).body == large and (await bucket.head("r")).size == len(large)
    await bucket.put("r", b"small again")
    assert (await bucket.get("r")).body == b"small again"
    await bucket.put("r", large)
    await bucket.delete("r")
    assert await bucket.get("r") is None


async def test_list_with_prefix_and_cursor(adapters):
    bucket = adapters.r2("reports")
    keys = [f"daily/2026-01-0{i}.json" for i in range(1, 6)]
    for k in reversed(keys):
        await bucket.put(k, "{}")
    await bucket.put("other.json", "{}")
    page1 = await bucket.list(prefix="daily/", limit=3)
    assert [o.key for o in page1.objects] == keys[:3] and page1.truncated and page1.cursor
    page2 = await bucket.list(prefix="daily/", limit=3, cursor=page1.cursor)
    assert [o.key for o in page2.objects] == keys[3:] and not page2.truncated
    assert len((await bucket.list()).objects) == 6


async def test_delete_one_and_many(adapters):
    bucket = adapters.r2("reports")
    for k in ("x", "y", "z"):
        await bucket.put(k, k)
    await bucket.delete("x")
    await bucket.delete(["y", "z", "never-there"])
    assert (await bucket.list()).objects == []


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/etc/passwd", "a/./b", "", "a\\b", "bad\x00key"])
async def test_traversal_and_bad_keys_are_refused(adapters, key):
    bucket = adapters.r2("reports")
    with pytest.raises(ValueError):
        await bucket.put(key, "x")
    with pytest.raises(ValueError):
        await bucket.get(key)


@pytest.mark.needs("restart")
async def test_objects_survive_a_restart(adapters):
    await adapters.r2("reports").put("k", "v", custom_metadata={"m": "1"})
    again = adapters.reopen()
    obj = await again.r2("reports").get("k")
    assert obj.text() == "v" and obj.custom_metadata == {"m": "1"}
