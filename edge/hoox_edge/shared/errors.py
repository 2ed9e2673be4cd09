"""The standard response envelope and the error codes of the contract."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when a response is built: the CLI reads ApiError without the server stack
    from starlette.responses import JSONResponse

VALIDATION_ERROR = "VALIDATION_ERROR"
UNAUTHORIZED = "UNAUTHORIZED"
FORBIDDEN_IP = "FORBIDDEN_IP"
NOT_FOUND = "NOT_FOUND"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
MALFORMED_REQUEST = "MALFORMED_REQUEST"  # 400: bytes that are not HTTP/1.1 (local/protocol.py)
HEADERS_TOO_LARGE = "HEADERS_TOO_LARGE"  # 431: a request head over 16 KiB (local/protocol.py)
DUPLICATE_REQUEST = "DUPLICATE_REQUEST"
NO_OPEN_POSITION = "NO_OPEN_POSITION"
RATE_LIMITED = "RATE_LIMITED"
EXCHANGE_ERROR = "EXCHANGE_ERROR"
EXCHANGE_UNAVAILABLE = "EXCHANGE_UNAVAILABLE"  # between workers: retryable, the caller queues
TRADE_SERVICE_UNAVAILABLE = "TRADE_SERVICE_UNAVAILABLE"
TRADE_SERVICE_ERROR = "TRADE_SERVICE_ERROR"
IDEMPOTENCY_UNAVAILABLE = "IDEMPOTENCY_UNAVAILABLE"
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"  # direct_only: the order may or may not have been placed
NOT_PLACED = "NOT_PLACED"  # final: the order provably never reached the exchange; it may be sent again
KILL_SWITCH_ACTIVE = "KILL_SWITCH_ACTIVE"
NOT_AVAILABLE = "NOT_AVAILABLE"
QUERY_TIMEOUT = "QUERY_TIMEOUT"  # a /v1/db/query statement ran past operator:query_timeout_ms
INTERNAL_ERROR = "INTERNAL_ERROR"


class ApiError(Exception):
    """Raised anywhere in a worker; the app turns it into the error envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.extra = extra or {}  # top-level members of the envelope besides the error (e.g. `original`)


def ok(result: Any = None, *, request_id: str | None = None, status: int = 200, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"success": True, "requestId": request_id}
    body.update(extra)
    if result is not None:
        body["result"] = result
    body["error"] = None
    from starlette.responses import JSONResponse

    return JSONResponse(body, status_code=status)


def error_body(code: str, message: str, request_id: str | None, details: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        err["details"] = details
    return {"success": False, "requestId": request_id, "result": None, "error": err}


def _masked(value: Any) -> Any:
    """The message and details as they may leave: a word that looks like a credential is never
    echoed, whichever check quoted what the client sent (a path, a nested field name, a database's
    words). Configured secrets are masked on top of this by the gateway's redaction."""
    from hoox_edge.shared.redact import mask_key_like

    if isinstance(value, str):
        return mask_key_like(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def error_response(exc: ApiError, request_id: str | None) -> JSONResponse:
    body = error_body(exc.code, _masked(exc.message), request_id, _masked(exc.details))
    body.update((k, v) for k, v in exc.extra.items() if k not in body)
    from starlette.responses import JSONResponse

    return JSONResponse(body, status_code=exc.status, headers=exc.headers)
