"""Five-field cron expressions (minute hour day-of-month month day-of-week), evaluated in UTC.

Supported: `*`, `*/n`, `a`, `a-b`, `a-b/n`, `a/n`, lists `a,b,...`, month names (JAN..DEC) and
day names (SUN..SAT; 0 and 7 are Sunday). As in Vixie cron, when both day-of-month and day-of-week
are restricted a day matching either fires. Cloudflare's extensions `L`, `W` and `#` are refused
with a message saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_MONTHS = {n: i for i, n in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)}
_DAYS = {n: i for i, n in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _DAYS))


class CronError(ValueError):
    pass


def _value(text: str, name: str, lo: int, hi: int, names: dict[str, int]) -> int:
    t = text.upper()
    if t in names:
        return names[t]
    if not t.isdigit():
        raise CronError(f"{name}: {text!r} is not a number")
    v = int(t)
    if not lo <= v <= hi:
        raise CronError(f"{name}: {v} is outside {lo}-{hi}")
    return v


def _field(text: str, name: str, lo: int, hi: int, names: dict[str, int]) -> frozenset[int]:
    if any(c in text.upper() for c in "LW#?") and not any(n in text.upper() for n in names):
        raise CronError(f"{name}: {text!r} uses L, W, # or ?, which this scheduler does not support")
    out: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{name}: empty list item in {text!r}")
        rng, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{name}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if rng == "*":
            a, b = lo, hi
        elif "-" in rng:
            sa, sb = rng.split("-", 1)
            a, b = _value(sa, name, lo, hi, names), _value(sb, name, lo, hi, names)
            if a > b:
                raise CronError(f"{name}: range {rng!r} runs backwards")
        else:
            a = _value(rng, name, lo, hi, names)
            b = hi if step_text else a  # `a/n` means from a to the end, every n
        out.update(range(a, b + 1, step))
    return frozenset(out)


@dataclass(frozen=True)
class Cron:
    expr: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    dom_any: bool
    dow_any: bool

    @classmethod
    def parse(cls, expr: str) -> Cron:
        parts = expr.split()
        if len(parts) != 5:
            raise CronError(f"cron {expr!r}: expected 5 fields (minute hour day month weekday), "
                            f"got {len(parts)}")
        try:
            sets = [_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
        except CronError as exc:
            raise CronError(f"cron {expr!r}: {exc}") from None
        weekdays = frozenset(d % 7 for d in sets[4])
        return cls(expr, sets[0], sets[1], sets[2], sets[3], weekdays,
                   dom_any=parts[2] == "*", dow_any=parts[4] == "*")

    def _day_matches(self, t: datetime) -> bool:
        if t.month not in self.months:
            return False
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.weekdays
        if self.dom_any and self.dow_any:
            return True
        if self.dom_any:
            return dow
        if self.dow_any:
            return dom
        return dom or dow

    def matches(self, t: datetime) -> bool:
        t = t.astimezone(UTC)
        return self._day_matches(t) and t.hour in self.hours and t.minute in self.minutes

    def next_after(self, t: datetime) -> datetime:
        """The first matching minute strictly after `t` (UTC)."""
        cur = t.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = cur + timedelta(days=366 * 5)
        while cur <= limit:
            if not self._day_matches(cur):
                cur = (cur + timedelta(days=1)).replace(hour=0, minute=0)
            elif cur.hour not in self.hours:
                cur = (cur + timedelta(hours=1)).replace(minute=0)
            elif cur.minute not in self.minutes:
                cur += timedelta(minutes=1)
            else:
                return cur
        raise CronError(f"cron {self.expr!r} never fires")


def next_fire(expr: str, after: float) -> float:
    """Epoch seconds of the next firing of `expr` strictly after epoch `after`."""
    return Cron.parse(expr).next_after(datetime.fromtimestamp(after, UTC)).timestamp()


def matches(expr: str, at: float) -> bool:
    return Cron.parse(expr).matches(datetime.fromtimestamp(at, UTC))
