"""The `hoox` command: a Typer app whose command groups live in their own modules.

Only typer is imported at start-up; each command imports what it needs (hoox_edge, httpx, rich)
when it runs, so `hoox --help` and `hoox config kv get` start fast. Textual is never imported here.

Every command takes --json. Errors, usage errors included, then come as
`{"error": {"code", "message"}}` on stdout with a non-zero exit code.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from hoox_cli import check_cmd, config_cmd, db, dev, logs_cmd, monitor_cmd, secrets_cmd, signal_cmd


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("hoox")
    except PackageNotFoundError:
        return "unknown"


class HooxGroup(TyperGroup):
    """Root group: under --json, usage errors become the JSON error object too."""

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if "--json" not in argv:
            return super().main(
                args=argv,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=standalone_mode,
                **extra,
            )
        try:
            rv = super().main(args=argv, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
        except typer.Abort:
            sys.stdout.write(json.dumps({"error": {"code": "ABORTED", "message": "Aborted."}}) + "\n")
            rv = 1
        except Exception as exc:
            # typer >= 0.29 vendors click: match its UsageError (and subclasses) by class name
            if not any(c.__name__ == "UsageError" for c in type(exc).__mro__):
                raise
            message = exc.format_message()  # type: ignore[attr-defined]
            sys.stdout.write(json.dumps({"error": {"code": "USAGE_ERROR", "message": message}}) + "\n")
            rv = getattr(exc, "exit_code", 2)
        code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=HooxGroup,
    help="hoox: trading-operations platform. Run the edge locally, fire signals, inspect the ledger.",
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # a traceback with locals could show a secret
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"hoox {version()}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    _version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version_callback, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """hoox: run the edge locally, fire signals, inspect the ledger and settings."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        typer.echo("\nThe terminal cockpit (`hoox` without arguments) is not available in this version yet.")


app.add_typer(dev.app, name="dev")
app.add_typer(secrets_cmd.app, name="secrets")
app.add_typer(db.app, name="db")
app.add_typer(config_cmd.app, name="config")
app.add_typer(signal_cmd.app, name="signal")
app.add_typer(monitor_cmd.app, name="monitor")
app.add_typer(logs_cmd.app, name="logs")
app.add_typer(check_cmd.app, name="check")


def run() -> None:
    app()
