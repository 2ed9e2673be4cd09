"""agent-worker: the AI risk manager (trailing stops, take-profits, drawdown kill switch, chat) —
a later issue. This version says so instead of pretending (see shared/unavailable.py)."""

from hoox_edge.shared.unavailable import unavailable_app, unavailable_cron

WORKER = "agent-worker"
NOT_AVAILABLE_MESSAGE = (
    "The risk manager and its chat (/agent/...) are not available in this version of hoox; no "
    "trailing stop, take-profit or drawdown check is running."
)

app = unavailable_app(WORKER, "/agent", NOT_AVAILABLE_MESSAGE)
scheduled = unavailable_cron(
    WORKER, "the risk manager is not available in this version, so no position was checked "
    "(no trailing stop, take-profit or drawdown kill switch ran).")
