"""The report's PDF: rendered by the runtime's PDF renderer when it has one, else none (never a fake).

The local runtime binds `PDF_RENDERER` (hoox_edge.local.pdf: headless Chromium found on PATH) for the
workers that store reports. Cloudflare's runtime has no such binding in this version (its Browser
Rendering API is not called yet), so there the report is HTML only and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from hoox_edge.ports import Env

NO_RENDERER_ON_CLOUDFLARE = ("no PDF renderer here: this runtime has no headless browser (Cloudflare Browser "
                             "Rendering is not used in this version), so the report is HTML only")


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


async def render(env: Env, html: str) -> Rendered:
    renderer: Any = env.get("PDF_RENDERER")
    if renderer is None:
        return Rendered(None, None, NO_RENDERER_ON_CLOUDFLARE)
    try:
        pdf = await renderer.render(html)
    except RendererUnavailable as exc:
        return Rendered(None, None, str(exc))
    except Exception as exc:  # a renderer that failed: the report still goes out, as HTML and text
        return Rendered(None, None, f"{renderer.name} could not render the PDF: {str(exc)[:300] or type(exc).__name__}")
    if not pdf.startswith(b"%PDF-"):
        return Rendered(None, None, f"{renderer.name} produced something that is not a PDF")
    return Rendered(pdf, renderer.name, None)
