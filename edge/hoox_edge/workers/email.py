"""email-worker: e-mail signals do not pass through this worker, so it has no feature routes.

They come in at the gateway, which owns the signal path (`hoox_edge.mail`): Mailgun's inbound webhook
`POST /webhook/mailgun` and, in the local runtime, IMAP polling of the mailbox in this worker's
secrets `EMAIL_HOST`/`EMAIL_USER`/`EMAIL_PASS` (`hoox_edge.local.imap_poll`, every 5 minutes).
Cloudflare Email Routing is not a way in (no `email` handler is wired for Python Workers:
docs/architecture.md, E-mail signals), and a Worker has no sockets to reach an IMAP server, so on
Cloudflare its cron reads nothing and says so (see shared/unavailable.py).
"""

from hoox_edge.shared.unavailable import unavailable_app, unavailable_cron

WORKER = "email-worker"
NOT_AVAILABLE_MESSAGE = ("email-worker's own routes (/email) are not available in this version: e-mail signals come "
                         "in at the gateway's /webhook/mailgun (Mailgun) and, in the local runtime, by IMAP polling.")

app = unavailable_app(WORKER, "/email", NOT_AVAILABLE_MESSAGE)
scheduled = unavailable_cron(
    WORKER, "reading a mailbox from a Worker is not available in this version (a Worker has no sockets for IMAP): "
            "the local runtime polls the mailbox itself, and Mailgun's webhook reaches the gateway's /webhook/mailgun.")
