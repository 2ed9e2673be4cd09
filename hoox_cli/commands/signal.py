"""`hoox signal send`: a TradingView-style webhook to the workspace's gateway, with its passkey.
`hoox signal show REQUEST_ID`: every stage that signal went through, in order (see below).

JSON (--json): {"url", "status_code", "ok": bool, "response": <the gateway's envelope>}; exit code 0
for 200 / 202, 1 otherwise. The passkey is never printed.

`response.status` says what became of the signal: 200 `Filled`; 202 `Resting` (a limit order on the
exchange's book, not filled: `result` is the order, see `hoox orders`), `in_progress` (a resend of an
unfinished signal, resumed) or `Enqueued`; 409 DUPLICATE_REQUEST (a resend of a finished signal)
carries `response.original` = {"requestId", "status", "result" | "error"}. The human output names
the outcome the same way, with the original request's for a 409.

`hoox signal show REQUEST_ID` (the request id, or a unique start of it of 8+ characters; `--remote`
as `hoox monitor`) reads `GET /v1/signals/{id}/timeline`: one line per stage — time since the
webhook arrived, stage, worker, what happened — then the signal's state now. JSON (--json): the
timeline as the edge sends it, `{"requestId", "signal", "trade", "original", "resends", "stages":
[{"at", "offsetMs", "kind", "worker", "level", "summary", "details", "source"}], "truncated",
"maxStages", "unavailable", "time"}`. Errors: NOT_FOUND (no signal has that id, exit 1),
AMBIGUOUS_REQUEST_ID and VALIDATION_ERROR (a start that names several signals, or is shorter than
8 characters; exit 2).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from hoox_cli.core import models
from hoox_cli.core.connection import operator_client
from hoox_cli.core.errors import fail
from hoox_cli.core.signals import build_payload, webhook_url
from hoox_cli.core.workspace import workspace
from hoox_cli.options import JsonOpt, RemoteOpt, handle_errors
from hoox_cli.output import compact_table, dump, duration, emit_json, esc, fmt, say, show, table

app = typer.Typer(help="Send trading signals to the edge; show what became of one.", no_args_is_help=True)
_USAGE_CODES = ("AMBIGUOUS_REQUEST_ID", "VALIDATION_ERROR")  # the id given names no single signal


@app.command()
@handle_errors
def send(
    symbol: Annotated[str, typer.Option("--symbol", "-s", help="e.g. BTCUSDT (btc/usdt, BTC-USDT work too).")],
    action: Annotated[str, typer.Option("--action", "-a", help="LONG, SHORT or CLOSE.")],
    quantity: Annotated[float, typer.Option("--quantity", "-q", help="Order size.")] = 0.01,
    exchange: Annotated[
        str | None,
        typer.Option("--exchange", "-e", help="An exchange the edge trades on, as `hoox status` lists them "
                                              "(default: the edge's routing)."),
    ] = None,
    leverage: Annotated[float | None, typer.Option("--leverage", help="Leverage (default 1).")] = None,
    order_type: Annotated[str | None, typer.Option("--order-type", help="MARKET (default) or LIMIT.")] = None,
    price: Annotated[float | None, typer.Option("--price", help="Limit price (with --order-type LIMIT).")] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="Explicit de-duplication key: a resend of a finished signal gets "
                                               "409 with its outcome; of an unfinished one, resumes it."),
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="Gateway URL (default: this workspace's local gateway).")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the answer.")] = 15.0,
    json_out: JsonOpt = False,
) -> None:
    """POST a signal to the gateway's /webhook with the workspace's WEBHOOK_API_KEY."""
    import httpx

    ws = workspace()
    api_key = ws.secrets().get("WEBHOOK_API_KEY")
    if not api_key:
        fail(
            "NO_PASSKEY",
            f"WEBHOOK_API_KEY is not set in {ws.dev_vars_path}; set it with "
            "`hoox secrets set WEBHOOK_API_KEY` (or run `hoox dev start` to generate one).",
        )
    target = webhook_url(url or ws.gateway_url())
    payload = build_payload(
        api_key=api_key,
        symbol=symbol,
        action=action,
        quantity=quantity,
        exchange=exchange,
        leverage=leverage,
        order_type=order_type,
        price=price,
        idempotency_key=idempotency_key,
    )
    try:
        r = httpx.post(target, json=payload, timeout=timeout)
    except httpx.ConnectError:
        fail(
            "EDGE_NOT_RUNNING",
            f"Nothing answers at {target}: the edge is not running. Start it with "
            "`hoox dev start` (or `hoox dev start --detach` to keep this terminal).",
        )
    except httpx.TimeoutException:
        fail("TIMEOUT", f"The gateway at {target} did not answer within {timeout:g} s.")
    except httpx.HTTPError as exc:
        fail("HTTP_ERROR", f"Could not reach {target}: {type(exc).__name__}: {exc}")
    try:
        body: Any = r.json()
    except ValueError:
        body = r.text
    ok = r.status_code in (200, 202)
    if json_out:
        emit_json({"url": target, "status_code": r.status_code, "ok": ok, "response": body})
    else:
        _print(target, r.status_code, body)
    if not ok:
        raise typer.Exit(1)


def _print(target: str, status: int, body: Any) -> None:
    if not isinstance(body, dict):
        say(f"[bold red]{status}[/bold red] from {esc(target)}: {esc(str(body)[:500])}")
        return
    result = r if isinstance(r := body.get("result"), dict) else {}
    err = body.get("error") if isinstance(body.get("error"), dict) else None
    rid = body.get("requestId")
    if err:
        say(f"[bold red]{status} {esc(err.get('code'))}[/bold red] {esc(err.get('message'))}")
        details = err.get("details") or []
        if isinstance(details, dict):  # facts about the error ({"retryable": false, "exchangeCode": ...})
            for key, value in details.items():
                say(f"  - {esc(key)}: {esc(value if isinstance(value, str) else json.dumps(value, default=str))}")
        else:  # one entry per refused field
            for d in details:
                if isinstance(d, dict):
                    say(f"  - {esc(d.get('field', ''))}: {esc(d.get('issue', d.get('message', d)))}")
                else:
                    say(f"  - {esc(d)}")
        original = body.get("original")
        if isinstance(original, dict):  # 409: the signal this one repeats, and how it ended
            say(f"original request {esc(original.get('requestId'))}: [bold]{esc(original.get('status'))}[/bold]")
            _fields(original.get("result") or original.get("error"))
    else:
        # The webhook's own word on the signal first: a limit order on the book is Resting, not filled.
        label = body.get("status") or result.get("status") or "OK"
        colour = "green" if status == 200 else "yellow"
        say(f"[bold {colour}]{status} {esc(label)}[/bold {colour}]"
            + (f" {esc(body['message'])}" if status != 200 and body.get("message") else ""))
        _fields(result)
        if label == "Resting":
            say("[dim]follow it with `hoox orders list`; cancel it with `hoox orders cancel "
                f"{esc(str(rid or 'REQUEST')[:8])}`[/dim]")
    if rid:
        say(f"[dim]request id {esc(rid)}[/dim]")


def _fields(obj: Any) -> None:
    if isinstance(obj, dict) and obj:
        show(table(["field", "value"], [[k, v] for k, v in obj.items() if not isinstance(v, (dict, list))]))


# --------------------------------------------------------------------------- signal show
def offset(ms: Any) -> str:
    """`+0ms`, `+35ms`, `+1.25s`, `+2m05s`: a stage's time since the webhook arrived."""
    if not isinstance(ms, (int, float)):
        return ""
    if ms < 1000:
        return f"+{ms:.0f}ms"
    if ms < 60_000:
        return f"+{ms / 1000:.2f}s"
    return "+" + duration(ms / 1000)


@app.command("show")
@handle_errors
def show_signal(
    request_id: Annotated[str, typer.Argument(
        metavar="REQUEST_ID", help="The signal's request id, or a unique start of it (8+ characters).")],
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Every stage a signal went through across the workers, in order: received, validated, locked,
    queued and retried, exchange calls with their latency, fill, position change, alerts, its state now."""
    from hoox_cli.core.client import HooxApiError

    with operator_client(remote) as client:
        try:
            result = dump(client.signal_timeline(request_id.strip()))
        except HooxApiError as exc:
            if exc.code in _USAGE_CODES:
                fail(exc.code, exc.message, exit_code=2, details=exc.details)
            if exc.code == "NOT_FOUND" and exc.message.startswith("No signal"):
                fail(exc.code, exc.message)  # the edge's own words (an old edge without the route gets its hint)
            raise
    if json_out:
        emit_json(result)
        return
    _print_timeline(result)


def _print_timeline(t: dict[str, Any]) -> None:
    sig, trade = t.get("signal"), t.get("trade")
    say(f"[bold]signal {esc(t['requestId'])}[/bold]")
    if sig:
        what = " ".join(str(v) for v in (sig.get("action"), sig.get("symbol"), fmt(sig.get("quantity"))) if v)
        say(f"{esc(sig.get('source'))} {esc(what)}" + (f" on {esc(sig['exchange'])}" if sig.get("exchange") else "")
            + f", received {esc(sig.get('createdAt'))}: [bold]{esc(sig.get('status'))}[/bold]"
            + (f" {esc(sig['errorCode'])}" if sig.get("errorCode") else ""))
        if sig.get("swap"):
            swap = models.SwapRecord.model_validate(sig["swap"])
            say(esc(swap.summary()) + (f"\n{esc(swap.explorerUrl)}" if swap.explorerUrl else ""))
    if trade:
        say(f"order: {esc(trade.get('mode'))} {esc(trade.get('exchange'))} {esc(trade.get('side'))} "
            f"{esc(fmt(trade.get('filledQty')))}/{esc(fmt(trade.get('quantity')))} filled"
            + (f" at {esc(fmt(trade.get('price')))}" if trade.get("price") is not None else "")
            + f", {esc(trade.get('attempts'))} attempt(s), status {esc(trade.get('status'))}")
    original = t.get("original")
    if original:
        say(f"a resend of request {esc(original.get('requestId'))} ({esc(original.get('status'))})")
    for r in t.get("resends") or []:
        say(f"resent as request {esc(r.get('requestId'))} at {esc(r.get('at'))}")
    rows = []
    for s in t.get("stages") or []:
        if s.get("kind") == "outcome":  # the state now, reached at its offset
            since = offset(s.get("offsetMs"))
            rows.append(["now", "state", s.get("worker") or "", f"{s.get('summary')}" + (f" (since {since})" if since
                                                                                         else "")])
        else:
            rows.append([offset(s.get("offsetMs")), s.get("kind"), s.get("worker") or "", s.get("summary")])
    show(compact_table(["time", "stage", "worker", "what happened"], rows, optional=["worker"],
                       wrap=["what happened"]))
    if t.get("truncated"):
        say(f"[yellow]only the first {esc(t.get('maxStages'))} stages are shown; --json has the same cap[/yellow]")
    for u in t.get("unavailable") or []:
        say(f"[yellow]not shown ({esc(u.get('source'))}): {esc(u.get('reason'))}[/yellow]")
    say("[dim]times are since the webhook arrived; details of each stage: --json[/dim]")
