"""The fallback chain: providers in the order of KV `agent:config`, each with its timeout, retries
with backoff on 429/5xx (a `retry-after` honoured up to `maxRetryAfterSeconds`, beyond it the chain
moves on), and a circuit breaker (open after `breaker.threshold` failed calls in a row, one probe
call let through after `breaker.halfOpenSeconds`: success closes it, failure opens it again).

A provider is tried only while nothing was streamed from it: once a token went out, a failure ends
the answer with an error event (the tokens already shown cannot be taken back). Every answer names
the provider that served it and the trail of those that failed or were passed over before it, and
why. When none answers the result is an error with that trail, never a made-up reply.

Breaker state and the last success/latency/error of each provider are in D1 `ai_providers`; tokens
and cost per day, provider and model in `ai_usage` (cost from the price table KV `agent:prices`,
per million tokens; a model without a price has its tokens counted and its cost left out).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field, replace
from typing import Any

from hoox_edge.ai import desk, memory, tools, wire
from hoox_edge.ai.wire import ChatRequest, ProviderError, ProviderSpec, ToolCall, Usage
from hoox_edge.ports import Env
from hoox_edge.shared import clock, settings
from hoox_edge.shared.http import http_client
from hoox_edge.shared.redact import redact

CONFIG = settings.AI_CONFIG
PRICES = settings.AI_PRICES
PROMPTS = settings.AI_PROMPTS
ACCOUNT_VAR = "CLOUDFLARE_ACCOUNT_ID"

@dataclass(frozen=True)
class Config:
    providers: tuple[ProviderSpec, ...]  # in order
    backoff_ms: int
    max_backoff_ms: int
    max_retry_after: int
    threshold: int
    half_open_seconds: int
    max_image_bytes: int
    max_tool_rounds: int
    raw: dict[str, Any]

    def provider(self, name: str) -> ProviderSpec | None:
        return next((p for p in self.providers if p.name == name), None)


def parse_config(value: dict[str, Any], env: Env | None = None) -> Config:
    account = (env.get(ACCOUNT_VAR) if env is not None else "") or ""
    specs = []
    for name in value["order"]:
        p = value["providers"][name]
        kind = p["kind"]
        specs.append(ProviderSpec(
            name=name, kind=kind, model=p["model"], base_url=p.get("baseUrl") or wire.DEFAULT_BASE[kind],
            key_secret=p.get("keySecret", wire.DEFAULT_KEY_SECRET[kind]),
            timeout_ms=p.get("timeoutMs", value.get("timeoutMs", 20000)),
            retries=p.get("retries", value.get("retries", 1)),
            images=p.get("images", wire.IMAGES_BY_DEFAULT.get(kind, False)),
            embedding_model=p.get("embeddingModel", ""), account_id=p.get("accountId") or account,
            tools=p.get("tools", kind in wire.TOOLS_BY_DEFAULT)))
    breaker = value.get("breaker", {})
    return Config(tuple(specs), value.get("backoffMs", 500), value.get("maxBackoffMs", 8000),
                  value.get("maxRetryAfterSeconds", 30), breaker.get("threshold", 3),
                  breaker.get("halfOpenSeconds", 60), value.get("maxImageBytes", 4_000_000),
                  value.get("maxToolRounds", 4), value)


async def load_config(env: Env) -> Config:
    return parse_config(await settings.get(env.CONFIG_KV, CONFIG), env)


def key_of(env: Env, spec: ProviderSpec) -> tuple[str, str | None]:
    """(the key, None) or ("", why this provider cannot be called)."""
    if spec.kind == "workers-ai" and not spec.account_id:
        return "", f"not configured (no accountId and no {ACCOUNT_VAR})"
    if not spec.key_secret:
        return "", None
    key = env.get(spec.key_secret)
    if not isinstance(key, str) or not key:
        return "", f"not configured (secret {spec.key_secret} is not set)"
    return key, None


# --------------------------------------------------------------------------- breaker and health
async def _state(env: Env, name: str) -> dict[str, Any] | None:
    rows = (await env.DB.prepare("SELECT * FROM ai_providers WHERE name = ?").bind(name).all())["results"]
    return rows[0] if rows else None


def breaker_of(row: dict[str, Any] | None, cfg: Config, now: float) -> str:
    if row is None or row["opened_at"] is None:
        return "closed"
    opened = clock.parse(row["opened_at"]) or 0.0
    return "open" if now - opened < cfg.half_open_seconds else "half-open"


async def _claim_probe(env: Env, name: str, row: dict[str, Any] | None) -> bool:
    """Half-open lets one call through: the first request to move `opened_at` on (compare and set)
    is the probe; the breaker then reads open to the others until the probe ends it."""
    if row is None:
        return True
    res = await env.DB.prepare("UPDATE ai_providers SET opened_at = ? WHERE name = ? AND opened_at = ?").bind(
        clock.iso(), name, row["opened_at"]).run()
    return bool(res["meta"].get("changes"))


async def _success(env: Env, name: str, latency_ms: int) -> None:
    now = clock.iso()
    await env.DB.prepare(
        "INSERT INTO ai_providers (name, failures, opened_at, last_success_at, last_latency_ms, last_error, "
        "last_failure_at) VALUES (?, 0, NULL, ?, ?, NULL, NULL) ON CONFLICT(name) DO UPDATE SET failures = 0, "
        "opened_at = NULL, last_success_at = excluded.last_success_at, last_latency_ms = excluded.last_latency_ms"
    ).bind(name, now, latency_ms).run()


async def _failure(env: Env, name: str, cfg: Config, reason: str, half_open: bool) -> None:
    row = await _state(env, name)
    failures = (row["failures"] if row else 0) + 1
    now = clock.iso()
    # A failed half-open probe opens the breaker again at once; a closed one opens at the threshold.
    opened = now if half_open or failures >= cfg.threshold else (row["opened_at"] if row else None)
    await env.DB.prepare(
        "INSERT INTO ai_providers (name, failures, opened_at, last_error, last_failure_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET failures = excluded.failures, opened_at = excluded.opened_at, "
        "last_error = excluded.last_error, last_failure_at = excluded.last_failure_at"
    ).bind(name, failures, opened, reason[:300], now).run()


async def health(env: Env) -> list[dict[str, Any]]:
    cfg = await load_config(env)
    now = clock.now()
    out = []
    for spec in cfg.providers:
        row = await _state(env, spec.name)
        _, why = key_of(env, spec)
        out.append({"provider": spec.name, "kind": spec.kind, "model": spec.model, "configured": why is None,
                    "notConfiguredReason": why, "breaker": breaker_of(row, cfg, now),
                    "consecutiveFailures": row["failures"] if row else 0,
                    "lastSuccessAt": row["last_success_at"] if row else None,
                    "lastLatencyMs": row["last_latency_ms"] if row else None,
                    "lastError": row["last_error"] if row else None,
                    "lastFailureAt": row["last_failure_at"] if row else None})
    return out


# --------------------------------------------------------------------------- usage and cost
async def _record_usage(env: Env, spec: ProviderSpec, model: str, usage: Usage) -> float | None:
    prices = await settings.get(env.CONFIG_KV, PRICES)
    price = prices.get(model)
    cost = (usage.input_tokens * price["input"] + usage.output_tokens * price["output"]) / 1e6 if price else None
    day = clock.iso()[:10]
    await env.DB.prepare(
        "INSERT INTO ai_usage (day, provider, model, requests, input_tokens, output_tokens, cost, unpriced) "
        "VALUES (?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT(day, provider, model) DO UPDATE SET "
        "requests = requests + 1, input_tokens = input_tokens + excluded.input_tokens, "
        "output_tokens = output_tokens + excluded.output_tokens, cost = cost + excluded.cost, "
        "unpriced = unpriced + excluded.unpriced"
    ).bind(day, spec.name, model, usage.input_tokens, usage.output_tokens, cost or 0.0,
           0 if price else 1).run()
    return cost


async def usage(env: Env, since: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM ai_usage" + (" WHERE day >= ?" if since else "") + " ORDER BY day, provider, model"
    stmt = env.DB.prepare(sql)
    rows = (await (stmt.bind(since) if since else stmt).all())["results"]
    return [{"day": r["day"], "provider": r["provider"], "model": r["model"], "requests": r["requests"],
             "inputTokens": r["input_tokens"], "outputTokens": r["output_tokens"],
             # cost covers the priced requests only; `unpricedRequests` says how many had no price
             "cost": round(r["cost"], 8) if r["unpriced"] < r["requests"] else None,
             "unpricedRequests": r["unpriced"]} for r in rows]


# --------------------------------------------------------------------------- the chain
def _fail(spec: ProviderSpec, kind: str, message: str, env: Env) -> dict[str, Any]:
    return {"provider": spec.name, "model": spec.model, "error": kind,
            "message": redact(message, env.secret_values())}


def _scrub(env: Env, exc: ProviderError) -> None:
    """A provider may quote the key it was sent in its error: mask every secret before the text is
    stored (ai_providers.last_error), logged or answered."""
    exc.message = str(redact(exc.message, env.secret_values()))


async def _converse(env: Env, client: Any, spec: ProviderSpec, key: str, req: ChatRequest,
                    max_rounds: int) -> AsyncGenerator[str | dict[str, Any] | Usage, None]:
    """One provider's answer: its text as it streams, then the Usage of all its calls. With tools, a
    round in which the model asks for tools is run to their results (each a `tool` event), which go
    back to it for the next round; after `max_rounds` such rounds it is told to call none and answer."""
    total = Usage()
    messages = list(req.messages)
    rounds = 0
    while True:
        calls: list[ToolCall] = []
        text: list[str] = []
        this = replace(req, messages=messages, tools_off=bool(req.tools) and rounds >= max_rounds)
        async with contextlib.aclosing(wire.stream_chat(client, spec, key, this)) as stream:
            async for item in stream:
                if isinstance(item, Usage):
                    total.input_tokens += item.input_tokens
                    total.output_tokens += item.output_tokens
                elif isinstance(item, ToolCall):
                    calls.append(item)
                else:
                    text.append(item)
                    yield item
        if not calls:
            yield total
            return
        if this.tools_off or not req.tools:
            raise ProviderError("tool_limit", f"asked for tools after {rounds} tool rounds, the limit "
                                f"(agent:config maxToolRounds {max_rounds})" if req.tools else "asked for a tool "
                                "it was not offered")
        rounds += 1
        results = [await tools.run(env, call) for call in calls]
        for r in results:
            yield {"event": "tool", "round": rounds, "name": r.call.name, "arguments": r.call.arguments,
                   "ok": not r.is_error, **({"error": json.loads(r.content)["error"]} if r.is_error else {})}
        messages += [{"role": "assistant", "content": "".join(text), "tool_calls": calls},
                     {"role": "tool", "results": results}]


@dataclass
class _Desk:
    """What a desk question is asked with, worked out once per question."""

    recall: memory.Recall | None = None
    systems: dict[bool, str] = field(default_factory=dict)


async def _desk_request(env: Env, req: ChatRequest, spec: ProviderSpec, cfg: Config, ctx: _Desk) -> ChatRequest:
    """A desk question as `spec` takes it: the history items nearest to it (the memory), and the
    read-only tools where it calls tools, else the ledger's facts, in the system prompt."""
    if not req.desk:
        return req
    if ctx.recall is None:
        question = next((m["content"] for m in reversed(req.messages) if m["role"] == "user"), "")
        ctx.recall = await memory.recall(env, embed, question)
    use_tools = spec.tools and spec.kind in wire.TOOL_KINDS and cfg.max_tool_rounds > 0
    if use_tools not in ctx.systems:
        ctx.systems[use_tools] = await desk.system_prompt(env, req.system, tools=use_tools,
                                                          history=ctx.recall.context())
    return replace(req, system=ctx.systems[use_tools], tools=tools.SPECS if use_tools else ())


async def chat_events(env: Env, req: ChatRequest, *, only: str | None = None) -> AsyncGenerator[dict[str, Any], None]:
    """The answer as events: `provider` (who serves it, the trail before), `tool`s (a desk question's
    tool calls), `token`s, then `usage`; or an `error` with the trail. Cancelling the consumer closes
    the upstream stream."""
    cfg = await load_config(env)
    trail: list[dict[str, Any]] = []
    specs = [p for p in cfg.providers if only is None or p.name == only]
    desk_ctx = _Desk()
    tried = 0
    async with http_client(timeout=None) as client:
        for spec in specs:
            key, why = key_of(env, spec)
            if why is not None:
                trail.append(_fail(spec, "not_configured", why, env))
                continue
            if req.image is not None and not spec.images:
                trail.append(_fail(spec, "no_images", "does not take images", env))
                continue
            row = await _state(env, spec.name)
            state = breaker_of(row, cfg, clock.now())
            if state == "half-open" and only is None and not await _claim_probe(env, spec.name, row):
                state = "open"  # another request is the probe of this window
            if state == "open" and only is None:
                trail.append(_fail(spec, "circuit_open", "circuit breaker open after repeated failures", env))
                continue
            tried += 1
            this = await _desk_request(env, req, spec, cfg, desk_ctx)
            attempt, streamed = 0, False
            started = time.monotonic()
            called: list[dict[str, Any]] = []
            while True:
                got = Usage()
                try:
                    async for item in _converse(env, client, spec, key, this, cfg.max_tool_rounds):
                        if isinstance(item, Usage):
                            got = item
                            continue
                        if not streamed:
                            streamed = True
                            yield {"event": "provider", "provider": spec.name, "model": spec.model,
                                   "trail": list(trail)}
                        if isinstance(item, dict):
                            called.append({k: v for k, v in item.items() if k != "event"})
                            yield item
                        else:
                            yield {"event": "token", "text": item}
                except ProviderError as exc:
                    _scrub(env, exc)
                    if streamed:
                        limit = exc.kind == "tool_limit"
                        if not limit:  # a model that keeps asking for tools is not an unhealthy provider
                            await _failure(env, spec.name, cfg, exc.describe(), state == "half-open")
                        trail.append(_fail(spec, exc.kind, exc.message + " (after part of the answer)", env))
                        yield {"event": "error", "code": "AI_TOOL_LIMIT" if limit else "AI_STREAM_BROKEN",
                               "message": f"{spec.name} {exc.message}" if limit else
                               f"{spec.name} failed in the middle of its answer", "trail": trail, "tools": called}
                        return
                    delay = _retry_delay(cfg, exc, attempt) if attempt < spec.retries else None
                    if delay is not None:
                        attempt += 1
                        await asyncio.sleep(delay)
                        continue
                    await _failure(env, spec.name, cfg, exc.describe(), state == "half-open")
                    note = f" (after {attempt + 1} attempts)" if attempt else ""
                    trail.append(_fail(spec, exc.kind, exc.message + note, env))
                    break
                latency = int((time.monotonic() - started) * 1000)
                await _success(env, spec.name, latency)
                if not streamed:
                    yield {"event": "provider", "provider": spec.name, "model": spec.model, "trail": list(trail)}
                cost = await _record_usage(env, spec, spec.model, got)
                yield {"event": "usage", "provider": spec.name, "model": spec.model,
                       "inputTokens": got.input_tokens, "outputTokens": got.output_tokens, "cost": cost,
                       "latencyMs": latency, "trail": trail, "tools": called,
                       **({"grounding": "tools" if this.tools else "facts",
                           "memory": desk_ctx.recall.summary() if desk_ctx.recall else None} if req.desk else {})}
                return
    if tried == 0:
        why = ("no provider takes images" if req.image is not None else "no provider is configured")
        yield {"event": "error", "code": "NOT_AVAILABLE", "message": f"AI is not available: {why}.",
               "trail": trail}
    else:
        yield {"event": "error", "code": "AI_PROVIDERS_FAILED",
               "message": "every AI provider failed: " + "; ".join(
                   f"{t['provider']}: {t['message']}" for t in trail), "trail": trail}


def _retry_delay(cfg: Config, exc: ProviderError, attempt: int) -> float | None:
    if not exc.retryable:
        return None
    if exc.retry_after is not None:
        return exc.retry_after if exc.retry_after <= cfg.max_retry_after else None
    return min(cfg.backoff_ms * (2 ** attempt), cfg.max_backoff_ms) / 1000


async def collect(events: AsyncGenerator[dict[str, Any], None]) -> dict[str, Any]:
    """The whole answer of `chat_events` as one result, or the error event."""
    text: list[str] = []
    async with contextlib.aclosing(events):  # closed here, not whenever it is collected
        async for ev in events:
            if ev["event"] == "token":
                text.append(ev["text"])
            elif ev["event"] == "usage":
                return {"text": "".join(text), "provider": ev["provider"], "model": ev["model"],
                        "usage": {"inputTokens": ev["inputTokens"], "outputTokens": ev["outputTokens"],
                                  "cost": ev["cost"]},
                        "latencyMs": ev["latencyMs"], "trail": ev["trail"], "tools": ev["tools"],
                        **{k: ev[k] for k in ("grounding", "memory") if k in ev}}
            elif ev["event"] == "error":
                return ev
    raise RuntimeError("the chain ended without an answer or an error")  # pragma: no cover


def embedders(env: Env, cfg: Config) -> list[ProviderSpec]:
    """The providers that can embed, in fallback order: a kind with embeddings, a model, a key."""
    return [p for p in cfg.providers if p.kind in wire.EMBEDDING_KINDS and p.embedding_model
            and key_of(env, p)[1] is None]


async def embed(env: Env, texts: list[str]) -> dict[str, Any]:
    cfg = await load_config(env)
    trail: list[dict[str, Any]] = []
    async with http_client(timeout=None) as client:
        for spec in cfg.providers:
            if spec.kind not in wire.EMBEDDING_KINDS or not spec.embedding_model:
                trail.append(_fail(spec, "no_embeddings", "no embeddingModel for this provider", env))
                continue
            key, why = key_of(env, spec)
            if why is not None:
                trail.append(_fail(spec, "not_configured", why, env))
                continue
            try:
                vectors, got = await wire.embed(client, spec, key, texts)
            except ProviderError as exc:
                _scrub(env, exc)
                trail.append(_fail(spec, exc.kind, exc.message, env))
                continue
            cost = await _record_usage(env, spec, spec.embedding_model, got)
            return {"event": "embedding", "provider": spec.name, "model": spec.embedding_model,
                    "vectors": vectors, "dimensions": len(vectors[0]) if vectors else 0,
                    "usage": {"inputTokens": got.input_tokens, "cost": cost}, "trail": trail}
    return {"event": "error", "code": "AI_PROVIDERS_FAILED" if trail else "NOT_AVAILABLE",
            "message": "no provider could embed: " + "; ".join(f"{t['provider']}: {t['message']}" for t in trail),
            "trail": trail}
