-- The AI gateway of agent-worker (issue 15): each provider's circuit breaker and last outcome, and
-- tokens and cost per day, provider and model.

CREATE TABLE ai_providers (
  name             TEXT PRIMARY KEY,           -- the provider's name in agent:config
  failures         INTEGER NOT NULL DEFAULT 0, -- failed calls in a row
  opened_at        TEXT,                       -- set: the breaker is open (half-open after halfOpenSeconds)
  last_success_at  TEXT,
  last_latency_ms  INTEGER,
  last_error       TEXT,                       -- the kind and reason, never a key
  last_failure_at  TEXT
);

CREATE TABLE ai_usage (
  day            TEXT NOT NULL,                -- YYYY-MM-DD, UTC
  provider       TEXT NOT NULL,
  model          TEXT NOT NULL,
  requests       INTEGER NOT NULL DEFAULT 0,
  input_tokens   INTEGER NOT NULL DEFAULT 0,
  output_tokens  INTEGER NOT NULL DEFAULT 0,
  cost           REAL NOT NULL DEFAULT 0,      -- USD, of the priced requests (agent:prices)
  unpriced       INTEGER NOT NULL DEFAULT 0,   -- requests whose model had no price
  PRIMARY KEY (day, provider, model)
);
