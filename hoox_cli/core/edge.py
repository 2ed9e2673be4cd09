"""The edge a command reads and writes: a remote one, the workspace's running local one, or, when
the local edge is not running, its state served by the edge's own code.

`connect(remote, ws)` picks it:
- `--remote URL` (or HOOX_API_URL): that edge's operator API, through `HooxClient`;
- else, the workspace's local runtime when it runs: its operator API, through `HooxClient`;
- else the local edge's state, through the same functions the operator API's routes call
  (`hoox_edge.operator.*`) on the local adapters (`hoox_edge.local.*`, which own the state layout):
  the answer is the one the running edge would give, and nothing here knows where a file is.

Every answer is the operator API's JSON (camelCase dicts). `Edge.info` says which edge answered
(`{"url", "local", "running"}`, the `edge` field of the commands' --json). Errors are `CliError`
with the edge's code (or EDGE_UNREACHABLE / NO_EDGE_CONFIG) and a message that says what to do.

This module imports neither httpx nor pydantic at start-up, and the local path never does:
a KV read on a stopped local edge costs a SQLite lookup, not the HTTP stack (bench/cli_startup.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from hoox_cli.core.errors import CliError

if TYPE_CHECKING:
    from hoox_edge.local.d1 import LocalD1
    from hoox_edge.local.kv import LocalKV
    from hoox_edge.local.workspace import Workspace

    from hoox_cli.core.client import HooxClient

T = TypeVar("T")


@dataclass(frozen=True)
class EdgeInfo:
    """Which edge answered: `url` (None for a stopped local edge), `local` (this workspace's own edge),
    `running` (its runtime serves; a remote edge that answered does)."""

    url: str | None
    local: bool
    running: bool

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "local": self.local, "running": self.running}

    def label(self) -> str:
        if not self.local:
            return f"the edge at {self.url}"
        if self.running:
            return f"the local edge at {self.url}"
        return "the local edge, not running"


def connect(remote: str | None, ws: Workspace) -> Edge:
    """The edge to use: --remote / HOOX_API_URL, else the running local runtime, else the local state."""
    url = remote or os.environ.get("HOOX_API_URL")
    if url:
        return HttpEdge(remote, ws, local=False)
    from hoox_cli.core import process

    if process.probe(ws).running:
        return HttpEdge(None, ws, local=True)
    return LocalEdge(ws)


class Edge:
    """What a command may ask of an edge; the two kinds below answer alike."""

    info: EdgeInfo

    def __enter__(self) -> Edge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError

    def kv_list(self, prefix: str = "") -> dict[str, Any]:
        raise NotImplementedError

    def kv_get(self, key: str) -> dict[str, Any]:
        raise NotImplementedError

    def kv_put(self, key: str, value: Any, *, force: bool = False) -> dict[str, Any]:
        raise NotImplementedError

    def kv_delete(self, key: str) -> dict[str, Any]:
        raise NotImplementedError

    def exchanges(self) -> list[dict[str, Any]]:
        """Per exchange: are its API keys set, where live orders go (trade-worker's answer)."""
        raise NotImplementedError

    def query(self, sql: str, params: list[Any], max_rows: int | None = None) -> dict[str, Any]:
        """One read-only statement on the ledger: {"columns", "rows", "rowCount", "truncated", "maxRows"}."""
        raise NotImplementedError

    def logs_export(self, *, since: str, until: str, worker: str | None = None,
                    level: str | None = None) -> Iterator[dict[str, Any]]:
        """Every log row with since <= createdAt < until, oldest first."""
        raise NotImplementedError


# ============================================================================ over HTTP
class HttpEdge(Edge):
    """An edge's operator API through HooxClient (`remote` None: the workspace's running local gateway)."""

    def __init__(self, remote: str | None, ws: Workspace, *, local: bool) -> None:
        from hoox_cli.core.client import HooxClient, HooxConfigError, display_url, resolve_config

        try:
            cfg = resolve_config(remote, workspace=ws)
        except HooxConfigError as exc:
            raise CliError("NO_EDGE_CONFIG", str(exc)) from None
        from hoox_cli.core.redact import remember_secrets

        remember_secrets(cfg.secrets)  # whatever the edge echoes, the token is never printed
        self.client: HooxClient = HooxClient(cfg.base_url, cfg.token, source=cfg.source,
                                             token_source=cfg.token_source, access=cfg.access)
        self.info = EdgeInfo(display_url(cfg.base_url), local, True)

    def close(self) -> None:
        self.client.close()

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from hoox_cli.core.client import HooxApiError, HooxConnectionError

        try:
            result = fn(*args, **kwargs)
        except HooxApiError as exc:
            message = exc.message + (f" {exc.hint}" if exc.hint else "")
            if exc.request_id:
                message += f" (request id {exc.request_id})"
            raise CliError(exc.code, message, details=exc.details) from None
        except HooxConnectionError as exc:
            raise CliError("EDGE_UNREACHABLE", exc.message) from None
        return result.model_dump(mode="json", by_alias=True) if hasattr(result, "model_dump") else result

    def kv_list(self, prefix: str = "") -> dict[str, Any]:
        return self._call(self.client.kv_list, prefix or None)

    def kv_get(self, key: str) -> dict[str, Any]:
        return self._call(self.client.kv_get, key)

    def kv_put(self, key: str, value: Any, *, force: bool = False) -> dict[str, Any]:
        # force is the local edge's only: the operator API refuses a key the manifest does not know
        return self._call(self.client.kv_put, key, value)

    def kv_delete(self, key: str) -> dict[str, Any]:
        return self._call(self.client.kv_delete, key)

    def exchanges(self) -> list[dict[str, Any]]:
        status = self._call(self.client.status)
        found = status.get("exchanges") or {}
        if not found.get("available"):
            raise CliError("EXCHANGES_UNKNOWN", f"{self.info.label()} could not say which exchanges have API keys: "
                                                 f"{found.get('error') or 'trade-worker did not answer'}.")
        return list(found.get("items") or [])

    def query(self, sql: str, params: list[Any], max_rows: int | None = None) -> dict[str, Any]:
        return self._call(self.client.db_query, sql, params, max_rows=max_rows)

    def logs_export(self, *, since: str, until: str, worker: str | None = None,
                    level: str | None = None) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            page = self._call(self.client.logs_export, since=since, until=until, worker=worker, level=level,
                              cursor=cursor)
            yield from (dict(i) for i in page["items"])
            cursor = page.get("nextCursor")
            if not cursor:
                return


# ============================================================================ the local state
class LocalEdge(Edge):
    """The workspace's local edge while it does not run: the operator API's own functions on the
    local KV and D1 adapters, opened where the local runtime keeps them (`Workspace.kv_file`/`d1_file`)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.info = EdgeInfo(None, True, False)
        self._kv: LocalKV | None = None
        self._db: LocalD1 | None = None

    def close(self) -> None:
        for res in (self._kv, self._db):
            if res is not None:
                res.close()
        self._kv = self._db = None

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        import asyncio

        return self._answer(asyncio.run, coro)

    @staticmethod
    def _answer(fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` of the edge's operator functions; their API errors are the CLI's."""
        from hoox_edge.shared.errors import ApiError

        try:
            return fn(*args)
        except ApiError as exc:
            raise CliError(exc.code, exc.message, details=exc.details) from None

    @property
    def kv(self) -> LocalKV:
        if self._kv is None:
            from hoox_edge import catalog
            from hoox_edge.local.kv import LocalKV

            self._kv = LocalKV(self.ws.kv_file(catalog.CONFIG_KV))
        return self._kv

    def ledger(self) -> LocalD1 | None:
        """The local ledger, None while there is none (the edge never started): nothing creates it here."""
        if self._db is None:
            from hoox_edge import catalog
            from hoox_edge.local.d1 import LocalD1

            path = self.ws.d1_file(catalog.TRADE_DB)
            if not path.exists():
                return None
            self._db = LocalD1(path)
        return self._db

    def _env(self) -> Any:
        """The gateway's bindings the operator functions use: CONFIG_KV, and DB when there is a ledger
        (its system log records an operator's change, as the running edge's does)."""
        from hoox_edge.ports import Env

        db = self.ledger()
        return Env({"CONFIG_KV": self.kv, **({"DB": db} if db is not None else {})}, worker="hoox")

    def _need_ledger(self) -> LocalD1:
        db = self.ledger()
        if db is None:
            from hoox_edge import catalog

            raise CliError("NO_LEDGER", f"There is no local ledger yet ({self.ws.d1_file(catalog.TRADE_DB)}); "
                                         "start the edge once with `hoox dev start` (or `hoox db apply`).")
        return db

    def kv_list(self, prefix: str = "") -> dict[str, Any]:
        from hoox_edge.operator import config_kv

        return cast(dict[str, Any], self._run(config_kv.list_items(self.kv, prefix)))

    def kv_get(self, key: str) -> dict[str, Any]:
        # the file read with no event loop: asyncio and the KV's writer cost more than the read
        from hoox_edge import catalog
        from hoox_edge.local import kv_file
        from hoox_edge.operator import config_kv

        self._answer(config_kv.check_key, key)
        raw = kv_file.read(self.ws.kv_file(catalog.CONFIG_KV), key)
        return cast(dict[str, Any], self._answer(config_kv.describe_item, key, raw))

    def kv_put(self, key: str, value: Any, *, force: bool = False) -> dict[str, Any]:
        from hoox_edge.operator import config_kv

        put = config_kv.put_item(self._env(), key, value, request_id=None, force=force)
        return cast(dict[str, Any], self._run(put))

    def kv_delete(self, key: str) -> dict[str, Any]:
        from hoox_edge.operator import config_kv

        return cast(dict[str, Any], self._run(config_kv.delete_item(self._env(), key, request_id=None)))

    def exchanges(self) -> list[dict[str, Any]]:
        # trade-worker's own answer, on the workspace's secrets and KV (what it would say running)
        from hoox_edge.ports import Env
        from hoox_edge.workers.trade import exchange_status

        return self._run(exchange_status(Env({**self.ws.secrets(), "CONFIG_KV": self.kv}, worker="trade-worker"),
                                         "live"))

    def query(self, sql: str, params: list[Any], max_rows: int | None = None) -> dict[str, Any]:
        from hoox_edge.operator import sql as sql_mod

        db = self._need_ledger()
        return cast(dict[str, Any], self._run(sql_mod.run(db, sql, params, max_rows or sql_mod.MAX_ROWS,
                                                          limit_ms=self._run(sql_mod.timeout_ms(self.kv)))))

    def logs_export(self, *, since: str, until: str, worker: str | None = None,
                    level: str | None = None) -> Iterator[dict[str, Any]]:
        from hoox_edge.operator import log_export

        db = self._need_ledger()
        cursor: int | None = None
        while True:
            page = self._run(log_export.page(db, since=since, until=until, worker=worker, level=level, cursor=cursor))
            yield from (dict(i) for i in page["items"])
            if not page["nextCursor"]:
                return
            cursor = int(page["nextCursor"])
