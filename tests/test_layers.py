"""The architecture as tests: the layer contracts (pyproject.toml's [tool.importlinter], checked
by import-linter) and no import circles anywhere in the project (found with grimp, the graph
library import-linter is built on). Both read the source statically, imports inside functions
included. tests/test_boundaries.py proves the edge's boundary at run time too."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("core", "edge", "admin", "sync", "smartlinks", "loadtest")

def test_layer_contracts_hold() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def strongly_connected(edges: Mapping[str, Iterable[str]]) -> list[frozenset[str]]:
    """The circles of a directed graph: its strongly connected components of two nodes or more
    (Tarjan's algorithm, iterative, so a deep import chain cannot hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(edges.get(start, ())))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(edges.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def circles(graph: grimp.ImportGraph) -> list[frozenset[str]]:
    """Circles between modules, and between siblings at every level: the children of each
    package (and the root packages themselves), each standing for everything inside it."""
    modules = graph.modules
    imports = {m: graph.find_modules_directly_imported_by(m) for m in modules}
    found = strongly_connected(imports)
    parents = {m.rpartition(".")[0] for m in modules}  # "" is the level of the root packages
    for parent in sorted(parents):
        depth = parent.count(".") + 1 if parent else 0

        def sibling(module: str, parent: str = parent, depth: int = depth) -> str | None:
            if parent and not module.startswith(parent + "."):
                return None
            return ".".join(module.split(".")[: depth + 1])

        edges: dict[str, set[str]] = {}
        for importer, imported in imports.items():
            a = sibling(importer)
            for target in imported:
                b = sibling(target)
                if a and b and a != b:
                    edges.setdefault(a, set()).add(b)
        found += [c for c in strongly_connected(edges) if c not in found]
    return found


def test_strongly_connected_finds_circles_and_only_them() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": set(), "f": {"f"}}
    assert strongly_connected(edges) == [frozenset({"a", "b", "c"})]
    assert strongly_connected({"x": {"y"}, "y": {"z"}}) == []


def test_sibling_circles_are_found_through_their_children() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in (("p.a.one", "p.b.two"), ("p.b.three", "p.a"), ("q", "p.a")):
        graph.add_import(importer=importer, imported=imported)
    assert circles(graph) == [frozenset({"p.a", "p.b"})]


def test_no_import_circles_in_the_project() -> None:
    graph = grimp.build_graph(*PROJECT, cache_dir=None)
    found = circles(graph)
    assert not found, f"import circles: {[sorted(c) for c in found]}"
