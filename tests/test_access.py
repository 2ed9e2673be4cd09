"""Cloudflare Access in front of the operator API: the gateway checks the Access JWT on /v1/* against the
team's keys served by a loopback JWKS (tests/fake_access.py, real RS256 keys), in addition to the Bearer
token. Time is the fake clock."""

from __future__ import annotations

import asyncio
import json

import cli_support
import pytest
from fake_access import FakeAccess, SigningKey, access_edge
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.service import asgi_call
from hoox_edge.ports import Env
from hoox_edge.shared import access
from hoox_edge.shared.app import make_app
from hoox_edge.workers import gateway
from netutil import serve

APP = make_app("hoox", gateway.routes)


@pytest.fixture
def team():
    access.clear_cache()
    with FakeAccess() as t:
        yield t
    access.clear_cache()


def guarded(rt: LocalRuntime, team: FakeAccess, audience: str | None = None) -> Env:
    """The gateway's env with Access configured (what a deploy renders from [operator.access])."""
    env = rt.env("hoox")
    bindings = {**env.__dict__["_bindings"], access.TEAM_VAR: team.origin,
                access.AUD_VAR: audience or team.audience}
    return Env(bindings, worker="hoox", secret_names=("OPERATOR_API_KEY", "WEBHOOK_API_KEY"))


async def status(env: Env, jwt: str | None, *, bearer: bool = True, path: str = "/v1/status"):
    headers = {}
    if bearer:
        headers["Authorization"] = f"Bearer {env.OPERATOR_API_KEY}"
    if jwt is not None:
        headers[access.JWT_HEADER] = jwt
    return await asgi_call(APP, env, "GET", path, headers=headers)


async def test_a_valid_access_token_and_the_bearer_token_are_both_needed(runtime, clock, team):
    env = guarded(runtime, team)
    r = await status(env, team.token(now=clock()))
    assert r.status == 200, r.json()
    assert r.json()["success"] is True

    r = await status(env, team.token(now=clock()), bearer=False)  # Access alone is not enough
    assert r.status == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"

    r = await status(env, None)  # the Bearer token alone is not enough either
    assert r.status == 403
    err = r.json()["error"]
    assert err["code"] == "ACCESS_DENIED" and "Cf-Access-Jwt-Assertion" in err["message"]


async def test_every_v1_route_is_guarded_the_stream_and_unknown_routes_too(runtime, clock, team):
    env = guarded(runtime, team)
    for path in ("/v1/stream?topics=status", "/v1/trades", "/v1/no-such-route"):
        r = await status(env, None, path=path)
        assert r.status == 403, path
    # the webhook and /health are not the operator API: TradingView cannot go through Access
    r = await asgi_call(APP, env, "GET", "/health")
    assert r.status != 403 and "bindings" in r.json()


async def test_expired_not_yet_valid_wrong_audience_and_wrong_issuer_are_refused_naming_the_rule(runtime, clock, team):
    env = guarded(runtime, team)
    now = clock()
    cases = {
        "expired": team.token(now=now - 7200, ttl=3600),
        "not valid before": team.token(now=now, nbf=now + 600),
        "audience": team.token(now=now, aud=["some-other-application"]),
        "not issued by": team.token(now=now, iss="https://other-team.cloudflareaccess.com"),
        "no expiry": team.token(now=now, extra={"exp": None}),
    }
    for rule, jwt in cases.items():
        r = await status(env, jwt)
        assert r.status == 403, rule
        assert rule in r.json()["error"]["message"], (rule, r.json())

    # within the clock-skew allowance a just-expired token still passes; past it, it does not
    jwt = team.token(now=now, ttl=60)
    clock.advance(60 + access.CLOCK_SKEW_S - 1)
    assert (await status(env, jwt)).status == 200
    clock.advance(2)
    assert (await status(env, jwt)).status == 403


async def test_a_bad_signature_or_a_key_the_team_does_not_publish_is_refused(runtime, clock, team):
    env = guarded(runtime, team)
    good = team.token(now=clock())
    head, body, sig = good.split(".")
    tampered_claims = team.token(now=clock(), aud=["x"]).split(".")[1]
    for jwt, rule in (
        (f"{head}.{tampered_claims}.{sig}", "signature does not verify"),  # claims swapped under a signature
        (f"{head}.{body}.{sig[:-4]}AAAA", "signature does not verify"),
        (team.token(now=clock(), key=SigningKey.new("key-1")), "signature does not verify"),  # same kid, other key
        (team.token(now=clock(), key=SigningKey.new("stranger")), "key the team does not publish"),
        (team.token(now=clock(), alg="HS256"), "not signed RS256"),
        ("not-a-jwt", "not a JWT"),
        ("a.b.c", "not a well-formed JWT"),
    ):
        r = await status(env, jwt)
        assert r.status == 403, rule
        assert rule in r.json()["error"]["message"], (rule, r.json()["error"]["message"])


async def test_keys_are_cached_and_a_rotated_key_is_fetched_once(runtime, clock, team):
    env = guarded(runtime, team)
    for _ in range(3):
        assert (await status(env, team.token(now=clock()))).status == 200
    assert team.fetches == 1  # cached

    new = team.rotate()
    clock.advance(access.REFETCH_MIN_S)
    assert (await status(env, team.token(now=clock(), key=new))).status == 200
    assert team.fetches == 2  # the unknown kid made one refetch
    old = team.keys[1]
    assert (await status(env, team.token(now=clock(), key=old))).status == 200  # still published
    assert team.fetches == 2

    # an invented kid right after a fetch does not make another one (no fetch flood)
    r = await status(env, team.token(now=clock(), key=SigningKey.new("invented")))
    assert r.status == 403 and team.fetches == 2

    # once the team retires the old key, tokens signed with it stop passing when the cache refreshes
    team.retire_all_but_newest()
    clock.advance(access.KEYS_TTL_S)
    assert (await status(env, team.token(now=clock(), key=old))).status == 403
    assert (await status(env, team.token(now=clock(), key=new))).status == 200
    assert team.fetches == 3


async def test_the_gateway_fails_closed_when_the_keys_cannot_be_read(runtime, clock, team):
    env = guarded(runtime, team)
    team.down = True
    r = await status(env, team.token(now=clock()))
    assert r.status == 503
    assert team.origin + access.CERTS_PATH in r.json()["error"]["message"]
    # once read, the keys serve on while the endpoint is away
    team.down = False
    clock.advance(access.REFETCH_MIN_S)
    assert (await status(env, team.token(now=clock()))).status == 200
    team.down = True
    clock.advance(access.KEYS_TTL_S)
    assert (await status(env, team.token(now=clock()))).status == 200


async def test_half_a_configuration_never_turns_the_check_off(runtime, clock, team):
    env = runtime.env("hoox")
    half = Env({**env.__dict__["_bindings"], access.TEAM_VAR: team.origin}, worker="hoox")
    r = await status(half, None)
    assert r.status == 503 and access.AUD_VAR in r.json()["error"]["message"]
    # without Access configured, the Bearer token alone opens the API (the local edge)
    assert (await status(env, None)).status == 200


def test_team_domain_forms():
    assert access.team_origin("alpha.cloudflareaccess.com") == "https://alpha.cloudflareaccess.com"
    assert access.team_origin("https://Alpha.cloudflareaccess.com/") == "https://alpha.cloudflareaccess.com"
    assert access.team_origin("http://127.0.0.1:9999") == "http://127.0.0.1:9999"
    for bad in ("http://alpha.cloudflareaccess.com", "alpha", "https://alpha.example.com/path", "ftp://x.y"):
        with pytest.raises(access.AccessConfigError):
            access.team_origin(bad)


def test_rs256_matches_a_real_rsa_implementation():
    key = SigningKey.new("k")
    pub = key.private.public_key().public_numbers()
    rk = access.RsaKey(pub.n, pub.e)
    sig = key.sign(b"message")
    assert access.rs256_valid(rk, b"message", sig)
    assert not access.rs256_valid(rk, b"messagE", sig)
    assert not access.rs256_valid(rk, b"message", sig[:-1] + bytes([sig[-1] ^ 1]))
    assert not access.rs256_valid(rk, b"message", sig[1:])


# ----------------------------------------------------------------------------- the CLI and the cockpit
SERVICE_TOKEN = ("3f2a9c0e.access", "s3rvice-t0ken-secret-" + "x" * 30)


async def _cli(*args: str, env: dict[str, str]):
    return await asyncio.to_thread(cli_support.hoox, *args, env=env)


async def test_the_cli_sends_the_service_token_and_reaches_a_guarded_edge(runtime, clock, team, ws, monkeypatch):
    env = guarded(runtime, team)
    async with serve(access_edge(team, APP, env, SERVICE_TOKEN, now=clock)) as url:
        base = {"HOOX_API_TOKEN": env.OPERATOR_API_KEY}
        r = await _cli("monitor", "status", "--remote", url, "--json", env=base)
        assert r.exit_code != 0
        err = json.loads(r.stdout)["error"]
        assert err["code"] == "ACCESS_DENIED" and "HOOX_ACCESS_CLIENT_ID" in err["message"]

        with_token = {**base, "HOOX_ACCESS_CLIENT_ID": SERVICE_TOKEN[0], "HOOX_ACCESS_CLIENT_SECRET": SERVICE_TOKEN[1]}
        r = await _cli("monitor", "status", "--remote", url, "--json", env=with_token)
        assert r.exit_code == 0, r.stdout
        assert SERVICE_TOKEN[1] not in r.stdout + r.stderr

        # from the workspace's vault (.dev.vars) as well, set with `hoox secrets set` (value on stdin)
        for name, value in zip(("HOOX_ACCESS_CLIENT_ID", "HOOX_ACCESS_CLIENT_SECRET"), SERVICE_TOKEN, strict=True):
            r = await asyncio.to_thread(cli_support.hoox, "secrets", "set", name, "--json", input=value)
            assert r.exit_code == 0, r.stdout
            assert value not in r.stdout
        r = await _cli("monitor", "status", "--remote", url, "--json", env=base)
        assert r.exit_code == 0, r.stdout

        # the cockpit's client is built the same way
        from hoox_tui.launch import Options, build

        monkeypatch.setenv("HOOX_API_TOKEN", env.OPERATOR_API_KEY)
        ctx, local = build(Options(remote=url))
        assert local is None
        client = ctx.store.client
        try:
            assert (await client.status()).runtime == "local"
        finally:
            await client.aclose()


async def test_half_a_service_token_is_refused_by_the_cli_naming_the_missing_half(ws):
    r = await _cli("monitor", "status", "--remote", "http://127.0.0.1:9", "--json",
                   env={"HOOX_API_TOKEN": "t", "HOOX_ACCESS_CLIENT_ID": "id-only"})
    assert r.exit_code != 0
    assert "HOOX_ACCESS_CLIENT_SECRET" in json.loads(r.stdout)["error"]["message"]


# ----------------------------------------------------------------------------- hoox.toml → the gateway's vars
def test_operator_access_in_hoox_toml_is_checked_and_rendered_into_the_gateway_only(ws):
    from hoox_edge import catalog, wrangler

    from hoox_cli.core import config, deploy

    r = cli_support.hoox("config", "set", "operator.access.team_domain", "http://alpha.example.com", "--json")
    assert r.exit_code != 0 and "http is accepted only for a loopback" in json.loads(r.stdout)["error"]["message"]
    r = cli_support.hoox("config", "set", "operator.access.audience", "has spaces", "--json")
    assert r.exit_code != 0 and "AUD tag" in json.loads(r.stdout)["error"]["message"]
    assert "operator" not in ws.config()  # nothing was written

    assert cli_support.hoox("config", "set", "operator.access.team_domain", "alpha.cloudflareaccess.com").exit_code == 0
    problems = config.config_problems(ws)
    assert any("operator.access.audience is not set" in p for p in problems), problems
    res = deploy.resources(ws)
    gw = wrangler.config(catalog.worker("hoox"), res)
    assert gw["vars"]["ACCESS_TEAM_DOMAIN"] == "alpha.cloudflareaccess.com"  # half: the gateway refuses
    assert "ACCESS_AUD" not in gw["vars"]

    assert cli_support.hoox("config", "set", "operator.access.audience", "a" * 64).exit_code == 0
    assert not [p for p in config.config_problems(ws) if "operator" in p]
    res = deploy.resources(ws)
    gw = wrangler.config(catalog.worker("hoox"), res)
    assert gw["vars"]["ACCESS_AUD"] == "a" * 64
    for w in catalog.WORKERS:
        if w.name != "hoox":
            assert "ACCESS_AUD" not in (wrangler.config(w, res).get("vars") or {}), w.name
    # the committed files (no workspace) carry no Access settings
    assert "ACCESS_AUD" not in (wrangler.config(catalog.worker("hoox")).get("vars") or {})


def test_on_cloudflare_the_gateway_env_carries_the_access_vars():
    # Cloudflare hands vars on the JS env; the ports' Env keeps only the names it knows, so a var it
    # dropped would turn the check off without a word.
    from hoox_edge import catalog
    from hoox_edge.cloudflare.env import wrap_env
    from test_cloudflare_adapters import _fake_js_env

    gw = catalog.worker("hoox")
    env = wrap_env(_fake_js_env(gw, ACCESS_TEAM_DOMAIN="alpha.cloudflareaccess.com", ACCESS_AUD="a" * 64), gw.name)
    assert access.settings_of(env) == ("https://alpha.cloudflareaccess.com", "a" * 64)
    assert access.settings_of(wrap_env(_fake_js_env(gw), gw.name)) is None
