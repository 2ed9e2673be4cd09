"""Process management of the local runtime: one per workspace, findable, stoppable.

- `.hoox/runtime.lock` is held with an exclusive `flock` for the whole life of a runtime process;
  the kernel drops it when the process dies, even by SIGKILL, so "is one running?" never trusts a
  stale file. The file holds the owner's pid (written after the lock is taken).
- `.hoox/runtime.json` {pid, started_at, ports, base_port, workers} is written once the workers
  serve and removed on a graceful stop; a leftover one (after a crash) is removed by the next
  probe that finds the lock free.
- A runtime started *for* a process (the cockpit's embedded edge: `spawn_detached(owned=True)`)
  stops when that process goes, however it goes: its stdin is a pipe whose only write end the
  owner holds, and the runtime stops gracefully at EOF. The kernel closes the write end when the
  owner exits for any reason (quit, SIGHUP from a closed terminal, SIGTERM, SIGKILL), so this needs
  no signal handler in the owner and works on every POSIX system. (PR_SET_PDEATHSIG is Linux-only
  and fires when the *thread* that spawned the child exits — the cockpit spawns from a worker
  thread — so it was not used.)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

OWNED_ENV = "HOOX_STOP_ON_STDIN_EOF"  # set for a runtime that stops when its owner's pipe closes
LOCK_FILE = "runtime.lock"
LOG_FILE = "runtime.log"
STOP_TIMEOUT = 15.0
DETACH_TIMEOUT = 20.0
KILL_WAIT = 5.0


def lock_path(ws: Workspace) -> Path:
    return ws.hoox_dir / LOCK_FILE


def log_path(ws: Workspace) -> Path:
    return ws.log_dir / LOG_FILE


class RuntimeLock:
    """The workspace's exclusive runtime lock (non-blocking)."""

    def __init__(self, ws: Workspace) -> None:
        self.path = lock_path(ws)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: float = 0.0) -> bool:
        """Take the lock; `wait` rides out a probe that holds it for an instant."""
        deadline = time.monotonic() + wait
        while not self._try():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _try(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # O_CLOEXEC by default: children don't inherit it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        self._fd = fd
        return True

    def write_pid(self, pid: int) -> None:
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{pid}\n".encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@dataclass
class RunState:
    running: bool
    pid: int | None = None
    info: dict[str, Any] | None = None  # runtime.json once the workers serve
    stale_removed: bool = False

    @property
    def serving(self) -> bool:
        return self.info is not None

    @property
    def ports(self) -> dict[str, int]:
        return dict((self.info or {}).get("ports", {}))


def probe(ws: Workspace) -> RunState:
    """Whether a runtime holds the workspace lock; cleans up a crashed runtime's leftovers."""
    lock = RuntimeLock(ws)
    if lock.acquire():
        try:
            stale = ws.runtime_file.exists()
            if stale:
                ws.runtime_file.unlink(missing_ok=True)
            return RunState(running=False, stale_removed=stale)
        finally:
            lock.release()
    info = ws.runtime_info()
    pid = info.get("pid") if info else None
    if not isinstance(pid, int):
        pid = _lock_owner(ws)
    return RunState(running=True, pid=pid, info=info)


def _lock_owner(ws: Workspace) -> int | None:
    try:
        text = lock_path(ws).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def write_runtime_info(ws: Workspace, info: dict[str, Any]) -> None:
    ws.hoox_dir.mkdir(parents=True, exist_ok=True)
    tmp = ws.runtime_file.with_name(ws.runtime_file.name + ".tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, ws.runtime_file)


def remove_runtime_info(ws: Workspace, pid: int) -> None:
    info = ws.runtime_info()
    if info is None or info.get("pid") == pid:
        ws.runtime_file.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as gone: ours is reaped here; another's (a detached runtime whose parent is an
    # init that reaps late, as in a container) is seen in /proc, else `stop` waited 2 s for it
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] == b"Z"
    except (OSError, IndexError):  # not Linux, or gone meanwhile
        return False


# ----------------------------------------------------------------------------- ports
def ports_for(ws: Workspace, base_port: int, workers: list[str] | None = None) -> dict[str, int]:
    from hoox_edge import catalog

    names = workers if workers is not None else ws.enabled_workers()
    return {n: catalog.local_port(catalog.worker(n), base_port) for n in names}


def busy_ports(ports: dict[str, int]) -> list[tuple[str, int]]:
    """Workers whose port cannot be bound on 127.0.0.1 right now."""
    busy = []
    for name, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # the same option uvicorn sets, so a port in TIME_WAIT is not reported as busy
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                busy.append((name, port))
    return busy


# ----------------------------------------------------------------------------- health
def _health_of(response: Any) -> dict[str, Any]:
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    res = body.get("result") if isinstance(body, dict) and isinstance(body.get("result"), dict) else body
    status = res.get("status") if isinstance(res, dict) else None
    return {
        "ok": response.status_code == 200,
        "status_code": response.status_code,
        "status": status,
        "error": None,
    }


def _unreachable(exc: Exception) -> dict[str, Any]:
    return {"ok": False, "status_code": None, "status": None, "error": type(exc).__name__}


def health(url: str, *, timeout: float | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """GET {url}/health: {"ok", "status_code", "status", "error"}; never raises. `timeout`: as `health_all`."""
    import httpx
    from hoox_edge.operator.workers import HEALTH_BUDGET_S

    try:
        return _health_of(httpx.get(url.rstrip("/") + "/health", headers=headers,
                                    timeout=HEALTH_BUDGET_S if timeout is None else timeout))
    except httpx.HTTPError as exc:
        return _unreachable(exc)


async def health_all(
    urls: dict[str, str], *, timeout: float | None = None, headers: dict[str, dict[str, str]] | None = None
) -> dict[str, dict[str, Any]]:
    """Health of every worker at once, each within `timeout` (default: the edge's budget per worker,
    the one its gateway and operator API use)."""
    import asyncio

    import httpx
    from hoox_edge.operator.workers import HEALTH_BUDGET_S
    from hoox_edge.shared.http import tls_for

    async def one(client: httpx.AsyncClient, name: str, url: str) -> tuple[str, dict[str, Any]]:
        try:
            return name, _health_of(await client.get(url.rstrip("/") + "/health", headers=(headers or {}).get(name)))
        except httpx.HTTPError as exc:
            return name, _unreachable(exc)

    async with httpx.AsyncClient(timeout=HEALTH_BUDGET_S if timeout is None else timeout, verify=tls_for()) as client:
        results = await asyncio.gather(*(one(client, n, u) for n, u in urls.items()))
    return dict(results)


# ----------------------------------------------------------------------------- stop
@dataclass
class StopResult:
    was_running: bool
    pid: int | None = None
    forced: bool = False
    stale_removed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def stop(ws: Workspace, *, timeout: float = STOP_TIMEOUT) -> StopResult:
    """SIGTERM the runtime, wait up to `timeout` for it to let go of the lock, then SIGKILL."""
    state = probe(ws)
    if not state.running:
        return StopResult(was_running=False, stale_removed=state.stale_removed)
    pid = state.pid
    if pid is None:
        # the owner has the lock but has not written its pid yet: give it a moment
        deadline = time.monotonic() + 2
        while pid is None and time.monotonic() < deadline:
            time.sleep(0.05)
            pid = _lock_owner(ws)
        if pid is None:
            raise RuntimeError("a runtime holds the workspace lock but its pid is unknown")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_stopped(ws, pid, timeout):
        return StopResult(was_running=True, pid=pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _wait_stopped(ws, pid, KILL_WAIT)
    ws.runtime_file.unlink(missing_ok=True)  # a killed runtime cannot remove it itself
    return StopResult(was_running=True, pid=pid, forced=True)


def _wait_stopped(ws: Workspace, pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid) or not probe(ws).running:
            # the lock is released just before exit; wait for the process itself too (briefly)
            end = time.monotonic() + 2
            while pid_alive(pid) and time.monotonic() < end:
                time.sleep(0.05)
            return True
        time.sleep(0.1)
    return False


# ----------------------------------------------------------------------------- detach
def spawn_detached(ws: Workspace, base_port: int, *, owned: bool = False) -> tuple[subprocess.Popen[bytes], int]:
    """Start `hoox dev start` in a new session, output appended to .hoox/logs/runtime.log.

    `owned`: the runtime stops when this process goes (see the module's docstring); keep the
    returned process's `stdin` open for as long as the runtime is wanted (never write to it).
    Returns the process and the log offset where its output begins.
    """
    log = log_path(ws)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HOOX_WORKSPACE=str(ws.root), PYTHONUNBUFFERED="1", HOOX_DETACHED="1")
    env.pop(OWNED_ENV, None)
    if owned:
        env[OWNED_ENV] = "1"
    with open(log, "ab") as fh:
        offset = fh.tell()
        proc = subprocess.Popen(
            [sys.executable, "-m", "hoox_cli", "dev", "start", "--port", str(base_port)],
            cwd=ws.root,
            env=env,
            # the pipe's write end is not inheritable (os.pipe): no other child of the owner keeps it open
            stdin=subprocess.PIPE if owned else subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl+C in this terminal must not reach it
            close_fds=True,
        )
    return proc, offset


def wait_serving(ws: Workspace, proc: subprocess.Popen[bytes], *, timeout: float = DETACH_TIMEOUT) -> dict[str, Any]:
    """Wait until `proc` has written runtime.json and its gateway answers /health."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise ChildExited(code)
        info = ws.runtime_info()
        if info and info.get("pid") == proc.pid and "hoox" in info.get("ports", {}):
            h = health(f"http://127.0.0.1:{info['ports']['hoox']}", timeout=1.0)
            if h["status_code"] is not None:
                return info
        elif info and info.get("pid") == proc.pid:
            return info  # gateway disabled in this workspace: serving is all we can wait for
        time.sleep(0.1)
    raise TimeoutError


class ChildExited(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"exited with code {code}")
        self.code = code


def watch_owner(on_gone: Any) -> bool:
    """In a runtime spawned `owned`: call `on_gone()` (from a thread) when the owner's pipe on stdin
    reaches EOF, i.e. the owner exited. False when this runtime has no owner to watch."""
    import threading

    if os.environ.pop(OWNED_ENV, None) != "1":
        return False

    def watch() -> None:
        try:
            while os.read(0, 4096):  # the owner never writes; anything read is ignored
                pass
        except OSError:
            pass
        on_gone()

    threading.Thread(target=watch, name="hoox-owner-watch", daemon=True).start()
    return True


def terminate(proc: subprocess.Popen[bytes]) -> None:
    """Stop a child we started (SIGTERM, then SIGKILL)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(KILL_WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(KILL_WAIT)


def log_tail(ws: Workspace, offset: int = 0, lines: int = 25) -> str:
    try:
        with open(log_path(ws), "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


# ----------------------------------------------------------------------------- start in the background
class StartFailed(Exception):
    """The runtime could not be started in the background. `code`: PORT_IN_USE (`ports` holds them),
    START_FAILED (it exited before it served) or START_TIMEOUT (it did not serve in time and was stopped);
    `log_tail` is the end of what it wrote to its log (secrets masked)."""

    def __init__(self, code: str, message: str, *, log_tail: str = "", ports: list[int] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.log_tail = log_tail
        self.ports = ports or []


def start_detached(ws: Workspace, base_port: int, *, owned: bool = False,
                   timeout: float = DETACH_TIMEOUT) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start the workspace's runtime in the background and wait until its gateway serves: the process
    and its runtime info. `hoox dev start --detach`, the cockpit's embedded edge (`owned`) and the
    cockpit's restart all start it this way. Nothing is left half-started: a runtime that does not
    serve in time is stopped, and so is one whose start is interrupted (Ctrl+C)."""
    from hoox_cli.core.redact import scrub

    busy = busy_ports(ports_for(ws, base_port))
    if busy:
        which = ", ".join(f"{p} ({n})" for n, p in busy)
        raise StartFailed("PORT_IN_USE", f"Port {which} is already in use on 127.0.0.1.",
                          ports=[p for _, p in busy])
    proc, offset = spawn_detached(ws, base_port, owned=owned)
    try:
        return proc, wait_serving(ws, proc, timeout=timeout)
    except KeyboardInterrupt:  # the user gave up waiting
        terminate(proc)
        raise
    except ChildExited as exc:
        tail = scrub(log_tail(ws, offset))
        raise StartFailed("START_FAILED", f"The runtime exited (code {exc.code}) before it served. Last lines of "
                                          f"{log_path(ws)}:\n{tail}", log_tail=tail) from None
    except TimeoutError:
        terminate(proc)
        tail = scrub(log_tail(ws, offset))
        raise StartFailed("START_TIMEOUT", f"The gateway did not answer /health within {timeout:g} s; the runtime "
                                           f"was stopped. Last lines of {log_path(ws)}:\n{tail}",
                          log_tail=tail) from None


# ----------------------------------------------------------------------------- the cockpit's embedded runtime
@dataclass
class LocalRuntime:
    """The embedded runtime a cockpit started (stopped on exit), or the one it attached to."""

    ws: Workspace
    started: bool = False
    pid: int | None = None  # the runtime process this cockpit started
    proc: subprocess.Popen[bytes] | None = None  # that process; its stdin pipe ties it to this cockpit

    def owns(self) -> bool:
        """This cockpit started the runtime that serves now (and stops it on exit).

        False once that process is gone, e.g. stopped or restarted from another shell: the runtime
        serving then is somebody else's and is never touched."""
        return self.started and self.proc is not None and self.proc.poll() is None

    def ensure(self) -> str | None:
        """Attach to the workspace's runtime, or start one detached; a note for the status bar."""
        from hoox_cli.core.workspace import prepare_workspace

        info = prepare_workspace(self.ws)
        if probe(self.ws).running:
            return None  # the status bar says whose runtime it is
        try:
            self.proc, _ = start_detached(self.ws, self.ws.base_port(), owned=True)
        except StartFailed as exc:
            hint = (" Stop what uses them, or start the edge yourself with `hoox dev start --port N`."
                    if exc.code == "PORT_IN_USE" else "")
            raise RuntimeError(f"cannot start the local runtime: {exc.message}{hint}") from None
        self.started = True
        self.pid = self.proc.pid
        # the status bar already says the runtime is embedded; only a new workspace is news
        return f"created a workspace in {info['workspace']}" if info["created"] else None

    def stop(self) -> str:
        """Stop the runtime this cockpit started — not one somebody else started meanwhile."""
        if not self.started:
            return ""
        self.started = False
        state = probe(self.ws)
        if not state.running:
            return "The embedded local runtime had already stopped."
        if state.pid != self.pid or self.proc is None or self.proc.poll() is not None:
            return f"Left the local runtime (pid {state.pid}) running: this cockpit did not start it."
        stop(self.ws)
        self.proc.wait()  # reap it (stop() waited for it to exit)
        return "Stopped the embedded local runtime."
