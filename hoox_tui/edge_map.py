"""The service manager's edge map: where the workers are served from, on a compact character map.

The map is equirectangular from 75°N to 55°S (no polar land holds a data centre), drawn to whatever
size it is given: land as dim dots from a coarse outline (longitude spans of land per 10° band of
latitude; enough to recognise the continents at a few degrees a character), each data centre that
served hoox's workers as a marker at its airport's position (`data/colos.csv`): green, red when it
answered errors. Several in one character: the busiest is drawn (all are listed beside the map).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from rich.text import Text
from textual.widget import Widget

NORTH, SOUTH = 75.0, -55.0

# Land per 10° band of latitude (its northern edge): longitude spans, west to east.
LAND: dict[int, list[tuple[float, float]]] = {
    80: [(-125, -65), (-60, -20), (60, 140)],
    70: [(-165, -60), (-50, -40), (-24, -14), (5, 180)],
    60: [(-165, -130), (-130, -58), (-10, 2), (5, 140), (155, 165)],
    50: [(-125, -65), (-10, 45), (50, 135), (140, 145)],
    40: [(-120, -77), (-10, 12), (20, 30), (32, 122), (126, 141)],
    30: [(-112, -80), (-17, 57), (62, 122)],
    20: [(-105, -85), (-17, 52), (73, 80), (95, 110), (120, 125)],
    10: [(-78, -50), (-10, 48), (95, 120)],
    0: [(-80, -35), (10, 40), (105, 150)],
    -10: [(-75, -38), (12, 40), (44, 50), (125, 145)],
    -20: [(-70, -45), (15, 33), (114, 153)],
    -30: [(-73, -57), (18, 28), (116, 150), (172, 178)],
    -40: [(-75, -65), (145, 148), (167, 174)],
    -50: [(-72, -65)],
}


@dataclass(frozen=True)
class Colo:
    code: str
    city: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Served:
    """Requests and errors a place served (a data centre, or the local runtime)."""

    label: str
    requests: int
    errors: int
    colo: Colo | None = None  # None: no position (the local runtime, or a code not in the table)


@cache
def colos() -> dict[str, Colo]:
    """The IATA table shipped with the cockpit (data/colos.csv)."""
    text = resources.files("hoox_tui").joinpath("data/colos.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {r["code"]: Colo(r["code"], r["city"], float(r["lat"]), float(r["lon"])) for r in rows}


def is_land(lat: float, lon: float) -> bool:
    band = LAND.get(int((lat // 10) * 10 + 10), [])
    return any(w <= lon <= e for w, e in band)


def cell_of(lat: float, lon: float, width: int, height: int) -> tuple[int, int] | None:
    """The (row, column) a position falls in, or None outside the map's latitudes."""
    if not SOUTH <= lat <= NORTH:
        return None
    col = min(width - 1, int((lon + 180) / 360 * width))
    row = min(height - 1, int((NORTH - lat) / (NORTH - SOUTH) * height))
    return row, col


def fit_height(width: int, height: int) -> int:
    """The rows a map `width` wide needs (characters are about twice as tall as wide), at most `height`."""
    return max(1, min(height, round(width * (NORTH - SOUTH) / 360 * 1.0)))


def draw(width: int, height: int, served: list[Served]) -> Text:
    """The map, `width` × `height` characters, with a marker for each placed data centre."""
    marks: dict[tuple[int, int], Served] = {}
    for s in sorted(served, key=lambda s: s.requests):  # the busiest last: it wins its character
        if s.colo is not None and (at := cell_of(s.colo.lat, s.colo.lon, width, height)) is not None:
            marks[at] = s
    out = Text(no_wrap=True, overflow="crop")
    for row in range(height):
        lat = NORTH - (row + 0.5) * (NORTH - SOUTH) / height
        for col in range(width):
            hit = marks.get((row, col))
            if hit is not None:
                out.append("●", style="bold red" if hit.errors else "bold green")
                continue
            lon = -180 + (col + 0.5) * 360 / width
            out.append("·" if is_land(lat, lon) else " ", style="dim")
        if row < height - 1:
            out.append("\n")
    return out


def listing(served: list[Served], *, width: int) -> Text:
    """A line per place, busiest first: code and city (or the label), requests, errors; the figures
    go on a line of their own when both do not fit."""
    t = Text(no_wrap=True, overflow="ellipsis")
    for i, s in enumerate(served):
        where = f"{s.label} {s.colo.city}" if s.colo is not None else (
            f"{s.label} (no position)" if _is_code(s.label) else s.label)
        figures = f"{s.requests:,} req" + (f" {s.errors:,} err" if s.errors else "")
        room = width - len(figures) - 1
        if len(where) <= room:
            t.append(f"{where:<{room}} ")
        else:
            t.append(f"{where[:width]}\n  ")
        t.append(figures, style="red" if s.errors else "")
        if i < len(served) - 1:
            t.append("\n")
    return t


def _is_code(label: str) -> bool:
    return len(label) == 3 and label.isalpha() and label.isupper()


def from_cloudflare(rows: list[tuple[str, int, int]]) -> list[Served]:
    """(coloCode, requests, errors) rows as places, positioned from the table where it has them."""
    table = colos()
    return [Served(code, requests, errors, table.get(code)) for code, requests, errors in rows]


class EdgeMap(Widget):
    """The map, drawn to the widget's size whenever it renders (so a resize redraws it in place)."""

    DEFAULT_CSS = "EdgeMap { width: 1fr; height: 1fr; }"

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.places: list[Served] = []

    def show(self, places: list[Served]) -> None:
        self.places = places
        self.refresh()

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        if width <= 0 or height <= 0:
            return Text("")
        return draw(width, fit_height(width, height), self.places)
