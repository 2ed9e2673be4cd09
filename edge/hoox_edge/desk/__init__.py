"""The Telegram desk: the operator's chat console (issue 14). `updates` reads Telegram's updates,
`inbox` is telegram-worker's side (secret, chats, update ids, the Bot API calls), `ingress` the
gateway's webhook routes, `commands` the one handler."""
