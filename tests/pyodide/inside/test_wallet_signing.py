"""web3-wallet-worker's signing (hoox_edge.wallet.evm, standard library only) inside real Pyodide: the
same bytes as eth-account produced in CPython for the same key and transaction (the vectors below were
made with eth-account 0.14; tests/test_web3_wallet.py checks the same code against it live). eth-account
itself cannot be imported here: it needs ckzg, which Pyodide 0.28 does not ship (docs/architecture.md)."""

from __future__ import annotations

import sys

from hoox_edge.wallet import evm

PK = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
RAW = ("02f86f822105078477359400850218711a0082ea6094abababababababababababababababababababab7b821234c080a03fefd9a5"
       "2a0be7c5b61bed601279fe810ce863a963ddf48887f3fceb9b33d712a01bd703750ce21d478be3753c0471f5989900df62c6d3f5049"
       "13b6e8d185188ed")
TX_HASH = "fa1343475e1fa1b74bb30c40d33c5b1efa47dfa956b2e0736a2b37f30a2f0000"


def test_an_eip1559_transaction_signs_to_eth_accounts_bytes_in_pyodide() -> None:
    assert sys.platform == "emscripten"
    key = evm.Key.from_hex(PK)
    assert key.address == "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
    raw, tx_hash = evm.Eip1559Tx(8453, 7, 2 * 10**9, 9 * 10**9, 60_000, bytes.fromhex("ab" * 20), 123,
                                 b"\x12\x34").signed(key)
    assert raw.hex() == RAW and tx_hash.hex() == TX_HASH


def test_a_mnemonic_account_derives_as_in_eth_account_in_pyodide() -> None:
    mnemonic = "test test test test test test test test test test test junk"
    assert evm.key_from_mnemonic(mnemonic, 2).address == "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
