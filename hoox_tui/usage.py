"""A worker's CPU and memory in words, for its card and its detail: the local runtime's figures (from
/v1/workers), or on Cloudflare the core's reading of the GraphQL Analytics API (the store's `cf_usage`),
and where there is no figure, why (never a made-up number)."""

from __future__ import annotations

from dataclasses import dataclass

from hoox_cli.core import models as m
from hoox_tui.store import Store

CF_MEMORY = "not reported by Cloudflare"


def ms(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def mb(n: int | None) -> str:
    return "—" if n is None else f"{n / 1_048_576:,.1f} MB"


@dataclass(frozen=True)
class Figure:
    short: str  # a card's line
    long: str  # for the detail view
    style: str = ""


def cpu(w: m.WorkerDetail, store: Store) -> Figure:
    c = w.cpu
    if c is not None:
        if not c.invocations:
            return Figure(f"cpu      — (none in {c.window})", f"cpu {c.window}: no invocation", "dim")
        share = "" if c.coreShare is None else f", {c.coreShare * 100:.2f}% core"
        return Figure(f"cpu p50/95 {ms(c.p50Ms)}/{ms(c.p95Ms)} ms",
                      f"cpu {c.window}: p50 {ms(c.p50Ms)} ms, p95 {ms(c.p95Ms)} ms{share}")
    deployed = store.status is not None and store.status.runtime == "cloudflare"
    if deployed and store.cf_usage is not None:
        u = store.cf_usage.scripts.get(w.name)
        if u is None:
            return Figure(f"cpu      — (none in {store.cf_usage.window})",
                          f"cpu {store.cf_usage.window} (Cloudflare): no invocation", "dim")
        return Figure(f"cpu p50/99 {ms(u.cpu_p50_ms)}/{ms(u.cpu_p99_ms)} ms",
                      f"cpu {store.cf_usage.window} (Cloudflare): p50 {ms(u.cpu_p50_ms)} ms, p99 {ms(u.cpu_p99_ms)} ms")
    if deployed and store.cf_usage_error:
        return Figure("cpu      n/a (Cloudflare)", f"cpu n/a: {store.cf_usage_error}", "dim")
    if deployed:
        return Figure("cpu      loading…", "cpu: reading Cloudflare's analytics…", "dim")
    return Figure("cpu      n/a", f"cpu n/a: {w.cpuNote or 'not reported by this edge'}", "dim")


def memory(w: m.WorkerDetail) -> Figure:
    mem = w.memory
    if mem is not None:
        return Figure(f"memory   {mb(mem.rssBytes)} (runtime)",
                      f"memory {mb(mem.rssBytes)} (whole runtime: one process)")
    note = w.memoryNote or "not reported by this edge"
    # Cloudflare's absence of a figure is said in full on the card too: it is the answer, not a gap
    return Figure(f"memory   {note if note == CF_MEMORY else 'n/a'}", f"memory: {note}", "dim")
