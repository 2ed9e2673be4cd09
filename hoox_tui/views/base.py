"""The base of every cockpit view, and its error boundary.

A Textual handler that raises stops its message loop for good (an action's exception would end
the app), so a view contains its own failures (see hoox_tui/boundary.py):
- every handler a view defines (`on_*`, `action_*`, `watch_*`, `key_*`, `compose`), and those of the
  widgets inside it that are `Guarded`, shows the view's error panel instead of raising;
- `guard(fn)` does the same for a timer callback, a dialog callback or a worker coroutine, and
  `run_guarded(coro_fn)` starts such a worker (exit_on_error=False);
- data from the store arrives behind the same boundary (`deliver`).
The panel shows the error (redacted, no local variables) and `r` recomposes the view. It takes the
view's place only once its own content is mounted, so nobody (user or caller) sees a half-built panel.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical
from textual.widgets import Static

from hoox_cli.core.redact import redact
from hoox_tui.boundary import Guarded
from hoox_tui.messages import StoreChanged
from hoox_tui.store import STORE_TOPICS
from hoox_tui.views import BY_ID

if TYPE_CHECKING:
    from hoox_tui.context import CockpitContext

_log = logging.getLogger("hoox.tui")


def describe_error(error: BaseException) -> str:
    """`Type: message` and where it was raised (file:line in function); never local variables."""
    text = f"{type(error).__name__}: {error}"
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        last = frames[-1]
        text += f"\n  at {last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name}"
    return redact(text)


class ErrorPanel(Guarded, Vertical, can_focus=True):
    """What a failed view shows in its place, with `r` to retry.

    It is mounted next to the view, not inside it: a view whose own message loop died (a handler
    raised) would never see the key, and Retry builds a fresh view instead of reusing that one.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "retry", "Retry", id="view.retry")]
    DEFAULT_CSS = """
    ErrorPanel { height: auto; border: heavy $error; padding: 1 2; margin: 1 2; }
    ErrorPanel:focus { background: $error 10%; }
    ErrorPanel .title { text-style: bold; color: $error; }
    """

    def __init__(self, view: View, error: BaseException) -> None:
        super().__init__(classes="error-panel", id=f"error-{view.id}")
        self.view = view
        self._error = error
        # Mounting registers the panel at once but composes its children later, on its own task:
        # it stays hidden until on_mount, so no frame shows an empty panel.
        self.display = False

    def compose(self) -> ComposeResult:
        yield Static(f"{self.view.title} failed", classes="title", markup=False)
        yield Static(describe_error(self._error), id="error-text", markup=False)
        yield Static("The rest of the cockpit keeps running. Press r to retry this view.", markup=False)

    def on_mount(self) -> None:
        # The children exist now: swap the panel in for the view in one step (no refresh in between).
        self.view.display = False
        self.display = True
        if self.screen.is_current:
            self.focus()

    def error_text(self) -> str:
        return str(self.query_one("#error-text", Static).render())

    async def action_retry(self) -> None:
        rebuild = getattr(self.app, "rebuild_view", None)
        if rebuild is not None:
            await rebuild(self.view, self)
            return
        view = self.view  # outside the cockpit app: reuse the view
        view.error = None
        await self.remove()
        view.display = True
        await view.recompose()
        await view.deliver(STORE_TOPICS)


class View(Guarded, Container):
    """One of the nine views. Subclasses compose their content and refresh it in `on_data`."""

    GUARD_EXTRA = ("compose",)
    view_id: ClassVar[str]
    # REST topics the store polls while this view is visible ("status" is always polled)
    poll_topics: ClassVar[frozenset[str]] = frozenset()

    DEFAULT_CSS = """
    View { height: 1fr; width: 1fr; }
    """

    def __init__(self, ctx: CockpitContext, **kw: Any) -> None:
        kw.setdefault("id", f"view-{self.view_id}")
        super().__init__(**kw)
        self.ctx = ctx
        self.error: BaseException | None = None
        self._panel: ErrorPanel | None = None

    @property
    def title(self) -> str:
        """The title the registry gives this view (hoox_tui/views/__init__.py)."""
        spec = BY_ID.get(self.view_id)
        return spec.title if spec is not None else self.view_id

    # ---------------------------------------------------------------- data
    async def on_data(self, topics: frozenset[str]) -> None:
        """Called by the store, only while the view is visible, when any of `topics` changed."""

    async def on_store_changed(self, message: StoreChanged) -> None:
        """What the app's flush timer posts: the store keys changed since this view was last told."""
        await self.deliver(message.topics)

    async def deliver(self, topics: frozenset[str]) -> None:
        """on_data behind the boundary, skipped while the panel shows."""
        # Not before the view is composed, nor once its message loop has stopped (quitting or Retry
        # removes it; its children are pruned while the store's flush timer still runs).
        if self.error is not None or not self.is_mounted or not self.is_running:
            return
        try:
            await self.on_data(topics)
        except Exception as exc:  # the boundary: this view fails, the cockpit does not
            self.show_error(exc)

    # ---------------------------------------------------------------- boundary
    def run_guarded(self, fn: Callable[[], Any], *, group: str = "view", exclusive: bool = True) -> Any:
        """Start `fn` (a coroutine function) as a worker whose failure shows the error panel."""
        return self.run_worker(self.guard(fn), group=group, exclusive=exclusive, exit_on_error=False)

    def contain(self, error: BaseException) -> None:
        """The boundary's entry point (hoox_tui/boundary.py): this view fails, the cockpit does not."""
        self.show_error(error)

    def show_error(self, error: BaseException) -> None:
        """Put the error panel in the view's place (once; a second error keeps the first shown)."""
        if self.error is not None:
            return
        self.error = error
        _log.error("view %s failed: %s", self.view_id, describe_error(error))
        parent = self.parent
        if not self.is_attached or parent is None:
            return
        # The parent's queue does the mounting (this view's may be dead); the panel hides the view
        # itself once it is complete (ErrorPanel.on_mount).
        self._panel = ErrorPanel(self, error)
        parent.mount(self._panel, after=self)  # type: ignore[attr-defined]

    @property
    def error_panel(self) -> ErrorPanel | None:
        """The panel shown in this view's place: None until it is mounted with its content.

        Held by reference: Retry removes the view while its panel stays.
        """
        panel = self._panel
        return panel if panel is not None and panel.is_mounted and panel.is_attached else None

    def error_text(self) -> str | None:
        panel = self.error_panel
        return panel.error_text() if panel is not None else None
