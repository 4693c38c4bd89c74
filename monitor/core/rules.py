"""Rule instances: a rule's alert state, its method's memory, and one evaluation step.

:func:`evaluate` asks the rule's threshold method (:mod:`monitor.core.thresholds`) for one
:class:`Observation` (value, reference, threshold, samples and whether the condition holds;
``active=None`` means no verdict: no data or too few samples). :class:`RuleInstance` owns the
alert state and the method's memory (learned baseline, CUSUM, latch), and applies the
rule's no-data policy.
"""

from __future__ import annotations

from monitor.core.alerting import FIRING, INACTIVE, AlertState
from monitor.core.derive import segment_key
from monitor.core.model import Rule
from monitor.core.scopes import Scope
from monitor.core.snapshot import RuleSnapshot
from monitor.core.thresholds import (
    Context,
    Memory,
    Observation,
    ThresholdMethod,
    compares,
    finite,
    method_of,
)
from monitor.core.timebase import Micros, to_us

__all__ = ["Context", "Observation", "RuleInstance", "evaluate", "finite", "window_steps"]


class RuleInstance:
    """One alert instance of a rule (one per segment for ``per_segment`` rules)."""

    __slots__ = (
        "advised",
        "alert",
        "compares",
        "for_us",
        "keep_firing_for_us",
        "last",
        "memory",
        "method",
        "rule",
        "scope_seg",
        "segkey",
    )

    def __init__(self, rule: Rule, segkey: str) -> None:
        self.rule = rule
        self.segkey = segkey
        self.method: ThresholdMethod = method_of(rule.threshold)
        self.alert = AlertState()
        self.memory: Memory | None = self.method.memory(rule)
        self.advised = False  # dry-run advisory already sent for this firing episode
        self.last: Observation | None = None
        self.compares = compares(rule)
        self.for_us = to_us(rule.for_s)
        self.keep_firing_for_us = to_us(rule.keep_firing_for_s)
        self.scope_seg = scope_segment(rule, segkey)

    @property
    def label(self) -> str:
        return f"{self.rule.name}{{{self.segkey}}}" if self.rule.per_segment else self.rule.name

    @property
    def healthy(self) -> bool:
        """Evaluated with a verdict (or no data is fine) and not pending nor firing."""
        last = self.last
        if self.alert.state != INACTIVE or last is None:
            return False
        if last.active is None:
            return self.rule.no_data == "ok" or bool(last.stats.get("no_reference"))
        return last.active is False

    def no_reference(self, now: Micros) -> None:
        """No baseline variant to compare with (all traffic on the new path): not gating."""
        self.alert.step(now, False, for_s=0, keep_firing_for_s=0)
        if self.memory is not None:
            self.memory.no_reference()
        self.last = Observation(ts=now, stats={"no_reference": 1.0})

    def step(self, obs: Observation) -> str:
        """Apply one observation to the alert state (honouring the no-data policy)."""
        rule = self.rule
        self.last = obs
        active = obs.active
        if active is None:
            if rule.no_data == "fire" and obs.samples <= 0:
                active = True
            elif rule.no_data == "ok":
                active = False
            else:
                return self.alert.state  # hold: no verdict, state unchanged
        state = self.alert.step(
            obs.ts, active, for_s=self.for_us, keep_firing_for_s=self.keep_firing_for_us
        )
        if state != FIRING:
            self.advised = False
        return state

    def learn(self, obs: Observation, resolution_s: float = 1.0) -> None:
        """After the step: what the method learns from it (learned baselines)."""
        self.method.learn(self, obs, resolution_s)

    def reset_stage(self) -> None:
        self.alert.reset()
        if self.memory is not None:
            self.memory.reset_stage()
        self.advised = False

    def snapshot(self) -> RuleSnapshot:
        return RuleSnapshot(
            rule=self.rule.name,
            segment=self.segkey,
            alert=self.alert.snapshot(),
            memory=None if self.memory is None else self.memory.to_state(),
            advised=self.advised,
            last=self.last,
        )

    def restore(self, snap: RuleSnapshot) -> None:
        self.alert = AlertState.restore(snap.alert)
        if self.memory is not None and snap.memory is not None:
            self.memory = self.method.restore(self.rule, snap.memory)
        self.advised = snap.advised
        self.last = snap.last


def scope_segment(rule: Rule, segkey: str) -> str:
    """The segment part of the scope key the instance reads: its own segment
    (``per_segment``), ``~k=v`` (a ``segment`` filter), or "" (the whole variant)."""
    if rule.per_segment:
        return segkey
    if rule.segment:
        return "~" + segment_key(dict(rule.segment))
    return ""


def evaluate(inst: RuleInstance, scope: Scope, base: Scope | None, ctx: Context) -> Observation:
    """Evaluate a rule instance on its scope (and the baseline variant's) at ``ctx.ts``."""
    return inst.method.evaluate(inst, scope, base, ctx)


def window_steps(rule: Rule, resolution_s: float) -> list[int]:
    """Window lengths (steps) a rule needs in its scopes."""
    return method_of(rule.threshold).window_steps(rule, resolution_s)
