"""The sandbox package's modules form no import cycle: each layer builds only on the ones below it
(limits/values/wire -> isolation -> session -> suites -> pool), so any module imports alone."""

import ast
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "sandboxes"


def import_graph() -> dict[str, set[str]]:
    """module -> sandboxes modules it imports anywhere (top level or inside functions)."""
    modules = {path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for name in modules:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "sandboxes":
                    found |= {alias.name for alias in node.names if alias.name in modules}
                elif node.module.startswith("sandboxes."):
                    found.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("sandboxes.")}
        graph[name] = found - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for child in sorted(graph.get(node, ())):
            if state.get(child) == "open":
                return path + [node, child]
            if child not in state:
                found = visit(child, path + [node])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def test_no_sandbox_module_imports_one_that_imports_it_back():
    graph = import_graph()
    assert {"pool", "session", "suites"} <= set(graph)
    assert find_cycle(graph) is None, find_cycle(graph)


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("module", ["sandboxes.pool", "sandboxes.session", "sandboxes.suites"])
def test_each_module_imports_alone(module):
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
