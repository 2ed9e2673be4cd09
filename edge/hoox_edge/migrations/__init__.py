"""D1 schema migrations: numbered .sql files applied in order, once each.

History lives in `d1_migrations`, the table `wrangler d1 migrations apply` uses, so the same
folder serves the local ledger and Cloudflare's D1 alike.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import resources

from hoox_edge.ports import D1Database
from hoox_edge.shared import clock

HISTORY_DDL = (
    "CREATE TABLE IF NOT EXISTS d1_migrations ("
    "id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TEXT NOT NULL)"
)


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str
    statements: tuple[str, ...] = field(default=(), compare=False)  # the commands of `sql`, in order


def available() -> list[Migration]:
    return list(_read())


@functools.cache
def _read() -> tuple[Migration, ...]:
    """The package's migrations, read and split once per process (a runtime opens with them)."""
    files = sorted(
        (f for f in resources.files(__package__).iterdir() if f.name.endswith(".sql")), key=lambda f: f.name
    )
    out = []
    for f in files:
        sql = f.read_text(encoding="utf-8")
        out.append(Migration(f.name, sql, tuple(s.strip() for s in _split(sql) if s.strip())))
    return tuple(out)


async def applied(db: D1Database) -> list[str]:
    await db.exec(HISTORY_DDL)
    rows = (await db.prepare("SELECT name FROM d1_migrations ORDER BY id").all())["results"]
    return [r["name"] for r in rows]


async def pending(db: D1Database) -> list[Migration]:
    done = set(await applied(db))
    return [m for m in available() if m.name not in done]


async def apply(db: D1Database) -> list[str]:
    """Apply every pending migration, each with its history row in one batch; return their names."""
    names = []
    for m in await pending(db):
        batch = [db.prepare(s) for s in m.statements]
        batch.append(db.prepare("INSERT INTO d1_migrations (name, applied_at) VALUES (?, ?)").bind(m.name, clock.iso()))
        await db.batch(batch)
        names.append(m.name)
    return names


_TRIGGER_HEAD = re.compile(r"\s*CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?TRIGGER\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def _split(sql: str) -> list[str]:
    """Split a migration file on ';' outside quotes, comments and trigger bodies.

    Inside `CREATE TRIGGER ... BEGIN ... END` every command ends with ';'; the body ends at the
    `END` that follows a completed command (the rule wrangler's splitter uses), so a `CASE ... END`
    inside a command does not end it early.
    """
    out: list[str] = []
    buf: list[str] = []
    quote: str | None = None
    in_body = False  # inside a trigger's BEGIN ... END
    after_semicolon = False  # in a trigger body, the last token was ';'
    end_closes = False  # in a trigger body, the last token was an END right after a ';'
    i = 0
    while i < len(sql):
        c = sql[i]
        if quote:
            buf.append(c)
            if c == quote:
                quote = None
        elif c in "'\"`[":
            quote = "]" if c == "[" else c
            buf.append(c)
            after_semicolon = end_closes = False
        elif c == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            i = len(sql) if j < 0 else j
            continue
        elif c == "/" and sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = len(sql) if j < 0 else j + 2
            buf.append(" ")
            continue
        elif c == ";":
            if in_body and not end_closes:
                buf.append(c)
                after_semicolon = True
            else:
                out.append("".join(buf))
                buf = []
                in_body = after_semicolon = end_closes = False
        elif c.isalpha() or c == "_":
            m = _WORD.match(sql, i)
            assert m is not None
            word = m.group(0).upper()
            if not in_body and word == "BEGIN" and _TRIGGER_HEAD.match("".join(buf)):
                in_body, after_semicolon = True, True  # an END right after BEGIN would close it
            elif in_body:
                end_closes = word == "END" and after_semicolon
                after_semicolon = False
            buf.append(m.group(0))
            i = m.end()
            continue
        else:
            if in_body and not c.isspace():
                after_semicolon = end_closes = False
            buf.append(c)
        i += 1
    out.append("".join(buf))
    return out
