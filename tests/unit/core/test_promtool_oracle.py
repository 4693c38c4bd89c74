"""Rule timing against Prometheus itself: ``promtool test rules`` as the oracle.

Random 0/1 series (runs of every length), one alerting rule per series with a random
``for`` and ``keep_firing_for`` (multiples of 50 ms, on or off the resolution's grid), at
sub-second (50, 100, 200, 300 ms) and whole-second (1 s, 2 s) resolutions. Each sample sits
exactly on an evaluation's boundary, the case floats of seconds got wrong. The core's alert
state at every evaluation (one ``Metric`` per sample, a one-step window) is written as
promtool's expected alerts; promtool re-evaluates the same rules on the same series and
reports every evaluation where Prometheus disagrees. They must agree on all of them.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from monitor.core import Core, load_plans
from monitor.core.rollout import Rollout
from tests.unit.core.helpers import T0
from topics.events import Metric, Plan

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package `prometheus`)"
)

SUB_SECOND_MS = (50, 100, 200, 300)
WHOLE_SECOND_MS = (1000, 2000)
SERIES_PER_RESOLUTION = 60
EVALUATIONS = 40


@dataclass(frozen=True)
class Series:
    name: str
    for_ms: int
    keep_ms: int
    values: tuple[int, ...]


def make_series(res_ms: int, seed: int) -> list[Series]:
    rng = random.Random(seed * 7919 + res_ms)
    out = []
    for j in range(SERIES_PER_RESOLUTION):
        flip = rng.choice((0.1, 0.25, 0.5))
        v = rng.random() < 0.5
        values = []
        for _ in range(EVALUATIONS):
            values.append(int(v))
            if rng.random() < flip:
                v = not v
        # multiples of 50 ms up to 6 steps: on the grid and between its points
        for_ms = 50 * rng.randint(0, 6 * res_ms // 50)
        keep_ms = 50 * rng.randint(0, 4 * res_ms // 50) if rng.random() < 0.7 else 0
        out.append(Series(f"x{j}", for_ms, keep_ms, tuple(values)))
    return out


def core_states(tmp_path: Path, res_ms: int, series: list[Series]) -> dict[str, list[str]]:
    """The core's alert state of each series' rule at each evaluation."""
    rules = [
        {
            "name": s.name,
            "signal": f"metric:{s.name}",
            "window": f"{res_ms}ms",
            "for": f"{s.for_ms}ms",
            "keep_firing_for": f"{s.keep_ms}ms",
            "threshold": {"kind": "absolute", "op": ">", "value": 0.5},
            "action": "hold",
        }
        for s in series
    ]
    plan = {
        "resolution": f"{res_ms}ms",
        "allowed_lateness": "0s",
        "rules": ["set"],
        "stages": [{"name": "s1", "traffic_pct": 5, "min_dwell": "1d"}],
    }
    path = tmp_path / f"plan-{res_ms}.yaml"
    path.write_text(yaml.safe_dump({"rule_sets": {"set": rules}, "plans": {"p": plan}}))
    core = Core(load_plans([path]))
    states: dict[str, list[str]] = {s.name: [] for s in series}

    def observe(r: Rollout, step: int) -> None:
        for inst in r.stage_rules():
            states[inst.rule.name].append(inst.alert.state)

    core.observer = observe
    res = res_ms / 1000
    core.process(
        [Plan(v=1, rollout_id="r", variant="canary", ts=T0, action="registered", plan="p")]
    )
    for i in range(EVALUATIONS):
        ts = T0 + i * res  # exactly on the evaluation's boundary
        core.process(
            [
                Metric(v=1, rollout_id="r", variant="canary", ts=ts, name=s.name, value=s.values[i])
                for s in series
            ]
        )
    core.advance_watermark(T0 + EVALUATIONS * res)
    return {name: got[:EVALUATIONS] for name, got in states.items()}


def promtool_disagreements(
    tmp_path: Path, res_ms: int, series: list[Series], states: dict[str, list[str]]
) -> tuple[int, int, str]:
    """(evaluations promtool disagrees on, evaluations checked, its report)."""
    rules = [
        {
            "alert": s.name,
            "expr": f'x{{s="{s.name}"}} > 0.5',
            "for": f"{s.for_ms}ms",
            "keep_firing_for": f"{s.keep_ms}ms",
        }
        for s in series
    ]
    (tmp_path / f"rules-{res_ms}.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "g", "rules": rules}]})
    )
    tests = [
        {
            "eval_time": f"{i * res_ms}ms",
            "alertname": s.name,
            "exp_alerts": [{"exp_labels": {"s": s.name}}] if state == "firing" else [],
        }
        for s in series
        for i, state in enumerate(states[s.name])
    ]
    doc = {
        "rule_files": [f"rules-{res_ms}.yml"],
        "evaluation_interval": f"{res_ms}ms",
        "tests": [
            {
                "interval": f"{res_ms}ms",
                "input_series": [
                    {"series": f'x{{s="{s.name}"}}', "values": " ".join(map(str, s.values))}
                    for s in series
                ],
                "alert_rule_test": tests,
            }
        ],
    }
    test_file = tmp_path / f"test-{res_ms}.yml"
    test_file.write_text(yaml.safe_dump(doc))
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "test", "rules", test_file.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = done.stdout + done.stderr
    failed = len(re.findall(r"alertname: \S+, time: ", report))
    assert (done.returncode == 0) == (failed == 0), report[-2000:]
    return failed, len(tests), report


@pytest.mark.parametrize("res_ms", SUB_SECOND_MS + WHOLE_SECOND_MS)
def test_rule_states_agree_with_promtool(tmp_path: Path, res_ms: int) -> None:
    series = make_series(res_ms, seed=1)
    states = core_states(tmp_path, res_ms, series)
    assert all(len(got) == EVALUATIONS for got in states.values())
    assert any("firing" in got for got in states.values())  # not vacuous
    failed, checked, report = promtool_disagreements(tmp_path, res_ms, series, states)
    assert checked == SERIES_PER_RESOLUTION * EVALUATIONS
    assert failed == 0, f"{failed}/{checked} evaluations disagree with Prometheus:\n{report[:3000]}"


def test_promtool_catches_a_disagreement(tmp_path: Path) -> None:
    """The oracle is not vacuous: one evaluation's state flipped is reported."""
    series = make_series(300, seed=2)
    states = core_states(tmp_path, 300, series)
    name, got = next((n, g) for n, g in states.items() if "firing" in g)
    i = got.index("firing")
    states[name][i] = "inactive"
    failed, _, _ = promtool_disagreements(tmp_path, 300, series, states)
    assert failed == 1
