"""The shape of the library, read from its source with ``ast``: the command line lives in
``sanode.cli`` only, and the modules of ``sanode`` import each other without a cycle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import sanode

SRC = Path(sanode.__file__).resolve().parent
PACKAGE = "sanode"


def module_files() -> dict[str, Path]:
    """Dotted module name → source file, for every module of the package (``__init__`` names its package)."""
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(SRC).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(path: Path, module: str) -> Iterator[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every import statement, at any depth (function
    bodies, ``if TYPE_CHECKING`` blocks included); relative imports are resolved against ``module``."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, [alias.name for alias in node.names]


def import_graph() -> dict[str, set[str]]:
    """module → the ``sanode`` modules it imports. ``from pkg import sub`` points at ``pkg.sub`` when
    that is a module, else at ``pkg``; ``import a.b`` points at ``a.b``."""
    files = module_files()
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for target, names in imports(path, name):
            if not (target == PACKAGE or target.startswith(PACKAGE + ".")):
                continue
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in files]
            rest = [n for n in names if f"{target}.{n}" not in files]
            graph[name].update(subs)
            if (rest or not names) and target in files:
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a → … → a) through each strongly connected component with more than one module
    (or a module importing itself), found with Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(graph, set(c)) for c in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside the component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"{sorted(component)} is not strongly connected")


def test_only_the_command_line_imports_argparse() -> None:
    offenders = sorted(
        f"{name} ({path.relative_to(SRC.parent)})"
        for name, path in module_files().items()
        if not (name == f"{PACKAGE}.cli" or name.startswith(f"{PACKAGE}.cli."))
        and any(target == "argparse" or target.startswith("argparse.") for target, _ in imports(path, name))
    )
    assert not offenders, "argparse belongs in sanode.cli only; it is imported by " + ", ".join(offenders)


def test_the_import_graph_has_no_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles in sanode:\n" + "\n".join("  " + " → ".join(c) for c in found)


def test_the_cycle_finder_sees_cycles_and_resolves_imports(tmp_path: Path) -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}, "e": {"a"}}
    assert sorted(cycles(graph)) == [["a", "b", "c", "a"], ["d", "d"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    source = tmp_path / "__init__.py"
    source.write_text("from . import x\nfrom .y import z\ndef f():\n    from ..w import v\n    import sanode.q\n")
    found = sorted(imports(source, "sanode.pkg"))
    assert found == [("sanode.pkg", ["x"]), ("sanode.pkg.y", ["z"]), ("sanode.q", []), ("sanode.w", ["v"])]
    graph_now = import_graph()
    assert "sanode.cli" in graph_now["sanode.cli.__main__"]
    assert "sanode.cli.train" in graph_now["sanode.cli"]  # `from sanode.cli import train` names the submodule
