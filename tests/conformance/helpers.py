"""Helpers shared by the conformance tests."""

from __future__ import annotations

from typing import Any

import pytest


def need(adapters: Any, capability: str) -> None:
    if capability not in adapters.capabilities:
        pytest.skip(f"the {adapters.name} adapters cannot do {capability!r}")
