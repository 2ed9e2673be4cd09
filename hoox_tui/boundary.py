"""Error boundaries on Textual's public API only: exceptions are caught in the code that raises.

Textual has no public hook for an unhandled exception: one that leaves a handler ends that
widget's message loop and then the app, printing a traceback with local variables (tokens!). So
the cockpit's own code never lets one leave:
- `Guarded` subclasses (views, the app, the cockpit's screens and widgets) get every handler they
  define (`on_*`, `action_*`, `watch_*`, `key_*`, and a View's `compose`) wrapped when the class is
  created; timer callbacks, dialog callbacks and worker coroutines go through `guard(fn)`;
- a caught exception goes to `contain`: the innermost View around the node that raised shows its
  error panel (the rest of the cockpit keeps running); outside any view, the app ends with `crash`
  set (`App.exit(return_code=1)`) and the launcher shows the crash screen.
An exception raised inside Textual's own code (not from a handler of ours) is out of reach here.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from textual.actions import SkipAction
from textual.dom import DOMNode

F = TypeVar("F", bound=Callable[..., Any])
HANDLER_PREFIXES = ("on_", "action_", "watch_", "key_")


def contain(node: DOMNode, error: Exception) -> None:
    """Hand `error`, raised by `node`'s code, to the innermost boundary around `node`: a node with a
    `contain(error)` method (a View shows its panel; the cockpit app ends for the crash screen)."""
    for owner in node.ancestors_with_self:
        own = getattr(owner, "contain", None)
        if own is not None:
            own(error)
            return
    raise error  # not inside the cockpit app (a widget tested on its own): Textual's own handling


def guard(node: DOMNode, fn: F) -> F:
    """`fn` (sync or async) with its exceptions handed to `node`'s boundary instead of raised."""
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except (asyncio.CancelledError, SkipAction):
                raise
            except Exception as exc:
                contain(node, exc)
                return None
        return run_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
        except SkipAction:
            raise
        except Exception as exc:
            contain(node, exc)
            return None
        if inspect.isawaitable(result):
            return guard(node, _await)(result)
        return result
    return run  # type: ignore[return-value]


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _guard_method(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A handler defined on a class: guarded by the instance it runs on."""
    if inspect.isgeneratorfunction(fn):  # compose: what it yielded before failing stays
        @functools.wraps(fn)
        def gen(self: DOMNode, *args: Any, **kwargs: Any) -> Any:
            try:
                yield from fn(self, *args, **kwargs)
            except Exception as exc:
                contain(self, exc)
        return gen
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_async(self: DOMNode, *args: Any, **kwargs: Any) -> Any:
            return await guard(self, functools.partial(fn, self))(*args, **kwargs)
        return run_async

    @functools.wraps(fn)
    def run(self: DOMNode, *args: Any, **kwargs: Any) -> Any:
        return guard(self, functools.partial(fn, self))(*args, **kwargs)
    return run


class Guarded:
    """Mixin for a Textual class of the cockpit: its handlers never let an exception out."""

    GUARD_EXTRA: tuple[str, ...] = ()  # more method names to guard (a View's compose)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        replaced: dict[Any, Callable[..., Any]] = {}
        for name, value in list(vars(cls).items()):
            if not inspect.isfunction(value) or getattr(value, "_hoox_guarded", False):
                continue
            if name.startswith(HANDLER_PREFIXES) or name in cls.GUARD_EXTRA or hasattr(value, "_textual_on"):
                wrapped = _guard_method(value)
                wrapped._hoox_guarded = True  # type: ignore[attr-defined]
                setattr(cls, name, wrapped)
                replaced[value] = wrapped
        # handlers declared with @on(...) are dispatched from the class's table of them: guard those too
        table = vars(cls).get("_decorated_handlers") or {}
        for handlers in table.values():
            handlers[:] = [(replaced.get(method, method), selectors) for method, selectors in handlers]

    def guard(self, fn: F) -> F:
        """`fn` with its exceptions handed to this node's boundary (timers, callbacks, workers)."""
        assert isinstance(self, DOMNode)
        return guard(self, fn)
