"""A CUSUM rule of the example plan, replayed offline with other parameters.

Run on demand::

    python -m tests.bench.sim.cusum_replay --seeds 30 \\
        --try "h=4 cap=6 for=55 lag=0" --try "h=4 cap=5 for=115"

It runs the scenarios (default: ``error_burst``, ``transient_blips``, ``segment_regression``)
through the example plan once, recording each instance of the rule (default
``canary-errors-region-vs-rest``) per step: the step's bad and all events and its reference
rate ``p0``. Then it replays the rule's CUSUM and ``for`` on those inputs for each ``--try``
(``h``, ``cap``, ``shift``, ``for`` in seconds, ``lag``: how many steps late a step's events
are judged against the reference) and prints, beside the shipped parameters: runs that would
act where no action is expected, the longest the condition held in those runs, and the
decision delay on ``segment_regression`` (the rule's own regression). The replay is exact for
the rule alone; the whole plan's decisions are ``rollguard bench detection``'s.
"""

from __future__ import annotations

import argparse
import math
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

Row = tuple[float, float, float, float | None]
"""(seconds after the simulation start, bad events, events, reference rate or None)."""


@dataclass(frozen=True)
class Params:
    h: float
    cap: float
    shift: float
    for_s: float
    lag: int

    @classmethod
    def parse(cls, text: str, base: Params) -> Params:
        fields = dict(part.split("=") for part in text.split())
        return cls(
            h=float(fields.get("h", base.h)),
            cap=float(fields.get("cap", base.cap)),
            shift=float(fields.get("shift", base.shift)),
            for_s=float(fields.get("for", base.for_s)),
            lag=int(fields.get("lag", base.lag)),
        )


def record(args: tuple[str, int, str]) -> tuple[str, int, float, dict[str, list[Row]]]:
    """One run of the example plan; the rule's per-step inputs per instance."""
    from monitor.core import Core, PlanSet, rules
    from monitor.core.thresholds.cusum import REST_LAG_STEPS
    from monitor.sim import bench
    from monitor.sim.flow import RolloutSpec
    from monitor.sim.generate import Simulation
    from monitor.sim.scenarios import build_scenario

    scenario, seed, rule = args
    sc = build_scenario(scenario, seed)
    config = bench.BenchConfig()
    spec = RolloutSpec(
        f"{scenario}-{seed}",
        sc,
        plan=bench.CANARY_PLAN,
        traffic_pct=config.traffic_pct,
        canary=True,
        shadow=False,
        order_rate=config.order_rate,
        initial_stage=config.stage,
        shadow_fraction=0.5,
    )  # as ``monitor.sim.bench.run_one`` builds it
    sim = Simulation([spec], seed=seed)
    steps: dict[str, dict[float, list[Any]]] = {}
    original = rules.RuleInstance.step

    def step(self: Any, obs: Any) -> str:
        if self.rule.name == rule:
            s, t = obs.stats, round(obs.ts / 1e6 - sim.start_ts)
            # the shipped lag is undone: each step's own events beside its own reference
            lag = REST_LAG_STEPS if self.rule.threshold.against == "rest" else 0
            mine = steps.setdefault(self.segkey, {})
            mine.setdefault(t - lag, [0.0, 0.0, None])[:2] = [
                float(s.get("step_bad", 0.0)),
                float(s.get("step_n", 0.0)),
            ]
            mine.setdefault(t, [0.0, 0.0, None])[2] = s.get("p0")
        return str(original(self, obs))

    rules.RuleInstance.step = step  # type: ignore[method-assign]  # a recording hook
    plans = bench._plans(config.plan_files)
    assert isinstance(plans, PlanSet)
    core = Core(plans)
    for batch in sim.slices():
        core.process(batch)
    rows = {k: [(t, *v) for t, v in sorted(d.items())] for k, d in steps.items()}
    onset = sc.expect.onset_s if sc.expect.onset_s is not None else math.inf
    return scenario, seed, onset, rows


def conditions(rows: list[Row], p: Params) -> list[tuple[float, bool]]:
    """The condition per step under ``p`` (a step's events judged ``lag`` steps late)."""
    out, s, alarmed = [], 0.0, False
    for i in range(len(rows) - p.lag):
        t, _, _, p0 = rows[i + p.lag]
        _, bad, n, _ = rows[i]
        if p0 is None:  # no verdict: the CUSUM keeps its value, the condition is off
            out.append((t, False))
            continue
        p0 = min(max(p0, 1e-9), 1.0 - p.shift - 1e-9)
        p1 = p0 + p.shift
        llr = bad * math.log(p1 / p0) + (n - bad) * math.log((1 - p1) / (1 - p0)) if n else 0.0
        s = min(p.cap, max(0.0, s + llr))
        alarmed = s >= p.h or (alarmed and s > 0.0)
        out.append((t, alarmed))
    return out


def stretches(cond: list[tuple[float, bool]]) -> list[tuple[float, float]]:
    """(start, length) of each run of the condition."""
    out, start, last = [], None, 0.0
    for t, on in cond:
        if on and start is None:
            start = t
        elif not on and start is not None:
            out.append((start, last - start))
            start = None
        last = t
    if start is not None:
        out.append((start, last - start))
    return out


def judge(runs: list[tuple[str, int, float, dict[str, list[Row]]]], p: Params, seg: str) -> str:
    false_runs: list[str] = []
    longest = (0.0, "")
    delays: list[float] = []
    for scenario, seed, onset, rows in runs:
        acted = []
        for key, r in rows.items():
            for start, length in stretches(conditions(r, p)):
                own = scenario == "segment_regression" and seg in key and start + length >= onset
                if not own and length > longest[0]:
                    longest = (length, f"{scenario} seed {seed} {key}")
                if length >= p.for_s:
                    acted.append((start + p.for_s, own))
        acted.sort()
        if acted and not acted[0][1]:
            false_runs.append(f"{scenario} {seed}")
        if scenario == "segment_regression" and any(own for _, own in acted):
            delays.append(next(t for t, own in acted if own) - onset)
    delay = ""
    if len(delays) >= 2:
        p90 = statistics.quantiles(delays, n=10)[-1]
        delay = f"; segment delay median {statistics.median(delays):.0f} s, p90 {p90:.0f} s"
        delay += f" ({len(delays)} decided)"
    return (
        f"h={p.h:g} cap={p.cap:g} shift={p.shift:g} for={p.for_s:g} lag={p.lag}: "
        f"{len(false_runs)} acting where none is expected {false_runs[:4]}; longest other "
        f"condition {longest[0]:.0f} s ({longest[1]}){delay}"
    )


def main() -> None:
    from monitor.core import PlanSet
    from monitor.core.thresholds.cusum import REST_LAG_STEPS
    from monitor.sim import bench
    from monitor.sim.scenarios import SCENARIO_NAMES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rule", default="canary-errors-region-vs-rest")
    ap.add_argument("--segment", default="region=apac", help="segment_regression's segment")
    ap.add_argument("--scenario", "-s", action="append", choices=SCENARIO_NAMES)
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--try", dest="tries", action="append", default=[])
    args = ap.parse_args()
    scenarios = args.scenario or ["error_burst", "transient_blips", "segment_regression"]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    tasks = [(s, k, args.rule) for s in scenarios for k in seeds]
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(record, tasks))
    plans = bench._plans(bench.BenchConfig().plan_files)
    assert isinstance(plans, PlanSet)
    rule = next(r for r in plans[bench.CANARY_PLAN].all_rules() if r.name == args.rule)

    lag = REST_LAG_STEPS if rule.threshold.against == "rest" else 0
    th = rule.threshold
    shipped = Params(th.h, th.cap, th.shift, rule.for_s, lag)
    print(f"{len(runs)} runs: {', '.join(scenarios)}, seeds {seeds.start}-{seeds.stop - 1}")
    print("shipped  ", judge(runs, shipped, args.segment))
    for text in args.tries:
        print("tried    ", judge(runs, Params.parse(text, shipped), args.segment))


if __name__ == "__main__":
    main()
