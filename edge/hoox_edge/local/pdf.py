"""The local runtime's PDF renderer: headless Chromium (`--headless --print-to-pdf`), found on PATH.

Looked for at each render (chromium, chromium-browser, google-chrome, google-chrome-stable), so
installing it needs no restart. It runs with a throw-away profile in a temporary folder, on a page
whose Content-Security-Policy forbids every fetch; as root (containers, CI) it needs --no-sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from hoox_edge.reports.pdf import RendererUnavailable

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = ("no headless Chromium on this machine's PATH, so the report is HTML only; install one to get "
                "PDFs (Debian/Ubuntu: `sudo apt-get install chromium`; macOS: `brew install --cask chromium`)")
TIMEOUT_S = 90.0


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class ChromiumPdf:
    name = "chromium"

    def __init__(self, timeout: float = TIMEOUT_S) -> None:
        self.timeout = timeout

    async def render(self, html: str) -> bytes:
        exe = find_chromium()
        if exe is None:
            raise RendererUnavailable(INSTALL_HINT)
        with tempfile.TemporaryDirectory(prefix="hoox-pdf-") as tmp:
            page, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
            page.write_text(html, encoding="utf-8")
            args = [exe, "--headless", "--disable-gpu", "--no-first-run", "--disable-extensions",
                    "--disable-background-networking", "--no-pdf-header-footer",
                    f"--user-data-dir={Path(tmp) / 'profile'}", f"--print-to-pdf={out}"]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
            proc = await asyncio.create_subprocess_exec(*args, page.as_uri(), stdin=asyncio.subprocess.DEVNULL,
                                                        stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.PIPE)
            try:
                _, err = await asyncio.wait_for(proc.communicate(), self.timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
                raise RuntimeError(f"Chromium did not finish within {self.timeout:g} s") from None
            if proc.returncode != 0 or not out.exists() or out.stat().st_size == 0:
                last = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()][-1:]
                raise RuntimeError(f"Chromium exited with {proc.returncode} and wrote no PDF"
                                   + (f": {last[0][:200]}" if last else ""))
            return out.read_bytes()
