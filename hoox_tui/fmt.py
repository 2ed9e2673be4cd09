"""Small formatting helpers shared by the views (rich text, no Textual imports)."""

from __future__ import annotations

from datetime import UTC, datetime

from hoox_edge.shared import clock
from rich.text import Text


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = int(seconds)
    if s < 60:
        return f"{s}s ago"
    if s < 3600:
        return f"{s // 60}m ago"
    return f"{s // 3600}h {s % 3600 // 60}m ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m}m"
    return f"{m}m {s}s"


def money(v: float | None, signed: bool = True) -> str:
    if v is None:
        return "—"
    return f"{v:+,.2f}" if signed else f"{v:,.2f}"


def num(v: float | int | None, digits: int = 2) -> str:
    if v is None:
        return "—"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.{digits}f}"


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


def hms(iso_time: str | None) -> str:
    """The HH:MM:SS of an ISO time (UTC), or the text as is."""
    if not iso_time:
        return "—"
    return iso_time[11:19] if len(iso_time) >= 19 and iso_time[10] == "T" else iso_time


def seconds_until(iso_time: str | None) -> float | None:
    if not iso_time:
        return None
    try:
        t = datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp() - clock.now()


def pnl_text(v: float | None) -> Text:
    """A signed amount, green when positive, red when negative."""
    return Text(money(v), style="" if not v else "green" if v > 0 else "red")


BOOK_STYLE = {"paper": "bold magenta", "live": "bold white on red", "all": "bold yellow"}


def book_label(book: str | None) -> str:
    """How the cockpit names a book: `paper book`, `LIVE book`, `paper + live books`."""
    return {"paper": "paper book", "live": "LIVE book", "all": "paper + live books"}.get(book or "", "book unknown")


def book_text(book: str | None) -> Text:
    return Text(book_label(book), style=BOOK_STYLE.get(book or "", "dim"))
