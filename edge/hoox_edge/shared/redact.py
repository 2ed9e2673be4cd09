"""Strip secrets from anything that is about to be logged, stored or shown."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
_SENSITIVE = re.compile(r"(api[-_]?key|secret|token|signature|password|passphrase|mnemonic|sign$|authorization)",
                        re.IGNORECASE)


def is_sensitive_name(name: str) -> bool:
    return bool(_SENSITIVE.search(name))


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of `value` with sensitive fields masked and every known secret value replaced."""
    known = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
    return _walk(value, known)


def _walk(value: Any, known: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and is_sensitive_name(k) and v not in (None, "") else _walk(v, known))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_walk(v, known) for v in value]
    if isinstance(value, str):
        for s in known:
            if s in value:
                value = value.replace(s, MASK)
        return value
    return value
