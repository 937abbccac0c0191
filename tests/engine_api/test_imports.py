"""The packages' import rules, read from the source with ``ast``.

* No module imports an underscore name (or an underscore module) of another package, nor reads
  one through a module it imported: what a package shares, it shares by a public name.
* Dependencies point one way: ``engine_api`` imports no engine and not shared_nn; no engine
  imports shared_nn or another engine.
* No import cycle among the modules of the packages (function-level imports included).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine_api", "scalar_engine", "tensor_engine", "torch_engine", "shared_nn")
ALLOWED = {
    "engine_api": set(),
    "scalar_engine": {"engine_api"},
    "tensor_engine": {"engine_api"},
    "torch_engine": {"engine_api"},
    "shared_nn": {"engine_api", "scalar_engine", "tensor_engine", "torch_engine"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def checked_files() -> list[Path]:
    """The packages, and the examples and benchmarks that use them."""
    extra = sorted((ROOT / "examples").glob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
    return package_files() + extra


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = module.split(".")
    is_package = (ROOT / Path(*package) / "__init__.py").exists()
    base = package if is_package else package[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def is_module(name: str) -> bool:
    path = ROOT / Path(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) for every import statement in ``path``."""
    me = module_name(path) if path.is_relative_to(ROOT) else ""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, resolve(me, node), [a.name for a in node.names]))
    return found


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", checked_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_crosses_a_package_border(path: Path) -> None:
    me = module_name(path)
    own = top(me)
    bad = []
    bound: dict[str, str] = {}  # local name -> another package's module it stands for
    for line, module, names in imports(path):
        if top(module) not in PACKAGES or top(module) == own:
            continue
        if any(is_private(part) for part in module.split(".")):
            bad.append(f"line {line}: imports module {module}")
        bad += [f"line {line}: imports {module}.{n}" for n in names if is_private(n)]
        if not names:
            bound[module.split(".")[0]] = module
        for n in names:
            if is_module(f"{module}.{n}"):
                bound[n] = f"{module}.{n}"
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):  # import tensor_engine.tensor as te; te._x
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and top(alias.name) in PACKAGES and top(alias.name) != own:
                    bound[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and top(resolve(me, node)) not in (own, ""):
            for alias in node.names:  # from scalar_engine import value as se; se._x
                full = f"{resolve(me, node)}.{alias.name}"
                if alias.asname and is_module(full):
                    bound[alias.asname] = full
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and is_private(node.attr)
                and isinstance(node.value, ast.Name) and node.value.id in bound):
            bad.append(f"line {node.lineno}: reads {bound[node.value.id]}.{node.attr}")
    assert not bad, f"{path.relative_to(ROOT)} reaches into another package's privates:\n" + \
        "\n".join(bad)


@pytest.mark.parametrize("path", package_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_dependencies_point_one_way(path: Path) -> None:
    own = top(module_name(path))
    wrong = sorted({top(m) for _, m, _ in imports(path)
                    if top(m) in PACKAGES and top(m) != own and top(m) not in ALLOWED[own]})
    assert not wrong, f"{path.relative_to(ROOT)} ({own}) imports {wrong}"


def module_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in package_files():
        me = module_name(path)
        edges = graph.setdefault(me, set())
        for _, module, names in imports(path):
            if top(module) not in PACKAGES:
                continue
            targets = [f"{module}.{n}" for n in names if is_module(f"{module}.{n}")]
            if len(targets) < len(names) or not names:
                targets.append(module)
            edges.update(t for t in targets if t != me and is_module(t))
    return graph


def package_of(module: str) -> str:
    """A module's own package (a package's ``__init__`` counts as the package itself)."""
    return module if (ROOT / Path(*module.split(".")) / "__init__.py").exists() \
        else module.rpartition(".")[0]


def test_no_import_cycle() -> None:
    """Among modules, ignoring the edges between a package's ``__init__`` and the modules it
    re-exports (that is how a package presents its parts, not a cycle of concepts)."""
    graph = module_graph()
    for module, edges in graph.items():
        graph[module] = {e for e in edges
                         if not (e == package_of(module) or package_of(e) == module)}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
