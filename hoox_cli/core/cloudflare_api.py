"""A small client of the Cloudflare REST API (v4) over httpx, for what hoox provisions and configures.

The base URL is `$CLOUDFLARE_API_BASE_URL` when set (wrangler honours the same variable, so one
setting points both at a test double), else Cloudflare's public API. The API token travels only in
the Authorization header; secret values only in request bodies.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from hoox_edge.shared.http import tls_for

from hoox_cli.core.errors import fail

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
TIMEOUT = 30.0


class CloudflareError(Exception):
    def __init__(self, message: str, *, status: int | None = None, codes: list[int] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.codes = codes or []


def base_url() -> str:
    return (os.environ.get("CLOUDFLARE_API_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def _seg(value: str) -> str:
    return quote(value, safe="")


class CloudflareAPI:
    def __init__(self, token: str, account_id: str | None = None, *, base: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        if not token:
            raise CloudflareError("No Cloudflare API token: set CLOUDFLARE_API_TOKEN (environment, or "
                                  "`hoox secrets set CLOUDFLARE_API_TOKEN`).")
        self.account_id = account_id
        self._client = httpx.AsyncClient(
            base_url=base or base_url(),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=TIMEOUT,
            transport=transport,
            verify=tls_for(),
        )

    async def __aenter__(self) -> CloudflareAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # ------------------------------------------------------------------ plumbing
    def _account(self) -> str:
        if not self.account_id:
            raise CloudflareError("No Cloudflare account id: set CLOUDFLARE_ACCOUNT_ID or "
                                  "add account_id = \"…\" under [cloudflare] in hoox.toml.")
        return f"/accounts/{_seg(self.account_id)}"

    async def request(self, method: str, path: str, *, json: Any = None,
                      params: Mapping[str, Any] | None = None, allow_404: bool = False) -> Any:
        try:
            resp = await self._client.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise CloudflareError(f"Cloudflare API unreachable ({type(exc).__name__}: {exc})") from None
        if allow_404 and resp.status_code == 404:
            return None
        if resp.is_success and not resp.content:  # e.g. detaching a custom domain answers nothing
            return None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code >= 400 or not isinstance(body, dict) or not body.get("success", False):
            errors = body.get("errors", []) if isinstance(body, dict) else []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict))
            raise CloudflareError(
                f"Cloudflare API {method} {path} failed with HTTP {resp.status_code}"
                + (f" ({detail})" if detail else ""),
                status=resp.status_code,
                codes=[c for e in errors if isinstance(e, dict) and isinstance(c := e.get("code"), int)],
            )
        return body.get("result")

    async def graphql(self, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """One query to the GraphQL Analytics API (`POST /graphql`); its `data`. GraphQL reports
        failures in `errors` (often with HTTP 200), not in the REST envelope."""
        try:
            resp = await self._client.post("/graphql", json={"query": query, "variables": dict(variables)})
        except httpx.HTTPError as exc:
            raise CloudflareError(f"Cloudflare GraphQL API unreachable ({type(exc).__name__}: {exc})") from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        errors = body.get("errors") if isinstance(body, dict) else None
        data = body.get("data") if isinstance(body, dict) else None
        if resp.status_code >= 400 or errors or not isinstance(data, dict):
            detail = "; ".join(str(e.get("message")) for e in errors or [] if isinstance(e, dict))
            raise CloudflareError(f"Cloudflare GraphQL API failed with HTTP {resp.status_code}"
                                  + (f" ({detail})" if detail else ""), status=resp.status_code)
        return data

    async def _pages(self, path: str, *, per_page: int = 100) -> list[dict[str, Any]]:
        """Every item of a paginated list (page / per_page / result_info.total_pages)."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            resp = await self._client.get(path, params={"page": page, "per_page": per_page})
            try:
                body = resp.json()
            except ValueError:
                body = None
            if resp.status_code >= 400 or not isinstance(body, dict) or not body.get("success", False):
                raise CloudflareError(f"Cloudflare API GET {path} failed with HTTP {resp.status_code}",
                                      status=resp.status_code)
            items = body.get("result") or []
            out.extend(items)
            info = body.get("result_info") or {}
            total_pages = info.get("total_pages")
            if not items or (total_pages is not None and page >= total_pages) or (
                    total_pages is None and len(items) < per_page):
                return out
            page += 1

    # ------------------------------------------------------------------ KV
    async def kv_list(self) -> list[dict[str, Any]]:
        return await self._pages(f"{self._account()}/storage/kv/namespaces")

    async def kv_create(self, title: str) -> dict[str, Any]:
        return await self.request("POST", f"{self._account()}/storage/kv/namespaces", json={"title": title})

    async def kv_delete(self, namespace_id: str) -> None:
        await self.request("DELETE", f"{self._account()}/storage/kv/namespaces/{_seg(namespace_id)}")

    async def kv_bulk_put(self, namespace_id: str, items: list[dict[str, str]]) -> None:
        # The endpoint takes at most 10,000 pairs per call.
        for i in range(0, len(items), 10_000):
            await self.request("PUT", f"{self._account()}/storage/kv/namespaces/{_seg(namespace_id)}/bulk",
                               json=items[i:i + 10_000])

    async def kv_values(self, namespace_id: str, keys: list[str]) -> dict[str, str]:
        """The stored values of `keys` (absent keys left out). The values endpoint answers raw text."""
        out: dict[str, str] = {}
        for key in keys:
            path = f"{self._account()}/storage/kv/namespaces/{_seg(namespace_id)}/values/{_seg(key)}"
            try:
                resp = await self._client.get(path)
            except httpx.HTTPError as exc:
                raise CloudflareError(f"Cloudflare API unreachable ({type(exc).__name__}: {exc})") from None
            if resp.status_code == 404:
                continue
            if resp.status_code >= 400:
                raise CloudflareError(f"Cloudflare API GET {path} failed with HTTP {resp.status_code}",
                                      status=resp.status_code)
            out[key] = resp.text
        return out

    # ------------------------------------------------------------------ D1
    async def d1_list(self) -> list[dict[str, Any]]:
        return await self._pages(f"{self._account()}/d1/database")

    async def d1_create(self, name: str) -> dict[str, Any]:
        return await self.request("POST", f"{self._account()}/d1/database", json={"name": name})

    async def d1_delete(self, database_id: str) -> None:
        await self.request("DELETE", f"{self._account()}/d1/database/{_seg(database_id)}")

    async def d1_query(self, database_id: str, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """One statement; `?` placeholders bound from params. One result object per statement."""
        body: dict[str, Any] = {"sql": sql}
        if params:
            body["params"] = params
        return list(await self.request("POST", f"{self._account()}/d1/database/{_seg(database_id)}/query",
                                       json=body) or [])

    # ------------------------------------------------------------------ R2
    async def r2_list(self) -> list[dict[str, Any]]:
        result = await self.request("GET", f"{self._account()}/r2/buckets")
        return list((result or {}).get("buckets", []))

    async def r2_create(self, name: str) -> dict[str, Any]:
        return await self.request("POST", f"{self._account()}/r2/buckets", json={"name": name}) or {"name": name}

    async def r2_delete(self, name: str) -> None:
        await self.request("DELETE", f"{self._account()}/r2/buckets/{_seg(name)}")

    async def r2_set_lifecycle(self, name: str, rules: list[dict[str, Any]]) -> None:
        """Replace the bucket's object lifecycle rules."""
        await self.request("PUT", f"{self._account()}/r2/buckets/{_seg(name)}/lifecycle", json={"rules": rules})

    # ------------------------------------------------------------------ Queues
    async def queues_list(self) -> list[dict[str, Any]]:
        return await self._pages(f"{self._account()}/queues")

    async def queue_create(self, name: str) -> dict[str, Any]:
        return await self.request("POST", f"{self._account()}/queues", json={"queue_name": name})

    async def queue_delete(self, queue_id: str) -> None:
        await self.request("DELETE", f"{self._account()}/queues/{_seg(queue_id)}")

    # ------------------------------------------------------------------ Vectorize
    async def vectorize_list(self) -> list[dict[str, Any]]:
        return list(await self.request("GET", f"{self._account()}/vectorize/v2/indexes") or [])

    async def vectorize_create(self, name: str, dimensions: int, metric: str) -> dict[str, Any]:
        body = {"name": name, "config": {"dimensions": dimensions, "metric": metric}}
        return await self.request("POST", f"{self._account()}/vectorize/v2/indexes", json=body)

    async def vectorize_delete(self, name: str) -> None:
        await self.request("DELETE", f"{self._account()}/vectorize/v2/indexes/{_seg(name)}")

    # ------------------------------------------------------------------ worker secrets
    async def secret_put(self, script: str, name: str, value: str) -> None:
        await self.request("PUT", f"{self._account()}/workers/scripts/{_seg(script)}/secrets",
                           json={"name": name, "text": value, "type": "secret_text"})

    async def secret_list(self, script: str) -> list[dict[str, Any]]:
        return list(await self.request("GET", f"{self._account()}/workers/scripts/{_seg(script)}/secrets") or [])

    # ------------------------------------------------------------------ workers and their deployments
    async def scripts_list(self) -> list[dict[str, Any]]:
        return list(await self.request("GET", f"{self._account()}/workers/scripts") or [])

    async def deployments(self, script: str) -> list[dict[str, Any]] | None:
        """The worker's deployments, newest first ({"id", "created_on", "versions": [{"version_id",
        "percentage"}]}); None when there is no such worker."""
        result = await self.request("GET", f"{self._account()}/workers/scripts/{_seg(script)}/deployments",
                                    allow_404=True)
        if result is None:
            return None
        return sorted(result.get("deployments") or [], key=lambda d: str(d.get("created_on", "")), reverse=True)

    async def active_version(self, script: str) -> str | None:
        """The version serving all of the worker's traffic now (None: no such worker, or a split)."""
        for d in (await self.deployments(script) or [])[:1]:
            for v in d.get("versions") or []:
                if v.get("percentage") == 100:
                    return str(v.get("version_id"))
        return None

    # ------------------------------------------------------------------ WAF (zone rulesets)
    async def phase_entrypoint(self, zone_id: str, phase: str) -> dict[str, Any] | None:
        """The zone's entry-point ruleset of a phase; None when the zone has none yet."""
        return await self.request("GET", f"/zones/{_seg(zone_id)}/rulesets/phases/{_seg(phase)}/entrypoint",
                                  allow_404=True)

    async def put_phase_entrypoint(self, zone_id: str, phase: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        """Create (or replace every rule of) the phase's entry-point ruleset."""
        return await self.request("PUT", f"/zones/{_seg(zone_id)}/rulesets/phases/{_seg(phase)}/entrypoint",
                                  json={"rules": rules})

    # One rule at a time, so that the zone's other rules are never re-sent (nor clobbered).
    async def rule_add(self, zone_id: str, ruleset_id: str, rule: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", f"/zones/{_seg(zone_id)}/rulesets/{_seg(ruleset_id)}/rules", json=rule)

    async def rule_edit(self, zone_id: str, ruleset_id: str, rule_id: str, rule: dict[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", f"/zones/{_seg(zone_id)}/rulesets/{_seg(ruleset_id)}/rules/{_seg(rule_id)}",
                                  json=rule)

    async def rule_delete(self, zone_id: str, ruleset_id: str, rule_id: str) -> dict[str, Any]:
        return await self.request("DELETE",
                                  f"/zones/{_seg(zone_id)}/rulesets/{_seg(ruleset_id)}/rules/{_seg(rule_id)}")

    # ------------------------------------------------------------------ workers custom domains
    async def domains_list(self) -> list[dict[str, Any]]:
        return list(await self.request("GET", f"{self._account()}/workers/domains") or [])

    async def domain_attach(self, hostname: str, service: str, zone_id: str) -> dict[str, Any]:
        return await self.request("PUT", f"{self._account()}/workers/domains",
                                  json={"hostname": hostname, "service": service, "zone_id": zone_id})

    async def domain_delete(self, domain_id: str) -> None:
        await self.request("DELETE", f"{self._account()}/workers/domains/{_seg(domain_id)}")

    # ------------------------------------------------------------------ zones
    async def zone_id(self, name: str) -> str | None:
        """The id of the zone called `name` (e.g. example.com) on the token's account; None if none."""
        params: dict[str, Any] = {"name": name}
        if self.account_id:
            params["account.id"] = self.account_id
        zones = await self.request("GET", "/zones", params=params)
        for z in zones or []:
            if isinstance(z, dict) and z.get("name") == name and z.get("id"):
                return str(z["id"])
        return None


@contextlib.asynccontextmanager
async def api_client(ws: Workspace) -> AsyncIterator[CloudflareAPI]:
    """The API with the workspace's credentials; its errors become CliErrors."""
    from hoox_cli.core import wrangler_cli

    creds = wrangler_cli.credentials(ws)
    try:
        api = CloudflareAPI(creds.get("CLOUDFLARE_API_TOKEN", ""), creds.get("CLOUDFLARE_ACCOUNT_ID"))
    except CloudflareError as exc:
        fail("NO_CREDENTIALS", str(exc))
    try:
        yield api
    except CloudflareError as exc:
        fail("CLOUDFLARE_ERROR", str(exc))
    finally:
        await api.aclose()
