"""Secrets out of anything the cockpit shows or writes (error panels, crash report).

Known values (the workspace's .dev.vars, the operator token) are masked wherever they appear — the
CLI's list (`hoox_cli.common.remember_secrets`), so the cockpit and the CLI mask the same values —
and so is anything that looks like a credential (`Bearer ...`, `token=...`, `api_key: ...`).
"""

from __future__ import annotations

import re

from hoox_cli.common import MASK, scrub

_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{4,}"),
    re.compile(r"(?i)((?:api[_-]?key|secret|token|password|passwd|authorization|auth[_-]?key)[\"']?\s*[:=]\s*[\"']?)"
               r"[^\s\"',;&]{4,}"),
]


def redact(text: str) -> str:
    text = scrub(text)
    for pat in _PATTERNS:
        text = pat.sub(lambda m: m.group(1) + MASK, text)
    return text
