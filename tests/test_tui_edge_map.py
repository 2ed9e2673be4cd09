"""The service manager's edge map (hoox_tui/edge_map.py): data centres placed by the IATA table
shipped with the cockpit, their requests and errors listed beside the map; locally one entry.

Positions are checked against the map's projection (equirectangular, 75°N to 55°S) worked out here,
and the figures against the Cloudflare fake's single invocations (tests/test_cf_usage.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_cloudflare import start_fake
from test_tui_usage import deployed_store
from tui_support import WORKERS, fixture_ctx, frozen_clock, plain, until, worker_json

from hoox_cli.core import cf_usage
from hoox_tui import edge_map
from hoox_tui.app import HooxApp


def test_the_iata_table_is_whole_and_places_airports_where_ourairports_does() -> None:
    table = edge_map.colos()
    assert len(table) >= 40
    for code, c in table.items():
        assert len(code) == 3 and code.isupper() and c.city
        assert -90 <= c.lat <= 90 and -180 <= c.lon <= 180
    # OurAirports (airports.csv): Heathrow 51.4706, -0.461941; Incheon 37.4691, 126.451
    assert table["LHR"].lat == pytest.approx(51.4706, abs=0.1) and table["LHR"].lon == pytest.approx(-0.4619, abs=0.1)
    assert table["ICN"].lat == pytest.approx(37.4691, abs=0.1) and table["ICN"].lon == pytest.approx(126.451, abs=0.1)


def markers(text: Any) -> dict[tuple[int, int], str]:
    """(row, column) -> style of each marker in a drawn map."""
    out: dict[tuple[int, int], str] = {}
    lines = text.plain.split("\n")
    offsets = [sum(len(line) + 1 for line in lines[:i]) for i in range(len(lines))]
    for span in text.spans:
        row = max(i for i, o in enumerate(offsets) if o <= span.start)
        if text.plain[span.start] == "●":
            out[(row, span.start - offsets[row])] = str(span.style)
    return out


def test_data_centres_are_drawn_at_their_position_busiest_on_top() -> None:
    table = edge_map.colos()
    served = [edge_map.Served("LHR", 700, 0, table["LHR"]), edge_map.Served("SYD", 9, 2, table["SYD"]),
              edge_map.Served("DUB", 30, 1, table["DUB"]), edge_map.Served("FRA", 50, 0, table["FRA"])]
    drawn = edge_map.draw(36, 13, served)  # 10° of longitude a column, 10° of latitude a row
    # LHR 51.5N 0.5W: row (75 - 51.5) / 10 = 2.35 -> 2, column (180 - 0.5) / 10 = 17.95 -> 17;
    # DUB 53.4N 6.3W falls in the same character (2.16, 17.37): LHR, the busier, is drawn there.
    # FRA 50.0N 8.6E: row 2.5 -> 2, column 18.86 -> 18. SYD 33.9S 151.2E: row 10.89 -> 10, column 33.12 -> 33,
    # red: it answered errors.
    assert markers(drawn) == {(2, 17): "bold green", (2, 18): "bold green", (10, 33): "bold red"}
    assert len(drawn.plain.split("\n")) == 13 and all(len(line) == 36 for line in drawn.plain.split("\n"))


def test_the_list_names_each_place_and_a_code_without_position() -> None:
    served = edge_map.from_cloudflare([("LHR", 7, 0), ("FRA", 5, 1), ("QQQ", 2, 0)])
    lines = edge_map.listing(served, width=30).plain.split("\n")
    assert lines == ["LHR London               7 req", "FRA Frankfurt      5 req 1 err",
                     "QQQ (no position)        2 req"]


async def test_locally_the_edge_is_one_entry_with_the_runtime_traffic() -> None:
    with frozen_clock():
        app = HooxApp(fixture_ctx(), run_store=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f6")
            listed = app.screen.query_one("#edge-list")
            await until(pilot, lambda: "127.0.0.1" in plain(listed), "the local entry")
            figures = [w["traffic"]["5m"] for i, n in enumerate(WORKERS) if (w := worker_json(n, i))["traffic"]]
            want = f"{sum(f['requests'] for f in figures)} req {sum(f['errors'] for f in figures)} err"
            assert "127.0.0.1 (local runtime)" in plain(listed) and want in plain(listed)
            assert "●" not in app.screen.query_one("#edge-map", edge_map.EdgeMap).render().plain  # nothing to place
            assert "local runtime" in str(app.screen.query_one("#edge-box").border_title)


async def test_on_cloudflare_the_map_shows_the_data_centres_that_served_hoox(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from test_cf_usage import invocations

    fake = start_fake(monkeypatch, tmp_path)
    try:
        fake.state.invocations = invocations()
        with frozen_clock(1767614400.0):  # 12:00:00: the fake's invocations end at 11:59
            store = deployed_store()
            store.cloudflare = lambda: cf_usage.read(None)
            await store.poll_cloudflare()
            app = HooxApp(fixture_ctx(store), run_store=False)
            async with app.run_test(size=(100, 30)) as pilot:
                await pilot.press("f6")
                listed = app.screen.query_one("#edge-list")
                await until(pilot, lambda: "LHR" in plain(listed), "the data centres")
                # hoox's workers in the window: LHR 7 (hoox), FRA 3 (hoox) + 2 (trade-worker, one error), SJC 1
                rows = [" ".join(line.split()) for line in plain(listed).strip().splitlines()]
                assert rows == ["LHR London 7 req", "FRA Frankfurt 5 req 1 err", "SJC San Jose 1 req"]
                drawn = app.screen.query_one("#edge-map", edge_map.EdgeMap)
                table = edge_map.colos()
                width, height = drawn.size.width, edge_map.fit_height(drawn.size.width, drawn.size.height)
                cells = {edge_map.cell_of(table[c].lat, table[c].lon, width, height) for c in ("LHR", "FRA", "SJC")}
                assert drawn.render().plain.count("●") == len(cells) == 3
                assert "Cloudflare data centres, last 5m" in str(app.screen.query_one("#edge-box").border_title)
    finally:
        fake.stop()
