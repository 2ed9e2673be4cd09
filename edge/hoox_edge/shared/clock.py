"""Wall clock for worker code and local adapters; tests move it forward instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from hoox_edge.shared.memo import Memo

_now: Callable[[], float] = time.time


def now() -> float:
    """Epoch seconds."""
    return _now()


def now_ms() -> int:
    return int(_now() * 1000)


def iso(ts: float | None = None) -> str:
    """ISO-8601 UTC with milliseconds; sorts as text."""
    ms = int((_now() if ts is None else ts) * 1000)
    sec = ms // 1000  # the second and its milliseconds from one number: they never disagree
    text = _seconds.get(sec)
    if text is None:  # strftime is slow and a dozen stamps a signal fall in a few seconds (now, a lease's end)
        text = _seconds.keep(sec, datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S."))
    return f"{text}{ms - sec * 1000:03d}Z"


_seconds: Memo[int, str] = Memo(64)  # epoch second -> its text up to the milliseconds


def parse(text: str | None) -> float | None:
    """Epoch seconds of an ISO-8601 time (as `iso` writes it); None for none."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def set_clock(fn: Callable[[], float] | None) -> None:
    """Replace the clock (tests); None restores the real one."""
    global _now
    _now = fn or time.time
