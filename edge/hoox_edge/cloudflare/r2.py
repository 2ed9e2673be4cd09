"""R2 bucket adapter: `env.X` (a Cloudflare `R2Bucket`) behind the `R2Bucket` port.

R2 itself takes keys such as `../escape`, an empty key or a NUL; the ports refuse them everywhere
(`validate_r2_key`: the local bucket is a folder, and the platform's own tools refuse them), so they
are refused here before the binding sees them, with the same `R2KeyError` (a ValueError).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hoox_edge.cloudflare._js import epoch_seconds, is_null, options, py_bytes, resolve, to_js, to_py
from hoox_edge.ports import R2ListResult, R2Object, R2ObjectInfo, check_page_limit, validate_r2_key


def _info_fields(obj: Any) -> dict[str, Any]:
    http = to_py(getattr(obj, "httpMetadata", None)) or {}
    custom = to_py(getattr(obj, "customMetadata", None)) or {}
    return {
        "key": str(obj.key),
        "size": int(obj.size),
        "uploaded": epoch_seconds(obj.uploaded) or 0.0,
        "etag": str(obj.etag),
        "content_type": http.get("contentType"),
        "custom_metadata": {str(k): str(v) for k, v in custom.items()},
    }


class CloudflareR2:
    def __init__(self, js_bucket: Any) -> None:
        self._js = js_bucket

    async def put(
        self,
        key: str,
        value: bytes | str,
        *,
        content_type: str | None = None,
        custom_metadata: Mapping[str, str] | None = None,
    ) -> R2ObjectInfo:
        validate_r2_key(key)
        body = to_js(bytes(value)) if isinstance(value, (bytes, bytearray, memoryview)) else value
        opts = options(
            http_metadata={"contentType": content_type} if content_type else None,
            custom_metadata=dict(custom_metadata) if custom_metadata else None,
        )
        obj = await resolve(self._js.put(key, body, opts))
        return R2ObjectInfo(**_info_fields(obj))

    async def get(self, key: str) -> R2Object | None:
        validate_r2_key(key)
        obj = await resolve(self._js.get(key))
        if is_null(obj):
            return None
        body = py_bytes(await resolve(obj.arrayBuffer()))
        return R2Object(**_info_fields(obj), body=body)

    async def head(self, key: str) -> R2ObjectInfo | None:
        validate_r2_key(key)
        obj = await resolve(self._js.head(key))
        return None if is_null(obj) else R2ObjectInfo(**_info_fields(obj))

    async def list(self, *, prefix: str = "", cursor: str | None = None, limit: int = 1000) -> R2ListResult:
        check_page_limit(limit)
        res = await resolve(self._js.list(options(
            prefix=prefix or None, cursor=cursor, limit=limit, include=["httpMetadata", "customMetadata"])))
        truncated = bool(to_py(res.truncated))
        objects = [R2ObjectInfo(**_info_fields(o)) for o in res.objects]
        next_cursor = to_py(getattr(res, "cursor", None)) if truncated else None
        return R2ListResult(objects=objects, truncated=truncated, cursor=next_cursor)

    async def delete(self, keys: str | Sequence[str]) -> None:
        for k in [keys] if isinstance(keys, str) else keys:
            validate_r2_key(k)
        if isinstance(keys, str):
            await resolve(self._js.delete(keys))
        elif keys:
            await resolve(self._js.delete(to_js(list(keys))))

    def __repr__(self) -> str:
        return "CloudflareR2()"
