"""Global behaviour (--help on every group, --version, --quiet, completion, JSON errors) and
`hoox logs download`, `hoox test`."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from cli_support import as_json as out
from cli_support import hoox
from hoox_edge import catalog
from hoox_edge.local.workspace import Workspace

from hoox_cli.main import OWN_SHORT_Q, app


def groups() -> list[list[str]]:
    """Every command group of the tree, found by walking it (so a new group is covered too)."""
    root = typer.main.get_command(app)
    found: list[list[str]] = []

    def walk(cmd, path: list[str]) -> None:
        for name, sub in getattr(cmd, "commands", {}).items():
            if hasattr(sub, "commands"):
                found.append([*path, name])
                walk(sub, [*path, name])
    walk(root, [])
    return found


def test_every_group_has_help_and_lists_its_commands() -> None:
    gs = groups()
    for needed in (["repair"], ["config", "env"], ["check"], ["db"], ["logs"], ["monitor"]):
        assert needed in gs
    for g in gs:
        r = hoox(*g, "--help")
        assert r.exit_code == 0, g
        assert "Usage" in r.stdout and "Commands" in r.stdout, g
    for cmd in (["init"], ["clone"], ["test"], ["repair", "rebuild"], ["logs", "download"], ["db", "export"]):
        assert hoox(*cmd, "--help").exit_code == 0, cmd
    r = hoox("--version")
    assert r.exit_code == 0 and r.stdout.startswith("hoox ")


def test_quiet_silences_output_anywhere_on_the_line_but_not_errors(ws: Workspace) -> None:
    r = hoox("db", "apply")
    assert r.exit_code == 0 and "Applied" in r.stdout
    assert hoox("db", "reset", "--confirm").exit_code == 0
    r = hoox("--quiet", "db", "reset", "--confirm")
    assert r.exit_code == 0 and r.stdout == ""
    r = hoox("config", "set", "dev.port", "9300", "--quiet")
    assert r.exit_code == 0 and r.stdout == "" and ws.base_port() == 9300
    r = hoox("config", "set", "dev.port", "12", "-q")
    assert r.exit_code == 1 and "1024" in r.stderr
    # the switch does not stick to the next command of the same process
    assert "dev.port" in hoox("config", "show", "dev.port").stdout
    # --json output is not a banner: --quiet leaves it alone
    assert out(hoox("config", "show", "dev.port", "--json", "--quiet"))["value"] == 9300


def test_a_command_with_its_own_short_q_keeps_it(ws: Workspace) -> None:
    # every command that defines -q itself is one the global --quiet leaves -q to
    root = typer.main.get_command(app)
    own: set[tuple[str, ...]] = set()

    def walk(cmd, path: tuple[str, ...]) -> None:
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, (*path, name))
        if not hasattr(cmd, "commands") and any("-q" in p.opts for p in cmd.params):
            own.add(path)
    walk(root, ())
    assert own == OWN_SHORT_Q
    # `signal send -q 0.01` is the quantity (the edge is down: the error names the order it did not send)
    r = hoox("signal", "send", "-s", "BTCUSDT", "-a", "LONG", "-q", "0.25", "--url", "http://127.0.0.1:9", "--json")
    assert "unexpected extra argument" not in r.output and out(r)["error"]["code"] != "USAGE_ERROR"
    r = hoox("-q", "signal", "send", "-s", "BTCUSDT", "-a", "LONG", "-q", "abc")
    assert r.exit_code == 2 and "abc" in r.output  # the quantity was read as one, and refused as such


def test_new_commands_answer_errors_as_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOX_WORKSPACE", str(tmp_path / "none"))
    for cmd in (["db", "export"], ["db", "reset", "--confirm"], ["db", "import", "x.sql"], ["monitor", "backup"],
                ["repair", "check"], ["repair", "kv"], ["check", "setup"], ["config", "show"],
                ["config", "env", "show"], ["config", "kv", "apply-manifest"],
                ["logs", "download", "-o", str(tmp_path / "l")]):
        r = hoox(*cmd, "--json")
        assert r.exit_code != 0, cmd
        assert set(out(r)) == {"error"} and out(r)["error"]["code"] == "NO_WORKSPACE", cmd
    r = hoox("logs", "download", "--json")  # -o missing
    assert r.exit_code == 2 and out(r)["error"]["code"] == "USAGE_ERROR"


def test_shell_completion_is_installed_and_completes_commands(tmp_path: Path) -> None:
    env = dict(os.environ, SHELL="/bin/bash", HOME=str(tmp_path))
    code = "from hoox_cli.main import app; app(prog_name='hoox')"
    # the bash script `--show-completion` prints (asked for by name: --show-completion itself detects the
    # shell from the process tree, which under a test runner need not hold one)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(env, _HOOX_COMPLETE="source_bash"))
    assert p.returncode == 0, p.stderr
    assert "complete" in p.stdout and "COMP_WORDS" in p.stdout
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(env, _HOOX_COMPLETE="complete_bash", COMP_WORDS="hoox repa", COMP_CWORD="1"))
    assert p.stdout.split() == ["repair"]
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(env, _HOOX_COMPLETE="complete_bash", COMP_WORDS="hoox rep", COMP_CWORD="1"))
    assert sorted(p.stdout.split()) == ["repair", "report"]
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(env, _HOOX_COMPLETE="complete_bash", COMP_WORDS="hoox config env ", COMP_CWORD="3"))
    assert set(p.stdout.split()) == {"show", "validate", "generate-dev-vars", "init"}


def test_setup_commands_do_not_import_textual(ws: Workspace) -> None:
    env = dict(os.environ, HOOX_WORKSPACE=str(ws.root))
    for args in (["check", "setup", "--json"], ["config", "env", "show", "--json"], ["init", "--help"]):
        p = subprocess.run([sys.executable, "-X", "importtime", "-m", "hoox_cli", *args], env=env,
                           capture_output=True, text=True, timeout=60)
        mods = {ln.split("|")[-1].strip().split(".")[0] for ln in p.stderr.splitlines() if "|" in ln}
        assert "textual" not in mods and "hoox_tui" not in mods, args


# ----------------------------------------------------------------------------- logs download
def write_logs(ws: Workspace) -> None:
    assert hoox("db", "apply").exit_code == 0
    conn = sqlite3.connect(ws.d1_file(catalog.TRADE_DB))
    rows = [("2026-01-05T10:00:00.000Z", "info", "hoox", "r1", "early", None),
            ("2026-01-05T11:00:00.000Z", "error", "trade-worker", "r2", "order failed", '{"code": 502}'),
            ("2026-01-05T11:30:00.000Z", "debug", "trade-worker", None, "noise", None),
            ("2026-01-05T11:59:59.999Z", "warning", "hoox", "r3", "slow", "not json"),
            ("2026-01-05T12:00:00.000Z", "critical", "hoox", None, "at the end: excluded", None)]
    conn.executemany("INSERT INTO system_logs (created_at, level, worker, request_id, message, details) "
                     "VALUES (?,?,?,?,?,?)", rows)
    conn.commit()
    conn.close()


def test_logs_download_a_time_range_as_json_lines_and_text(ws: Workspace, tmp_path: Path, clock) -> None:
    write_logs(ws)
    target = tmp_path / "out" / "logs.jsonl"
    r = hoox("logs", "download", "--since", "2026-01-05T10:30:00Z", "--until", "2026-01-05T12:00:00Z",
             "-o", str(target), "--json")
    assert r.exit_code == 0, r.output
    res = out(r)
    assert res["lines"] == 3 and res["source"] == "local ledger"
    lines = [json.loads(ln) for ln in target.read_text().splitlines()]
    assert [ln["message"] for ln in lines] == ["order failed", "noise", "slow"]
    assert lines[0] == {"id": 2, "createdAt": "2026-01-05T11:00:00.000Z", "level": "error", "worker": "trade-worker",
                        "requestId": "r2", "message": "order failed", "details": {"code": 502}}
    assert lines[2]["details"] == {"raw": "not json"}  # as the operator API shows details that are not JSON

    # ages are measured from now (the test clock: 2026-01-05 12:00 UTC); filters by worker and lowest level
    text = tmp_path / "t.log"
    r = hoox("logs", "download", "--since", "2h", "--level", "warning", "--worker", "hoox", "-o", str(text),
             "--format", "text")
    assert r.exit_code == 0, r.output
    assert text.read_text().splitlines() == ['2026-01-05T11:59:59.999Z WARNING  hoox [r3]: slow {"raw": "not json"}']
    r = hoox("logs", "download", "--since", "yesterday", "-o", str(text), "--json")
    assert r.exit_code == 2 and "ISO" in out(r)["error"]["message"]


# ----------------------------------------------------------------------------- hoox test
def tiny_project(root: Path, *, failing: bool) -> Path:
    """A project pip can build offline: its build backend is a file of the project."""
    root.mkdir()
    (root / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = []
        build-backend = "backend"
        backend-path = ["."]

        [project]
        name = "tiny"
        version = "0.1"
    """))
    (root / "backend.py").write_text(textwrap.dedent('''
        import zipfile


        def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
            name = "tiny-0.1-py3-none-any.whl"
            with zipfile.ZipFile(f"{wheel_directory}/{name}", "w") as z:
                z.writestr("tiny.py", "")
                z.writestr("tiny-0.1.dist-info/METADATA", "Metadata-Version: 2.1\\nName: tiny\\nVersion: 0.1\\n")
                z.writestr("tiny-0.1.dist-info/WHEEL",
                           "Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
                z.writestr("tiny-0.1.dist-info/RECORD", "")
            return name
    '''))
    (root / "test_tiny.py").write_text("def test_it():\n    assert " + ("1 == 2" if failing else "True") + "\n")
    return root


@pytest.mark.heavy
def test_hoox_test_runs_each_step_and_fails_on_a_failing_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # one mypy cache for the three projects: the standard library's stubs are checked once, not three times
    monkeypatch.setenv("MYPY_CACHE_DIR", str(tmp_path / "mypy-cache"))
    good = tiny_project(tmp_path / "good", failing=False)
    r = hoox("test", "--path", str(good), "--json")
    assert r.exit_code == 0, r.output
    st = {s["name"]: s for s in out(r)["steps"]}
    assert list(st) == ["lint", "typecheck", "tests", "build"]
    assert st["lint"]["status"] == "passed" and st["tests"]["status"] == "passed"
    assert st["build"]["status"] == "passed" and st["typecheck"]["status"] == "passed"  # mypy: a dev extra

    bad = tiny_project(tmp_path / "bad", failing=True)
    (bad / "extra.py").write_text("import os\n")  # an unused import: ruff fails it
    r = hoox("test", "--path", str(bad), "--skip", "build")
    assert r.exit_code == 1
    assert "FAILED lint" in r.stdout and "FAILED tests" in r.stdout and "Failed: lint, tests" in r.stdout
    r = hoox("test", "--path", str(bad), "--skip", "lint", "--skip", "tests", "--skip", "build")
    assert r.exit_code == 0 and "All steps passed" not in r.stdout
    assert "Passed: typecheck. Skipped on request: lint, tests, build." in " ".join(r.stdout.split())
    r = hoox("test", "--skip", "nope", "--json")
    assert r.exit_code == 2


def test_a_step_whose_tool_is_missing_is_not_a_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hoox_cli.commands import test as test_cmd

    real = test_cmd._has_module
    monkeypatch.setattr(test_cmd, "_has_module", lambda name: name != "mypy" and real(name))
    good = tiny_project(tmp_path / "good", failing=False)
    r = hoox("test", "--path", str(good), "--skip", "build", "--skip", "tests")
    assert r.exit_code == 1
    text = " ".join(r.stdout.split())
    assert "All steps passed" not in text and "Not run, the tool is not installed" in text and "typecheck" in text
    r = hoox("test", "--path", str(good), "--skip", "build", "--skip", "tests", "--json")
    assert r.exit_code == 1 and out(r)["ok"] is False
    assert {s["name"]: s["status"] for s in out(r)["steps"]}["typecheck"] == "not installed"


def test_every_commands_summary_is_one_line_and_typos_suggest_only_close_commands() -> None:
    import click
    import typer

    from hoox_cli.main import app

    def summaries(group: click.Group, path: str) -> Iterator[tuple[str, str]]:
        for name in group.list_commands(click.Context(group)):
            cmd = group.get_command(click.Context(group), name)
            assert cmd is not None
            yield f"{path} {name}", (cmd.help or "").strip().split("\n\n")[0]
            if isinstance(cmd, click.Group):
                yield from summaries(cmd, f"{path} {name}")

    # --help lists the first paragraph with its line breaks: a broken line reads as a cut sentence
    broken = [cmd for cmd, first in summaries(typer.main.get_command(app), "hoox") if "\n" in first]
    assert not broken
    r = hoox("monitr")
    assert "Did you mean 'monitor'?" in r.output and "'init'" not in r.output


def _render(renderable: Any, width: int) -> str:
    from rich.console import Console

    c = Console(width=width, record=True, highlight=False)
    c.print(renderable)
    return c.export_text()


def test_a_wide_table_drops_optional_columns_then_goes_vertical_never_cutting_a_cell(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from hoox_cli import output

    columns = ["time (UTC)", "symbol", "action", "qty", "price", "fee", "pnl", "status", "request"]
    rows = [["12-05 18:40:04", "BTCUSDT", "LONG", "0.013", "60012.5", "0.4291", "-0.758",
             "Rejected INSUFFICIENT_BALANCE", "0b65699a"]]
    for width, hidden in ((200, []), (80, ["request", "fee", "time (UTC)"])):
        monkeypatch.setattr(output, "_console", Console(width=width))
        text = _render(output.compact_table(columns, rows, optional=("request", "fee", "time (UTC)")), width)
        assert "…" not in text
        for c, v in zip(columns, rows[0], strict=True):
            assert (c in hidden) == (v not in text), (width, c)
        assert ("not shown at 80 columns: request, fee, time (UTC)" in " ".join(text.split())) == bool(hidden)
    monkeypatch.setattr(output, "_console", Console(width=30))
    text = _render(output.compact_table(columns, rows, optional=("request",)), 30)
    flat = " ".join(text.split())  # a long value wraps onto the next line there
    assert "status: Rejected INSUFFICIENT_BALANCE" in flat and "request: 0b65699a" in flat  # a block per row


def test_config_kv_list_keeps_whole_keys_at_80_columns(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from hoox_cli import output

    assert hoox("config", "kv", "set", "webhooks:rate_limit_per_minute", "20").exit_code == 0
    assert hoox("config", "kv", "set", "exchanges:paper:instruments",
                '{"BTCUSDT": {"price": 60000.0, "qtyStep": 0.001, "minQty": 0.001, "minNotional": 5.0, '
                '"tickSize": 0.1}}').exit_code == 0
    monkeypatch.setattr(output, "_console", None)  # a console of the width COLUMNS gives
    r = hoox("config", "kv", "list", env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert "…" not in r.output
    assert "webhooks:rate_limit_per_minute" in r.output and "exchanges:paper:instruments" in r.output
    assert max(len(line) for line in r.output.splitlines()) <= 80
