"""``{kind: vs_baseline, method: cause_shift, alpha: 0.001}`` on ``reject_mix_divergence``.

An anytime-valid test that the variant's rejection causes are not drawn like the baseline
variant's over the same periods (:class:`detectors.SequentialMultinomialTest`). Each period
of the rule's ``window`` is judged on its own, conditioned on both variants' pooled causes in
it: a market that moves every path's causes at once (volatility: requotes everywhere) is
nobody's regression, and the two variants' reject rates may differ (the rate rules judge
those). The evidence since the stage began is an e-value; once it reaches ``1/alpha`` the
verdict stands for the stage (so no ``for``), and a new stage is a new test. ``min_samples``:
rejects each variant must have shown in the stage before there is a verdict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.core.model import Op, Rule, Threshold
from monitor.core.thresholds._compare import against, per_step_only
from monitor.core.thresholds.base import Context, Instance, Method, Observation, Plot

if TYPE_CHECKING:
    from detectors import SequentialMultinomialTest
    from monitor.core.fields import Fields
    from monitor.core.scopes import Scope

SIGNAL = "reject_mix_divergence"


class CauseTest:
    """The stage's test and the causes of the period under way (cleared with the stage)."""

    __slots__ = ("baseline", "canary", "last_value", "test")

    def __init__(self, test: SequentialMultinomialTest) -> None:
        self.test = test
        self.canary: dict[str, float] = {}
        self.baseline: dict[str, float] = {}
        self.last_value: float | None = None

    def reset_stage(self) -> None:
        self.test.reset()
        self.canary.clear()
        self.baseline.clear()
        self.last_value = None

    def no_reference(self) -> None:
        # A step without the baseline variant: the period under way cannot be compared.
        self.canary.clear()
        self.baseline.clear()

    def to_state(self) -> dict[str, object]:
        return {
            "test": self.test.state_dict(),
            "canary": dict(sorted(self.canary.items())),
            "baseline": dict(sorted(self.baseline.items())),
            "last_value": self.last_value,
        }


class CauseShift(Method):
    kind = "vs_baseline"
    name = "cause_shift"
    compares = True

    def parse(self, f: Fields, rule: Fields, signal: str, op: Op) -> Threshold:
        against(f, signal, rest_allowed=False)
        if signal != SIGNAL:
            rule.bad("signal", f"{SIGNAL} for a cause_shift test (rejection causes)")
        prior = f.number("prior")
        return Threshold(
            kind="vs_baseline",
            op=op,
            method=self.name,
            alpha=f.number("alpha"),
            params=(("prior", prior),),
        )

    def check_rule(self, rule: Rule, f: Fields) -> None:
        if rule.for_s or rule.keep_firing_for_s:
            f.bad(
                "for",
                "no for/keep_firing_for on a cause_shift test (it latches once significant: its "
                "level alpha already bounds chance)",
            )
        per_step_only(rule, f, "the test adds every step's causes")

    def memory(self, rule: Rule) -> CauseTest:
        from detectors import SequentialMultinomialTest  # with the engine, not the checker

        th = rule.threshold
        return CauseTest(SequentialMultinomialTest(prior=_prior(th), alpha=th.alpha))

    def restore(self, rule: Rule, state: dict[str, object]) -> CauseTest:
        from detectors import SequentialMultinomialTest

        saved = state["test"]
        assert isinstance(saved, dict)
        mem = CauseTest(SequentialMultinomialTest.from_state(saved))
        for side, into in (("canary", mem.canary), ("baseline", mem.baseline)):
            counts = state[side]
            assert isinstance(counts, dict)
            into.update({str(k): float(v) for k, v in counts.items()})
        last = state.get("last_value")
        mem.last_value = float(last) if isinstance(last, int | float) else None
        return mem

    def evaluate(
        self, inst: Instance, scope: Scope, base: Scope | None, ctx: Context
    ) -> Observation:
        """Add this step's causes to the period; at its end, the period into the test."""
        rule = inst.rule
        mem = inst.memory
        assert isinstance(mem, CauseTest)
        obs = Observation(ts=ctx.now, comparator="mix_e_value>=")
        if base is None:
            return obs
        for side, into in ((scope, mem.canary), (base, mem.baseline)):
            now = side.history.get(ctx.step)
            if now is not None:
                for cause, k in now.reasons.items():
                    into[cause] = into.get(cause, 0.0) + k
        period = max(1, round(rule.window_s / ctx.resolution_s))
        if ctx.step % period == 0:
            from detectors import jensen_shannon

            mem.test.update(mem.canary, mem.baseline)
            # the gauge: the mixes' divergence since the stage began (a 10 s period alone
            # is often without a reject on one side)
            mine, theirs = mem.test.totals()
            mem.last_value = jensen_shannon(mine, theirs) if mine and theirs else None
            mem.canary.clear()
            mem.baseline.clear()
        test = mem.test
        result = test.result()
        obs.value = mem.last_value
        obs.samples = float(min(result.n_canary, result.n_baseline))
        obs.threshold = 1.0 / rule.threshold.alpha
        obs.stats.update(
            {
                "e_value": test.e_value,
                "max_e_value": min(1e300, 1.0 / result.p_value) if result.p_value else 1e300,
                "rejects_variant": float(result.n_canary),
                "rejects_baseline": float(result.n_baseline),
            }
        )
        if result.effect is not None:
            obs.stats["total_variation"] = result.effect
        if obs.samples <= 0 or obs.samples < rule.min_samples:
            return obs
        obs.active = test.rejected
        return obs

    def stage_totals(self, th: Threshold) -> bool:
        return False

    def plot(self, obs: Observation, th: Threshold) -> Plot:
        return Plot(obs.value, None, None, obs.stats.get("e_value"), obs.threshold, False)

    def reference_label(self, th: Threshold) -> str:
        return "baseline's mix"

    def statistic_label(self, th: Threshold) -> str | None:
        return "evidence (e-value)"

    def gauge(self, obs: Observation) -> float | None:
        return obs.value  # the divergence of the window's mixes, for dashboards


def _prior(th: Threshold) -> float:
    return dict(th.params).get("prior", 1.0)


METHODS = (CauseShift(),)
