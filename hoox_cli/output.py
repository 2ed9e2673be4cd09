"""The CLI's presentation, shared by the command modules: output (JSON, rich text, tables), --quiet,
and errors turned into output and exit codes. No typer here (its side is hoox_cli.options): the
commands hoox_cli/entry.py runs without typer show their answers with this module too.

Output rules: with --json a command prints exactly one JSON object on stdout (errors as
`{"error": {"code", "message"}}` with a non-zero exit); without it, rich text. Every string
that leaves the CLI is scrubbed of the workspace's secret values first (hoox_cli.core.redact).

What a command does lives in hoox_cli.core; this module only shows it. Imports of hoox_edge, rich
and httpx stay inside functions so that short commands start fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from hoox_cli.core.errors import CliError, fail
from hoox_cli.core.numbers import significant
from hoox_cli.core.redact import redact_error, scrub

if TYPE_CHECKING:
    from collections.abc import Iterator

    from hoox_edge.local.workspace import Workspace
    from rich.console import Console

    from hoox_cli.core.edge import Edge, EdgeInfo

# ----------------------------------------------------------------------------- output
_console: Console | None = None
_err_console: Console | None = None


def console() -> Console:
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(highlight=False, soft_wrap=True)
    return _console


def err_console() -> Console:
    global _err_console
    if _err_console is None:
        from rich.console import Console

        _err_console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _err_console


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(scrub(obj), indent=2, default=str) + "\n")
    sys.stdout.flush()


def say(text: str = "", *, style: str | None = None) -> None:
    """Human output line (rich markup allowed); callers only use it without --json. Silent under --quiet."""
    if _quiet:
        return
    text = scrub(text)
    line = _plain_line(text)
    if line is not None:
        sys.stdout.write(line + "\n")
    else:
        console().print(text, style=style)


# rich's markup rules (rich.markup: RE_TAGS, escape, render; rich._emoji_replace), for output that is not
# a terminal: there rich prints the text without its styles, and importing rich to do so costs a short
# command (`hoox config kv get`) half its time. tests/test_cli.py checks these against rich.
_TAG = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
_ESCAPE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")
_EMOJI = re.compile(r"(:(\S*?)(?:(?:\-)(emoji|text))?:)")
_RICH_CONTROL = ("\t", "\a", "\b", "\v", "\f", "\r")  # rich expands or strips these: left to rich


def _plain_line(markup: str) -> str | None:
    """What rich prints for `markup` on a stream that is not a terminal, or None when rich must say it
    (a terminal, forced colour, a tab or control character)."""
    if any(c in markup for c in _RICH_CONTROL) or os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE"):
        return None
    try:
        if sys.stdout.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    out: list[str] = []
    position = 0
    for match in _TAG.finditer(markup):
        full, escapes, _ = match.groups()
        start, end = match.span()
        if start > position:
            out.append(_emoji(markup[position:start]))
        position = end
        if escapes:
            backslashes, escaped = divmod(len(escapes), 2)
            out.append("\\" * backslashes)
            if escaped:
                out.append(_emoji(full[len(escapes):]))
    if position < len(markup):
        out.append(_emoji(markup[position:]))
    return "".join(out)


def _emoji(text: str) -> str:
    text = text.replace("\\[", "[")
    if not _EMOJI.search(text):
        return text
    from rich._emoji_replace import _emoji_replace  # the codes table, not the console

    return _emoji_replace(text)


def show(renderable: Any) -> None:
    if not _quiet:
        console().print(renderable)


# ----------------------------------------------------------------------------- --quiet and prompts
_quiet = False


def set_quiet(value: bool) -> None:
    """--quiet: no banners or progress lines (errors and warnings still go to stderr), and no prompts."""
    global _quiet
    _quiet = value


def can_prompt(json_mode: bool) -> bool:
    """Whether a question may be asked: never under --json (one JSON object, no hanging script) or --quiet."""
    return not json_mode and not _quiet


def warn(text: str) -> None:
    """A warning on stderr (stdout stays one JSON object under --json)."""
    err_console().print(f"[yellow]warning:[/yellow] {scrub(text)}")


def esc(text: Any) -> str:
    """Text safe inside rich markup, scrubbed (rich.markup.escape's rule)."""
    markup = _ESCAPE.sub(lambda m: f"{m.group(1)}{m.group(1)}\\{m.group(2)}", str(scrub(text)))
    return markup + "\\" if markup.endswith("\\") and not markup.endswith("\\\\") else markup


def show_value(value: Any) -> str:
    """A setting's typed value as a human answer shows it: text as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def duration(seconds: float) -> str:
    """`1h02m03s`, `4m05s`, `6s`: a span of time for a table cell."""
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def table(columns: list[str], rows: Iterable[Iterable[Any]], *, title: str | None = None) -> Any:
    from rich.table import Table

    t = Table(*columns, title=title, show_lines=False, header_style="bold")
    for row in rows:
        t.add_row(*(esc("" if v is None else v) for v in row))
    return t


def compact_table(columns: list[str], rows: list[list[Any]], *, title: str | None = None,
                  optional: Sequence[str] = (), wrap: Sequence[str] = ()) -> Any:
    """A borderless table (scrubbed, escaped cells) that fits the terminal without cutting a cell:
    cells never wrap except in the `wrap` columns (folded, e.g. a value); when it is too wide the
    `optional` columns are left out in the order given, and the caption names them; when even that is
    too wide each row is printed as its own `column: value` block."""
    from rich import box
    from rich.cells import cell_len
    from rich.console import Group
    from rich.table import Table

    def build(cols: list[str], title: str | None) -> Table:
        t = Table(*cols, title=title, box=box.SIMPLE_HEAD, padding=(0, 1), header_style="bold",
                  title_justify="left", pad_edge=False)
        for c in t.columns:
            c.no_wrap = c.header not in wrap
            c.overflow = "fold"
        for row in rows:
            t.add_row(*(esc("" if row[columns.index(c)] is None else row[columns.index(c)]) for c in cols))
        return t

    def needed(cols: list[str]) -> int:
        # every cell on one line except in the wrap columns (given 16 characters); 1 space of padding
        # each side of a cell but not at the table's edges, a 1-character divider between columns and
        # at both edges
        def width(c: str) -> int:
            i = columns.index(c)
            longest = max([cell_len(c), *(cell_len(str("" if r[i] is None else r[i])) for r in rows)])
            return min(longest, 16) if c in wrap else longest

        return sum(width(c) + 2 for c in cols) - 2 + len(cols) + 1

    width = console().width
    shown = list(columns)
    hidden = []
    for name in optional:
        if needed(shown) <= width:
            break
        shown.remove(name)
        hidden.append(name)
    if needed(shown) > width:
        return Group(*([f"[bold]{esc(title)}[/bold]"] if title else []), *(_record(columns, r) for r in rows))
    t = build(shown, title)
    if hidden:
        t.caption = f"not shown at {width} columns: {', '.join(hidden)} (a wider terminal or --json shows them)"
        t.caption_justify = "left"
    return t


def _record(columns: list[str], row: list[Any]) -> str:
    """One row as `column: value` lines (the layout of a table too wide for the terminal)."""
    return "\n".join(f"[bold]{esc(c)}[/bold]: {esc('' if v is None else v)}"
                     for c, v in zip(columns, row, strict=True)) + "\n"


def known_worker(name: str | None) -> str | None:
    """`name` when it is a worker of the catalog (None passes): a filter naming no worker would match
    nothing, or wait forever on a stream, instead of saying so."""
    if name is None:
        return None
    from hoox_edge import catalog

    if name not in catalog.names():
        fail("UNKNOWN_WORKER", f"No worker is named {name!r}; the workers are {', '.join(catalog.names())}.",
             exit_code=2)
    return name


def report_failure(exc: Exception, json_mode: bool) -> int:
    """Show a command's failure (a CliError, a workspace error, anything unexpected) and give its exit code.

    An unexpected exception shows its type and (scrubbed) message, never a traceback with locals;
    set HOOX_DEBUG=1 to get the traceback.
    """
    if isinstance(exc, CliError):
        report_error(exc, json_mode)
        return exc.exit_code
    if type(exc).__name__ == "WorkspaceError":
        report_error(CliError("WORKSPACE_ERROR", str(exc)), json_mode)
        return 1
    if os.environ.get("HOOX_DEBUG"):
        raise exc
    report_error(CliError("INTERNAL_ERROR", f"{type(exc).__name__}: {exc} (set HOOX_DEBUG=1 for the traceback)"),
                 json_mode)
    return 1


def report_error(err: CliError, json_mode: bool) -> None:
    """Show an error. Its message and details go through `redact_error` (the workspace's secrets and the
    command line's credential-looking words masked), however early it came: no command needs to."""
    message, details = redact_error([err.message, err.details])  # one call: it reads the workspace's secrets
    if json_mode:
        body: dict[str, Any] = {"code": err.code, "message": message}
        if details is not None:
            body["details"] = details
        emit_json({"error": body})
    else:
        err_console().print(f"[bold red]error:[/bold red] {esc(message)}")
        if isinstance(details, str):
            err_console().print(esc(details))


# ----------------------------------------------------------------------------- the edge
@contextlib.contextmanager
def edge(remote: str | None, ws: Workspace | None = None) -> Iterator[Edge]:
    """The edge a command reads and writes (hoox_cli.core.edge.connect): --remote / HOOX_API_URL, else the
    workspace's local edge, running or not."""
    from hoox_cli.core.edge import connect
    from hoox_cli.core.workspace import workspace

    e = connect(remote, ws or workspace(required=not (remote or os.environ.get("HOOX_API_URL"))))
    try:
        yield e
    finally:
        e.close()


def where(info: EdgeInfo) -> str:
    """The edge that answered, for the end of a human answer."""
    return f"[dim](on {esc(info.label())})[/dim]"


def where_of(info: dict[str, Any]) -> str:
    """`where` of an answer's "edge" object."""
    from hoox_cli.core.edge import EdgeInfo

    return where(EdgeInfo(**info))


def dump(model: Any) -> Any:
    """A result model as the API sent it (camelCase), for --json and for the tables."""
    if hasattr(model, "model_dump"):
        return model.model_dump(mode="json", by_alias=True)
    return model


def fmt(value: Any, digits: int = 8) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return significant(value, digits, grouping=False)  # 0.00001234, never 1.234e-05
    return str(value)


def seconds_since(iso: Any) -> float | None:
    """Seconds from an API time (ISO-8601 UTC) to now; negative for a time to come, None if unreadable."""
    try:
        at = datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return None
    return datetime.now(UTC).timestamp() - at.timestamp()


def age(iso: Any) -> str:
    secs = seconds_since(iso)
    return "" if secs is None else duration(max(secs, 0.0))


def time_left(iso: Any) -> str:
    secs = seconds_since(iso)
    return "" if secs is None else ("due" if secs >= 0 else duration(-secs))


class Book(StrEnum):
    """A book (DESIGN decision 12): paper, live, or all (both)."""

    paper = "paper"
    live = "live"
    all = "all"


def book_label(mode: str | None) -> str:
    """How a human output names the book it shows (None: both)."""
    return {"paper": "paper book", "live": "LIVE book"}.get(mode or "all", "paper and live books")


def must_ask(*, yes: bool, json_out: bool, what: str) -> bool:
    """Whether to ask before `what`: not with --yes. Under --json or --quiet nobody can be asked (stdout
    stays one JSON object, a script would hang on a prompt): refused, before anything is sent."""
    if yes:
        return False
    if not can_prompt(json_out):
        fail("CONFIRMATION_REQUIRED", f"{what} needs --yes under --json or --quiet (no prompt is shown); "
                                      "nothing was changed.", exit_code=2)
    return True


LEVEL_STYLE = {"debug": "dim", "info": "cyan", "warning": "yellow", "warn": "yellow", "error": "bold red",
               "critical": "bold red"}


def format_log_line(row: dict[str, Any]) -> str:
    """`time LEVEL worker [request] message` as rich markup (escaped and scrubbed)."""
    level = str(row.get("level") or "info").lower()
    style = LEVEL_STYLE.get(level, "")
    when = row.get("createdAt") or row.get("timestamp") or ""
    rid = row.get("requestId")
    text = (f"[dim]{esc(when)}[/dim] [{style}]{esc(level.upper()):<7}[/{style}] "
            f"[bold]{esc(row.get('worker') or '-')}[/bold]") if style else (
        f"[dim]{esc(when)}[/dim] {esc(level.upper()):<7} [bold]{esc(row.get('worker') or '-')}[/bold]")
    if rid:
        text += f" [dim]{esc(rid)}[/dim]"
    return f"{text} {esc(row.get('message') or '')}"


# ----------------------------------------------------------------------------- what more than one command shows
def print_tools(tools: list[dict[str, Any]]) -> None:
    rows = []
    for t in tools:
        state = "ok" if t["ok"] else ("MISSING" if not t["found"] else "TOO OLD")
        if not t["ok"] and not t["required"]:
            state += " (optional)"
        rows.append([t["name"], state, t["version"] or "", t["needed_for"]])
    show(table(["tool", "state", "version", "needed for"], rows))
    for t in tools:
        if not t["ok"]:
            say(f"[{'red' if t['required'] else 'yellow'}]{esc(t['name'])}:[/] {esc(t['error'])}. {esc(t['fix'])}")


def say_export(dump: Any) -> None:
    say(f"Exported {dump.rows} row(s) of {len(dump.tables)} table(s) to [bold]{esc(dump.path)}[/bold]")
    say(f"Restore it with `hoox db import {esc(dump.path)}` (into an empty or freshly reset ledger).")


# ----------------------------------------------------------------------------- the workspace's audits
def report_audits(ws: Workspace, json_out: bool, extra: list[dict[str, Any]] | None = None) -> None:
    """`hoox check setup` and `hoox repair check`, one report: every audit of hoox_cli.core.audits with its
    fix and repair (and `extra` ones of the same shape after them); exit 1 when one fails."""
    from hoox_cli.core.audits import run_audits

    checks = run_audits(ws) + (extra or [])
    ok = all(c["ok"] for c in checks)
    if json_out:
        emit_json({"ok": ok, "workspace": str(ws.root), "checks": checks})
    else:
        for c in checks:
            say(f"{'[green]PASS[/green]' if c['ok'] else '[red]FAIL[/red]'} {esc(c['name'])}: {esc(c['detail'])}")
            if not c["ok"] and c["fix"]:
                say(f"     fix: {esc(c['fix'])}")
        failed = [c for c in checks if not c["ok"]]
        if not failed:
            say("[green]The workspace is set up.[/green]")
        else:
            say(f"[red]{len(failed)} check(s) failed.[/red]"
                + (" `hoox repair all` fixes those with a repair." if any(c["repair"] for c in failed) else ""))
    if not ok:
        import typer  # the audits report runs under a Typer command

        raise typer.Exit(1)
