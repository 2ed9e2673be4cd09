"""Numbers as the CLI and the cockpit show them: positional, with the significant digits they have."""

from __future__ import annotations

import math


def significant(v: float, digits: int, keep: int = 0, *, grouping: bool = True) -> str:
    """`v` to `digits` significant digits, never fewer than its whole part or `keep` decimals, in positional
    notation (0.00001234, never 1.234e-05; 1000000000000, never 1e+12), thousands separated unless not
    `grouping`, no trailing zeros past `keep` decimals."""
    if not math.isfinite(v):
        return str(v)
    v += 0.0  # -0.0 is 0, not -0
    decimals = keep if not v else max(keep, digits - 1 - math.floor(math.log10(abs(v))))
    text = f"{v:{',' if grouping else ''}.{decimals}f}"
    if decimals > keep:
        text = text.rstrip("0")
        whole, _, frac = text.partition(".")
        text = f"{whole}.{frac.ljust(keep, '0')}" if keep or frac else whole
    return text
