"""The desk's one handler: a taken Telegram update in, the Bot API replies out. It runs in the gateway,
whose bindings hold everything it reads and does, and calls what the operator API calls:

- /status: `operator_api.status_of` (workers' health, mode, kill switch, queue depth);
- /trades [n]: `operator_api.trades_of`; /positions: `operator.positions.open_positions` per mode;
- /pnl [today|7d|30d]: `operator_api.stats_of` of each book over the period;
- /risk: `risk.surface.status` (stops, next targets, drawdown vs limit);
- /killon [reason], /killoff, /flatten: an inline keyboard first; its one-time token (60 s) confirms,
  then `operator.kill_switch.turn` / `operator.orders.flatten` run as for `/v1/kill-switch` and
  `/v1/positions/flatten`;
- /report [12h|24h|7d]: report-worker's `POST /report` with this chat (`operator/reports.py`'s service):
  it makes the report now and sends its PDF (or summary) here itself;
- /long SYMBOL QTY [lev], /short SYMBOL QTY [lev], /close SYMBOL: the gateway's own signal path
  (`gateway.submit_signal`, handed in as `submit`; source `telegram`): validation, kill switch, rate limit, dedup.

A photo goes to `/agent/vision` (telegram-worker's `/telegram/photo` fetches it), free text to
agent-worker's AI gateway (`POST /agent/chat`, whole answer, with the ledger's figures as context:
`hoox_edge.ai.desk`): the answer, then the provider that served it and any that failed before; with no
provider configured it says AI chat (or chart analysis) is not available.
Every value shown is HTML-escaped; replies are split under Telegram's 4,096 characters.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from hoox_edge.desk.updates import Update, message
from hoox_edge.operator import kill_switch as kill_switch_mod
from hoox_edge.operator import orders as orders_mod
from hoox_edge.operator import positions as positions_mod
from hoox_edge.operator.params import Params
from hoox_edge.ports import Env
from hoox_edge.risk import surface as risk_surface
from hoox_edge.shared import calls, clock
from hoox_edge.shared.errors import ApiError
from hoox_edge.shared.logs import log
from hoox_edge.shared.telegram_api import escape_html as esc

CONFIRM_SECONDS = 60
MAX_TRADES = 50
DEFAULT_TRADES = 10
PERIODS = {"today": None, "7d": 7, "30d": 30}
BOOKS = ("paper", "live")
SOURCE = "telegram"

Calls = list[dict[str, Any]]
# The gateway's `submit_signal(env, body, source=...) -> (status, answer)`, given by the gateway (which
# imports this module, so it cannot be imported from here).
Submit = Callable[..., Awaitable[tuple[int, dict[str, Any]]]]

HELP = "\n".join([
    "<b>hoox desk</b> — commands:",
    "/status — workers' health, mode, kill switch, queue depth",
    "/trades [n] — the last n trades (default 10, at most 50)",
    "/positions — open positions per mode, uPnL at the mark price",
    "/pnl [today|7d|30d] — realized P&amp;L, fees and win rate per mode",
    "/risk — stops, next targets, drawdown vs its limit",
    "/report [12h|24h|7d] — a P&amp;L report now, as a PDF (default 24h)",
    "/long SYMBOL QTY [lev] — open or add to a long (the webhook's checks apply)",
    "/short SYMBOL QTY [lev] — open or add to a short",
    "/close SYMBOL — close the position",
    "/killon [reason] — halt trading (asks to confirm)",
    "/killoff — resume trading (asks to confirm)",
    "/flatten — close every position and cancel resting orders (asks to confirm)",
    "/help — this list",
])


def _num(v: Any, places: int = 8) -> str:
    if v is None:
        return "—"
    if isinstance(v, float | int):
        return f"{v:,.{places}f}".rstrip("0").rstrip(".") if places else f"{v:,.0f}"
    return esc(str(v))


def _money(v: Any) -> str:
    return "—" if v is None else f"{v:+,.2f}"


async def handle(env: Env, update: Update, submit: Submit) -> Calls:
    """The Bot API calls that answer `update` (already taken by telegram-worker: allowed chat, new id)."""
    assert update.chat_id is not None
    chat = update.chat_id
    if update.kind == "callback_query":
        try:
            return await _callback(env, update)
        except Exception as exc:  # the update is taken (never redelivered): the chat must hear of it
            rid = str(uuid.uuid4())
            await log(env, "error", f"telegram desk: confirmation failed ({type(exc).__name__})", request_id=rid)
            return message(chat, f"The confirmed action failed ({esc(type(exc).__name__)}); request {rid} in the "
                                 "logs. Check /status before trying again.")
    if update.kind == "edited_message":
        return message(chat, "Edited messages are not run: send the command again as a new message.")
    cmd = update.command
    if cmd is None:
        if update.photo:
            return await _photo(env, chat, update.photo_file_id, update.text)
        if update.text:
            return await _free_text(env, chat, update.text)
        return []
    name, args = cmd
    fn = COMMANDS.get(name)
    if fn is None and name not in SIGNALS:
        return message(chat, f"Unknown command {esc(name)}.\n\n{HELP}")
    rid = str(uuid.uuid4())
    try:
        if name in SIGNALS:
            return await _signal(env, chat, SIGNALS[name], args, submit)
        assert fn is not None
        return await fn(env, chat, args, rid)
    except ApiError as exc:  # a refused argument (a reason too long, ...): said as the operator API says it
        return message(chat, f"{esc(name)} refused: {esc(exc.message)}")
    except Exception as exc:
        await log(env, "error", f"telegram desk: {name} failed ({type(exc).__name__})", request_id=rid)
        return message(chat, f"{esc(name)} failed ({esc(type(exc).__name__)}); request {rid} in the logs.")


# --------------------------------------------------------------------------- free text
AI_NOT_AVAILABLE = "AI chat is not available. Send /help for the commands."
AI_TIMEOUT = 120.0  # the whole fallback chain; Telegram has the update already (answered 200)
MAX_QUESTION = 4000


async def _free_text(env: Env, chat: int | str, text: str) -> Calls:
    if not env.has("AGENT_SERVICE"):
        return message(chat, AI_NOT_AVAILABLE)
    rid = str(uuid.uuid4())
    # "typing…" in the chat while the providers answer (best effort: the answer matters, not this).
    await calls.best_effort(env, "TELEGRAM_SERVICE", "/telegram/send", request_id=rid, payload={
        "calls": [{"method": "sendChatAction", "params": {"chat_id": chat, "action": "typing"}}]})
    try:
        resp = await calls.call(env, "AGENT_SERVICE", "POST", "/agent/chat", request_id=rid, timeout=AI_TIMEOUT,
                                raw_body={"message": text[:MAX_QUESTION], "stream": False, "desk": True})
    except Exception as exc:  # agent-worker down or disabled: said plainly, never a made-up answer
        await log(env, "warning", f"telegram desk: AI chat unreachable ({type(exc).__name__})", request_id=rid)
        return message(chat, AI_NOT_AVAILABLE)
    return _ai_answer(chat, resp, AI_NOT_AVAILABLE)


VISION_NOT_AVAILABLE = "Photos are not read: chart analysis is not available."


async def _photo(env: Env, chat: int | str, file_id: str | None, caption: str | None) -> Calls:
    """A chart screenshot: telegram-worker fetches its bytes (the file URL holds the bot token), the AI
    gateway's /agent/vision reads it (providers that take images only)."""
    if file_id is None or not env.has("AGENT_SERVICE") or not env.has("TELEGRAM_SERVICE"):
        return message(chat, VISION_NOT_AVAILABLE)
    rid = str(uuid.uuid4())
    try:  # no provider that reads images: said at once, the photo is not even fetched
        models = calls.envelope(await calls.call(env, "AGENT_SERVICE", "GET", "/agent/models", request_id=rid,
                                                 timeout=10))[0].get("result") or {}
    except Exception:
        models = {}
    if not any(p.get("configured") and "vision" in p.get("capabilities", []) for p in models.get("providers", [])):
        return message(chat, VISION_NOT_AVAILABLE)
    await calls.best_effort(env, "TELEGRAM_SERVICE", "/telegram/send", request_id=rid, payload={
        "calls": [{"method": "sendChatAction", "params": {"chat_id": chat, "action": "typing"}}]})
    try:
        got = await calls.call(env, "TELEGRAM_SERVICE", "POST", "/telegram/photo", request_id=rid,
                               payload={"fileId": file_id}, timeout=30)
        photo, err, _ = calls.envelope(got)
        if got.status != 200 or not isinstance(photo.get("result"), dict):
            return message(chat, f"The photo could not be fetched: {esc(str(err.get('message') or got.status))}")
        image = photo["result"]
        resp = await calls.call(env, "AGENT_SERVICE", "POST", "/agent/vision", request_id=rid, timeout=AI_TIMEOUT,
                                raw_body={"image": image["image"], "mimeType": image["mimeType"],
                                          "prompt": (caption or "").strip()[:MAX_QUESTION] or None})
    except Exception as exc:
        await log(env, "warning", f"telegram desk: chart analysis unreachable ({type(exc).__name__})", request_id=rid)
        return message(chat, VISION_NOT_AVAILABLE)
    return _ai_answer(chat, resp, VISION_NOT_AVAILABLE)


def _ai_answer(chat: int | str, resp: Any, not_available: str) -> Calls:
    """The gateway's answer as a reply: its text and who served it, or the failures, or not available."""
    body, err, _ = calls.envelope(resp)
    if resp.status == 503 or resp.status == 404:
        return message(chat, not_available)
    if resp.status != 200 or not isinstance(body.get("result"), dict):
        details = err.get("details")
        failed = "; ".join(f"{t.get('provider')}: {t.get('message')}" for t in
                           (details if isinstance(details, list) else []) if isinstance(t, dict))
        return message(chat, f"AI chat failed: {esc(failed or str(err.get('message') or resp.status))}")
    res = body["result"]
    footer = f"\n\n<i>— {esc(res.get('provider'))}"
    trail = res.get("trail") or []
    if trail:
        footer += " (after " + esc(", ".join(f"{t.get('provider')}: {t.get('error')}" for t in trail)) + ")"
    read = sorted({str(t.get("name")) for t in res.get("tools") or [] if isinstance(t, dict)})
    if read:  # the desk tools the answer was read from
        footer += " · read " + esc(", ".join(read))
    return message(chat, esc(res.get("text") or "") + footer + "</i>")


# --------------------------------------------------------------------------- reading
async def _start(env: Env, chat: int | str, args: list[str], rid: str) -> Calls:
    return message(chat, "Connected to hoox. Only this chat is answered.\n\n" + HELP)


async def _help(env: Env, chat: int | str, args: list[str], rid: str) -> Calls:
    return message(chat, HELP)


async def _status(env: Env, chat: int | str, args: list[str], rid: str) -> Calls:
    from hoox_edge.workers import operator_api

    s = await operator_api.status_of(env)
    kill = s["killSwitch"]
    lines = ["<b>Status</b>",
             "Kill switch: " + (f"<b>ON</b> — {esc(kill['reason'] or 'no reason given')}" if kill["on"] else "off"),
             f"Mode: {esc(s['tradingMode'])} · queue mode: {esc(s['queueMode'])}"]
    q = s["queues"]
    lines.append(f"Queue: depth {q['depth']}, in flight {q['inFlight']}, dead letters {q['deadLetters']}"
                 if q["available"] else f"Queue: not available ({esc(q['error'] or 'unknown')})")
    lines.append(f"Last signal: {esc(s['lastSignalAt'] or 'none yet')}")
    lines.append("<b>Workers</b>")
    for w in s["workers"]:
        latency = f" {w['latencyMs']:.0f} ms" if w["latencyMs"] is not None else ""
        error = f" — {esc(w['error'])}" if w["error"] else ""
        lines.append(f"{esc(w['name'])}: {w['status']}{latency}{error}")
    return message(chat, "\n".join(lines))


async def _trades(env: Env, chat: int | str, args: list[str], rid: str) -> Calls:
    from hoox_edge.workers import operator_api

    n = DEFAULT_TRADES
    if args:
        if len(args) > 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= MAX_TRADES:
            return message(chat, f"Usage: /trades [n], n a whole number from 1 to {MAX_TRADES}.")
        n = int(args[0])
    page = await operator_api.trades_of(env, Params.of({"limit": str(n)}))
    if not page["items"]:
        return message(chat, "No trades yet.")
    lines = [f"<b>Last {len(page['items'])} trades</b>"]
    for t in page["items"]:
        price = t["price"] if t["price"] is not None else t["limitPrice"]
        lines.append(f"{esc(t['createdAt'][:16].replace('T', ' '))} {esc(t['mode'])} {esc(t['exchange'])} "
                     f"<b>{esc(t['symbol'])}</b> {esc(t['action'])} {_num(t['quantity'])} @ {_num(price)} "
                     f"{esc(t['status'])}" + (f" P&amp;L {_money(t['realizedPnl'])}" if t["realizedPnl"] else ""))
    return message(chat, "\n".join(lines))


async def _positions(env: Env, chat: int | str, args: list[str], rid: str) -> Calls:
    lines = ["<b>Open positions</b>"]
    for book in BOOKS:
        items = await positions_mod.open_positions(env, mode=book)
        lines.append(f"<b>{book}</b>: " + ("none" if not items else f"{len(items)}"))
        for p in items:
            mark = (f"mark {_num(p['markPrice'])}, uPnL {_money(p['unrealizedPnl'])}" if p["markPrice"] is not None
                    else f"mark not available ({esc(p['markError'] or 'unknown')})")
            lines.append(f"{esc(p['exchange'])} <b>{esc(p['symbol'])}</b> {esc(p['side'])} {_num(p['size'])} "
                         f"@ {_num(p['entryPrice'])} ×{_num(p['leverage'])}, {mark}")
    return message(chat, "\n".join(lines))


async def _pnl(env: Env, chat: int | str, args: list[str], rid: str) -> Calls:
    from hoox_edge.workers import operator_api

    period = args[0].lower() if args else "today"
    if len(args) > 1 or period not in PERIODS:
        return message(chat, "Usage: /pnl [today|7d|30d]")
    days = PERIODS[period]
    since = clock.iso()[:10] if days is None else clock.iso(clock.now() - days * 86400)
    lines = [f"<b>P&amp;L {period}</b> (fills since {esc(since[:16].replace('T', ' '))} UTC)"]
    for book in BOOKS:
        s = await operator_api.stats_of(env, book, since=since)
        win = f"{s['winRate'] * 100:.1f}%" if s["winRate"] is not None else "—"
        lines.append(f"<b>{book}</b>: net {_money(s['netRealizedPnl'])} (gross {_money(s['realizedPnl'])}, "
                     f"fees {_num(s['fees'], 2)}), {s['tradeCount']} fills, win rate {win} "
                     f"({s['wins']}/{s['closingTrades']}), uPnL now {_money(s['unrealizedPnl'])}")
    return message(chat, "\n".join(lines))


async def _risk(env: Env, chat: int | str, args: list[str], rid: str) -> Calls:
    r = await risk_surface.status(env)
    last = r["lastRun"]
    lines = ["<b>Risk manager</b>",
             (f"Last run {esc(last['startedAt'][:16].replace('T', ' '))} {esc(last['status'])}" if last
              else "No run yet") + (" — <b>stale</b>" if r["stale"] else "") + f" (every {r['intervalMinutes']} min)",
             "Kill switch: " + ("<b>ON</b>" if r["killSwitch"]["on"] else "off"),
             f"Trailing stop {_num(r['settings']['trailingStopPercent'])}% · "
             f"max daily drawdown {_num(r['settings']['maxDailyDrawdownPercent'])}%"]
    for p in r["positions"]:
        stop = (f"stop {_num(p['stopPrice'])} ({esc(p['stopKind'] or '')}, {_num(p['distanceToStopPercent'], 2)}% away)"
                if p["stopPrice"] is not None else "no stop yet" if not p["seenByRun"] else "no stop")
        nxt = p["nextTarget"]
        target = (f"next target #{nxt['number']} at {_num(nxt['price'])} (+{_num(nxt['profitPercent'])}%, "
                  f"close {_num(nxt['closeFraction'] * 100, 0)}%)" if nxt else "no target left")
        lines.append(f"{esc(p['mode'])} <b>{esc(p['symbol'])}</b> {esc(p['side'])}: {stop}; {target}")
    if not r["positions"]:
        lines.append("No open positions.")
    for d in r["drawdowns"]:
        limit = f"{_num(d['limitPercent'])}%" if d["limitPercent"] else "off"
        tripped = " — <b>tripped</b>" if d["trippedAt"] else ""
        lines.append(f"Drawdown {esc(d['mode'])} {esc(d['exchange'])} {esc(d['day'])}: "
                     f"{_num(d['drawdownPercent'], 2)}% (limit {limit}){tripped}")
    return message(chat, "\n".join(lines))


# --------------------------------------------------------------------------- confirmations
_ASK = {
    "killon": "Turn the kill switch <b>ON</b>? Every new signal is refused until it is off.",
    "killoff": "Turn the kill switch <b>off</b>? Signals are executed again.",
    "flatten": "<b>Flatten</b> every book: cancel the resting orders and close every open position?",
}


async def _ask(env: Env, chat: int | str, action: str, args: dict[str, Any]) -> Calls:
    token = secrets.token_urlsafe(12)
    now = clock.now()
    await env.DB.prepare(
        "INSERT INTO telegram_confirmations (token, chat_id, action, args, created_at, expires_at) VALUES (?,?,?,?,?,?)"
    ).bind(token, str(chat), action, json.dumps(args), clock.iso(now), clock.iso(now + CONFIRM_SECONDS)).run()
    text = _ASK[action] + (f"\nReason: {esc(args['reason'])}" if args.get("reason") else "")
    return message(chat, f"{text}\nConfirm within {CONFIRM_SECONDS} s.",
                   [[{"text": "Confirm", "callback_data": f"ok:{token}"},
                     {"text": "Cancel", "callback_data": f"no:{token}"}]])


async def _killon(env: Env, chat: int | str, args: list[str], rid: str) -> Calls:
    reason = kill_switch_mod.checked_reason(" ".join(args), on=True)
    return await _ask(env, chat, "killon", {"reason": reason})


async def _killoff(env: Env, chat: int | str, args: list[str], rid: str) -> Calls:
    return await _ask(env, chat, "killoff", {})


async def _flatten(env: Env, chat: int | str, args: list[str], rid: str) -> Calls:
    return await _ask(env, chat, "flatten", {})


async def _callback(env: Env, update: Update) -> Calls:
    chat, data = update.chat_id, update.callback_data or ""
    assert chat is not None and update.callback_id is not None
    answer: dict[str, Any] = {"method": "answerCallbackQuery", "params": {"callback_query_id": update.callback_id}}
    verb, _, token = data.partition(":")
    # One UPDATE takes the token: a second press, an old button or another chat's token takes nothing.
    row = None
    if verb in ("ok", "no") and token:
        res = await env.DB.prepare(
            "UPDATE telegram_confirmations SET used_at = ? WHERE token = ? AND chat_id = ? AND used_at IS NULL"
            " AND expires_at > ?").bind(clock.iso(), token, str(chat), clock.iso()).run()
        if res["meta"].get("changes"):
            row = await env.DB.prepare("SELECT action, args FROM telegram_confirmations WHERE token = ?"
                                       ).bind(token).first()
    done: Calls = []
    if update.message_id is not None:  # the buttons go: they can do nothing more
        done.append({"method": "editMessageReplyMarkup", "params": {
            "chat_id": chat, "message_id": update.message_id, "reply_markup": {"inline_keyboard": []}}})
    if row is None:
        answer["params"].update(text="This confirmation expired or was already used: send the command again.",
                                show_alert=True)
        return [answer, *done]
    if verb == "no":
        answer["params"]["text"] = "Cancelled."
        return [answer, *done, *message(chat, f"/{esc(row['action'])} cancelled: nothing was changed.")]
    answer["params"]["text"] = "Confirmed."
    args = json.loads(row["args"])
    rid = str(uuid.uuid4())
    return [answer, *done, *await _confirmed(env, chat, row["action"], args, rid)]


async def _confirmed(env: Env, chat: int | str, action: str, args: dict[str, Any], rid: str) -> Calls:
    if action in ("killon", "killoff"):
        on = action == "killon"
        state = await kill_switch_mod.turn(env, on, args.get("reason", "") if on else "", request_id=rid,
                                           by="telegram")
        text = (f"Kill switch <b>ON</b>: {esc(state['reason'] or '')}. Every new signal is refused."
                if state["on"] else "Kill switch off: signals are executed again.")
        return message(chat, text)
    out = await orders_mod.flatten(env, mode=None, exchange=None, symbol=None, reason="telegram",
                                   operator_rid=rid)
    lines = [f"<b>Flatten</b>: {out['closed']}/{len(out['closes'])} positions closed, "
             f"{len(out['cancelled'])} resting orders cancelled."]
    for c in out["closes"]:
        err = c.get("error") or {}
        why = c.get("note") or (str(err.get("message") or err.get("code") or "") if err else "")
        lines.append(f"{esc(c['mode'])} {esc(c['exchange'])} <b>{esc(c['symbol'])}</b>: {esc(c['status'])}"
                     + (f" — {esc(why)}" if why else ""))
    return message(chat, "\n".join(lines))


# --------------------------------------------------------------------------- signals
async def _signal(env: Env, chat: int | str, action: str, args: list[str], submit: Submit) -> Calls:
    if action == "CLOSE":
        if len(args) != 1:
            return message(chat, "Usage: /close SYMBOL")
        body: dict[str, Any] = {"action": action, "symbol": args[0]}
    else:
        if len(args) not in (2, 3):
            return message(chat, f"Usage: /{action.lower()} SYMBOL QTY [leverage]")
        body = {"action": action, "symbol": args[0], "quantity": args[1]}
        if len(args) == 3:
            body["leverage"] = args[2]
    status, answer = await submit(env, body, source=SOURCE)
    rid = answer.get("requestId") or ""
    head = f"{esc(action)} {esc(args[0].upper())}"
    if answer.get("success"):
        result: dict[str, Any] = answer["result"] if isinstance(answer.get("result"), dict) else {}
        if answer.get("status") == "Filled":
            text = (f"{head}: <b>filled</b> {_num(result.get('executedQty') or result.get('quantity'))} "
                    f"@ {_num(result.get('price'))} on {esc(str(result.get('exchange') or ''))}")
        else:
            text = f"{head}: {esc(str(answer.get('status')))} — {esc(str(answer.get('message') or ''))}"
        return message(chat, f"{text}\nrequest {esc(rid)}")
    err = answer.get("error") or {}
    lines = [f"{head}: <b>refused</b> ({esc(str(err.get('code')))}, HTTP {status}) — {esc(str(err.get('message')))}"]
    details = err.get("details")
    if isinstance(details, list):
        lines += [f"• {esc(str(d.get('field')))}: {esc(str(d.get('issue')))}" for d in details if isinstance(d, dict)]
    return message(chat, "\n".join(lines) + f"\nrequest {esc(rid)}")


REPORT_PERIODS = ("12h", "24h", "7d")


async def _report(env: Env, chat: int | str, args: list[str], rid: str) -> Calls:
    from hoox_edge.operator import reports as reports_mod

    period = args[0] if args else "24h"
    if period not in REPORT_PERIODS or len(args) > 1:
        return message(chat, "Usage: /report [12h|24h|7d] (default 24h).")
    try:
        resp = await calls.call(env, reports_mod.SERVICE, "POST", "/report", request_id=rid,
                                payload={"period": period, "chatId": chat}, timeout=reports_mod.MAKE_TIMEOUT_S)
    except Exception as exc:
        return message(chat, f"Reports are not available: {esc(reports_mod.ENABLE_HINT)} ({esc(type(exc).__name__)}).")
    body, err, _ = calls.envelope(resp)
    if resp.status != 200:
        return message(chat, f"/report failed: {esc(str(err.get('message') or f'HTTP {resp.status}'))}")
    result = body.get("result") or {}
    name, tg = esc(str(result["report"]["name"])), result["telegram"]
    if tg["channel"] == "telegram":
        what = "its PDF" if tg["method"] == "sendDocument" else "its summary (no PDF)"
        return message(chat, f"Report {name}: {what} sent above.")
    if tg["channel"] == "outbox":
        return message(chat, f"Report {name} is stored; report-worker has no TELEGRAM_BOT_TOKEN, so its summary "
                             "is in the alert outbox, not here.")
    return message(chat, f"Report {name} is stored, but it could not be sent here: {esc(str(tg['error']))}")


SIGNALS = {"/long": "LONG", "/short": "SHORT", "/close": "CLOSE"}
COMMANDS: dict[str, Callable[[Env, int | str, list[str], str], Awaitable[Calls]]] = {
    "/start": _start, "/help": _help, "/status": _status, "/trades": _trades, "/positions": _positions,
    "/pnl": _pnl, "/risk": _risk, "/killon": _killon, "/killoff": _killoff, "/flatten": _flatten,
    "/report": _report,
}
