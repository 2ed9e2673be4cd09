"""The setup wizard's model: six steps, their fields and checks, a resumable state file, and apply.

Each step is applied when the user completes it (not all at the end), so an interrupted setup
loses nothing that was confirmed:
- config fields go into the workspace's hoox.toml (tomlkit: comments and order survive; atomic write);
- secret fields go into .dev.vars through `Workspace.set_secret` (never into the state file);
- KV fields (strategy defaults) go to the edge's CONFIG_KV through the operator API client, which
  checks them against the KV manifest again.

The state file (`.hoox/setup-wizard.json`, inside the gitignored .hoox/) holds the current step,
the steps done, the non-secret values entered and the *names* of what was written. Finishing the
kickoff step removes it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hoox_edge import exchange_catalog
from hoox_edge.shared import settings

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

    from hoox_cli.core.client import AsyncHooxClient

STATE_FILE = "setup-wizard.json"
STATE_VERSION = 1

Target = Literal["config", "secret", "kv"]

_NO_SPACE = re.compile(r"^\S+$")


@dataclass(frozen=True)
class Field:
    name: str  # unique id of the field across all steps
    label: str
    target: Target
    key: str  # dotted hoox.toml path, secret NAME, or KV key
    help: str = ""
    pattern: str | None = None  # full-match regex the value must satisfy
    pattern_hint: str = ""  # what the pattern means, for the error message
    min_length: int = 0
    choices: tuple[str, ...] = ()
    pair: str | None = None  # another field that must be given together with this one

    @property
    def secret(self) -> bool:
        return self.target == "secret"


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    intro: str
    fields: tuple[Field, ...] = ()


def _secret(name: str, label: str, *, pair: str | None = None, help: str = "", min_length: int = 8,
            pattern: str | None = None, hint: str = "") -> Field:
    return Field(name=name, label=label, target="secret", key=name, help=help, min_length=min_length,
                 pattern=pattern, pattern_hint=hint, pair=pair)


def _kv(key: str, label: str) -> Field:
    s = settings.lookup(key)
    assert s is not None, key
    return Field(name=key, label=label, target="kv", key=key, help=s.description, choices=s.choices)


STEPS: tuple[Step, ...] = (
    Step(
        "cloudflare",
        "Cloudflare",
        "Only needed to deploy to Cloudflare; the local edge runs without it. Leave a field empty to keep "
        "what is there, or skip the step.",
        (
            Field("cloudflare.account_id", "Account ID", "config", "cloudflare.account_id",
                  help="32 hexadecimal characters, on the Workers overview page of the dashboard.",
                  pattern=r"[0-9a-f]{32}", pattern_hint="32 lower-case hexadecimal characters"),
            _secret("CLOUDFLARE_API_TOKEN", "API token", min_length=20, pattern=r"[A-Za-z0-9_-]+",
                    hint="letters, digits, - and _ only",
                    help="A token with Workers Scripts, KV, D1, Queues and R2 edit rights."),
            Field("cloudflare.subdomain", "workers.dev subdomain", "config", "cloudflare.subdomain",
                  help="Your account's workers.dev subdomain (the part before .workers.dev).",
                  pattern=r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?",
                  pattern_hint="lower-case letters, digits and inner hyphens, at most 63 characters"),
        ),
    ),
    Step(
        "exchanges",
        "Exchanges",
        "API keys of the exchanges to trade on. A new workspace trades on the paper exchange whatever is "
        "set here; keys matter once trade:mode is live.",
        (
            *(f for e in exchange_catalog.EXCHANGES for f in (
                _secret(e.secrets[0], f"{e.title} API key", pair=e.secrets[1]),
                _secret(e.secrets[1], f"{e.title} API secret", pair=e.secrets[0]))),
        ),
    ),
    Step(
        "ai",
        "AI keys",
        "Keys of the AI providers the risk manager (agent-worker) may consult. All optional.",
        (
            _secret("OPENAI_API_KEY", "OpenAI API key"),
            _secret("ANTHROPIC_API_KEY", "Anthropic API key"),
            _secret("GOOGLE_AI_API_KEY", "Google AI (Gemini) API key"),
        ),
    ),
    Step(
        "strategy",
        "Strategy defaults",
        "Runtime settings in the edge's config KV, checked against the KV manifest. Empty keeps the current value.",
        (
            _kv(settings.DEFAULT_ROUTING, "Default exchange"),
            _kv(settings.MARGIN_MODE, "Margin mode"),
            _kv(settings.MAX_LEVERAGE, "Maximum leverage"),
            _kv(settings.MAX_DAILY_DRAWDOWN, "Daily drawdown kill switch (%)"),
            _kv(settings.RATE_LIMIT, "Signals per minute"),
        ),
    ),
    Step(
        "telegram",
        "Telegram",
        "A bot token (from @BotFather) and the chat that receives alerts. Without them alerts go to a local outbox.",
        (
            _secret("TELEGRAM_BOT_TOKEN", "Bot token", pair="TELEGRAM_CHAT_ID", min_length=0,
                    pattern=r"\d+:[A-Za-z0-9_-]{30,}", hint="digits, a colon, then the token (123456:ABC...)"),
            _secret("TELEGRAM_CHAT_ID", "Chat ID", pair="TELEGRAM_BOT_TOKEN", min_length=0,
                    pattern=r"-?\d+|@[A-Za-z0-9_]{5,}", hint="a numeric chat id or @channelname"),
        ),
    ),
    Step(
        "kickoff",
        "Kickoff",
        "What the wizard wrote (names only). Start the local edge to use it.",
    ),
)

STEP_IDS = tuple(s.id for s in STEPS)


def step(step_id: str) -> Step:
    for s in STEPS:
        if s.id == step_id:
            return s
    raise KeyError(step_id)


# ----------------------------------------------------------------------------- validation
def validate(st: Step, values: dict[str, str]) -> dict[str, str]:
    """Field name → what is wrong, for the values the user typed (empty means "keep as is")."""
    errors: dict[str, str] = {}
    given = {f.name: values.get(f.name, "").strip() for f in st.fields}
    for f in st.fields:
        v = given[f.name]
        if not v:
            if f.pair and given.get(f.pair):
                other = next(x for x in st.fields if x.name == f.pair)
                errors[f.name] = f"needed together with {other.label}"
            continue
        if f.secret and not _NO_SPACE.match(v):
            errors[f.name] = "must not contain spaces or line breaks"
        elif f.min_length and len(v) < f.min_length:
            errors[f.name] = f"looks too short (at least {f.min_length} characters)"
        elif f.pattern and not re.fullmatch(f.pattern, v):
            errors[f.name] = f"expected {f.pattern_hint or 'a different format'}"
        elif f.target == "kv":
            try:
                settings.coerce(f.key, v)
            except settings.SettingError as exc:
                errors[f.name] = exc.message
    return errors


# ----------------------------------------------------------------------------- state
@dataclass
class WizardState:
    step: int = 0
    done: list[str] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)  # non-secret values only
    written: dict[str, list[str]] = field(default_factory=lambda: {"config": [], "secrets": [], "kv": []})

    def to_json(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "step": STEP_IDS[self.step], "done": self.done, "values": self.values,
                "written": self.written}

    @classmethod
    def from_json(cls, data: Any) -> WizardState:
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return cls()
        st = cls()
        if data.get("step") in STEP_IDS:
            st.step = STEP_IDS.index(data["step"])
        st.done = [d for d in data.get("done", []) if d in STEP_IDS]
        secret_names = {f.name for s in STEPS for f in s.fields if f.secret}
        values = data.get("values", {})
        if isinstance(values, dict):
            st.values = {str(k): str(v) for k, v in values.items() if k not in secret_names}
        written = data.get("written", {})
        for kind in ("config", "secrets", "kv"):
            names = written.get(kind, []) if isinstance(written, dict) else []
            st.written[kind] = [str(n) for n in names] if isinstance(names, list) else []
        return st


@dataclass
class Applied:
    config: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    kv: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return [*self.config, *self.secrets, *self.kv]


class SetupError(Exception):
    """A step could not be applied; the message says why and what to do."""


class SetupWizard:
    """The wizard over one workspace: where it is, what it wrote, and applying a step."""

    def __init__(self, ws: Workspace, client: AsyncHooxClient | None) -> None:
        self.ws = ws
        self.client = client
        self.state = self._load()

    # ---------------------------------------------------------------- state file
    @property
    def state_path(self) -> Path:
        return self.ws.hoox_dir / STATE_FILE

    @property
    def resumed(self) -> bool:
        return self._resumed

    def _load(self) -> WizardState:
        self._resumed = False
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return WizardState()
        self._resumed = True
        return WizardState.from_json(data)

    def save(self) -> None:
        self.ws.hoox_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        tmp.write_text(json.dumps(self.state.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.state_path)

    def finish(self) -> None:
        """Setup done: the state file goes (as the seeds' wizard cleans up after its last phase)."""
        self.state_path.unlink(missing_ok=True)
        self.state = WizardState(step=len(STEPS) - 1, done=list(STEP_IDS), written=self.state.written)

    # ---------------------------------------------------------------- navigation
    @property
    def current(self) -> Step:
        return STEPS[self.state.step]

    def go(self, index: int) -> None:
        self.state.step = max(0, min(index, len(STEPS) - 1))
        self.save()

    def skip(self) -> None:
        self.go(self.state.step + 1)

    def back(self) -> None:
        self.go(self.state.step - 1)

    def secret_is_set(self, name: str) -> bool:
        try:
            return bool(self.ws.secrets().get(name))
        except Exception:  # a malformed .dev.vars: the secrets command reports it
            return False

    def current_value(self, f: Field) -> str:
        """What to prefill a non-secret field with: what this wizard stored, else the workspace config."""
        if f.secret:
            return ""
        if f.name in self.state.values:
            return self.state.values[f.name]
        if f.target == "config" and self.ws.exists:
            node: Any = self.ws.config()
            for part in f.key.split("."):
                node = node.get(part) if hasattr(node, "get") else None
            return "" if node is None else str(node)
        return ""

    # ---------------------------------------------------------------- apply
    async def apply(self, values: dict[str, str]) -> Applied:
        """Validate and write the current step's values, then move to the next step.

        Raises SetupError (nothing of the step written) when a value is invalid or KV is unreachable.
        """
        st = self.current
        errors = validate(st, values)
        if errors:
            first = next(f for f in st.fields if f.name in errors)
            raise SetupError(f"{first.label}: {errors[first.name]}")
        given = {f.name: values.get(f.name, "").strip() for f in st.fields}
        chosen = [f for f in st.fields if given[f.name]]
        applied = Applied()
        kv_fields = [f for f in chosen if f.target == "kv"]
        if kv_fields and self.client is None:
            raise SetupError("Strategy defaults live in the edge's config KV, and no edge is connected. "
                             "Start the local edge (Service manager, F6) or skip this step.")
        # KV first: it is the step that can fail on the network, and then nothing else is written.
        for f in kv_fields:
            assert self.client is not None
            from hoox_cli.core.client import HooxError

            try:
                await self.client.kv_put(f.key, settings.coerce(f.key, given[f.name]))
            except HooxError as exc:
                raise SetupError(f"Could not store {f.key}: {exc}") from None
            applied.kv.append(f.key)
        config_fields = [f for f in chosen if f.target == "config"]
        if config_fields:
            import tomlkit

            doc = self.ws.config()
            for f in config_fields:
                *parents, leaf = f.key.split(".")
                node: Any = doc
                for part in parents:
                    if part not in node:
                        node[part] = tomlkit.table()
                    node = node[part]
                node[leaf] = given[f.name]
                applied.config.append(f.key)
            self.ws.save_config(doc)
        for f in chosen:
            if f.secret:
                self.ws.set_secret(f.key, given[f.name])
                applied.secrets.append(f.key)
        for f in chosen:
            if not f.secret:
                self.state.values[f.name] = given[f.name]
        for kind, names in (("config", applied.config), ("secrets", applied.secrets), ("kv", applied.kv)):
            self.state.written[kind] = sorted(set(self.state.written[kind]) | set(names))
        if st.id not in self.state.done:
            self.state.done.append(st.id)
        self.state.step = min(self.state.step + 1, len(STEPS) - 1)
        self.save()
        return applied
