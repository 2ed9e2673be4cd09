"""The cockpit app: nine views as modes (F1..F9, Ctrl+1..9), sidebar, status bar, palette, dialogs.

Each view lives in its own mode (its own screen stack, kept alive when hidden). The store is told
which view is visible (ViewScreen resume/suspend) and polls only what that view needs; the flush
timer posts what changed to that view in batches (a StoreChanged message, hoox_tui/messages.py).
Errors: a view's failure stays in the view (see views/base.py and boundary.py); anything else ends
the app with `crash` set, and the launcher shows the crash screen (crash.py) — never Textual's own
traceback, which prints local variables.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from hoox_cli.core.redact import redact
from hoox_tui.boundary import Guarded
from hoox_tui.context import CockpitContext
from hoox_tui.dialogs import (
    ConfirmScreen,
    FlattenChoice,
    FlattenResultScreen,
    FlattenScreen,
    KillSwitchAnswer,
    KillSwitchScreen,
)
from hoox_tui.fmt import book_label
from hoox_tui.messages import ConnectionChanged, RiskRunReported, StoreChanged
from hoox_tui.reports import ReportsEdge, ReportsScreen
from hoox_tui.store import BOOKS, STORE_TOPICS, Conn, run_summary
from hoox_tui.themes import DEFAULT_THEME, load_themes
from hoox_tui.timeline import RequestIdScreen, TimelineScreen
from hoox_tui.views import ALL_VIEWS, BY_ID
from hoox_tui.views.base import ErrorPanel, View
from hoox_tui.widgets import Sidebar, StatusBar, TitleBar

_log = logging.getLogger("hoox.tui")

FLUSH_SECONDS = 0.25  # views get changes at most 4 times a second
TICK_SECONDS = 0.5  # status-bar pulse and "updated Xs ago"

class UnavailableView(View):
    """A view whose module is not part of this build: says so, shows nothing else."""

    view_id = "unavailable"

    def __init__(self, ctx: CockpitContext, view_id: str, reason: str) -> None:
        super().__init__(ctx, id=f"view-{view_id}")
        self.missing = BY_ID[view_id]
        self.reason = reason

    @property
    def title(self) -> str:
        return self.missing.title

    def compose(self) -> ComposeResult:
        yield Static(f"{self.title} is not available in this version yet.\n\n{self.reason}", markup=False,
                     classes="unavailable")


def view_class(view_id: str) -> type[View] | str:
    """The View subclass for `view_id` (imported now, the first time it is shown), or why there is none."""
    spec = BY_ID[view_id]
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        if exc.name == spec.module:
            return f"({spec.module} is not installed.)"
        raise
    cls = getattr(module, spec.cls, None)
    if isinstance(cls, type) and issubclass(cls, View) and cls.view_id == view_id:
        return cls
    return f"({spec.module} defines no view {spec.cls} with id {view_id!r}.)"


# Below this many columns the sidebar starts hidden (^B shows it): at the documented minimum of 100
# columns its 24 would leave a view 76, too few for its tables.
SIDEBAR_MIN_WIDTH = 120


class ViewScreen(Guarded, Screen[None]):
    """One view with the sidebar, the title bar and the status bar around it."""

    DEFAULT_CSS = """
    ViewScreen #body { height: 1fr; }
    ViewScreen #main { width: 1fr; height: 1fr; }
    """

    def __init__(self, ctx: CockpitContext, view: View) -> None:
        super().__init__(name=view.view_id)
        self.ctx = ctx
        self.view = view

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield Sidebar(self.view.view_id)
            with Vertical(id="main"):
                yield TitleBar(self.ctx, self.view.title)
                yield self.view
        yield StatusBar(self.ctx)

    def on_screen_resume(self) -> None:
        app = self.app
        self.query_one(Sidebar).display = app.sidebar_shown() if isinstance(app, HooxApp) else True
        if isinstance(app, HooxApp):
            app.visible_view = self.view
        self.ctx.store.show(id(self.view), self.view.poll_topics)

    def on_resize(self) -> None:
        app = self.app
        if isinstance(app, HooxApp) and app.sidebar_visible is None:
            app.show_sidebar()

    def on_screen_suspend(self) -> None:
        app = self.app
        if isinstance(app, HooxApp) and app.visible_view is self.view:
            app.visible_view = None
        self.ctx.store.hide(id(self.view))  # hidden views are not polled


class HooxApp(Guarded, App[None]):
    TITLE = "hoox cockpit"
    # Screens under 40 rows get the class -short: views give their secondary panels fewer rows there,
    # so the main table of each view keeps room at the documented minimum of 100 x 30.
    # (In the app's CSS: a view's DEFAULT_CSS is scoped to the view and cannot see the screen's class.)
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]  # noqa: RUF012 (App declares it as an instance variable)
    # No `Screen { background: … }` here: Textual's Screen already paints $background, and such a
    # rule would make every ModalScreen (dialogs, the palette) opaque instead of dimming the view.
    CSS = """
    .unavailable { padding: 2 4; color: $text-muted; }
    /* the trade monitor under 40 rows: its panels stacked at their full height, the view scrolls (a panel
       cut to a few rows hid positions and figures behind its own scrolling) */
    .-short TradesView { overflow-y: auto; scrollbar-size-vertical: 1; }
    .-short TradesView #feed { height: 10; scrollbar-size-vertical: 1; }
    .-short TradesView #risk { max-height: 30; }
    .-short TradesView #lower { height: auto; layout: vertical; }
    .-short TradesView #positions { height: auto; }
    .-short TradesView #winloss { width: 1fr; height: auto; }
    .-short DashboardView #watchdog { max-height: 5; }
    .-short DashboardView #reconciliation { max-height: 4; }
    """
    BINDINGS: ClassVar = [
        # priority: a focused TextArea binds F6/F7 itself, and view keys must switch views from anywhere.
        *[Binding(f"{v.key},{v.alias}", f"view('{v.id}')", v.title, show=False, id=f"view.{v.id}", priority=True)
          for v in ALL_VIEWS],
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", id="sidebar"),
        Binding("ctrl+r", "refresh", "Refresh", id="refresh"),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        Binding("K", "kill_switch", "Kill switch", id="kill-switch"),
        Binding("b", "cycle_book", "Book", id="book"),
        Binding("T", "signal_timeline", "Signal timeline", id="signal-timeline"),
        Binding("R", "reports", "Reports", show=False, id="reports"),
    ]

    def __init__(
        self,
        ctx: CockpitContext,
        *,
        theme: str | None = None,
        start_runtime: Callable[[], str | None] | None = None,
        run_store: bool = True,
        view_factories: dict[str, Callable[[CockpitContext], View]] | None = None,
    ) -> None:
        super().__init__()
        self.ctx = ctx
        self.crash: BaseException | None = None
        self.sidebar_visible: bool | None = None  # None: by the terminal's width (SIDEBAR_MIN_WIDTH)
        self.requested_theme = theme
        self._start_runtime = start_runtime
        self._run_store = run_store
        self._view_factories = view_factories or {}
        self.views: dict[str, View] = {}
        self.visible_view: View | None = None  # the view of the current mode (None under a dialog)
        self._pulse = False

    # ================================================================ start
    def on_mount(self) -> None:
        themes, problems = load_themes()
        for t in themes:
            self.register_theme(t)
        problems += self.ctx.settings.problems
        wanted = self.requested_theme or self.ctx.settings.theme or DEFAULT_THEME
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            problems.append(f"theme {wanted!r} is not known; using {DEFAULT_THEME}")
            self.theme = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
        if self.ctx.settings.keymap:
            # checked first: a clash would leave one of two bindings dead without a word from Textual
            from hoox_tui import keymap

            good, bad = keymap.check(keymap.catalogue(type(self)), self.ctx.settings.keymap)
            problems += bad
            self.set_keymap(good)
        for spec in ALL_VIEWS:
            self.add_mode(spec.id, self._screen_factory(spec.id))
        self.switch_mode("dashboard")
        for p in problems:
            self.notify(p, title="Settings problem", severity="warning", timeout=10)
        if (note := _rotation_note(self.ctx.workspace)) is not None:
            self.notify(note, title="Credential rotation", severity="warning", timeout=20)
        self.ctx.store.post = self.post_message
        self.set_interval(FLUSH_SECONDS, self.guard(self._flush_store), name="flush")
        self.set_interval(TICK_SECONDS, self.guard(self._tick), name="tick")
        if self._run_store:
            self.run_worker(self._boot(), name="store", group="store", exit_on_error=False)
            if not self.ctx.safe_mode:  # safe mode: no live calls
                self.run_worker(self._check_exchange_keys(), name="key-permissions", exit_on_error=False)

    async def _check_exchange_keys(self) -> None:
        """Ask each exchange whose key pair is set what the key may do; warn once if it can move funds."""
        ws = self.ctx.workspace
        if ws is None or not ws.exists:
            return
        from hoox_cli.core.config import exchange_key_permissions, fund_moving_keys_note

        try:
            note = fund_moving_keys_note(await exchange_key_permissions(ws))
        except Exception:  # an exchange that cannot be asked is `secrets check`'s to report, never a crash
            return
        if note is not None:
            self.notify(note, title="Exchange key can move funds", severity="error", timeout=60)

    def _screen_factory(self, vid: str) -> Callable[[], Screen[Any]]:
        def make() -> Screen[Any]:
            return ViewScreen(self.ctx, self.make_view(vid))
        return make

    def make_view(self, vid: str) -> View:
        factory = self._view_factories.get(vid)
        if factory is not None:
            view = factory(self.ctx)
        else:
            try:
                cls = view_class(vid)
            except Exception as exc:  # a broken module is that view's failure, not the app's
                view = UnavailableView(self.ctx, vid, f"(loading it failed: {redact(str(exc))})")
            else:
                view = cls(self.ctx) if isinstance(cls, type) else UnavailableView(self.ctx, vid, cls)
        self.views[vid] = view
        return view

    async def _boot(self) -> None:
        status = self._status_bar()
        if self._start_runtime is not None:
            self._set_note("starting the embedded local runtime…")
            try:
                note = await asyncio.to_thread(self._start_runtime)
            except Exception as exc:
                self._set_note(None)
                self.notify(redact(str(exc)), title="The local runtime did not start", severity="error",
                            timeout=30)
            else:
                self._set_note(note)
            if status is not None:
                status.refresh()
        await self.ctx.store.run()

    def _set_note(self, note: str | None) -> None:
        self.status_note = note
        bar = self._status_bar()
        if bar is not None:
            bar.note = note
            bar.refresh()

    status_note: str | None = None

    # ================================================================ timers
    def _flush_store(self) -> None:
        topics = self.ctx.store.take_changes()
        if topics and self.visible_view is not None:
            self.visible_view.post_message(StoreChanged(topics))
        self._refresh_frame()

    def _tick(self) -> None:
        self._pulse = not self._pulse
        self._refresh_frame()

    def _refresh_frame(self) -> None:
        bar = self._status_bar()
        if bar is not None:
            bar.pulse = self._pulse
            bar.note = self.status_note
            bar.refresh()
        screen = self._top_view_screen()
        if screen is not None:
            for tb in screen.query(TitleBar):
                tb.refresh()

    def _top_view_screen(self) -> ViewScreen | None:
        # Not self.screen: the timers tick on while the app is torn down, when the stack is empty and
        # self.screen raises ScreenStackError (which would end a clean quit as a crash).
        stack = self.screen_stack
        screen = stack[-1] if stack else None
        return screen if isinstance(screen, ViewScreen) else None

    def _status_bar(self) -> StatusBar | None:
        screen = self._top_view_screen()
        if screen is not None:
            # None while the screen is still composing (start) or being torn down (quit): the
            # timers keep ticking through both, and a NoMatches here would end the app as a crash.
            bars = screen.query(StatusBar)
            return bars.first() if bars else None
        return None

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        state = message.state
        if state == Conn.UNAUTHORIZED:
            # in full, once per refusal: the status bar has room for the state only
            self.notify(self.ctx.store.refused_advice or "The edge refused the operator token.",
                        title="UNAUTHORIZED: the edge refused the operator token", severity="error", timeout=60)
        elif state == Conn.OFFLINE:
            self.notify("The edge does not answer: OFFLINE, probing every "
                        f"{self.ctx.store.probe_seconds:g} s (Ctrl+R to try now).", severity="error")

    def on_risk_run_reported(self, message: RiskRunReported) -> None:
        """A risk run that closed something or failed: said at once, wherever the operator looks."""
        ev = message.event
        self.notify(f"{run_summary(ev)} — details: the trade monitor (F4) and the alerts (F1).",
                    title=f"Risk run #{ev.run_id}", severity="error" if ev.errors else "warning", timeout=10)

    # ================================================================ actions
    def action_view(self, view_id: str) -> None:
        if view_id not in BY_ID:
            return
        if self.current_mode != view_id:
            self.switch_mode(view_id)

    def open_worker(self, name: str) -> None:
        """Workers → Enter: the detail view of `name`."""
        self.ctx.store.focus_worker = name
        self.action_view("worker-detail")
        view = self.views.get("worker-detail")
        if view is not None:
            view.post_message(StoreChanged(frozenset({"worker"})))

    def sidebar_shown(self) -> bool:
        """The sidebar as ^B left it, else shown only when the view keeps enough columns beside it."""
        if self.sidebar_visible is not None:
            return self.sidebar_visible
        return self.size.width >= SIDEBAR_MIN_WIDTH

    def show_sidebar(self) -> None:
        """Show or hide the sidebar of the current screen as `sidebar_shown` says."""
        if isinstance(self.screen, ViewScreen):
            # query, not query_one: a screen still composing has no sidebar yet (its resume sets it)
            shown = self.sidebar_shown()
            for sidebar in self.screen.query(Sidebar):
                sidebar.display = shown
            for bar in self.screen.query(TitleBar):
                bar.refresh()  # it names the keys while the sidebar is hidden

    def action_toggle_sidebar(self) -> None:
        self.sidebar_visible = not self.sidebar_shown()
        self.show_sidebar()

    def action_refresh(self) -> None:
        store = self.ctx.store
        store.mark(*STORE_TOPICS)
        store.refresh_now()
        self.notify("Refreshing now" + (" and reconnecting" if store.state != Conn.CONNECTED else ""), timeout=2)

    def action_quit(self) -> None:  # type: ignore[override]
        question = "Quit the hoox cockpit?"
        if self.ctx.owns_runtime():
            question += "\nThe embedded local runtime it started will be stopped."
        self.push_screen(ConfirmScreen(question, yes="Quit", no="Stay"), self.guard(self._quit_answer))

    def _quit_answer(self, yes: bool | None) -> None:
        if yes:
            self.exit()

    def action_kill_switch(self, on: bool | None = None) -> None:
        if not self.ctx.store.has_edge:
            self.notify("No edge is configured: the kill switch is not available.", severity="warning")
            return
        st = self.ctx.store.status
        current = st.killSwitch if st is not None else None
        if current is not None and on is not None and current.on == on:
            self.notify(f"The kill switch is already {'ON' if on else 'off'}.")
            return
        self.push_screen(KillSwitchScreen(current.on if current else None, current.reason if current else None),
                         self.guard(self._kill_switch_answer))

    def _kill_switch_answer(self, answer: KillSwitchAnswer | None) -> None:
        if answer is None:
            st = self.ctx.store.status
            now = "" if st is None else f": it is still {'ON' if st.killSwitch.on else 'off'}"
            self.notify(f"Kill switch not changed{now}.", timeout=4)
            return
        self.run_worker(self._set_kill_switch(answer), group="kill-switch", exit_on_error=False)

    async def _set_kill_switch(self, answer: KillSwitchAnswer) -> None:
        if answer.flatten:
            self.notify("Turning the kill switch ON, then flattening every book…", timeout=5)
        try:
            result = await self.ctx.store.set_kill_switch(answer.on, answer.reason or None, flatten=answer.flatten)
        except Exception as exc:
            # a flatten that timed out may still be running at the edge: say so, never guess
            self.notify(redact(str(exc)), title="Kill switch not changed" if not answer.flatten else
                        "Kill switch / flatten: no answer", severity="error", timeout=15)
            return
        text = f"Kill switch is now {'ON' if result.on else 'off'}"
        if result.on and result.reason:
            text += f": {result.reason}"
        self.notify(text, severity="warning" if result.on else "information")
        self._refresh_frame()
        if result.flatten is not None:
            self.push_screen(FlattenResultScreen(result.flatten, heading=f"{text}. Then every book was flattened:"))

    # ---------------------------------------------------------------- flatten
    def action_flatten(self) -> None:
        """List what a flatten would close (every book by default), ask, flatten, show each outcome."""
        if not self.ctx.store.has_edge:
            self.notify("No edge is configured: flatten is not available.", severity="warning")
            return
        self.run_worker(self._ask_flatten(), group="flatten", exclusive=True, exit_on_error=False)

    async def _ask_flatten(self) -> None:
        try:
            positions, orders = await self.ctx.store.flatten_plan()
        except Exception as exc:
            self.notify(redact(str(exc)), title="Flatten: could not list what is open", severity="error",
                        timeout=15)
            return
        self.push_screen(FlattenScreen(positions, orders), self.guard(self._flatten_answer))

    def _flatten_answer(self, choice: FlattenChoice | None) -> None:
        if choice is not None:
            self.run_worker(self._flatten(choice), group="flatten", exclusive=True, exit_on_error=False)

    async def _flatten(self, choice: FlattenChoice) -> None:
        self.notify("Flattening…", timeout=5)
        try:
            result = await self.ctx.store.flatten(choice.mode, choice.reason)
        except Exception as exc:
            self.notify(redact(str(exc)), title="Flatten: no answer", severity="error", timeout=30)
            return
        # the confirmation listed something (its Flatten is disabled otherwise): when the edge found nothing,
        # another flatten, a signal or the risk manager closed it between the two
        gone = None if result.closes or result.cancelled else (
            "What the confirmation listed was closed or cancelled meanwhile (by another flatten, a signal "
            "or the risk manager): this flatten found nothing left.")
        self.push_screen(FlattenResultScreen(result, heading=gone))

    # ---------------------------------------------------------------- signal timeline
    def action_signal_timeline(self, request_id: str | None = None) -> None:
        """The timeline of a signal: `request_id`, else one the user pastes (T, the palette)."""
        store = self.ctx.store
        if not store.has_edge:
            self.notify("No edge is configured: a signal's timeline is not available.", severity="warning")
            return
        if request_id is None:
            def pasted(rid: str | None) -> None:
                if rid:
                    self.push_screen(TimelineScreen(store.signal_timeline, rid))

            self.push_screen(RequestIdScreen(), self.guard(pasted))
            return
        self.push_screen(TimelineScreen(store.signal_timeline, request_id))

    # ---------------------------------------------------------------- assistant
    def action_assistant(self) -> None:
        """The assistant panel (the palette): a desk question to the AI gateway, streamed."""
        store = self.ctx.store
        if not store.has_edge:
            self.notify("No edge is configured: the assistant is not available.", severity="warning")
            return
        from hoox_tui.assistant import AssistantScreen

        self.push_screen(AssistantScreen(store.agent_chat))

    # ---------------------------------------------------------------- reports
    def action_reports(self, open_latest: bool = False) -> None:
        """The stored P&L reports (R, the palette); `open_latest` opens the newest at once."""
        store = self.ctx.store
        if not store.has_edge:
            self.notify("No edge is configured: the P&L reports are not available.", severity="warning")
            return
        ws = self.ctx.workspace
        folder = ws.root / "reports" if ws is not None else Path(tempfile.gettempdir()) / "hoox-reports"
        edge = ReportsEdge(store.reports, store.report_file, store.make_report)
        self.push_screen(ReportsScreen(edge, folder, open_latest=open_latest, opener=self.ctx.open_url))

    # ---------------------------------------------------------------- books
    def action_cycle_book(self) -> None:
        """b: the next book (paper → live → both), for every view showing positions or figures."""
        store = self.ctx.store
        current = store.book or store.desk_book or "paper"
        nxt = BOOKS[(BOOKS.index(current) + 1) % len(BOOKS)] if current in BOOKS else BOOKS[0]
        self.action_book(nxt)

    def action_book(self, book: str | None) -> None:
        """Show the figures of `book` (None: the desk's current book) for the rest of the session."""
        store = self.ctx.store
        store.set_book(book)
        shown = book_label(book or store.desk_book)
        self.notify(f"Positions and figures: {shown}" + (" (the desk's current book)" if book is None else ""),
                    timeout=3)

    def action_theme(self, name: str) -> None:
        self.set_theme_persisted(name)

    def set_theme_persisted(self, name: str) -> bool:
        """Switch the theme now and remember it (also used by the Settings view)."""
        if name not in self.available_themes:
            self.notify(f"Unknown theme {name!r}", severity="error")
            return False
        self.theme = name
        self.ctx.settings.theme = name
        try:
            self.ctx.settings.save()
        except OSError as exc:
            self.notify(f"Theme applied but not saved: {exc}", severity="warning")
        return True

    def set_user_keymap(self, keymap: dict[str, str]) -> list[str]:
        """Apply and remember the user's keymap (the Settings view), unless it clashes: then nothing
        changes and the clashes are returned."""
        from hoox_tui import keymap as km

        items = km.catalogue(type(self))
        good, bad = km.check(items, keymap)
        if bad:
            return bad
        self.set_keymap(good)
        self.ctx.settings.keymap = dict(good)
        return []

    def set_refresh_seconds(self, seconds: float) -> None:
        """A new polling interval, effective at once (also used by the Settings view)."""
        self.ctx.settings.refresh_seconds = seconds
        self.ctx.store.refresh_seconds = seconds
        self.ctx.store.refresh_now()

    def action_test_signal(self) -> None:
        reason = self._test_signal_unavailable()
        if reason:
            self.notify(reason, title="Test signal not sent", severity="warning", timeout=10)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._send_test_signal(), group="signal", exit_on_error=False)

        self.push_screen(ConfirmScreen("Send a test signal: LONG 0.001 BTCUSDT to the local gateway (paper "
                                       "trading)?", yes="Send", no="Cancel"), self.guard(answered))

    def _test_signal_unavailable(self) -> str | None:
        ws = self.ctx.workspace
        st = self.ctx.store.status
        if ws is None or not ws.exists:
            return "A test signal needs a local workspace (its WEBHOOK_API_KEY)."
        if st is None:
            return "The edge has not answered yet."
        if st.tradingMode != "paper":
            return f"The edge trades {st.tradingMode!r}, not paper: the cockpit sends test signals only to paper."
        return None

    async def _send_test_signal(self) -> None:
        ws = self.ctx.workspace
        assert ws is not None
        outcome = await self.ctx.store.send_test_signal(ws)
        if outcome.accepted:
            self.notify(outcome.text)
        elif outcome.title is None:
            self.notify(outcome.text, severity="error")
        else:
            self.notify(redact(outcome.text), title=outcome.title, severity="error")

    # ================================================================ palette
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for v in ALL_VIEWS:
            keys = v.label if v.alias.startswith("ctrl+") else f"{v.label} or {v.alias}"
            yield SystemCommand(f"View: {v.title}", keys, lambda vid=v.id: self.action_view(vid))
        yield SystemCommand("Refresh and reconnect now", "Ctrl+R", self.action_refresh)
        yield SystemCommand("Toggle sidebar", "Ctrl+B", self.action_toggle_sidebar)
        yield SystemCommand("Kill switch: turn ON (halt trading)", "asks first",
                            lambda: self.action_kill_switch(True))
        yield SystemCommand("Kill switch: turn off (resume trading)", "asks first",
                            lambda: self.action_kill_switch(False))
        yield SystemCommand("Flatten: cancel resting orders, close positions", "lists them and asks first",
                            self.action_flatten)
        for book in BOOKS:
            yield SystemCommand(f"Book: show the {book_label(book)}", "positions, P&L and figures (b cycles)",
                                lambda b=book: self.action_book(b))
        yield SystemCommand("Book: follow the desk's current book", "KV trade:mode", lambda: self.action_book(None))
        yield SystemCommand("Signal timeline: paste a request id", "T; every stage of one signal",
                            self.action_signal_timeline)
        yield SystemCommand("Reports: the P&L reports", "R; open one, make one now", self.action_reports)
        yield SystemCommand("Reports: open the latest P&L report", "downloads it and opens it",
                            lambda: self.action_reports(open_latest=True))
        yield SystemCommand("Assistant: ask about the desk", "the AI gateway, with the ledger's figures",
                            self.action_assistant)
        yield SystemCommand("Send a test signal (paper)", "LONG 0.001 BTCUSDT, asks first", self.action_test_signal)
        for name in sorted(self.available_themes):
            if name.startswith("hoox-") or name == self.theme:
                yield SystemCommand(f"Theme: {name}", "switch and remember", lambda n=name: self.action_theme(n))
        yield SystemCommand("Quit", "Ctrl+Q, asks first", self.action_quit)

    # ================================================================ errors
    async def rebuild_view(self, old: View, panel: ErrorPanel) -> View:
        """Retry: a fresh instance of a failed view (a view whose handler raised cannot be reused)."""
        vid = (old.id or "").removeprefix("view-") or old.view_id
        fresh = self.make_view(vid)
        # The panel's place, not the old view's: a view whose handler raised has left the DOM already.
        screen = panel.screen
        parent = panel.parent
        assert parent is not None
        await old.remove()  # first: the fresh one takes its id (waits for a dying view to leave)
        await parent.mount(fresh, before=panel)  # type: ignore[attr-defined]
        await panel.remove()
        if isinstance(screen, ViewScreen):
            screen.view = fresh
            if screen.is_current:
                self.visible_view = fresh
                self.ctx.store.hide(id(old))
                self.ctx.store.show(id(fresh), fresh.poll_topics)
        fresh.post_message(StoreChanged(STORE_TOPICS))
        return fresh

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The app's workers run with exit_on_error=False and catch what they expect; anything else
        # they raise is a crash (a view's workers are guarded by the view).
        worker = event.worker
        if event.state == WorkerState.ERROR and isinstance(worker.error, Exception):
            self.contain(worker.error)

    def contain(self, error: BaseException) -> None:
        """An error no view could contain (hoox_tui/boundary.py): the app ends for the crash screen."""
        if self.crash is None:
            _log.error("cockpit crashed: %s", redact(f"{type(error).__name__}: {error}"))
            self.crash = error
        # no traceback printed: the launcher's crash screen shows a safe one
        self.exit(return_code=1)


def _rotation_note(ws: Any) -> str | None:
    """The workspace's secrets past their rotation period (hoox_cli.core.config.rotation_note)."""
    if ws is None or not ws.exists:
        return None
    try:
        from hoox_cli.core.config import rotation_note

        return rotation_note(ws)
    except Exception:  # a reminder never keeps the cockpit from starting (a malformed .dev.vars, ...)
        return None
