"""The desk assistant's memory: the trade history (every fill, closing trades with their realized
P&L) and the stored P&L reports as vectors in agent-worker's `VECTORIZE` index (Vectorize on
Cloudflare, a local vector table in the local runtime), so a desk question is asked with the nearest
items of the history as context.

Updated as fills arrive, never on a fill's path: `sync` (agent-worker's cron, every minute, and
`POST /agent/memory/sync`) reads the committed ledger for fills not embedded yet — or changed since
(a resting order that filled later) — and report-worker's bucket for new reports, embeds them
through the provider chain's `/agent/embedding` path and upserts them. Which items are in the
index, from which version and model, is D1 `ai_memory`; an item that fails (no provider answered,
the index refused it) is tried again with a backoff, so a failure costs a trade nothing and is
caught up later.

A question is embedded with the same chain; matches of another embedding model than the question's
are left out (their vectors do not compare). So the history is kept in one model's vectors, the first
embedding provider's of agent:config: while it fails its items wait, and a new first one embeds them
again. Without a `VECTORIZE` binding or an embedding provider
the memory says so plainly, and the question is answered from the tools or the facts alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from hoox_edge.ai.desk import figure
from hoox_edge.ports import VECTOR_MAX_TOP_K, Env, VectorRecord
from hoox_edge.shared import clock

Embed = Callable[[Env, list[str]], Awaitable[dict[str, Any]]]  # chain.embed
BINDING = "VECTORIZE"
REPORTS = "REPORTS_BUCKET"  # the stored reports (report-worker's), read to embed them
BATCH = 50  # items embedded per call
TOP_K = 5
MAX_BACKOFF_S = 3600
NO_EMBEDDER = "no embedding provider is configured (an embeddingModel on a configured provider in agent:config)"


@dataclass(frozen=True)
class Recall:
    items: list[dict[str, Any]]  # {"text", "score", "at", "symbol", "mode"}, nearest first
    model: str | None
    unavailable: str | None = None  # why nothing was recalled

    def context(self) -> str:
        """The nearest items as a desk question's context, or plainly why there are none."""
        if self.unavailable is not None:
            return f"TRADE HISTORY SEARCH: not available ({self.unavailable})."
        if not self.items:
            return "TRADE HISTORY SEARCH: nothing in the trader's history is embedded yet."
        lines = ["TRADE HISTORY (the items of the trader's history and reports nearest to the question, nearest "
                 "first; they may not cover all of it):"]
        lines += [f"- {item['text']}" for item in self.items]
        return "\n".join(lines)

    def summary(self) -> dict[str, Any]:
        if self.unavailable is not None:
            return {"available": False, "reason": self.unavailable}
        return {"available": True, "model": self.model, "items": len(self.items)}


def item_text(t: dict[str, Any]) -> str:
    """One fill of the ledger as the assistant reads it back."""
    closing = t["action"] in ("CLOSE", "TAKE_PROFIT", "STOP_LOSS") or bool(t["realized_pnl"])
    text = (f"{t['updated_at'][:16].replace('T', ' ')} UTC, {t['mode']} book, {t['exchange']} {t['symbol']}: "
            f"{t['action']} {t['side'] or ''} filled {figure(t['filled_qty'])} at {figure(t['price'])}, "
            f"fee {figure(t['fee'])}, status {t['status']}")
    if closing:
        pnl = t["realized_pnl"] or 0
        text += f", realized P&L {figure(pnl)} ({'a win' if pnl > 0 else 'a loss' if pnl < 0 else 'break-even'})"
    return text + f" [request {t['request_id']}]"


@dataclass(frozen=True)
class Item:
    id: str  # trade:<request_id> | report:<name>
    version: str  # the source's updated_at / the report's creation: a newer one is embedded again
    text: str
    metadata: dict[str, str]


def _due(done: dict[str, Any] | None, version: str, now: str, model: str) -> bool:
    if done is not None and done["next_attempt_at"] is not None and done["next_attempt_at"] > now:
        return False  # failed lately: its backoff runs
    return done is None or done["model"] != model or done["source_updated_at"] < version


async def _fills(env: Env, limit: int, model: str) -> list[Item]:
    rows = (await env.DB.prepare(
        "SELECT t.* FROM trades t LEFT JOIN ai_memory m ON m.item = 'trade:' || t.request_id "
        "WHERE t.filled_qty > 0 AND (m.item IS NULL OR m.model IS NULL OR m.model != ? "
        "OR m.source_updated_at < t.updated_at) "
        "AND (m.next_attempt_at IS NULL OR m.next_attempt_at <= ?) ORDER BY t.rowid LIMIT ?"
    ).bind(model, clock.iso(), limit).all())["results"]
    return [Item(f"trade:{t['request_id']}", t["updated_at"], item_text(t),
                 {"kind": "fill", "at": t["updated_at"], "symbol": t["symbol"], "mode": t["mode"]}) for t in rows]


async def _reports(env: Env, limit: int, model: str) -> list[Item]:
    """The stored reports not embedded yet. A report is embedded as its summary, built again from the
    ledger for its window (`since`, `until` of its metadata): the same figures, without its HTML."""
    if not env.has(REPORTS):
        return []
    from hoox_edge.reports import document, store

    done = {r["item"]: r for r in (await env.DB.prepare(
        "SELECT * FROM ai_memory WHERE item LIKE 'report:%'").all())["results"]}
    now = clock.iso()
    out: list[Item] = []
    for r in await store.items(getattr(env, REPORTS)):
        item = f"report:{r['name']}"
        if not (r["since"] and r["until"] and r["period"]) or not _due(done.get(item), r["createdAt"], now, model):
            continue
        report = document.Report(period=r["period"], since=r["since"], until=r["until"], current_mode=None)
        for mode in document.BOOKS:  # the figures of the window; today's open positions left out
            report.books.append(replace(await document.book(env, mode, r["since"], r["until"]), positions=[]))
        out.append(Item(item, r["createdAt"], f"Report {r['name']}: " + document.summary_text(report),
                        {"kind": "report", "at": r["until"], "symbol": "", "mode": ""}))
        if len(out) >= limit:
            break
    return out


async def _failed(env: Env, items: list[Item], reason: str) -> None:
    now = clock.now()
    for it in items:
        prior = await env.DB.prepare("SELECT attempts FROM ai_memory WHERE item = ?").bind(it.id).first("attempts")
        attempts = int(prior or 0) + 1
        wait = min(60 * 2 ** (attempts - 1), MAX_BACKOFF_S)
        await env.DB.prepare(
            "INSERT INTO ai_memory (item, source_updated_at, attempts, last_error, next_attempt_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(item) DO UPDATE SET attempts = excluded.attempts, "
            "last_error = excluded.last_error, next_attempt_at = excluded.next_attempt_at"
        ).bind(it.id, it.version, attempts, reason[:300], clock.iso(now + wait)).run()


async def sync(env: Env, embed: Embed, model: str | None, *, batches: int = 4) -> dict[str, Any]:
    """Embed the fills and reports not in the index yet, or embedded by another model than `model` (the
    first configured embedding provider's: a change of provider embeds the history again, since
    vectors of two models do not compare), at most `batches` × BATCH; what was done."""
    if not env.has(BINDING):
        return {"available": False, "reason": f"agent-worker has no {BINDING} binding", "embedded": 0}
    if model is None:
        return {"available": False, "reason": NO_EMBEDDER, "embedded": 0}
    embedded = 0
    for _ in range(batches):
        items = await _fills(env, BATCH, model)
        items += await _reports(env, BATCH - len(items), model) if len(items) < BATCH else []
        if not items:
            break
        result = await embed(env, [it.text for it in items])
        if result.get("event") == "error":
            if result["code"] == "NOT_AVAILABLE" or not result["trail"] or all(
                    t["error"] in ("no_embeddings", "not_configured") for t in result["trail"]):
                # No provider can embed: nothing failed, nothing to retry per item.
                return {"available": False, "reason": NO_EMBEDDER, "embedded": embedded}
            await _failed(env, items, result["message"])
            return {"available": True, "embedded": embedded, "error": result["message"]}
        if result["model"] != model:  # a fallback's vectors would not compare with the rest: wait for the first
            reason = f"the embedding model {model} did not answer (" + "; ".join(
                f"{t['provider']}: {t['message']}" for t in result["trail"]) + ")"
            await _failed(env, items, reason)
            return {"available": True, "embedded": embedded, "error": reason}
        records = [VectorRecord(it.id, vector, it.metadata | {"text": it.text, "model": model})
                   for it, vector in zip(items, result["vectors"], strict=True)]
        try:
            await getattr(env, BINDING).upsert(records)
        except Exception as exc:  # the index refused them (dimensions, a limit): retried later
            reason = f"the vector index refused them ({type(exc).__name__}: {str(exc)[:200]})"
            await _failed(env, items, reason)
            return {"available": True, "embedded": embedded, "error": reason}
        now = clock.iso()
        for it in items:
            await env.DB.prepare(
                "INSERT INTO ai_memory (item, source_updated_at, model, embedded_at, attempts, last_error, "
                "next_attempt_at) VALUES (?, ?, ?, ?, 0, NULL, NULL) ON CONFLICT(item) DO UPDATE SET "
                "source_updated_at = excluded.source_updated_at, model = excluded.model, "
                "embedded_at = excluded.embedded_at, attempts = 0, last_error = NULL, next_attempt_at = NULL"
            ).bind(it.id, it.version, model, now).run()
        embedded += len(items)
    return {"available": True, "embedded": embedded}


async def status(env: Env) -> dict[str, Any]:
    """How much of the history is in the index, what waits, and the last failure."""
    row = await env.DB.prepare(
        "SELECT (SELECT COUNT(*) FROM trades WHERE filled_qty > 0) AS fills, "
        "(SELECT COUNT(*) FROM ai_memory WHERE model IS NOT NULL AND item LIKE 'trade:%') AS embedded, "
        "(SELECT COUNT(*) FROM ai_memory WHERE model IS NOT NULL AND item LIKE 'report:%') AS reports, "
        "(SELECT COUNT(*) FROM ai_memory WHERE attempts > 0) AS failing, "
        "(SELECT MAX(embedded_at) FROM ai_memory) AS last_embedded_at").first()
    last = await env.DB.prepare("SELECT item, last_error, next_attempt_at FROM ai_memory WHERE attempts > 0 "
                                "ORDER BY next_attempt_at DESC LIMIT 1").first()
    models = (await env.DB.prepare("SELECT model, COUNT(*) AS n FROM ai_memory WHERE model IS NOT NULL "
                                   "GROUP BY model ORDER BY model").all())["results"]
    return {"available": env.has(BINDING), "fills": row["fills"], "embedded": row["embedded"],
            "reportsEmbedded": row["reports"],
            "pending": max(row["fills"] - row["embedded"], 0), "failing": row["failing"],
            "lastEmbeddedAt": row["last_embedded_at"], "models": {m["model"]: m["n"] for m in models},
            "lastError": ({"item": last["item"], "error": last["last_error"], "retryAt": last["next_attempt_at"]}
                          if last else None)}


async def recall(env: Env, embed: Embed, question: str, *, top_k: int = TOP_K) -> Recall:
    """The history items nearest to `question`, or why there are none."""
    if not env.has(BINDING):
        return Recall([], None, f"agent-worker has no {BINDING} binding")
    result = await embed(env, [question])
    if result.get("event") == "error":
        if result["code"] == "NOT_AVAILABLE" or all(
                t["error"] in ("no_embeddings", "not_configured") for t in result["trail"]):
            return Recall([], None, "no embedding provider is configured")
        return Recall([], None, f"the question could not be embedded ({result['message'][:200]})")
    model = result["model"]
    try:
        matches = await env.VECTORIZE.query(result["vectors"][0], top_k=min(top_k * 2, VECTOR_MAX_TOP_K))
    except Exception as exc:
        return Recall([], model, f"the vector index could not be searched ({type(exc).__name__}: {str(exc)[:200]})")
    items = [{"text": m.metadata.get("text"), "score": round(m.score, 4), "at": m.metadata.get("at"),
              "symbol": m.metadata.get("symbol"), "mode": m.metadata.get("mode")}
             for m in matches if m.metadata.get("model") == model and m.metadata.get("text")][:top_k]
    return Recall(items, model)
