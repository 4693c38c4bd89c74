"""``{kind: vs_baseline, method: slowdown, ratio: 1.1, h: 3, cap: 6}`` on a latency signal.

A slow drift, early: each step's canary and baseline orders, grouped between the baseline
variant's quantiles over the rule's ``window`` as they stood at the step before, are tested
for "the variant's latencies are the baseline's times ``ratio``" against "the same
distribution" (:class:`detectors.SlowdownGroups`). The test conditions on the
step's pooled orders, so a market-wide slowdown or an order burst, which moves both variants
at once, is no evidence; it weighs each latency group by how much a slowdown moves orders
into it, so it reads the whole distribution (a drift of a few percent moves a narrow
cluster of far-region orders by more than its own spread) rather than one quantile. The
step's log-likelihood ratio goes into a CUSUM (:class:`detectors.BernoulliCusum`): the
condition holds from ``h`` nats until the evidence is paid back to 0, ``cap`` bounds it and
``for`` is the persistence. A step's evidence is a likelihood ratio, so after a blip the
CUSUM is still above 0 after ``t`` calm seconds with probability at most
``exp(cap / 2 - B * f * t)`` (``B``: the test's Bhattacharyya distance per order, ``f``:
orders/s); ``for`` must outlast the blip plus that time at the thinnest flow the rule
judges (``docs/detection.md``).
The rule's signal (``latency_p50_ms``, ...) is what charts and gauges show beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from monitor.core import signals
from monitor.core.buckets import GAMMA, LAT_N
from monitor.core.model import Op, Rule, Threshold
from monitor.core.thresholds._compare import against, alarm_levels, per_step_only
from monitor.core.thresholds.base import Context, Instance, Method, Observation, Plot

if TYPE_CHECKING:
    from detectors import BernoulliCusum, SlowdownGroups
    from monitor.core.fields import Fields
    from monitor.core.scopes import Scope

GROUPS: Final = 20
"""Latency groups between the baseline's quantiles (5 % of its orders each)."""


REGROUP_STEPS: Final = 5
"""The groups and their odds follow the baseline's window every 5 steps (they move slowly;
recomputing them each step was a third of the method's cost)."""


class SlowdownMemory:
    """The CUSUM, and the groups the next step is judged with."""

    __slots__ = ("cusum", "groups")

    def __init__(self, cusum: BernoulliCusum, groups: SlowdownGroups) -> None:
        self.cusum = cusum
        self.groups = groups

    def reset_stage(self) -> None:
        self.cusum.reset()

    def no_reference(self) -> None:
        self.cusum.reset()
        self.groups = type(self.groups)()

    def to_state(self) -> dict[str, object]:
        return {
            "s": self.cusum.s,
            "alarmed": self.cusum.alarmed,
            "groups": {"edges": list(self.groups.edges), "odds": list(self.groups.odds)},
        }


class Slowdown(Method):
    kind = "vs_baseline"
    name = "slowdown"
    compares = True

    def parse(self, f: Fields, rule: Fields, signal: str, op: Op) -> Threshold:
        against(f, signal, rest_allowed=False)
        if signal not in signals.QUANTILES and signal != "latency_mean_ms":
            rule.bad("signal", "a latency signal (latency_pNN_ms) for a slowdown test")
        if op not in (">", ">="):
            f.bad("op", "'>' (the variant slower than the baseline variant)")
        ratio = f.number("ratio")
        if ratio <= 1.0:
            f.bad("ratio", "a number > 1 (the slowdown the test is tuned to, e.g. 1.06)")
        h, cap = alarm_levels(f)
        return Threshold(
            kind="vs_baseline", op=op, method=self.name, h=h, cap=cap, params=(("ratio", ratio),)
        )

    def check_rule(self, rule: Rule, f: Fields) -> None:
        per_step_only(rule, f, "the test adds every step's orders")

    def memory(self, rule: Rule) -> SlowdownMemory:
        from detectors import BernoulliCusum, SlowdownGroups  # with the engine, not the checker

        return SlowdownMemory(BernoulliCusum(), SlowdownGroups())

    def restore(self, rule: Rule, state: dict[str, object]) -> SlowdownMemory:
        from detectors import BernoulliCusum, SlowdownGroups

        s, alarmed, groups = state["s"], state["alarmed"], state["groups"]
        assert isinstance(s, int | float) and isinstance(alarmed, bool)
        assert isinstance(groups, dict)
        saved = SlowdownGroups(
            tuple(int(b) for b in groups["edges"]), tuple(float(o) for o in groups["odds"])
        )
        return SlowdownMemory(BernoulliCusum(float(s), alarmed), saved)

    def evaluate(
        self, inst: Instance, scope: Scope, base: Scope | None, ctx: Context
    ) -> Observation:
        rule = inst.rule
        th = rule.threshold
        mem = inst.memory
        assert isinstance(mem, SlowdownMemory)
        obs = Observation(ts=ctx.now, comparator="slowdown>=")
        if base is None:
            return obs
        wsteps = round(rule.window_s / ctx.resolution_s)
        mine, theirs = scope.windows[wsteps], base.windows[wsteps]
        groups = mem.groups  # judge with the groups of the step before
        obs.signal_value = signals.window_value(rule.signal, mine, rule.window_s)[0]
        obs.baseline = signals.window_value(rule.signal, theirs, rule.window_s)[0]
        obs.samples = float(min(mine.c[LAT_N], theirs.c[LAT_N]))
        if theirs.hist and (not groups.edges or ctx.step % REGROUP_STEPS == 0):
            ratio = dict(th.params)["ratio"]
            mem.groups = groups.from_reference(theirs.hist, groups=GROUPS, ratio=ratio, gamma=GAMMA)
        if not groups.edges or obs.samples < rule.min_samples:
            return obs
        now_v, now_b = scope.history.get(ctx.step), base.history.get(ctx.step)
        llr = 0.0
        if now_v is not None and now_b is not None:
            llr = groups.log_lr(now_v.hist, now_b.hist)
        cusum = mem.cusum
        obs.active = cusum.add(llr, h=th.h, cap=th.cap)
        obs.value, obs.threshold = cusum.s, th.h
        obs.stats.update(
            {
                "cusum": cusum.s,
                "step_llr": llr,
                "step_n_variant": float(now_v.c[LAT_N]) if now_v is not None else 0.0,
                "step_n_baseline": float(now_b.c[LAT_N]) if now_b is not None else 0.0,
            }
        )
        return obs

    def plot(self, obs: Observation, th: Threshold) -> Plot:
        return Plot(obs.signal_value, obs.baseline, None, obs.value, obs.threshold)

    def statistic_label(self, th: Threshold) -> str | None:
        return "evidence (CUSUM, nats)"

    def gauge(self, obs: Observation) -> float | None:
        return obs.signal_value


METHODS = (Slowdown(),)
