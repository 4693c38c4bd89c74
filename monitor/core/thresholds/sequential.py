"""``{kind: vs_baseline, method: sequential, alpha: 0.001, over: stage | window}``.

An anytime-valid test that the variant's rate is worse than the baseline variant's
(:func:`detectors.msprt_two_proportions`, an e-value against ``1/alpha``). ``over: stage``
tests the counts since the stage began and latches once significant (so no ``for``);
``over: window`` tests the rule's window, does not latch and honours ``for``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from monitor.core import signals
from monitor.core.model import Op, Rule, Threshold
from monitor.core.thresholds._compare import against, vs_baseline_fields
from monitor.core.thresholds.base import Context, Instance, Method, Observation, Plot

if TYPE_CHECKING:
    from monitor.core.fields import Fields
    from monitor.core.scopes import Scope


class Latch(msgspec.Struct, forbid_unknown_fields=True):
    """Whether the stage-wide test has crossed ``1/alpha`` in this stage."""

    latched: bool = False

    def reset_stage(self) -> None:
        self.latched = False

    def no_reference(self) -> None:
        return None

    def to_state(self) -> dict[str, object]:
        return {"latched": self.latched}


class Sequential(Method):
    kind = "vs_baseline"
    name = "sequential"
    compares = True

    def parse(self, f: Fields, rule: Fields, signal: str, op: Op) -> Threshold:
        against(f, signal, rest_allowed=False)
        if signal not in signals.RATES:
            rule.bad(
                "signal",
                "a rate signal (" + ", ".join(sorted(signals.RATES)) + ") for a sequential test",
            )
        return vs_baseline_fields(f, self.name, op)

    def check_rule(self, rule: Rule, f: Fields) -> None:
        if rule.threshold.over == "stage" and (rule.for_s or rule.keep_firing_for_s):
            f.bad(
                "for",
                "no for/keep_firing_for on a stage-wide sequential test (it latches, so a blip "
                "would still act once for elapsed): use threshold over: window",
            )

    def stage_totals(self, th: Threshold) -> bool:
        return th.over == "stage"

    def memory(self, rule: Rule) -> Latch:
        return Latch()

    def restore(self, rule: Rule, state: dict[str, object]) -> Latch:
        return msgspec.convert(state, Latch)

    def evaluate(
        self, inst: Instance, scope: Scope, base: Scope | None, ctx: Context
    ) -> Observation:
        rule = inst.rule
        obs = Observation(ts=ctx.now, comparator=rule.threshold.op)
        if base is None:
            return obs
        wsteps = round(rule.window_s / ctx.resolution_s)
        windowed = rule.threshold.over == "window"
        mine = scope.windows[wsteps] if windowed else scope.stage_total
        theirs = base.windows[wsteps] if windowed else base.stage_total
        x_v, n_v = signals.rate_counts(rule.signal, mine)
        x_b, n_b = signals.rate_counts(rule.signal, theirs)
        obs.samples = min(n_v, n_b)
        obs.value = x_v / n_v if n_v > 0 else None
        obs.baseline = x_b / n_b if n_b > 0 else None
        if obs.samples <= 0 or obs.samples < rule.min_samples:
            return obs
        from detectors import msprt_two_proportions  # with the engine, not the checker

        e_value = msprt_two_proportions(x_v, n_v, x_b, n_b)
        obs.threshold = 1.0 / rule.threshold.alpha
        obs.comparator = "e_value>="
        obs.stats.update({"e_value": e_value, "samples_variant": n_v, "samples_baseline": n_b})
        if windowed:
            # the window's evidence: it must hold for `for`, a blip leaves the window and clears
            obs.active = e_value >= obs.threshold
            return obs
        # Anytime-valid: once the evidence crossed 1/alpha in this stage, the verdict stands.
        latch = inst.memory
        assert isinstance(latch, Latch)
        latch.latched = latch.latched or e_value >= obs.threshold
        obs.active = latch.latched
        return obs

    def plot(self, obs: Observation, th: Threshold) -> Plot:
        return Plot(obs.value, obs.baseline, None, obs.stats.get("e_value"), obs.threshold)

    def statistic_label(self, th: Threshold) -> str | None:
        return "evidence (e-value)"

    def gauge(self, obs: Observation) -> float | None:
        return None  # the rates are not the condition; the e-value is no signal


METHODS = (Sequential(),)
