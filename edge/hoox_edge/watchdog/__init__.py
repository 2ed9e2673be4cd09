"""The signal watchdog: per-source expectations (`watchdog:expect:{source}`), the last signal of
every source, a check on the gateway's cron that raises one alert when a source goes quiet and one
when it is back. `rules` is pure (shapes and trading-time arithmetic), `record` is what the gateway
writes per signal, `check` is the cron run, its alert outbox and the status the operator API shows."""
