"""The `hoox` program's entry point (and `python -m hoox_cli`'s).

`hoox --help` (or `-h`) alone prints the root help rendered ahead of time (hoox_cli/root_help.py, made
from the Typer app by `python -m hoox_cli.main --write-root-help`; tests/test_cli.py fails when it is
stale) without importing typer, rich or a command module: that costs ~5x what Python's own start does.
A short read (`hoox config kv get KEY`) runs without typer too (hoox_cli.quick). Everything else runs
the Typer app (hoox_cli.main).
"""

from __future__ import annotations

import sys


def run() -> None:
    if sys.argv[1:] in (["--help"], ["-h"]):
        from hoox_cli.root_help import TEXT

        try:
            sys.stdout.write(TEXT)
            sys.stdout.flush()
            return
        except UnicodeEncodeError:  # a terminal that cannot show the box lines: let rich draw it
            pass
    from hoox_cli import quick

    code = quick.run(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from hoox_cli.main import run as run_app

    run_app()
