"""Signal validation and symbol normalisation (pure: no runtime)."""

from __future__ import annotations

import pytest
from hoox_edge.shared.signal import (
    MAX_IDEMPOTENCY_KEY,
    Signal,
    SignalError,
    normalize_symbol,
    parse_signal,
    without_passkey,
)

BASE = {"apiKey": "passkey-123", "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT", "quantity": 0.01}


def issues(payload: dict, **kw) -> dict[str, str]:
    with pytest.raises(SignalError) as err:
        parse_signal(payload, **kw)
    return {d["field"]: d["issue"] for d in err.value.details}


def with_(**changes) -> dict:
    out = dict(BASE)
    for k, v in changes.items():
        if v is ...:
            out.pop(k, None)
        else:
            out[k] = v
    return out


@pytest.mark.parametrize("raw", ["BTCUSDT", "btcusdt", "btc/usdt", "BTC-USDT", "BTC_USDT", " btc usdt ",
                                 "BINANCE:BTCUSDT.P", "BYBIT:BTCUSDT", "BTCUSDT.P", "BTC/USDT:USDT"])
def test_symbols_normalise_to_the_exchange_ticker(raw):
    assert normalize_symbol(raw) == "BTCUSDT"


@pytest.mark.parametrize("raw", ["", "B", "BTC$USDT", "BINANCE:", "{{ticker}}", "X" * 31])
def test_symbols_that_are_not_tickers_are_refused(raw):
    with pytest.raises(ValueError, match="Not a symbol"):
        normalize_symbol(raw)


def test_a_valid_signal_gets_its_defaults_and_loses_the_passkey():
    s = parse_signal(dict(BASE, symbol="btc/usdt", action="long"))
    assert s.to_payload() == {
        "exchange": "bybit", "action": "LONG", "symbol": "BTCUSDT", "quantity": 0.01, "leverage": 1.0,
        "orderType": "MARKET", "price": None, "quantityType": "contracts", "market": "futures",
        "source": "webhook", "idempotencyKey": None, "strategy": None,
    }
    assert "passkey-123" not in s.canonical()


def test_exchange_may_be_left_out_and_is_case_insensitive():
    assert parse_signal(with_(exchange=...)).exchange is None
    assert parse_signal(with_(exchange="BINANCE")).exchange == "binance"
    assert parse_signal(with_(exchange="MeXc")).exchange == "mexc"
    assert "exchange" in issues(with_(exchange="kraken"))
    assert "exchange" in issues(with_(exchange=3))


@pytest.mark.parametrize("action", ["long", "Short", "CLOSE"])
def test_actions_are_case_insensitive(action):
    assert parse_signal(with_(action=action)).action == action.upper()


def test_action_is_required_and_must_be_known():
    assert "Required" in issues(with_(action=...))["action"]
    assert "LONG, SHORT, CLOSE" in issues(with_(action="buy"))["action"]


def test_symbol_is_required_and_must_be_a_ticker():
    assert "Required" in issues(with_(symbol=...))["symbol"]
    assert "Not a symbol" in issues(with_(symbol="BTC$"))["symbol"]
    assert "string" in issues(with_(symbol=42))["symbol"]


@pytest.mark.parametrize("qty", [0, -1, "0", "-0.5"])
def test_quantity_must_be_positive(qty):
    assert issues(with_(quantity=qty))["quantity"] == "Must be greater than zero."


@pytest.mark.parametrize(("field", "extra", "value", "bound"), [
    ("quantity", {}, 1e308, "1e15"), ("quantity", {}, "1e16", "1e15"),
    ("price", {"orderType": "LIMIT"}, 1e308, "1e12"), ("price", {"orderType": "LIMIT"}, 10**13, "1e12")])
def test_a_size_or_price_no_market_trades_is_refused_with_its_bound(field, extra, value, bound):
    # 1e308 once passed and overflowed in the paper exchange's rounding: retried for an hour as an outage
    assert issues(with_(**extra, **{field: value}))[field] == f"Must be at most {bound}."
    assert getattr(parse_signal(with_(**extra, **{field: float(bound)})), field) == float(bound)


def test_a_normalised_signal_past_the_bounds_is_refused_too():
    # trade-worker's /process takes normalised signals from internal callers: the same bounds hold
    body = parse_signal(with_(orderType="LIMIT", price=100)).to_payload()
    for field, value in (("quantity", 1e308), ("price", 1e308)):
        with pytest.raises(SignalError) as err:
            Signal.from_payload({**body, field: value})
        assert [d["field"] for d in err.value.details] == [field]


def test_quantity_accepts_numeric_text_and_explains_unfilled_placeholders():
    assert parse_signal(with_(quantity="0.25")).quantity == 0.25
    assert "placeholder" in issues(with_(quantity="{{strategy.order.contracts}}"))["quantity"]
    assert "number" in issues(with_(quantity="lots"))["quantity"]
    assert "true/false" in issues(with_(quantity=True))["quantity"]
    assert "finite" in issues(with_(quantity="nan"))["quantity"]


def test_quantity_is_required_except_for_close():
    assert "Required" in issues(with_(quantity=...))["quantity"]
    s = parse_signal(with_(quantity=..., action="close"))
    assert s.action == "CLOSE" and s.quantity is None


def test_leverage_is_bounded_by_max_leverage():
    assert parse_signal(with_(leverage=10)).leverage == 10
    assert parse_signal(with_(leverage="20"), max_leverage=20).leverage == 20
    assert "between 1 and 20" in issues(with_(leverage=21), max_leverage=20)["leverage"]
    assert "leverage" in issues(with_(leverage=0.5))


def test_limit_orders_need_a_positive_price_and_market_orders_drop_it():
    assert "Required for LIMIT" in issues(with_(orderType="limit"))["price"]
    assert issues(with_(orderType="LIMIT", price=-3))["price"] == "Must be greater than zero."
    s = parse_signal(with_(orderType="limit", price="59000.5"))
    assert (s.orderType, s.price) == ("LIMIT", 59000.5)
    assert parse_signal(with_(price=123)).price is None
    assert "orderType" in issues(with_(orderType="STOP"))


def test_quantity_type_and_market():
    s = parse_signal(with_(quantityType="USDT", market="Spot"))
    assert (s.quantityType, s.market) == ("usdt", "spot")
    assert "quantityType" in issues(with_(quantityType="lots"))
    assert "market" in issues(with_(market="options"))


def test_idempotency_key_length_and_type():
    assert parse_signal(with_(idempotencyKey="a" * MAX_IDEMPOTENCY_KEY)).idempotencyKey == "a" * 128
    assert "At most 128" in issues(with_(idempotencyKey="a" * 129))["idempotencyKey"]
    assert "non-empty" in issues(with_(idempotencyKey=""))["idempotencyKey"]
    assert "non-empty" in issues(with_(idempotencyKey=7))["idempotencyKey"]


def test_unknown_fields_are_rejected_by_name():
    found = issues(with_(levrage=10))
    assert "Unknown field" in found["levrage"]


def test_every_problem_is_reported_at_once():
    found = issues({"apiKey": "k", "exchange": "ftx", "action": "HOLD", "symbol": "?", "quantity": -1,
                    "leverage": 500})
    assert set(found) == {"exchange", "action", "symbol", "quantity", "leverage"}


def test_a_body_that_is_not_an_object():
    with pytest.raises(SignalError) as err:
        parse_signal(["LONG"])
    assert err.value.details[0]["field"] == "(body)"


def test_implicit_key_is_the_same_for_the_same_signal_however_written():
    a = parse_signal(dict(BASE, symbol="btc/usdt", action="long"))
    b = parse_signal(dict(BASE, apiKey="other", symbol="BINANCE:BTCUSDT.P", quantity="0.01"))
    c = parse_signal(dict(BASE, quantity=0.02))
    assert a.implicit_key() == b.implicit_key()
    assert a.implicit_key() != c.implicit_key()
    assert len(a.implicit_key()) == 64


def test_without_passkey():
    assert without_passkey({"apiKey": "s", "APIKEY": "t", "symbol": "X"}) == {"symbol": "X"}


# Keys computed before the signal stopped being a pydantic model: a signal already in a lock (or a
# resend of one in flight across the upgrade) must keep its implicit key, byte for byte.
@pytest.mark.parametrize(("raw", "source", "canonical", "key"), [
    ({"apiKey": "k", "exchange": "Bybit", "action": "long", "symbol": "btc/usdt", "quantity": "0.01", "leverage": 5},
     "webhook",
     '{"action":"LONG","exchange":"bybit","leverage":5.0,"market":"futures","orderType":"MARKET","price":null,'
     '"quantity":0.01,"quantityType":"contracts","source":"webhook","symbol":"BTCUSDT"}',
     "83c15a98458d403b4e35382ff04bb6829fd8d2d4fb9844d67a45466e41aae782"),
    ({"action": "CLOSE", "symbol": "BINANCE:ETHUSDT.P", "idempotencyKey": "abc"}, "webhook",
     '{"action":"CLOSE","exchange":null,"leverage":1.0,"market":"futures","orderType":"MARKET","price":null,'
     '"quantity":null,"quantityType":"contracts","source":"webhook","symbol":"ETHUSDT"}',
     "8262ce932062b191ac1fea829743427374ddc665da9b28ebf88b6d66511bb046"),
    ({"exchange": "mexc", "action": "SHORT", "symbol": "SOL-USDT", "quantity": 3, "orderType": "limit",
      "price": "142.5", "quantityType": "USDT", "market": "Spot"}, "webhook",
     '{"action":"SHORT","exchange":"mexc","leverage":1.0,"market":"spot","orderType":"LIMIT","price":142.5,'
     '"quantity":3.0,"quantityType":"usdt","source":"webhook","symbol":"SOLUSDT"}',
     "da839743a06aa18fd8fda7ebfe2b39ef3882ad6608cded696989433ff98d760c"),
    ({"apiKey": "k", "exchange": "Bybit", "action": "long", "symbol": "btc/usdt", "quantity": "0.01", "leverage": 5},
     "email", None, "e00855afbe2cdf86dec94384e2b511880326aff6e0716ae1a25b27257b77d5bd"),
])
def test_canonical_text_and_implicit_key_are_pinned(raw, source, canonical, key):
    from hoox_edge import lifecycle

    s = parse_signal(raw, source=source)
    if canonical is not None:
        assert s.canonical() == canonical
    assert s.implicit_key() == key
    if s.idempotencyKey is None:
        assert lifecycle.lock_for(None, s.canonical()) == ("implicit:" + key, lifecycle.IMPLICIT_KEY_TTL_S)


def test_a_signal_is_immutable_and_its_payload_keeps_the_field_order():
    import dataclasses

    s = parse_signal(dict(BASE, idempotencyKey="k-1"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.quantity = 5  # type: ignore[misc]
    assert list(s.to_payload()) == ["exchange", "action", "symbol", "quantity", "leverage", "orderType", "price",
                                    "quantityType", "market", "source", "idempotencyKey", "strategy"]
    assert s.to_payload()["idempotencyKey"] == "k-1" and "k-1" not in s.canonical()


def test_a_strategy_is_lowercased_checked_and_part_of_the_implicit_key_only_when_given():
    plain = parse_signal(BASE)
    named = parse_signal(with_(strategy=" BTC-Trend "))
    assert named.strategy == "btc-trend" and plain.strategy is None
    assert "strategy" not in plain.canonical()  # signals without one keep the key they always had
    assert named.implicit_key() != plain.implicit_key()
    assert "strategy" in issues(with_(strategy="two words"))
    assert "strategy" in issues(with_(strategy="webhook"))
    assert "strategy" in issues(with_(strategy=7))
