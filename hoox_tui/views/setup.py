"""Setup wizard (F8): the steps of hoox_cli.core.setup (the model `hoox init` asks over too), one screen each.

Secret fields are password inputs; a secret already set shows only that it is set, never its value,
and the inputs are emptied once a step is saved. The kickoff step lists what was written (names
only), offers to start the local edge and to roll the workers out to Cloudflare: the rollout of
`hoox deploy all --auto` (hoox_cli.core.rollout), its steps streamed into a log, asking before
it starts and again before it pushes secret values from the local vault, then its report.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Log, Select, Static

from hoox_cli.core import setup as sm
from hoox_tui.dialogs import ConfirmScreen
from hoox_tui.views.base import View

if TYPE_CHECKING:
    from hoox_tui.context import CockpitContext


class StepBar:
    """The steps on as few lines as the width allows, a line broken between two steps only. No-break spaces
    inside a step did not hold: the wrapping counts them as whitespace, and cut "6 Telegram" in two."""

    GAP = "   "

    def __init__(self, marks: list[str]) -> None:
        self.marks = marks

    def lines(self, width: int) -> list[str]:
        lines: list[str] = []
        for mark in self.marks:
            if lines and cell_len(lines[-1] + self.GAP + mark) <= width:
                lines[-1] += self.GAP + mark
            else:
                lines.append(mark)  # a step wider than the line alone is cropped, not broken
        return lines

    def __str__(self) -> str:
        return self.GAP.join(self.marks)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines(options.max_width):
            yield Text(line, no_wrap=True, overflow="ellipsis")

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(max(map(cell_len, self.marks)), cell_len(str(self)))


class SetupView(View):
    view_id: ClassVar[str] = "setup"

    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: a focused Input binds Ctrl+K itself (delete to the end), and took the key the step names
        Binding("ctrl+n", "next", "Save & next", id="setup.next", priority=True),
        Binding("ctrl+k", "skip", "Skip step", id="setup.skip", priority=True),
    ]
    DEFAULT_CSS = """
    SetupView { padding: 0 2; }
    SetupView #setup-steps { height: auto; margin-bottom: 1; }
    SetupView #setup-title { text-style: bold; height: 1; }
    SetupView #setup-intro { color: $text-muted; height: auto; margin-bottom: 1; }
    SetupView .field { height: auto; }
    SetupView .field-label { width: 32; padding-top: 1; }
    SetupView .field Input, SetupView .field Select { width: 1fr; max-width: 72; }
    SetupView .field-state { color: $text-muted; height: auto; padding-left: 32; }
    SetupView .field-error { color: $error; height: auto; padding-left: 32; }
    SetupView #setup-buttons { height: 3; margin-top: 1; }
    SetupView #setup-buttons Button { margin-right: 1; }
    SetupView #setup-status { height: auto; margin-top: 1; }
    SetupView #setup-summary { height: auto; }
    SetupView #setup-rollout-log { height: 12; border: round $primary; }
    SetupView #setup-rollout-report { height: auto; margin-top: 1; }
    """
    FLUSH_SECONDS = 0.1

    def __init__(self, ctx: CockpitContext, **kw: Any) -> None:
        super().__init__(ctx, **kw)
        ws = ctx.workspace
        self.wizard = sm.SetupWizard(ws, ctx.store.client) if ws is not None else None
        self.status = ""
        if self.wizard is not None and self.wizard.resumed:
            self.status = f"Resumed where you left off ({self.wizard.current.title})."
        self.finished = False
        self.rolling = False  # a rollout runs: the step stays put until it ends

    # ---------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        wiz = self.wizard
        if wiz is None:
            yield Static("The setup wizard writes a workspace's config and secrets, and there is no workspace "
                         "here. Run the cockpit inside a workspace (or choose one with --workspace DIR).", markup=False)
            return
        st = wiz.current
        index = wiz.state.step
        marks = []
        for i, s in enumerate(sm.STEPS):
            tick = "✓" if s.id in wiz.state.done else ("▶" if i == index else "·")
            marks.append(f"{tick} {i + 1} {s.title}")
        yield Static(StepBar(marks), id="setup-steps")
        yield Static(f"Step {index + 1} of {len(sm.STEPS)} — {st.title}", id="setup-title", markup=False)
        yield Static(st.intro, id="setup-intro", markup=False)
        with VerticalScroll(id="setup-form"):
            if st.id == "kickoff":
                yield Static(self._summary(), id="setup-summary", markup=False)
            for f in st.fields:
                with Horizontal(classes="field"):
                    yield Static(f.label, classes="field-label", markup=False)
                    yield self._input(f)
                # where the value goes (or whether a secret is set), under its input: the input keeps the
                # width and a long key is never cut or broken mid-word
                yield Static(self._state_of(f), classes="field-state", id=f"state-{self._wid(f)}", markup=False)
                yield Static("", classes="field-error", id=f"err-{self._wid(f)}", markup=False)
        with Horizontal(id="setup-buttons"):
            if index > 0:
                yield Button("Back", id="setup-back")
            if st.id == "kickoff":
                yield Button("Start local edge", id="setup-start-edge", variant="primary")
                yield Button("Roll out to Cloudflare", id="setup-rollout")
                yield Button("Finish", id="setup-finish", variant="success")
            else:
                yield Button("Save & next (Ctrl+N)", id="setup-next", variant="primary")
                yield Button("Skip (Ctrl+K)", id="setup-skip")
        yield Static(self.status, id="setup-status", markup=False)
        if st.id == "kickoff":
            log = Log(id="setup-rollout-log", highlight=False)
            log.display = False  # until a rollout writes to it
            yield log
            yield Static("", id="setup-rollout-report", markup=False)

    @staticmethod
    def _wid(f: sm.Field) -> str:
        return "f-" + "".join(c if c.isalnum() else "-" for c in f.name.lower())

    def _input(self, f: sm.Field) -> Input | Select[str]:
        assert self.wizard is not None
        if f.choices:
            current = self.wizard.current_value(f)
            options = [(c or "(none)", c) for c in f.choices]
            return Select(options, prompt="keep current", value=current if current in f.choices else Select.NULL,
                          id=self._wid(f))
        if f.secret:
            return Input(password=True, placeholder="type to set; empty keeps it", id=self._wid(f))
        return Input(self.wizard.current_value(f), placeholder=f.help, id=self._wid(f))

    def _state_of(self, f: sm.Field) -> str:
        assert self.wizard is not None
        if f.secret:
            return "set" if self.wizard.secret_is_set(f.key) else "not set"
        if f.target == "kv":
            return f"KV {f.key}"
        return f"hoox.toml {f.key}"

    def _summary(self) -> str:
        assert self.wizard is not None
        w = self.wizard.state.written
        lines = ["Written by this wizard:"]
        lines.append("  hoox.toml: " + (", ".join(w["config"]) or "nothing"))
        lines.append("  secrets (.dev.vars): " + (", ".join(w["secrets"]) or "nothing"))
        lines.append("  config KV: " + (", ".join(w["kv"]) or "nothing"))
        skipped = [s.title for s in sm.STEPS[:-1] if s.id not in self.wizard.state.done]
        if skipped:
            lines.append("Skipped: " + ", ".join(skipped) + " (Back to fill them in).")
        lines.append("")
        lines.append("Secrets reach the local edge when it (re)starts. \"Roll out to Cloudflare\" does what "
                     "`hoox deploy all --auto` does: provisions what is missing, applies the migrations, writes "
                     "the KV manifest, pushes the vault's secrets (asked first), deploys every enabled worker "
                     "and checks /health, rolling back a worker that fails it. Single deploys are in the "
                     "Service manager (F6).")
        return "\n".join(lines)

    def on_mount(self) -> None:
        self.call_after_refresh(self.guard(self._focus_first))
        if self.wizard is not None and self.wizard.current.id == "strategy" and self.ctx.store.has_edge:
            self.run_guarded(self._show_kv_values, group="setup-kv")

    async def _show_kv_values(self) -> None:
        """Next to each strategy field, the value the edge holds now."""
        from hoox_cli.core.client import HooxError

        assert self.wizard is not None
        for f in self.wizard.current.fields:
            try:
                entry = await self.ctx.store.kv_get(f.key)
            except HooxError:
                continue
            self.query_one(f"#state-{self._wid(f)}", Static).update(f"now {entry.value!r} ({entry.source})")

    # ---------------------------------------------------------------- values
    def values(self) -> dict[str, str]:
        assert self.wizard is not None
        out: dict[str, str] = {}
        for f in self.wizard.current.fields:
            w = self.query_one(f"#{self._wid(f)}")
            if isinstance(w, Select):
                out[f.name] = "" if w.value is Select.NULL else str(w.value)
            else:
                assert isinstance(w, Input)
                out[f.name] = w.value
        return out

    def _show_errors(self, errors: dict[str, str]) -> None:
        assert self.wizard is not None
        for f in self.wizard.current.fields:
            self.query_one(f"#err-{self._wid(f)}", Static).update(errors.get(f.name, ""))

    async def _goto(self, status: str) -> None:
        self.status = status
        await self.recompose()
        self.on_mount()
        self._focus_first()

    def _focus_first(self) -> None:
        """The first field (or the kickoff's first button), so the step's keys work at once."""
        targets = [*self.query("#setup-form Input, #setup-form Select"), *self.query("#setup-buttons Button")]
        if targets:
            targets[0].focus()

    # ---------------------------------------------------------------- actions
    def on_button_pressed(self, event: Button.Pressed) -> None:
        handlers = {
            "setup-next": self.action_next,
            "setup-skip": self.action_skip,
            "setup-back": self.action_back,
            "setup-finish": self.action_finish,
            "setup-start-edge": self.action_start_edge,
            "setup-rollout": self.action_rollout,
        }
        handler = handlers.get(event.button.id or "")
        if handler is not None:
            event.stop()
            handler()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_next()

    def action_next(self) -> None:
        if self.wizard is None or self.wizard.current.id == "kickoff":
            return
        self.run_guarded(self._apply, group="setup")

    async def _apply(self) -> None:
        assert self.wizard is not None
        st = self.wizard.current
        values = self.values()
        errors = sm.validate(st, values)
        self._show_errors(errors)
        if errors:
            self.query_one("#setup-status", Static).update(f"Not saved: {len(errors)} field(s) to fix.")
            return
        try:
            applied = await self.wizard.apply(values)
        except sm.SetupError as exc:
            self.query_one("#setup-status", Static).update(f"Not saved: {exc}")
            return
        names = applied.names()
        await self._goto(f"{st.title}: " + (f"wrote {', '.join(names)}." if names else "nothing to write."))

    def action_skip(self) -> None:
        if self.wizard is None or self.wizard.current.id == "kickoff":
            return
        title = self.wizard.current.title
        self.wizard.skip()
        self.run_guarded(partial(self._goto, f"{title}: skipped, nothing written."), group="setup")

    def action_back(self) -> None:
        if self.wizard is None or self.wizard.state.step == 0 or self.rolling:
            return
        self.wizard.back()
        self.run_guarded(partial(self._goto, ""), group="setup")

    def action_finish(self) -> None:
        if self.wizard is None or self.rolling:
            return
        self.wizard.finish()
        self.finished = True
        self.query_one("#setup-status", Static).update("Setup finished; the wizard's state file was removed. "
                                                       "F8 again starts a new pass.")

    def action_start_edge(self) -> None:
        if self.ctx.workspace is None:
            return
        self.run_guarded(self._start_edge, group="setup-edge")

    async def _start_edge(self) -> None:
        from hoox_tui.store import RestartError
        from hoox_tui.views.services import OutputBuffer

        ws = self.ctx.workspace
        if ws is None:  # action_start_edge checked; the workspace does not go away
            return
        status = self.query_one("#setup-status", Static)
        status.update("Starting the local edge ...")
        buf = OutputBuffer()
        try:
            pid = await self.ctx.store.restart_runtime(ws, buf, start_only=True)
        except RestartError as exc:
            status.update(f"Could not start the local edge: {exc}")
            return
        lines = buf.drain()
        status.update("\n".join([*lines[-3:], f"The local edge runs (pid {pid}); stop it with `hoox dev stop`."]))

    # ---------------------------------------------------------------- the initial rollout
    def action_rollout(self) -> None:
        if self.wizard is None or self.ctx.workspace is None or self.wizard.current.id != "kickoff":
            return
        if self.rolling:
            self.app.notify("The rollout is still running; wait for it to finish.", severity="warning")
            return
        self.run_guarded(self._rollout, group="setup-rollout")

    async def _ask(self, question: str, yes: str) -> bool:
        answer = await self.app.push_screen_wait(ConfirmScreen(question, yes=yes, no="Cancel"))
        return bool(answer)

    async def _rollout(self) -> None:
        from hoox_cli.core import deploy, rollout, wrangler_cli
        from hoox_cli.core.cloudflare_api import CloudflareError
        from hoox_cli.core.errors import CliError
        from hoox_tui.views.services import OutputBuffer

        ws = self.ctx.workspace
        if ws is None:  # action_rollout checked; the workspace does not go away
            return
        status = self.query_one("#setup-status", Static)
        report_box = self.query_one("#setup-rollout-report", Static)
        log = self.query_one("#setup-rollout-log", Log)
        creds = wrangler_cli.credentials(ws)
        if not creds.get("CLOUDFLARE_API_TOKEN") or not creds.get("CLOUDFLARE_ACCOUNT_ID"):
            status.update("Rolling out needs the Cloudflare account ID and API token: fill in step 1 "
                          "(Cloudflare) with Back, then roll out.")
            return
        try:
            order = deploy.planned_workers(ws)
        except CliError as exc:
            status.update(f"Not rolled out: {exc.message}")
            return
        if not await self._ask("Roll out to Cloudflare?\n\nProvision what is missing, apply the D1 migrations, "
                               "write the KV manifest, then deploy in this order: " + ", ".join(order) + ". "
                               "A worker whose /health fails goes back to its previous version.", "Roll out"):
            status.update("Rollout cancelled; nothing was changed.")
            return
        buf = OutputBuffer()  # redacts each line (the rollout registers the vault's values)

        def flush() -> None:
            lines = buf.drain()
            if lines:
                log.write_lines(lines)

        async def confirm(question: str) -> bool:
            flush()
            return await self._ask(question, "Push")

        self.rolling = True
        log.display = True
        log.clear()
        report_box.update("")
        status.update("Rolling out to Cloudflare ...")
        buf("checking which secrets the workers have on Cloudflare")
        timer = self.set_interval(self.FLUSH_SECONDS, flush)
        try:
            report = await rollout.rollout(ws, yes=False, confirm=confirm, say=buf, on_line=buf)
        except CliError as exc:
            status.update(f"Rollout stopped: {exc.message}")
            return
        except CloudflareError as exc:
            status.update(f"Rollout stopped: Cloudflare answered: {exc}")
            return
        finally:
            timer.stop()
            self.rolling = False
            if self.is_attached:
                flush()
        report_box.update("\n".join(rollout.report_lines(report)))
        status.update("Rolled out to Cloudflare." if report["ok"] else
                      f"The rollout failed at {report['failed']}; fix it and roll out again (each step only "
                      "does what is missing).")
