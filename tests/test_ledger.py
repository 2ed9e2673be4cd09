"""Position math and order sizing of the ledger (pure functions, figures worked out by hand)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hoox_edge import ledger
from hoox_edge.ledger import Fill, PositionState, apply_fill, round_down, side_for, size_order


def test_side_translation_table():
    assert side_for("LONG") == "BUY"
    assert side_for("SHORT") == "SELL"
    assert side_for("CLOSE", "LONG") == "SELL"
    assert side_for("CLOSE", "SHORT") == "BUY"
    with pytest.raises(ValueError):
        side_for("CLOSE", None)
    with pytest.raises(ValueError):
        side_for("HOLD")


@pytest.mark.parametrize(("qty", "step", "expected"), [
    (0.0159, 0.001, "0.015"),
    (0.015, 0.001, "0.015"),  # already on the step: binary floats must not push it down a step
    (0.3, 0.1, "0.3"),  # 0.3 / 0.1 is 2.9999999999999996 in floats
    (1.19, 0.01, "1.19"),
    (7, 0.5, "7.0"),
    (0.0009, 0.001, "0"),
    (2.5, 1, "2"),
])
def test_round_down_to_step(qty, step, expected):
    assert round_down(qty, step) == D(expected)


def _btc(**kw):
    args = dict(symbol="BTCUSDT", quantity=0.01, quantity_type="contracts", leverage=1, price=60000.0,
                qty_step=0.001, min_qty=0.001, min_notional=5.0)
    args.update(kw)
    return size_order(**args)


def test_sizing_rounds_down_and_accepts():
    s = _btc(quantity=0.0159)
    assert s.quantity == D("0.015") and s.rejection is None


def test_sizing_rejects_under_min_qty_after_rounding():
    s = _btc(quantity=0.0009)
    assert s.quantity == 0
    assert "below the minimum order size 0.001" in s.rejection


def test_sizing_rejects_under_min_notional():
    s = _btc(quantity=0.001, price=3000.0)  # 3 USDT < 5 USDT
    assert "below the minimum order value 5.0 USDT" in s.rejection


def test_usdt_sizing_uses_leverage_and_price():
    # 100 USDT × 5 / 60000 = 0.0083333.. contracts -> 0.008 at the 0.001 step
    s = _btc(quantity=100, quantity_type="usdt", leverage=5, price=60000.0)
    assert s.asked == D(100) * 5 / D(60000)
    assert s.quantity == D("0.008") and s.rejection is None
    with pytest.raises(ValueError):
        _btc(quantity_type="usdt", price=None)


def test_open_from_flat():
    out = apply_fill(None, Fill("BUY", D("0.01"), D("60012"), D("0.330066"), D(3)))
    assert out.updated is None and not out.closes_existing and out.realized_pnl == 0
    assert out.opened == PositionState("LONG", D("0.01"), D("60012"), D(0), D("0.330066"), D(3))
    short = apply_fill(None, Fill("SELL", D(1), D(3000), D("1.65")))
    assert short.opened.side == "SHORT"


def test_increase_uses_volume_weighted_entry_and_adds_fees():
    pos = PositionState("LONG", D("0.01"), D("60000"), fees=D("0.33"), id=1, request_id="r1")
    out = apply_fill(pos, Fill("BUY", D("0.03"), D("62000"), D("1.02")))
    # (0.01 × 60000 + 0.03 × 62000) / 0.04 = 2460 / 0.04 = 61500
    assert out.updated.size == D("0.04")
    assert out.updated.entry_price == D(61500)
    assert out.updated.fees == D("1.35")
    assert out.opened is None and not out.closes_existing and out.realized_pnl == 0
    assert out.open_after is out.updated


def test_partial_reduce_of_long_realises_pnl():
    pos = PositionState("LONG", D("0.04"), D("61500"), fees=D("1.35"), id=1, request_id="r2")
    out = apply_fill(pos, Fill("SELL", D("0.01"), D("63000"), D("0.35")))
    # (63000 - 61500) × 0.01 × +1 = 15
    assert out.realized_pnl == D(15)
    assert out.updated.size == D("0.03") and out.updated.entry_price == D(61500)
    assert out.updated.realized_pnl == D(15) and out.updated.fees == D("1.70")
    assert not out.closes_existing


def test_short_profits_when_price_falls():
    pos = PositionState("SHORT", D(2), D(3000), id=3, request_id="r")
    out = apply_fill(pos, Fill("BUY", D(2), D(2900), D("3.19")))
    # (2900 - 3000) × 2 × -1 = 200
    assert out.realized_pnl == D(200)
    assert out.closes_existing and out.opened is None and out.open_after is None
    assert out.updated.size == D(2)  # a closed row keeps the size it closed
    assert out.updated.realized_pnl == D(200) and out.updated.fees == D("3.19")


def test_exact_close_of_long_at_a_loss():
    pos = PositionState("LONG", D("0.3"), D(150), realized_pnl=D(1), fees=D("0.02"), id=4, request_id="r")
    out = apply_fill(pos, Fill("SELL", D("0.3"), D(140), D("0.0231")))
    assert out.realized_pnl == D(-3)  # (140 - 150) × 0.3
    assert out.closes_existing
    assert out.updated.realized_pnl == D(-2) and out.updated.fees == D("0.0431")


def test_flip_closes_and_opens_the_remainder_splitting_the_fee():
    pos = PositionState("LONG", D(1), D(100), id=5, request_id="r")
    out = apply_fill(pos, Fill("SELL", D(3), D(110), D("0.6"), D(2)))
    assert out.realized_pnl == D(10)  # only the closing 1 contract realises: (110 - 100) × 1
    assert out.closes_existing
    assert out.updated.realized_pnl == D(10) and out.updated.fees == D("0.2")
    assert out.opened == PositionState("SHORT", D(2), D(110), D(0), D("0.4"), D(2))
    assert out.open_after is out.opened


def test_fill_quantity_must_be_positive():
    with pytest.raises(ValueError):
        apply_fill(None, Fill("BUY", D(0), D(1)))


def test_error_text_keeps_the_code():
    text = ledger.coded_error("EXCHANGE_ERROR", "insufficient balance: needs 10: has 5")
    assert ledger.split_error(text) == ("EXCHANGE_ERROR", "insufficient balance: needs 10: has 5")
    assert ledger.split_error("plain text") == (None, "plain text")
    assert ledger.split_error(None) == (None, "")


def test_fmt_figures_for_messages():
    assert ledger.fmt(60012.0) == "60012.0"
    assert ledger.fmt(0.01) == "0.01"
    assert ledger.fmt(D("1E+1")) == "10.0"
