"""The edge's request shapes without pydantic (`shared/checks.py`): what each accepts, converts and
refuses, and how a refusal names its field. The accepted inputs are those the pydantic models took."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hoox_edge.shared import telemetry
from hoox_edge.shared.checks import Invalid, boolean, number, one_of, scalar, text, whole
from hoox_edge.shared.errors import ApiError
from hoox_edge.workers.analytics import MAX_QUERY, Query
from hoox_edge.workers.d1 import Batch, Statement
from hoox_edge.workers.telegram import Alert


def problems(parse: Any, raw: Any) -> dict[str, str]:
    with pytest.raises(Invalid) as err:
        parse(raw)
    return {d["field"]: d["issue"] for d in err.value.details}


# ----------------------------------------------------------------------------- the checks
@pytest.mark.parametrize(("value", "expected"), [
    (1, 1.0), (1.5, 1.5), ("1.5", 1.5), (" 2 ", 2.0), ("1e3", 1000.0), ("1_000", 1000.0), ("+5", 5.0),
    (True, 1.0), (False, 0.0), (-0.0, -0.0),
])
def test_number_takes_numbers_numeric_strings_and_booleans(value, expected):
    n = number()(value)
    assert n == expected and type(n) is float


@pytest.mark.parametrize("value", ["abc", "", " ", "0x10", "1__0", "١٢", None, [], {}, "nan", "inf",
                                   float("nan"), float("inf"), 10**400])
def test_number_refuses_text_non_finite_and_containers(value):
    with pytest.raises(ValueError, match="number"):
        number()(value)


def test_number_bound_says_the_bound():
    assert number(ge=0)(0) == 0.0
    with pytest.raises(ValueError, match="at least 0"):
        number(ge=0)(-1)


@pytest.mark.parametrize(("value", "expected"), [
    (200, 200), (True, 1), (False, 0), (2.0, 2), (-0.0, 0), ("200", 200), (" 5\n", 5), ("+5", 5), ("-5", -5),
    ("5.0", 5), ("1_000", 1000),
])
def test_whole_takes_whole_numbers_however_written(value, expected):
    n = whole(value)
    assert n == expected and type(n) is int


@pytest.mark.parametrize("value", [1.5, "1.5", "1e3", "abc", "", None, float("nan"), float("inf"), 2.0**70, [],
                                   "١٢"])
def test_whole_refuses_fractions_and_text(value):
    with pytest.raises(ValueError, match="whole number"):
        whole(value)


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), (1, True), (0, False), (1.0, True), (0.0, False), ("true", True),
    ("TRUE", True), ("Yes", True), ("on", True), ("t", True), ("y", True), ("1", True), ("false", False),
    ("no", False), ("OFF", False), ("f", False), ("n", False), ("0", False),
])
def test_boolean_takes_the_usual_spellings(value, expected):
    assert boolean(value) is expected


@pytest.mark.parametrize("value", [2, -1, 0.5, " true", "1.0", "maybe", "", None, [], float("nan")])
def test_boolean_refuses_anything_else(value):
    with pytest.raises(ValueError, match="true or false"):
        boolean(value)


def test_text_is_strict_and_counts_characters():
    assert text()("") == "" and text(min_len=1)(" ") == " "
    assert text(max_len=3)("😀😀😀") == "😀😀😀"
    for value in (5, 1.5, True, None, [], b"x"):
        with pytest.raises(ValueError, match="string"):
            text()(value)
    with pytest.raises(ValueError, match="empty"):
        text(min_len=1)("")
    with pytest.raises(ValueError, match="At most 3 characters"):
        text(max_len=3)("abcd")


def test_one_of_compares_exactly():
    level = one_of("info", "warning")
    assert level("info") == "info"
    for value in ("INFO", " info", "", None, 1):
        with pytest.raises(ValueError, match="one of info, warning"):
            level(value)


@pytest.mark.parametrize("value", ["1", "", "true", 1, 0, 1.5, True, False, None, 2**62])
def test_scalar_keeps_every_value_exactly_as_sent(value):
    out = scalar(value)
    assert out == value and type(out) is type(value)


@pytest.mark.parametrize("value", [[], [1], {}, {"a": 1}, b"x"])
def test_scalar_refuses_nested_values(value):
    with pytest.raises(ValueError, match="string, number, true/false or null"):
        scalar(value)


# ----------------------------------------------------------------------------- d1-worker
def test_statement_params_are_strict_and_unknown_fields_are_ignored():
    st = Statement.parse({"requestId": "r-1", "query": "SELECT ?", "params": ["1", 1, 1.5, True, None]})
    assert st == Statement(query="SELECT ?", params=["1", 1, 1.5, True, None])
    assert [type(p) for p in st.params] == [str, int, float, bool, type(None)]
    assert Statement.parse({"query": "SELECT 1"}).params == []
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.query = "DROP TABLE trades"  # type: ignore[misc]


def test_statement_refusals_name_each_field():
    assert set(problems(Statement.parse, {"query": "", "params": [1, [2], {"a": 3}]})) == {
        "query", "params.1", "params.2"}
    assert set(problems(Statement.parse, {"query": 5, "params": "x"})) == {"query", "params"}
    assert set(problems(Statement.parse, {"query": "SELECT 1", "params": None})) == {"params"}
    assert problems(Statement.parse, {}) == {"query": "Required: a non-empty string."}
    for body in (None, [], "SELECT 1", 5):
        assert set(problems(Statement.parse, body)) == {"body"}


def test_batch_paths_reach_into_each_statement():
    b = Batch.parse({"queries": [{"query": "SELECT 1"}, {"query": "SELECT ?", "params": [2]}], "x": 1})
    assert [s.query for s in b.queries] == ["SELECT 1", "SELECT ?"] and b.queries[1].params == [2]
    found = problems(Batch.parse, {"queries": [{"query": "SELECT 1"}, 5, {"params": [[1]]}]})
    assert set(found) == {"queries.1", "queries.2.query", "queries.2.params.0"}
    assert "JSON object" in found["queries.1"]
    assert "empty" in problems(Batch.parse, {"queries": []})["queries"]
    assert set(problems(Batch.parse, {"queries": {"query": "SELECT 1"}})) == {"queries"}
    assert set(problems(Batch.parse, {})) == {"queries"}


# ----------------------------------------------------------------------------- telegram-worker
def test_alert_defaults_and_chat_ids():
    a = Alert.parse({"message": "m", "source": "s", "requestId": "ignored"})
    assert (a.level, a.chatId, a.parseMode) == ("info", None, None)
    assert Alert.parse({"message": "m", "source": "s", "chatId": "@hoox_desk"}).chatId == "@hoox_desk"
    assert Alert.parse({"message": "m", "source": "s", "chatId": -100123}).chatId == -100123
    assert Alert.parse({"message": "m", "source": "s", "chatId": 5.0}).chatId == 5
    assert Alert.parse({"message": "m", "source": "s" * 100, "parseMode": "MarkdownV2"}).parseMode == "MarkdownV2"


def test_alert_refusals_come_all_at_once_in_field_order():
    found = problems(Alert.parse, {"message": "", "level": "INFO", "source": "s" * 101, "chatId": 1.5,
                                   "parseMode": "html"})
    assert list(found) == ["message", "level", "source", "chatId", "parseMode"]
    assert "info, warning, error, critical" in found["level"] and "'INFO'" in found["level"]
    assert "At most 100 characters (got 101)" in found["source"]
    assert set(problems(Alert.parse, {"message": "m", "source": "s", "level": None})) == {"level"}
    assert set(problems(Alert.parse, {"message": 5, "source": None})) == {"message", "source"}


# ----------------------------------------------------------------------------- analytics-worker
def test_query_shape():
    q = Query.parse({"query": "SELECT ?", "params": [1, "a", [2]], "other": True})
    assert q.params == [1, "a", [2]]  # each parameter is checked as it is inlined
    assert Query.parse({"query": "x" * MAX_QUERY}).params == []
    assert "At most 20000 characters" in problems(Query.parse, {"query": "x" * (MAX_QUERY + 1)})["query"]
    assert set(problems(Query.parse, {"query": "SELECT 1", "params": "1"})) == {"params"}


def test_telemetry_is_as_lax_as_before_but_never_turns_a_number_into_text():
    point = telemetry.data_point("api-call", {"worker": "hoox", "endpoint": "/x", "latencyMs": "12.5",
                                              "success": "yes", "status": "200", "extra": 1}, "r")
    assert point["blobs"][:4] == ["api-call", "hoox", "/x", "ok"] and point["doubles"] == [12.5, 200.0, 1.0]
    found = problems(lambda p: telemetry.data_point("trade", p, "r"),
                     {"exchange": 5, "symbol": "", "quantity": -1, "price": "abc", "fee": None, "mode": "paper"})
    assert list(found) == ["exchange", "symbol", "quantity", "price", "fee", "status"]
    assert found["status"].startswith("Required")


@pytest.mark.parametrize(("kind", "field"), [
    ("api-call", "latencyMs"), ("signal", "quantity"), ("trade", "price"), ("trade", "fee"),
    ("exchange-call", "latencyMs"),
])
def test_a_non_finite_telemetry_number_is_refused_at_its_field(kind, field):
    payload = {"worker": "w", "endpoint": "/", "latencyMs": 1, "success": True, "outcome": "ok",
               "exchange": "bybit", "symbol": "BTCUSDT", "quantity": 1, "status": "Filled", "mode": "paper",
               "operation": "order", field: "inf"}
    assert "finite" in problems(lambda p: telemetry.data_point(kind, p, "r"), payload)[field]


def test_a_notional_beyond_a_double_is_refused():
    with pytest.raises(ApiError) as err:
        telemetry.data_point("trade", {"exchange": "b", "symbol": "s", "quantity": 1e300, "price": 1e300,
                                       "status": "Filled", "mode": "paper"}, "r")
    assert err.value.status == 400 and err.value.code == "VALIDATION_ERROR"
