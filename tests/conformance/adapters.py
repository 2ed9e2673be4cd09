"""Adapter sets of the conformance suite, and the capabilities a test may declare.

Every test in tests/conformance talks to the ports only, through an `Adapters` object. Each side
imports only its own adapters: the `local` set (SQLite files) in CPython, the `cloudflare` set
(the runtime's JS bindings, from Miniflare) inside Pyodide (`sys.platform == "emscripten"`, run by
tests/test_pyodide_conformance.py). To prove another implementation, write a class with the same
methods and register it in `factories()`.

A test that needs more than the ports declares it with `@pytest.mark.needs(capability, ...)`; it is
generated only for the adapter sets that have all of them (conftest.py). Why an adapter set lacks
one is written here, where the capability is defined, and the behaviour is proven another way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# capability -> what it lets a test do, and why the Cloudflare adapters do not have it.
CAPABILITIES: dict[str, str] = {
    "fake_clock": "the adapters read `hoox_edge.shared.clock`, so tests may move time. Miniflare's KV, "
                  "queues and alarms run on workerd's own clock, which Python cannot move.",
    "restart": "`reopen()` gives new adapter objects over the same state (a process restart). A "
               "Cloudflare binding has no process to restart; Miniflare's in-memory state ends with it.",
    "crash": "`reopen(instance_id=...)` as a new runtime instance after the old one died mid-batch: "
             "the local queue's leases. Cloudflare's queue service redelivers on its own.",
    "readonly_d1": "a read-only D1 (the CLI opens the local ledger so). A D1 binding has no read-only "
                   "mode: on Cloudflare the d1-worker refuses writes itself (operator/sql.py).",
    "analytics_sql": "Analytics Engine read back with SQL. On Cloudflare that is an HTTP API of the "
                     "account (cloudflare/analytics.py); Miniflare only takes writes.",
    "queue_admin": "listing and moving queued and dead-lettered messages. A Queue binding can only "
                   "send (cloudflare/queues.py CloudflareQueueAdmin says so).",
    "stream_cancel": "a caller that closes a service binding's stream early ends the callee's answer. "
                     "The cloudflare adapter cancels the body's ReadableStream (with a reason), but "
                     "Miniflare serves a binding to Python code through Node, which reads a cancelled "
                     "body to its end (measured: 8 MB of the callee's writes went through after the "
                     "cancel), so the harness cannot show what workerd does between two workers.",
}


def factories() -> dict[str, Callable[[Path], Any]]:
    """name -> factory(state folder), for the runtime this test session runs in."""
    if sys.platform == "emscripten":
        from conformance.cloudflare_adapters import CloudflareAdapters

        return {"cloudflare": CloudflareAdapters}
    from conformance.local_adapters import LocalAdapters

    return {"local": LocalAdapters}


FACTORIES = factories()
