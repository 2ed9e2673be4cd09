"""The cockpit's charts (plotext, drawn in the terminal through textual-plotext): the equity curve and
drawdown of a book on the dashboard, a worker's latency history in its detail view.

Both draw only what the edge computed (GET /v1/stats/equity, GET /v1/workers/{name}/latency): the x
axis is time (epoch seconds, ticks labelled in UTC), and a view hides a chart that has nothing to
draw rather than drawing a flat line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from textual_plotext import PlotextPlot

from hoox_cli.core import models as m

# Each line's colour as an ANSI colour number (plotext: plotext's names do not all mean the ANSI
# colour of the same name, "yellow" is bright blue) and as the Rich style of the same colour (the key).
EQUITY_ANSI, EQUITY_COLOR = 2, "green"
DRAWDOWN_ANSI, DRAWDOWN_COLOR = 1, "red"
P50_ANSI, P50_COLOR = 6, "cyan"
P95_ANSI, P95_COLOR = 3, "yellow"
# The views print each line's colour key above the chart: plotext's legend would cover the lines.
TICKS = 3  # first, middle, last: more do not fit a half-screen chart at 100 columns


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def time_ticks(xs: Sequence[float]) -> tuple[list[float], list[str]]:
    """A few x ticks over `xs` (epoch seconds), labelled HH:MM:SS within 10 minutes, HH:MM within a
    day, else MM-DD (UTC): distinct labels at any span."""
    if not xs:
        return [], []
    lo, hi = min(xs), max(xs)
    span = hi - lo
    fmt = "%H:%M:%S" if span < 600 else "%H:%M" if span < 86_400 else "%m-%d"
    at = [lo] if span == 0 else [lo + span * i / (TICKS - 1) for i in range(TICKS)]
    return at, [datetime.fromtimestamp(x, UTC).strftime(fmt) for x in at]


class EquityChart(PlotextPlot):
    """Cumulative net realized P&L per fill (green) and its drawdown below the running peak, drawn
    downwards from 0 (red), in quote currency."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.series: dict[str, list[float]] = {}  # what is drawn, by line (x: "t", epoch seconds)

    def show(self, curve: m.EquityCurve) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        self.series = {"t": [epoch(p.t) for p in curve.points], "equity": [p.equity for p in curve.points],
                       "drawdown": [p.drawdown for p in curve.points]}
        xs = self.series["t"]
        plt.plot(xs, self.series["equity"], color=EQUITY_ANSI, marker="braille")
        plt.plot(xs, [-d for d in self.series["drawdown"]], color=DRAWDOWN_ANSI, marker="braille")
        plt.xticks(*time_ticks(xs))
        self.refresh()


class LatencyChart(PlotextPlot):
    """p50 and p95 latency (ms) per bucket; buckets without a request are left out (no value, not 0)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.series: dict[str, list[float]] = {}  # what is drawn, by line (x: "t", epoch seconds)

    def show(self, history: m.LatencyHistory) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        served = [b for b in history.buckets if b.p50Ms is not None]
        self.series = {"t": [epoch(b.start) for b in served], "p50": [b.p50Ms or 0.0 for b in served],
                       "p95": [b.p95Ms or 0.0 for b in served]}
        # One line per run of buckets with requests: a quiet stretch is a gap, not a line across it.
        for run in _runs(history.buckets):
            xs = [epoch(b.start) for b in run]
            plt.plot(xs, [b.p95Ms or 0.0 for b in run], color=P95_ANSI, marker="braille")
            plt.plot(xs, [b.p50Ms or 0.0 for b in run], color=P50_ANSI, marker="braille")
        # the whole window on the x axis: requests that stopped leave the right of the chart empty
        plt.xlim(epoch(history.from_), epoch(history.to))
        plt.xticks(*time_ticks([epoch(history.from_), epoch(history.to)]))
        self.refresh()


def _runs(buckets: Sequence[m.LatencyBucket]) -> list[list[m.LatencyBucket]]:
    """The runs of consecutive buckets that had requests."""
    runs: list[list[m.LatencyBucket]] = []
    current: list[m.LatencyBucket] = []
    for b in buckets:
        if b.p50Ms is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(b)
    if current:
        runs.append(current)
    return runs
