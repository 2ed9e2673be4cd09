"""The local R2 bucket's storage: small bodies in the index row, large ones in files."""

from __future__ import annotations

from pathlib import Path

from hoox_edge.local.r2 import INLINE_MAX_BYTES, LocalR2


async def test_a_small_body_replacing_a_large_one_removes_its_file(tmp_path: Path):
    bucket = LocalR2(tmp_path / "bucket")
    try:
        big = b"x" * (INLINE_MAX_BYTES + 1)
        await bucket.put("k", big)
        [blob] = [p for p in (tmp_path / "bucket" / "objects").rglob("*") if p.is_file()]
        await bucket.put("k", "small")
        assert not blob.exists()
        got = await bucket.get("k")
        assert got is not None and got.text() == "small"
        await bucket.put("k", "smaller")  # inline over inline: nothing to remove
        got = await bucket.get("k")
        assert got is not None and got.text() == "smaller"
        assert [p for p in (tmp_path / "bucket" / "objects").rglob("*") if p.is_file()] == []
    finally:
        bucket.close()
