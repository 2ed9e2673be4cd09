"""`/v1/reports`: the P&L reports, through report-worker (REPORT_SERVICE), which owns the report bucket.

- `GET /v1/reports`: the stored reports, newest first (`ReportsList`);
- `GET /v1/reports/{name}`: a report's file (PDF, else HTML; `.pdf`/`.html` to choose; `latest`);
- `POST /v1/reports` `{"period"?: "12h" | "24h" | "7d"}`: make one now, send it to Telegram (`ReportResult`).
A report-worker that does not run (the local workspace does not enable it) is a 503 that says how to
enable it; report-worker's own errors (400, 404) are passed on as they are.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from hoox_edge.operator.params import Params, json_object
from hoox_edge.shared import calls
from hoox_edge.shared.app import env_of, request_id_of
from hoox_edge.shared.errors import ApiError

SERVICE = "REPORT_SERVICE"
UNAVAILABLE = "REPORT_SERVICE_UNAVAILABLE"
# Rendering a PDF starts a headless browser: give it time before the call is given up.
MAKE_TIMEOUT_S = 120.0
READ_TIMEOUT_S = 15.0
ENABLE_HINT = ("report-worker does not run here: enable it with `hoox config set workers.report-worker.enabled "
               "true` and restart the edge (on Cloudflare: deploy it)")


async def _call(request: Request, method: str, path: str, *, payload: Any = None, timeout: float) -> Any:
    env = env_of(request)
    rid = request_id_of(request)
    try:
        resp = await calls.call(env, SERVICE, method, path, request_id=rid, payload=payload, timeout=timeout)
    except TimeoutError:
        raise ApiError(504, UNAVAILABLE, f"report-worker did not answer within {timeout:g} s; "
                                         "the report may still be made: look at `hoox report list`.") from None
    except Exception as exc:
        raise ApiError(503, UNAVAILABLE, f"{ENABLE_HINT} ({type(exc).__name__}).") from None
    if resp.status >= 400:
        _, err, _ = calls.envelope(resp)
        raise ApiError(resp.status, err.get("code") or UNAVAILABLE,
                       err.get("message") or f"report-worker answered HTTP {resp.status}", err.get("details"))
    return resp


async def list_reports(request: Request) -> Any:
    Params(request)
    resp = await _call(request, "GET", "/reports", timeout=READ_TIMEOUT_S)
    return calls.envelope(resp)[0].get("result")


async def get_report(request: Request) -> Response:
    """The file as report-worker serves it (bytes, content type and file name)."""
    Params(request)
    name = request.path_params["name"]
    resp = await _call(request, "GET", f"/reports/{quote(name, safe='')}", timeout=READ_TIMEOUT_S)
    keep = {k: v for k, v in resp.headers.items() if k.lower() in ("content-type", "content-disposition")}
    return Response(resp.body, status_code=200, headers=keep)


async def make_report(request: Request) -> Any:
    Params(request)
    body = await json_object(request, "period") if (await request.body()).strip() else {}
    resp = await _call(request, "POST", "/report", payload=body, timeout=MAKE_TIMEOUT_S)
    return calls.envelope(resp)[0].get("result")
