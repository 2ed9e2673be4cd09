"""Reports in R2 (report-worker's REPORTS_BUCKET): `reports/daily-pnl-YYYY-MM-DD-HH.html` and, when a
renderer made one, `.pdf` next to it. HH is the UTC hour the report was made in: a second report in
the same hour replaces the first. The HTML object's custom metadata describes the report.

Retention: 30 days. `sweep` deletes older report objects; report-worker runs it after every report
(locally the only retention; on Cloudflare it does the work of a lifecycle rule too).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from hoox_edge.operator import shapes
from hoox_edge.ports import R2Bucket
from hoox_edge.shared import clock

PREFIX = "reports/"
RETENTION_DAYS = 30
NAME = re.compile(r"^daily-pnl-\d{4}-\d{2}-\d{2}-\d{2}$")
FILE = re.compile(r"^(daily-pnl-\d{4}-\d{2}-\d{2}-\d{2})\.(html|pdf)$")
CONTENT_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}
NAME_RULE = "a report name as `hoox report list` shows it (daily-pnl-YYYY-MM-DD-HH, optionally .pdf or .html) or latest"


def lifecycle_rules() -> list[dict[str, Any]]:
    """The report bucket's R2 lifecycle rule (Cloudflare's object lifecycle API): report objects are
    deleted RETENTION_DAYS after upload, on Cloudflare's side too (`hoox infra provision --remote`)."""
    return [{"id": "hoox-reports-retention", "enabled": True, "conditions": {"prefix": PREFIX},
             "deleteObjectsTransition": {"condition": {"type": "Age", "maxAge": RETENTION_DAYS * 86400}}}]


def name_at(ts: float) -> str:
    return "daily-pnl-" + datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d-%H")


def key(name: str, kind: str) -> str:
    return f"{PREFIX}{name}.{kind}"


async def put(bucket: R2Bucket, name: str, html: str, pdf: bytes | None, meta: dict[str, str]) -> None:
    if pdf is not None:
        await bucket.put(key(name, "pdf"), pdf, content_type=CONTENT_TYPES["pdf"], custom_metadata=meta)
    else:  # a report made again in the same hour without a PDF must not keep the older PDF
        await bucket.delete(key(name, "pdf"))
    await bucket.put(key(name, "html"), html, content_type=CONTENT_TYPES["html"], custom_metadata=meta)


async def _objects(bucket: R2Bucket) -> list[Any]:
    out: list[Any] = []
    cursor: str | None = None
    while True:
        page = await bucket.list(prefix=PREFIX, cursor=cursor)
        out.extend(page.objects)
        if not page.truncated or not page.cursor:
            return out
        cursor = page.cursor


def _item(name: str, html: Any, pdf: Any) -> shapes.ReportItem:
    meta = dict(html.custom_metadata) if html is not None else {}
    return {"name": name, "createdAt": clock.iso(html.uploaded if html is not None else pdf.uploaded),
            "period": meta.get("period"), "since": meta.get("since"), "until": meta.get("until"),
            "htmlBytes": html.size if html is not None else None, "pdfBytes": pdf.size if pdf is not None else None,
            "renderer": meta.get("renderer") or None, "pdfError": meta.get("pdfError") or None}


async def items(bucket: R2Bucket) -> list[shapes.ReportItem]:
    """Every stored report, newest first."""
    found: dict[str, dict[str, Any]] = {}
    for obj in await _objects(bucket):
        m = FILE.match(obj.key[len(PREFIX):])
        if m:
            found.setdefault(m[1], {})[m[2]] = obj
    return [_item(n, f.get("html"), f.get("pdf")) for n, f in sorted(found.items(), reverse=True)]


async def sweep(bucket: R2Bucket, *, now: float | None = None) -> int:
    """Delete the report objects uploaded more than RETENTION_DAYS ago; how many were deleted."""
    cutoff = (clock.now() if now is None else now) - RETENTION_DAYS * 86400
    old = [o.key for o in await _objects(bucket) if o.uploaded < cutoff]
    for i in range(0, len(old), 1000):  # R2 deletes at most 1000 keys at once
        await bucket.delete(old[i:i + 1000])
    return len(old)


def parse_name(text: str) -> tuple[str, str | None] | None:
    """(name, kind or None) of `daily-pnl-…` or `daily-pnl-….pdf|html`; None when it is neither."""
    m = FILE.match(text)
    if m:
        return m[1], m[2]
    return (text, None) if NAME.match(text) else None
