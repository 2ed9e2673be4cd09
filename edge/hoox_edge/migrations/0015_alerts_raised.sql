-- Alerts a worker raised in its own batch (trade-worker's fills: delivery `raised`) wait for
-- telegram-worker to route them (hoox_edge.alerts.outbox.route_raised), which looks for them on
-- every drain: without this index each look scanned every alert ever raised.
-- Numbered 0015: 0013 is the swap signals', 0014 the desk memory's.
CREATE INDEX idx_alerts_raised ON alerts(level) WHERE delivery = 'raised';
