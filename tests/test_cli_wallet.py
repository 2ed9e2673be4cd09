"""`hoox wallet balance|send|tx` against a running local edge whose web3-wallet-worker talks to a real
EVM (eth-tester on py-evm behind loopback JSON-RPC, tests/web3_chain.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import cli_support
import pytest
from cli_support import as_json
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.shared import settings
from hoox_edge.wallet import evm
from web3_chain import ChainServer, Node, use_wallet

PK = "0x8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f"
RECIPIENT = "0x" + "cd" * 20
CHAINS = {"local": {"chainId": 131277322940537, "rpcSecret": "RPC_PROVIDER_URL",
                    "explorer": "https://explorer.example"}}
ETH = 10**18


@pytest.fixture
def node() -> Node:
    n = Node()
    n.fund(evm.Key.from_hex(PK).address, 10 * ETH)
    return n


@pytest.fixture
def chain(node: Node):
    with ChainServer(node) as server:
        yield server


@pytest.fixture
def workspace(workspace, chain):  # conftest's, with web3-wallet-worker on, its key and its chain's RPC set
    return use_wallet(workspace, PK, chain.url)


async def hoox(*args: str, input: str | None = None) -> Any:
    """A CLI command in a worker thread: the edge's event loop must keep serving."""
    return await asyncio.to_thread(cli_support.hoox, *args, input=input)


async def test_balance_send_after_asking_and_tx(edge: LocalRuntime, node: Node) -> None:
    await settings.put(edge.env("hoox").CONFIG_KV, settings.WEB3_CHAINS, CHAINS)
    r = await hoox("wallet", "balance", "--chain", "local", "--json")
    assert r.exit_code == 0, r.output
    assert as_json(r)["balance"] == "10" and as_json(r)["address"] == evm.Key.from_hex(PK).address
    assert "10 ETH" in (await hoox("wallet", "balance", "--chain", "local")).stdout

    # Nobody to ask under --json: nothing is estimated or sent.
    r = await hoox("wallet", "send", RECIPIENT, "1", "--chain", "local", "--json")
    assert r.exit_code == 2 and as_json(r)["error"]["code"] == "CONFIRMATION_REQUIRED"
    declined = await hoox("wallet", "send", RECIPIENT, "1", "--chain", "local", input="n\n")
    assert declined.exit_code != 0
    assert "gas 21000" in declined.stdout and "ETH in fees" in declined.stdout
    assert node.raw_transactions == [] and node.tester.get_balance(RECIPIENT) == 0

    sent = await hoox("wallet", "send", RECIPIENT, "1.5", "--chain", "local", input="y\n")
    assert sent.exit_code == 0, sent.output
    assert "confirmed" in sent.stdout and "https://explorer.example/tx/0x" in sent.stdout
    assert node.tester.get_balance(RECIPIENT) == 3 * ETH // 2

    outputs = [sent.stdout]
    for _ in range(2):  # the same request id twice: one transaction
        r = await hoox("wallet", "send", RECIPIENT, "2", "--chain", "local", "--yes", "--json",
                       "--request-id", "cli-once")
        assert r.exit_code == 0, r.output
        outputs.append(r.stdout)
    first, again = (json.loads(o) for o in outputs[1:])
    assert first["txHash"] == again["txHash"] and again["replayed"] is True
    assert len(node.raw_transactions) == 2 and node.tester.get_balance(RECIPIENT) == 7 * ETH // 2

    r = await hoox("wallet", "tx", "cli-once", "--json")
    assert r.exit_code == 0 and as_json(r)["txHash"] == first["txHash"] and as_json(r)["status"] == "confirmed"
    outputs.append(r.stdout)
    missing = await hoox("wallet", "tx", "no-such-send", "--json")
    assert missing.exit_code == 1 and as_json(missing)["error"]["code"] == "NOT_FOUND"
    assert not any(PK[2:] in o for o in outputs)


async def test_the_gas_trap_and_a_bad_address_are_said_plainly(edge: LocalRuntime, node: Node) -> None:
    await settings.put(edge.env("hoox").CONFIG_KV, settings.WEB3_CHAINS, CHAINS)
    await settings.put(edge.env("hoox").CONFIG_KV, settings.WEB3_MAX_GAS_PRICE, 0.1)
    r = await hoox("wallet", "send", RECIPIENT, "1", "--chain", "local", "--yes", "--json")
    assert r.exit_code == 1 and as_json(r)["error"]["code"] == "GAS_PRICE_TOO_HIGH"
    bad = await hoox("wallet", "balance", "--chain", "local", "--address", "0xnope", "--json")
    assert bad.exit_code == 1 and as_json(bad)["error"]["code"] == "VALIDATION_ERROR"
    assert "address" in as_json(bad)["error"]["message"]
    assert node.raw_transactions == []


async def test_the_dashboard_balances_list_every_chain_and_say_which_failed(edge: LocalRuntime) -> None:
    from test_operator_api import v1

    chains = {**CHAINS, "other": {"chainId": 10, "rpcSecret": "RPC_URL_TESTNET", "explorer": "", "symbol": "OP"}}
    await settings.put(edge.env("hoox").CONFIG_KV, settings.WEB3_CHAINS, chains)
    r = await v1(edge, "GET", "/wallet/balances")
    assert r.status == 200, r.json()
    local, other = r.json()["result"]["items"]
    assert (local["chain"], local["balance"], local["error"]) == ("local", "10", None)
    assert local["address"] == evm.Key.from_hex(PK).address
    assert other["balance"] is None and "RPC_URL_TESTNET" in other["error"] and other["symbol"] == "OP"
