"""An alert as the Telegram messages that carry it.

Plain alerts (no `parseMode`) are sent in HTML parse mode under a bold `[LEVEL] source` header, with
`&`, `<` and `>` escaped, so any text arrives as written. A caller's own `HTML`, `MarkdownV2` or
`Markdown` text is sent as it is.

Telegram takes at most 4,096 characters a message; a longer alert is split into several, cut at
line breaks (one in the second half of a message). A single line longer than a message is cut hard,
but never inside an HTML entity (`&amp;`) or tag, and an HTML tag still open at a cut is closed at
the end of its part and opened again at the start of the next, so each part parses on its own.
Nothing is dropped: the parts, joined by line breaks where they were cut there, are the whole text.
"""

from __future__ import annotations

import re

from hoox_edge.shared.telegram_api import MAX_TEXT, escape_html

# One piece that must never be cut: an HTML tag, an entity, a line break, or one character.
_ATOM = re.compile(r"<[^<>]*>|&#?[0-9A-Za-z]+;|\n|.", re.DOTALL)
_ATOM_TEXT = re.compile(r"\n|.", re.DOTALL)
_TAG = re.compile(r"<\s*(/?)\s*([A-Za-z][\w-]*)[^>]*?(/?)\s*>")


def header(level: str, source: str) -> str:
    return f"<b>[{level.upper()}]</b> {escape_html(source)}"


def render(message: str, *, level: str, source: str, parse_mode: str | None) -> tuple[list[str], str]:
    """(the message texts in order, parse mode) of one alert; each text at most MAX_TEXT characters."""
    if parse_mode:
        return split(message, html=parse_mode == "HTML"), parse_mode
    return split(f"{header(level, source)}\n{escape_html(message)}", html=True), "HTML"


def _closing(stack: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _opening(stack: list[tuple[str, str]]) -> str:
    return "".join(tag for _, tag in stack)


def _track(stack: list[tuple[str, str]], atom: str) -> None:
    """Keep the stack of open tags up to date with one atom."""
    m = _TAG.fullmatch(atom)
    if not m or m.group(3):  # not a tag, or a self-closing one
        return
    name = m.group(2).lower()
    if not m.group(1):
        stack.append((name, atom))
        return
    for i in range(len(stack) - 1, -1, -1):
        if stack[i][0] == name:
            del stack[i]
            return


def _units(s: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji outside the BMP counts 2)."""
    return len(s.encode("utf-16-le")) // 2


def split(text: str, *, html: bool, limit: int = MAX_TEXT) -> list[str]:
    """`text` as parts of at most `limit` characters. A part ends at its last line break (dropped) if
    that leaves it at least half full, else hard; HTML is never cut inside an entity or a tag, and
    the tags open at a cut are closed and reopened."""
    if _units(text) <= limit:
        return [text]
    atoms = (_ATOM if html else _ATOM_TEXT).findall(text)
    parts: list[str] = []
    stack: list[tuple[str, str]] = []  # tags open after the atoms taken so far
    prefix = ""  # the tags reopened at the start of the current part
    cur: list[str] = []  # the current part's atoms after `prefix`
    size = 0  # of prefix + cur
    brk: tuple[int, list[tuple[str, str]]] | None = None  # the last line break in `cur`, tags open there
    i = 0
    while i < len(atoms):
        atom = atoms[i]
        after = list(stack)
        if html:
            _track(after, atom)
        if size + _units(atom) + len(_closing(after)) <= limit:
            if atom == "\n":
                brk = (len(cur), list(stack))
            cur.append(atom)
            size += _units(atom)
            stack = after
            i += 1
            continue
        # `atom` does not fit: the part ends at its last line break, else (no break, or one so early that
        # the part would be mostly empty) right here.
        if brk is not None and _units(prefix + "".join(cur[:brk[0]])) >= limit // 2:
            at, stack = brk
            i -= len(cur) - at - 1  # the atoms after the break begin the next part
            content = cur[:at]
        elif cur:
            content = cur
        else:  # one atom longer than a whole part (a giant tag): cut it, there is nothing better
            room = max(1, limit - size - len(_closing(stack)))
            content, atoms[i] = [atom[:room]], atom[room:]
        if "".join(content).strip():
            parts.append(prefix + "".join(content) + _closing(stack))
            prefix = _opening(stack)
        cur, size, brk = [], len(prefix), None
    if "".join(cur).strip() or not parts:
        parts.append(prefix + "".join(cur) + _closing(stack))
    return parts
