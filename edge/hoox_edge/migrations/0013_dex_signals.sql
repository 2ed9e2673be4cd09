-- A swap signal ("exchange": "dex", hoox_edge.dex) has no order row in `trades`: its outcome is kept on
-- its own trade_signals row. `result` is the swap as recorded when it ended (JSON: chain, router,
-- tokens, quantity, the swap's and the approve's tx hashes, the router's quote and the signed bound);
-- NULL for an exchange signal, whose fill is its trades row.

ALTER TABLE trade_signals ADD COLUMN result TEXT;

-- A wallet transaction's signed bytes, kept before they are broadcast: a send whose attempt stopped (or
-- lost the node's answer) is broadcast again as the same transaction (same hash) by a resend of its
-- request id, never signed anew (hoox_edge.workers.web3_wallet._finish_abandoned).
ALTER TABLE wallet_transactions ADD COLUMN raw_tx TEXT;
