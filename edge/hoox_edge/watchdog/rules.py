"""Watchdog rules: source names, the expectation value and trading-time arithmetic. Pure functions.

An expectation (KV `watchdog:expect:{source}`, JSON):

    {"maxGapMinutes": 60}
    {"maxGapMinutes": 60, "hours": {"days": "mon-fri", "from": "08:00", "to": "22:00", "tz": "UTC"}}

`maxGapMinutes` is the longest gap allowed between two signals (heartbeats count). With `hours`, only
time inside the trading hours counts towards the gap, and a source is never declared quiet outside
them: a strategy that last signalled Friday 21:50 with hours mon-fri 08:00-22:00 has used 10 minutes
of its gap by Monday 08:00. `days` is a list of day names and ranges (`mon-fri`, `sat,sun`, `fri-mon`
wraps); `to` before `from` is a window past midnight that belongs to the day it opens; `to` may be
24:00. `tz` is `UTC` or a fixed offset `UTC+02:00`: the Workers runtime carries no time-zone
database, so a zone with daylight saving is given as its current offset (and changed with it).

Time is computed in O(1) per question: trading seconds are counted from a fixed Monday 00:00 as whole
weeks times the week's trading seconds plus the part of the current week.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hoox_edge.shared.redact import field_name, looks_like_credential, preview

if TYPE_CHECKING:  # annotations only (signal validation imports this module)
    from hoox_edge.operator.shapes import WatchdogState

MIN_GAP_MINUTES = 2  # the check runs once a minute: a 1-minute gap would be judged at its own granularity
MAX_GAP_MINUTES = 7 * 24 * 60
MAX_SOURCE = 64
WEBHOOK_SOURCE = "webhook"  # every signal through POST /webhook counts for this source
# trade_signals sources that are not signals from outside (the desk's own orders) or not built yet:
# neither a strategy nor an expectation may use these names.
RESERVED = ("operator", "risk", "internal", "email", "telegram")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_TIME = re.compile(r"^(\d{2}):(\d{2})$")
_TZ = re.compile(r"^UTC(?:([+-])(\d{2}):(\d{2}))?$")
WEEK = 7 * 86400
# 1969-12-29 00:00 UTC, a Monday: weeks are counted from it.
_MONDAY0 = -3 * 86400

STATES = ("ok", "quiet", "outside_hours", "no_expectation")


# --------------------------------------------------------------------------- names
def source_problem(name: Any) -> str | None:
    """Why `name` cannot name a watchdog source, else None."""
    if not isinstance(name, str) or not name:
        return "a source name must be a non-empty string such as webhook or btc-trend"
    if len(name) > MAX_SOURCE:
        return f"a source name is at most {MAX_SOURCE} characters, this one is {len(name)}"
    if name != name.lower() and _NAME.match(name.lower()):
        return f"source names are lowercase (a signal's strategy is lowercased): use {preview(name.lower())}"
    if not _NAME.match(name):
        return ("a source name is lowercase letters, digits, '.', '_' and '-', starting with a letter or digit "
                "(e.g. webhook or btc-trend)")
    if any(looks_like_credential(w) for w in re.findall(r"[A-Za-z0-9]+", name)):
        # a key pasted where a name belongs must not become a source shown in every status
        return "a source name must not look like a credential (a long mix of letters and digits)"
    if name in RESERVED:
        return (f"{name} is not a source the watchdog watches (reserved: {', '.join(RESERVED)}); "
                f"use {WEBHOOK_SOURCE} or a strategy name")
    return None


def strategy_name(raw: Any) -> str:
    """A signal's `strategy` field, normalised (trimmed, lowercased); ValueError says why it is refused."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("Must be a non-empty string naming the strategy or alert, e.g. btc-trend.")
    name = raw.strip().lower()
    if name == WEBHOOK_SOURCE:
        raise ValueError(f"{WEBHOOK_SOURCE} is the source of every webhook signal already; name the strategy.")
    problem = source_problem(name)
    if problem is not None:
        raise ValueError(problem[0].upper() + problem[1:] + ".")
    return name


# --------------------------------------------------------------------------- the expectation
@dataclass(frozen=True)
class Hours:
    days: frozenset[int]  # 0 = Monday
    start: int  # minutes after local midnight
    end: int  # minutes after local midnight, 1..1440; at or before start: the window ends the next day
    offset: int  # minutes east of UTC
    spec: dict[str, str]  # as given (normalised), for display

    def pieces(self) -> list[tuple[int, int]]:
        """The trading windows of a week as (start, end) seconds after local Monday 00:00, none past a week."""
        out: list[tuple[int, int]] = []
        for d in sorted(self.days):
            a = d * 86400 + self.start * 60
            b = d * 86400 + self.end * 60 + (86400 if self.end <= self.start else 0)
            if b <= WEEK:
                out.append((a, b))
            else:  # Sunday's window past midnight runs into the next week's Monday
                out.extend([(a, WEEK), (0, b - WEEK)])
        return out


@dataclass(frozen=True)
class Expectation:
    max_gap_minutes: int
    hours: Hours | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"maxGapMinutes": self.max_gap_minutes}
        if self.hours is not None:
            out["hours"] = dict(self.hours.spec)
        return out


class ExpectationError(ValueError):
    pass


def _days(spec: Any) -> frozenset[int]:
    if not isinstance(spec, str) or not spec.strip():
        raise ExpectationError('hours.days must be day names and ranges such as "mon-fri" or "mon,wed,fri"')
    out: set[int] = set()
    for part in spec.lower().replace(" ", "").split(","):
        a, sep, b = part.partition("-")
        if a not in DAYS or (sep and b not in DAYS):
            raise ExpectationError(f"hours.days: {preview(part)} is not a day ({', '.join(DAYS)}) or a range "
                                   "such as mon-fri")
        i, j = DAYS.index(a), DAYS.index(b) if sep else DAYS.index(a)
        while True:  # a range may wrap past Sunday (fri-mon)
            out.add(i)
            if i == j:
                break
            i = (i + 1) % 7
    return frozenset(out)


def _minutes(spec: Any, name: str, *, allow_24: bool) -> int:
    m = _TIME.match(spec) if isinstance(spec, str) else None
    hh, mm = (int(m.group(1)), int(m.group(2))) if m else (-1, -1)
    if m and (allow_24 and (hh, mm) == (24, 0)):
        return 1440
    if not m or hh > 23 or mm > 59:
        limit = "24:00" if allow_24 else "23:59"
        raise ExpectationError(f"hours.{name} must be a time HH:MM from 00:00 to {limit}, got "
                               f"{preview(spec)}")
    return hh * 60 + mm


def _offset(spec: Any) -> int:
    m = _TZ.match(spec) if isinstance(spec, str) else None
    if not m:
        raise ExpectationError(f'hours.tz must be "UTC" or a fixed offset such as "UTC+02:00" or "UTC-05:00" '
                               f"(no time-zone database on the edge), got {preview(spec)}")
    if not m.group(1):
        return 0
    hh, mm = int(m.group(2)), int(m.group(3))
    minutes = (hh * 60 + mm) * (1 if m.group(1) == "+" else -1)
    if mm > 59 or not -12 * 60 <= minutes <= 14 * 60:
        raise ExpectationError(f"hours.tz offset must be from UTC-12:00 to UTC+14:00, got {preview(spec)}")
    return minutes


def _hours(raw: Any) -> Hours:
    if not isinstance(raw, dict):
        raise ExpectationError('hours must be an object {"days", "from", "to", "tz"}, e.g. '
                               '{"days": "mon-fri", "from": "08:00", "to": "22:00", "tz": "UTC"}')
    unknown = sorted(field_name(k) for k in raw if k not in ("days", "from", "to", "tz"))
    if unknown:
        raise ExpectationError(f"hours: unknown field(s) {', '.join(unknown)}; expected days, from, to, tz")
    for name in ("days", "from", "to"):
        if name not in raw:
            raise ExpectationError(f"hours.{name} is required")
    days = _days(raw["days"])
    start = _minutes(raw["from"], "from", allow_24=False)
    end = _minutes(raw["to"], "to", allow_24=True)
    if end == start:
        raise ExpectationError("hours.from and hours.to are the same time: leave hours out to watch all day")
    tz = raw.get("tz", "UTC")
    offset = _offset(tz)
    spec = {"days": str(raw["days"]).lower().replace(" ", ""), "from": raw["from"], "to": raw["to"], "tz": tz}
    return Hours(days, start, end, offset, spec)


def parse_expectation(raw: Any) -> Expectation:
    """The expectation of a KV value; ExpectationError says what is wrong with it."""
    example = '{"maxGapMinutes": 60, "hours": {"days": "mon-fri", "from": "08:00", "to": "22:00", "tz": "UTC"}}'
    if not isinstance(raw, dict):
        raise ExpectationError(f"must be a JSON object such as {example}")
    unknown = sorted(field_name(k) for k in raw if k not in ("maxGapMinutes", "hours"))
    if unknown:
        raise ExpectationError(f"unknown field(s) {', '.join(unknown)}; expected maxGapMinutes and optionally hours")
    gap = raw.get("maxGapMinutes")
    if gap is None:
        raise ExpectationError(f"maxGapMinutes is required, e.g. {example}")
    if isinstance(gap, bool) or not isinstance(gap, int) or not MIN_GAP_MINUTES <= gap <= MAX_GAP_MINUTES:
        shown = preview(gap) if isinstance(gap, (int, float)) and not isinstance(gap, bool) else type(gap).__name__
        raise ExpectationError(f"maxGapMinutes must be a whole number of minutes from {MIN_GAP_MINUTES} to "
                               f"{MAX_GAP_MINUTES} (7 days), got {shown}")
    hours = _hours(raw["hours"]) if raw.get("hours") is not None else None
    return Expectation(gap, hours)


def expectation_problem(raw: Any) -> str | None:
    """The settings manifest's shape check of `watchdog:expect:{source}`."""
    try:
        parse_expectation(raw)
    except ExpectationError as exc:
        return str(exc)
    return None


# --------------------------------------------------------------------------- trading time
def _local(t: float, h: Hours) -> float:
    """Seconds since local Monday 1969-12-29 00:00 of epoch `t`."""
    return t + h.offset * 60 - _MONDAY0


def _counted(t: float, h: Hours) -> float:
    """Trading seconds from local Monday 1969-12-29 00:00 up to `t`."""
    u = _local(t, h)
    weeks = math.floor(u / WEEK)
    rem = u - weeks * WEEK
    pieces = h.pieces()
    per_week = sum(b - a for a, b in pieces)
    return weeks * per_week + sum(max(0.0, min(rem, b) - a) for a, b in pieces)


def in_hours(h: Hours | None, t: float) -> bool:
    if h is None:
        return True
    rem = _local(t, h) % WEEK
    return any(a <= rem < b for a, b in h.pieces())


def counted_minutes(exp: Expectation, since: float, now: float) -> float:
    """Minutes of the gap used between `since` and `now`: all of them, or those inside the hours."""
    if now <= since:
        return 0.0
    if exp.hours is None:
        return (now - since) / 60
    return (_counted(now, exp.hours) - _counted(since, exp.hours)) / 60


def overdue(exp: Expectation, since: float, now: float) -> bool:
    """More than maxGapMinutes of counted time without a signal, and inside the hours now."""
    return in_hours(exp.hours, now) and counted_minutes(exp, since, now) > exp.max_gap_minutes


def shown_state(exp: Expectation | None, *, quiet: bool, since: float | None, now: float) -> WatchdogState:
    """ok | quiet | outside_hours | no_expectation, as the operator sees it now.

    `quiet` is the state the check recorded (alerted, no signal since); `since` is the last signal (or
    when the watchdog began watching a source that never signalled)."""
    if exp is None:
        return "no_expectation"
    if quiet:
        return "quiet"
    if not in_hours(exp.hours, now):
        return "outside_hours"
    if since is not None and overdue(exp, since, now):
        return "quiet"
    return "ok"
