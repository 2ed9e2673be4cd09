"""Ledger rows as the operator API shows them (camelCase, details decoded)."""

from __future__ import annotations

import json
from typing import Any

from hoox_edge.ledger import split_error
from hoox_edge.operator import shapes


def trade_item(r: dict[str, Any]) -> shapes.Trade:
    code, message = split_error(r.get("error"))
    return {
        "seq": r["seq"], "id": r["id"], "requestId": r["request_id"], "exchange": r["exchange"],
        "symbol": r["symbol"], "action": r["action"], "side": r["side"], "orderType": r["order_type"],
        "quantity": r["quantity"], "price": r["price"], "fee": r["fee"], "realizedPnl": r["realized_pnl"],
        "leverage": r["leverage"], "orderId": r["order_id"], "clientOrderId": r["client_order_id"],
        "mode": r["mode"], "status": r["status"], "filledQty": r["filled_qty"], "limitPrice": r["limit_price"],
        "reason": r["reason"], "expiresAt": r["expires_at"],
        "errorCode": code, "error": message if r.get("error") else None,
        "attempts": r["attempts"], "createdAt": r["created_at"], "updatedAt": r["updated_at"],
    }  # fmt: skip


def log_item(r: dict[str, Any]) -> shapes.LogEntry:
    details: Any = None
    if r.get("details"):
        try:
            details = json.loads(r["details"])
        except ValueError:
            details = {"raw": r["details"]}
    return {"id": r["id"], "createdAt": r["created_at"], "level": r["level"], "worker": r["worker"],
            "requestId": r["request_id"], "message": r["message"], "details": details}
