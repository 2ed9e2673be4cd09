"""Query, path and body parameters of the operator API, each checked before it reaches a query.

A route names the query parameters it takes (`Params(request, "limit", "cursor", ...)`): an
unknown or repeated one is a 400, so a typo such as `limt` cannot silently return the default
page. Every checker returns the typed value or raises 400 VALIDATION_ERROR with
`details[{field, issue}]` that names the rule and quotes at most a safe preview of the value
(`redact.preview`). A parameter, path segment or body value that holds one of the deployment's
secrets is refused without being echoed: nothing the operator API takes needs one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from hoox_edge import lifecycle
from hoox_edge.operator import config_kv
from hoox_edge.shared import bodies, clock, settings
from hoox_edge.shared.app import REQUEST_ID, env_of, json_body
from hoox_edge.shared.errors import VALIDATION_ERROR, ApiError
from hoox_edge.shared.logs import LEVELS
from hoox_edge.shared.redact import field_name, preview, secret_fields
from hoox_edge.shared.signal import normalize_symbol

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_TEXT = 200  # `q`, and any free text a filter takes
MAX_ID = bodies.INT_MAX  # ids and cursors are SQLite integers
TRADE_STATUSES = (lifecycle.PENDING, lifecycle.RESTING, *lifecycle.FINAL)
_DIGITS = re.compile(r"^[0-9]{1,19}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")  # a worker name as the catalog spells them
_EARLIEST_YEAR, _LATEST_YEAR = 1970, 9999


def invalid(field: str, issue: str, value: Any = None, *, quote: bool = True) -> ApiError:
    """400 VALIDATION_ERROR: `field: issue, got <preview>` (the value quoted only as a preview)."""
    got = f", got {preview(value)}" if quote and value is not None else ""
    return ApiError(400, VALIDATION_ERROR, f"{field}: {issue}{got}.", [{"field": field, "issue": issue}])


def refuse_secrets(where: str, value: Any, secrets: Sequence[str]) -> None:
    """400 when a name or value anywhere in `value` holds a secret (the field named, never the value)."""
    found = secret_fields(value, secrets, path=where)
    if found:
        raise ApiError(400, VALIDATION_ERROR,
                       f"{found[0]['field']}: holds a secret of this deployment; nothing was done.", found)


class Params:
    """The query parameters of one request, limited to the names a route accepts."""

    def __init__(self, request: Request | None, *accepted: str) -> None:
        self._values: dict[str, str] = {}
        for name, value in (request.query_params.multi_items() if request is not None else ()):
            if name not in accepted:
                known = ", ".join(accepted) if accepted else "none"
                raise invalid(field_name(name), f"not a parameter of this route (it takes: {known})", quote=False)
            if name in self._values:
                raise invalid(name, "given more than once", quote=False)
            self._values[name] = value

    @classmethod
    def of(cls, values: dict[str, str]) -> Params:
        """Text fields of a body, checked with the same rules as query parameters."""
        q = cls(None)
        q._values = dict(values)
        return q

    def get(self, name: str) -> str | None:
        """The raw text, or None when absent or empty."""
        v = self._values.get(name)
        return v if v not in (None, "") else None

    # ------------------------------------------------------------------ typed parameters
    def limit(self, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
        return self.whole("limit", 1, maximum, default)

    def whole(self, name: str, low: int, high: int, default: int) -> int:
        """A whole number from `low` to `high`; `default` when absent."""
        raw = self.get(name)
        if raw is None:
            return default
        if not _DIGITS.match(raw) or not low <= int(raw) <= high:
            raise invalid(name, f"must be a whole number from {low} to {high}", raw)
        return int(raw)

    def cursor(self) -> int | None:
        return self.id("cursor", "must be a nextCursor from an earlier page")

    def id(self, name: str, issue: str = "must be an id") -> int | None:
        raw = self.get(name)
        if raw is None:
            return None
        if not _DIGITS.match(raw) or int(raw) > MAX_ID:
            raise invalid(name, f"{issue} (a whole number from 0 to {MAX_ID})", raw)
        return int(raw)

    def since(self) -> str | None:
        raw = self.get("since")
        return None if raw is None else iso_time("since", raw)

    def until(self) -> str | None:
        raw = self.get("until")
        return None if raw is None else iso_time("until", raw)

    def symbol(self) -> str | None:
        raw = self.get("symbol")
        if raw is None:
            return None
        try:
            if len(raw) > 64:
                raise ValueError
            return normalize_symbol(raw)
        except ValueError:
            raise invalid("symbol", "must be a symbol such as BTCUSDT, BTC/USDT or BTC-USDT", raw) from None

    def choice(self, name: str, choices: Iterable[str], *, fold: bool = True) -> str | None:
        """One of `choices`; `fold`: matched in any case, returned as the choice is spelled."""
        raw = self.get(name)
        if raw is None:
            return None
        options = list(choices)
        for c in options:
            if raw == c or (fold and raw.lower() == c.lower()):
                return c
        raise invalid(name, f"must be one of {', '.join(options)}", raw)

    def exchange(self) -> str | None:
        return self.choice("exchange", settings.EXCHANGES)

    def status(self) -> str | None:
        return self.choice("status", TRADE_STATUSES)

    def level(self) -> str | None:
        return self.choice("level", LEVELS)

    def worker(self) -> str | None:
        raw = self.get("worker")
        if raw is not None and not _NAME.match(raw):
            raise invalid("worker", "must be a worker name such as trade-worker", raw)
        return raw

    def request_id(self) -> str | None:
        raw = self.get("requestId")
        if raw is not None and not REQUEST_ID.match(raw):
            raise invalid("requestId", "must be a request id (letters, digits, . _ : -; at most 128)", raw)
        return raw

    def text(self, name: str, maximum: int = MAX_TEXT, *, keep_empty: bool = False) -> str | None:
        """Printable text of at most `maximum` characters; `keep_empty`: "" stays "" (not None)."""
        raw = self._values.get(name) if keep_empty else self.get(name)
        if raw is not None and (len(raw) > maximum or not raw.isprintable()):
            raise invalid(name, f"must be printable text of at most {maximum} characters", quote=False)
        return raw

    def prefix(self) -> str:
        raw = self.get("prefix") or ""
        problem = settings.key_problem(raw) if raw else None
        if problem is not None:
            raise invalid("prefix", problem.replace("a key", "a prefix"), quote=False)
        return raw


def iso_time(field: str, raw: str) -> str:
    """An ISO-8601 date or time as the ledger's own UTC text (so comparisons are exact)."""
    issue = "must be an ISO-8601 date or time such as 2026-01-05 or 2026-01-05T12:00:00Z"
    if len(raw) > 40:
        raise invalid(field, issue, quote=False)
    years = f"must fall in the years {_EARLIEST_YEAR} to {_LATEST_YEAR} (UTC)"
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise invalid(field, issue, raw) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        utc = dt.astimezone(UTC)
    except OverflowError:  # a time that is past year 9999 (or before year 1) in UTC
        raise invalid(field, years, raw) from None
    if not _EARLIEST_YEAR <= utc.year <= _LATEST_YEAR:
        raise invalid(field, years, raw)
    return clock.iso(utc.timestamp())


def kv_key(request: Request) -> str:
    """The `{key}` of a /config/kv route: a key Cloudflare KV can hold (at most 512 bytes)."""
    return config_kv.check_key(request.path_params["key"])


def path_secrets(request: Request) -> None:
    """Refuse a path or query that holds a secret (it would be echoed in an error, or stored)."""
    secrets = env_of(request).secret_values()
    refuse_secrets("(path)", dict(request.path_params), secrets)
    refuse_secrets("(query)", dict(request.query_params.multi_items()), secrets)


async def json_object(request: Request, *accepted: str, required: Sequence[str] = ()) -> dict[str, Any]:
    """The body as a JSON object with only the `accepted` fields, none holding a secret."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise invalid("(body)", f"must be a JSON object with {', '.join(accepted)}", quote=False)
    refuse_secrets("", body, env_of(request).secret_values())
    for name in body:
        if name not in accepted:
            raise invalid(field_name(name), f"not a field of this route (it takes: {', '.join(accepted)})",
                          quote=False)
    for name in required:
        if name not in body:
            raise invalid(name, "is required", quote=False)
    return body
