"""The ledger on Cloudflare D1 (`hoox db ... --remote`).

Migrations are applied by `wrangler d1 migrations apply --remote` in the staged d1-worker (whose
wrangler.jsonc binds the workspace's database id and the shared migrations folder), so Cloudflare's
`d1_migrations` history is kept by the tool that owns it. Status, table listing and queries go through
the D1 REST query endpoint, which binds `?` parameters.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoox_cli.core.errors import fail, run_async

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

_MIGRATION = re.compile(r"\b(\d{4}_[A-Za-z0-9_.-]+?\.sql)\b")


def database(ws: Workspace) -> tuple[str, str]:
    """(name, Cloudflare id) of the ledger database."""
    from hoox_edge import catalog

    from hoox_cli.core import deploy

    uuid = deploy.resources(ws)["d1"].get(catalog.TRADE_DB)
    if not uuid:
        fail("NO_DATABASE", f"No Cloudflare id recorded for the {catalog.TRADE_DB} database: "
                            "run `hoox infra provision --remote` first.")
    return catalog.TRADE_DB, uuid


async def query(ws: Workspace, sql: str, params: list[Any] | None = None) -> dict[str, Any]:
    from hoox_cli.core.cloudflare_api import api_client

    _, uuid = database(ws)
    async with api_client(ws) as api:
        result = await api.d1_query(uuid, sql, params or [])
    return result[0] if result else {"results": [], "meta": {}}


def apply_migrations(ws: Workspace) -> list[str]:
    """Apply the pending migrations on Cloudflare; the names applied."""
    from hoox_cli.core import deploy, wrangler_cli

    name, _ = database(ws)
    target = deploy.stage_worker(ws, "d1-worker")  # carries the migrations folder and the database id
    try:
        r = run_async(wrangler_cli.run(["d1", "migrations", "apply", name, "--remote"], cwd=target, ws=ws))
    except wrangler_cli.WranglerNotFound as exc:
        fail("NO_WRANGLER", str(exc))
    if not r.ok:
        fail("WRANGLER_FAILED", f"wrangler d1 migrations apply failed (exit {r.returncode}).",
             details="\n".join(r.tail(15)))
    return list(dict.fromkeys(m.group(1) for ln in r.lines for m in _MIGRATION.finditer(ln)))


def migration_status(ws: Workspace) -> tuple[list[dict[str, Any]], list[str]]:
    """(applied [{"name", "applied_at"}], pending [name]) on Cloudflare."""
    from hoox_edge import migrations

    res = run_async(query(ws, "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'd1_migrations'"))
    rows: list[dict[str, Any]] = []
    if res["results"]:
        rows = run_async(query(ws, "SELECT name, applied_at FROM d1_migrations ORDER BY id"))["results"]
    done = {r["name"] for r in rows}
    return rows, [m.name for m in migrations.available() if m.name not in done]


def table_rows(ws: Workspace) -> list[dict[str, Any]]:
    """[{"name", "rows"}] of the ledger's tables on Cloudflare."""
    names = run_async(query(ws, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                                "AND name NOT LIKE '_cf_%' ORDER BY name"))["results"]
    tables = []
    for r in names:
        quoted = '"' + r["name"].replace('"', '""') + '"'
        count = run_async(query(ws, f"SELECT COUNT(*) AS n FROM {quoted}"))["results"]
        tables.append({"name": r["name"], "rows": count[0]["n"] if count else None})
    return tables


def is_read_only(sql: str, params: list[Any] | None = None) -> bool:
    """True when SQLite, given the ledger's schema, prepares `sql` under a read-only authorizer.

    The check runs on a scratch copy of the schema (a D1 query cannot be made read-only on the
    server); a statement it cannot judge, e.g. on a table the schema lacks, counts as a write.
    """
    from hoox_edge import migrations
    from hoox_edge.local.d1 import LocalD1
    from hoox_edge.ports import D1Error

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "schema.sqlite"
        db = LocalD1(path)
        try:
            run_async(migrations.apply(db))
        finally:
            db.close()
        ro = LocalD1(path, readonly=True)
        try:
            run_async(ro.prepare("EXPLAIN " + sql).bind(*(params or [])).all())
            return True
        except D1Error:
            return False
        finally:
            ro.close()


def run_query(ws: Workspace, statement: str, params: list[Any], write: bool) -> dict[str, Any]:
    """One statement on Cloudflare; refused (READ_ONLY) when it would write without `write`."""
    if not write and not is_read_only(statement, params):
        fail("READ_ONLY", "`hoox db query --remote` is read-only: this statement would change the database, or "
                          "reads a table the ledger schema does not have. Add --write to run it anyway.")
    from hoox_cli.core.cloudflare_api import CloudflareError

    try:
        return run_async(query(ws, statement, params))
    except CloudflareError as exc:  # pragma: no cover - api_client turns it into a CliError
        fail("SQL_ERROR", str(exc))
