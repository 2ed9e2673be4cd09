"""Request signing as pure functions: the exact bytes each vendor's rule says to sign.

Binance (spot and USDⓈ-M futures) and MEXC spot v3 share one rule: the signature is the hex
HMAC-SHA256, keyed with the API secret, of the query string followed by the request body, and it
travels as the last query parameter `signature=`. Every signed call of ours sends its parameters
in the query string only (no body), so the signed text is the query string exactly as it goes on
the wire: `LiveExchange.request` encodes its query with `canonical_query` too.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

RECV_WINDOW_MS = 5000  # how long after `timestamp` the exchange still accepts the call


def hmac_sha256_hex(secret: str, message: str | bytes) -> str:
    """Lower-case hex HMAC-SHA256 of `message` keyed with `secret` (both UTF-8)."""
    data = message.encode("utf-8") if isinstance(message, str) else message
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha256).hexdigest()


def encode_value(v: Any) -> str:
    """A parameter value as the exchange expects it: booleans lower-case, numbers without exponent."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def canonical_query(params: Mapping[str, Any]) -> str:
    """The query string in the parameters' insertion order, form-encoded, None values left out."""
    return urlencode([(k, encode_value(v)) for k, v in params.items() if v is not None])


def signed_params(params: Mapping[str, Any], secret: str, *, timestamp_ms: int,
                  recv_window_ms: int | None = RECV_WINDOW_MS, body: bytes | None = None) -> dict[str, Any]:
    """`params` plus `recvWindow` and `timestamp`, then `signature` last (Binance / MEXC rule).

    The signature covers `canonical_query` of everything before it, then `body` when there is one
    (totalParams = query string + request body)."""
    out: dict[str, Any] = {k: v for k, v in params.items() if v is not None and k != "signature"}
    out.pop("timestamp", None)
    out.pop("recvWindow", None)
    if recv_window_ms is not None:
        out["recvWindow"] = recv_window_ms
    out["timestamp"] = int(timestamp_ms)
    message = canonical_query(out).encode("utf-8") + (body or b"")
    out["signature"] = hmac_sha256_hex(secret, message)
    return out
