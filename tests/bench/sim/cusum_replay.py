"""A CUSUM or slowdown rule of the example plan, replayed offline with other parameters.

Run on demand::

    python -m tests.bench.sim.cusum_replay --seeds 30 \\
        --try "h=4 cap=6 for=55 lag=0" --try "h=4 cap=5 for=115"
    python -m tests.bench.sim.cusum_replay --rule canary-latency-drift --own latency_drift \\
        -s transient_blips -s market_shock -s latency_drift --seeds 60 --try "cap=4 for=115"

It runs the scenarios (default: ``error_burst``, ``transient_blips``, ``segment_regression``)
through the example plan once, recording each instance of the rule (default
``canary-errors-region-vs-rest``) per step: for ``method: cusum`` the step's bad and all
events and its reference rate ``p0``; for ``method: slowdown`` the step's log-likelihood
ratio and canary orders (its ``ratio`` is not replayed: the groups' odds depend on it). Then
it replays the rule's CUSUM and ``for`` on those inputs for each ``--try`` (``h``, ``cap``,
``shift``, ``for`` in seconds, ``lag``: how many steps late a step's events are judged against
the reference) and prints, beside the shipped parameters: runs that would act where no action
is expected, the longest the condition held in those runs, the longest drain from ``cap`` to
0 after the last step at ``cap`` in those runs, and the decision delay on the ``--own``
scenarios (the rule's own regressions; for a per-segment rule, in ``--segment``), after the
calm evidence per event and its Bhattacharyya distance (:func:`payback`). ``--plan`` records
with other plan/rule files (a copy at another ``ratio``). The replay is exact for the rule
alone; the whole plan's decisions are ``rollguard bench detection``'s.
"""

from __future__ import annotations

import argparse
import math
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

Row = tuple[float, float, float, float | None]
"""(seconds after the simulation start, bad events or the step's log-likelihood ratio (a
slowdown rule), events (canary orders), reference rate (a slowdown rule: 1.0) or None
without a verdict)."""
Run = tuple[str, int, float, dict[str, list[Row]]]
"""(scenario, seed, onset or inf, the rule's rows per instance)."""


@dataclass(frozen=True)
class Params:
    h: float
    cap: float
    shift: float
    for_s: float
    lag: int
    slowdown: bool = False
    """The rows carry each step's log-likelihood ratio (``method: slowdown``)."""

    @classmethod
    def parse(cls, text: str, base: Params) -> Params:
        fields = dict(part.split("=") for part in text.split())
        return cls(
            h=float(fields.get("h", base.h)),
            cap=float(fields.get("cap", base.cap)),
            shift=float(fields.get("shift", base.shift)),
            for_s=float(fields.get("for", base.for_s)),
            lag=int(fields.get("lag", base.lag)),
            slowdown=base.slowdown,
        )


def record(args: tuple[str, int, str, tuple[str, ...]]) -> Run:
    """One run of the example plan (or ``plan_files``); the rule's per-step inputs per
    instance."""
    from monitor.core import Core, PlanSet, rules
    from monitor.core.thresholds.cusum import REST_LAG_STEPS
    from monitor.sim import bench
    from monitor.sim.flow import RolloutSpec
    from monitor.sim.generate import Simulation
    from monitor.sim.scenarios import build_scenario

    scenario, seed, rule, plan_files = args
    sc = build_scenario(scenario, seed)
    config = bench.BenchConfig(plan_files) if plan_files else bench.BenchConfig()
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
            mine = steps.setdefault(self.segkey, {})
            if self.rule.threshold.method == "slowdown":
                verdict = "cusum" in s
                mine[t] = [
                    float(s.get("step_llr", 0.0)),
                    float(s.get("step_n_variant", 0.0)),
                    1.0 if verdict else None,
                ]
                return str(original(self, obs))
            # the shipped lag is undone: each step's own events beside its own reference
            lag = REST_LAG_STEPS if self.rule.threshold.against == "rest" else 0
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


def step_llr(rows: list[Row], i: int, p: Params) -> float | None:
    """The evidence of step ``i`` under ``p`` (its events judged ``lag`` steps late), or
    None without a verdict."""
    ref = rows[i + p.lag][3]
    _, x, n, _ = rows[i]
    if ref is None:
        return None
    if p.slowdown:
        return x
    p0 = min(max(ref, 1e-9), 1.0 - p.shift - 1e-9)
    p1 = p0 + p.shift
    return x * math.log(p1 / p0) + (n - x) * math.log((1 - p1) / (1 - p0)) if n else 0.0


def conditions(rows: list[Row], p: Params) -> tuple[list[tuple[float, bool]], float]:
    """The condition per step under ``p``, and the longest drain from ``cap`` to 0."""
    out, s, alarmed = [], 0.0, False
    at_cap, drain = None, 0.0
    for i in range(len(rows) - p.lag):
        t = rows[i + p.lag][0]
        llr = step_llr(rows, i, p)
        if llr is None:  # no verdict: the CUSUM keeps its value, the condition is off
            out.append((t, False))
            continue
        s = min(p.cap, max(0.0, s + llr))
        alarmed = s >= p.h or (alarmed and s > 0.0)
        out.append((t, alarmed))
        if s >= p.cap:
            at_cap = t
        elif s <= 0.0 and at_cap is not None:
            drain, at_cap = max(drain, t - at_cap), None
    return out, drain


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


def payback(runs: list[Run], p: Params) -> str:
    """Evidence per event before every run's onset (calm traffic): its mean, and the
    Bhattacharyya distance ``B`` per event, ``-log E[exp(x / 2)]`` per step over events per
    step. A step's evidence ``x`` is a likelihood ratio, so the CUSUM is still above 0
    ``t`` calm seconds after ``cap`` with probability at most ``exp(cap / 2 - B f t)`` at
    ``f`` events/s (``docs/detection.md``)."""
    total = events = half = steps = 0.0
    for _, _, onset, rows in runs:
        for r in rows.values():
            for i in range(len(r) - p.lag):
                llr = step_llr(r, i, p)
                if llr is not None and r[i][0] < onset:
                    total, events = total + llr, events + r[i][2]
                    half, steps = half + math.exp(llr / 2.0), steps + 1
    if not events:
        return "no calm steps with a verdict"
    b = -math.log(half / steps) / (events / steps)
    return (
        f"calm evidence {total / events:.4f} nats per event, B {b:.4f} per event "
        f"({events:.0f} events)"
    )


def judge(runs: list[Run], p: Params, own: tuple[str, ...], seg: str | None) -> str:
    from monitor.sim.scenarios import DRIFT_PER_MIN

    false_runs: list[str] = []
    longest, drain = (0.0, ""), (0.0, "")
    delays: dict[str, list[float]] = {}
    for scenario, seed, onset, rows in runs:
        acted = []
        for key, r in rows.items():
            cond, run_drain = conditions(r, p)
            for start, length in stretches(cond):
                mine = scenario in own and (seg is None or seg in key) and start + length >= onset
                if not mine and length > longest[0]:
                    longest = (length, f"{scenario} seed {seed} {key}".strip())
                if length >= p.for_s:
                    acted.append((start + p.for_s, mine))
            if scenario not in own and run_drain > drain[0]:
                drain = (run_drain, f"{scenario} seed {seed} {key}".strip())
        acted.sort()
        if acted and not acted[0][1]:
            false_runs.append(f"{scenario} {seed}")
        if scenario in own and any(mine for _, mine in acted):
            delays.setdefault(scenario, []).append(next(t for t, m in acted if m) - onset)
    text = (
        f"h={p.h:g} cap={p.cap:g}{'' if p.slowdown else f' shift={p.shift:g}'} "
        f"for={p.for_s:g} lag={p.lag}: {len(false_runs)} acting where none is expected "
        f"{false_runs[:4]}; longest other condition {longest[0]:.0f} s ({longest[1]}), "
        f"longest drain from cap {drain[0]:.0f} s ({drain[1]})"
    )
    for scenario, d in sorted(delays.items()):
        if len(d) >= 2:
            p90 = statistics.quantiles(d, n=10)[-1]
            text += f"; {scenario} delay median {statistics.median(d):.0f} s, p90 {p90:.0f} s"
            if scenario == "latency_drift":
                slower = statistics.median(d) / 60.0 * DRIFT_PER_MIN
                text += f" ({slower:.1%} slower)"
            text += f" ({len(d)} decided)"
    return text


def main() -> None:
    from monitor.core import PlanSet
    from monitor.core.thresholds.cusum import REST_LAG_STEPS
    from monitor.sim import bench
    from monitor.sim.scenarios import SCENARIO_NAMES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rule", default="canary-errors-region-vs-rest")
    ap.add_argument("--segment", default="region=apac", help="the own regression's segment")
    ap.add_argument(
        "--own",
        action="append",
        choices=SCENARIO_NAMES,
        help="the rule's own regressions (default: segment_regression)",
    )
    ap.add_argument("--scenario", "-s", action="append", choices=SCENARIO_NAMES)
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--try", dest="tries", action="append", default=[])
    ap.add_argument(
        "--plan",
        action="append",
        default=[],
        help="plan/rule files to record with (default: the examples; e.g. a copy with "
        "another slowdown ratio, which the replay cannot vary)",
    )
    args = ap.parse_args()
    scenarios = args.scenario or ["error_burst", "transient_blips", "segment_regression"]
    own = tuple(args.own or ["segment_regression"])
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    files = tuple(args.plan)
    tasks = [(s, k, args.rule, files) for s in scenarios for k in seeds]
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(record, tasks))
    plans = bench._plans(files or bench.BenchConfig().plan_files)
    assert isinstance(plans, PlanSet)
    rule = next(r for r in plans[bench.CANARY_PLAN].all_rules() if r.name == args.rule)

    th = rule.threshold
    lag = REST_LAG_STEPS if th.against == "rest" else 0
    slowdown = th.method == "slowdown"
    shipped = Params(th.h, th.cap, th.shift, rule.for_s, lag, slowdown)
    seg = args.segment if rule.per_segment else None
    print(f"{len(runs)} runs: {', '.join(scenarios)}, seeds {seeds.start}-{seeds.stop - 1}")
    print(payback(runs, shipped))
    print("shipped  ", judge(runs, shipped, own, seg))
    for text in args.tries:
        print("tried    ", judge(runs, Params.parse(text, shipped), own, seg))


if __name__ == "__main__":
    main()
