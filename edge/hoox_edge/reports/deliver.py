"""Sending a report to the operator's Telegram chat (through shared.telegram_api, the one Bot API client).

- a PDF: `sendDocument` with the summary as its caption; should Telegram refuse it, the summary is
  sent as a message instead, so the operator still hears of the report;
- no PDF: the summary as a message (`sendMessage`), saying why there is no PDF;
- no bot token on report-worker: the summary goes to telegram-worker's `/alert`, which keeps it in
  its outbox (the cockpit's alert console shows it) — never silence.
The summary is plain text (no parse mode: nothing in it needs escaping). The chat is `chatId` when the
caller gives one, else the first of TELEGRAM_CHAT_ID.
"""

from __future__ import annotations

from typing import Any

from hoox_edge.operator import shapes
from hoox_edge.ports import Env
from hoox_edge.shared import calls
from hoox_edge.shared import telegram_api as bot_api
from hoox_edge.shared.redact import redact

MAX_CAPTION = 1024  # Telegram's limit on a document's caption
UPLOAD_TIMEOUT_S = 30.0


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _message_id(result: Any) -> int | None:
    mid = result.get("message_id") if isinstance(result, dict) else None
    return mid if isinstance(mid, int) else None


async def send(env: Env, *, summary: str, pdf: bytes | None, filename: str,
               chat_id: str | int | None) -> shapes.ReportDelivery:
    secrets = env.secret_values()
    summary = redact(summary, secrets)
    token = bot_api.bot_token(env)
    if not token:
        ok = await calls.alert(env, summary, level="info")
        return {"channel": "outbox" if ok else "none", "method": None, "messageId": None,
                "error": None if ok else "no TELEGRAM_BOT_TOKEN on report-worker, and telegram-worker "
                                         "did not take the summary into its outbox"}
    chats = bot_api.chat_ids(env)
    chat = chat_id if chat_id not in (None, "") else (chats[0] if chats else None)
    if chat is None:
        return {"channel": "none", "method": None, "messageId": None,
                "error": "no chat id: set TELEGRAM_CHAT_ID or pass chatId"}
    errors: list[str] = []
    if pdf is not None:
        answer = await bot_api.call(env, token, "sendDocument", {
            "chat_id": str(chat), "caption": _cut(summary, MAX_CAPTION)},
            files={"document": (filename, pdf, "application/pdf")}, timeout=UPLOAD_TIMEOUT_S)
        if answer.ok:
            return {"channel": "telegram", "method": "sendDocument", "messageId": _message_id(answer.result),
                    "error": None}
        errors.append(f"sendDocument: {answer.error}")
    answer = await bot_api.call(env, token, "sendMessage", {
        "chat_id": chat, "text": _cut(summary, bot_api.MAX_TEXT), "disable_web_page_preview": True})
    if answer.ok:
        return {"channel": "telegram", "method": "sendMessage", "messageId": _message_id(answer.result),
                "error": "; ".join(errors) or None}
    errors.append(f"sendMessage: {answer.error}")
    return {"channel": "none", "method": None, "messageId": None, "error": "; ".join(errors)}
