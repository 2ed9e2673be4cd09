"""`hoox secrets set`: local secrets in the workspace's gitignored .dev.vars.

JSON (--json): {"workspace", "name", "set": true, "replaced": bool, "workers": [worker], "declared": bool,
"runtime_running": bool, "created": [file]}. The value is never part of any output.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from hoox_cli.common import JsonOpt, emit_json, esc, fail, handle_errors, say, warn, workspace

app = typer.Typer(help="Local secrets (.dev.vars): set them before or while the edge runs.", no_args_is_help=True)


def _read_value(name: str) -> str:
    """The value from stdin when piped, else a hidden prompt (keeps it out of shell history)."""
    if not sys.stdin.isatty():
        data = sys.stdin.read()
        return data[:-1] if data.endswith("\n") else data
    return typer.prompt(f"Value for {name}", hide_input=True, confirmation_prompt=True)


@app.command("set")
@handle_errors
def set_secret(
    name: Annotated[str, typer.Argument(help="Secret name, e.g. BYBIT_API_KEY.")],
    value: Annotated[
        str | None,
        typer.Argument(
            help="The value. Omit it to type it at a hidden prompt or pipe it on stdin "
            "(then it appears in no shell history).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Set it even when no worker declares this name.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Set a local secret; a running edge picks it up on its next request (no restart)."""
    from hoox_edge import catalog

    from hoox_cli import process
    from hoox_cli.common import remember_secrets
    from hoox_cli.dev import prepare_workspace

    ws = workspace(required=False)
    owners = [w.name for w in catalog.secret_owners(name)]
    if not owners and not force:
        known = sorted({s for w in catalog.WORKERS for s in w.all_secrets})
        fail(
            "UNKNOWN_SECRET",
            f"No worker declares a secret named {name}, so nothing would read it. Known secrets: "
            f"{', '.join(known)}. Pass --force to set it anyway.",
            details={"known": known},
        )
    created: list[str] = []
    if not ws.exists:
        created = prepare_workspace(ws)["created"]
    if value is None:
        if json_out and sys.stdin.isatty():
            fail(
                "VALUE_REQUIRED",
                f"Give the value of {name} on stdin (e.g. `... | hoox secrets set {name} --json`).",
            )
        value = _read_value(name)
    if value == "":
        fail("EMPTY_VALUE", f"The value of {name} is empty; nothing was written.")
    remember_secrets([value])  # from here on it can never be printed, even in an error message
    replaced = name in ws.secrets()
    ws.set_secret(name, value)
    running = process.probe(ws).running
    result: dict[str, Any] = {
        "workspace": str(ws.root),
        "name": name,
        "set": True,
        "replaced": replaced,
        "workers": owners,
        "declared": bool(owners),
        "runtime_running": running,
        "created": created,
    }
    if json_out:
        emit_json(result)
        if not owners:
            warn(f"no worker declares {name}; it was set because of --force")
        return
    if created:
        say(f"Created a hoox workspace in {esc(ws.root)} ({', '.join(created)}).")
    if not owners:
        warn(f"no worker declares {name}; it was set because of --force, but nothing reads it.")
    verb = "Replaced" if replaced else "Set"
    used = f"used by {', '.join(owners)}" if owners else "not used by any worker"
    say(f"{verb} [bold]{esc(name)}[/bold] in {esc(ws.dev_vars_path)} ({used}).")
    if running:
        say("The running edge reads it on its next request; no restart needed.")
