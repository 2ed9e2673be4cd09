"""The workspace as the front ends find and prepare it, and where the local edge keeps its state
(the layout of hoox_edge.local's adapters)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoox_cli.core.errors import fail
from hoox_cli.core.redact import remember_secrets

if TYPE_CHECKING:
    from hoox_edge.local.d1 import LocalD1
    from hoox_edge.local.kv import LocalKV
    from hoox_edge.local.workspace import Workspace

FIRST_SIGNAL = "hoox signal send --symbol BTCUSDT --action LONG --quantity 0.01"


def workspace(*, required: bool = True) -> Workspace:
    """The workspace: --workspace / HOOX_WORKSPACE, else the one the current folder is in, else the
    default one in the user's data folder. Its secrets become unprintable."""
    from hoox_edge.local.workspace import Workspace

    ws = Workspace.at()
    if ws.root.exists() and not ws.root.is_dir():
        fail("NO_WORKSPACE", f"The workspace {ws.root} is a file, not a folder: choose a folder with --workspace DIR "
                             "(or HOOX_WORKSPACE).")
    if required and not ws.exists:
        if os.environ.get("HOOX_WORKSPACE"):
            fail("NO_WORKSPACE",
                 f"--workspace (or HOOX_WORKSPACE) points to {ws.root}, which has no hoox.toml. "
                 "Run `hoox dev start` (or `hoox`) with it to create a workspace there, or point it to an "
                 "existing one.")
        fail("NO_WORKSPACE",
             f"No hoox workspace yet: {Path.cwd()} is not in one (no hoox.toml in it or above it), and the default "
             f"workspace {ws.root} has not been created. Run `hoox` or `hoox dev start` to create the default one, "
             "cd into a workspace, or choose one with `--workspace DIR` (or HOOX_WORKSPACE).")
    if ws.dev_vars_path.exists():
        try:
            remember_secrets(ws.secrets().values())
        except Exception as exc:  # a malformed .dev.vars is reported by the command that needs it
            if type(exc).__name__ != "WorkspaceError":
                raise
    return ws


def prepare_workspace(ws: Workspace) -> dict[str, Any]:
    """Create whatever the workspace lacks (config, generated secrets, KV manifest).

    Returns {"workspace", "created", "gateway_url", "first_signal"}; never contains a secret value.
    """
    created = ws.create()
    remember_secrets(ws.secrets().values())
    return {
        "workspace": str(ws.root),
        "created": created,
        "gateway_url": f"http://127.0.0.1:{ws.base_port()}",
        "first_signal": FIRST_SIGNAL,
    }


def open_kv(ws: Workspace) -> LocalKV:
    """The local CONFIG_KV file itself, for what only works on files (a rebuild): everything else goes
    through the edge (hoox_cli.core.edge)."""
    from hoox_edge import catalog
    from hoox_edge.local.kv import LocalKV

    return LocalKV(ws.kv_file(catalog.CONFIG_KV))


def open_db(ws: Workspace, *, readonly: bool = False) -> LocalD1:
    """The local ledger file itself, for what only works on files (migrations, writes, export, reset, a
    rebuild): reads go through the edge (hoox_cli.core.edge)."""
    from hoox_edge import catalog
    from hoox_edge.local.d1 import LocalD1

    return LocalD1(ws.d1_file(catalog.TRADE_DB), readonly=readonly)
