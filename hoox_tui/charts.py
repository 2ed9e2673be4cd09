"""The cockpit's charts (plotext, drawn in the terminal through textual-plotext): the equity curve and
drawdown of a book on the dashboard, a worker's latency history in its detail view.

They draw only what the edge computed (GET /v1/stats/equity, GET /v1/workers/{name}/latency, the
runtime's memory samples in GET /v1/workers/{name}): the x
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
VELOCITY_ANSI, VELOCITY_COLOR = 4, "blue"
MEMORY_ANSI, MEMORY_COLOR = 5, "magenta"
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


class LoadChart(PlotextPlot):
    """A worker's request velocity (requests per minute in each latency bucket, left axis) and the
    runtime's resident memory (MB, right axis: the whole process, every worker's) over time."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.series: dict[str, list[float]] = {}  # what is drawn, by line

    def show(self, history: m.LatencyHistory | None, memory: Sequence[m.MemorySample]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        per_minute = 60 / history.bucketSeconds if history is not None else 0.0
        buckets = history.buckets if history is not None and history.available else []
        self.series = {"t": [epoch(b.start) for b in buckets],
                       "requestsPerMinute": [round(b.requests * per_minute, 3) for b in buckets],
                       "memoryT": [epoch(s.t) for s in memory],
                       "memoryMB": [round(s.rssBytes / 1_048_576, 1) for s in memory]}
        if buckets:
            plt.plot(self.series["t"], self.series["requestsPerMinute"], color=VELOCITY_ANSI, marker="braille")
        if memory:
            plt.plot(self.series["memoryT"], self.series["memoryMB"], color=MEMORY_ANSI, marker="braille",
                     yside="right")
        xs = self.series["t"] + self.series["memoryT"]
        if history is not None:
            xs = [epoch(history.from_), epoch(history.to), *self.series["memoryT"]]
        if not xs:
            self.refresh()
            return
        plt.xlim(min(xs), max(xs))
        plt.xticks(*time_ticks([min(xs), max(xs)]))
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
