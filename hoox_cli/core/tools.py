"""The machine's tools (python, node, wrangler, git): found, and new enough? Each is run for its version,
except where the version is known without: this Python's own, and an npm-installed wrangler's."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace


@dataclass(frozen=True)
class Tool:
    name: str
    required: bool
    needed_for: str
    minimum: tuple[int, ...]
    fix: str


TOOLS = (
    Tool("python", True, "everything (the CLI, the local edge)", (3, 11),
         "Install Python 3.11 or newer and reinstall hoox with it."),
    Tool("node", False, "wrangler, i.e. deploying to Cloudflare", (20, 3),
         "Install Node.js 20.3 or newer (wrangler 4 needs it)."),
    Tool("wrangler", False, "deploying to Cloudflare", (4, 0),
         "Run `npm ci` in the hoox checkout, or `npm install wrangler` in the workspace "
         "(or set HOOX_WRANGLER to its path)."),
    Tool("git", False, "versioning the workspace", (2, 0), "Install git."),
)


_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


PROBE_TIMEOUT = 30.0


def _tool_path(name: str, ws: Workspace | None) -> str | None:
    if name == "python":
        return sys.executable
    if name == "wrangler":
        from hoox_cli.core.wrangler_cli import WranglerNotFound, find_wrangler

        try:
            return str(find_wrangler(ws))
        except WranglerNotFound:
            return None
    return shutil.which(name)


def _known_version(name: str, path: str) -> str | None:
    """The version without starting the tool, where it is certain: the running Python's, and wrangler's
    from the npm package its bin script belongs to (starting wrangler to ask takes most of a second,
    and `hoox init`, the wizard and `check prerequisites` ask). None: run it."""
    if name == "python" and path == sys.executable:
        return platform.python_version()
    if name == "wrangler":
        script = Path(path).resolve()  # node_modules/.bin/wrangler -> node_modules/wrangler/bin/wrangler.js
        package = script.parent.parent / "package.json"
        try:
            meta = json.loads(package.read_text(encoding="utf-8")) if script.parent.name == "bin" else {}
        except (OSError, ValueError):
            return None
        if isinstance(meta, dict) and meta.get("name") == "wrangler" and isinstance(meta.get("version"), str):
            return meta["version"]
    return None


def probe_tool(tool: Tool, ws: Workspace | None = None) -> dict[str, Any]:
    """The tool's version (run for it unless known), checked; {"name", "ok", "found", "version", ...}."""
    out: dict[str, Any] = {"name": tool.name, "ok": False, "found": False, "version": None,
                           "minimum": ".".join(map(str, tool.minimum)), "path": None, "required": tool.required,
                           "needed_for": tool.needed_for, "error": None, "fix": None}
    path = _tool_path(tool.name, ws)
    if path is None:
        out["error"] = f"{tool.name} was not found"
        out["fix"] = tool.fix
        return out
    out["path"] = path
    text = _known_version(tool.name, path)
    if text is None:
        env = dict(os.environ, WRANGLER_SEND_METRICS="false", NO_COLOR="1")
        try:
            p = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=PROBE_TIMEOUT, env=env,
                               stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            out["error"] = f"`{tool.name} --version` did not run: {exc}"
            out["fix"] = tool.fix
            return out
        if p.returncode != 0:
            out["error"] = f"`{tool.name} --version` failed (exit {p.returncode})"
            out["fix"] = tool.fix
            return out
        text = p.stdout + " " + p.stderr
    m = _VERSION.search(text)
    if m is None:
        out["error"] = f"{tool.name} gave no version number"
        out["fix"] = tool.fix
        return out
    out["found"] = True
    version = tuple(int(g) for g in m.groups() if g is not None)
    out["version"] = ".".join(map(str, version))
    if version < tool.minimum:
        out["error"] = f"{tool.name} {out['version']} is older than {out['minimum']}"
        out["fix"] = tool.fix
        return out
    out["ok"] = True
    return out


def probe_tools(ws: Workspace | None = None) -> list[dict[str, Any]]:
    """Every tool, probed concurrently (wrangler alone takes most of a second to start)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(TOOLS)) as pool:
        return list(pool.map(lambda t: probe_tool(t, ws), TOOLS))
