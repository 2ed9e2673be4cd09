"""Analytics Engine adapters: the dataset binding (writes) and the SQL API (reads).

Reads go to Cloudflare's SQL API (`POST /accounts/{account}/analytics_engine/sql`, body = the
query, JSON answer `{"meta", "data", "rows"}`), which needs the account id (var
CLOUDFLARE_ACCOUNT_ID) and an API token with Account Analytics Read (secret CLOUDFLARE_API_TOKEN).
Without them a query says so instead of guessing.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from hoox_edge.cloudflare._js import to_js
from hoox_edge.ports import check_data_point
from hoox_edge.shared.http import http_client

SQL_API = "https://api.cloudflare.com/client/v4/accounts/{account}/analytics_engine/sql"
SQL_TIMEOUT_S = 10.0

# (url, method, headers, body) -> (status, response text)
HttpPost = Callable[[str, str, dict[str, str], str], Awaitable[tuple[int, str]]]


class AnalyticsUnavailable(RuntimeError):
    """The Analytics Engine SQL API cannot be reached with this worker's configuration."""


class AnalyticsQueryError(ValueError):
    """The SQL API refused the query itself (syntax, unknown column): the caller's to fix."""


class CloudflareAnalyticsDataset:
    def __init__(self, js_dataset: Any) -> None:
        self._js = js_dataset

    def write_data_point(
        self,
        *,
        blobs: Sequence[str | None] = (),
        doubles: Sequence[float] = (),
        indexes: Sequence[str] = (),
    ) -> None:
        check_data_point(blobs, doubles, indexes)
        point = {"blobs": list(blobs), "doubles": [float(d) for d in doubles], "indexes": list(indexes)}
        self._js.writeDataPoint(to_js(point))

    def __repr__(self) -> str:
        return "CloudflareAnalyticsDataset()"


async def _post(url: str, method: str, headers: dict[str, str], body: str) -> tuple[int, str]:
    try:
        async with http_client(timeout=SQL_TIMEOUT_S) as client:
            resp = await client.request(method, url, headers=headers, content=body.encode("utf-8"))
    except httpx.HTTPError as e:  # the message names the host only, never the token (a header)
        raise AnalyticsUnavailable(f"Analytics Engine SQL API could not be reached: {e}") from None
    return resp.status_code, resp.text


def _typed(value: Any, ch_type: str) -> Any:
    # ClickHouse's JSON output quotes 64-bit integers; give numbers back as numbers.
    if isinstance(value, str):
        base = ch_type.removeprefix("Nullable(").rstrip(")")
        try:
            if base.startswith(("UInt", "Int")):
                return int(value)
            if base.startswith("Float"):
                return float(value)
        except ValueError:
            return value
    return value


class CloudflareAnalyticsSql:
    def __init__(self, account_id: str | None, api_token: str | None, *,
                 http: HttpPost | None = None) -> None:
        self._account = account_id
        self._token = api_token
        self._http = http or _post

    @property
    def available(self) -> bool:
        return bool(self._account and self._token)

    async def query(self, sql: str) -> list[dict[str, Any]]:
        missing = [n for n, v in (("var CLOUDFLARE_ACCOUNT_ID", self._account),
                                  ("secret CLOUDFLARE_API_TOKEN", self._token)) if not v]
        if missing:
            raise AnalyticsUnavailable("Analytics Engine SQL is not available: set " + " and ".join(missing)
                                       + " on analytics-worker.")
        status, text = await self._http(
            SQL_API.format(account=self._account), "POST",
            {"Authorization": f"Bearer {self._token}", "Content-Type": "text/plain"}, sql)
        if status in (400, 422):
            # The API's own message (never the token) tells what was wrong with the query.
            raise AnalyticsQueryError(f"Analytics Engine SQL API refused the query: {text[:500]}")
        if status >= 400:
            raise AnalyticsUnavailable(f"Analytics Engine SQL API answered {status}: {text[:500]}")
        try:
            doc = json.loads(text)
        except ValueError:
            raise AnalyticsUnavailable("Analytics Engine SQL API answered with something that is not JSON "
                                       "(use FORMAT JSON, the default)") from None
        types = {m.get("name"): str(m.get("type", "")) for m in doc.get("meta") or []}
        return [{k: _typed(v, types.get(k, "")) for k, v in row.items()} for row in doc.get("data") or []]

    def __repr__(self) -> str:  # never show the token
        return f"CloudflareAnalyticsSql(available={self.available})"
