"""The import-layer contract (ARCHITECTURE.md), checked from the modules' own import statements.

Layers, lowest first; a module imports, at module level, only from its own layer or below:

    core        messages, errors, _aio (+ textguard, _validate, exception_utils, formatting_utils, _alias, _lazy)
    runtime     llm/, coding/ (+ code_utils), and the test doubles in testing/
    agents      agents/
    groupchat   groupchat/
    faces       notebook/, views, _compose, export, cli, studio/, batch, console, the 0.2 module paths, ...
    demo        demo/ (the demo notebooks' source and their recorded replies)

Imports inside functions are deferred (they run on first use, not at import) and are allowed
upward, except into the UI: nothing below the faces imports notebook/, views, studio/, IPython or
ipywidgets at all. ``if TYPE_CHECKING:`` imports are ignored. The walk is a plain ``ast`` pass.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "agentnb"

LAYERS: dict[str, int] = {
    **dict.fromkeys(["messages", "errors", "_aio", "textguard", "_validate", "exception_utils",
                     "formatting_utils", "_alias", "_lazy"], 0),
    **dict.fromkeys(["llm", "coding", "code_utils", "testing", "function_utils", "token_count_utils"], 1),
    "agents": 2,
    "groupchat": 3,
    "demo": 5,
}
"""Layer of each top-level unit of ``agentnb``; every other unit is a face (layer 4)."""
FACES = 4
DEMO = "agentnb.demo"
"""The top layer: the demo notebooks' source. Nothing else in agentnb imports it, not even lazily."""
UI = ("agentnb.notebook", "agentnb.views", "agentnb.studio", DEMO, "IPython", "ipywidgets")
COMPOSITION_ROOT = "agentnb._compose"
ENTRY_POINTS = {"agentnb.agents.conversable"}
"""Core modules that may call the composition root (lazily): the public ``a_initiate_chat``."""
HEAVY = ("jupyter_client", "zmq", "tornado", "IPython", "ipywidgets", "openai", "sqlite3")


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    line: int
    module_level: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts}


def _edges(module: str) -> list[Edge]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    edges: list[Edge] = []

    def target(node: ast.ImportFrom, name: str) -> str:
        if node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        sub = f"{prefix}.{name}"
        return sub if sub in MODULES else prefix

    def walk(node: ast.AST, module_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for stmt in child.orelse:
                    walk(ast.Module(body=[stmt], type_ignores=[]), module_level)
                continue
            if isinstance(child, ast.Import):
                edges.extend(Edge(module, a.name, child.lineno, module_level) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                edges.extend(Edge(module, target(child, a.name), child.lineno, module_level) for a in child.names)
            walk(child, module_level and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    walk(ast.parse(path.read_text(encoding="utf-8")), True)
    return edges


EDGES = [e for m in sorted(MODULES) for e in _edges(m)]


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if parts[0] == "agentnb" and len(parts) > 1 else parts[0]


def _layer(module: str) -> int:
    return LAYERS.get(_unit(module), FACES)


def _internal(edge: Edge) -> bool:
    return edge.imported.startswith("agentnb.") and _unit(edge.importer) != _unit(edge.imported)


def _where(edge: Edge) -> str:
    return f"{edge.importer}:{edge.line} imports {edge.imported}"


def _upward(layers: dict[str, int]) -> list[str]:
    return [_where(e) for e in EDGES if e.module_level and _internal(e)
            and layers.get(_unit(e.imported), FACES) > layers.get(_unit(e.importer), FACES)]


def test_the_walk_sees_imports_and_tells_deferred_from_module_level():
    assert {"agentnb.messages", "agentnb.agents.chat", "agentnb.groupchat.manager", "agentnb.notebook.panel"} \
        <= MODULES.keys()
    chat = {(e.imported, e.module_level) for e in EDGES if e.importer == "agentnb.agents.chat"}
    assert ("agentnb.agents.scope", True) in chat and ("agentnb.export", False) in chat
    assert ("agentnb.notebook.panel", False) in {(e.imported, e.module_level) for e in EDGES
                                                if e.importer == "agentnb.views"}
    # the contract can fail: with the group chat drawn below the agents, its imports of them point up
    assert any("agentnb.groupchat.manager" in v for v in _upward({**LAYERS, "groupchat": 1}))


def test_module_level_imports_point_down_the_layers():
    assert _upward(LAYERS) == []


def test_llm_and_coding_are_independent_peers():
    crossing = [_where(e) for e in EDGES
                if _internal(e) and {_unit(e.importer), _unit(e.imported)} == {"llm", "coding"}]
    assert crossing == []


def test_nothing_below_the_faces_reaches_the_ui_even_lazily():
    below = [e for e in EDGES if _layer(e.importer) < FACES]
    ui = [_where(e) for e in below if e.imported.startswith(UI)]
    assert ui == []
    composition = [e.importer for e in below if e.imported == COMPOSITION_ROOT]
    assert set(composition) <= ENTRY_POINTS and all(
        not e.module_level for e in below if e.imported == COMPOSITION_ROOT)


def test_the_runtime_never_looks_at_the_test_harness():
    harness = ("testing", "demo")  # the test doubles, and the demos that replay through them
    runtime = [_where(e) for e in EDGES if _unit(e.importer) not in harness
               and e.imported.startswith("agentnb.testing")]
    assert runtime == []
    mentions = [str(p.relative_to(ROOT)) for m, p in MODULES.items()
                if _unit(m) not in harness and '"agentnb.testing"' in p.read_text(encoding="utf-8")]
    assert mentions == []


def test_nothing_imports_the_demos_even_lazily():
    assert {"agentnb.demo", "agentnb.demo.replay", "agentnb.demo.approval"} <= MODULES.keys()
    users = [_where(e) for e in EDGES if not e.importer.startswith(DEMO) and e.imported.startswith(DEMO)]
    assert users == []
    # the contract can fail: the demos draw on the faces below them
    assert any(e.importer.startswith(DEMO) and e.imported == "agentnb.views" for e in EDGES)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_between_units_at_module_level():
    graph: dict[str, set[str]] = {}
    for e in EDGES:
        if e.module_level and _internal(e) and _unit(e.importer) != "agentnb" and _unit(e.imported) != "agentnb":
            graph.setdefault(_unit(e.importer), set()).add(_unit(e.imported))
    assert _cycles(graph) == []


def test_no_import_cycles_between_core_modules_at_module_level():
    graph: dict[str, set[str]] = {}
    for e in EDGES:
        if e.module_level and e.imported in MODULES and _layer(e.importer) < FACES and e.importer != e.imported \
                and not MODULES[e.imported].name == "__init__.py":
            graph.setdefault(e.importer, set()).add(e.imported)
    assert _cycles(graph) == []


@pytest.mark.parametrize("module", ["agentnb.agents.conversable", "agentnb.groupchat", "agentnb.llm.client"])
def test_importing_the_core_loads_no_kernel_machinery_or_ui(module):
    code = f"import sys, {module}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""
