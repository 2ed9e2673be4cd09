"""Where the desk lives and on which port (issue 13, items 4 and 5).

- The workspace: --workspace DIR / HOOX_WORKSPACE, else the one the current folder is in, else the
  default one in the user's data folder (XDG_DATA_HOME points into tmp for every test: conftest.py).
  A source checkout is never turned into a workspace.
- --port N on `hoox`, `hoox tui`, `hoox init` and `hoox dev start`: validated, and kept in hoox.toml.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import as_json as out
from cli_support import hoox
from hoox_edge import catalog
from hoox_edge.local.workspace import MAX_BASE_PORT, Workspace, default_root
from netutil import free_base_port
from process_support import Edge, edge, wait_for  # noqa: F401  (edge: fixture)

ROOT = Path(__file__).resolve().parents[1]


def _until(condition: Callable[[], object], timeout: float) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def _no_hoox_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOOX_WORKSPACE", "HOOX_API_URL", "HOOX_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)


# ----------------------------------------------------------------------------- item 5: the default workspace
def test_readme_first_command_in_a_fresh_clone_leaves_the_checkout_clean(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's set-up line run in a git clone: the install steps write only ignored files, and `hoox`
    (here with --port, as 8787 may be taken on a test machine) opens the cockpit on an edge it starts in
    the default workspace, and quits; `git status --porcelain` stays empty."""
    _no_hoox_env(monkeypatch)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, capture_output=True, timeout=120)
    # what `pip install -e ".[dev]"` and `npm ci` write in the checkout is ignored by git
    ignored = subprocess.run(["git", "check-ignore", "hoox.egg-info/PKG-INFO", "node_modules/x", ".cache/x"],
                             cwd=clone, capture_output=True, text=True)
    assert ignored.stdout.split() == ["hoox.egg-info/PKG-INFO", "node_modules/x", ".cache/x"]

    default = default_root()
    assert str(default).startswith(os.environ["XDG_DATA_HOME"])  # never the real user data folder
    base = free_base_port()
    cleanup = Edge(default, base)
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = dict(os.environ, TERM="xterm-256color")
    # the installed hoox (-P: not the clone's own copy, which `python -m` run in it would import first)
    proc = subprocess.Popen([sys.executable, "-P", "-m", "hoox_cli", "--port", str(base)], cwd=clone, env=env,
                            stdin=child, stdout=child, stderr=child, start_new_session=True)
    os.close(child)
    screen = bytearray()

    def drain() -> None:  # a full pty would block the cockpit's output
        with contextlib.suppress(OSError):
            while chunk := os.read(main, 65536):
                screen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        ws = Workspace(default)
        started = _until(lambda: ws.runtime_info() is not None or proc.poll() is not None, 60)
        info = ws.runtime_info()
        assert started and info is not None, screen[-3000:].decode(errors="replace")
        assert info["ports"]["hoox"] == base
        # Ctrl+Q asks; y quits (asked again if the key came before the cockpit listened)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            seen = len(screen)
            os.write(main, b"\x11")
            if _until(lambda s=seen: b"Quit (y)" in screen[s:], 5):  # type: ignore[misc]
                os.write(main, b"y")
                _until(lambda: proc.poll() is not None, 15)
        assert proc.wait(timeout=5) == 0, screen[-2000:].decode(errors="replace")
        wait_for("the embedded edge to stop", lambda: ws.runtime_info() is None)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        cleanup.kill_all()
        os.close(main)
    status = subprocess.run(["git", "status", "--porcelain", "--ignored=no"], cwd=clone, capture_output=True,
                            text=True, check=True)
    assert status.stdout == ""
    assert not (clone / "hoox.toml").exists() and not (clone / "kv-manifest.json").exists()
    assert ws.exists and ws.base_port() == base  # the port asked for is the workspace's from now on


def test_outside_a_workspace_commands_use_the_default_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_hoox_env(monkeypatch)
    here = tmp_path / "some-folder"
    here.mkdir()
    monkeypatch.chdir(here)
    r = hoox("config", "show", "--json")
    assert r.exit_code == 1
    err = out(r)["error"]
    assert err["code"] == "NO_WORKSPACE" and str(default_root()) in err["message"] and "--workspace" in err["message"]

    # `hoox init` sets up the default workspace, not the folder it runs in
    r = hoox("init", "--no-input", "--skip-cloudflare", "--workers", "trade-worker", "--skip-secrets", "--json")
    assert r.exit_code == 0, r.output
    assert out(r)["workspace"] == str(default_root())
    assert list(here.iterdir()) == []
    assert out(hoox("config", "show", "dev.port", "--json"))["value"] == catalog.DEFAULT_PORT

    # a folder inside a workspace still finds that workspace
    inner = tmp_path / "desk" / "notes"
    inner.mkdir(parents=True)
    Workspace(tmp_path / "desk").create()
    monkeypatch.chdir(inner)
    assert out(hoox("config", "show", "--json"))["workspace"] == str(tmp_path / "desk")


def test_workspace_option_chooses_the_folder_anywhere_on_the_line(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _no_hoox_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "other"
    Workspace(other).create()
    assert hoox("config", "set", "dev.port", "9400", "--workspace", str(other)).exit_code == 0
    assert Workspace(other).base_port() == 9400
    assert out(hoox("--workspace", str(other), "config", "show", "dev.port", "--json"))["value"] == 9400
    assert out(hoox(f"--workspace={other}", "config", "show", "--json"))["workspace"] == str(other)
    assert "HOOX_WORKSPACE" not in os.environ  # one command's choice, not the next one's

    # the same as HOOX_WORKSPACE, and refused the same way when it is no workspace
    r = hoox("config", "show", "--workspace", str(tmp_path / "none"), "--json")
    assert r.exit_code == 1 and out(r)["error"]["code"] == "NO_WORKSPACE"
    assert "--workspace (or HOOX_WORKSPACE) points to" in out(r)["error"]["message"]
    (tmp_path / "a-file").write_text("x")
    r = hoox("dev", "start", "--workspace", str(tmp_path / "a-file"), "--json")
    assert r.exit_code == 1 and "is a file, not a folder" in out(r)["error"]["message"]
    assert (tmp_path / "a-file").read_text() == "x"
    r = hoox("--workspace", "--json")
    assert r.exit_code == 2 and out(r)["error"]["code"] == "USAGE_ERROR"


# ----------------------------------------------------------------------------- item 4: --port
@pytest.mark.parametrize("bad", ["80", "1023", str(MAX_BASE_PORT + 1), "70000", "port"])
def test_every_port_option_refuses_a_bad_port_and_creates_nothing(bad: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _no_hoox_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    for args in (["dev", "start", "--port", bad, "--json"], ["init", "--port", bad, "--json"],
                 ["tui", "--port", bad], ["--port", bad]):
        r = hoox(*args)
        assert r.exit_code == 2, (args, r.output)
        message = out(r)["error"]["message"] if "--json" in args else r.stderr
        if "--json" in args:
            assert out(r)["error"]["code"] == "USAGE_ERROR"
        assert "--port" in message, args
        if bad.isdigit():
            assert f"between 1024 and {MAX_BASE_PORT}" in " ".join(message.replace("│", " ").split()), args
    assert not default_root().exists() and list(tmp_path.iterdir()) == []


@pytest.mark.heavy
def test_dev_start_keeps_its_port_in_hoox_toml(edge: Edge) -> None:  # noqa: F811
    started = edge.start()  # dev start --detach --port B in a new workspace
    ws = Workspace(edge.root)
    assert started["base_port"] == edge.base_port == ws.base_port()
    assert "# local port of the gateway" in ws.config_path.read_text()  # the comment survives
    edge.json("dev", "stop")
    # started again without --port: on the kept port, and every command finds it there
    again = edge.json("dev", "start", "--detach")
    edge.pids.add(again["pid"])
    assert again["base_port"] == edge.base_port
    assert edge.json("dev", "status")["gateway_url"] == f"http://127.0.0.1:{edge.base_port}"
    # the cockpit asked for another port while the edge runs: refused, nothing changed
    p = edge.run("tui", "--port", str(edge.base_port + 20))
    assert p.returncode == 1 and f"already runs on port {edge.base_port}" in p.stderr
    assert ws.base_port() == edge.base_port
    edge.json("dev", "stop")


def test_a_port_in_use_is_refused_and_not_kept(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOOX_API_URL", raising=False)
    base = free_base_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 1))
        taken.listen(1)
        for args in (["dev", "start", "--detach", "--port", str(base), "--json"], ["tui", "--port", str(base)]):
            r = hoox(*args)
            assert r.exit_code == 1, args
            assert "PORT_IN_USE" in r.stdout or "already in use" in r.stderr, args
            assert ws.base_port() == catalog.DEFAULT_PORT, args


def test_cockpit_port_is_for_the_local_edge_only(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOOX_API_URL", raising=False)
    r = hoox("tui", "--port", "9500", "--remote", "http://127.0.0.1:1")
    assert r.exit_code == 2 and "--port is the local edge's; --remote" in r.stderr
    monkeypatch.setenv("HOOX_API_URL", "http://127.0.0.1:1")
    r = hoox("tui", "--port", "9500")
    assert r.exit_code == 2 and "HOOX_API_URL" in r.stderr
    # before a command --port means nothing: said so, not ignored
    r = hoox("--port", "9500", "monitor", "status", "--json")
    assert r.exit_code == 2 and "dev start --port N" in out(r)["error"]["message"]
    assert ws.base_port() == catalog.DEFAULT_PORT


def test_init_port_is_kept(ws: Workspace) -> None:
    base = free_base_port()
    r = hoox("init", "--no-input", "--skip-cloudflare", "--workers", "trade-worker", "--skip-secrets",
             "--port", str(base), "--json")
    assert r.exit_code == 0, r.output
    assert out(r)["base_port"] == base == ws.base_port()
    assert "[dev]" in ws.config_path.read_text() and f"port = {base}" in ws.config_path.read_text()
