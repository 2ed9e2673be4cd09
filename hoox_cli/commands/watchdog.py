"""`hoox watchdog ...`: the signal watchdog, through the operator API (local or remote).

A source is `webhook` (every signal through POST /webhook) or a strategy a signal names (its
`strategy` field). An expectation says at most N minutes may pass between two of its signals
(heartbeats count), optionally only within trading hours; the gateway's cron raises one alert when a
source goes quiet and one when it is back.

--json:
- `watchdog status` -> {"time", "lastCheck": {"checkedAt", "sources", "quiet", "errors"} | null,
                       "sources": [{"source", "lastSignalAt", "lastKind", "lastRequestId", "ageSeconds",
                       "signals", "heartbeats", "watchingSince", "expectation", "expectationError",
                       "state": ok | quiet | outside_hours | no_expectation, "gapMinutes", "quietSince",
                       "alerted", "pendingAlerts": [{"kind", "createdAt", "attempts", "error"}]}]}
- `watchdog expect` -> {"key", "source", "expectation" (null when cleared), "previous" (the stored text)}

`watchdog expect` checks the value against the KV manifest before anything is sent (INVALID_VALUE,
nothing written); the edge checks it again.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from hoox_cli.core.connection import operator_client
from hoox_cli.core.errors import fail
from hoox_cli.options import JsonOpt, RemoteOpt, handle_errors, remember_remote, remote_of
from hoox_cli.output import dump, emit_json, esc, say

app = typer.Typer(help="Signal watchdog: each source's last signal against its expectation.", no_args_is_help=True)
_HOURS = re.compile(r"^(?P<days>\S+)\s+(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})(?:\s+(?P<tz>\S+))?$")
STATE_STYLE = {"ok": "green", "quiet": "bold red", "outside_hours": "dim", "no_expectation": "dim"}


@app.callback()
def _group(ctx: typer.Context, remote: RemoteOpt = None) -> None:
    """The signal watchdog through the edge's operator API."""
    remember_remote(ctx, remote)


def describe(exp: dict[str, Any] | None) -> str:
    """`≤ 60 min, mon-fri 08:00-22:00 UTC` (or `—`)."""
    if not exp:
        return "—"
    text = f"≤ {exp.get('maxGapMinutes')} min"
    h = exp.get("hours")
    if h:
        text += f", {h.get('days')} {h.get('from')}-{h.get('to')} {h.get('tz') or 'UTC'}"
    return text


def span(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    m = int(seconds // 60)
    if m < 1:
        return f"{int(seconds)} s"
    if m < 120:
        return f"{m} min"
    if m < 48 * 60:
        return f"{m // 60} h {m % 60:02d} min"
    return f"{m // 1440} d {m % 1440 // 60} h"


@app.command()
@handle_errors
def status(ctx: typer.Context, remote: RemoteOpt = None, json_out: JsonOpt = False) -> None:
    """Each source: its last signal and age, its expectation, its state (ok, quiet, outside hours)."""
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.watchdog())
    if json_out:
        emit_json(result)
        return
    items = result.get("sources") or []
    check = result.get("lastCheck")
    say(f"last check {esc(check['checkedAt'])}" if check else
        "[yellow]the watchdog's check has not run yet (the gateway's cron, every minute)[/yellow]")
    for err in (check or {}).get("errors") or []:
        say(f"[red]{esc(err)}[/red]")
    if not items:
        say("No signal yet and no expectation. Set one with `hoox watchdog expect SOURCE --max-gap-minutes N`.")
        return
    say(f"{len(items)} source(s) at {esc(result.get('time'))}")
    for s in items:  # one line each (a table of these columns does not fit 80 columns)
        state = s["state"]
        last = (f"last {s.get('lastKind')} {span(s.get('ageSeconds'))} ago" if s.get("lastSignalAt")
                else "no signal yet")
        parts = [f"[bold]{esc(s['source'])}[/bold]", f"[{STATE_STYLE[state]}]{state.replace('_', ' ')}[/]",
                 esc(last)]
        if s.get("expectationError"):
            parts.append(f"[red]invalid expectation: {esc(s['expectationError'])}[/red]")
        elif s.get("expectation"):
            gap = s.get("gapMinutes")
            parts.append(f"expects {esc(describe(s['expectation']))}"
                         + ("" if gap is None else f", {gap:.0f} min of it used"))
        parts += [f"[yellow]{p['kind']} alert pending[/yellow]" for p in s.get("pendingAlerts") or []]
        say("  ".join(parts))


def _hours(text: str) -> dict[str, str]:
    m = _HOURS.match(text.strip())
    if not m:
        fail("USAGE_ERROR", f"--hours must look like \"mon-fri 08:00-22:00\" or \"mon-fri 08:00-22:00 UTC+02:00\", "
                            f"got {text[:40]!r}.", exit_code=2)
    out = {"days": m["days"], "from": m["start"], "to": m["end"]}
    if m["tz"]:
        out["tz"] = m["tz"]
    return out


@app.command()
@handle_errors
def expect(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="webhook, or a strategy name signals carry (e.g. btc-trend).")],
    max_gap_minutes: Annotated[int | None, typer.Option("--max-gap-minutes", "-m", metavar="N",
                                                        help="At most N minutes between two signals.")] = None,
    hours: Annotated[str | None, typer.Option(
        "--hours", help='Only within trading hours: "DAYS HH:MM-HH:MM [UTC±HH:MM]", '
                        'e.g. "mon-fri 08:00-22:00".')] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the expectation: the source is no longer "
                                                        "watched.")] = False,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Set (or --clear) how often a source must send a signal or a heartbeat."""
    from hoox_edge.shared import settings

    key = settings.expectation_of(source)
    if clear == (max_gap_minutes is not None) or (clear and hours is not None):
        fail("USAGE_ERROR", "Give --max-gap-minutes N (and optionally --hours), or --clear.", exit_code=2)
    value: dict[str, Any] | None = None
    if not clear:
        value = {"maxGapMinutes": max_gap_minutes}
        if hours is not None:
            value["hours"] = _hours(hours)
        try:
            settings.encode(key, value)  # the manifest's own check, before anything is sent
        except settings.SettingError as exc:
            fail("INVALID_VALUE", f"Invalid value for {exc.key}: {exc.message}. Nothing was written.",
                 details={"key": exc.key})
    with operator_client(remote_of(ctx, remote)) as client:
        if value is None:
            previous = dump(client.kv_delete(key)).get("previous")
        else:
            previous = dump(client.kv_put(key, value)).get("previous")
    if json_out:
        emit_json({"key": key, "source": source, "expectation": value, "previous": previous})
        return
    if value is None:
        say(f"{esc(source)} is no longer watched" + ("" if previous else " (it had no expectation)") + ".")
    else:
        say(f"{esc(source)}: {esc(describe(value))} between signals (heartbeats count).")
