"""IMAP polling for the local runtime: e-mail signals from a mailbox, with no public URL.

While the runtime runs the gateway and email-worker and email-worker's secrets `EMAIL_HOST`
(`host` or `host:port`, port 993 by default), `EMAIL_USER` and `EMAIL_PASS` are set, this loop looks
at the mailbox every `INTERVAL_S` (5 minutes) with the standard library's `imaplib` over TLS
(certificate and host name verified): the UNSEEN messages of INBOX above the last UID handled are
fetched with BODY.PEEK[] (which does not mark them), each goes through the one path
(`mail.intake.handle`, via `imap`: the gateway's own signal path), its UID is written to
`email_imap_state` and then it is flagged `\\Seen` and `$HooxProcessed`.

The UID is saved after the e-mail is handled and before the next one is fetched, so a restart in
the middle reads none of the handled ones again; one that stopped between its handling and the save
is read once more and recorded as a duplicate of its Message-ID, never executed twice. A new
UIDVALIDITY (the mailbox was rebuilt) starts again from UID 1; the Message-IDs still hold.
Cloudflare's Workers have no sockets, so this runs only in the local runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hoox_edge.mail import intake
from hoox_edge.ports import Env
from hoox_edge.shared import clock
from hoox_edge.shared.logs import log
from hoox_edge.shared.redact import redact

GATEWAY = "hoox"
EMAIL = "email-worker"
INTERVAL_S = 300.0
TIMEOUT_S = 30.0
MAILBOX = "INBOX"
PROCESSED_FLAG = "$HooxProcessed"
MAX_PER_ROUND = 200  # a full mailbox is read over several rounds

_py = logging.getLogger("hoox.edge")


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    user: str
    password: str
    mailbox: str = MAILBOX

    @property
    def key(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.mailbox}"


def config_of(env: Env) -> ImapConfig | None:
    """The mailbox from email-worker's secrets; None when one of them is not set."""
    host, user, password = (env.get(n) for n in ("EMAIL_HOST", "EMAIL_USER", "EMAIL_PASS"))
    if not (isinstance(host, str) and host and isinstance(user, str) and user and isinstance(password, str)
            and password):
        return None
    name, _, port = host.strip().partition(":")
    return ImapConfig(name, int(port) if port.isdigit() else 993, user, password)


async def _state(db: Any, key: str) -> tuple[int, int] | None:
    row = await db.prepare("SELECT uidvalidity, last_uid FROM email_imap_state WHERE mailbox = ?").bind(key).first()
    return (int(row["uidvalidity"]), int(row["last_uid"])) if row else None


async def _save(db: Any, key: str, uidvalidity: int, last_uid: int) -> None:
    await db.prepare(
        "INSERT INTO email_imap_state (mailbox, uidvalidity, last_uid, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid,"
        " updated_at = excluded.updated_at"
    ).bind(key, uidvalidity, last_uid, clock.iso()).run()


class ImapError(RuntimeError):
    pass


def _ok(result: tuple[str, list[Any]], what: str) -> list[Any]:
    typ, data = result
    if typ != "OK":
        raise ImapError(f"{what} answered {typ}")
    return data


def _open(cfg: ImapConfig, context: ssl.SSLContext) -> tuple[imaplib.IMAP4_SSL, int]:
    conn = imaplib.IMAP4_SSL(cfg.host, cfg.port, ssl_context=context, timeout=TIMEOUT_S)
    try:
        _ok(conn.login(cfg.user, cfg.password), "LOGIN")
        _ok(conn.select(cfg.mailbox), "SELECT")
        _, validity = conn.response("UIDVALIDITY")
        if not validity or not validity[0]:
            raise ImapError("SELECT gave no UIDVALIDITY")
        return conn, int(validity[0])
    except BaseException:
        conn.shutdown()
        raise


def _unseen(conn: imaplib.IMAP4_SSL, after: int) -> list[int]:
    data = _ok(conn.uid("SEARCH", "UNSEEN", f"UID {after + 1}:*"), "UID SEARCH")
    # `n:*` always names the highest UID, even one below n: keep only the new ones.
    return sorted(u for u in (int(x) for x in b" ".join(d for d in data if d).split()) if u > after)


def _fetch(conn: imaplib.IMAP4_SSL, uid: int) -> bytes | None:
    data = _ok(conn.uid("FETCH", str(uid), "(BODY.PEEK[])"), "UID FETCH")
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None  # expunged meanwhile


def _flag(conn: imaplib.IMAP4_SSL, uid: int) -> None:
    if conn.uid("STORE", str(uid), "+FLAGS", f"(\\Seen {PROCESSED_FLAG})")[0] != "OK":
        conn.uid("STORE", str(uid), "+FLAGS", "(\\Seen)")  # a server without keywords


async def poll_once(gateway: Env, email_env: Env, submit: intake.Submit,
                    context: ssl.SSLContext | None = None) -> dict[str, Any]:
    """One round: `{"configured", "read", "outcomes"}`."""
    cfg = config_of(email_env)
    if cfg is None:
        return {"configured": False, "read": 0, "outcomes": []}
    conn, validity = await asyncio.to_thread(_open, cfg, context or ssl.create_default_context())
    outcomes: list[str] = []
    try:
        state = await _state(gateway.DB, cfg.key)
        last = state[1] if state and state[0] == validity else 0
        if state and state[0] != validity:
            await log(gateway, "warning", f"e-mail polling: {cfg.mailbox} has a new UIDVALIDITY; reading its "
                                          "unseen messages again (Message-IDs already executed are skipped)")
        for uid in (await asyncio.to_thread(_unseen, conn, last))[:MAX_PER_ROUND]:
            raw = await asyncio.to_thread(_fetch, conn, uid)
            if raw is not None:
                out = await intake.handle(gateway, raw, via="imap", submit=submit)
                outcomes.append(out["outcome"])
            await _save(gateway.DB, cfg.key, validity, uid)
            await asyncio.to_thread(_flag, conn, uid)
    finally:
        await asyncio.to_thread(_logout, conn)
    return {"configured": True, "read": len(outcomes), "outcomes": outcomes}


def _logout(conn: imaplib.IMAP4_SSL) -> None:
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        conn.logout()


def _why(exc: BaseException, env: Env) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return re.sub(r"\s+", " ", str(redact(text, env.secret_values())))[:300]


async def run(envs: Callable[[], tuple[Env, Env]], submit: intake.Submit, stopping: asyncio.Event,
              context: ssl.SSLContext | None = None) -> None:
    """The loop, until `stopping` is set; `envs()` gives (gateway, email-worker) envs each round (secrets
    set in .dev.vars are picked up without a restart)."""
    while not stopping.is_set():
        gateway, email_env = envs()
        try:
            await poll_once(gateway, email_env, submit, context)
        except Exception as exc:  # a mailbox away must not end the loop: the next round tries again
            _py.warning("e-mail polling round failed: %s", type(exc).__name__)
            with contextlib.suppress(Exception):  # the log itself failing must not end the loop either
                await log(gateway, "warning", f"e-mail polling failed: {_why(exc, email_env)}")
        with contextlib.suppress(TimeoutError):  # every INTERVAL_S, or at once when the runtime stops
            await asyncio.wait_for(stopping.wait(), INTERVAL_S)
