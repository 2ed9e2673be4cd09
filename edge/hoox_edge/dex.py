"""A swap signal (`"exchange": "dex"`), executed once per request id and recorded in the ledger.

`execute` serves trade-worker's `POST /dex`, its queue consumer (a queued swap) and the reconciler's
re-delivery. For a request id:

1. A signal in a final state answers its recorded outcome (`trade_signals.result`); nothing is sent.
2. The attempt marks the signal Executing (`lifecycle.swap_started`: its start is the lease the
   reconciler waits out) and asks web3-wallet-worker for the swap under the *same* request id. The
   wallet records every transaction under its request id before signing it and answers a resend with
   the transaction it already sent, so a second attempt (a timed-out call queued, a resend, the
   reconciler after a crash) never swaps twice: that ledger is this path's client order id.
3. The wallet's answer decides the signal: confirmed → Filled with the tx hash and what was swapped;
   reverted, refused by the node, no liquidity, gas trap, kill switch, bad chain or amount → Rejected
   with the reason (final); the receipt not seen yet, or the approve before it still pending → left
   Executing (the reconciler asks again); the wallet unreachable or an RPC failure before anything
   was signed → `Retryable` (the gateway queues it). A wallet that does not run (disabled) is a
   refusal: Rejected NOT_PLACED, nothing was sent, so the sender may send it again once it runs.
"""

from __future__ import annotations

from typing import Any

from hoox_edge import lifecycle
from hoox_edge.exchanges.base import ExchangeError
from hoox_edge.execution import InProgress, Retryable
from hoox_edge.ports import Env
from hoox_edge.shared import calls, clock
from hoox_edge.shared.errors import (
    DUPLICATE_REQUEST,
    EXCHANGE_UNAVAILABLE,
    KILL_SWITCH_ACTIVE,
    NOT_AVAILABLE,
    NOT_PLACED,
    VALIDATION_ERROR,
    ApiError,
)
from hoox_edge.shared.logs import log
from hoox_edge.shared.signal import DexSignal, SignalError

WALLET = "WEB3_SERVICE"
WALLET_WORKER = "web3-wallet-worker"
WALLET_TIMEOUT_S = 120.0  # an approve and a swap, each awaiting its receipt
RECHECK_S = 15  # a queued swap whose receipt is not in yet is looked at again after this
SWAP_REVERTED = "SWAP_REVERTED"
TX_REJECTED = "TX_REJECTED"
# The wallet's answers that decide a swap without sending it (or with a transaction that failed for good).
_FINAL_CODES = ("NO_LIQUIDITY", "GAS_PRICE_TOO_HIGH", KILL_SWITCH_ACTIVE, VALIDATION_ERROR, TX_REJECTED)
# The wallet's answers worth another attempt: nothing was broadcast for the swap yet.
_RETRY_CODES = ("RPC_ERROR", "SWAP_NOT_DONE")


def parse(payload: Any) -> DexSignal:
    """The swap of a `/dex` payload (a normalised `DexSignal.to_payload()`); 400 when it is not one."""
    if not isinstance(payload, dict):
        raise ApiError(400, VALIDATION_ERROR, "payload must be a swap signal object.")
    source = payload.get("source")
    try:
        return DexSignal.from_payload(payload, source=source if isinstance(source, str) and source else "internal")
    except SignalError as exc:
        raise ApiError(400, VALIDATION_ERROR, "The swap signal is not valid.", exc.details) from None


def refusal(code: str | None, message: str) -> ApiError:
    """The error a rejected swap answers with (also when its outcome is replayed). 400 and 422 are
    decisions the gateway passes on (never queued); a node's refusal is a 502 without `retryable`."""
    if code == VALIDATION_ERROR:
        return ApiError(400, VALIDATION_ERROR, message, details=[{"field": "swap", "issue": message}])
    if code in (TX_REJECTED, SWAP_REVERTED):
        return ApiError(502, code, message, details={"retryable": False})
    return ApiError(422, code or NOT_PLACED, message)


def replay(state: lifecycle.SignalState) -> dict[str, Any]:
    """A finished swap's recorded outcome, or its rejection raised again."""
    if state.status == lifecycle.FILLED and state.result is not None:
        return state.result
    if state.status == lifecycle.DEAD_LETTERED:
        raise ApiError(503, EXCHANGE_UNAVAILABLE, state.error or "dead-lettered after its retries",
                       details={"retryable": False, "deadLettered": True})
    raise refusal(state.error_code, state.error or "The swap was rejected.")


def wallet_request(sig: DexSignal) -> dict[str, Any]:
    """web3-wallet-worker's `swap` action for the signal."""
    req: dict[str, Any] = {"action": "swap", "chain": sig.chain, "router": sig.router, "tokenIn": sig.tokenIn,
                           "tokenOut": sig.tokenOut, "amountIn": sig.quantity, "slippageBps": sig.slippageBps,
                           "deadlineSeconds": sig.deadlineSeconds, "account": sig.account}
    if sig.to is not None:
        req["to"] = sig.to
    return req


def record(sig: DexSignal, status: str, answer: dict[str, Any]) -> dict[str, Any]:
    """What the ledger keeps of a swap that ended: the signal's terms, the transactions, and the router's
    quote and the bound signed into the swap (in the tokens' smallest units, as the chain counts them;
    None when the answer was the wallet's replay of a swap sent before, which carries only its tx)."""
    swap, approve = _object(answer.get("swap")), _object(answer.get("approve"))
    return {"exchange": "dex", "status": status, "chain": sig.chain, "router": sig.router,
            "tokenIn": sig.tokenIn, "tokenOut": sig.tokenOut, "amountIn": sig.quantity,
            "recipient": sig.to or swap.get("from"), "txHash": swap.get("txHash"),
            "explorerUrl": swap.get("explorerUrl"), "blockNumber": swap.get("blockNumber"),
            "gasUsed": swap.get("gasUsed"), "approveTxHash": approve.get("txHash"),
            "amountInUnits": answer.get("amountIn"), "quotedOutUnits": answer.get("quotedOut"),
            "amountOutMinUnits": answer.get("amountOutMin")}


def _object(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _what(sig: DexSignal) -> str:
    return f"{sig.quantity} {sig.tokenIn} -> {sig.tokenOut} on {sig.chain}"


async def execute(env: Env, rid: str, payload: Any) -> dict[str, Any]:
    """Execute (or answer the outcome of) the swap `rid`: the recorded result when Filled; raises the
    rejection (`ApiError`), `InProgress` (the swap is out, its receipt not seen yet) or `Retryable`."""
    db = env.DB
    state = await lifecycle.load(db, rid)
    if state is not None and state.final:  # a re-delivery (queue retry, resend): answered from the ledger
        return replay(state)
    try:
        sig = parse(payload)
    except ApiError as exc:
        if state is not None:  # a row no payload can execute: decided now, never retried
            await lifecycle.reject(env, rid, VALIDATION_ERROR, exc.message)
        raise
    if state is None:  # a direct internal caller that made no row: this swap gets one, as any signal
        await lifecycle.insert_statement(
            db, request_id=rid, source=sig.source, stored_payload=sig.to_payload(), idempotency_key=None,
            exchange="dex", symbol=None, action=sig.action, quantity=sig.row_quantity(), signal=sig.to_payload(),
            if_absent=True).run()
        state = await lifecycle.load(db, rid)
    assert state is not None
    if state.final:
        return replay(state)
    started = await lifecycle.swap_started(db, rid).run()
    if not started["meta"].get("changes"):  # decided meanwhile by another attempt
        return replay(await _load(env, rid))
    if not env.has(WALLET):
        return await _reject(env, rid, sig, NOT_PLACED, f"{env.worker} has no binding to {WALLET_WORKER} "
                             f"({WALLET}): nothing was sent.", {})
    await log(env, "info", f"Swap sent to {WALLET_WORKER}: {_what(sig)}", request_id=rid,
              details={"chain": sig.chain, "router": sig.router, "slippageBps": sig.slippageBps})
    try:
        resp = await calls.call(env, WALLET, "POST", "/process", request_id=rid, payload=wallet_request(sig),
                                timeout=WALLET_TIMEOUT_S)
    except ConnectionError:  # the local runtime's "that worker does not run here": never reached
        return await _reject(env, rid, sig, NOT_PLACED,
                             f"{WALLET_WORKER} is not running, so nothing was sent. Enable it (`hoox config set "
                             "workers.web3-wallet-worker.enabled true`, or deploy it) and send the signal again.", {})
    except Exception as exc:  # a timeout may have reached the wallet: the next attempt asks it again
        raise _retryable(f"{WALLET_WORKER} did not answer ({type(exc).__name__})", may_exist=True) from None
    body, err, _ = calls.envelope(resp)
    answer = _object(body.get("result"))
    if resp.status in (200, 202):
        swap = _object(answer.get("swap"))
        if swap.get("status") == "confirmed":
            return await _fill(env, rid, sig, answer)
        if swap.get("status") == "reverted":
            return await _reject(env, rid, sig, SWAP_REVERTED,
                                 f"The swap transaction {swap.get('txHash')} reverted on chain (the price moved past "
                                 f"the {sig.slippageBps} bps bound, or the deadline passed): nothing was swapped.",
                                 answer)
        text = f"Swap {swap.get('txHash')} sent, its receipt not seen yet: it is looked at again and recorded"
        await log(env, "info", text, request_id=rid, details={"txHash": swap.get("txHash"),
                                                               "status": swap.get("status")})
        raise InProgress(rid, clock.iso(clock.now() + RECHECK_S), text)
    code = str(err.get("code") or "")
    message = str(err.get("message") or f"{WALLET_WORKER} answered HTTP {resp.status}")
    if code == "in_progress":  # another attempt is signing it right now
        raise InProgress(rid, clock.iso(clock.now() + RECHECK_S))
    if code == DUPLICATE_REQUEST:  # the wallet's first attempt of this request id was refused by the node
        return await _reject(env, rid, sig, TX_REJECTED, message, {})
    if code in _FINAL_CODES or (resp.status < 500 and code not in _RETRY_CODES):
        return await _reject(env, rid, sig, code or VALIDATION_ERROR, message, answer)
    if code == NOT_AVAILABLE:  # no key, no RPC URL, no usable web3:chains: nothing was signed
        return await _reject(env, rid, sig, NOT_PLACED, f"{WALLET_WORKER} cannot send: {message}", {})
    raise _retryable(f"{WALLET_WORKER}: {message}", may_exist=code not in _RETRY_CODES)


def _retryable(message: str, *, may_exist: bool) -> Retryable:
    return Retryable(message, ExchangeError(kind="timeout" if may_exist else "unavailable", message=message),
                     order_may_exist=may_exist)


async def _load(env: Env, rid: str) -> lifecycle.SignalState:
    state = await lifecycle.load(env.DB, rid)
    assert state is not None
    return state


async def _fill(env: Env, rid: str, sig: DexSignal, answer: dict[str, Any]) -> dict[str, Any]:
    result = record(sig, lifecycle.FILLED, answer)
    db = env.DB
    done = await lifecycle.finish(
        env, rid, lifecycle.FILLED, None, None, result=result, release=False,
        frm=(lifecycle.RECEIVED, lifecycle.ENQUEUED, lifecycle.EXECUTING, lifecycle.DEAD_LETTERED),
        also=[lifecycle.log_statement(db, env, "info", f"Swap filled: {_what(sig)}, tx {result['txHash']}", rid,
                                      {k: result[k] for k in ("txHash", "blockNumber", "approveTxHash",
                                                              "amountInUnits", "quotedOutUnits",
                                                              "amountOutMinUnits")})])
    return result if done else replay(await _load(env, rid))


async def _reject(env: Env, rid: str, sig: DexSignal, code: str, message: str,
                  answer: dict[str, Any]) -> dict[str, Any]:
    """Rejected, final, with the reason (and the transaction when one was sent); raises its refusal."""
    db = env.DB
    result = record(sig, lifecycle.REJECTED, answer) if answer.get("swap") else None
    done = await lifecycle.finish(
        env, rid, lifecycle.REJECTED, code, message[:1000], result=result,
        frm=(lifecycle.RECEIVED, lifecycle.ENQUEUED, lifecycle.EXECUTING),
        also=[lifecycle.log_statement(db, env, "warning", f"Rejected swap {_what(sig)}: {message}", rid,
                                      {"code": code})])
    if not done:
        return replay(await _load(env, rid))
    await calls.alert(env, f"Swap {_what(sig)} rejected: {message}", level="warning", request_id=rid)
    raise refusal(code, message)
