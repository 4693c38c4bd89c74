"""Detection-quality benchmark: the example plan through the core vs two polling references.

One run = one scenario with one seed: the simulator produces the stream slice by slice, the
core and both reference policies consume the *same* events, and every protective decision
(halt, rollback, freeze, pause, reduce scope, hold) is recorded with its event time. Scoring
against the scenario's ground truth is in :mod:`monitor.sim.scoring`.

The stream is open-loop: traffic stays at the stage's share whatever anyone decides, so the
three policies are judged on identical input (the orchestrator is not part of the test).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from monitor.sim.flow import RolloutSpec
from monitor.sim.generate import Simulation
from monitor.sim.references import FlaggerStyle, KayentaStyle
from monitor.sim.scenarios import SCENARIO_NAMES, Expectation, build_scenario
from topics.commands import Command

PROTECTIVE: Final = frozenset({"halt", "rollback", "freeze", "pause", "reduce_scope", "hold"})
ROOT: Final = Path(__file__).resolve().parents[2]
DEFAULT_PLAN_FILES: Final = (
    ROOT / "examples" / "plans" / "broker-bridge.yaml",
    ROOT / "examples" / "rules" / "broker-gates.yaml",
)
CANARY_PLAN: Final = "bridge-routing-v2"
SHADOW_PLAN: Final = "bridge-routing-v2-shadow"
SHADOW_SCENARIOS: Final = frozenset({"shadow_mismatch"})
"""Scenarios judged by the shadow plan (a dry run: its advisory decisions are the output)."""
POLICIES: Final = ("core", "flagger-style", "kayenta-style")


@dataclass(frozen=True)
class Decision:
    t: float
    """Seconds after the simulation start (event time)."""
    action: str
    rule: str | None = None
    segments: tuple[tuple[tuple[str, str], ...], ...] = ()
    """Segments named in the evidence (sorted label pairs)."""
    for_s: float | None = None
    advisory: bool = False


@dataclass(frozen=True)
class BenchConfig:
    plan_files: tuple[str, ...] = tuple(str(p) for p in DEFAULT_PLAN_FILES)
    stage: str = "canary-20"
    traffic_pct: float = 20.0
    order_rate: float = 40.0
    """Orders/s per rollout: a mid-size broker; the canary at 20 % sees 8/s (480 a minute)."""


@dataclass
class RunResult:
    scenario: str
    seed: int
    description: str
    duration_s: float
    expect: Expectation
    decisions: dict[str, list[Decision]] = field(default_factory=dict)
    events: int = 0
    elapsed_s: float = 0.0
    dry_run: bool = False
    """The plan is a dry run: its advisory decisions are its output and count."""


def _decision(cmd: Command, start_ts: float) -> Decision:
    segments = tuple(tuple(sorted(ev.segment.items())) for ev in cmd.evidence if ev.segment)
    for_s = next((ev.for_s for ev in cmd.evidence if ev.for_s is not None), None)
    return Decision(
        t=round(cmd.issued_at - start_ts, 3),
        action=cmd.action,
        rule=cmd.rule,
        segments=segments,
        for_s=for_s,
        advisory=cmd.advisory,
    )


_PLANS_CACHE: dict[tuple[str, ...], object] = {}


def _plans(files: tuple[str, ...]) -> object:
    from monitor.core import load_plans

    if files not in _PLANS_CACHE:
        _PLANS_CACHE[files] = load_plans(list(files))
    return _PLANS_CACHE[files]


def run_one(scenario: str, seed: int, config: BenchConfig = BenchConfig()) -> RunResult:
    """Run one scenario with one seed through the core and both references."""
    from monitor.core import Core, PlanSet

    sc = build_scenario(scenario, seed)
    shadow = scenario in SHADOW_SCENARIOS
    rid = f"{scenario}-{seed}"
    spec = RolloutSpec(
        rid,
        sc,
        plan=SHADOW_PLAN if shadow else CANARY_PLAN,
        traffic_pct=config.traffic_pct,
        canary=not shadow,
        shadow=shadow,  # the canary plan has no shadow rules: don't pay for mirroring
        order_rate=config.order_rate,
        initial_stage=None if shadow else config.stage,
        shadow_fraction=0.5,
    )
    sim = Simulation([spec], seed=seed)
    plans = _plans(config.plan_files)
    assert isinstance(plans, PlanSet)
    core = Core(plans)
    # the references judge canaries; a shadow-only rollout has no canary for them to poll
    refs: tuple[FlaggerStyle | KayentaStyle, ...] = (
        () if shadow else (FlaggerStyle(rid), KayentaStyle(rid))
    )
    result = RunResult(scenario, seed, sc.description, sc.duration_s, sc.expect, dry_run=shadow)
    core_decisions: list[Decision] = []
    started = time.perf_counter()
    for batch in sim.slices():
        result.events += len(batch)
        for cmd in core.process(batch):
            if cmd.action in PROTECTIVE:
                core_decisions.append(_decision(cmd, sim.start_ts))
        for ref in refs:
            ref.process(batch)
    result.elapsed_s = time.perf_counter() - started
    result.decisions["core"] = core_decisions
    for ref in refs:
        result.decisions[ref.name] = [
            Decision(t=round(a.ts - sim.start_ts, 3), action=a.action, rule=a.reason)
            for a in ref.actions
        ]
    return result


def _run_star(args: tuple[str, int, BenchConfig]) -> RunResult:
    return run_one(*args)


def run_grid(
    scenarios: Sequence[str] = SCENARIO_NAMES,
    seeds: Iterable[int] = range(20),
    config: BenchConfig = BenchConfig(),
    jobs: int = 1,
    progress: Callable[[RunResult, int, int], None] | None = None,
) -> list[RunResult]:
    """Every scenario with every seed; ``jobs`` > 1 runs them in worker processes.

    Results come back in task order (scenario-major); ``progress`` sees each as it ends.
    """
    tasks = [(name, seed, config) for name in scenarios for seed in seeds]
    done: dict[int, RunResult] = {}

    def record(i: int, result: RunResult) -> None:
        done[i] = result
        if progress is not None:
            progress(result, len(done), len(tasks))

    if jobs <= 1:
        for i, task in enumerate(tasks):
            record(i, _run_star(task))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(_run_star, t): i for i, t in enumerate(tasks)}
            for future in as_completed(futures):
                record(futures[future], future.result())
    return [done[i] for i in range(len(tasks))]


def load_results(path: Path) -> list[RunResult]:
    """Results saved by ``rollguard bench detection --decisions`` (JSON list or JSON lines)."""
    import msgspec

    data = path.read_bytes()
    if data.lstrip().startswith(b"["):
        return msgspec.json.decode(data, type=list[RunResult])
    return [msgspec.json.decode(line, type=RunResult) for line in data.splitlines() if line]
