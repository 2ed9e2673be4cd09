"""Settings (F9): theme, refresh interval, reset cache — persisted through UserSettings.save.

The theme list is the themes loaded at start (themes/*.toml, registered on the app); a change
applies at once. The refresh interval is how often the store polls the edge's REST routes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Select, Static

from hoox_tui import settings as user_settings
from hoox_tui.dialogs import ConfirmScreen
from hoox_tui.views.base import View

if TYPE_CHECKING:
    from hoox_tui.context import CockpitContext


def parse_refresh(text: str) -> float:
    """Seconds from the input; ValueError saying the allowed range."""
    bad = ValueError(f"the refresh interval must be a number of seconds from {user_settings.MIN_REFRESH:g} "
                     f"to {user_settings.MAX_REFRESH:g}")
    try:
        value = float(text.strip())
    except ValueError:
        raise bad from None
    if not math.isfinite(value) or not user_settings.MIN_REFRESH <= value <= user_settings.MAX_REFRESH:
        raise bad
    return value


class SettingsView(View):
    view_id: ClassVar[str] = "settings"

    DEFAULT_CSS = """
    SettingsView { padding: 1 2; }
    SettingsView .row { height: auto; margin-bottom: 1; }
    SettingsView .label { width: 24; padding-top: 1; text-style: bold; }
    SettingsView #set-theme { width: 40; }
    SettingsView #set-refresh { width: 16; }
    SettingsView .hint { color: $text-muted; padding-top: 1; padding-left: 2; width: 1fr; }
    SettingsView #set-status { height: auto; margin-top: 1; }
    SettingsView #set-paths { height: auto; color: $text-muted; margin-top: 1; }
    """

    def __init__(self, ctx: CockpitContext, **kw: Any) -> None:
        super().__init__(ctx, **kw)
        self._ready = False

    def theme_names(self) -> list[str]:
        """The cockpit's themes (loaded from themes/); textual's own only if none loaded."""
        names = sorted(n for n in self.app.available_themes if n.startswith("hoox-"))
        if not names:
            names = sorted(self.app.available_themes)
        current = self.app.theme
        if current and current not in names:
            names.append(current)
        return names

    def compose(self) -> ComposeResult:
        s = self.ctx.settings
        with Vertical():
            with Horizontal(classes="row"):
                yield Static("Theme", classes="label")
                yield Select([(n, n) for n in self.theme_names()], value=self.app.theme, allow_blank=False,
                             id="set-theme")
                yield Static("applies at once", classes="hint")
            with Horizontal(classes="row"):
                yield Static("Refresh every (s)", classes="label")
                yield Input(f"{s.refresh_seconds:g}", id="set-refresh", type="number")
                yield Button("Apply", id="set-refresh-apply")
                yield Static(f"how often the edge is polled ({user_settings.MIN_REFRESH:g}–"
                             f"{user_settings.MAX_REFRESH:g} s; live events arrive at once)", classes="hint")
            with Horizontal(classes="row"):
                yield Static("Cache", classes="label")
                yield Button("Reset cache…", id="set-reset-cache", variant="warning")
                yield Static("empties the cockpit's cache folder (asks first)", classes="hint")
            yield Static("", id="set-status", markup=False)
            yield Static(f"Settings file: {user_settings.config_path()}\nCache folder: {user_settings.cache_dir()}",
                         id="set-paths", markup=False)

    def on_mount(self) -> None:
        self._ready = True

    def say(self, text: str) -> None:
        self.query_one("#set-status", Static).update(text)

    def _save(self) -> bool:
        try:
            self.ctx.settings.save()
        except OSError as exc:
            self.say(f"Applied, but not saved: {exc}")
            return False
        return True

    # ---------------------------------------------------------------- theme
    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "set-theme" or not self._ready or event.value is Select.NULL:
            return
        event.stop()
        name = str(event.value)
        if name == self.app.theme and name == self.ctx.settings.theme:
            return
        setter = getattr(self.app, "set_theme_persisted", None)
        if setter is not None:
            if setter(name):
                self.say(f"Theme {name} applied and saved.")
            return
        self.app.theme = name
        self.ctx.settings.theme = name
        if self._save():
            self.say(f"Theme {name} applied and saved.")

    # ---------------------------------------------------------------- refresh interval
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "set-refresh-apply":
            event.stop()
            self.apply_refresh()
        elif event.button.id == "set-reset-cache":
            event.stop()
            self.ask_reset_cache()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "set-refresh":
            event.stop()
            self.apply_refresh()

    def apply_refresh(self) -> None:
        try:
            seconds = parse_refresh(self.query_one("#set-refresh", Input).value)
        except ValueError as exc:
            self.say(f"Not changed: {exc}.")
            return
        setter = getattr(self.app, "set_refresh_seconds", None)
        if setter is not None:
            setter(seconds)
        else:
            self.ctx.settings.refresh_seconds = seconds
            self.ctx.store.refresh_seconds = seconds
            self.ctx.store.refresh_now()
        if self._save():
            self.say(f"Refresh interval set to {seconds:g} s and saved.")

    # ---------------------------------------------------------------- cache
    def ask_reset_cache(self) -> None:
        question = f"Empty the cockpit's cache folder?\n{user_settings.cache_dir()}\nSettings are kept."
        self.app.push_screen(ConfirmScreen(question, yes="Reset", no="Cancel"), self.guard(self._reset_answer))

    def _reset_answer(self, yes: bool | None) -> None:
        if not yes:
            self.say("Cache kept.")
            return
        removed = user_settings.reset_cache()
        self.say(f"Cache reset: {removed} {'entry' if removed == 1 else 'entries'} removed.")
