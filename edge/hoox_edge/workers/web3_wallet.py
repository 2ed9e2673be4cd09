"""web3-wallet-worker: on-chain swaps (DEX) — a later issue. This version says so instead of pretending
(see shared/unavailable.py)."""

from hoox_edge.shared.unavailable import unavailable_app

WORKER = "web3-wallet-worker"
NOT_AVAILABLE_MESSAGE = "On-chain swaps (/dex) are not available in this version of hoox."

app = unavailable_app(WORKER, "/dex", NOT_AVAILABLE_MESSAGE)
