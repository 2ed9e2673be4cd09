"""The shape of the AI gateway's KV settings (`agent:config`, `agent:prices`, `agent:prompts`): their
defaults and checks. Standard library only: the KV manifest (shared/settings.py) reads it.
"""

from __future__ import annotations

import math
import re
from typing import Any

KINDS = ("workers-ai", "anthropic", "gemini", "openai", "azure-openai", "openai-compatible")
DEFAULT_BASE = {
    "workers-ai": "https://api.cloudflare.com/client/v4",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "openai": "https://api.openai.com/v1",
    "azure-openai": "",
    "openai-compatible": "",
}
# The secret each kind reads its key from unless the config names another of KEY_SECRETS.
DEFAULT_KEY_SECRET = {
    "workers-ai": "CLOUDFLARE_API_TOKEN",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GOOGLE_AI_API_KEY",
    "openai": "OPENAI_API_KEY",
    "azure-openai": "AZURE_OPENAI_API_KEY",
    "openai-compatible": "",
}
# Only these secrets may be sent to a provider: a config naming any other (the internal key, an
# exchange key) would hand it to whatever base URL the config names.
KEY_SECRETS = ("CLOUDFLARE_API_TOKEN", "ANTHROPIC_API_KEY", "GOOGLE_AI_API_KEY", "OPENAI_API_KEY",
               "AZURE_OPENAI_API_KEY", "OPENAI_COMPATIBLE_API_KEY")
IMAGES_BY_DEFAULT = {"anthropic": True, "gemini": True, "openai": True, "azure-openai": True}
# The kinds whose tool calling hoox speaks (ai.wire). Offered by default to the hosted ones; an
# OpenAI-compatible server does it only with some models (say `"tools": true` for those). Workers AI's
# native function calling (`ai/run`) is not streamed and not offered: its desk questions take the
# ledger's facts, unless Workers AI is named through its OpenAI-compatible endpoint (`.../ai/v1`).
TOOL_KINDS = ("anthropic", "gemini", "openai", "azure-openai", "openai-compatible")
TOOLS_BY_DEFAULT = ("anthropic", "gemini", "openai", "azure-openai")
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")

DEFAULT_CONFIG: dict[str, Any] = {
    "order": ["workers-ai", "anthropic", "gemini", "openai"],
    "providers": {
        "workers-ai": {"kind": "workers-ai", "model": "@cf/meta/llama-3.1-8b-instruct",
                       "embeddingModel": "@cf/baai/bge-base-en-v1.5"},
        "anthropic": {"kind": "anthropic", "model": "claude-3-5-haiku-latest"},
        "gemini": {"kind": "gemini", "model": "gemini-2.0-flash", "embeddingModel": "text-embedding-004"},
        "openai": {"kind": "openai", "model": "gpt-4o-mini", "embeddingModel": "text-embedding-3-small"},
    },
    "timeoutMs": 20000, "retries": 1, "backoffMs": 500, "maxBackoffMs": 8000, "maxRetryAfterSeconds": 30,
    "breaker": {"threshold": 3, "halfOpenSeconds": 60},
    "maxImageBytes": 4_000_000, "maxToolRounds": 4,
}

_TOP = {"order", "providers", "timeoutMs", "retries", "backoffMs", "maxBackoffMs", "maxRetryAfterSeconds",
        "breaker", "maxImageBytes", "maxToolRounds"}
_PROVIDER = {"kind", "model", "baseUrl", "keySecret", "timeoutMs", "retries", "images", "embeddingModel",
             "accountId", "tools"}
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


def _whole(v: Any, low: int, high: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def config_problem(value: Any) -> str | None:
    """Why `value` is not a valid agent:config (the field and the rule), else None."""
    if not isinstance(value, dict):
        return "must be a JSON object with order, providers, timeoutMs, retries, backoffMs, breaker, ..."
    for k in value:
        if k not in _TOP:
            return f"{str(k)[:40]} is not a field (fields: {', '.join(sorted(_TOP))})"
    providers = value.get("providers")
    if not isinstance(providers, dict) or not providers or len(providers) > 20:
        return "providers must be an object of 1 to 20 name: {kind, model, ...}"
    for name, p in providers.items():
        if not (1 <= len(name) <= 40 and set(name) <= _NAME_CHARS):
            return f"providers: {name[:40]!r} must be 1-40 of a-z, 0-9, - and _"
        if not isinstance(p, dict):
            return f"providers.{name} must be an object {{kind, model, ...}}"
        for k in p:
            if k not in _PROVIDER:
                return f"providers.{name}.{str(k)[:40]} is not a field (fields: {', '.join(sorted(_PROVIDER))})"
        if p.get("kind") not in KINDS:
            return f"providers.{name}.kind must be one of {', '.join(KINDS)}"
        for f in ("model", "embeddingModel", "accountId"):
            if f in p and not (isinstance(p[f], str) and len(p[f]) <= 200 and (f != "model" or p[f])):
                return f"providers.{name}.{f} must be a string of at most 200 characters" + (
                    " (not empty)" if f == "model" else "")
        if "model" not in p:
            return f"providers.{name}.model is required"
        base = p.get("baseUrl", "")
        if not isinstance(base, str) or (base and not _URL.match(base)) or len(base) > 2048:
            return f"providers.{name}.baseUrl must be an http(s) URL"
        if not base and not DEFAULT_BASE[p["kind"]]:
            return f"providers.{name}.baseUrl is required for kind {p['kind']}"
        if "keySecret" in p and p["keySecret"] not in ("", *KEY_SECRETS):
            return f"providers.{name}.keySecret must be empty or one of {', '.join(KEY_SECRETS)}"
        if "timeoutMs" in p and not _whole(p["timeoutMs"], 100, 300_000):
            return f"providers.{name}.timeoutMs must be a whole number from 100 to 300000"
        if "retries" in p and not _whole(p["retries"], 0, 5):
            return f"providers.{name}.retries must be a whole number from 0 to 5"
        if "images" in p and not isinstance(p["images"], bool):
            return f"providers.{name}.images must be true or false"
        if "tools" in p and not isinstance(p["tools"], bool):
            return f"providers.{name}.tools must be true or false"
        if p.get("tools") and p["kind"] not in TOOL_KINDS:
            return (f"providers.{name}.tools: kind {p['kind']} has no tool calling in hoox "
                    f"(kinds: {', '.join(TOOL_KINDS)})")
    order = value.get("order")
    if not isinstance(order, list) or not order or len(order) > 20:
        return "order must be a list of 1 to 20 provider names"
    for n in order:
        if n not in providers:
            return f"order names {str(n)[:40]!r}, which is not in providers"
    if len(set(order)) != len(order):
        return "order must not name a provider twice"
    for f, low, high in (("timeoutMs", 100, 300_000), ("retries", 0, 5), ("backoffMs", 0, 60_000),
                         ("maxBackoffMs", 0, 300_000), ("maxRetryAfterSeconds", 0, 3600),
                         ("maxImageBytes", 1, 20_000_000), ("maxToolRounds", 0, 10)):
        if f in value and not _whole(value[f], low, high):
            return f"{f} must be a whole number from {low} to {high}"
    breaker = value.get("breaker", {})
    if not isinstance(breaker, dict) or set(breaker) - {"threshold", "halfOpenSeconds"}:
        return "breaker must be an object {threshold, halfOpenSeconds}"
    if "threshold" in breaker and not _whole(breaker["threshold"], 1, 100):
        return "breaker.threshold must be a whole number from 1 to 100"
    if "halfOpenSeconds" in breaker and not _whole(breaker["halfOpenSeconds"], 1, 86_400):
        return "breaker.halfOpenSeconds must be a whole number from 1 to 86400"
    return None


def prices_problem(value: Any) -> str | None:
    if not isinstance(value, dict) or len(value) > 200:
        return 'must be a JSON object of model: {"input": USD per million tokens, "output": ...} (at most 200)'
    for model, p in value.items():
        if not isinstance(p, dict) or set(p) != {"input", "output"}:
            return f"{str(model)[:60]} must be {{\"input\": number, \"output\": number}}"
        for side in ("input", "output"):
            v = p[side]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= 10_000:
                return f"{str(model)[:60]}.{side} must be a number from 0 to 10000 (USD per million tokens)"
    return None


MAX_PROMPT_CHARS = 8000
MAX_PROMPT_VERSIONS = 20


def prompts_problem(value: Any) -> str | None:
    if not isinstance(value, dict) or len(value) > 50:
        return "must be a JSON object of name: [{version, text, at}] (at most 50 names)"
    for name, versions in value.items():
        if not (1 <= len(name) <= 40 and set(name) <= _NAME_CHARS):
            return f"{name[:40]!r} must be 1-40 of a-z, 0-9, - and _"
        if not isinstance(versions, list) or not 1 <= len(versions) <= MAX_PROMPT_VERSIONS:
            return f"{name} must list 1 to {MAX_PROMPT_VERSIONS} versions"
        for v in versions:
            if not (isinstance(v, dict) and _whole(v.get("version"), 1, 10**9) and isinstance(v.get("text"), str)
                    and 0 < len(v["text"]) <= MAX_PROMPT_CHARS and isinstance(v.get("at"), str)):
                return f"{name}: each version must be {{version (whole), text (1-{MAX_PROMPT_CHARS} chars), at}}"
    return None


