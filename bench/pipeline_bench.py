"""Signals per second through the local edge over HTTP, against a bare ASGI echo served the same way.

    python bench/pipeline_bench.py [--signals 3000] [--concurrency 32] [--rate 300 [150 ...]] [--seconds 10]
                                   [--query-seconds 4] [--split 2] [--profile] [--count-statements]

Everything is on loopback and stops by itself. The local runtime runs in a subprocess (every
worker serving HTTP on free ports, a throwaway workspace, `webhooks:rate_limit_per_minute` and the
paper balance set high); this process is the sender. Each signal is a paper LONG 0.001 BTCUSDT on
bybit with its own `idempotencyKey`, so each goes the whole way: gateway -> rate limiter and lock
(Durable Objects) -> trade-worker -> paper exchange -> ledger, and must answer 200. The baseline is
a bare ASGI app (it reads the body and answers a small JSON) served in its own subprocess by uvicorn
with the runtime's own server settings, driven by the same client code.

Figures, each for the echo and for hoox, and their ratio:
- closed loop: `--concurrency` senders, each sending its next request when the last one answered,
  `--signals` requests in all: requests/s and latency p50/p95/p99;
- the split bound: the same closed loop over `--split` whole runtimes, each in its own process and
  workspace with nothing shared, each sent its share of the senders: the most any split of the runtime
  over that many processes (the gateway in one, trade-worker in another, ...) could reach, since such
  a split adds hops and shares files where these share nothing;
- open loop: requests sent at a fixed `--rate` (one run per rate given) for `--seconds`, whatever
  the answers: p50/p99 and the rate achieved (the time to the last answer counts, so an offered rate
  above capacity shows up as a lower achieved rate and a growing latency);
- a slow query: one signal at a time, alone and then while a `/v1/db/query` runs for
  `--query-seconds` (an endless query cut off by `operator:query_timeout_ms`): p50 and max latency.

`--count-statements` also counts every SQL statement the runtime runs (a trace callback per statement, which
costs CPU: the timed figures of such a run are not comparable with one without it). Commits, hops and
Durable Object calls are always counted (one increment each).

`--profile` runs the runtime under cProfile during the hoox closed loop and prints where its time
went, per signal, by module (`--profile-out FILE` keeps the raw data for `pstats`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
GW = "hoox"
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"


# --------------------------------------------------------------------------- servers (subprocesses)
def _socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def _serve_echo() -> None:
    import uvicorn

    async def echo(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        out = json.dumps({"success": True, "requestId": str(uuid.uuid4()), "size": len(body)}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
        await send({"type": "http.response.body", "body": out})

    sock = _socket()
    # the runtime's own server settings (local/runtime.py `_serve`)
    server = uvicorn.Server(uvicorn.Config(echo, log_level="warning", lifespan="off", access_log=False,
                                           timeout_graceful_shutdown=5))
    server.capture_signals = lambda: _NoSignals()  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    print(json.dumps({"url": f"http://127.0.0.1:{sock.getsockname()[1]}"}), flush=True)
    await _until_terminated()
    server.should_exit = True
    await task


class _NoSignals:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


async def _until_terminated() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


def _counters() -> dict[str, Counter[str]]:
    """What the runtime counts as it runs: SQL statements, commits (fsyncs), ASGI hops, DO calls."""
    from hoox_edge.local import durable, service, sqlio

    return {"statements": Counter(sqlio.STATEMENTS or {}), "commits": Counter(sqlio.COMMITS),
            "hops": Counter(service.HOPS), "do_calls": Counter(durable.CALLS)}


async def _serve_runtime(workdir: str, profile: str | None, stats: str, count_statements: bool) -> None:
    from desk import serving_desk
    from hoox_edge.local import sqlio

    if count_statements:
        sqlio.trace_statements()  # before any file is opened: every connection traces its statements
    rt = await serving_desk(Path(workdir))
    env = rt.env(GW)
    prof = cProfile.Profile() if profile else None
    print(json.dumps({"url": f"http://127.0.0.1:{rt.ports[GW]}", "apiKey": env.WEBHOOK_API_KEY,
                      "operatorKey": env.OPERATOR_API_KEY}), flush=True)
    loop = asyncio.get_running_loop()
    toggles = [0]
    start: dict[str, Counter[str]] = {}

    def toggle() -> None:  # SIGUSR1: start counting (and profiling); the second one: stop and write them
        toggles[0] += 1
        if toggles[0] == 1:
            start.update(_counters())
            if prof is not None:
                prof.enable()
        elif toggles[0] == 2:
            if prof is not None and profile:
                prof.disable()
                prof.dump_stats(profile)
            Path(stats).write_text(json.dumps({k: dict(v - start[k]) for k, v in _counters().items()}))

    loop.add_signal_handler(signal.SIGUSR1, toggle)
    await _until_terminated()
    await rt.stop()


class Server:
    """A server subprocess of this script; `info` is what it printed when ready."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT / "edge")})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"server {args} did not start (exit {self.proc.wait()})")
        self.info: dict[str, Any] = json.loads(line)

    def cpu(self) -> float:
        """CPU seconds the server process has used (every thread)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------- the sender
def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def percentiles(latencies: list[float]) -> dict[str, float]:
    return {f"p{p}": pct(latencies, p) * 1000 for p in (50, 95, 99)}


class Response:
    def __init__(self, status: int, body: bytes) -> None:
        self.status_code, self.body = status, body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """A minimal HTTP/1.1 keep-alive client: at most `connections` requests at a time, one per
    connection. httpx spends ~10 ms of CPU a request when a hundred wait for a slow server, which
    would measure the sender; this spends ~0.1 ms."""

    def __init__(self, url: str, connections: int) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.slots = asyncio.Semaphore(connections)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.all: list[asyncio.StreamWriter] = []

    async def request(self, method: str, path: str, payload: Any = None,
                      headers: dict[str, str] | None = None) -> Response:
        body = b"" if payload is None else json.dumps(payload).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        raw = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n{head}\r\n").encode() + body
        async with self.slots:
            conn = self.idle.pop() if self.idle else await asyncio.open_connection(self.host, self.port)
            if conn[1] not in self.all:
                self.all.append(conn[1])
            reader, writer = conn
            try:
                writer.write(raw)
                status = int((await reader.readline()).split()[1])
                length, closing = 0, False
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                    elif name.lower() == "connection" and "close" in value.lower():
                        closing = True
                data = await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                writer.close()
                raise ConnectionError("the server dropped the connection") from None
            if closing:
                writer.close()
            else:
                self.idle.append(conn)
            return Response(status, data)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for w in self.all:
            w.close()


class Sender:
    def __init__(self, url: str, info: dict[str, Any], *, echo: bool) -> None:
        self.url, self.info, self.echo = url, info, echo
        self.statuses: Counter[int | str] = Counter()
        self.errors: list[str] = []

    def body(self) -> dict[str, Any]:
        return {"apiKey": self.info.get("apiKey", "k"), "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT",
                "quantity": 0.001, "idempotencyKey": uuid.uuid4().hex}

    async def one(self, client: Client) -> float:
        started = time.perf_counter()
        try:
            r = await client.request("POST", "/echo" if self.echo else "/webhook", self.body())
        except ConnectionError:  # an overloaded server may drop connections: counted, not fatal
            self.statuses["dropped"] += 1
            return time.perf_counter() - started
        took = time.perf_counter() - started
        self.statuses[r.status_code] += 1
        if r.status_code not in (200, 202) and len(self.errors) < 5:
            self.errors.append(f"{r.status_code}: {r.text[:300]}")
        return took

    def client(self, connections: int) -> Client:
        return Client(self.url, connections)

    async def closed_loop(self, n: int, concurrency: int, measured: Any = None, warm: int = 50) -> dict[str, Any]:
        """`measured(True)` is called once warmed up, `measured(False)` when the n requests are answered."""
        latencies: list[float] = []
        left = [n]
        async with self.client(concurrency) as client:
            for _ in range(min(n, warm)):  # warm up: connections, caches, first-use paths
                await self.one(client)
            self.statuses.clear()
            if measured:
                measured(True)

            async def worker() -> None:
                while left[0] > 0:
                    left[0] -= 1
                    latencies.append(await self.one(client))

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            if measured:
                measured(False)
        return {"per_s": n / elapsed, "latencies": latencies, **percentiles(latencies)}

    async def open_loop(self, rate: float, seconds: float) -> dict[str, Any]:
        latencies: list[float] = []
        n = int(rate * seconds)
        async with self.client(128) as client:  # the runtime's listen backlog is 128
            tasks = []
            started = time.perf_counter()
            for i in range(n):
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(self.one(client)))
            latencies = list(await asyncio.gather(*tasks))
            elapsed = time.perf_counter() - started
        return {"offered": rate, "achieved": n / elapsed, "p50": pct(latencies, 50) * 1000,
                "p99": pct(latencies, 99) * 1000}

    async def during_query(self, seconds: float) -> dict[str, Any]:
        """One signal at a time: alone, then while a /v1/db/query runs `seconds` (cut off by its limit)."""
        auth = {"Authorization": f"Bearer {self.info['operatorKey']}"}
        async with self.client(8) as client:
            r = await client.request("PUT", "/v1/config/kv/operator:query_timeout_ms",
                                     {"value": int(seconds * 1000)}, auth)
            if r.status_code != 200:
                raise RuntimeError(f"could not set operator:query_timeout_ms: {r.status_code} {r.text[:200]}")
            alone = [await self.one(client) for _ in range(30)]
            query = asyncio.create_task(client.request("POST", "/v1/db/query", {"query": ENDLESS}, auth))
            await asyncio.sleep(0.2)  # let the query start; the figures below are taken while it runs
            during: list[float] = []
            while not query.done():
                during.append(await self.one(client))
            answer = await query
        code = (answer.json().get("error") or {}).get("code")
        return {"alone_p50": pct(alone, 50) * 1000, "alone_max": max(alone) * 1000,
                "during_p50": pct(during, 50) * 1000, "during_max": max(during) * 1000, "during_n": len(during),
                "query_answer": f"{answer.status_code} {code}"}


# --------------------------------------------------------------------------- profile
def _module(path: str) -> str:
    if "hoox_edge" in path:
        return "hoox_edge/" + path.split("hoox_edge/")[1]
    if "site-packages" in path:
        return path.split("site-packages/")[1].split("/")[0]
    return "stdlib " + path.rsplit("/", 1)[-1]


def by_module(path: str, signals: int, top: int | None = 45) -> list[tuple[float, str]]:
    """ms per signal by module: a module's own time plus the C functions it called (sqlite3's
    `execute` counts for the adapter that ran the statement, a socket's `send` for asyncio)."""
    agg: Counter[str] = Counter()
    for (f, _, fn), (_, _, tt, _, callers) in pstats.Stats(path).stats.items():  # type: ignore[attr-defined]
        if f != "~":
            agg[_module(f)] += tt
            continue
        total = sum(c[2] for c in callers.values()) or 1.0
        for (cf, _, _), c in callers.items():  # split a C function's time over its callers
            agg[_module(cf) if cf != "~" else "C " + fn[:40]] += tt * c[2] / total
    return [(t / signals * 1000, k) for k, t in agg.most_common(top)]


_KINDS = (  # module prefix -> what it is, for the summary
    ("hoox_edge/local/", "local runtime and adapters (incl. running the workers' SQL)"),
    ("hoox_edge/workers/", "workers"), ("hoox_edge/ledger", "workers"), ("hoox_edge/paper/", "workers"),
    ("hoox_edge/exchanges/", "workers"), ("hoox_edge/shared/", "workers (shared code)"),
    ("hoox_edge/", "workers (shared code)"),
    ("stdlib encoder", "json"), ("stdlib decoder", "json"), ("stdlib __init__", "json"),
    # httptools' parser is C: its time is split over its callers, uvicorn's protocol
    ("starlette", "HTTP: starlette, uvicorn and httptools"), ("uvicorn", "HTTP: starlette, uvicorn and httptools"),
    ("stdlib base_events", "asyncio"), ("stdlib events", "asyncio"), ("stdlib tasks", "asyncio"),
    ("stdlib selector", "asyncio"), ("stdlib futures", "asyncio"), ("stdlib base_futures", "asyncio"),
    ("stdlib locks", "asyncio"),
)


def by_kind(rows: list[tuple[float, str]]) -> list[tuple[float, str]]:
    agg: Counter[str] = Counter()
    for ms, module in rows:
        agg[next((kind for prefix, kind in _KINDS if module.startswith(prefix)), "other")] += ms
    return [(ms, kind) for kind, ms in agg.most_common()]


# --------------------------------------------------------------------------- counts
async def _read_when_written(path: Path) -> dict[str, dict[str, int]]:
    for _ in range(500):  # the server writes it on the second SIGUSR1
        if path.exists():
            with contextlib.suppress(ValueError):
                return json.loads(path.read_text())
        await asyncio.sleep(0.01)
    raise RuntimeError("the runtime did not write its counts")


def per_signal(c: dict[str, dict[str, int]], n: int) -> str:
    """The runtime's counts during the hoox closed loop, per signal."""
    def each(counts: dict[str, int], top: int = 8) -> str:
        items = sorted(counts.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{k} {v / n:.2f}" for k, v in items[:top])
        return f"{sum(counts.values()) / n:.2f} ({shown})"

    sql = c["statements"]
    writes = {k: v for k, v in sql.items() if k in ("INSERT", "UPDATE", "DELETE", "REPLACE")}
    indent = "\n" + " " * 14
    statements = (f"SQL statements {each(sql, 12)}{indent}of which writes {sum(writes.values()) / n:.2f}; " if sql
                  else f"SQL statements not counted (--count-statements counts them; it costs CPU){indent}")
    return (f"  per signal: {statements}"
            f"commits with writes (one fsync each) "
            f"{each(c['commits'])}\n"
            f"              in-process ASGI hops {each(c['hops'])} (plus the HTTP request itself)\n"
            f"              Durable Object calls {each(c['do_calls'])}")


# --------------------------------------------------------------------------- main
def line(name: str, f: dict[str, Any]) -> str:
    return (f"  {name:<6} {f['per_s']:8.1f}/s   p50 {f['p50']:7.1f} ms   p95 {f['p95']:7.1f} ms   "
            f"p99 {f['p99']:7.1f} ms   CPU per request: server {f['server_cpu']:.2f} ms, "
            f"sender {f['sender_cpu']:.2f} ms")


async def measured(srv: Server, n: int, run: Any) -> dict[str, Any]:
    """`run()`'s figures plus the CPU the server and this process spent per request meanwhile."""
    server, sender = srv.cpu(), time.process_time()
    out = await run()
    out["server_cpu"] = (srv.cpu() - server) / n * 1000
    out["sender_cpu"] = (time.process_time() - sender) / n * 1000
    return out


async def split_bound(n: int, concurrency: int, processes: int) -> dict[str, Any]:
    """The closed loop over `processes` whole runtimes, each in its own process and workspace with
    nothing shared, each sent its share of the senders and the signals: what any split of the runtime
    over that many processes could reach at best (no hop between them, no file they share)."""
    with contextlib.ExitStack() as stack:
        servers = []
        for _ in range(processes):
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="hoox-pipeline-split-"))
            servers.append(Server("--serve-runtime", tmp, "--stats-to", str(Path(tmp) / "counts.json")))
            stack.callback(servers[-1].stop)
        senders = [Sender(srv.info["url"], srv.info, echo=False) for srv in servers]
        await asyncio.gather(*(s.closed_loop(100, concurrency // processes) for s in senders))  # warm up
        cpu, started = [srv.cpu() for srv in servers], time.perf_counter()
        runs = await asyncio.gather(*(s.closed_loop(n // processes, concurrency // processes, warm=0)
                                      for s in senders))
        elapsed = time.perf_counter() - started
        done = sum(len(r["latencies"]) for r in runs)
        return {"per_s": done / elapsed, **percentiles([x for r in runs for x in r["latencies"]]),
                "server_cpu": sum(srv.cpu() - c for srv, c in zip(servers, cpu, strict=True)) / done * 1000,
                "bad": sum((s.statuses for s in senders), Counter()) - Counter({200: done})}


async def bench(args: argparse.Namespace) -> int:
    echo_srv = Server("--serve-echo")
    with tempfile.TemporaryDirectory(prefix="hoox-pipeline-") as tmp:
        profile = (args.profile_out or str(Path(tmp) / "runtime.prof")) if args.profile else None
        stats = str(Path(tmp) / "counts.json")
        rt_srv = Server("--serve-runtime", tmp, "--stats-to", stats, *(["--profile-to", profile] if profile else []),
                        *(["--count-statements"] if args.count_statements else []))
        try:
            echo = Sender(echo_srv.info["url"], {}, echo=True)
            hoox = Sender(rt_srv.info["url"], rt_srv.info, echo=False)
            print(f"closed loop: {args.signals} requests, {args.concurrency} senders (sender: this process; "
                  "servers: one subprocess each)")
            e_closed = await measured(echo_srv, args.signals + 50,
                                      lambda: echo.closed_loop(args.signals, args.concurrency))
            print(line("echo", e_closed))
            h_closed = await measured(rt_srv, args.signals + 50, lambda: hoox.closed_loop(
                args.signals, args.concurrency, lambda on: rt_srv.signal(signal.SIGUSR1)))
            print(line("hoox", h_closed))
            print(per_signal(await _read_when_written(Path(stats)), args.signals))
            print(f"  ratio  throughput hoox/echo {h_closed['per_s'] / e_closed['per_s']:.3f}; "
                  f"p99 hoox/echo {h_closed['p99'] / e_closed['p99']:.1f}")
            if args.split > 1:
                b = await split_bound(args.signals, args.concurrency, args.split)
                print(f"  split bound: {args.split} whole runtimes, one process and workspace each, nothing shared, "
                      f"{args.concurrency // args.split} senders each\n"
                      f"  {'split':<6} {b['per_s']:8.1f}/s   p50 {b['p50']:7.1f} ms   p95 {b['p95']:7.1f} ms   "
                      f"p99 {b['p99']:7.1f} ms   CPU per request: servers {b['server_cpu']:.2f} ms"
                      + (f"   answers other than 200: {dict(b['bad'])}" if b["bad"] else ""))
            if args.query_seconds > 0:
                q = await hoox.during_query(args.query_seconds)
                print(f"a signal alone: p50 {q['alone_p50']:.1f} ms, max {q['alone_max']:.1f} ms; while a "
                      f"{args.query_seconds:g} s query runs: p50 {q['during_p50']:.1f} ms, "
                      f"max {q['during_max']:.1f} ms ({q['during_n']} signals; the query answered "
                      f"{q['query_answer']})")
            for rate in sorted(args.rate):  # the lowest first: an overloaded run leaves a backlog behind
                print(f"open loop: {rate:g} requests/s offered for {args.seconds:g} s")
                for name, sender in (("echo", echo), ("hoox", hoox)):
                    f = await sender.open_loop(rate, args.seconds)
                    print(f"  {name:<6} achieved {f['achieved']:7.1f}/s   p50 {f['p50']:7.1f} ms   "
                          f"p99 {f['p99']:7.1f} ms")
            bad = {k: v for k, v in (echo.statuses + hoox.statuses).items() if k != 200}
            print(f"answers other than 200: {bad or 'none'} (202: queued after the direct call's 2.5 s budget)"
                  + "".join(f"\n  {e}" for e in hoox.errors))
        finally:
            rt_srv.stop()
            echo_srv.stop()
        if profile and os.path.exists(profile):
            print(f"\nruntime profile of the hoox closed loop (cProfile, which slows it about 2x): time per signal "
                  f"({args.signals} signals) by module, its own and that of the C functions it called")
            rows = by_module(profile, args.signals, top=None)
            for ms, key in rows[:40]:
                print(f"  {ms:7.3f} ms  {key}")
            print(f"  total {sum(ms for ms, _ in rows):.3f} ms; by kind:")
            for ms, kind in by_kind(rows):
                print(f"  {ms:7.3f} ms  {kind}")
    return 0 if not (echo.errors or hoox.errors) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signals", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rate", type=float, nargs="+", default=[300.0], help="offered rates of the open loop")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--query-seconds", type=float, default=4)
    ap.add_argument("--split", type=int, default=2, metavar="N",
                    help="also run the closed loop over N whole runtimes sharing nothing: the bound of any "
                         "split of the runtime over N processes (1: skip)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--count-statements", action="store_true",
                    help="also count every SQL statement (a trace callback per statement: costs CPU)")
    ap.add_argument("--profile-out", metavar="FILE", help="with --profile: keep the raw cProfile data there")
    ap.add_argument("--serve-echo", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--serve-runtime", metavar="DIR", help=argparse.SUPPRESS)
    ap.add_argument("--profile-to", help=argparse.SUPPRESS)
    ap.add_argument("--stats-to", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve_echo:
        asyncio.run(_serve_echo())
        return 0
    if args.serve_runtime:
        asyncio.run(_serve_runtime(args.serve_runtime, args.profile_to, args.stats_to, args.count_statements))
        return 0
    return asyncio.run(bench(args))


if __name__ == "__main__":
    raise SystemExit(main())
