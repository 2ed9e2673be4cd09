// Runs pytest inside real Pyodide (the npm package, the version workerd uses) with Cloudflare's own
// binding implementations from Miniflare, offline. Started by tests/pyodide_support.py:
//
//   node runner.mjs '{"repo": "/abs/repo", "wheels": "/abs/wheels", "args": [...], "env": {...}}'
//
// - The project's edge/ and tests/ are mounted (NODEFS) at /hoox/edge and /hoox/tests; Python writes
//   no bytecode there. Pure-Python wheels from the pip cache are unpacked into site-packages.
// - `_cloudflare_compat_flags` and `_pyodide_entrypoint_helper`, the two modules workerd gives the
//   Python Workers SDK, are provided here so the SDK from PyPI (workers-runtime-sdk) imports.
// - Python reaches the harness as `js.hooxHarness`: `fresh(options)` disposes the previous Miniflare
//   and returns the bindings of a new in-memory one (D1, KV, R2, queue producer, Analytics Engine,
//   service bindings handled by Python callables).
// Exit code: pytest's.
import { loadPyodide } from "pyodide";
import { Miniflare } from "miniflare";
import { DatabaseSync } from "node:sqlite";
import { durable } from "./durable.mjs";

const config = JSON.parse(process.argv[2]);

// A Python error thrown into a JS callback that nothing awaits would otherwise print Pyodide's whole
// minified source line and no Python traceback: print the traceback and fail the run.
process.on("unhandledRejection", (error) => {
  process.stderr.write(`unhandled rejection in the harness: ${error?.type ?? ""} ${error?.message ?? error}\n${error?.stack ?? ""}\n`);
  process.exit(4);
});

const DEFAULTS = {
  modules: true,
  script: "export default {}",
  compatibilityDate: "2026-04-01",
  d1Databases: ["DB"],
  kvNamespaces: ["KV"],
  r2Buckets: ["R2"],
  queueProducers: { QUEUE: { queueName: "hoox-queue" } },
  analyticsEngineDatasets: { ANALYTICS: { dataset: "hoox_events" } },
};

let current = null;

async function dispose() {
  if (current !== null) {
    const mf = current;
    current = null;
    await mf.dispose();
  }
}

const harness = {
  // options: a plain object merged over DEFAULTS; `services` maps a binding name to a Python
  // callable taking a Request and returning a (promise of a) Response.
  async fresh(options) {
    await dispose();
    const opts = { ...DEFAULTS, ...(options || {}) };
    const services = opts.services || {};
    delete opts.services;
    opts.serviceBindings = {};
    for (const [name, fn] of Object.entries(services)) {
      opts.serviceBindings[name] = async (request) => await fn(request);
    }
    current = new Miniflare(opts);
    return await current.getBindings();
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

pyodide.globals.set("hoox_args", pyodide.toPy(config.args));
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
try:
    rc = int(pytest.main([*hoox_args, "-c", "/hoox/tests/pyodide/inside/pytest.ini", "-p", "no:cacheprovider",
                          "-p", "harness_plugin", "--rootdir", "/hoox/tests"]))
finally:
    sys.stdout.flush()  # the interpreter never exits (process.exit), so nothing else flushes the summary
    sys.stderr.flush()
rc
`);
} finally {
  await dispose();
}
process.exit(rc);
