"""Import one worker's entry module with every source of entropy and of wall-clock time made to raise.

    python tests/entropy_probe.py EDGE_DIR WORKER_FOLDER [PACKAGE,PACKAGE,...]

Cloudflare runs a Python worker's top-level code once, at upload, and snapshots the memory: a random
number, a token or a timestamp drawn then would be the same in every instance (the runtime refuses
`random` at import for that reason). This script, run in a fresh interpreter, imports
`EDGE_DIR/WORKER_FOLDER/entry.py` — and with it every module of its import closure: the `hoox_edge`
modules it reaches and the packages they import — with `random`, `secrets`, `os.urandom`,
`uuid.uuid1/uuid4`, `time.time`, `time.monotonic`, `datetime.now` … patched to record the call and
raise. Third-party imports are limited to the top-level packages named (those a bundle carries), so
that the closure is the one the worker has on Cloudflare, not whatever else is installed here (httpx
imports `rich` for its command line when it finds it). A call is blamed on the innermost module whose
top-level code is running; the standard library's own import-time calls (`logging` notes its start
time) are let through, as Cloudflare's runtime provides those modules itself. The runtime's `workers`
module is stubbed as the adapter tests stub it. Prints one JSON object:

    {"edge": path of the hoox_edge imported, "imported": [hoox_edge modules], "packages": [third-party
     top-level packages imported], "calls": [{"what", "module", "line"}], "error": "ExcType: message" | null}
"""

from __future__ import annotations

import datetime
import importlib.abc
import importlib.machinery
import json
import os
import random
import secrets
import sys
import sysconfig
import time
import types
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

CALLS: list[dict[str, Any]] = []
_STDLIB = tuple(str(Path(sysconfig.get_paths()[k]).resolve()) for k in ("stdlib", "platstdlib"))
_SITE = tuple(str(Path(sysconfig.get_paths()[k]).resolve()) for k in ("purelib", "platlib"))


class EntropyAtImport(RuntimeError):
    """Entropy or the clock was read by top-level code."""


def _culprit() -> tuple[str, int, str]:
    """(module name, line, file) of the innermost frame running a module's top-level code."""
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_name == "<module>":
            return str(f.f_globals.get("__name__", "?")), f.f_lineno, f.f_code.co_filename
        f = f.f_back
    return "?", 0, ""


def _stdlib(file: str) -> bool:
    if file.startswith("<frozen"):
        return True
    path = str(Path(file).resolve())
    return path.startswith(_STDLIB) and not path.startswith(_SITE)


def _guard(what: str, real: Callable[..., Any], when: Callable[..., bool] | None = None) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        module, line, file = _culprit()
        if _stdlib(file) or (when is not None and not when(*args, **kwargs)):
            return real(*args, **kwargs)
        CALLS.append({"what": what, "module": module, "line": line})
        raise EntropyAtImport(f"{what} called by the top-level code of {module} (line {line})")

    return guarded


def _no_args(*args: Any, **kwargs: Any) -> bool:
    return not args and not kwargs


def patch() -> None:
    names = ("random", "uniform", "triangular", "randint", "choice", "randrange", "sample", "shuffle", "choices",
             "normalvariate", "lognormvariate", "expovariate", "vonmisesvariate", "gammavariate", "gauss",
             "betavariate", "paretovariate", "weibullvariate", "getrandbits", "randbytes", "binomialvariate")
    for name in names:
        if hasattr(random, name):
            setattr(random, name, _guard(f"random.{name}", getattr(random, name)))
    # A generator seeded from entropy (random.Random() or random.seed() with no seed); a fixed seed is fine.
    random.seed = _guard("random.seed", random.seed, lambda a=None, *_, **__: a is None)
    random.Random.seed = _guard("random.Random()", random.Random.seed, lambda self, a=None, *_, **__: a is None)
    for name in ("random", "getrandbits", "randbytes"):
        setattr(random.SystemRandom, name, _guard(f"random.SystemRandom.{name}", getattr(random.SystemRandom, name)))
    os.urandom = _guard("os.urandom", os.urandom)
    if hasattr(os, "getrandom"):
        os.getrandom = _guard("os.getrandom", os.getrandom)
    for name in ("token_bytes", "token_hex", "token_urlsafe", "randbelow", "randbits", "choice"):
        setattr(secrets, name, _guard(f"secrets.{name}", getattr(secrets, name)))
    for name in ("uuid1", "uuid4"):
        setattr(uuid, name, _guard(f"uuid.{name}", getattr(uuid, name)))
    for name in ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns"):
        setattr(time, name, _guard(f"time.{name}", getattr(time, name)))
    for name in ("localtime", "gmtime", "ctime", "asctime"):
        setattr(time, name, _guard(f"time.{name}()", getattr(time, name), _no_args))
    time.strftime = _guard("time.strftime(fmt)", time.strftime, lambda fmt, *t: not t)

    real_dt, real_date = datetime.datetime, datetime.date

    class GuardedDatetime(real_dt):
        now = classmethod(_guard("datetime.now", lambda cls, tz=None: real_dt.now(tz)))
        utcnow = classmethod(_guard("datetime.utcnow", lambda cls: real_dt.utcnow()))
        today = classmethod(_guard("datetime.today", lambda cls: real_dt.today()))

    class GuardedDate(real_date):
        today = classmethod(_guard("date.today", lambda cls: real_date.today()))

    datetime.datetime, datetime.date = GuardedDatetime, GuardedDate  # type: ignore[misc]


def fake_workers() -> types.ModuleType:
    """The runtime SDK's `workers` module, as tests/test_cloudflare_adapters.py stubs it."""
    mod = types.ModuleType("workers")

    class WorkerEntrypoint:
        def __init__(self, ctx: Any, env: Any) -> None:
            self.ctx, self.env = ctx, env

    class DurableObject:
        def __init__(self, ctx: Any, env: Any) -> None:
            self.ctx, self.env = ctx, env

    mod.WorkerEntrypoint = WorkerEntrypoint  # type: ignore[attr-defined]
    mod.DurableObject = DurableObject  # type: ignore[attr-defined]
    return mod


_OURS = frozenset({"hoox_edge", "workers", "entry"})


class OnlyTheBundle(importlib.abc.MetaPathFinder):
    """Refuses third-party packages a bundle does not carry, as their absence would on Cloudflare."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        top = name.partition(".")[0]
        if top in self.allowed or top in _OURS or top in sys.stdlib_module_names:
            return None
        raise ModuleNotFoundError(f"No module named {name!r} (not in the worker's bundle)", name=name)


def main(edge: Path, folder: str, allowed: frozenset[str] | None = None) -> dict[str, Any]:
    import importlib.util

    sys.path.insert(0, str(edge))
    if allowed is not None:
        sys.meta_path.insert(0, OnlyTheBundle(allowed))
    before = {m.partition(".")[0] for m in sys.modules}
    sys.modules["workers"] = fake_workers()
    patch()
    error = None
    try:
        spec = importlib.util.spec_from_file_location("entry", edge / folder / "entry.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["entry"] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # reported, whatever it is
        error = f"{type(exc).__name__}: {exc}"
    edge_pkg = sys.modules.get("hoox_edge")
    return {"edge": str(Path(edge_pkg.__file__).parent) if edge_pkg and edge_pkg.__file__ else None,
            "imported": sorted(m for m in sys.modules if m == "hoox_edge" or m.startswith("hoox_edge.")),
            "packages": sorted({m.partition(".")[0] for m in sys.modules} - before - _OURS
                               - set(sys.stdlib_module_names)),
            "calls": CALLS, "error": error}


if __name__ == "__main__":
    allow = frozenset(filter(None, sys.argv[3].split(","))) if len(sys.argv) > 3 else None
    print(json.dumps(main(Path(sys.argv[1]).resolve(), sys.argv[2], allow)))
