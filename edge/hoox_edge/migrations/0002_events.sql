-- The event log behind `GET /v1/stream`: one row per trade insert or status change, system log
-- row and alert, written by triggers inside the transaction of the writer, so an event exists
-- exactly when its row does (a rolled-back batch leaves neither). `status` events are inserted
-- by `hoox_edge.shared.events.emit`.
--
-- `id` is the `id:` of the stream. SQLite (and D1) has one writer at a time, so ids become visible in
-- increasing order: a reader that saw id N never sees a smaller id appear later, which is what
-- makes "resume strictly after Last-Event-ID" gap-free.
--
-- The row ids of logs and alerts are `logId` / `alertId` in `data`: `id` is the id of the event.
-- Trigger bodies hold one statement each and no nested compound expression, which keeps the statement
-- splitter of wrangler from cutting them apart.

CREATE TABLE events (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at  TEXT NOT NULL,
  type        TEXT NOT NULL CHECK (type IN ('trade', 'log', 'alert', 'status')),
  request_id  TEXT,
  data        TEXT NOT NULL                        -- JSON object
);
CREATE INDEX idx_events_created ON events(created_at);

CREATE TRIGGER events_trade_insert AFTER INSERT ON trades
BEGIN
  INSERT INTO events (created_at, type, request_id, data) VALUES (NEW.updated_at, 'trade', NEW.request_id,
    json_object('tradeId', NEW.id, 'requestId', NEW.request_id, 'exchange', NEW.exchange,
                'symbol', NEW.symbol, 'action', NEW.action, 'side', NEW.side, 'quantity', NEW.quantity,
                'price', NEW.price, 'fee', NEW.fee, 'realizedPnl', NEW.realized_pnl, 'status', NEW.status,
                'mode', NEW.mode, 'error', NEW.error));
END;

CREATE TRIGGER events_trade_status AFTER UPDATE OF status ON trades WHEN OLD.status IS NOT NEW.status
BEGIN
  INSERT INTO events (created_at, type, request_id, data) VALUES (NEW.updated_at, 'trade', NEW.request_id,
    json_object('tradeId', NEW.id, 'requestId', NEW.request_id, 'exchange', NEW.exchange,
                'symbol', NEW.symbol, 'action', NEW.action, 'side', NEW.side, 'quantity', NEW.quantity,
                'price', NEW.price, 'fee', NEW.fee, 'realizedPnl', NEW.realized_pnl, 'status', NEW.status,
                'mode', NEW.mode, 'error', NEW.error));
END;

-- `details` is JSON written by shared.logs, and a row written some other way with text that is not
-- JSON is carried as a string instead of failing the log insert.
CREATE TRIGGER events_log_insert AFTER INSERT ON system_logs
BEGIN
  INSERT INTO events (created_at, type, request_id, data) VALUES (NEW.created_at, 'log', NEW.request_id,
    json_object('logId', NEW.id, 'level', NEW.level, 'worker', NEW.worker, 'requestId', NEW.request_id,
                'message', NEW.message,
                'details', iif(json_valid(NEW.details), json(NEW.details), NEW.details)));
END;

CREATE TRIGGER events_alert_insert AFTER INSERT ON alerts
BEGIN
  INSERT INTO events (created_at, type, request_id, data) VALUES (NEW.created_at, 'alert', NEW.request_id,
    json_object('alertId', NEW.id, 'level', NEW.level, 'source', NEW.source, 'requestId', NEW.request_id,
                'message', NEW.message, 'delivery', NEW.delivery));
END;

-- Retention: events older than 7 days (measured from the time of the newest event, so it follows
-- the clock of the writers) are pruned as new ones arrive. The index makes this a seek that finds
-- nothing on almost every insert. A stream resumed from a pruned id starts at the oldest kept
-- event and says so in a comment.
CREATE TRIGGER events_retention AFTER INSERT ON events
BEGIN
  DELETE FROM events WHERE created_at < strftime('%Y-%m-%dT%H:%M:%fZ', NEW.created_at, '-7 days');
END;
