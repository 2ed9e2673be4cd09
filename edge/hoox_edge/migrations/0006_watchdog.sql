-- The signal watchdog (gateway): the last signal of every source, what the check decided, and the
-- outbox of its alerts. Adds tables only: nothing existing moves. (0005 belongs to another change.)

-- One row per source: `webhook` (every signal through POST /webhook) and each strategy a signal names.
-- Written by the gateway in the same batch as the signal's own row; a heartbeat writes only here.
CREATE TABLE watchdog_sources (
  source                TEXT PRIMARY KEY,
  last_signal_at        TEXT,                      -- the last signal or heartbeat; NULL: never seen
  last_kind             TEXT,                      -- signal | heartbeat
  last_request_id       TEXT,
  signals               INTEGER NOT NULL DEFAULT 0,
  heartbeats            INTEGER NOT NULL DEFAULT 0,
  watching_since        TEXT NOT NULL,             -- first signal, or the check that first saw an expectation
  state                 TEXT NOT NULL DEFAULT 'ok',  -- ok | quiet (declared quiet, alerted, no signal since)
  quiet_since           TEXT,                      -- when the check declared it quiet
  quiet_last_signal_at  TEXT,                      -- last_signal_at then: a later one means it is back
  updated_at            TEXT NOT NULL
);

-- The watchdog's alerts, written in the batch that changes a source's state and delivered through
-- telegram-worker's /alert with their id as request id: a delivery that failed is retried by the next
-- check, and one that reached the alerts table (its request id is there) is never sent twice.
CREATE TABLE watchdog_alerts (
  id             TEXT PRIMARY KEY,                 -- uuid5 of (source, kind, quiet_since)
  source         TEXT NOT NULL,
  kind           TEXT NOT NULL,                    -- quiet | back
  level          TEXT NOT NULL,                    -- warning | info
  message        TEXT NOT NULL,
  created_at     TEXT NOT NULL,
  claimed_until  TEXT,                             -- a check delivering it holds it until then
  attempts       INTEGER NOT NULL DEFAULT 0,
  delivered_at   TEXT,
  error          TEXT
);
CREATE INDEX idx_watchdog_alerts_pending ON watchdog_alerts(delivered_at, created_at);

-- The last check (one row): the status shows whether the watchdog itself runs.
CREATE TABLE watchdog_checks (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  checked_at  TEXT NOT NULL,
  sources     INTEGER NOT NULL,                    -- sources with an expectation
  quiet       INTEGER NOT NULL,
  errors      TEXT                                 -- JSON list of what went wrong (bad expectations, delivery)
);
