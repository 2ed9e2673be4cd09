"""A streamed response body that works on every ASGI server the edge runs on, Cloudflare's included.

Starlette's StreamingResponse watches for the client's disconnect with an anyio task group on ASGI
servers before spec 2.4 (Cloudflare's bridge says 2.0), and anyio's asyncio backend imports `ssl`,
which Pyodide does not ship: there it answers 500 `ModuleNotFoundError`. Plain asyncio tasks do the
same job everywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class StreamedResponse(Response):
    """A response whose body is `chunks`, sent as they come; it ends when they end or the client goes.

    When the client goes, the generator is closed (its `finally` runs): that is how a stream stops the
    work behind it (an upstream call, a service binding's stream).
    """

    def __init__(self, chunks: AsyncGenerator[str | bytes, None], *, status_code: int = 200,
                 media_type: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        self.chunks = chunks
        self.status_code = status_code
        if media_type is not None:
            self.media_type = media_type
        self.background = None
        self.init_headers(headers)

    async def _send_chunks(self, send: Send) -> None:
        async for chunk in self.chunks:
            body = chunk.encode() if isinstance(chunk, str) else chunk
            if body:
                await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _until_disconnect(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        sender = asyncio.ensure_future(self._send_chunks(send))
        watcher = asyncio.ensure_future(self._until_disconnect(receive))
        try:
            await asyncio.wait((sender, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sender, watcher):
                task.cancel()
            await asyncio.gather(sender, watcher, return_exceptions=True)
            await self.chunks.aclose()
        client_left = watcher.done() and not watcher.cancelled()
        if not client_left and not sender.cancelled() and sender.exception() is not None:
            raise sender.exception()  # type: ignore[misc]


class EventStreamResponse(StreamedResponse):
    """A `text/event-stream` response (Server-Sent Events), never cached or buffered by a proxy."""

    media_type = "text/event-stream"

    def __init__(self, lines: AsyncGenerator[str | bytes, None], *, status_code: int = 200,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(lines, status_code=status_code,
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})})
