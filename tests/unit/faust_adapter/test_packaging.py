"""faust-streaming is optional: only the ``faust`` extra pulls it, only ``monitor.faust``
imports it, and the suite (the ``dev`` extra) installs it so the adapter is tested in CI."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[3]


def _names(requirements: list[str]) -> dict[str, Requirement]:
    parsed = [Requirement(line) for line in requirements]
    return {r.name.lower(): r for r in parsed}


def test_only_the_faust_extra_pulls_faust_and_dev_includes_it() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = _names(project["dependencies"])
    extras = project["optional-dependencies"]
    assert "faust-streaming" not in base and "faust" not in base
    assert "aiohttp" in base  # the native worker's HTTP server, once faust's
    assert "faust-streaming" in _names(extras["faust"])
    dev = _names(extras["dev"])
    assert "faust" in dev["rollguard"].extras


def test_no_module_outside_monitor_faust_imports_faust() -> None:
    offenders = []
    for package in ("monitor", "detectors", "topics"):
        for path in (ROOT / package).rglob("*.py"):
            if path.is_relative_to(ROOT / "monitor" / "faust"):
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                if any(n.split(".")[0] in ("faust", "mode") for n in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
