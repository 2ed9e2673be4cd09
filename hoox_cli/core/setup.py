"""The setup wizard's model, the one `hoox init` and the cockpit's wizard (F8) both drive: seven steps,
their fields and the one rule of each field, a resumable state file, and apply. No front end in here:
the CLI asks its questions over it (hoox_cli/setup_prompts.py), the cockpit shows it as a form
(hoox_tui/views/setup.py).

Each step is applied when the user completes it (not all at the end), so an interrupted setup
loses nothing that was confirmed:
- config fields go into the workspace's hoox.toml (tomlkit: comments and order survive; atomic write);
- secret fields go into .dev.vars through `Workspace.set_secret` (never into the state file);
- KV fields (strategy defaults) go to the edge's CONFIG_KV through the operator API client, which
  checks them against the KV manifest again.

The state file (`.hoox/setup-wizard.json`, inside the gitignored .hoox/) holds the current step,
the steps done, the non-secret values entered and the *names* of what was written. Finishing the
kickoff step removes it. A state file of the CLI's former wizard (`.install-wizard-state.json` in the
workspace folder) is read when there is no other, so progress made with an older hoox is kept.
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
LEGACY_STATE_FILE = ".install-wizard-state.json"  # the CLI wizard's, before there was one model
BOOL_CHOICES = ("true", "false")

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
    fix: str = ""  # where to find a right value, appended to every error of the field
    casefold: bool = False  # taken (and stored) in lower case

    @property
    def secret(self) -> bool:
        return self.target == "secret"

    @property
    def boolean(self) -> bool:
        return self.choices == BOOL_CHOICES

    def clean(self, value: str) -> str:
        v = value.strip()
        return v.lower() if self.casefold else v


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    intro: str
    fields: tuple[Field, ...] = ()


def _secret(name: str, label: str, *, pair: str | None = None, help: str = "", min_length: int = 8,
            pattern: str | None = None, hint: str = "", fix: str = "") -> Field:
    return Field(name=name, label=label, target="secret", key=name, help=help, min_length=min_length,
                 pattern=pattern, pattern_hint=hint, pair=pair, fix=fix)


def _exchange(name: str, label: str, pair: str, site: str) -> Field:
    return _secret(name, label, pair=pair, fix=f"Copy it whole from {site} → API management.")


def _ai(name: str, label: str, site: str) -> Field:
    return _secret(name, label, fix=f"Copy it whole from {site}.")


def _worker_fields() -> tuple[Field, ...]:
    """One on/off field per worker; the gateway (hoox) receives every signal and is always on."""
    from hoox_edge import catalog

    return tuple(Field(f"workers.{w.name}.enabled", w.name, "config", f"workers.{w.name}.enabled",
                       help=w.description, choices=BOOL_CHOICES) for w in catalog.WORKERS if w.name != "hoox")


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
                  pattern=r"[0-9a-f]{32}", pattern_hint="32 hexadecimal characters", casefold=True,
                  fix="Copy it from the dashboard: Workers & Pages → Account ID."),
            _secret("CLOUDFLARE_API_TOKEN", "API token", min_length=20, pattern=r"[A-Za-z0-9_-]+",
                    hint="letters, digits, - and _ only (no spaces)",
                    help="A token with Workers Scripts, KV, D1, Queues and R2 edit rights.",
                    fix="A Cloudflare API token is 20 or more characters of letters, digits, - and _: create one "
                        "under My Profile → API Tokens and paste it whole."),
            Field("cloudflare.subdomain", "workers.dev subdomain", "config", "cloudflare.subdomain",
                  help="Your account's workers.dev subdomain (the part before .workers.dev).",
                  pattern=r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?",
                  pattern_hint="lower-case letters, digits and inner hyphens, at most 63 characters",
                  fix="It is the part before .workers.dev in Workers & Pages → Overview."),
        ),
    ),
    Step(
        "workers",
        "Workers",
        "The workers to run and deploy. The gateway (hoox) receives every signal and always runs. A change "
        "takes effect when the local edge (re)starts.",
        _worker_fields(),
    ),
    Step(
        "exchanges",
        "Exchanges",
        "API keys of the exchanges to trade on. A new workspace trades on the paper exchange whatever is "
        "set here; keys matter once trade:mode is live.",
        (
            *(f for e in exchange_catalog.EXCHANGES for f in (
                _exchange(e.secrets[0], f"{e.title} API key", e.secrets[1], e.site),
                _exchange(e.secrets[1], f"{e.title} API secret", e.secrets[0], e.site))),
        ),
    ),
    Step(
        "ai",
        "AI keys",
        "Keys of the AI providers the risk manager (agent-worker) may consult. All optional.",
        (
            _ai("OPENAI_API_KEY", "OpenAI API key", "platform.openai.com → API keys"),
            _ai("ANTHROPIC_API_KEY", "Anthropic API key", "console.anthropic.com → API keys"),
            _ai("GOOGLE_AI_API_KEY", "Google AI (Gemini) API key", "aistudio.google.com → Get API key"),
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
                    pattern=r"\d+:[A-Za-z0-9_-]{30,}", hint="digits, a colon, then the token (123456:ABC...)",
                    fix="@BotFather sends it when you create the bot (/newbot); paste it whole."),
            _secret("TELEGRAM_CHAT_ID", "Chat ID", pair="TELEGRAM_BOT_TOKEN", min_length=0,
                    pattern=r"-?\d+|@[A-Za-z0-9_]{5,}", hint="a numeric chat id or @channelname",
                    fix="Send the bot a message, then read chat.id from https://api.telegram.org/bot<TOKEN>/getUpdates."),
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


def field_named(name: str) -> Field:
    """The field `name` (a secret's field is named after the secret) of any step."""
    for s in STEPS:
        for f in s.fields:
            if f.name == name:
                return f
    raise KeyError(name)


# ----------------------------------------------------------------------------- validation
def check(f: Field, value: str) -> str | None:
    """What is wrong with `value` for `f` by the field's one rule (None: fine; empty means "keep as is")."""
    v = f.clean(value)
    if not v:
        return None
    problem: str | None = None
    if f.secret and not _NO_SPACE.match(v):
        problem = "must not contain spaces or line breaks"
    elif f.min_length and len(v) < f.min_length:
        problem = f"looks too short (at least {f.min_length} characters)"
    elif f.pattern and not re.fullmatch(f.pattern, v):
        problem = f"expected {f.pattern_hint or 'a different format'}"
    elif f.choices and f.target != "kv" and v not in f.choices:  # KV: coerce says
        problem = "expected one of " + ", ".join(c or "(none)" for c in f.choices)
    elif f.target == "kv":
        try:
            settings.coerce(f.key, v)
        except settings.SettingError as exc:
            problem = exc.message
    if problem is None:
        return None
    return f"{problem}. {f.fix}" if f.fix else problem


def validate(st: Step, values: dict[str, str]) -> dict[str, str]:
    """Field name → what is wrong, for the values the user typed (empty means "keep as is")."""
    errors: dict[str, str] = {}
    given = {f.name: f.clean(values.get(f.name, "")) for f in st.fields}
    for f in st.fields:
        if not given[f.name]:
            if f.pair and given.get(f.pair):
                errors[f.name] = f"needed together with {field_named(f.pair).label}"
            continue
        problem = check(f, given[f.name])
        if problem is not None:
            errors[f.name] = problem
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

    @classmethod
    def from_legacy(cls, data: Any) -> WizardState:
        """The CLI's former state ({"version": 1, "completed": [its step names], ...}) in this model's steps."""
        completed = data.get("completed", []) if isinstance(data, dict) else []
        if not isinstance(completed, list):
            completed = []
        # its toolchain and database steps are done by every `hoox init` run; its secrets step is
        # this model's exchanges, AI keys and Telegram steps
        done = {"cloudflare": "cloudflare" in completed, "workers": "workers" in completed}
        done |= dict.fromkeys(("exchanges", "ai", "telegram"), "secrets" in completed)
        st = cls(done=[s for s in STEP_IDS if done.get(s)])
        st.step = next((i for i, s in enumerate(STEP_IDS) if s not in st.done and s != "kickoff"),
                       len(STEPS) - 1)
        return st


@dataclass
class Applied:
    config: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    kv: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return [*self.config, *self.secrets, *self.kv]


def ensure_telegram_webhook_secret(ws: Workspace) -> bool:
    """With a bot token set, the secret Telegram echoes on every webhook call: random, never typed by anyone.
    True when it was generated now."""
    if ws.secrets().get("TELEGRAM_WEBHOOK_SECRET"):
        return False
    import secrets as _secrets

    ws.set_secret("TELEGRAM_WEBHOOK_SECRET", _secrets.token_urlsafe(32))
    return True


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

    @property
    def legacy_path(self) -> Path:
        return self.ws.root / LEGACY_STATE_FILE

    def _load(self) -> WizardState:
        self._resumed = False
        for path, parse in ((self.state_path, WizardState.from_json), (self.legacy_path, WizardState.from_legacy)):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            self._resumed = True
            return parse(data)
        return WizardState()

    def save(self) -> None:
        self.ws.hoox_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        tmp.write_text(json.dumps(self.state.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.state_path)
        self.legacy_path.unlink(missing_ok=True)  # its progress is in the state file now

    def forget(self) -> None:
        """Start over: the saved progress goes (what was written stays written)."""
        self.state_path.unlink(missing_ok=True)
        self.legacy_path.unlink(missing_ok=True)
        self.state = WizardState()
        self._resumed = False

    def finish(self) -> None:
        """Setup done: the state file goes (as the seeds' wizard cleans up after its last phase)."""
        self.state_path.unlink(missing_ok=True)
        self.legacy_path.unlink(missing_ok=True)
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
            if f.boolean and node is None and f.key.startswith("workers."):
                return str(f.label in self.ws.enabled_workers()).lower()  # the worker's default
            if isinstance(node, bool):
                return str(node).lower()
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
        given = {f.name: f.clean(values.get(f.name, "")) for f in st.fields}
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
                for depth, part in enumerate(parents):
                    if part not in node:
                        # [workers.NAME] tables live under a super table, as in a new workspace's hoox.toml
                        node[part] = tomlkit.table(is_super_table=depth == 0 and len(parents) > 1)
                    node = node[part]
                node[leaf] = given[f.name] == "true" if f.boolean else given[f.name]
                applied.config.append(f.key)
            self.ws.save_config(doc)
        for f in chosen:
            if f.secret:
                self.ws.set_secret(f.key, given[f.name])
                applied.secrets.append(f.key)
        if "TELEGRAM_BOT_TOKEN" in applied.secrets and ensure_telegram_webhook_secret(self.ws):
            applied.secrets.append("TELEGRAM_WEBHOOK_SECRET")
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
