"""A loopback fake of the parts of the Cloudflare REST API (v4) hoox uses, checking request shapes.

It keeps state (KV namespaces and values, D1 databases, R2 buckets, queues, Vectorize indexes, worker
secrets, zone rulesets and zones), answers in Cloudflare's envelope `{"success", "errors", "messages", "result"}`,
and records every request. A request whose body does not have the documented shape gets a 400 and is
listed in `shape_errors`, so a test can assert that there were none.

Both the httpx client and the real wrangler reach it: point `CLOUDFLARE_API_BASE_URL` at `base_url`.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from netutil import ServedInThread

PREFIX = "/client/v4"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class State:
    kv: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"title", "values": {}}
    d1: dict[str, dict[str, Any]] = field(default_factory=dict)  # uuid -> {"name", "queries": []}
    r2: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {}
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"queue_name"}
    vectorize: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {"config"}
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # script -> {name: value}
    rulesets: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)  # (zone, phase) -> rules
    zones: dict[str, dict[str, Any]] = field(default_factory=dict)  # zone id -> {"name"}
    # GraphQL Analytics: one row per worker invocation {datetime, scriptName, coloCode, status, cpuTime (µs)}
    invocations: list[dict[str, Any]] = field(default_factory=list)
    rendered: list[str] = field(default_factory=list)  # Browser Rendering: the HTML of each /pdf asked for


    domains: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"hostname", "service", "zone_id", …}
    # name -> {"versions": [{"id", "number", "created_on"}], "deployments": [{"id", "created_on", "versions",
    # ...}] (oldest first)}
    scripts: dict[str, dict[str, Any]] = field(default_factory=dict)


class ShapeError(Exception):
    pass


def _expect(body: Any, keys: dict[str, type | tuple[type, ...]], optional: dict[str, Any] | None = None) -> dict:
    if not isinstance(body, dict):
        raise ShapeError(f"expected a JSON object, got {type(body).__name__}")
    allowed = set(keys) | set(optional or {})
    extra = set(body) - allowed
    if extra:
        raise ShapeError(f"unexpected fields {sorted(extra)}")
    for k, t in keys.items():
        if k not in body or not isinstance(body[k], t):
            raise ShapeError(f"field {k!r} missing or not {t}")
    return body


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF holding `text` (what the Browser Rendering fake answers; pdftotext reads it)."""
    safe = text.replace("\\", "").replace("(", "").replace(")", "")
    content = f"BT /F1 14 Tf 72 720 Td ({safe}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _multipart_metadata(r: Recorded) -> Any:
    """The JSON `metadata` part of a multipart/form-data worker upload."""
    from email.parser import BytesParser
    from email.policy import HTTP

    ctype = r.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise ShapeError("a worker upload is multipart/form-data")
    msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + r.body)
    for part in msg.iter_parts():
        if part.get_param("name", header="content-disposition") == "metadata":
            return json.loads(part.get_payload(decode=True))
    raise ShapeError("a worker upload needs a metadata part")


class FakeCloudflare:
    def __init__(self, token: str, account_id: str) -> None:
        self.token = token
        self.account_id = account_id
        self.state = State()
        self.requests: list[Recorded] = []
        self.shape_errors: list[str] = []
        self.fail_next: dict[str, int] = {}  # path regex -> HTTP status to answer once
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                rec = Recorded(self.command, unquote(parts.path), parse_qs(parts.query),
                               {k.lower(): v for k, v in self.headers.items()}, body)
                with fake._lock:
                    fake.requests.append(rec)
                    status, payload, ctype = fake.handle(rec)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}{PREFIX}"
        self._served = ServedInThread(self.server)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeCloudflare:
        self._served.start()
        return self

    def stop(self) -> None:
        self._served.stop()

    # ------------------------------------------------------------------ helpers for tests
    def calls(self, method: str, pattern: str) -> list[Recorded]:
        rx = re.compile(pattern)
        return [r for r in self.requests if r.method == method and rx.search(r.path)]

    def all_text(self) -> str:
        """Every path, query and header the fake saw (bodies excluded): where a secret must never be."""
        out = []
        for r in self.requests:
            out.append(r.path)
            out.append(json.dumps(r.query))
            out.append(json.dumps({k: v for k, v in r.headers.items() if k != "authorization"}))
        return "\n".join(out)

    # ------------------------------------------------------------------ dispatch
    @staticmethod
    def ok(result: Any, info: dict[str, Any] | None = None) -> tuple[int, Any, str]:
        body = {"success": True, "errors": [], "messages": [], "result": result}
        if info is not None:
            body["result_info"] = info
        return 200, body, "application/json"

    @staticmethod
    def err(status: int, code: int, message: str) -> tuple[int, Any, str]:
        return status, {"success": False, "errors": [{"code": code, "message": message}], "messages": [],
                        "result": None}, "application/json"

    def handle(self, r: Recorded) -> tuple[int, Any, str]:
        if r.headers.get("authorization") != f"Bearer {self.token}":
            return self.err(403, 10000, "Authentication error")
        if not r.path.startswith(PREFIX):
            return self.err(404, 7003, "No route for that URI")
        path = r.path[len(PREFIX):]
        for pattern, status in list(self.fail_next.items()):
            if re.search(pattern, path):
                del self.fail_next[pattern]
                return self.err(status, 10013, "injected failure")
        m = re.match(r"^/accounts/([^/]+)(/.*)$", path)
        try:
            if path == "/graphql" and r.method == "POST":
                return self.graphql(r)
            if m:
                if m.group(1) != self.account_id:
                    return self.err(403, 10000, "account not accessible with this token")
                return self.account_route(r, m.group(2))
            m = re.match(r"^/zones/([^/]+)/rulesets/phases/([^/]+)/entrypoint$", path)
            if m:
                return self.ruleset(r, m.group(1), m.group(2))
            m = re.match(r"^/zones/([^/]+)/rulesets/([^/]+)/rules(?:/([^/]+))?$", path)
            if m:
                return self.ruleset_rule(r, m.group(1), m.group(2), m.group(3))
            if path == "/zones" and r.method == "GET":
                name = r.query.get("name", [None])[0]
                return self._page([{"id": i, "name": z["name"], "status": "active",
                                    "account": {"id": self.account_id}}
                                   for i, z in self.state.zones.items() if name in (None, z["name"])], r)
            return self.err(404, 7003, f"No route for {r.method} {path}")
        except ShapeError as exc:
            self.shape_errors.append(f"{r.method} {path}: {exc}")
            return self.err(400, 10001, f"bad request: {exc}")

    def _page(self, items: list[Any], r: Recorded) -> tuple[int, Any, str]:
        page = int(r.query.get("page", ["1"])[0])
        per = int(r.query.get("per_page", ["20"])[0])
        chunk = items[(page - 1) * per: page * per]
        pages = max(1, -(-len(items) // per))
        return self.ok(chunk, {"page": page, "per_page": per, "count": len(chunk), "total_count": len(items),
                               "total_pages": pages})

    def account_route(self, r: Recorded, p: str) -> tuple[int, Any, str]:
        st = self.state
        # ---- Browser Rendering, the /pdf quick action: the HTML kept, a real (tiny) PDF back
        if p == "/browser-rendering/pdf" and r.method == "POST":
            b = _expect(r.json(), {"html": str}, {"pdfOptions": dict})
            st.rendered.append(b["html"])
            return 200, tiny_pdf("Rendered by the Browser Rendering fake"), "application/pdf"
        # ---- KV
        if p == "/storage/kv/namespaces":
            if r.method == "GET":
                return self._page([{"id": i, "title": v["title"]} for i, v in st.kv.items()], r)
            if r.method == "POST":
                b = _expect(r.json(), {"title": str})
                if any(v["title"] == b["title"] for v in st.kv.values()):
                    return self.err(400, 10014, "a namespace with this title already exists")
                nid = uuid.uuid4().hex
                st.kv[nid] = {"title": b["title"], "values": {}}
                return self.ok({"id": nid, "title": b["title"], "supports_url_encoding": True})
        m = re.match(r"^/storage/kv/namespaces/([^/]+)(/.*)?$", p)
        if m:
            ns = st.kv.get(m.group(1))
            if ns is None:
                return self.err(404, 10013, "namespace not found")
            rest = m.group(2) or ""
            if rest == "" and r.method == "DELETE":
                del st.kv[m.group(1)]
                return self.ok(None)
            if rest == "/bulk" and r.method == "PUT":
                items = r.json()
                if not isinstance(items, list):
                    raise ShapeError("bulk body must be a JSON array")
                for it in items:
                    _expect(it, {"key": str, "value": str},
                            {"expiration": int, "expiration_ttl": int, "metadata": object, "base64": bool})
                for it in items:
                    ns["values"][it["key"]] = it["value"]
                return self.ok({"successful_key_count": len(items), "unsuccessful_keys": []})
            mv = re.match(r"^/values/(.+)$", rest)
            if mv and r.method == "GET":
                key = mv.group(1)
                if key not in ns["values"]:
                    return self.err(404, 10009, "key not found")
                return 200, ns["values"][key].encode(), "text/plain"
        # ---- D1
        if p == "/d1/database":
            if r.method == "GET":
                return self._page([{"uuid": i, "name": v["name"], "version": "production"}
                                   for i, v in st.d1.items()], r)
            if r.method == "POST":
                b = _expect(r.json(), {"name": str}, {"primary_location_hint": str})
                did = str(uuid.uuid4())
                st.d1[did] = {"name": b["name"], "queries": []}
                return self.ok({"uuid": did, "name": b["name"], "version": "production",
                                "created_at": "2026-01-05T12:00:00Z"})
        m = re.match(r"^/d1/database/([^/]+)(/query|/raw)?$", p)
        if m:
            db = st.d1.get(m.group(1))
            if db is None:
                return self.err(404, 7404, "database not found")
            if m.group(2) is None and r.method == "DELETE":
                del st.d1[m.group(1)]
                return self.ok(None)
            if m.group(2) is None and r.method == "GET":
                return self.ok({"uuid": m.group(1), "name": db["name"], "version": "production",
                                "num_tables": 0, "file_size": 0})
            if m.group(2) == "/query" and r.method == "POST":
                b = _expect(r.json(), {"sql": str}, {"params": list})
                db["queries"].append(b)
                answer = db.get("answer", [])  # rows, or a function of the SQL giving them
                rows = answer(b["sql"]) if callable(answer) else answer
                return self.ok([{"results": rows, "success": True,
                                 "meta": {"changes": 0, "duration": 0.1, "rows_read": len(rows),
                                          "rows_written": 0, "last_row_id": 0, "changed_db": False}}])
        # ---- R2
        if p == "/r2/buckets":
            if r.method == "GET":
                return self.ok({"buckets": [{"name": n, "creation_date": "2026-01-05T12:00:00Z"} for n in st.r2]})
            if r.method == "POST":
                b = _expect(r.json(), {"name": str}, {"locationHint": str, "storageClass": str})
                if b["name"] in st.r2:
                    return self.err(409, 10004, "bucket exists")
                st.r2[b["name"]] = {}
                return self.ok({"name": b["name"], "creation_date": "2026-01-05T12:00:00Z"})
        m = re.match(r"^/r2/buckets/([^/]+)/lifecycle$", p)
        if m and r.method in ("PUT", "GET"):
            bucket = st.r2.get(m.group(1))
            if bucket is None:
                return self.err(404, 10006, "bucket not found")
            if r.method == "GET":
                return self.ok({"rules": bucket.get("lifecycle", [])})
            rules = _expect(r.json(), {"rules": list})["rules"]
            for rule in rules:
                _expect(rule, {"id": str, "enabled": bool, "conditions": dict},
                        {"deleteObjectsTransition": dict, "abortMultipartUploadsTransition": dict,
                         "storageClassTransitions": list})
                _expect(rule["conditions"], {"prefix": str})
            bucket["lifecycle"] = rules
            return self.ok({})
        m = re.match(r"^/r2/buckets/([^/]+)$", p)
        if m and r.method == "DELETE":
            if m.group(1) not in st.r2:
                return self.err(404, 10006, "bucket not found")
            del st.r2[m.group(1)]
            return self.ok({})
        # ---- Queues
        if p == "/queues":
            if r.method == "GET":
                return self._page([{"queue_id": i, "queue_name": v["queue_name"]} for i, v in st.queues.items()], r)
            if r.method == "POST":
                b = _expect(r.json(), {"queue_name": str})
                qid = uuid.uuid4().hex
                st.queues[qid] = {"queue_name": b["queue_name"]}
                return self.ok({"queue_id": qid, "queue_name": b["queue_name"],
                                "settings": {"delivery_delay": 0, "message_retention_period": 345600}})
        m = re.match(r"^/queues/([^/]+)$", p)
        if m and r.method == "DELETE":
            if st.queues.pop(m.group(1), None) is None:
                return self.err(404, 11000, "queue not found")
            return self.ok(None)
        # ---- Vectorize
        if p == "/vectorize/v2/indexes":
            if r.method == "GET":
                return self.ok([{"name": n, **v} for n, v in st.vectorize.items()])
            if r.method == "POST":
                b = _expect(r.json(), {"name": str, "config": dict}, {"description": str})
                cfg = _expect(b["config"], {"dimensions": int, "metric": str})
                if cfg["metric"] not in ("cosine", "euclidean", "dot-product"):
                    raise ShapeError("bad metric")
                st.vectorize[b["name"]] = {"config": cfg}
                return self.ok({"name": b["name"], "config": cfg})
        m = re.match(r"^/vectorize/v2/indexes/([^/]+)$", p)
        if m and r.method == "DELETE":
            if st.vectorize.pop(m.group(1), None) is None:
                return self.err(404, 3000, "index not found")
            return self.ok(None)
        # ---- workers custom domains (Attach / List / Detach)
        if p == "/workers/domains":
            if r.method == "GET":
                return self.ok(list(st.domains.values()))
            if r.method == "PUT":
                b = _expect(r.json(), {"hostname": str, "service": str},
                            {"zone_id": str, "zone_name": str, "environment": str})
                zid = b.get("zone_id") or next(
                    (i for i, z in st.zones.items() if z["name"] == b.get("zone_name")), None)
                zone = st.zones.get(zid or "")
                if zone is None:
                    return self.err(404, 100102, "zone not found")
                if b["hostname"] != zone["name"] and not b["hostname"].endswith("." + zone["name"]):
                    return self.err(400, 100116, "hostname is not in the zone")
                taken = next((d for d in st.domains.values() if d["hostname"] == b["hostname"]), None)
                if taken is not None and taken["service"] != b["service"]:
                    return self.err(409, 100117, "hostname already has an externally managed DNS record or "
                                                 "another worker")
                did = taken["id"] if taken else uuid.uuid4().hex
                st.domains[did] = {"id": did, "hostname": b["hostname"], "service": b["service"],
                                   "environment": b.get("environment", "production"), "zone_id": zid,
                                   "zone_name": zone["name"]}
                return self.ok(st.domains[did])
        m = re.match(r"^/workers/domains/([^/]+)$", p)
        if m:
            d = st.domains.get(m.group(1))
            if d is None:
                return self.err(404, 100114, "domain not found")
            if r.method == "GET":
                return self.ok(d)
            if r.method == "DELETE":
                del st.domains[m.group(1)]
                return 200, b"", "application/json"  # the API answers an empty body here
        # ---- workers: upload (a new version, deployed), list, deployments (list / create = rollback)
        if p == "/workers/scripts" and r.method == "GET":
            return self.ok([{"id": n, "created_on": sc["versions"][0]["created_on"],
                             "modified_on": sc["versions"][-1]["created_on"]} for n, sc in st.scripts.items()])
        m = re.match(r"^/workers/scripts/([^/]+)$", p)
        if m and r.method == "PUT":
            meta = _multipart_metadata(r)
            _expect(meta, {"main_module": str}, {k: object for k in (
                "compatibility_date", "compatibility_flags", "bindings", "keep_bindings", "observability",
                "placement", "tags", "annotations", "logpush", "tail_consumers", "limits", "migrations",
                "usage_model", "assets", "keep_assets")})
            return self.ok(self.new_version(m.group(1)))
        m = re.match(r"^/workers/scripts/([^/]+)/deployments$", p)
        if m:
            sc = st.scripts.get(m.group(1))
            if sc is None:
                return self.err(404, 10007, f"This Worker does not exist on your account. [{m.group(1)}]")
            if r.method == "GET":
                return self.ok({"deployments": list(reversed(sc["deployments"]))})
            if r.method == "POST":
                b = _expect(r.json(), {"strategy": str, "versions": list}, {"annotations": dict})
                if b["strategy"] != "percentage":
                    raise ShapeError("strategy must be percentage")
                for v in b["versions"]:
                    _expect(v, {"version_id": str, "percentage": (int, float)})
                    if not any(x["id"] == v["version_id"] for x in sc["versions"]):
                        return self.err(404, 10221, f"version {v['version_id']} not found")
                if sum(v["percentage"] for v in b["versions"]) != 100:
                    raise ShapeError("percentages must add up to 100")
                dep = self._deploy(sc, b["versions"], b.get("annotations"))
                return self.ok(dep)
        # ---- worker secrets
        m = re.match(r"^/workers/scripts/([^/]+)/secrets$", p)
        if m:
            script = m.group(1)
            if r.method == "PUT":
                b = _expect(r.json(), {"name": str, "text": str, "type": str})
                if b["type"] != "secret_text":
                    raise ShapeError("type must be secret_text")
                st.secrets.setdefault(script, {})[b["name"]] = b["text"]
                return self.ok({"name": b["name"], "type": "secret_text"})
            if r.method == "GET":
                if script not in st.secrets:
                    return self.err(404, 10007, f"This Worker does not exist on your account. [{script}]")
                return self.ok([{"name": n, "type": "secret_text"} for n in sorted(st.secrets[script])])
        return self.err(404, 7003, f"No route for {r.method} /accounts/…{p}")

    def _deploy(self, sc: dict[str, Any], versions: list[dict[str, Any]],
                annotations: dict[str, Any] | None = None) -> dict[str, Any]:
        n = len(sc["deployments"]) + 1
        dep = {"id": uuid.uuid4().hex, "created_on": f"2026-01-05T12:{n:02d}:00Z", "source": "api",
               "strategy": "percentage", "versions": versions, "annotations": annotations or {}}
        sc["deployments"].append(dep)
        return dep

    def new_version(self, name: str) -> dict[str, Any]:
        """An upload of `name`: a new version, deployed to all of its traffic (as `wrangler deploy` does)."""
        sc = self.state.scripts.setdefault(name, {"versions": [], "deployments": []})
        n = len(sc["versions"]) + 1
        version = {"id": str(uuid.uuid4()), "number": n, "created_on": f"2026-01-05T11:{n:02d}:00Z"}
        sc["versions"].append(version)
        self._deploy(sc, [{"version_id": version["id"], "percentage": 100}])
        return {"id": name, "etag": uuid.uuid4().hex, "deployment_id": sc["deployments"][-1]["id"],
                "created_on": version["created_on"], "modified_on": version["created_on"]}

    def active_version(self, name: str) -> str | None:
        sc = self.state.scripts.get(name)
        return sc["deployments"][-1]["versions"][0]["version_id"] if sc and sc["deployments"] else None

    @staticmethod
    def _check_rule(rule: Any, phase: str) -> None:
        _expect(rule, {"expression": str, "action": str},
                {"id": str, "ref": str, "description": str, "enabled": bool, "ratelimit": dict,
                 "action_parameters": dict, "logging": dict})
        if phase == "http_ratelimit":
            rl = _expect(rule.get("ratelimit"), {"characteristics": list, "period": int,
                                                 "requests_per_period": int},
                         {"mitigation_timeout": int, "counting_expression": str})
            if "cf.colo.id" not in rl["characteristics"]:
                raise ShapeError("rate-limit characteristics must include cf.colo.id")

    def _ruleset_body(self, zone: str, phase: str) -> dict[str, Any]:
        return {"id": f"rs-{phase}", "phase": phase, "kind": "zone", "version": "3",
                "rules": [{**rule, "version": "1", "last_updated": "2026-01-05T12:00:00Z"}
                          for rule in self.state.rulesets[(zone, phase)]]}

    def ruleset_rule(self, r: Recorded, zone: str, ruleset_id: str, rule_id: str | None) -> tuple[int, Any, str]:
        """POST …/rulesets/{id}/rules (append), PATCH / DELETE …/rules/{rule_id}: each answers the ruleset."""
        phase = next((ph for (z, ph) in self.state.rulesets if z == zone and f"rs-{ph}" == ruleset_id), None)
        if phase is None:
            return self.err(404, 10003, "could not find ruleset")
        rules = self.state.rulesets[(zone, phase)]
        if rule_id is None and r.method == "POST":
            b = r.json()
            self._check_rule(b, phase)
            if "id" in b:
                raise ShapeError("a new rule's id is assigned by Cloudflare")
            rules.append({**b, "id": uuid.uuid4().hex})
            return self.ok(self._ruleset_body(zone, phase))
        idx = next((i for i, x in enumerate(rules) if x.get("id") == rule_id), None)
        if rule_id is None or idx is None:
            return self.err(404, 10003, "could not find rule")
        if r.method == "PATCH":
            b = r.json()
            self._check_rule(b, phase)
            rules[idx] = {**b, "id": rule_id}
            return self.ok(self._ruleset_body(zone, phase))
        if r.method == "DELETE":
            del rules[idx]
            return self.ok(self._ruleset_body(zone, phase))
        return self.err(405, 10000, "method not allowed")

    def ruleset(self, r: Recorded, zone: str, phase: str) -> tuple[int, Any, str]:
        key = (zone, phase)
        if r.method == "GET":
            if key not in self.state.rulesets:
                return self.err(404, 10003, "could not find entrypoint ruleset in the phase")
            return self.ok(self._ruleset_body(zone, phase))
        if r.method == "PUT":
            b = _expect(r.json(), {"rules": list}, {"description": str, "name": str, "kind": str, "phase": str})
            rules = []
            for rule in b["rules"]:
                self._check_rule(rule, phase)
                rules.append({**rule, "id": rule.get("id") or uuid.uuid4().hex})
            self.state.rulesets[key] = rules
            return self.ok({"id": f"rs-{phase}", "phase": phase, "rules": rules})
        return self.err(405, 10000, "method not allowed")

    # ------------------------------------------------------------------ GraphQL Analytics API
    # Only `viewer { accounts(filter: {accountTag}) { alias: workersInvocationsAdaptive(limit, filter)
    # { sum {…} quantiles {…} dimensions {…} } } }`, answered as Cloudflare does: {"data", "errors"},
    # groups of `state.invocations` by the dimensions asked, quantiles by nearest rank.
    GQL_FIELDS: ClassVar[dict[str, set[str]]] = {"sum": {"requests", "errors", "subrequests"},
                  "quantiles": {"cpuTimeP50", "cpuTimeP99"},
                  "dimensions": {"datetime", "scriptName", "status", "coloCode"}}
    GQL_FILTERS: ClassVar[set[str]] = {"datetime_geq", "datetime_leq", "scriptName"}

    @staticmethod
    def _block(text: str, start: int) -> tuple[str, int]:
        """The text inside the braces opening at `start`, and the index after the closing one."""
        depth = 0
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                return text[start + 1:i], i + 1
        raise ShapeError("unbalanced braces in the GraphQL query")

    def graphql(self, r: Recorded) -> tuple[int, Any, str]:
        b = _expect(r.json(), {"query": str, "variables": dict}, {"operationName": str})
        q, variables = b["query"], b["variables"]
        account = re.search(r"accounts\(filter:\s*\{accountTag:\s*\$(\w+)\}\)", q)
        if account is None:
            raise ShapeError("the query must filter accounts by accountTag")
        if variables.get(account.group(1)) != self.account_id:
            return 200, {"data": None, "errors": [{"message": "not authorized for that account",
                                                   "path": ["viewer", "accounts"]}]}, "application/json"
        answer: dict[str, Any] = {}
        for m in re.finditer(r"(\w+)\s*:\s*workersInvocationsAdaptive\s*\(([^)]*)\)\s*", q):
            alias, args = m.group(1), m.group(2)
            if not re.search(r"limit:\s*\d+", args):
                raise ShapeError("workersInvocationsAdaptive needs a limit")
            filters = dict(re.findall(r"(\w+):\s*\$(\w+)", args))
            if set(filters) - self.GQL_FILTERS:
                raise ShapeError(f"unknown filter fields {sorted(set(filters) - self.GQL_FILTERS)}")
            body, _ = self._block(q, m.end())
            asked = {k: v.split() for k, v in re.findall(r"(\w+)\s*\{([^{}]*)\}", body)}
            for part, names in asked.items():
                unknown = set(names) - self.GQL_FIELDS.get(part, set())
                if unknown:
                    raise ShapeError(f"unknown fields {sorted(unknown)} in {part}")
            rows = [row for row in self.state.invocations if all(
                (row["datetime"] >= variables[v]) if f == "datetime_geq" else
                (row["datetime"] <= variables[v]) if f == "datetime_leq" else row[f] == variables[v]
                for f, v in filters.items())]
            dims = asked.get("dimensions", [])
            groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
            for row in rows:
                groups.setdefault(tuple(row[d] for d in dims), []).append(row)
            out = []
            for key, members in groups.items():
                group: dict[str, Any] = {"dimensions": dict(zip(dims, key, strict=True))}
                if "sum" in asked:
                    figures = {"requests": len(members), "subrequests": 0,
                               "errors": sum(1 for x in members if x["status"] != "success")}
                    group["sum"] = {k: figures[k] for k in asked["sum"]}
                if "quantiles" in asked:
                    cpu = sorted(x["cpuTime"] for x in members)
                    rank = {"cpuTimeP50": 50, "cpuTimeP99": 99}
                    group["quantiles"] = {k: cpu[max(1, -(-len(cpu) * rank[k] // 100)) - 1] for k in asked["quantiles"]}
                out.append(group)
            answer[alias] = out
        if not answer:
            raise ShapeError("no workersInvocationsAdaptive field in the query")
        return 200, {"data": {"viewer": {"accounts": [answer]}}, "errors": None}, "application/json"


TOKEN = "cf-test-token-0123456789"
ACCOUNT = "0123456789abcdef0123456789abcdef"


def start_fake(monkeypatch: Any, home: Any) -> FakeCloudflare:
    """A running fake with the environment the CLI and wrangler read pointed at it (stop it when done)."""
    fake = FakeCloudflare(TOKEN, ACCOUNT).start()
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("CLOUDFLARE_API_BASE_URL", fake.base_url)
    # wrangler writes its logs and caches under HOME: keep them in the test's folder
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return fake
