"""The one client of Telegram's Bot API: alerts, the bot's desk and reports all call it.

The base URL is `https://api.telegram.org` unless the var `TELEGRAM_API_BASE` points elsewhere (tests
use a loopback fake). The token is part of the request URL, so no error text or log line ever carries
the URL: errors are rebuilt from Telegram's answer and redacted.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx

from hoox_edge.ports import Env
from hoox_edge.shared.http import http_client
from hoox_edge.shared.redact import MASK, redact

DEFAULT_API_BASE = "https://api.telegram.org"
MAX_TEXT = 4096
# The caller (shared.calls.best_effort) waits 5 s; answer before it gives up so the row is final.
DEFAULT_TIMEOUT_S = 4.0

_BOT_PATH = re.compile(r"/bot[^/\s]+")


class _HideBotToken(logging.Filter):
    """httpx logs every request URL at INFO; the Bot API URL carries the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "/bot" in text:
            record.msg, record.args = _BOT_PATH.sub(f"/bot{MASK}", text), None
        return True


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, _HideBotToken) for f in _httpx_log.filters):
    _httpx_log.addFilter(_HideBotToken())


@dataclass(frozen=True)
class BotAnswer:
    """What one Bot API call came to. `error` is None exactly when Telegram answered `ok: true`."""

    result: Any = None
    error: str | None = None
    status: int | None = None  # HTTP status; None when Telegram was not reached
    retry_after: float | None = None  # seconds Telegram asked us to wait (429)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def retryable(self) -> bool:
        """Worth trying again later: Telegram unreachable, slow, rate-limiting or failing (5xx)."""
        return not self.ok and (self.status is None or self.status == 429 or self.status >= 500)


def escape_html(text: str) -> str:
    """Telegram's HTML mode needs exactly these three escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def chat_ids(env: Env) -> list[str]:
    """The operator's chats: `TELEGRAM_CHAT_ID`, one id or a comma-separated list (first = default)."""
    raw = env.get("TELEGRAM_CHAT_ID") or ""
    return [part.strip() for part in str(raw).split(",") if part.strip()]


def bot_token(env: Env) -> str | None:
    return env.get("TELEGRAM_BOT_TOKEN") or None


def scrub(text: str, env: Env, token: str) -> str:
    text = _BOT_PATH.sub(f"/bot{MASK}", text)
    return redact(text, [token, *env.secret_values()])


async def call(env: Env, token: str, method: str, payload: dict[str, Any] | None = None, *,
               files: dict[str, tuple[str, bytes, str]] | None = None,
               timeout: float = DEFAULT_TIMEOUT_S) -> BotAnswer:
    """Call one Bot API method. JSON body, or multipart form fields + `files` (sendDocument).

    Never raises for Telegram's or the network's failures: they come back as a BotAnswer whose
    error holds no token."""
    base = (env.get("TELEGRAM_API_BASE") or DEFAULT_API_BASE).rstrip("/")
    url = f"{base}/bot{token}/{method}"
    try:
        async with http_client(timeout=timeout) as client:
            if files:
                form = {k: v if isinstance(v, str) else str(v) for k, v in (payload or {}).items()}
                resp = await client.post(url, data=form, files=files)
            else:
                resp = await client.post(url, json=payload or {})
    except httpx.TimeoutException:
        return BotAnswer(error=f"Telegram did not answer within {timeout:g} s")
    except Exception as exc:  # any transport failure is a failed call, never a failed request
        return BotAnswer(error=scrub(f"could not reach the Telegram Bot API ({type(exc).__name__}: {exc})",
                                     env, token))
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("ok") is True:
        return BotAnswer(result=data.get("result"), status=resp.status_code)
    if isinstance(data, dict):
        desc = data.get("description") or "no description"
        code = data.get("error_code", resp.status_code)
        params = data.get("parameters")
        wait = params.get("retry_after") if isinstance(params, dict) else None
        return BotAnswer(error=scrub(f"Telegram API error {code}: {desc}", env, token), status=resp.status_code,
                         retry_after=float(wait) if isinstance(wait, int | float) and wait >= 0 else None)
    return BotAnswer(error=f"Telegram API answered HTTP {resp.status_code} without a JSON body",
                     status=resp.status_code)
