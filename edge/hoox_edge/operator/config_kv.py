"""CONFIG_KV as the operator reads and writes it: the `/v1/config/kv` routes, and the CLI on a local
edge that is not running (it calls these on the local KV adapter), so both answer the same.

No Starlette here: the CLI imports this module without the server stack.
"""

from __future__ import annotations

from typing import Any

from hoox_edge.operator import shapes
from hoox_edge.ports import Env, KVNamespace
from hoox_edge.shared import settings
from hoox_edge.shared.errors import NOT_FOUND, VALIDATION_ERROR, ApiError
from hoox_edge.shared.logs import log
from hoox_edge.shared.redact import preview


def manifest_entry(key: str) -> settings.Setting:
    """The manifest's setting `key`; an unknown key is a 400 naming the closest known one."""
    s = settings.lookup(key)
    if s is None:
        import difflib  # an unknown key only

        known = [m.key for m in settings.MANIFEST]
        close = difflib.get_close_matches(key, known, n=1) if len(key) <= 100 else []
        hint = f" Did you mean {close[0]}?" if close else ""
        raise ApiError(400, VALIDATION_ERROR, f"{preview(key, limit=60)}: not a setting of the KV manifest.{hint}",
                       [{"field": "key", "issue": "unknown key"}])
    return s


async def list_items(kv: KVNamespace, prefix: str) -> shapes.KvList:
    """Every stored key under `prefix`, plus the manifest's keys under it that are not stored."""
    names = await settings.stored_keys(kv, prefix)
    raws = await kv.get_many(names)
    stored = {n: r for n, r in zip(names, raws, strict=True) if r is not None}  # None: expired meanwhile
    defaults = [s.key for s in settings.MANIFEST if not s.is_family and s.key.startswith(prefix)
                and s.key not in stored]
    keys = sorted({*stored, *defaults})
    return {"items": [settings.describe(k, stored.get(k)) for k in keys], "nextCursor": None}


def check_key(key: str) -> str:
    """`key` when Cloudflare KV can hold it (settings.key_problem), else a 400 that says why: the
    `/config/kv/{key}` routes and the CLI's read of a stopped edge."""
    problem = settings.key_problem(key)
    if problem is not None:
        raise ApiError(400, VALIDATION_ERROR, f"key: {problem}.", [{"field": "key", "issue": problem}])
    return key


async def get_item(kv: KVNamespace, key: str) -> shapes.KvEntry:
    check_key(key)
    return describe_item(key, await kv.get(key))


def describe_item(key: str, raw: str | None) -> shapes.KvEntry:
    """`get_item` of the stored text `raw` (None: not stored); the CLI reads a stopped edge's file with no
    event loop (hoox_edge.local.kv_file) and answers with this."""
    if raw is None and settings.lookup(key) is None:
        raise ApiError(404, NOT_FOUND, f"{preview(key, limit=60)}: not in KV and not a setting of the KV manifest.")
    return settings.describe(key, raw)


async def put_item(env: Env, key: str, value: Any, *, request_id: str | None, force: bool = False) -> shapes.KvEntry:
    """Validate `value` (a string is parsed as typed on a command line) and store it; the answer is the
    entry as `get_item` shows it plus `previous` (the stored text before). `force` (the CLI's, on a
    local edge only) stores a key the manifest does not know."""
    s = settings.lookup(key) if force else manifest_entry(key)
    try:
        stored = settings.encode(key, value)
    except settings.SettingError as exc:
        raise ApiError(400, VALIDATION_ERROR, f"{exc.key}: {exc.message}",
                       [{"field": key, "issue": exc.message,
                         "expected": settings.type_label(s) if s else None}]) from None
    previous = await env.CONFIG_KV.get(key)
    await env.CONFIG_KV.put(key, stored)
    await log(env, "info", f"operator set {key}", request_id=request_id,
              details={"key": key, "value": stored, "previous": previous})
    item = settings.describe(key, stored)
    item["previous"] = previous
    return item


async def delete_item(env: Env, key: str, *, request_id: str | None) -> shapes.KvDeleted:
    previous = await env.CONFIG_KV.get(key)
    if previous is not None:
        await env.CONFIG_KV.delete(key)
        await log(env, "info", f"operator deleted {key}", request_id=request_id,
                  details={"key": key, "previous": previous})
    s = settings.lookup(key)
    return {"key": key, "deleted": previous is not None, "previous": previous,
            "default": s.default if s else None}
