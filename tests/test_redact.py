"""The one redactor of the CLI, the client and the cockpit (hoox_cli/core/redact.py).

It replaced four: the CLI's `common.scrub` (remembered values), the cockpit's `hoox_tui.redact`
(remembered values and credential-looking assignments), `HooxClient.scrub` (the operator token) and
`config show`'s account-id mask. Each test below is what one of them masked: none of it may show.
"""

from __future__ import annotations

import httpx
import pytest
import tomlkit
from hoox_edge.shared import redact as edge_redact

from hoox_cli.core import redact
from hoox_cli.core.client import HooxApiError, HooxClient

SECRET = "s3cr3t-value-XYZ"


@pytest.fixture(autouse=True)
def no_remembered_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact, "_known_secrets", [])


def test_the_mask_and_the_shortest_secret_are_the_edges() -> None:
    assert redact.MASK == edge_redact.MASK
    redact.remember_secrets(["x" * (edge_redact.MIN_SECRET_CHARS - 1), "", "y" * edge_redact.MIN_SECRET_CHARS])
    assert redact.scrub("xxx yyyy") == f"xxx {redact.MASK}"


# --------------------------------------------------------------------------- the CLI's scrub
def test_remembered_values_are_masked_at_any_depth_keys_too() -> None:
    redact.remember_secrets([SECRET, "s3cr3t"])  # a secret inside another is masked whole (longest first)
    value = {"a": f"x {SECRET} y", SECRET: [SECRET, ("t", f"{SECRET}!")], "n": 5, "b": "s3cr3t"}
    assert redact.scrub(value) == {"a": "x *** y", "***": ["***", ["t", "***!"]], "n": 5, "b": "***"}


def test_nothing_remembered_leaves_a_value_as_it_is() -> None:
    value = {"token": "abc", "list": (1, 2)}
    assert redact.scrub(value) is value


# --------------------------------------------------------------------------- the cockpit's redact
@pytest.mark.parametrize(("text", "shown"), [
    ("Authorization: Bearer abcdEFGH1234.x-y", "Authorization: *** ***"),
    ("bearer tok_12345", "bearer ***"),
    ("token=abcd1234&x=1", "token=***&x=1"),
    ("api_key: 'KEY12345'", "api_key: '***'"),
    ("apiKey=KEY12345", "apiKey=***"),
    ("api-key=KEY12345", "api-key=***"),
    ('{"secret": "shh-1234"}', '{"secret": "***"}'),
    ("password=hunter22", "password=***"),
    ("passwd: hunter22", "passwd: ***"),
    ("auth_key=abcd1234", "auth_key=***"),
    ("auth-key=abcd1234", "auth-key=***"),
    ("authorization=abcd1234", "authorization=***"),
    # the edge's sensitive names besides
    ("signature=deadbeef", "signature=***"),
    ("passphrase: correct-horse", "passphrase: ***"),
    ("mnemonic=abandon1", "mnemonic=***"),
    # what is not a credential stays readable
    ("token=abc", "token=abc"),  # too short to be one
    ("request 0b65699a-1c2d failed: EXCHANGE_ERROR", "request 0b65699a-1c2d failed: EXCHANGE_ERROR"),
])  # fmt: skip
def test_credential_assignments_are_masked_in_text(text: str, shown: str) -> None:
    assert redact.redact(text) == shown


def test_an_error_keeps_the_word_its_own_message_puts_after_a_name() -> None:
    said = "--cloudflare-api-token: looks too short (at least 20 characters)."
    assert redact.redact_error(said) == said  # hoox's words, not a value
    assert redact.redact_error("token: abcd1234 and secret=Hunter") == "token: *** and secret=***"


# What users type where a symbol, a key or a name belongs, quoted back by an error: it must stay readable.
TYPED_NAMES = ["1000000BABYDOGEUSDT", "exchanges:paper:price:1000000MOGUSDT", "web3-wallet-worker-that-does-not-exist",
               "btc_mean_reversion_breakout_4h_v2_strategy", "/tmp/trycli-nowhere/deeply/nested/db-backup-2026.sql",
               "http://my-very-long-subdomain-name-for-hoox-edge.example.invalid:9/"]


@pytest.mark.parametrize("typed", TYPED_NAMES)
def test_an_error_names_the_symbol_key_name_path_or_url_it_was_given(typed: str) -> None:
    redact.remember_arguments(["config", "kv", "get", typed, "--api-key", "wKuYtkeNdC2PaMKjoy"])
    try:
        said = f"Unknown name '{typed}': check it; not wKuYtkeNdC2PaMKjoy."
        assert redact.redact_error(said) == f"Unknown name '{typed}': check it; not ***."
    finally:
        redact.remember_arguments([])


def test_an_error_keeps_its_own_words_after_a_name_the_user_gave_that_ends_in_token() -> None:
    # a strategy named like a sensitive field: what hoox says after it is not a credential
    redact.remember_arguments(["watchdog", "expect", "meme-token", "--hours", "mon-fri 08:00-25:00"])
    try:
        said = "Invalid value for watchdog:expect:meme-token: hours.to must be a time HH:MM, got '25:00'."
        assert redact.redact_error(said) == said
        assert redact.redact_error("api_token: abcd1234") == "api_token: ***"  # not a name the user gave
        assert redact.redact_error("meme-token=abcd1234") == "meme-token=***"  # an assignment all the same
        redact.remember_arguments(["watchdog", "expect", "token: abcd1234"])  # a value typed with its name
        assert redact.redact_error("watchdog:expect:token: abcd1234") == "watchdog:expect:token: ***"
    finally:
        redact.remember_arguments([])


def test_redact_masks_remembered_values_and_extra_ones() -> None:
    redact.remember_secrets([SECRET])
    assert redact.redact(f"failed with {SECRET} and op-token-1", also=["op-token-1"]) == "failed with *** and ***"


# --------------------------------------------------------------------------- the client's token
def test_the_client_masks_its_token_in_whatever_the_server_echoes() -> None:
    token = "tok"  # shorter than a remembered secret may be: the client's own token is masked all the same
    redact.remember_secrets([SECRET])  # and so is every remembered secret, as everywhere

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"success": False, "error": {
            "code": "VALIDATION_ERROR", "message": f"bad {token} and {SECRET}",
            "details": [{"field": token, "issue": [token, "x"]}]}})

    client = HooxClient("http://127.0.0.1:1", token, transport=httpx.MockTransport(echo), retries=0)
    try:
        with pytest.raises(HooxApiError) as err:
            client.status()
    finally:
        client.close()
    assert err.value.message == "bad *** and ***"
    assert err.value.details == [{"field": "***", "issue": ["***", "x"]}]


# --------------------------------------------------------------------------- config show
def test_config_shows_no_account_id() -> None:
    doc = tomlkit.parse('[cloudflare]\naccount_id = "0123456789abcdef0123456789abcdef"\nsubdomain = "me"\n'
                        "[dev]\nport = 8787\n")
    assert redact.redact_config(doc) == {"cloudflare": {"account_id": "***", "subdomain": "me"},
                                         "dev": {"port": 8787}}
    assert redact.redact_config(tomlkit.parse("[dev]\nport = 1\n")) == {"dev": {"port": 1}}
