"""`hoox risk ...`: the risk manager through the operator API (HooxClient), local or remote.

Which edge: as `hoox monitor` (`--remote`, HOOX_API_URL, the workspace's local gateway).

--json prints the route's `result` as the API sends it (camelCase keys), one object:
- `risk status`     -> the /v1/risk result: {"at", "intervalMinutes", "lastRun": {"id", "trigger", "status",
                       "startedAt", "finishedAt", "durationMs", "positionsSeen", "actions", "errors", "ageSeconds"}
                       | null, "stale", "killSwitch": {"on", "reason"}, "settings": {"trailingStopPercent",
                       "takeProfitTargets", "maxDailyDrawdownPercent", "errors"}, "positions": [{"positionId", "mode",
                       "exchange", "symbol", "side", "size", "entryPrice", "markPrice", "markError", "unrealizedPnl",
                       "trailingPercent", "seenByRun", "watermark", "stopPrice", "stopKind", "distanceToStopPercent",
                       "targetsDone", "targetsTotal", "nextTarget": {"number", "profitPercent", "closeFraction",
                       "moveStopToBreakEven", "price"} | null, "closing"}], "drawdowns": [{"mode", "exchange", "day",
                       "startEquity", "startTakenAt", "equity", "drawdownPercent", "limitPercent", "trippedAt",
                       "measuredAt", "runId"}], "reconciliation": {"openIssues": [issue]}}
- `risk runs`       -> {"items": [run with "details"], "nextCursor"} (newest first)
- `risk config get` -> {"items": [KV entry: {"key", "type", "expected", "description", "default", "raw", "value",
                       "source", "error"}], "nextCursor": null}
- `risk config set` -> the same, plus "changed": [{"key", "previous", "stored"}]

The risk manager's prices are its runs' prices (every `agent:risk_interval_minutes`, 1-60, default
5): a stop is not a resting order at the exchange, and a wick between two runs is not seen.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hoox_cli.core.connection import operator_client
from hoox_cli.core.errors import fail
from hoox_cli.options import JsonOpt, RemoteOpt, handle_errors, remember_remote, remote_of
from hoox_cli.output import age, book_label, compact_table, dump, emit_json, esc, fmt, say, show

app = typer.Typer(help="The risk manager: stops, targets, drawdown, reconciliation, its runs and settings.",
                  no_args_is_help=True)
config_app = typer.Typer(help="The risk settings (validated by the edge's KV manifest).", no_args_is_help=True)
app.add_typer(config_app, name="config")

RUN_STATUSES = ("running", "ok", "error", "skipped")


@app.callback()
def _group(ctx: typer.Context, remote: RemoteOpt = None) -> None:
    """The risk manager through the edge's operator API."""
    remember_remote(ctx, remote)


def _pct(value: Any) -> str:
    return "" if value is None else f"{value:.2f}%"


def _stop(p: dict[str, Any]) -> str:
    if p.get("stopPrice") is None:
        return "none" if p.get("seenByRun") else "not seen yet"
    kind = "BE" if p.get("stopKind") == "break_even" else "trail"
    return f"{fmt(p['stopPrice'])} ({kind})"


def _target(p: dict[str, Any]) -> str:
    t = p.get("nextTarget")
    if not t:
        return "—" if not p.get("targetsTotal") else "all done"
    return f"#{t['number']} {fmt(t['price'])} (+{fmt(t['profitPercent'])}%)"


@app.command()
@handle_errors
def status(ctx: typer.Context, remote: RemoteOpt = None, json_out: JsonOpt = False) -> None:
    """Per open position its stop, next target and distance to the stop; today's drawdown against the
    limit; the last run and its age; open reconciliation issues."""
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.risk())
    if json_out:
        emit_json(result)
        return
    last = result.get("lastRun")
    interval = result.get("intervalMinutes")
    if last:
        line = (f"Last run #{last['id']} {age(last['startedAt'])} ago ({last['trigger']}, {last['status']}, "
                f"{last['positionsSeen']} positions, {last['actions']} actions, {last['errors']} errors); "
                f"a run every {interval} min")
        say(f"[yellow]{esc(line)} — STALE[/yellow]" if result.get("stale") else esc(line))
    else:
        say(f"[yellow]No risk run yet (a run every {interval} min).[/yellow]")
    ks = result.get("killSwitch") or {}
    if ks.get("on"):
        say(f"[bold red]Kill switch ON[/bold red]: {esc(ks.get('reason') or '')}")
    for err in (result.get("settings") or {}).get("errors") or []:
        say(f"[red]setting error:[/red] {esc(err)}")
    positions = result.get("positions") or []
    if positions:
        rows = [[p["mode"], p["exchange"], p["symbol"], p["side"], fmt(p["size"]), fmt(p.get("markPrice")),
                 fmt(p.get("watermark")), _stop(p), _pct(p.get("distanceToStopPercent")), _target(p)]
                for p in positions]
        show(compact_table(["book", "exchange", "symbol", "side", "size", "mark", "watermark", "stop", "to stop",
                            "next target"], rows, title=f"{len(positions)} open position(s) — {book_label(None)}"))
    else:
        say("No open positions (paper and live books).")
    dds = result.get("drawdowns") or []
    if dds:
        rows = [[d["mode"], d["exchange"], fmt(d["startEquity"]), fmt(d["equity"]), _pct(d["drawdownPercent"]),
                 _pct(d["limitPercent"]) if d["limitPercent"] else "off", "TRIPPED" if d.get("trippedAt") else "",
                 age(d["measuredAt"])] for d in dds]
        show(compact_table(["book", "exchange", "start", "equity", "drawdown", "limit", "", "measured"], rows,
                           title=f"Today's drawdown ({dds[0]['day']} UTC)"))
    issues = (result.get("reconciliation") or {}).get("openIssues") or []
    for i in issues:
        say(f"[bold red]Reconciliation[/bold red] {esc(i['exchange'])} {esc(i['symbol'])} ({esc(i['kind'])}): "
            f"ledger {esc(i.get('ledgerSide') or 'nothing')} {esc(fmt(i.get('ledgerSize')))}, exchange "
            f"{esc(i.get('exchangeSide') or 'nothing')} {esc(fmt(i.get('exchangeSize')))}, since "
            f"{esc(age(i['firstSeenAt']))} ago")
    if not issues:
        say("Reconciliation: no open issue.")


@app.command()
@handle_errors
def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=500, help="Runs to show.")] = 20,
    status_: Annotated[str | None, typer.Option("--status", help="Only runs of this status: "
                                                + ", ".join(RUN_STATUSES) + ".")] = None,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Runs older than this id (a page's nextCursor).")]
    = None,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The risk manager's runs, newest first."""
    if status_ is not None and status_ not in RUN_STATUSES:
        fail("USAGE_ERROR", f"--status takes one of {', '.join(RUN_STATUSES)}, got {status_!r}.", exit_code=2)
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.risk_runs(limit=limit, cursor=cursor, status=status_))
    if json_out:
        emit_json(result)
        return
    items = result.get("items") or []
    if not items:
        say("No risk runs yet.")
        return
    rows = [[r["id"], r["startedAt"], r["trigger"], r["status"], fmt(r.get("durationMs")), r["positionsSeen"],
             r["actions"], r["errors"]] for r in items]
    show(compact_table(["run", "started", "trigger", "status", "ms", "positions", "actions", "errors"], rows,
                       title=f"{len(items)} risk run(s), newest first"))
    if result.get("nextCursor"):
        say(f"[dim]older: `hoox risk runs --cursor {result['nextCursor']}`[/dim]")


def _show_config(result: dict[str, Any]) -> None:
    rows = [[e["key"], e.get("raw") if e.get("raw") is not None else "", e["source"],
             e.get("error") or e.get("expected") or ""] for e in result.get("items") or []]
    show(compact_table(["key", "stored", "source", "expected / error"], rows, title="Risk settings"))


@config_app.command("get")
@handle_errors
def config_get(ctx: typer.Context, remote: RemoteOpt = None, json_out: JsonOpt = False) -> None:
    """The risk settings: trailing stop (and per-symbol overrides), take-profit targets, daily drawdown
    limit, run interval."""
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.risk_config())
    if json_out:
        emit_json(result)
        return
    _show_config(result)


@config_app.command("set")
@handle_errors
def config_set(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="trade:trailing_stop_percent, trade:trailing_stop_percent:{SYMBOL}, "
                                            "trade:take_profit_targets, trade:max_daily_drawdown_percent or "
                                            "agent:risk_interval_minutes.")],
    value: Annotated[str | None, typer.Argument(help="The value (a number, or JSON for the targets).")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the stored value: the default (for an "
                                                           "override: the global trailing stop) applies.")] = False,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Set one risk setting; the edge validates it (nothing is written when it refuses)."""
    if (value is None) == (not remove):
        fail("USAGE_ERROR", "give a VALUE, or --remove (not both).", exit_code=2)
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.set_risk_config({key: None if remove else value}))
    if json_out:
        emit_json(result)
        return
    for c in result.get("changed") or []:
        say(f"{esc(c['key'])}: {esc(c.get('previous') or '(default)')} → {esc(c.get('stored') or '(default)')}")
    _show_config(result)
