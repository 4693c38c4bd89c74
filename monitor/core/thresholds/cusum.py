"""``method: cusum`` (``absolute`` or ``vs_baseline``): per-event evidence of a rise.

Each step's bad events go into a CUSUM (:class:`detectors.BernoulliCusum`) against a
reference rate ``p0``, tuned to ``p0 + shift``; the condition holds from the statistic
reaching ``h`` (nats) until it is paid back to 0, and ``cap`` bounds it. Bad events and
``p0``: for a rate signal, the rate's events (its complement for ``op: "<"``) against
``value`` (``absolute``) or the baseline variant's rate over ``window`` plus ``value``
(``vs_baseline``; at least its rate over the last ``RECENT_STEPS`` steps, so a market-wide
jump is not the variant's); for ``latency_pNN_ms`` (``vs_baseline``), orders slower than
``value`` x the baseline variant's pNN over ``window``, reference ``1 - NN/100``. With
``against: rest`` a segment's step is judged ``REST_LAG_STEPS`` late, against its rest's
last steps on both sides of it (see :data:`REST_LAG_STEPS`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Final

import msgspec

from monitor.core import signals
from monitor.core.buckets import LAT_N, latency_bin
from monitor.core.model import Op, Rule, Threshold, ThresholdKind
from monitor.core.thresholds._compare import against, alarm_levels, per_step_only
from monitor.core.thresholds.base import Context, Instance, Method, Observation, Plot

if TYPE_CHECKING:
    from detectors import BernoulliCusum
    from monitor.core.fields import Fields
    from monitor.core.scopes import Scope

RECENT_STEPS: Final = 5
"""A ``cusum``'s rate reference is at least the reference's rate over its last steps."""
REST_LAG_STEPS: Final = 1
"""``against: rest``: a segment's step is added this many steps late, so the rest's recent
rate it is judged against covers the step after it too. A jump of the whole variant reaches
a segment and its rest at once, but a thin segment's first bad events can come a step before
the rest's (at ~1.5 orders/s against ~6): judged against the rest's past only, they counted
as the segment's own (two errors, 3.3 nats), the jump then kept that evidence from draining
(segment and rest at the same rate) and the condition outlasted a 20 s burst by 37 s, past
a ``for: 55s`` (``rollguard bench detection``, ``error_burst`` seed 11). A segment's
decision comes a step later."""


class CusumMemory:
    """The rule instance's CUSUM (cleared with the stage and without a reference)."""

    __slots__ = ("cusum",)

    def __init__(self, cusum: BernoulliCusum) -> None:
        self.cusum = cusum

    def reset_stage(self) -> None:
        self.cusum.reset()

    def no_reference(self) -> None:
        self.cusum.reset()

    def to_state(self) -> dict[str, object]:
        return {"s": self.cusum.s, "alarmed": self.cusum.alarmed}


class _Saved(msgspec.Struct, forbid_unknown_fields=True):
    s: float = 0.0
    alarmed: bool = False


class Cusum(Method):
    name = "cusum"

    def __init__(self, kind: ThresholdKind) -> None:
        self.kind = kind
        self.compares = kind == "vs_baseline"

    def parse(self, f: Fields, rule: Fields, signal: str, op: Op) -> Threshold:
        if self.kind == "absolute":
            if "value" not in f.node:
                f.bad("value", "a number")
            th = Threshold(kind="absolute", op=op, value=f.number("value"))
        else:
            rest = f.node.get("against") == "rest"
            against(f, signal, rest_allowed=True)
            value = f.number("value", 1.0 if signal in signals.QUANTILES else 0.0)
            th = Threshold(
                kind="vs_baseline",
                op=op,
                method="cusum",
                value=value,
                against="rest" if rest and signal in signals.RATES else "baseline",
            )
        return _fields(f, rule, signal, th)

    def check_rule(self, rule: Rule, f: Fields) -> None:
        per_step_only(rule, f, "a cusum adds every step's events")

    def memory(self, rule: Rule) -> CusumMemory:
        from detectors import BernoulliCusum  # detectors load with the engine, not the checker

        return CusumMemory(BernoulliCusum())

    def restore(self, rule: Rule, state: dict[str, object]) -> CusumMemory:
        from detectors import BernoulliCusum

        saved = msgspec.convert(state, _Saved)
        return CusumMemory(BernoulliCusum(saved.s, saved.alarmed))

    def evaluate(
        self, inst: Instance, scope: Scope, base: Scope | None, ctx: Context
    ) -> Observation:
        """Add this step's events to the rule's CUSUM against its reference rate.

        A baseline variant's rate of 0 in the window would make one bad event infinite
        evidence: the reference is the window's rate with half an event added,
        (x + 0.5)/(n + 1), and at least the same over the reference's last ``RECENT_STEPS``.
        """
        rule = inst.rule
        th = rule.threshold
        memory = inst.memory
        assert isinstance(memory, CusumMemory)
        obs = Observation(ts=ctx.now, comparator="cusum>=")
        wsteps = round(rule.window_s / ctx.resolution_s)
        quantile = signals.QUANTILES.get(rule.signal)
        limit = None
        if th.kind == "vs_baseline":
            if base is None:
                return obs
            ref_w = base.windows[wsteps]
            if quantile is not None:
                ref, ref_n = ref_w.quantile(quantile), float(ref_w.c[LAT_N])
            else:
                x_b, ref_n = signals.rate_counts(rule.signal, ref_w)
                ref = max((x_b + 0.5) / (ref_n + 1.0), _recent_rate(rule, base, ctx.step))
            mine = scope.windows[wsteps]
            obs.signal_value = signals.window_value(rule.signal, mine, rule.window_s)[0]
            own_n = (
                float(mine.c[LAT_N])
                if quantile is not None
                else signals.rate_counts(rule.signal, mine)[1]
            )
            obs.samples = min(own_n, ref_n)
            obs.stats["baseline_samples"] = ref_n
            if ref is None or ref_n <= 0 or obs.samples < rule.min_samples:
                # No trustworthy reference, or too thin a flow on the variant: its evidence
                # would drain too slowly after a blip for `for` to tell the two apart.
                return obs
            if quantile is not None:
                limit = ref * th.value
                p0 = 1.0 - quantile
                obs.stats["limit"] = limit
                obs.stats["baseline_quantile"] = ref
            else:
                p0 = ref + th.value
        else:
            obs.signal_value, obs.samples = signals.window_value(
                rule.signal, scope.windows[wsteps], rule.window_s
            )
            if obs.samples < rule.min_samples:
                return obs
            p0 = th.value if th.op in (">", ">=") else 1.0 - th.value
        p0 = min(max(p0, 1e-9), 1.0 - th.shift - 1e-9)
        p1 = p0 + th.shift
        lag = REST_LAG_STEPS if th.against == "rest" else 0
        bad, n = _step_counts(rule, scope, ctx.step - lag, limit)
        cusum = memory.cusum
        obs.active = cusum.step(bad, n, p0, p1, h=th.h, cap=th.cap)
        obs.value, obs.baseline, obs.threshold = cusum.s, p0, th.h
        obs.stats.update({"cusum": cusum.s, "p0": p0, "p1": p1, "step_bad": bad, "step_n": n})
        return obs

    def plot(self, obs: Observation, th: Threshold) -> Plot:
        stats = obs.stats
        ref: float | None
        limit: float | None
        if "limit" in stats:  # latency: orders slower than the limit are the bad events
            ref, limit = stats.get("baseline_quantile"), stats["limit"]
        else:  # the reference: the baseline variant's value of the signal
            ref, limit = None, th.value if th.kind == "absolute" else stats.get("p0")
        return Plot(obs.signal_value, ref, limit, obs.value, obs.threshold)

    def statistic_label(self, th: Threshold) -> str | None:
        return "evidence (CUSUM, nats)"

    def gauge(self, obs: Observation) -> float | None:
        return obs.signal_value  # the statistic is the value; the gauge is the signal


def _recent_rate(rule: Rule, base: Scope, step: int) -> float:
    """The reference's rate over its last steps (0 without events): the window lags a
    sudden rise of the reference, and what it shows right now (a market-wide or
    variant-wide jump) is not the variant's or segment's fault."""
    x_r = n_r = 0.0
    for s in range(step - RECENT_STEPS + 1, step + 1):
        b = base.history.get(s)
        if b is not None:
            x, n = signals.rate_counts(rule.signal, b)
            x_r, n_r = x_r + x, n_r + n
    return (x_r + 0.5) / (n_r + 1.0) if n_r > 0 else 0.0


def _step_counts(rule: Rule, scope: Scope, step: int, limit: float | None) -> tuple[float, float]:
    """(bad, all) events of this step: orders slower than ``limit``, or the rate's events
    (a rate that must stay high: its misses)."""
    now = scope.history.get(step)
    if now is None:
        return 0.0, 0.0
    if limit is not None:
        over = latency_bin(limit)
        return float(sum(k for b, k in now.hist.items() if b > over)), float(now.c[LAT_N])
    bad, n = signals.rate_counts(rule.signal, now)
    if rule.threshold.op in ("<", "<="):
        bad = n - bad
    return bad, n


def _fields(f: Fields, rule: Fields, signal: str, th: Threshold) -> Threshold:
    """The CUSUM's fields, checked against what its bad events and reference rate will be."""
    if th.kind == "vs_baseline" and signal in signals.QUANTILES:
        if th.op not in (">", ">="):
            f.bad("op", "'>' (slower than the baseline variant)")
        if th.value <= 0:
            f.bad("value", "a positive ratio to the baseline variant's quantile")
        p0 = 1.0 - signals.QUANTILES[signal]
    elif signal in signals.RATES:
        p0 = th.value if th.kind == "absolute" else 0.0
        if th.op in ("<", "<="):
            if th.kind != "absolute":
                f.bad("op", "'>' (a rate worse than the baseline variant's)")
            p0 = 1.0 - th.value
        if not 0.0 < p0 < 1.0 and th.kind == "absolute":
            f.bad("value", "a rate strictly between 0 and 1")
    else:
        kinds = "a rate signal" + (" or latency_pNN_ms" if th.kind == "vs_baseline" else "")
        rule.bad("signal", f"{kinds} for a cusum threshold")
        p0 = 0.0
    shift = f.number("shift", 0.0)
    if shift <= 0 or p0 + shift >= 1.0:
        f.bad("shift", f"a rise of the bad-event rate in (0, {1.0 - p0:g})")
    h, cap = alarm_levels(f)
    return replace(th, method="cusum", shift=shift, h=h, cap=cap)


METHODS = (Cusum("absolute"), Cusum("vs_baseline"))
