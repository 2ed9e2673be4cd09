"""A stand-in `wrangler` for rollout tests: it records every call's arguments and folder, and does what the
rollout needs of the real one against the loopback Cloudflare fake (tests/fake_cloudflare.py), through the
same documented endpoints the real wrangler uses:

- `deploy`: uploads the worker named in wrangler.jsonc (PUT /workers/scripts/{name}, multipart with a
  metadata part: a new version serving all traffic) and prints its workers.dev URL when it has one;
  a worker named in $FAKE_WRANGLER_FAIL fails with wrangler's `✘ [ERROR]` line instead;
- `d1 migrations apply DB --remote`: lists the migration files of the config's migrations_dir as applied;
- `rollback VERSION --name W --message M --yes`: POST /workers/scripts/{W}/deployments with VERSION at 100%.

Anything else succeeds and does nothing. HOOX_WRANGLER points hoox at it.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

SCRIPT = r'''
import json, os, pathlib, sys
import httpx

args = sys.argv[1:]
with open(os.environ["FAKE_WRANGLER_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps({"args": args, "cwd": os.getcwd()}) + "\n")
base = os.environ["CLOUDFLARE_API_BASE_URL"]
account = os.environ["CLOUDFLARE_ACCOUNT_ID"]
auth = {"Authorization": "Bearer " + os.environ["CLOUDFLARE_API_TOKEN"]}


def config():
    text = pathlib.Path("wrangler.jsonc").read_text(encoding="utf-8")
    return json.loads("\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("//")))


if args[:1] == ["deploy"] and "--dry-run" not in args:
    cfg = config()
    name = cfg["name"]
    if name in os.environ.get("FAKE_WRANGLER_FAIL", "").split(","):
        print("✘ [ERROR] A request to the Cloudflare API failed (fake wrangler was told to).")
        sys.exit(1)
    meta = {"main_module": "entry.py", "compatibility_date": cfg["compatibility_date"]}
    r = httpx.put(f"{base}/accounts/{account}/workers/scripts/{name}", headers=auth,
                  files={"metadata": ("blob", json.dumps(meta), "application/json"),
                         "entry.py": ("entry.py", b"# bundle", "text/x-python")})
    if r.status_code != 200:
        print(f"✘ [ERROR] upload failed: HTTP {r.status_code}")
        sys.exit(1)
    print(f"Uploaded {name}")
    if cfg.get("workers_dev"):
        print(f"  https://{name}.{os.environ.get('FAKE_WRANGLER_SUBDOMAIN', 'desk')}.workers.dev")
    print("Current Version ID: " + r.json()["result"]["deployment_id"])
elif args[:3] == ["d1", "migrations", "apply"]:
    folder = pathlib.Path(config()["d1_databases"][0]["migrations_dir"])
    for f in sorted(folder.glob("*.sql")):
        print(f"│ {f.name} │ ✅ │")
elif args[:1] == ["rollback"]:
    version, name = args[1], args[args.index("--name") + 1]
    message = args[args.index("--message") + 1]
    r = httpx.post(f"{base}/accounts/{account}/workers/scripts/{name}/deployments", headers=auth,
                   json={"strategy": "percentage", "versions": [{"version_id": version, "percentage": 100}],
                         "annotations": {"workers/message": message}})
    if r.status_code != 200:
        print(f"✘ [ERROR] rollback failed: HTTP {r.status_code}")
        sys.exit(1)
    print(f"Worker Version {version} has been deployed to 100% of traffic.")
'''


class FakeWrangler:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "wrangler"
        self.log = folder / "wrangler-calls.jsonl"
        self.path.write_text(f"#!{sys.executable}\n{SCRIPT}", encoding="utf-8")
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR)

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(ln) for ln in self.log.read_text(encoding="utf-8").splitlines()]

    def commands(self) -> list[list[str]]:
        return [c["args"] for c in self.calls()]


def use_fake_wrangler(monkeypatch: Any, folder: Path) -> FakeWrangler:
    fake = FakeWrangler(folder)
    monkeypatch.setenv("HOOX_WRANGLER", str(fake.path))
    monkeypatch.setenv("FAKE_WRANGLER_LOG", str(fake.log))
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    return fake
