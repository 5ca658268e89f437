"""The layers of crmload (README, "Development"), checked on the source: no import runs upwards,
no two packages import each other, no module imports itself round a circle.

Every ``import`` and ``from ... import`` of every module counts, the ones inside functions too
(a deferred import is still a dependency), except those under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import crmload

ROOT = Path(crmload.__file__).parent
# layer of each package group, bottom first; a module may import its own group and lower layers
LAYERS: dict[str, int] = {
    "crmload": -1,  # the root package: the version only, importing nothing
    "crmload.core": 0,
    "crmload.democrm": 1,
    "crmload.loadtests": 1,
    "crmload.analysis": 1,
    "crmload.app": 2,  # cli, runner, conductor, baselines, safety: the modules directly in crmload/
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def group_of(module: str) -> str:
    """The package group a module belongs to (see LAYERS)."""
    for group in ("crmload.core", "crmload.democrm", "crmload.loadtests", "crmload.analysis"):
        if module == group or module.startswith(group + "."):
            return group
    return "crmload" if module == "crmload" else "crmload.app"


def modules() -> dict[str, Path]:
    """Every module of the package, through the links crmload/ holds to the top-level folders."""
    found = {}
    for folder, _dirs, files in os.walk(ROOT, followlinks=True):
        for f in files:
            if f.endswith(".py"):
                found[module_name(Path(folder) / f)] = Path(folder) / f
    return dict(sorted(found.items()))


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _walk(tree: ast.AST) -> Iterator[ast.AST]:
    for node in ast.iter_child_nodes(tree):
        if _type_checking_only(node):
            continue
        yield node
        yield from _walk(node)


def imports_of(module: str, path: Path) -> set[str]:
    """The crmload modules ``module`` imports (a package counts as its ``__init__``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in _walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}
    known = modules()
    return {m for m in found if m in known and m != module}


def graph() -> dict[str, set[str]]:
    return {name: imports_of(name, path) for name, path in modules().items()}


def test_the_source_tree_is_found_whole() -> None:
    names = set(modules())
    assert {"crmload.cli", "crmload.core.rundir", "crmload.analysis.verdict", "crmload.loadtests.capture"} <= names
    assert {"crmload.democrm.app", "crmload.analysis.kinds.capacity", "crmload.analysis.formats.junit"} <= names


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Imports of another package group that is not in a lower layer."""
    wrong = []
    for module, targets in edges.items():
        here = group_of(module)
        for target in sorted(targets):
            there = group_of(target)
            if there != here and LAYERS[there] >= LAYERS[here]:
                wrong.append(f"{module} (layer {LAYERS[here]}) imports {target} (layer {LAYERS[there]})")
    return wrong


def test_no_import_runs_upwards_or_sideways_between_packages() -> None:
    assert violations(graph()) == []


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_imports_itself_round_a_circle() -> None:
    assert _cycle(graph()) is None


def test_no_package_imports_another_in_a_circle() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in graph().items():
        packages.setdefault(group_of(module), set()).update(
            group_of(t) for t in targets if group_of(t) != group_of(module)
        )
    assert _cycle(packages) is None


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ],
)
def test_the_cycle_finder_finds_cycles(edges: dict[str, set[str]], expected: list[str] | None) -> None:
    assert _cycle(edges) == expected


def test_an_upward_or_sideways_import_is_caught(tmp_path: Path) -> None:
    """The checker itself: a deferred import of the command line from the core, and an import of
    the analysis from the load generator's side, are both reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f() -> None:\n    from crmload.cli import main\n")
    side = tmp_path / "side.py"
    side.write_text("import crmload.analysis.verdict\n")
    edges = {
        "crmload.core.bad": imports_of("crmload.core.bad", bad),
        "crmload.loadtests.side": imports_of("crmload.loadtests.side", side),
    }
    assert "crmload.cli" in edges["crmload.core.bad"]
    found = violations(edges)
    assert any(v.startswith("crmload.core.bad (layer 0) imports crmload.cli (layer 2)") for v in found)
    assert "crmload.loadtests.side (layer 1) imports crmload.analysis.verdict (layer 1)" in found
