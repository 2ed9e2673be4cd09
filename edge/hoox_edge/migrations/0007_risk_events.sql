-- The `risk` event type of `/v1/stream` (one event per completed risk run). The type is checked by
-- the CHECK constraint of `events.type` (0002), which SQLite cannot alter in place, so the table is
-- made again with the same columns, rows and ids and the new type allowed, with its index and its
-- retention trigger as 0002 wrote them. Nothing is renamed: the triggers of trades, system_logs and
-- alerts name `events`, which resolves when they fire, so they carry on unchanged.
-- Numbered 0007: 0006 is the signal watchdog's.

CREATE TABLE events_before_0007 AS SELECT id, created_at, type, request_id, data FROM events;
DROP TABLE events;

CREATE TABLE events (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at  TEXT NOT NULL,
  type        TEXT NOT NULL CHECK (type IN ('trade', 'log', 'alert', 'status', 'risk')),
  request_id  TEXT,
  data        TEXT NOT NULL                        -- JSON object
);
-- Same ids: a client resuming with Last-Event-ID misses nothing and sees nothing twice. The newest
-- event is never pruned, so AUTOINCREMENT carries on after the largest id kept.
INSERT INTO events (id, created_at, type, request_id, data)
  SELECT id, created_at, type, request_id, data FROM events_before_0007 ORDER BY id;
DROP TABLE events_before_0007;
CREATE INDEX idx_events_created ON events(created_at);

CREATE TRIGGER events_retention AFTER INSERT ON events
BEGIN
  DELETE FROM events WHERE created_at < strftime('%Y-%m-%dT%H:%M:%fZ', NEW.created_at, '-7 days');
END;
