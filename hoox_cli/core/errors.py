"""The error every layer may raise for the user to act on; the front ends turn it into their output
(the CLI: an error line or `{"error": {"code", "message"}}` and an exit code)."""

from __future__ import annotations

from typing import Any, NoReturn


class CliError(Exception):
    """An error the user can act on: `code` is stable (for --json), `message` says what to do."""

    def __init__(self, code: str, message: str, *, exit_code: int = 1, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.exit_code = exit_code
        self.details = details


def fail(code: str, message: str, *, exit_code: int = 1, details: Any = None) -> NoReturn:
    raise CliError(code, message, exit_code=exit_code, details=details)


def run_async(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)
