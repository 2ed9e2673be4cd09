// Runs pytest inside real Pyodide (the npm package, the version workerd uses) with Cloudflare's own
// binding implementations from Miniflare, offline. Started by tests/pyodide_support.py:
//
//   node runner.mjs '{"repo": "/abs/repo", "wheels": "/abs/wheels", "runs": [[...], ...], "env": {...}}'
//
// - The project's edge/ and tests/ are mounted (NODEFS) at /hoox/edge and /hoox/tests; Python writes
//   no bytecode there. Pure-Python wheels from the pip cache are unpacked into site-packages.
// - `_cloudflare_compat_flags` and `_pyodide_entrypoint_helper`, the two modules workerd gives the
//   Python Workers SDK, are provided here so the SDK from PyPI (workers-runtime-sdk) imports.
// - Python reaches the harness as `js.hooxHarness`: `fresh(options)` returns the bindings of an empty
//   in-memory Miniflare (D1, KV, R2, queue producer, Analytics Engine, service bindings handled by
//   Python callables): the running one wiped when it has the same bindings, else a new one.
// - Each of `runs` is one pytest session's arguments, run in turn in the one interpreter (a boot of
//   Pyodide and Miniflare costs ~8 s of CPU; a session, its tests). After each session a line
//   `hoox-pyodide-run N exit RC` marks the end of its output.
// Exit code: 0 when every session ran (their own codes are on their marker lines), else 3.
import { loadPyodide } from "pyodide";
import { Miniflare } from "miniflare";
import { DatabaseSync } from "node:sqlite";
import { createInterface } from "node:readline";
import { durable } from "./durable.mjs";

const config = JSON.parse(process.argv[2]);

// A Python error thrown into a JS callback that nothing awaits would otherwise print Pyodide's whole
// minified source line and no Python traceback: print the traceback and fail the run.
process.on("unhandledRejection", (error) => {
  process.stderr.write(`unhandled rejection in the harness: ${error?.type ?? ""} ${error?.message ?? error}\n${error?.stack ?? ""}\n`);
  process.exit(4);
});

// workerd logs "Failed to get handler to worker." (and a stack line) for calls through Miniflare's
// service bindings to Node functions, though it serves them: those lines are counted, not printed, so
// an error of the run is not lost among hundreds of them. Everything else workerd prints passes through.
const RPC_NOISE = /Failed to get handler to worker\.$/;
let rpcNoise = 0;

function relay(from, to) {
  let skipStack = false;
  createInterface({ input: from, crlfDelay: Infinity }).on("line", (line) => {
    if (RPC_NOISE.test(line)) {
      rpcNoise += 1;
      skipStack = true;
    } else if (skipStack && line.startsWith("stack: ")) {
      skipStack = false;
    } else {
      skipStack = false;
      to.write(line + "\n");
    }
  });
}

const DEFAULTS = {
  handleRuntimeStdio: (stdout, stderr) => {
    relay(stdout, process.stdout);
    relay(stderr, process.stderr);
  },
  modules: true,
  script: "export default {}",
  compatibilityDate: "2026-04-01",
  d1Databases: ["DB"],
  kvNamespaces: ["KV"],
  r2Buckets: ["R2"],
  queueProducers: { QUEUE: { queueName: "hoox-queue" } },
  analyticsEngineDatasets: { ANALYTICS: { dataset: "hoox_events" } },
};

// One Miniflare per binding layout, reused: starting one spawns workerd (~0.4 s), and most tests ask
// for the same layout. `fresh()` on the layout already running swaps the service callables and wipes
// the stored data instead, then checks that nothing is left.
let current = null; // { mf, layout, bindings, targets, opts }

async function dispose() {
  if (current !== null) {
    const { mf } = current;
    current = null;
    await mf.dispose();
  }
}

async function pages(list) {
  const keys = [];
  let cursor;
  do {
    const page = await list(cursor);
    keys.push(...page.keys);
    cursor = page.cursor;
  } while (cursor);
  return keys;
}

// Every D1 table and view, every KV key and R2 object of the running Miniflare, gone.
async function wipe({ bindings, opts }) {
  for (const name of opts.d1Databases ?? []) {
    const db = bindings[name];
    const objects = (await db.prepare(
      "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' " +
      "AND name NOT LIKE '_cf_%' ORDER BY type = 'table', rowid DESC").all()).results;
    // views first, then tables newest first (one that references another was created after it)
    for (const o of objects) await db.exec(`DROP ${o.type.toUpperCase()} "${o.name.replaceAll('"', '""')}"`);
    const left = await db.prepare("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").all();
    if (left.results.length) throw new Error(`D1 ${name} kept ${JSON.stringify(left.results)} after the wipe`);
  }
  for (const name of opts.kvNamespaces ?? []) {
    const kv = bindings[name];
    for (const k of await pages((cursor) => kv.list({ cursor }).then((p) => ({ keys: p.keys.map((x) => x.name), cursor: p.list_complete ? undefined : p.cursor })))) {
      await kv.delete(k);
    }
    if ((await kv.list()).keys.length) throw new Error(`KV ${name} kept keys after the wipe`);
  }
  for (const name of opts.r2Buckets ?? []) {
    const r2 = bindings[name];
    for (const k of await pages((cursor) => r2.list({ cursor }).then((p) => ({ keys: p.objects.map((o) => o.key), cursor: p.truncated ? p.cursor : undefined })))) {
      await r2.delete(k);
    }
    if ((await r2.list()).objects.length) throw new Error(`R2 ${name} kept objects after the wipe`);
  }
}

const harness = {
  // options: a plain object merged over DEFAULTS; `services` maps a binding name to a Python
  // callable taking a Request and returning a (promise of a) Response.
  async fresh(options) {
    const opts = { ...DEFAULTS, ...(options || {}) };
    const services = opts.services || {};
    delete opts.services;
    const layout = JSON.stringify({ ...opts, services: Object.keys(services).sort() });
    if (current !== null && current.layout === layout) {
      current.targets = services;
      await wipe(current);
      return current.bindings;
    }
    await dispose();
    const state = { layout, targets: services, opts };
    opts.serviceBindings = {};
    for (const name of Object.keys(services)) {
      opts.serviceBindings[name] = async (request) => await state.targets[name](request);
    }
    state.mf = new Miniflare(opts);
    state.bindings = await state.mf.getBindings();
    current = state;
    return state.bindings;
  },
  dispose,
  // A Durable Object's SQL storage, for the parts Miniflare cannot give outside workerd: Node's own
  // SQLite behind the documented `ctx.storage.sql` API shape (see tests/pyodide/durable.mjs).
  sqlite() {
    return new DatabaseSync(":memory:");
  },
  // Durable Object state/namespaces and queue batches in their documented shapes (durable.mjs).
  durable,
};
globalThis.hooxHarness = harness;

const pyodide = await loadPyodide({ env: { HOME: "/home/pyodide", ...(config.env || {}) } });
const writer = (stream) => ({ write: (buf) => { stream.write(buf); return buf.length; } });
pyodide.setStdout(writer(process.stdout));
pyodide.setStderr(writer(process.stderr));

const mount = (host, at) => {
  pyodide.FS.mkdirTree(at);
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: host }, at);
};
mount(config.repo + "/edge", "/hoox/edge");
mount(config.repo + "/tests", "/hoox/tests");
mount(config.wheels, "/wheels");

pyodide.registerJsModule("_cloudflare_compat_flags", {
  python_workflows_implicit_dependencies: false,
  python_request_headers_preserve_commas: false,
});
pyodide.registerJsModule("_pyodide_entrypoint_helper", {
  cloudflareWorkersModule: { env: {}, waitUntil: () => {} },
  cloudflareSocketsModule: {},
  doAnImport: (name) => import(name),
  patchWaitUntil: () => {},
  patch_env_helper: () => {
    throw new Error("patch_env is not provided by the test harness");
  },
});

pyodide.globals.set("hoox_runs", pyodide.toPy(config.runs));
let rc = 3;
try {
  rc = await pyodide.runPythonAsync(`
import glob, importlib, site, sys, zipfile
sys.dont_write_bytecode = True   # nothing is written into the mounted project
site_packages = site.getsitepackages()[0]
wheels = sorted(glob.glob("/wheels/*.whl"))
if not wheels:
    raise SystemExit("no wheels in the harness's wheel cache")
for wheel in wheels:
    zipfile.ZipFile(wheel).extractall(site_packages)
importlib.invalidate_caches()
sys.path[:0] = ["/hoox/edge", "/hoox/tests", "/hoox/tests/pyodide/inside"]
import pytest
for n, args in enumerate(hoox_runs):
    try:
        rc = int(pytest.main([*args, "-c", "/hoox/tests/pyodide/inside/pytest.ini", "-p", "no:cacheprovider",
                              "-p", "harness_plugin", "--rootdir", "/hoox/tests"]))
    finally:
        sys.stderr.flush()
    print(f"hoox-pyodide-run {n} exit {rc}")
    sys.stdout.flush()  # the interpreter never exits (process.exit), so nothing else flushes the summary
0
`);
} finally {
  await dispose();
}
if (rpcNoise) {
  process.stderr.write(`workerd: ${rpcNoise} "Failed to get handler to worker." lines not shown (calls through ` +
    "Miniflare's service bindings to Node functions, which it served)\n");
}
process.exit(rc);
