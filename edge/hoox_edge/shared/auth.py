"""Constant-time secret checks for the internal and operator boundaries."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from hoox_edge.shared.errors import UNAUTHORIZED, ApiError

INTERNAL_HEADER = "X-Internal-Auth-Key"
REQUEST_ID_HEADER = "X-Request-Id"


def secret_matches(given: str | None, expected: str | None) -> bool:
    """False when either side is missing; compares in constant time otherwise."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def require_internal(request: Request) -> None:
    env = request.scope["env"]
    if not secret_matches(request.headers.get(INTERNAL_HEADER), env.get("INTERNAL_KEY_BINDING")):
        raise ApiError(401, UNAUTHORIZED, f"Access denied: missing or invalid {INTERNAL_HEADER}.")


OPERATOR_SECRET = "OPERATOR_API_KEY"


def require_operator(request: Request) -> None:
    """The operator API's gate: `Authorization: Bearer <OPERATOR_API_KEY>`, compared in constant time.

    Anything else (no header, another scheme, a wrong token, no OPERATOR_API_KEY configured) is a
    401 UNAUTHORIZED envelope that does not say which of those it was.
    """
    env = request.scope["env"]
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    given = token.strip() if scheme.lower() == "bearer" else None
    if not secret_matches(given, env.get(OPERATOR_SECRET)):
        raise ApiError(401, UNAUTHORIZED, "Access denied: send Authorization: Bearer <OPERATOR_API_KEY>.",
                       headers={"WWW-Authenticate": "Bearer"})
