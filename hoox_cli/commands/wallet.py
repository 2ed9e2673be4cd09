"""`hoox wallet balance|send|tx`: the web3 wallet (web3-wallet-worker), through the operator API.

`send` estimates first, shows what it will sign (chain, from, to, amount, gas, max cost) and asks,
unless --yes; under --json or --quiet nobody is asked, so it needs --yes (CONFIRMATION_REQUIRED, exit 2,
nothing sent). Each `send` carries a new request id (`--request-id` to choose it): sending the same id
again answers the first transaction, never a second one.

--json:
- `wallet balance` -> {"chain", "chainId", "address", "token", "symbol", "decimals", "balanceRaw", "balance"}
- `wallet send`    -> {"requestId", "chain", "chainId", "from", "to", "valueWei", "tokenAddress", "nonce",
                       "txHash", "status", "blockNumber", "gasUsed", "effectiveGasPrice", "error",
                       "explorerUrl", "createdAt", "updatedAt", "replayed"?}
- `wallet tx`      -> the same object
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer

from hoox_cli.core.connection import operator_client
from hoox_cli.core.errors import fail
from hoox_cli.options import JsonOpt, RemoteOpt, handle_errors, remember_remote, remote_of
from hoox_cli.output import can_prompt, dump, emit_json, esc, say

app = typer.Typer(help="The web3 wallet: balances, sends and their transactions (web3-wallet-worker).",
                  no_args_is_help=True)

ChainOpt = Annotated[str, typer.Option("--chain", "-c", help="A chain of the KV entry web3:chains.")]
TokenOpt = Annotated[str | None, typer.Option("--token", metavar="ADDRESS",
                                              help="An ERC-20's contract address (default: the native coin).")]
AccountOpt = Annotated[int, typer.Option("--account", min=0,
                                         help="The mnemonic's account index (m/44'/60'/0'/0/N).")]


@app.callback()
def _group(ctx: typer.Context, remote: RemoteOpt = None) -> None:
    """The web3 wallet through the edge's operator API."""
    remember_remote(ctx, remote)


def _tx_lines(tx: dict[str, Any]) -> None:
    status = tx["status"]
    color = {"confirmed": "green", "pending": "yellow", "reverted": "red", "rejected": "red"}.get(status, "white")
    say(f"[{color}]{esc(status)}[/{color}]  {esc(tx['txHash'] or '(not broadcast)')}"
        + ("  (sent before under this request id: nothing new was sent)" if tx.get("replayed") else ""))
    say(f"  {esc(tx['chain'])}  nonce {tx['nonce']}  from {esc(tx['from'])} to {esc(tx['to'])}"
        + (f"  token {esc(tx['tokenAddress'])}" if tx["tokenAddress"] else ""))
    if tx["blockNumber"] is not None:
        say(f"  block {tx['blockNumber']}, gas used {tx['gasUsed']}")
    if tx["error"]:
        say(f"  [red]{esc(tx['error'])}[/red]")
    if tx["explorerUrl"]:
        say(f"  {esc(tx['explorerUrl'])}")
    say(f"  request id {esc(tx['requestId'])} (`hoox wallet tx {esc(tx['requestId'])}`)")


@app.command()
@handle_errors
def balance(
    ctx: typer.Context,
    chain: ChainOpt,
    address: Annotated[str | None, typer.Option("--address", "-a", help="Whose balance (default: the wallet's).")]
    = None,
    token: TokenOpt = None,
    account: AccountOpt = 0,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A native or ERC-20 balance on a chain."""
    body: dict[str, Any] = {"chain": chain, "account": account}
    if address:
        body["address"] = address
    if token:
        body["tokenAddress"] = token
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.wallet_balance(body))
    if json_out:
        emit_json(result)
        return
    say(f"[bold]{esc(result['balance'])} {esc(result['symbol'] or '(no symbol)')}[/bold]  "
        f"{esc(result['address'])} on {esc(result['chain'])}")


@app.command()
@handle_errors
def send(
    ctx: typer.Context,
    to: Annotated[str, typer.Argument(help="The recipient's 0x address.")],
    amount: Annotated[str, typer.Argument(help='How much, as a decimal ("0.05"): of the native coin, or of '
                                               "--token's.")],
    chain: ChainOpt,
    token: TokenOpt = None,
    account: AccountOpt = 0,
    request_id: Annotated[str | None, typer.Option("--request-id", help="The send's id (default: a new one); "
                                                   "the same id again never sends twice.")] = None,
    timeout: Annotated[int, typer.Option("--timeout", min=1, max=300,
                                         help="Seconds to wait for the receipt.")] = 30,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before sending.")] = False,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Sign and send a transfer (EIP-1559), after showing what it costs and asking."""
    move: dict[str, Any] = {"chain": chain, "to": to, "account": account}
    if token:
        move.update(tokenAddress=token, amount=amount)
    else:
        move["value"] = amount
    rid = request_id or f"cli-wallet-{uuid.uuid4().hex[:16]}"
    with operator_client(remote_of(ctx, remote)) as client:
        if not yes:
            if not can_prompt(json_out):
                fail("CONFIRMATION_REQUIRED", "hoox wallet send moves funds: it needs --yes under --json or --quiet "
                                              "(no prompt is shown); nothing was sent.", exit_code=2)
            est = dump(client.wallet_estimate(move))
            what = f"{amount} of token {token}" if token else f"{amount} {est['symbol']}"
            say(f"Send [bold]{esc(what)}[/bold] on {esc(est['chain'])} from {esc(est['from'])} to {esc(to)}")
            say(f"  gas {est['gas']}, max fee {esc(est['maxFeePerGasGwei'])} gwei: at most "
                f"{esc(est['maxCost'])} {esc(est['symbol'])} in fees")
            typer.confirm("Sign and send it?", abort=True)
        result = dump(client.wallet_send({**move, "requestId": rid, "timeoutSeconds": timeout}))
    if json_out:
        emit_json(result)
        return
    _tx_lines(result)


@app.command()
@handle_errors
def tx(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(help="The send's request id (`hoox wallet send` prints it).")],
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A send as the ledger records it; a pending one's receipt is looked for again."""
    with operator_client(remote_of(ctx, remote)) as client:
        result = dump(client.wallet_tx(request_id))
    if json_out:
        emit_json(result)
        return
    _tx_lines(result)
