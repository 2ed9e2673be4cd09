"""email-worker: signals from e-mail — a later issue. This version says so instead of pretending
(see shared/unavailable.py)."""

from hoox_edge.shared.unavailable import unavailable_app, unavailable_cron

WORKER = "email-worker"
NOT_AVAILABLE_MESSAGE = "Signals from e-mail (/email) are not available in this version of hoox."

app = unavailable_app(WORKER, "/email", NOT_AVAILABLE_MESSAGE)
scheduled = unavailable_cron(
    WORKER, "e-mail signals are not available in this version, so no mailbox was read and no signal was taken.")
