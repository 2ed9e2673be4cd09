"""SQL dumps of the local ledger and their restore (used by `db export|reset|import`, `monitor backup`,
`repair db|rebuild`).

A dump is plain SQLite SQL: the tables with their rows first, then `sqlite_sequence` (so AUTOINCREMENT
counters go on where they were), then indexes, triggers and views. Triggers come after the rows on
purpose: restoring must not fire them (the `events` rows are in the dump already). It restores into
an empty database (`hoox db import FILE`, or `sqlite3 NEW.sqlite < FILE`).

Numbers are written with Python's shortest round-trip repr, so a REAL comes back bit for bit
(SQLite's own quote() rounds to 15 digits).
"""

from __future__ import annotations

import math
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoox_cli.core.errors import fail

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

BACKUP_DIR = "backups"
HISTORY_TABLE = "d1_migrations"


class BackupError(Exception):
    pass


@dataclass
class Dump:
    path: Path
    tables: list[dict[str, Any]] = field(default_factory=list)  # [{"name", "rows"}]
    unreadable: list[dict[str, str]] = field(default_factory=list)  # [{"name", "error"}] (damaged files)

    @property
    def rows(self) -> int:
        return sum(t["rows"] for t in self.tables)

    def as_json(self) -> dict[str, Any]:
        return {"file": str(self.path), "bytes": self.path.stat().st_size, "tables": self.tables,
                "rows": self.rows, "unreadable": self.unreadable}


def ledger_path(ws: Workspace) -> Path:
    from hoox_edge import catalog

    return ws.d1_file(catalog.TRADE_DB)


def backup_dir(ws: Workspace) -> Path:
    return ws.root / BACKUP_DIR


def new_backup_path(ws: Workspace, stem: str = "db-backup") -> Path:
    """backups/<stem>-YYYY-MM-DD-HHMMSS.sql (UTC); a suffix keeps two exports of one second apart."""
    from hoox_edge.shared import clock

    stamp = datetime.fromtimestamp(clock.now(), UTC).strftime("%Y-%m-%d-%H%M%S")
    folder = backup_dir(ws)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}-{stamp}.sql"
    n = 1
    while path.exists():
        path = folder / f"{stem}-{stamp}-{n}.sql"
        n += 1
    return path


def sql_literal(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "NULL"  # SQLite stores NaN as NULL
        if math.isinf(v):
            return "9e999" if v > 0 else "-9e999"
        return repr(v)
    if isinstance(v, bytes):
        return "X'" + v.hex() + "'"
    text = str(v)
    if "\x00" in text:
        # a NUL cannot appear in an SQL string literal; rebuild it from its bytes
        return "CAST(X'" + text.encode("utf-8").hex() + "' AS TEXT)"
    return "'" + text.replace("'", "''") + "'"


def _quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _connect_readonly(path: Path) -> sqlite3.Connection:
    # mode=ro: a dump never creates or changes the file (the WAL is still read)
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)


def export_ledger(ws: Workspace, path: Path | None = None, *, stem: str = "db-backup",
                  best_effort: bool = False) -> Dump:
    """Write the ledger as SQL to `path` (default: a new file under backups/).

    `best_effort` (for repairs of a damaged file): a table that cannot be read is listed in
    `unreadable` instead of failing the dump.
    """
    from hoox_edge.shared import clock

    src = ledger_path(ws)
    if not src.exists():
        raise BackupError(f"There is no local ledger yet ({src}); nothing to export. `hoox db apply` creates it.")
    target = path or new_backup_path(ws, stem)
    target.parent.mkdir(parents=True, exist_ok=True)
    dump = Dump(target)
    tmp = target.with_name(target.name + ".tmp")
    try:
        conn = _connect_readonly(src)
    except sqlite3.Error as exc:
        raise BackupError(f"Cannot open the ledger {src}: {exc}") from None
    try:
        try:
            objects = conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
            ).fetchall()
        except sqlite3.Error as exc:
            raise BackupError(f"Cannot read the ledger's schema ({exc}); the file is damaged beyond a dump.") from None
        with tmp.open("w", encoding="utf-8", newline="\n") as out:
            out.write(f"-- hoox ledger export of {src.stem}, {clock.iso()}\n")
            out.write("-- Restore into an empty database: `hoox db import FILE` "
                      "(after `hoox db reset --confirm`), or `sqlite3 NEW.sqlite < FILE`.\n")
            out.write("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n")
            tables = [(name, sql) for typ, name, _t, sql in objects
                      if typ == "table" and not name.startswith("sqlite_")]
            for name, sql in tables:
                out.write(f"{sql};\n")
                try:
                    cur = conn.execute(f"SELECT * FROM {_quote_name(name)} ORDER BY rowid")
                    count = 0
                    for row in cur:
                        values = ",".join(sql_literal(v) for v in row)
                        out.write(f"INSERT INTO {_quote_name(name)} VALUES({values});\n")
                        count += 1
                except sqlite3.Error as exc:
                    if not best_effort:
                        raise BackupError(f"Cannot read table {name}: {exc}") from None
                    dump.unreadable.append({"name": name, "error": str(exc)})
                    continue
                dump.tables.append({"name": name, "rows": count})
            has_seq = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'").fetchone()
            if has_seq:
                out.write('DELETE FROM "sqlite_sequence";\n')
                for seq_name, seq in conn.execute("SELECT name, seq FROM sqlite_sequence ORDER BY rowid"):
                    out.write(f'INSERT INTO "sqlite_sequence" VALUES({sql_literal(seq_name)},{sql_literal(seq)});\n')
            for typ, _name, _t, sql in objects:
                if typ in ("index", "trigger", "view"):
                    out.write(f"{sql};\n")
            out.write("COMMIT;\n")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        conn.close()
    return dump


def table_counts(path: Path) -> list[dict[str, Any]]:
    """[{"name", "rows"}] of a SQLite file's tables (empty when the file does not exist)."""
    if not path.exists():
        return []
    conn = _connect_readonly(path)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return [{"name": n, "rows": conn.execute(f"SELECT COUNT(*) FROM {_quote_name(n)}").fetchone()[0]}
                for n in names]
    finally:
        conn.close()


def data_rows(path: Path) -> int:
    """Rows of the ledger that are data (the migration history is not)."""
    return sum(t["rows"] for t in table_counts(path) if t["name"] != HISTORY_TABLE)


def remove_database(path: Path) -> None:
    """Delete a SQLite file with its WAL and shared-memory files."""
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)


def restore_ledger(ws: Workspace, dump_file: Path) -> list[dict[str, Any]]:
    """Load `dump_file` as the ledger. The ledger must hold no data (fresh, or reset).

    The dump is loaded into a new file next to the ledger, checked, then moved into place, so a
    dump that fails halfway leaves the ledger as it was. Returns the restored tables with row counts.
    """
    if not dump_file.is_file():
        raise BackupError(f"No such file: {dump_file}")
    target = ledger_path(ws)
    held = data_rows(target)
    if held:
        raise BackupError(
            f"The ledger holds {held} row(s); a dump restores only into an empty ledger. "
            "Run `hoox db reset --confirm` first (it exports the current rows to backups/).")
    script = dump_file.read_text(encoding="utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".restore")
    remove_database(staging)
    conn = sqlite3.connect(str(staging), isolation_level=None)
    try:
        try:
            conn.executescript(script)
        except sqlite3.Error as exc:
            raise BackupError(f"{dump_file} does not restore: {exc}. The ledger was not changed.") from None
        if conn.in_transaction:
            conn.execute("ROLLBACK")
            raise BackupError(f"{dump_file} ends inside a transaction (truncated?). The ledger was not changed.")
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"The restored database fails its integrity check ({check}). The ledger was not changed.")
        if not conn.execute(f"SELECT 1 FROM sqlite_master WHERE name = '{HISTORY_TABLE}'").fetchone():
            raise BackupError(f"{dump_file} is not a hoox ledger dump (it has no {HISTORY_TABLE} table). "
                              "The ledger was not changed.")
        conn.execute("PRAGMA journal_mode = WAL")  # as the local D1 keeps it
    except BaseException:
        conn.close()
        remove_database(staging)
        raise
    conn.close()
    remove_database(target)
    os.replace(staging, target)
    remove_database(staging)
    return table_counts(target)


def runtime_running(ws: Workspace) -> int | None:
    """The pid of this workspace's running local runtime, if any."""
    from hoox_cli.core import process

    st = process.probe(ws)
    return st.pid if st.running else None


def refuse_while_running(ws: Workspace, what: str) -> None:
    pid = runtime_running(ws)
    if pid is not None:
        fail("RUNTIME_RUNNING",
             f"The local edge is running (pid {pid}) and holds the ledger open; {what} would pull it from "
             "under it. Stop it with `hoox dev stop`, then run this again.")


def export_json(ws: Workspace, dump: Any) -> dict[str, Any]:
    """The --json object of an export (`hoox db export`, `hoox monitor backup`)."""
    from hoox_edge import catalog

    return {"workspace": str(ws.root), "database": catalog.TRADE_DB, **dump.as_json(),
            "restore_command": f"hoox db import {dump.path}"}


def run_export(ws: Workspace, output: Any = None, *, stem: str = "db-backup") -> Any:
    """`export_ledger`, its failure a CliError."""
    try:
        return export_ledger(ws, output, stem=stem)
    except BackupError as exc:
        fail("EXPORT_FAILED", str(exc))
