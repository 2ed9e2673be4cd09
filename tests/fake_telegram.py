"""A loopback Telegram Bot API that speaks the real JSON shapes (core.telegram.org/bots/api).

One thread running http.server on 127.0.0.1. It records every call, answers the methods hoox uses with
Telegram's result objects, serves queued updates to `getUpdates` with Telegram's offset rule, and can be
told to fail: `fail_next(method, status, n, retry_after=...)` answers the next n calls of a method (or of
every method, `"*"`) with Telegram's error shape, e.g. 502 or 429 with `parameters.retry_after`.
Nothing here talks to Telegram.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from netutil import ServedInThread

BOT_ID = 7000001
BOT_USERNAME = "hoox_test_bot"


@dataclass
class Call:
    method: str
    token: str
    body: dict[str, Any]  # JSON body, or the multipart/form fields
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # field -> (filename, content)


@dataclass
class _Failure:
    status: int
    remaining: int
    description: str
    retry_after: int | None


def user(user_id: int = 111, first_name: str = "Operator") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first_name, "username": f"user{user_id}"}


def chat(chat_id: int = 111) -> dict[str, Any]:
    return {"id": chat_id, "type": "private", "first_name": "Operator"}


def message_update(update_id: int, text: str, *, chat_id: int = 111, message_id: int = 1,
                   edited: bool = False) -> dict[str, Any]:
    """An Update holding a (or an edited) text Message; bot commands carry a bot_command entity."""
    msg: dict[str, Any] = {"message_id": message_id, "from": user(chat_id), "chat": chat(chat_id),
                           "date": int(time.time()), "text": text}
    if text.startswith("/"):
        msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    if edited:
        msg["edit_date"] = int(time.time())
    return {"update_id": update_id, ("edited_message" if edited else "message"): msg}


def photo_update(update_id: int, *, chat_id: int = 111, caption: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"message_id": 5, "from": user(chat_id), "chat": chat(chat_id), "date": int(time.time()),
                           "photo": [{"file_id": "AgAD-small", "file_unique_id": "s1", "width": 90, "height": 60,
                                      "file_size": 1200},
                                     {"file_id": "AgAD-large", "file_unique_id": "l1", "width": 1280,
                                      "height": 853, "file_size": 98000}]}
    if caption is not None:
        msg["caption"] = caption
    return {"update_id": update_id, "message": msg}


def callback_update(update_id: int, data: str, *, chat_id: int = 111, message_id: int = 9) -> dict[str, Any]:
    message = {"message_id": message_id, "from": {"id": BOT_ID, "is_bot": True, "first_name": "hoox",
                                                  "username": BOT_USERNAME},
               "chat": chat(chat_id), "date": int(time.time()), "text": "Confirm?"}
    return {"update_id": update_id,
            "callback_query": {"id": f"cbq-{update_id}", "from": user(chat_id), "message": message,
                               "chat_instance": "ci-1", "data": data}}


class FakeTelegram:
    """Use as a context manager; `url` goes into the `TELEGRAM_API_BASE` var."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []  # served by getUpdates until confirmed by a higher offset
        self.webhook: dict[str, Any] = {}
        self.files: dict[str, bytes] = {}  # file_path -> bytes, served by getFile and /file/bot<token>/...
        self.downloads: list[str] = []  # the token of each file download
        self._failures: dict[str, deque[_Failure]] = {}
        self._next_message_id = 100
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self._answer()

            def do_GET(self) -> None:
                self._answer()

            def _answer(self) -> None:
                parts = self.path.split("?", 1)
                segments = parts[0].strip("/").split("/")
                if segments[0] == "file" and len(segments) >= 3 and segments[1].startswith("bot"):
                    # A file download: /file/bot<token>/<file_path> (getFile's file_path)
                    content = fake.files.get("/".join(segments[2:]))
                    fake.downloads.append(segments[1][3:])
                    self.send_response(200 if content is not None else 404)
                    self.send_header("Content-Length", str(len(content or b"")))
                    self.end_headers()
                    self.wfile.write(content or b"")
                    return
                if len(segments) != 2 or not segments[0].startswith("bot"):
                    self._send(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                    return
                token, method = segments[0][3:], segments[1]
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body, files = _parse_body(self.headers.get("Content-Type") or "", raw)
                if len(parts) == 2:
                    body.update(dict(parse_qsl(parts[1])))
                status, answer = fake._handle(Call(method, token, body, files))
                self._send(status, answer)

            def _send(self, status: int, answer: dict[str, Any]) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._served = ServedInThread(self.server)

    def __enter__(self) -> FakeTelegram:
        self._served.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._served.stop()

    # --- what tests script -------------------------------------------------------------------------------

    def fail_next(self, method: str, status: int, n: int = 1, *, retry_after: int | None = None,
                  description: str | None = None) -> None:
        """The next `n` calls of `method` ("*" = any method) answer `status` in Telegram's error shape."""
        desc = description or {429: f"Too Many Requests: retry after {retry_after or 1}",
                               502: "Bad Gateway", 401: "Unauthorized",
                               400: "Bad Request: chat not found"}.get(status, "Error")
        with self._lock:
            self._failures.setdefault(method, deque()).append(_Failure(status, n, desc, retry_after))

    def push_update(self, update: dict[str, Any]) -> None:
        with self._changed:
            self.updates.append(update)
            self._changed.notify_all()

    def sent(self, method: str = "sendMessage") -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Wait (on a condition, not a sleep) until predicate(self) holds; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    # --- the Bot API -------------------------------------------------------------------------------------

    def _handle(self, call: Call) -> tuple[int, dict[str, Any]]:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
            failure = self._take_failure(call.method) or self._take_failure("*")
            if failure:
                answer: dict[str, Any] = {"ok": False, "error_code": failure.status,
                                          "description": failure.description}
                if failure.retry_after is not None:
                    answer["parameters"] = {"retry_after": failure.retry_after}
                return failure.status, answer
            handler = getattr(self, f"_m_{call.method}", None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
        return 200, {"ok": True, "result": handler(call.body, call.files)}

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.popleft()
        return failure

    def _message(self, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
        with self._lock:
            self._next_message_id += 1
            mid = self._next_message_id
        chat_id = body.get("chat_id")
        return {"message_id": mid, "from": {"id": BOT_ID, "is_bot": True, "first_name": "hoox",
                                            "username": BOT_USERNAME},
                "chat": {"id": int(chat_id) if str(chat_id).lstrip("-").isdigit() else chat_id, "type": "private"},
                "date": int(time.time()), **extra}

    def _m_getMe(self, body: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "hoox", "username": BOT_USERNAME,
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    def _m_sendMessage(self, body: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        return self._message(body, text=body.get("text", ""))

    def _m_getFile(self, body: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        # Bot API: {file_id} -> a File {file_id, file_unique_id, file_size, file_path}; a test puts the
        # bytes in `files` under "photos/<file_id>.jpg".
        path = f"photos/{body.get('file_id')}.jpg"
        return {"file_id": body.get("file_id"), "file_unique_id": "u-" + str(body.get("file_id")),
                "file_size": len(self.files.get(path, b"")), "file_path": path}

    def _m_sendChatAction(self, body: dict[str, Any], files: dict[str, Any]) -> bool:
        # Bot API: chat_id and an action (typing, upload_photo, ...), shown for 5 s or until a message;
        # the calls are recorded, so a test checks the body it sent.
        return True

    def _m_sendDocument(self, body: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        name, content = files.get("document", ("document", b""))
        return self._message(body, document={"file_name": name, "mime_type": "application/pdf",
                                             "file_id": f"BQAC-{len(content)}", "file_unique_id": "d1",
                                             "file_size": len(content)},
                             **({"caption": body["caption"]} if body.get("caption") else {}))

    def _m_editMessageText(self, body: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        return self._message(body, text=body.get("text", ""))

    def _m_editMessageReplyMarkup(self, body: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        return self._message(body)

    def _m_answerCallbackQuery(self, body: dict[str, Any], files: dict[str, Any]) -> bool:
        return True

    def _m_getUpdates(self, body: dict[str, Any], files: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(body.get("offset") or 0)
        limit = int(body.get("limit") or 100)
        with self._lock:
            if offset:  # Telegram forgets every update below the offset
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
            return list(self.updates[:limit])

    def _m_setWebhook(self, body: dict[str, Any], files: dict[str, Any]) -> bool:
        with self._lock:
            self.webhook = {"url": body.get("url", ""), "secret_token": body.get("secret_token"),
                            "allowed_updates": body.get("allowed_updates")}
        return True

    def _m_deleteWebhook(self, body: dict[str, Any], files: dict[str, Any]) -> bool:
        with self._lock:
            self.webhook = {}
        return True

    def _m_getWebhookInfo(self, body: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            info: dict[str, Any] = {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                                    "pending_update_count": len(self.updates)}
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info


def _parse_body(content_type: str, raw: bytes) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    if not raw:
        return {}, {}
    if content_type.startswith("application/json"):
        data = json.loads(raw)
        return (data if isinstance(data, dict) else {}), {}
    if content_type.startswith("multipart/form-data"):
        msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
        fields: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            payload = part.get_payload(decode=True) or b""
            if filename is not None:
                files[str(name)] = (filename, payload)
            else:
                fields[str(name)] = payload.decode()
        return fields, files
    return dict(parse_qsl(raw.decode())), {}
