"""agent-worker's AI routes (internal: `X-Internal-Auth-Key`), on the fallback chain of `chain`.

- `POST /agent/chat` `{"message" | "messages", "system"?, "prompt"?, "maxTokens"?, "stream"?, "desk"?}`
  (`desk`: a question about the trader's desk, answered through the read-only ledger tools of
  `ai.tools` where the provider calls tools, else with the ledger's facts, `ai.desk`): SSE
  (`stream` true, the default): `provider` (who serves, the trail before it), `tool`s (each tool
  call of a desk question: name, arguments, ok or error), `token`s as they arrive, then `usage`
  (tokens, cost, latency, trail, tools, and for a desk question `grounding` tools | facts); or
  `error` (code, message, trail). A client
  that goes away cancels the upstream call. `stream: false`: one JSON answer.
- `POST /agent/reasoning` `{"question", "context"?}`: a step-by-step answer (JSON).
- `POST /agent/vision` `{"image": base64, "mimeType", "prompt"?}`: only providers that take images.
- `POST /agent/embedding` `{"texts": [...]}`.
- `GET /agent/models`, `POST /agent/test-model` `{"provider"}`, `GET /agent/health` (each provider, and
  the desk memory: fills embedded, pending, failing, the embedding providers, `ai.memory`),
  `GET /agent/usage?since=YYYY-MM-DD`, `GET|POST /agent/prompts` (versioned system prompts),
  `GET|POST /agent/ai-config` (KV agent:config, validated; `/agent/config` is the risk manager's).
Provider keys are secrets: never in KV, an answer or an error (error texts are redacted).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncGenerator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hoox_edge.ai import chain, memory
from hoox_edge.ai.config import MAX_PROMPT_CHARS, MAX_PROMPT_VERSIONS
from hoox_edge.ai.wire import ChatRequest, Image
from hoox_edge.operator.params import Params, invalid, json_object
from hoox_edge.ports import Env
from hoox_edge.shared import clock, settings
from hoox_edge.shared.app import env_of, request_id_of
from hoox_edge.shared.auth import require_internal
from hoox_edge.shared.errors import NOT_AVAILABLE, VALIDATION_ERROR, ApiError, ok
from hoox_edge.shared.streaming import EventStreamResponse

MAX_MESSAGES = 50
MAX_MESSAGE_CHARS = 20_000
DEFAULT_SYSTEM = ("You are the trading desk assistant of hoox. Answer briefly and plainly. You never place, "
                  "change or close orders; you may suggest a hoox command for the operator to run.")
REASONING_SYSTEM = ("Reason step by step about the question, then give a short conclusion on its own line "
                    "starting with 'Conclusion:'. Say plainly what you do not know.")
IMAGE_MIMES = ("image/png", "image/jpeg", "image/webp", "image/gif")


def _text(body: dict[str, Any], name: str, maximum: int, *, required: bool = True) -> str:
    v = body.get(name)
    if v is None and not required:
        return ""
    if not isinstance(v, str) or not v.strip():
        raise invalid(name, "must be a non-empty string", v)
    if len(v) > maximum:
        raise invalid(name, f"must be at most {maximum} characters", quote=False)
    return v


def _messages(body: dict[str, Any]) -> list[dict[str, str]]:
    if "messages" in body:
        msgs = body["messages"]
        if not isinstance(msgs, list) or not 1 <= len(msgs) <= MAX_MESSAGES:
            raise invalid("messages", f"must be a list of 1 to {MAX_MESSAGES} {{role, content}}", quote=False)
        out = []
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ("user", "assistant") \
                    or not isinstance(m.get("content"), str) or not m["content"].strip():
                raise invalid(f"messages[{i}]", "must be {role: user|assistant, content: non-empty string}",
                              quote=False)
            if len(m["content"]) > MAX_MESSAGE_CHARS:
                raise invalid(f"messages[{i}].content", f"must be at most {MAX_MESSAGE_CHARS} characters",
                              quote=False)
            out.append({"role": m["role"], "content": m["content"]})
        if out[-1]["role"] != "user":
            raise invalid("messages", "must end with a user message", quote=False)
        return out
    return [{"role": "user", "content": _text(body, "message", MAX_MESSAGE_CHARS)}]


def _max_tokens(body: dict[str, Any]) -> int:
    v = body.get("maxTokens", 1024)
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 8192:
        raise invalid("maxTokens", "must be a whole number from 1 to 8192", v)
    return v


async def _system(env: Env, body: dict[str, Any], default: str) -> str:
    if body.get("prompt") is not None:
        name = body["prompt"]
        prompts = await settings.get(env.CONFIG_KV, chain.PROMPTS)
        if not isinstance(name, str) or name not in prompts:
            raise invalid("prompt", f"must name a stored prompt ({', '.join(sorted(prompts)) or 'none stored'})",
                          name)
        return str(prompts[name][-1]["text"])
    return _text(body, "system", MAX_PROMPT_CHARS, required=False) or default


def _sse(ev: dict[str, Any]) -> bytes:
    payload = {k: v for k, v in ev.items() if k != "event"}
    return f"event: {ev['event']}\ndata: {json.dumps(payload)}\n\n".encode()


def _answer(result: dict[str, Any], rid: str) -> JSONResponse:
    if result.get("event") == "error":
        status = 503 if result["code"] == NOT_AVAILABLE else 502
        raise ApiError(status, result["code"], result["message"], details=result["trail"])
    return ok(result, request_id=rid)


async def chat(request: Request) -> Response:
    require_internal(request)
    Params(request)
    env = env_of(request)
    body = await json_object(request, "message", "messages", "system", "prompt", "maxTokens", "stream", "desk")
    system = await _system(env, body, DEFAULT_SYSTEM)
    if not isinstance(body.get("desk", False), bool):
        raise invalid("desk", "must be true or false", body.get("desk"))
    # desk: a question about the trader's own desk, answered from the ledger (ai.desk, ai.tools)
    req = ChatRequest(messages=_messages(body), system=system, max_tokens=_max_tokens(body),
                      desk=bool(body.get("desk")))
    stream = body.get("stream", True)
    if not isinstance(stream, bool):
        raise invalid("stream", "must be true or false", stream)
    if not stream:
        return _answer(await chain.collect(chain.chat_events(env, req)), request_id_of(request))

    async def events() -> AsyncGenerator[bytes, None]:
        async for ev in chain.chat_events(env, req):
            yield _sse(ev)

    return EventStreamResponse(events())  # not Starlette's StreamingResponse: it fails on Pyodide (no ssl)


async def reasoning(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    env = env_of(request)
    body = await json_object(request, "question", "context", "maxTokens", required=("question",))
    question = _text(body, "question", MAX_MESSAGE_CHARS)
    context = _text(body, "context", MAX_MESSAGE_CHARS, required=False)
    content = f"Context:\n{context}\n\nQuestion: {question}" if context else question
    req = ChatRequest(messages=[{"role": "user", "content": content}], system=REASONING_SYSTEM,
                      max_tokens=_max_tokens(body | {"maxTokens": body.get("maxTokens", 2048)}))
    return _answer(await chain.collect(chain.chat_events(env, req)), request_id_of(request))


async def vision(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    env = env_of(request)
    cfg = await chain.load_config(env)
    # base64 is 4/3 of the bytes; the body limit follows the configured image limit
    from hoox_edge.shared.bodies import parse_json, read_body

    raw = await read_body(request, limit=cfg.max_image_bytes * 4 // 3 + 64 * 1024)
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise invalid("(body)", "must be a JSON object with image, mimeType, prompt", quote=False)
    for name in body:
        if name not in ("image", "mimeType", "prompt", "maxTokens"):
            raise invalid(str(name)[:40], "not a field of this route (it takes: image, mimeType, prompt, maxTokens)",
                          quote=False)
    mime = body.get("mimeType")
    if mime not in IMAGE_MIMES:
        raise invalid("mimeType", f"must be one of {', '.join(IMAGE_MIMES)}", mime)
    if not isinstance(body.get("image"), str) or not body["image"]:
        raise invalid("image", "must be the image's bytes in base64", quote=False)
    try:
        data = base64.b64decode(body["image"], validate=True)
    except (binascii.Error, ValueError):
        raise invalid("image", "is not valid base64", quote=False) from None
    if len(data) > cfg.max_image_bytes:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"image: {len(data)} bytes is more than the limit of "
                       f"{cfg.max_image_bytes} (agent:config maxImageBytes).",
                       [{"field": "image", "issue": f"at most {cfg.max_image_bytes} bytes"}])
    prompt = _text(body, "prompt", MAX_MESSAGE_CHARS, required=False) or "Describe this chart for a trader."
    req = ChatRequest(messages=[{"role": "user", "content": prompt}], system=DEFAULT_SYSTEM,
                      image=Image(mime, data), max_tokens=_max_tokens(body))
    return _answer(await chain.collect(chain.chat_events(env, req)), request_id_of(request))


async def embedding(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    body = await json_object(request, "texts", required=("texts",))
    texts = body["texts"]
    if not isinstance(texts, list) or not 1 <= len(texts) <= 100 or not all(
            isinstance(t, str) and t.strip() and len(t) <= MAX_MESSAGE_CHARS for t in texts):
        raise invalid("texts", f"must be a list of 1 to 100 non-empty strings of at most {MAX_MESSAGE_CHARS} "
                      "characters", quote=False)
    return _answer(await chain.embed(env_of(request), texts), request_id_of(request))


async def models(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    env = env_of(request)
    cfg = await chain.load_config(env)
    out = []
    for spec in cfg.providers:
        _, why = chain.key_of(env, spec)
        out.append(spec.public() | {"configured": why is None, "notConfiguredReason": why,
                                    "capabilities": ["chat", "reasoning"] + (["vision"] if spec.images else [])
                                    + (["embedding"] if spec.embedding_model else [])
                                    + (["tools"] if spec.tools else [])})
    return ok({"providers": out}, request_id=request_id_of(request))


async def test_model(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    env = env_of(request)
    body = await json_object(request, "provider", "message", required=("provider",))
    cfg = await chain.load_config(env)
    name = body["provider"]
    if not isinstance(name, str) or cfg.provider(name) is None:
        raise invalid("provider", f"must be one of {', '.join(p.name for p in cfg.providers)}", name)
    message = _text(body, "message", 2000, required=False) or "Reply with the single word: ok"
    req = ChatRequest(messages=[{"role": "user", "content": message}], max_tokens=32)
    result = await chain.collect(chain.chat_events(env, req, only=name))
    if result.get("event") == "error":
        failure = result["trail"][0] if result["trail"] else {"error": result["code"], "message": result["message"]}
        return ok({"provider": name, "ok": False, "error": failure["error"], "message": failure["message"]},
                  request_id=request_id_of(request))
    return ok({"provider": name, "ok": True, "model": result["model"], "text": result["text"],
               "latencyMs": result["latencyMs"], "usage": result["usage"]}, request_id=request_id_of(request))


async def health(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    env = env_of(request)
    cfg = await chain.load_config(env)
    embedders = [p.name for p in chain.embedders(env, cfg)]
    mem = await memory.status(env) | {"embeddingProviders": embedders}
    if not mem["available"]:
        mem["reason"] = f"agent-worker has no {memory.BINDING} binding"
    elif not embedders:
        mem["reason"] = memory.NO_EMBEDDER
    return ok({"providers": await chain.health(env), "memory": mem}, request_id=request_id_of(request))


async def usage(request: Request) -> JSONResponse:
    require_internal(request)
    p = Params(request, "since")
    since = p.get("since")
    if since is not None and not (len(since) == 10 and since[4] == "-" and since[7] == "-"
                                  and since.replace("-", "").isdigit()):
        raise invalid("since", "must be a day YYYY-MM-DD", since)
    return ok({"days": await chain.usage(env_of(request), since)}, request_id=request_id_of(request))


async def prompts_get(request: Request) -> JSONResponse:
    require_internal(request)
    p = Params(request, "name")
    stored = await settings.get(env_of(request).CONFIG_KV, chain.PROMPTS)
    name = p.get("name")
    if name is not None:
        if name not in stored:
            raise ApiError(404, "NOT_FOUND", f"No prompt named {name[:40]!r}.")
        return ok({"name": name, "versions": stored[name]}, request_id=request_id_of(request))
    return ok({"prompts": [{"name": n, "version": v[-1]["version"], "at": v[-1]["at"], "text": v[-1]["text"],
                            "versions": len(v)} for n, v in sorted(stored.items())]},
              request_id=request_id_of(request))


async def prompts_post(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    env = env_of(request)
    body = await json_object(request, "name", "text", required=("name", "text"))
    name, text = body["name"], _text(body, "text", MAX_PROMPT_CHARS)
    if not isinstance(name, str):
        raise invalid("name", "must be 1-40 of a-z, 0-9, - and _", name)
    stored = await settings.get(env.CONFIG_KV, chain.PROMPTS)
    versions = list(stored.get(name, []))
    number = versions[-1]["version"] + 1 if versions else 1
    versions = [*versions, {"version": number, "text": text, "at": clock.iso()}][-MAX_PROMPT_VERSIONS:]
    try:
        await settings.put(env.CONFIG_KV, chain.PROMPTS, stored | {name: versions})
    except settings.SettingError as exc:
        raise ApiError(400, VALIDATION_ERROR, f"name: {exc.message}", [{"field": "name", "issue": exc.message}]
                       ) from None
    return ok({"name": name, "version": number}, request_id=request_id_of(request))


async def ai_config_get(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    env = env_of(request)
    return ok({"key": chain.CONFIG, "value": await settings.get(env.CONFIG_KV, chain.CONFIG)},
              request_id=request_id_of(request))


async def ai_config_set(request: Request) -> JSONResponse:
    require_internal(request)
    Params(request)
    env = env_of(request)
    body = await json_object(request, "value", required=("value",))
    try:
        await settings.put(env.CONFIG_KV, chain.CONFIG, body["value"])
    except settings.SettingError as exc:
        raise ApiError(400, VALIDATION_ERROR, str(exc), [{"field": "value", "issue": exc.message}]) from None
    return ok({"key": chain.CONFIG, "value": body["value"]}, request_id=request_id_of(request))


ROUTES = [
    Route("/agent/chat", chat, methods=["POST"]),
    Route("/agent/reasoning", reasoning, methods=["POST"]),
    Route("/agent/vision", vision, methods=["POST"]),
    Route("/agent/embedding", embedding, methods=["POST"]),
    Route("/agent/models", models, methods=["GET"]),
    Route("/agent/test-model", test_model, methods=["POST"]),
    Route("/agent/health", health, methods=["GET"]),
    Route("/agent/usage", usage, methods=["GET"]),
    Route("/agent/prompts", prompts_get, methods=["GET"]),
    Route("/agent/prompts", prompts_post, methods=["POST"]),
    Route("/agent/ai-config", ai_config_get, methods=["GET"]),
    Route("/agent/ai-config", ai_config_set, methods=["POST"]),
]
