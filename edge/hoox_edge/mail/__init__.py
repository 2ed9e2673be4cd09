"""Signals from e-mail: one parser (`message`, `rules`) and one path (`intake`) for the ways in: Mailgun's
inbound webhook at the gateway (`mailgun`) and IMAP polling in the local runtime (`local/imap_poll.py`).
Cloudflare Email Routing is not a way in: no `email` handler is wired for Python Workers (docs/architecture.md,
E-mail signals)."""
