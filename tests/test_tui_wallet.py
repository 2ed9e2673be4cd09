"""The cockpit's dashboard shows the web3 wallet's balance on each chain while web3-wallet-worker runs,
read from a real local edge whose wallet talks to a real EVM (tests/web3_chain.py), and nothing of it
while the worker is off."""

from __future__ import annotations

import pytest
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from hoox_edge.shared import settings
from hoox_edge.wallet import evm
from textual.widgets import Static
from tui_support import cockpit_settings, make_ctx, plain, until  # noqa: F401  (autouse)
from web3_chain import ChainServer, Node, use_wallet

from hoox_tui.app import HooxApp

PK = "0x" + "5a" * 32
CHAINS = {"local": {"chainId": 131277322940537, "rpcSecret": "RPC_PROVIDER_URL", "explorer": ""},
          "other": {"chainId": 10, "rpcSecret": "RPC_URL_TESTNET", "explorer": "", "symbol": "OP"}}


@pytest.fixture
def chain():
    node = Node()
    node.fund(evm.Key.from_hex(PK).address, 3 * 10**18)
    with ChainServer(node) as server:
        yield server


@pytest.fixture
def workspace(workspace, chain, request):  # conftest's; web3-wallet-worker on unless the test says "off"
    return use_wallet(workspace, PK, chain.url, enabled=getattr(request, "param", "on") == "on")


def wallet_panel(app: HooxApp) -> Static:
    return app.views["dashboard"].query_one("#wallet", Static)


async def test_the_dashboard_lists_each_chains_balance_and_a_chains_failure(edge: LocalRuntime,
                                                                              workspace: Workspace) -> None:
    await settings.put(edge.env("hoox").CONFIG_KV, settings.WEB3_CHAINS, CHAINS)
    ctx = make_ctx(workspace, edge)
    app = HooxApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: wallet_panel(app).display and "ETH" in plain(wallet_panel(app), width=110),
                    "the wallet's balances read and shown")
        text = plain(wallet_panel(app), width=110)
        assert "local" in text and "3 ETH" in text and evm.Key.from_hex(PK).address[:12] in text
        assert "other" in text and "RPC_URL_TESTNET" in text  # its RPC URL is not set


@pytest.mark.parametrize("workspace", ["off"], indirect=True)
async def test_nothing_of_the_wallet_shows_while_its_worker_is_off(edge: LocalRuntime, workspace: Workspace) -> None:
    ctx = make_ctx(workspace, edge)
    app = HooxApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: ctx.store.status is not None and "dashboard" in app.views
                    and "stats" in ctx.store.updated_at, "the dashboard read")
        assert not wallet_panel(app).display and ctx.store.wallet is None
        assert not ctx.store.wallet_enabled()


async def test_the_balances_are_read_at_most_every_30_seconds_not_every_poll(edge: LocalRuntime,
                                                                             workspace: Workspace) -> None:
    await settings.put(edge.env("hoox").CONFIG_KV, settings.WEB3_CHAINS, CHAINS)
    ctx = make_ctx(workspace, edge, refresh_seconds=0.05)
    client = ctx.store.client
    asked = {"wallet": 0, "stats": 0}
    for name, method in (("wallet", "wallet_balances"), ("stats", "stats")):
        inner = getattr(client, method)

        async def counted(*args: object, _inner: object = inner, _name: str = name, **kw: object) -> object:
            asked[_name] += 1
            return await _inner(*args, **kw)  # type: ignore[operator]

        setattr(client, method, counted)
    app = HooxApp(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: asked["stats"] >= 4, "four polls of the dashboard")
        assert asked["wallet"] == 1  # each read asks every chain's (metered) RPC provider
