"""`hoox tui` / bare `hoox`: find or start the edge, run the cockpit, recover from a crash.

- `--remote URL` (or HOOX_API_URL): attach to that edge; nothing is started.
- otherwise the workspace's local edge: attached when its runtime runs; else the cockpit starts it
  in the background (`hoox dev start --detach`'s code), says so in the status bar, and stops it on
  exit. The runtime it starts is tied to it (`process.spawn_detached(owned=True)`): it stops when
  the cockpit goes however the cockpit ends (terminal closed, SIGTERM, SIGKILL). A runtime it did
  not start is never stopped, and the status bar says so; that includes one restarted from another
  shell meanwhile. The workspace is the one every command uses (--workspace / HOOX_WORKSPACE, the one
  the current folder is in, else the default one in the user data folder); it is created first when it
  does not exist yet (as `hoox dev start` does).
- a crash no view contained ends the app; the crash screen offers Restart, Safe mode (no live
  event stream, no syntax highlighting), Report bug (logs/crash-report.log, redacted) and Quit.
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

_log = logging.getLogger("hoox.tui")


@dataclass
class Options:
    remote: str | None = None
    theme: str | None = None
    no_mouse: bool = False
    safe_mode: bool = False


@dataclass
class LocalRuntime:
    """The embedded runtime this cockpit started (stopped on exit), or the one it attached to."""

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
        from hoox_cli.commands.dev import prepare_workspace
        from hoox_cli.core import process

        info = prepare_workspace(self.ws)
        if process.probe(self.ws).running:
            return None  # the status bar says whose runtime it is
        base = self.ws.base_port()
        busy = process.busy_ports(process.ports_for(self.ws, base))
        if busy:
            names = ", ".join(f"{n}:{p}" for n, p in busy)
            raise RuntimeError(f"cannot start the local runtime: ports in use ({names}). Stop what uses them, "
                               "or start the edge yourself with `hoox dev start --port N`.")
        proc, offset = process.spawn_detached(self.ws, base, owned=True)
        self.started = True
        self.pid = proc.pid
        self.proc = proc
        try:
            process.wait_serving(self.ws, proc)
        except process.ChildExited as exc:
            self.started = False
            raise RuntimeError(f"the local runtime exited (code {exc.code}); log: {process.log_path(self.ws)}\n"
                               + process.log_tail(self.ws, offset, 8)) from None
        except TimeoutError:
            process.terminate(proc)
            self.started = False
            raise RuntimeError(f"the local runtime did not serve within {process.DETACH_TIMEOUT:g} s; "
                               f"log: {process.log_path(self.ws)}") from None
        # the status bar already says the runtime is embedded; only a new workspace is news
        return f"created a workspace in {info['workspace']}" if info["created"] else None

    def stop(self) -> str:
        """Stop the runtime this cockpit started — not one somebody else started meanwhile."""
        from hoox_cli.core import process

        if not self.started:
            return ""
        self.started = False
        state = process.probe(self.ws)
        if not state.running:
            return "The embedded local runtime had already stopped."
        if state.pid != self.pid or self.proc is None or self.proc.poll() is not None:
            return f"Left the local runtime (pid {state.pid}) running: this cockpit did not start it."
        process.stop(self.ws)
        self.proc.wait()  # reap it (stop() waited for it to exit)
        return "Stopped the embedded local runtime."


def build(opts: Options) -> tuple[Any, LocalRuntime | None]:
    """The cockpit context and the local runtime to ensure (None for a remote edge)."""
    from hoox_edge.local.workspace import Workspace

    from hoox_cli.common import remember_secrets
    from hoox_cli.core.client import AsyncHooxClient, HooxConfigError, resolve_config
    from hoox_tui.context import CockpitContext
    from hoox_tui.settings import UserSettings
    from hoox_tui.store import Store

    settings = UserSettings.load()
    ws: Workspace | None = Workspace.at()
    runtime: LocalRuntime | None = None
    remote = opts.remote or os.environ.get("HOOX_API_URL") or None
    client = None
    problems: list[str] = []
    if remote:
        if ws is not None and not ws.exists:
            ws = None
        try:
            cfg = resolve_config(opts.remote, workspace=ws)
        except HooxConfigError as exc:
            problems.append(str(exc))
        else:
            client = AsyncHooxClient(cfg.base_url, cfg.token, source=cfg.source, retries=1,
                                     token_source=cfg.token_source)
            remember_secrets([cfg.token])
    else:
        assert ws is not None
        from hoox_cli.commands.dev import prepare_workspace

        prepare_workspace(ws)  # creates the workspace and its generated secrets when missing
        runtime = LocalRuntime(ws)
        cfg = resolve_config(None, workspace=ws)
        client = AsyncHooxClient(cfg.base_url, cfg.token, source=cfg.source, retries=1,
                                     token_source=cfg.token_source)
    if ws is not None and ws.exists:
        remember_secrets(ws.secrets().values())
    settings.problems.extend(problems)
    store = Store(client, refresh_seconds=settings.refresh_seconds, live_stream=not opts.safe_mode)
    ctx = CockpitContext(store=store, workspace=ws, settings=settings, safe_mode=opts.safe_mode,
                         local_runtime_started=False)
    return ctx, runtime


def run(opts: Options) -> int:
    """The cockpit until the user quits; restarts (or safe mode) after a crash when asked."""
    from hoox_tui.app import HooxApp
    from hoox_tui.crash import CrashApp

    runtime: LocalRuntime | None = None
    try:
        while True:
            ctx, new_runtime = build(opts)
            if runtime is not None and new_runtime is not None:  # a restart keeps owning it
                new_runtime.started, new_runtime.pid, new_runtime.proc = runtime.started, runtime.pid, runtime.proc
            runtime = new_runtime

            def start(rt: LocalRuntime | None = runtime, c: Any = ctx) -> str | None:
                if rt is None:
                    return None
                note = rt.ensure()
                c.local_runtime = rt
                c.local_runtime_started = rt.owns()
                return note

            app = HooxApp(ctx, theme=opts.theme, start_runtime=start if runtime is not None else None)
            try:
                app.run(mouse=not opts.no_mouse)
            finally:
                if ctx.store.client is not None:
                    import asyncio
                    import contextlib

                    with contextlib.suppress(RuntimeError):
                        asyncio.run(ctx.store.client.aclose())
            if app.crash is None:
                return 0
            ws = ctx.workspace
            report_dir = (ws.root if ws is not None and ws.exists else Path.cwd()) / "logs"
            extra = ws.log_dir / "runtime.log" if ws is not None and ws.exists else None
            choice = CrashApp(app.crash, report_dir, extra).run()
            if choice == "safe":
                opts.safe_mode = True
            elif choice != "restart":
                return 1
    finally:
        if runtime is not None and runtime.started:
            print(runtime.stop())
