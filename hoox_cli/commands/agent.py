"""`hoox agent ...`: the AI gateway of agent-worker through the operator API (`/v1/agent/*`).

Which edge: as `hoox monitor` (`--remote`, HOOX_API_URL, the workspace's local gateway).

The providers, their order, timeouts, retries and breakers are KV `agent:config`
(`hoox config kv set agent:config ...`, validated); prices per million tokens `agent:prices`; the keys
are secrets (`hoox secrets set ANTHROPIC_API_KEY`, ...), never KV.

--json:
- `agent chat`       -> one JSON object per line as the events arrive: {"event": "provider", "provider",
                        "model", "trail"}, with --desk {"event": "tool", "round", "name", "arguments", "ok",
                        "error"?} per tool call, {"event": "token", "text"} ..., then {"event": "usage",
                        "provider", "model", "inputTokens", "outputTokens", "cost", "latencyMs", "trail",
                        "tools", "grounding"? (--desk: tools | facts)} or {"event": "error", "code",
                        "message", "trail"} (exit code 1); a trail item is {"provider", "model", "error",
                        "message"}
- `agent health`     -> {"providers": [{"provider", "kind", "model", "configured", "notConfiguredReason",
                        "breaker": closed | open | half-open, "consecutiveFailures", "lastSuccessAt",
                        "lastLatencyMs", "lastError", "lastFailureAt"}], "memory": {"available", "reason"?,
                        "fills", "embedded", "pending", "failing", "lastEmbeddedAt", "models": {model: n},
                        "lastError": {"item", "error", "retryAt"} | null, "embeddingProviders"}}
- `agent usage`      -> {"days": [{"day", "provider", "model", "requests", "inputTokens", "outputTokens",
                        "cost", "unpricedRequests"}]}
- `agent models`     -> {"providers": [{"name", "kind", "model", "baseUrl", "keySecret", "timeoutMs", "retries",
                        "images", "embeddingModel", "tools", "configured", "notConfiguredReason",
                        "capabilities"}]}
- `agent test-model` -> {"provider", "ok", "model", "text", "latencyMs", "usage"} or {"provider", "ok": false,
                        "error", "message"} (exit code 1)
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from hoox_cli.core.connection import operator_client
from hoox_cli.core.errors import fail
from hoox_cli.core.models import tool_call_label
from hoox_cli.core.redact import scrub
from hoox_cli.options import JsonOpt, RemoteOpt, handle_errors, remember_remote, remote_of
from hoox_cli.output import age, compact_table, dump, emit_json, esc, fmt, say, show

app = typer.Typer(help="The AI gateway: chat, provider health, usage and cost, models.", no_args_is_help=True)


@app.callback()
def _group(ctx: typer.Context, remote: RemoteOpt = None) -> None:
    """The AI gateway (agent-worker) through the edge's operator API."""
    remember_remote(ctx, remote)


def _trail(trail: list[dict[str, Any]]) -> str:
    return "; ".join(f"{t['provider']}: {t['message']}" for t in trail)


@app.command()
@handle_errors
def chat(
    ctx: typer.Context,
    message: Annotated[str, typer.Argument(help="What to ask.")],
    system: Annotated[str | None, typer.Option(help="A system prompt for this question.")] = None,
    prompt: Annotated[str | None, typer.Option(help="A stored system prompt by name (agent:prompts).")] = None,
    desk: Annotated[bool, typer.Option("--desk", help="A question about your desk (positions, trades, P&L, risk): "
                                       "answered from the ledger through read-only tools.")] = False,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Ask the AI gateway; the answer streams as it arrives, then who served it and the tokens used."""
    with operator_client(remote_of(ctx, remote)) as client:
        for ev in client.agent_chat(message, system=system, prompt=prompt, desk=desk):
            if json_out:
                sys.stdout.write(json.dumps(scrub(ev)) + "\n")
                sys.stdout.flush()
            elif ev["event"] == "tool":
                say(f"[dim]· {esc(tool_call_label(ev))}[/dim]")
            elif ev["event"] == "token":
                sys.stdout.write(str(scrub(ev["text"])))
                sys.stdout.flush()
            elif ev["event"] == "usage":
                cost = "no price set" if ev.get("cost") is None else f"${ev['cost']:.6f}"
                say("")
                say(f"[dim]— {esc(ev['provider'])} ({esc(ev['model'])}), {ev['inputTokens']} in / "
                    f"{ev['outputTokens']} out tokens, {cost}, {ev['latencyMs']} ms[/dim]")
                if ev.get("grounding") == "facts":
                    say("[dim]this provider calls no tools: it answered from the ledger's facts[/dim]")
                if ev.get("trail"):
                    say(f"[yellow]before it: {esc(_trail(ev['trail']))}[/yellow]")
            if ev["event"] == "error":
                if json_out:
                    raise typer.Exit(1)
                fail(ev["code"], ev["message"], details=ev.get("trail"))


@app.command()
@handle_errors
def health(ctx: typer.Context, remote: RemoteOpt = None, json_out: JsonOpt = False) -> None:
    """Each provider: configured or not, its circuit breaker, last success, latency and last error."""
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.agent_health())
    if json_out:
        emit_json(result)
        return
    rows = [[p["provider"], p["kind"], p["model"], "yes" if p["configured"] else (p["notConfiguredReason"] or "no"),
             p["breaker"], p["consecutiveFailures"], age(p["lastSuccessAt"]) if p.get("lastSuccessAt") else "never",
             fmt(p.get("lastLatencyMs")), p.get("lastError") or ""] for p in result["providers"]]
    show(compact_table(["provider", "kind", "model", "configured", "breaker", "failures", "last success",
                        "latency ms", "last error"], rows, title="AI providers, in fallback order"))
    mem = result.get("memory")
    if mem:
        say(f"Desk memory: {memory_text(mem)}")


def memory_text(mem: dict[str, Any]) -> str:
    """The desk memory (fills embedded for the assistant's retrieval) in one line."""
    if mem.get("reason"):
        return f"not available — {esc(mem['reason'])}"
    models = ", ".join(esc(k) for k in mem.get("models") or {}) or "none yet"
    line = (f"{mem['embedded']} of {mem['fills']} fills embedded ({models}), {mem['pending']} pending, "
            f"{mem['failing']} failing")
    if mem.get("lastError"):
        line += f"; last error: {esc(mem['lastError'].get('error') or '')}"
    return line


@app.command()
@handle_errors
def usage(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="From this day on (YYYY-MM-DD, UTC).")] = None,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Tokens and cost per day, provider and model (cost from the price table agent:prices)."""
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.agent_usage(since))
    if json_out:
        emit_json(result)
        return
    days = result["days"]
    if not days:
        say("No AI usage recorded" + (f" since {esc(since)}." if since else "."))
        return
    rows = [[d["day"], d["provider"], d["model"], d["requests"], d["inputTokens"], d["outputTokens"],
             "no price set" if d["cost"] is None else f"${d['cost']:.6f}"
             + (f" ({d['unpricedRequests']} unpriced)" if d["unpricedRequests"] else "")] for d in days]
    show(compact_table(["day", "provider", "model", "requests", "in tokens", "out tokens", "cost"], rows,
                       title="AI usage"))


@app.command()
@handle_errors
def models(ctx: typer.Context, remote: RemoteOpt = None, json_out: JsonOpt = False) -> None:
    """The configured providers, their models and what each can do."""
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.agent_models())
    if json_out:
        emit_json(result)
        return
    rows = [[p["name"], p["kind"], p["model"], ", ".join(p["capabilities"]), p.get("keySecret") or "none",
             "yes" if p["configured"] else (p["notConfiguredReason"] or "no")] for p in result["providers"]]
    show(compact_table(["provider", "kind", "model", "can", "key secret", "configured"], rows,
                       title="AI providers, in fallback order"))


@app.command("test-model")
@handle_errors
def test_model(
    ctx: typer.Context,
    provider: Annotated[str, typer.Argument(help="A provider's name in agent:config.")],
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One short call to one provider alone (no fallback): does its key, model and URL work?"""
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.agent_test_model(provider))
    if json_out:
        emit_json(result)
        if not result["ok"]:
            raise typer.Exit(1)
        return
    if not result["ok"]:
        fail("AI_PROVIDER_FAILED", f"{provider}: {result.get('error')}: {result.get('message')}")
    say(f"[green]{esc(provider)} answers[/green] ({esc(result.get('model') or '')}, {result.get('latencyMs')} ms): "
        f"{esc(result.get('text') or '')}")
