"""Running the real `wrangler` (npm) from Python: found, given credentials, streamed line by line.

Where wrangler is: `$HOOX_WRANGLER`, else `node_modules/.bin/wrangler` in the workspace, in the hoox
checkout (the repository's `npm ci`), or a `wrangler` on PATH.

Credentials: CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID from the environment, else the workspace
(`.dev.vars` CLOUDFLARE_API_TOKEN, hoox.toml `[cloudflare] account_id`). They reach wrangler through
its environment; a secret value reaches it on stdin only, never on its command line (which any user
of the machine can read in the process list).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

_REPO = Path(__file__).resolve().parents[2]
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TAIL_LINES = 40


class WranglerNotFound(RuntimeError):
    pass


@dataclass
class WranglerResult:
    returncode: int
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def tail(self, n: int = TAIL_LINES) -> list[str]:
        return self.lines[-n:]

    def error(self) -> str:
        """wrangler's first error line (its `✘ [ERROR] …`), else the last lines it printed."""
        for ln in self.lines:
            if "[ERROR]" in ln:
                return ln.split("[ERROR]", 1)[1].strip()
        return " | ".join(ln.strip() for ln in self.tail(3) if ln.strip()) or f"wrangler exited with {self.returncode}"


def find_wrangler(ws: Workspace | None = None) -> Path:
    override = os.environ.get("HOOX_WRANGLER")
    if override:
        p = Path(override)
        if p.is_file():
            return p
        raise WranglerNotFound(f"HOOX_WRANGLER points to {override}, which is not a file.")
    places = ([ws.root] if ws is not None else []) + [_REPO]
    for base in places:
        p = base / "node_modules" / ".bin" / "wrangler"
        if p.is_file():
            return p
    found = shutil.which("wrangler")
    if found:
        return Path(found)
    raise WranglerNotFound(
        "wrangler is not installed: run `npm ci` in the hoox checkout (package.json pins it), "
        "or `npm install wrangler` in the workspace, or set HOOX_WRANGLER to its path."
    )


def credentials(ws: Workspace | None) -> dict[str, str]:
    """CLOUDFLARE_API_TOKEN / CLOUDFLARE_ACCOUNT_ID / CLOUDFLARE_API_BASE_URL for wrangler and the REST client."""
    out: dict[str, str] = {}
    token = os.environ.get("CLOUDFLARE_API_TOKEN")
    account = os.environ.get("CLOUDFLARE_ACCOUNT_ID")
    if ws is not None and ws.exists:
        if not token and ws.dev_vars_path.exists():
            token = ws.secrets().get("CLOUDFLARE_API_TOKEN")
        if not account:
            cf = ws.config().get("cloudflare", {})
            account = cf.get("account_id") if hasattr(cf, "get") else None
    if token:
        out["CLOUDFLARE_API_TOKEN"] = str(token)
    if account:
        out["CLOUDFLARE_ACCOUNT_ID"] = str(account)
    base = os.environ.get("CLOUDFLARE_API_BASE_URL")
    if base:
        out["CLOUDFLARE_API_BASE_URL"] = base
    return out


def child_env(ws: Workspace | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(credentials(ws))
    env.update({
        "WRANGLER_SEND_METRICS": "false",
        "WRANGLER_HIDE_BANNER": "true",  # no banner, hence no update check over the network
        "NO_COLOR": "1",
        "FORCE_COLOR": "0",
    })
    env.setdefault("CI", "true")  # never an interactive prompt: we cannot answer it
    if extra:
        env.update(extra)
    return env


async def run(
    args: Sequence[str],
    *,
    cwd: Path,
    ws: Workspace | None = None,
    stdin: str | None = None,
    on_line: Callable[[str], None] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> WranglerResult:
    """Run `wrangler ARGS` in `cwd`, streaming stdout+stderr lines to `on_line` as they come."""
    from hoox_cli.core.redact import scrub

    exe = find_wrangler(ws)
    proc = await asyncio.create_subprocess_exec(
        str(exe), *args,
        cwd=str(cwd),
        env=child_env(ws, extra_env),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin.encode("utf-8"))
        await proc.stdin.drain()
        proc.stdin.close()
    lines: list[str] = []
    assert proc.stdout is not None
    while True:
        raw = await proc.stdout.readline()
        if not raw:
            break
        line = scrub(_ANSI.sub("", raw.decode("utf-8", "replace").rstrip("\r\n")))
        lines.append(line)
        if on_line is not None:
            on_line(line)
    rc = await proc.wait()
    return WranglerResult(rc, lines)
