"""`hoox email test FILE.eml`: what an e-mail would do, without doing it.

The e-mail is read by the edge's own parser and rules (`hoox_edge.mail.message`, `hoox_edge.mail.rules`)
with the edge's `email:*` settings (through the operator API, or the local edge's state when it is not
running, as `hoox config kv`): its sender, DKIM and SPF as the topmost Authentication-Results states
them, and the outcome — ignored or rejected with why, or the signal it would submit to the gateway
(which would then apply its own checks: kill switch, rate limit, validation, duplicates). Nothing is
submitted, recorded or sent.

--json: {"file", "outcome": would_submit | ignored | rejected, "reason", "signal" | null,
         "email": {"sender", "subject", "messageId", "dkim", "spf", "htmlOnly", "parts"}, "notes": [str],
         "edge": {"url", "local", "running"}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hoox_cli.core.errors import fail
from hoox_cli.options import JsonOpt, RemoteOpt, handle_errors, remember_remote, remote_of
from hoox_cli.output import edge, emit_json, esc, say, where

app = typer.Typer(help="E-mail signals: see what an e-mail would do.", no_args_is_help=True)
OUTCOME_STYLE = {"would_submit": "green", "ignored": "yellow", "rejected": "red"}


@app.callback()
def _group(ctx: typer.Context, remote: RemoteOpt = None) -> None:
    """E-mail signals (Mailgun's webhook at the gateway, IMAP polling in the local runtime)."""
    remember_remote(ctx, remote)


@app.command("test")
@handle_errors
def test_email(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A raw e-mail (.eml, RFC 5322) as received.")],
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show what FILE would do: ignored, rejected (and why) or the signal it would submit. Runs nothing."""
    from hoox_edge.mail import intake, message, rules
    from hoox_edge.shared import settings

    try:
        raw = file.read_bytes()
    except OSError as exc:
        fail("INVALID_VALUE", f"{file}: cannot be read ({exc.strerror or type(exc).__name__}).")
    cfg: dict[str, Any] = {}
    notes: list[str] = []
    with edge(remote_of(ctx, remote)) as e:
        for key in rules.KEYS:
            entry = e.kv_get(key)
            if entry.get("error"):
                notes.append(f"{entry['error']} (the default is used, as the edge would)")
                cfg[key] = settings.known(key).default
            else:
                cfg[key] = entry.get("value")
        info = e.info
    try:
        mail = message.parse(raw)
    except message.Unreadable as exc:
        out: dict[str, Any] = {"outcome": "rejected", "reason": f"unreadable: {exc}", "signal": None, "email": {},
                               "notes": notes}
    else:
        d = rules.decide(mail, cfg)
        signal = ({**d.signal, "idempotencyKey": intake.idempotency_key(mail.message_id)}
                  if d.signal is not None else None)
        out = {"outcome": "would_submit" if signal else d.outcome, "reason": d.reason, "signal": signal,
               "email": intake.describe(mail), "notes": notes + d.notes}
    if json_out:
        emit_json({"file": str(file), **out, "edge": info.as_json()})
        return
    m = out["email"]
    if m:
        say(f"from        {esc(m['sender'])}   DKIM {esc(m['dkim'] or 'none')}   SPF {esc(m['spf'] or 'none')}")
        say(f"subject     {esc(m['subject'])}")
        say(f"message-id  {esc(m['messageId'])}")
        say(f"body        {esc(', '.join(m['parts']))}")
    style = OUTCOME_STYLE[out["outcome"]]
    say(f"outcome     [{style}]{esc(out['outcome'].replace('_', ' '))}[/{style}] — {esc(out['reason'])}")
    if out["signal"]:
        s = out["signal"]
        shown = ", ".join(f"{k}={s[k]}" for k in s if k != "idempotencyKey")
        say(f"signal      {esc(shown)} (source email, idempotency key {esc(s['idempotencyKey'])})")
        say("[dim]The gateway would still apply its checks: kill switch, rate limit, validation, duplicates.[/dim]")
    for n in out["notes"]:
        say(f"[yellow]note[/yellow]        {esc(n)}")
    say(where(info))
