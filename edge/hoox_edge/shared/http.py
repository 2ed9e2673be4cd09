"""The one way the edge makes outbound HTTP calls (exchanges, Telegram, Cloudflare's API, ...).

`http_client()` is an `httpx.AsyncClient` on httpx's own transport in CPython (the local runtime)
and on `FetchTransport`, the runtime's `fetch`, under Pyodide (Cloudflare), where httpx's transport
cannot open a socket. Both raise httpx's exception types, so callers catch the same errors on both.

`tls_for(url)`: the TLS context every CPython client passes as `verify`, so the CA bundle is loaded once
per process (~20 ms each time httpx builds its default) and not at all for a plain-http loopback edge.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import ssl  # Pyodide has no ssl module: imported where a CPython client is made

DEFAULT_TIMEOUT = 5.0

_QUERY = re.compile(r"\?[^\s\"']*")


class _HideQuery(logging.Filter):
    """httpx logs every request URL at INFO; a signed call's query carries its signature (and, with
    some vendors, the API key)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "?" in text:
            record.msg, record.args = _QUERY.sub("?***", text), None
        return True


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, _HideQuery) for f in _httpx_log.filters):
    _httpx_log.addFilter(_HideQuery())


def in_pyodide() -> bool:
    return sys.platform == "emscripten"


@functools.cache
def _verified() -> ssl.SSLContext:
    return httpx.create_ssl_context()  # httpx's default: certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR


def tls_for(url: str | httpx.URL | None = None) -> ssl.SSLContext:
    """The verifying context, shared, for a client that may reach https; for one whose base `url` is
    plain http, a context that trusts no CA (it is never used, and would fail closed if it were)."""
    if url is not None and httpx.URL(str(url)).scheme == "http":
        import ssl

        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname on, CERT_REQUIRED, no CA loaded
    return _verified()


def http_client(timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT, **kwargs: Any) -> httpx.AsyncClient:
    """An AsyncClient for outbound calls; `kwargs` go to httpx (a `transport` given wins)."""
    if "transport" not in kwargs and in_pyodide():
        from hoox_edge.cloudflare.fetch_transport import FetchTransport

        kwargs["transport"] = FetchTransport()
        # Proxy variables would make httpx build its socket transport (which Pyodide cannot load) for them.
        kwargs.setdefault("trust_env", False)
    elif "transport" not in kwargs:
        kwargs.setdefault("verify", tls_for())
    return httpx.AsyncClient(timeout=timeout, **kwargs)
