"""`POST /v1/db/query`: one read-only statement on the ledger, with bound parameters, a row cap and
a time limit (KV `operator:query_timeout_ms`, held to 100..60000 ms): a statement still running then
is abandoned and answers 400 QUERY_TIMEOUT. The limit is `asyncio.wait_for` around the D1 call, so
it holds on both adapters; locally the cancelled read is interrupted in its thread, on Cloudflare
the caller stops waiting.

A statement is accepted when, outside string literals and comments, it is a single statement
(a trailing `;` is allowed) that starts with SELECT or WITH and uses none of the words that
write, change the schema, attach files or change connection state. The check is the guard on
Cloudflare, where D1 has no read-only mode.

Result values JSON cannot carry are sent as strings: a BLOB as its SQL hex literal (`X'00FF'`),
a non-finite REAL as "Infinity", "-Infinity" or "NaN". An answer holds at most MAX_ANSWER_BYTES of
text and BLOBs (400 otherwise); locally the database also refuses to make a value over 2 MB or
return over 32 MB (`local/d1.py`), so no query can take the process's memory.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from hoox_edge.operator import shapes
from hoox_edge.ports import D1Database, KVNamespace
from hoox_edge.shared import settings
from hoox_edge.shared.bodies import json_safe
from hoox_edge.shared.errors import QUERY_TIMEOUT, VALIDATION_ERROR, ApiError

MAX_ROWS = 1000
MAX_ANSWER_BYTES = 4_000_000
TIMEOUT_SETTING = settings.QUERY_TIMEOUT
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FORBIDDEN = {
    "insert", "update", "delete", "replace", "upsert", "drop", "create", "alter", "attach", "detach",
    "pragma", "vacuum", "reindex", "analyze", "begin", "commit", "rollback", "savepoint", "release",
    "into", "returning", "truncate",
}  # fmt: skip


def code_of(sql: str, *, brackets: bool = True) -> str:
    """The statement with comments blanked out and string literals and quoted identifiers filled
    with `'` (same length, so positions in it are positions in the statement; a literal is not
    blank, so trimming the code never cuts one off). `brackets`: `[name]` is a quoted identifier
    (SQLite); in ClickHouse `[` starts an array."""
    out = list(sql)
    i, n = 0, len(sql)
    quotes = "'\"`[" if brackets else "'\"`"

    def blank(a: int, b: int, fill: str = " ") -> None:
        for k in range(a, min(b, n)):
            out[k] = fill

    while i < n:
        c = sql[i]
        if c in quotes:
            close = "]" if c == "[" else c
            j = i + 1
            while j < n:
                if sql[j] == close:
                    if close != "]" and j + 1 < n and sql[j + 1] == close:
                        j += 2
                        continue
                    break
                j += 1
            if j >= n:
                raise ApiError(400, VALIDATION_ERROR, "Unterminated quote in the query.")
            blank(i, j + 1, "'")
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            if j < 0:
                raise ApiError(400, VALIDATION_ERROR, "Unterminated comment in the query.")
            blank(i, j + 2)
            i = j + 2
        else:
            i += 1
    return "".join(out)


def read_only_code(sql: str, *, first: tuple[str, ...], forbidden: set[str], refusal: str,
                   brackets: bool = True) -> str:
    """`code_of(sql)` cut before its trailing `;` and blanks, after checking it is one statement that
    starts with one of `first` and uses none of `forbidden`; else ApiError 400 (`refusal` for a
    statement that does not start right)."""
    code = code_of(sql, brackets=brackets)
    end = len(code.rstrip())
    while end > 0 and code[end - 1] == ";":
        end = len(code[: end - 1].rstrip())
    code = code[:end]
    if ";" in code:
        raise ApiError(400, VALIDATION_ERROR, "Only one statement per query: a second statement is not allowed.")
    words = [w.lower() for w in _WORD.findall(code)]
    if not words or words[0] not in first:
        raise ApiError(400, VALIDATION_ERROR, refusal)
    bad = sorted(set(words) & forbidden)
    if bad:
        raise ApiError(400, VALIDATION_ERROR,
                       f"Read-only queries may not use {', '.join(w.upper() for w in bad)}.")
    return code


def check_read_only(sql: str) -> str:
    """The statement without its trailing `;` (and any comment after it), or ApiError 400 saying
    what is not allowed."""
    code = read_only_code(sql, first=("select", "with"), forbidden=_FORBIDDEN,
                          refusal="Only read-only queries (SELECT or WITH ... SELECT) are allowed.")
    return sql[: len(code)]


def check_params(params: Any) -> list[Any]:
    if params is None:
        return []
    if not isinstance(params, list):
        raise ApiError(400, VALIDATION_ERROR, "params must be a JSON array.")
    for i, p in enumerate(params):
        if not (p is None or isinstance(p, (str, int, float, bool))):
            raise ApiError(400, VALIDATION_ERROR, f"params[{i}] must be a string, number, boolean or null.")
    return params


async def timeout_ms(kv: KVNamespace | None) -> int:
    """The time limit of a query; the default when the setting is missing, unreadable or out of its
    bounds (100 ms to 60 s, in the manifest)."""
    default = int(settings.known(TIMEOUT_SETTING).default)
    try:
        value = int(await settings.get(kv, TIMEOUT_SETTING)) if kv is not None else default
    except Exception:  # a query limit must not depend on KV being healthy
        value = default
    return value


async def run(db: D1Database, sql: str, params: list[Any], max_rows: int = MAX_ROWS, *,
              limit_ms: int = 60_000) -> shapes.QueryResult:
    """Rows of the statement, at most `max_rows` (`truncated` says there were more), within `limit_ms`."""
    statement = check_read_only(sql)
    # The cap is applied by the database, so a huge table is never read whole.
    wrapped = f"SELECT * FROM ({statement}) LIMIT {int(max_rows) + 1}"
    try:
        res = await asyncio.wait_for(db.prepare(wrapped).bind(*params).all(), limit_ms / 1000)
    except TimeoutError:
        raise ApiError(400, QUERY_TIMEOUT,
                       f"The query ran longer than {limit_ms} ms ({TIMEOUT_SETTING}) and was stopped.",
                       {"timeoutMs": limit_ms}) from None
    except Exception as exc:
        raise ApiError(400, VALIDATION_ERROR, f"The database refused the query: {exc}") from None
    got = res["results"][: max_rows + 1]
    # An answer is encoded and redacted on the event loop every worker shares: a huge one would hold
    # them all up (counted before the BLOBs double as hex).
    size = sum(len(v) for r in got for v in r.values() if isinstance(v, (str, bytes)))
    if size > MAX_ANSWER_BYTES:
        raise ApiError(400, VALIDATION_ERROR,
                       f"The query's answer would hold {size:,} bytes of text and BLOBs, over the "
                       f"{MAX_ANSWER_BYTES:,} an answer may: select fewer rows or columns, or part of a "
                       "long value (substr, length).", {"bytes": size, "maxBytes": MAX_ANSWER_BYTES})
    # JSON cannot carry BLOBs or non-finite REALs (`SELECT x'00ff'`, `SELECT 1e999`): they go as strings.
    rows = [{k: json_safe(v) for k, v in r.items()} for r in got]
    truncated = len(rows) > max_rows
    rows = rows[:max_rows]
    columns = list(rows[0].keys()) if rows else []
    return {"columns": columns, "rows": rows, "rowCount": len(rows), "truncated": truncated,
            "maxRows": max_rows}
