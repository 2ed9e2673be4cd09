"""web3-wallet-worker against a real EVM: eth-tester's py-evm chain behind a loopback JSON-RPC server
(tests/web3_chain.py), reached by the worker over HTTP like any provider. Nothing here is a mock of a
chain: balances, nonces, receipts and token balances are py-evm's.

The signing code (hoox_edge.wallet.evm) is checked byte for byte against eth-account and eth-keys, the
well-kept libraries it stands in for on Pyodide (docs/architecture.md, "The web3 wallet")."""

from __future__ import annotations

import asyncio
import os
from decimal import Decimal

import pytest
from hoox_edge.shared import settings
from hoox_edge.wallet import evm
from web3_chain import (
    DATA,
    ETH,
    ChainServer,
    Node,
    assemble,
    deploy,
    pool,
    router_bytecode,
    swaps_sent,
    token_balance,
    token_bytecode,
    v2_quote,
)

W = "web3-wallet-worker"
PK = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
ADDRESS = evm.Key.from_hex(PK).address  # held against eth-account's below
MNEMONIC = "test test test test test test test test test test test junk"
CHAINS = {"local": {"chainId": 131277322940537, "rpcSecret": "RPC_PROVIDER_URL",
                    "explorer": "https://explorer.example", "symbol": "ETH"}}
RECIPIENT = evm.checksum(bytes.fromhex("ab" * 20))


@pytest.fixture
def node():
    return Node()


@pytest.fixture
async def wallet(workspace, node):
    """(runtime, node, server) with the wallet's key, RPC URL and chain configured; the wallet holds 10 ETH."""
    from hoox_edge.local.runtime import LocalRuntime

    with ChainServer(node) as server:
        workspace.set_secret("WALLET_PK_SECRET", PK)
        workspace.set_secret("RPC_PROVIDER_URL", server.url)
        rt = LocalRuntime(workspace, workers=[W, "trade-worker"])
        await rt.open()
        try:
            await settings.put(rt.env(W).CONFIG_KV, settings.WEB3_CHAINS, CHAINS)
            node.fund(ADDRESS, 10 * ETH)
            yield rt, node, server
        finally:
            await rt.stop()


def key(rt) -> dict[str, str]:
    return {"X-Internal-Auth-Key": rt.env(W).INTERNAL_KEY_BINDING}


async def process(rt, payload, request_id="r-1"):
    return await rt.request(W, "POST", "/process", json={"requestId": request_id, "payload": payload},
                            headers=key(rt))


def deploy_token(node: Node) -> str:
    return deploy(node, token_bytecode(), PK)


# ============================================================================ the primitives
def test_keccak_addresses_and_signatures_match_eth_account_byte_for_byte():
    from eth_account import Account  # eth-account, the reference, imported where it is used (~1 s)
    from eth_hash.auto import keccak

    for size in (0, 1, 135, 136, 137, 1000):
        data = os.urandom(size)
        assert evm.keccak256(data) == keccak(data)
    k = evm.Key.from_hex(PK)
    assert k.address == Account.from_key(PK).address == ADDRESS
    tx = {"type": 2, "chainId": 8453, "nonce": 7, "maxPriorityFeePerGas": 2 * 10**9, "maxFeePerGas": 9 * 10**9,
          "gas": 60_000, "to": RECIPIENT, "value": 123, "data": b"\x12\x34", "accessList": []}
    expected = Account.sign_transaction(tx, PK)
    raw, tx_hash = evm.Eip1559Tx(8453, 7, 2 * 10**9, 9 * 10**9, 60_000, bytes.fromhex("ab" * 20), 123,
                                 b"\x12\x34").signed(k)
    assert raw == bytes(expected.raw_transaction) and tx_hash == bytes(expected.hash)
    assert PK[2:] not in repr(k) and PK[2:] not in str(k)


def test_mnemonic_accounts_match_eth_account():
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    for index in (0, 3):
        theirs = Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
        assert evm.key_from_mnemonic(MNEMONIC, index).address == theirs.address


def test_checksummed_addresses_are_checked():
    good = ADDRESS
    assert evm.parse_address(good) == bytes.fromhex(good[2:])
    assert evm.parse_address(good.lower()) == bytes.fromhex(good[2:])
    wrong_case = good[:2] + good[2:].swapcase()
    with pytest.raises(ValueError, match="EIP-55"):
        evm.parse_address(wrong_case)


def test_the_committed_bytecode_is_its_assembly_source():
    assert assemble((DATA / "MinimalToken.easm").read_text()) == token_bytecode()
    assert assemble((DATA / "MinimalRouter.easm").read_text()) == router_bytecode()


# ============================================================================ balances
async def test_native_balance_of_the_wallet_and_of_any_address(wallet):
    rt, _, _ = wallet
    r = await process(rt, {"action": "getBalance", "chain": "local"})
    assert r.status == 200, r.text()
    res = r.json()["result"]
    assert res["address"] == ADDRESS
    assert res["balance"] == "10" and res["balanceRaw"] == str(10 * ETH) and res["symbol"] == "ETH"
    other = await process(rt, {"action": "getBalance", "chain": "local", "address": RECIPIENT})
    assert other.json()["result"]["balance"] == "0"


async def test_an_erc20_transfer_moves_tokens_on_chain_and_is_recorded(wallet):
    rt, node, _ = wallet
    token = deploy_token(node)
    r = await process(rt, {"action": "sendTransaction", "chain": "local", "to": RECIPIENT,
                           "tokenAddress": token, "amount": "12.5"}, "erc20-1")
    assert r.status == 200, r.text()
    res = r.json()["result"]
    assert res["status"] == "confirmed" and res["txHash"].startswith("0x")
    assert res["explorerUrl"] == f"https://explorer.example/tx/{res['txHash']}"
    assert node.tester.get_transaction_receipt(res["txHash"])["status"] == 1
    bal = await process(rt, {"action": "getBalance", "chain": "local", "address": RECIPIENT, "tokenAddress": token})
    assert bal.json()["result"] == {**bal.json()["result"], "balance": "12.5", "symbol": "TST", "decimals": 18}
    mine = await process(rt, {"action": "getBalance", "chain": "local", "tokenAddress": token})
    assert Decimal(mine.json()["result"]["balance"]) == Decimal(1_000_000) - Decimal("12.5")
    row = await rt.env(W).DB.prepare("SELECT * FROM wallet_transactions WHERE request_id = 'erc20-1'").first()
    assert row["status"] == "confirmed" and row["token_address"] == token and row["gas_used"] > 21000


async def test_estimate_gas_of_a_transfer(wallet):
    rt, _, _ = wallet
    r = await process(rt, {"action": "estimateGas", "chain": "local", "to": RECIPIENT, "value": "0.1"})
    assert r.status == 200, r.text()
    res = r.json()["result"]
    assert res["gas"] == 21000 and Decimal(res["maxFeePerGasGwei"]) > 0
    assert Decimal(res["maxCost"]) == Decimal(21000) * Decimal(res["maxFeePerGasGwei"]) / 10**9


# ============================================================================ the guarantees
async def test_the_gas_trap_refuses_before_anything_is_signed(wallet):
    rt, node, _ = wallet
    await settings.put(rt.env(W).CONFIG_KV, settings.WEB3_MAX_GAS_PRICE, 0.5)  # the node asks ~1.7 gwei
    for action in ("sendTransaction", "estimateGas"):
        r = await process(rt, {"action": action, "chain": "local", "to": RECIPIENT, "value": "1"}, f"trap-{action}")
        assert r.status == 422, r.text()
        err = r.json()["error"]
        assert err["code"] == "GAS_PRICE_TOO_HIGH"
        assert "web3:max_gas_price_gwei = 0.5 gwei" in err["message"] and "nothing was signed" in err["message"]
    assert node.raw_transactions == []
    assert await rt.env(W).DB.prepare("SELECT COUNT(*) AS n FROM wallet_transactions").first("n") == 0
    assert node.tester.get_balance(RECIPIENT) == 0


async def test_two_concurrent_sends_get_distinct_nonces_and_both_land(wallet):
    rt, node, _ = wallet
    sender = ADDRESS
    start = node.tester.get_nonce(sender)
    a, b = await asyncio.gather(
        process(rt, {"action": "sendTransaction", "chain": "local", "to": RECIPIENT, "value": "1"}, "c-1"),
        process(rt, {"action": "sendTransaction", "chain": "local", "to": RECIPIENT, "value": "2"}, "c-2"))
    assert a.status == 200 and b.status == 200, (a.text(), b.text())
    ra, rb = a.json()["result"], b.json()["result"]
    assert {ra["nonce"], rb["nonce"]} == {start, start + 1}
    for res in (ra, rb):
        assert node.tester.get_transaction_receipt(res["txHash"])["status"] == 1
    assert node.tester.get_balance(RECIPIENT) == 3 * ETH


async def test_a_resend_with_the_same_request_id_answers_the_first_hash_and_sends_nothing(wallet):
    rt, node, _ = wallet
    body = {"action": "sendTransaction", "chain": "local", "to": RECIPIENT, "value": "0.25"}
    first = await process(rt, body, "once-1")
    again = await process(rt, {**body, "value": "5"}, "once-1")
    assert first.status == 200 and again.status == 200
    assert again.json()["result"]["txHash"] == first.json()["result"]["txHash"]
    assert again.json()["result"]["replayed"] is True
    assert len(node.raw_transactions) == 1
    assert node.tester.get_balance(RECIPIENT) == ETH // 4
    tx = await rt.request(W, "GET", "/tx/once-1", headers=key(rt))
    assert tx.json()["result"]["txHash"] == first.json()["result"]["txHash"]
    assert tx.json()["result"]["status"] == "confirmed"


async def test_a_transaction_the_node_refuses_is_recorded_and_frees_its_nonce(wallet):
    rt, node, _ = wallet
    r = await process(rt, {"action": "sendTransaction", "chain": "local", "to": RECIPIENT, "value": "50",
                           "gasLimit": 21000}, "too-much")  # the wallet holds 10
    assert r.status == 502 and r.json()["error"]["code"] == "TX_REJECTED"
    row = await rt.env(W).DB.prepare("SELECT status, error FROM wallet_transactions WHERE request_id = ?").bind(
        "too-much").first()
    assert row["status"] == "rejected" and row["error"]
    again = await process(rt, {"action": "sendTransaction", "chain": "local", "to": RECIPIENT, "value": "50",
                               "gasLimit": 21000}, "too-much")
    assert again.status == 409 and again.json()["error"]["code"] == "DUPLICATE_REQUEST"
    ok_send = await process(rt, {"action": "sendTransaction", "chain": "local", "to": RECIPIENT, "value": "1"},
                            "after")
    assert ok_send.status == 200 and ok_send.json()["result"]["nonce"] == row_nonce_start(node) - 1


async def test_a_send_whose_answer_was_lost_is_found_on_chain_not_sent_twice(wallet):
    rt, node, _ = wallet
    node.send_faults = ["answer"]  # the node takes (and mines) it; the wallet never hears back
    r = await process(rt, {"action": "sendTransaction", "chain": "local", "to": RECIPIENT, "value": "1"}, "lost-1")
    assert r.status == 200, r.text()
    assert r.json()["result"]["status"] == "confirmed"
    assert node.tester.get_balance(RECIPIENT) == ETH and len(node.raw_transactions) == 1


async def test_a_send_the_node_never_got_is_sent_again_as_the_same_transaction_by_a_resend(wallet):
    rt, node, _ = wallet
    body = {"action": "sendTransaction", "chain": "local", "to": RECIPIENT, "value": "1", "timeoutSeconds": 1}
    node.send_faults = ["request"]  # the connection is cut before the node takes it
    r = await process(rt, body, "lost-2")
    assert r.status == 202 and r.json()["result"]["status"] == "pending", r.text()
    assert node.raw_transactions == [] and node.tester.get_balance(RECIPIENT) == 0
    again = await process(rt, body, "lost-2")
    assert again.status == 200 and again.json()["result"]["status"] == "confirmed", again.text()
    assert again.json()["result"]["txHash"] == r.json()["result"]["txHash"]  # the same bytes, the same hash
    assert node.tester.get_balance(RECIPIENT) == ETH and len(node.raw_transactions) == 1


def row_nonce_start(node: Node) -> int:
    return node.tester.get_nonce(ADDRESS)


async def test_the_kill_switch_refuses_sends(wallet):
    rt, node, _ = wallet
    await settings.put(rt.env(W).CONFIG_KV, settings.KILL_SWITCH, True)
    r = await process(rt, {"action": "sendTransaction", "chain": "local", "to": RECIPIENT, "value": "1"})
    assert r.status == 503 and r.json()["error"]["code"] == "KILL_SWITCH_ACTIVE"
    assert node.raw_transactions == []


async def test_the_mnemonic_signs_for_the_account_asked(workspace, node):
    from eth_account import Account
    from hoox_edge.local.runtime import LocalRuntime

    Account.enable_unaudited_hdwallet_features()
    with ChainServer(node) as server:
        workspace.set_secret("WALLET_MNEMONIC_SECRET", MNEMONIC)
        workspace.set_secret("RPC_PROVIDER_URL", server.url)
        rt = LocalRuntime(workspace, workers=[W])
        await rt.open()
        try:
            await settings.put(rt.env(W).CONFIG_KV, settings.WEB3_CHAINS, CHAINS)
            second = Account.from_mnemonic(MNEMONIC, account_path="m/44'/60'/0'/0/1").address
            node.fund(second, ETH)
            r = await process(rt, {"action": "sendTransaction", "chain": "local", "to": RECIPIENT,
                                   "value": "0.5", "account": 1}, "hd-1")
            assert r.status == 200, r.text()
            assert r.json()["result"]["from"] == second
            assert node.tester.get_balance(RECIPIENT) == ETH // 2
        finally:
            await rt.stop()


# ============================================================================ refusals and secrets
async def test_bad_requests_name_the_field_and_the_rule(wallet):
    rt, _, _ = wallet
    r = await process(rt, {"action": "sendTransaction", "chain": "local", "to": "0x1234", "value": 0.1})
    assert r.status == 400
    fields = {d["field"]: d["issue"] for d in r.json()["error"]["details"]}
    assert "20-byte hex address" in fields["to"] and "decimal amount as a string" in fields["value"]
    unknown = await process(rt, {"action": "getBalance", "chain": "mainnet"})
    assert unknown.status == 400 and "configured: local" in unknown.json()["error"]["message"]
    bad = await process(rt, {"action": "fly", "chain": "local"})
    assert bad.status == 400 and bad.json()["error"]["details"][0]["field"] == "action"
    too_precise = await process(rt, {"action": "estimateGas", "chain": "local", "to": RECIPIENT,
                                     "value": "0.0000000000000000001"})
    assert too_precise.status == 400 and "18 decimal places" in too_precise.text()
    with pytest.raises(settings.SettingError, match=r"local.rpcSecret must name one of"):
        await settings.put(rt.env(W).CONFIG_KV, settings.WEB3_CHAINS,
                           {"local": {"chainId": 1, "rpcSecret": "WALLET_PK_SECRET", "explorer": ""}})
    assert (await rt.request(W, "POST", "/process", json={"payload": {}})).status == 401


async def test_the_key_and_the_rpc_url_never_reach_an_answer_a_log_or_a_stored_file(wallet, workspace):
    rt, _, server = wallet
    answers = [await process(rt, {"action": "sendTransaction", "chain": "local", "to": RECIPIENT, "value": "1"},
                             "s-1"),
               await process(rt, {"action": "sendTransaction", "chain": "local", "to": RECIPIENT, "value": "50",
                                  "gasLimit": 21000}, "s-2"),
               await rt.request(W, "GET", "/tx/s-1", headers=key(rt))]
    server.served.stop()  # the node goes away: the error names the chain, not the URL
    down = await process(rt, {"action": "getBalance", "chain": "local"}, "s-3")
    assert down.status == 502 and "could not be reached" in down.json()["error"]["message"]
    answers.append(down)
    secrets = [PK[2:].lower(), "secret-project-key", server.url]
    for r in answers:
        assert not any(s in r.text().lower() for s in secrets)
    for path in workspace.root.rglob("*"):
        if path.is_file() and path != workspace.dev_vars_path:
            blob = path.read_bytes().lower()
            assert not any(s.encode() in blob for s in secrets), path


def test_the_pbkdf2_fallback_for_pyodide_equals_hashlibs(monkeypatch):
    import hashlib

    expected = evm.mnemonic_seed(MNEMONIC)
    monkeypatch.delattr(hashlib, "pbkdf2_hmac")  # as in Pyodide, whose hashlib lacks it
    assert evm.mnemonic_seed(MNEMONIC) == expected


# ============================================================================ swaps (trade-worker /dex)
async def test_a_dex_signal_swaps_through_the_router_within_its_slippage_bound_once(wallet):
    """An internal caller's swap straight to trade-worker's /dex (the gateway's path: test_dex_signals.py)."""
    rt, node, _ = wallet
    me = ADDRESS
    token_a, token_b, router = pool(node, PK)  # the router's pool: 1000 of each
    t = node.tester
    signal = {"exchange": "dex", "chain": "local", "router": router, "tokenIn": token_a, "tokenOut": token_b,
              "quantity": "10", "slippageBps": 100}
    internal = {"X-Internal-Auth-Key": rt.env("trade-worker").INTERNAL_KEY_BINDING}
    before = token_balance(node, token_b, me)
    r = await rt.request("trade-worker", "POST", "/dex", json={"requestId": "dex-1", "payload": signal},
                         headers=internal)
    assert r.status == 200, r.text()
    res = r.json()["result"]
    quoted = v2_quote(10 * ETH, 1000 * ETH, 1000 * ETH)
    assert res["quotedOutUnits"] == str(quoted) and res["amountOutMinUnits"] == str(quoted * 9900 // 10_000)
    assert res["status"] == "Filled" and res["amountIn"] == "10" and res["amountInUnits"] == str(10 * ETH)
    approve = await rt.env(W).DB.prepare("SELECT status, tx_hash FROM wallet_transactions WHERE request_id = ?").bind(
        "dex-1:approve").first()
    assert approve == {"status": "confirmed", "tx_hash": res["approveTxHash"]}
    assert t.get_transaction_receipt(res["txHash"])["status"] == 1
    assert token_balance(node, token_b, me) - before == quoted
    # The bound is in the signed transaction: swapExactTokensForTokens' amountOutMin.
    sent = bytes.fromhex(t.get_transaction_by_hash(res["txHash"])["data"][2:])
    assert sent[:4] == bytes.fromhex("38ed1739") and evm.decode_uint(sent[36:68]) == quoted * 9900 // 10_000
    # A direct caller's swap gets its ledger row too (source internal), Filled with the swap.
    row = await rt.env("trade-worker").DB.prepare(
        "SELECT status, source, exchange, action, result FROM trade_signals WHERE request_id = 'dex-1'").first()
    assert (row["status"], row["source"], row["exchange"], row["action"]) == ("Filled", "internal", "dex", "SWAP")

    again = await rt.request("trade-worker", "POST", "/dex", json={"requestId": "dex-1", "payload": signal},
                             headers=internal)
    assert again.status == 200 and again.json()["result"] == res  # the recorded outcome, nothing sent
    assert len(node.raw_transactions) == 2 and len(swaps_sent(node)) == 1
    assert token_balance(node, token_b, me) - before == quoted

    bad = await rt.request("trade-worker", "POST", "/dex", json={"requestId": "dex-2", "payload": {
        **signal, "slippageBps": 9000}}, headers=internal)
    assert bad.status == 400 and bad.json()["error"]["details"][0]["field"] == "slippageBps"
    wrong = await rt.request("trade-worker", "POST", "/dex", json={"requestId": "dex-3", "payload": {
        **signal, "exchange": "bybit"}}, headers=internal)
    assert wrong.status == 400 and wrong.json()["error"]["details"][0]["field"] == "exchange"


async def test_a_receipt_not_seen_in_time_answers_pending_and_tx_finds_it_later(wallet):
    rt, node, _ = wallet
    node.tester.disable_auto_mine_transactions()  # the transaction waits in the pool: no block comes
    r = await process(rt, {"action": "sendTransaction", "chain": "local", "to": RECIPIENT, "value": "1",
                           "timeoutSeconds": 1}, "slow-1")
    assert r.status == 202, r.text()
    assert r.json()["result"]["status"] == "pending" and r.json()["result"]["txHash"]
    pending = await rt.request(W, "GET", "/tx/slow-1", headers=key(rt))
    assert pending.json()["result"]["status"] == "pending"
    node.tester.mine_blocks(1)
    # A resend of the request id learns how its transaction ended (the receipt is looked for again).
    resent = await process(rt, {"action": "sendTransaction", "chain": "local", "to": RECIPIENT, "value": "1"},
                           "slow-1")
    assert resent.status == 200 and resent.json()["result"]["status"] == "confirmed"
    assert resent.json()["result"]["replayed"] is True and len(node.raw_transactions) == 1
    mined = await rt.request(W, "GET", "/tx/slow-1", headers=key(rt))
    assert mined.json()["result"]["status"] == "confirmed" and mined.json()["result"]["blockNumber"]
    assert node.tester.get_balance(RECIPIENT) == ETH
