"""`hoox logs tail [WORKER]` follows the workers' structured logs live; `hoox logs download` saves a range.

`logs download --since T --until T [--worker W] [--level L] -o FILE [--format jsonl|text]` reads the
system_logs of the range through the edge (hoox_cli.core.edge: `--remote URL` or HOOX_API_URL, else the
local edge, running or not), the operator API's `/v1/logs/export` (oldest first, paged). Each JSON line
is `{"id", "createdAt", "level", "worker", "requestId", "message", "details"}`. --json prints
`{"file", "format", "source" (the edge's URL, or "local ledger"), "since", "until", "worker", "level", "lines",
"edge": {"url", "local", "running"}}`.

`logs tail`:

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
from pathlib import Path
from typing import Annotated, Any

import typer

from hoox_cli.core.connection import operator_client
from hoox_cli.core.errors import fail
from hoox_cli.core.redact import scrub
from hoox_cli.options import JsonOpt, RemoteOpt, handle_errors, remember_remote, remote_of
from hoox_cli.output import dump, edge, err_console, esc, format_log_line, known_worker, say, warn, where

# The levels workers write (hoox_edge.shared.logs.LEVELS), copied so `hoox --help` imports no edge code;
# tests/test_cli.py checks that the two stay equal.
LEVELS = ("debug", "info", "warning", "error", "critical")

app = typer.Typer(help="Follow the edge's logs, or download a time range of them.", no_args_is_help=True)



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
    from hoox_cli.core.client import StreamState

    known_worker(worker)
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


# ----------------------------------------------------------------------------- download
def parse_when(text: str, *, now: float) -> str:
    """An ISO date/time (UTC unless it says otherwise) or an age like 30m, 2h, 7d → the ledger's time format."""
    import re
    from datetime import UTC, datetime

    t = text.strip()
    m = re.fullmatch(r"(\d+)\s*([smhdw])", t)
    if m:
        seconds = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
        dt = datetime.fromtimestamp(now - seconds, UTC)
    elif t == "now":
        dt = datetime.fromtimestamp(now, UTC)
    else:
        try:
            dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
        except ValueError:
            fail("USAGE_ERROR", f"{text!r} is not a time: use an ISO date/time (2026-01-05, 2026-01-05T12:00Z) or "
                                "an age (30m, 2h, 7d).", exit_code=2)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@app.command()
@handle_errors
def download(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", dir_okay=False, help="File to write.")],
    since: Annotated[str, typer.Option("--since", help="Start: ISO time (UTC by default) or an age: 30m, 2h, 7d.")]
    = "1d",
    until: Annotated[str, typer.Option("--until", help="End (exclusive): ISO time or an age; default now.")] = "now",
    worker: Annotated[str | None, typer.Option("--worker", "-w", help="Only this worker's lines.")] = None,
    level: Annotated[str | None, typer.Option("--level", "-l", help="Lowest level: debug, info, warning, error, "
                                                                   "critical.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl (one JSON object a line) or text.")] = "jsonl",
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Save the system logs of a time range to a file (the local ledger, or an edge's operator API)."""
    import os

    from hoox_edge.shared import clock

    from hoox_cli.output import emit_json

    if fmt not in ("jsonl", "text"):
        fail("USAGE_ERROR", "--format must be jsonl or text.", exit_code=2)
    known_worker(worker)
    if level is not None and level.lower() not in (*LEVELS, "warn"):
        fail("USAGE_ERROR", f"--level must be one of {', '.join(LEVELS)}.", exit_code=2)
    lv = LEVELS[_rank(level)] if level else None
    now = clock.now()
    start, end = parse_when(since, now=now), parse_when(until, now=now)
    if start >= end:
        fail("USAGE_ERROR", f"--since ({start}) must be before --until ({end}).", exit_code=2)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    count = 0
    with edge(remote_of(ctx, remote)) as e, tmp.open("w", encoding="utf-8") as f:
        for row in e.logs_export(since=start, until=end, worker=worker, level=lv):
            row = scrub(row)
            if fmt == "jsonl":
                f.write(json.dumps(row, default=str, ensure_ascii=False) + "\n")
            else:
                f.write(_text_line(row) + "\n")
            count += 1
    os.replace(tmp, output)
    result = {"file": str(output), "format": fmt, "source": e.info.url or "local ledger", "since": start,
              "until": end, "worker": worker, "level": lv, "lines": count, "edge": e.info.as_json()}
    if json_out:
        emit_json(result)
    else:
        say(f"Wrote {count} log line(s) from {esc(start)} to {esc(end)} to [bold]{esc(output)}[/bold]  {where(e.info)}")


def _text_line(row: dict[str, Any]) -> str:
    details = row.get("details")
    tail = f" {json.dumps(details, default=str, ensure_ascii=False)}" if details not in (None, {}, "") else ""
    rid = f" [{row['requestId']}]" if row.get("requestId") else ""
    return f"{row.get('createdAt')} {str(row.get('level') or '').upper():<8} {row.get('worker')}{rid}: " \
           f"{row.get('message')}{tail}"
