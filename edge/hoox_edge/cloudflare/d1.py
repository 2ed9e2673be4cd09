"""D1 adapter: `env.DB` (a Cloudflare `D1Database`) behind the `D1Database` port.

Bound values go over as JS values (None as `null`, bytes as a Uint8Array); results come back in
the port's shapes (`{"success", "results", "meta"}`), and a failed statement raises `D1Error`
with D1's own message. What D1's JS API loses is put back here, so both adapter sets answer alike:

- `exec()` on Cloudflare reads one statement per *line*; a statement written over several lines
  fails (`D1_EXEC_ERROR … incomplete input`). The script is split into statements here (SQLite's
  own notion of a complete statement, `split_statements`) and each runs as a prepared statement,
  one after the other, as the local adapter runs them.
- Numbers cross as JS numbers, so a REAL `2.0` arrives as int `2`. A result column named like a
  column the schema declares with REAL affinity (in every table that declares that name) comes
  back as float. The declared types are read once per binding (`PRAGMA table_info`) and read again
  after `exec()` or a CREATE/ALTER/DROP through this adapter. An expression column (`SUM(x) AS
  total`) has no declared type: an integral value of it is an int, as JS gives it.
- BLOBs arrive as lists of ints (a SQLite value is never a list otherwise): they become bytes.
- `meta.duration` is a float (milliseconds), whatever JS number D1 gave.
- A bound value D1 cannot take (a dict, a list, ...) is refused at `bind`, with the local adapter's
  `D1Error`, instead of passing a PyProxy into JS.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Iterator, Sequence
from typing import Any, TypeVar

from hoox_edge.cloudflare._js import is_js_error, js_error_message, resolve, to_js, to_py
from hoox_edge.ports import D1Error, D1ExecResult, D1Meta, D1Result, d1_value

_META_KEYS = ("duration", "changes", "last_row_id", "rows_read", "rows_written", "changed_db")
T = TypeVar("T")


# --------------------------------------------------------------------------- statements of a script
# sqlite3_complete()'s state machine (SQLite's complete.c), so a script splits exactly where SQLite
# would end a statement, CREATE TRIGGER … BEGIN …; END; included. Pyodide's stdlib has no sqlite3.
_SEMI, _WS, _OTHER, _EXPLAIN, _CREATE, _TEMP, _TRIGGER, _END = range(8)
_TRANS = (
    (1, 0, 2, 3, 4, 2, 2, 2),  # 0 INVALID
    (1, 1, 2, 3, 4, 2, 2, 2),  # 1 START
    (1, 2, 2, 2, 2, 2, 2, 2),  # 2 NORMAL
    (1, 3, 3, 2, 4, 2, 2, 2),  # 3 EXPLAIN
    (1, 4, 2, 2, 2, 4, 5, 2),  # 4 CREATE
    (6, 5, 5, 5, 5, 5, 5, 5),  # 5 TRIGGER
    (6, 6, 5, 5, 5, 5, 5, 7),  # 6 SEMI
    (1, 7, 5, 5, 5, 5, 5, 5),  # 7 END
)
_KEYWORDS = {"create": _CREATE, "trigger": _TRIGGER, "temp": _TEMP, "temporary": _TEMP, "end": _END,
             "explain": _EXPLAIN}


def _id_char(c: str) -> bool:
    return c.isalnum() or c in "_$" or ord(c) >= 0x80


def split_statements(script: str) -> list[str]:
    """The complete statements of `script`, each with its `;`; a last one without `;` too."""
    out: list[str] = []
    state, start, i, n = 0, 0, 0, len(script)
    while i < n:
        c = script[i]
        token = _OTHER
        if c == ";":
            token, i = _SEMI, i + 1
        elif c.isspace():
            token, i = _WS, i + 1
        elif c == "/" and script.startswith("/*", i):
            end = script.find("*/", i + 2)
            token, i = _WS, (n if end < 0 else end + 2)
        elif c == "-" and script.startswith("--", i):
            end = script.find("\n", i)
            token, i = _WS, (n if end < 0 else end + 1)
        elif c in "'\"`[":
            close = "]" if c == "[" else c
            end = script.find(close, i + 1)
            i = n if end < 0 else end + 1  # an unterminated quote runs to the end (incomplete)
        elif _id_char(c):
            j = i + 1
            while j < n and _id_char(script[j]):
                j += 1
            token, i = _KEYWORDS.get(script[i:j].lower(), _OTHER), j
        else:
            i += 1
        state = _TRANS[state][token]
        if token == _SEMI and state == 1:  # a statement ends here
            piece = script[start:i].strip()
            if _has_sql(piece):
                out.append(piece)
            start = i
    tail = script[start:].strip()
    if _has_sql(tail):
        out.append(tail)
    return out


def _has_sql(text: str) -> bool:
    """Not only comments, whitespace and semicolons."""
    text = re.sub(r"--[^\n]*|/\*.*?(\*/|\Z)", " ", text, flags=re.DOTALL)
    return bool(text.replace(";", " ").strip())


# --------------------------------------------------------------------------- declared REAL columns
_real_columns: dict[str, frozenset[str]] = {}  # per binding (key), for this isolate's life
_DDL = re.compile(r"\A\s*(create|alter|drop)\b", re.IGNORECASE)


def _affinity_is_real(declared: str) -> bool:
    t = declared.upper()  # SQLite's affinity rules, in their order
    if "INT" in t or "CHAR" in t or "CLOB" in t or "TEXT" in t or "BLOB" in t or not t:
        return False
    return "REAL" in t or "FLOA" in t or "DOUB" in t


@contextlib.contextmanager
def _d1_errors() -> Iterator[None]:
    """A JS exception from D1 as `D1Error` with D1's message; anything else unchanged."""
    try:
        yield
    except Exception as exc:
        if is_js_error(exc):
            raise D1Error(js_error_message(exc)) from None
        raise


async def _call(awaitable: Awaitable[T] | Any) -> Any:
    with _d1_errors():
        return to_py(await resolve(awaitable))


def _cell(name: str, v: Any, real: frozenset[str]) -> Any:
    if isinstance(v, list):  # a BLOB
        return bytes(v)
    if type(v) is int and name in real:
        return float(v)
    return v


def _meta(meta_in: dict[str, Any]) -> D1Meta:
    meta: D1Meta = {k: meta_in[k] for k in _META_KEYS if k in meta_in}  # type: ignore[assignment]
    if "duration" in meta:
        meta["duration"] = float(meta["duration"])
    if "changed_db" in meta:
        meta["changed_db"] = bool(meta["changed_db"])
    return meta


def _value(v: Any) -> Any:
    v = d1_value(v)  # refuses what D1 cannot bind, as the local adapter does
    if isinstance(v, bytes):
        return to_js(v)
    return to_js(v) if v is None else v


class CloudflareD1Statement:
    def __init__(self, db: CloudflareD1, js_stmt: Any, query: str) -> None:
        self._db = db
        self._js = js_stmt
        self.query = query

    def bind(self, *values: Any) -> CloudflareD1Statement:
        args = [_value(v) for v in values]
        with _d1_errors():
            return CloudflareD1Statement(self._db, self._js.bind(*args), self.query)

    async def _rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        real = await self._db._real(rows)
        return [{k: _cell(k, v, real) for k, v in r.items()} for r in rows]

    async def _result(self, raw: Any) -> D1Result:
        raw = raw or {}
        rows = await self._rows(list(raw.get("results") or []))
        if _DDL.match(self.query):
            self._db._forget_schema()
        return {"success": bool(raw.get("success", True)), "results": rows, "meta": _meta(raw.get("meta") or {})}

    async def all(self) -> D1Result:
        return await self._result(await _call(self._js.all()))

    async def run(self) -> D1Result:
        return await self._result(await _call(self._js.run()))

    async def first(self, column: str | None = None) -> Any:
        # D1's first() gives the row as JS sees it; the whole row is fetched to type it alike.
        row = await _call(self._js.first())
        if row is None:
            return None
        [typed] = await self._rows([row])
        if column is None:
            return typed
        if column not in typed:
            raise D1Error(f"D1_COLUMN_NOTFOUND: Column not found ({column})")
        return typed[column]

    async def raw(self) -> list[list[Any]]:
        # With the column names (D1's `raw({columnNames: true})`: first row) to type the cells.
        got = list(await _call(self._js.raw(to_js({"columnNames": True}))) or [])
        if not got:
            return []
        names, rows = [str(c) for c in got[0]], got[1:]
        typed = await self._rows([dict(zip(names, r, strict=False)) for r in rows])
        return [list(r.values()) for r in typed]


class CloudflareD1:
    def __init__(self, js_db: Any, key: str = "") -> None:
        self._js = js_db
        self._key = key or f"D1@{id(js_db)}"

    def prepare(self, query: str) -> CloudflareD1Statement:
        with _d1_errors():
            return CloudflareD1Statement(self, self._js.prepare(query), query)

    async def batch(self, statements: Sequence[Any]) -> list[D1Result]:
        js_stmts = []
        for s in statements:
            if not isinstance(s, CloudflareD1Statement) or s._db is not self:
                raise D1Error("D1_ERROR: batch() takes statements prepared on this database")
            js_stmts.append(s._js)
        raw = await _call(self._js.batch(to_js(js_stmts)))
        return [await s._result(r) for s, r in zip(statements, raw or [], strict=False)]

    async def exec(self, query: str) -> D1ExecResult:
        # Not D1's exec(): it cuts the script at every newline (see the module's docstring).
        total = 0.0
        count = 0
        try:
            for stmt in split_statements(query):
                raw = await _call(self._js.prepare(stmt).run())
                total += float(((raw or {}).get("meta") or {}).get("duration") or 0.0)
                count += 1
        finally:
            self._forget_schema()
        return {"count": count, "duration": total}

    # ----------------------------------------------------------------- declared types
    def _forget_schema(self) -> None:
        _real_columns.pop(self._key, None)

    async def _real(self, rows: list[dict[str, Any]]) -> frozenset[str]:
        """Column names the schema declares REAL (in every table that has them)."""
        if not any(type(v) is int for r in rows for v in r.values()):
            return frozenset()  # nothing JS could have turned from REAL into int
        known = _real_columns.get(self._key)
        if known is not None:
            return known
        tables = await _call(self._js.prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!' "
            "AND name NOT LIKE '!_cf!_%' ESCAPE '!'").raw())
        names = [str(t[0]) for t in tables or []]
        real: set[str] = set()
        other: set[str] = set()
        if names:
            infos = await _call(self._js.batch(to_js([
                self._js.prepare("PRAGMA table_info(" + _quote(n) + ")") for n in names])))
            for info in infos or []:
                for col in info.get("results") or []:
                    if isinstance(col, dict) and col.get("name") is not None:
                        kind = real if _affinity_is_real(str(col.get("type") or "")) else other
                        kind.add(str(col["name"]))
        known = _real_columns[self._key] = frozenset(real - other)
        return known

    def __repr__(self) -> str:
        return "CloudflareD1()"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
