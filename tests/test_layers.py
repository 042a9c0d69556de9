"""The layers hold at run time: laws -> runs -> results -> inference -> analysis -> plots.

Each module's own import statements name only its own or earlier layers; importing bayescale,
its analysis or its plots in a fresh interpreter does not import PyMC or PyTensor (only fitting
does); and no module of bayescale imports itself through a cycle.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "bayescale"
ORDER = ["laws", "runs", "results", "inference", "analysis", "plots"]
NO_PYMC = {"laws", "runs", "results", "analysis", "plots"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    pkg_parts = path.relative_to(PKG.parent).with_suffix("").parts[:-1]
    base = list(pkg_parts[: len(pkg_parts) - node.level + 1])
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement of ``path`` names, at any depth (function bodies too)."""
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(path, node)
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


def _top_level_imports(path: Path, modules: set[str]) -> set[str]:
    """Modules of bayescale imported when ``path`` is imported (module-level statements, outside
    ``if TYPE_CHECKING``)."""
    out = set()

    def visit(stmts):
        for node in stmts:
            if isinstance(node, ast.If):
                if "TYPE_CHECKING" in ast.unparse(node.test):
                    continue
                visit(node.body), visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom):
                mod = _resolve(path, node)
                for a in node.names:
                    sub = f"{mod}.{a.name}"
                    out.add(sub if sub in modules else mod)
    visit(ast.parse(path.read_text()).body)
    return {m for m in out if m in modules}


@pytest.mark.parametrize("layer", ORDER)
def test_layer_imports_point_one_way(layer):
    later = ORDER[ORDER.index(layer) + 1:]
    for path in (PKG / layer).rglob("*.py"):
        mods = imported_modules(path)
        wrong = sorted(m for m in mods for other in later if m.startswith(f"bayescale.{other}"))
        assert not wrong, f"{path.relative_to(PKG)} reaches up to {wrong}"
        if layer in NO_PYMC:
            banned = {"pymc"} if path.name == "_ops.py" else {"pymc", "pytensor"}  # the ops shim
            bad = sorted(m for m in mods if m.split(".")[0] in banned)
            assert not bad, f"{path.relative_to(PKG)} imports {bad}"


def test_walker_sees_relative_imports():
    mods = imported_modules(PKG / "plots" / "fits.py")
    assert "bayescale.analysis" in mods and "bayescale.results" in mods


@pytest.mark.parametrize("module", ["bayescale", "bayescale.analysis", "bayescale.plots", "bayescale.results"])
def test_reading_results_does_not_import_pymc(module):
    code = (f"import sys, {module}; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pymc', 'pytensor', 'nutpie'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"import {module} imported {out.stdout.strip()}"


def test_fitting_imports_pymc_when_asked():
    code = "import sys, bayescale as bs; bs.fit; print('pymc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PKG.rglob("*.py")}
    return {m: _top_level_imports(p, set(paths)) - {m} for m, p in paths.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v), on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles():
    graph = _graph()
    assert "bayescale.analysis.predict" in graph and "bayescale.results" in graph["bayescale.analysis.predict"]
    # a package's __init__ importing its own modules is the one allowed loop: drop edges from a
    # module to the package that contains it
    graph = {m: {w for w in deps if not m.startswith(w + ".")} for m, deps in graph.items()}
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
