"""`hoox init --ci github`: the workflow file says what its structure says, uses only the keys GitHub
Actions knows, runs only hoox commands (and options) that exist, tests before it deploys, deploys only
from main, and hands the rollout its secrets from the repository's secrets."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
from cli_support import as_json, hoox
from hoox_edge import catalog
from hoox_edge.local.workspace import Workspace

from hoox_cli.core import ci, rollout
from hoox_cli.main import app

WORKFLOW_KEYS = {"name", "on", "permissions", "concurrency", "env", "jobs"}
JOB_KEYS = {"name", "runs-on", "timeout-minutes", "env", "steps", "if", "needs"}
STEP_KEYS = {"name", "uses", "with", "run", "env", "if", "working-directory", "shell"}
EVENTS = {"push", "pull_request", "workflow_dispatch"}


# ----------------------------------------------------------------------------- reading the file back
def parse_yaml(text: str) -> Any:
    """The block YAML the emitter writes (mappings, lists, double-quoted scalars, `|` blocks, true/false,
    integers, {} and []), read independently of it."""
    lines = [(len(ln) - len(ln.lstrip(" ")), ln.strip()) for ln in text.splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]

    def scalar(s: str) -> Any:
        if s.startswith('"'):
            return json.loads(s)
        return {"true": True, "false": False, "{}": {}, "[]": []}.get(s, int(s) if s.lstrip("-").isdigit() else s)

    def block(i: int, indent: int) -> tuple[Any, int]:
        if lines[i][1].startswith("- "):
            out_list: list[Any] = []
            while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
                rest = lines[i][1][2:]
                if ": " in rest or rest.endswith(":"):  # a mapping starting on the dash line
                    lines[i] = (indent + 2, rest)
                    value, i = block(i, indent + 2)
                else:
                    value, i = scalar(rest), i + 1
                out_list.append(value)
            return out_list, i
        out: dict[str, Any] = {}
        while i < len(lines) and lines[i][0] == indent:
            key, _, rest = lines[i][1].partition(":")
            rest = rest.strip()
            key = json.loads(key) if key.startswith('"') else key
            if rest == "|":
                j = i + 1
                body = []
                while j < len(lines) and lines[j][0] > indent:
                    body.append(lines[j][1])
                    j += 1
                out[key], i = "\n".join(body), j
            elif rest:
                out[key], i = scalar(rest), i + 1
            else:
                out[key], i = block(i + 1, lines[i + 1][0])
        return out, i

    value, end = block(0, 0)
    assert end == len(lines), f"unparsed from line {end}: {lines[end]}"
    return value


def check_command(words: list[str]) -> None:
    """`hoox …` names a command that exists, with options it takes (typer's own click: walked by duck type)."""
    cmd: Any = typer.main.get_command(app)
    rest = words[1:]
    while hasattr(cmd, "commands") and rest and not rest[0].startswith("-"):
        assert rest[0] in cmd.commands, f"`{' '.join(words)}`: no command {rest[0]!r}"
        cmd, rest = cmd.commands[rest[0]], rest[1:]
    assert not hasattr(cmd, "commands"), f"`{' '.join(words)}` is a group, not a command"
    options = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
    for w in rest:
        if w.startswith("-"):
            assert w.split("=")[0] in options, f"`{' '.join(words)}`: {w} is not an option of it"


def check_workflow(wf: dict[str, Any]) -> dict[str, Any]:
    assert set(wf) <= WORKFLOW_KEYS and {"on", "jobs"} <= set(wf)
    assert set(wf["on"]) <= EVENTS and wf["on"]["push"] == {"branches": ["main"]}
    assert wf["concurrency"]["cancel-in-progress"] is False  # a deploy is never cut off halfway
    (job,) = wf["jobs"].values()
    assert set(job) <= JOB_KEYS and job["runs-on"] == "ubuntu-latest"
    hoox_lines = []
    for step in job["steps"]:
        assert set(step) <= STEP_KEYS and ("uses" in step) != ("run" in step), step
        for line in step.get("run", "").splitlines():
            words = shlex.split(line)
            if words and words[0] == "hoox":
                check_command(words)
                hoox_lines.append((step["name"], line))
    names = [s["name"] for s in job["steps"]]
    test_at = next(i for i, s in enumerate(job["steps"]) if s.get("run", "").startswith("hoox test"))
    deploy = job["steps"][-1]
    assert test_at < names.index(deploy["name"])
    assert "hoox deploy all --auto --yes" in deploy["run"].splitlines()
    assert deploy["if"] == "github.ref == 'refs/heads/main' && github.event_name == 'push'"
    assert all(s.get("if") is None for s in job["steps"][:-1])  # the tests run on every push and PR
    assert hoox_lines
    return job


# ----------------------------------------------------------------------------- the tests
def test_the_workflow_installs_hoox_tests_it_and_deploys_main_with_the_repository_secrets(ws: Workspace) -> None:
    res = hoox("init", "--ci", "github", "--hoox-source", "https://git.example/desk/hoox.git",
               "--hoox-ref", "0123abcd", "--json")
    assert res.exit_code == 0, res.stdout
    out = as_json(res)
    path = ws.root / ".github" / "workflows" / "deploy.yml"
    assert out["workflow"] == str(path) and path.is_file()
    wf = parse_yaml(path.read_text(encoding="utf-8"))
    assert wf == ci.workflow(ws, source="https://git.example/desk/hoox.git", ref="0123abcd")
    job = check_workflow(wf)
    install = next(s for s in job["steps"] if s["name"] == "Install hoox")["run"].splitlines()
    assert install[:2] == ['git clone --quiet "https://git.example/desk/hoox.git" .hoox-src',
                           "git -C .hoox-src checkout --quiet 0123abcd"]
    assert 'python -m pip install -e "./.hoox-src[dev]"' in install
    assert any(s.get("run") == "hoox test --path .hoox-src" for s in job["steps"])
    assert job["env"] == {"HOOX_WORKSPACE": "${{ github.workspace }}"}
    env = job["steps"][-1]["env"]
    required = {s for w in ws.enabled_workers() for s in catalog.worker(w).secrets}
    assert {"CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID"} | required <= set(env)
    assert all(v == "${{ secrets." + k + " }}" for k, v in env.items())
    assert "WALLET_MNEMONIC_SECRET" not in env  # web3-wallet-worker is not enabled
    assert out["secrets"] == list(env)


def test_in_a_hoox_checkout_the_workflow_installs_the_repository_itself(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "my-hoox"
    repo.mkdir()
    (repo / "pyproject.toml").write_text('[project]\nname = "hoox"\nversion = "0.1.0"\n')
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    desk = Workspace(repo / "desk")
    desk.create()
    monkeypatch.chdir(tmp_path)
    res = hoox("init", "--ci", "github", "--path", str(desk.root), "--json")
    assert res.exit_code == 0, res.stdout
    path = repo / ".github" / "workflows" / "deploy.yml"
    wf = parse_yaml(path.read_text(encoding="utf-8"))
    job = check_workflow(wf)
    assert job["env"] == {"HOOX_WORKSPACE": "${{ github.workspace }}/desk"}
    install = next(s for s in job["steps"] if s["name"] == "Install hoox")["run"].splitlines()
    assert install == ['python -m pip install -e ".[dev]"', "npm ci --no-audit --no-fund"]
    assert any(s.get("run") == "hoox test" for s in job["steps"])


def test_no_known_hoox_source_and_bad_input_are_errors(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.setattr(ci, "default_source", lambda: (None, None))
    res = hoox("init", "--ci", "github", "--json")
    assert res.exit_code == 1 and as_json(res)["error"]["code"] == "NO_HOOX_SOURCE"
    assert not (ws.root / ".github").exists()
    assert hoox("init", "--ci", "gitlab", "--json").exit_code == 2
    assert hoox("init", "--hoox-ref", "abc", "--json").exit_code == 2
    res = hoox("init", "--ci", "github", "--path", str(tmp_path / "none"), "--hoox-source", "x", "--json")
    assert as_json(res)["error"]["code"] == "NO_WORKSPACE"


def test_the_repository_secrets_reach_the_rollout_as_environment_variables(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_API_KEY", "from-the-repository-secret-1234")
    monkeypatch.setenv("OPERATOR_API_KEY", "")  # an unset repository secret arrives empty
    vault = rollout.vault_of(ws, ["hoox"])
    assert vault["WEBHOOK_API_KEY"] == "from-the-repository-secret-1234"
    assert vault["OPERATOR_API_KEY"] == ws.secrets()["OPERATOR_API_KEY"]
