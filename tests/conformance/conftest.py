"""The `adapters` fixture: every conformance test runs once per adapter set in FACTORIES."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.adapters import FACTORIES


@pytest.fixture(params=sorted(FACTORIES))
def adapters(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    made = FACTORIES[request.param](tmp_path / "state")
    yield made
    current = made
    while current is not None:  # a test may have reopened (restarted) them
        current.close()
        current = getattr(current, "successor", None)
