"""Every detector is reached from a rule or is a named candidate: ``examples/README.md``
says which rule reaches which statistic, and lists the candidates no rule reaches yet; this
checks both lists against what ``monitor/`` imports from ``detectors``."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import detectors
from monitor.core.thresholds import RULE_DETECTORS

ROOT = Path(__file__).resolve().parents[3]
SUPPORT = {"Comparison", "DetectorError", "DetectorStateError", "bernoulli_llr"}
"""What the detectors return or raise, and helpers of one detector (not detectors)."""


def imported_by_monitor() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "monitor").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("detectors"):
                names.update(alias.name for alias in node.names)
    return names


def readme_lists() -> tuple[set[str], set[str]]:
    """(statistics of the rule table, candidates) as ``examples/README.md`` names them."""
    text = (ROOT / "examples" / "README.md").read_text()
    table = text[text.index("| rule | statistic |") : text.index("Candidates no rule")]
    rows = [line.split("|")[2] for line in table.splitlines()[2:] if line.startswith("|")]
    statistics = {re.findall(r"`(\w+)`", cell)[0] for cell in rows}
    para = text[text.index("Candidates no rule") : text.index("A detector that is neither")]
    return statistics, set(re.findall(r"`(\w+)`", para)) - {"default_scorer"}


def test_every_detector_is_reached_by_a_rule_or_a_named_candidate() -> None:
    reached = imported_by_monitor()
    statistics, candidates = readme_lists()
    public = set(detectors.__all__) - SUPPORT
    assert reached <= public, "monitor/ imports what detectors/ does not export"
    assert statistics <= reached, "the README's table names a statistic no rule imports"
    assert reached - {"default_scorer"} <= statistics, "the README's table misses a detector"
    assert not candidates & reached, "a candidate is reached: move it to the table"
    assert public - reached - candidates == set(), "neither reached nor a candidate: remove it"
    assert candidates <= public


def test_the_engine_loads_every_detector_a_rule_reaches_when_it_is_built() -> None:
    """Built, a Core has imported them (a worker pays before it serves, not mid-step)."""
    assert set(RULE_DETECTORS) | {"AnomalyScorer"} == imported_by_monitor()
    code = (
        "import sys; from monitor.core import Core, load_plans; "
        "before = 'scipy' in sys.modules; "
        "Core(load_plans(['examples/plans/broker-bridge.yaml', "
        "'examples/rules/broker-gates.yaml'])); print(before, all(m in sys.modules for m in "
        "('detectors.ewstats', 'detectors.scoring', 'detectors.categorical', 'scipy')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "True"]
