"""The cockpit's remappable keys: which bindings a user may rebind, what keys are valid, and which
choices clash.

A binding is remappable when it has an id (Textual's keymap, `App.set_keymap`, works by id). The
user's choices are `UserSettings.keymap` (binding id -> "key,key"), saved with the other cockpit
settings, applied at start (`checked`) and live from the Settings view.

Clashes: two bindings clash when they share a key and one of them is global (the app's: it is active
in every view) or both belong to the same view. A key the cockpit keeps for itself (the command
palette, focus moves) clashes with any binding. Textual itself would let a clash through silently
(one of the two just never fires), which is why the cockpit refuses it before applying anything.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from textual.binding import Binding
from textual.keys import _character_to_key, key_to_character

GLOBAL = "global"
MODIFIERS = ("ctrl", "alt", "shift", "meta", "super", "hyper")
_NAMED = frozenset({"escape", "enter", "tab", "space", "backspace", "up", "down", "left", "right", "home", "end",
                    "insert", "delete", "pageup", "pagedown", *(f"f{i}" for i in range(1, 25))})
# Keys no user binding may take: Textual's own (palette, focus) and the terminal's interrupt.
RESERVED: dict[str, str] = {
    "ctrl+p": "the command palette",
    "tab": "moving the focus",
    "shift+tab": "moving the focus back",
    "ctrl+c": "copy / interrupt",
}


@dataclass(frozen=True)
class Bindable:
    id: str
    description: str
    default: str  # the keys of the code ("f1,ctrl+1")
    scope: str  # GLOBAL or the id of the view that binds it
    scope_title: str


@dataclass(frozen=True)
class Clash:
    key: str
    first: str  # binding ids (or "reserved")
    second: str
    why: str

    def __str__(self) -> str:
        return self.why


def normalise_key(text: str) -> str:
    """One key as Textual names it ("ctrl+[" -> "ctrl+left_square_bracket"); ValueError saying why not."""
    raw = text.strip()
    if not raw:
        raise ValueError("an empty key")
    if raw == "+":
        return "plus"
    *mods, base = raw.split("+") if not raw.endswith("++") else [*raw[:-2].split("+"), "+"]
    mods = [m.strip().lower() for m in mods]
    for m in mods:
        if m not in MODIFIERS:
            raise ValueError(f"{raw!r}: {m!r} is not a modifier ({', '.join(MODIFIERS)})")
    if len(set(mods)) != len(mods):
        raise ValueError(f"{raw!r}: a modifier is repeated")
    base = base.strip()
    if len(base) == 1:
        if not base.isprintable() or base == " ":
            raise ValueError(f"{raw!r}: not a printable key")
        name = _character_to_key(base)
    elif base.lower() in _NAMED:
        name = base.lower()
    elif key_to_character(base) is not None:
        name = base
    else:
        raise ValueError(f"{raw!r}: {base!r} is not a key (a character, f1-f24, escape, enter, space, up, …)")
    order = [m for m in MODIFIERS if m in mods]
    return "+".join([*order, name])


def display_key(key: str) -> str:
    """A key as a user types it: "[" for left_square_bracket (parse_keys reads both)."""
    char = key_to_character(key)
    return char if char is not None and char.isprintable() and char != " " else key


def parse_keys(text: str) -> list[str]:
    """A comma-separated list of keys, each normalised; ValueError naming the bad one."""
    keys: list[str] = []
    for part in text.split(","):
        if not part.strip():
            continue
        key = normalise_key(part)
        if key not in keys:
            keys.append(key)
    if not keys:
        raise ValueError("give at least one key (e.g. f2 or ctrl+w; several separated by commas)")
    return keys


def _bindings_of(cls: type) -> Iterable[Binding]:
    for b in getattr(cls, "BINDINGS", []) or []:
        if isinstance(b, Binding) and b.id:
            yield b


def catalogue(app_cls: type) -> list[Bindable]:
    """Every remappable binding: the app's (`app_cls`, the cockpit's App class), then each view's
    (their modules are imported here)."""
    from hoox_tui.views import ALL_VIEWS, BY_ID
    from hoox_tui.views.base import View

    out: list[Bindable] = []
    seen: set[tuple[str, str]] = set()
    for b in _bindings_of(app_cls):
        out.append(Bindable(b.id or "", b.description or b.action, b.key, GLOBAL, "everywhere"))
        seen.add((GLOBAL, b.id or ""))
    base_ids = {b.id for b in _bindings_of(View)}
    for spec in ALL_VIEWS:
        try:
            cls = getattr(importlib.import_module(spec.module), spec.cls)
        except (ImportError, AttributeError):
            continue  # a view not in this build binds nothing
        for b in _bindings_of(cls):
            if b.id in base_ids or (spec.id, b.id or "") in seen:
                continue  # every view's Retry: bound per view but one id; kept out of the editor
            seen.add((spec.id, b.id or ""))
            out.append(Bindable(b.id or "", b.description or b.action, b.key, spec.id, BY_ID[spec.id].title))
    return out


def effective(items: Iterable[Bindable], keymap: Mapping[str, str]) -> dict[str, list[str]]:
    """Binding id -> the keys it answers to with `keymap` applied."""
    out: dict[str, list[str]] = {}
    for b in items:
        text = keymap.get(b.id, b.default)
        try:
            out[b.id] = parse_keys(text)
        except ValueError:
            out[b.id] = [k.strip() for k in b.default.split(",") if k.strip()]
    return out


def clashes(items: list[Bindable], keymap: Mapping[str, str]) -> list[Clash]:
    """Every clash `keymap` would cause (or leaves standing), in catalogue order."""
    keys = effective(items, keymap)
    by_id = {b.id: b for b in items}
    out: list[Clash] = []
    for b in items:
        for key in keys[b.id]:
            if key in RESERVED:
                out.append(Clash(key, b.id, "reserved",
                                 f"{key} is kept for {RESERVED[key]}: {b.id} ({b.description}) cannot use it"))
    for i, a in enumerate(items):
        for other in items[i + 1:]:
            if not (a.scope == GLOBAL or other.scope == GLOBAL or a.scope == other.scope):
                continue
            for key in keys[a.id]:
                if key in keys[other.id]:
                    where = "everywhere" if GLOBAL in (a.scope, other.scope) else f"in {a.scope_title}"
                    out.append(Clash(key, a.id, other.id,
                                     f"{key} is bound twice {where}: {a.id} ({a.description}) and "
                                     f"{other.id} ({by_id[other.id].description})"))
    return out


def check(items: list[Bindable], keymap: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The valid part of a user keymap, normalised, and a problem line for each entry left out (an
    unknown id, a key that is not one, a clash: both sides of a clash are left at their defaults)."""
    known = {b.id for b in items}
    good: dict[str, str] = {}
    problems: list[str] = []
    for bid, text in keymap.items():
        if bid not in known:
            problems.append(f"keymap: {bid!r} is not a binding of the cockpit; ignored")
            continue
        try:
            good[bid] = ",".join(parse_keys(text))
        except ValueError as exc:
            problems.append(f"keymap: {bid}: {exc}; ignored")
    while True:
        found = [c for c in clashes(items, good) if c.first in good or c.second in good]
        if not found:
            return good, problems
        c = found[0]
        for bid in (c.first, c.second):
            good.pop(bid, None)
        problems.append(f"keymap: {c.why}; ignored")
