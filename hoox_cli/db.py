"""`hoox db apply|migrate|list|query`: the local ledger (D1 `trade-data-db` under .hoox/state/).

JSON objects (--json):
- apply / migrate: {"workspace", "database", "applied": [name], "up_to_date": bool}
- migrate status:  {"workspace", "database", "applied": [{"name", "applied_at"}], "pending": [name]}
- list:            {"workspace", "database", "tables": [{"name", "rows"}]}
- query:           {"workspace", "database", "sql", "params": [..], "columns": [..], "rows": [{col: value}],
                    "row_count", "changes", "read_only": bool}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from hoox_cli.common import (
    JsonOpt,
    emit_json,
    esc,
    fail,
    handle_errors,
    run_async,
    say,
    show,
    table,
    workspace,
)

if TYPE_CHECKING:
    from hoox_edge.local.d1 import LocalD1
    from hoox_edge.local.workspace import Workspace

app = typer.Typer(help="The local ledger database: migrations, tables, read-only queries.", no_args_is_help=True)


def open_db(ws: Workspace, *, readonly: bool = False) -> LocalD1:
    from hoox_edge.local.d1 import LocalD1

    from hoox_cli.common import state_paths

    return LocalD1(state_paths(ws)["d1"], readonly=readonly)


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
    if json_out:
        emit_json({"workspace": str(ws.root), "database": _db_name(), "applied": names, "up_to_date": not names})
    elif names:
        say(f"Applied {len(names)} migration(s) to {_db_name()}:")
        for n in names:
            say(f"  [green]+[/green] {esc(n)}")
    else:
        say(f"{_db_name()} is already up to date; nothing applied.")


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
def apply(json_out: JsonOpt = False) -> None:
    """Apply pending schema migrations to the local ledger (in order, never twice)."""
    _apply(json_out)


@app.command()
@handle_errors
def migrate(
    action: Annotated[
        str | None, typer.Argument(help="`status` lists applied and pending migrations.", show_default=False)
    ] = None,
    show_status: Annotated[bool, typer.Option("--status", help="List applied and pending migrations.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Apply pending migrations; `hoox db migrate status` (or --status) lists them instead."""
    if action not in (None, "status"):
        fail(
            "USAGE_ERROR",
            f"Unknown action {action!r}: use `hoox db migrate` or `hoox db migrate status`.",
            exit_code=2,
        )
    if action == "status" or show_status:
        _status(json_out)
    else:
        _apply(json_out)


# ----------------------------------------------------------------------------- list
@app.command("list")
@handle_errors
def list_tables(json_out: JsonOpt = False) -> None:
    """Tables of the local ledger with their row counts."""
    ws = workspace()
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
    write: Annotated[bool, typer.Option("--write", help="Allow a statement that changes data.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Run one SQL statement on the local ledger (read-only unless --write)."""
    from hoox_edge.local.d1 import split_statements
    from hoox_edge.ports import D1Error

    ws = workspace()
    statements = split_statements(sql)
    if not statements:
        fail("EMPTY_QUERY", "The query is empty.")
    if len(statements) > 1:
        fail(
            "MULTIPLE_STATEMENTS",
            f"`hoox db query` runs one statement at a time; got {len(statements)}. Run them one by one.",
        )
    params = [_param(p) for p in (param or [])]
    db = open_db(ws, readonly=not write)
    try:
        res = run_async(db.prepare(statements[0]).bind(*params).all())
    except D1Error as exc:
        msg = str(exc)
        if "read-only" in msg:
            fail(
                "READ_ONLY",
                "`hoox db query` is read-only: this statement would change the database "
                "(or needs a PRAGMA/ATTACH). Add --write to run a statement that changes data.",
            )
        hint = " — the tables are created by `hoox db apply`." if "no such table" in msg else ""
        fail("SQL_ERROR", f"{msg}{hint}")
    finally:
        db.close()
    rows = res["results"]
    columns = list(rows[0]) if rows else []
    if json_out:
        emit_json(
            {
                "workspace": str(ws.root),
                "database": _db_name(),
                "sql": statements[0],
                "params": params,
                "columns": columns,
                "rows": rows,
                "row_count": len(rows),
                "changes": res["meta"].get("changes", 0) if write else 0,
                "read_only": not write,
            }
        )
        return
    if rows:
        show(table(columns, [[r[c] for c in columns] for r in rows]))
        say(f"[dim]{len(rows)} row(s)[/dim]")
    elif write:
        say(f"OK — {res['meta'].get('changes', 0)} row(s) changed.")
    else:
        say("No rows.")
