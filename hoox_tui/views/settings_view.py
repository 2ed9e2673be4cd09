"""Settings (F9): theme, refresh interval, reset cache, keybindings — persisted through
UserSettings.save — and the edge's Telegram alert routes and analytics error threshold, written to
CONFIG_KV through the core (the edge validates them again against its manifest).

The theme list is the themes loaded at start (themes/*.toml, registered on the app); a change
applies at once. The refresh interval is how often the store polls the edge's REST routes.
Keybindings: pick a row, type its keys (comma-separated), Apply; a clash (hoox_tui/keymap.py) is
refused with both bindings named and nothing changes; an accepted keymap applies at once.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from hoox_edge.shared import settings as kv_settings
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, Input, Select, Static

from hoox_cli.core.redact import redact
from hoox_tui import keymap as km
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


def check_routes(values: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The alert routes as they will be written (trimmed), and a line per bad one naming its key and
    the rule (the manifest's own check, so the cockpit and the edge agree)."""
    good: dict[str, str] = {}
    problems: list[str] = []
    for key, text in values.items():
        value = text.strip()
        problem = kv_settings.chat_route_problem(value)
        if problem is None:
            good[key] = value
        else:
            problems.append(f"{key} {problem}")
    return good, problems


def parse_threshold(text: str) -> float:
    """The error-rate threshold (percent) from the input; ValueError with the manifest's rule."""
    try:
        return float(kv_settings.coerce(kv_settings.ERROR_RATE_ALERT, text.strip()))
    except kv_settings.SettingError as exc:
        raise ValueError(str(exc)) from None


class SettingsView(View):
    view_id: ClassVar[str] = "settings"

    DEFAULT_CSS = """
    SettingsView { padding: 0 1; }
    SettingsView #set-scroll { height: 1fr; }
    SettingsView .section { text-style: bold; color: $accent; margin-top: 1; height: 1; }
    SettingsView .route { width: 28; }
    SettingsView #set-keys-table { height: auto; max-height: 14; }
    SettingsView #set-key-input { width: 30; }
    SettingsView #set-key-status, SettingsView #set-alert-status { height: auto; }
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
        with VerticalScroll(id="set-scroll"):
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
            yield Static("Keybindings", classes="section")
            yield DataTable(id="set-keys-table", cursor_type="row", zebra_stripes=True)
            with Horizontal(classes="row"):
                yield Static("Keys of the selected", classes="label")
                yield Input("", id="set-key-input", placeholder="f2,ctrl+w")
                yield Button("Apply", id="set-key-apply")
                yield Button("Default", id="set-key-default")
            yield Static("", id="set-key-status", markup=False)
            yield Static("Telegram alerts (edge KV): a chat id, an @channel or muted; empty: the first "
                         "TELEGRAM_CHAT_ID (error alerts follow critical)", classes="section", markup=False)
            for level, key in kv_settings.ALERT_ROUTES.items():
                with Horizontal(classes="row"):
                    yield Static(f"{level} alerts to", classes="label")
                    yield Input("", id=f"set-route-{level}", classes="route", placeholder="the first chat")
                    yield Static(key, classes="hint")
            with Horizontal(classes="row"):
                yield Static("Error banner above (%)", classes="label")
                yield Input("", id="set-error-rate", classes="route")
                yield Button("Apply to the edge", id="set-alerts-apply")
                yield Static(f"{kv_settings.ERROR_RATE_ALERT}: the Analytics view's banners (0–100; 0: never)",
                             classes="hint", markup=False)
            yield Static("", id="set-alert-status", markup=False)
            yield Static(f"Settings file: {user_settings.config_path()}\nCache folder: {user_settings.cache_dir()}",
                         id="set-paths", markup=False)

    def on_mount(self) -> None:
        self._ready = True
        self._bindables = km.catalogue(type(self.app))
        table = self.query_one("#set-keys-table", DataTable)
        table.add_columns("binding", "where", "action", "keys")
        self.fill_keys()
        self.run_worker(self.load_edge_settings(), group="settings-kv", exclusive=True, exit_on_error=False)

    # ---------------------------------------------------------------- keybindings
    def fill_keys(self) -> None:
        table = self.query_one("#set-keys-table", DataTable)
        row = table.cursor_row
        table.clear()
        keys = km.effective(self._bindables, self.ctx.settings.keymap)
        for b in self._bindables:
            shown = ",".join(map(km.display_key, keys[b.id]))
            if b.id in self.ctx.settings.keymap:
                shown += " *"  # the user's, not the default
            table.add_row(b.id, b.scope_title, b.description, shown, key=b.id)
        if self._bindables:
            table.move_cursor(row=min(max(row, 0), len(self._bindables) - 1))
            self._show_selected_keys()

    def selected_binding(self) -> km.Bindable | None:
        table = self.query_one("#set-keys-table", DataTable)
        if not self._bindables or table.cursor_row < 0:
            return None
        return self._bindables[min(table.cursor_row, len(self._bindables) - 1)]

    def _show_selected_keys(self) -> None:
        b = self.selected_binding()
        if b is not None:
            keys = km.effective([b], self.ctx.settings.keymap)[b.id]
            self.query_one("#set-key-input", Input).value = ",".join(map(km.display_key, keys))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "set-keys-table":
            event.stop()
            self._show_selected_keys()

    def apply_keys(self, text: str | None) -> None:
        """New keys for the selected binding (None: back to its default), applied if nothing clashes."""
        b = self.selected_binding()
        status = self.query_one("#set-key-status", Static)
        if b is None:
            return
        wanted = dict(self.ctx.settings.keymap)
        if text is None:
            wanted.pop(b.id, None)
        else:
            try:
                keys = km.parse_keys(text)
            except ValueError as exc:
                status.update(f"Not changed: {b.id}: {exc}.")
                return
            default = km.parse_keys(b.default)
            if keys == default:
                wanted.pop(b.id, None)
            else:
                wanted[b.id] = ",".join(keys)
        setter = getattr(self.app, "set_user_keymap", None)
        if setter is None:
            status.update("Not changed: this app cannot remap keys.")
            return
        problems: list[str] = setter(wanted)
        if problems:
            status.update("Not changed: " + "; ".join(p.removeprefix("keymap: ").removesuffix("; ignored")
                                                      for p in problems) + ".")
            return
        self.fill_keys()
        now = ",".join(map(km.display_key, km.effective([b], self.ctx.settings.keymap)[b.id]))
        if self._save():
            status.update(f"{b.id} ({b.description}): {now} — applied and saved.")

    # ---------------------------------------------------------------- the edge's alert settings
    async def load_edge_settings(self) -> None:
        status = self.query_one("#set-alert-status", Static)
        if not self.ctx.store.has_edge:
            status.update("No edge is configured: the Telegram alert routes are not available.")
            return
        try:
            entries = [await self.ctx.store.kv_get(k) for k in (*kv_settings.ALERT_ROUTES.values(),
                                                                 kv_settings.ERROR_RATE_ALERT)]
        except Exception as exc:
            status.update(f"Could not read the alert settings from the edge: {redact(str(exc))}")
            return
        for level, entry in zip(kv_settings.ALERT_ROUTES, entries, strict=False):
            self.query_one(f"#set-route-{level}", Input).value = str(entry.value or "")
        rate = entries[-1].value
        self.query_one("#set-error-rate", Input).value = f"{rate:g}" if isinstance(rate, (int, float)) else ""
        status.update("Read from the edge.")

    def apply_alerts(self) -> None:
        status = self.query_one("#set-alert-status", Static)
        if not self.ctx.store.has_edge:
            status.update("No edge is configured: the Telegram alert routes are not available.")
            return
        routes, problems = check_routes({
            key: self.query_one(f"#set-route-{level}", Input).value
            for level, key in kv_settings.ALERT_ROUTES.items()})
        values: dict[str, Any] = dict(routes)
        try:
            values[kv_settings.ERROR_RATE_ALERT] = parse_threshold(self.query_one("#set-error-rate", Input).value)
        except ValueError as exc:
            problems.append(str(exc))
        if problems:  # nothing is written while any field is wrong
            status.update("Not changed: " + "; ".join(problems) + ".")
            return
        self.run_worker(self._write_alerts(values), group="settings-kv", exclusive=True, exit_on_error=False)

    async def _write_alerts(self, values: dict[str, Any]) -> None:
        status = self.query_one("#set-alert-status", Static)
        written: list[str] = []
        for key, value in values.items():
            try:
                await self.ctx.store.kv_put(key, value)
            except Exception as exc:
                done = f" ({', '.join(written)} written)" if written else ""
                status.update(f"Not changed: {key}: {redact(str(exc))}{done}.")
                return
            written.append(key)
        status.update("Alert routes and error threshold written to the edge.")

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
        elif event.button.id == "set-key-apply":
            event.stop()
            self.apply_keys(self.query_one("#set-key-input", Input).value)
        elif event.button.id == "set-key-default":
            event.stop()
            self.apply_keys(None)
        elif event.button.id == "set-alerts-apply":
            event.stop()
            self.apply_alerts()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "set-refresh":
            event.stop()
            self.apply_refresh()
        elif event.input.id == "set-key-input":
            event.stop()
            self.apply_keys(event.value)
        elif event.input.id in ("set-error-rate", *(f"set-route-{lv}" for lv in kv_settings.ALERT_ROUTES)):
            event.stop()
            self.apply_alerts()

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
