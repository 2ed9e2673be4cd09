"""Analytics (F10 or A; the palette's "View: Analytics"): error banners, every worker's latency
lines, and the signal volume heat map.

- **Error banners**: a worker whose share of HTTP 5xx answers over the last 5 minutes (the edge's
  `/v1/workers` traffic figures) passes the KV threshold `analytics:error_rate_alert_percent`
  (set in Settings, F9; 0: never) gets a red banner naming the figures.
- **Latency lines**: p95 and p50 of each worker per time bucket over the last hour or day (`w`
  switches), from the edge's own analytics (`/v1/workers/{name}/latency`). Both lines of a worker
  share one scale, its highest p95 in the window; a bucket without requests is a gap, not a 0.
  After the p95 line: the last bucket's p95 (and the highest); after the p50 line: the last
  bucket's p50 and the requests in the window.
- **Volume heat map**: signals the ledger received per weekday × hour (UTC) over the last 28 days
  (`/v1/analytics/volume`), shaded against the busiest cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from hoox_cli.core import models as m
from hoox_tui.store import ANALYTICS_WINDOWS, VOLUME_DAYS
from hoox_tui.views.base import View

if TYPE_CHECKING:
    from hoox_tui.context import CockpitContext

BLOCKS = "▁▂▃▄▅▆▇█"
SHADES = "░▒▓█"  # a quarter of the busiest cell each
NAME_WIDTH = 19  # web3-wallet-worker and a space
ERROR_WINDOW = "5m"
BANNER_STYLE = "bold white on red"


def spark(values: Sequence[float | None], top: float) -> str:
    """One character per value, its height against `top`; None (no request in that bucket) is a gap."""
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        elif top <= 0:
            out.append(BLOCKS[0])
        else:
            out.append(BLOCKS[min(len(BLOCKS) - 1, max(0, math.ceil(v / top * len(BLOCKS)) - 1))])
    return "".join(out)


def shade(n: int, peak: int) -> str:
    """A heat-map cell: · for no signal, else ░▒▓█ by its share of the busiest cell."""
    if n <= 0 or peak <= 0:
        return "·"
    return SHADES[min(len(SHADES) - 1, math.ceil(n / peak * len(SHADES)) - 1)]


def ms(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f} ms" if v < 1000 else f"{v / 1000:.2f} s"


def error_banners(workers: Sequence[m.WorkerDetail], threshold: float | None) -> list[str]:
    """One line per worker whose 5xx share over the last 5 minutes is above `threshold` percent."""
    if threshold is None or threshold <= 0:
        return []
    out = []
    for w in workers:
        fig = (w.traffic or {}).get(ERROR_WINDOW)
        if fig is None or not fig.requests:
            continue
        rate = fig.errors / fig.requests * 100
        if rate > threshold:
            out.append(f"{w.name}: {rate:.1f}% of {fig.requests} requests failed (HTTP 5xx) in the last "
                       f"5 min; threshold {threshold:g}%")
    return out


def latency_lines(name: str, h: m.LatencyHistory | None) -> Text:
    """A worker's two lines (p95 above p50), or one line saying why there are none."""
    t = Text()
    t.append(f"{name[:NAME_WIDTH - 1]:<{NAME_WIDTH}}", style="bold")  # the catalog's longest name fits
    if h is None:
        t.append("loading…", style="dim")
        return t
    if not h.available:
        t.append(f"not available: {h.error or 'analytics could not be read'}", style="dim")
        return t
    served = [b for b in h.buckets if b.p50Ms is not None]
    if not served:
        t.append(f"no requests in the last {h.window}", style="dim")
        return t
    top = max(b.p95Ms or b.p50Ms or 0.0 for b in served)
    requests = sum(b.requests for b in h.buckets)
    last = served[-1]
    t.append("p95 ", style="yellow")
    t.append(spark([b.p95Ms for b in h.buckets], top), style="yellow")
    t.append(f" {ms(last.p95Ms)} (max {ms(top)})\n")
    t.append(" " * NAME_WIDTH + "p50 ", style="cyan")
    t.append(spark([b.p50Ms for b in h.buckets], top), style="cyan")
    t.append(f" {ms(last.p50Ms)}, {requests} req")
    return t


def heat_map(v: m.SignalVolume) -> Text:
    t = Text()
    t.append(f"Signals per hour (UTC), last {v.days} days: {v.total} in all, busiest hour {v.peak}\n", style="bold")
    t.append("     " + "".join(f"{h:02d} " for h in range(24)) + "\n", style="dim")
    for day, row in zip(v.weekdays, v.counts, strict=True):
        t.append(f"{day:<5}", style="bold")
        for n in row:
            cell = shade(n, v.peak)
            t.append(f"{cell * 2} " if cell != "·" else " · ", style="dim" if cell == "·" else "magenta")
        t.append(f" {sum(row)}\n", style="dim")
    if v.peak:
        # each shade with the counts it stands for (a small peak leaves some shades unused)
        spans: dict[str, list[int]] = {}
        for n in range(1, v.peak + 1):
            spans.setdefault(shade(n, v.peak), []).append(n)
        t.append("     · none  " + "  ".join(
            f"{s * 2} {ns[0]}" + (f"–{ns[-1]}" if len(ns) > 1 else "") for s, ns in spans.items()), style="dim")
    return t


class AnalyticsView(View):
    view_id: ClassVar[str] = "analytics"
    poll_topics: ClassVar[frozenset[str]] = frozenset({"workers", "analytics"})
    BINDINGS: ClassVar = [Binding("w", "window", "Latency: last hour / day", id="analytics.window")]

    DEFAULT_CSS = """
    AnalyticsView { padding: 0 1; }
    AnalyticsView #an-banners { height: auto; }
    AnalyticsView .an-head { height: 1; text-style: bold; color: $accent; margin-top: 1; }
    AnalyticsView #an-latency, AnalyticsView #an-volume { height: auto; }
    """

    def __init__(self, ctx: CockpitContext, **kw: Any) -> None:
        super().__init__(ctx, **kw)
        if ctx.safe_mode:
            # safe mode runs no heavy analytics feed: this instance asks nothing (the class's topics stay)
            self.__dict__["poll_topics"] = frozenset()

    def compose(self) -> ComposeResult:
        if self.ctx.safe_mode:
            yield Static("Analytics is off in safe mode (no heavy analytics feeds). Start the cockpit without "
                         "--safe-mode to see latency lines, the signal heat map and error banners.",
                         id="an-safe", classes="unavailable", markup=False)
            return
        with VerticalScroll():
            yield Static("", id="an-banners")
            yield Static("", id="an-latency-head", classes="an-head", markup=False)
            yield Static("", id="an-latency")
            yield Static(f"Signal volume — last {VOLUME_DAYS} days, from the ledger", classes="an-head", markup=False)
            yield Static("", id="an-volume")

    async def on_data(self, topics: frozenset[str]) -> None:
        if self.ctx.safe_mode:
            return
        if topics & {"workers", "analytics", "status"}:
            self.query_one("#an-banners", Static).update(self.render_banners())
            self.query_one("#an-latency-head", Static).update(
                f"Latency per worker — last {'hour' if self.ctx.store.analytics_window == '1h' else 'day'} "
                f"(w: {' / '.join(ANALYTICS_WINDOWS)}), from the edge's analytics")
            self.query_one("#an-latency", Static).update(self.render_latency())
            self.query_one("#an-volume", Static).update(self.render_volume())

    def render_banners(self) -> Text:
        store = self.ctx.store
        t = Text()
        if store.error_threshold is None:
            if store.volume is not None or "analytics" in store.errors:
                t.append("Error banners not available: the threshold analytics:error_rate_alert_percent could "
                         "not be read.", style="dim")
            return t
        banners = error_banners(store.workers, store.error_threshold)
        for i, line in enumerate(banners):
            t.append("\n" if i else "")
            t.append(f" ERROR RATE  {line} ", style=BANNER_STYLE)
        if not banners:
            t.append(f"No worker above the {store.error_threshold:g}% error threshold over the last 5 min "
                     "(analytics:error_rate_alert_percent, Settings F9).", style="dim")
        return t

    def render_latency(self) -> Text:
        store = self.ctx.store
        if store.status is None:
            return Text(store.waiting_text(), style="dim")
        err = store.errors.get("analytics")
        if err and not store.analytics_latency:
            return Text(f"not available: {err}", style="dim")
        t = Text()
        for i, w in enumerate(store.status.workers):
            if i:
                t.append("\n")
            t.append_text(latency_lines(w.name, store.analytics_latency.get(w.name)))
        return t

    def render_volume(self) -> Text:
        store = self.ctx.store
        v = store.volume
        if v is None:
            err = store.errors.get("analytics")
            return Text(f"not available: {err}" if err else store.waiting_text(), style="dim")
        return heat_map(v)

    def action_window(self) -> None:
        store = self.ctx.store
        i = ANALYTICS_WINDOWS.index(store.analytics_window)
        store.set_analytics_window(ANALYTICS_WINDOWS[(i + 1) % len(ANALYTICS_WINDOWS)])
