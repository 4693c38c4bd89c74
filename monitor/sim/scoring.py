"""Score benchmark runs against ground truth: detection, action, delay, false actions.

Per policy and run:

* a decision before the scenario's onset, or any decision in a scenario that expects none,
  is a **false action** (counted against the rollout-hours in which nothing was wrong);
* the first decision at or after onset is the **detection**; its delay is measured from the
  onset in event time and its action must be one the scenario accepts;
* a segment-only regression is **attributed** when some decision after onset names (a
  superset of) the scenario's segment in its evidence;
* a run whose rollout was already rolled back or halted by a false action before the onset
  is **pre-empted**: the regression never met a live rollout, so it is not counted as missed
  (the false action is counted).

Advisory decisions (dry-run rules) do not count, except in a dry-run plan where advisory
decisions are all there is.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from monitor.sim.bench import POLICIES, Decision, RunResult


@dataclass(frozen=True)
class RunScore:
    detected: bool | None
    """None when no action is expected."""
    correct: bool | None
    delay_s: float | None
    over_for_s: float | None
    """Delay minus the deciding rule's ``for`` (what the engine adds on top of the rule)."""
    attributed: bool | None
    false_actions: int
    clean_hours: float
    first_action: str | None
    preempted: bool = False


ENDS_ROLLOUT = frozenset({"rollback", "halt"})


def _counted(result: RunResult, decisions: list[Decision]) -> list[Decision]:
    return [d for d in decisions if result.dry_run or not d.advisory]


def score_run(result: RunResult, policy: str) -> RunScore:
    expect = result.expect
    decisions = _counted(result, result.decisions.get(policy, []))
    if expect.action is None:
        first = decisions[0].action if decisions else None
        return RunScore(
            None, None, None, None, None, len(decisions), result.duration_s / 3600.0, first
        )
    onset = expect.onset_s or 0.0
    early = [d for d in decisions if d.t < onset]
    after = [d for d in decisions if d.t >= onset]
    hit = after[0] if after else None
    attributed = None
    if expect.segment is not None:
        want = set(expect.segment.items())
        attributed = any(want <= set(seg) for d in after for seg in d.segments)
    return RunScore(
        detected=hit is not None,
        correct=hit is not None and expect.accepts(hit.action),
        delay_s=None if hit is None else hit.t - onset,
        over_for_s=None if hit is None else hit.t - onset - (hit.for_s or 0.0),
        attributed=attributed,
        false_actions=len(early),
        clean_hours=onset / 3600.0,
        first_action=hit.action if hit else (early[0].action if early else None),
        preempted=hit is None and any(d.action in ENDS_ROLLOUT for d in early),
    )


@dataclass
class ScenarioSummary:
    scenario: str
    policy: str
    expected: str | None
    runs: int = 0
    preempted: int = 0
    detected: int = 0
    correct: int = 0
    attributed: int = 0
    needs_attribution: bool = False
    false_actions: int = 0
    clean_hours: float = 0.0
    delays: list[float] = field(default_factory=list)
    over_for: list[float] = field(default_factory=list)
    actions: dict[str, int] = field(default_factory=dict)

    @property
    def median_delay(self) -> float | None:
        return statistics.median(self.delays) if self.delays else None

    @property
    def median_over_for(self) -> float | None:
        return statistics.median(self.over_for) if self.over_for else None


def summarise(results: list[RunResult]) -> dict[tuple[str, str], ScenarioSummary]:
    out: dict[tuple[str, str], ScenarioSummary] = {}
    for result in results:
        for policy in POLICIES:
            if policy not in result.decisions:
                continue  # the policy does not judge this kind of rollout
            key = (result.scenario, policy)
            s = out.get(key)
            if s is None:
                s = out[key] = ScenarioSummary(result.scenario, policy, result.expect.action)
            sc = score_run(result, policy)
            s.runs += 1
            s.false_actions += sc.false_actions
            s.clean_hours += sc.clean_hours
            s.preempted += sc.preempted
            if sc.first_action is not None:
                s.actions[sc.first_action] = s.actions.get(sc.first_action, 0) + 1
            if sc.detected:
                s.detected += 1
                s.correct += bool(sc.correct)
                assert sc.delay_s is not None and sc.over_for_s is not None
                s.delays.append(sc.delay_s)
                s.over_for.append(sc.over_for_s)
            if sc.attributed is not None:
                s.needs_attribution = True
                s.attributed += sc.attributed
    return out


@dataclass(frozen=True)
class PolicyTotals:
    policy: str
    false_per_hour: float
    false_actions: int
    clean_hours: float
    missed_sustained: int
    sustained_runs: int
    preempted: int
    wrong_action: int
    median_delay: float | None
    median_over_for: float | None = None
    """Median over detected runs of delay minus the deciding rule's ``for``."""


def totals(results: list[RunResult], policy: str) -> PolicyTotals:
    false = 0
    hours = 0.0
    missed = sustained = wrong = preempted = 0
    delays: list[float] = []
    over_for: list[float] = []
    for result in results:
        if policy not in result.decisions:
            continue
        sc = score_run(result, policy)
        false += sc.false_actions
        hours += sc.clean_hours
        if result.expect.sustained:
            sustained += 1
            preempted += sc.preempted
            missed += not sc.detected and not sc.preempted
        if sc.detected:
            wrong += not sc.correct
            assert sc.delay_s is not None and sc.over_for_s is not None
            delays.append(sc.delay_s)
            over_for.append(sc.over_for_s)
    return PolicyTotals(
        policy,
        false / hours if hours else 0.0,
        false,
        hours,
        missed,
        sustained,
        preempted,
        wrong,
        statistics.median(delays) if delays else None,
        statistics.median(over_for) if over_for else None,
    )
