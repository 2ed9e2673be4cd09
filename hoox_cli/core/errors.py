"""What every module of the core and the CLI uses: the error the user can act on (`CliError`, raised with
`fail`; each front end shows it its own way: the CLI as an error line or `{"error": {"code", "message"}}`
and an exit code), `is_utf8` for arguments (the root group and the quick path refuse what fails it), and
`run_async` for a synchronous caller of the async adapters."""

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


def is_utf8(value: Any) -> bool:
    """Whether an argument's value (a text, or several) is valid UTF-8. Bytes of the command line that
    are not reach Python as lone surrogates (PEP 383), which fail wherever the value is encoded."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, (list, tuple)):
        return all(is_utf8(v) for v in value)
    return True


def fail(code: str, message: str, *, exit_code: int = 1, details: Any = None) -> NoReturn:
    raise CliError(code, message, exit_code=exit_code, details=details)


def run_async(coro: Any) -> Any:
    """`coro` run to its end on a new event loop (a command's synchronous body calling async code)."""
    import asyncio

    return asyncio.run(coro)
