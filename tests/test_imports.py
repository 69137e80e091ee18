"""The product's imports point one way (docs/ARCHITECTURE.md): no cycle among its modules, and
the layers dashboard -> analytics_worker -> analytics_worker.genesys never import upwards.

Read from the source with ast, so an import inside a function counts like one at the top: it is
still a dependency, and a cycle hidden that way works only by the order Django loads modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "analytics_worker", "dashboard", "genesys_sim")


def product_modules() -> dict[str, Path]:
    """Dotted name -> file of every product module (a package is its __init__.py)."""
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


MODULES = product_modules()


def imported_names(module: str, path: Path) -> Iterator[str]:
    """Every module name `module` imports, at any depth of its code, relative imports resolved."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            yield base
            for alias in node.names:
                # `from analytics_worker import cache` imports the module analytics_worker.cache.
                yield f"{base}.{alias.name}"


def dependencies(module: str) -> set[str]:
    """The product modules `module` imports (the most specific module each name points at)."""
    found = set()
    for name in imported_names(module, MODULES[module]):
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)
    return found


GRAPH = {module: dependencies(module) for module in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_imports_inside_functions() -> None:
    # The check itself: apps.py imports heartbeats only inside ready().
    assert "analytics_worker.heartbeats" in GRAPH["analytics_worker.apps"]
    assert "analytics_worker.tasks" in GRAPH["analytics_worker.services"]


def test_the_cycle_finder_finds_a_lazy_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_product_module_imports_itself_back() -> None:
    assert cycles(GRAPH) == []


def importers(of: str, *, outside: tuple[str, ...]) -> list[str]:
    """Modules outside the given prefixes that import a module under `of`."""
    return sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if not module.startswith(outside)
        for target in targets
        if target == of or target.startswith(of + ".")
    )


@pytest.mark.parametrize(
    ("layer", "allowed"),
    [
        # The Genesys client knows no reports: only the Redis connection helper (the shared
        # token and rate limiter) comes from outside it.
        ("analytics_worker.genesys", ("analytics_worker.genesys", "analytics_worker.redis_client")),
        # The worker layer never reaches up into the web layer.
        ("analytics_worker", ("analytics_worker", "config")),
        # The simulated org is reached over HTTP only, like the real Genesys.
        ("genesys_sim", ("genesys_sim", "config")),
    ],
)
def test_a_layer_imports_nothing_above_it(layer: str, allowed: tuple[str, ...]) -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if module == layer or module.startswith(layer + ".")
        for target in targets
        if not (target in allowed or target.startswith(tuple(f"{a}." for a in allowed)))
    )
    assert upward == []


def test_nothing_in_the_product_imports_the_simulated_org() -> None:
    assert importers("genesys_sim", outside=("genesys_sim",)) == []
