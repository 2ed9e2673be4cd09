-- The Telegram desk (issue 14): which updates were taken (Telegram redelivers an update until it is
-- answered 200, so each update_id is processed once), the one-time confirmations of /killon,
-- /killoff and /flatten, and the long-polling offset of a local runtime without a webhook.

CREATE TABLE telegram_updates (
  update_id    INTEGER PRIMARY KEY,             -- Telegram's, increasing per bot
  received_at  TEXT NOT NULL,
  via          TEXT NOT NULL CHECK (via IN ('webhook', 'polling')),
  chat_id      TEXT,                            -- null: an update without a chat
  kind         TEXT NOT NULL,                   -- message | edited_message | callback_query | other
  allowed      INTEGER NOT NULL DEFAULT 1       -- 0: a stranger's chat, dropped (with a security log row)
);
CREATE INDEX idx_telegram_updates_received ON telegram_updates(received_at);

-- Telegram keeps undelivered updates for 24 hours: a week of ids is more than enough to refuse a redelivery.
CREATE TRIGGER telegram_updates_retention AFTER INSERT ON telegram_updates
BEGIN
  DELETE FROM telegram_updates WHERE received_at < strftime('%Y-%m-%dT%H:%M:%fZ', NEW.received_at, '-7 days');
END;

CREATE TABLE telegram_confirmations (
  token       TEXT PRIMARY KEY,                 -- random; the inline button's callback_data carries it
  chat_id     TEXT NOT NULL,
  action      TEXT NOT NULL CHECK (action IN ('killon', 'killoff', 'flatten')),
  args        TEXT NOT NULL,                    -- JSON object
  created_at  TEXT NOT NULL,
  expires_at  TEXT NOT NULL,
  used_at     TEXT                              -- set once: a token confirms one action
);

CREATE TABLE telegram_polling (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  next_offset  INTEGER NOT NULL,                -- getUpdates' offset: the last update_id taken + 1
  updated_at   TEXT NOT NULL
);
