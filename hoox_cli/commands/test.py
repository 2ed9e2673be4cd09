"""`hoox test`: the verification pipeline of a hoox checkout — lint, type check, tests, build.

Each step runs as a subprocess in the project folder and is reported passed, failed or not installed
(a tool that is absent is said to be absent, never counted as passed). Exit 1 when a step failed or
could not run; a step left out with --skip is named as skipped, and then nothing says "all passed".

    lint        ruff check .
    typecheck   python -m mypy hoox_cli hoox_tui edge/hoox_edge   (mypy is in the dev extras)
    tests       python -m pytest -q
    build       python -m build --wheel (when `build` is installed), else pip wheel --no-deps, into a temp folder

The project: --path, else the current folder when it holds a pyproject.toml, else the hoox checkout
this CLI runs from.

--json: {"path", "ok", "steps": [{"name", "status": "passed"|"failed"|"not installed"|"skipped", "command",
"duration_s", "output_tail": [line]}]}
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from hoox_cli.core.errors import fail
from hoox_cli.options import JsonOpt, handle_errors
from hoox_cli.output import emit_json, esc, say

STEPS = ("lint", "typecheck", "tests", "build")
TOOL_OF = {"lint": "ruff", "typecheck": "mypy", "tests": "pytest", "build": "pip"}
TYPECHECK_TARGETS = ("hoox_cli", "hoox_tui", "edge/hoox_edge")  # as [tool.mypy] files in pyproject.toml
TAIL = 20


def _project(path: Path | None) -> Path:
    if path is not None:
        if not (path / "pyproject.toml").is_file():
            fail("NOT_A_PROJECT", f"{path} has no pyproject.toml.")
        return path.resolve()
    if (Path.cwd() / "pyproject.toml").is_file():
        return Path.cwd()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file():
        return checkout
    fail("NOT_A_PROJECT", "No pyproject.toml here and hoox is not running from a checkout; pass --path.")


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _command(step: str, project: Path, outdir: str) -> list[str] | None:
    """The command of a step, or None when its tool is not installed."""
    py = sys.executable
    if step == "lint":
        if _has_module("ruff"):
            return [py, "-m", "ruff", "check", "."]
        exe = shutil.which("ruff")
        return [exe, "check", "."] if exe else None
    if step == "typecheck":
        if not _has_module("mypy"):
            return None
        targets = [t for t in TYPECHECK_TARGETS if (project / t).exists()] or ["."]
        return [py, "-m", "mypy", *targets]
    if step == "tests":
        return [py, "-m", "pytest", "-q", "-p", "no:cacheprovider"] if _has_module("pytest") else None
    if _has_module("build"):
        return [py, "-m", "build", "--wheel", "--outdir", outdir, "."]
    return [py, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", outdir, "."]


def run_step(step: str, project: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hoox-build-") as outdir:
        cmd = _command(step, project, outdir)
        if cmd is None:
            return {"name": step, "status": "not installed", "command": None, "duration_s": 0.0,
                    "output_tail": [f"{TOOL_OF[step]} is not installed; step not run"]}
        started = time.perf_counter()
        try:
            p = subprocess.run(cmd, cwd=project, capture_output=True, text=True, stdin=subprocess.DEVNULL)
            code, out = p.returncode, (p.stdout + p.stderr)
        except OSError as exc:
            code, out = 127, str(exc)
        status = "passed" if code == 0 else "failed"
        if step == "build" and code == 0 and not list(Path(outdir).glob("*.whl")):
            status, out = "failed", out + "\nno wheel was written"
    from hoox_cli.core.redact import scrub

    return {"name": step, "status": status, "command": " ".join(Path(cmd[0]).name if i == 0 else c
                                                                for i, c in enumerate(cmd)),
            "duration_s": round(time.perf_counter() - started, 2),
            "output_tail": scrub(out.strip().splitlines()[-TAIL:])}


@handle_errors
def test(
    path: Annotated[Path | None, typer.Option("--path", file_okay=False, help="Project folder (pyproject.toml).")]
    = None,
    skip: Annotated[list[str] | None, typer.Option("--skip", metavar="STEP",
                                                   help="Leave out a step: lint, typecheck, tests or build.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the verification pipeline: lint (ruff), type check (mypy), tests (pytest), build; each reported."""
    skipped = set(skip or [])
    unknown = skipped - set(STEPS)
    if unknown:
        fail("USAGE_ERROR", f"Unknown step {', '.join(sorted(unknown))}; steps: {', '.join(STEPS)}.", exit_code=2)
    project = _project(path)
    results: list[dict[str, Any]] = []
    for step in STEPS:
        if step in skipped:
            results.append({"name": step, "status": "skipped", "command": None, "duration_s": 0.0,
                            "output_tail": []})
            continue
        if not json_out:
            say(f"[dim]running {step} ...[/dim]")
        r = run_step(step, project)
        results.append(r)
        if not json_out:
            colour = {"passed": "green", "failed": "red"}.get(r["status"], "yellow")
            say(f"[{colour}]{r['status'].upper()}[/{colour}] {step}  [dim]{esc(r['command'] or '')} "
                f"({r['duration_s']} s)[/dim]")
            if r["status"] == "failed":
                for line in r["output_tail"]:
                    say(f"    {esc(line)}")
            elif r["status"] == "not installed":
                say(f"    {esc(r['output_tail'][0])}")
    ok, summary = verdict(results)
    if json_out:
        emit_json({"path": str(project), "ok": ok, "steps": results})
    else:
        say(f"[{'green' if ok else 'red'}]{esc(summary)}[/{'green' if ok else 'red'}]")
    if not ok:
        raise typer.Exit(1)


def verdict(results: list[dict[str, Any]]) -> tuple[bool, str]:
    """(ok, one line): ok only when no step failed and every step not skipped on request ran."""
    def named(status: str) -> list[str]:
        return [r["name"] for r in results if r["status"] == status]

    failed, not_run, skipped, passed = named("failed"), named("not installed"), named("skipped"), named("passed")
    if not failed and not not_run and not skipped:
        return True, "All steps passed."
    parts = [f"Failed: {', '.join(failed)}." if failed else "",
             f"Not run, the tool is not installed (pip install -e '.[dev]'): {', '.join(not_run)}." if not_run else "",
             f"Passed: {', '.join(passed)}." if passed else "",
             f"Skipped on request: {', '.join(skipped)}." if skipped else ""]
    return not failed and not not_run, " ".join(p for p in parts if p)
