"""web3-wallet-worker's KV configuration: the chains (`web3:chains`) and what a chain entry must be."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# The secrets a chain's RPC URL may be read from: the worker's declared secrets (catalog), so that the
# local runtime binds them and `hoox secrets` knows them. An RPC URL carries the provider's API key.
RPC_SECRETS = ("RPC_PROVIDER_URL", "RPC_URL_ETHEREUM", "RPC_URL_ARBITRUM", "RPC_URL_BASE", "RPC_URL_OPTIMISM",
               "RPC_URL_POLYGON", "RPC_URL_BSC", "RPC_URL_TESTNET")
CHAIN_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
MAX_CHAIN_ID = 2**53 - 1  # chain ids are JSON numbers; EIP-2294 bounds them far lower in practice


@dataclass(frozen=True)
class Chain:
    name: str
    chain_id: int
    rpc_secret: str
    explorer: str  # "" when none
    symbol: str = "ETH"  # the native coin's

    def tx_url(self, tx_hash: str) -> str | None:
        return f"{self.explorer.rstrip('/')}/tx/{tx_hash}" if self.explorer else None


def chains_problem(value: Any) -> str | None:
    """None when `value` is a valid `web3:chains`, else the first problem, naming the chain and field."""
    if not isinstance(value, dict):
        return 'must be a JSON object {"name": {"chainId", "rpcSecret", "explorer", "symbol"?}}'
    for name, entry in value.items():
        if not CHAIN_NAME.match(str(name)):
            return f"chain name {name!r} must be 1-32 lower-case letters, digits or '-'"
        if not isinstance(entry, dict):
            return f"{name}: must be an object with chainId, rpcSecret and explorer"
        extra = set(entry) - {"chainId", "rpcSecret", "explorer", "symbol"}
        if extra:
            return f"{name}: unknown field(s) {', '.join(sorted(extra))} (chainId, rpcSecret, explorer, symbol)"
        cid = entry.get("chainId")
        if isinstance(cid, bool) or not isinstance(cid, int) or not 1 <= cid <= MAX_CHAIN_ID:
            return f"{name}.chainId must be a whole number from 1 to {MAX_CHAIN_ID}"
        if entry.get("rpcSecret") not in RPC_SECRETS:
            return f"{name}.rpcSecret must name one of the worker's RPC secrets: {', '.join(RPC_SECRETS)}"
        explorer = entry.get("explorer", "")
        if not isinstance(explorer, str) or (explorer and not _URL.match(explorer)):
            return f"{name}.explorer must be empty or an http(s) URL such as https://etherscan.io"
        symbol = entry.get("symbol", "ETH")
        if not isinstance(symbol, str) or not re.match(r"^[A-Za-z0-9.]{1,12}$", symbol):
            return f"{name}.symbol must be 1-12 letters or digits (the native coin, e.g. ETH, POL)"
    return None


def chains_of(value: Any) -> dict[str, Chain]:
    problem = chains_problem(value)
    if problem:
        raise ValueError(problem)
    return {n: Chain(n, e["chainId"], e["rpcSecret"], e.get("explorer", ""), e.get("symbol", "ETH"))
            for n, e in value.items()}
