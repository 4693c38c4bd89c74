"""What ``ratio`` and ``difference`` share: the baseline variant's value in the same window."""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.core import signals
from monitor.core.model import Method as MethodName
from monitor.core.model import Op, Rule, Threshold
from monitor.core.thresholds.base import (
    OPS,
    Context,
    Instance,
    Method,
    Observation,
    baseline_value,
    observe_signal,
)

if TYPE_CHECKING:
    from monitor.core.fields import Fields
    from monitor.core.scopes import Scope


def alarm_levels(f: Fields) -> tuple[float, float]:
    """A CUSUM's ``h`` (alarm level, nats) and ``cap`` (its ceiling, default ``2 h``)."""
    h = f.number("h", 0.0)
    if h <= 0:
        f.bad("h", "a positive alarm level (nats)")
    cap = f.number("cap", 2.0 * h)
    if cap < h:
        f.bad("cap", f"a ceiling >= h ({h:g})")
    return h, cap


def per_step_only(rule: Rule, f: Fields, adds: str) -> None:
    """A test that adds every step's ``adds`` cannot skip steps (no ``eval_interval``)."""
    if rule.eval_interval_s:
        f.bad("eval_interval", f"none: {adds} (per-step evaluation)")


def against(f: Fields, signal: str, *, rest_allowed: bool) -> None:
    """``against``: ``rest`` (the variant's other segments) only where the method has it."""
    value = f.choice("against")
    if value == "rest" and not (rest_allowed and signal in signals.RATES):
        f.bad("against", "baseline (rest: only for a cusum on a rate signal)")


class Comparison(Method):
    """Base of ``vs_baseline`` methods that compare window values (``ratio``/``difference``)."""

    kind = "vs_baseline"
    compares = True

    def parse(self, f: Fields, rule: Fields, signal: str, op: Op) -> Threshold:
        against(f, signal, rest_allowed=False)
        if "value" not in f.node:
            f.bad("value", "a number")
        return vs_baseline_fields(f, self.name, op)

    def reference(self, th: Threshold, value: float, ref: float, obs: Observation) -> float | None:
        """The threshold from the reference (and its stats on ``obs``); None: no verdict."""
        raise NotImplementedError

    def evaluate(
        self, inst: Instance, scope: Scope, base: Scope | None, ctx: Context
    ) -> Observation:
        rule = inst.rule
        th = rule.threshold
        obs = Observation(ts=ctx.now, comparator=th.op)
        if not observe_signal(rule, scope, base, ctx, obs) or base is None:
            return obs
        assert obs.value is not None
        ref, ref_samples = baseline_value(rule, base, ctx)
        obs.baseline = ref
        obs.stats["baseline_samples"] = ref_samples
        if ref is None or ref_samples < rule.min_samples:
            return obs
        threshold = self.reference(th, obs.value, ref, obs)
        if threshold is None:
            return obs
        obs.threshold = threshold
        obs.comparator = f"{self.name}{th.op}"
        obs.active = OPS[th.op](obs.value, threshold)
        return obs


def vs_baseline_fields(f: Fields, name: MethodName, op: Op) -> Threshold:
    """The fields every non-CUSUM ``vs_baseline`` threshold reads (alpha/over validated)."""
    over = f.choice("over")
    return Threshold(
        kind="vs_baseline",
        op=op,
        method=name,
        value=f.number("value", 0.0),
        alpha=f.number("alpha"),
        over="window" if over == "window" else "stage",
    )
