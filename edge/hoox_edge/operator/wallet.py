"""`/v1/wallet`: the web3 wallet, through web3-wallet-worker (WEB3_SERVICE), which holds the key.

- `POST /v1/wallet/balance` `{chain, address?, tokenAddress?, account?}` → `WalletBalance`;
- `POST /v1/wallet/estimate` `{chain, to, value? | tokenAddress + amount, data?, account?}` → `WalletEstimate`;
- `POST /v1/wallet/send` `{requestId?, chain, to, value? | tokenAddress + amount, data?, gasLimit?, account?,
  timeoutSeconds?}` → `WalletTx` (202 while its receipt is awaited past timeoutSeconds). `requestId` makes
  the send idempotent: the same id again answers the first transaction (`hoox wallet send` sends one);
- `GET /v1/wallet/tx/{requestId}` → `WalletTx`, its receipt looked for again while pending;
- `GET /v1/wallet/balances` → `WalletBalances`: the wallet's native balance on every chain of web3:chains,
  each chain's failure said on its row (the cockpit's dashboard; never a 5xx for a chain that fails).
web3-wallet-worker's errors (400, 409, 422 GAS_PRICE_TOO_HIGH, 502, 503) are passed on as they are; a
web3-wallet-worker that does not run (it is off in a new workspace) is a 503 that says how to enable it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from hoox_edge.operator import shapes
from hoox_edge.operator.params import Params, invalid, json_object
from hoox_edge.shared import calls, settings
from hoox_edge.shared.app import REQUEST_ID, env_of, request_id_of
from hoox_edge.shared.errors import ApiError, ok
from hoox_edge.wallet.config import chains_of

SERVICE = "WEB3_SERVICE"
UNAVAILABLE = "WALLET_SERVICE_UNAVAILABLE"
_MOVE = ("chain", "to", "value", "tokenAddress", "amount", "data", "account")
READ_TIMEOUT_S = 30.0
SEND_SLACK_S = 30.0  # beyond the receipt wait the worker was asked for
ENABLE_HINT = ("web3-wallet-worker does not run here: enable it with `hoox config set "
               "workers.web3-wallet-worker.enabled true` and restart the edge (on Cloudflare: deploy it)")


async def _call(request: Request, method: str, path: str, *, rid: str, payload: Any = None,
                timeout: float) -> tuple[Any, int]:
    try:
        resp = await calls.call(env_of(request), SERVICE, method, path, request_id=rid, payload=payload,
                                timeout=timeout)
    except TimeoutError:
        raise ApiError(504, UNAVAILABLE, f"web3-wallet-worker did not answer within {timeout:g} s; a send may "
                                         f"still land: look at `hoox wallet tx {rid}`.") from None
    except Exception as exc:
        raise ApiError(503, UNAVAILABLE, f"{ENABLE_HINT} ({type(exc).__name__}).") from None
    body, err, _ = calls.envelope(resp)
    if resp.status >= 400:
        raise ApiError(resp.status, err.get("code") or UNAVAILABLE,
                       err.get("message") or f"web3-wallet-worker answered HTTP {resp.status}", err.get("details"))
    return body.get("result"), resp.status


async def _action(request: Request, action: str, fields: tuple[str, ...], *, rid: str | None = None,
                  timeout: float = READ_TIMEOUT_S) -> tuple[Any, int]:
    body = await json_object(request, *fields, required=("chain",))
    body.pop("requestId", None)
    return await _call(request, "POST", "/process", rid=rid or request_id_of(request),
                       payload={**body, "action": action}, timeout=timeout)


async def balance(request: Request) -> Any:
    Params(request)
    return (await _action(request, "getBalance", ("chain", "address", "tokenAddress", "account")))[0]


async def estimate(request: Request) -> Any:
    Params(request)
    return (await _action(request, "estimateGas", _MOVE))[0]


async def send(request: Request) -> Any:
    Params(request)
    raw = await json_object(request, "requestId", *_MOVE, "gasLimit", "timeoutSeconds", required=("chain", "to"))
    rid = raw.get("requestId")
    if rid is not None and (not isinstance(rid, str) or not REQUEST_ID.match(rid)):
        raise invalid("requestId", "must be 1-128 letters, digits or . _ : - (starting with a letter or digit)",
                      quote=False)
    wait = raw.get("timeoutSeconds")
    timeout = (float(wait) if isinstance(wait, int) and not isinstance(wait, bool) and 0 < wait <= 300
               else 30.0) + SEND_SLACK_S
    result, status = await _action(request, "sendTransaction", ("requestId", *_MOVE, "gasLimit", "timeoutSeconds"),
                                   rid=rid, timeout=timeout)
    if status != 200:  # 202: broadcast, receipt not yet seen
        return ok(result, request_id=request_id_of(request), status=status)
    return result


async def tx(request: Request) -> Any:
    Params(request)
    rid = request.path_params["request_id"]
    return (await _call(request, "GET", f"/tx/{quote(rid, safe='')}", rid=request_id_of(request),
                        timeout=READ_TIMEOUT_S))[0]




async def balances(request: Request) -> shapes.WalletBalances:
    Params(request)
    try:
        chains = chains_of(await settings.get(env_of(request).CONFIG_KV, settings.WEB3_CHAINS))
    except (settings.SettingError, ValueError) as exc:
        return {"items": [], "error": f"{settings.WEB3_CHAINS} is not usable: {exc}"}
    items: list[shapes.WalletChainBalance] = []
    for chain in chains.values():
        row: shapes.WalletChainBalance = {"chain": chain.name, "chainId": chain.chain_id, "symbol": chain.symbol,
                                          "address": None, "balance": None, "error": None}
        try:
            result, _ = await _call(request, "POST", "/process", rid=request_id_of(request),
                                    payload={"action": "getBalance", "chain": chain.name}, timeout=READ_TIMEOUT_S)
        except ApiError as exc:
            if exc.code == UNAVAILABLE:  # the worker itself is not there: one error for all
                return {"items": [], "error": exc.message}
            row["error"] = exc.message
        else:
            row["address"], row["balance"] = result["address"], result["balance"]
        items.append(row)
    return {"items": items, "error": None}
