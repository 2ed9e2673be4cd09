"""`hoox init` (the setup wizard) and `hoox clone NAME` (a new workspace folder).

init asks the steps of the one setup-wizard model (hoox_cli.core.setup, shared with the cockpit's F8
wizard and its state file). --json: {"workspace", "base_port", "resumed_from": step|null, "completed": [step],
"created": [file], "toolchain": {"tools": [...], "ok", "optional_missing"}, "database": {"database", "file",
"applied", "remote"}, "steps": {step: {"done": bool, "written": [name]}} (workers also "enabled"),
"written": {"config", "secrets", "kv": [name]}, "state_file_removed": true, "next": [command],
"rollout": <the object of `deploy all --auto --json`>|null (the last step, with --deploy or a yes at the terminal)}

init --ci github --json: {"workflow": path, "workspace", "secrets": [name], "next": [str]}
(hoox_cli.core.ci: what the workflow does)

clone --json: {"workspace", "created": [file], "template": path|null, "copied": [file], "migrations_applied",
"next": [command]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hoox_cli.core.errors import fail
from hoox_cli.options import JsonOpt, PortOpt, handle_errors
from hoox_cli.output import emit_json, esc, say


def _csv(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


@handle_errors
def init(
    path: Annotated[Path | None, typer.Option("--path", file_okay=False,
                                              help="Folder to set up (default: --workspace / HOOX_WORKSPACE, else the "
                                                   "workspace this folder is in, else the default one in "
                                                   "your user data folder).")]
    = None,
    port: PortOpt = None,
    cloudflare_account_id: Annotated[str | None, typer.Option(
        "--cloudflare-account-id", metavar="ID", help="Cloudflare account id (stored in hoox.toml).")] = None,
    cloudflare_api_token: Annotated[str | None, typer.Option(
        "--cloudflare-api-token", metavar="TOKEN", envvar="CLOUDFLARE_API_TOKEN", show_envvar=True,
        help="Cloudflare API token (stored in .dev.vars; prefer the environment variable over the flag).")] = None,
    subdomain: Annotated[str | None, typer.Option("--subdomain", help="Your workers.dev subdomain.")] = None,
    skip_cloudflare: Annotated[bool, typer.Option("--skip-cloudflare", help="Do not connect Cloudflare now.")]
    = False,
    workers: Annotated[list[str] | None, typer.Option(
        "--workers", metavar="NAME,NAME", help="Exactly these workers enabled (hoox always is).")] = None,
    enable: Annotated[list[str] | None, typer.Option("--enable", metavar="NAME", help="Enable a worker.")] = None,
    disable: Annotated[list[str] | None, typer.Option("--disable", metavar="NAME", help="Disable a worker.")] = None,
    secrets_file: Annotated[Path | None, typer.Option(
        "--secrets-file", dir_okay=False, help="NAME=value lines of exchange/Telegram/... secrets to set.")] = None,
    skip_secrets: Annotated[bool, typer.Option("--skip-secrets", help="Set no optional secrets now.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Answer every question without a flag with its "
                                                          "default.")] = False,
    no_input: Annotated[bool, typer.Option("--no-input", help="Never prompt; a question without its flag is an "
                                                              "error naming the flag.")] = False,
    restart: Annotated[bool, typer.Option("--restart", help="Forget a saved, unfinished wizard and start over.")]
    = False,
    deploy_now: Annotated[bool | None, typer.Option(
        "--deploy/--no-deploy", help="Last step: roll out to Cloudflare (`hoox deploy all --auto`, secrets pushed). "
                                     "Asked at a terminal when Cloudflare is connected.")] = None,
    ci: Annotated[str | None, typer.Option(
        "--ci", metavar="github", help="Instead of the wizard: write the CI/CD workflow of this workspace "
                                       "(.github/workflows/deploy.yml: hoox test, then deploy main).")] = None,
    hoox_source: Annotated[str | None, typer.Option(
        "--hoox-source", metavar="GIT_URL", help="With --ci: where the workflow installs hoox from (default: the "
                                                 "repository itself when it is a hoox checkout, else this "
                                                 "hoox's git remote).")] = None,
    hoox_ref: Annotated[str | None, typer.Option("--hoox-ref", metavar="COMMIT", help="With --ci: the commit of "
                                                 "--hoox-source (default: this hoox's).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Set up a workspace step by step: Cloudflare, workers, exchange/AI/Telegram keys (resumable, also in F8)."""
    from hoox_edge.local.workspace import Workspace

    from hoox_cli import setup_prompts as wizard

    # the workspace every other command would use: never the current folder just because hoox runs there
    ws = Workspace(path.resolve()) if path is not None else Workspace.at()
    if ci is not None:
        _write_ci(ws, ci, hoox_source, hoox_ref, json_out)
        return
    if hoox_source or hoox_ref:
        fail("USAGE_ERROR", "--hoox-source and --hoox-ref go with --ci github.", exit_code=2)
    flags = wizard.Flags(account_id=cloudflare_account_id, api_token=cloudflare_api_token, subdomain=subdomain,
                         skip_cloudflare=skip_cloudflare, workers=_csv(workers) if workers else None,
                         enable=_csv(enable), disable=_csv(disable), secrets_file=secrets_file,
                         skip_secrets=skip_secrets, port=port, deploy=deploy_now)
    ui = wizard.Ui(yes=yes, no_input=no_input, json_mode=json_out)
    if not json_out:
        say(f"[bold]hoox setup[/bold] in {esc(ws.root)}")
    result = wizard.run(ws, ui, flags, restart=restart)
    if json_out:
        emit_json(result)
    if result["rollout"] is not None and not result["rollout"]["ok"]:
        raise typer.Exit(1)


def _write_ci(ws: Any, provider: str, source: str | None, ref: str | None, json_out: bool) -> None:
    from hoox_cli.core import ci

    if provider != "github":
        fail("USAGE_ERROR", f"--ci takes github (GitHub Actions), not {provider!r}.", exit_code=2)
    if not ws.exists:
        fail("NO_WORKSPACE", f"No workspace at {ws.root}: set it up first (`hoox init`), then add its CI.")
    path, structure = ci.write(ws, source=source, ref=ref)
    names = list(structure["jobs"]["test-and-deploy"]["steps"][-1]["env"])
    out = {"workflow": str(path), "workspace": str(ws.root), "secrets": names,
           "next": [f"git add {ci.WORKFLOW_PATH} && git commit", "set the repository secrets: "
                    + ", ".join(names[:2]) + " (required), and the others the workers need"]}
    if json_out:
        emit_json(out)
        return
    say(f"Wrote {esc(path)}: on every push and pull request it runs `hoox test`; on main it then runs "
        "`hoox deploy all --auto --yes`.")
    say(f"Repository secrets it reads (Settings → Secrets and variables → Actions): {esc(', '.join(names))}. "
        "An unset one arrives empty and is left alone.")


@handle_errors
def clone(
    name: Annotated[Path, typer.Argument(help="Folder to create (must not exist, or be empty).")],
    template: Annotated[Path | None, typer.Option(
        "--from", file_okay=False,
        help="Copy hoox.toml and kv-manifest.json from this workspace (never its secrets or state).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a new workspace folder NAME with the defaults (fresh secrets, migrated ledger)."""
    import shutil

    from hoox_edge import migrations
    from hoox_edge.local.workspace import CONFIG_FILE, MANIFEST_FILE, Workspace

    from hoox_cli.core.errors import run_async
    from hoox_cli.core.redact import remember_secrets
    from hoox_cli.core.workspace import open_db

    target = name.resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        fail("TARGET_NOT_EMPTY", f"{target} already exists and is not an empty folder; choose another name.")
    copied: list[str] = []
    if template is not None:
        src = Workspace(template.resolve())
        if not src.exists:
            fail("NO_WORKSPACE", f"--from {template}: no hoox.toml there.")
        src.config()  # refuse a template whose config does not parse
        target.mkdir(parents=True, exist_ok=True)
        for f in (CONFIG_FILE, MANIFEST_FILE):
            if (src.root / f).is_file():
                shutil.copyfile(src.root / f, target / f)
                copied.append(f)
    ws = Workspace(target)
    created = ws.create()
    remember_secrets(ws.secrets().values())
    db = open_db(ws)
    try:
        applied = run_async(migrations.apply(db))
    finally:
        db.close()
    nxt = [f"cd {name}", "hoox dev start"]
    if json_out:
        emit_json({"workspace": str(ws.root), "created": created, "template": str(template) if template else None,
                   "copied": copied, "migrations_applied": applied, "next": nxt})
        return
    say(f"Created a hoox workspace in [bold]{esc(ws.root)}[/bold]"
        + (f" from {esc(template)} ({esc(', '.join(copied))})" if copied else ""))
    for f in created:
        say(f"  [green]+[/green] {esc(f)}")
    say(f"Next: {esc(' && '.join(nxt))}")
