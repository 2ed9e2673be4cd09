-- The desk assistant's memory (issue 15, hoox_edge.ai.memory): which ledger items are embedded in
-- agent-worker's VECTORIZE index, from which version of the item, and the failures of those that are not.

CREATE TABLE ai_memory (
  item               TEXT PRIMARY KEY,         -- trade:<request_id>
  source_updated_at  TEXT NOT NULL,            -- the item's updated_at its vector was made from (or tried)
  model              TEXT,                     -- the embedding model of its vector; NULL: not embedded yet
  embedded_at        TEXT,
  attempts           INTEGER NOT NULL DEFAULT 0, -- failed tries since its last success
  last_error         TEXT,                     -- why the last try failed, never a key
  next_attempt_at    TEXT                      -- a failed item waits until then (backoff)
);
