"""The kill switch as the operator turns it: one definition for the gateway's `/v1/kill-switch` and
agent-worker's `/agent/risk-override`.

Turning it is recorded three ways: a log row (critical when on), an alert and a `status` event on
the operator's stream. The reason is checked before anything is written, so a refused request
changes nothing. A switch that is off has no reason: turning it off deletes the stored reason (why
it was on stays in the logs and the status events).
"""

from __future__ import annotations

from typing import Any

from hoox_edge.operator import shapes
from hoox_edge.operator.params import invalid
from hoox_edge.ports import Env
from hoox_edge.shared import calls, events, settings
from hoox_edge.shared.errors import VALIDATION_ERROR, ApiError
from hoox_edge.shared.logs import log

MAX_REASON = 500


async def state(env: Env) -> shapes.KillSwitch:
    """`{"on", "reason"}`; a corrupt stored value reads as on (the gateway halts trading on it: fail safe)."""
    try:
        on = await settings.get(env.CONFIG_KV, settings.KILL_SWITCH)
        err = None
    except settings.SettingError as exc:
        on, err = True, str(exc)
    try:
        reason = await settings.get(env.CONFIG_KV, settings.KILL_SWITCH_REASON)
    except settings.SettingError:
        reason = None
    if err:
        reason = f"{settings.KILL_SWITCH} holds an invalid value, so trading is halted ({err})"
    return {"on": bool(on), "reason": reason or None}


def checked_reason(reason: Any, *, on: bool, required: bool = False) -> str:
    """The reason as stored: printable text of at most MAX_REASON characters (400 otherwise)."""
    if reason is None:
        reason = ""
    if not isinstance(reason, str) or len(reason) > MAX_REASON or not reason.replace("\n", " ").isprintable():
        raise ApiError(400, VALIDATION_ERROR, f"reason must be printable text of at most {MAX_REASON} characters.",
                       [{"field": "reason", "issue": f"must be printable text of at most {MAX_REASON} characters"}])
    reason = reason.strip()
    if required and not reason:
        raise invalid("reason", "is required: say why (it is recorded with the switch)", quote=False)
    reason = reason or ("turned on by the operator" if on else "")
    try:
        settings.coerce(settings.KILL_SWITCH_REASON, reason)
    except settings.SettingError as exc:
        raise invalid("reason", exc.message, quote=False) from None
    return reason


async def turn(env: Env, on: bool, reason: str, *, request_id: str | None,
               by: str = "operator") -> shapes.KillSwitch:
    """Set the switch (the reason already `checked_reason`); log, alert and event. Returns the new
    state with `alerted` and `eventId`."""
    await settings.put(env.CONFIG_KV, settings.KILL_SWITCH, on)
    if on:
        await settings.put(env.CONFIG_KV, settings.KILL_SWITCH_REASON, reason)
    else:
        await env.CONFIG_KV.delete(settings.KILL_SWITCH_REASON)
    text = f"Kill switch {'ON' if on else 'OFF'}" + (f": {reason}" if reason else "")
    await log(env, "critical" if on else "warning", f"{by} turned the kill switch {'on' if on else 'off'}",
              request_id=request_id, details={"on": on, "reason": reason or None, "by": by})
    alerted = await calls.alert(env, text + (" — trading is halted." if on else " — trading resumes."),
                                level="critical" if on else "info", request_id=request_id)
    event_id = await events.emit(env, "status", {"killSwitch": on, "reason": reason or None, "by": by},
                                 request_id=request_id)
    out = await state(env)
    out.update({"alerted": alerted, "eventId": event_id})
    return out
