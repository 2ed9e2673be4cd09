"""The `hoox` command: a Typer app whose command groups live in their own modules.

Only typer is imported at start-up; only the command group used is imported and built (LAZY_COMMANDS),
and each command imports what it needs (hoox_edge, httpx, rich) when it runs, so `hoox --help` and
`hoox config kv get` start fast. Textual is never imported here.

Every command takes --json. Errors, usage errors included, then come as
`{"error": {"code", "message"}}` on stdout with a non-zero exit code. Every error, with --json or not,
is shown through hoox_cli.core.redact.redact_error (the workspace's secrets masked: usage errors here,
a command's in hoox_cli.output.report_error), and every argument is refused unless it is valid UTF-8
(`_utf8_only`, here): no command can forget either.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Annotated, Any

import typer
import typer.core
from typer.core import TyperGroup

from hoox_cli.core.errors import is_utf8


# Typer suggests every command within difflib's default 0.6 ratio ("monitr": 'monitor', 'init'):
# only close ones, in every group.
def _close_matches(word: str, possibilities: Any, n: int = 2, cutoff: float = 0.75) -> list[str]:
    import difflib  # only when a command name is mistyped

    return difflib.get_close_matches(word, possibilities, n=2, cutoff=0.75)


typer.core.get_close_matches = _close_matches  # type: ignore[assignment]

# The commands besides `tui`, in help order: name -> (module in hoox_cli, its Typer sub-app or command
# function). A command's module is imported, and its click command built, only when that command is
# used (or listed by help): building the whole tree on every call cost more than the command itself.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init", "init"),
    "clone": ("init", "clone"),
    "test": ("test", "test"),
    "dev": ("dev", "app"),
    "secrets": ("secrets", "app"),
    "db": ("db", "app"),
    "config": ("config", "app"),
    "signal": ("signal", "app"),
    "monitor": ("monitor", "app"),
    "orders": ("orders", "app"),
    "risk": ("risk", "app"),
    "agent": ("agent", "app"),
    "watchdog": ("watchdog", "app"),
    "report": ("report", "app"),
    "wallet": ("wallet", "app"),
    "logs": ("logs", "app"),
    "check": ("check", "app"),
    "repair": ("repair", "app"),
    "deploy": ("deploy", "app"),
    "infra": ("infra", "app"),
    "waf": ("waf", "app"),
    "email": ("mail", "app"),
}


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("hoox")
    except PackageNotFoundError:
        return "unknown"


# Commands with a -q of their own (`signal send -q 0.01` is the quantity): after their name, -q is
# theirs and only --quiet is the global switch. tests/test_cli_global.py checks this against the tree.
OWN_SHORT_Q = {("signal", "send")}


def _take_quiet(argv: list[str]) -> list[str]:
    """--quiet may follow any command (`hoox db reset --quiet`): take it out and set the global switch."""
    from hoox_cli.output import set_quiet

    end = argv.index("--") if "--" in argv else len(argv)
    words = [a for a in argv[:end] if not a.startswith("-")]
    own_q = tuple(words[:2]) in OWN_SHORT_Q
    start = argv.index(words[1]) + 1 if own_q else end  # where -q stops meaning --quiet
    head = [a for i, a in enumerate(argv[:end]) if a != "--quiet" and (a != "-q" or i >= start)]
    set_quiet(len(head) != end)
    return head + argv[end:]


def _take_workspace(argv: list[str]) -> tuple[list[str], str | None]:
    """--workspace DIR may follow any command too: take it out; the caller sets HOOX_WORKSPACE from it,
    so one rule (hoox_edge.local.workspace.find_root) finds the workspace for every command. A
    --workspace without a folder is left for click to refuse."""
    end = argv.index("--") if "--" in argv else len(argv)
    head, chosen, i = [], None, 0
    while i < end:
        a = argv[i]
        if a.startswith("--workspace="):
            value = a.split("=", 1)[1]
            if value:
                chosen = value
                i += 1
                continue
        elif a == "--workspace" and i + 1 < end and argv[i + 1] and not argv[i + 1].startswith("-"):
            chosen = argv[i + 1]
            i += 2
            continue
        head.append(a)
        i += 1
    if chosen is None:
        return argv, None
    return head + argv[end:], os.path.abspath(os.path.expanduser(chosen))


# Commands whose --remote meant Cloudflare and now takes an edge's URL (`--remote URL`): a bare --remote
# (no http(s) URL after it) still means Cloudflare, now spelt --cloudflare.
CLOUDFLARE_FLAG = {("waf", "configure"), ("waf", "show"), ("db", "query"), ("deploy", "kv-config")}


def _take_cloudflare(argv: list[str]) -> list[str]:
    end = argv.index("--") if "--" in argv else len(argv)
    words = [a for a in argv[:end] if not a.startswith("-")]
    if tuple(words[:2]) not in CLOUDFLARE_FLAG:
        return argv
    out = list(argv)
    for i, a in enumerate(argv[:end]):
        following = argv[i + 1] if i + 1 < end else ""
        if a == "--remote" and not following.startswith(("http://", "https://")):
            out[i] = "--cloudflare"
    return out


class LazyCommands(MutableMapping[str, Any]):
    """The root group's commands: each of LAZY_COMMANDS is built when it is first looked up; its name
    is known from the start (usage errors suggest it)."""

    def __init__(self, built: Mapping[str, Any]) -> None:
        self.built = {name: _utf8_only(command) for name, command in built.items()}

    def __contains__(self, name: object) -> bool:
        return name in self.built or name in LAZY_COMMANDS

    def __iter__(self) -> Iterator[str]:
        return iter([*(n for n in self.built if n not in LAZY_COMMANDS), *LAZY_COMMANDS])

    def __len__(self) -> int:
        return len(self.built.keys() | LAZY_COMMANDS.keys())

    def __getitem__(self, name: str) -> Any:
        if name not in self.built:
            if name not in LAZY_COMMANDS:
                raise KeyError(name)
            module, attr = LAZY_COMMANDS[name]
            # __import__, not importlib.import_module: -X importtime (tests/test_cli.py) sees it
            target = getattr(__import__(f"hoox_cli.commands.{module}", fromlist=[attr]), attr)
            holder = typer.Typer()
            if isinstance(target, typer.Typer):
                holder.add_typer(target, name=name)
            else:
                holder.command(name)(target)
            self.built[name] = _utf8_only(typer.main.get_group(holder).commands[name])
        return self.built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self.built[name] = command

    def __delitem__(self, name: str) -> None:
        del self.built[name]


NOT_UTF8 = ("not valid UTF-8: hoox takes its arguments as UTF-8 text (check the encoding of the terminal or "
            "script that passed it).")


def _utf8_only(command: Any) -> Any:
    """`command`, each of whose parameters (and its subcommands') refuses a value that is not valid UTF-8
    with a usage error naming it (exit 2), before the value is converted or used: a command crashed
    (UnicodeEncodeError) wherever it sent or stored such a value."""
    for param in command.params:
        param.process_value = _utf8_checked(param, param.process_value)
    if not isinstance(command, HooxGroup):  # the root's commands are built (and checked) when used
        for sub in getattr(command, "commands", {}).values():
            _utf8_only(sub)
    return command


def _utf8_checked(param: Any, process: Any) -> Any:
    def process_value(ctx: Any, value: Any) -> Any:
        if not is_utf8(value):
            raise typer.BadParameter(NOT_UTF8, ctx=ctx, param=param)
        return process(ctx, value)

    return process_value


class HooxGroup(TyperGroup):
    """Root group: commands built on first use (LazyCommands); usage errors made safe to show
    (`_redact_click_error`) and, under --json, given as the JSON error object."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(self.commands)
        _utf8_only(self)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        from hoox_cli.core.redact import remember_arguments

        argv = list(sys.argv[1:] if args is None else args)
        remember_arguments(argv)
        argv = _take_quiet(argv)
        argv, chosen = _take_workspace(argv)
        if chosen is not None and not is_utf8(chosen):
            argv, chosen = ["--workspace", chosen, *argv], None  # for the root's --workspace to refuse
        argv = _take_cloudflare(argv)
        saved = os.environ.get("HOOX_WORKSPACE")
        if chosen is not None:
            os.environ["HOOX_WORKSPACE"] = chosen
        try:
            return self._main(argv, prog_name, complete_var, standalone_mode, windows_expand_args, **extra)
        finally:
            # in-process callers (tests) run several commands: --workspace is one command's choice
            if chosen is not None:
                if saved is None:
                    os.environ.pop("HOOX_WORKSPACE", None)
                else:
                    os.environ["HOOX_WORKSPACE"] = saved

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except Exception as exc:
            _redact_click_error(exc)
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            _redact_click_error(exc)
            raise

    def _main(self, argv: list[str], prog_name: str | None, complete_var: str | None, standalone_mode: bool,
              windows_expand_args: bool, **extra: Any) -> Any:
        if "--json" not in argv:
            return super().main(
                args=argv,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=standalone_mode,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        try:
            rv = super().main(args=argv, prog_name=prog_name, complete_var=complete_var, standalone_mode=False,
                              windows_expand_args=windows_expand_args, **extra)
        except typer.Abort:
            sys.stdout.write(json.dumps({"error": {"code": "ABORTED", "message": "Aborted."}}) + "\n")
            rv = 1
        except Exception as exc:
            if not _is_click_error(exc):
                raise
            message = exc.format_message()  # type: ignore[attr-defined]  # redacted (_redact_click_error)
            sys.stdout.write(json.dumps({"error": {"code": "USAGE_ERROR", "message": message}}) + "\n")
            rv = getattr(exc, "exit_code", 2)
        code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _is_click_error(exc: BaseException) -> bool:
    # typer >= 0.29 vendors click: match its ClickException (UsageError...) by class name
    return any(c.__name__ == "ClickException" for c in type(exc).__mro__)


def _redact_click_error(exc: BaseException) -> None:
    """A usage error (or another of click's) leaving the root group, its message made safe to show
    (hoox_cli.core.redact.redact_error) before anything shows it: typer's own rendering, the --json object."""
    if not _is_click_error(exc):
        return
    from hoox_cli.core.redact import redact_error

    message = redact_error(exc.format_message())  # type: ignore[attr-defined]
    exc.format_message = lambda: message  # type: ignore[attr-defined]  # what e.show() and rich print


app = typer.Typer(
    cls=HooxGroup,
    help="hoox: trading-operations platform. Run the edge locally, fire signals, inspect the ledger.",
    invoke_without_command=True,
    add_completion=True,  # --install-completion / --show-completion
    pretty_exceptions_enable=False,  # a traceback with locals could show a secret
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"hoox {version()}")
        raise typer.Exit()


# the same option as every command's --port (hoox_cli.output.PortOpt), without importing output here
def _port_option(help_text: str) -> Any:
    def check(value: int | None) -> int | None:
        from hoox_cli.options import _check_port

        return _check_port(value)

    return typer.Option("--port", metavar="N", callback=check, help=help_text)


_COCKPIT_PORT_HELP = ("Port of the local edge the cockpit starts (the gateway's; the other workers use the ports "
                      "above it), kept in hoox.toml (dev.port). Default: the workspace's, 8787 in a new one.")


@app.callback()
def _root(
    ctx: typer.Context,
    _version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version_callback, is_eager=True, help="Show the version and exit."),
    ] = False,
    _quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No banners, progress or prompts (errors still shown); "
                                           "may follow any command."),
    ] = False,
    _workspace: Annotated[
        str | None,
        typer.Option("--workspace", metavar="DIR", help="The workspace folder to use (as HOOX_WORKSPACE); may "
                                                        "follow any command. Default: the one the current folder "
                                                        "is in, else one in your user data folder."),
    ] = None,
    port: Annotated[int | None, _port_option(_COCKPIT_PORT_HELP + " Alone (`hoox --port N`) only.")] = None,
) -> None:
    """hoox: run the edge locally, fire signals, inspect the ledger and settings. Alone: the cockpit."""
    if _workspace is not None:  # only an empty value reaches here (HooxGroup.main takes the others)
        raise typer.BadParameter("--workspace takes a folder.", param_hint="'--workspace'")
    if ctx.invoked_subcommand is None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            typer.echo(ctx.get_help())
            typer.echo("\n`hoox` without arguments opens the cockpit; it needs a terminal (see `hoox tui --help`).")
            return
        raise typer.Exit(_open_cockpit(None, None, False, False, port))
    if port is not None:
        raise typer.BadParameter(f"`hoox --port N` alone opens the cockpit; for `{ctx.invoked_subcommand}` put "
                                 "--port after the command where it takes one (`hoox dev start --port N`).",
                                 param_hint="'--port'")


def _open_cockpit(remote: str | None, theme: str | None, no_mouse: bool, safe_mode: bool,
                  port: int | None = None) -> int:
    if port is not None:
        from hoox_cli.core.errors import CliError
        from hoox_cli.output import report_error

        try:
            if remote or os.environ.get("HOOX_API_URL"):
                source = "--remote" if remote else "HOOX_API_URL"
                raise CliError("USAGE_ERROR", f"--port is the local edge's; {source} attaches the cockpit to another "
                                              "edge. Drop one of them.", exit_code=2)
            from hoox_cli.commands.dev import port_for_cockpit

            port_for_cockpit(port)
        except CliError as err:
            report_error(err, False)
            return err.exit_code
    # Textual is imported here only: no other command pays for it (tests/test_cli.py checks).
    from hoox_tui.launch import Options, run

    return run(Options(remote=remote, theme=theme, no_mouse=no_mouse, safe_mode=safe_mode))


@app.command()
def tui(
    remote: Annotated[
        str | None, typer.Option("--remote", help="Edge URL to attach to (token: HOOX_API_TOKEN).")
    ] = None,
    theme: Annotated[str | None, typer.Option("--theme", help="hoox-dark, hoox-light or hoox-high-contrast.")] = None,
    no_mouse: Annotated[bool, typer.Option("--no-mouse", help="Keyboard only: do not capture the mouse.")] = False,
    safe_mode: Annotated[
        bool, typer.Option("--safe-mode", help="No live event stream, no syntax highlighting.")
    ] = False,
    port: Annotated[int | None, _port_option(_COCKPIT_PORT_HELP)] = None,
) -> None:
    """Open the cockpit on the local edge (started in the background, stopped on quit) or on --remote."""
    raise typer.Exit(_open_cockpit(remote, theme, no_mouse, safe_mode, port))


def run() -> None:
    app()


ROOT_HELP_WIDTH = 80


def render_root_help() -> str:
    """`hoox --help` as the Typer app prints it to a pipe (no colour, 80 columns)."""
    from typer.testing import CliRunner

    env = {"COLUMNS": str(ROOT_HELP_WIDTH), "TERMINAL_WIDTH": str(ROOT_HELP_WIDTH), "NO_COLOR": "1"}
    result = CliRunner().invoke(app, ["--help"], prog_name="hoox", env=env, color=False)
    if result.exit_code != 0:
        raise RuntimeError(f"hoox --help failed: {result.output}")
    return result.stdout


def root_help_module(text: str) -> str:
    """The source of hoox_cli/root_help.py holding `text` (one line of it per source line)."""
    lines = "".join(f"    {line!r},\n" for line in text.split("\n"))
    return ('"""`hoox --help`, rendered from the Typer app by `python -m hoox_cli.main --write-root-help`;\n'
            'hoox_cli/entry.py prints it without importing typer or rich. Generated: do not edit."""\n\n'
            f'TEXT = "\\n".join((\n{lines}))\n')


if __name__ == "__main__" and sys.argv[1:] == ["--write-root-help"]:
    from pathlib import Path

    Path(__file__).with_name("root_help.py").write_text(root_help_module(render_root_help()), encoding="utf-8")
