"""The report's PDF: from the runtime's own renderer, else Cloudflare Browser Rendering, else none (never
a fake).

1. `PDF_RENDERER`: the local runtime binds headless Chromium found on PATH (hoox_edge.local.pdf) for the
   workers that store reports; Cloudflare's runtime has no such binding.
2. Cloudflare Browser Rendering's REST API (`POST {CLOUDFLARE_API_BASE}/accounts/{account}/browser-rendering/pdf`
   with `{"html", "pdfOptions"}`, the PDF bytes back), when report-worker has the secret
   CLOUDFLARE_API_TOKEN (permission Browser Rendering: Edit) and the var CLOUDFLARE_ACCOUNT_ID (the deploy
   sets it). This is how a report gets its PDF on Cloudflare.
3. Neither: no PDF, and `error` says why and how to get one; the report is then HTML and a text summary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from hoox_edge.ports import Env
from hoox_edge.shared.http import http_client
from hoox_edge.shared.redact import redact

API_TOKEN = "CLOUDFLARE_API_TOKEN"
ACCOUNT_ID = "CLOUDFLARE_ACCOUNT_ID"
API_BASE = "CLOUDFLARE_API_BASE"
DEFAULT_API_BASE = "https://api.cloudflare.com/client/v4"
BROWSER_RENDERING_TIMEOUT_S = 60.0
HOW_TO_GET_ONE = (f"set the secret {API_TOKEN} (Browser Rendering: Edit) and the var {ACCOUNT_ID} on report-worker "
                  "to have Cloudflare Browser Rendering print it")


class PdfRenderer(Protocol):
    name: str

    async def render(self, html: str) -> bytes:
        """The PDF of the page; raises RendererUnavailable or another exception saying why not."""


class RendererUnavailable(RuntimeError):
    """No renderer can run here (e.g. no Chromium installed): the message says how to get one."""


@dataclass(frozen=True)
class Rendered:
    pdf: bytes | None
    renderer: str | None  # the renderer that made the PDF
    error: str | None  # why there is no PDF


class BrowserRenderingPdf:
    """Cloudflare Browser Rendering's `/pdf` quick action (REST)."""

    name = "cloudflare-browser-rendering"

    def __init__(self, account_id: str, token: str, base: str = DEFAULT_API_BASE) -> None:
        self._url = f"{base.rstrip('/')}/accounts/{account_id}/browser-rendering/pdf"
        self._token = token

    def __repr__(self) -> str:  # the token stays out of every repr
        return "BrowserRenderingPdf()"

    async def render(self, html: str) -> bytes:
        body = {"html": html, "pdfOptions": {"format": "a4", "printBackground": True}}
        try:
            async with http_client(timeout=BROWSER_RENDERING_TIMEOUT_S) as client:
                resp = await client.post(self._url, json=body, headers={
                    "Authorization": f"Bearer {self._token}", "Accept": "application/pdf"})
        except httpx.HTTPError as exc:
            raise RuntimeError(f"Cloudflare Browser Rendering could not be reached ({type(exc).__name__})") from None
        if resp.status_code != 200:
            raise RuntimeError(f"Cloudflare Browser Rendering answered HTTP {resp.status_code}: {_errors(resp)}")
        return resp.content


def _errors(resp: httpx.Response) -> str:
    try:
        data: Any = resp.json()
    except (ValueError, json.JSONDecodeError):
        return "no JSON body"
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, list) and errors:
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict))[:300]
    return "no error detail"


def browser_rendering(env: Env) -> BrowserRenderingPdf | None:
    token, account = env.get(API_TOKEN), env.get(ACCOUNT_ID)
    if not token or not account:
        return None
    return BrowserRenderingPdf(account, token, env.get(API_BASE) or DEFAULT_API_BASE)


async def _try(renderer: Any, html: str, secrets: list[str]) -> Rendered:
    try:
        pdf = await renderer.render(html)
    except RendererUnavailable as exc:
        return Rendered(None, None, str(exc))
    except Exception as exc:  # a renderer that failed: the report still goes out, as HTML and text
        why = str(exc)[:300] or type(exc).__name__
        return Rendered(None, None, redact(f"{renderer.name} could not render the PDF: {why}", secrets))
    if not pdf.startswith(b"%PDF-"):
        return Rendered(None, None, f"{renderer.name} answered something that is not a PDF")
    return Rendered(pdf, renderer.name, None)


async def render(env: Env, html: str) -> Rendered:
    secrets = env.secret_values()
    local: Any = env.get("PDF_RENDERER")
    remote = browser_rendering(env)
    first = await _try(local, html, secrets) if local is not None else None
    if first is not None and (first.pdf is not None or remote is None):
        if first.pdf is None:
            return Rendered(None, None, f"{first.error}; or {HOW_TO_GET_ONE}")
        return first
    if remote is not None:
        second = await _try(remote, html, secrets)
        if second.pdf is None and first is not None:
            return Rendered(None, None, f"{first.error}; {second.error}")
        return second
    return Rendered(None, None, f"no PDF renderer on this runtime: {HOW_TO_GET_ONE}")
