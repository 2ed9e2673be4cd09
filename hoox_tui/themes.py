"""Cockpit themes from `themes/*.toml`, validated at start.

A file is `name` (text), `dark` (bool) and a `[colors]` table: `primary` is required; secondary,
accent, foreground, background, surface, panel, success, warning and error are optional. A file
with a bad field is skipped with a problem that names the file and the field, never a crash.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

THEMES_DIR = Path(__file__).resolve().parent.parent / "themes"
DEFAULT_THEME = "hoox-dark"
COLOR_FIELDS = ("primary", "secondary", "accent", "foreground", "background", "surface", "panel",
                "success", "warning", "error")


def load_theme(path: Path) -> Theme:
    """One theme file; ValueError naming the file and the field when it is not valid."""
    where = path.name
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{where}: not valid TOML ({exc})") from None
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}: field 'name' must be a non-empty string")
    dark = doc.get("dark", True)
    if not isinstance(dark, bool):
        raise ValueError(f"{where}: field 'dark' must be true or false")
    colors = doc.get("colors")
    if not isinstance(colors, dict):
        raise ValueError(f"{where}: table [colors] is missing")
    unknown = sorted(set(colors) - set(COLOR_FIELDS))
    if unknown:
        raise ValueError(f"{where}: field 'colors.{unknown[0]}' is not a theme colour "
                         f"(known: {', '.join(COLOR_FIELDS)})")
    if "primary" not in colors:
        raise ValueError(f"{where}: field 'colors.primary' is required")
    values: dict[str, str] = {}
    for key, value in colors.items():
        if not isinstance(value, str):
            raise ValueError(f"{where}: field 'colors.{key}' must be a colour string")
        try:
            Color.parse(value)
        except ColorParseError:
            raise ValueError(f"{where}: field 'colors.{key}' = {value!r} is not a colour") from None
        values[key] = value
    return Theme(name=name.strip(), dark=dark, primary=values["primary"], secondary=values.get("secondary"),
                 accent=values.get("accent"), foreground=values.get("foreground"),
                 background=values.get("background"), surface=values.get("surface"), panel=values.get("panel"),
                 success=values.get("success"), warning=values.get("warning"), error=values.get("error"))


def load_themes(folder: Path = THEMES_DIR) -> tuple[list[Theme], list[str]]:
    """Every valid theme of the folder, and one problem line per file that is not."""
    themes: list[Theme] = []
    problems: list[str] = []
    if not folder.is_dir():
        return themes, [f"{folder}: no themes folder; using textual's built-in themes"]
    for path in sorted(folder.glob("*.toml")):
        try:
            themes.append(load_theme(path))
        except ValueError as exc:
            problems.append(f"theme {exc}")
    return themes, problems
