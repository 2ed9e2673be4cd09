"""Small formatting helpers shared by the views (rich text, no Textual imports)."""

from __future__ import annotations

from datetime import UTC, datetime

from hoox_edge.shared import clock
from rich.text import Text

from hoox_cli.core.numbers import significant


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
    """An amount of quote currency: 2 decimals, but a non-zero amount that would round to 0.00 keeps its
    significant digits (-0.0004, not -0.00: a loss is never shown as none)."""
    if v is None:
        return "—"
    v += 0.0  # -0.0 is 0.00, not -0.00
    if v and round(v, 2) == 0:
        return ("+" if signed and v > 0 else "") + significant(v, MONEY_TINY_DIGITS)
    return f"{v:+,.2f}" if signed else f"{v:,.2f}"


def num(v: float | int | None, digits: int = 2) -> str:
    """A figure to `digits` decimals; a non-zero one that would round to zero keeps its significant digits."""
    if v is None:
        return "—"
    if isinstance(v, int):
        return f"{v:,}"
    v += 0.0
    if v and round(v, digits) == 0:
        return significant(v, MONEY_TINY_DIGITS)
    return f"{v:,.{digits}f}"


PRICE_DIGITS = 8  # significant digits of a price or a quantity, as the CLI's `fmt` shows them
MONEY_TINY_DIGITS = 3  # of an amount too small for 2 decimals


def price(v: float | None) -> str:
    """A price with the significant digits it has (up to 8), at least 2 decimals: 65,012.50, 0.00001234.
    The one price format of the cockpit (2 fixed decimals showed a coin of 0.00001234 as 0.00)."""
    return "—" if v is None else significant(v, PRICE_DIGITS, keep=2)


def qty(v: float | None) -> str:
    """A quantity (an order's or a position's size) with the significant digits it has: 1,000,000, 0.0015."""
    return "—" if v is None else significant(v, PRICE_DIGITS)


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


def count(n: int, noun: str) -> str:
    """`1 action`, `2 actions`, `0 errors`."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def percent(v: float | None) -> str:
    """A figure already in percent (the edge's `...Percent` fields): 1.954 -> `1.95%`."""
    return "—" if v is None else f"{v:.2f}%" if round(v, 2) else "0.00%"  # never "-0.00%"


STALE_STYLE = "bold black on yellow"  # amber: data older than it should be (title bar, risk runs)


def hms(iso_time: str | None) -> str:
    """The HH:MM:SS of an ISO time (UTC), or the text as is."""
    if not iso_time:
        return "—"
    return iso_time[11:19] if len(iso_time) >= 19 and iso_time[10] == "T" else iso_time


def seconds_between(earlier: str | None, later: str | None) -> float | None:
    """Seconds from one ISO time to another (both the edge's: no clock skew with this machine)."""
    a, b = _parse(earlier), _parse(later)
    return None if a is None or b is None else b - a


def _parse(iso_time: str | None) -> float | None:
    if not iso_time:
        return None
    try:
        t = datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t if t.tzinfo is not None else t.replace(tzinfo=UTC)).timestamp()


def seconds_until(iso_time: str | None) -> float | None:
    t = _parse(iso_time)
    return None if t is None else t - clock.now()


def pnl_text(v: float | None) -> Text:
    """A signed amount, green when positive, red when negative."""
    return Text(money(v), style="" if not v else "green" if v > 0 else "red")


BOOK_STYLE = {"paper": "bold magenta", "live": "bold white on red", "all": "bold yellow"}


def book_label(book: str | None) -> str:
    """How the cockpit names a book: `paper book`, `LIVE book`, `paper + live books`."""
    return {"paper": "paper book", "live": "LIVE book", "all": "paper + live books"}.get(book or "", "book unknown")


def mode_cell(mode: str, shown: str | None = None) -> Text:
    """An order's or a position's book in a table or a list (`shown`, or PAPER / LIVE): paper in magenta,
    live in red."""
    return Text(mode.upper() if shown is None else shown, style="magenta" if mode == "paper" else "bold red")


def book_text(book: str | None) -> Text:
    return Text(book_label(book), style=BOOK_STYLE.get(book or "", "dim"))
