"""Secrets out of anything the cockpit shows or writes (error panels, crash report).

Known values (the workspace's .dev.vars, the operator token) are masked wherever they appear, and
so is anything that looks like a credential (`Bearer ...`, `token=...`, `api_key: ...`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
_known: list[str] = []
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{4,}"),
    re.compile(r"(?i)((?:api[_-]?key|secret|token|password|passwd|authorization|auth[_-]?key)[\"']?\s*[:=]\s*[\"']?)"
               r"[^\s\"',;&]{4,}"),
]


def remember(values: Iterable[str | None]) -> None:
    for v in values:
        if v and len(v) >= 4 and v not in _known:
            _known.append(v)
    _known.sort(key=len, reverse=True)


def redact(text: str) -> str:
    for value in _known:
        if value in text:
            text = text.replace(value, MASK)
    for pat in _PATTERNS:
        text = pat.sub(lambda m: m.group(1) + MASK, text)
    return text
