"""web3-wallet-worker: an EVM hot wallet behind the internal key.

Routes (internal: `X-Internal-Auth-Key`):
- `POST /process` `{"requestId", "payload": {"action", ...}}` with action
  - `getBalance` `{chain, address?, tokenAddress?, account?}`: native balance (`eth_getBalance`) or an
    ERC-20's (`balanceOf`, `decimals`, `symbol` by `eth_call`); the address defaults to the wallet's;
  - `estimateGas` `{chain, to, value?, data?, tokenAddress?, amount?, account?}`: gas, fees and cost;
  - `sendTransaction` `{chain, to, value?, data?, tokenAddress?, amount?, gasLimit?, account?,
    timeoutSeconds?}`: an EIP-1559 transaction signed here (WALLET_PK_SECRET, else the m/44'/60'/0'/0/
    `account` key of WALLET_MNEMONIC_SECRET), broadcast, its receipt awaited up to `timeoutSeconds`
    (default 30; 202 `pending` after that). `tokenAddress` + `amount`: an ERC-20 `transfer` of `amount`
    tokens to `to`. `value` is in the chain's native unit (e.g. "0.05" ETH);
- `GET /tx/{requestId}`: the ledger's row of a send, its receipt looked for again while pending;
- `GET /health`.

Guarantees: the kill switch (`trade:kill_switch`) refuses sends; the gas-price trap
(`web3:max_gas_price_gwei`) refuses a send or estimate above it before anything is signed, and caps
the max fee at it; every send is recorded in `wallet_transactions` under its request id before it is
signed, so a resend with the same id answers the first transaction and never sends another; the
nonce is reserved by that INSERT (unique per chain and sender, hoox_edge/migrations/0012_wallet.sql),
so concurrent sends never share one. The signed bytes are kept on the row before the broadcast, so a
send cut short (the node's answer lost, the worker stopped) is finished by the next look at its request
id as the same transaction (`_look_again`), never signed twice. The key and the RPC URLs (they carry
provider keys) never appear in an answer, a log row or the ledger.

- `swap` `{chain, router, tokenIn, tokenOut, amountIn, slippageBps?, deadlineSeconds?, to?, account?}`: a
  Uniswap V2-style `swapExactTokensForTokens` for at least the router's quote (getAmountsOut) less
  slippageBps, an approve first when the allowance is short (trade-worker's `/dex` sends these).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hoox_edge.operator import shapes
from hoox_edge.ports import D1Error, Env
from hoox_edge.shared import clock, settings
from hoox_edge.shared.app import env_of, envelope_request_id, json_body, make_app, request_id_of
from hoox_edge.shared.auth import require_internal
from hoox_edge.shared.checks import Check, Fields, Invalid, one_of, text
from hoox_edge.shared.errors import (
    DUPLICATE_REQUEST,
    KILL_SWITCH_ACTIVE,
    NOT_AVAILABLE,
    NOT_FOUND,
    VALIDATION_ERROR,
    ApiError,
    ok,
)
from hoox_edge.shared.http import http_client
from hoox_edge.shared.logs import log
from hoox_edge.shared.redact import REQUEST_ID_CHARS, preview
from hoox_edge.shared.signal import (
    DEADLINE_RANGE_S,
    DEFAULT_DEADLINE_S,
    DEFAULT_SLIPPAGE_BPS,
    MAX_ACCOUNT,
    MAX_SLIPPAGE_BPS,
)
from hoox_edge.wallet import evm
from hoox_edge.wallet.config import Chain, chains_of

WORKER = "web3-wallet-worker"
FEATURES = {"wallet": "available", "swap": "available"}
GAS_PRICE_TOO_HIGH = "GAS_PRICE_TOO_HIGH"
RPC_ERROR = "RPC_ERROR"
TX_REJECTED = "TX_REJECTED"
STALE_SIGNING_S = 60  # a row `signing` this long was left by a stopped attempt (one RPC call takes <= 10 s)
IN_PROGRESS = "in_progress"
GWEI = 10**9
NATIVE_DECIMALS = 18
DEFAULT_TIMEOUT_S = 30
MAX_TIMEOUT_S = 300
RECEIPT_POLL_S = 0.5
MAX_DATA_BYTES = 64 * 1024
_ACTIONS = ("getBalance", "estimateGas", "sendTransaction", "swap")
# One isolate broadcasts a sender's transactions in nonce order (a node may refuse a nonce gap);
# across isolates the ledger's unique nonce still keeps them apart.
_SEND_LOCKS: dict[tuple[int, str], asyncio.Lock] = {}


# =========================================================================== request shapes
def _address() -> Check[str]:
    def convert(v: Any) -> str:
        if not isinstance(v, str):
            raise ValueError("")
        return evm.checksum(evm.parse_address(v))
    return Check("a 0x-prefixed 20-byte hex address", convert)


def _amount() -> Check[Decimal]:
    def convert(v: Any) -> Decimal:
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise ValueError("")  # floats lose wei: amounts travel as decimal strings
        try:
            d = Decimal(str(v).strip())
        except InvalidOperation:
            raise ValueError("") from None
        if not d.is_finite() or d < 0:
            raise ValueError("")
        return d
    return Check('a decimal amount as a string, at least 0 (e.g. "0.05")', convert)


def _hexdata() -> Check[bytes]:
    def convert(v: Any) -> bytes:
        if not isinstance(v, str) or not v.startswith("0x") or len(v) % 2:
            raise ValueError("")
        if len(v) // 2 - 1 > MAX_DATA_BYTES:
            raise ValueError(f"Must be at most {MAX_DATA_BYTES} bytes of call data.")
        try:
            return bytes.fromhex(v[2:])
        except ValueError:
            raise ValueError("") from None
    return Check("0x-prefixed hex call data of whole bytes", convert)


def _int_in(lo: int, hi: int) -> Check[int]:
    def convert(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError("")
        return v
    return Check(f"a whole number from {lo} to {hi}", convert)


@dataclass(frozen=True)
class Action:
    action: str
    chain: str
    to: str | None = None
    address: str | None = None
    token: str | None = None
    value: Decimal = Decimal(0)
    amount: Decimal | None = None
    data: bytes = b""
    gas_limit: int | None = None
    account: int = 0
    timeout: int = DEFAULT_TIMEOUT_S

    @classmethod
    def parse(cls, raw: Any) -> Action:
        f = Fields(raw)
        action = f.required("action", one_of(*_ACTIONS))
        chain = f.required("chain", text(1, 32))
        moves = action in ("estimateGas", "sendTransaction")
        to = f.required("to", _address()) if moves else None
        address = f.optional("address", _address(), None) if action == "getBalance" else None
        token = f.optional("tokenAddress", _address(), None)
        value = f.optional("value", _amount(), Decimal(0)) if moves else Decimal(0)
        amount = f.optional("amount", _amount(), None) if moves else None
        data = f.optional("data", _hexdata(), b"") if moves else b""
        gas_limit = f.optional("gasLimit", _int_in(21_000, 30_000_000), None) if moves else None
        account = f.optional("account", _int_in(0, MAX_ACCOUNT), 0)
        timeout = (f.optional("timeoutSeconds", _int_in(1, MAX_TIMEOUT_S), DEFAULT_TIMEOUT_S)
                   if action == "sendTransaction" else DEFAULT_TIMEOUT_S)
        if moves and isinstance(raw, dict):
            if token is not None and amount is None:
                f.problems.append({"field": "amount", "issue": "Required with tokenAddress: the tokens to transfer."})
            if amount is not None and token is None:
                f.problems.append({"field": "tokenAddress", "issue": "Required with amount: the ERC-20 to transfer."})
            if token is not None and (data or value):
                f.problems.append({"field": "tokenAddress",
                                   "issue": "An ERC-20 transfer takes no data and no value (the native coin)."})
        return f.build(cls, action=action, chain=chain, to=to, address=address, token=token, value=value,
                       amount=amount, data=data, gas_limit=gas_limit, account=account, timeout=timeout)


def _units(amount: Decimal, decimals: int, field: str) -> int:
    scaled = amount.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ApiError(400, VALIDATION_ERROR, f"{field}: more than {decimals} decimal places.",
                       [{"field": field, "issue": f"Must have at most {decimals} decimal places."}])
    return int(scaled)


def _format(units: int, decimals: int) -> str:
    d = Decimal(units).scaleb(-decimals)
    return format(d.normalize(), "f") if units else "0"


# =========================================================================== JSON-RPC
class RpcFailure(Exception):
    """The node answered an error (`answered`), or could not be reached or understood (then what it did
    with the request is not known). The message names no URL."""

    def __init__(self, message: str, *, answered: bool = False) -> None:
        super().__init__(message)
        self.answered = answered


class Rpc:
    def __init__(self, chain: Chain, url: str) -> None:
        self.chain = chain
        self._url = url
        self._id = 0

    async def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        body = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}
        try:
            async with http_client(timeout=10.0) as client:
                resp = await client.post(self._url, json=body)
        except httpx.HTTPError as exc:  # str(exc) may carry the URL (and with it the provider's key)
            name = type(exc).__name__
            raise RpcFailure(f"the RPC of chain {self.chain.name} could not be reached ({name})") from None
        if resp.status_code != 200:
            raise RpcFailure(f"the RPC of chain {self.chain.name} answered HTTP {resp.status_code} to {method}")
        try:
            answer = resp.json()
        except ValueError:
            raise RpcFailure(f"the RPC of chain {self.chain.name} answered {method} with no JSON") from None
        if not isinstance(answer, dict):
            raise RpcFailure(f"the RPC of chain {self.chain.name} answered {method} with {preview(answer)}")
        if answer.get("error") is not None:
            err = answer["error"]
            message = err.get("message") if isinstance(err, dict) else err
            raise RpcFailure(f"{method}: {preview(message, limit=200)}", answered=True)
        return answer.get("result")

    async def quantity(self, method: str, *params: Any) -> int:
        result = await self.call(method, *params)
        if not isinstance(result, str) or not result.startswith("0x"):
            raise RpcFailure(f"{method} answered {preview(result)}, not a hex quantity")
        return int(result, 16)

    async def eth_call(self, to: str, data: bytes) -> bytes:
        result = await self.call("eth_call", {"to": to, "data": "0x" + data.hex()}, "latest")
        if not isinstance(result, str) or not result.startswith("0x"):
            raise RpcFailure(f"eth_call answered {preview(result)}")
        return bytes.fromhex(result[2:])


# =========================================================================== configuration
async def _chain(env: Env, name: str) -> tuple[Chain, Rpc]:
    try:
        chains = chains_of(await settings.get(env.CONFIG_KV, settings.WEB3_CHAINS))
    except (settings.SettingError, ValueError) as exc:
        raise ApiError(503, NOT_AVAILABLE, f"{settings.WEB3_CHAINS} is not usable: {exc}") from None
    chain = chains.get(name)
    if chain is None:
        known = ", ".join(sorted(chains)) or f"none: set {settings.WEB3_CHAINS}"
        raise ApiError(400, VALIDATION_ERROR, f"Unknown chain {name!r} (configured: {known}).",
                       [{"field": "chain", "issue": f"Must be a chain of {settings.WEB3_CHAINS} ({known})."}])
    url = env.get(chain.rpc_secret)
    if not url:
        raise ApiError(503, NOT_AVAILABLE, f"Chain {name}'s RPC URL is not set: secret {chain.rpc_secret} "
                                           f"of {WORKER} is empty.")
    return chain, Rpc(chain, url)


def signer(env: Env, account: int) -> evm.Key:
    """The wallet's key: WALLET_PK_SECRET (account 0 only), else account `account` of the mnemonic."""
    pk = env.get("WALLET_PK_SECRET")
    mnemonic = env.get("WALLET_MNEMONIC_SECRET")
    try:
        if pk:
            if account:
                raise ApiError(400, VALIDATION_ERROR, "account: WALLET_PK_SECRET is one account (0).",
                               [{"field": "account", "issue": "Must be 0 with WALLET_PK_SECRET (one key)."}])
            return evm.Key.from_hex(pk)
        if mnemonic:
            return evm.key_from_mnemonic(mnemonic, account)
    except ValueError as exc:  # the message never quotes the secret
        which = "WALLET_PK_SECRET" if pk else "WALLET_MNEMONIC_SECRET"
        raise ApiError(503, NOT_AVAILABLE, f"{which} is not a usable key: {exc}.") from None
    raise ApiError(503, NOT_AVAILABLE, f"No signing key: set WALLET_PK_SECRET or WALLET_MNEMONIC_SECRET on {WORKER}.")


async def _gas_limit_wei(env: Env) -> int:
    gwei = await settings.get(env.CONFIG_KV, settings.WEB3_MAX_GAS_PRICE)
    return int(Decimal(str(gwei)) * GWEI)


# =========================================================================== actions
async def get_balance(env: Env, a: Action) -> shapes.WalletBalance:
    chain, rpc = await _chain(env, a.chain)
    address = a.address or signer(env, a.account).address
    if a.token is None:
        raw = await rpc.quantity("eth_getBalance", address, "latest")
        return {"chain": chain.name, "chainId": chain.chain_id, "address": address, "token": None,
                "symbol": chain.symbol, "decimals": NATIVE_DECIMALS, "balanceRaw": str(raw),
                "balance": _format(raw, NATIVE_DECIMALS)}
    raw = evm.decode_uint(await rpc.eth_call(a.token, evm.call_data(evm.BALANCE_OF, evm.parse_address(address))))
    decimals, symbol = await _token_meta(rpc, a.token)
    return {"chain": chain.name, "chainId": chain.chain_id, "address": address, "token": a.token, "symbol": symbol,
            "decimals": decimals, "balanceRaw": str(raw), "balance": _format(raw, decimals)}


async def _token_meta(rpc: Rpc, token: str) -> tuple[int, str | None]:
    decimals = evm.decode_uint(await rpc.eth_call(token, evm.DECIMALS))
    if decimals > 77:
        raise RpcFailure(f"token {token} answered decimals() = {decimals}")
    try:  # symbol() is optional in ERC-20
        symbol: str | None = evm.decode_string(await rpc.eth_call(token, evm.SYMBOL))[:32] or None
    except (RpcFailure, ValueError):
        symbol = None
    return decimals, symbol


@dataclass(frozen=True)
class Call:
    to: str  # where the transaction goes (the token for an ERC-20 transfer)
    value: int
    data: bytes


async def _call_of(rpc: Rpc, a: Action) -> Call:
    assert a.to is not None
    if a.token is not None and a.amount is not None:
        decimals, _ = await _token_meta(rpc, a.token)
        units = _units(a.amount, decimals, "amount")
        return Call(a.token, 0, evm.call_data(evm.TRANSFER, evm.parse_address(a.to), units))
    return Call(a.to, _units(a.value, NATIVE_DECIMALS, "value"), a.data)


@dataclass(frozen=True)
class Fees:
    gas_price: int
    max_fee: int
    tip: int


async def _fees(env: Env, rpc: Rpc) -> Fees:
    """The network's fees, refused above the trap before anything is signed."""
    gas_price = await rpc.quantity("eth_gasPrice")
    limit = await _gas_limit_wei(env)
    if gas_price > limit:
        raise ApiError(422, GAS_PRICE_TOO_HIGH,
                       f"Gas price {_format(gas_price, 9)} gwei on {rpc.chain.name} is above the trap "
                       f"{settings.WEB3_MAX_GAS_PRICE} = {_format(limit, 9)} gwei: nothing was signed or sent.",
                       {"gasPriceGwei": _format(gas_price, 9), "maxGasPriceGwei": _format(limit, 9)})
    block = await rpc.call("eth_getBlockByNumber", "latest", False)
    base = int(block.get("baseFeePerGas") or "0x0", 16) if isinstance(block, dict) else 0
    try:
        tip = await rpc.quantity("eth_maxPriorityFeePerGas")
    except RpcFailure:  # not every node has it: what the gas price pays above the base fee
        tip = max(gas_price - base, 0)
    max_fee = min(2 * base + tip, limit)  # never offers more than the trap allows
    return Fees(gas_price, max_fee, min(tip, max_fee))


async def _estimate(rpc: Rpc, sender: str, call: Call) -> int:
    tx = {"from": sender, "to": call.to, "value": hex(call.value), "data": "0x" + call.data.hex()}
    return await rpc.quantity("eth_estimateGas", tx)


async def estimate_gas(env: Env, a: Action) -> shapes.WalletEstimate:
    chain, rpc = await _chain(env, a.chain)
    sender = signer(env, a.account).address
    call = await _call_of(rpc, a)
    fees = await _fees(env, rpc)
    gas = await _estimate(rpc, sender, call)
    return {"chain": chain.name, "chainId": chain.chain_id, "from": sender, "gas": gas,
            "gasPriceGwei": _format(fees.gas_price, 9), "maxFeePerGasGwei": _format(fees.max_fee, 9),
            "maxPriorityFeePerGasGwei": _format(fees.tip, 9),
            "maxCost": _format(gas * fees.max_fee, NATIVE_DECIMALS), "symbol": chain.symbol}


# --------------------------------------------------------------------------- the ledger
_COLUMNS = ("request_id, chain, chain_id, from_address, to_address, value_wei, token_address, nonce, tx_hash, "
            "status, block_number, gas_used, effective_gas_price, error, raw_tx, created_at, updated_at")


async def _row(env: Env, request_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await env.DB.prepare(
        f"SELECT {_COLUMNS} FROM wallet_transactions WHERE request_id = ?").bind(request_id).first()
    return row


def _shape(row: dict[str, Any], chain: Chain | None = None) -> shapes.WalletTx:
    tx_hash = row["tx_hash"]
    return {"requestId": row["request_id"], "chain": row["chain"], "chainId": row["chain_id"],
            "from": row["from_address"], "to": row["to_address"], "valueWei": row["value_wei"],
            "tokenAddress": row["token_address"], "nonce": row["nonce"], "txHash": tx_hash,
            "status": row["status"], "blockNumber": row["block_number"], "gasUsed": row["gas_used"],
            "effectiveGasPrice": row["effective_gas_price"], "error": row["error"],
            "explorerUrl": chain.tx_url(tx_hash) if chain and tx_hash else None,
            "createdAt": row["created_at"], "updatedAt": row["updated_at"]}


async def _reserve(env: Env, rid: str, chain: Chain, sender: str, to: str, value: int, token: str | None,
                   data_len: int, pending_nonce: int, gas: int, fees: Fees) -> int | None:
    """Insert the send's row with the next free nonce; None when the request id already has a row."""
    now = clock.iso()
    for _ in range(5):
        try:
            await env.DB.prepare(
                "INSERT INTO wallet_transactions (request_id, chain, chain_id, from_address, to_address, value_wei,"
                " token_address, data_len, nonce, gas_limit, max_fee_per_gas, max_priority_fee_per_gas, status,"
                " created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, MAX(?9, COALESCE((SELECT"
                " MAX(nonce) + 1 FROM wallet_transactions WHERE chain_id = ?3 AND from_address = ?4 AND"
                " status != 'rejected'), 0)), ?10, ?11, ?12, 'signing', ?13, ?13)"
            ).bind(rid, chain.name, chain.chain_id, sender, to, str(value), token, data_len, pending_nonce, gas,
                   str(fees.max_fee), str(fees.tip), now).run()
        except D1Error as exc:
            if await _row(env, rid) is not None:
                return None
            if "UNIQUE" not in str(exc).upper():
                raise
            continue  # another isolate took that nonce between our read and write: take the next
        row = await _row(env, rid)
        assert row is not None
        return int(row["nonce"])
    raise ApiError(503, NOT_AVAILABLE, "Could not reserve a nonce after 5 tries; send again with the same requestId.")


async def _update(env: Env, rid: str, **cols: Any) -> None:
    sets = ", ".join(f"{k} = ?" for k in cols)
    await env.DB.prepare(f"UPDATE wallet_transactions SET {sets}, updated_at = ? WHERE request_id = ?").bind(
        *cols.values(), clock.iso(), rid).run()


async def _settle(env: Env, rpc: Rpc, rid: str, tx_hash: str, timeout: float) -> None:
    """Wait up to `timeout` seconds for the receipt; record it when it comes."""
    deadline = clock.now() + timeout
    while True:
        receipt = await rpc.call("eth_getTransactionReceipt", tx_hash)
        if isinstance(receipt, dict) and receipt.get("blockNumber"):
            status = "confirmed" if int(receipt.get("status", "0x1"), 16) == 1 else "reverted"
            price = receipt.get("effectiveGasPrice")
            await _update(env, rid, status=status, block_number=int(receipt["blockNumber"], 16),
                          gas_used=int(receipt.get("gasUsed", "0x0"), 16),
                          effective_gas_price=str(int(price, 16)) if price else None)
            return
        if clock.now() >= deadline:
            return
        await asyncio.sleep(RECEIPT_POLL_S)  # a block comes every few seconds: poll, do not spin


async def send_transaction(env: Env, a: Action, rid: str) -> tuple[shapes.WalletTx, int]:
    first = await _row(env, rid)
    if first is not None:  # sent before: its answer again, kill switch or not (nothing new is sent)
        return await _replay(env, first)
    await _refuse_when_halted(env)
    chain, rpc = await _chain(env, a.chain)
    key = signer(env, a.account)
    call = await _call_of(rpc, a)
    return await _submit(env, chain, rpc, key, rid, call, recorded_to=a.to or call.to, token=a.token,
                         gas_limit=a.gas_limit, timeout=a.timeout)


async def _refuse_when_halted(env: Env) -> None:
    if await settings.get(env.CONFIG_KV, settings.KILL_SWITCH):
        raise ApiError(503, KILL_SWITCH_ACTIVE, "The kill switch is on: no transaction is sent.")


async def _submit(env: Env, chain: Chain, rpc: Rpc, key: evm.Key, rid: str, call: Call, *, recorded_to: str,
                  token: str | None, gas_limit: int | None, timeout: float) -> tuple[shapes.WalletTx, int]:
    """Record, sign, broadcast and await one transaction under `rid` (exactly once per request id)."""
    sender = key.address
    fees = await _fees(env, rpc)
    gas = gas_limit or await _estimate(rpc, sender, call)
    lock = _SEND_LOCKS.setdefault((chain.chain_id, sender), asyncio.Lock())
    async with lock:
        pending = await rpc.quantity("eth_getTransactionCount", sender, "pending")
        nonce = await _reserve(env, rid, chain, sender, recorded_to, call.value, token, len(call.data),
                               pending, gas, fees)
        if nonce is None:  # the same request id, sent concurrently: its first send answers
            row = await _row(env, rid)
            assert row is not None
            return await _replay(env, row)
        tx = evm.Eip1559Tx(chain.chain_id, nonce, fees.tip, fees.max_fee, gas, evm.parse_address(call.to),
                           call.value, call.data)
        raw, digest = tx.signed(key)
        tx_hash = "0x" + digest.hex()
        # Kept before it is broadcast: a stop from here on leaves what a resend sends again (the same
        # bytes, the same hash) instead of a row nobody can finish.
        await _update(env, rid, tx_hash=tx_hash, raw_tx="0x" + raw.hex())
        try:
            await rpc.call("eth_sendRawTransaction", "0x" + raw.hex())
        except RpcFailure as exc:
            if exc.answered:
                # A refused raw transaction was never in a mempool: its nonce is free again.
                await _update(env, rid, status="rejected", error=str(exc))
                await log(env, "warning", f"wallet transaction rejected on {chain.name}: {exc}", request_id=rid)
                raise ApiError(502, TX_REJECTED, f"The node refused the transaction: {exc}") from None
            # The node's answer was lost: it may have the transaction. Pending, so its receipt is awaited
            # and a resend of the request id sends the same bytes again if the node does not know it.
            await log(env, "warning", f"wallet transaction {tx_hash}: the node's answer was lost ({exc})",
                      request_id=rid)
        await _update(env, rid, status="pending")
    await log(env, "info", f"wallet transaction {tx_hash} sent on {chain.name} (nonce {nonce})", request_id=rid,
              details={"chain": chain.name, "to": call.to, "nonce": nonce, "txHash": tx_hash})
    with contextlib.suppress(RpcFailure):  # the transaction is out; GET /tx/{requestId} looks again
        await _settle(env, rpc, rid, tx_hash, timeout)
    row = await _row(env, rid)
    assert row is not None
    return _shape(row, chain), 200 if row["status"] in ("confirmed", "reverted") else 202


# --------------------------------------------------------------------------- swaps (Uniswap V2-style routers)
GET_AMOUNTS_OUT = bytes.fromhex("d06ca61f")  # getAmountsOut(uint256,address[])
SWAP_EXACT_TOKENS = bytes.fromhex("38ed1739")  # swapExactTokensForTokens(uint256,uint256,address[],address,uint256)
APPROVE = bytes.fromhex("095ea7b3")  # approve(address,uint256)
ALLOWANCE = bytes.fromhex("dd62ed3e")  # allowance(address,address)
NO_LIQUIDITY = "NO_LIQUIDITY"
SWAP_NOT_DONE = "SWAP_NOT_DONE"


@dataclass(frozen=True)
class Swap:
    chain: str
    router: str
    token_in: str
    token_out: str
    amount_in: Decimal
    slippage_bps: int
    deadline_s: int
    recipient: str | None
    account: int
    timeout: int

    @classmethod
    def parse(cls, raw: Any) -> Swap:
        f = Fields(raw)
        return f.build(cls, chain=f.required("chain", text(1, 32)), router=f.required("router", _address()),
                       token_in=f.required("tokenIn", _address()), token_out=f.required("tokenOut", _address()),
                       amount_in=f.required("amountIn", _amount()),
                       slippage_bps=f.optional("slippageBps", _int_in(0, MAX_SLIPPAGE_BPS), DEFAULT_SLIPPAGE_BPS),
                       deadline_s=f.optional("deadlineSeconds", _int_in(*DEADLINE_RANGE_S), DEFAULT_DEADLINE_S),
                       recipient=f.optional("to", _address(), None),
                       account=f.optional("account", _int_in(0, MAX_ACCOUNT), 0),
                       timeout=f.optional("timeoutSeconds", _int_in(1, MAX_TIMEOUT_S), DEFAULT_TIMEOUT_S))


def _path(token_in: str, token_out: str) -> bytes:
    return evm.word(2) + evm.word(evm.parse_address(token_in)) + evm.word(evm.parse_address(token_out))


async def swap(env: Env, s: Swap, rid: str) -> tuple[dict[str, Any], int]:
    """`amountIn` of tokenIn for at least the router's quote less `slippageBps`, through the router's
    swapExactTokensForTokens: an approve first when the router's allowance is short (its own ledger row,
    `<requestId>:approve`), then the swap under the request id; both exactly once."""
    first = await _row(env, rid)
    if first is not None:  # sent before: its answer again, kill switch or not (nothing new is sent)
        shaped, status = await _replay(env, first)
        return {"approve": None, "swap": shaped, "amountIn": None, "quotedOut": None, "amountOutMin": None}, status
    await _refuse_when_halted(env)
    chain, rpc = await _chain(env, s.chain)
    key = signer(env, s.account)
    decimals, _ = await _token_meta(rpc, s.token_in)
    units = _units(s.amount_in, decimals, "amountIn")
    quote = await rpc.eth_call(s.router, GET_AMOUNTS_OUT + evm.word(units) + evm.word(0x40)
                               + _path(s.token_in, s.token_out))
    quoted = evm.decode_uint(quote[-32:]) if len(quote) >= 128 else 0
    if quoted == 0:
        raise ApiError(422, NO_LIQUIDITY, f"The router {s.router} quotes nothing for {s.amount_in} of {s.token_in}: "
                                          "no liquidity for that pair; nothing was signed or sent.")
    minimum = quoted * (10_000 - s.slippage_bps) // 10_000
    approve: shapes.WalletTx | None = None
    allowed = evm.decode_uint(await rpc.eth_call(s.token_in, ALLOWANCE + evm.word(evm.parse_address(key.address))
                                                 + evm.word(evm.parse_address(s.router))))
    if allowed < units:
        approve, _ = await _submit(env, chain, rpc, key, f"{rid}:approve",
                                   Call(s.token_in, 0, APPROVE + evm.word(evm.parse_address(s.router))
                                        + evm.word(units)),
                                   recorded_to=s.router, token=s.token_in, gas_limit=None, timeout=s.timeout)
        if approve["status"] != "confirmed":
            raise ApiError(502, SWAP_NOT_DONE, f"The approve for the router is {approve['status']} "
                                               f"({approve['txHash']}): the swap was not sent; send it again "
                                               "with the same requestId once the approve is confirmed.",
                           {"approve": approve})
    deadline = int(clock.now()) + s.deadline_s
    recipient = evm.parse_address(s.recipient or key.address)
    data = (SWAP_EXACT_TOKENS + evm.word(units) + evm.word(minimum) + evm.word(0xA0) + evm.word(recipient)
            + evm.word(deadline) + _path(s.token_in, s.token_out))
    shaped, status = await _submit(env, chain, rpc, key, rid, Call(s.router, 0, data), recorded_to=s.router,
                                   token=s.token_in, gas_limit=None, timeout=s.timeout)
    return {"approve": approve, "swap": shaped, "amountIn": str(units), "quotedOut": str(quoted),
            "amountOutMin": str(minimum)}, status


async def _replay(env: Env, row: dict[str, Any]) -> tuple[shapes.WalletTx, int]:
    """The recorded outcome of a request id that was sent before: never a second transaction. A
    transaction still pending has its receipt looked for once more, so a resend learns how it ended."""
    row = await _refreshed(env, row)
    if row["status"] == "rejected":
        raise ApiError(409, DUPLICATE_REQUEST, f"Request {row['request_id']} was already sent and refused by the "
                       f"node: {row['error']}. Use a new requestId to try again.", {"original": _shape(row)})
    if row["status"] == "signing":
        raise ApiError(409, IN_PROGRESS, f"Request {row['request_id']} is being sent right now.",
                       {"original": _shape(row)})
    shaped = _shape(row)
    shaped["replayed"] = True
    return shaped, 200


async def _refreshed(env: Env, row: dict[str, Any]) -> dict[str, Any]:
    """The row again after one look at the chain (`_look_again`) when it is pending, or `signing` for
    longer than an attempt takes (its attempt stopped). The row as it was when the chain cannot be
    asked: the recorded row is still the truth we have."""
    abandoned = row["status"] == "signing" and (clock.parse(row["updated_at"]) or 0) + STALE_SIGNING_S < clock.now()
    if not (abandoned or (row["status"] == "pending" and row["tx_hash"])):
        return row
    with contextlib.suppress(ApiError, RpcFailure):
        _, rpc = await _chain(env, row["chain"])
        await _look_again(env, rpc, row)
    return await _row(env, row["request_id"]) or row


async def _look_again(env: Env, rpc: Rpc, row: dict[str, Any]) -> None:
    """A pending transaction's receipt; one the node does not know (its broadcast was lost, or its
    attempt stopped before hearing the node) is broadcast again from its kept bytes: the same
    transaction, the same hash, never a second one. Refused and still unknown to the node (its nonce
    was taken by another transaction), it can never be mined: rejected. Never signed: nothing was sent."""
    rid, tx_hash = row["request_id"], row["tx_hash"]
    if not row.get("raw_tx"):
        if row["status"] == "signing":
            await _update(env, rid, status="rejected", error="its attempt stopped before signing it: nothing was sent")
        else:
            await _settle(env, rpc, rid, tx_hash, 0)
        return
    if row["status"] == "pending":
        await _settle(env, rpc, rid, tx_hash, 0)
        if (await _row(env, rid) or row)["status"] != "pending":
            return
    if await rpc.call("eth_getTransactionByHash", tx_hash) is None:
        try:
            await rpc.call("eth_sendRawTransaction", row["raw_tx"])
        except RpcFailure as exc:
            if not exc.answered or await rpc.call("eth_getTransactionByHash", tx_hash) is None:
                if exc.answered:
                    await _update(env, rid, status="rejected", error=f"sent again and refused: {exc}")
                return
        await log(env, "warning", f"wallet transaction {tx_hash} the node did not know was sent again (same bytes)",
                  request_id=rid)
    if row["status"] == "signing":
        await _update(env, rid, status="pending")
    await _settle(env, rpc, rid, tx_hash, 0)


# =========================================================================== routes
async def process(request: Request) -> JSONResponse:
    require_internal(request)
    body = await json_body(request)
    rid = envelope_request_id(body, request)
    payload = body.get("payload") if isinstance(body, dict) and "payload" in body else body
    env = env_of(request)
    if isinstance(payload, dict) and payload.get("action") == "swap":
        try:
            sw = Swap.parse({k: v for k, v in payload.items() if k != "action"})
        except Invalid as exc:
            raise ApiError(400, VALIDATION_ERROR, f"Invalid swap: {exc}", exc.details) from None
        try:
            swapped, status = await swap(env, sw, rid)
        except RpcFailure as exc:
            raise ApiError(502, RPC_ERROR, f"Chain {sw.chain}: {exc}") from None
        return ok(swapped, request_id=rid, status=status)
    try:
        a = Action.parse(payload)
    except Invalid as exc:
        raise ApiError(400, VALIDATION_ERROR, f"Invalid wallet request: {exc}", exc.details) from None
    try:
        if a.action == "getBalance":
            return ok(await get_balance(env, a), request_id=rid)
        if a.action == "estimateGas":
            return ok(await estimate_gas(env, a), request_id=rid)
        result, status = await send_transaction(env, a, rid)
        return ok(result, request_id=rid, status=status)
    except RpcFailure as exc:
        raise ApiError(502, RPC_ERROR, f"Chain {a.chain}: {exc}") from None


async def tx(request: Request) -> JSONResponse:
    require_internal(request)
    env = env_of(request)
    rid = request.path_params["request_id"]
    row = await _row(env, rid)
    if row is None:
        raise ApiError(404, NOT_FOUND, f"No wallet transaction has request id {preview(rid, limit=REQUEST_ID_CHARS)}.")
    row = await _refreshed(env, row)
    try:
        chain = chains_of(await settings.get(env.CONFIG_KV, settings.WEB3_CHAINS)).get(row["chain"])
    except (settings.SettingError, ValueError):
        chain = None
    return ok(_shape(row, chain), request_id=request_id_of(request))


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"success": True, "status": "ok", "worker": WORKER, "features": FEATURES})


app = make_app(WORKER, [
    Route("/health", health, methods=["GET"]),
    Route("/process", process, methods=["POST"]),
    Route("/tx/{request_id}", tx, methods=["GET"]),
])

