"""A pytest plugin that breaks one conversion on purpose (`-p broken_conversion`): the `cloudflare`
D1 adapter hands back what D1 gave it, a JsProxy, instead of Python values. The conformance suite
must turn red under it (tests/test_pyodide_conformance.py), or it proves nothing."""

from hoox_edge.cloudflare import d1

d1.to_py = lambda value: value
