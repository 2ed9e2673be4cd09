"""D1 schema migrations: numbered .sql files applied in order, once each.

History lives in `d1_migrations`, the table `wrangler d1 migrations apply` uses, so the same
folder serves the local ledger and Cloudflare's D1 alike.
"""

from __future__ import annotations

from dataclasses import dataclass
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


def available() -> list[Migration]:
    files = sorted(
        (f for f in resources.files(__package__).iterdir() if f.name.endswith(".sql")), key=lambda f: f.name
    )
    return [Migration(f.name, f.read_text(encoding="utf-8")) for f in files]


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
        statements = [s.strip() for s in _split(m.sql) if s.strip()]
        batch = [db.prepare(s) for s in statements]
        batch.append(db.prepare("INSERT INTO d1_migrations (name, applied_at) VALUES (?, ?)").bind(m.name, clock.iso()))
        await db.batch(batch)
        names.append(m.name)
    return names


def _split(sql: str) -> list[str]:
    """Split a migration file on ';' outside quotes and comments."""
    out, buf, quote, i = [], [], None, 0
    while i < len(sql):
        c = sql[i]
        if quote:
            buf.append(c)
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
            buf.append(c)
        elif c == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            i = len(sql) if j < 0 else j
            continue
        elif c == ";":
            out.append("".join(buf))
            buf = []
        else:
            buf.append(c)
        i += 1
    out.append("".join(buf))
    return out
