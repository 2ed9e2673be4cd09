-- The alert outbox (telegram-worker, hoox_edge.alerts.outbox): every alert row is the outbox entry
-- of its delivery. `delivery` gains `pending` (waiting for Telegram; `next_attempt_at` says when it
-- is tried again) and `muted` (its kind is muted: kept, never sent), besides `outbox` (no bot token
-- when it was raised), `sent` and `failed`; `error` holds the last error. Rows written before this
-- migration keep their delivery as it was: none of them is pending.
-- Numbered 0009: 0008 is the Telegram desk's.

ALTER TABLE alerts ADD COLUMN chat_id TEXT;                      -- where it goes, routed when raised
ALTER TABLE alerts ADD COLUMN parse_mode TEXT;                   -- the caller's; NULL: plain text
ALTER TABLE alerts ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;  -- failed sends so far
ALTER TABLE alerts ADD COLUMN next_attempt_at TEXT;              -- pending: not tried again before this
ALTER TABLE alerts ADD COLUMN parts_sent INTEGER NOT NULL DEFAULT 0;  -- messages of a split alert sent
ALTER TABLE alerts ADD COLUMN claim_id TEXT;                     -- the drain that is sending it
ALTER TABLE alerts ADD COLUMN claimed_until TEXT;                -- its lease (a crashed drain's ends)
ALTER TABLE alerts ADD COLUMN sent_at TEXT;

-- A drain reads the oldest pending alert of each chat.
CREATE INDEX idx_alerts_pending ON alerts(chat_id, id) WHERE delivery = 'pending';
