"""The fake clock of the tests (`clock` fixture): epoch seconds that move only when a test moves them."""

from __future__ import annotations

from datetime import UTC, datetime

# 2026-01-05 12:00:00 UTC, a Monday: a fixed, readable start for every test that moves time.
START = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC).timestamp()


class FakeClock:
    """Epoch seconds that only move when a test moves them."""

    def __init__(self, start: float = START) -> None:
        self.t = float(start)

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t

    def set(self, t: float) -> None:
        self.t = float(t)
