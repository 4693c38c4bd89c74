"""Rule instances: a rule's alert state, its method's memory, and one evaluation step.

:func:`evaluate` asks the rule's threshold method (:mod:`monitor.core.thresholds`) for one
:class:`Observation` (value, reference, threshold, samples and whether the condition holds;
``active=None`` means no verdict: no data or too few samples). :class:`RuleInstance` owns the
alert state and the method's memory (learned baseline, CUSUM, latch), and applies the
rule's no-data policy.
"""

from __future__ import annotations

from monitor.core.alerting import FIRING, INACTIVE, AlertState
from monitor.core.model import Rule
from monitor.core.scopes import Scope
from monitor.core.thresholds import (
    Context,
    Memory,
    Observation,
    ThresholdMethod,
    compares,
    finite,
    method_of,
)

__all__ = ["Context", "Observation", "RuleInstance", "evaluate", "finite", "window_steps"]


class RuleInstance:
    """One alert instance of a rule (one per segment for ``per_segment`` rules)."""

    __slots__ = ("advised", "alert", "compares", "last", "memory", "method", "rule", "segkey")

    def __init__(self, rule: Rule, segkey: str) -> None:
        self.rule = rule
        self.segkey = segkey
        self.method: ThresholdMethod = method_of(rule.threshold)
        self.alert = AlertState()
        self.memory: Memory | None = self.method.memory(rule)
        self.advised = False  # dry-run advisory already sent for this firing episode
        self.last: Observation | None = None
        self.compares = compares(rule)

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

    def no_reference(self, ts: float) -> None:
        """No baseline variant to compare with (all traffic on the new path): not gating."""
        self.alert.step(ts, False, for_s=0.0, keep_firing_for_s=0.0)
        if self.memory is not None:
            self.memory.no_reference()
        self.last = Observation(ts=ts, stats={"no_reference": 1.0})

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
            obs.ts, active, for_s=rule.for_s, keep_firing_for_s=rule.keep_firing_for_s
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

    def to_state(self) -> dict[str, object]:
        last = self.last
        state: dict[str, object] = {
            "alert": self.alert.to_state(),
            "learner": None,
            "last_learn": None,
            "first_value_at": None,
            "latched": False,
            "cusum": None,
            "advised": self.advised,
        }
        if self.memory is not None:
            state.update(self.memory.to_state())
        state["last"] = (
            None
            if last is None
            else [
                last.ts,
                last.value,
                last.baseline,
                last.threshold,
                last.samples,
                last.active,
                last.comparator,
                sorted(last.stats.items()),
                last.signal_value,
            ]
        )
        return state

    def load(self, state: dict[str, object]) -> None:
        from typing import Any, cast

        st = cast(dict[str, Any], state)
        self.alert = AlertState.from_state(st["alert"])
        if self.memory is not None:
            self.memory = self.method.restore(self.rule, state)
        self.advised = bool(st["advised"])
        last = st["last"]
        if last is not None:
            self.last = Observation(
                ts=last[0],
                value=last[1],
                baseline=last[2],
                threshold=last[3],
                samples=last[4],
                active=last[5],
                comparator=last[6],
                stats=dict(last[7]),
                signal_value=last[8] if len(last) > 8 else None,  # older checkpoints: next step
            )


def evaluate(inst: RuleInstance, scope: Scope, base: Scope | None, ctx: Context) -> Observation:
    """Evaluate a rule instance on its scope (and the baseline variant's) at ``ctx.ts``."""
    return inst.method.evaluate(inst, scope, base, ctx)


def window_steps(rule: Rule, resolution_s: float) -> list[int]:
    """Window lengths (steps) a rule needs in its scopes."""
    return method_of(rule.threshold).window_steps(rule, resolution_s)
