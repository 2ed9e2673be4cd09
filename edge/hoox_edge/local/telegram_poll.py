"""Telegram long polling for the local runtime: the bot works from a laptop, with no public URL.

While the runtime runs the gateway and telegram-worker, a bot token is set and Telegram has no webhook
registered (getWebhookInfo's url is empty), this loop calls `getUpdates` (long polling, offset kept in
`telegram_polling`, so a restart neither loses nor repeats an update) and feeds every update to the
same ingress as the webhook (`desk.ingress.ingest`, via `polling`): telegram-worker takes it (allowed
chat, update_id once) and the gateway's handler answers it.

With a webhook registered the loop only looks again now and then (`hoox deploy telegram-webhook`
deletes the polling state when it registers one). It ends with the runtime: the stop event cuts a long
poll short instead of waiting for Telegram's answer.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from hoox_edge.desk import ingress
from hoox_edge.desk.updates import ALLOWED_UPDATES
from hoox_edge.ports import Env
from hoox_edge.shared import clock
from hoox_edge.shared import telegram_api as bot_api
from hoox_edge.shared.errors import ApiError
from hoox_edge.shared.logs import log

GATEWAY = "hoox"
TELEGRAM = "telegram-worker"
LONG_POLL_S = 25  # Telegram holds getUpdates open this long when nothing is waiting
IDLE_S = 30.0  # no token, or a webhook registered: look again after this long
RETRY_S = 5.0  # Telegram or telegram-worker failed: try again after this long
MIN_ROUND_S = 1.0  # a server that answers an empty poll at once is not asked more than once a second

_py = logging.getLogger("hoox.edge")


async def next_offset(db: Any) -> int:
    row = await db.prepare("SELECT next_offset FROM telegram_polling WHERE id = 1").first()
    return int(row["next_offset"]) if row else 0


async def save_offset(db: Any, offset: int) -> None:
    await db.prepare(
        "INSERT INTO telegram_polling (id, next_offset, updated_at) VALUES (1, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET next_offset = excluded.next_offset, updated_at = excluded.updated_at"
    ).bind(offset, clock.iso()).run()


async def _until_stopped(stopping: asyncio.Event, coro: Awaitable[Any]) -> tuple[bool, Any]:
    """(True, result) when `coro` finished first, (False, None) when the runtime stopped first."""
    task = asyncio.ensure_future(coro)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if task.done():
        return True, task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return False, None


async def _pause(stopping: asyncio.Event, seconds: float) -> None:
    await _until_stopped(stopping, asyncio.sleep(seconds))


async def poll_once(gateway: Env, telegram: Env, submit: Any, stopping: asyncio.Event) -> float:
    """One round: the seconds to wait before the next one (0: go on at once)."""
    token = bot_api.bot_token(telegram)
    if token is None:
        return IDLE_S
    done, info = await _until_stopped(stopping, bot_api.call(telegram, token, "getWebhookInfo"))
    if not done:
        return 0
    if not info.ok:
        return RETRY_S
    if isinstance(info.result, dict) and info.result.get("url"):
        return IDLE_S  # the webhook is how updates arrive
    offset = await next_offset(gateway.DB)
    params = {"offset": offset, "timeout": LONG_POLL_S, "allowed_updates": list(ALLOWED_UPDATES)}
    started = clock.now()
    done, answer = await _until_stopped(stopping, bot_api.call(telegram, token, "getUpdates", params,
                                                               timeout=LONG_POLL_S + 10))
    if not done:
        return 0
    if not answer.ok:
        if answer.status == 409:  # a webhook was set meanwhile: Telegram refuses getUpdates
            return IDLE_S
        await log(gateway, "warning", f"telegram polling: getUpdates failed: {answer.error}")
        return answer.retry_after or RETRY_S
    updates = answer.result if isinstance(answer.result, list) else []
    for update in updates:
        uid = update.get("update_id") if isinstance(update, dict) else None
        if not isinstance(uid, int) or uid < offset:
            continue
        try:
            await ingress.ingest(gateway, update, via="polling", rid=str(uuid.uuid4()), submit=submit)
        except ApiError as exc:
            if exc.status >= 500:  # telegram-worker away: the update is asked for again
                return RETRY_S
            await log(gateway, "warning", f"telegram polling: update {uid} refused: {exc.message}")
        await save_offset(gateway.DB, uid + 1)
    if not updates and clock.now() - started < MIN_ROUND_S:
        return MIN_ROUND_S
    return 0


async def run(envs: Callable[[], tuple[Env, Env]], submit: Any, stopping: asyncio.Event) -> None:
    """The loop, until `stopping` is set. `envs()` gives (gateway, telegram-worker) envs, looked at
    again each round (a token set in .dev.vars is picked up without a restart)."""
    while not stopping.is_set():
        try:
            gateway, telegram = envs()
            wait = await poll_once(gateway, telegram, submit, stopping)
        except Exception as exc:  # a round that failed must not end the bot
            _py.warning("telegram polling round failed: %s", type(exc).__name__)
            wait = RETRY_S
        if wait and not stopping.is_set():
            await _pause(stopping, wait)
