"""`hoox dev start|stop|status|cron`: the local edge runtime.

JSON objects (--json):
- start: {"workspace", "created": [file], "pid", "base_port", "gateway_url",
          "workers": [{"name", "port", "url"}], "detached": bool, "log_file": str|null}
         (foreground: printed once the workers serve)
- stop: {"workspace", "was_running": bool, "pid": int|null, "forced": bool,
         "stale_runtime_file_removed": bool}
- status: {"workspace", "running": bool, "pid", "started_at", "uptime_seconds", "base_port", "gateway_url",
           "workers": [{"name", "port", "url", "health": {"ok", "status_code", "status", "error"}}]}
- cron: {"workspace", "worker", "cron", "ok": true, "duration_ms"}
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hoox_cli.core.errors import fail
from hoox_cli.core.workspace import FIRST_SIGNAL, prepare_workspace, workspace
from hoox_cli.options import JsonOpt, PortOpt, handle_errors
from hoox_cli.output import duration, emit_json, esc, say, show, table, warn

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

app = typer.Typer(help="Run the local edge: start, stop, status, fire a cron now.", no_args_is_help=True)


# ----------------------------------------------------------------------------- workspace creation


def welcome_lines(info: dict[str, Any]) -> list[str]:
    """What a user reads after a workspace was created (rich markup)."""
    from hoox_edge.local.workspace import CONFIG_FILE, DEV_VARS, GENERATED_SECRETS, MANIFEST_FILE

    what = {
        CONFIG_FILE: "workspace config (enabled workers, port)",
        DEV_VARS: f"generated local secrets {', '.join(GENERATED_SECRETS)} (gitignored; values not shown)",
        MANIFEST_FILE: "default runtime settings applied to CONFIG_KV on first start",
    }
    lines = [f"[bold]Created a hoox workspace in[/bold] {esc(info['workspace'])}"]
    for f in info["created"]:
        lines.append(f"  [green]+[/green] {esc(f)} — {esc(what.get(f, ''))}")
    return lines


def keep_port(ws: Workspace, port: int | None, json_out: bool) -> None:
    """--port N: N becomes the workspace's port ([dev] port in hoox.toml), so the next start, the
    cockpit and every command find the edge there. Called only once nothing stands in the way."""
    if port is not None and ws.set_base_port(port) and not json_out:
        say(f"Port {port} kept in {esc(ws.config_path)} ({esc('[dev] port')}).")


def port_for_cockpit(port: int) -> None:
    """`hoox --port N` / `hoox tui --port N`: make N the local edge's port before the cockpit opens
    (creating the workspace when there is none, as the cockpit would). Refused, with nothing changed,
    when the edge already runs on another port or N's ports are taken."""
    from hoox_cli.core import process

    ws = workspace(required=False)
    prepare_workspace(ws)
    st = process.probe(ws)
    if st.running:
        running = (st.info or {}).get("base_port")
        if running != port:
            where = f"on port {running}" if running is not None else "(still starting)"
            fail("ALREADY_RUNNING",
                 f"The local edge of {ws.root} already runs {where}. Stop it first (`hoox dev stop`) to move it "
                 f"to port {port}, or open the cockpit without --port.",
                 details={"pid": st.pid, "base_port": running})
        return
    _check_ports(ws, port)
    keep_port(ws, port, json_out=True)  # the cockpit's screen is about to replace any line printed here


# ----------------------------------------------------------------------------- start
@app.command()
@handle_errors
def start(
    port: PortOpt = None,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Run in the background (log: .hoox/logs/runtime.log).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Serve every enabled worker on 127.0.0.1 with crons, queues and alarms (Ctrl+C stops).

    Outside a workspace it first creates the default one (in your user data folder; --workspace DIR
    chooses another). --port N is kept in hoox.toml.
    """
    from hoox_cli.core import process

    ws = workspace(required=False)
    info = prepare_workspace(ws)
    base = port if port is not None else ws.base_port()
    info["gateway_url"] = f"http://127.0.0.1:{base}"
    if info["created"] and not json_out:
        for line in welcome_lines(info):
            say(line)
        say("")
    if detach:
        _start_detached(ws, base, info, json_out, keep=port)
        return

    lock = process.RuntimeLock(ws)
    if not lock.acquire(wait=0.5):
        _already_running(ws)
    try:
        lock.write_pid(os.getpid())
        _check_ports(ws, base)
        keep_port(ws, port, json_out)
        from hoox_cli.core.errors import run_async

        run_async(_serve(ws, base, info, json_out))
    finally:
        process.remove_runtime_info(ws, os.getpid())
        lock.release()


def _already_running(ws: Workspace) -> None:
    from hoox_cli.core import process

    st = process.probe(ws)
    url = f"http://127.0.0.1:{st.ports['hoox']}" if "hoox" in st.ports else "(starting)"
    fail(
        "ALREADY_RUNNING",
        f"A hoox runtime is already running for {ws.root} (pid {st.pid}, gateway {url}). "
        "Stop it first with `hoox dev stop`.",
        details={"pid": st.pid, "gateway_url": url},
    )


def _check_ports(ws: Workspace, base: int) -> None:
    from hoox_cli.core import process

    busy = process.busy_ports(process.ports_for(ws, base))
    if busy:
        which = ", ".join(f"{p} ({n})" for n, p in busy)
        fail(
            "PORT_IN_USE",
            f"Port {which} is already in use on 127.0.0.1. Start on other ports with "
            f"`hoox dev start --port N` (the workers use N to N+8), or set [dev] port in hoox.toml.",
            details={"ports": [p for _, p in busy]},
        )


def _workers_of(ports: dict[str, int]) -> list[dict[str, Any]]:
    return [{"name": n, "port": p, "url": f"http://127.0.0.1:{p}"} for n, p in ports.items()]


async def _serve(ws: Workspace, base: int, info: dict[str, Any], json_out: bool) -> None:
    """Start the runtime, announce it, wait for SIGINT/SIGTERM, stop it gracefully."""
    import asyncio
    import contextlib
    import logging
    import signal

    from hoox_edge.local.runtime import LocalRuntime
    from hoox_edge.shared import clock

    from hoox_cli.core import process

    # the runtime logs through `logging` (queue retries, released leases): show it with timestamps
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)

    def owner_gone() -> None:
        logging.getLogger("hoox.dev").info("the cockpit that started this runtime is gone: stopping")
        with contextlib.suppress(RuntimeError):  # the loop already closed: the runtime stopped anyway
            loop.call_soon_threadsafe(stopping.set)

    process.watch_owner(owner_gone)  # the cockpit's embedded edge stops with its cockpit, however it ends
    runtime = LocalRuntime(ws, base_port=base)
    try:
        starting = asyncio.ensure_future(runtime.start())
        stop_wait = asyncio.ensure_future(stopping.wait())
        await asyncio.wait({starting, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()  # stopped while starting
            await asyncio.gather(starting, return_exceptions=True)
            return
        try:
            starting.result()
        except SystemExit:  # uvicorn exits when it cannot bind
            fail(
                "START_FAILED",
                "A worker could not start serving (see the messages above); "
                "if a port is taken, use `hoox dev start --port N`.",
            )
        except OSError as exc:
            fail(
                "START_FAILED",
                f"A worker could not start serving: {exc}. If a port is taken, use `hoox dev start --port N`.",
            )
        except (ImportError, RuntimeError) as exc:  # a worker module missing or broken
            fail("START_FAILED", f"The runtime could not start: {type(exc).__name__}: {exc}")
        ports = dict(runtime.ports)
        process.write_runtime_info(
            ws,
            {
                "pid": os.getpid(),
                "started_at": clock.iso(),
                "ports": ports,
                "base_port": base,
                "workers": list(ports),
            },
        )
        _announce(ws, base, info, ports, json_out, detached=False)
        await stop_wait
        if not json_out:
            say("Stopping…")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runtime.stop()
    if not json_out:
        say("Stopped.")


def _announce(
    ws: Workspace,
    base: int,
    info: dict[str, Any],
    ports: dict[str, int],
    json_out: bool,
    *,
    detached: bool,
    pid: int | None = None,
    log_file: str | None = None,
) -> None:
    gateway = f"http://127.0.0.1:{ports.get('hoox', base)}"
    if json_out:
        emit_json(
            {
                "workspace": str(ws.root),
                "created": info["created"],
                "pid": pid or os.getpid(),
                "base_port": base,
                "gateway_url": gateway,
                "workers": _workers_of(ports),
                "detached": detached,
                "log_file": log_file,
            }
        )
        return
    say(f"[bold green]hoox local edge running[/bold green] — workspace {esc(ws.root)}")
    for w in _workers_of(ports):
        say(f"  {esc(w['name']):<20} {esc(w['url'])}" + ("   [dim](gateway)[/dim]" if w["name"] == "hoox" else ""))
    say(f"Gateway: [bold]{esc(gateway)}[/bold]  (webhook: {esc(gateway)}/webhook)")
    say(f"Send a first signal:  [bold]{esc(FIRST_SIGNAL)}[/bold]")
    if detached:
        say(f"Running in the background as pid {pid}; log: {esc(log_file)}")
        say("Stop it with `hoox dev stop`; check it with `hoox dev status`.")
    elif os.environ.get("HOOX_DETACHED"):
        say(f"Running in the background as pid {os.getpid()}; stop it with `hoox dev stop`.")
    else:
        say("Stop with Ctrl+C (or `hoox dev stop` from another terminal).")


def _start_detached(ws: Workspace, base: int, info: dict[str, Any], json_out: bool, *, keep: int | None) -> None:
    from hoox_cli.core import process

    if process.probe(ws).running:
        _already_running(ws)
    _check_ports(ws, base)
    keep_port(ws, keep, json_out)
    try:
        proc, rinfo = process.start_detached(ws, base)
    except process.StartFailed as exc:
        fail(exc.code, exc.message, details={"ports": exc.ports} if exc.ports else {"log_tail": exc.log_tail})
    _announce(
        ws,
        base,
        info,
        dict(rinfo["ports"]),
        json_out,
        detached=True,
        pid=proc.pid,
        log_file=str(process.log_path(ws)),
    )


# ----------------------------------------------------------------------------- stop
@app.command()
@handle_errors
def stop(json_out: JsonOpt = False) -> None:
    """Stop the workspace's runtime (SIGTERM; SIGKILL after 15 s)."""
    from hoox_cli.core import process

    ws = workspace()
    res = process.stop(ws)
    if json_out:
        emit_json(
            {
                "workspace": str(ws.root),
                "was_running": res.was_running,
                "pid": res.pid,
                "forced": res.forced,
                "stale_runtime_file_removed": res.stale_removed,
            }
        )
        return
    if not res.was_running:
        say(f"No hoox runtime was running for {esc(ws.root)}.")
        if res.stale_removed:
            say("(Removed the runtime file a crashed runtime had left behind.)")
    elif res.forced:
        warn(f"The runtime (pid {res.pid}) did not stop within {process.STOP_TIMEOUT:g} s and was killed.")
    else:
        say(f"Stopped the hoox runtime (pid {res.pid}).")


# ----------------------------------------------------------------------------- status
@app.command()
@handle_errors
def status(json_out: JsonOpt = False) -> None:
    """Whether the runtime runs: pid, uptime, each worker's URL and /health."""
    from datetime import datetime

    from hoox_edge import catalog
    from hoox_edge.shared.auth import INTERNAL_HEADER

    from hoox_cli.core import process
    from hoox_cli.core.errors import run_async

    ws = workspace()
    st = process.probe(ws)
    out: dict[str, Any] = {
        "workspace": str(ws.root),
        "running": st.running,
        "pid": st.pid,
        "started_at": None,
        "uptime_seconds": None,
        "base_port": None,
        "gateway_url": None,
        "workers": [],
    }
    if st.running and st.info:
        info = st.info
        out["started_at"] = info.get("started_at")
        try:
            started = datetime.fromisoformat(str(info["started_at"]).replace("Z", "+00:00"))
            out["uptime_seconds"] = round(datetime.now(started.tzinfo).timestamp() - started.timestamp(), 1)
        except (KeyError, ValueError):
            pass
        out["base_port"] = info.get("base_port")
        ports = dict(info.get("ports", {}))
        if "hoox" in ports:
            out["gateway_url"] = f"http://127.0.0.1:{ports['hoox']}"
        urls = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
        key = ws.secrets().get("INTERNAL_KEY_BINDING")
        # internal workers may demand the internal key even on /health; loopback only
        headers = {n: {INTERNAL_HEADER: key} for n in urls if key and not _is_public(catalog, n)}
        results = run_async(process.health_all(urls, headers=headers))
        out["workers"] = [{"name": n, "port": ports[n], "url": urls[n], "health": results[n]} for n in urls]
    if json_out:
        emit_json(out)
        return
    if not st.running:
        say(f"[bold]stopped[/bold] — no hoox runtime is running for {esc(ws.root)}. Start it with `hoox dev start`.")
        return
    if not st.info:
        say(f"[bold yellow]starting[/bold yellow] — pid {st.pid} holds the workspace; its workers do not serve yet.")
        return
    up = out["uptime_seconds"]
    say(
        f"[bold green]running[/bold green] — pid {st.pid}, up {duration(up) if up is not None else '?'}, "
        f"gateway {esc(out['gateway_url'] or '-')}"
    )
    rows = []
    for w in out["workers"]:
        h = w["health"]
        rows.append(
            [
                w["name"],
                w["url"],
                "ok" if h["ok"] else "FAIL",
                h["status_code"] if h["status_code"] is not None else h["error"],
                h["status"] or "",
            ]
        )
    show(table(["worker", "url", "health", "http", "status"], rows))


def _is_public(catalog: Any, name: str) -> bool:
    try:
        return bool(catalog.worker(name).public)
    except KeyError:
        return False


# ----------------------------------------------------------------------------- cron
@app.command()
@handle_errors
def cron(
    worker: Annotated[str, typer.Argument(help="Worker whose cron handler to run, e.g. agent-worker.")],
    cron_expr: Annotated[
        str | None,
        typer.Option("--cron", help="Which of the worker's cron expressions (default: its first)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Fire a worker's cron handler now, in this process, on the workspace's state."""
    import time

    from hoox_edge import catalog

    from hoox_cli.core.errors import run_async

    ws = workspace()
    with_crons = [w.name for w in catalog.WORKERS if w.crons]
    try:
        w = catalog.worker(worker)
    except KeyError:
        fail(
            "UNKNOWN_WORKER",
            f"Unknown worker {worker!r}. Workers with crons: {', '.join(with_crons)}.",
            details={"workers_with_crons": with_crons},
        )
    if not w.crons:
        fail(
            "NO_CRON",
            f"{worker} has no cron handler. Workers with crons: {', '.join(with_crons)}.",
            details={"workers_with_crons": with_crons},
        )
    if cron_expr is not None and cron_expr not in w.crons:
        fail(
            "UNKNOWN_CRON",
            f"{worker} has no cron {cron_expr!r}; its crons: {', '.join(w.crons)}.",
            details={"crons": list(w.crons)},
        )
    enabled = ws.enabled_workers()
    if worker not in enabled:
        fail(
            "WORKER_DISABLED",
            f"{worker} is not enabled in {ws.config_path}; enable it with [workers.{worker}] enabled = true.",
        )
    expr = cron_expr or w.crons[0]
    started = time.perf_counter()
    run_async(_run_cron(ws, worker, expr))
    ms = round((time.perf_counter() - started) * 1000, 1)
    if json_out:
        emit_json({"workspace": str(ws.root), "worker": worker, "cron": expr, "ok": True, "duration_ms": ms})
    else:
        say(f"Ran {esc(worker)}'s cron [bold]{esc(expr)}[/bold] in {ms:g} ms.")


async def _run_cron(ws: Workspace, worker: str, expr: str) -> None:
    from hoox_edge.local.runtime import LocalRuntime

    runtime = LocalRuntime(ws)
    try:
        await runtime.open()
        await runtime.run_cron(worker, expr)
    finally:
        await runtime.stop()
