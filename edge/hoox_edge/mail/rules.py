"""What an e-mail asks for, by the KV patterns (`email:*`): a signal body, or why there is none.

1. the sender must be in `email:authorized_senders` (exact address, case-insensitive) -> rejected;
2. the receiving server's Authentication-Results must show DKIM and SPF pass for the sender's domain
   -> rejected;
3. TradingView's own alert e-mail (from tradingview.com): its alert message is the signal when it is
   a JSON object with an `action` (the same message as the webhook's; a passkey in it is dropped);
   otherwise it is read by the patterns below, whatever its subject;
4. any other e-mail: the subject must match `email:scan_subject` -> else ignored;
5. `email:action_pattern` and `email:coin_pattern` over the text (then the subject): the first group,
   or the match, is the action (BUY -> LONG, SELL -> SHORT, EXIT -> CLOSE) and the asset (extended to the symbol it
   sits in, `SOL/USDT` -> SOLUSDT, USDT added when it names no quote) -> rejected when either is missing;
   `Quantity|Qty|Size|Amount: N` times `email:quantity_multiplier`, `Leverage: N` when present.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from hoox_edge.mail.message import Mail
from hoox_edge.shared import safe_regex, settings

TRADINGVIEW_DOMAIN = "tradingview.com"
KEYS = (settings.EMAIL_SCAN_SUBJECT, settings.EMAIL_COIN_PATTERN, settings.EMAIL_ACTION_PATTERN,
        settings.EMAIL_QUANTITY_MULTIPLIER, settings.EMAIL_AUTHORIZED_SENDERS)
ACTIONS = {"BUY": "LONG", "SELL": "SHORT", "LONG": "LONG", "SHORT": "SHORT", "CLOSE": "CLOSE", "EXIT": "CLOSE"}
QUOTES = ("USDT", "USDC", "USD", "BUSD", "FDUSD")
_QTY = re.compile(r"\b(?:quantity|qty|size|amount)\s*[:=]?\s*([0-9]{1,12}(?:\.[0-9]{1,12})?)", re.I)
_LEVERAGE = re.compile(r"\bleverage\s*[:=]?\s*([0-9]{1,3})x?\b", re.I)
_PASSKEY = "apiKey"


@dataclass(frozen=True)
class Decision:
    outcome: str  # signal | ignored | rejected
    reason: str
    signal: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)  # slow patterns and the like, for the operator


async def load(kv: Any) -> tuple[dict[str, Any], list[str]]:
    """The settings, each checked; a corrupt stored value is replaced by its default and reported."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key in KEYS:
        try:
            values[key] = await settings.get(kv, key)
        except settings.SettingError as exc:
            values[key] = settings.known(key).default
            problems.append(str(exc))
    return values, problems


def _first(found: safe_regex.Found) -> str | None:
    m = found.match
    if m is None:
        return None
    groups = [g for g in m.groups() if g]
    return (groups[0] if groups else m.group(0)).strip() or None


def _symbol(text: str, found: safe_regex.Found) -> str | None:
    m = found.match
    if m is None:
        return None
    start, end = m.span(1) if m.groups() and m.group(1) else m.span()
    # The asset as the symbol it sits in: SOLUSDT, SOL/USDT, SOL-USDT.
    tail = re.match(r"[A-Z0-9]*(?:[/-][A-Z]{3,5})?", text[end:end + 12])
    while start > 0 and text[start - 1].isupper():
        start -= 1
    token = (text[start:end] + (tail.group(0) if tail else "")).replace("/", "").replace("-", "").upper()
    if not token:
        return None
    return token if token.endswith(QUOTES) and token not in QUOTES else token + "USDT"


def _tradingview_json(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    while start != -1:
        try:
            value, _ = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            value = None
        if isinstance(value, dict) and "action" in value:
            return {k: v for k, v in value.items() if k != _PASSKEY}
        start = text.find("{", start + 1)
    return None


def decide(mail: Mail, cfg: dict[str, Any]) -> Decision:
    senders = {s.strip().lower() for s in cfg[settings.EMAIL_AUTHORIZED_SENDERS]}
    if mail.sender not in senders:
        why = "it is empty" if not senders else "it does not list this address"
        return Decision("rejected", f"sender {mail.sender} is not in email:authorized_senders ({why})")
    if not mail.auth.passed:
        return Decision("rejected", f"Authentication-Results for {mail.domain} must show dkim=pass and spf=pass; "
                                    f"found dkim={mail.auth.dkim or 'none'}, spf={mail.auth.spf or 'none'}")
    notes: list[str] = []

    def run(key: str, text: str) -> safe_regex.Found:
        found = safe_regex.search(cfg[key], text)
        if found.over_budget:
            notes.append(f"{key} took {found.seconds * 1000:.0f} ms (budget {safe_regex.BUDGET_S * 1000:.0f} ms)")
        return found

    tradingview = mail.domain == TRADINGVIEW_DOMAIN or mail.domain.endswith("." + TRADINGVIEW_DOMAIN)
    if tradingview:
        body = _tradingview_json(mail.text)
        if body is not None:
            return Decision("signal", "TradingView alert e-mail: its JSON alert message", body, notes)
    elif not run(settings.EMAIL_SCAN_SUBJECT, mail.subject).match:
        return Decision("ignored", f"the subject does not match email:scan_subject "
                                   f"({cfg[settings.EMAIL_SCAN_SUBJECT]})", notes=notes)
    texts = (mail.text, mail.subject)
    action_word = next((a for a in (_first(run(settings.EMAIL_ACTION_PATTERN, t)) for t in texts) if a), None)
    if action_word is None:
        return Decision("rejected", "no action found by email:action_pattern", notes=notes)
    action = ACTIONS.get(action_word.upper())
    if action is None:
        return Decision("rejected", f"email:action_pattern found {action_word[:20]!r}, which is not one of "
                                    f"{', '.join(ACTIONS)}", notes=notes)
    symbol = next((s for s in (_symbol(t, run(settings.EMAIL_COIN_PATTERN, t)) for t in texts) if s), None)
    if symbol is None:
        return Decision("rejected", "no asset found by email:coin_pattern", notes=notes)
    signal: dict[str, Any] = {"action": action, "symbol": symbol}
    qty = _QTY.search(mail.text[:safe_regex.MAX_SUBJECT])
    if qty and action != "CLOSE":
        signal["quantity"] = round(float(qty.group(1)) * float(cfg[settings.EMAIL_QUANTITY_MULTIPLIER]), 12)
    lev = _LEVERAGE.search(mail.text[:safe_regex.MAX_SUBJECT])
    if lev and action != "CLOSE":
        signal["leverage"] = int(lev.group(1))
    return Decision("signal", "read by the email:* patterns", signal, notes)
