"""Config editor (F7): the workspace's hoox.toml, the generated wrangler files, and KV values.

- hoox.toml: TOML, linted with tomlkit (syntax) and the workspace's own rules (port range, known
  workers); Ctrl+S prettifies (key = value spacing, no indentation, one blank line at most) and
  saves atomically through tomlkit, which keeps comments and order.
- edge/<worker>/wrangler.jsonc: shown read-only with a lint; they are rendered from the worker catalog,
  so saving is refused with the reason and how to change them instead.
- KV values: the JSON value of one CONFIG_KV key, read and written through the operator API client,
  linted with pyjson5 and the KV manifest's types; Ctrl+S stores the prettified value. Saving
  trade:mode = "live" (from anything else) first shows which exchanges have API keys (the edge's
  own answer) and asks, like `hoox config kv set trade:mode live`.

Lint runs on every change (the files are small) and shows the message with its line and column;
Ctrl+G (and a refused Ctrl+S) moves the cursor there. The cursor is not moved while typing: an
unfinished line is an error for a moment, and a jumping cursor would fight the user.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import tomlkit
from hoox_edge.shared.settings import TRADE_MODE
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import OptionList, Static, TextArea
from textual.widgets.option_list import Option

from hoox_tui.views.base import View

if TYPE_CHECKING:
    from hoox_tui.context import CockpitContext

Kind = Literal["toml", "wrangler", "kv"]
WRANGLER_NOTE = ("is generated from the worker catalog (edge/hoox_edge/catalog.py), so it is read-only here: "
                 "change the catalog and run `python -m hoox_edge.wrangler` to render it again.")


# ============================================================================ lint (pure functions)
@dataclass(frozen=True)
class LintError:
    line: int  # 0-based
    column: int  # 0-based
    message: str

    def __str__(self) -> str:
        return f"line {self.line + 1}, column {self.column + 1}: {self.message}"


def _line_of(text: str, pattern: str) -> int:
    for n, line in enumerate(text.splitlines()):
        if re.match(pattern, line):
            return n
    return 0


def lint_toml(text: str) -> LintError | None:
    """Syntax (tomlkit) and the rules hoox applies to hoox.toml when it loads it."""
    from hoox_edge import catalog

    try:
        doc = tomlkit.parse(text).unwrap()
    except tomlkit.exceptions.ParseError as exc:
        message = str(exc).rsplit(" at line ", 1)[0]
        return LintError(max(exc.line - 1, 0), max(exc.col, 0), message)
    dev = doc.get("dev", {})
    if not isinstance(dev, dict):
        return LintError(_line_of(text, r"\s*dev\s*="), 0, "dev must be a table ([dev])")
    if "port" in dev:
        from hoox_edge.local.workspace import port_problem

        problem = port_problem(dev["port"])
        if problem is not None:
            return LintError(_line_of(text, r"\s*port\s*="), 0, f"[dev] {problem}")
    workers = doc.get("workers", {})
    if not isinstance(workers, dict):
        return LintError(_line_of(text, r"\s*workers\s*="), 0, "workers must be a table of [workers.NAME]")
    known = catalog.names()
    for name, entry in workers.items():
        where = _line_of(text, rf"\s*\[\s*workers\.\"?{re.escape(name)}\"?\s*\]")
        if name not in known:
            return LintError(where, 0, f"unknown worker {name!r}; known: {', '.join(known)}")
        if not isinstance(entry, dict):
            return LintError(where, 0, f"workers.{name} must be a table")
        if "enabled" in entry and not isinstance(entry["enabled"], bool):
            return LintError(_line_of(text, r"\s*enabled\s*="), 0, f"workers.{name}.enabled must be true or false")
    return None


_NEAR = re.compile(r"near (\d+)")


def _offset_to_pos(text: str, offset: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    before = text[:offset]
    line = before.count("\n")
    return line, offset - (before.rfind("\n") + 1)


def parse_json5(text: str) -> tuple[Any, LintError | None]:
    """The value, or where and why it is not JSON (pyjson5 also takes comments and trailing commas)."""
    import pyjson5

    if not text.strip():
        return None, LintError(0, 0, "empty: a JSON value is needed")
    try:
        return pyjson5.decode(text), None
    except pyjson5.Json5Exception as exc:
        message = getattr(exc, "message", None) or str(exc)
        m = _NEAR.search(message)
        # pyjson5 counts characters from 1 ("near 9" is text[8]); an unclosed value ends the text
        line, col = _offset_to_pos(text, int(m.group(1)) - 1) if m else _offset_to_pos(text, len(text))
        return None, LintError(line, col, message.replace("b'", "'"))


def lint_kv(key: str, text: str) -> tuple[Any, LintError | None]:
    """A KV value as typed: JSON, then the manifest's type for `key`."""
    from hoox_edge.shared import settings

    value, err = parse_json5(text)
    if err is not None:
        return None, err
    try:
        return settings.coerce(key, value), None
    except settings.SettingError as exc:
        return None, LintError(0, 0, exc.message)


def _normalise_keys(container: Any) -> None:
    items = tomlkit.items
    for key, item in container.body:
        if isinstance(item, items.Whitespace):
            continue
        if isinstance(key, items.SingleKey) and not isinstance(item, (items.Table, items.AoT)):
            key.sep = " = "
            key._original = key._original.strip()
        if isinstance(item, items.AoT):
            for t in item.body:
                t.trivia.indent = ""
                _normalise_keys(t.value)
            continue
        if not isinstance(item, items.Comment):
            item.trivia.indent = ""
        if isinstance(item, items.Table):
            _normalise_keys(item.value)


def prettify_toml(text: str) -> str:
    """`key = value`, no indentation, at most one blank line, one final newline; comments kept.

    Returns `text` unchanged if the tidy version would not parse to the same data.
    """
    doc = tomlkit.parse(text)
    before = doc.unwrap()
    _normalise_keys(doc)
    lines = [ln.rstrip() for ln in tomlkit.dumps(doc).splitlines()]
    out: list[str] = []
    for ln in lines:
        if not ln and (not out or not out[-1]):
            continue
        out.append(ln)
    while out and not out[-1]:
        out.pop()
    pretty = "\n".join(out) + "\n"
    try:
        same = tomlkit.parse(pretty).unwrap() == before
    except tomlkit.exceptions.ParseError:
        same = False
    return pretty if same else text


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


# ============================================================================ the view
@dataclass(frozen=True)
class Doc:
    kind: Kind
    label: str
    path: Path | None = None
    key: str | None = None

    @property
    def language(self) -> str:
        return "toml" if self.kind == "toml" else "json"

    @property
    def read_only(self) -> bool:
        return self.kind == "wrangler"


class ConfigEditorView(View):
    view_id: ClassVar[str] = "config"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save (prettified)", id="config.save", priority=True),
        Binding("ctrl+g", "goto_error", "Go to error", id="config.goto_error"),
        Binding("ctrl+o", "reload", "Reload from disk/edge", id="config.reload"),
    ]
    DEFAULT_CSS = """
    /* 42: the longest setting key (analytics:error_rate_alert_percent) whole on its line at 100 columns; a
       longer key of the operator's is cut with … (the editor's title names it whole), never broken in two */
    ConfigEditorView #cfg-files { width: 42; height: 1fr; border: round $primary; text-wrap: nowrap;
                                  text-overflow: ellipsis; }
    ConfigEditorView #cfg-main { width: 1fr; height: 1fr; }
    ConfigEditorView #cfg-title { height: auto; text-style: bold; }
    ConfigEditorView #cfg-note { height: auto; color: $text-muted; }
    ConfigEditorView #cfg-editor { height: 1fr; }
    ConfigEditorView #cfg-lint { height: auto; min-height: 1; }
    ConfigEditorView #cfg-lint.error { color: $error; }
    ConfigEditorView #cfg-lint.ok { color: $success; }
    """

    def __init__(self, ctx: CockpitContext, **kw: Any) -> None:
        super().__init__(ctx, **kw)
        self.docs: dict[str, Doc] = {}
        self.current: Doc | None = None
        self.lint_error: LintError | None = None
        self.kv_meta: dict[str, Any] = {}  # key -> KvEntry of the open KV value
        self._linted: str | None = None  # the text that the lint line speaks of

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield OptionList(id="cfg-files")
            with Vertical(id="cfg-main"):
                yield Static("", id="cfg-title", markup=False)
                yield Static("", id="cfg-note", markup=False)
                yield TextArea.code_editor(
                    "", language=None, theme="css", id="cfg-editor", tab_behavior="focus", read_only=True
                )
                yield Static("", id="cfg-lint", markup=False)

    def on_mount(self) -> None:
        self._list_files()
        first = next(iter(self.docs), None)
        if first is not None:
            self.query_one("#cfg-files", OptionList).highlighted = self._index_of(first)
            self.guard(self._open_file)(self.docs[first])
        else:
            self._set_note("Nothing to edit: no workspace and no edge connected.")
        if self.ctx.store.has_edge:
            self.run_guarded(self._list_kv, group="config-kv", exclusive=False)

    # ---------------------------------------------------------------- file list
    def _list_files(self) -> None:
        from hoox_edge import catalog, wrangler

        options = self.query_one("#cfg-files", OptionList)
        options.clear_options()
        self.docs.clear()
        ws = self.ctx.workspace
        options.add_option(Option("Workspace", disabled=True))
        if ws is not None and ws.exists:
            self._add(options, "file:hoox.toml", Doc("toml", "hoox.toml", path=ws.config_path))
        else:
            options.add_option(Option("  (no workspace)", disabled=True))
        options.add_option(Option("wrangler.jsonc (read-only)", disabled=True))
        for w in catalog.WORKERS:
            path = wrangler.config_path(w)
            if path.is_file():
                # listed by worker (the file name is the header's): the longest path does not fit the list
                self._add(options, f"wrangler:{w.name}", Doc("wrangler", f"{w.name}/wrangler.jsonc", path=path),
                          w.name)
        options.add_option(Option("KV values", disabled=True, id="kv-header"))
        if not self.ctx.store.has_edge:
            options.add_option(Option("  (no edge connected)", disabled=True))

    def _add(self, options: OptionList, oid: str, doc: Doc, label: str | None = None) -> None:
        self.docs[oid] = doc
        options.add_option(Option("  " + (label or doc.label), id=oid))

    def _index_of(self, oid: str) -> int:
        return self.query_one("#cfg-files", OptionList).get_option_index(oid)

    async def _list_kv(self) -> None:
        from hoox_cli.core.client import HooxError

        try:
            page = await self.ctx.store.kv_list()
        except HooxError as exc:
            self.query_one("#cfg-files", OptionList).add_option(Option(f"  (KV unavailable: {exc})", disabled=True))
            return
        options = self.query_one("#cfg-files", OptionList)
        for entry in sorted(page.items, key=lambda e: e.key):
            label = entry.key + ("" if entry.source == "kv" else "  (default)")
            doc = Doc("kv", label, key=entry.key)
            self.docs[f"kv:{entry.key}"] = doc
            options.add_option(Option("  " + label, id=f"kv:{entry.key}"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        oid = event.option.id
        if oid in self.docs:
            event.stop()
            self.run_guarded(partial(self.open, oid), group="config-open")

    # ---------------------------------------------------------------- open
    async def open(self, oid: str) -> None:
        doc = self.docs[oid]
        if doc.kind != "kv":
            self._open_file(doc)
            return
        from hoox_cli.core.client import HooxError

        assert doc.key is not None
        try:
            entry = await self.ctx.store.kv_get(doc.key)
        except HooxError as exc:
            self._set_lint(f"Could not read {doc.key}: {exc}", ok=False)
            return
        self.kv_meta[doc.key] = entry
        text = "" if entry.value is None and entry.source == "unset" else pretty_json(entry.value)
        note = (f"{entry.description or 'Not a setting of the KV manifest.'} Type: {entry.expected or 'any JSON'}. "
                f"Source: {entry.source}. Saved through the operator API (validated again by the edge).")
        if entry.error:
            note += f" The stored value is invalid: {entry.error}."
        self._show(doc, text, note)

    def _open_file(self, doc: Doc) -> None:
        assert doc.path is not None
        text = doc.path.read_text(encoding="utf-8")
        if doc.kind == "wrangler":
            note = f"{doc.label} {WRANGLER_NOTE}"
        else:
            note = "Saved atomically, comments kept. The local runtime reads it at start (restart it in F6)."
        self._show(doc, text, note)

    def _show(self, doc: Doc, text: str, note: str) -> None:
        editor = self.query_one("#cfg-editor", TextArea)
        self.current = doc
        editor.read_only = doc.read_only
        editor.language = None if self.ctx.safe_mode else doc.language
        editor.load_text(text)
        editor.move_cursor((0, 0))
        self.query_one("#cfg-title", Static).update(f"{doc.label}" + ("  [read-only]" if doc.read_only else ""))
        self._set_note(note)
        self.lint()
        if self.lint_error is not None:
            self.action_goto_error()

    def _set_note(self, text: str) -> None:
        self.query_one("#cfg-note", Static).update(text)

    def _set_lint(self, text: str, *, ok: bool) -> None:
        w = self.query_one("#cfg-lint", Static)
        w.update(text)
        w.set_class(not ok, "error")
        w.set_class(ok, "ok")

    # ---------------------------------------------------------------- lint
    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        # Changed arrives after the fact (a load_text, or a key that Ctrl+S overtook): when lint() or
        # save() has already spoken of this very text, linting again would only replace their message.
        if self.current is None or event.text_area.text == self._linted:
            return
        self.lint()

    def lint(self) -> tuple[Any, LintError | None]:
        """Lint the editor's text; show the result; (parsed value or None, error or None)."""
        doc = self.current
        if doc is None:
            return None, None
        text = self.query_one("#cfg-editor", TextArea).text
        value: Any = None
        if doc.kind == "toml":
            err = lint_toml(text)
        elif doc.kind == "wrangler":
            value, err = parse_json5(text)
        else:
            assert doc.key is not None
            value, err = lint_kv(doc.key, text)
        self.lint_error = err
        self._linted = text
        if err is None:
            self._set_lint("✓ valid" + ("" if doc.read_only else " — Ctrl+S prettifies and saves"), ok=True)
        else:
            self._set_lint(f"✗ {err}  (Ctrl+G goes there)", ok=False)
        return value, err

    def action_goto_error(self) -> None:
        if self.lint_error is None:
            return
        editor = self.query_one("#cfg-editor", TextArea)
        editor.focus()
        line = min(self.lint_error.line, editor.document.line_count - 1)
        col = min(self.lint_error.column, len(editor.document.get_line(line)))
        editor.move_cursor((line, col), center=True)

    # ---------------------------------------------------------------- save
    def action_save(self) -> None:
        self.run_guarded(self.save, group="config-save")

    async def save(self) -> bool:
        doc = self.current
        if doc is None:
            return False
        if doc.read_only:
            self._set_lint(f"Not saved: {doc.label} {WRANGLER_NOTE}", ok=False)
            return False
        value, err = self.lint()
        if err is not None:
            self._set_lint(f"Not saved — {err}. Fix it first (the cursor is on it).", ok=False)
            self.action_goto_error()
            return False
        editor = self.query_one("#cfg-editor", TextArea)
        if doc.kind == "toml":
            assert doc.path is not None and self.ctx.workspace is not None
            pretty = prettify_toml(editor.text)
            self.ctx.workspace.save_config(tomlkit.parse(pretty))
            where = str(doc.path)
        else:
            from hoox_cli.core.client import HooxError

            assert doc.key is not None
            if doc.key == TRADE_MODE and value == "live" and not await self._live_confirmed():
                self._set_lint("Not saved: live trading was not confirmed; trade:mode is unchanged.", ok=False)
                return False
            try:
                entry = await self.ctx.store.kv_put(doc.key, value)
            except HooxError as exc:
                self._set_lint(f"Not saved: the edge refused it — {exc}", ok=False)
                return False
            pretty = pretty_json(entry.value)
            where = f"KV {doc.key}"
        if pretty != editor.text:
            cursor = editor.cursor_location
            editor.load_text(pretty)
            line = min(cursor[0], editor.document.line_count - 1)
            editor.move_cursor((line, min(cursor[1], len(editor.document.get_line(line)))))
        self._linted = pretty  # the saved text is valid: its Changed keeps the "saved" message
        self._set_lint(f"✓ saved {where}", ok=True)
        return True

    async def _live_confirmed(self) -> bool:
        """trade:mode to live: which exchanges have API keys (trade-worker's answer through /v1/status),
        then a yes/no whose default is no. True at once when the desk already trades live."""
        from hoox_cli.core.client import HooxError
        from hoox_cli.core.config import exchange_key_lines
        from hoox_tui.dialogs import ConfirmScreen

        store = self.ctx.store
        try:
            if (await store.kv_get(TRADE_MODE)).value == "live":
                return True
        except HooxError:
            pass  # unknown: ask
        try:
            exchanges = (await store.fetch_status()).exchanges
            known = exchanges is not None and exchanges.available
            detail = (exchange_key_lines([e.model_dump() for e in exchanges.items], names=False)
                      if exchanges is not None and known else
                      ["Which exchanges have API keys is unknown: "
                       + ((exchanges.error if exchanges is not None else None) or "the edge did not say") + "."])
        except HooxError as exc:
            detail = [f"Which exchanges have API keys is unknown: {exc}."]
        question = "\n".join(["Switch this desk to LIVE trading?",
                              "Signals will place real orders with real money.", "", *detail])
        answer = await self.app.push_screen_wait(ConfirmScreen(question, yes="Go live", no="Stay"))
        return bool(answer)

    def action_reload(self) -> None:
        for oid, doc in self.docs.items():
            if doc is self.current:
                self.run_guarded(partial(self.open, oid), group="config-open")
                return
