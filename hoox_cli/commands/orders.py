"""`hoox orders ...`: the open (resting) orders of the edge, through the operator API, local or remote.

A limit order that does not fill at once rests on the exchange's book; trade-worker follows it until
it fills, is cancelled or expires. Which edge: as `hoox monitor` (`--remote`, HOOX_API_URL, the
workspace's local gateway). Both books are listed unless `--mode paper|live` picks one.

--json:
- `orders list`   -> {"items": [{"requestId", "tradeId", "orderId", "clientOrderId", "exchange", "symbol",
                     "side", "action", "orderType", "quantity", "filledQty", "limitPrice", "avgPrice", "fee",
                     "mode", "status": "Resting", "reason", "createdAt", "updatedAt", "expiresAt"}],
                     "nextCursor": null}
- `orders cancel` -> {"requestId", "orderId", "clientOrderId", "status": "Cancelled", "exchange", "symbol",
                     "side", "action", "quantity", "executedQty" (filled before the cancel), "price" (their
                     average price), "limitPrice", "fee", "realizedPnl", "leverage", "mode", "reason",
                     "expiresAt", "timestamp"}

`orders cancel` takes the request id, or a unique start of it (8 characters at least; the list shows
the first 8), looked for among the open orders, then among every signal's request id: the order may
have filled or been cancelled since it was listed. It asks first unless --yes; under --json (or --quiet)
without --yes it changes nothing and answers CONFIRMATION_REQUIRED (exit 2). Other errors:
ORDER_NOT_OPEN (exit 1; it filled, was cancelled or expired meanwhile: the message says which, and how
much filled at what price; `details` = {"requestId" (the whole id), "status", "result" | "error"}),
NOT_FOUND, AMBIGUOUS_REQUEST_ID and USAGE_ERROR (a start of a request id that is too short or matches
several; exit 2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from hoox_cli.core.connection import operator_client
from hoox_cli.core.errors import fail
from hoox_cli.options import JsonOpt, RemoteOpt, book_option, handle_errors, remember_remote, remote_of
from hoox_cli.output import (
    Book,
    age,
    book_label,
    compact_table,
    dump,
    emit_json,
    esc,
    fmt,
    must_ask,
    say,
    show,
    time_left,
)

if TYPE_CHECKING:
    from hoox_cli.core.client import HooxClient

app = typer.Typer(help="Open (resting) orders: list them, cancel one.", no_args_is_help=True)
PREFIX_MIN = 8  # the list shows this much of a request id


@app.callback()
def _group(ctx: typer.Context, remote: RemoteOpt = None) -> None:
    """Open orders through the edge's operator API."""
    remember_remote(ctx, remote)


def describe(o: dict[str, Any]) -> str:
    """`bybit BTCUSDT BUY 0.01 @ 1000 (paper book, 0 filled)`: an order as a question or an answer names it."""
    filled = o.get("filledQty", o.get("executedQty"))
    limit = o.get("limitPrice")  # a signal's trade (`_find_order`) does not carry it
    return (f"{o.get('exchange')} {o.get('symbol')} {o.get('side')} {fmt(o.get('quantity'))}"
            + (f" @ {fmt(limit)}" if limit is not None else "")
            + f" ({book_label(o.get('mode'))}, {fmt(filled) or '0'} filled)")


@app.command("list")
@handle_errors
def list_orders(
    ctx: typer.Context,
    mode: Annotated[Book | None, book_option("all (both books)")] = None,
    exchange: Annotated[str | None, typer.Option("--exchange", "-e", help="Only this exchange.")] = None,
    symbol: Annotated[str | None, typer.Option("--symbol", "-s", help="Only this symbol (e.g. BTCUSDT).")] = None,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The resting orders, newest first: what filled so far, the limit, the age and the time to expiry."""
    book = mode.value if mode else "all"
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.orders(mode=book, exchange=exchange, symbol=symbol))
    if json_out:
        emit_json(result)
        return
    items = result.get("items") or []
    if not items:
        say(f"No open orders ({book_label(book)}).")
        return
    rows = [[str(o.get("requestId"))[:PREFIX_MIN], o.get("exchange"), o.get("symbol"), o.get("side"),
             fmt(o.get("quantity")), fmt(o.get("filledQty")), fmt(o.get("limitPrice")), o.get("mode"),
             age(o.get("createdAt")), time_left(o.get("expiresAt")) or "never"] for o in items]
    show(compact_table(["request", "exchange", "symbol", "side", "qty", "filled", "limit", "book", "age", "expires in"],
                       rows, title=f"{len(items)} open order(s) — {book_label(book)}"))
    say("[dim]cancel one with `hoox orders cancel REQUEST` (the request id or its first characters)[/dim]")


def _find_order(client: HooxClient, wanted: str) -> tuple[str, dict[str, Any] | None]:
    """The request id `wanted` names (itself, or the one it starts) and its open order (None: not open).

    Among the open orders first (the question names the order); else among every signal's request id, as
    the edge resolves it for `hoox signal show`: the order of a start that names no open order may have
    filled or been cancelled meanwhile, and the cancel of its whole id says which (ORDER_NOT_OPEN)."""
    from hoox_cli.core.client import HooxApiError

    items = dump(client.orders()).get("items") or []
    exact = [o for o in items if o.get("requestId") == wanted]
    matches = exact or [o for o in items if str(o.get("requestId")).startswith(wanted)]
    short = len(wanted) < PREFIX_MIN
    if short and not exact:
        matches = []  # a typo must not pick another order, with --yes least of all
    if len(matches) > 1:
        fail("AMBIGUOUS_REQUEST_ID", f"{wanted!r} starts the request ids of {len(matches)} open orders ("
             + ", ".join(str(o.get("requestId")) for o in matches) + "): give more of it.", exit_code=2)
    if matches:
        return str(matches[0]["requestId"]), matches[0]
    not_an_id = (f"{wanted!r} is not a request id: give the whole id or at least its first {PREFIX_MIN} characters "
                 "(as `hoox orders list` shows them).")
    if not wanted:
        fail("USAGE_ERROR", not_an_id, exit_code=2)
    try:
        timeline = client.signal_timeline(wanted)
    except HooxApiError as exc:
        if exc.code == "VALIDATION_ERROR":  # too short to be a start, or no request id at all
            fail("USAGE_ERROR", not_an_id if short else exc.message, exit_code=2, details=exc.details)
        if exc.code == "AMBIGUOUS_REQUEST_ID":
            fail(exc.code, exc.message, exit_code=2, details=exc.details)
        raise
    rid = timeline.requestId
    if timeline.trade is not None and timeline.trade.status == "Resting":  # placed since the list: asked about too
        listed = next((o for o in dump(client.orders()).get("items") or [] if o.get("requestId") == rid), None)
        return rid, listed or dump(timeline.trade)  # never cancelled without the question for want of a row
    return rid, None


def not_open(rid: str, outcome: Any) -> str:
    """What became of an order that could not be cancelled (ORDER_NOT_OPEN's `details`, the signal's
    outcome `{requestId, status, result | error}`), as the error says it."""
    outcome = outcome if isinstance(outcome, dict) else {}
    status = outcome.get("status") or "not resting"
    text = f"The order of request {rid} was not cancelled: it is {status}"
    result, error = outcome.get("result"), outcome.get("error")
    if isinstance(result, dict):
        price = result.get("price")
        text += (f" ({result.get('exchange')} {result.get('symbol')} {result.get('side')}, "
                 f"{fmt(result.get('executedQty')) or '0'} of {fmt(result.get('quantity'))} filled"
                 + (f" at {fmt(price)}" if price is not None else "") + f", {book_label(result.get('mode'))})")
    if isinstance(error, dict) and error.get("message"):
        text += f" ({error.get('code') or 'error'}: {error['message']})"
    return text + ". Nothing was changed."


@app.command()
@handle_errors
def cancel(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(metavar="REQUEST",
                                              help="The order's request id, or a unique start of it.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Cancel a resting order at its exchange (what filled before stays recorded). Asks first unless --yes."""
    ask = must_ask(yes=yes, json_out=json_out, what="Cancelling an order")
    from hoox_cli.core.client import HooxApiError

    with operator_client(remote_of(ctx, remote)) as client:
        rid, order = _find_order(client, request_id.strip())
        # Not open: no question to ask; the edge says what became of it (ORDER_NOT_OPEN) or NOT_FOUND.
        if order and ask:
            typer.confirm(f"Cancel the resting order of request {rid}: {describe(order)} at {client.base_url}?",
                          abort=True)
        try:
            result = {"requestId": rid, **dump(client.cancel_order(rid))}
        except HooxApiError as exc:
            if exc.code == "ORDER_NOT_OPEN":
                fail(exc.code, not_open(rid, exc.details), details=exc.details)
            raise
    if json_out:
        emit_json(result)
        return
    price = result.get("price")
    say(f"[bold]{esc(result.get('status'))}[/bold]: the order of request {esc(rid)}: {esc(describe(result))}"
        + (f", average fill price {esc(fmt(price))}" if price is not None else ""))
