"""What the ``learned`` methods share: their fields, memory, market guard and protection.

The learned baseline is fed once per window, only from healthy evaluations of full windows
(river's ``protect_anomaly_detector``): nothing is learned while the alert is pending or
firing, nor a value that breaches, so the baseline does not absorb the anomaly it should
detect. ``market_guard`` keeps the threshold at least the baseline variant's value now plus
the band's width (a market-wide move is not the new path's fault).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import msgspec

from monitor.core.alerting import INACTIVE
from monitor.core.model import Op, Rule, Threshold
from monitor.core.thresholds.base import (
    OPS,
    Context,
    Instance,
    Method,
    Observation,
    baseline_value,
    finite,
    observe_signal,
)
from monitor.core.timebase import Micros, to_s, to_us

if TYPE_CHECKING:
    from monitor.core.fields import Fields
    from monitor.core.scopes import Scope


class Learner(Protocol):
    """A detector a learned method keeps (``EWMeanVar``, ``QuantileSketch``, ``AnomalyScorer``)."""

    @property
    def ready(self) -> bool: ...
    @property
    def n(self) -> int: ...
    def state_dict(self) -> dict[str, object]: ...


class LearnedMemory:
    """The learner and when it last learned (once per window, from full windows only)."""

    __slots__ = ("first_value_at", "last_learn", "learner")

    def __init__(
        self,
        learner: Learner,
        last_learn: Micros | None = None,
        first_value_at: Micros | None = None,
    ) -> None:
        self.learner = learner
        self.last_learn = last_learn
        self.first_value_at = first_value_at  # first evaluation with a value

    def reset_stage(self) -> None:
        return None  # what normal looks like does not change with the stage

    def no_reference(self) -> None:
        return None

    def to_state(self) -> dict[str, object]:
        return {
            "learner": self.learner.state_dict(),
            "last_learn": self.last_learn,
            "first_value_at": self.first_value_at,
        }


class LearnedState(msgspec.Struct, forbid_unknown_fields=True):
    """:meth:`LearnedMemory.to_state`, typed (``learner``: the detector's own state)."""

    learner: dict[str, object] | None = None
    last_learn: Micros | None = None
    first_value_at: Micros | None = None


PROTECT = 0.75
"""``sigma`` bands learn only values within this fraction of the band's half-width."""


class Learned(Method):
    """Base of the ``learned`` methods: a window value against the variant's own history."""

    kind = "learned"
    protect_band = False
    """Also refuse to learn values in the band's outer part (``sigma``)."""

    def parse(self, f: Fields, rule: Fields, signal: str, op: Op) -> Threshold:
        return Threshold(
            kind="learned",
            op=op,
            method=self.name,
            k=f.number("k"),
            q=f.number("q"),
            margin=f.number("margin"),
            value=f.number("value"),
            min_delta=f.number("min_delta"),
            half_life_s=f.duration("half_life") or 3600.0,
            min_history=f.integer("min_history"),
            market_guard=f.boolean("market_guard"),
        )

    def reads_baseline(self, th: Threshold) -> bool:
        return th.market_guard

    def learner(self, rule: Rule) -> Learner:
        raise NotImplementedError

    def learner_from_state(self, state: dict[str, object]) -> Learner:
        raise NotImplementedError

    def memory(self, rule: Rule) -> LearnedMemory:
        return LearnedMemory(self.learner(rule))

    def restore(self, rule: Rule, state: dict[str, object]) -> LearnedMemory:
        saved = msgspec.convert(state, LearnedState)
        learner = (
            self.learner(rule) if saved.learner is None else self.learner_from_state(saved.learner)
        )
        return LearnedMemory(learner, saved.last_learn, saved.first_value_at)

    def compare(self, memory: LearnedMemory, th: Threshold, obs: Observation) -> None:
        """Set baseline, threshold and ``active`` of a ready learner on ``obs``."""
        raise NotImplementedError

    def evaluate(
        self, inst: Instance, scope: Scope, base: Scope | None, ctx: Context
    ) -> Observation:
        rule = inst.rule
        th = rule.threshold
        obs = Observation(ts=ctx.now, comparator=th.op)
        if not observe_signal(rule, scope, base, ctx, obs):
            return obs
        memory = inst.memory
        assert isinstance(memory, LearnedMemory)
        if not memory.learner.ready:
            obs.stats["history"] = float(memory.learner.n)
            return obs
        self.compare(memory, th, obs)
        if th.market_guard and obs.threshold is not None:
            market_guard(rule, base, ctx, obs)
        return obs

    def learn(self, inst: Instance, obs: Observation, resolution_s: float) -> None:
        """Feed the learned baseline, once per window, only from healthy evaluations.

        Only full windows are learned (a window still filling after the first data is a
        noisy rate that would inflate sigma).
        """
        memory, rule = inst.memory, inst.rule
        if not isinstance(memory, LearnedMemory) or obs.value is None:
            return
        if memory.first_value_at is None:
            memory.first_value_at = obs.ts
        if obs.samples < rule.min_samples:
            return
        if obs.ts - memory.first_value_at < to_us(rule.window_s) - to_us(resolution_s):
            return  # the window does not span data only yet (it is still filling)
        if inst.alert.state != INACTIVE or obs.active or obs.stats.get("score", 0.0) > 0.5:
            return  # protect the baseline from the anomaly it should detect
        if (
            self.protect_band
            and obs.baseline is not None
            and obs.threshold is not None
            and abs(obs.value - obs.baseline)
            > PROTECT * obs.stats.get("band", abs(obs.threshold - obs.baseline))
        ):
            return  # near the band's edge: not evidence of what normal is
        if memory.last_learn is not None and obs.ts - memory.last_learn < to_us(rule.window_s):
            return
        memory.last_learn = obs.ts
        self.feed(memory.learner, obs.value, to_s(obs.ts))

    def feed(self, learner: Learner, value: float, ts: float) -> None:
        raise NotImplementedError

    def reference_label(self, th: Threshold) -> str:
        return "learned baseline"

    def band(self, obs: Observation) -> tuple[float, float] | None:
        base, thr = finite(obs.baseline), finite(obs.threshold)
        if base is None or thr is None:
            return None
        return (base - abs(thr - base), thr) if thr >= base else (thr, base + abs(base - thr))


def band_threshold(th: Threshold, ref: float, delta: float) -> float:
    return ref + delta if th.op in (">", ">=") else ref - delta


def market_guard(rule: Rule, base: Scope | None, ctx: Context, obs: Observation) -> None:
    """``market_guard``: the band never sits below the baseline variant's value right now."""
    if base is None or obs.value is None or obs.baseline is None or obs.threshold is None:
        return
    ref, ref_samples = baseline_value(rule, base, ctx)
    if ref is None or ref_samples < rule.min_samples:
        return
    width = obs.threshold - obs.baseline
    obs.stats["band"] = abs(width)  # the learned band, before the guard (what learn protects)
    obs.stats["baseline_variant"] = ref
    obs.threshold = (
        max(obs.threshold, ref + width) if width >= 0 else min(obs.threshold, ref + width)
    )
    obs.active = OPS[rule.threshold.op](obs.value, obs.threshold)
