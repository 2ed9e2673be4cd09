"""The cockpit's alert console shows where each alert's Telegram delivery stands, and follows it."""

from __future__ import annotations

from typing import Any

from tui_support import fixture_ctx, frozen_clock, status_json

from hoox_cli.core import models as m
from hoox_tui.store import Store
from hoox_tui.views.dashboard import DashboardView


def alert_json(i: int, delivery: str, **extra: Any) -> dict[str, Any]:
    return {"id": i, "createdAt": f"2026-01-05T12:00:0{i}.000Z", "level": "warning", "source": "agent-worker",
            "message": f"alert {i}", "delivery": delivery} | extra


class AlertsEdge:
    """An edge whose /v1/alerts answers what the test last set."""

    base_url = "http://edge.test"

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.calls: list[str] = []

    async def status(self) -> m.StatusResult:
        return m.StatusResult.model_validate(status_json())

    async def trades(self, limit: int) -> m.TradesPage:
        return m.TradesPage.model_validate({"items": [], "nextCursor": None})

    async def logs(self, limit: int) -> m.LogsPage:
        return m.LogsPage.model_validate({"items": [], "nextCursor": None})

    async def alerts(self, *, limit: int | None = None, cursor: str | None = None,
                     level: str | None = None) -> m.AlertsPage:
        self.calls.append("alerts")
        return m.AlertsPage.model_validate({"items": list(reversed(self.items)), "nextCursor": None})


async def test_the_console_shows_each_delivery_state_and_follows_a_pending_alert_to_sent() -> None:
    edge = AlertsEdge()
    edge.items = [
        alert_json(1, "sent", sentAt="2026-01-05T12:00:01.500Z"),
        alert_json(2, "pending", nextAttemptAt="2026-01-05T12:00:17.000Z", attempts=2,
                   error="Telegram API error 429: Too Many Requests: retry after 7"),
        alert_json(3, "failed", error="Telegram API error 400: Bad Request: chat not found"),
        alert_json(4, "muted"),
        alert_json(5, "outbox"),
    ]
    store = Store(edge)  # type: ignore[arg-type]
    store.show(1, frozenset({"alerts"}))  # the dashboard, whose console shows the alerts, is visible
    with frozen_clock():
        await store.poll()  # the first round reads the history
        lines = DashboardView(fixture_ctx(store)).render_alerts().plain.splitlines()
        assert [ln.split("agent-worker: ", 1)[1] for ln in lines] == [
            "alert 5  [not sent: no bot token]",
            "alert 4  [muted]",
            "alert 3  [failed: Telegram API error 400: Bad Request: chat not found]",
            "alert 2  [pending, next try 12:00:17: Telegram API error 429: Too Many Requests: retry after 7]",
            "alert 1  [sent]",
        ]
        edge.items[1] = alert_json(2, "sent", sentAt="2026-01-05T12:00:17.200Z", attempts=2)
        await store.poll()  # later rounds re-read the newest alerts while the console is shown
        lines = DashboardView(fixture_ctx(store)).render_alerts().plain.splitlines()
        assert lines[3].endswith("alert 2  [sent]") and len(lines) == 5
    assert edge.calls == ["alerts", "alerts"]
