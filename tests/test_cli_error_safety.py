"""What every `hoox` error may show, whichever command raised it and however early: an argument that
is not UTF-8 is a usage error naming it, not a crash (hoox_cli.main._utf8_only).

Against a real local edge (the `edge` fixture), so that the commands that reach it get that far; CLI
commands run in a worker thread: the runtime's event loop must keep serving.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import cli_support
from cli_support import as_json
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace

# What a byte that is not UTF-8 (here \xed\xa0\x80, a UTF-16 surrogate's) becomes in sys.argv (PEP 383).
NOT_UTF8 = os.fsdecode(b"\xed\xa0\x80")


async def hoox(*args: str) -> Any:
    return await asyncio.to_thread(cli_support.hoox, *args)


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
