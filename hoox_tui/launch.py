"""`hoox tui` / bare `hoox`: find or start the edge, run the cockpit, recover from a crash.

- `--remote URL` (or HOOX_API_URL): attach to that edge; nothing is started.
- otherwise the workspace's local edge: attached when its runtime runs; else the cockpit starts it
  in the background (`hoox_cli.core.process.start_detached`, as `hoox dev start --detach` does), says so
  in the status bar, and stops it on exit. The runtime it starts is tied to it (`owned=True`): it stops when
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoox_cli.core.process import LocalRuntime

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace


_log = logging.getLogger("hoox.tui")


@dataclass
class Options:
    remote: str | None = None
    theme: str | None = None
    no_mouse: bool = False
    safe_mode: bool = False


def build(opts: Options) -> tuple[Any, LocalRuntime | None]:
    """The cockpit context and the local runtime to ensure (None for a remote edge)."""
    from hoox_edge.local.workspace import Workspace

    from hoox_cli.core.client import AsyncHooxClient, HooxConfigError, resolve_config
    from hoox_cli.core.redact import remember_secrets
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
                                     token_source=cfg.token_source, access=cfg.access)
            remember_secrets(cfg.secrets)
    else:
        assert ws is not None
        from hoox_cli.core.workspace import prepare_workspace

        prepare_workspace(ws)  # creates the workspace and its generated secrets when missing
        runtime = LocalRuntime(ws)
        cfg = resolve_config(None, workspace=ws)
        client = AsyncHooxClient(cfg.base_url, cfg.token, source=cfg.source, retries=1,
                                     token_source=cfg.token_source)
    if ws is not None and ws.exists:
        remember_secrets(ws.secrets().values())
    settings.problems.extend(problems)
    cloudflare = None
    if remote:  # a deployed edge: its workers' CPU and colos come from Cloudflare, read with the account token
        from hoox_cli.core import cf_usage

        def cloudflare() -> Any:
            return cf_usage.read(ws)
    store = Store(client, refresh_seconds=settings.refresh_seconds, live_stream=not opts.safe_mode,
                  cloudflare=cloudflare)
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
