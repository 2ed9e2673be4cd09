"""`hoox logs tail [WORKER]`: follow the workers' structured logs live, until Ctrl+C.

It connects to the edge's event stream (`/v1/stream?topics=logs`), then prints the last `-n` lines
from `/v1/logs` (oldest first) and every new line as it is written. A dropped connection is
reconnected with the client's backoff and resumed with Last-Event-ID, so no line is lost or shown
twice; the reconnection is reported on stderr. Ctrl+C ends it with exit code 0.

--json prints JSON Lines (one object per log line, not one object in all: the output never ends):
`{"eventId", "logId", "createdAt", "level", "worker", "requestId", "message", "details"}`; `eventId`
is the stream's id (null for the history lines), usable with `--after` to resume later; `logId`
is the system_logs row id (the `id` of `hoox monitor logs`).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from hoox_cli.common import JsonOpt, err_console, esc, fail, handle_errors, say, scrub, warn
from hoox_cli.monitor_cmd import RemoteOpt, dump, format_log_line, operator_client, remember_remote, remote_of

app = typer.Typer(help="Follow the edge's logs.", no_args_is_help=True)

LEVELS = ("debug", "info", "warning", "error", "critical")


@app.callback()
def _group(ctx: typer.Context, remote: RemoteOpt = None) -> None:
    """Follow the edge's structured logs."""
    remember_remote(ctx, remote)


def _rank(level: str | None) -> int:
    lv = (level or "info").lower()
    lv = {"warn": "warning", "fatal": "critical"}.get(lv, lv)
    return LEVELS.index(lv) if lv in LEVELS else 1


@app.command()
@handle_errors
def tail(
    ctx: typer.Context,
    worker: Annotated[str | None, typer.Argument(help="Only this worker's lines (e.g. hoox, trade-worker).")] = None,
    level: Annotated[str | None, typer.Option("--level", "-l", help="Lowest level shown: debug, info, warning, "
                                                                   "error or critical.")] = None,
    lines: Annotated[int, typer.Option("--lines", "-n", help="Recent lines shown first (0: only new ones).",
                                       min=0)] = 10,
    after: Annotated[int | None, typer.Option("--after", metavar="EVENT_ID",
                                              help="Resume after this event id (replaces the recent lines).")] = None,
    max_lines: Annotated[int | None, typer.Option(
        "--max", metavar="N", min=1, help="Stop after N new lines (default: follow until Ctrl+C).")] = None,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print new log lines as the workers write them, until Ctrl+C."""
    from hoox_cli.client import StreamState

    if level is not None and level.lower() not in (*LEVELS, "warn"):
        fail("USAGE_ERROR", f"--level must be one of {', '.join(LEVELS)}.", exit_code=2)
    lowest = _rank(level) if level else 0
    newest_shown = 0  # system_logs id of the newest history line printed
    printed = 0

    def wanted(row: dict[str, Any]) -> bool:
        return (worker is None or row.get("worker") == worker) and _rank(row.get("level")) >= lowest

    def out(row: dict[str, Any], event_id: int | None) -> None:
        if json_out:
            obj = {"eventId": event_id, **{k: row.get(k) for k in (
                "logId", "createdAt", "level", "worker", "requestId", "message", "details")}}
            sys.stdout.write(json.dumps(scrub(obj), default=str) + "\n")
            sys.stdout.flush()
        else:
            say(format_log_line(row))

    with operator_client(remote_of(ctx, remote)) as client:
        first = True

        def on_state(state: StreamState) -> None:
            nonlocal first
            if state.state == "connected":
                if first:
                    first = False
                    # Connected first, history second: a line written in between is in both and
                    # printed once (log ids only grow); none falls between the two.
                    if lines and after is None:
                        history(client)
                    if not json_out:
                        err_console().print(f"[dim]following logs at {esc(client.base_url)} (Ctrl+C to stop)[/dim]")
                else:
                    err_console().print("[green]reconnected[/green]")
            elif state.state == "reconnecting":
                warn(f"{state.error} Reconnecting in {state.delay:.1f} s (attempt {state.attempt}).")

        def history(c: Any) -> None:
            nonlocal newest_shown
            rows = dump(c.logs(limit=lines, worker=worker, level=level)).get("items") or []
            for row in reversed(rows):
                newest_shown = max(newest_shown, int(row.get("id") or 0))
                if wanted(row):
                    out({**row, "logId": row.get("id")}, None)

        events = client.stream(["logs"], last_event_id=after, on_state=on_state)
        try:
            for ev in events:
                row = ev.data
                if not wanted(row):
                    continue
                if newest_shown and int(row.get("logId") or 0) <= newest_shown:
                    continue  # already printed from the history
                out(row, ev.id)
                printed += 1
                if max_lines is not None and printed >= max_lines:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            events.close()
