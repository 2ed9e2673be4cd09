"""The cockpit's user settings, persisted as TOML in the user's config dir (platformdirs).

A file that cannot be read or has a bad field never stops the cockpit: the defaults apply to what
is wrong and `problems` says what was ignored, so the app can show it as a notification.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
import tomlkit

APP_NAME = "hoox"
FILE_NAME = "cockpit.toml"
MIN_REFRESH = 1.0
MAX_REFRESH = 3600.0


def config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / FILE_NAME


def cache_dir() -> Path:
    """The cockpit's cache folder; "reset cache" in Settings empties it."""
    return Path(platformdirs.user_cache_dir(APP_NAME))


def reset_cache() -> int:
    """Empty the cache folder; the number of entries removed."""
    root = cache_dir()
    if not root.is_dir():
        return 0
    removed = 0
    for entry in root.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed


@dataclass
class UserSettings:
    theme: str = "hoox-dark"
    refresh_seconds: float = 5.0
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys ("f2,ctrl+w")
    problems: list[str] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def load(cls, path: Path | None = None) -> UserSettings:
        path = path or config_path()
        s = cls()
        if not path.exists():
            return s
        try:
            doc = tomlkit.parse(path.read_text(encoding="utf-8")).unwrap()
        except (OSError, UnicodeDecodeError, tomlkit.exceptions.ParseError) as exc:
            s.problems.append(f"{path}: not readable TOML ({exc}); using the default settings")
            return s
        theme = doc.get("theme")
        if theme is not None:
            if isinstance(theme, str) and theme.strip():
                s.theme = theme.strip()
            else:
                s.problems.append(f"{path}: field 'theme' must be a theme name; using {s.theme!r}")
        refresh = doc.get("refresh_seconds")
        if refresh is not None:
            if (isinstance(refresh, (int, float)) and not isinstance(refresh, bool) and math.isfinite(refresh)
                    and MIN_REFRESH <= refresh <= MAX_REFRESH):
                s.refresh_seconds = float(refresh)
            else:
                s.problems.append(f"{path}: field 'refresh_seconds' must be a number from {MIN_REFRESH:g} to "
                                  f"{MAX_REFRESH:g}; using {s.refresh_seconds:g}")
        keymap = doc.get("keymap")
        if keymap is not None:
            if isinstance(keymap, dict) and all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                                for k, v in keymap.items()):
                s.keymap = {k: v.strip() for k, v in keymap.items()}
            else:
                s.problems.append(f"{path}: field 'keymap' must be a table of binding id = \"keys\"; ignored")
        return s

    def save(self, path: Path | None = None) -> None:
        path = path or config_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = tomlkit.document()
        doc.add(tomlkit.comment("hoox cockpit settings (written by the Settings view)"))
        doc["theme"] = self.theme
        doc["refresh_seconds"] = self.refresh_seconds
        table = tomlkit.table()
        for k, v in sorted(self.keymap.items()):
            table[k] = v
        doc["keymap"] = table
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
        tmp.replace(path)

    @staticmethod
    def cache_dir() -> Path:
        return cache_dir()
