"""`python -m hoox_cli` (how `hoox dev start --detach` re-runs itself in the background)."""

from hoox_cli.entry import run

run()
