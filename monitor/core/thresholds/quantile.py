"""``{kind: learned, method: quantile, q: 0.99, margin: 0.2}``: learned q-quantile x (1 + margin).

The quantile of the variant's own window values (:class:`detectors.QuantileSketch`).
"""

from __future__ import annotations

from detectors import QuantileSketch
from monitor.core.model import Rule, Threshold
from monitor.core.thresholds._learned import Learned, LearnedMemory, Learner, band_threshold
from monitor.core.thresholds.base import OPS, Observation


class Quantile(Learned):
    name = "quantile"

    def learner(self, rule: Rule) -> QuantileSketch:
        th = rule.threshold
        return QuantileSketch(half_life=th.half_life_s, min_samples=th.min_history)

    def learner_from_state(self, state: dict[str, object]) -> QuantileSketch:
        return QuantileSketch.from_state(state)

    def compare(self, memory: LearnedMemory, th: Threshold, obs: Observation) -> None:
        learner = memory.learner
        assert isinstance(learner, QuantileSketch) and obs.value is not None
        ref = learner.quantile(th.q)
        obs.baseline = ref
        obs.threshold = band_threshold(th, ref, max(abs(ref) * th.margin, th.min_delta))
        obs.active = OPS[th.op](obs.value, obs.threshold)

    def feed(self, learner: Learner, value: float, ts: float) -> None:
        assert isinstance(learner, QuantileSketch)
        learner.update(value, ts)


METHODS = (Quantile(),)
