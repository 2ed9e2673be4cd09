"""Helpers shared by the conformance tests."""

from __future__ import annotations

from typing import Any

import pytest


def need(adapters: Any, capability: str) -> None:
    if capability not in adapters.capabilities:
        # No silent skips: an adapter set without a capability must be proven another way, not passed over.
        pytest.fail(f"the {adapters.name} adapters cannot do {capability!r}: test that behaviour another way")
