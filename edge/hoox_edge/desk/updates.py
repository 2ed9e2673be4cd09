"""A Telegram Update (core.telegram.org/bots/api#update) as the desk reads it, and the replies it makes.

Both workers read updates with this one parser: telegram-worker to filter chats and refuse
redeliveries, the gateway to run the command. Only what the desk acts on is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hoox_edge.alerts.format import split

# The update kinds the webhook asks Telegram for (`allowed_updates` of setWebhook and getUpdates).
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")


class BadUpdate(ValueError):
    """Not an Update: the field and the rule it breaks."""

    def __init__(self, field: str, issue: str) -> None:
        super().__init__(f"{field}: {issue}")
        self.field = field
        self.issue = issue


@dataclass(frozen=True)
class Update:
    update_id: int
    kind: str  # message | edited_message | callback_query | other
    chat_id: int | str | None
    text: str | None = None  # a message's text (or a photo's caption)
    photo: bool = False
    photo_file_id: str | None = None  # the largest size of a photo (Telegram lists each size)
    callback_id: str | None = None
    callback_data: str | None = None
    message_id: int | None = None  # the message the callback's button sits under

    @property
    def command(self) -> tuple[str, list[str]] | None:
        """("/name", args) of a bot command (`/status@hoox_bot` is `/status`), else None."""
        if not self.text or not self.text.startswith("/"):
            return None
        head, *args = self.text.split()
        return head.split("@", 1)[0].lower(), args


def parse(raw: Any) -> Update:
    """The update, or BadUpdate naming the field that is wrong."""
    if not isinstance(raw, dict):
        raise BadUpdate("(body)", "a Telegram Update must be a JSON object")
    uid = raw.get("update_id")
    if isinstance(uid, bool) or not isinstance(uid, int) or uid < 0:
        raise BadUpdate("update_id", "required: a whole number of at least 0")
    for kind in ("message", "edited_message"):
        msg = raw.get(kind)
        if isinstance(msg, dict):
            text = msg.get("text") if isinstance(msg.get("text"), str) else msg.get("caption")
            sizes = msg.get("photo")
            file_id = None
            if isinstance(sizes, list) and sizes and isinstance(sizes[-1], dict) \
                    and isinstance(sizes[-1].get("file_id"), str):
                file_id = sizes[-1]["file_id"][:200]
            return Update(uid, kind, _chat_id(msg, kind), text if isinstance(text, str) else None,
                          photo=isinstance(sizes, list), photo_file_id=file_id)
    cbq = raw.get("callback_query")
    if isinstance(cbq, dict):
        if not isinstance(cbq.get("id"), str):
            raise BadUpdate("callback_query.id", "required: a string")
        under: dict[str, Any] = cbq["message"] if isinstance(cbq.get("message"), dict) else {}
        data = cbq.get("data")
        mid = under.get("message_id")
        return Update(uid, "callback_query", _chat_id(under, "callback_query.message") if under else None,
                      callback_id=cbq["id"], callback_data=data if isinstance(data, str) else None,
                      message_id=mid if isinstance(mid, int) else None)
    return Update(uid, "other", None)


def _chat_id(msg: dict[str, Any], where: str) -> int | str:
    chat = msg.get("chat")
    cid = chat.get("id") if isinstance(chat, dict) else None
    if isinstance(cid, bool) or not isinstance(cid, int | str):
        raise BadUpdate(f"{where}.chat.id", "required: a whole number or a string")
    return cid


# --------------------------------------------------------------------------- replies
def message(chat_id: int | str, text: str, keyboard: list[list[dict[str, str]]] | None = None
            ) -> list[dict[str, Any]]:
    """sendMessage calls (HTML) for `text`, split under Telegram's limit as alerts are (at line breaks,
    never inside an entity or a tag); a keyboard goes on the last."""
    calls: list[dict[str, Any]] = []
    for part in split(text, html=True):
        calls.append({"method": "sendMessage", "params": {
            "chat_id": chat_id, "text": part, "parse_mode": "HTML", "disable_web_page_preview": True}})
    if keyboard:
        calls[-1]["params"]["reply_markup"] = {"inline_keyboard": keyboard}
    return calls
