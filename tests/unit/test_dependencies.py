"""The declared dependencies are exactly what the code imports: the product's packages import
the runtime dependencies (and ``monitor.faust`` the ``faust`` extra's), nothing undeclared, and
nothing declared that no product module imports."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("monitor", "detectors", "topics", "dashboards")


def _imported(paths: list[Path]) -> set[str]:
    """Top-level modules imported by ``paths`` that are not the standard library or ours."""
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - set(PRODUCT)


def _distributions(modules: set[str]) -> set[str]:
    installed = packages_distributions()
    missing = sorted(m for m in modules if m not in installed)
    assert not missing, f"imported but not installed: {missing}"
    return {dist.lower() for m in modules for dist in installed[m]}


def _declared(lines: list[str]) -> set[str]:
    names = {Requirement(line).name.lower() for line in lines}
    return {name.replace("_", "-") for name in names} - {"rollguard"}


def test_declared_dependencies_are_exactly_what_the_product_imports() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    files = [p for root in PRODUCT for p in (ROOT / root).rglob("*.py")]
    faust = [p for p in files if "faust" in p.relative_to(ROOT).parts[:2]]
    runtime = _distributions(_imported([p for p in files if p not in faust]))
    adapter = _distributions(_imported(faust)) - runtime
    runtime = {name.replace("_", "-") for name in runtime}
    adapter = {name.replace("_", "-") for name in adapter}
    declared = _declared(project["dependencies"])
    assert declared == runtime, "runtime dependencies"
    assert _declared(project["optional-dependencies"]["faust"]) == adapter, "faust extra"
