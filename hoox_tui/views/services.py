"""Service manager (F6): deploy workers (dry run first), redeploy all, restart the local runtime, and
the edge map: where the workers are served from (hoox_tui/edge_map.py) — on Cloudflare the data
centres that served them (requests and errors by `coloCode`, read by the core from the GraphQL
Analytics API), locally the one machine the runtime runs on.

Every action that changes something sits behind a confirmation dialog; a deploy always runs
`--dry-run` first and asks before the real deploy. The command's output is streamed into a Log:
lines are buffered (deploy output arrives on the event loop, the restart's from a thread) and
written in batches on a timer that runs only while an operation does, secrets redacted.

Deploys go through the shared deploy module (`hoox_cli.core.deploy`, the CLI's `hoox deploy`); the
restart is the store's action (stop, then start detached, as `hoox dev stop` / `dev start --detach`).
"""

from __future__ import annotations

import contextlib
import importlib
from collections import deque
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Log, Static

from hoox_cli.core.redact import redact
from hoox_tui import edge_map
from hoox_tui.context import url_label
from hoox_tui.dialogs import ConfirmScreen
from hoox_tui.store import RestartError
from hoox_tui.views.base import View

if TYPE_CHECKING:
    from hoox_tui.context import CockpitContext

FLUSH_SECONDS = 0.1
LIST_WIDTH = 30  # the edge map's list, beside it
LOG_MAX_LINES = 5000


class OutputBuffer:
    """Lines from any thread, written to a Log in batches (one write_lines per tick)."""

    def __init__(self) -> None:
        self._lines: deque[str] = deque()

    def __call__(self, line: str) -> None:
        for part in str(line).splitlines() or [""]:
            self._lines.append(redact(part))

    def drain(self) -> list[str]:
        out = []
        while self._lines:
            out.append(self._lines.popleft())
        return out


def load_deployer() -> Any | None:
    """The shared deploy module, or None when this build has none."""
    try:
        return importlib.import_module("hoox_cli.core.deploy")
    except ImportError:
        return None


class ServicesView(View):
    view_id: ClassVar[str] = "services"
    poll_topics: ClassVar[frozenset[str]] = frozenset({"workers"})

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "deploy", "Deploy worker", id="services.deploy"),
        Binding("a", "deploy_all", "Redeploy all", id="services.deploy_all"),
        Binding("x", "restart", "Restart runtime", id="services.restart"),
        Binding("c", "clear_output", "Clear output", id="services.clear"),
    ]
    DEFAULT_CSS = """
    ServicesView #svc-table { height: 13; }
    ServicesView #svc-buttons { height: 3; }
    ServicesView #svc-buttons Button { margin-right: 1; }
    ServicesView #svc-note { height: auto; color: $text-muted; }
    ServicesView #svc-bottom { height: 1fr; }
    ServicesView #svc-output-box { width: 1fr; }
    ServicesView #svc-output { height: 1fr; border: round $primary; }
    ServicesView #edge-box { width: 60%; border: round $primary; }
    ServicesView #edge-list { width: 30; height: 1fr; padding-left: 1; }  /* LIST_WIDTH */
    """
    LOCAL_EDGE = "127.0.0.1 (local runtime)"

    def __init__(self, ctx: CockpitContext, *, deployer: Any | None = None, **kw: Any) -> None:
        super().__init__(ctx, **kw)
        self._deployer = deployer
        self.output = OutputBuffer()
        self.busy = False
        self.results: dict[str, str] = {}  # worker -> outcome of this session's last deploy

    # ---------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Static(self._note(), id="svc-note", markup=False)
        table: DataTable[str] = DataTable(id="svc-table", cursor_type="row", zebra_stripes=True)
        yield table
        with Horizontal(id="svc-buttons"):
            yield Button("Deploy selected (d)", id="svc-deploy", variant="primary")
            yield Button("Redeploy all (a)", id="svc-deploy-all")
            yield Button("Restart local runtime (x)", id="svc-restart")
        with Horizontal(id="svc-bottom"):
            with Vertical(id="svc-output-box"):
                yield Log(id="svc-output", max_lines=LOG_MAX_LINES, highlight=False)
            with Horizontal(id="edge-box"):
                yield edge_map.EdgeMap(id="edge-map")
                yield Static("", id="edge-list")

    def _note(self) -> str:
        ws = self.ctx.workspace
        if ws is None:
            return ("No workspace: deploys and the local runtime need one (run the cockpit inside a "
                    "workspace, or choose one with --workspace DIR).")
        return (f"Workspace {ws.root.name!r}. A deploy runs `--dry-run` first and asks before the real one; "
                "real deploys need CLOUDFLARE_API_TOKEN (Setup wizard, F8).")

    def on_mount(self) -> None:
        table = self.query_one("#svc-table", DataTable)
        table.add_columns("worker", "enabled", "status", "last deploy (this session)", "URL")
        self._fill_table()
        self._flusher = self.set_interval(FLUSH_SECONDS, self.guard(self._flush), pause=True)

    async def on_data(self, topics: frozenset[str]) -> None:
        if "workers" in topics or "status" in topics:
            self._fill_table()
            self.show_edge()

    # ---------------------------------------------------------------- edge map
    def edge_places(self) -> tuple[list[edge_map.Served], str]:
        """Where the workers are served from, and what the figures are (the map box's title)."""
        store = self.ctx.store
        if store.status is None:
            return [], "waiting for the edge…"
        if store.status.runtime == "local":
            figures = [f for w in store.workers if (f := (w.traffic or {}).get("5m")) is not None]
            served = edge_map.Served(self.LOCAL_EDGE, sum(f.requests for f in figures), sum(f.errors for f in figures))
            return [served], "Edge — local runtime, requests of the last 5 min"
        if store.cf_usage is not None:
            rows = [(c.colo, c.requests, c.errors) for c in store.cf_usage.colos]
            return edge_map.from_cloudflare(rows), f"Edge — Cloudflare data centres, last {store.cf_usage.window}"
        if store.cf_usage_error:
            return [], f"Edge — n/a: {store.cf_usage_error}"
        return [], "Edge — reading Cloudflare's analytics…"

    def show_edge(self) -> None:
        places, title = self.edge_places()
        box = self.query_one("#edge-box")
        box.border_title = title
        self.query_one("#edge-map", edge_map.EdgeMap).show(places)
        lst = self.query_one("#edge-list", Static)
        if places:
            lst.update(edge_map.listing(places, width=LIST_WIDTH - 1))  # its padding
        else:
            lst.update("no request in the window" if self.ctx.store.cf_usage is not None else "")

    def _fill_table(self) -> None:
        from hoox_edge import catalog

        table = self.query_one("#svc-table", DataTable)
        enabled: set[str] | None = None
        if self.ctx.workspace is not None and self.ctx.workspace.exists:
            enabled = set(self.ctx.workspace.enabled_workers())
        live = {w.name: w.status for w in self.ctx.store.workers}
        selected = table.cursor_row
        table.clear()
        for w in catalog.WORKERS:
            on = "?" if enabled is None else ("yes" if w.name in enabled else "no")
            table.add_row(w.name, on, live.get(w.name, "—"), self.results.get(w.name, ""),
                          url_label(self.ctx.workspace, w.name, w.public), key=w.name)
        if 0 <= selected < table.row_count:
            table.move_cursor(row=selected)

    def _flush(self) -> None:
        lines = self.output.drain()
        if lines:
            self.query_one("#svc-output", Log).write_lines(lines)

    def say(self, line: str) -> None:
        self.output(line)
        if not self.busy:
            self._flush()

    @contextlib.contextmanager
    def _operation(self) -> Iterator[None]:
        """One deploy or restart at a time; its output is written in batches while it runs."""
        self.busy = True
        self._flusher.resume()
        try:
            yield
        finally:
            self.busy = False
            self._flusher.pause()
            if self.is_attached:  # not when the view is being torn down
                self._flush()

    # ---------------------------------------------------------------- actions
    def on_button_pressed(self, event: Button.Pressed) -> None:
        action = {"svc-deploy": self.action_deploy, "svc-deploy-all": self.action_deploy_all,
                  "svc-restart": self.action_restart}.get(event.button.id or "")
        if action is not None:
            event.stop()
            action()

    def action_clear_output(self) -> None:
        self.query_one("#svc-output", Log).clear()

    def _selected_worker(self) -> str | None:
        table = self.query_one("#svc-table", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(key.value)

    def _ready(self, what: str) -> Any | None:
        """The deploy module when `what` can start now; otherwise say why and return None."""
        if self.busy:
            self.app.notify("Another operation is still running; wait for it to finish.", severity="warning")
            return None
        if self.ctx.workspace is None:
            self.say(f"{what}: not available without a workspace.")
            return None
        dep = self._deployer if self._deployer is not None else load_deployer()
        if dep is None:
            self.say(f"{what}: deploying is not available in this build (no hoox_cli.core.deploy module).")
            return None
        return dep

    def action_deploy(self) -> None:
        name = self._selected_worker()
        dep = self._ready("Deploy")
        if dep is None or name is None:
            return
        self.run_guarded(partial(self._deploy_one, dep, name), group="services")

    def action_deploy_all(self) -> None:
        dep = self._ready("Redeploy all")
        if dep is None:
            return
        self.run_guarded(partial(self._deploy_all, dep), group="services")

    def action_restart(self) -> None:
        if self.busy:
            self.app.notify("Another operation is still running; wait for it to finish.", severity="warning")
            return
        if self.ctx.workspace is None:
            self.say("Restart: there is no workspace, so there is no local runtime to restart.")
            return
        self.run_guarded(self._restart, group="services")

    async def _confirm(self, title: str, body: str, label: str) -> bool:
        answer = await self.app.push_screen_wait(ConfirmScreen(f"{title}\n\n{body}", yes=label, no="Cancel"))
        return bool(answer)

    def _result_line(self, r: Any) -> str:
        kind = "dry run" if r.dry_run else "deploy"
        if getattr(r, "skipped", False):
            return f"{r.worker}: {kind} skipped — {r.error}"
        return f"{r.worker}: {kind} {'ok' if r.ok else 'FAILED'}" + (f" — {r.error}" if r.error else "")

    def _record(self, results: list[Any]) -> None:
        for r in results:
            kind = "dry run" if r.dry_run else "deploy"
            if getattr(r, "skipped", False):
                self.results[r.worker] = f"{kind} skipped"
            else:
                self.results[r.worker] = ("dry run ok" if r.dry_run else "deployed") if r.ok else f"{kind} failed"
        self._fill_table()

    async def _deploy_one(self, dep: Any, name: str) -> None:
        ws = self.ctx.workspace
        with self._operation():
            self.say(f"$ hoox deploy worker {name} --dry-run")
            res = await dep.deploy_worker(ws, name, dry_run=True, on_line=self.output)
            self.say(self._result_line(res))
            self._record([res])
            if not res.ok:
                self.say(f"The dry run failed, so {name} was not deployed.")
                return
            if not await self._confirm(f"Deploy {name}?", f"The dry run of {name} passed. Deploy it to "
                                       "Cloudflare now? The running version is replaced.", "Deploy"):
                self.say(f"Deploy of {name} cancelled; nothing was deployed.")
                return
            self.say(f"$ hoox deploy worker {name}")
            res = await dep.deploy_worker(ws, name, dry_run=False, on_line=self.output)
            self.say(self._result_line(res))
            self._record([res])

    async def _deploy_all(self, dep: Any) -> None:
        ws = self.ctx.workspace
        with self._operation():
            self.say("$ hoox deploy all --dry-run")
            results = await dep.deploy_all(ws, dry_run=True, on_line=self.output, on_progress=self._progress)
            for r in results:
                self.say(self._result_line(r))
            self._record(results)
            if not results or not all(r.ok for r in results):
                self.say("The dry run did not pass for every worker; nothing was deployed.")
                return
            order = ", ".join(r.worker for r in results)
            if not await self._confirm("Redeploy everything?", f"The dry run passed for {len(results)} workers. "
                                       f"Deploy them to Cloudflare in this order: {order}?", "Deploy all"):
                self.say("Redeploy cancelled; nothing was deployed.")
                return
            self.say("$ hoox deploy all")
            results = await dep.deploy_all(ws, dry_run=False, on_line=self.output, on_progress=self._progress)
            for r in results:
                self.say(self._result_line(r))
            self._record(results)

    def _progress(self, worker: str, done: int, total: int) -> None:
        self.say(f"[{done}/{total}] finished" if done == total else f"[{done}/{total}] {worker} ...")

    async def _restart(self) -> None:
        ws = self.ctx.workspace
        assert ws is not None
        if not await self._confirm("Restart the local runtime?", f"Stop the local edge of {ws.root} and start it "
                                   "again? Signals sent while it restarts are refused (TradingView does not "
                                   "retry).", "Restart"):
            self.say("Restart cancelled.")
            return
        with self._operation():
            self.say("$ hoox dev stop && hoox dev start --detach")
            try:
                pid = await self.ctx.store.restart_runtime(ws, self.output)
            except RestartError as exc:
                self.say(f"Restart failed: {exc}")
                return
            self.say(f"The local runtime serves again (pid {pid}).")

