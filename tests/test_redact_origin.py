"""Units of the hardened edge: safe previews, capped snippets, secret detection (shared/redact.py)
and the client address behind forwarding headers (shared/origin.py)."""

from __future__ import annotations

import json

import pytest
from hoox_edge.shared import redact
from hoox_edge.shared.origin import client_ip, ip_allowed
from starlette.requests import Request

CREDENTIAL = "AKIA9X7Q2LM4ZP8RT3VW6YB1"


# --------------------------------------------------------------------------- previews
@pytest.mark.parametrize(("value", "shown"), [
    ("lots", "'lots'"),
    (5, "5"),
    (None, "null"),
    (True, "true"),
    ([1, 2], "a JSON array"),
    ("exactly sixteen!", "'exactly sixteen!'"),
    ("a longer sentence than sixteen", "'a longer sentenc…'"),  # 16 characters and an ellipsis
    ("\ud800x", "'\ufffdx'"),  # a lone surrogate is replaced, so the message can be encoded
    (CREDENTIAL, f"a {len(CREDENTIAL)}-character value (not shown)"),
    (f"key {CREDENTIAL}", "'key…'"),  # stops before the credential-looking word
    ("x" * 40, "a 40-character value (not shown)"),  # any very long word
    (10**30, "a number of 31 characters (not shown)"),
])  # fmt: skip
def test_preview_quotes_a_short_safe_prefix(value, shown):
    assert redact.preview(value) == shown


@pytest.mark.parametrize(("word", "credential"), [
    (CREDENTIAL, True),
    ("a1b2c3d4e5f6g7h8", True),
    ("key_ABCD1234efgh5678", True),  # a key-like part behind a name
    ("xoxb-1234567890-abcdefghijklmnop", True),  # any word of 32 characters
    ("web3-wallet-worker", False),  # a worker's name: short parts joined, one with a digit
    ("risk_v2_limits_eu1", False),
    ("7f3c9a2e-1b4d-4e8f-9a6b-2c5d8e1f0a3b", False),  # a request id
    ("7f3c9a2e-1b4d-4e8", False),  # the start of one (`hoox signal show`, `orders cancel`, `wallet tx`)
    ("7f3c9a2e-1b4d-4e8f-9a6b-2c5d8e", False),
    ("7f3c9a2e1b4d4e8f9a6b2c5d8e1f0a3b", True),  # hex: a key's shape, not a request id's
    ("2026-12-07T11:48:58.123Z", False),  # a time
    # exchanges' keys of every shape: Bybit's and MEXC's 18, Binance's 64 alphanumerics, a Telegram token
    ("wKuYtkeNdC2PaMKjoy", True),
    ("mx0vglBqh6abc123Xy", True),
    ("vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A", True),
    ("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", True),
    ("123456789:AAHdqTcv-CH1vGWJx_fSeofSAs0K5-PALDsaw", True),  # its secret cut by `-` and `_`
    ("0123456789abcdef0123", True),  # hex
    ("1000000ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF", True),  # very long, one word
    # what users type where a name belongs: a symbol, a KV key, a worker, a strategy, a path, a host
    ("1000000BABYDOGEUSDT", False),
    ("1000000babydogeusdt", False),  # lowercased by a message
    ("exchanges:paper:price:1000000MOGUSDT", False),
    ("trade:trailing_stop_percent:1000000BABYDOGEUSDT", False),
    ("web3-wallet-worker-that-does-not-exist", False),
    ("btc_mean_reversion_breakout_4h_v2_strategy", False),
    ("/tmp/nope/very/long/path/to/some-email-message-file-2026.eml", False),
    ("my-very-long-subdomain-name-for-hoox-edge.example.invalid", False),
    ("tv-1000000BABYDOGEUSDT-long-20260105T090000Z", False),  # an idempotency key with a compact time
    ("report-2026-01-05T090000Z.pdf", False),
])  # fmt: skip
def test_names_request_ids_and_times_do_not_look_like_credentials(word, credential):
    assert redact.looks_like_credential(word) is credential
    assert (word in redact.mask_key_like(f"worker {word} is not running")) is not credential


def test_a_cut_preview_of_a_symbol_or_a_request_id_is_quoted_back():
    # the edge quotes the first 16 characters and an ellipsis, then masks what looks like a key in its errors:
    # the ellipsis is its own mark, not part of the word the user typed
    said = f"No signal has a request id that starts with {redact.preview('1000000BABYDOGEUSDT')}."
    assert redact.mask_key_like(said) == said == "No signal has a request id that starts with '1000000BABYDOGEU…'."
    said = f"No wallet transaction has request id {redact.preview('7f3c9a2e-1b4d-4e8f-9a6b-2c5d8e1f0a3b')}."
    assert redact.mask_key_like(said) == said == "No wallet transaction has request id '7f3c9a2e-1b4d-4e…'."


def test_preview_never_quotes_a_known_secret():
    assert redact.preview("hunter2-is-mine", secrets=["hunter2"]) == "a 15-character value (not shown)"


def test_field_names_are_cut_and_masked():
    assert redact.field_name("levrage") == "levrage"
    assert redact.field_name("word " * 20) == ("word " * 8) + "…"
    assert redact.field_name(CREDENTIAL).startswith("***(")
    assert redact.field_name("hunter2", secrets=["hunter2"]).startswith("***(")


def test_body_preview_masks_passkeys_credentials_and_secrets():
    text = redact.body_preview(f'apiKey="abc" long {CREDENTIAL} and s3cretvalue'.encode(), ["s3cretvalue"])
    assert "abc" not in text and CREDENTIAL not in text and "s3cretvalue" not in text and "long" in text


# --------------------------------------------------------------------------- snippets
@pytest.mark.parametrize("value", [{"a": "x" * 10_000}, ['"' * 5000], {"k": "é" * 5000}, list(range(3000))])
def test_cap_json_keeps_json_under_the_limit(value):
    text = redact.cap_json(value)
    assert len(text.encode()) <= redact.SNIPPET_BYTES
    doc = json.loads(text)
    assert doc["truncated"] is True and doc["bytes"] > redact.SNIPPET_BYTES


def test_small_values_are_stored_as_they_are():
    assert json.loads(redact.cap_json({"a": 1})) == {"a": 1}
    assert redact.cap_text("short") == "short"
    assert len(redact.cap_text("é" * 5000).encode()) <= redact.SNIPPET_BYTES


# --------------------------------------------------------------------------- secrets in requests
def test_secret_fields_finds_names_and_values_at_any_depth_except_the_passkey():
    secret, short = "S" * 20 + "cret", "4242"
    body = {"apiKey": secret, "a": secret, "b": {"c": [f"x{secret}y"]}, secret: 1, "d": "404242", "e": short}
    found = {d["field"] for d in redact.secret_fields(body, [secret, short], allowed={"apiKey": secret})}
    assert "apiKey" not in found and {"a", "b.c[0]", "e"} <= found
    assert any(f.startswith("***(") for f in found)  # the name, masked
    assert "d" not in found  # a short secret counts only when the whole value equals it


def test_stored_payload_drops_the_passkey_and_masks_names_and_secrets():
    out = redact.stored_payload({"APIKEY": "k", "symbol": "BTCsecretvalue", CREDENTIAL: 1, "token": "t"},
                                ["secretvalue"], drop=["apiKey"])
    assert "APIKEY" not in out and out["symbol"] == "BTC***" and out["token"] == "***"
    assert CREDENTIAL not in json.dumps(out)


def test_redact_masks_a_secret_in_a_text_exactly_its_length_and_leaves_shorter_texts_alone():
    short, long_ = "4242", "L" * 30
    value = {"a": short, "b": "424", long_: ["x" + long_, 7, None, ("4242!", 1.5)], "c": {"4242": True}}
    assert redact.redact(value, [long_, short, "abc"]) == {  # "abc" is too short to be a secret
        "a": "***", "b": "424", "***": ["x***", 7, None, ["***!", 1.5]], "c": {"***": True}}
    assert redact.redact(value, []) == {**value, long_: ["x" + long_, 7, None, ["4242!", 1.5]]}


def test_an_envs_secret_values_follow_its_bindings_changed_in_place():
    from hoox_edge.ports import Env

    workspace = ["w" * 12]
    env = Env({"A_KEY": "a" * 12, "PLAIN": "not a secret"}, worker="w", secret_names=["A_KEY", "B_KEY"],
              also_secret=lambda: workspace)
    assert sorted(env.secret_values()) == ["a" * 12, "w" * 12]
    env.__dict__["_bindings"]["B_KEY"] = "b" * 12  # the local runtime updates secrets in place
    env.__dict__["_bindings"]["A_KEY"] = "c" * 12
    workspace.append("v" * 12)
    assert sorted(env.secret_values()) == ["b" * 12, "c" * 12, "v" * 12, "w" * 12]
    del env.__dict__["_bindings"]["B_KEY"]
    workspace.clear()
    assert env.secret_values() == ["c" * 12]


# --------------------------------------------------------------------------- client address
def _request(peer: str, headers: dict[str, str] | list[tuple[str, str]]) -> Request:
    pairs = headers.items() if isinstance(headers, dict) else headers
    return Request({"type": "http", "client": (peer, 5000),
                    "headers": [(k.lower().encode(), v.encode()) for k, v in pairs]})


@pytest.mark.parametrize(("peer", "headers", "expected"), [
    ("127.0.0.1", {"X-Forwarded-For": "52.89.214.238"}, "127.0.0.1"),  # loopback is not a trusted proxy
    ("10.0.0.5", {"X-Forwarded-For": "52.89.214.238"}, "52.89.214.238"),
    ("10.0.0.5", {"X-Forwarded-For": "1.1.1.1, 52.89.214.238, 10.0.0.9"}, "52.89.214.238"),
    ("10.0.0.5", {"X-Forwarded-For": "10.0.0.7, 10.0.0.9"}, "10.0.0.7"),  # all trusted: the first hop
    ("10.0.0.5", {"X-Forwarded-For": "52.89.214.238:4711"}, "52.89.214.238"),
    ("10.0.0.5", {"Forwarded": 'for="[2001:db8::1]:80";proto=https, for=10.0.0.9'}, "2001:db8::1"),
    ("10.0.0.5", {"Forwarded": "for=unknown"}, None),
    ("10.0.0.5", {"X-Forwarded-For": "nonsense"}, None),
    ("10.0.0.5", {"X-Forwarded-For": "52.89.214.238", "Forwarded": "for=52.89.214.238"}, "52.89.214.238"),
    ("10.0.0.5", {"X-Forwarded-For": "52.89.214.238", "Forwarded": "for=6.6.6.6"}, None),
    ("10.0.0.5", [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "52.89.214.238")], "52.89.214.238"),
    ("::ffff:10.0.0.5", {"X-Forwarded-For": "52.89.214.238"}, "52.89.214.238"),
    ("10.0.0.5", {}, "10.0.0.5"),
])  # fmt: skip
def test_client_ip_believes_forwarding_headers_only_from_trusted_proxies(peer, headers, expected):
    assert client_ip(_request(peer, headers), ["10.0.0.0/8"]) == expected


def test_without_trusted_proxies_the_peer_is_the_client():
    assert client_ip(_request("127.0.0.1", {"X-Forwarded-For": "52.89.214.238"})) == "127.0.0.1"


def test_ip_allowed():
    assert ip_allowed("52.89.214.238", ["52.89.214.238"])
    assert ip_allowed("::ffff:10.1.2.3", ["10.0.0.0/8"])
    assert not ip_allowed("52.89.214.239", ["52.89.214.238", "not-a-network"])
    assert not ip_allowed(None, ["0.0.0.0/0"])


# --------------------------------------------------------------------------- a redacted document's JSON text
_ENCODERS = (json.JSONEncoder(default=str, separators=(",", ":")), json.JSONEncoder(default=str, ensure_ascii=False))


@pytest.mark.parametrize("secrets", [
    ["k3y-0f-th3-d3sk-12345"],
    ['quo"ted-secret-1234', "k3y-0f-th3-d3sk-12345"],  # a secret JSON escapes: the walk always
    ["sécret-unicode-1234"],
    [],
])
@pytest.mark.parametrize("doc", [
    {"requestId": "r-1", "order": {"qty": 0.5, "price": None, "tags": ("a", 1)}, "ok": True},
    {"note": "holds k3y-0f-th3-d3sk-12345 inside", "n": [1, {"deep": "k3y-0f-th3-d3sk-12345"}]},
    {"k3y-0f-th3-d3sk-12345": 1},  # a secret as a field name
    {"sign": "abc", "design": "kept? no: a name ending in sign is masked", "tokenIn": "0xabc"},
    {"apiKey": "", "password": None, "x": {"Authorization": "Bearer 1"}},
    {"ApiKEY": "x", "Api_Key": "y", "PassPhrase": "z", "MNEMONIC": "w"},
    {"esc": 'a "quoted" \\ text', "uni": "naïve", "ſecret": "long s", "\u212apiKey": "kelvin"},
    {"quo": 'quo"ted-secret-1234', "u": "sécret-unicode-1234", 5: "an int key"},
    {"when": object.__new__(type("Stamp", (), {"__str__": lambda self: "k3y-0f-th3-d3sk-12345"}))},
])
def test_redact_json_is_the_text_of_the_redacted_document(doc: dict[object, object], secrets: list[str]) -> None:
    # The text is searched instead of walking the document: the same text either way.
    for encoder in _ENCODERS:
        assert redact.redact_json(doc, secrets, encoder=encoder) == encoder.encode(redact.redact(doc, secrets))
