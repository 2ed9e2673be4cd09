"""The CLI's Typer side, shared by the command modules: option types (--json, --port, --remote, --mode),
the group --remote, the yes/no prompt, and errors turned into exit codes. What is shown lives in
hoox_cli.output, which imports no typer: the commands entry.py runs without typer use it too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from hoox_cli.core.errors import fail
from hoox_cli.output import can_prompt, report_failure

F = TypeVar("F", bound=Callable[..., Any])

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON object on stdout.")]


def _check_port(value: int | None) -> int | None:
    """--port: a base port every worker's port fits above (a usage error, exit 2, otherwise)."""
    if value is None:
        return None
    from hoox_edge.local.workspace import port_problem

    problem = port_problem(value)
    if problem is not None:
        raise typer.BadParameter(problem)
    return value


PortOpt = Annotated[int | None, typer.Option(
    "--port", metavar="N", callback=_check_port,
    help="Gateway port, kept in hoox.toml (dev.port); the other workers use the ports above it "
         "(default: the workspace's, 8787 in a new one).")]

RemoteOpt = Annotated[
    str | None,
    typer.Option("--remote", metavar="URL",
                 help="Edge to talk to (default: HOOX_API_URL, else this workspace's local gateway). "
                      "The token comes from HOOX_API_TOKEN."),
]


def book_option(default: str) -> Any:
    return typer.Option("--mode", case_sensitive=False,
                        help=f"Which book: paper, live or all (both). Default: {default}.")


def confirm_destructive(question: str, *, confirmed: bool, json_mode: bool, command: str) -> None:
    """Go on only with --confirm or a yes typed at the prompt; otherwise stop before anything changes.

    Nobody to ask (--json, --quiet, or stdin at its end) is CONFIRMATION_REQUIRED with exit 2.
    """
    if confirmed:
        return
    if not can_prompt(json_mode):
        fail("CONFIRMATION_REQUIRED", f"{question} Nothing was changed: run `{command} --confirm` to go ahead.",
             exit_code=2)
    try:
        yes = typer.confirm(question, default=False)
    except typer.Abort:
        fail("CONFIRMATION_REQUIRED", f"No answer to: {question} Nothing was changed: run `{command} --confirm`.",
             exit_code=2)
    if not yes:
        fail("CANCELLED", "Cancelled; nothing was changed.")


def handle_errors(fn: F) -> F:
    """Turn CliError, workspace errors and anything unexpected into the error output + exit code
    (hoox_cli.output.report_failure)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            raise typer.Exit(report_failure(exc, bool(kwargs.get("json_out", False)))) from None

    return wrapper  # type: ignore[return-value]


def remember_remote(ctx: typer.Context, remote: str | None) -> None:
    """A group's --remote, for its commands (`hoox monitor --remote URL status`)."""
    if remote:
        ctx.ensure_object(dict)["remote"] = remote


def remote_of(ctx: typer.Context, remote: str | None) -> str | None:
    """The command's --remote, else its group's."""
    if remote:
        return remote
    c: Any = ctx
    while c is not None:
        if isinstance(c.obj, dict) and c.obj.get("remote"):
            return c.obj["remote"]
        c = c.parent
    return None
