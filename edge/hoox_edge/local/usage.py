"""What the local runtime's workers cost the machine: CPU time per invocation and the process's memory.

**CPU.** Every worker runs as coroutines on the runtime's one event-loop thread, interleaved with the
other workers' requests, so timing a handler from start to end would count whatever else ran
meanwhile. `metered` instead times each *step* of the handler's coroutine with the thread's CPU clock
(`time.thread_time`: CPU spent by this thread, not wall time, not other threads) and sums them: the
CPU the handler itself burned on the loop, as Cloudflare's CPU time excludes time spent waiting on
I/O. A service call made inline (the callee runs inside the caller's step) is the callee's, not the
caller's, as on Cloudflare where each worker runs in its own isolate. Not counted: work handed to
other threads (SQLite reads and group commits run off the loop).

**Memory.** One process serves every worker, so there is one figure: the process's resident set
(`/proc/self/statm`). No per-worker split exists; none is made up.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any

CPU_KEEP_SECONDS = 3600.0  # the longest window asked about
CPU_KEEP_SAMPLES = 50_000  # per worker: a bound on memory when a worker serves thousands a minute
MEMORY_EVERY_SECONDS = 15.0
MEMORY_KEEP_SAMPLES = int(CPU_KEEP_SECONDS // MEMORY_EVERY_SECONDS)  # an hour of samples


class _Frame:
    """One metered invocation: CPU spent by invocations metered inside its steps (to leave out)."""

    __slots__ = ("inner",)

    def __init__(self) -> None:
        self.inner = 0.0


class _Stepping(threading.local):
    """The invocation whose step runs on this thread now, if any. Steps nest strictly (a callee awaited
    inline steps inside its caller's step), so a plain per-thread slot does: no context variable to
    set and reset on every step."""

    frame: _Frame | None = None


_STEPPING = _Stepping()


class _Metered:
    """Awaits `coro`, timing each of its steps on the thread's CPU clock; `done(seconds)` at the end
    (raised or returned) with the CPU of its own steps."""

    def __init__(self, coro: Coroutine[Any, Any, Any], done: Callable[[float], None]) -> None:
        self._coro = coro
        self._done = done

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self._coro
        frame = _Frame()
        stepping = _STEPPING
        total = 0.0
        send: Any = None
        throw: BaseException | None = None
        try:
            while True:
                outer, stepping.frame = stepping.frame, frame
                started = time.thread_time()
                try:
                    if throw is not None:
                        exc, throw = throw, None
                        yielded = coro.throw(exc)
                    else:
                        yielded = coro.send(send)
                except StopIteration as stop:
                    return stop.value
                finally:
                    spent = time.thread_time() - started
                    stepping.frame = outer
                    total += spent
                    # inline in the caller's step: the caller's clock ran too; it is this callee's CPU
                    if outer is not None:
                        outer.inner += spent
                try:
                    send = yield yielded
                except GeneratorExit:
                    coro.close()
                    raise
                except BaseException as exc:  # cancellation and throw() go on into the handler
                    throw = exc
        finally:
            self._done(max(0.0, total - frame.inner))


def metered(coro: Coroutine[Any, Any, Any], done: Callable[[float], None]) -> _Metered:
    return _Metered(coro, done)


def rss_bytes() -> int | None:
    """The process's resident memory now, or None where /proc is not there (not Linux)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            resident_pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


class Usage:
    """CPU samples per worker (end time, CPU seconds) and the process's memory samples (time, bytes)."""

    def __init__(self, *, read_rss: Callable[[], int | None] = rss_bytes) -> None:
        self._cpu: dict[str, deque[tuple[float, float]]] = {}
        self.memory: deque[tuple[float, int]] = deque(maxlen=MEMORY_KEEP_SAMPLES)
        self._read_rss = read_rss

    def record_cpu(self, worker: str, at: float, seconds: float) -> None:
        samples = self._cpu.get(worker)
        if samples is None:
            samples = self._cpu[worker] = deque(maxlen=CPU_KEEP_SAMPLES)
        samples.append((at, seconds))
        while samples and samples[0][0] < at - CPU_KEEP_SECONDS:
            samples.popleft()

    def cpu_since(self, worker: str, since: float) -> list[tuple[float, float]]:
        return [s for s in self._cpu.get(worker, ()) if s[0] >= since]

    def sample_memory(self, at: float) -> int | None:
        """Take one of the regular samples (the runtime's memory loop)."""
        rss = self._read_rss()
        if rss is not None:
            self.memory.append((at, rss))
        return rss

    def memory_now(self, at: float) -> list[tuple[float, int]]:
        """The regular samples and a reading of now (not kept: readers do not skew the cadence)."""
        rss = self._read_rss()
        return [*self.memory, *([(at, rss)] if rss is not None else [])]
