"""The CLI starts fast because heavy libraries load only in the commands that use them.

``python -X importtime`` lists every module a command imported; the heavy ones (scipy, numpy,
matplotlib, river, the Kafka clients, the worker's HTTP stack) must not appear for ``--help``
and the operator commands' start-up. Timing itself is measured by
``python -m tests.bench.cli_start`` (beside ``python -c pass``), not asserted here: a loaded
machine would make such a test flaky, the import graph does not.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HEAVY = (
    "scipy",
    "numpy",
    "matplotlib",
    "river",
    "aiokafka",
    "kafka",
    "faust",
    "aiohttp",
    "prometheus_client",
    "detectors",
    "grafana_api",
    "grafana_foundation_sdk",
    "markdown_it",  # rich's markdown help renderer: plain help is ~50 ms faster
    "pygments",
)


def imported(*args: str, full: bool = False) -> set[str]:
    """Top-level packages (``full``: modules) imported by ``rollguard ARGS``."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "monitor.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode in (0, 1, 2), proc.stderr[-2000:]
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            names.add(name if full else name.split(".")[0])
    assert "monitor" in names or "monitor.cli" in names  # the parse worked
    return names


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["kill", "--help"],
        ["resume", "--help"],
        ["signoff", "--help"],
        ["tail", "--help"],
        ["export", "--help"],
        ["replay", "--help"],
        ["worker", "--help"],
        ["check", "examples/plans", "examples/rules"],
    ],
    ids=" ".join,
)
def test_start_up_imports_no_heavy_library(args: list[str]) -> None:
    assert sorted(imported(*args) & set(HEAVY)) == []


def test_help_and_one_command_build_only_what_they_show() -> None:
    """The root's help lists summaries; a command loads its own module, not the others'."""
    families = {
        "monitor.cli.core",
        "monitor.cli.demo",
        "monitor.cli.dev",
        "monitor.cli.dashboards",
        "monitor.cli.evidence",
        "monitor.cli.operators",
        "monitor.cli.sim",
        "monitor.cli.topics",
        "monitor.cli.worker",
    }
    assert imported("--help", full=True) & families == set()
    assert imported("kill", "--help", full=True) & families == {"monitor.cli.operators"}
