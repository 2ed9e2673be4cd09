"""`hoox db apply|migrate|list|query`: the ledger (D1 `trade-data-db`).

JSON objects (--json):
- apply / migrate: {"workspace", "database", "applied": [name], "up_to_date": bool}
- migrate status:  {"workspace", "database", "applied": [{"name", "applied_at"}], "pending": [name]}
- list:            {"workspace", "database", "tables": [{"name", "rows"}]}
- query:           {"database", "sql", "params": [..], "columns": [..], "rows": [{col: value}], "row_count",
                    "changes", "read_only": true, "truncated": bool, "edge": {"url", "local", "running"}} (read
                    through the edge: the local one, running or not, or --remote URL's operator API);
                    with --write (the local ledger file) {"workspace", ..., "read_only": false}
- export:          {"workspace", "database", "file", "bytes", "tables": [{"name", "rows"}], "rows",
                    "unreadable": [{"name", "error"}], "restore_command"}
- reset:           {"workspace", "database", "backup": <export object>|null, "deleted": [{"name", "rows"}],
                    "rows_deleted", "migrations_applied": [name]}
- import:          {"workspace", "database", "file", "tables": [{"name", "rows"}], "rows"}

`reset` asks first (or takes --confirm; under --json without --confirm it is CONFIRMATION_REQUIRED, exit 2)
and refuses while the local edge runs. `import` restores only into a ledger without data rows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hoox_cli.core import remote_d1
from hoox_cli.core.errors import CliError, fail, run_async
from hoox_cli.core.workspace import open_db, workspace
from hoox_cli.options import JsonOpt, RemoteOpt, handle_errors
from hoox_cli.output import edge, emit_json, esc, say, say_export, show, table, where

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

    from hoox_cli.core.edge import Edge

# --remote: the ledger on Cloudflare D1 (hoox_cli/core/remote_d1.py; JSON shapes those of the local commands
# plus `"remote": true`)
RemoteDbOpt = Annotated[bool, typer.Option("--remote", help="The ledger on Cloudflare D1 (wrangler / D1 API).")]

app = typer.Typer(help="The local ledger database: migrations, tables, queries, export, reset, import.",
                  no_args_is_help=True)


def _db_name() -> str:
    from hoox_edge import catalog

    return catalog.TRADE_DB


# ----------------------------------------------------------------------------- apply / migrate
def _apply(json_out: bool) -> None:
    from hoox_edge import migrations

    ws = workspace()
    db = open_db(ws)
    try:
        names = run_async(migrations.apply(db))
    finally:
        db.close()
    _say_applied(ws, _db_name(), names, json_out)


def _say_applied(ws: Workspace, name: str, applied: list[str], json_out: bool, *, remote: bool = False) -> None:
    """What `db apply` / `db migrate` applied, to the local ledger or (remote) Cloudflare D1."""
    where = f"{name} on Cloudflare" if remote else name
    if json_out:
        emit_json({"workspace": str(ws.root), "database": name, "applied": applied, "up_to_date": not applied,
                   **({"remote": True} if remote else {})})
    elif applied:
        say(f"Applied {len(applied)} migration(s) to {where}:")
        for n in applied:
            say(f"  [green]+[/green] {esc(n)}")
    else:
        say(f"{where} is already up to date; nothing applied.")


def _status(json_out: bool) -> None:
    from hoox_edge import migrations

    ws = workspace()
    db = open_db(ws)

    async def read() -> tuple[list[dict[str, Any]], list[str]]:
        await db.exec(migrations.HISTORY_DDL)
        rows = (await db.prepare("SELECT name, applied_at FROM d1_migrations ORDER BY id").all())["results"]
        return rows, [m.name for m in await migrations.pending(db)]

    try:
        applied, pending = run_async(read())
    finally:
        db.close()
    if json_out:
        emit_json({"workspace": str(ws.root), "database": _db_name(), "applied": applied, "pending": pending})
        return
    rows = [[r["name"], "applied", r["applied_at"]] for r in applied] + [[n, "pending", ""] for n in pending]
    show(table(["migration", "state", "applied at"], rows, title=f"{_db_name()} migrations"))
    say(f"{len(pending)} pending — apply with `hoox db migrate`." if pending else "Up to date.")


@app.command()
@handle_errors
def apply(remote: RemoteDbOpt = False, json_out: JsonOpt = False) -> None:
    """Apply pending schema migrations to the local ledger (in order, never twice)."""
    if remote:
        return _remote_apply(workspace(), json_out)
    _apply(json_out)


@app.command()
@handle_errors
def migrate(
    action: Annotated[
        str | None, typer.Argument(help="`status` lists applied and pending migrations.", show_default=False)
    ] = None,
    show_status: Annotated[bool, typer.Option("--status", help="List applied and pending migrations.")] = False,
    remote: RemoteDbOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Apply pending migrations; `hoox db migrate status` (or --status) lists them instead."""
    if action not in (None, "status"):
        fail(
            "USAGE_ERROR",
            f"Unknown action {action!r}: use `hoox db migrate` or `hoox db migrate status`.",
            exit_code=2,
        )
    if remote:
        ws = workspace()
        return _remote_status(ws, json_out) if action == "status" or show_status else _remote_apply(ws, json_out)
    if action == "status" or show_status:
        _status(json_out)
    else:
        _apply(json_out)


# ----------------------------------------------------------------------------- list
@app.command("list")
@handle_errors
def list_tables(remote: RemoteDbOpt = False, json_out: JsonOpt = False) -> None:
    """Tables of the local ledger with their row counts."""
    ws = workspace()
    if remote:
        return _remote_list_tables(ws, json_out)
    db = open_db(ws, readonly=True)

    async def read() -> list[dict[str, Any]]:
        rows = (
            await db.prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).all()
        )["results"]
        out = []
        for r in rows:
            quoted = '"' + r["name"].replace('"', '""') + '"'
            out.append(
                {
                    "name": r["name"],
                    "rows": await db.prepare(f"SELECT COUNT(*) AS n FROM {quoted}").first("n"),
                }
            )
        return out

    try:
        tables = run_async(read())
    finally:
        db.close()
    if json_out:
        emit_json({"workspace": str(ws.root), "database": _db_name(), "tables": tables})
        return
    if not tables:
        say(f"{_db_name()} has no tables yet — create them with `hoox db apply`.")
        return
    show(table(["table", "rows"], [[t["name"], t["rows"]] for t in tables], title=_db_name()))


# ----------------------------------------------------------------------------- query
def _param(text: str) -> Any:
    """A --param as SQL sees it: integers and decimals bind as numbers, anything else as text."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            continue
    return text


@app.command()
@handle_errors
def query(
    sql: Annotated[str, typer.Argument(help="One SQL statement; use ? for parameters.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A value for the next ?, repeatable (numbers bind as numbers)."),
    ] = None,
    write: Annotated[bool, typer.Option("--write", help="Allow a statement that changes data (on the local ledger "
                                                        "file, or Cloudflare D1 with --cloudflare).")] = False,
    cloudflare: Annotated[bool, typer.Option("--cloudflare", help="The ledger on Cloudflare D1 (wrangler / D1 API; "
                                                                  "a bare --remote means this too).")] = False,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run one SQL statement on the ledger: read-only through the edge (the local one, or --remote URL's
    operator API, at most 1000 rows); --write on the local ledger file."""
    from hoox_edge.local.d1 import split_statements

    statements = split_statements(sql)
    if not statements:
        fail("EMPTY_QUERY", "The query is empty.")
    if len(statements) > 1:
        fail(
            "MULTIPLE_STATEMENTS",
            f"`hoox db query` runs one statement at a time; got {len(statements)}. Run them one by one.",
        )
    params = [_param(p) for p in (param or [])]
    if cloudflare and remote:
        fail("USAGE_ERROR", "--cloudflare queries Cloudflare D1 with wrangler, --remote URL an edge's operator API: "
                            "give one.", exit_code=2)
    if cloudflare:
        ws = workspace()
        name, _ = remote_d1.database(ws)
        res = remote_d1.run_query(ws, statements[0], params, write)
        return emit_query_result({"workspace": str(ws.root), "database": name}, statements[0], params, res, write,
                                 json_out, remote=True)
    if write:
        if remote or os.environ.get("HOOX_API_URL"):
            fail("READ_ONLY", "The operator API answers read-only queries only: a write runs on the local ledger "
                              "file (without --remote) or on Cloudflare D1 (`--cloudflare --write`).")
        return _write(statements[0], params, json_out)
    from hoox_edge.operator.sql import check_read_only
    from hoox_edge.shared.errors import ApiError


    try:
        check_read_only(statements[0])
    except ApiError as exc:
        fail("READ_ONLY", f"`hoox db query` is read-only ({exc.message}): this statement would change the database "
                          "(or needs a PRAGMA/ATTACH). Add --write to run a statement that changes data.")
    with edge(remote) as e:
        try:
            res = e.query(statements[0], params)
        except CliError as exc:
            if "no such table" not in exc.message:
                raise
            fail("SQL_ERROR", f"{exc.message.removeprefix('The database refused the query: ')}"
                              f"{_missing_table_hint(e)}")
    emit_query_result({"database": _db_name()}, statements[0], params, {"results": res["rows"]}, False, json_out,
                      truncated=res["truncated"], edge=e.info.as_json())
    if not json_out:
        say(("[yellow]Only the first rows are shown (the operator API's cap).[/yellow] " if res["truncated"] else "")
            + where(e.info))


def _write(statement: str, params: list[Any], json_out: bool) -> None:
    """A statement that changes the local ledger: on its file (writes are not the operator API's)."""
    from hoox_edge.ports import D1Error

    ws = workspace()
    db = open_db(ws)
    try:
        res = run_async(db.prepare(statement).bind(*params).all())
    except D1Error as exc:
        fail("SQL_ERROR", str(exc))
    finally:
        db.close()
    emit_query_result({"workspace": str(ws.root), "database": _db_name()}, statement, params, res, True, json_out)


def _missing_table_hint(e: Edge) -> str:
    """What to do about `no such table`: the tables there are, or how to create them."""
    rows = e.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                   "AND name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY name", [])["rows"]
    if not rows:
        return " — the ledger has no tables yet: `hoox db apply` creates them."
    return " — the tables are: " + ", ".join(r["name"] for r in rows) + "."


def emit_query_result(head: dict[str, Any], sql: str, params: list[Any], res: dict[str, Any], write: bool,
                      json_out: bool, **extra: Any) -> None:
    """Show the result of `db query` (local or remote): a table, the change count, or the JSON object."""
    rows = res.get("results") or []
    columns = list(rows[0]) if rows else []
    changes = (res.get("meta") or {}).get("changes", 0)
    if json_out:
        emit_json({**head, "sql": sql, "params": params, "columns": columns, "rows": rows, "row_count": len(rows),
                   "changes": changes if write else 0, "read_only": not write, **extra})
        return
    if rows:
        show(table(columns, [[r[c] for c in columns] for r in rows]))
        say(f"[dim]{len(rows)} row(s)[/dim]")
    elif write:
        say(f"OK — {changes} row(s) changed.")
    else:
        say("No rows.")


# ----------------------------------------------------------------------------- export / reset / import


@app.command()
@handle_errors
def export(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (default: backups/db-backup-YYYY-MM-DD-HHMMSS.sql, UTC).",
                     dir_okay=False),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Dump the local ledger (schema and rows) as SQL that restores into an empty database."""
    from hoox_cli.core import backup

    ws = workspace()
    dump = backup.run_export(ws, output)
    if json_out:
        emit_json(backup.export_json(ws, dump))
    else:
        say_export(dump)


@app.command()
@handle_errors
def reset(
    confirm: Annotated[bool, typer.Option("--confirm", help="Wipe without asking (an export is still made first).")]
    = False,
    json_out: JsonOpt = False,
) -> None:
    """Wipe every table of the local ledger (exporting it to backups/ first), then re-create the schema."""
    from hoox_edge import migrations

    from hoox_cli.core import backup
    from hoox_cli.options import confirm_destructive

    ws = workspace()
    backup.refuse_while_running(ws, "a reset")
    path = backup.ledger_path(ws)
    before = backup.table_counts(path)
    held = sum(t["rows"] for t in before if t["name"] != backup.HISTORY_TABLE)
    confirm_destructive(f"Delete all {held} row(s) of the local ledger {_db_name()} (a backup is exported first)?",
                        confirmed=confirm, json_mode=json_out, command="hoox db reset")
    dump = backup.run_export(ws) if path.exists() else None
    backup.remove_database(path)
    db = open_db(ws)
    try:
        applied = run_async(migrations.apply(db))
    finally:
        db.close()
    result = {
        "workspace": str(ws.root),
        "database": _db_name(),
        "backup": backup.export_json(ws, dump) if dump else None,
        "deleted": [t for t in before if t["name"] != backup.HISTORY_TABLE],
        "rows_deleted": held,
        "migrations_applied": applied,
    }
    if json_out:
        emit_json(result)
        return
    if dump:
        say_export(dump)
    say(f"Reset {_db_name()}: {held} row(s) deleted; schema re-created ({len(applied)} migration(s)).")


@app.command("import")
@handle_errors
def import_(
    file: Annotated[Path, typer.Argument(help="A dump written by `hoox db export`.", dir_okay=False)],
    json_out: JsonOpt = False,
) -> None:
    """Restore a dump into the local ledger (which must hold no rows: `hoox db reset --confirm` first)."""
    from hoox_cli.core import backup

    ws = workspace()
    backup.refuse_while_running(ws, "a restore")
    try:
        tables = backup.restore_ledger(ws, file)
    except backup.BackupError as exc:
        fail("IMPORT_FAILED", str(exc))
    rows = sum(t["rows"] for t in tables)
    if json_out:
        emit_json({"workspace": str(ws.root), "database": _db_name(), "file": str(file), "tables": tables,
                   "rows": rows})
        return
    say(f"Restored {rows} row(s) of {len(tables)} table(s) into {_db_name()} from {esc(file)}.")


# ----------------------------------------------------------------------------- --remote (Cloudflare D1)
def _remote_apply(ws: Workspace, json_out: bool) -> None:
    name, _ = remote_d1.database(ws)
    _say_applied(ws, name, remote_d1.apply_migrations(ws), json_out, remote=True)


def _remote_status(ws: Workspace, json_out: bool) -> None:
    name, _ = remote_d1.database(ws)
    rows, pending = remote_d1.migration_status(ws)
    if json_out:
        emit_json({"workspace": str(ws.root), "database": name, "applied": rows, "pending": pending, "remote": True})
        return
    show(table(["migration", "state", "applied at"],
               [[r["name"], "applied", r["applied_at"]] for r in rows] + [[n, "pending", ""] for n in pending],
               title=f"{name} migrations (Cloudflare)"))
    say(f"{len(pending)} pending — apply with `hoox db migrate --remote`." if pending else "Up to date.")


def _remote_list_tables(ws: Workspace, json_out: bool) -> None:
    name, _ = remote_d1.database(ws)
    tables = remote_d1.table_rows(ws)
    if json_out:
        emit_json({"workspace": str(ws.root), "database": name, "tables": tables, "remote": True})
        return
    if not tables:
        say(f"{name} on Cloudflare has no tables yet — create them with `hoox db apply --remote`.")
        return
    show(table(["table", "rows"], [[t["name"], t["rows"]] for t in tables], title=f"{name} (Cloudflare)"))
