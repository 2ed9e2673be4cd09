"""What every view gets: the store, the client, the workspace and the user's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

    from hoox_cli.client import AsyncHooxClient
    from hoox_tui.settings import UserSettings
    from hoox_tui.store import Store


@dataclass
class CockpitContext:
    store: Store
    client: AsyncHooxClient | None  # None when no edge is configured
    workspace: Workspace | None  # None for --remote without a workspace
    settings: UserSettings
    safe_mode: bool
    local_runtime_started: bool  # the cockpit started the embedded runtime (and stops it on exit)
