-- The risk manager (agent-worker): its runs, what it keeps per open position, the actions it took
-- and the start-of-day equity of each book on each exchange. Adds tables only: nothing existing moves.

-- One row per run of the risk loop (cron, `hoox dev cron agent-worker`, POST /agent/run).
CREATE TABLE risk_runs (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  trigger         TEXT NOT NULL,                   -- cron | manual
  status          TEXT NOT NULL,                   -- running | ok | error | skipped
  started_at      TEXT NOT NULL,
  finished_at     TEXT,
  duration_ms     REAL,
  positions_seen  INTEGER NOT NULL DEFAULT 0,
  actions         INTEGER NOT NULL DEFAULT 0,     -- orders the run sent (or resumed)
  errors          INTEGER NOT NULL DEFAULT 0,
  details         TEXT                             -- JSON: actions and errors of the run
);
CREATE INDEX idx_risk_runs_started ON risk_runs(started_at);

-- Two runs never overlap: one row, taken with a lease (owner, until).
CREATE TABLE risk_lock (
  name        TEXT PRIMARY KEY,
  owner       TEXT NOT NULL,
  run_id      INTEGER,
  until       TEXT NOT NULL
);

-- What the risk manager keeps of an open position (positions.id): the watermark (peak of a LONG,
-- trough of a SHORT), the stop (never loosened), the take-profit targets already done.
CREATE TABLE risk_positions (
  position_id   INTEGER PRIMARY KEY,
  mode          TEXT NOT NULL,
  exchange      TEXT NOT NULL,
  symbol        TEXT NOT NULL,
  side          TEXT NOT NULL,                   -- LONG | SHORT
  entry_price   REAL NOT NULL,
  initial_size  REAL NOT NULL,                   -- the size first seen: targets' fractions are of it
  watermark     REAL NOT NULL,
  stop_price    REAL,                            -- null: no stop
  stop_kind     TEXT,                            -- trailing | break_even
  targets_done  INTEGER NOT NULL DEFAULT 0,      -- take-profit targets fired or skipped, in order
  closed        INTEGER NOT NULL DEFAULT 0,      -- 1 once the risk manager sent the close of the rest
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL
);

-- Every order the risk manager decided, recorded (with its signal row) before it is sent: a run
-- that stops part-way leaves it pending and the next run finishes it under the same request id.
CREATE TABLE risk_actions (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  request_id    TEXT NOT NULL UNIQUE,            -- derived from (position, rule, step, attempt)
  run_id        INTEGER,
  position_id   INTEGER NOT NULL,
  rule          TEXT NOT NULL,                   -- trailing_stop | break_even_stop | take_profit | drawdown
  step          TEXT NOT NULL,                   -- target number, or the day of a drawdown
  attempt       INTEGER NOT NULL DEFAULT 0,
  mode          TEXT NOT NULL,
  exchange      TEXT NOT NULL,
  symbol        TEXT NOT NULL,
  quantity      REAL,                            -- null: the whole remaining size
  price         REAL,                            -- the mark price that fired it
  status        TEXT NOT NULL,                   -- pending | done | failed
  error         TEXT,
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL,
  UNIQUE (position_id, rule, step, attempt)
);
CREATE INDEX idx_risk_actions_pending ON risk_actions(status) WHERE status = 'pending';

-- Start-of-day (00:00 UTC) equity per book and exchange, written by the first run of the day.
CREATE TABLE equity_snapshots (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  day           TEXT NOT NULL,                   -- YYYY-MM-DD (UTC)
  mode          TEXT NOT NULL,
  exchange      TEXT NOT NULL,
  equity        REAL NOT NULL,                   -- balance total + unrealised P&L at mark
  balance       REAL NOT NULL,
  unrealized    REAL NOT NULL,
  taken_at      TEXT NOT NULL,
  tripped_at    TEXT,                            -- when this day's drawdown turned the kill switch on
  UNIQUE (day, mode, exchange)
);
