"""Imports flow laws -> runs -> inference -> analysis -> plots: each module's own import statements may
name only its own or earlier layers, and analysis and plots never import PyMC themselves (they may use
the inference layer's results, which do)."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "bayescale"
ORDER = ["laws", "runs", "results", "inference", "analysis", "plots"]
NO_PYMC = {"laws", "runs", "results", "analysis", "plots"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    pkg_parts = path.relative_to(PKG.parent).with_suffix("").parts[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(pkg_parts[: len(pkg_parts) - node.level + 1])
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


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
