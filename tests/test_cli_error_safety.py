"""What every `hoox` error may show, whichever command raised it and however early: never a secret of
the workspace nor a credential-looking word of the command line (hoox_cli.core.redact.redact_error),
and an argument that is not UTF-8 is a usage error naming it, not a crash (hoox_cli.main._utf8_only).

Against a real local edge (the `edge` fixture), so that the commands that reach it get that far; CLI
commands run in a worker thread: the runtime's event loop must keep serving.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import cli_support
import pytest
from cli_support import as_json
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from order_support import paper_position

# What a byte that is not UTF-8 (here \xed\xa0\x80, a UTF-16 surrogate's) becomes in sys.argv (PEP 383).
NOT_UTF8 = os.fsdecode(b"\xed\xa0\x80")
# A key that is not the workspace's, pasted where a name or a number belongs: masked by its shape.
FOREIGN_KEY = "k3yFromAn0therVault9f8e7d6c"

# The workspace's operator key, fixed: a generated one may start with "-" (an option, then).
OPERATOR_KEY = "Kow2V7EggTyYasAilDNXz58x9SJoNOH4e23gN9zFq0"


@pytest.fixture
def workspace(workspace: Workspace) -> Workspace:
    workspace.set_secret("OPERATOR_API_KEY", OPERATOR_KEY)  # before the edge starts
    return workspace


# Each kind of argument the testers put the operator key into: a command's key, a worker's name, a
# time, a file, a choice checked by the command, a choice, a number, a command name; `{S}` is the secret.
SECRET_IN = [
    ["watchdog", "expect", "{S}", "--max-gap-minutes", "5"],
    ["config", "kv", "set", "{S}", "1"],
    ["config", "kv", "set", "watchdog:expect:{S}", "1"],
    ["monitor", "logs", "{S}"],
    ["logs", "tail", "{S}"],
    ["logs", "download", "--since", "{S}", "-o", "out.jsonl"],
    ["logs", "download", "--until", "{S}", "-o", "out.jsonl"],
    ["email", "test", "{S}"],
    ["risk", "runs", "--status", "{S}"],
    ["monitor", "trades", "--mode", "{S}"],
    ["signal", "send", "--quantity", "{S}"],
    ["watchdog", "expect", "tv", "--max-gap-minutes", "{S}"],
    ["{S}"],
    ["monitor", "{S}"],
]


async def hoox(*args: str) -> Any:
    return await asyncio.to_thread(cli_support.hoox, *args)


def shown(r: Any) -> str:
    return r.stdout + r.stderr


async def test_no_error_shows_a_secret_of_the_workspace_or_a_credential_of_the_command_line(
        edge: LocalRuntime) -> None:
    for secret in (OPERATOR_KEY, FOREIGN_KEY):
        for template in SECRET_IN:
            args = [a.replace("{S}", secret) for a in template]
            for json_flag in ([], ["--json"]):
                r = await hoox(*args, *json_flag)
                assert r.exit_code != 0, (args, r.output)
                # a wrapped panel could split the value: no start of it either
                assert secret[:12] not in shown(r), (args, json_flag, shown(r))
                assert "***" in shown(r), (args, json_flag, shown(r))
                if json_flag:
                    assert as_json(r)["error"]["code"], args


async def test_an_error_still_names_a_request_id_a_time_or_a_path_it_was_given(edge: LocalRuntime,
                                                                               tmp_path: Path) -> None:
    rid = await paper_position(edge)  # filled: not cancelled, and the error says which order it is
    r = await hoox("orders", "cancel", rid, "--yes", "--json")
    assert r.exit_code == 1 and as_json(r)["error"]["code"] == "ORDER_NOT_OPEN", r.output
    assert as_json(r)["error"]["message"].startswith(f"The order of request {rid} was not cancelled"), r.output
    r = await hoox("signal", "send", "--quantity", "2026-01-05T09:00:00Z", "--json")
    assert r.exit_code == 2 and "'2026-01-05T09:00:00Z' is not a valid float" in as_json(r)["error"]["message"]
    missing = tmp_path / "n0thing-in-a-l0ng-name-0123456789.eml"  # in a folder that exists: a path
    r = await hoox("email", "test", str(missing), "--json")
    assert r.exit_code != 0 and str(missing) in as_json(r)["error"]["message"], r.output


# What users type where a symbol, a key or a name belongs, and what the error must say of it: the testers
# met "a 19-character value (not shown)" and `***` for each (a symbol with a multiplier, a KV key, a long
# worker, strategy or table name read as a credential).
NAMED_IN = [
    (["signal", "show", "1000000BABYDOGEUSDT"], "'1000000BABYDOGEUSDT'"),  # a request id's length is quoted
    (["orders", "cancel", "7f3c9a2e-1b4d-4e8f", "--yes"], "'7f3c9a2e-1b4d-4e8f'"),  # a request id's start
    (["signal", "show", "7f3c9a2e-1b4d-4e8f-9a6b-2c5d8e1f0a3b"], "'7f3c9a2e-1b4d-4e8f-9a6b-2c5d8e1f0a3b'"),
    (["config", "kv", "set", "exchanges:paper:price:1000000MOGUSDT", "abc"], "exchanges:paper:price:1000000MOGUSDT"),
    (["risk", "config", "set", "trade:trailing_stop_percent:1000000BABYDOGEUSDT", "abc"],
     "trade:trailing_stop_percent:1000000BABYDOGEUSDT"),
    (["dev", "cron", "web3-wallet-worker-that-does-not-exist"], "'web3-wallet-worker-that-does-not-exist'"),
    (["watchdog", "expect", "btc_mean_reversion_breakout_4h_v2_strategy", "--max-gap-minutes", "5",
      "--hours", "mon-fri 08:00-25:00"], "watchdog:expect:btc_mean_reversion_breakout_4h_v2_strategy"),
    (["watchdog", "expect", "meme-token", "--max-gap-minutes", "5", "--hours", "mon-fri 08:00-25:00"],
     "watchdog:expect:meme-token: hours.to must be a time"),  # a strategy named like a sensitive field
    (["db", "query", "SELECT * FROM exchanges_paper_price_1000000BABYDOGEUSDT"],
     "no such table: exchanges_paper_price_1000000BABYDOGEUSDT"),
]


async def test_an_error_names_the_symbol_key_or_name_it_was_given(edge: LocalRuntime) -> None:
    for args, named in NAMED_IN:
        for json_flag in ([], ["--json"]):
            r = await hoox(*args, *json_flag)
            said = as_json(r)["error"]["message"] if json_flag else shown(r)
            assert r.exit_code != 0 and named in said, (args, json_flag, shown(r))
            assert "not shown" not in said and "***" not in said, (args, json_flag, shown(r))


# Each kind of argument the testers found crashing, `{X}` not UTF-8; the parameter the error names.
NOT_UTF8_IN = [
    (["monitor", "kill-switch", "on", "--yes", "--reason", "{X}"], "'--reason'"),
    (["monitor", "flatten", "--yes", "--reason", "{X}"], "'--reason'"),
    (["signal", "send", "--symbol", "{X}"], "'--symbol'"),
    (["signal", "show", "{X}"], "'REQUEST_ID'"),
    (["orders", "cancel", "{X}", "--yes"], "'REQUEST'"),
    (["db", "query", "SELECT '{X}'"], "'sql'"),
    (["config", "kv", "get", "{X}"], "'key'"),
    (["config", "kv", "set", "{X}", "1"], "'key'"),
    (["risk", "config", "set", "{X}", "1"], "'key'"),
    (["report", "get", "{X}"], "'name'"),
    (["--workspace", "{X}", "orders", "list"], "'--workspace'"),
]


async def test_an_argument_that_is_not_utf8_is_a_usage_error_naming_it(edge: LocalRuntime) -> None:
    for template, param in NOT_UTF8_IN:
        args = [a.replace("{X}", NOT_UTF8) for a in template]
        r = await hoox(*args, "--json")
        err = as_json(r)["error"]
        assert (r.exit_code, err["code"]) == (2, "USAGE_ERROR"), (template, r.output)
        assert param in err["message"] and "not valid UTF-8" in err["message"], (template, err)
        r = await hoox(*args)
        assert r.exit_code == 2 and "not valid UTF-8" in r.stderr, (template, r.output)
    r = await hoox("monitor", "kill-switch", "show", "--json")  # nothing was changed
    assert r.exit_code == 0 and as_json(r)["on"] is False, r.output


def test_the_quick_path_refuses_an_argument_that_is_not_utf8_too(ws: Workspace) -> None:
    # `hoox config kv get KEY` runs without typer (hoox_cli.quick): the same usage error, from the real program
    proc = subprocess.run([sys.executable, "-m", "hoox_cli", "config", "kv", "get", b"\xed\xa0\x80", "--json"],
                          capture_output=True, text=True, timeout=60, env=os.environ)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Invalid value for 'key': not valid UTF-8" in proc.stdout and "Traceback" not in proc.stderr
