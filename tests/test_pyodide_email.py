"""The Mailgun webhook inside real Pyodide on Miniflare, entered through entry.py as on Cloudflare
(tests/pyodide/inside/test_email.py)."""

from __future__ import annotations

from pyodide_support import run_in_pyodide


def test_the_mailgun_webhook_runs_in_pyodide() -> None:
    out = run_in_pyodide("pyodide/inside/test_email.py")
    assert "1 passed" in out
