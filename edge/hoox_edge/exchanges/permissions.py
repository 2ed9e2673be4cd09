"""What an exchange API key may do, as the exchange reports it: hoox never needs withdrawals or transfers,
and a leaked trading key without them cannot move funds off the exchange (README, Going live).

- Bybit v5: `GET /v5/user/query-api` (signed) → `permissions` by group; `Wallet` holds `Withdraw` and the
  transfer rights (`AccountTransfer`, `SubMemberTransfer`, `SubMemberTransferList`); `readOnly` 0/1.
- Binance: `GET /sapi/v1/account/apiRestrictions` (signed, on the spot host) → `enableWithdrawals`,
  `enableInternalTransfer`, `permitsUniversalTransfer`, `enableReading`, ...
- MEXC: its public API has no call that reports a key's permissions; hoox says it cannot tell.

The host is the exchange's live one, its testnet, or KV `exchanges:{exchange}:base_url`, as for orders.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hoox_edge.exchanges import live, live_connector
from hoox_edge.exchanges.base import ExchangeError
from hoox_edge.ports import Env

_BYBIT_TRANSFER = ("AccountTransfer", "SubMemberTransfer", "SubMemberTransferList")
_BINANCE_TRANSFER = ("enableInternalTransfer", "permitsUniversalTransfer")


@dataclass(frozen=True)
class KeyPermissions:
    exchange: str
    known: bool  # False: the exchange cannot be asked (MEXC) or did not answer (`error`)
    withdraw: bool | None = None
    transfer: bool | None = None
    read_only: bool | None = None
    granted: list[str] = field(default_factory=list)  # as the exchange names them, e.g. "Wallet.Withdraw"
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None or k in ("withdraw", "transfer")}


async def key_permissions(env: Env, exchange: str) -> KeyPermissions:
    """The permissions of `exchange`'s key in `env` (its secrets and CONFIG_KV); never raises for an
    exchange's refusal or absence: that is `error`."""
    creds = live.credentials(env, exchange)
    if creds is None:
        key, secret = live.secret_names(exchange)
        return KeyPermissions(exchange, False, error=f"{key} and {secret} are not both set")
    if exchange not in ("bybit", "binance"):
        return KeyPermissions(exchange, False, error=f"{exchange}'s API does not report a key's permissions: "
                              "check on its website that withdrawals are off")
    cls = live_connector(exchange, "spot")  # Binance reports permissions on its spot host
    try:
        ex = cls(env, base_url=await live.base_url(env, exchange, cls), creds=creds, market="spot")
        try:
            if exchange == "bybit":
                return _bybit(await ex.request("GET", "/v5/user/query-api", signed=True, endpoint="query_api"))
            return _binance(await ex.request("GET", "/sapi/v1/account/apiRestrictions", signed=True,
                                             endpoint="api_restrictions"))
        finally:
            await ex.aclose()
    except ExchangeError as exc:
        return KeyPermissions(exchange, False, error=exc.message)


def _bybit(data: Any) -> KeyPermissions:
    result = data.get("result") if isinstance(data, dict) else None
    perms = result.get("permissions") if isinstance(result, dict) else None
    if not isinstance(result, dict) or not isinstance(perms, dict):
        return KeyPermissions("bybit", False, error="Bybit's answer carried no permissions")
    granted = sorted(f"{group}.{p}" for group, items in perms.items() if isinstance(items, list) for p in items)
    wallet = perms.get("Wallet") or []
    return KeyPermissions("bybit", True, withdraw="Withdraw" in wallet,
                          transfer=any(t in wallet for t in _BYBIT_TRANSFER),
                          read_only=bool(result.get("readOnly")) if result.get("readOnly") is not None else None,
                          granted=granted)


def _binance(data: Any) -> KeyPermissions:
    if not isinstance(data, dict) or "enableWithdrawals" not in data:
        return KeyPermissions("binance", False, error="Binance's answer carried no enableWithdrawals")
    granted = sorted(k for k, v in data.items() if k.startswith(("enable", "permits")) and v is True)
    return KeyPermissions("binance", True, withdraw=data.get("enableWithdrawals") is True,
                          transfer=any(data.get(k) is True for k in _BINANCE_TRANSFER),
                          read_only=None, granted=granted)
