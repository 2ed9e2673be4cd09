"""The cockpit uses Textual's public API only: a Textual minor release may rename or drop any private
name (`_handle_exception`, `_return_code`, `_screen_stacks`…), and a traceback's frame locals are no
API at all. The check reads the code (AST): an `x._name` the cockpit or its test support uses must not
be one of the private names Textual's source defines — and `self._name` in a class derived from a
Textual class must not be one its Textual bases define (that would also overwrite their state)."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from functools import cache
from pathlib import Path

import textual

ROOT = Path(__file__).resolve().parent.parent
# The names the cockpit once used, by name: they must never come back, whatever Textual does.
KNOWN = {"_handle_exception", "_return_code", "_exception", "_exception_event", "_close_messages_no_wait",
         "_screen_stacks", "_screen_stack", "_fatal_error", "_parent", "_notifications", "f_locals", "tb_frame"}
_DEFINED = re.compile(r"(?:self|cls)\.(_[A-Za-z]\w*)\s*(?::[^=\n]*)?=|def (_[A-Za-z]\w*)\s*\(|^\s+(_[a-z]\w*)\s*[:=]",
                      re.MULTILINE)


@cache
def defined_in(path: Path) -> frozenset[str]:
    """The private attributes, methods and class variables a source file defines (not dunders)."""
    names = set()
    for match in _DEFINED.finditer(path.read_text(encoding="utf-8")):
        name = next(g for g in match.groups() if g)
        if not name.startswith("__"):
            names.add(name)
    return frozenset(names)


def textual_private_names() -> set[str]:
    return set().union(*(defined_in(p) for p in Path(textual.__file__).parent.rglob("*.py")))


def textual_bases_private(cls: type) -> set[str]:
    """The private names the Textual classes in `cls`'s MRO define (empty: not a Textual class)."""
    files = {Path(inspect.getfile(base)) for base in cls.__mro__ if base.__module__.split(".")[0] == "textual"}
    return set().union(*(defined_in(f) for f in files))


def cockpit_sources() -> list[Path]:
    return [*sorted((ROOT / "hoox_tui").rglob("*.py")), ROOT / "tests" / "tui_support.py"]


def private_uses(path: Path, private: set[str]) -> list[str]:
    """`file:line name` for each access of a Textual private name (or a known one) by the code in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module = None
    if path.is_relative_to(ROOT / "hoox_tui"):
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts)
                                         .removesuffix(".__init__"))
    own: dict[int, set[str]] = {}  # id of a `self` attribute node -> the Textual private names of its class
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        obj = getattr(module, cls.name, None)
        bases = textual_bases_private(obj) if isinstance(obj, type) else set()
        for node in ast.walk(cls):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
                own[id(node)] = bases
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        names = own.get(id(node), private)  # self._x: its own class's Textual bases; x._y: any of Textual's
        if node.attr in names or node.attr in KNOWN:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.attr}")
    return found


def test_textual_private_names_are_found() -> None:
    private = textual_private_names()
    # the check would be empty if Textual's layout changed: these are defined in textual/app.py today
    assert {"_return_code", "_screen_stacks", "_handle_exception", "_exception"} <= private


def test_the_cockpit_uses_no_private_textual_attribute() -> None:
    private = textual_private_names()
    uses = [use for path in cockpit_sources() for use in private_uses(path, private)]
    assert not uses, "private Textual attributes (use a public API instead):\n" + "\n".join(uses)
