"""Commands `hoox` runs without typer: hoox_cli/entry.py calls `run` first, and when the command line is
exactly one of these (`hoox config kv get KEY [--json]`), it runs here and typer is never imported.
Their Typer commands call the same functions, so both ways answer alike (tests/test_cli.py).

Why: importing typer (and click) takes longer than Python's own start, and a script reading one
setting pays it on every call (bench/cli_startup.py).
"""

from __future__ import annotations

from hoox_cli.core.errors import fail, is_utf8
from hoox_cli.core.redact import remember_arguments
from hoox_cli.output import edge, emit_json, esc, report_failure, say, show_value, where


def kv_get(key: str, remote: str | None, json_out: bool) -> None:
    """`hoox config kv get`: a setting's typed value, its manifest default (marked so) when unset."""
    with edge(remote) as e:
        item = e.kv_get(key)
    if item.get("error"):
        fail("INVALID_STORED_VALUE", f"The stored value of {key} is invalid ({item['error']}); "
                                     f"fix it with `hoox config kv set {key} VALUE`.")
    value, source = item["value"], item["source"]
    if json_out:
        emit_json({"key": key, "value": value, "raw": item["raw"], "source": source, "type": item["type"],
                   "description": item["description"], "edge": e.info.as_json()})
        return
    if source == "unset":
        say(f"{esc(key)} is not set (no default).  {where(e.info)}")
    elif source == "default":
        say(f"{esc(key)} = {esc(show_value(value))}  [dim](default; not set in KV)[/dim]  {where(e.info)}")
    else:
        say(f"{esc(key)} = {esc(show_value(value))}  {where(e.info)}")


def run(args: list[str]) -> int | None:
    """The exit code of the command `args` when it is one of this module's, else None (typer runs it).

    Only the plain forms are taken: any other option (--remote, --workspace, --quiet, -h, a key that
    looks like an option, one that is not valid UTF-8) goes to the Typer app, which knows them all and
    refuses what they cannot take."""
    json_out = "--json" in args
    words = [a for a in args if a != "--json"]
    if len(words) != 4 or words[:3] != ["config", "kv", "get"] or words[3].startswith("-"):
        return None
    if not is_utf8(words[3]):
        return None
    remember_arguments(args)
    try:
        kv_get(words[3], None, json_out)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        return report_failure(exc, json_out)
    return 0
