"""`hoox report ...`: P&L reports, through the operator API (local or remote).

report-worker makes them (cron 06:00 and 18:00 UTC over the last 12 h, or `report now`), keeps them 30
days in R2 (`reports/daily-pnl-YYYY-MM-DD-HH.pdf` and `.html`) and sends them to Telegram.

--json:
- `report now`  -> the ReportResult: {"report": {"name", "createdAt", "period", "since", "until", "htmlBytes",
                   "pdfBytes", "renderer", "pdfError"}, "books": [{"mode", "tradeCount", "closingTrades", "winRate",
                   "realizedPnl", "fees", "netRealizedPnl", "unrealizedPnl", "openPositions"}],
                   "telegram": {"channel", "method", "messageId", "error"}, "swept"}
- `report list` -> {"items": [report, ...], "nextCursor": null, "retentionDays": 30}
- `report get`  -> {"name", "file", "bytes", "contentType"}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from hoox_cli.core.connection import operator_client
from hoox_cli.core.errors import fail
from hoox_cli.options import JsonOpt, RemoteOpt, handle_errors, remember_remote, remote_of
from hoox_cli.output import dump, emit_json, esc, say

app = typer.Typer(help="P&L reports: make one now, list them, download one (PDF or HTML).", no_args_is_help=True)
PERIODS = ("12h", "24h", "7d")


@app.callback()
def _group(ctx: typer.Context, remote: RemoteOpt = None) -> None:
    """P&L reports through the edge's operator API."""
    remember_remote(ctx, remote)


def _money(v: float | None) -> str:
    return "—" if v is None else f"{v:+,.2f}"


def _size(n: int | None) -> str:
    return "—" if n is None else (f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} B")


@app.command()
@handle_errors
def now(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", "-p", metavar="12h|24h|7d",
                                        help="The time the report covers, ending now.")] = "24h",
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Make a P&L report now, store it and send it to Telegram."""
    if period not in PERIODS:
        fail("USAGE_ERROR", f"--period must be one of {', '.join(PERIODS)}, got {period[:20]!r}.", exit_code=2)
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.make_report(period))
    if json_out:
        emit_json(result)
        return
    rep = result["report"]
    say(f"Report [bold]{esc(rep['name'])}[/bold]: last {esc(rep['period'])}, "
        f"{esc(rep['since'])} to {esc(rep['until'])}")
    for b in result["books"]:
        if not b["tradeCount"] and not b["openPositions"]:
            say(f"  {esc(b['mode'])}: no fills, no open positions")
            continue
        rate = "—" if b["winRate"] is None else f"{b['winRate'] * 100:.1f} %"
        say(f"  {esc(b['mode'])}: net P&L {_money(b['netRealizedPnl'])} (gross {_money(b['realizedPnl'])}, "
            f"fees {b['fees']:,.2f}), {b['tradeCount']} fill(s), win rate {rate}, "
            f"{b['openPositions']} open position(s)")
    if rep["pdfBytes"] is not None:
        say(f"PDF {_size(rep['pdfBytes'])} ({esc(rep['renderer'])}) and HTML kept.")
    else:
        say(f"[yellow]HTML only: {esc(rep['pdfError'])}[/yellow]")
    tg = result["telegram"]
    if tg["channel"] == "telegram":
        say(f"Sent to Telegram ({esc(tg['method'])})."
            + (f" [yellow]{esc(tg['error'])}[/yellow]" if tg["error"] else ""))
    elif tg["channel"] == "outbox":
        say("No Telegram bot token on report-worker: the summary is in telegram-worker's alert outbox.")
    else:
        say(f"[red]Not sent to Telegram: {esc(tg['error'])}[/red]")
    if result["swept"]:
        say(f"{result['swept']} report file(s) older than 30 days deleted.")
    say(f"Download it with `hoox report get {esc(rep['name'])}`.")


@app.command("list")
@handle_errors
def list_(ctx: typer.Context, remote: RemoteOpt = None, json_out: JsonOpt = False) -> None:
    """The stored reports, newest first (kept 30 days)."""
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.reports())
    if json_out:
        emit_json(result)
        return
    items = result["items"]
    if not items:
        say("No report yet. Make one with `hoox report now` (report-worker's cron makes one at 06:00 and 18:00 UTC).")
        return
    say(f"{len(items)} report(s), kept {result['retentionDays']} days:")
    for i in items:
        pdf = f"PDF {_size(i['pdfBytes'])}" if i["pdfBytes"] is not None else "[yellow]no PDF[/yellow]"
        say(f"  [bold]{esc(i['name'])}[/bold]  {esc(i['period'] or '?')}  {pdf}  HTML {_size(i['htmlBytes'])}")


@app.command()
@handle_errors
def get(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A report's name from `hoox report list` (add .pdf or .html to "
                                             "choose the file; without, its PDF when it has one), or latest.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE",
                                                help="Where to write it. Default: the report's file name "
                                                     "in the current folder.")] = None,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Download a report (PDF, else HTML) to a file."""
    if output is not None and not output.is_dir() and not output.parent.is_dir():
        fail("INVALID_VALUE", f"--output: the folder {output.parent} does not exist; nothing was downloaded.")
    with operator_client(remote_of(ctx, remote)) as client:
        file = client.report_file(name)
    target = output if output is not None else Path(file.filename)
    if target.is_dir():
        target = target / file.filename
    tmp = target.with_name(target.name + ".part")
    tmp.write_bytes(file.content)
    os.replace(tmp, target)  # never a half-written report under the final name
    out: dict[str, Any] = {"name": file.filename.rsplit(".", 1)[0], "file": str(target), "bytes": len(file.content),
                           "contentType": file.content_type}
    if json_out:
        emit_json(out)
        return
    say(f"Wrote {esc(file.filename)} ({_size(len(file.content))}) to [bold]{esc(target)}[/bold]")
