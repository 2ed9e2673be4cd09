"""The layers of the code base, read from the source: which package may import which, and no cycles.

Every module of hoox_cli, hoox_tui and edge/hoox_edge is parsed with `ast` (imports inside functions
and under TYPE_CHECKING count too: a lazy import is still a dependency), the module graph is built, and
the rules of docs/architecture.md ("Layers") are checked:

- no import cycle inside hoox_cli, hoox_tui or hoox_edge;
- the cockpit (hoox_tui) imports no CLI front end: not hoox_cli.commands, hoox_cli.output, hoox_cli.main;
- no command module imports another (hoox_cli.commands.X -> hoox_cli.commands.Y);
- the core (hoox_cli.core) has no front end in it: no typer, textual, rich, no command module,
  no presentation module, no cockpit;
- the edge imports no front end and no pydantic (it runs on Pyodide).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"hoox_cli": ROOT / "hoox_cli", "hoox_tui": ROOT / "hoox_tui", "hoox_edge": ROOT / "edge" / "hoox_edge"}

Graph = Mapping[str, set[str]]


def module_name(package: str, root: Path, path: Path) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Every module `module` imports, anywhere in its body. `from a import b` counts as a.b when a.b is
    a module of ours (importing a submodule), else as a."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, node.module] if node.module else base_parts)
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return found


def build_graph() -> dict[str, set[str]]:
    files: dict[str, tuple[Path, bool]] = {}
    for package, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            files[module_name(package, root, path)] = (path, path.name == "__init__.py")
    known = set(files)
    return {mod: imports_of(ast.parse(path.read_text(encoding="utf-8"), str(path)), mod, is_pkg, known)
            for mod, (path, is_pkg) in files.items()}


def inside(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def find_cycles(graph: Graph, within: str) -> list[list[str]]:
    """The import cycles among the modules under `within`: one cycle (as a path a -> ... -> a) for each
    strongly connected component with more than one module (or a module importing itself)."""
    nodes = sorted(m for m in graph if inside(m, within))
    edges = {m: sorted(d for d in graph[m] if d in graph and inside(d, within)) for m in nodes}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan; the graphs are small, recursion depth is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges[v]:
                components.append(sorted(comp))

    for v in nodes:
        if v not in index:
            connect(v)
    return [_cycle_path(edges, comp) for comp in components]


def _cycle_path(edges: Mapping[str, list[str]], comp: list[str]) -> list[str]:
    """A concrete cycle through the component's first module (breadth-first back to it)."""
    start, members = comp[0], set(comp)
    parent: dict[str, str] = {}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in edges[v]:
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [start, *reversed(path[:-1]), start] if v != start else [start, start]
            if w in members and w not in parent:
                parent[w] = v
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")


def forbidden(graph: Graph, source: str, targets: Iterable[str], *, skip: Iterable[str] = ()) -> list[str]:
    """`a -> b` for every module a under `source` importing a module under one of `targets`."""
    targets, skip = list(targets), list(skip)
    return [f"{mod} -> {dep}" for mod in sorted(graph) if inside(mod, source) and not any(inside(mod, s) for s in skip)
            for dep in sorted(graph[mod]) if any(inside(dep, t) for t in targets)]


def command_cross_imports(graph: Graph) -> list[str]:
    out = []
    for mod in sorted(graph):
        if not inside(mod, "hoox_cli.commands") or mod == "hoox_cli.commands":
            continue
        out += [f"{mod} -> {dep}" for dep in sorted(graph[mod])
                if inside(dep, "hoox_cli.commands") and dep != "hoox_cli.commands" and dep != mod]
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return build_graph()  # ~1.5 s: built when a test here runs, not at collection in every xdist worker


def test_the_graph_sees_every_kind_of_import(graph: Graph) -> None:
    # a module-level import, a lazy one inside a function, and one under TYPE_CHECKING
    assert "hoox_cli.core.client" in graph["hoox_tui.store"]
    assert "hoox_cli.core.process" in graph["hoox_cli.commands.dev"]
    assert len(graph) > 100


def test_no_import_cycles(graph: Graph) -> None:
    cycles = [c for pkg in PACKAGES for c in find_cycles(graph, pkg)]
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _none(edges: list[str]) -> None:
    assert not edges, "forbidden imports:\n" + "\n".join(edges)


def test_the_cockpit_imports_no_cli_front_end(graph: Graph) -> None:
    # of hoox_cli, the cockpit sees the core only: not the commands, nor the CLI's output, prompts or entry
    cli_front_end = [m for m in graph if inside(m, "hoox_cli") and not inside(m, "hoox_cli.core") and m != "hoox_cli"]
    _none(forbidden(graph, "hoox_tui", [*cli_front_end, "typer"]))


def test_no_command_module_imports_another(graph: Graph) -> None:
    _none(command_cross_imports(graph))


def test_the_core_has_no_front_end(graph: Graph) -> None:
    cli_front_end = [m for m in graph if inside(m, "hoox_cli") and not inside(m, "hoox_cli.core") and m != "hoox_cli"]
    _none(forbidden(graph, "hoox_cli.core", ["typer", "textual", "rich", *cli_front_end, "hoox_tui"]))


def test_the_edge_imports_no_front_end_and_no_pydantic(graph: Graph) -> None:
    _none(forbidden(graph, "hoox_edge", ["hoox_cli", "hoox_tui", "typer", "textual", "rich", "pydantic"]))


# --------------------------------------------------------------------------- the checker itself
def test_the_checker_reports_a_cycle() -> None:
    graph = {"p.a": {"p.b", "os"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}, "q.x": {"q.x"}}
    assert find_cycles(graph, "p") == [["p.a", "p.b", "p.c", "p.a"]]
    assert find_cycles(graph, "q") == [["q.x", "q.x"]]
    assert find_cycles({"p.a": {"p.b"}, "p.b": set()}, "p") == []


def test_the_checker_resolves_relative_and_submodule_imports() -> None:
    tree = ast.parse("from . import b\nfrom .c import f\nfrom ..z import y\ndef g():\n    import os.path\n")
    known = {"p.q.b", "p.q.c", "p.z"}
    assert imports_of(tree, "p.q.a", False, known) == {"p.q.b", "p.q.c", "p.z", "os.path"}


def test_the_checker_reports_forbidden_edges() -> None:
    graph = {"hoox_cli.commands.a": {"hoox_cli.commands.b", "hoox_cli.core.x"}, "hoox_cli.commands.b": set(),
             "hoox_cli.core.x": {"typer"}}
    assert command_cross_imports(graph) == ["hoox_cli.commands.a -> hoox_cli.commands.b"]
    assert forbidden(graph, "hoox_cli.core", ["typer"]) == ["hoox_cli.core.x -> typer"]
