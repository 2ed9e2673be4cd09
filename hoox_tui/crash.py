"""The process-level crash screen: Restart, Safe mode, Report bug, Quit.

The cockpit app ends on an error no view could contain, and this small separate app shows it (the
failed app's message loop is gone). The traceback shown and written never has local variables
(they can hold the operator token) and is redacted.
"""

from __future__ import annotations

import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Static

from hoox_cli.core.redact import redact

CHOICES = ("restart", "safe", "quit")


def safe_traceback(error: BaseException) -> str:
    """The traceback as text: frames and the message only, redacted."""
    return redact("".join(traceback.format_exception(type(error), error, error.__traceback__)))


def write_crash_report(error: BaseException, folder: Path, extra_log: Path | None = None) -> Path:
    """Append a report to `folder`/crash-report.log: time, the traceback, the last runtime log lines."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "crash-report.log"
    parts = [f"==== hoox cockpit crash {datetime.now(UTC).isoformat(timespec='seconds')}", safe_traceback(error)]
    if extra_log is not None and extra_log.is_file():
        lines = extra_log.read_text(encoding="utf-8", errors="replace").splitlines()[-50:]
        parts.append(f"---- last lines of {extra_log}")
        parts.append(redact("\n".join(lines)))
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(parts) + "\n")
    return path


class CrashApp(App[str]):
    CSS = """
    Screen { align: center middle; }
    #box { width: 100; height: 30; border: thick $error; padding: 1 2; }
    #trace { height: 1fr; border: round $panel; }
    #buttons { height: 3; }
    Button { margin-right: 1; }
    """
    BINDINGS: ClassVar = [
        Binding("r", "choose('restart')", "Restart"),
        Binding("s", "choose('safe')", "Safe mode"),
        Binding("b", "report", "Report bug"),
        Binding("q,ctrl+q,escape", "choose('quit')", "Quit"),
    ]

    def __init__(self, error: BaseException, report_dir: Path, extra_log: Path | None = None) -> None:
        super().__init__()
        self.error = error
        self.report_dir = report_dir
        self.extra_log = extra_log
        self.report_path: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="box"):
            yield Static(f"The cockpit stopped: {redact(f'{type(self.error).__name__}: {self.error}')}",
                         markup=False)
            with VerticalScroll(id="trace"):
                yield Static(safe_traceback(self.error), markup=False)
            yield Static("", id="reported", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Restart (r)", id="restart", variant="primary")
                yield Button("Safe mode (s)", id="safe")
                yield Button("Report bug (b)", id="report")
                yield Button("Quit (q)", id="quit", variant="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "report":
            self.action_report()
        else:
            self.action_choose(event.button.id or "quit")

    def action_choose(self, choice: str) -> None:
        self.exit(choice if choice in CHOICES else "quit")

    def action_report(self) -> None:
        try:
            self.report_path = write_crash_report(self.error, self.report_dir, self.extra_log)
            text = f"Written to {self.report_path} (secrets redacted)."
        except OSError as exc:
            text = f"Could not write the report: {exc}"
        self.query_one("#reported", Static).update(text)
