"""`hoox config kv get|set|list|delete`: runtime settings in the local CONFIG_KV.

The local KV is a SQLite file under .hoox/state/, so these work whether or not the edge runs, and
a running edge sees a change on its next read. Values are checked against the KV manifest
(hoox_edge.shared.settings) before anything is written.

JSON objects (--json):
- get:    {"key", "value", "raw": str|null, "source": "kv"|"default"|"unset", "type": str|null, "description"}
- set:    {"key", "value", "raw", "previous": str|null, "type"}
- list:   {"prefix", "keys": [{"key", "value", "raw", "type", "expiration", "error"?}]}
- delete: {"key", "deleted": bool, "default": value|null}
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
    from hoox_edge.local.kv import LocalKV
    from hoox_edge.local.workspace import Workspace

app = typer.Typer(help="Workspace configuration.", no_args_is_help=True)
kv_app = typer.Typer(help="Runtime settings in CONFIG_KV (checked against the KV manifest).", no_args_is_help=True)
app.add_typer(kv_app, name="kv")


def open_kv(ws: Workspace) -> LocalKV:
    from hoox_edge.local.kv import LocalKV

    from hoox_cli.common import state_paths

    return LocalKV(state_paths(ws)["kv"])


def _type_of(key: str) -> str | None:
    from hoox_edge.shared import settings

    s = settings.lookup(key)
    return s.type if s else None


def _show_value(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


@kv_app.command("get")
@handle_errors
def get(key: Annotated[str, typer.Argument(help="e.g. trade:kill_switch")], json_out: JsonOpt = False) -> None:
    """Show a setting's typed value (its manifest default, marked as such, when unset)."""
    from hoox_edge.shared import settings

    ws = workspace()
    kv = open_kv(ws)
    try:
        raw = run_async(kv.get(key))
    finally:
        kv.close()
    s = settings.lookup(key)
    if raw is not None:
        try:
            value, source = settings.parse(key, raw), "kv"
        except settings.SettingError as exc:
            fail(
                "INVALID_STORED_VALUE",
                f"The stored value of {exc.key} is invalid ({exc.message}); "
                f"fix it with `hoox config kv set {key} VALUE`.",
            )
    elif s is not None:
        value, source = s.default, ("default" if s.default is not None else "unset")
    else:
        fail("NOT_FOUND", f"{key} is not set and is not a setting of the KV manifest.")
    if json_out:
        emit_json(
            {
                "key": key,
                "value": value,
                "raw": raw,
                "source": source,
                "type": _type_of(key),
                "description": s.description if s else None,
            }
        )
        return
    if source == "unset":
        say(f"{esc(key)} is not set (no default).")
    elif source == "default":
        say(f"{esc(key)} = {esc(_show_value(value))}  [dim](default; not set in KV)[/dim]")
    else:
        say(f"{esc(key)} = {esc(_show_value(value))}")


@kv_app.command("set")
@handle_errors
def set_(
    key: Annotated[str, typer.Argument(help="e.g. trade:kill_switch")],
    value: Annotated[str, typer.Argument(help="The value as typed: true, 25, 30,60,300, a JSON array, ...")],
    force: Annotated[bool, typer.Option("--force", help="Store a key the KV manifest does not know.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Set a setting after checking it against the KV manifest (nothing is written when it is invalid)."""
    from hoox_edge.shared import settings

    ws = workspace()
    s = settings.lookup(key)
    if s is None and not force:
        fail(
            "UNKNOWN_KEY",
            f"{key} is not a setting of the KV manifest (a typo?). See `hoox config kv list` "
            "for the stored keys; pass --force to store it anyway.",
        )
    try:
        stored = settings.encode(key, value)
        typed = settings.parse(key, stored)
    except settings.SettingError as exc:
        fail(
            "INVALID_VALUE",
            f"Invalid value for {exc.key}: {exc.message}. Nothing was written.",
            details={"key": exc.key, "expected": settings.type_label(s) if s else None},
        )
    kv = open_kv(ws)
    try:
        previous = run_async(kv.get(key))
        run_async(kv.put(key, stored))
    finally:
        kv.close()
    if json_out:
        emit_json({"key": key, "value": typed, "raw": stored, "previous": previous, "type": _type_of(key)})
        return
    say(
        f"{esc(key)} = {esc(_show_value(typed))}"
        + (f"  [dim](was {esc(previous)})[/dim]" if previous is not None else "")
    )


@kv_app.command("list")
@handle_errors
def list_(
    prefix: Annotated[str, typer.Option("--prefix", help="Only keys starting with this.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Keys stored in CONFIG_KV with their typed values."""
    from hoox_edge.shared import settings

    ws = workspace()
    kv = open_kv(ws)

    async def read() -> list[dict[str, Any]]:
        out, cursor = [], None
        while True:
            page = await kv.list(prefix=prefix, cursor=cursor)
            for k in page.keys:
                raw = await kv.get(k.name)
                if raw is None:  # expired between list and get
                    continue
                item: dict[str, Any] = {
                    "key": k.name,
                    "value": raw,
                    "raw": raw,
                    "type": _type_of(k.name),
                    "expiration": k.expiration,
                }
                try:
                    item["value"] = settings.parse(k.name, raw)
                except settings.SettingError as exc:
                    item["error"] = exc.message
                out.append(item)
            if page.list_complete:
                return out
            cursor = page.cursor

    try:
        items = run_async(read())
    finally:
        kv.close()
    if json_out:
        emit_json({"prefix": prefix, "keys": items})
        return
    if not items:
        say(
            "No keys"
            + (f" starting with {esc(prefix)}" if prefix else "")
            + " in CONFIG_KV."
            + ("" if prefix else " The edge writes the manifest's defaults on its first start.")
        )
        return
    rows = [
        [
            i["key"],
            _show_value(i["value"]) + (f"  (invalid: {i['error']})" if "error" in i else ""),
            i["type"] or "",
        ]
        for i in items
    ]
    show(table(["key", "value", "type"], rows))


@kv_app.command("delete")
@handle_errors
def delete(key: Annotated[str, typer.Argument(help="Key to remove.")], json_out: JsonOpt = False) -> None:
    """Remove a key (its manifest default applies again)."""
    from hoox_edge.shared import settings

    ws = workspace()
    kv = open_kv(ws)
    try:
        existed = run_async(kv.get(key)) is not None
        if existed:
            run_async(kv.delete(key))
    finally:
        kv.close()
    s = settings.lookup(key)
    default = s.default if s else None
    if json_out:
        emit_json({"key": key, "deleted": existed, "default": default})
        return
    if not existed:
        say(f"{esc(key)} was not set; nothing deleted.")
    else:
        say(
            f"Deleted {esc(key)}."
            + (f" Its default {esc(_show_value(default))} applies." if default is not None else "")
        )
