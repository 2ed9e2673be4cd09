"""AI providers on their own wire formats, behind one interface: `stream_chat` yields text as it
arrives and one `Usage` (the provider's own token counts); `embed` returns vectors.

Kinds and what they speak (each provider's documented API):
- `anthropic`: Messages API, `POST {base}/v1/messages` (`x-api-key`, `anthropic-version: 2023-06-01`),
  SSE events `message_start` (usage.input_tokens), `content_block_delta` (`text_delta`),
  `message_delta` (usage.output_tokens, cumulative), `message_stop`, `error`, `ping`;
- `gemini`: `POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse` (`x-goog-api-key`), each
  SSE `data:` a GenerateContentResponse (candidates[0].content.parts[].text, `usageMetadata`
  promptTokenCount / candidatesTokenCount; no [DONE]); embeddings `:embedContent`;
- `openai`, `openai-compatible` (Ollama, llama.cpp, ... at their `/v1`), `azure-openai` (deployment URL,
  `api-key` header): Chat Completions with `stream_options.include_usage`, `data:` chunks with
  choices[0].delta.content, a last chunk with `usage` (prompt_tokens, completion_tokens), `data: [DONE]`;
  embeddings `POST {base}/embeddings`;
- `workers-ai`: Cloudflare's REST API `POST {base}/accounts/{account}/ai/run/{model}` (Bearer API
  token), `stream: true` gives SSE `data: {"response": ...}` and a last `usage`, then `[DONE]`;
  embeddings with `{"text": [...]}` → `result.data`.

Tool calling (`ChatRequest.tools`, on kinds whose provider config has `tools`), each kind its own way:
Anthropic `tools` [{name, description, input_schema}], streamed `content_block_start` of a `tool_use`
block and its `input_json_delta`s, answered with `tool_result` blocks in a user turn; Chat Completions
`tools` [{type: function, function}], streamed `delta.tool_calls` (by index, arguments in pieces),
answered with role `tool` messages; Gemini `tools` [{functionDeclarations}], whole `functionCall`
parts, answered with `functionResponse` parts (the model's part sent back as it came, with any
`thoughtSignature`). `tools_off` sends the tools with the kind's own "call none" choice (Anthropic
`tool_choice {type: none}`, OpenAI `tool_choice: none`, Gemini `functionCallingConfig.mode NONE`): the
last round of a bounded tool loop. The transcript in `ChatRequest.messages` holds, besides
{role, content}, assistant turns with `tool_calls` and {role: "tool", results} turns.

Errors are `ProviderError`s that never carry the key: a kind (`timeout`, `rate_limited`,
`server_error`, `client_error`, `unreachable`, `bad_response`), the HTTP status and `retry-after`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from hoox_edge.ai.config import (  # noqa: F401  (re-exported: the kinds belong with their wire formats)
    DEFAULT_BASE,
    DEFAULT_KEY_SECRET,
    IMAGES_BY_DEFAULT,
    KEY_SECRETS,
    KINDS,
    TOOL_KINDS,
    TOOLS_BY_DEFAULT,
)

AZURE_API_VERSION = "2024-10-21"
ANTHROPIC_VERSION = "2023-06-01"


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments (type object)


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any] | None  # None: the model sent arguments that are not a JSON object
    raw: dict[str, Any] | None = None  # Gemini: the part as it came, sent back as it was


@dataclass(frozen=True)
class ToolResult:
    call: ToolCall
    content: str  # JSON text
    is_error: bool = False


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    kind: str
    model: str
    base_url: str
    key_secret: str  # "" : no key (a local OpenAI-compatible server)
    timeout_ms: int
    retries: int
    images: bool
    embedding_model: str = ""
    account_id: str = ""  # workers-ai
    tools: bool = False  # offered tool calling (the kinds of TOOL_KINDS only)

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "model": self.model, "baseUrl": self.base_url,
                "keySecret": self.key_secret or None, "timeoutMs": self.timeout_ms, "retries": self.retries,
                "images": self.images, "embeddingModel": self.embedding_model or None, "tools": self.tools}


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class Image:
    mime: str
    data: bytes


@dataclass
class ChatRequest:
    # [{"role": "user"|"assistant", "content": str}], and in a tool loop assistant turns with
    # "tool_calls": [ToolCall] and {"role": "tool", "results": [ToolResult]} turns
    messages: list[dict[str, Any]]
    system: str = ""
    image: Image | None = None
    max_tokens: int = 1024
    tools: tuple[ToolSpec, ...] = ()
    tools_off: bool = False  # tools sent, the model told to call none
    desk: bool = False  # a question about the trader's desk (ai.desk grounds it)


class ProviderError(Exception):
    def __init__(self, kind: str, message: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in ("rate_limited", "server_error")

    def describe(self) -> str:
        return f"{self.kind}: {self.message}"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: treated as no hint
    return seconds if seconds >= 0 else None


def _problem_text(raw: bytes) -> str:
    """A short reason from a provider's error body (each nests `error.message` / `message`)."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return raw[:200].decode("utf-8", "replace").strip() or "no body"
    if isinstance(doc, list) and doc:
        doc = doc[0]
    if isinstance(doc, dict):
        err = doc.get("error") if isinstance(doc.get("error"), dict) else doc
        if isinstance(doc.get("errors"), list) and doc["errors"]:
            err = doc["errors"][0]
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"][:200]
    return "error body without a message"


def status_error(status: int, headers: httpx.Headers, raw: bytes) -> ProviderError:
    reason = _problem_text(raw)
    if status == 429:
        return ProviderError("rate_limited", f"HTTP 429 ({reason})", status=status,
                             retry_after=_retry_after(headers.get("retry-after")))
    if status >= 500:
        return ProviderError("server_error", f"HTTP {status} ({reason})", status=status,
                             retry_after=_retry_after(headers.get("retry-after")))
    return ProviderError("client_error", f"HTTP {status} ({reason})", status=status)


# --------------------------------------------------------------------------- requests
def _arguments_text(call: ToolCall) -> str:
    return json.dumps(call.arguments if call.arguments is not None else {})


def _anthropic_messages(req: ChatRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in req.messages:
        if m.get("tool_calls"):
            blocks: list[dict[str, Any]] = [{"type": "text", "text": m["content"]}] if m.get("content") else []
            blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments or {}}
                       for c in m["tool_calls"]]
            out.append({"role": "assistant", "content": blocks})
        elif m["role"] == "tool":
            out.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": r.call.id, "content": r.content, "is_error": r.is_error}
                for r in m["results"]]})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


def _gemini_contents(req: ChatRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in req.messages:
        if m.get("tool_calls"):
            parts: list[dict[str, Any]] = [{"text": m["content"]}] if m.get("content") else []
            parts += [c.raw or {"functionCall": {"name": c.name, "args": c.arguments or {}}} for c in m["tool_calls"]]
            out.append({"role": "model", "parts": parts})
        elif m["role"] == "tool":
            out.append({"role": "user", "parts": [
                {"functionResponse": {"name": r.call.name, "response": _gemini_response(r)}} for r in m["results"]]})
        else:
            out.append({"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]})
    return out


def _gemini_response(r: ToolResult) -> dict[str, Any]:
    """functionResponse.response is a JSON object: the result under `result`, a failure under `error`."""
    try:
        value = json.loads(r.content)
    except ValueError:
        value = r.content
    return {"error": value} if r.is_error else {"result": value}


def _text_messages(req: ChatRequest, kind: str) -> list[dict[str, Any]]:
    """The transcript as Chat Completions messages (also Workers AI's text chat)."""
    out: list[dict[str, Any]] = []
    if req.system and kind not in ("anthropic", "gemini"):
        out.append({"role": "system", "content": req.system})
    for m in req.messages:
        if m.get("tool_calls"):
            out.append({"role": "assistant", "content": m.get("content") or None, "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": _arguments_text(c)}}
                for c in m["tool_calls"]]})
        elif m["role"] == "tool":
            out.extend({"role": "tool", "tool_call_id": r.call.id, "content": r.content} for r in m["results"])
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


def _add_tools(kind: str, req: ChatRequest, body: dict[str, Any]) -> None:
    if not req.tools:
        return
    if kind == "anthropic":
        body["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.parameters}
                         for t in req.tools]
        body["tool_choice"] = {"type": "none" if req.tools_off else "auto"}
    elif kind == "gemini":
        body["tools"] = [{"functionDeclarations": [{"name": t.name, "description": t.description,
                                                    "parameters": t.parameters} for t in req.tools]}]
        body["toolConfig"] = {"functionCallingConfig": {"mode": "NONE" if req.tools_off else "AUTO"}}
    else:
        body["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                           "parameters": t.parameters}} for t in req.tools]
        body["tool_choice"] = "none" if req.tools_off else "auto"


def chat_call(spec: ProviderSpec, key: str, req: ChatRequest) -> tuple[str, dict[str, str], dict[str, Any]]:
    """URL, headers and JSON body of a streamed chat call to `spec`."""
    base = spec.base_url.rstrip("/")
    headers = {"content-type": "application/json"}
    b64 = base64.b64encode(req.image.data).decode() if req.image else ""
    if spec.kind == "anthropic":
        headers |= {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}
        messages = _anthropic_messages(req)
        if req.image is not None:
            last = messages[-1]
            last["content"] = [{"type": "image", "source": {"type": "base64", "media_type": req.image.mime,
                                                             "data": b64}},
                               {"type": "text", "text": last["content"]}]
        body: dict[str, Any] = {"model": spec.model, "max_tokens": req.max_tokens, "stream": True,
                                "messages": messages}
        if req.system:
            body["system"] = req.system
        _add_tools(spec.kind, req, body)
        return f"{base}/v1/messages", headers, body
    if spec.kind == "gemini":
        headers["x-goog-api-key"] = key
        contents = _gemini_contents(req)
        if req.image is not None:
            contents[-1]["parts"].insert(0, {"inline_data": {"mime_type": req.image.mime, "data": b64}})
        body = {"contents": contents, "generationConfig": {"maxOutputTokens": req.max_tokens}}
        if req.system:
            body["systemInstruction"] = {"parts": [{"text": req.system}]}
        _add_tools(spec.kind, req, body)
        return f"{base}/v1beta/models/{spec.model}:streamGenerateContent?alt=sse", headers, body
    if spec.kind == "workers-ai":
        headers["authorization"] = f"Bearer {key}"
        body = {"messages": _text_messages(req, spec.kind), "stream": True, "max_tokens": req.max_tokens}
        return f"{base}/accounts/{spec.account_id}/ai/run/{spec.model}", headers, body
    # The Chat Completions family.
    messages = _text_messages(req, spec.kind)
    if req.image is not None:
        last = messages[-1]
        last["content"] = [{"type": "text", "text": last["content"]},
                           {"type": "image_url", "image_url": {"url": f"data:{req.image.mime};base64,{b64}"}}]
    body = {"model": spec.model, "messages": messages, "stream": True,
            "stream_options": {"include_usage": True}, "max_tokens": req.max_tokens}
    _add_tools(spec.kind, req, body)
    if spec.kind == "azure-openai":
        headers["api-key"] = key
        body.pop("model")  # the deployment in the URL names it
        return (f"{base}/openai/deployments/{spec.model}/chat/completions?api-version={AZURE_API_VERSION}",
                headers, body)
    if key:
        headers["authorization"] = f"Bearer {key}"
    return f"{base}/chat/completions", headers, body


# --------------------------------------------------------------------------- streams
async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(event, data) of each Server-Sent Event of `response` as it arrives."""
    event, data = "", list[str]()
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield event or "message", "\n".join(data)
            event, data = "", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield event or "message", "\n".join(data)


def _json(data: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError:
        raise ProviderError("bad_response", "a stream event that is not JSON") from None
    if not isinstance(doc, dict):
        raise ProviderError("bad_response", "a stream event that is not a JSON object")
    return doc


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0


def _tool_call(call_id: str, name: Any, arguments: str | dict[str, Any] | None,
               raw: dict[str, Any] | None = None) -> ToolCall:
    """A tool call as the model sent it; arguments that are not a JSON object are kept as None (the
    tool loop tells the model so)."""
    args: Any = arguments
    if isinstance(arguments, str):
        try:
            args = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            args = None
    return ToolCall(call_id, name if isinstance(name, str) else "", args if isinstance(args, dict) else None, raw)


async def _parse(kind: str, response: httpx.Response) -> AsyncIterator[str | ToolCall | Usage]:
    usage = Usage()
    blocks: dict[int, dict[str, Any]] = {}  # Anthropic tool_use blocks / Chat Completions tool calls, by index
    calls = 0
    async for event, data in sse_events(response):
        if data.strip() == "[DONE]":
            break
        if kind == "anthropic":
            doc = _json(data)
            kind_of = doc.get("type", event)
            if kind_of == "message_start":
                u = (doc.get("message") or {}).get("usage") or {}
                usage.input_tokens = _int(u.get("input_tokens"))
                usage.output_tokens = _int(u.get("output_tokens"))
            elif kind_of == "content_block_start":
                block = doc.get("content_block") or {}
                if block.get("type") == "tool_use":
                    blocks[_int(doc.get("index"))] = {"id": str(block.get("id", "")), "name": block.get("name"),
                                                      "json": []}
            elif kind_of == "content_block_delta":
                delta = doc.get("delta") or {}
                if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                    yield delta["text"]
                elif delta.get("type") == "input_json_delta" and _int(doc.get("index")) in blocks:
                    blocks[_int(doc.get("index"))]["json"].append(str(delta.get("partial_json", "")))
            elif kind_of == "content_block_stop":
                block = blocks.pop(_int(doc.get("index")), None)
                if block is not None:
                    yield _tool_call(block["id"], block["name"], "".join(block["json"]))
            elif kind_of == "message_delta":
                u = doc.get("usage") or {}
                if "output_tokens" in u:
                    usage.output_tokens = _int(u["output_tokens"])  # cumulative
                if "input_tokens" in u:
                    usage.input_tokens = _int(u["input_tokens"])
            elif kind_of == "error":
                err = doc.get("error") or {}
                kind_name = "rate_limited" if err.get("type") == "overloaded_error" else "server_error"
                raise ProviderError(kind_name, f"stream error ({str(err.get('message', ''))[:200]})")
            elif kind_of == "message_stop":
                break
        elif kind == "gemini":
            doc = _json(data)
            for cand in (doc.get("candidates") or [])[:1]:
                for part in ((cand.get("content") or {}).get("parts") or []):
                    if isinstance(part.get("functionCall"), dict):
                        fc = part["functionCall"]
                        calls += 1
                        args = fc.get("args") if isinstance(fc.get("args"), dict) else {} if "args" not in fc else None
                        yield _tool_call(str(fc.get("id") or f"call_{calls}"), fc.get("name"), args, raw=part)
                    elif isinstance(part.get("text"), str) and part["text"]:
                        yield part["text"]
            meta = doc.get("usageMetadata")
            if isinstance(meta, dict):  # each chunk carries the running totals: the last one counts
                usage.input_tokens = _int(meta.get("promptTokenCount"))
                usage.output_tokens = _int(meta.get("candidatesTokenCount"))
        elif kind == "workers-ai":
            doc = _json(data)
            if isinstance(doc.get("response"), str) and doc["response"]:
                yield doc["response"]
            u = doc.get("usage")
            if isinstance(u, dict):
                usage.input_tokens = _int(u.get("prompt_tokens"))
                usage.output_tokens = _int(u.get("completion_tokens"))
        else:
            doc = _json(data)
            for choice in (doc.get("choices") or [])[:1]:
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if isinstance(text, str) and text:
                    yield text
                for tc in delta.get("tool_calls") or []:  # the id and name come first, the arguments in pieces
                    entry = blocks.setdefault(_int(tc.get("index")), {"id": "", "name": None, "json": []})
                    fn = tc.get("function") or {}
                    entry["id"] = tc.get("id") or entry["id"]
                    entry["name"] = fn.get("name") or entry["name"]
                    entry["json"].append(str(fn.get("arguments") or ""))
            u = doc.get("usage")
            if isinstance(u, dict):
                usage.input_tokens = _int(u.get("prompt_tokens"))
                usage.output_tokens = _int(u.get("completion_tokens"))
    if kind not in ("anthropic", "gemini"):
        for index in sorted(blocks):
            b = blocks[index]
            yield _tool_call(b["id"] or f"call_{index}", b["name"], "".join(b["json"]))
    yield usage


async def stream_chat(client: httpx.AsyncClient, spec: ProviderSpec, key: str,
                      req: ChatRequest) -> AsyncGenerator[str | ToolCall | Usage, None]:
    """Text pieces as the provider sends them, the tool calls it asks for, then one Usage. Raises
    ProviderError."""
    url, headers, body = chat_call(spec, key, req)
    timeout = spec.timeout_ms / 1000
    try:
        async with client.stream("POST", url, headers=headers, json=body, timeout=timeout) as response:
            if response.status_code != 200:
                raise status_error(response.status_code, response.headers, await response.aread())
            async for item in _parse(spec.kind, response):
                yield item
    except httpx.TimeoutException:
        raise ProviderError("timeout", f"no answer within {spec.timeout_ms} ms") from None
    except httpx.TransportError as exc:
        raise ProviderError("unreachable", f"{type(exc).__name__}") from None


# --------------------------------------------------------------------------- embeddings
EMBEDDING_KINDS = ("workers-ai", "gemini", "openai", "azure-openai", "openai-compatible")


async def embed(client: httpx.AsyncClient, spec: ProviderSpec, key: str,
                texts: list[str]) -> tuple[list[list[float]], Usage]:
    base = spec.base_url.rstrip("/")
    model = spec.embedding_model
    headers = {"content-type": "application/json"}
    body: dict[str, Any]
    if spec.kind == "workers-ai":
        headers["authorization"] = f"Bearer {key}"
        url, body = f"{base}/accounts/{spec.account_id}/ai/run/{model}", {"text": texts}
    elif spec.kind == "gemini":
        headers["x-goog-api-key"] = key
        url = f"{base}/v1beta/models/{model}:batchEmbedContents"
        body = {"requests": [{"model": f"models/{model}", "content": {"parts": [{"text": t}]}} for t in texts]}
    elif spec.kind == "azure-openai":
        headers["api-key"] = key
        url = f"{base}/openai/deployments/{model}/embeddings?api-version={AZURE_API_VERSION}"
        body = {"input": texts}
    else:
        if key:
            headers["authorization"] = f"Bearer {key}"
        url, body = f"{base}/embeddings", {"model": model, "input": texts}
    try:
        r = await client.post(url, headers=headers, json=body, timeout=spec.timeout_ms / 1000)
    except httpx.TimeoutException:
        raise ProviderError("timeout", f"no answer within {spec.timeout_ms} ms") from None
    except httpx.TransportError as exc:
        raise ProviderError("unreachable", f"{type(exc).__name__}") from None
    if r.status_code != 200:
        raise status_error(r.status_code, r.headers, r.content)
    doc = _json(r.text)
    usage = Usage()
    try:
        if spec.kind == "workers-ai":
            vectors = doc["result"]["data"]
        elif spec.kind == "gemini":
            vectors = [e["values"] for e in doc["embeddings"]]
        else:
            vectors = [d["embedding"] for d in sorted(doc["data"], key=lambda d: d.get("index", 0))]
            usage.input_tokens = _int((doc.get("usage") or {}).get("prompt_tokens"))
    except (KeyError, TypeError):
        raise ProviderError("bad_response", "an embeddings answer without its vectors") from None
    if len(vectors) != len(texts) or not all(isinstance(v, list) for v in vectors):
        raise ProviderError("bad_response", "an embeddings answer with the wrong number of vectors")
    return [[float(x) for x in v] for v in vectors], usage
