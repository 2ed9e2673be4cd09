"""P&L reports: a document per run built from the ledger (`document`), rendered to PDF where a renderer
is available (`pdf`), kept in R2 with a 30-day retention (`store`) and sent to Telegram (`deliver`).
report-worker (`hoox_edge.workers.report`) runs them on its cron and on `POST /report`."""
