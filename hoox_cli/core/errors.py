"""What every module of the core and the CLI uses: the error the user can act on (`CliError`, raised with
`fail`; each front end shows it its own way: the CLI as an error line or `{"error": {"code", "message"}}`
and an exit code), and `run_async` for a synchronous caller of the async adapters."""

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
    """`coro` run to its end on a new event loop (a command's synchronous body calling async code)."""
    import asyncio

    return asyncio.run(coro)
