"""``{kind: learned, method: quantile, q: 0.99, margin: 0.2}``: learned q-quantile x (1 + margin).

The quantile of the variant's own window values (:class:`detectors.QuantileSketch`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from monitor.core.model import Rule, Threshold
from monitor.core.thresholds._learned import Learned, LearnedMemory, Learner, band_threshold
from monitor.core.thresholds.base import OPS, Observation

if TYPE_CHECKING:
    from detectors import QuantileSketch


class Quantile(Learned):
    name = "quantile"

    def learner(self, rule: Rule) -> QuantileSketch:
        from detectors import QuantileSketch  # detectors load with the engine, not the checker

        th = rule.threshold
        return QuantileSketch(half_life=th.half_life_s, min_samples=th.min_history)

    def learner_from_state(self, state: dict[str, object]) -> QuantileSketch:
        from detectors import QuantileSketch

        return QuantileSketch.from_state(state)

    def compare(self, memory: LearnedMemory, th: Threshold, obs: Observation) -> None:
        learner = cast("QuantileSketch", memory.learner)
        assert obs.value is not None
        ref = learner.quantile(th.q)
        obs.baseline = ref
        obs.threshold = band_threshold(th, ref, max(abs(ref) * th.margin, th.min_delta))
        obs.active = OPS[th.op](obs.value, obs.threshold)

    def feed(self, learner: Learner, value: float, ts: float) -> None:
        cast("QuantileSketch", learner).update(value, ts)


METHODS = (Quantile(),)
