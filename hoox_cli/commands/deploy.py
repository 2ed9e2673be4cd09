"""`hoox deploy all|worker|fetch-wheels|telegram-webhook|update-internal-urls|kv-config`.

JSON objects (--json):
- all / worker:         {"dry_run", "order": [worker], "deployed": [worker], "failed": worker|null,
                         "not_deployed": [worker], "results": [{"worker", "ok", "dry_run", "error",
                         "output_tail", "skipped", "url", "bundle"}]}
                        bundle (null when the worker was not staged): {"modules", "bytes", "gzip_bytes",
                         "limit_bytes", "packages": ["name==version"], "not_vendored": [name],
                         "duplicates": [module], "largest": [{"module", "bytes", "gzip_bytes"}],
                         "wrangler": {"modules", "gzip_bytes", "duplicates"?} (what wrangler reported;
                         absent when wrangler did not run)}
- all --auto [--yes]:    {"ok", "order": [worker], "failed": step|worker|null, "secrets": {"push": [{"worker",
                         "name"}], "missing": [...], "pushed": [{"worker", "name"}]}, "provisioned": [{"kind", "name",
                         "id", "created"}], "migrations": {"ok", "applied": [name], "error"}|null, "kv":
                         {"namespace", "written": [key], "kept": [key]}|null, "deploy": [<result as above>],
                         "domains": [{"hostname", "worker", "created", "error"}],
                         "health": [{"worker", "url", "ok", "detail"}], "rolled_back": [{"worker", "version_id",
                         "ok", "error"}]} (hoox_cli.core.rollout: the steps, and why in that order; secret
                         values never appear, only names)
- fetch-wheels:         {"cache", "ok", "packages": [requirement], "wheels": [file], "command": [arg]}
- telegram-webhook:     {"url", "registered": bool, "secret_generated": bool, "secret_synced": [worker],
                         "description", "allowed_updates": [kind], "webhook": {"url", "pending_update_count",
                         "last_error_date", "last_error_message", "allowed_updates"} (getWebhookInfo read back;
                         null when Telegram did not answer it), "polling_state_deleted": bool (the local
                         runtime's long-polling offset, dropped now that updates come by the webhook)}
- update-internal-urls: {"workers": [worker], "changed": [path], "resources": {"kv", "d1", "account_id"?}}
- kv-config:            {"target": "local"|"edge"|"remote", "namespace", "written": [key], "unchanged": [key],
                         "kept": [key], "dry_run", "edge": {"url", "local", "running"}|null}: "local" the
                         workspace's edge, "edge" a --remote URL's (through the operator API), "remote"
                         Cloudflare's namespace (--cloudflare, or a bare --remote)
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hoox_cli.core.errors import fail, run_async
from hoox_cli.core.workspace import workspace
from hoox_cli.options import JsonOpt, RemoteOpt, handle_errors
from hoox_cli.output import edge, emit_json, esc, say, warn, where_of

if TYPE_CHECKING:
    from hoox_cli.core.edge import Edge

app = typer.Typer(help="Deploy workers to Cloudflare with wrangler (every deploy takes --dry-run).",
                  no_args_is_help=True)

DryRunOpt = Annotated[bool, typer.Option(
    "--dry-run", help="Stage and vendor each bundle (offline, from the wheel cache), measure it, then "
                      "`wrangler deploy --dry-run`: validate config and bundle, upload nothing.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show wrangler's output as it runs.")]
TELEGRAM_API = "https://api.telegram.org"


def _summary(results: list[Any], order: list[str], dry_run: bool) -> dict[str, Any]:
    failed = next((r.worker for r in results if not r.ok and not r.skipped), None)
    return {
        "dry_run": dry_run,
        "order": order,
        "deployed": [r.worker for r in results if r.ok],
        "failed": failed,
        "not_deployed": [r.worker for r in results if not r.ok],
        "results": [r.as_dict() for r in results],
    }


def _report(summary: dict[str, Any], json_out: bool) -> None:
    if json_out:
        emit_json(summary)
    else:
        verb = "Checked (dry run)" if summary["dry_run"] else "Deployed"
        for r in summary["results"]:
            if r["ok"]:
                say(f"[green]✓[/green] {esc(r['worker'])}" + _bundle_text(r.get("bundle"))
                    + (f"  {esc(r['url'])}" if r.get("url") else ""))
            elif r["skipped"]:
                say(f"[dim]- {esc(r['worker'])}: not deployed[/dim]")
            else:
                say(f"[red]✗ {esc(r['worker'])}[/red]: {esc(r['error'])}")
                for line in r["output_tail"][-12:]:
                    say(f"    [dim]{esc(line)}[/dim]")
        skipped = sorted({p for r in summary["results"] for p in ((r.get("bundle") or {}).get("not_vendored") or [])})
        if skipped:
            warn(f"the edge imports {', '.join(skipped)}, which cannot be vendored (no pure-Python build for "
                 "Python Workers): the bundles leave it out, so code importing it fails on Cloudflare.")
        if summary["deployed"]:
            say(f"{verb}: {', '.join(summary['deployed'])}.")
        if summary["failed"]:
            say(f"[bold red]Stopped at {esc(summary['failed'])}.[/bold red] Not deployed: "
                f"{esc(', '.join(summary['not_deployed']))}.")
    if summary["failed"]:
        raise typer.Exit(1)


def _bundle_text(bundle: dict[str, Any] | None) -> str:
    if not bundle:
        return ""
    mib = 1024 * 1024
    return (f"  [dim]{bundle['modules']} modules, {bundle['gzip_bytes'] / mib:.2f} MB compressed "
            f"of {bundle['limit_bytes'] / mib:.2f} MB[/dim]")


@app.command("all")
@handle_errors
def deploy_all_cmd(
    dry_run: DryRunOpt = False,
    auto: Annotated[bool, typer.Option(
        "--auto", help="The whole rollout: provision what is missing, migrations, KV manifest, secrets from the "
                       "local vault, deploy, /health through the public URL, roll back a worker that fails it.")]
    = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --auto: push secrets without asking.")] = False,
    verbose: VerboseOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Every enabled worker, in the order of their service bindings; stops at the first failure."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from hoox_cli.core import deploy
    from hoox_cli.output import err_console

    if yes and not auto:
        fail("USAGE_ERROR", "--yes answers the questions of --auto: give --auto too.", exit_code=2)
    if auto and dry_run:
        fail("USAGE_ERROR", "--auto deploys for real; check the bundles first with `hoox deploy all --dry-run`.",
             exit_code=2)
    ws = workspace()
    if auto:
        _auto(ws, yes=yes, verbose=verbose, json_out=json_out)
        return
    order = deploy.planned_workers(ws)
    # The bar goes to stderr so that stdout stays one JSON object under --json.
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=err_console(), transient=False)
    task = progress.add_task("deploy", total=len(order))

    def on_progress(name: str, done: int, total: int) -> None:
        label = "dry run" if dry_run else "deploy"
        desc = f"{label}: done" if done == total else f"{label}: {name}"
        progress.update(task, completed=done, description=desc)

    def on_line(line: str) -> None:
        if verbose:
            progress.console.print(f"[dim]{esc(line)}[/dim]")

    with progress:
        results = run_async(deploy.deploy_all(ws, dry_run=dry_run, on_line=on_line, on_progress=on_progress))
    _report(_summary(results, order, dry_run), json_out)


def _auto(ws: Any, *, yes: bool, verbose: bool, json_out: bool) -> None:
    import sys

    from hoox_cli.core import rollout
    from hoox_cli.output import can_prompt

    def confirm(question: str) -> bool:
        return typer.confirm(question, default=False)

    asking = can_prompt(json_out) and sys.stdin.isatty()
    report = run_async(rollout.rollout(
        ws, yes=yes, confirm=confirm if asking else None, say=(lambda _: None) if json_out else say,
        on_line=(lambda ln: say(f"[dim]{esc(ln)}[/dim]")) if verbose and not json_out else None))
    if json_out:
        emit_json(report)
    else:
        _auto_text(report)
    if not report["ok"]:
        raise typer.Exit(1)


def _auto_text(report: dict[str, Any]) -> None:
    pushed = report["secrets"]["pushed"] if report["secrets"] else []
    if pushed:
        say(f"Secrets pushed: {esc(', '.join(sorted({p['name'] for p in pushed})))}.")
    if report["migrations"] and report["migrations"]["applied"]:
        say(f"Migrations applied: {esc(', '.join(report['migrations']['applied']))}.")
    if report["migrations"] and not report["migrations"]["ok"]:
        say(f"[red]✗ migrations[/red]: {esc(report['migrations']['error'])}. Nothing was deployed.")
    for r in report["deploy"]:
        if r["ok"]:
            say(f"[green]✓[/green] {esc(r['worker'])}" + (f"  {esc(r['url'])}" if r.get("url") else ""))
        elif r["skipped"]:
            say(f"[dim]- {esc(r['worker'])}: not deployed[/dim]")
        else:
            say(f"[red]✗ {esc(r['worker'])}[/red]: {esc(r['error'])}")
    for h in report["health"]:
        if not h["ok"]:
            say(f"[red]✗ {esc(h['worker'])} /health[/red]: {esc(h['detail'])}")
    for rb in report["rolled_back"]:
        say(f"[yellow]↺ {esc(rb['worker'])}[/yellow] rolled back to {esc(rb['version_id'])}" if rb["ok"]
            else f"[red]✗ {esc(rb['worker'])} not rolled back[/red]: {esc(rb['error'])}")
    if report["ok"]:
        url = next((h["url"] for h in report["health"] if h["url"]), None)
        say("[green]Rolled out[/green]" + (f"; {esc(url)} answers 200." if url else "."))
    else:
        say(f"[bold red]The rollout failed at {esc(report['failed'])}.[/bold red]")


@app.command("worker")
@handle_errors
def deploy_worker_cmd(
    name: Annotated[str, typer.Argument(help="Worker name, e.g. trade-worker.")],
    dry_run: DryRunOpt = False,
    verbose: VerboseOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Deploy one worker (its service-binding targets must already be deployed)."""
    from hoox_edge import catalog

    from hoox_cli.core import deploy

    ws = workspace()
    try:
        catalog.worker(name)
    except KeyError as exc:
        fail("UNKNOWN_WORKER", str(exc.args[0]))

    def on_line(line: str) -> None:
        if verbose and not json_out:
            say(f"[dim]{esc(line)}[/dim]")

    result = run_async(deploy.deploy_worker(ws, name, dry_run=dry_run, on_line=on_line))
    _report(_summary([result], [name], dry_run), json_out)


@app.command("fetch-wheels")
@handle_errors
def fetch_wheels_cmd(
    dest: Annotated[Path | None, typer.Option(
        "--dest", help="Folder to fill; default: the workspace's deploy.wheel_cache (.hoox/cache/wheels).")] = None,
    verbose: VerboseOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Download the pure-Python wheels the workers' bundles vendor into the wheel cache (needs the network).

    Every deploy, --dry-run included, then vendors from this cache offline."""
    from hoox_cli.core import deploy

    if dest is None:
        dest = deploy.deploy_settings(workspace()).wheel_cache
    dest = dest.resolve()

    def on_line(line: str) -> None:
        if verbose and not json_out:
            say(f"[dim]{esc(line)}[/dim]")

    packages = deploy.bundle_packages()[0]
    command = deploy.fetch_command(dest, packages)
    ok, tail = deploy.fetch_wheels(dest, on_line)
    if not ok:
        fail("FETCH_FAILED", f"pip could not download the wheels into {dest} (it needs the network): "
                             + " | ".join(tail[-3:]), details={"command": command})
    wheels = sorted(p.name for p in dest.glob("*.whl"))
    if json_out:
        emit_json({"cache": str(dest), "ok": True, "packages": packages, "wheels": wheels, "command": command})
        return
    say(f"{len(wheels)} wheel(s) in {esc(dest)} for {esc(', '.join(packages))} and their dependencies.")


@app.command("update-internal-urls")
@handle_errors
def update_internal_urls(json_out: JsonOpt = False) -> None:
    """Render every worker's wrangler.jsonc again from the catalog and the workspace's resource ids."""
    from hoox_edge import catalog

    from hoox_cli.core import deploy

    ws = workspace()
    res = deploy.resources(ws)
    changed: list[str] = []
    for w in catalog.WORKERS:
        changed += [str(p) for p in deploy.stage_config(ws, w.name, res)]
    if json_out:
        emit_json({"workers": [w.name for w in catalog.WORKERS], "changed": changed, "resources": res})
        return
    say(f"Rendered the wrangler.jsonc of {len(catalog.WORKERS)} workers under "
        f"{esc(ws.hoox_dir / deploy.DEPLOY_DIR)} ({len(changed)} file(s) changed).")
    missing = sorted({b.resource for w in catalog.WORKERS for b in w.bindings
                      if b.kind in ("kv", "d1") and not res[b.kind].get(b.resource)})
    if missing:
        warn(f"no Cloudflare id recorded for {', '.join(missing)}: run `hoox infra provision --remote`.")


# ----------------------------------------------------------------------------- telegram webhook
@app.command("telegram-webhook")
@handle_errors
def telegram_webhook(
    url: Annotated[str | None, typer.Option(
        "--url", help="Public URL Telegram should call; default: the gateway's deployed URL + /telegram-webhook.")
    ] = None,
    sync_secret: Annotated[bool, typer.Option(
        "--sync-secret/--no-sync-secret",
        help="Also set TELEGRAM_WEBHOOK_SECRET on the deployed telegram-worker (wrangler secret put).")] = True,
    json_out: JsonOpt = False,
) -> None:
    """Register the bot's webhook with Telegram (setWebhook) with a secret token Telegram sends back, then
    read it back (getWebhookInfo: pending updates, last error)."""
    import os
    import secrets as pysecrets

    import httpx
    from hoox_edge.desk.updates import ALLOWED_UPDATES

    from hoox_cli.core import domains, wrangler_cli
    from hoox_cli.core.redact import remember_secrets

    ws = workspace()
    local = ws.secrets()
    token = os.environ.get("TELEGRAM_BOT_TOKEN") or local.get("TELEGRAM_BOT_TOKEN")
    if not token:
        fail("NO_BOT_TOKEN", "TELEGRAM_BOT_TOKEN is not set: `hoox secrets set TELEGRAM_BOT_TOKEN` (from @BotFather).")
    remember_secrets([token])
    if url is None:
        gateway = domains.public_url(ws, "hoox")
        if not gateway:
            fail("NO_URL", "The gateway's public URL is not known (deploy it with `hoox deploy worker hoox`, "
                           "or pass --url).")
        url = str(gateway).rstrip("/") + "/telegram-webhook"
    if not url.startswith("https://") and not os.environ.get("TELEGRAM_API_BASE_URL"):
        fail("BAD_URL", f"Telegram only calls https URLs; got {url}.")
    secret = local.get("TELEGRAM_WEBHOOK_SECRET")
    generated = not secret
    if not secret:
        # Telegram allows 1-256 characters of A-Z a-z 0-9 _ -.
        secret = pysecrets.token_urlsafe(48)
        ws.set_secret("TELEGRAM_WEBHOOK_SECRET", secret)
    remember_secrets([secret])
    base = (os.environ.get("TELEGRAM_API_BASE_URL") or TELEGRAM_API).rstrip("/")
    try:
        resp = httpx.post(f"{base}/bot{token}/setWebhook", timeout=15.0,
                          json={"url": url, "secret_token": secret, "drop_pending_updates": False,
                                "allowed_updates": list(ALLOWED_UPDATES)})
        body = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        fail("TELEGRAM_UNREACHABLE", f"Telegram did not answer setWebhook ({type(exc).__name__}).")
    if not body.get("ok"):
        fail("TELEGRAM_ERROR", f"Telegram refused setWebhook: {body.get('description') or resp.status_code}.")
    synced: list[str] = []
    if sync_secret:
        r = run_async(wrangler_cli.run(["secret", "put", "TELEGRAM_WEBHOOK_SECRET", "--name", "telegram-worker"],
                                       cwd=ws.root, ws=ws, stdin=secret))
        if not r.ok:
            fail("SECRET_SYNC_FAILED", "The webhook is registered, but TELEGRAM_WEBHOOK_SECRET could not be set on "
                 "telegram-worker: " + " | ".join(r.tail(3)), details={"registered": True})
        synced.append("telegram-worker")
    polling_deleted = _delete_polling_state(ws)
    info: dict[str, Any] | None = None
    try:  # what Telegram now holds: the URL, updates waiting, the last delivery error
        got = httpx.post(f"{base}/bot{token}/getWebhookInfo", timeout=15.0).json()
        if got.get("ok") and isinstance(got.get("result"), dict):
            r = got["result"]
            info = {"url": r.get("url"), "pending_update_count": r.get("pending_update_count"),
                    "last_error_date": r.get("last_error_date"), "last_error_message": r.get("last_error_message"),
                    "allowed_updates": r.get("allowed_updates")}
    except (httpx.HTTPError, ValueError):
        info = None
    out = {"url": url, "registered": True, "secret_generated": generated, "secret_synced": synced,
           "description": body.get("description"), "allowed_updates": list(ALLOWED_UPDATES), "webhook": info,
           "polling_state_deleted": polling_deleted}
    if json_out:
        emit_json(out)
        return
    say(f"Telegram will call {esc(url)} with the secret token in X-Telegram-Bot-Api-Secret-Token.")
    if info is None:
        warn("Telegram did not answer getWebhookInfo: the registration could not be read back.")
    else:
        if info["url"] != url:
            warn(f"Telegram reports the webhook URL as {esc(str(info['url']))}, not {esc(url)}.")
        say(f"Telegram reports {info['pending_update_count'] or 0} pending update(s).")
        if info["last_error_message"]:
            warn(f"Telegram's last delivery error: {esc(str(info['last_error_message']))}.")
    if generated:
        say("A new TELEGRAM_WEBHOOK_SECRET was generated and saved in .dev.vars.")
    if synced:
        say("TELEGRAM_WEBHOOK_SECRET is set on telegram-worker.")
    if polling_deleted:
        say("The local runtime's long-polling state was deleted: updates now arrive by the webhook.")


def _delete_polling_state(ws: Any) -> bool:
    """Drop the local runtime's getUpdates offset (`hoox_edge.local.telegram_poll`); True when there was one."""
    from hoox_edge import catalog

    from hoox_cli.core.workspace import open_db

    if not ws.d1_file(catalog.TRADE_DB).exists():
        return False
    db = open_db(ws)

    async def delete() -> bool:
        if not await db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'telegram_polling'"
                                ).first():
            return False
        return bool((await db.prepare("DELETE FROM telegram_polling").run())["meta"].get("changes"))

    try:
        return bool(run_async(delete()))
    finally:
        db.close()


# ----------------------------------------------------------------------------- KV manifest
@app.command("kv-config")
@handle_errors
def kv_config(
    cloudflare: Annotated[bool, typer.Option("--cloudflare", help="Write to the Cloudflare CONFIG_KV namespace through "
                                                                  "the Cloudflare API (a bare --remote means this "
                                                                  "too).")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Also replace values already in KV (default: only keys that are absent).")] = False,
    dry_run: DryRunOpt = False,
    remote: RemoteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write the workspace's kv-manifest.json into CONFIG_KV: the edge's (the local one, running or not, or
    --remote URL's, through its operator API), or with --cloudflare the namespace on Cloudflare."""
    from hoox_edge import catalog
    from hoox_edge.shared import settings

    if cloudflare and remote:
        fail("USAGE_ERROR", "--cloudflare writes the namespace through the Cloudflare API, --remote URL an edge's "
                            "KV: give one.", exit_code=2)
    ws = workspace()
    typed = {k: v for k, v in ws.manifest().items() if v is not None}
    manifest = {k: settings.encode(k, v) for k, v in typed.items()}
    target: contextlib.AbstractContextManager[Edge | None] = (
        edge(remote, ws) if not cloudflare else contextlib.nullcontext())
    with target as e:
        if e is None:
            current, namespace = run_async(_remote_kv_values(ws, list(manifest)))
        else:
            current = {i["key"]: i["raw"] for i in e.kv_list()["items"] if i["source"] == "kv" and i["key"] in manifest}
            namespace = catalog.CONFIG_KV
        written = [k for k, v in manifest.items() if k not in current or (overwrite and current[k] != v)]
        unchanged = [k for k, v in manifest.items() if current.get(k) == v]
        kept = [k for k, v in manifest.items() if k in current and current[k] != v and not overwrite]
        if written and not dry_run:
            if e is None:
                run_async(_remote_kv_put(ws, namespace, {k: manifest[k] for k in written}))
            else:
                for k in written:
                    e.kv_put(k, typed[k])
    info = e.info.as_json() if e is not None else None
    out = {"target": "remote" if cloudflare else ("local" if info and info["local"] else "edge"),
           "namespace": namespace, "written": written, "unchanged": unchanged, "kept": kept, "dry_run": dry_run,
           "edge": info}
    if json_out:
        emit_json(out)
        return
    verb = "Would write" if dry_run else "Wrote"
    say(f"{verb} {len(written)} key(s) to {'Cloudflare' if cloudflare else 'the'} CONFIG_KV"
        + (f": {esc(', '.join(written))}" if written else "") + "." + (f"  {where_of(info)}" if info else ""))
    if kept:
        say(f"Kept {len(kept)} value(s) that differ from the manifest ({esc(', '.join(kept))}); "
            "--overwrite replaces them.")


def _config_namespace(ws: Any) -> str:
    from hoox_edge import catalog

    from hoox_cli.core import deploy

    ns = deploy.resources(ws)["kv"].get(catalog.CONFIG_KV)
    if not ns:
        fail("NO_NAMESPACE", f"No Cloudflare id recorded for the {catalog.CONFIG_KV} namespace: "
                             "run `hoox infra provision --remote` first.")
    return ns


async def _remote_kv_values(ws: Any, keys: list[str]) -> tuple[dict[str, str], str]:
    from hoox_cli.core.cloudflare_api import api_client

    ns = _config_namespace(ws)
    async with api_client(ws) as api:
        return await api.kv_values(ns, keys), ns


async def _remote_kv_put(ws: Any, ns: str, items: dict[str, str]) -> None:
    from hoox_cli.core.cloudflare_api import api_client

    async with api_client(ws) as api:
        await api.kv_bulk_put(ns, [{"key": k, "value": v} for k, v in items.items()])

