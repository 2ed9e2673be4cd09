"""The code base stays ruff-clean and mypy-clean: lint and the type check are part of the suite, so CI,
a developer and `hoox test` run the same checks."""

import shutil
import subprocess
import sys
from pathlib import Path

from hoox_cli.commands.test import TYPECHECK_TARGETS

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    proc = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_is_clean() -> None:
    # mypy is in the dev extras: a missing mypy fails here rather than passing unchecked.
    proc = subprocess.run([sys.executable, "-m", "mypy", *TYPECHECK_TARGETS], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
