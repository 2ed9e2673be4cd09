"""The exchange catalog (`hoox_edge/exchange_catalog.py`): one definition, read by everything that
names exchanges, and honoured by the connectors."""

from __future__ import annotations

import inspect
import typing

import pytest
from hoox_edge import catalog, exchange_catalog
from hoox_edge.exchange_catalog import EXCHANGES, NAMES
from hoox_edge.exchanges import KNOWN_EXCHANGES, live, live_connector
from hoox_edge.shared import settings
from hoox_edge.shared.signal import Signal, SignalError, parse_signal

from hoox_cli.commands.secrets import exchange_secret_names
from hoox_cli.core import setup as setup_model


@pytest.mark.parametrize("ex", EXCHANGES, ids=NAMES)
def test_each_connector_does_what_its_entry_says(ex: exchange_catalog.Exchange):
    for market in ex.markets:
        cls = live_connector(ex.name, market)
        assert cls.name == ex.name and market in cls.markets
        assert bool(cls.testnet_base_url) is ex.testnet, (ex.name, market)
        # The client order id travels in the field the entry names (exactly once at the exchange).
        assert f'"{ex.client_order_id}"' in inspect.getsource(inspect.getmodule(cls))
    assert live.secret_names(ex.name) == ex.secrets == (f"{ex.name.upper()}_API_KEY", f"{ex.name.upper()}_API_SECRET")


def test_every_list_of_exchanges_is_the_catalog():
    assert KNOWN_EXCHANGES == settings.EXCHANGES == NAMES
    assert typing.get_args(exchange_catalog.Name) == NAMES
    hints = typing.get_type_hints(Signal)
    assert typing.get_args(hints["exchange"]) == (exchange_catalog.Name, type(None))
    assert settings.lookup("exchanges:default_routing").choices == NAMES
    for name in NAMES:
        assert settings.lookup(f"exchanges:{name}:testnet") and settings.lookup(f"exchanges:{name}:base_url")
    # The secrets: trade-worker's (so `hoox secrets check`), the CLI's pairs, the setup wizard's fields.
    assert set(exchange_catalog.all_secrets()) <= set(catalog.worker("trade-worker").all_secrets)
    assert exchange_secret_names() == {e.name: e.secrets for e in EXCHANGES}
    [step] = [s for s in setup_model.STEPS if s.id == "exchanges"]
    assert tuple(f.name for f in step.fields) == exchange_catalog.all_secrets()


def test_a_signal_names_only_an_exchange_of_the_catalog():
    base = {"action": "LONG", "symbol": "BTCUSDT", "quantity": 0.01}
    for name in NAMES:
        assert parse_signal({**base, "exchange": name.upper()}).exchange == name
    with pytest.raises(SignalError) as caught:
        parse_signal({**base, "exchange": "kraken"})
    [problem] = caught.value.details
    assert problem["field"] == "exchange" and ", ".join(sorted(NAMES)) in problem["issue"]
    with pytest.raises(KeyError):
        exchange_catalog.exchange("kraken")
