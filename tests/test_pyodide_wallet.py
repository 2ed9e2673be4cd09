"""The wallet's signing code runs in real Pyodide (Cloudflare's Python) and signs the same bytes as
eth-account: run in tests/pyodide/inside."""

from __future__ import annotations

from pyodide_support import run_in_pyodide


def test_wallet_signing_gives_eth_accounts_bytes_inside_pyodide() -> None:
    out = run_in_pyodide("pyodide/inside/test_wallet_signing.py")
    assert "2 passed" in out
