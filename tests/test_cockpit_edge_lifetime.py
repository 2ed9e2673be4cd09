"""The edge the cockpit starts lives exactly as long as the cockpit, however the cockpit ends; an
edge it did not start is never touched and is labelled so. Real processes: `hoox tui` in a
pseudo-terminal (100 x 30), its runtime, and signals."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest
from hoox_edge.local.workspace import Workspace
from process_support import Edge, edge, pid_alive, wait_for  # noqa: F401  (edge: the fixture)

from hoox_cli.core import process

ORPHAN_DEADLINE = 5.0  # the bound: the cockpit's edge is gone within 5 s of the cockpit
_ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\x1b\][^\x07]*\x07")


def _default_sighup() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


class Cockpit:
    """`hoox tui` in a pseudo-terminal of 100 x 30; its screen output is read (and kept) as it comes."""

    def __init__(self, e: Edge, tmp: Path) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = dict(e.env, TERM="xterm-256color", XDG_CONFIG_HOME=str(tmp / "config"),
                   XDG_CACHE_HOME=str(tmp / "cache"), XDG_DATA_HOME=str(tmp / "data"))
        # COLUMNS/LINES (set by other tests in this worker) would override the pty's size: the cockpit
        # then drew 80 columns, where the longer runtime label does not fit the status bar
        for name in ("HOOX_API_URL", "HOOX_API_TOKEN", "COLUMNS", "LINES"):
            env.pop(name, None)
        # SIGHUP at its default, as under a terminal: a test run under `nohup` would hand the cockpit
        # an ignored SIGHUP, and a closed terminal would then leave it running (as nohup means to)
        self.proc = subprocess.Popen([sys.executable, "-m", "hoox_cli", "tui"], cwd=e.root, env=env,
                                     stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                                     preexec_fn=_default_sighup)
        os.close(slave)
        self.master = master
        self.output = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:  # drained, so the cockpit never blocks on a full terminal
        with contextlib.suppress(OSError):
            while chunk := os.read(self.master, 65536):
                self.output += chunk

    def text(self) -> str:
        return _ANSI.sub(b"", bytes(self.output)).decode("utf-8", errors="replace")

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)
        self._reader.join(5)
        with contextlib.suppress(OSError):
            os.close(self.master)


def workspace_on(e: Edge) -> Workspace:
    ws = Workspace(e.root)
    ws.create()
    doc = ws.config()
    doc["dev"]["port"] = e.base_port  # type: ignore[index]
    ws.save_config(doc)
    return ws


def serving_pid(ws: Workspace) -> int | None:
    state = process.probe(ws)
    return state.pid if state.running and state.serving else None


def gone(ws: Workspace, pid: int) -> bool:
    return not pid_alive(pid) and not process.probe(ws).running


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP, signal.SIGTERM], ids=lambda s: s.name)
def test_the_edge_the_cockpit_started_stops_when_the_cockpit_dies(edge: Edge, tmp_path: Path,  # noqa: F811
                                                                  sig: signal.Signals) -> None:
    ws = workspace_on(edge)
    cockpit = Cockpit(edge, tmp_path)
    try:
        pid = wait_for("the cockpit's embedded edge serving", lambda: serving_pid(ws), timeout=60)
        edge.pids.add(pid)
        assert pid != cockpit.proc.pid
        wait_for("the status bar saying the edge is the cockpit's",
                 lambda: "embedded runtime, stopped on exit" in cockpit.text())
        os.kill(cockpit.proc.pid, sig)  # SIGHUP: the terminal closed (tmux kill-session sends it)
        cockpit.proc.wait(30)
        start = time.monotonic()
        wait_for(f"the edge (pid {pid}) gone after the cockpit's {sig.name}", lambda: gone(ws, pid),
                 timeout=ORPHAN_DEADLINE)
        assert time.monotonic() - start <= ORPHAN_DEADLINE
        assert not ws.runtime_file.exists()  # it stopped gracefully: nothing left behind
    finally:
        cockpit.close()


def test_an_edge_the_cockpit_did_not_start_is_labelled_so_and_never_touched(edge: Edge,  # noqa: F811
                                                                          tmp_path: Path) -> None:
    workspace_on(edge)
    ws = Workspace(edge.root)
    theirs = edge.start()["pid"]  # `hoox dev start --detach` from another shell
    cockpit = Cockpit(edge, tmp_path)
    try:
        wait_for("the status bar saying the edge is not the cockpit's",
                 lambda: "runtime not this cockpit's: left running" in cockpit.text())
        assert "embedded runtime" not in cockpit.text()
        cockpit.press(b"\x11")  # Ctrl+Q: the quit dialog does not offer to stop somebody else's edge
        wait_for("the quit dialog", lambda: "Quit the hoox cockpit?" in cockpit.text())
        assert "will be stopped" not in cockpit.text()
        cockpit.press(b"y")
        assert cockpit.proc.wait(30) == 0
        assert serving_pid(ws) == theirs and pid_alive(theirs)  # the cockpit is gone; the edge serves on
    finally:
        cockpit.close()


@pytest.mark.heavy
def test_an_edge_restarted_from_another_shell_is_no_longer_the_cockpits(edge: Edge,  # noqa: F811
                                                                         tmp_path: Path) -> None:
    ws = workspace_on(edge)
    cockpit = Cockpit(edge, tmp_path)
    try:
        mine = wait_for("the cockpit's embedded edge serving", lambda: serving_pid(ws), timeout=60)
        edge.pids.add(mine)
        wait_for("the embedded label", lambda: "embedded runtime, stopped on exit" in cockpit.text())
        seen = len(cockpit.output)  # the label changes as soon as the cockpit's edge is gone
        assert edge.json("dev", "stop")["pid"] == mine  # another shell restarts the edge
        theirs = edge.start()["pid"]
        # reconnect now (Ctrl+R), as a user would: at 100 columns the label gives way to the reconnect
        # countdown until the edge answers again, and the backoff may be long by now on a busy machine
        cockpit.press(b"\x12")
        wait_for("the label changing to not-the-cockpit's",
                 lambda: "runtime not this cockpit's: left running"
                 in _ANSI.sub(b"", bytes(cockpit.output[seen:])).decode("utf-8", "replace"))
        cockpit.press(b"\x11")  # Ctrl+Q: it no longer says it will stop the edge, and does not
        wait_for("the quit dialog", lambda: "Quit the hoox cockpit?" in cockpit.text())
        cockpit.press(b"y")
        assert cockpit.proc.wait(30) == 0
        assert "will be stopped" not in cockpit.text()[cockpit.text().rindex("Quit the hoox cockpit?"):]
        assert serving_pid(ws) == theirs and pid_alive(theirs)
    finally:
        cockpit.close()
