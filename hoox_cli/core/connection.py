"""Which edge a front end talks to, and the client for it: `--remote URL`, else HOOX_API_URL, else the
workspace's local gateway (hoox_cli.core.client.resolve_config); the client's errors become CliErrors
that say what to do."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from hoox_cli.core.errors import fail
from hoox_cli.core.redact import remember_secrets

if TYPE_CHECKING:
    from hoox_cli.core.client import HooxClient


@contextlib.contextmanager
def operator_client(remote: str | None) -> Iterator[HooxClient]:
    """A HooxClient for the chosen edge; its errors become CLI errors with what to do."""
    from hoox_cli.core.client import HooxApiError, HooxClient, HooxConfigError, HooxConnectionError, resolve_config

    try:
        cfg = resolve_config(remote)
    except HooxConfigError as exc:
        fail("NO_EDGE_CONFIG", str(exc))
    except Exception as exc:
        if type(exc).__name__ == "WorkspaceError":
            fail("WORKSPACE_ERROR", str(exc))
        raise
    remember_secrets(cfg.secrets)  # whatever the edge echoes, the token is never printed
    client = HooxClient(cfg.base_url, cfg.token, source=cfg.source, token_source=cfg.token_source,
                        access=cfg.access)
    try:
        yield client
    except HooxApiError as exc:
        message = exc.message + (f" {exc.hint}" if exc.hint else "")
        if exc.request_id:
            message += f" (request id {exc.request_id})"
        fail(exc.code, message, details=exc.details)
    except HooxConnectionError as exc:
        fail("EDGE_UNREACHABLE", exc.message)
    finally:
        client.close()
