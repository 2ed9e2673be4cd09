"""The one redactor of the CLI, the client and the cockpit: secrets out of anything they print,
show or write.

- `remember_secrets` collects values that must never be shown (the workspace's .dev.vars, the
  operator token); `scrub` replaces them, at any depth of a JSON-like value (keys too), by the mask.
- `redact` is for free text shown on a screen or written to a crash report (error messages,
  tracebacks, process output): `scrub`, and anything that looks like a credential assignment
  (`Bearer ...`, `token=...`, `api_key: ...`, `"secret": "..."`) masked by its shape.
- `redact_config` is hoox.toml as it may be shown (the Cloudflare account id masked).

The mask, the shortest value treated as a secret and the names of sensitive fields are the edge's
(`hoox_edge.shared.redact`), so the edge and the front ends mask the same things.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# The edge's mask (hoox_edge.shared.redact.MASK; tests/test_redact.py holds them equal), not imported
# from there: the CLI's output module needs it and `hoox --help` imports nothing of the edge.
MASK = "***"
_known_secrets: list[str] = []

# The names of the edge's sensitive fields (hoox_edge.shared.redact), plus passwd and auth key, as
# they appear in text: `name=value`, `name: value`, `"name": "value"`.
_NAMES = r"api[_-]?key|secret|token|signature|password|passwd|passphrase|mnemonic|authorization|auth[_-]?key"
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{4,}"),
    re.compile(rf"(?i)((?:{_NAMES})[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]{{4,}}"),
]


def remember_secrets(values: Iterable[str]) -> None:
    """Values that must never be printed (the workspace's .dev.vars, the operator token)."""
    from hoox_edge.shared.redact import MIN_SECRET_CHARS

    for v in values:
        if v and len(v) >= MIN_SECRET_CHARS and v not in _known_secrets:
            _known_secrets.append(v)
    _known_secrets.sort(key=len, reverse=True)


def scrub(value: Any, also: Iterable[str] = ()) -> Any:
    """A copy of `value` with every remembered secret value, and each of `also`, replaced by the mask."""
    extra = [s for s in also if s]
    known = sorted({*_known_secrets, *extra}, key=len, reverse=True) if extra else _known_secrets
    return _scrub(value, known) if known else value


def _scrub(value: Any, known: list[str]) -> Any:
    if isinstance(value, str):
        for s in known:
            if s in value:
                value = value.replace(s, MASK)
        return value
    if isinstance(value, dict):
        return {_scrub(k, known): _scrub(v, known) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v, known) for v in value]
    return value


def redact(text: str, also: Iterable[str] = ()) -> str:
    """Free text as it may be shown: known secrets and credential-looking assignments masked."""
    text = scrub(text, also)
    for pat in _PATTERNS:
        text = pat.sub(lambda m: m.group(1) + MASK, text)
    return text


def redact_config(doc: Any) -> dict[str, Any]:
    """hoox.toml (a tomlkit document) as plain data that may be shown."""
    data = doc.unwrap()
    cf = data.get("cloudflare")
    if isinstance(cf, dict) and cf.get("account_id"):
        cf["account_id"] = MASK  # an account id is an identifier worth keeping out of screenshots and logs
    return data
