"""`hoox init --ci github`: a GitHub Actions workflow that tests hoox and, on the main branch, rolls it out.

The workflow is built as a Python structure (`workflow`) and written as YAML by a small emitter
(`to_yaml`: block mappings and lists, every scalar double-quoted, multi-line commands as `|`
blocks), so that the structure a test checks is the file GitHub reads; no YAML library is needed.

It goes in `.github/workflows/deploy.yml` at the root of the git repository that holds the workspace
(its hoox.toml and kv-manifest.json committed; .dev.vars never is), or of the workspace itself when it
is not in one. The job:

1. checks the repository out, sets up Python and Node (wrangler);
2. installs hoox: from the repository itself when it is a hoox checkout, else from the hoox source
   (a git URL and commit: `--hoox-source`/`--hoox-ref`, by default the checkout this CLI runs from);
3. fetches what the test suite uses offline (the Pyodide wheels, the deploy wheel cache), runs
   `hoox test`;
4. on a push to main only: `hoox deploy fetch-wheels` and `hoox deploy all --auto --yes`, with
   CLOUDFLARE_API_TOKEN / CLOUDFLARE_ACCOUNT_ID and every secret the enabled workers declare taken
   from the repository's secrets (an unset one arrives empty and counts as absent; the rollout pushes
   the others to the workers that lack them).

Runs are serialised per branch and never cancelled midway: a deploy cut off halfway leaves workers of
two versions.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoox_cli.core.errors import fail

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

WORKFLOW_PATH = ".github/workflows/deploy.yml"
PYTHON = "3.12"
NODE = "22"
SRC = ".hoox-src"  # where the job clones hoox when the repository is not a hoox checkout
MAIN_ONLY = "github.ref == 'refs/heads/main' && github.event_name == 'push'"
_CHECKOUT = Path(__file__).resolve().parents[2]  # the hoox checkout this CLI runs from (if it is one)


def _git(cwd: Path, *args: str) -> str | None:
    try:
        r = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def is_hoox_checkout(folder: Path) -> bool:
    try:
        project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return project.get("name") == "hoox"


def repo_root(ws: Workspace) -> Path:
    top = _git(ws.root, "rev-parse", "--show-toplevel")
    return Path(top).resolve() if top else ws.root.resolve()


def default_source() -> tuple[str | None, str | None]:
    """(git URL, commit) of the hoox checkout this CLI runs from; Nones when it is not a clone with a remote."""
    if not is_hoox_checkout(_CHECKOUT):
        return None, None
    return _git(_CHECKOUT, "remote", "get-url", "origin"), _git(_CHECKOUT, "rev-parse", "HEAD")


def secret_names(ws: Workspace) -> list[str]:
    """Every secret an enabled worker declares, and the deploy token: the names the workflow maps."""
    from hoox_cli.core.config import declared_secrets

    names = [d["name"] for d in declared_secrets(ws) if d["enabled_workers"] or d["name"] == "CLOUDFLARE_API_TOKEN"]
    return ["CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", *(n for n in names if n != "CLOUDFLARE_API_TOKEN")]


def workflow(ws: Workspace, *, source: str | None = None, ref: str | None = None) -> dict[str, Any]:
    """The workflow as a structure (see the module's docstring); CliError NO_HOOX_SOURCE when hoox cannot be
    installed from the repository and no source is known."""
    root = repo_root(ws)
    rel = ws.root.resolve().relative_to(root).as_posix() if ws.root.resolve().is_relative_to(root) else "."
    workspace_dir = "${{ github.workspace }}" + ("" if rel == "." else f"/{rel}")
    local = is_hoox_checkout(root)
    if local:
        src = "."
        install = ['python -m pip install -e ".[dev]"', "npm ci --no-audit --no-fund"]
    else:
        if source is None:
            source, found_ref = default_source()
            ref = ref or found_ref
        if not source:
            fail("NO_HOOX_SOURCE", "This repository is not a hoox checkout and the hoox source is not known: pass "
                                   "--hoox-source GIT_URL (and --hoox-ref COMMIT) so the workflow can install it.")
        src = SRC
        install = [f"git clone --quiet {json.dumps(source)} {SRC}",
                   *([f"git -C {SRC} checkout --quiet {ref}"] if ref else []),
                   f'python -m pip install -e "./{SRC}[dev]"', f"npm ci --no-audit --no-fund --prefix {SRC}"]
    prefix = "" if src == "." else f"{src}/"
    prepare = ["python -m pip download --quiet --only-binary=:all: --no-deps --platform any --python-version 3.13 "
               f"--implementation py -r {prefix}tests/pyodide/requirements.txt -d {prefix}.cache/pyodide-wheels",
               f"hoox deploy fetch-wheels --dest {prefix}.hoox/cache/wheels"]
    secrets = {n: "${{ secrets." + n + " }}" for n in secret_names(ws)}
    return {
        "name": "hoox: test, then deploy main",
        "on": {"push": {"branches": ["main"]}, "pull_request": {"branches": ["main"]}, "workflow_dispatch": {}},
        "permissions": {"contents": "read"},
        "concurrency": {"group": "hoox-${{ github.ref }}", "cancel-in-progress": False},
        "jobs": {"test-and-deploy": {
            "runs-on": "ubuntu-latest",
            "timeout-minutes": 45,
            "env": {"HOOX_WORKSPACE": workspace_dir},
            "steps": [
                {"name": "Check out", "uses": "actions/checkout@v4"},
                {"name": "Set up Python", "uses": "actions/setup-python@v5", "with": {"python-version": PYTHON}},
                {"name": "Set up Node (wrangler)", "uses": "actions/setup-node@v4", "with": {"node-version": NODE}},
                {"name": "Install hoox", "run": "\n".join(install)},
                {"name": "Fetch the wheels the tests use offline", "run": "\n".join(prepare)},
                {"name": "Test", "run": "hoox test" if src == "." else f"hoox test --path {src}"},
                {"name": "Deploy", "if": MAIN_ONLY, "env": secrets,
                 "run": "hoox deploy fetch-wheels\nhoox deploy all --auto --yes"},
            ],
        }},
    }


# ----------------------------------------------------------------------------- YAML
def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _emit(value: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for k, v in value.items():
            key = _scalar(k) if not isinstance(k, str) or not k.replace("-", "").replace("_", "").isalnum() else k
            if isinstance(v, dict | list) and v:
                out.append(f"{pad}{key}:")
                _emit(v, indent + 2, out)
            elif isinstance(v, dict | list):
                out.append(f"{pad}{key}: {'{}' if isinstance(v, dict) else '[]'}")
            elif isinstance(v, str) and "\n" in v:
                out.append(f"{pad}{key}: |")
                out.extend(f"{pad}  {ln}" for ln in v.split("\n"))
            else:
                out.append(f"{pad}{key}: {_scalar(v)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list) and item:
                inner: list[str] = []
                _emit(item, indent + 2, inner)
                out.append(f"{pad}- {inner[0].lstrip()}")
                out.extend(inner[1:])
            else:
                out.append(f"{pad}- {_scalar(item)}")


def to_yaml(value: dict[str, Any]) -> str:
    out: list[str] = ["# Written by `hoox init --ci github` (hoox_cli/core/ci.py); run it again after enabling",
                      "# workers, so that their secrets are mapped too. Set the repository secrets it names.", ""]
    _emit(value, 0, out)
    return "\n".join(out) + "\n"


def write(ws: Workspace, *, source: str | None = None, ref: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Write the workflow file; (its path, the structure)."""
    structure = workflow(ws, source=source, ref=ref)
    path = repo_root(ws) / WORKFLOW_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_yaml(structure), encoding="utf-8")
    return path, structure
