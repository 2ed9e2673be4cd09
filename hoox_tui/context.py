"""What every view gets: the store (its data, and its actions on the edge), the workspace and the
user's settings. No client: views and the app reach the edge only through the store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

    from hoox_cli.core.process import LocalRuntime
    from hoox_tui.settings import UserSettings
    from hoox_tui.store import Store


def open_in_viewer(url: str) -> bool:
    """Ask the system to show a file (a downloaded report); False when nothing could."""
    import webbrowser  # only when a report is opened

    return webbrowser.open(url)


def public_url(ws: Workspace | None, worker: str) -> str | None:
    """Where the internet reaches `worker` (hoox_cli.core.domains.public_url: its custom domain, else its
    workers.dev URL), or None: not public, no workspace, or nothing known yet."""
    if ws is None or not ws.exists:
        return None
    from hoox_cli.core.domains import public_url as of

    try:
        return of(ws, worker)
    except Exception:  # a hoox.toml being edited: a card or a table cell is no place for its error
        return None


def url_label(ws: Workspace | None, worker: str, public: bool) -> str:
    """What a worker's URL cell says: its public URL, or why there is none."""
    if not public:
        return "internal: no URL"
    return public_url(ws, worker) or ("public, URL not known yet" if ws is not None else "public")


@dataclass
class CockpitContext:
    store: Store
    workspace: Workspace | None  # None for --remote without a workspace
    settings: UserSettings
    safe_mode: bool
    local_runtime_started: bool  # the cockpit started the embedded runtime (and stops it on exit)
    local_runtime: LocalRuntime | None = None  # the workspace's local edge, once found or started
    open_url: Callable[[str], bool] = open_in_viewer  # tests put a recorder here

    def owns_runtime(self) -> bool:
        """The edge serving now is the one this cockpit started (and stops on exit): asked of the
        process itself, so a runtime restarted from another shell is not taken for it."""
        if self.local_runtime is not None:
            return self.local_runtime.owns()
        return self.local_runtime_started

    def runtime_label(self) -> str | None:
        """Whose local edge this is, for the status bar (None for a remote edge)."""
        if self.owns_runtime():
            return "embedded runtime, stopped on exit"
        if self.local_runtime is not None:
            return "runtime not this cockpit's: left running"
        return None
