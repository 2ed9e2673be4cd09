-- Reconciliation (issue 11, item 5): each risk run compares the ledger's open live positions with the
-- positions each live exchange reports. A mismatch is one row here while it lasts; it is alerted once
-- (when it first appears) and marked cleared, with an info alert, when ledger and exchange agree
-- again. Nothing is fixed automatically. Adds a table only: nothing existing moves.
CREATE TABLE reconciliation_issues (
  id                  INTEGER PRIMARY KEY AUTOINCREMENT,
  exchange            TEXT NOT NULL,
  symbol              TEXT NOT NULL,
  kind                TEXT NOT NULL,               -- size | side | missing_at_exchange | not_in_ledger
  ledger_position_id  INTEGER,                     -- positions.id of the ledger's open live position, if any
  ledger_side         TEXT,                        -- LONG | SHORT | null (no open position in the ledger)
  ledger_size         REAL,
  exchange_side       TEXT,                        -- LONG | SHORT | null (no position at the exchange)
  exchange_size       REAL,
  status              TEXT NOT NULL,               -- open | cleared
  first_seen_at       TEXT NOT NULL,
  last_seen_at        TEXT NOT NULL,               -- the last run that still saw it
  cleared_at          TEXT,
  first_run_id        INTEGER,
  last_run_id         INTEGER,
  cleared_run_id      INTEGER
);
-- At most one open issue per exchange and symbol: a run updates it, never adds a second.
CREATE UNIQUE INDEX idx_reconciliation_open ON reconciliation_issues(exchange, symbol) WHERE status = 'open';
CREATE INDEX idx_reconciliation_status ON reconciliation_issues(status, id);
