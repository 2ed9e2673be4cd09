"""Analytics Engine port: data points written, then read back with SQL."""

from __future__ import annotations

import pytest

DS = "hoox_telemetry"


@pytest.mark.needs("analytics_sql")
async def test_data_points_are_queryable(adapters):
    ds = adapters.analytics(DS)
    ds.write_data_point(blobs=["api-call", "hoox", "/webhook"], doubles=[120.0, 1, 200], indexes=["r1"])
    ds.write_data_point(blobs=["api-call", "hoox", "/webhook"], doubles=[80.0, 0, 502], indexes=["r2"])
    ds.write_data_point(blobs=["trade", "trade-worker"], doubles=[0.5], indexes=["r1"])
    sql = adapters.analytics_sql()
    rows = await sql.query(
        f"SELECT blob1 AS kind, COUNT() AS n, SUM(_sample_interval * double1) AS total "
        f"FROM {DS} GROUP BY blob1 ORDER BY blob1")
    assert rows == [{"kind": "api-call", "n": 2, "total": 200.0}, {"kind": "trade", "n": 1, "total": 0.5}]
    [row] = await sql.query(f"SELECT index1, blob3, double3, blob4, double4, timestamp FROM {DS} "
                            f"WHERE index1 = 'r2'")
    assert row["blob3"] == "/webhook" and row["double3"] == 502
    assert row["blob4"] == "" and row["double4"] == 0  # unset columns read as empty / zero
    assert row["timestamp"]


async def test_limits_are_enforced(adapters):
    ds = adapters.analytics(DS)
    with pytest.raises(ValueError):
        ds.write_data_point(blobs=["x"] * 21)
    with pytest.raises(ValueError):
        ds.write_data_point(indexes=["a", "b"])
    with pytest.raises(ValueError, match="96 bytes"):
        ds.write_data_point(indexes=["é" * 48 + "x"])  # 97 bytes in UTF-8
    with pytest.raises(ValueError, match="16 KB"):
        ds.write_data_point(blobs=["x" * 8192, "y" * 8193])
    ds.write_data_point(blobs=["x" * 8192, "y" * 8192], indexes=["é" * 48])  # exactly at the limits


@pytest.mark.needs("analytics_sql")
async def test_only_points_within_the_limits_are_stored(adapters):
    ds = adapters.analytics(DS)
    with pytest.raises(ValueError):
        ds.write_data_point(blobs=["x"] * 21)
    ds.write_data_point(blobs=["x" * 8192, "y" * 8192], indexes=["é" * 48])
    assert await adapters.analytics_sql().query(f"SELECT COUNT() AS n FROM {DS}") == [{"n": 1}]


@pytest.mark.needs("analytics_sql")
async def test_sql_is_read_only(adapters):
    adapters.analytics(DS).write_data_point(blobs=["x"])
    sql = adapters.analytics_sql()
    with pytest.raises(ValueError):
        await sql.query(f"DELETE FROM {DS}")
    assert len(await sql.query(f"SELECT * FROM {DS}")) == 1


@pytest.mark.needs("restart")
async def test_points_survive_a_restart(adapters):
    adapters.analytics(DS).write_data_point(blobs=["kept"])
    again = adapters.reopen()
    again.analytics(DS)
    assert await again.analytics_sql().query(f"SELECT blob1 FROM {DS}") == [{"blob1": "kept"}]
