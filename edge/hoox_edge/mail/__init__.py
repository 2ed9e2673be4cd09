"""Signals from e-mail: one parser (`message`, `rules`) and one path (`intake`) for the three ways in
(Mailgun's inbound webhook, IMAP polling in the local runtime, Cloudflare Email Routing forwarded)."""
