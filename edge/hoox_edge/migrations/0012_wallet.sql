-- web3-wallet-worker's ledger (hoox_edge.workers.web3_wallet): one row per sendTransaction request id,
-- written before anything is signed, so a resend with the same request id finds it and answers the
-- first transaction instead of sending a second one. The nonce is reserved by the INSERT itself
-- (UNIQUE per chain and sender): two concurrent sends never get the same one.
-- status: signing (nonce reserved, not broadcast yet) → pending (broadcast, no receipt yet) →
-- confirmed | reverted; rejected: the node refused the raw transaction (its nonce is free again).
-- Numbered 0012: 0010 is the AI gateway's, 0011 the e-mail signals'.

CREATE TABLE wallet_transactions (
  request_id TEXT PRIMARY KEY,
  chain TEXT NOT NULL,
  chain_id INTEGER NOT NULL,
  from_address TEXT NOT NULL,
  to_address TEXT NOT NULL,
  value_wei TEXT NOT NULL,                 -- decimal text: wei overflow SQLite's 64-bit integers
  token_address TEXT,                      -- an ERC-20 transfer: the token; NULL: native or raw call
  data_len INTEGER NOT NULL DEFAULT 0,
  nonce INTEGER NOT NULL,
  gas_limit INTEGER,
  max_fee_per_gas TEXT,
  max_priority_fee_per_gas TEXT,
  tx_hash TEXT,
  status TEXT NOT NULL,
  block_number INTEGER,
  gas_used INTEGER,
  effective_gas_price TEXT,
  error TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);

-- A rejected transaction gives its nonce back: only live rows hold one.
CREATE UNIQUE INDEX idx_wallet_nonce ON wallet_transactions(chain_id, from_address, nonce)
  WHERE status != 'rejected';
CREATE INDEX idx_wallet_created ON wallet_transactions(created_at);
