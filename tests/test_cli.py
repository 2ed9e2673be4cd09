"""The `hoox` CLI against a workspace in a temp folder (in-process, through Typer's CliRunner).

Processes (dev start --detach, stop, crash recovery) are in test_dev_process.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import as_json, hoox
from hoox_edge import catalog
from hoox_edge.local.kv import LocalKV
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import GENERATED_SECRETS, Workspace
from netutil import free_port

from hoox_cli.commands.dev import welcome_lines
from hoox_cli.core import process
from hoox_cli.core.workspace import prepare_workspace


# ----------------------------------------------------------------------------- workspace creation
def test_first_start_creates_the_workspace_and_says_what_without_secrets(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "fresh")
    info = prepare_workspace(ws)

    assert sorted(info["created"]) == [".dev.vars", "hoox.toml", "kv-manifest.json"]
    secrets = ws.secrets()
    assert all(secrets.get(n) for n in GENERATED_SECRETS)
    assert ".dev.vars" in (ws.root / ".gitignore").read_text()
    text = "\n".join(welcome_lines(info)) + json.dumps(info)
    assert str(ws.root) in text and "hoox.toml" in text and "WEBHOOK_API_KEY" in text
    assert info["gateway_url"] == "http://127.0.0.1:8787"
    assert info["first_signal"].startswith("hoox signal send")
    for value in secrets.values():
        assert value not in text
    # a second start creates nothing and keeps the secrets
    assert prepare_workspace(ws)["created"] == []
    assert ws.secrets() == secrets


def test_commands_outside_a_workspace_say_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOX_WORKSPACE", str(tmp_path))
    r = hoox("config", "kv", "get", "trade:mode", "--json")
    assert r.exit_code != 0
    assert as_json(r)["error"]["code"] == "NO_WORKSPACE"
    r = hoox("db", "list")
    assert r.exit_code != 0 and "hoox dev start" in r.stderr
    assert not (tmp_path / "hoox.toml").exists()


# ----------------------------------------------------------------------------- global
def test_version_help_and_json_usage_errors() -> None:
    r = hoox("--version")
    assert r.exit_code == 0 and r.stdout.startswith("hoox ")
    for group in ([], ["dev"], ["secrets"], ["db"], ["config"], ["config", "kv"], ["signal"]):
        r = hoox(*group, "--help")
        assert r.exit_code == 0, group
        assert "Usage" in r.stdout
    r = hoox("signal", "send", "--json")  # --symbol and --action missing
    assert r.exit_code == 2
    err = as_json(r)["error"]
    assert err["code"] == "USAGE_ERROR" and "--symbol" in err["message"]


def test_cli_paths_do_not_import_textual_and_help_imports_no_edge(ws: Workspace) -> None:
    env = dict(os.environ, HOOX_WORKSPACE=str(ws.root))

    def imported(*args: str) -> set[str]:
        p = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "hoox_cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode == 0, p.stdout + p.stderr
        return {line.split("|")[-1].strip() for line in p.stderr.splitlines() if "|" in line}

    def packages(mods: set[str]) -> set[str]:
        return {m.split(".")[0] for m in mods}

    # a KV read on a stopped local edge (hoox_cli.quick): the edge's own code on the SQLite file, with no
    # typer, no event loop, no HTTP or server stack
    mods = imported("config", "kv", "get", "trade:mode", "--json")
    assert not {"textual", "hoox_tui", "typer", "rich", "asyncio", "httpx", "pydantic", "uvicorn",
                "starlette"} & packages(mods)
    assert not {m for m in mods if m.startswith("hoox_cli.commands")}
    # through typer, only the group used is imported (and built): not the other command modules
    mods = imported("config", "kv", "list", "--json")
    others = {"hoox_cli.commands.db", "hoox_cli.commands.deploy", "hoox_cli.commands.monitor"}
    assert "hoox_cli.commands.config" in mods and not others & mods
    assert not {"textual", "hoox_tui", "httpx", "pydantic", "uvicorn", "starlette"} & packages(mods)
    mods = imported("--help")
    assert not {"textual", "hoox_edge", "httpx", "uvicorn", "starlette", "typer", "rich"} & packages(mods)


@pytest.mark.parametrize("args", [
    ["trade:mode"], ["trade:mode", "--json"],  # a default
    ["webhooks:rate_limit_per_minute", "--json"],  # set below
    ["trade:mod"], ["trade:mod", "--json"],  # not a setting: the error and its exit code
    ["trade:kill_switch"], ["trade:kill_switch", "--json"],  # a stored value the manifest refuses
    [""], ["k" * 600, "--json"],  # not a KV key at all
])
def test_kv_get_without_typer_answers_as_the_typer_command(ws: Workspace, args: list[str]) -> None:
    """`hoox config kv get` runs without typer (hoox_cli.quick): it must print, on stdout and stderr, and
    exit with what the Typer command does."""
    env = dict(os.environ, HOOX_WORKSPACE=str(ws.root), COLUMNS="200")
    assert hoox("config", "kv", "set", "webhooks:rate_limit_per_minute", "25", env=env).exit_code == 0
    kv = LocalKV(ws.kv_file(catalog.CONFIG_KV))
    try:
        asyncio.run(kv.put("trade:kill_switch", "maybe"))  # not a boolean: written around the checks
    finally:
        kv.close()
    quick = subprocess.run([sys.executable, "-m", "hoox_cli", "config", "kv", "get", *args], env=env,
                           capture_output=True, text=True, timeout=60)
    typed = hoox("config", "kv", "get", *args, env=env)
    assert (quick.returncode, quick.stdout, quick.stderr) == (typed.exit_code, typed.stdout, typed.stderr)
    assert quick.stdout or quick.stderr
    if args[0] in ("", "k" * 600):  # said as what it is, not as an internal error
        assert quick.returncode == 1
        if "--json" in args:
            assert json.loads(quick.stdout)["error"]["code"] == "VALIDATION_ERROR"
        else:
            assert "key: a key must not be empty." in quick.stderr


def test_the_root_help_printed_ahead_is_the_typer_apps() -> None:
    """`hoox --help` prints hoox_cli/root_help.py (no typer at start-up): it must be what the app says."""
    from hoox_cli import root_help
    from hoox_cli.main import LAZY_COMMANDS, render_root_help

    assert render_root_help() == root_help.TEXT, (
        "hoox_cli/root_help.py is stale: run `python -m hoox_cli.main --write-root-help`")
    p = subprocess.run([sys.executable, "-m", "hoox_cli", "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout == root_help.TEXT
    assert {"tui", *LAZY_COMMANDS} <= set(p.stdout.split())  # every command is listed


@pytest.mark.parametrize("markup", [
    "plain text", "[bold]bold[/bold] and [dim](dim)[/dim]", "a \\[b] escaped", "two \\\\[bold]x[/bold]",
    "key = [1, 2]", "trade:mode = paper", "webhook:tradingview:ip_check = true  :smile: :thumbs_up-text:",
    "[green]✓[/green] webhooks:rate_limit_per_minute = 20", "ends with \\", "[link=https://x.dev]x[/link]",
])
def test_plain_output_is_what_rich_prints_to_a_pipe(markup: str) -> None:
    import io

    from rich.console import Console

    from hoox_cli.output import _plain_line, esc

    buf = io.StringIO()
    Console(file=buf, highlight=False, soft_wrap=True, force_terminal=False).print(markup)
    assert _plain_line(markup) + "\n" == buf.getvalue()
    from rich.markup import escape

    assert esc(markup) == escape(markup)


# ----------------------------------------------------------------------------- secrets
def test_secrets_set_never_echoes_the_value(ws: Workspace) -> None:
    value = "bybit-key-123456789"
    r = hoox("secrets", "set", "BYBIT_API_KEY", value, "--json")
    assert r.exit_code == 0, r.output
    out = as_json(r)
    assert out["name"] == "BYBIT_API_KEY" and out["workers"] == ["trade-worker", "agent-worker"]
    assert out["replaced"] is False
    assert value not in r.output
    assert ws.secrets()["BYBIT_API_KEY"] == value

    # from stdin (no shell history), replacing the old value; human output
    r = hoox("secrets", "set", "BYBIT_API_KEY", input="second-value-987654\n")
    assert r.exit_code == 0, r.output
    assert "Replaced" in r.stdout and "second-value-987654" not in r.output
    assert ws.secrets()["BYBIT_API_KEY"] == "second-value-987654"


def test_secrets_set_refuses_a_name_no_worker_reads_unless_forced(ws: Workspace) -> None:
    r = hoox("secrets", "set", "BYBIT_APIKEY", "abcdefgh", "--json")
    assert r.exit_code != 0
    err = as_json(r)["error"]
    assert (
        err["code"] == "UNKNOWN_SECRET" and "--force" in err["message"] and "BYBIT_API_KEY" in err["message"]
    )
    assert "BYBIT_APIKEY" not in ws.secrets()

    r = hoox("secrets", "set", "MY_OWN_TOKEN", "abcdefgh", "--force")
    assert r.exit_code == 0
    assert "no worker declares MY_OWN_TOKEN" in r.stderr
    assert ws.secrets()["MY_OWN_TOKEN"] == "abcdefgh"

    r = hoox("secrets", "set", "lower_case", "abcdefgh", "--force", "--json")
    assert r.exit_code != 0 and as_json(r)["error"]["code"] == "WORKSPACE_ERROR"
    r = hoox("secrets", "set", "TELEGRAM_BOT_TOKEN", "", "--json")
    assert r.exit_code != 0 and as_json(r)["error"]["code"] == "EMPTY_VALUE"


async def test_a_secret_set_after_start_reaches_the_running_runtime(ws: Workspace) -> None:
    rt = LocalRuntime(ws)
    await rt.open()
    try:
        assert rt.env("telegram-worker").get("TELEGRAM_BOT_TOKEN") is None
        r = hoox("secrets", "set", "TELEGRAM_BOT_TOKEN", "123:tok-abcdef")
        assert r.exit_code == 0, r.output
        assert rt.env("telegram-worker").get("TELEGRAM_BOT_TOKEN") == "123:tok-abcdef"
    finally:
        await rt.stop()


# ----------------------------------------------------------------------------- config kv
def test_kv_set_get_list_delete_with_types(ws: Workspace) -> None:
    r = hoox("config", "kv", "get", "trade:kill_switch", "--json")
    assert r.exit_code == 0
    assert as_json(r) | {"description": None} == {
        "key": "trade:kill_switch",
        "value": False,
        "raw": None,
        "source": "default",
        "type": "boolean",
        "description": None,
        "edge": {"url": None, "local": True, "running": False},  # no edge runs: its state, by the edge's code
    }
    assert "(default" in hoox("config", "kv", "get", "trade:kill_switch").stdout

    r = hoox("config", "kv", "set", "trade:kill_switch", "true", "--json")
    assert r.exit_code == 0, r.output
    assert as_json(r)["value"] is True and as_json(r)["raw"] == "true"
    got = as_json(hoox("config", "kv", "get", "trade:kill_switch", "--json"))
    assert got["value"] is True and got["source"] == "kv"

    r = hoox("config", "kv", "set", "webhooks:retry_schedule_seconds", "1,2,3", "--json")
    assert as_json(r)["value"] == [1, 2, 3]
    r = hoox("config", "kv", "set", "exchanges:paper:price:BTCUSDT", "65000", "--json")
    assert as_json(r)["value"] == 65000.0

    keys = as_json(hoox("config", "kv", "list", "--prefix", "webhooks:", "--json"))["keys"]
    assert [k["key"] for k in keys] == ["webhooks:retry_schedule_seconds"]
    assert keys[0]["value"] == [1, 2, 3] and keys[0]["type"] == "seconds_list"

    r = hoox("config", "kv", "delete", "trade:kill_switch", "--json")
    assert as_json(r) == {"key": "trade:kill_switch", "deleted": True, "default": False,
                          "edge": {"url": None, "local": True, "running": False}}
    assert as_json(hoox("config", "kv", "get", "trade:kill_switch", "--json"))["source"] == "default"
    assert as_json(hoox("config", "kv", "delete", "trade:kill_switch", "--json"))["deleted"] is False


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("webhooks:rate_limit_per_minute", "ten", "an integer"),
        ("webhooks:rate_limit_per_minute", "0", "at least 1"),
        ("trade:kill_switch", "maybe", "boolean"),
        ("webhooks:queue_mode", "sometimes", "direct_only"),
        ("webhooks:retry_schedule_seconds", "1,x", "comma-separated"),
    ],
)
def test_kv_set_refuses_a_badly_typed_value_and_writes_nothing(
    ws: Workspace, key: str, value: str, expected: str
) -> None:
    before = as_json(hoox("config", "kv", "get", key, "--json"))
    r = hoox("config", "kv", "set", key, value, "--json")
    assert r.exit_code != 0
    err = as_json(r)["error"]
    assert err["code"] == "INVALID_VALUE" and key in err["message"] and expected in err["message"]
    assert as_json(hoox("config", "kv", "get", key, "--json")) == before


def test_kv_set_refuses_unknown_keys_unless_forced(ws: Workspace) -> None:
    r = hoox("config", "kv", "set", "trade:killswitch", "true", "--json")
    assert r.exit_code != 0 and as_json(r)["error"]["code"] == "UNKNOWN_KEY"
    assert hoox("config", "kv", "get", "trade:killswitch").exit_code != 0
    r = hoox("config", "kv", "set", "custom:note", "hello", "--force", "--json")
    assert r.exit_code == 0 and as_json(r)["value"] == "hello"


# ----------------------------------------------------------------------------- db
def test_db_apply_twice_list_and_status(ws: Workspace) -> None:
    r = hoox("db", "query", "SELECT * FROM trades", "--json")
    assert r.exit_code != 0 and "hoox db apply" in as_json(r)["error"]["message"]

    first = as_json(hoox("db", "apply", "--json"))
    assert first["applied"] and first["applied"][0] == "0001_ledger.sql" and first["up_to_date"] is False
    second = hoox("db", "migrate", "--json")
    assert as_json(second)["applied"] == [] and as_json(second)["up_to_date"] is True
    assert "already up to date" in hoox("db", "migrate").stdout

    status = as_json(hoox("db", "migrate", "status", "--json"))
    assert [m["name"] for m in status["applied"]] == first["applied"] and status["pending"] == []
    assert as_json(hoox("db", "migrate", "--status", "--json")) == status

    tables = {t["name"]: t["rows"] for t in as_json(hoox("db", "list", "--json"))["tables"]}
    assert {"trades", "positions", "balances", "trade_signals", "system_logs"} <= set(tables)
    assert tables["trades"] == 0 and tables["d1_migrations"] == len(first["applied"])


def test_db_query_is_read_only_by_default(ws: Workspace) -> None:
    hoox("db", "apply")
    insert = (
        "INSERT INTO system_logs (created_at, level, worker, message, request_id) "
        "VALUES ('2026-01-01T00:00:00.000Z', 'info', 'cli-test', 'hello', 'rid-1')"
    )
    r = hoox("db", "query", insert, "--json")
    assert r.exit_code != 0
    err = as_json(r)["error"]
    assert err["code"] == "READ_ONLY" and "--write" in err["message"]
    for sql in ("DROP TABLE trades", "ATTACH DATABASE 'x.db' AS x", "PRAGMA journal_mode = DELETE"):
        assert as_json(hoox("db", "query", sql, "--json"))["error"]["code"] == "READ_ONLY", sql
    r = hoox("db", "query", "SELECT 1; DELETE FROM trades", "--json")
    assert as_json(r)["error"]["code"] == "MULTIPLE_STATEMENTS"
    assert as_json(hoox("db", "list", "--json"))["tables"]  # nothing was dropped

    r = hoox("db", "query", insert, "--write", "--json")
    assert r.exit_code == 0, r.output
    assert as_json(r)["changes"] == 1
    r = hoox(
        "db",
        "query",
        "SELECT worker, message FROM system_logs WHERE request_id = ? AND id > ?",
        "--param",
        "rid-1",
        "--param",
        "0",
        "--json",
    )
    out = as_json(r)
    assert out["rows"] == [{"worker": "cli-test", "message": "hello"}]
    assert out["columns"] == ["worker", "message"] and out["row_count"] == 1 and out["read_only"] is True
    assert "cli-test" in hoox("db", "query", "SELECT worker FROM system_logs").stdout


# ----------------------------------------------------------------------------- dev (no processes)
def test_dev_cron_runs_a_known_worker_and_names_the_valid_ones(ws: Workspace) -> None:
    r = hoox("dev", "cron", "agent-worker", "--json")
    assert r.exit_code == 0, r.output
    out = as_json(r)
    assert out["worker"] == "agent-worker" and out["cron"] == "* * * * *" and out["ok"] is True
    # It ran the risk manager on the workspace's ledger: its run is recorded.
    assert "ok" in hoox("db", "query", "SELECT status FROM risk_runs").stdout

    r = hoox("dev", "cron", "agent-wrker", "--json")
    err = as_json(r)["error"]
    assert r.exit_code != 0 and err["code"] == "UNKNOWN_WORKER" and "agent-worker" in err["message"]
    r = hoox("dev", "cron", "d1-worker", "--json")
    err = as_json(r)["error"]
    assert (
        err["code"] == "NO_CRON"
        and "agent-worker" in err["message"]
        and "d1-worker" not in err["details"]["workers_with_crons"]
        and "trade-worker" in err["details"]["workers_with_crons"]  # its reconciler, every minute
    )
    r = hoox("dev", "cron", "agent-worker", "--cron", "0 0 * * *", "--json")
    assert as_json(r)["error"]["code"] == "UNKNOWN_CRON"


def test_dev_status_and_stop_when_nothing_runs(ws: Workspace) -> None:
    ws.hoox_dir.mkdir(parents=True, exist_ok=True)
    ws.runtime_file.write_text(json.dumps({"pid": 999999, "ports": {"hoox": 1}}))  # left by a crash
    out = as_json(hoox("dev", "status", "--json"))
    assert out["running"] is False and out["pid"] is None and out["workers"] == []
    assert not ws.runtime_file.exists()
    out = as_json(hoox("dev", "stop", "--json"))
    assert out["was_running"] is False
    assert "No hoox runtime was running" in hoox("dev", "stop").stdout


def test_dev_start_refuses_while_another_holds_the_workspace(ws: Workspace) -> None:
    lock = process.RuntimeLock(ws)
    assert lock.acquire()
    try:
        lock.write_pid(4242)
        r = hoox("dev", "start", "--json")
        assert r.exit_code != 0
        err = as_json(r)["error"]
        assert (
            err["code"] == "ALREADY_RUNNING"
            and "4242" in err["message"]
            and "hoox dev stop" in err["message"]
        )
        assert hoox("dev", "start", "--detach", "--json").exit_code != 0
    finally:
        lock.release()


def test_dev_start_names_a_busy_port(ws: Workspace) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        busy = s.getsockname()[1]
        base = busy - 1  # trade-worker (offset 1) collides
        r = hoox("dev", "start", "--port", str(base), "--json")
    assert r.exit_code != 0
    err = as_json(r)["error"]
    assert err["code"] == "PORT_IN_USE" and str(busy) in err["message"] and "--port" in err["message"]
    assert not ws.runtime_file.exists()
    assert not process.probe(ws).running  # the lock was released


def test_signal_send_says_how_to_start_the_edge(ws: Workspace) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    r = hoox("signal", "send", "--symbol", "BTCUSDT", "--action", "LONG", "--url", url, "--json")
    assert r.exit_code != 0
    err = as_json(r)["error"]
    assert err["code"] == "EDGE_NOT_RUNNING" and "hoox dev start" in err["message"]
    assert ws.secrets()["WEBHOOK_API_KEY"] not in r.output


def test_the_cli_knows_the_same_log_levels_the_workers_write() -> None:
    from hoox_edge.shared.logs import LEVELS

    from hoox_cli.commands import logs as logs_cmd

    assert logs_cmd.LEVELS == LEVELS


def test_an_errors_details_print_with_their_values(capsys: pytest.CaptureFixture[str]) -> None:
    from hoox_cli.commands.signal import _print

    _print("http://127.0.0.1:1/webhook", 502, {"success": False, "requestId": "r-1", "error": {
        "code": "EXCHANGE_ERROR", "message": "Binance refused the order.",
        "details": {"retryable": False, "exchangeCode": -2019, "exchange": "binance"}}})
    out = capsys.readouterr().out
    assert "retryable: false" in out and "exchangeCode: -2019" in out and "exchange: binance" in out


@pytest.mark.parametrize("args", [["monitor", "logs", "nosuch"], ["logs", "tail", "nosuch", "--max", "1"],
                                  ["logs", "download", "--worker", "nosuch", "-o", "out.jsonl"]])
def test_a_worker_name_that_is_no_worker_is_refused(ws: Workspace, args: list[str]) -> None:
    # No edge runs here: the name is refused before any call (`logs tail` would otherwise wait forever).
    r = hoox(*args, "--json")
    assert r.exit_code == 2
    err = as_json(r)["error"]
    assert err["code"] == "UNKNOWN_WORKER" and "nosuch" in err["message"] and "trade-worker" in err["message"]


def test_a_mistyped_table_is_answered_with_the_tables_there_are(ws: Workspace) -> None:
    hoox("db", "apply")
    err = as_json(hoox("db", "query", "SELECT * FROM trade", "--json"))["error"]
    assert err["code"] == "SQL_ERROR" and "no such table" in err["message"]
    assert "trades" in err["message"] and "trade_signals" in err["message"] and "db apply" not in err["message"]
