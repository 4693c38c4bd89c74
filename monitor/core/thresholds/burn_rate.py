"""``{kind: burn_rate, slo: 0.99, long: 1h, short: 5m, factor: 14.4}``: error-budget burn.

Burn above ``factor`` in both the ``long`` and the ``short`` window, budget ``1 - slo``;
each window needs its own sample minimum (``long_min_samples`` / ``short_min_samples``,
default the rule's ``min_samples``) before a burn counts: a 14.4x burn of a 0.1 % budget
in 100 events is two errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.core import signals
from monitor.core.model import Op, Rule, Threshold
from monitor.core.thresholds.base import Context, Instance, Method, Observation, Plot

if TYPE_CHECKING:
    from monitor.core.fields import Fields
    from monitor.core.scopes import Scope


class BurnRate(Method):
    kind = "burn_rate"

    def parse(self, f: Fields, rule: Fields, signal: str, op: Op) -> Threshold:
        if signal not in signals.RATES:
            rule.bad("signal", "a rate signal (bad events / all) for a burn-rate rule")
        long_s = f.duration("long") or 3600.0
        short_s = f.duration("short") or 300.0
        if short_s >= long_s:
            f.bad("short", f"a window shorter than long ({long_s:g} s)")
        return Threshold(
            kind="burn_rate",
            op=op,
            slo=f.number("slo"),
            factor=f.number("factor"),
            long_s=long_s,
            short_s=short_s,
            long_min_samples=f.integer("long_min_samples"),
            short_min_samples=f.integer("short_min_samples"),
        )

    def rule_window_s(self, th: Threshold, window_s: float) -> float:
        return th.long_s

    def window_steps(self, rule: Rule, resolution_s: float) -> list[int]:
        th = rule.threshold
        return [round(th.long_s / resolution_s), round(th.short_s / resolution_s)]

    def evaluate(
        self, inst: Instance, scope: Scope, base: Scope | None, ctx: Context
    ) -> Observation:
        rule = inst.rule
        th = rule.threshold
        obs = Observation(ts=ctx.now, comparator=th.op)
        budget = 1.0 - th.slo
        long_w = scope.windows[round(th.long_s / ctx.resolution_s)]
        short_w = scope.windows[round(th.short_s / ctx.resolution_s)]
        bad_l, n_l = signals.rate_counts(rule.signal, long_w)
        bad_s, n_s = signals.rate_counts(rule.signal, short_w)
        obs.samples = n_l
        obs.stats["samples_short"] = n_s
        min_long = th.long_min_samples or rule.min_samples
        min_short = th.short_min_samples or rule.min_samples
        if n_l <= 0 or n_s <= 0 or n_l < min_long or n_s < min_short:
            return obs  # a burn over too few events is noise, not evidence: no verdict
        burn_l = bad_l / n_l / budget
        burn_s = bad_s / n_s / budget
        obs.value = burn_l
        obs.threshold = th.factor
        obs.comparator = "burn>"
        obs.stats.update(
            {
                "burn_short": burn_s,
                "rate_long": bad_l / n_l,
                "rate_short": bad_s / n_s,
                "samples_short": n_s,
            }
        )
        obs.active = burn_l > th.factor and burn_s > th.factor
        return obs

    def plot(self, obs: Observation, th: Threshold) -> Plot:
        # the long window's rate against the rate whose burn is `factor`; the burn itself
        # against `factor`
        limit = th.factor * (1.0 - th.slo)
        return Plot(obs.stats.get("rate_long"), None, limit, obs.value, th.factor, False)

    def statistic_label(self, th: Threshold) -> str | None:
        return "error-budget burn (x)"

    def gauge(self, obs: Observation) -> float | None:
        return None  # a burn is no window of the signal


METHODS = (BurnRate(),)
