"""The operator API's contract: the edge's shapes (`hoox_edge/operator/shapes.py`) against the client's
models (`hoox_cli/core/models.py`), strictly.

The client's models are lenient at run time (unknown keys kept, most fields optional) so an older
client still reads a newer edge. Here each model is rebuilt strict: no unknown key (`extra="forbid"`),
every key its shape marks `Required` required, nested models strict too. Every route then answers
real requests on a real local edge with real data, and each answer must validate; a field renamed
on either side fails (the last test shows it on a copy of a real answer).
"""

from __future__ import annotations

import copy
import inspect
import types
import typing
from functools import cache
from typing import Any, Union, get_args, get_origin

import pydantic
import pytest
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.operator import shapes
from hoox_edge.wallet import evm
from hoox_edge.workers import operator_api
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import Route
from test_operator_api import GW, build_ledger, kv_set, rt, sql, v1, webhook  # noqa: F401 (rt: a fixture)

from hoox_cli.core import models

MODELS = {n: m for n, m in vars(models).items()
          if inspect.isclass(m) and issubclass(m, BaseModel) and m.__module__ == models.__name__ and n != "_Model"}
SHAPES = {n: s for n, s in vars(shapes).items() if typing.is_typeddict(s)}


WALLET_KEY = int("42" * 32, 16)


@pytest.fixture
def chain():  # a real EVM for /v1/wallet (tests/web3_chain.py)
    from web3_chain import ChainServer, Node

    with ChainServer(Node()) as server:
        yield server


@pytest.fixture
def workspace(workspace, chain):  # conftest's, with report-worker and web3-wallet-worker enabled (/v1/reports,
    doc = workspace.config()       # /v1/wallet go through them), the wallet's key and chain set
    doc["workers"]["report-worker"]["enabled"] = True
    doc["workers"]["web3-wallet-worker"]["enabled"] = True
    workspace.save_config(doc)
    workspace.set_secret("WALLET_PK_SECRET", hex(WALLET_KEY))
    workspace.set_secret("RPC_PROVIDER_URL", chain.url)
    return workspace


def keys_of(shape: Any) -> set[str]:
    return set(shape.__required_keys__) | set(shape.__optional_keys__)


def json_names(model: type[BaseModel]) -> dict[str, str]:
    """{JSON name: attribute name} of a model's fields."""
    return {f.alias or name: name for name, f in model.model_fields.items()}


def _strict_type(t: Any) -> Any:
    if inspect.isclass(t) and issubclass(t, BaseModel):
        return strict(t)
    origin, args = get_origin(t), get_args(t)
    if not args or origin is typing.Literal:
        return t
    inner = tuple(_strict_type(a) for a in args)
    if origin in (Union, types.UnionType):
        return Union[inner]  # noqa: UP007 (built from a tuple)
    return origin[inner]


@cache
def strict(model: type[BaseModel]) -> type[BaseModel]:
    """`model` with no unknown key allowed and every key its shape requires required, nested models too."""
    shape = SHAPES[model.__name__]
    hints = typing.get_type_hints(model)  # resolved (a model may name one defined after it)
    fields: dict[str, Any] = {}
    for name, f in model.model_fields.items():
        key = f.alias or name
        required = key in shape.__required_keys__
        fields[name] = (_strict_type(hints[name]), Field(alias=f.alias) if required else Field(None, alias=f.alias))
    return pydantic.create_model(f"Strict{model.__name__}", __config__=ConfigDict(extra="forbid"), **fields)


def check(model: type[BaseModel], answer: dict[str, Any]) -> None:
    strict(model).model_validate(answer, strict=True)
    model.model_validate(answer)  # and the client's own model reads it


# =========================================================================== the definitions
def test_every_model_is_a_shape_of_the_edge_with_the_same_keys():
    assert set(MODELS) == set(SHAPES), (set(MODELS) ^ set(SHAPES))
    for name, model in MODELS.items():
        shape = SHAPES[name]
        assert set(json_names(model)) == keys_of(shape), (name, set(json_names(model)) ^ keys_of(shape))
        # A field the client cannot do without is one the edge always sends.
        needed = {f.alias or n for n, f in model.model_fields.items() if f.is_required()}
        assert needed <= set(shape.__required_keys__), (name, needed - set(shape.__required_keys__))


# =========================================================================== every route, real answers
def _routes() -> set[tuple[str, str]]:
    out = set()
    for r in operator_api.routes:
        assert isinstance(r, Route)
        out |= {(m, r.path) for m in r.methods or () if m != "HEAD"}
    return out


async def test_every_route_answers_its_shape_strictly(rt: LocalRuntime, clock, chain):  # noqa: F811 (the fixture)
    answered: dict[tuple[str, str], dict[str, Any]] = {}

    async def call(method: str, template: str, path: str, model: type[BaseModel], body: Any = None) -> Any:
        r = await v1(rt, method, path, json_body=body)
        assert r.status == 200, (method, path, r.json())
        res = r.json()["result"]
        try:
            check(model, res)
        except pydantic.ValidationError as exc:
            raise AssertionError(f"{method} {path} does not answer {model.__name__}:\n{exc}") from None
        answered[(method, template)] = res
        return res

    # The data: the ledger of figures, a filled signal, resting orders, a risk run, a watchdog check,
    # a dead letter, an alert.
    await build_ledger(rt)
    filled = await webhook(rt, symbol="ETHUSDT", idempotencyKey="contract-fill")
    assert filled.status == 200, filled.json()
    rid = filled.json()["requestId"]
    resting = []
    for key in ("contract-rest-1", "contract-rest-2"):
        r = await webhook(rt, orderType="LIMIT", price=1000.0, idempotencyKey=key)
        assert r.status == 202 and r.json()["status"] == "Resting", r.json()
        resting.append(r.json()["requestId"])
    agent = rt.env("agent-worker")
    assert (await rt.request("agent-worker", "POST", "/agent/run", json={},
                             headers={"X-Internal-Auth-Key": agent.INTERNAL_KEY_BINDING})).status == 200
    await kv_set(rt, "watchdog:expect:contract", {"maxGapMinutes": 30})
    await webhook(rt, source="contract", idempotencyKey="contract-watch")
    await rt.run_cron(GW)

    await kv_set(rt, "webhooks:queue_mode", "queue_everywhere")
    await kv_set(rt, "webhooks:retry_schedule_seconds", [1])
    await kv_set(rt, "exchanges:paper:fault", "outage")
    assert (await webhook(rt, idempotencyKey="contract-dlq")).status == 202
    await rt.drain_queues()
    clock.advance(1)
    await rt.drain_queues()
    await rt.env(GW).CONFIG_KV.delete("exchanges:paper:fault")
    await rt.env(GW).CONFIG_KV.delete("webhooks:queue_mode")

    M = models
    await call("GET", "/status", "/status", M.StatusResult)
    await call("GET", "/workers", "/workers", M.WorkersResult)
    await call("GET", "/workers/{name}", "/workers/hoox", M.WorkerDetail)
    await call("GET", "/workers/{name}/latency", "/workers/hoox/latency", M.LatencyHistory)
    await call("GET", "/trades", "/trades", M.TradesPage)
    await call("GET", "/positions", "/positions?mode=all", M.PositionsResult)
    await call("GET", "/orders", "/orders", M.OrdersResult)
    await call("DELETE", "/orders/{request_id}", f"/orders/{resting[0]}", M.OrderResult)
    await call("GET", "/stats", "/stats?mode=all", M.StatsResult)
    await call("GET", "/stats/equity", "/stats/equity?mode=all", M.EquityCurve)
    await call("GET", "/logs", "/logs", M.LogsPage)
    await call("GET", "/logs/export", "/logs/export?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z",
               M.LogsPage)
    await call("GET", "/signals/{request_id}/timeline", f"/signals/{rid}/timeline", M.SignalTimeline)
    await call("GET", "/config/kv", "/config/kv", M.KvList)
    await call("GET", "/config/kv/{key:path}", "/config/kv/trade:mode", M.KvEntry)
    await call("PUT", "/config/kv/{key:path}", "/config/kv/webhooks:rate_limit_per_minute", M.KvEntry,
               {"value": 20})
    await call("DELETE", "/config/kv/{key:path}", "/config/kv/webhooks:rate_limit_per_minute", M.KvDeleted)
    await call("GET", "/risk", "/risk", M.RiskStatus)
    await call("GET", "/risk/runs", "/risk/runs", M.RiskRunsPage)
    await call("GET", "/risk/config", "/risk/config", M.RiskConfig)
    await call("POST", "/risk/config", "/risk/config", M.RiskConfig, {"values": {"trade:trailing_stop_percent": 2}})
    queues = await call("GET", "/queues", "/queues", M.QueuesResult)
    [dead] = queues["deadLetters"]["items"]
    await call("POST", "/queues/dead-letter/{id}/replay", f"/queues/dead-letter/{dead['id']}/replay", M.ReplayResult)
    await call("POST", "/db/query", "/db/query", M.QueryResult, {"query": "SELECT id, symbol FROM trades"})
    await call("GET", "/watchdog", "/watchdog", M.WatchdogResult)
    await call("GET", "/analytics/volume", "/analytics/volume?days=7", M.SignalVolume)
    await call("POST", "/positions/flatten", "/positions/flatten", M.FlattenResult, {"mode": "paper"})
    await call("GET", "/kill-switch", "/kill-switch", M.KillSwitch)
    await call("POST", "/kill-switch", "/kill-switch", M.KillSwitch, {"on": True, "reason": "contract",
                                                                        "flatten": True})
    await call("POST", "/alerts", "/alerts", M.AlertPosted, {"message": "contract alert", "level": "info"})
    await call("GET", "/alerts", "/alerts", M.AlertsPage)
    made = await call("POST", "/reports", "/reports", M.ReportResult, {"period": "7d"})
    await call("GET", "/reports", "/reports", M.ReportsList)
    download = await v1(rt, "GET", f"/reports/{made['report']['name']}")  # a file, not an envelope
    assert download.status == 200 and download.headers["content-type"].startswith(("application/pdf", "text/html"))
    answered[("GET", "/reports/{name}")] = {}
    # The AI gateway (agent-worker, forwarded): no provider key is set here, so each says so.
    await call("GET", "/agent/{rest:path}", "/agent/models", M.AgentModels)
    await call("GET", "/agent/{rest:path}", "/agent/usage", M.AgentUsage)
    health = await call("GET", "/agent/{rest:path}", "/agent/health", M.AgentHealth)
    assert health["providers"] and not any(p["configured"] for p in health["providers"])
    assert health["memory"]["reason"].startswith("no embedding provider is configured")
    tested = await call("POST", "/agent/{rest:path}", "/agent/test-model", M.AgentTestModel, {"provider": "openai"})
    assert (tested["ok"], tested["error"]) == (False, "not_configured")

    await kv_set(rt, "web3:chains", {"local": {"chainId": 131277322940537, "rpcSecret": "RPC_PROVIDER_URL",
                                               "explorer": "https://explorer.example"}})
    recipient = "0x" + "ab" * 20
    chain.node.fund(evm.Key(WALLET_KEY).address, 10**18)
    await call("POST", "/wallet/balance", "/wallet/balance", M.WalletBalance, {"chain": "local"})
    await call("POST", "/wallet/estimate", "/wallet/estimate", M.WalletEstimate,
               {"chain": "local", "to": recipient, "value": "0.1"})
    await kv_set(rt, "trade:kill_switch", False)  # turned on above: it refuses sends
    sent = await call("POST", "/wallet/send", "/wallet/send", M.WalletTx,
                      {"chain": "local", "to": recipient, "value": "0.1", "requestId": "contract-wallet"})
    tx = await call("GET", "/wallet/tx/{request_id}", "/wallet/tx/contract-wallet", M.WalletTx)
    assert tx["txHash"] == sent["txHash"] and tx["status"] == "confirmed"
    [listed] = (await call("GET", "/wallet/balances", "/wallet/balances", M.WalletBalances))["items"]
    assert listed["chain"] == "local" and listed["error"] is None and listed["balance"]

    assert set(answered) == _routes(), _routes() - set(answered)  # every route of the API, none left out
    # The lists the shapes describe were not empty: their items were checked too.
    for route in (("GET", "/trades"), ("GET", "/orders"), ("GET", "/logs"), ("GET", "/logs/export"), ("GET", "/alerts"),
                  ("GET", "/risk/runs"), ("GET", "/positions"), ("GET", "/reports")):
        assert answered[route]["items"], route
    assert answered[("GET", "/risk")]["positions"] and answered[("GET", "/watchdog")]["sources"]
    assert answered[("POST", "/kill-switch")]["flatten"]["closes"]


# =========================================================================== a renamed field fails
async def test_a_field_renamed_by_the_server_fails_the_strict_check(rt: LocalRuntime):  # noqa: F811
    await build_ledger(rt)
    status = (await v1(rt, "GET", "/status")).json()["result"]
    check(models.StatusResult, status)

    renamed = copy.deepcopy(status)
    renamed["lastSignal"] = renamed.pop("lastSignalAt")
    with pytest.raises(pydantic.ValidationError) as caught:
        strict(models.StatusResult).model_validate(renamed, strict=True)
    assert {e["loc"] for e in caught.value.errors()} == {("lastSignalAt",), ("lastSignal",)}
    # The client's lenient model alone would not have noticed: it would read lastSignalAt as None.
    assert models.StatusResult.model_validate(renamed).lastSignalAt is None

    nested = copy.deepcopy(status)
    nested["workers"][0]["latency"] = nested["workers"][0].pop("latencyMs")
    with pytest.raises(pydantic.ValidationError) as caught:
        strict(models.StatusResult).model_validate(nested, strict=True)
    assert {e["loc"] for e in caught.value.errors()} == {("workers", 0, "latencyMs"), ("workers", 0, "latency")}

    page = (await v1(rt, "GET", "/trades")).json()["result"]
    page["items"][0]["pnl"] = page["items"][0].pop("realizedPnl")
    with pytest.raises(pydantic.ValidationError):
        strict(models.TradesPage).model_validate(page, strict=True)
    assert await sql(rt, "SELECT COUNT(*) AS n FROM trades") == [{"n": len(page["items"])}]


# =========================================================================== the stream's topics
async def test_one_list_of_stream_topics(rt: LocalRuntime):  # noqa: F811
    from hoox_cli.core import client
    from hoox_tui import store

    assert tuple(shapes.STREAM_TOPICS) == client.ALL_TOPICS  # the client subscribes to the edge's list
    assert set(shapes.STREAM_TOPICS) <= store.STORE_TOPICS  # each marks its namesake in the cockpit's store
    store_only = sorted(store.STORE_TOPICS - set(shapes.STREAM_TOPICS))
    refused = await rt.request(GW, "GET", f"/v1/stream?topics={store_only[0]}",
                               headers={"Authorization": f"Bearer {rt.env(GW).OPERATOR_API_KEY}"})
    # The edge's stream takes its own list, and not a store topic (those come from polling).
    assert refused.status == 400 and f"topics are {', '.join(shapes.STREAM_TOPICS)}." in refused.text()
