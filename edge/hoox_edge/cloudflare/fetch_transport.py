"""An httpx transport over the runtime's `fetch`: outbound HTTP on Cloudflare (Pyodide has no sockets).

`httpx.AsyncClient(transport=FetchTransport())` behaves as with httpx's own transport; get one from
`hoox_edge.shared.http.http_client`, which picks this transport only under Pyodide.

- Redirects: fetch runs with `redirect: "manual"`, so a 3xx comes back as it is and httpx follows
  it (or not) as the client says.
- Headers: sent with `Headers.append`, so repeated names keep every value; `Set-Cookie` comes back
  one entry per cookie (`getSetCookie`). The runtime decodes gzip/deflate/br bodies itself, so it
  negotiates `Accept-Encoding` and the answer reaches httpx without `Content-Encoding`.
- Bodies: the request body is sent as bytes; the response body is read from the JS stream and
  handed to httpx chunk by chunk (nothing is buffered here).
- Timeouts: one AbortController per request. fetch does not say when the connection is made, so
  the wait for the answer's headers is bounded by the read timeout (at least the connect one) and
  each body read by the read timeout.

Errors are httpx's (no `JsException` ever leaves this module; messages carry the method and the
origin, never the path or query, which may hold a token):

- our timer fired (before the headers or during the body) -> `ReadTimeout`
- a connect timeout the runtime reports (undici `UND_ERR_CONNECT_TIMEOUT`, "connect ... timed out")
  -> `ConnectTimeout`
- refused / unreachable / DNS before the answer (`ECONNREFUSED`, `ENOTFOUND`, `EAI_AGAIN`,
  `EHOSTUNREACH`, `ENETUNREACH`, "connection refused", "DNS") -> `ConnectError`
- undici's own header/body timeouts -> `ReadTimeout`
- anything else while waiting for the answer or reading the body (workerd's "Network connection
  lost.", undici's "other side closed", an aborted stream) -> `ReadError`
- a URL that is not http(s) -> `UnsupportedProtocol`

A timeout before the headers is `ReadTimeout`, not `ConnectTimeout`, and an unknown failure is
`ReadError`, not `ConnectError`: the request may have reached the server, which is the safe reading
for an order (the trade-worker looks it up before it places anything again). workerd reports a
refused connection as a plain "Network connection lost." (cloudflare/workerd#7195), so there a
refused connection is a `ReadError` too.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

# Headers the runtime sets itself; undici refuses some of them outright ("invalid connection header").
_RUNTIME_HEADERS = frozenset({"host", "content-length", "connection", "keep-alive", "transfer-encoding",
                              "upgrade", "accept-encoding"})
_CONNECT_CODES = frozenset({"ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL", "EHOSTUNREACH",
                            "ENETUNREACH", "EADDRNOTAVAIL"})
_CONNECT_TEXT = re.compile(r"connection refused|dns|getaddrinfo|name not resolved|could not resolve|no such host",
                           re.IGNORECASE)
_CONNECT_TIMEOUT_TEXT = re.compile(r"connect\w*\s.*tim(ed|e)\s?out", re.IGNORECASE)
_URL_TEXT = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+")


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None]:
    """(seconds to wait for the answer's headers, seconds per body read); None = no limit."""
    t = request.extensions.get("timeout") or {}
    read, connect = t.get("read"), t.get("connect")
    if read is None:
        return None, None
    return max(read, connect or 0), read


def _origin(url: httpx.URL) -> str:
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}"  # no userinfo, path or query: they may hold secrets


class _Deadline:
    """Aborts the request's fetch (and so its body stream) when an armed timer runs out."""

    def __init__(self, controller: Any) -> None:
        self.controller = controller
        self.fired = False
        self._handle: asyncio.TimerHandle | None = None

    def arm(self, seconds: float | None) -> None:
        self.disarm()
        if seconds is not None:
            self._handle = asyncio.get_running_loop().call_later(max(seconds, 0.0), self._fire)

    def disarm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self.fired = True
        self._handle = None
        self.controller.abort()


def _attr(obj: Any, name: str) -> Any:
    try:
        value = getattr(obj, name, None)
    except Exception:  # a JS getter may throw
        return None
    return None if value is None or type(value).__name__ in ("JsNull", "JsUndefined") else value


def _facts(exc: BaseException) -> tuple[set[str], list[str]]:
    """Error codes and messages of a JS error, its `cause` chain and an AggregateError's `errors`."""
    codes: set[str] = set()
    texts: list[str] = []
    todo: list[Any] = [exc]
    seen = 0
    while todo and seen < 8:
        err = todo.pop()
        seen += 1
        for key in ("code", "name"):
            v = _attr(err, key)
            if isinstance(v, str):
                codes.add(v)
        msg = _attr(err, "message")
        texts.append(str(msg) if isinstance(msg, str) else "")
        cause = _attr(err, "cause")
        if cause is not None and not isinstance(cause, (str, int, float)):
            todo.append(cause)
        errors = _attr(err, "errors")
        if errors is not None and not isinstance(errors, str):
            with contextlib.suppress(Exception):  # not iterable after all
                todo.extend(list(errors)[:4])
    return codes, [t for t in texts if t]


def _clean(text: str, request: httpx.Request) -> str:
    """A runtime message without the request's URL, path or query (a token may sit in any)."""
    url = str(request.url)
    for part in (url, url.split("?", 1)[0], request.url.raw_path.decode("ascii", "replace"),
                 request.url.query.decode("ascii", "replace")):
        if len(part) > 1:
            text = text.replace(part, "<url>")
    return _URL_TEXT.sub("<url>", text)[:300]


def _mapped(exc: BaseException, request: httpx.Request, deadline: _Deadline, *, body: bool) -> httpx.TransportError:
    where = f"{request.method} {_origin(request.url)}"
    if deadline.fired:
        phase = "reading the body" if body else "waiting for the answer"
        return httpx.ReadTimeout(f"{where}: timed out {phase}", request=request)
    codes, texts = _facts(exc)
    detail = _clean("; ".join(dict.fromkeys(texts)) or type(exc).__name__, request)
    text = " ".join(texts)
    if "UND_ERR_CONNECT_TIMEOUT" in codes or _CONNECT_TIMEOUT_TEXT.search(text):
        return httpx.ConnectTimeout(f"{where}: connect timed out ({detail})", request=request)
    if not body and (codes & _CONNECT_CODES or _CONNECT_TEXT.search(text)):
        return httpx.ConnectError(f"{where}: could not connect ({detail})", request=request)
    if "UND_ERR_HEADERS_TIMEOUT" in codes or "UND_ERR_BODY_TIMEOUT" in codes:
        return httpx.ReadTimeout(f"{where}: the runtime timed out ({detail})", request=request)
    phase = "reading the body" if body else "waiting for the answer"
    return httpx.ReadError(f"{where}: failed {phase} ({detail})", request=request)


def _response_headers(js_headers: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for entry in js_headers.entries():
        name, value = str(entry[0]), str(entry[1])
        if name.lower() != "set-cookie":  # fetch joins repeats with ", ", which breaks cookies
            pairs.append((name, value))
    get_set_cookie = _attr(js_headers, "getSetCookie")
    if get_set_cookie is not None:
        pairs += [("set-cookie", str(c)) for c in get_set_cookie()]
    if any(n.lower() == "content-encoding" for n, _ in pairs):
        # The runtime has decoded the body: httpx must not decode it again, nor trust its length.
        pairs = [(n, v) for n, v in pairs if n.lower() not in ("content-encoding", "content-length")]
    return pairs


class _FetchStream(httpx.AsyncByteStream):
    """The JS response body, read chunk by chunk as httpx asks for it."""

    def __init__(self, reader: Any, deadline: _Deadline, read_timeout: float | None,
                 mapped: Callable[[BaseException], httpx.TransportError]) -> None:
        self._reader = reader
        self._deadline = deadline
        self._read_timeout = read_timeout
        self._mapped = mapped
        self._done = reader is None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        from pyodide.ffi import JsException

        while not self._done:
            self._deadline.arm(self._read_timeout)
            try:
                result = await self._reader.read()
            except JsException as exc:
                self._done = True
                raise self._mapped(exc) from None
            finally:
                self._deadline.disarm()
            if result.done:
                self._done = True
                break
            chunk = result.value.to_bytes()  # one copy, from JS memory into a Python bytes
            if chunk:
                yield chunk

    async def aclose(self) -> None:
        self._deadline.disarm()
        if not self._done:
            self._done = True
            with contextlib.suppress(Exception):  # already errored or released: nothing left to close
                await self._reader.cancel()  # closes the connection behind an unread body


def _init(js: Any, request: httpx.Request, content: bytes) -> tuple[Any, _Deadline]:
    """The JS `fetch` options of a request, and the deadline that can abort it."""
    headers = js.Headers.new()
    for name, value in request.headers.multi_items():
        if name.lower() not in _RUNTIME_HEADERS:
            headers.append(name, value)
    controller = js.AbortController.new()
    deadline = _Deadline(controller)
    init = js.Object.new()
    init.method = request.method
    init.headers = headers
    init.redirect = "manual"
    init.signal = controller.signal
    if content:
        body = js.Uint8Array.new(len(content))
        body.assign(content)  # a JS-owned copy: fetch may read it after this frame returns
        init.body = body
    return init, deadline


class FetchTransport(httpx.AsyncBaseTransport):
    """httpx over the JS `fetch` of the runtime (Cloudflare Workers, or Node/a browser under Pyodide)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import js
        from pyodide.ffi import JsException

        if request.url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"{request.url.scheme!r} is not http or https", request=request)
        content = await request.aread()
        headers_timeout, read_timeout = _timeouts(request)

        try:
            init, deadline = _init(js, request, content)
        except JsException as exc:  # a header value JS will not take: nothing was sent
            raise httpx.LocalProtocolError(f"{request.method} {_origin(request.url)}: the request cannot be "
                                           f"sent ({_clean(str(_attr(exc, 'message') or ''), request)})",
                                           request=request) from None

        deadline.arm(headers_timeout)
        try:
            resp = await js.fetch(str(request.url), init)
        except JsException as exc:
            raise _mapped(exc, request, deadline, body=False) from None
        finally:
            deadline.disarm()

        try:
            js_body = _attr(resp, "body")
            reader = js_body.getReader() if js_body is not None else None
            headers = _response_headers(resp.headers)
        except JsException as exc:
            raise _mapped(exc, request, deadline, body=True) from None
        stream = _FetchStream(reader, deadline, read_timeout,
                              lambda exc: _mapped(exc, request, deadline, body=True))
        reason = str(_attr(resp, "statusText") or "")
        return httpx.Response(int(resp.status), headers=headers, stream=stream,
                              extensions={"reason_phrase": reason.encode("latin-1", "replace")}, request=request)
