"""report-worker: twice-daily P&L reports — a later issue. This version says so instead of pretending
(see shared/unavailable.py)."""

from hoox_edge.shared.unavailable import unavailable_app, unavailable_cron

WORKER = "report-worker"
NOT_AVAILABLE_MESSAGE = "P&L reports (/report) are not available in this version of hoox."

app = unavailable_app(WORKER, "/report", NOT_AVAILABLE_MESSAGE)
scheduled = unavailable_cron(
    WORKER, "P&L reports are not available in this version, so no report was written or sent.")
