"""Operator-written regular expressions (the e-mail patterns in KV), checked before they are used.

Python's `re` cannot be interrupted, so the time budget is kept by what a pattern may be and by what
it runs over: at most `MAX_PATTERN` characters, no backreferences or lookarounds, no quantified group
that itself holds a quantifier (the `(a+)+` shape of catastrophic backtracking), and every search
runs over at most `MAX_SUBJECT` characters. `search` measures the time it took and reports a pattern
over `BUDGET_S` so that the operator hears of a slow one.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

MAX_PATTERN = 200
MAX_SUBJECT = 20_000  # characters of an e-mail's text a pattern is run over
BUDGET_S = 0.05

_NESTED = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,\d*\})(?:[^()\\]|\\.)*\)\s*(?:[+*?]|\{\d*,?\d*\})")
_FORBIDDEN = (("(?=", "lookahead"), ("(?!", "lookahead"), ("(?<=", "lookbehind"), ("(?<!", "lookbehind"),
              ("(?P=", "backreference"))
_BACKREF = re.compile(r"\\[1-9]")


def problem(pattern: object) -> str | None:
    """None when `pattern` is a usable regular expression, else the rule it breaks."""
    if not isinstance(pattern, str) or not pattern:
        return "must be a non-empty regular expression"
    if len(pattern) > MAX_PATTERN:
        return f"must have at most {MAX_PATTERN} characters, got {len(pattern)}"
    for token, what in _FORBIDDEN:
        if token in pattern:
            return f"must not use a {what} ({token}): it can make matching slow"
    if _BACKREF.search(pattern):
        return "must not use a backreference (\\1...): it can make matching slow"
    if _NESTED.search(pattern):
        return "must not repeat a group that itself repeats (such as (a+)+): matching could take forever"
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"is not a valid regular expression ({exc})"
    return None


@dataclass(frozen=True)
class Found:
    match: re.Match[str] | None
    seconds: float

    @property
    def over_budget(self) -> bool:
        return self.seconds > BUDGET_S


def search(pattern: str, text: str, flags: int = 0) -> Found:
    """`re.search` of a checked pattern over the first MAX_SUBJECT characters of `text`, timed."""
    started = time.perf_counter()
    m = re.compile(pattern, flags).search(text[:MAX_SUBJECT])
    return Found(m, time.perf_counter() - started)
