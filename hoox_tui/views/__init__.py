"""The cockpit's nine views: the one registry the sidebar, the app's bindings and palette, and the
lazy loading of each view's module read (a view module is imported only when its view is shown)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ViewSpec:
    id: str  # the view's mode name and View.view_id
    title: str
    key: str  # F1..F9 reach every terminal
    alias: str  # Ctrl+1..9 arrive only through the extended-key protocols
    module: str  # imported on first show
    cls: str  # the View subclass in `module`

    @property
    def label(self) -> str:
        """The key as the sidebar and the palette name it."""
        return self.key.upper()


VIEWS: tuple[ViewSpec, ...] = tuple(
    ViewSpec(vid, title, f"f{i}", f"ctrl+{i}", f"hoox_tui.views.{module}", cls)
    for i, (vid, title, module, cls) in enumerate([
        ("dashboard", "Dashboard", "dashboard", "DashboardView"),
        ("workers", "Workers", "workers", "WorkersView"),
        ("worker-detail", "Worker detail", "worker_detail", "WorkerDetailView"),
        ("trades", "Trade monitor", "trades", "TradesView"),
        ("logs", "Logs", "logs", "LogsView"),
        ("services", "Service manager", "services", "ServicesView"),
        ("config", "Config editor", "config_editor", "ConfigEditorView"),
        ("setup", "Setup wizard", "setup", "SetupView"),
        ("settings", "Settings", "settings_view", "SettingsView"),
    ], 1)
)
# Views beyond the nine of the sidebar: reachable by their key and the palette (F10 does not reach
# every terminal, so each has a plain letter too).
EXTRA_VIEWS: tuple[ViewSpec, ...] = (
    ViewSpec("analytics", "Analytics", "f10", "A", "hoox_tui.views.analytics", "AnalyticsView"),
)
ALL_VIEWS: tuple[ViewSpec, ...] = VIEWS + EXTRA_VIEWS
VIEW_IDS: tuple[str, ...] = tuple(v.id for v in VIEWS)
BY_ID: dict[str, ViewSpec] = {v.id: v for v in ALL_VIEWS}
