"""`hoox monitor ...`: the edge's state through the operator API (HooxClient), local or remote.

Which edge: `--remote URL` (on the command or on the group: `hoox monitor --remote URL status`),
else HOOX_API_URL, else the workspace's local gateway; the token from HOOX_API_TOKEN, else the
workspace's OPERATOR_API_KEY (only for the local gateway or a loopback URL).

--json prints the route's `result` as the API sends it (camelCase keys), one object:
- `monitor status`        -> the /v1/status result
- `monitor positions`     -> {"items": [{"id", "exchange", "symbol", "side", "size", "entryPrice", "leverage",
                             "mode", "markPrice", "markError", "unrealizedPnl", "liquidationPrice", "margin",
                             "notional", "realizedPnl", "fees", "requestId", "openedAt", "updatedAt"}],
                             "nextCursor": null, "mode": "paper"|"live"|"all" (the book shown)}
- `monitor trades [N]`    -> {"items": [...newest first, at most N], "nextCursor"}; an item is a /v1/trades
                             Trade (with "mode", "filledQty", "limitPrice", "reason", "expiresAt")
- `monitor logs [WORKER]` -> {"items": [...newest first], "nextCursor"}
- `monitor queue-depth`   -> the /v1/queues result
- `monitor flatten`       -> {"scope": {"mode", "exchange", "symbol"}, "cancelled": [outcome], "closes": [outcome],
                             "closed": n, "alreadyFlat": n, "closing": n, "failed": n, "time"}; outcome = {"requestId",
                             "exchange", "symbol", "mode", "side", "size" (closes), "status", "result"?,
                             "error"?: {"code", "message"}, "note"?}; a close's status is Filled, Rejected,
                             in_progress (may still fill: follow its requestId), already_flat (nothing sent:
                             requestId closed it) or closing (nothing sent: requestId, another close, is
                             closing it); a cancel's Cancelled (or what the order became meanwhile)
- `monitor kill-switch show|on|off` -> the /v1/kill-switch result {"on", "reason", "alerted", "eventId",
                             "flatten": the flatten object above with `on --flatten`, else null}
- `monitor backup`        -> the object of `hoox db export` (the local ledger; not through the API)

Books (paper and live, DESIGN decision 12): `--mode paper|live|all` picks the book; `positions`
shows the desk's current book by default (KV trade:mode), `trades` both, `flatten` every book. Every
human output names the book it shows.

Confirmation: `kill-switch on|off` and `flatten` ask before they act unless `--yes` (`flatten` and
`kill-switch on --flatten` first show what they would close). Under --json (or --quiet) nothing is
ever prompted (stdout must stay one JSON object and a script would hang on a prompt), so without
`--yes` they change nothing and answer CONFIRMATION_REQUIRED (exit 2). A flatten with a close that
failed (or a resting order it could not cancel) exits 1, also under --json; a position already flat,
or being closed by another request (a concurrent flatten: that one reports its outcome), is not a
failure.

Errors of the API keep their code (`UNAUTHORIZED`, `VALIDATION_ERROR`, ...); no answer at all is
EDGE_UNREACHABLE, no URL/token is NO_EDGE_CONFIG.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hoox_cli.core.connection import operator_client
from hoox_cli.core.errors import fail
from hoox_cli.options import JsonOpt, RemoteOpt, book_option, handle_errors, remember_remote, remote_of
from hoox_cli.output import (
    Book,
    book_label,
    compact_table,
    dump,
    emit_json,
    esc,
    fmt,
    format_log_line,
    known_worker,
    must_ask,
    say,
    show,
    table,
    warn,
)

if TYPE_CHECKING:
    from hoox_cli.core.client import HooxClient

app = typer.Typer(help="Watch the edge: status, positions, trades, logs, queues; flatten, kill switch, "
                       "ledger backup.", no_args_is_help=True)

PAGE_LIMIT = 100  # items asked per request when a listing needs more


@app.callback()
def _group(ctx: typer.Context, remote: RemoteOpt = None) -> None:
    """Watch the edge through its operator API."""
    remember_remote(ctx, remote)


def _short_time(iso: Any) -> str:
    """`2026-01-05T12:00:00.123Z` -> `01-05 12:00:00` (narrow tables fit an 80-column terminal)."""
    text = str(iso or "")
    return f"{text[5:10]} {text[11:19]}" if len(text) >= 19 and text[10] == "T" else text


def _newest(count: int, fetch: Callable[[int, str | None], Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The newest `count` items of a paged listing: fetch(limit, cursor) pages until enough or no more."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(items) < count:
        page = dump(fetch(min(count - len(items), PAGE_LIMIT), cursor))
        items.extend(page.get("items") or [])
        cursor = page.get("nextCursor")
        if not cursor:
            break
    return items[:count], cursor


# ============================================================================ status
@app.command()
@handle_errors
def status(ctx: typer.Context, remote: RemoteOpt = None, json_out: JsonOpt = False) -> None:
    """Kill switch, modes, worker health, queue depth and the last signal."""
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.status())
        url = client.base_url
    if json_out:
        emit_json(result)
        return
    print_status(result, url)


def print_status(s: dict[str, Any], url: str) -> None:
    ks = s.get("killSwitch") or {}
    runtime = s.get("runtime") or "?"
    say(f"[bold]hoox edge[/bold] {esc(url)} ({esc(runtime)})   version {esc(s.get('version') or 'unknown')}")
    if ks.get("on"):
        say(f"[bold red]KILL SWITCH ON[/bold red] {esc(ks.get('reason') or '')}".rstrip())
    else:
        say("[green]kill switch off[/green]")
    mode = s.get("tradingMode")
    say(f"trading mode [bold]{esc(mode)}[/bold]" + (" (paper exchange: no real orders)" if mode == "paper" else "")
        + f"   queue mode {esc(s.get('queueMode'))}")
    q = s.get("queues") or {}
    if q.get("available"):
        say(f"trade queue: depth {esc(fmt(q.get('depth')))}, in flight {esc(fmt(q.get('inFlight')))}, "
            f"dead letters {esc(fmt(q.get('deadLetters')))}")
    else:
        say(f"trade queue: not available ({esc(q.get('error') or 'no reason given')})")
    say(f"last signal {esc(s.get('lastSignalAt') or 'none yet')}")
    workers = s.get("workers") or []
    if workers:
        style = {"online": "green", "degraded": "yellow", "offline": "red", "disabled": "dim"}
        from rich.text import Text

        from hoox_cli.core.models import status_label
        from hoox_cli.core.redact import scrub

        def label(w: dict[str, Any]) -> Text:
            text = status_label(str(w.get("status")), w.get("features"), w.get("error"))
            return Text(text, style="dim" if text in ("not available", "disabled")
                        else style.get(str(w.get("status")), ""))

        rows = [[Text(str(w.get("name"))), label(w),
                 Text(fmt(w.get("latencyMs"), 4)), Text(str(scrub(w.get("error") or "")))] for w in workers]
        from rich.table import Table

        t = Table("worker", "status", "latency ms", "error", header_style="bold")
        for row in rows:
            t.add_row(*row)
        show(t)


# ============================================================================ positions
@app.command()
@handle_errors
def positions(
    ctx: typer.Context,
    mode: Annotated[Book | None, book_option("the book the desk trades in now (KV trade:mode)")] = None,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Open positions of a book: mark price, unrealized P&L, liquidation estimate."""
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.positions(mode=mode.value if mode else None))
    if json_out:
        emit_json(result)
        return
    book = result.get("mode")
    items = result.get("items") or []
    if not items:
        say(f"No open positions ({book_label(book)}).")
        return
    both = book == "all"
    columns = [*(["book"] if both else []), "exchange", "symbol", "side", "size", "entry", "mark", "uPnL",
               "liq. est."]
    rows = [[*([p.get("mode")] if both else []), p.get("exchange"), p.get("symbol"), p.get("side"),
             fmt(p.get("size")), fmt(p.get("entryPrice")), fmt(p.get("markPrice")) or "n/a",
             fmt(p.get("unrealizedPnl"), 6), fmt(p.get("liquidationPrice"))] for p in items]
    show(compact_table(columns, rows, title=f"{len(items)} open position(s) — {book_label(book)}",
                       optional=("liq. est.",)))
    priced = [p["unrealizedPnl"] for p in items if p.get("unrealizedPnl") is not None]
    say(f"unrealized P&L {esc(fmt(sum(priced), 6))} USDT over {len(priced)} priced position(s)")
    for p in items:
        if p.get("markPrice") is None:
            say(f"[yellow]no mark price for {esc(p.get('exchange'))} {esc(p.get('symbol'))}[/yellow] "
                f"(left out of the sum): {esc(p.get('markError') or 'no reason given')}")


# ============================================================================ trades
@app.command()
@handle_errors
def trades(
    ctx: typer.Context,
    count: Annotated[int, typer.Argument(metavar="[N]", help="How many of the newest trades.", min=1)] = 20,
    symbol: Annotated[str | None, typer.Option("--symbol", "-s", help="Only this symbol (e.g. BTCUSDT).")] = None,
    exchange: Annotated[str | None, typer.Option("--exchange", "-e", help="Only this exchange.")] = None,
    status_: Annotated[str | None, typer.Option("--status", help="Only trades in this status.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only trades at or after this ISO time.")] = None,
    mode: Annotated[Book | None, book_option("all (both books)")] = None,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The newest N trades of the ledger (fills, resting orders, rejections, failures), newest first."""
    book = mode.value if mode else "all"
    with operator_client(remote_of(ctx, remote)) as client:
        items, cursor = _newest(count, lambda limit, cursor: client.trades(
            limit=limit, cursor=cursor, symbol=symbol, exchange=exchange, status=status_, since=since, mode=book))
    if json_out:
        emit_json({"items": items, "nextCursor": cursor})
        return
    if not items:
        say(f"No trades yet ({book_label(book)})." if mode else
            "No trades yet. Send one with `hoox signal send --symbol BTCUSDT --action LONG`.")
        return
    # One exchange (the usual case) goes in the title, so the table fits an 80-column terminal; so
    # does one book.
    venues = sorted({str(t.get("exchange")) for t in items})
    one = len(venues) == 1
    books = sorted({str(t.get("mode")) for t in items})
    mixed = len(books) > 1
    columns = ["time (UTC)", *([] if one else ["exchange"]), *(["book"] if mixed else []), "symbol", "action",
               "qty", "price", "fee", "pnl", "status", "request"]
    rows = [[_short_time(t.get("createdAt")), *([] if one else [t.get("exchange")]),
             *([t.get("mode")] if mixed else []), t.get("symbol"), t.get("action"), fmt(t.get("quantity")),
             fmt(t.get("price")), fmt(t.get("fee"), 4), fmt(t.get("realizedPnl"), 6),
             t["status"] + (f" {t['errorCode']}" if t.get("errorCode") else ""),
             str(t.get("requestId") or "")[:8]] for t in items]
    shown = book_label(book) + (f", all {books[0]}" if book == "all" and not mixed else "")
    show(compact_table(columns, rows, title=f"newest {len(items)} trade(s)" + (f" on {venues[0]}" if one else "")
                       + f" — {shown}", optional=("fee", "time (UTC)", "pnl", "request")))
    if cursor:
        say(f"[dim]older trades: `hoox monitor trades {count * 2}`[/dim]")


# ============================================================================ logs
@app.command()
@handle_errors
def logs(
    ctx: typer.Context,
    worker: Annotated[str | None, typer.Argument(help="Only this worker's logs (e.g. hoox, trade-worker).")] = None,
    level: Annotated[str | None, typer.Option(
        "--level", "-l", help="Lowest level shown: debug, info, warning, error or critical.")] = None,
    grep: Annotated[str | None, typer.Option("--grep", "-g", help="Only lines containing this text.")] = None,
    count: Annotated[int, typer.Option("--lines", "-n", help="How many of the newest lines.", min=1)] = 50,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The newest structured log lines of the workers (system_logs), newest first."""
    known_worker(worker)
    with operator_client(remote_of(ctx, remote)) as client:
        items, cursor = _newest(count, lambda limit, cursor: client.logs(
            limit=limit, cursor=cursor, level=level, worker=worker, q=grep))
    if json_out:
        emit_json({"items": items, "nextCursor": cursor})
        return
    if not items:
        say("No log lines match." if (worker or level or grep) else "No log lines yet.")
        return
    for row in reversed(items):  # oldest first, like a log file
        say(format_log_line(row))


# ============================================================================ queues
@app.command("queue-depth")
@handle_errors
def queue_depth(ctx: typer.Context, remote: RemoteOpt = None, json_out: JsonOpt = False) -> None:
    """Signals waiting for a retry, in flight, and dead letters with their last error."""
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.queues())
    if json_out:
        emit_json(result)
        return
    for q in result.get("queues") or []:
        oldest = f", oldest from {q['oldestEnqueuedAt']}" if q.get("oldestEnqueuedAt") else ""
        say(f"[bold]{esc(q.get('name'))}[/bold]: depth {esc(fmt(q.get('depth')))} "
            f"(ready {esc(fmt(q.get('ready')))}, delayed for a retry {esc(fmt(q.get('delayed')))}), "
            f"in flight {esc(fmt(q.get('inFlight')))}{esc(oldest)}")
    dead = result.get("deadLetters") or {}
    count = dead.get("count") or 0
    say(f"[bold]dead letters[/bold] ({esc(dead.get('queue'))}): {esc(count)}"
        + (f", newest {dead.get('shown')} shown" if count and dead.get("shown", 0) < count else ""),
        style="red" if count else None)
    items = dead.get("items") or []
    if items:
        show(table(["id", "request id", "signal", "attempts", "dead since", "last error"],
                   [[d.get("id"), d.get("requestId"),
                     " ".join(str(x) for x in (d.get("exchange"), d.get("action"), d.get("symbol")) if x),
                     d.get("attempts"), d.get("deadLetteredAt"), d.get("lastError")] for d in items]))
        say("[dim]replay one with POST /v1/queues/dead-letter/{id}/replay[/dim]")


# ============================================================================ flatten
FINAL_CANCEL = ("Cancelled", "Filled", "Expired")  # a cancel outcome that leaves no order resting


def _norm_symbol(symbol: str | None) -> str | None:
    """The symbol as the edge stores it (`btc/usdt` -> `BTCUSDT`), to pick the positions of a scope."""
    if symbol is None:
        return None
    from hoox_edge.shared.signal import normalize_symbol

    try:
        return normalize_symbol(symbol)
    except ValueError as exc:
        fail("VALIDATION_ERROR", f"--symbol: {exc}", exit_code=2)


def show_plan(client: HooxClient, *, mode: str | None, exchange: str | None, symbol: str | None) -> bool:
    """Print what a flatten of the scope would cancel and close; False when there is nothing."""
    want = _norm_symbol(symbol)
    positions = [p for p in dump(client.positions(mode=mode or "all")).get("items") or []
                 if (not exchange or p.get("exchange") == exchange.lower()) and (not want or p.get("symbol") == want)]
    orders = dump(client.orders(mode=mode, exchange=exchange, symbol=symbol)).get("items") or []
    if not positions and not orders:
        return False
    if orders:
        show(compact_table(["request", "book", "exchange", "symbol", "side", "qty", "filled", "limit"],
                           [[str(o.get("requestId"))[:8], o.get("mode"), o.get("exchange"), o.get("symbol"),
                             o.get("side"), fmt(o.get("quantity")), fmt(o.get("filledQty")),
                             fmt(o.get("limitPrice"))] for o in orders],
                           title=f"{len(orders)} resting order(s) to cancel"))
    if positions:
        show(compact_table(["book", "exchange", "symbol", "side", "size", "entry", "mark", "uPnL"],
                           [[p.get("mode"), p.get("exchange"), p.get("symbol"), p.get("side"), fmt(p.get("size")),
                             fmt(p.get("entryPrice")), fmt(p.get("markPrice")) or "n/a",
                             fmt(p.get("unrealizedPnl"), 6)] for p in positions],
                           title=f"{len(positions)} open position(s) to close"))
    return True


def scope_label(scope: dict[str, Any]) -> str:
    where = " ".join(str(scope[k]) for k in ("exchange", "symbol") if scope.get(k))
    return book_label(scope.get("mode")) + (f", {where}" if where else "")


def flatten_failures(result: dict[str, Any]) -> int:
    """Closes that did not fill, and resting orders that may still rest."""
    return int(result.get("failed") or 0) + sum(
        1 for c in result.get("cancelled") or [] if c.get("status") not in FINAL_CANCEL)


def _problem(o: dict[str, Any]) -> str:
    err = o.get("error") or {}
    return f"{err.get('code') or ''} {err.get('message') or ''}".strip() or "no reason given"


def print_flatten(result: dict[str, Any]) -> None:
    """Every cancel and every close of a flatten with its outcome; what was NOT closed, in red."""
    cancelled, closes = result.get("cancelled") or [], result.get("closes") or []
    if not cancelled and not closes:  # "0/0 positions closed" read as if something failed
        say(f"[bold]Flatten — {esc(scope_label(result.get('scope') or {}))}[/bold]: nothing to close or cancel "
            "(no open position and no resting order there; another flatten, a signal or the risk manager may "
            "have closed them).")
        return
    say(f"[bold]Flatten — {esc(scope_label(result.get('scope') or {}))}[/bold]: "
        f"{esc(result.get('closed'))}/{len(closes)} position(s) closed"
        + (f", {esc(result.get('alreadyFlat'))} already flat" if result.get("alreadyFlat") else "")
        + (f", {esc(result.get('closing'))} being closed by another request" if result.get("closing") else "")
        + f", {len(cancelled)} resting order(s) handled")
    if cancelled:
        show(compact_table(["request", "book", "exchange", "symbol", "side", "outcome"],
                           [[str(o.get("requestId"))[:8], o.get("mode"), o.get("exchange"), o.get("symbol"),
                             o.get("side"), o.get("status")] for o in cancelled], title="cancels"))
    if closes:
        show(compact_table(["request", "book", "exchange", "symbol", "side", "size", "outcome", "price", "pnl"],
                           [[str(o.get("requestId"))[:8], o.get("mode"), o.get("exchange"), o.get("symbol"),
                             o.get("side"), fmt(o.get("size")), o.get("status"),
                             fmt((o.get("result") or {}).get("price")),
                             fmt((o.get("result") or {}).get("realizedPnl"), 6)] for o in closes], title="closes"))
    for o in closes:
        if o.get("status") == "Filled":
            continue
        what = f"{o.get('mode')} {o.get('exchange')} {o.get('symbol')} {o.get('side')} {fmt(o.get('size'))}"
        if o.get("status") == "already_flat":
            say(f"Already flat: {esc(what)}: {esc(o.get('note') or 'closed before this flatten reached it')}.")
        elif o.get("status") == "closing":
            say(f"[yellow]Being closed:[/yellow] {esc(what)}: closing in request {esc(o.get('requestId'))} "
                "(`hoox monitor trades`).")
        elif o.get("status") == "in_progress":
            say(f"[bold yellow]NOT confirmed closed:[/bold yellow] {esc(what)}: it may still fill; follow request "
                f"{esc(o.get('requestId'))} (`hoox monitor trades`).")
        else:
            say(f"[bold red]NOT closed:[/bold red] {esc(what)}: {esc(_problem(o))}")
    for o in cancelled:
        if o.get("status") not in FINAL_CANCEL:
            say(f"[bold red]May still rest:[/bold red] order of request {esc(o.get('requestId'))} "
                f"({esc(o.get('exchange'))} {esc(o.get('symbol'))}): {esc(_problem(o))}")


@app.command()
@handle_errors
def flatten(
    ctx: typer.Context,
    exchange: Annotated[str | None, typer.Option("--exchange", "-e", help="Only this exchange.")] = None,
    symbol: Annotated[str | None, typer.Option("--symbol", "-s", help="Only this symbol (e.g. BTCUSDT).")] = None,
    mode: Annotated[Book | None, book_option("all (every book)")] = None,
    reason: Annotated[str | None, typer.Option("--reason", "-r", help="Why (kept with each close).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Cancel the resting orders, then close the open positions, of a scope (default: every book).

    Shows what it will close and asks first, unless --yes. Exits 1 when a position was not closed.
    """
    book = mode.value if mode else "all"
    ask = must_ask(yes=yes, json_out=json_out, what="Flattening")
    with operator_client(remote_of(ctx, remote)) as client:
        if ask:
            scope = scope_label({"mode": book, "exchange": exchange, "symbol": symbol})
            if not show_plan(client, mode=book, exchange=exchange, symbol=symbol):
                say(f"Nothing to flatten ({esc(scope)}): no open position, no resting order.")
                return
            typer.confirm(f"Flatten ({scope}) at {client.base_url}? The orders above are cancelled and the "
                          "positions closed at the market.", abort=True)
        result = dump(client.flatten(exchange=exchange, symbol=symbol, mode=book, reason=reason))
    if json_out:
        emit_json(result)
    else:
        print_flatten(result)
    if flatten_failures(result):
        raise typer.Exit(1)


# ============================================================================ kill switch
@app.command("kill-switch")
@handle_errors
def kill_switch(
    ctx: typer.Context,
    action: Annotated[str, typer.Argument(metavar="show|on|off", help="show (default), on or off.")] = "show",
    reason: Annotated[str | None, typer.Option("--reason", "-r", help="Why (kept with the switch).")] = None,
    flatten_too: Annotated[bool, typer.Option(
        "--flatten", help="With on: then flatten every book (cancel every resting order, close every position)."
    )] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the global kill switch, or turn it on (every signal is refused with 503) or off.

    `on --flatten` also closes what is open, in every book; it exits 1 when a position was not closed.
    """
    action = action.lower()
    if action not in ("show", "on", "off"):
        fail("USAGE_ERROR", f"Unknown action {action!r}: use show, on or off.", exit_code=2)
    if flatten_too and action != "on":
        fail("USAGE_ERROR", "--flatten goes with `on` only: the switch is turned on first, then every book is "
                            "flattened.", exit_code=2)
    with operator_client(remote_of(ctx, remote)) as client:
        if action == "show":
            result = dump(client.kill_switch())
        else:
            on = action == "on"
            if must_ask(yes=yes, json_out=json_out, what=f"Turning the kill switch {action}"):
                effect = ("every signal will be refused (503 KILL_SWITCH_ACTIVE) until it is turned off" if on
                          else "signals will be executed again")
                if flatten_too:
                    if show_plan(client, mode="all", exchange=None, symbol=None):
                        effect += ", and the orders above are cancelled and the positions closed at the market"
                    else:
                        effect += "; nothing is open to flatten now"
                typer.confirm(f"Turn the kill switch {action.upper()} at {client.base_url}? {effect}.", abort=True)
            result = dump(client.set_kill_switch(on, reason, flatten=flatten_too))
    flat = result.get("flatten")
    if json_out:
        emit_json(result)
    else:
        if result.get("on"):
            say(f"[bold red]Kill switch ON[/bold red] {esc(result.get('reason') or '')}".rstrip())
            say("Every signal is refused with 503 KILL_SWITCH_ACTIVE. Turn it off with "
                "`hoox monitor kill-switch off`.")
        else:
            say("[green]Kill switch off[/green]: signals are executed.")
        if result.get("alerted") is False:
            warn("The alert about this change could not be delivered (telegram-worker); the switch itself is set.")
        if flat:
            print_flatten(flat)
    if flat and flatten_failures(flat):
        raise typer.Exit(1)


@app.command()
@handle_errors
def backup(
    ctx: typer.Context,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="FILE",
                     help="File to write (default: backups/db-backup-YYYY-MM-DD-HHMMSS.sql, UTC)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Back up the local SQL ledger to backups/ (the same dump as `hoox db export`)."""
    from pathlib import Path

    from hoox_cli.core.backup import export_json, run_export
    from hoox_cli.core.workspace import workspace
    from hoox_cli.output import say_export

    if remote_of(ctx, None):
        fail("NOT_AVAILABLE", "`hoox monitor backup` exports the local ledger; the operator API has no dump route. "
                              "Back up the Cloudflare D1 database with `hoox db export --remote`.")
    ws = workspace()
    dump_ = run_export(ws, Path(output) if output else None)
    if json_out:
        emit_json(export_json(ws, dump_))
    else:
        say_export(dump_)
