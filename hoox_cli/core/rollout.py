"""`hoox deploy all --auto`: the whole rollout to Cloudflare with nobody at the keyboard, and the
checks of `repair check --remote`.

The rollout, in order (each step only does what is missing, so running it again is safe):

1. secrets: each enabled worker's secrets that the local vault (.dev.vars, or an environment variable
   of that name, as in CI) holds and the worker does not have yet on Cloudflare are listed first, by
   name; pushing them is asked once (or `--yes`).
   A required secret that is in neither place stops the rollout before anything changes.
2. provision: every KV namespace, D1 database, R2 bucket and queue the workers bind (ids recorded).
3. migrations: `wrangler d1 migrations apply <ledger> --remote` (Cloudflare keeps the history).
4. KV manifest: the manifest's keys absent from the CONFIG_KV namespace are written (values an
   operator set are kept).
5. deploy: every enabled worker in binding order (hoox_cli.core.deploy), recording the version each
   served before; its custom domain (hoox.toml [cloudflare.hostnames]) is made sure of and its missing
   secrets are pushed right after its upload (a secret needs the worker).
6. health: the gateway's `/health` through its public URL (domains.public_url), polled until it
   answers 200 or HEALTH_TIMEOUT_S passes; it probes every binding, so a failing internal worker is
   named by its own probe and the gateway by its own.
7. rollback: a worker whose health failed goes back to the version it served before the rollout
   (`wrangler rollback <version> --name <worker>`); one deployed for the first time has none.

Secret values travel only in request bodies (the Workers secrets API); the report names secrets,
never their values.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx
from hoox_edge.shared.http import tls_for

from hoox_cli.core import deploy, domains, provision, wrangler_cli
from hoox_cli.core.cloudflare_api import CloudflareAPI, CloudflareError
from hoox_cli.core.errors import CliError, fail

if TYPE_CHECKING:
    from hoox_edge.local.workspace import Workspace

HEALTH_TIMEOUT_S = 90.0  # a new version is served within seconds; a first deploy's DNS and certificate can take longer
HEALTH_INTERVAL_S = 3.0
# The transport of the health checks: None is the network; tests give a loopback one.
health_transport: httpx.AsyncBaseTransport | None = None
GATEWAY = "hoox"
_OWN_PROBES = ("kv", "d1", "idempotencyStore", "rateLimiter", "queue")  # the gateway's own bindings

Say = Callable[[str], None]
# Asks the operator a yes/no question: the CLI answers at once, the cockpit after its dialog is dismissed.
Confirm = Callable[[str], bool | Awaitable[bool]]


def _quiet(_: str) -> None:
    pass


# ----------------------------------------------------------------------------- secrets
async def remote_secret_names(api: CloudflareAPI, worker: str) -> set[str] | None:
    """The names of the worker's secrets on Cloudflare; None when the worker does not exist there."""
    try:
        return {str(s.get("name")) for s in await api.secret_list(worker)}
    except CloudflareError as exc:
        if exc.status == 404:
            return None
        raise


def vault_of(ws: Workspace, workers: list[str]) -> dict[str, str]:
    """The local vault: .dev.vars, and the environment variable of a declared secret's name, which wins
    (as with the Cloudflare token: in CI the repository's secrets arrive that way; an empty one is absent)."""
    import os

    from hoox_edge import catalog

    vault = {k: v for k, v in ws.secrets().items() if v}
    for name in workers:
        for s in catalog.worker(name).all_secrets:
            if os.environ.get(s):
                vault[s] = os.environ[s]
    return vault


async def secrets_plan(api: CloudflareAPI, ws: Workspace, workers: list[str]) -> dict[str, Any]:
    """{"push": [{"worker", "name"}] (in the vault, not on the worker), "missing": [{"worker", "name"}]
    (required, in neither place)}."""
    from hoox_edge import catalog

    vault = vault_of(ws, workers)
    push: list[dict[str, str]] = []
    missing: list[dict[str, str]] = []
    for name in workers:
        w = catalog.worker(name)
        have = await remote_secret_names(api, name) or set()
        for s in w.all_secrets:
            if s in have:
                continue
            if vault.get(s):
                push.append({"worker": name, "name": s})
            elif s in w.secrets:
                missing.append({"worker": name, "name": s})
    return {"push": push, "missing": missing}


# ----------------------------------------------------------------------------- KV manifest
async def kv_sync(api: CloudflareAPI, ws: Workspace) -> dict[str, Any]:
    """Write the manifest's keys that the CONFIG_KV namespace lacks: {"namespace", "written", "kept"}."""
    from hoox_edge import catalog
    from hoox_edge.shared import settings

    ns = deploy.resources(ws)["kv"].get(catalog.CONFIG_KV)
    if not ns:
        raise CloudflareError(f"no id recorded for the {catalog.CONFIG_KV} namespace")
    manifest = {k: settings.encode(k, v) for k, v in ws.manifest().items() if v is not None}
    current = await api.kv_values(ns, list(manifest))
    written = [k for k in manifest if k not in current]
    if written:
        await api.kv_bulk_put(ns, [{"key": k, "value": manifest[k]} for k in written])
    return {"namespace": ns, "written": written, "kept": [k for k in manifest if k in current]}


# ----------------------------------------------------------------------------- health
async def gateway_health(url: str) -> tuple[int | None, dict[str, Any] | None, str]:
    """Poll `url` until it answers 200 or HEALTH_TIMEOUT_S passes: (last status, its JSON, what went wrong)."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    status: int | None = None
    body: dict[str, Any] | None = None
    problem = ""
    async with httpx.AsyncClient(transport=health_transport, timeout=15.0, follow_redirects=False,
                                 verify=tls_for(url)) as client:
        while True:
            try:
                resp = await client.get(url)
                status = resp.status_code
                try:
                    parsed = resp.json()
                    body = parsed if isinstance(parsed, dict) else None
                except ValueError:
                    body = None
                problem = "" if status == 200 else f"HTTP {status}"
            except httpx.HTTPError as exc:
                status, body, problem = None, None, f"no answer ({type(exc).__name__})"
            if status == 200 or time.monotonic() >= deadline:
                return status, body, problem
            await asyncio.sleep(HEALTH_INTERVAL_S)


def judge_health(deployed: list[str], status: int | None, body: dict[str, Any] | None,
                 problem: str) -> dict[str, str | None]:
    """{worker: None (healthy) or why not}, from the gateway's /health answer."""
    bindings = (body or {}).get("bindings") if isinstance(body, dict) else None
    out: dict[str, str | None] = {}
    if status == 200:
        return dict.fromkeys(deployed)
    if not isinstance(bindings, dict):
        # no readable answer: the gateway itself is at fault; the others cannot be judged through it
        return {w: (problem or "no health report") if w == GATEWAY else "not verified: the gateway did not report"
                for w in deployed}
    own = [f"{k}: {v.get('error') or v.get('status')}" for k, v in bindings.items()
           if k in _OWN_PROBES and isinstance(v, dict) and v.get("status") == "error"]
    for w in deployed:
        if w == GATEWAY:
            out[w] = "; ".join(own) or None
            continue
        probe = bindings.get(w)
        if isinstance(probe, dict) and probe.get("status") == "error":
            out[w] = str(probe.get("error") or "its /health failed")
        else:
            out[w] = None
    return out


# ----------------------------------------------------------------------------- the rollout
async def rollout(ws: Workspace, *, yes: bool, confirm: Confirm | None,
                  say: Say = _quiet, on_line: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the rollout (see the module's docstring); the report `deploy all --auto --json` prints.

    `confirm(question)` asks the operator (None: nobody to ask; then a push of secrets needs `yes`)."""
    from hoox_edge import catalog

    from hoox_cli.core.cloudflare_api import api_client
    from hoox_cli.core.redact import remember_secrets

    creds = wrangler_cli.credentials(ws)
    if not creds.get("CLOUDFLARE_API_TOKEN") or not creds.get("CLOUDFLARE_ACCOUNT_ID"):
        fail("NO_CREDENTIALS", "A rollout needs CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID (environment, or "
                               "`hoox secrets set CLOUDFLARE_API_TOKEN` and [cloudflare] account_id in hoox.toml).")
    domains.hostnames(ws)  # a wrong hostname stops here, before anything changes
    order = deploy.planned_workers(ws)
    remember_secrets(ws.secrets().values())
    report: dict[str, Any] = {"ok": False, "order": order, "secrets": None, "provisioned": [], "migrations": None,
                              "kv": None, "deploy": [], "domains": [], "health": [], "rolled_back": [],
                              "failed": None}
    async with api_client(ws) as api:
        # 1. secrets: asked first, so that a "no" changes nothing
        plan = await secrets_plan(api, ws, order)
        report["secrets"] = {"pushed": [], **plan}
        if plan["missing"]:
            names = ", ".join(f"{m['name']} ({m['worker']})" for m in plan["missing"])
            fail("SECRETS_MISSING", f"Required secrets are set neither on Cloudflare nor in the local vault: {names}. "
                                    "Set each with `hoox secrets set NAME`. Nothing was changed.",
                 details={"missing": plan["missing"]})
        if plan["push"] and not yes:
            to_push = sorted({p["name"] for p in plan["push"]})
            question = (f"Push {len(plan['push'])} secret value(s) from the local vault to Cloudflare "
                        f"({', '.join(to_push)})?")
            if confirm is None:
                fail("CONFIRM_REQUIRED", f"{question} Nobody to ask: add --yes. Nothing was changed.",
                     details={"push": plan["push"]})
            answer = confirm(question)
            if inspect.isawaitable(answer):
                answer = await answer
            if not answer:
                fail("ABORTED", "Secrets not pushed; nothing was changed.")
        # 2. provision
        say("provisioning the resources the workers bind")
        report["provisioned"] = await provision.provision_remote(api, ws)
        for r in report["provisioned"]:
            if r["created"]:
                say(f"  created {r['kind']} {r['name']}")
        # 3. migrations (wrangler keeps Cloudflare's d1_migrations history)
        if catalog.TRADE_DB in provision.declared(ws)["d1"]:
            say("applying D1 migrations")
            target = await asyncio.to_thread(deploy.stage_worker, ws, "d1-worker")
            r = await wrangler_cli.run(["d1", "migrations", "apply", catalog.TRADE_DB, "--remote"],
                                       cwd=target, ws=ws, on_line=on_line)
            from hoox_cli.core.remote_d1 import _MIGRATION

            applied = list(dict.fromkeys(m.group(1) for ln in r.lines for m in _MIGRATION.finditer(ln)))
            report["migrations"] = {"ok": r.ok, "applied": applied,
                                    "error": None if r.ok else r.error()}
            if not r.ok:
                report["failed"] = "migrations"
                return report
        # 4. KV manifest
        kv = await kv_sync(api, ws)
        report["kv"] = kv
        say(f"KV manifest: {len(kv['written'])} key(s) written, {len(kv['kept'])} kept")
        # 5. deploy in binding order, each worker's missing secrets right after its upload
        vault = vault_of(ws, order)
        remember_secrets(vault.values())
        before: dict[str, str | None] = {}
        deployed: list[str] = []
        for i, name in enumerate(order):
            before[name] = await api.active_version(name)
            say(f"deploying {name}")
            res = await deploy.deploy_worker(ws, name, dry_run=False, on_line=on_line)
            report["deploy"].append(res.as_dict())
            if not res.ok:
                report["deploy"] += [deploy.DeployResult(n, False, False, skipped=True,
                                                         error=f"not deployed: stopped after {name} failed").as_dict()
                                     for n in order[i + 1:]]
                report["failed"] = name
                break
            deployed.append(name)
            host = domains.hostnames(ws).get(name)
            if host:  # wrangler attaches the route's domain; made sure of here, so that the health check finds it
                try:
                    _, created = await domains.attach(api, ws, name, host)
                except CliError as exc:
                    report["domains"].append({"hostname": host, "worker": name, "created": False,
                                              "error": exc.message})
                    report["failed"] = name
                    break
                report["domains"].append({"hostname": host, "worker": name, "created": created, "error": None})
            for p in plan["push"]:
                if p["worker"] == name:
                    await api.secret_put(name, p["name"], vault[p["name"]])
                    ws.record_secret_date(p["name"], name)  # for the rotation reminder (`secrets check --remote`)
                    report["secrets"]["pushed"].append(p)
        # 6. health, through the gateway's public URL
        if deployed:
            url = domains.public_url(ws, GATEWAY)
            if url is None:
                problems: dict[str, str | None] = {
                    w: "not verified: the gateway has no public URL ([cloudflare] subdomain, or a custom domain)"
                    for w in deployed}
                health_url = None
            else:
                health_url = url + "/health"
                say(f"checking {health_url}")
                status, body, problem = await gateway_health(health_url)
                problems = judge_health(deployed, status, body, problem)
            report["health"] = [{"worker": w, "url": health_url, "ok": problems[w] is None, "detail": problems[w]}
                                for w in deployed]
            # 7. roll back the workers whose health failed, to the version they served before
            for w in deployed:
                if problems[w] is None or health_url is None:
                    continue
                prev = before.get(w)
                entry: dict[str, Any] = {"worker": w, "version_id": prev, "ok": False, "error": None}
                if prev is None:
                    entry["error"] = "deployed for the first time: no earlier version to roll back to"
                else:
                    say(f"rolling {w} back to version {prev}")
                    rb = await wrangler_cli.run(
                        ["rollback", prev, "--name", w, "--message", "hoox deploy all --auto: /health failed",
                         "--yes"], cwd=deploy.worker_dir(ws, w), ws=ws, on_line=on_line)
                    entry["ok"] = rb.ok
                    entry["error"] = None if rb.ok else rb.error()
                report["rolled_back"].append(entry)
            if report["failed"] is None and any(not h["ok"] for h in report["health"]):
                report["failed"] = next(h["worker"] for h in report["health"] if not h["ok"])
    report["ok"] = report["failed"] is None
    return report


def report_lines(report: dict[str, Any]) -> list[str]:
    """The rollout's report as plain lines (the cockpit's wizard shows them; names, never values)."""
    out: list[str] = []
    pushed = report["secrets"]["pushed"] if report["secrets"] else []
    if pushed:
        out.append(f"Secrets pushed: {', '.join(sorted({p['name'] for p in pushed}))}.")
    created = [f"{provision_label(r['kind'])} {r['name']}" for r in report["provisioned"] if r["created"]]
    if created:
        out.append(f"Created: {', '.join(created)}.")
    mig = report["migrations"]
    if mig and mig["applied"]:
        out.append(f"Migrations applied: {', '.join(mig['applied'])}.")
    if mig and not mig["ok"]:
        out.append(f"✗ migrations: {mig['error']}. Nothing was deployed.")
    if report["kv"]:
        out.append(f"KV manifest: {len(report['kv']['written'])} key(s) written, {len(report['kv']['kept'])} kept.")
    for r in report["deploy"]:
        if r["ok"]:
            out.append(f"✓ {r['worker']}" + (f"  {r['url']}" if r.get("url") else ""))
        elif r["skipped"]:
            out.append(f"- {r['worker']}: not deployed")
        else:
            out.append(f"✗ {r['worker']}: {r['error']}")
    for d in report["domains"]:
        if d["error"]:
            out.append(f"✗ {d['hostname']} ({d['worker']}): {d['error']}")
    for h in report["health"]:
        if not h["ok"]:
            out.append(f"✗ {h['worker']} /health: {h['detail']}")
    for rb in report["rolled_back"]:
        out.append(f"↺ {rb['worker']} rolled back to {rb['version_id']}" if rb["ok"]
                   else f"✗ {rb['worker']} not rolled back: {rb['error']}")
    if report["ok"]:
        url = next((h["url"] for h in report["health"] if h["url"]), None)
        out.append("Rolled out" + (f"; {url} answers 200." if url else "."))
    else:
        out.append(f"The rollout failed at {report['failed']}.")
    return out


# ----------------------------------------------------------------------------- repair check --remote
def _finding(name: str, checks: str, problems: list[str], detail: str, fix: str) -> dict[str, Any]:
    return {"name": name, "checks": checks, "ok": not problems, "detail": "; ".join(problems) or detail,
            "problems": problems, "fix": None if not problems else fix, "repair": None}


async def remote_audits(ws: Workspace) -> list[dict[str, Any]]:
    """What the account lacks: resources, the recorded ids the configs bind, the workers themselves,
    their secrets (by name) and the custom domains. Same shape as hoox_cli.core.audits.run_audits."""
    from hoox_edge import catalog

    from hoox_cli.core.cloudflare_api import api_client

    order = deploy.planned_workers(ws)
    need = provision.declared(ws)
    out: list[dict[str, Any]] = []
    async with api_client(ws) as api:
        have = {k: {i["name"]: i for i in await provision.remote_items(api, k)} for k in provision.PROVISIONED}
        missing = [f"{provision_label(k)} {n}" for k in provision.PROVISIONED for n in need[k] if n not in have[k]]
        out.append(_finding("cloudflare-resources", "every KV namespace, D1 database, R2 bucket and queue the "
                            "workers bind exists on the account", missing,
                            f"{sum(len(need[k]) for k in provision.PROVISIONED)} resources found",
                            "hoox infra provision --remote"))
        recorded = deploy.resources(ws)
        wrong = []
        for k in ("kv", "d1"):
            for n in need[k]:
                rid = recorded[k].get(n)
                if n in have[k] and rid != have[k][n]["id"]:
                    wrong.append(f"{provision_label(k)} {n}: hoox.toml binds {rid or 'no id'}, the account has "
                                 f"{have[k][n]['id']}")
        out.append(_finding("cloudflare-bindings", "the ids hoox.toml binds are the account's resources", wrong,
                            "every binding resolves", "hoox infra provision --remote (records the ids)"))
        scripts = {str(s.get("id")) for s in await api.scripts_list()}
        absent = [w for w in order if w not in scripts]
        out.append(_finding("cloudflare-workers", "every enabled worker is deployed",
                            [f"{w} is not deployed" for w in absent], f"{len(order)} workers deployed",
                            "hoox deploy all --auto"))
        unset = []
        for w in order:
            if w in absent:
                continue
            names = await remote_secret_names(api, w) or set()
            unset += [f"{w}: {s}" for s in catalog.worker(w).secrets if s not in names]
        out.append(_finding("cloudflare-secrets", "every deployed worker has its required secrets (by name)", unset,
                            "every required secret is set", "hoox deploy all --auto (pushes them from the vault)"))
        attached = {d["hostname"]: d["worker"] for d in await domains.listed(api)}
        routes = [f"{h} is not attached to {w}" + (f" (it routes to {attached[h]})" if h in attached else "")
                  for w, h in domains.hostnames(ws).items() if attached.get(h) != w]
        out.append(_finding("cloudflare-routes", "every hostname in [cloudflare.hostnames] routes to its worker",
                            routes, f"{len(domains.hostnames(ws))} custom domain(s) attached",
                            "hoox infra domain add WORKER HOST (or deploy: the route is in wrangler.jsonc)"))
    return out


def provision_label(kind: str) -> str:
    return {"kv": "KV namespace", "d1": "D1 database", "r2": "R2 bucket", "queues": "queue"}[kind]
