"""Request bodies read and parsed so that bad input is a 4xx, never a crash or a stall.

- Size: `Content-Length` is checked before a byte is read and the streamed length while reading;
  over the limit is `413 PAYLOAD_TOO_LARGE` (the webhook takes 64 KB, everything else 1 MB).
- JSON: strict UTF-8; nesting deeper than `MAX_DEPTH` is refused before the parser runs (Python's
  parser would recurse into a RecursionError); lone UTF-16 surrogates in any key or string
  (`"\\ud800"`: not Unicode, unstorable), `NaN`/`Infinity`, numbers that overflow a double
  (`1e400`) and integers outside SQLite's 64-bit range are refused with what and where.
- `json_safe` turns what JSON cannot carry (non-finite floats, BLOBs) into strings on the way out.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI checks values with this module without the server stack
    from starlette.requests import Request

from hoox_edge.shared.errors import PAYLOAD_TOO_LARGE, VALIDATION_ERROR, ApiError
from hoox_edge.shared.redact import field_name

WEBHOOK_MAX_BYTES = 64 * 1024
MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # what D1 (SQLite) can store as an INTEGER

_SURROGATE = re.compile(r"[\ud800-\udfff]")
# A JSON string literal (escapes included), blanked before brackets are counted.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class UnsafeJson(ValueError):
    """Valid JSON syntax that hoox refuses (too deep, lone surrogate, non-finite or huge number)."""


def too_large(limit: int) -> ApiError:
    # Connection: close, so the rest of an unread body is not read and thrown away.
    return ApiError(413, PAYLOAD_TOO_LARGE, f"The request body is larger than {_size(limit)}.",
                    [{"field": "(body)", "issue": f"at most {limit} bytes"}], headers={"Connection": "close"})


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n % (1024 * 1024) == 0 else f"{n // 1024} KB"


async def read_body(request: Request, limit: int = MAX_BYTES) -> bytes:
    """The whole body, at most `limit` bytes (413 otherwise); read once, kept on the request."""
    cached = request.scope.get("hoox.body")
    if cached is not None:
        return cached
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise ApiError(400, VALIDATION_ERROR, "Content-Length must be a whole number of bytes.")
        if int(declared) > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
    except _client_disconnect():
        raise ApiError(400, VALIDATION_ERROR, "The client disconnected before the body was complete.") from None
    body = b"".join(chunks)
    request.scope["hoox.body"] = body
    return body


def nesting_depth_exceeds(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when arrays/objects nest deeper than `limit` (brackets inside strings do not count).

    Each pass deletes the innermost `[]` pairs, so a document of depth d is empty after d passes;
    what still holds a pair after `limit` passes is deeper. Unbalanced text is left to the parser.
    """
    if text.count("[") + text.count("{") <= limit:  # too few openings to nest that deep (most bodies)
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub('""', text)).replace("{", "[").replace("}", "]")
    for _ in range(limit):
        if not brackets:
            return False
        shorter = brackets.replace("[]", "")
        if shorter == brackets:
            return False  # no pair left: unbalanced, the parser says so
        brackets = shorter
    return "[]" in brackets


def _refuse_constant(name: str) -> Any:
    raise UnsafeJson(f"{name} is not a number hoox accepts: numbers must be finite.")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnsafeJson("A number overflows to infinity (such as 1e400): numbers must be finite.")
    return value


def _int(text: str) -> int:
    if len(text) < 19:  # at most 18 digits: inside the 64-bit range
        return int(text)
    digits = len(text.lstrip("-"))
    # Checked on the text first: int() of a huge literal is slow, and Python refuses > 4300 digits.
    if digits > 19 or not INT_MIN <= int(text) <= INT_MAX:
        raise UnsafeJson(f"An integer of {digits} digits is outside the 64-bit range.")
    return int(text)


# One decoder for every body (json.loads with hooks would build one, and its scanner, per call).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_float, parse_int=_int)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def find_surrogate(value: Any, where: str = "") -> str | None:
    """The path of the first key or string holding a lone surrogate, else None."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        v, at = stack.pop()
        if isinstance(v, str):
            if _SURROGATE.search(v):
                return at or "(body)"
        elif isinstance(v, dict):
            for k, item in v.items():
                if isinstance(k, str) and _SURROGATE.search(k):
                    return f"{at}.(a key)" if at else "(a key)"
                stack.append((item, f"{at}.{field_name(k)}" if at else field_name(k)))
        elif isinstance(v, list):
            stack.extend((item, f"{at}[{i}]") for i, item in enumerate(v))
    return None


def parse_json(raw: bytes | str) -> Any:
    """Strict JSON: ValueError when it is not JSON (not UTF-8, bad syntax), `UnsafeJson` (a
    ValueError too) for depth, lone surrogates, non-finite and out-of-range numbers."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw  # UnicodeDecodeError is a ValueError
    if nesting_depth_exceeds(text):
        raise UnsafeJson(f"The JSON is nested deeper than {MAX_DEPTH} levels.")
    value = _DECODER.decode(text)
    # Valid UTF-8 cannot hold a surrogate: one can only come from a \uD800-\uDFFF escape.
    where = find_surrogate(value) if _SURROGATE_ESCAPE.search(text) else None
    if where is not None:
        raise UnsafeJson(f"{where}: holds a lone UTF-16 surrogate (such as \\ud800), which is not text.")
    return value


async def read_json(request: Request, limit: int = MAX_BYTES) -> Any:
    """The body as JSON (size-limited, strict); 400 VALIDATION_ERROR saying what is wrong."""
    raw = await read_body(request, limit)
    if not raw.strip():
        raise ApiError(400, VALIDATION_ERROR, "Request body must be JSON; it is empty.")
    try:
        return parse_json(raw)
    except UnsafeJson as exc:
        raise ApiError(400, VALIDATION_ERROR, str(exc), [{"field": "(body)", "issue": str(exc)}]) from None
    except ValueError:
        raise ApiError(400, VALIDATION_ERROR, "Request body must be JSON.") from None


def check_value(value: Any) -> str | None:
    """Why a decoded value could not have come through `parse_json` (for values that arrive by
    another road, such as a setting typed on the command line), else None."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"is nested deeper than {MAX_DEPTH} levels"
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, float) and not math.isfinite(v):
            return "holds a number that is not finite"
        if isinstance(v, int) and not INT_MIN <= v <= INT_MAX:
            return "holds an integer outside the 64-bit range"
        if isinstance(v, str) and _SURROGATE.search(v):
            return "holds a lone UTF-16 surrogate, which is not text"
        if isinstance(v, dict):
            for k, item in v.items():
                if isinstance(k, str) and _SURROGATE.search(k):
                    return "has a key holding a lone UTF-16 surrogate, which is not text"
                stack.append((item, depth + 1))
        elif isinstance(v, (list, tuple)):
            stack.extend((item, depth + 1) for item in v)
    return None


def json_safe(value: Any) -> Any:
    """A database value as JSON can carry it: non-finite floats as "Infinity", "-Infinity", "NaN"
    (JavaScript's names) and BLOBs as SQL hex literals (`X'00FF'`)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "X'" + bytes(value).hex().upper() + "'"
    return value


def _client_disconnect() -> type[Exception]:
    from starlette.requests import ClientDisconnect

    return ClientDisconnect
