"""Field checks for the edge's small request shapes, in plain Python (DESIGN decision 10: no pydantic).

A `Check` turns one decoded JSON value into a typed one, or raises ValueError saying what was wrong.
`Fields` reads one JSON object with them and keeps *every* problem as `{field, issue}`, so one
answer lists all that is wrong; `Invalid` carries that list to the `VALIDATION_ERROR` envelope.
Nested problems are named by path: `queries.0.params.1`; a value that is not an object at all is
the field `body`.

Coercion is what these shapes always accepted (they were pydantic models in lax mode):
- `number`: a JSON number, a numeric string (`"1.5"`, `" 2 "`, `"1e3"`) or true/false (1/0); finite.
- `whole`: a whole number, also as `2.0`, `"2"` or true/false; never `1.5` or `"1e3"`.
- `boolean`: true/false, 0/1, or one of the words in `_TRUE` / `_FALSE` (any case).
- `text`, `one_of`: strings only, compared exactly; a number is never turned into text.
- `scalar` is strict: a string, number, boolean or null, kept exactly as sent (true stays true, "1"
  stays "1"), for values bound to SQL.
Fields an object does not define are ignored: callers wrap these shapes in envelopes (`requestId`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from hoox_edge.shared.redact import preview

T = TypeVar("T")
M = TypeVar("M")

ROOT = "body"  # the field name of the whole value

_TRUE = frozenset({"true", "yes", "on", "t", "y", "1"})
_FALSE = frozenset({"false", "no", "off", "f", "n", "0"})
_WHOLE = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0*)?")
_MAX_WHOLE_FLOAT = 2.0**63  # beyond it a float has no exact whole value worth reading as one


class Invalid(ValueError):
    """The value does not fit its shape; `details` lists every problem as `{field, issue}`."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{d['field']}: {d['issue']}" for d in details))
        self.details = details


def nested(prefix: str, exc: ValueError) -> list[dict[str, str]]:
    """The problems of a value found at `prefix` (a field name or a list index), named by full path."""
    if isinstance(exc, Invalid):
        return [{"field": prefix if d["field"] == ROOT else f"{prefix}.{d['field']}", "issue": d["issue"]}
                for d in exc.details]
    return [{"field": prefix, "issue": str(exc)}]


class Check(Generic[T]):
    """One field's rule. `expect` says what a valid value is ("a non-empty string"); `convert` returns
    the typed value or raises ValueError — with its own message, or an empty one for the generic
    "Must be <expect>; got <value>."."""

    def __init__(self, expect: str, convert: Callable[[Any], T]) -> None:
        self.expect = expect
        self.convert = convert

    def __call__(self, value: Any) -> T:
        try:
            return self.convert(value)
        except Invalid:
            raise
        except ValueError as exc:
            raise ValueError(str(exc) or f"Must be {self.expect}; got {preview(value)}.") from None


def text(min_len: int = 0, max_len: int | None = None) -> Check[str]:
    def convert(v: Any) -> str:
        if not isinstance(v, str):
            raise ValueError
        if len(v) < min_len:
            raise ValueError("Must not be empty." if min_len == 1 else f"At least {min_len} characters.")
        if max_len is not None and len(v) > max_len:
            raise ValueError(f"At most {max_len} characters (got {len(v)}); shorten it.")
        return v

    expect = "a non-empty string" if min_len == 1 else "a string"
    if max_len is not None:
        expect += f" of at most {max_len} characters"
    return Check(expect, convert)


def _float(v: Any) -> float:
    if isinstance(v, (bool, int, float)):
        try:
            n = float(v)
        except OverflowError:  # an int beyond a double
            raise ValueError(f"Must be a finite number; got {preview(v)}.") from None
    elif isinstance(v, str) and v.isascii():
        try:
            n = float(v)
        except ValueError:
            raise ValueError from None
    else:
        raise ValueError
    if not math.isfinite(n):
        raise ValueError(f"Must be a finite number; got {preview(v)}.")
    return n


def number(*, ge: float | None = None) -> Check[float]:
    def convert(v: Any) -> float:
        n = _float(v)
        if ge is not None and n < ge:
            raise ValueError(f"Must be at least {ge:g}; got {preview(v)}.")
        return n

    return Check("a number" if ge is None else f"a number, {ge:g} or more", convert)


def _whole(v: Any) -> int:
    if isinstance(v, int):  # bool included: true/false are 1/0
        return int(v)
    if isinstance(v, float) and v.is_integer() and abs(v) < _MAX_WHOLE_FLOAT:
        return int(v)
    if isinstance(v, str) and _WHOLE.fullmatch(v.strip()):
        return int(v.strip().split(".", 1)[0])
    raise ValueError


def _boolean(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.lower() in _TRUE | _FALSE:
        return v.lower() in _TRUE
    raise ValueError


def _scalar(v: Any) -> str | int | float | bool | None:
    if v is None or isinstance(v, (str, int, float)):  # bool is an int: kept as sent
        return v
    raise ValueError


whole: Check[int] = Check("a whole number", _whole)
boolean: Check[bool] = Check("true or false", _boolean)
scalar: Check[str | int | float | bool | None] = Check(
    "a string, number, true/false or null (put nested arrays or objects in a string, as JSON text)", _scalar)


def one_of(*choices: str) -> Check[str]:
    def convert(v: Any) -> str:
        if isinstance(v, str) and v in choices:
            return v
        raise ValueError

    return Check(f"one of {', '.join(choices)} (exactly as written)", convert)


def optional(check: Check[T]) -> Check[T | None]:
    """`check`, or null."""
    return Check(f"{check.expect}, or null", lambda v: None if v is None else check(v))


def array(item: Check[T] | None = None, *, min_len: int = 0) -> Check[list[Any]]:
    """A JSON array; each item checked by `item` (problems named by index), at least `min_len` long."""

    def convert(v: Any) -> list[Any]:
        if not isinstance(v, list):
            raise ValueError
        if len(v) < min_len:
            raise ValueError(f"Must hold at least {min_len} item{'s' if min_len > 1 else ''}; it is empty.")
        if item is None:
            return list(v)
        out: list[Any] = []
        problems: list[dict[str, str]] = []
        for i, x in enumerate(v):
            try:
                out.append(item(x))
            except ValueError as exc:
                problems.extend(nested(str(i), exc))
        if problems:
            raise Invalid(problems)
        return out

    return Check("a JSON array [...]" + (f" of {item.expect}" if item else ""), convert)


class Fields:
    """Reads one JSON object: `required` / `optional` check one field each and keep every problem;
    `build` raises them all at once, or makes the shape."""

    def __init__(self, raw: Any) -> None:
        self._raw: dict[str, Any] | None = raw if isinstance(raw, dict) else None
        self.problems: list[dict[str, str]] = []
        if self._raw is None:
            self.problems.append({"field": ROOT, "issue": f"Must be a JSON object {{...}}; got {preview(raw)}."})

    def required(self, name: str, check: Check[T]) -> Any:
        if self._raw is not None and name not in self._raw:
            self.problems.append({"field": name, "issue": f"Required: {check.expect}."})
            return None
        return self._check(name, check)

    def optional(self, name: str, check: Check[T], default: Any) -> Any:
        if self._raw is not None and name not in self._raw:
            return default
        return self._check(name, check)

    def _check(self, name: str, check: Check[T]) -> Any:
        if self._raw is None:
            return None
        try:
            return check(self._raw[name])
        except ValueError as exc:
            self.problems.extend(nested(name, exc))
            return None

    def build(self, cls: Callable[..., M], **values: Any) -> M:
        if self.problems:
            raise Invalid(self.problems)
        return cls(**values)
