"""Loopback fakes of the AI providers' documented APIs, one server for all of them, checking request
shapes and keys and answering in each provider's own wire format.

Routes (the path picks the provider, `route` below):
- `anthropic`: `POST /v1/messages` — headers `x-api-key`, `anthropic-version`; body `model`,
  `max_tokens`, `messages`, `stream: true`; SSE `message_start` (usage.input_tokens),
  `content_block_start`, `ping`, `content_block_delta` (`text_delta`) per token, `content_block_stop`,
  `message_delta` (usage.output_tokens), `message_stop`.
- `gemini`: `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` — header `x-goog-api-key`;
  body `contents[].parts[]`; SSE `data:` GenerateContentResponse per token, each with `usageMetadata`
  (running totals), no [DONE]. `:batchEmbedContents` for embeddings.
- `openai`: `POST /v1/chat/completions` (Bearer) and `azure`: `POST /openai/deployments/{d}/chat/completions
  ?api-version=` (`api-key`); body `messages`, `stream: true`, `stream_options.include_usage`; `data:`
  chunks `choices[0].delta.content`, a last chunk with `choices: []` and `usage`, `data: [DONE]`.
  `POST /v1/embeddings` for embeddings.
- `workers-ai`: `POST /client/v4/accounts/{account}/ai/run/{model}` (Bearer); chat `messages` +
  `stream: true`: `data: {"response": ...}` per token, a last one with `usage`, `data: [DONE]`;
  embeddings `{"text": [...]}` → `{"result": {"shape", "data"}, "success": true}`.

Each route answers its scripted steps in order (`script(route, *steps)`), then `default` steps:
`{"text": [...], "usage": (input, output)}` streams; `{"status": 429, "retry_after": "1"}` / 5xx answer
an error in the provider's error shape; `{"timeout": True}` never answers (until the client goes);
`{"text": [...], "hold_after": n}` streams n tokens then waits until the client closes the connection
(recorded in `closed_early`); `{"text": [...], "pause_after": n, "release": threading.Event()}` streams
n tokens, waits until the test sets `release`, then sends the rest; `{"echo_system": word}` answers the
lines of the request's system prompt that hold `word` (a model quoting its context). A wrong key is a
401; a request without the documented shape a 400, listed in `shape_errors`.

Tool calling, each provider's documented way (anthropic, openai, azure, gemini):
`{"tool_calls": [{"name", "arguments"}]}` streams those calls (Anthropic `tool_use` blocks with
`input_json_delta` pieces and stop_reason `tool_use`; Chat Completions `delta.tool_calls` by index with
the arguments in pieces and finish_reason `tool_calls`; Gemini `functionCall` parts with a
`thoughtSignature` that must come back); a request that says to call none (`tool_choice` none /
`functionCallingConfig.mode` NONE) gets text instead, as the real APIs do, unless the step says
`"ignore_tool_choice": true`. `{"quote_tool": key}` answers `key: value` for each value of `key` in the
request's last tool result, or `tool error: ...` when that result is an error (a model quoting its
tool). Requests with tools are checked: the tool declarations, and each tool result answering a call
of the turn before it (ids, names, the Gemini signature).
"""

from __future__ import annotations

import json
import re
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from netutil import ServedInThread

ROUTES = ("anthropic", "gemini", "openai", "azure", "workers-ai")
HOLD_LIMIT = 30.0


@dataclass
class Call:
    route: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float  # time.monotonic() when it arrived

    @property
    def embedding(self) -> bool:
        return self.path.endswith(("/embeddings", ":batchEmbedContents")) or (
            self.route == "workers-ai" and isinstance(self.body, dict) and isinstance(self.body.get("text"), list))


@dataclass
class FakeAI:
    keys: dict[str, str] = field(default_factory=dict)  # route -> the key it accepts
    calls: list[Call] = field(default_factory=list)
    shape_errors: list[str] = field(default_factory=list)
    closed_early: list[str] = field(default_factory=list)
    embedded: list[str] = field(default_factory=list)  # every text embedded, in order
    default: dict[str, Any] = field(default_factory=lambda: {"text": ["Hello", " there"], "usage": (12, 2)})
    # Embeddings: with a vocabulary, a text's vector counts each word of it in the text (a model that
    # puts texts about the same things near each other); without, [len(text), index, 0.5].
    vocabulary: tuple[str, ...] = ()
    _scripts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _closed: threading.Condition = field(default_factory=threading.Condition)

    def __enter__(self) -> FakeAI:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._served = ServedInThread(self._server)
        self._served.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stopping.set()
        self._served.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, route: str, *steps: dict[str, Any]) -> None:
        with self._lock:
            self._scripts.setdefault(route, []).extend(steps)

    def next_step(self, route: str) -> dict[str, Any]:
        with self._lock:
            queue = self._scripts.get(route) or []
            return queue.pop(0) if queue else self.default

    def calls_to(self, route: str) -> list[Call]:
        return [c for c in self.calls if c.route == route]

    def chats(self, route: str) -> list[Call]:
        """The chat calls of `route` (not its embeddings)."""
        return [c for c in self.calls_to(route) if not c.embedding]

    def wait_calls(self, route: str, n: int, timeout: float = 10.0) -> bool:
        """Wait until `route` has received `n` requests."""
        with self._closed:
            return self._closed.wait_for(lambda: len(self.calls_to(route)) >= n, timeout)

    def _record(self, call: Call) -> None:
        with self._closed:
            self.calls.append(call)
            self._closed.notify_all()

    def wait_closed(self, route: str, timeout: float = 10.0) -> bool:
        """Wait until a held stream of `route` saw its client go."""
        with self._closed:
            return self._closed.wait_for(lambda: route in self.closed_early, timeout)

    def _mark_closed(self, route: str) -> None:
        with self._closed:
            self.closed_early.append(route)
            self._closed.notify_all()


_GEMINI = re.compile(r"^/v1beta/models/([^/:]+):(streamGenerateContent|batchEmbedContents)$")
_AZURE = re.compile(r"^/openai/deployments/([^/]+)/(chat/completions|embeddings)$")
_WORKERS = re.compile(r"^/client/v4/accounts/([^/]+)/ai/run/(.+)$")


class _Handler(BaseHTTPRequestHandler):
    owner: FakeAI
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    # ------------------------------------------------------------------ plumbing
    def _send(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True

    def _event(self, data: Any, event: str | None = None) -> None:
        text = (f"event: {event}\n" if event else "") + "data: " + (
            data if isinstance(data, str) else json.dumps(data)) + "\n\n"
        self.wfile.write(text.encode())
        self.wfile.flush()

    def _hold(self, route: str) -> None:
        """Wait, answering nothing more, until the client closes the connection."""
        sock: socket.socket = self.connection
        deadline = time.monotonic() + HOLD_LIMIT
        while time.monotonic() < deadline and not self.owner._stopping.is_set():
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                try:
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        self.owner._mark_closed(route)
                        return
                except OSError:
                    self.owner._mark_closed(route)
                    return
        self.close_connection = True

    def _shape(self, ok: bool, what: str) -> bool:
        if not ok:
            self.owner.shape_errors.append(what)
            self._send(400, {"error": {"message": f"bad request shape: {what}"}})
        return ok

    # ------------------------------------------------------------------ dispatch
    def do_POST(self) -> None:
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query)
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        route, key, embed = self._route(path, query, headers)
        if route is None:
            self._send(404, {"error": {"message": f"no such route {path}"}})
            return
        self.owner._record(Call(route, path, headers, body, time.monotonic()))
        expected = self.owner.keys.get(route)
        if expected is not None and key != expected:
            # Some providers quote the key they were given: the gateway must not pass it on.
            self._send(401, {"error": {"message": f"invalid api key: Incorrect API key provided: {key}"}})
            return
        if not isinstance(body, dict):
            self._shape(False, f"{route}: body is not a JSON object")
            return
        if embed:
            self._embed(route, body)
            return
        if not self._check_chat(route, path, query, headers, body) or not self._check_tools(route, body):
            return
        step = self.owner.next_step(route)
        if step.get("timeout"):
            self._hold(route)
            return
        if "status" in step:
            extra = {"retry-after": step["retry_after"]} if "retry_after" in step else {}
            status = step["status"]
            msg = "rate limited" if status == 429 else "upstream overloaded"
            doc: Any = ({"type": "error", "error": {"type": "rate_limit_error", "message": msg}}
                        if route == "anthropic" else
                        [{"error": {"code": status, "message": msg, "status": "UNAVAILABLE"}}]
                        if route == "gemini" else
                        {"success": False, "errors": [{"code": 3040, "message": msg}]} if route == "workers-ai"
                        else {"error": {"message": msg, "type": "server_error"}})
            self._send(status, doc, extra)
            return
        self._stream(route, body, step)

    def _route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]
               ) -> tuple[str | None, str | None, bool]:
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        if path == "/v1/messages":
            return "anthropic", headers.get("x-api-key"), False
        if m := _GEMINI.match(path):
            return "gemini", headers.get("x-goog-api-key"), m.group(2) == "batchEmbedContents"
        if path in ("/v1/chat/completions", "/v1/embeddings"):
            return "openai", bearer, path.endswith("embeddings")
        if m := _AZURE.match(path):
            return "azure", headers.get("api-key"), m.group(2) == "embeddings"
        if _WORKERS.match(path):
            return "workers-ai", bearer, False  # chat or embeddings by the body
        return None, None, False

    def _check_chat(self, route: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                    body: dict[str, Any]) -> bool:
        msgs = body.get("messages")
        if route == "anthropic":
            return self._shape(headers.get("anthropic-version") == "2023-06-01" and isinstance(body.get("model"), str)
                               and isinstance(body.get("max_tokens"), int) and body.get("stream") is True
                               and isinstance(msgs, list) and bool(msgs)
                               and all(m.get("role") in ("user", "assistant") for m in msgs),
                               "anthropic: anthropic-version, model, max_tokens, stream, messages (user/assistant)")
        if route == "gemini":
            contents = body.get("contents")
            return self._shape(query.get("alt") == ["sse"] and path.endswith(":streamGenerateContent")
                               and isinstance(contents, list) and bool(contents)
                               and all(isinstance(c.get("parts"), list) for c in contents),
                               "gemini: alt=sse, contents[].parts[]")
        if route == "workers-ai":
            if isinstance(body.get("text"), list):
                self._embed(route, body)
                return False
            return self._shape(isinstance(msgs, list) and bool(msgs) and body.get("stream") is True,
                               "workers-ai: messages, stream")
        ok = (isinstance(msgs, list) and bool(msgs) and body.get("stream") is True
              and (body.get("stream_options") or {}).get("include_usage") is True)
        # Azure names the model by its deployment in the path and wants an api-version.
        ok = ok and (bool(query.get("api-version")) if route == "azure" else isinstance(body.get("model"), str))
        return self._shape(ok, f"{route}: model, messages, stream, stream_options.include_usage")

    def _check_tools(self, route: str, body: dict[str, Any]) -> bool:
        """The documented shapes of tool declarations and of the tool results sent back."""
        tools = body.get("tools")
        if tools is None:
            return True
        if route == "anthropic":
            ok = all(isinstance(t.get("name"), str) and (t.get("input_schema") or {}).get("type") == "object"
                     for t in tools) and (body.get("tool_choice") or {}).get("type") in ("auto", "none")
            msgs = body["messages"]
            for i, m in enumerate(msgs):
                results = [b for b in m["content"] if b.get("type") == "tool_result"] \
                    if isinstance(m["content"], list) else []
                if results:
                    before = msgs[i - 1]["content"] if i and isinstance(msgs[i - 1]["content"], list) else []
                    ids = {b["id"] for b in before if b.get("type") == "tool_use"}
                    ok = ok and m["role"] == "user" and {r.get("tool_use_id") for r in results} == ids \
                        and all(isinstance(r.get("content"), str) for r in results)
            return self._shape(ok, "anthropic: tools[{name, input_schema}], tool_choice, tool_result for each tool_use")
        if route == "gemini":
            decls = tools[0].get("functionDeclarations") if len(tools) == 1 else None
            ok = isinstance(decls, list) and all(isinstance(d.get("name"), str) for d in decls) and \
                (body.get("toolConfig") or {}).get("functionCallingConfig", {}).get("mode") in ("AUTO", "NONE")
            contents = body["contents"]
            for i, c in enumerate(contents):
                answers = [p["functionResponse"] for p in c["parts"] if "functionResponse" in p]
                if answers:
                    before = contents[i - 1]["parts"] if i else []
                    calls = [p for p in before if "functionCall" in p]
                    ok = ok and contents[i - 1]["role"] == "model" and \
                        [a.get("name") for a in answers] == [p["functionCall"]["name"] for p in calls] and \
                        all(p.get("thoughtSignature") == f"sig-{p['functionCall']['name']}" for p in calls) and \
                        all(isinstance(a.get("response"), dict) for a in answers)
            return self._shape(ok, "gemini: tools[{functionDeclarations}], toolConfig, a functionResponse for "
                                   "each functionCall")
        ok = all(t.get("type") == "function" and isinstance((t.get("function") or {}).get("name"), str)
                 for t in tools) and body.get("tool_choice") in ("auto", "none")
        asked: set[str] = set()
        for m in body["messages"]:
            if m.get("role") == "assistant" and m.get("tool_calls"):
                asked = {c["id"] for c in m["tool_calls"] if c.get("type") == "function"
                         and isinstance(c["function"].get("arguments"), str)}
            elif m.get("role") == "tool":
                ok = ok and m.get("tool_call_id") in asked and isinstance(m.get("content"), str)
        return self._shape(ok, f"{route}: tools[{{type: function}}], tool_choice, role tool answering tool_calls")

    @staticmethod
    def _tools_off(route: str, body: dict[str, Any]) -> bool:
        if route == "anthropic":
            return (body.get("tool_choice") or {}).get("type") == "none"
        if route == "gemini":
            return (body.get("toolConfig") or {}).get("functionCallingConfig", {}).get("mode") == "NONE"
        return body.get("tool_choice") == "none"

    @staticmethod
    def _last_tool_result(route: str, body: dict[str, Any]) -> tuple[Any, bool]:
        """(the value of the request's last tool result, whether it is an error)."""
        if route == "anthropic":
            for m in reversed(body["messages"]):
                for b in m["content"] if isinstance(m["content"], list) else []:
                    if b.get("type") == "tool_result":
                        return json.loads(b["content"]), bool(b.get("is_error"))
        elif route == "gemini":
            for c in reversed(body["contents"]):
                for p in c["parts"]:
                    if "functionResponse" in p:
                        r = p["functionResponse"]["response"]
                        return (r["error"], True) if "error" in r else (r["result"], False)
        else:
            for m in reversed(body["messages"]):
                if m.get("role") == "tool":
                    value = json.loads(m["content"])
                    return value, isinstance(value, dict) and set(value) == {"error"}
        return None, False

    @staticmethod
    def _values(doc: Any, key: str) -> list[Any]:
        if isinstance(doc, dict):
            return [v for k, v in doc.items() if k == key] + [x for v in doc.values() for x in _Handler._values(v, key)]
        if isinstance(doc, list):
            return [x for v in doc for x in _Handler._values(v, key)]
        return []

    # ------------------------------------------------------------------ answers
    @staticmethod
    def _system_text(body: dict[str, Any]) -> str:
        if isinstance(body.get("system"), str):
            return str(body["system"])
        if isinstance(body.get("systemInstruction"), dict):
            return "".join(p.get("text", "") for p in body["systemInstruction"].get("parts", []))
        return "".join(m["content"] for m in body.get("messages", []) if m.get("role") == "system")

    def _stream(self, route: str, body: dict[str, Any], step: dict[str, Any]) -> None:
        tokens: list[str] = list(step.get("text", []))
        if "echo_system" in step:  # a model that quotes the lines of its context holding a word
            tokens = [line + "\n" for line in self._system_text(body).splitlines() if step["echo_system"] in line]
        if "quote_tool" in step:  # a model that quotes its last tool result
            value, error = self._last_tool_result(route, body)
            tokens = [f"tool error: {value['error'] if isinstance(value, dict) else value}"] if error else [
                f"{step['quote_tool']}: {v}\n" for v in self._values(value, step["quote_tool"])]
        calls: list[dict[str, Any]] = list(step.get("tool_calls", []))
        if calls and self._tools_off(route, body) and not step.get("ignore_tool_choice"):
            calls, tokens = [], ["I will answer without tools."]
        usage_in, usage_out = step.get("usage", (10, len(tokens)))
        hold_after = step.get("hold_after")
        self._start_stream()
        sent: list[str] = []

        def maybe_hold() -> bool:
            if hold_after is not None and len(sent) >= hold_after:
                self._hold(route)
                return True
            if len(sent) == step.get("pause_after"):
                step["release"].wait(HOLD_LIMIT)
            return False

        try:
            if route == "anthropic":
                self._event({"type": "message_start", "message": {
                    "id": "msg_fake", "type": "message", "role": "assistant", "content": [],
                    "model": body["model"], "stop_reason": None,
                    "usage": {"input_tokens": usage_in, "output_tokens": 1}}}, "message_start")
                self._event({"type": "content_block_start", "index": 0,
                             "content_block": {"type": "text", "text": ""}}, "content_block_start")
                self._event({"type": "ping"}, "ping")
                for t in tokens:
                    self._event({"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": t}}, "content_block_delta")
                    sent.append(t)
                    if maybe_hold():
                        return
                self._event({"type": "content_block_stop", "index": 0}, "content_block_stop")
                for i, c in enumerate(calls, start=1):
                    self._event({"type": "content_block_start", "index": i, "content_block": {
                        "type": "tool_use", "id": f"toolu_{len(self.owner.calls)}_{i}", "name": c["name"],
                        "input": {}}}, "content_block_start")
                    raw = json.dumps(c["arguments"])
                    for piece in (raw[:len(raw) // 2], raw[len(raw) // 2:]):
                        self._event({"type": "content_block_delta", "index": i,
                                     "delta": {"type": "input_json_delta", "partial_json": piece}},
                                    "content_block_delta")
                    self._event({"type": "content_block_stop", "index": i}, "content_block_stop")
                stop = "tool_use" if calls else "end_turn"
                self._event({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                             "usage": {"output_tokens": usage_out}}, "message_delta")
                self._event({"type": "message_stop"}, "message_stop")
            elif route == "gemini":
                if calls:
                    self._event({"candidates": [{"content": {"role": "model", "parts": [
                        {"functionCall": {"name": c["name"], "args": c["arguments"]},
                         "thoughtSignature": f"sig-{c['name']}"} for c in calls]}, "finishReason": "STOP"}],
                        "usageMetadata": {"promptTokenCount": usage_in, "candidatesTokenCount": usage_out,
                                          "totalTokenCount": usage_in + usage_out}})
                for i, t in enumerate(tokens):
                    last = i == len(tokens) - 1
                    self._event({"candidates": [{"content": {"parts": [{"text": t}], "role": "model"},
                                                 **({"finishReason": "STOP"} if last else {})}],
                                 "usageMetadata": {"promptTokenCount": usage_in,
                                                   "candidatesTokenCount": usage_out if last else i + 1,
                                                   "totalTokenCount": usage_in + (usage_out if last else i + 1)}})
                    sent.append(t)
                    if maybe_hold():
                        return
            elif route == "workers-ai":
                for t in tokens:
                    self._event({"response": t, "p": "abc"})
                    sent.append(t)
                    if maybe_hold():
                        return
                self._event({"response": "", "usage": {"prompt_tokens": usage_in, "completion_tokens": usage_out,
                                                        "total_tokens": usage_in + usage_out}})
                self._event("[DONE]")
            else:
                base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1,
                        "model": body.get("model", "deployment")}
                self._event(base | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                 "finish_reason": None}], "usage": None})
                for t in tokens:
                    self._event(base | {"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}],
                                        "usage": None})
                    sent.append(t)
                    if maybe_hold():
                        return
                for i, c in enumerate(calls):
                    raw = json.dumps(c["arguments"])
                    self._event(base | {"choices": [{"index": 0, "delta": {"tool_calls": [
                        {"index": i, "id": f"call_{len(self.owner.calls)}_{i}", "type": "function",
                         "function": {"name": c["name"], "arguments": ""}}]}, "finish_reason": None}], "usage": None})
                    for piece in (raw[:len(raw) // 2], raw[len(raw) // 2:]):
                        self._event(base | {"choices": [{"index": 0, "delta": {"tool_calls": [
                            {"index": i, "function": {"arguments": piece}}]}, "finish_reason": None}], "usage": None})
                finish = "tool_calls" if calls else "stop"
                self._event(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}], "usage": None})
                self._event(base | {"choices": [], "usage": {"prompt_tokens": usage_in, "completion_tokens": usage_out,
                                                             "total_tokens": usage_in + usage_out}})
                self._event("[DONE]")
        except (BrokenPipeError, ConnectionResetError):
            self.owner._mark_closed(route)

    def _embed(self, route: str, body: dict[str, Any]) -> None:
        step = self.owner.next_step(route + ":embed")
        if "status" in step:
            self._send(step["status"], {"error": {"message": "embedding failed"}})
            return
        texts = body.get("text") if route == "workers-ai" else body.get("input") if route in ("openai", "azure") \
            else [r["content"]["parts"][0]["text"] for r in body.get("requests", [])]
        if not (isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts)):
            self._shape(False, f"{route}: embeddings take a list of texts")
            return
        self.owner.embedded.extend(texts)
        words = self.owner.vocabulary
        vectors = ([[float(t.lower().count(w)) for w in words] + [0.1] for t in texts] if words
                   else [[float(len(t)), float(i), 0.5] for i, t in enumerate(texts)])
        if route == "workers-ai":
            self._send(200, {"result": {"shape": [len(texts), 3], "data": vectors}, "success": True,
                             "errors": [], "messages": []})
        elif route == "gemini":
            self._send(200, {"embeddings": [{"values": v} for v in vectors]})
        else:
            self._send(200, {"object": "list", "data": [{"object": "embedding", "index": i, "embedding": v}
                                                       for i, v in enumerate(vectors)],
                             "model": body.get("model", ""), "usage": {"prompt_tokens": 7, "total_tokens": 7}})
