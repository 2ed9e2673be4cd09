"""report-worker: P&L reports, twice a day (cron 06:00 and 18:00 UTC, the last 12 h) and on demand.

Routes (internal: `X-Internal-Auth-Key`):
- `POST /report` `{"period"?: "12h" | "24h" | "7d" (default 24h), "chatId"?}` (bare or in the internal
  `{"requestId", "payload"}` envelope): makes the report now and answers a `ReportResult`
  (operator/shapes.py): the report stored, each book's headline figures, where Telegram delivery went,
  how many expired report objects the retention sweep deleted;
- `GET /reports`: the stored reports, newest first (`ReportsList`);
- `GET /reports/{name}`: one report's file: `daily-pnl-…` (its PDF when it has one, else its HTML),
  `daily-pnl-….pdf` / `.html`, or `latest`;
- `GET /health`.

A report (hoox_edge.reports): the figures of both books from the ledger (`document`), the HTML, a PDF
from headless Chromium locally or Cloudflare Browser Rendering (`pdf`; without either the HTML says why), both kept in
REPORTS_BUCKET (`store`, 30 days), the PDF or a text summary sent to Telegram (`deliver`), then the sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hoox_edge.operator import shapes
from hoox_edge.operator.params import Params
from hoox_edge.ports import Env
from hoox_edge.reports import deliver, document, pdf, store
from hoox_edge.shared import clock, settings
from hoox_edge.shared.app import env_of, envelope_request_id, json_body, make_app, request_id_of
from hoox_edge.shared.auth import require_internal
from hoox_edge.shared.checks import Check, Fields, Invalid, one_of, optional, whole
from hoox_edge.shared.errors import NOT_FOUND, VALIDATION_ERROR, ApiError, ok
from hoox_edge.shared.logs import log
from hoox_edge.shared.redact import preview

WORKER = "report-worker"
Period = Literal["12h", "24h", "7d"]
DEFAULT_PERIOD: Period = "24h"
CRON_PERIOD: Period = "12h"  # two crons a day: each report covers the time since the previous one
# A chat id is a number (a user or group) or text (@channelname), as Telegram takes it.
_CHAT_ID = Check("a chat id: a whole number or a string",
                 lambda v: v if isinstance(v, str) and v else whole.convert(v))


@dataclass(frozen=True)
class ReportRequest:
    period: Period
    chatId: str | int | None = None

    @classmethod
    def parse(cls, raw: Any) -> ReportRequest:
        f = Fields({} if raw is None else raw)
        return f.build(cls, period=f.optional("period", one_of(*get_args(Period)), DEFAULT_PERIOD),
                       chatId=f.optional("chatId", optional(_CHAT_ID), None))


def _book(b: document.Book) -> shapes.ReportBook:
    s = b.stats
    return {"mode": b.mode, "tradeCount": s["tradeCount"], "closingTrades": s["closingTrades"],
            "winRate": s["winRate"], "realizedPnl": s["realizedPnl"], "fees": s["fees"],
            "netRealizedPnl": s["netRealizedPnl"], "unrealizedPnl": s["unrealizedPnl"],
            "openPositions": s["openPositions"]}


async def make_report(env: Env, period: Period, *, chat_id: str | int | None = None, trigger: str,
                      request_id: str | None = None) -> shapes.ReportResult:
    """Build, render, store, send and sweep: one report of the `period` that ends now."""
    try:
        current = await settings.get(env.CONFIG_KV, settings.TRADE_MODE)
    except settings.SettingError:
        current = None
    now = clock.now()
    report = await document.build(env, period, now=now, current_mode=current)
    name = store.name_at(now)
    rendered = await pdf.render(env, document.render_html(report))
    note = None if rendered.pdf is not None else f"PDF not available: {rendered.error}."
    html = document.render_html(report, note=note)
    meta = {"period": period, "since": report.since, "until": report.until, "trigger": trigger,
            "renderer": rendered.renderer or "", "pdfError": rendered.error or ""}
    bucket = env.REPORTS_BUCKET
    await store.put(bucket, name, html, rendered.pdf, meta)
    delivery = await deliver.send(env, summary=document.summary_text(report, note=note), pdf=rendered.pdf,
                                  filename=f"{name}.pdf", chat_id=chat_id)
    swept = await store.sweep(bucket, now=now)
    item = next(i for i in await store.items(bucket) if i["name"] == name)
    await log(env, "warning" if delivery["error"] else "info",
              f"P&L report {name} ({period}, {trigger}): "
              + ("PDF" if rendered.pdf is not None else "HTML only") + f", Telegram {delivery['channel']}"
              + (f" ({delivery['error']})" if delivery["error"] else ""),
              request_id=request_id, details={"name": name, "period": period, "trigger": trigger,
                                              "pdfError": rendered.error, "swept": swept})
    return {"report": item, "books": [_book(b) for b in report.books], "telegram": delivery, "swept": swept}


# =========================================================================== routes
async def post_report(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    raw = await request.body()
    body = await json_body(request) if raw.strip() else None
    rid = envelope_request_id(body, request) if body is not None else request_id_of(request)
    if isinstance(body, dict) and isinstance(body.get("payload"), dict):
        body = body["payload"]
    try:
        req = ReportRequest.parse(body)
    except Invalid as exc:
        raise ApiError(400, VALIDATION_ERROR, f"Invalid report request: {exc}", exc.details) from None
    env = env_of(request)
    return ok(await make_report(env, req.period, chat_id=req.chatId, trigger="request", request_id=rid),
              request_id=rid)


async def list_reports(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    result: shapes.ReportsList = {"items": await store.items(env_of(request).REPORTS_BUCKET), "nextCursor": None,
                                  "retentionDays": store.RETENTION_DAYS}
    return ok(result, request_id=request_id_of(request))


async def get_report(request: Request) -> Response:
    require_internal(request)
    Params(request)
    bucket = env_of(request).REPORTS_BUCKET
    given = request.path_params["name"]
    if given == "latest":
        items = await store.items(bucket)
        if not items:
            raise ApiError(404, NOT_FOUND, "No report yet: make one with `hoox report now`.")
        name, kind = items[0]["name"], None
    else:
        parsed = store.parse_name(given)
        if parsed is None:
            raise ApiError(400, VALIDATION_ERROR, f"name: must be {store.NAME_RULE}; got {preview(given)}.",
                           [{"field": "name", "issue": f"must be {store.NAME_RULE}"}])
        name, kind = parsed
    kinds = [kind] if kind else ["pdf", "html"]
    for k in kinds:
        obj = await bucket.get(store.key(name, k))
        if obj is not None:
            return Response(obj.body, media_type=store.CONTENT_TYPES[k], headers={
                "Content-Disposition": f'attachment; filename="{name}.{k}"'})
    raise ApiError(404, NOT_FOUND, f"No report {name}" + (f".{kind}" if kind else "")
                   + f" (reports are kept {store.RETENTION_DAYS} days; `hoox report list` shows them).")


async def health(request: Request) -> JSONResponse:
    env = env_of(request)
    renderers = [r.name for r in (env.get("PDF_RENDERER"), pdf.browser_rendering(env)) if r is not None]
    return JSONResponse({"success": True, "status": "ok", "worker": WORKER,
                         "features": {"reports": "available"},
                         "pdfRenderers": renderers or "not available: the reports are HTML only",
                         "telegram": "configured" if env.get("TELEGRAM_BOT_TOKEN") else "outbox"})


app = make_app(WORKER, [
    Route("/health", health, methods=["GET"]),
    Route("/report", post_report, methods=["POST"]),
    Route("/reports", list_reports, methods=["GET"]),
    Route("/reports/{name}", get_report, methods=["GET"]),
])


async def scheduled(cron: str, env: Env) -> None:
    """06:00 and 18:00 UTC: the report of the last 12 hours."""
    await make_report(env, CRON_PERIOD, trigger=f"cron {cron}")
