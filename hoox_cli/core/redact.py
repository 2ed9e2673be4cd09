"""The one redactor of the CLI, the client and the cockpit: secrets out of anything they print,
show or write.

- `remember_secrets` collects values that must never be shown (the workspace's .dev.vars, the
  operator token); `scrub` replaces them, at any depth of a JSON-like value (keys too), by the mask.
- `redact` is for free text shown on a screen or written to a crash report (error messages,
  tracebacks, process output): `scrub`, and anything that looks like a credential assignment
  (`Bearer ...`, `token=...`, `api_key: ...`, `"secret": "..."`) masked by its shape.
- `redact_error` is an error as it may be shown, however early it came (a usage error, an argument a
  command checks itself): `redact`, with the workspace's secrets read first (a command reads them
  when it opens the workspace, which may be after the error) and every word of the command line that
  looks like a credential (the edge's rule, `hoox_edge.shared.redact.looks_like_credential`) masked;
  a name the user gave that ends like a sensitive field (a strategy `meme-token`) is not an assignment.
  The CLI's errors all pass through it (hoox_cli.output.report_error, hoox_cli.main's usage errors).
- `redact_config` is hoox.toml as it may be shown (the Cloudflare account id masked).

The mask, the shortest value treated as a secret and the names of sensitive fields are the edge's
(`hoox_edge.shared.redact`), so the edge and the front ends mask the same things.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
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
    re.compile(rf"(?i)((?P<name>{_NAMES})[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]{{4,}}"),
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


def redact(text: str, also: Iterable[str] = (), *, spare_words: bool = False, spare_names: Iterable[str] = ()) -> str:
    """Free text as it may be shown: known secrets and credential-looking assignments masked.
    `spare_words`: an assignment whose value is a lowercase word stays (hoox's own error messages
    put one after a name: `--cloudflare-api-token: looks too short`). `spare_names`: names the user gave
    (a strategy `meme-token`, a KV key): hoox's message quoting one ends it with a colon and goes on in its
    own words (`watchdog:expect:meme-token: hours.to must be a time`), not with a credential."""
    text = scrub(text, also)
    names = tuple(spare_names)

    def masked(m: re.Match[str]) -> str:
        if spare_words and _WORD_VALUE.fullmatch(m.group(0)[len(m.group(1)):]):
            return m.group(0)
        # `name: words`, hoox's form; `name=value` is an assignment whoever named it
        if names and m.groupdict().get("name") and "=" not in m.group(1) and text[:m.end("name")].endswith(names):
            return m.group(0)
        return m.group(1) + MASK

    for pat in _PATTERNS:
        text = pat.sub(masked, text)
    return text


_WORD_VALUE = re.compile(r"[a-z]+")


# The command line being run (hoox_cli.main and hoox_cli.quick remember it): an error quoting one of its
# words back masks it when it looks like a credential (a key pasted where a name or a number belongs).
_arguments: list[str] = []
# Credentials the CLI takes from its environment (hoox_cli.core.client.ClientConfig.secrets, deploy's token).
_ENV_SECRETS = ("HOOX_API_TOKEN", "HOOX_ACCESS_CLIENT_ID", "HOOX_ACCESS_CLIENT_SECRET", "CLOUDFLARE_API_TOKEN")
# The edge's words (hoox_edge.shared.redact._WORD): a credential is one long word. A URL's are cut at its
# separators too, so that a long host name is not taken for a credential.
_WORD = re.compile(r"[^\s\"'`,;&=(){}\[\]<>|]+")
_URL_WORD = re.compile(r"[^\s\"'`,;&=(){}\[\]<>|/:?#@.]+")
def remember_arguments(args: Iterable[str]) -> None:
    """The command line being run: `redact_error` masks its credential-looking words in any error."""
    _arguments[:] = list(args)


def remember_workspace_secrets() -> None:
    """The secrets of the workspace the command runs in (.dev.vars) and the credentials the environment
    gives the CLI, remembered now: an error may come before the command opens the workspace."""
    from hoox_edge.local.workspace import Workspace, WorkspaceError

    # unreadable or malformed: the command that reads it says so
    with contextlib.suppress(OSError, ValueError, WorkspaceError):
        remember_secrets(Workspace.at().secrets().values())
    remember_secrets(os.environ.get(name) or "" for name in _ENV_SECRETS)


def _names_a_path(value: str) -> bool:
    """Whether a word of the command line is a path (a file, or one in a folder that exists): a long one
    is not a credential, and an error about it must show it."""
    if "/" not in value and os.sep not in value:
        return False
    try:
        path = Path(value).expanduser()
        parent = path.parent
        return path.exists() or (parent != Path(parent.anchor) and parent.is_dir())
    except (OSError, ValueError, RuntimeError):
        return False


def _typed_credentials() -> re.Pattern[str] | None:
    """The words of the command line that look like credentials, as one case-blind pattern (an error may
    quote a value lowercased); None when there are none."""
    from hoox_edge.shared.redact import looks_like_credential

    words: set[str] = set()
    for value in _argument_values():
        if _names_a_path(value):
            continue
        found = (_URL_WORD if value.startswith(("http://", "https://")) else _WORD).findall(value)
        words.update(w for w in found if looks_like_credential(w))  # a request id or a time is not one
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)


def _typed_names() -> list[str]:
    """The words of the command line that end in a sensitive field's name (a strategy `meme-token`, a KV
    key `watchdog:expect:meme-token`) and hold no value of their own: names of the user's things."""
    return [value for value in _argument_values() if _NAME_WORD.fullmatch(value) and _ENDS_IN_NAME.search(value)]


def _argument_values() -> list[str]:
    """The command line's words as values: `--option=VALUE` gives VALUE."""
    return [arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else arg for arg in _arguments]


# A name as users type one (a strategy, a KV key, a worker), and one ending in a sensitive field's name.
_NAME_WORD = re.compile(r"[A-Za-z0-9._:-]+")
_ENDS_IN_NAME = re.compile(rf"(?i)(?:{_NAMES})$")


def redact_error(value: Any) -> Any:
    """An error's message or details (any depth, keys too) as they may be shown: the workspace's secrets
    (read now), credential-looking assignments and the command line's credential-looking words masked,
    unprintable characters (a lone surrogate, a control character) replaced."""
    from hoox_edge.shared.redact import printable

    remember_workspace_secrets()
    typed = _typed_credentials()
    names = _typed_names()

    def clean(v: Any) -> Any:
        if isinstance(v, str):
            text = redact(v, spare_words=True, spare_names=names)
            return printable(typed.sub(MASK, text) if typed is not None else text)
        if isinstance(v, dict):
            return {clean(k): clean(item) for k, item in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(item) for item in v]
        return v

    return clean(value)


def redact_config(doc: Any) -> dict[str, Any]:
    """hoox.toml (a tomlkit document) as plain data that may be shown."""
    data = doc.unwrap()
    cf = data.get("cloudflare")
    if isinstance(cf, dict) and cf.get("account_id"):
        cf["account_id"] = MASK  # an account id is an identifier worth keeping out of screenshots and logs
    return data
