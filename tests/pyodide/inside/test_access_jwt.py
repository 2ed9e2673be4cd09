"""Inside Pyodide: the gateway's Access check (hoox_edge.shared.access) verifies real RS256 tokens in
pure Python, reading the team's keys over the runtime's `fetch` from the loopback JWKS that
tests/test_pyodide_edge.py serves (tokens minted there with `cryptography`, handed in os.environ)."""

from __future__ import annotations

import os

import pytest
from hoox_edge.shared import access
from hoox_edge.shared.errors import ApiError

ORIGIN = os.environ["HOOX_ACCESS_ORIGIN"]
AUD = os.environ["HOOX_ACCESS_AUD"]


async def test_a_real_token_passes_and_forged_expired_or_foreign_ones_do_not() -> None:
    access.clear_cache()
    claims = await access.verify(os.environ["HOOX_ACCESS_GOOD"], ORIGIN, AUD)
    assert claims["iss"] == ORIGIN and AUD in claims["aud"]
    for name, rule in (("HOOX_ACCESS_FORGED", "signature does not verify"), ("HOOX_ACCESS_EXPIRED", "expired"),
                       ("HOOX_ACCESS_WRONG_AUD", "audience")):
        with pytest.raises(ApiError) as info:
            await access.verify(os.environ[name], ORIGIN, AUD)
        assert info.value.status == 403 and rule in info.value.message, name
