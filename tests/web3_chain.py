"""A real EVM for the wallet tests: eth-tester on py-evm, served as Ethereum JSON-RPC over HTTP on a
loopback port, so the worker reaches it exactly as it reaches Infura or Alchemy (its own httpx client).

Only the methods the wallet uses are served; each runs against the chain under one lock (py-evm is not
thread-safe). Transactions are mined as they arrive (eth-tester's auto-mine). `assemble` turns the
EVM assembly of tests/data/web3/*.easm into bytecode.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hoox_edge.wallet import evm
from netutil import ServedInThread

DATA = Path(__file__).parent / "data" / "web3"
GWEI = 10**9
ETH = 10**18
SWAP_SELECTOR = "0x38ed1739"  # swapExactTokensForTokens

# ----------------------------------------------------------------------------- a tiny assembler
_OPS = {"STOP": 0x00, "ADD": 0x01, "MUL": 0x02, "SUB": 0x03, "DIV": 0x04, "LT": 0x10, "GT": 0x11, "EQ": 0x14,
        "ISZERO": 0x15, "SHL": 0x1B, "SHR": 0x1C, "SHA3": 0x20, "ADDRESS": 0x30, "CALLER": 0x33,
        "CALLDATALOAD": 0x35, "CODECOPY": 0x39, "TIMESTAMP": 0x42, "POP": 0x50, "MLOAD": 0x51, "MSTORE": 0x52,
        "SLOAD": 0x54, "SSTORE": 0x55, "JUMP": 0x56, "JUMPI": 0x57, "GAS": 0x5A, "JUMPDEST": 0x5B, "CALL": 0xF1,
        "RETURN": 0xF3, "REVERT": 0xFD,
        **{f"PUSH{n}": 0x5F + n for n in range(1, 33)}, **{f"DUP{n}": 0x7F + n for n in range(1, 17)},
        **{f"SWAP{n}": 0x8F + n for n in range(1, 17)}}


def assemble(source: str) -> bytes:
    """Two passes: labels (`name:`) get their offsets; `@label` is a label's offset, `@runtime_len` /
    `@runtime_start` the code after the `runtime:` label (code offsets in it are relative to it)."""
    lines = [ln.split(";", 1)[0].strip() for ln in source.splitlines()]
    lines = [ln for ln in lines if ln]

    def layout(labels: dict[str, int]) -> tuple[bytes, dict[str, int]]:
        out = bytearray()
        found: dict[str, int] = {}
        base = 0
        for ln in lines:
            if ln.endswith(":"):
                name = ln[:-1]
                if name == "runtime":
                    base = len(out)
                found[name] = len(out) - base
                found[name + "@abs"] = len(out)
                continue
            op, *arg = ln.split()
            out.append(_OPS[op])
            if op.startswith("PUSH"):
                size = int(op[4:])
                token = arg[0]
                if token.startswith("@"):
                    name = token[1:]
                    if name == "runtime_len":
                        value = labels.get("runtime_end@abs", 0) - labels.get("runtime@abs", 0)
                    elif name == "runtime_start":
                        value = labels.get("runtime@abs", 0)
                    else:
                        value = labels.get(name, 0)
                else:
                    value = int(token, 16)
                out += value.to_bytes(size, "big")
        return bytes(out), found

    _, labels = layout({})
    code, again = layout(labels)
    assert again == labels
    return code


def token_bytecode() -> bytes:
    return bytes.fromhex((DATA / "MinimalToken.bin").read_text().strip())


def router_bytecode() -> bytes:
    return bytes.fromhex((DATA / "MinimalRouter.bin").read_text().strip())


# ----------------------------------------------------------------------------- the JSON-RPC node
def _q(n: int) -> str:
    return hex(n)


def _hexify(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict):
        return {_camel(k): _hexify(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_hexify(v) for v in value]
    return value


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p.title() for p in rest)


def _tx_in(tx: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tx.items():
        if k in ("value", "gas"):
            out[k] = int(v, 16)
        elif k in ("from", "to", "data"):
            out[k] = v
    out.setdefault("gas", 3_000_000)
    return out


class LostAnswer(Exception):
    """The connection is cut before the node's answer reaches the caller (HTTP 502, no body)."""


class Node:
    """eth-tester's chain behind the JSON-RPC methods the wallet calls. `send_faults` are the fates of
    the next eth_sendRawTransaction calls, in order: None (answered), "request" (the connection is cut
    before the node takes the transaction) or "answer" (cut after it took it)."""

    def __init__(self) -> None:
        # imported here, not at collection: eth-tester and py-evm take ~1 s to import in every xdist worker
        from eth_tester import EthereumTester, PyEVMBackend

        self.send_faults: list[str | None] = []
        self.tester = EthereumTester(PyEVMBackend())
        self.lock = threading.Lock()
        self.tip_wei = GWEI  # eth_maxPriorityFeePerGas; eth_gasPrice = base fee + this
        self.calls: list[str] = []  # the methods asked for, in order
        self.raw_transactions: list[str] = []

    def fund(self, address: str, wei: int) -> None:
        """Send `wei` to `address` from eth-tester's first (pre-funded) account."""
        t = self.tester
        t.send_transaction({"from": t.get_accounts()[0], "to": address, "value": wei, "gas": 21000})

    def base_fee(self) -> int:
        return int(self.tester.get_block_by_number("pending")["base_fee_per_gas"])

    def handle(self, method: str, params: list[Any]) -> Any:
        t = self.tester
        self.calls.append(method)
        if method == "eth_chainId":
            return _q(131277322940537)
        if method == "eth_getBalance":
            return _q(t.get_balance(params[0]))
        if method == "eth_getTransactionCount":
            return _q(t.get_nonce(params[0], params[1] if len(params) > 1 else "latest"))
        if method == "eth_gasPrice":
            return _q(self.base_fee() + self.tip_wei)
        if method == "eth_maxPriorityFeePerGas":
            return _q(self.tip_wei)
        if method == "eth_getBlockByNumber":
            block = t.get_block_by_number(params[0])
            return {"number": _q(block["number"]), "baseFeePerGas": _q(block["base_fee_per_gas"])}
        if method == "eth_call":  # a node runs a call without a sender from some address; a funded one here
            tx = {"from": t.get_accounts()[0], **_tx_in(params[0])}
            return t.call(tx, params[1] if len(params) > 1 else "latest")
        if method == "eth_estimateGas":
            return _q(t.estimate_gas(_tx_in(params[0])))
        if method == "eth_sendRawTransaction":
            lose = self.send_faults.pop(0) if self.send_faults else None
            if lose == "request":
                raise LostAnswer
            self.raw_transactions.append(params[0])
            sent = _hexify(t.send_raw_transaction(params[0]))
            if lose == "answer":
                raise LostAnswer
            return sent
        if method == "eth_getTransactionByHash":
            try:
                tx = t.get_transaction_by_hash(params[0])
            except Exception:  # eth-tester raises TransactionNotFound for an unknown hash
                return None
            return {"hash": _hexify(tx["hash"]), "nonce": _q(tx["nonce"]),
                    "blockNumber": _q(tx["block_number"]) if tx.get("block_number") is not None else None}
        if method == "eth_getTransactionReceipt":
            try:
                receipt = t.get_transaction_receipt(params[0])
            except Exception:  # eth-tester raises TransactionNotFound for an unknown hash
                return None
            if receipt.get("block_number") is None:
                return None
            return {"blockNumber": _q(receipt["block_number"]), "status": _q(receipt["status"]),
                    "gasUsed": _q(receipt["gas_used"]), "effectiveGasPrice": _q(receipt["effective_gas_price"]),
                    "transactionHash": _hexify(receipt["transaction_hash"]),
                    "contractAddress": receipt.get("contract_address")}
        raise LookupError(method)

    def rpc(self, body: dict[str, Any]) -> dict[str, Any] | None:
        from eth_tester.exceptions import TransactionFailed, ValidationError
        from eth_utils.exceptions import ValidationError as EthUtilsValidationError

        rid = body.get("id")
        with self.lock:
            try:
                return {"jsonrpc": "2.0", "id": rid, "result": self.handle(body["method"], body.get("params", []))}
            except LostAnswer:
                return None
            except LookupError:
                return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "method not found"}}
            except (TransactionFailed, ValidationError, ValueError, EthUtilsValidationError) as exc:
                return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32000, "message": str(exc)}}


class ChainServer:
    """The node on 127.0.0.1:<free port>, in a thread; `url` is what RPC_PROVIDER_URL gets."""

    def __init__(self, node: Node) -> None:
        self.node = node
        handler = _handler(node.rpc)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.served = ServedInThread(self.httpd)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v3/secret-project-key"

    def __enter__(self) -> ChainServer:
        self.served.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.served.stop()


def _handler(rpc: Callable[[dict[str, Any]], dict[str, Any] | None]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            answer = rpc(json.loads(self.rfile.read(size)))
            if answer is None:  # the answer is lost: a gateway in between answers 502 with nothing
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            out = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def use_wallet(workspace: Any, key: str, rpc_url: str, *, enabled: bool = True) -> Any:
    """`workspace` with web3-wallet-worker enabled (unless told not), its key and its chain's RPC URL."""
    if enabled:
        doc = workspace.config()
        doc["workers"]["web3-wallet-worker"]["enabled"] = True
        workspace.save_config(doc)
    workspace.set_secret("WALLET_PK_SECRET", key)
    workspace.set_secret("RPC_PROVIDER_URL", rpc_url)
    return workspace


# ----------------------------------------------------------------------------- contracts on the chain
def deploy(node: Node, code: bytes, pk: str) -> str:
    """A contract deployed by the key `pk` (a token's 1,000,000 tokens are then that key's)."""
    t = node.tester
    me = evm.Key.from_hex(pk).address
    if me.lower() not in (a.lower() for a in t.get_accounts()):
        t.add_account(pk)
    tx = t.send_transaction({"from": me, "gas": 1_000_000, "data": "0x" + code.hex()})
    return str(t.get_transaction_receipt(tx)["contract_address"])


def token_balance(node: Node, token: str, owner: str) -> int:
    out = node.tester.call({"from": node.tester.get_accounts()[0], "to": token, "gas": 100_000,
                            "data": "0x" + evm.call_data(evm.BALANCE_OF, evm.parse_address(owner)).hex()})
    return evm.decode_uint(bytes.fromhex(out[2:]))


def pool(node: Node, pk: str, liquidity: int = 1000 * ETH) -> tuple[str, str, str]:
    """(token A, token B, router) deployed by `pk`, the router's pool holding `liquidity` of each."""
    me = evm.Key.from_hex(pk).address
    token_a, token_b = deploy(node, token_bytecode(), pk), deploy(node, token_bytecode(), pk)
    router = deploy(node, router_bytecode(), pk)
    for token in (token_a, token_b):
        node.tester.send_transaction({"from": me, "to": token, "gas": 100_000, "data": "0x" + evm.call_data(
            evm.TRANSFER, evm.parse_address(router), liquidity).hex()})
    return token_a, token_b, router


def v2_quote(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """Uniswap V2's getAmountOut (0.3 % fee), which the test router implements."""
    return amount_in * 997 * reserve_out // (reserve_in * 1000 + amount_in * 997)


def swaps_sent(node: Node) -> list[dict[str, Any]]:
    """The swap transactions on the chain (swapExactTokensForTokens calls), each once however often its
    bytes were broadcast."""
    out: dict[str, dict[str, Any]] = {}
    for raw in node.raw_transactions:
        tx_hash = "0x" + evm.keccak256(bytes.fromhex(raw[2:])).hex()
        tx = node.tester.get_transaction_by_hash(tx_hash)
        if str(tx["data"]).startswith(SWAP_SELECTOR):
            out[tx_hash] = tx
    return list(out.values())
