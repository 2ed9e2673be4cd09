import { loadPyodide } from "pyodide";
import { Miniflare } from "miniflare";
const mf = new Miniflare({ modules: true, script: "export default {}", kvNamespaces: ["KV"], compatibilityDate: "2026-04-01" });
globalThis.hooxEnv = await mf.getBindings();
const py = await loadPyodide();
py.FS.mkdirTree("/wheels"); py.FS.mount(py.FS.filesystems.NODEFS, { root: "/tmp/pyo/wheels" }, "/wheels");
py.FS.mkdirTree("/t"); py.FS.mount(py.FS.filesystems.NODEFS, { root: "/tmp/pyo/t" }, "/t");
const t0 = Date.now();
const rc = await py.runPythonAsync(`
import zipfile, glob, sys, site
sp = site.getsitepackages()[0]
for w in glob.glob("/wheels/*.whl"):
    zipfile.ZipFile(w).extractall(sp)
import importlib; importlib.invalidate_caches()
import pytest
sys.dont_write_bytecode = True
int(pytest.main(["-q", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto", "/t/test_probe.py"]))
`);
console.log("rc", rc, Date.now() - t0);
await mf.dispose();
