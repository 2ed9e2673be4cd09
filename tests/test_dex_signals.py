"""Swap signals (`"exchange": "dex"`) through the gateway, on a real EVM: eth-tester's py-evm chain behind
a loopback JSON-RPC server (tests/web3_chain.py), a deployed Uniswap V2-style router with its own pool.

The gateway's guarantees hold for a swap as for any signal: authenticated, rate-limited, de-duplicated
under the idempotency lock, refused by the kill switch, a `trade_signals` row that ends Filled (with the
tx hash) or Rejected (with the reason), and a crash mid-delivery re-delivered by the reconciler under
the same request id — the chain shows one swap.
"""

from __future__ import annotations

import json

import pytest
from hoox_edge import lifecycle, reconcile
from hoox_edge.shared import clock, settings
from hoox_edge.shared.signal import parse_dex_signal
from hoox_edge.wallet import evm
from web3_chain import ETH, ChainServer, Node, deploy, pool, swaps_sent, token_balance, token_bytecode, v2_quote

from hoox_cli.core import models

GW, TRADE, W = "hoox", "trade-worker", "web3-wallet-worker"
PK = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
CHAINS = {"local": {"chainId": 131277322940537, "rpcSecret": "RPC_PROVIDER_URL",
                    "explorer": "https://explorer.example", "symbol": "ETH"}}
ME = evm.Key.from_hex(PK).address


@pytest.fixture
def node() -> Node:
    return Node()


async def _open(workspace, node: Node, workers: list[str]):
    from hoox_edge.local.runtime import LocalRuntime

    workspace.set_secret("WALLET_PK_SECRET", PK)
    rt = LocalRuntime(workspace, workers=workers)
    await rt.open()
    await settings.put(rt.env(GW).CONFIG_KV, settings.WEB3_CHAINS, CHAINS)
    # The swap answers within the direct call here (a real chain's blocks take longer: 202, then the queue).
    await settings.put(rt.env(GW).CONFIG_KV, settings.DIRECT_TIMEOUT, 30_000)
    node.fund(ME, 10 * ETH)
    return rt


@pytest.fixture
async def chain(workspace, node):
    """(runtime with the gateway, trade-worker and the wallet; node; (token A, token B, router))."""
    with ChainServer(node) as server:
        workspace.set_secret("RPC_PROVIDER_URL", server.url)
        rt = await _open(workspace, node, [GW, TRADE, W])
        try:
            yield rt, node, pool(node, PK)
        finally:
            await rt.stop()


def swap(rt, tokens, **changes) -> dict:
    token_a, token_b, router = tokens
    body = {"apiKey": rt.env(GW).WEBHOOK_API_KEY, "exchange": "dex", "chain": "local", "router": router,
            "tokenIn": token_a, "tokenOut": token_b, "quantity": "10", "slippageBps": 100}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def send(rt, body):
    return await rt.request(GW, "POST", "/webhook", json=body)


async def row(rt, rid) -> dict:
    found = await rt.env(GW).DB.prepare("SELECT * FROM trade_signals WHERE request_id = ?").bind(rid).first()
    assert found is not None
    return found


async def timeline(rt, rid) -> dict:
    token = rt.env(GW).OPERATOR_API_KEY
    r = await rt.request(GW, "GET", f"/v1/signals/{rid}/timeline", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200, r.text()
    res = r.json()["result"]
    models.SignalTimeline.model_validate(res)
    return res


QUOTE = v2_quote(10 * ETH, 1000 * ETH, 1000 * ETH)  # 10 of token A into the 1000/1000 pool


# =========================================================================== the path
async def test_a_webhook_swap_goes_through_the_gateway_and_its_row_is_filled_with_the_tx_hash(chain):
    rt, node, tokens = chain
    before = token_balance(node, tokens[1], ME)
    r = await send(rt, swap(rt, tokens, idempotencyKey="swap-1"))
    assert r.status == 200, r.text()
    body = r.json()
    rid, res = body["requestId"], body["result"]
    assert body["status"] == "Filled" and body["exchange"] == "dex" and body["action"] == "SWAP"
    assert node.tester.get_transaction_receipt(res["txHash"])["status"] == 1
    assert token_balance(node, tokens[1], ME) - before == QUOTE
    assert res["quotedOutUnits"] == str(QUOTE) and res["amountOutMinUnits"] == str(QUOTE * 9900 // 10_000)
    assert res["explorerUrl"] == f"https://explorer.example/tx/{res['txHash']}"

    sig = await row(rt, rid)
    assert (sig["status"], sig["exchange"], sig["action"], sig["quantity"]) == ("Filled", "dex", "SWAP", 10.0)
    assert json.loads(sig["result"]) == res
    assert json.loads(sig["signal"])["router"] == tokens[2]
    stored = json.loads(sig["payload"])  # as sent, without the passkey; a swap's addresses are not masked
    assert "apiKey" not in stored and (stored["tokenIn"], stored["tokenOut"]) == tokens[:2]
    # The operator's timeline shows the swap: what was sent, its transaction, its end.
    t = await timeline(rt, rid)
    assert t["signal"]["swap"]["txHash"] == res["txHash"] and t["trade"] is None
    kinds = [s["kind"] for s in t["stages"]]
    assert kinds.index("validated") < kinds.index("locked") < kinds.index("order") < kinds.index("fill")
    assert t["stages"][-1]["summary"].startswith("Filled")
    assert any(res["txHash"] in s["summary"] for s in t["stages"])


async def test_the_cli_and_the_cockpit_show_a_swap_without_exchange_order_fields(chain, capsys):
    from hoox_cli.commands.signal import _print_timeline
    from hoox_tui.timeline import heading

    rt, _, tokens = chain
    r = await send(rt, swap(rt, tokens))
    rid, tx_hash = r.json()["requestId"], r.json()["result"]["txHash"]
    t = await timeline(rt, rid)
    text = heading(models.SignalTimeline.model_validate(t)).plain
    assert f"webhook SWAP 10.0 on dex  Filled\nswap: 10 {tokens[0]} -> {tokens[1]} on local, tx {tx_hash}" in text
    assert f"quoted {QUOTE} out" in text and "order:" not in text
    capsys.readouterr()
    _print_timeline(t)
    out = " ".join(capsys.readouterr().out.split())
    assert "webhook SWAP 10 on dex" in out and f"tx {tx_hash}" in out
    assert f"https://explorer.example/tx/{tx_hash}" in out and "order:" not in out


async def test_the_same_idempotency_key_twice_swaps_once(chain):
    rt, node, tokens = chain
    before = token_balance(node, tokens[1], ME)
    first = await send(rt, swap(rt, tokens, idempotencyKey="tv-swap"))
    assert first.status == 200, first.text()
    again = await send(rt, swap(rt, tokens, idempotencyKey="tv-swap"))
    assert again.status == 409 and again.json()["error"]["code"] == "DUPLICATE_REQUEST"
    original = again.json()["original"]
    assert original["requestId"] == first.json()["requestId"] and original["status"] == "Filled"
    assert original["result"]["txHash"] == first.json()["result"]["txHash"]
    assert len(swaps_sent(node)) == 1 and token_balance(node, tokens[1], ME) - before == QUOTE


async def test_a_queued_swap_is_executed_by_the_consumer_once(chain):
    rt, node, tokens = chain
    await settings.put(rt.env(GW).CONFIG_KV, settings.QUEUE_MODE, "queue_everywhere")
    r = await send(rt, swap(rt, tokens))
    assert r.status == 202 and r.json()["status"] == "Enqueued", r.text()
    rid = r.json()["requestId"]
    assert swaps_sent(node) == []
    assert await rt.drain_queues() >= 1
    sig = await row(rt, rid)
    assert sig["status"] == "Filled" and json.loads(sig["result"])["txHash"] == swaps_sent(node)[0]["hash"]
    assert len(swaps_sent(node)) == 1


# =========================================================================== refusals
async def test_the_kill_switch_refuses_a_swap_and_records_it(chain):
    rt, node, tokens = chain
    await settings.put(rt.env(GW).CONFIG_KV, settings.KILL_SWITCH, True)
    await settings.put(rt.env(GW).CONFIG_KV, settings.KILL_SWITCH_REASON, "chain halted")
    r = await send(rt, swap(rt, tokens, idempotencyKey="halted"))
    assert r.status == 503 and r.json()["error"]["code"] == "KILL_SWITCH_ACTIVE"
    assert "chain halted" in r.json()["error"]["message"]
    sig = await row(rt, r.json()["requestId"])
    assert (sig["status"], sig["error_code"], sig["exchange"]) == ("Rejected", "KILL_SWITCH_ACTIVE", "dex")
    assert node.raw_transactions == []
    assert await rt.env(GW).DB.prepare("SELECT COUNT(*) AS n FROM wallet_transactions").first("n") == 0


async def test_swaps_count_against_the_rate_limit_like_any_signal(chain):
    rt, node, tokens = chain
    await settings.put(rt.env(GW).CONFIG_KV, settings.RATE_LIMIT, 1)
    first = await send(rt, swap(rt, tokens, quantity="0"))  # counted though refused after the limit
    assert first.status == 400
    r = await send(rt, swap(rt, tokens))
    assert r.status == 429 and r.json()["error"]["code"] == "RATE_LIMITED", r.text()
    assert (await row(rt, r.json()["requestId"]))["error_code"] == "RATE_LIMITED"
    assert node.raw_transactions == []


async def test_bad_swap_fields_each_get_their_clear_error_and_nothing_executable_is_stored(chain):
    rt, node, tokens = chain
    token_a = tokens[0]
    wrong_case = token_a[:2] + token_a[2:].swapcase()  # a mixed-case address whose checksum is wrong
    r = await send(rt, swap(rt, tokens, chain="Main Net", router="0x1234", tokenIn=wrong_case,
                            quantity="{{strategy.order.contracts}}", slippageBps=9000, deadlineSeconds=5,
                            to="nobody", account=-1, action="LONG"))
    assert r.status == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    issues = {d["field"]: d["issue"] for d in r.json()["error"]["details"]}
    assert set(issues) == {"chain", "router", "tokenIn", "quantity", "slippageBps", "deadlineSeconds", "to",
                           "account", "action"}
    assert "web3:chains" in issues["chain"]
    assert "20-byte hex address" in issues["router"] and "EIP-55 checksum" in issues["tokenIn"]
    assert "placeholder" in issues["quantity"] and "from 0 to 5000" in issues["slippageBps"]
    assert "from 30 to 3600" in issues["deadlineSeconds"] and "Accepted fields" in issues["action"]

    missing = await send(rt, {"apiKey": rt.env(GW).WEBHOOK_API_KEY, "exchange": "dex"})
    assert missing.status == 400
    assert {d["field"] for d in missing.json()["error"]["details"]} == {"chain", "router", "tokenIn", "tokenOut",
                                                                        "quantity"}
    same = await send(rt, swap(rt, tokens, tokenOut=tokens[0].lower(), quantity="0"))
    assert {d["field"] for d in same.json()["error"]["details"]} == {"tokenOut", "quantity"}

    for answer in (r, missing, same):  # recorded as refused, with nothing a resend or the reconciler could run
        sig = await row(rt, answer.json()["requestId"])
        assert (sig["status"], sig["error_code"]) == ("Rejected", "VALIDATION_ERROR")
        assert sig["signal"] is None and sig["lock_key"] is None and sig["result"] is None
    assert node.raw_transactions == []


async def test_a_swap_the_router_cannot_quote_is_rejected_with_the_reason(chain):
    rt, node, tokens = chain
    unpooled = deploy(node, token_bytecode(), PK)  # a token the router's pool holds none of
    r = await send(rt, swap(rt, tokens, tokenOut=unpooled))
    assert r.status == 422 and r.json()["error"]["code"] == "NO_LIQUIDITY", r.text()
    sig = await row(rt, r.json()["requestId"])
    assert (sig["status"], sig["error_code"]) == ("Rejected", "NO_LIQUIDITY") and "no liquidity" in sig["error"]
    assert swaps_sent(node) == []


async def test_a_disabled_wallet_is_a_clear_refusal_recorded_and_the_key_may_be_sent_again(workspace, node):
    rt = await _open(workspace, node, [GW, TRADE])  # web3-wallet-worker not enabled
    try:
        tokens = ("0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20)
        r = await send(rt, swap(rt, tokens, idempotencyKey="no-wallet"))
        assert r.status == 422 and r.json()["error"]["code"] == "NOT_PLACED", r.text()
        message = r.json()["error"]["message"]
        assert "web3-wallet-worker is not running" in message and "nothing was sent" in message
        sig = await row(rt, r.json()["requestId"])
        assert (sig["status"], sig["error_code"]) == ("Rejected", "NOT_PLACED")
        # Nothing was sent, so the lock was given back: the same key is refused for the same reason, not 409.
        again = await send(rt, swap(rt, tokens, idempotencyKey="no-wallet"))
        assert again.status == 422 and again.json()["requestId"] != r.json()["requestId"]
    finally:
        await rt.stop()


# =========================================================================== recovery
async def _crashed_mid_delivery(rt, tokens, rid: str, key: str) -> None:
    """What a runtime killed mid-swap leaves: the row its attempt marked Executing (long ago) and the
    idempotency lock its webhook took; the swap itself may or may not have reached the wallet."""
    env = rt.env(GW)
    sig = parse_dex_signal({k: v for k, v in swap(rt, tokens, idempotencyKey=key).items() if k != "apiKey"})
    lock_key, ttl = lifecycle.lock_for(key, sig.canonical())
    past = clock.iso(clock.now() - 600)
    await lifecycle.insert_statement(
        env.DB, request_id=rid, source="webhook", stored_payload=sig.to_payload(), idempotency_key=key,
        exchange="dex", symbol=None, action="SWAP", quantity=10.0, signal=sig.to_payload(), lock_key=lock_key,
        status=lifecycle.EXECUTING, now=past).run()
    assert (await lifecycle.lock_stub(env, lock_key).acquire(lock_key, ttl, rid))["acquired"]


async def test_a_swap_stranded_after_the_wallet_sent_it_is_recorded_by_the_reconciler_once(chain):
    rt, node, tokens = chain
    before = token_balance(node, tokens[1], ME)
    await _crashed_mid_delivery(rt, tokens, "r-swap-sent", "k-swap-sent")
    # The wallet sent the swap under the request id; the attempt stopped before it recorded the outcome.
    sent = await rt.request(W, "POST", "/process", headers={"X-Internal-Auth-Key": rt.env(W).INTERNAL_KEY_BINDING},
                            json={"requestId": "r-swap-sent", "payload": {
                                "action": "swap", "chain": "local", "router": tokens[2], "tokenIn": tokens[0],
                                "tokenOut": tokens[1], "amountIn": "10", "slippageBps": 100}})
    assert sent.status == 200, sent.text()
    tx_hash = sent.json()["result"]["swap"]["txHash"]
    assert (await row(rt, "r-swap-sent"))["status"] == "Executing"

    # Halting now stops new swaps, not the record of one already on chain.
    await settings.put(rt.env(GW).CONFIG_KV, settings.KILL_SWITCH, True)
    summary = await reconcile.run(rt.env(TRADE))
    assert summary["recorded"] == ["r-swap-sent"] and summary["errors"] == []
    sig = await row(rt, "r-swap-sent")
    assert sig["status"] == "Filled" and json.loads(sig["result"])["txHash"] == tx_hash
    assert [s["hash"] for s in swaps_sent(node)] == [tx_hash]  # delivered again, swapped once
    assert token_balance(node, tokens[1], ME) - before == QUOTE

    again = await reconcile.run(rt.env(TRADE))
    assert again["recorded"] == [] and len(swaps_sent(node)) == 1
    await settings.put(rt.env(GW).CONFIG_KV, settings.KILL_SWITCH, False)
    resend = await send(rt, swap(rt, tokens, idempotencyKey="k-swap-sent"))
    assert resend.status == 409 and resend.json()["original"]["result"]["txHash"] == tx_hash


async def test_a_swap_stranded_before_the_wallet_had_it_is_delivered_by_the_reconciler(chain):
    rt, node, tokens = chain
    await _crashed_mid_delivery(rt, tokens, "r-swap-unsent", "k-swap-unsent")
    assert swaps_sent(node) == []
    summary = await reconcile.run(rt.env(TRADE))
    assert summary["recorded"] == ["r-swap-unsent"], summary
    sig = await row(rt, "r-swap-unsent")
    [tx] = swaps_sent(node)
    assert sig["status"] == "Filled" and json.loads(sig["result"])["txHash"] == tx["hash"]


async def test_a_swap_signed_but_not_broadcast_when_its_attempt_stopped_is_sent_once_by_the_reconciler(chain):
    rt, node, tokens = chain
    before = token_balance(node, tokens[1], ME)
    await _crashed_mid_delivery(rt, tokens, "r-swap-signed", "k-swap-signed")
    # The attempt's wallet call: the approve lands; the swap is signed and its bytes kept, and its
    # broadcast never reaches the node. The attempt stops there (its row still `signing`).
    node.send_faults = [None, "request"]
    cut = await rt.request(W, "POST", "/process", headers={"X-Internal-Auth-Key": rt.env(W).INTERNAL_KEY_BINDING},
                           json={"requestId": "r-swap-signed", "payload": {
                               "action": "swap", "chain": "local", "router": tokens[2], "tokenIn": tokens[0],
                               "tokenOut": tokens[1], "amountIn": "10", "slippageBps": 100, "timeoutSeconds": 1}})
    assert cut.status == 202 and swaps_sent(node) == [], cut.text()
    db = rt.env(W).DB
    await db.prepare("UPDATE wallet_transactions SET status = 'signing', updated_at = ? WHERE request_id = ?").bind(
        clock.iso(clock.now() - 600), "r-swap-signed").run()
    signed = await db.prepare("SELECT tx_hash FROM wallet_transactions WHERE request_id = 'r-swap-signed'").first()

    summary = await reconcile.run(rt.env(TRADE))
    assert summary["recorded"] == ["r-swap-signed"], summary
    [tx] = swaps_sent(node)
    assert tx["hash"] == signed["tx_hash"]  # the kept bytes, sent once: not signed anew
    sig = await row(rt, "r-swap-signed")
    assert sig["status"] == "Filled" and json.loads(sig["result"])["txHash"] == signed["tx_hash"]
    assert token_balance(node, tokens[1], ME) - before == QUOTE


async def test_a_resend_of_a_stranded_swap_resumes_it_under_its_own_request_id(chain):
    rt, node, tokens = chain
    await _crashed_mid_delivery(rt, tokens, "r-swap-resumed", "k-swap-resumed")
    r = await send(rt, swap(rt, tokens, idempotencyKey="k-swap-resumed"))
    assert r.status == 200, r.text()
    assert r.json()["requestId"] == "r-swap-resumed" and r.json()["status"] == "Filled"
    [tx] = swaps_sent(node)
    assert r.json()["result"]["txHash"] == tx["hash"]
    assert (await row(rt, "r-swap-resumed"))["status"] == "Filled"
