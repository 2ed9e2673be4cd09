"""The Textual messages the store's results reach the app and the views by (no subscriber lists).

The store applies each result to its buffers and marks what changed; the app's 4 Hz flush timer
takes the changes and posts one `StoreChanged` to the visible view (batched: a burst of events is
one redraw). The connection's state changes and the risk runs worth telling are posted to the app.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from hoox_cli.core.client import RiskEvent


class Conn(Enum):
    """The state of the cockpit's connection to the edge."""

    NO_EDGE = "no edge"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"
    UNAUTHORIZED = "unauthorized"  # the edge answers, but refuses the operator token


class StoreChanged(Message):
    """`topics` of the store changed since the view was last told (handled by View.on_store_changed)."""

    def __init__(self, topics: frozenset[str]) -> None:
        super().__init__()
        self.topics = topics


class ConnectionChanged(Message):
    """The connection to the edge went to `state`."""

    def __init__(self, state: Conn) -> None:
        super().__init__()
        self.state = state


class RiskRunReported(Message):
    """A risk run that closed something or started failing: the operator is told at once."""

    def __init__(self, event: RiskEvent) -> None:
        super().__init__()
        self.event = event
