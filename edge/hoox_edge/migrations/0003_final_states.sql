-- Every signal reaches a final state (DESIGN decision 11), paper and live are two books (decision 12),
-- resting orders are followed. See hoox_edge/lifecycle.py for the state machine these columns carry.
--
-- trade_signals.status: Received | Enqueued | Executing | Resting (intermediate) and
-- Filled | Cancelled | Expired | Rejected | DeadLettered (final). A rejection says why in error_code.

ALTER TABLE trade_signals ADD COLUMN signal TEXT;      -- the normalised signal (JSON): what a resend resumes
ALTER TABLE trade_signals ADD COLUMN lock_key TEXT;    -- the idempotency lock this signal holds (hashed)
ALTER TABLE trade_signals ADD COLUMN error_code TEXT;  -- the code of a rejection (VALIDATION_ERROR, NOT_PLACED, ...)
ALTER TABLE trade_signals ADD COLUMN reason TEXT;      -- why the desk sent it itself (flatten), null for a sender's signal

UPDATE trade_signals SET status = 'Rejected', error_code = 'VALIDATION_ERROR' WHERE status = 'Invalid';
UPDATE trade_signals SET status = 'Rejected', error_code = 'DUPLICATE_REQUEST' WHERE status = 'Duplicate';
UPDATE trade_signals SET status = 'Rejected', error_code = 'KILL_SWITCH_ACTIVE' WHERE status = 'KillSwitch';
UPDATE trade_signals SET status = 'Rejected', error_code = 'RATE_LIMITED' WHERE status = 'RateLimited';
UPDATE trade_signals SET status = 'DeadLettered' WHERE status = 'Failed' AND request_id IN (SELECT request_id FROM trades WHERE status = 'Failed');
UPDATE trade_signals SET status = 'Rejected', error_code = 'NOT_PLACED' WHERE status = 'Failed';
UPDATE trade_signals SET error_code = 'EXCHANGE_ERROR' WHERE status = 'Rejected' AND error_code IS NULL;
CREATE INDEX idx_trade_signals_open ON trade_signals(status) WHERE status IN ('Received', 'Enqueued', 'Executing', 'Resting');

-- trades: quantity is what was ordered, filled_qty what has filled so far (partial fills of a
-- resting order add up). An attempt holds a lease (owner, until) while it may reach the exchange;
-- attempt_started_at dates the order request an exchange could still accept (the reconciler's deadline).
ALTER TABLE trades ADD COLUMN filled_qty REAL NOT NULL DEFAULT 0;
ALTER TABLE trades ADD COLUMN limit_price REAL;
ALTER TABLE trades ADD COLUMN reason TEXT;
ALTER TABLE trades ADD COLUMN lease_owner TEXT;
ALTER TABLE trades ADD COLUMN lease_until TEXT;
ALTER TABLE trades ADD COLUMN attempt_started_at TEXT;
ALTER TABLE trades ADD COLUMN expires_at TEXT;

UPDATE trades SET filled_qty = quantity WHERE status = 'Filled';
UPDATE trades SET status = 'DeadLettered' WHERE status = 'Failed';
UPDATE trades SET status = 'Resting', error = NULL WHERE status = 'TRADE_PENDING' AND error LIKE 'ORDER_RESTING:%';
UPDATE trade_signals SET status = 'Resting' WHERE request_id IN (SELECT request_id FROM trades WHERE status = 'Resting');
CREATE INDEX idx_trades_open ON trades(status) WHERE status IN ('TRADE_PENDING', 'Resting');

-- Two books: one open position per mode, exchange and symbol.
DROP INDEX idx_positions_open;
CREATE UNIQUE INDEX idx_positions_open ON positions(mode, exchange, symbol) WHERE status = 'OPEN';

-- Trade events carry the fill so far and fire when it grows (a partial fill of a resting order).
DROP TRIGGER events_trade_insert;
DROP TRIGGER events_trade_status;

CREATE TRIGGER events_trade_insert AFTER INSERT ON trades
BEGIN
  INSERT INTO events (created_at, type, request_id, data) VALUES (NEW.updated_at, 'trade', NEW.request_id,
    json_object('tradeId', NEW.id, 'requestId', NEW.request_id, 'exchange', NEW.exchange,
                'symbol', NEW.symbol, 'action', NEW.action, 'side', NEW.side, 'quantity', NEW.quantity,
                'filledQty', NEW.filled_qty, 'price', NEW.price, 'fee', NEW.fee,
                'realizedPnl', NEW.realized_pnl, 'status', NEW.status, 'mode', NEW.mode,
                'reason', NEW.reason, 'error', NEW.error));
END;

CREATE TRIGGER events_trade_status AFTER UPDATE OF status, filled_qty ON trades
WHEN OLD.status IS NOT NEW.status OR OLD.filled_qty IS NOT NEW.filled_qty
BEGIN
  INSERT INTO events (created_at, type, request_id, data) VALUES (NEW.updated_at, 'trade', NEW.request_id,
    json_object('tradeId', NEW.id, 'requestId', NEW.request_id, 'exchange', NEW.exchange,
                'symbol', NEW.symbol, 'action', NEW.action, 'side', NEW.side, 'quantity', NEW.quantity,
                'filledQty', NEW.filled_qty, 'price', NEW.price, 'fee', NEW.fee,
                'realizedPnl', NEW.realized_pnl, 'status', NEW.status, 'mode', NEW.mode,
                'reason', NEW.reason, 'error', NEW.error));
END;
