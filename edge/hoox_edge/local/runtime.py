"""The local runtime: every enabled worker of a workspace in one CPython process and event loop.

It wires each worker's Env from the catalog (local adapters over `.hoox/state/`, secrets from
`.dev.vars`, vars from the catalog), serves each worker's ASGI app with uvicorn on 127.0.0.1, and
runs what Cloudflare runs for a worker besides requests: cron triggers, queue consumers and
Durable Object alarms. Worker modules are imported lazily by the name the catalog gives.

HTTP is served with uvicorn's proxy-header rewriting off (`shared/origin.py` decides who a client
is), a keep-alive idle timeout and a request timeout (`local/protocol.py`), so idle and half-sent
connections are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import uvicorn

from hoox_edge import catalog, migrations
from hoox_edge.local import cron as cronlib
from hoox_edge.local import imap_poll, sqlio, telegram_poll
from hoox_edge.local.analytics import AnalyticsStore, LocalAnalyticsSql
from hoox_edge.local.d1 import LocalD1
from hoox_edge.local.durable import DurableObjectHost
from hoox_edge.local.kv import LocalKV
from hoox_edge.local.pdf import ChromiumPdf
from hoox_edge.local.protocol import KEEP_ALIVE_SECONDS, REQUEST_TIMEOUT_SECONDS, timed_protocol
from hoox_edge.local.queues import POLL_SECONDS, LocalMessageBatch, QueueStore
from hoox_edge.local.r2 import LocalR2
from hoox_edge.local.service import LocalService, asgi_call, background_tasks
from hoox_edge.local.usage import MEMORY_EVERY_SECONDS, Usage, metered
from hoox_edge.local.vectorize import LocalVectorIndex
from hoox_edge.local.workspace import Workspace
from hoox_edge.ports import DurableObject, Env, QueueAdmin, ServiceResponse
from hoox_edge.shared import clock, settings
from hoox_edge.shared.redact import redact

_py = logging.getLogger("hoox.local")

ASGIApp = Callable[..., Any]
STOP_GRACE_SECONDS = 30.0


class WorkerModuleMissing(ImportError):
    """A module the catalog names is not there (yet)."""


def import_module(name: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise WorkerModuleMissing(f"{what}: module {name} does not exist") from None
        raise


class _WithEnv:
    """Puts the worker's current Env in every request's scope, as Cloudflare's ASGI bridge does, and
    meters the CPU each HTTP request costs the worker (`usage.metered`)."""

    def __init__(self, app: ASGIApp, env: Callable[[], Env], on_cpu: Callable[[float], None]) -> None:
        self.app = app
        self._env = env
        self._on_cpu = on_cpu

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = dict(scope)
            scope["env"] = self._env()
        if scope["type"] == "http":
            await metered(self.app(scope, receive, send), self._on_cpu)
            return
        await self.app(scope, receive, send)


class _OutputGate:
    """The way into the runtime from outside. It looks at .dev.vars once per request (`on_request`),
    and holds every message of the answer until the writes it could rest on are on disk
    (`sqlio.barrier`): reads see writes still being gathered into a group commit.

    The start of an answer whose length is known (a whole body, which follows at once) is held and
    sent with the body after one barrier, not one barrier each: the second waited for the next
    group commit, of other requests' writes, that the body cannot rest on. A stream's start (no
    length) passes its own barrier at once, so its head is not held until its first event."""

    def __init__(self, app: ASGIApp, on_request: Callable[[], None]) -> None:
        self.app = app
        self.on_request = on_request

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.on_request()
        held: dict | None = None

        async def gated(message: dict) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and _has_length(message):
                held = message
                return
            await sqlio.barrier()
            if held is not None:
                start, held = held, None
                await send(start)
            await send(message)

        await self.app(scope, receive, gated)
        if held is not None:  # a start with no body after it
            await sqlio.barrier()
            await send(held)


def _has_length(start: dict) -> bool:
    return any(name.lower() == b"content-length" for name, _ in start.get("headers", ()))


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (the process owning the runtime decides), and told to
    exit by `exit()`, which wakes it at once: uvicorn's own loop looks at `should_exit` every 0.1 s."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self):
        yield

    def exit(self) -> None:
        self.should_exit = True
        self._exit.set()

    async def main_loop(self) -> None:
        # uvicorn's, ticking once a second (`on_tick` refreshes the Date header every tenth of its ticks)
        # instead of ten times, and woken by exit()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 1.0)


@dataclass
class CronJob:
    worker: str
    cron: str
    next_fire: float
    last_run: float | None = None
    last_error: str | None = None


class LocalQueueAdmin(QueueAdmin):
    """`QueueAdmin` over the runtime's QueueStore (the operator API's view of the local queues)."""

    def __init__(self, store: QueueStore) -> None:
        self._store = store

    async def stats(self, queue: str) -> dict[str, Any]:
        return self._store.stats(queue)

    async def list(self, queue: str, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        return self._store.list(queue, limit=limit, offset=offset)

    async def message(self, message_id: str) -> dict[str, Any] | None:
        return self._store.message(message_id)

    async def move(self, message_id: str, to_queue: str | None = None) -> bool:
        return self._store.move(message_id, to_queue)


class RuntimeInfo:
    """What the local runtime knows about itself, for the operator API (binding `RUNTIME_INFO`).

    Cloudflare exposes none of this to a worker, so there the binding is absent.
    """

    def __init__(self, runtime: LocalRuntime) -> None:
        self._rt = runtime

    @property
    def kind(self) -> str:
        return "local"

    @property
    def instance_id(self) -> str:
        """This runtime's id: leases on orders name it, and one that names another runtime of the
        workspace (there is one at a time) belongs to a runtime that has stopped."""
        return self._rt.instance_id

    def started_at(self) -> float | None:
        """Epoch seconds (hoox clock) at which the runtime opened; every worker starts with it."""
        return self._rt.started_at

    def running(self, worker: str) -> bool:
        return worker in self._rt.workers

    def cpu_samples(self, worker: str, since: float) -> list[tuple[float, float]]:
        """(end epoch, CPU seconds) of each invocation of `worker` (HTTP request, cron run, queue batch)
        that ended at or after `since` (kept for an hour; see `local/usage.py` for what is counted)."""
        return self._rt.usage.cpu_since(worker, since)

    def memory_samples(self) -> list[tuple[float, int]]:
        """(epoch, resident bytes) of the runtime process, one every MEMORY_EVERY_SECONDS for the last
        hour, and one taken now: one process serves every worker."""
        return self._rt.usage.memory_now(clock.now())

    async def durable_objects(self, class_name: str) -> dict[str, Any]:
        """Objects of a class that have storage, those live in memory, and its pending alarms
        (counted off the event loop: a class may hold a day's worth of objects)."""
        host = self._rt.durable_objects
        stored = await host.stored_objects(class_name)
        live = host.live_count(class_name)
        pending, next_ms = await host.alarm_summary(class_name)
        return {"instances": max(stored, live), "live": live, "pendingAlarms": pending, "nextAlarmMs": next_ms}


class LocalRuntime:
    def __init__(self, workspace: Workspace, *, base_port: int | None = None,
                 workers: Sequence[str] | None = None, instance_id: str | None = None,
                 request_timeout: float = REQUEST_TIMEOUT_SECONDS,
                 keep_alive_timeout: float = KEEP_ALIVE_SECONDS) -> None:
        self.workspace = workspace
        self.request_timeout = request_timeout
        self.keep_alive_timeout = keep_alive_timeout
        self.base_port = base_port if base_port is not None else workspace.base_port()
        selected = list(workers) if workers is not None else workspace.enabled_workers()
        self.workers: list[str] = [catalog.worker(n).name for n in selected]  # validates names
        self.ports: dict[str, int] = {n: catalog.local_port(catalog.worker(n), self.base_port)
                                      for n in self.workers}
        self.state_dir = workspace.state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.queue_store = QueueStore(workspace.queues_file, instance_id=instance_id)
        self.instance_id = self.queue_store.instance_id
        self.analytics = AnalyticsStore(self.state_dir / "analytics.sqlite")
        self.usage = Usage()
        self.durable_objects = DurableObjectHost(workspace.resource_dir("do"), self._resolve_do_class, self._do_env)
        self.cron_jobs: list[CronJob] = []
        self.released_leases = 0
        self._kv: dict[str, LocalKV] = {}
        self._d1: dict[tuple[str, bool], LocalD1] = {}
        self._r2: dict[str, LocalR2] = {}
        self._vectorize: dict[str, LocalVectorIndex] = {}
        self._analytics_sql: LocalAnalyticsSql | None = None
        self._envs: dict[str, Env] = {}
        self._apps: dict[str, ASGIApp] = {}
        self._do_classes: dict[str, type[DurableObject]] = {}  # resolved once: every RPC call asks
        self._do_owners: dict[str, str] = {}
        self._secrets: dict[str, str] = {}
        self._secret_values: tuple[dict[str, str] | None, list[str]] = (None, [])  # (of which _secrets, values)
        self._secrets_stamp: tuple[int, int, int] | None = None
        self._dev_vars = str(workspace.dev_vars_path)
        self._consumer_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._servers: list[tuple[str, _Server, asyncio.Task]] = []
        self._loops: list[asyncio.Task] = []
        self._stopping = asyncio.Event()
        self.started_at: float | None = None
        self.info = RuntimeInfo(self)
        self.queue_admin = LocalQueueAdmin(self.queue_store)
        self._opened = False
        self._started = False
        self._stopped = False

    # ----------------------------------------------------------------- resources
    def kv(self, namespace: str) -> LocalKV:
        if namespace not in self._kv:
            self._kv[namespace] = LocalKV(self.workspace.kv_file(namespace))
        return self._kv[namespace]

    def d1(self, database: str, *, readonly: bool = False) -> LocalD1:
        key = (database, readonly)
        if key not in self._d1:
            self._d1[key] = LocalD1(self.workspace.d1_file(database), readonly=readonly)
        return self._d1[key]

    def r2(self, bucket: str) -> LocalR2:
        if bucket not in self._r2:
            self._r2[bucket] = LocalR2(self.workspace.r2_dir(bucket))
        return self._r2[bucket]

    def vectorize(self, index: str) -> LocalVectorIndex:
        if index not in self._vectorize:
            self._vectorize[index] = LocalVectorIndex(self.workspace.vectorize_file(index))
        return self._vectorize[index]

    def analytics_sql(self) -> LocalAnalyticsSql:
        if self._analytics_sql is None:
            self._analytics_sql = self.analytics.sql()
        return self._analytics_sql

    # ----------------------------------------------------------------- secrets and envs
    def _refresh_secrets(self) -> None:
        try:
            st = os.stat(self._dev_vars)  # every env() of every call asks: os.stat, not pathlib
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        if stamp == self._secrets_stamp and self._secrets_stamp is not None:
            return
        self._secrets = self.workspace.secrets() if stamp is not None else {}
        self._secrets_stamp = stamp
        for name, env in self._envs.items():
            self._apply_secrets(catalog.worker(name), env.__dict__["_bindings"])

    def _apply_secrets(self, w: catalog.Worker, bindings: dict[str, Any]) -> None:
        # Env objects are shared (Durable Objects keep theirs), so secrets are updated in place.
        for k, v in w.vars:
            bindings[k] = self._secrets.get(k, v)  # .dev.vars overrides a var, as with wrangler
        for s in w.all_secrets:
            if self._secrets.get(s):
                bindings[s] = self._secrets[s]
            else:
                bindings.pop(s, None)

    def env(self, worker: str) -> Env:
        """The worker's Env, with .dev.vars looked at again (an entry point: a request, a cron, a batch)."""
        self._refresh_secrets()
        return self._env(worker)

    def _env(self, worker: str) -> Env:
        """The Env without another look at .dev.vars: calls inside a request (service calls, Durable
        Objects) see what the request started with."""
        env = self._envs.get(worker)
        if env is None:
            w = catalog.worker(worker)
            bindings: dict[str, Any] = {b.name: self._binding(b) for b in w.bindings}
            if w.bindings_of("analytics_engine"):
                bindings["ANALYTICS_SQL"] = self.analytics_sql()
            if w.public:  # the worker that serves the operator API
                bindings["QUEUE_ADMIN"] = self.queue_admin
            bindings["RUNTIME_INFO"] = self.info
            if any(b.resource == catalog.REPORTS_BUCKET for b in w.bindings_of("r2")):
                bindings["PDF_RENDERER"] = ChromiumPdf()  # the workers that store reports render them
            self._apply_secrets(w, bindings)
            env = self._envs[worker] = Env(bindings, worker=worker, secret_names=w.all_secrets,
                                           also_secret=self.workspace_secret_values)
        return env

    def workspace_secret_values(self) -> list[str]:
        """The values in `.dev.vars` of every secret any worker declares (not the vars): each worker
        redacts and refuses all of them, not only its own. Every redaction asks (a dozen times a
        signal): worked out again only when `.dev.vars` was read again."""
        if self._secret_values[0] is not self._secrets:
            names = {s for w in catalog.WORKERS for s in w.all_secrets}
            self._secret_values = (self._secrets, [v for k, v in self._secrets.items() if k in names and v])
        return self._secret_values[1]

    def _binding(self, b: catalog.Binding) -> Any:
        if b.kind == "kv":
            return self.kv(b.resource)
        if b.kind == "d1":
            return self.d1(b.resource)
        if b.kind == "durable_object":
            return self.durable_objects.namespace(b.resource)
        if b.kind == "queue_producer":
            return self.queue_store.producer(b.resource)
        if b.kind == "r2":
            return self.r2(b.resource)
        if b.kind == "analytics_engine":
            return self.analytics.dataset(b.resource)
        if b.kind == "vectorize":
            return self.vectorize(b.resource)
        if b.kind == "service":
            target = b.resource
            return LocalService(target, lambda: (self.app(target), self._env(target)),
                                available=lambda: target in self.workers)
        raise ValueError(f"unknown binding kind {b.kind!r}")

    # ----------------------------------------------------------------- modules
    def module(self, worker: str) -> ModuleType:
        w = catalog.worker(worker)
        return import_module(w.module, f"worker {worker!r}")

    def app(self, worker: str) -> ASGIApp:
        app = self._apps.get(worker)
        if app is None:
            inner = getattr(self.module(worker), "app", None)
            if inner is None:
                raise WorkerModuleMissing(
                    f"worker {worker!r}: module {catalog.worker(worker).module} has no `app`")
            app = self._apps[worker] = _WithEnv(inner, lambda: self._env(worker), self._cpu_of(worker))
        return app

    def _cpu_of(self, worker: str) -> Callable[[float], None]:
        return lambda seconds: self.usage.record_cpu(worker, clock.now(), seconds)

    def _resolve_do_class(self, class_name: str) -> type[DurableObject]:
        cls = self._do_classes.get(class_name)
        if cls is None:
            cls = self._do_classes[class_name] = self._import_do_class(class_name)
        return cls

    def _import_do_class(self, class_name: str) -> type[DurableObject]:
        owner = catalog.durable_object_owner(class_name)
        spec = next(d for d in owner.durable_objects if d.class_name == class_name)
        mod = import_module(spec.module, f"Durable Object {class_name}")
        cls = getattr(mod, class_name, None)
        if cls is None:
            raise WorkerModuleMissing(
                f"Durable Object {class_name}: module {spec.module} defines no {class_name}")
        return cls

    def _do_env(self, class_name: str) -> Env:
        owner = self._do_owners.get(class_name)
        if owner is None:
            owner = self._do_owners[class_name] = catalog.durable_object_owner(class_name).name
        return self._env(owner)

    # ----------------------------------------------------------------- lifecycle
    async def open(self) -> None:
        """State folders, D1 migrations, kv-manifest values for absent keys, leases of dead instances."""
        if self._opened:
            return
        for sub in ("kv", "d1", "do", "r2", "vectorize"):
            self.workspace.resource_dir(sub).mkdir(parents=True, exist_ok=True)
        for database in sorted({b.resource for w in catalog.WORKERS for b in w.bindings_of("d1")}):
            applied = await migrations.apply(self.d1(database))
            if applied:
                _py.info("applied D1 migrations to %s: %s", database, ", ".join(applied))
        # A key already in KV was set by the user (or an earlier start): never overwrite it.
        config_kv = self.kv(catalog.CONFIG_KV)
        for key, value in self.workspace.manifest().items():
            if value is None:
                continue
            if await config_kv.get(key) is None:
                await config_kv.put(key, settings.encode(key, value))
        self.started_at = clock.now()
        self.released_leases = self.queue_store.release_dead_leases()
        if self.released_leases:
            _py.warning("%d queue message(s) of a stopped runtime will be delivered again",
                        self.released_leases)
        self._opened = True

    async def start(self, *, serve_http: bool = True) -> None:
        await self.open()
        if self._started:
            return
        self._started = True
        # Import everything first so a missing module fails the start with its name.
        for name in self.workers:
            self.module(name)
        try:
            if serve_http:
                for name in self.workers:
                    await self._serve(name)
            self._start_loops()
        except BaseException:
            await self.stop()
            raise

    async def _serve(self, name: str) -> None:
        port = self.ports[name]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # so asyncio sets TCP_NODELAY
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            sock.close()
            raise OSError(f"cannot serve {name} on 127.0.0.1:{port}: {exc.strerror or exc} "
                          f"(choose another port base with --port)") from None
        sock.listen(128)
        sock.setblocking(False)
        app = _OutputGate(self.app(name), self._refresh_secrets)
        # proxy_headers off: uvicorn would take X-Forwarded-For from any loopback client as the address.
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=5, proxy_headers=False,
                                http=timed_protocol(self.request_timeout),
                                timeout_keep_alive=self.keep_alive_timeout)  # type: ignore[arg-type]
        server = _Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"serve {name}")
        self._servers.append((name, server, task))
        while not server.started:
            if task.done():
                err = task.exception()
                raise RuntimeError(f"could not serve {name} on port {port}: {err!r}")
            await asyncio.sleep(0.01)

    def _start_loops(self) -> None:
        now = clock.now()
        for name in self.workers:
            w = catalog.worker(name)
            mod = self.module(name)
            if w.crons and not callable(getattr(mod, "scheduled", None)):
                raise WorkerModuleMissing(
                    f"worker {name!r} has cron triggers but {w.module} has no scheduled()")
            if w.consumers and not callable(getattr(mod, "queue", None)):
                raise WorkerModuleMissing(f"worker {name!r} consumes a queue but {w.module} has no queue()")
            for expr in w.crons:
                self.cron_jobs.append(CronJob(name, expr, cronlib.next_fire(expr, now)))
            for consumer in w.consumers:
                self._spawn(self._consumer_loop(name, consumer), f"consume {consumer.queue}")
        if self.cron_jobs:
            self._spawn(self._cron_loop(), "cron")
        self._spawn(self._alarm_loop(), "alarms")
        self._spawn(self._memory_loop(), "memory")
        if {telegram_poll.GATEWAY, telegram_poll.TELEGRAM} <= set(self.workers):  # the bot without a webhook
            self._spawn(telegram_poll.run(lambda: (self.env(telegram_poll.GATEWAY), self.env(telegram_poll.TELEGRAM)),
                                          self.module(telegram_poll.GATEWAY).submit_signal, self._stopping),
                        "telegram polling")
        if {imap_poll.GATEWAY, imap_poll.EMAIL} <= set(self.workers):  # e-mail signals from a mailbox
            self._spawn(imap_poll.run(lambda: (self.env(imap_poll.GATEWAY), self.env(imap_poll.EMAIL)),
                                      self.module(imap_poll.GATEWAY).submit_signal, self._stopping),
                        "e-mail polling")
        for name in self.workers:
            if callable(getattr(self.module(name), "on_start", None)):
                self._spawn(self._on_start(name), f"start {name}")

    async def _on_start(self, worker: str) -> None:
        """A worker's `on_start(env)` (trade-worker's reconciler) once the runtime serves; an error is
        logged, the runtime runs on (the worker's cron repeats the work)."""
        try:
            await self.module(worker).on_start(self.env(worker))
        except Exception as exc:
            _py.error("on_start of %s raised %s", worker, self._describe(worker, exc))

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._loops.append(asyncio.create_task(coro, name=name))

    async def stop(self) -> None:
        """Let an in-flight batch or cron finish, close the servers, close the state files."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        if self._loops:
            _, pending = await asyncio.wait(self._loops, timeout=STOP_GRACE_SECONDS)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for _, server, _ in self._servers:
            server.exit()
        if self._servers:
            await asyncio.gather(*(t for _, _, t in self._servers), return_exceptions=True)
        calls = [t for t in background_tasks() if not t.done()]
        if calls:
            await asyncio.wait(calls, timeout=STOP_GRACE_SECONDS)
        await sqlio.drain_all()  # every acknowledged write is on disk before the files close
        with contextlib.suppress(Exception):  # data points are fire-and-forget, but not dropped on a stop
            await self.analytics.flush()
        self._close()

    def _close(self) -> None:
        for kv in self._kv.values():
            kv.close()
        for db in self._d1.values():
            db.close()
        for bucket in self._r2.values():
            bucket.close()
        for index in self._vectorize.values():
            index.close()
        if self._analytics_sql is not None:
            self._analytics_sql.close()
        self.analytics.close()
        self.durable_objects.close()
        self.queue_store.close()

    async def _wait_stop(self, timeout: float, *events: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(e.wait()) for e in (self._stopping, *events)]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    # ----------------------------------------------------------------- requests
    async def request(self, worker: str, method: str, path: str, *, json: Any = None,
                      body: bytes | None = None, headers: dict[str, str] | None = None) -> ServiceResponse:
        """Call a worker in-process as an outside client would (no internal key is added)."""
        port = self.ports.get(worker, catalog.local_port(catalog.worker(worker), self.base_port))
        app = _OutputGate(self.app(worker), self._refresh_secrets)
        return await asgi_call(app, self.env(worker), method, path, json=json, body=body, headers=headers,
                               host=f"127.0.0.1:{port}")

    # ----------------------------------------------------------------- cron
    async def run_cron(self, worker: str, cron: str | None = None) -> None:
        """Run a worker's cron handler now (`cron` defaults to its first trigger)."""
        w = catalog.worker(worker)
        fn = getattr(self.module(worker), "scheduled", None)
        if not callable(fn):
            raise ValueError(f"worker {worker!r} has no scheduled() handler")
        expr = cron or (w.crons[0] if w.crons else None)
        if expr is None:
            raise ValueError(f"worker {worker!r} has no cron trigger; pass the cron expression to run")
        cronlib.Cron.parse(expr)
        await metered(fn(expr, self.env(worker)), self._cpu_of(worker))

    async def run_due_crons(self) -> int:
        """Fire every cron trigger that is due by the clock; return how many ran.

        A trigger missed several times (the clock jumped, the machine slept) runs once, as on
        Cloudflare, which does not replay missed triggers.
        """
        ran = 0
        for job in self.cron_jobs:
            now = clock.now()
            if job.next_fire > now:
                continue
            job.next_fire = cronlib.next_fire(job.cron, now)
            job.last_run = now
            ran += 1
            try:
                await self.run_cron(job.worker, job.cron)
                job.last_error = None
            except Exception as exc:
                job.last_error = self._describe(job.worker, exc)
                _py.error("cron %r of %s raised %s", job.cron, job.worker, type(exc).__name__)
        return ran

    async def _cron_loop(self) -> None:
        while not self._stopping.is_set():
            await self.run_due_crons()
            await self._wait_stop(1.0)

    # ----------------------------------------------------------------- queues
    def _consumers(self) -> list[tuple[str, catalog.QueueConsumer]]:
        return [(n, c) for n in self.workers for c in catalog.worker(n).consumers]

    async def _deliver_once(self, worker: str, consumer: catalog.QueueConsumer) -> int:
        fn = getattr(self.module(worker), "queue", None)
        if not callable(fn):
            raise ValueError(f"worker {worker!r} has no queue() handler")
        env = self.env(worker)

        async def handler(batch: LocalMessageBatch) -> None:
            await metered(fn(batch, env), self._cpu_of(worker))

        lock = self._consumer_locks.setdefault((worker, consumer.queue), asyncio.Lock())
        async with lock:
            return await self.queue_store.deliver(
                consumer.queue, handler, max_batch_size=consumer.max_batch_size,
                max_retries=consumer.max_retries, dead_letter_queue=consumer.dead_letter_queue,
                describe_error=lambda e: self._describe(worker, e))

    async def drain_queues(self) -> int:
        """Deliver due messages to the consumers until none is due; return how many deliveries."""
        total = 0
        progress = True
        while progress:
            progress = False
            for worker, consumer in self._consumers():
                n = await self._deliver_once(worker, consumer)
                total += n
                progress = progress or n > 0
        return total

    async def _consumer_loop(self, worker: str, consumer: catalog.QueueConsumer) -> None:
        wake = self.queue_store.event(consumer.queue)
        while not self._stopping.is_set():
            wake.clear()
            try:
                n = await self._deliver_once(worker, consumer)
            except Exception as exc:
                _py.error("consumer of %s in %s failed: %s", consumer.queue, worker, type(exc).__name__)
                n = 0
            if n == 0:
                await self._wait_stop(POLL_SECONDS, wake)

    # ----------------------------------------------------------------- alarms
    async def fire_due_alarms(self) -> int:
        self._refresh_secrets()
        return await self.durable_objects.fire_due_alarms()

    async def _alarm_loop(self) -> None:
        changed = self.durable_objects.alarm_changed
        while not self._stopping.is_set():
            changed.clear()
            try:
                await self.fire_due_alarms()
            except Exception as exc:
                _py.error("alarm scheduler: %s", type(exc).__name__)
            nxt = self.durable_objects.next_alarm_ms()
            wait = 1.0 if nxt is None else min(1.0, max(0.01, nxt / 1000 - clock.now()))
            await self._wait_stop(wait, changed)

    # ----------------------------------------------------------------- memory
    async def _memory_loop(self) -> None:
        while not self._stopping.is_set():
            self.usage.sample_memory(clock.now())
            await self._wait_stop(MEMORY_EVERY_SECONDS)

    # ----------------------------------------------------------------- helpers
    def _describe(self, worker: str, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        secrets = self.env(worker).secret_values() + list(self._secrets.values())
        return str(redact(text, secrets))[:2000]

