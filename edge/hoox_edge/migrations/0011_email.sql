-- E-mail signals (issue 16 item 1): every e-mail's outcome, the Mailgun tokens already seen (a replayed
-- webhook is refused within the signature's window) and each IMAP mailbox's last UID read.

CREATE TABLE email_messages (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id   TEXT NOT NULL,                   -- the Message-ID header (sha256:... of the bytes without one)
  received_at  TEXT NOT NULL,
  via          TEXT NOT NULL CHECK (via IN ('mailgun', 'imap')),
  sender       TEXT,                            -- the From address (null: unreadable)
  subject      TEXT,                            -- at most 200 characters
  outcome      TEXT NOT NULL CHECK (outcome IN ('executed', 'rejected', 'ignored')),
  reason       TEXT NOT NULL,                   -- why (the gateway's code and message when it refused)
  request_id   TEXT,                            -- the signal's request id when it reached the gateway
  signal       TEXT                             -- the signal body read from the e-mail (JSON)
);
CREATE INDEX idx_email_messages_message_id ON email_messages(message_id);
CREATE INDEX idx_email_messages_received ON email_messages(received_at);

CREATE TABLE email_mailgun_tokens (
  token_hash  TEXT PRIMARY KEY,                 -- sha256 of Mailgun's token (never the token itself)
  timestamp   INTEGER NOT NULL,                 -- the webhook's own timestamp, seconds
  seen_at     TEXT NOT NULL
);
CREATE INDEX idx_email_mailgun_tokens_timestamp ON email_mailgun_tokens(timestamp);

CREATE TABLE email_imap_state (
  mailbox      TEXT PRIMARY KEY,                -- user@host/folder
  uidvalidity  INTEGER NOT NULL,                -- a new UIDVALIDITY starts the UIDs again
  last_uid     INTEGER NOT NULL,                -- the highest UID handled
  updated_at   TEXT NOT NULL
);
