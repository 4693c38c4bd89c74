"""``{kind: learned, method: sigma, k: 4, min_delta: 0.01}``: mean ± max(k·σ, min_delta).

Mean and σ of the variant's own window values (:class:`detectors.EWMeanVar`, half-life in
event time); values in the band's outer quarter are not learned (``PROTECT``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from monitor.core.model import Rule, Threshold
from monitor.core.thresholds._learned import Learned, LearnedMemory, Learner, band_threshold
from monitor.core.thresholds.base import OPS, Observation

if TYPE_CHECKING:
    from detectors import EWMeanVar


class Sigma(Learned):
    name = "sigma"
    protect_band = True

    def learner(self, rule: Rule) -> EWMeanVar:
        from detectors import EWMeanVar  # detectors load with the engine, not the checker

        th = rule.threshold
        return EWMeanVar(half_life=th.half_life_s, min_samples=th.min_history)

    def learner_from_state(self, state: dict[str, object]) -> EWMeanVar:
        from detectors import EWMeanVar

        return EWMeanVar.from_state(state)

    def compare(self, memory: LearnedMemory, th: Threshold, obs: Observation) -> None:
        learner = cast("EWMeanVar", memory.learner)
        assert obs.value is not None
        ref, sd = learner.mean, learner.std
        obs.baseline = ref
        obs.stats["sigma"] = sd
        obs.threshold = band_threshold(th, ref, max(th.k * sd, th.min_delta))
        obs.active = OPS[th.op](obs.value, obs.threshold)

    def feed(self, learner: Learner, value: float, ts: float) -> None:
        cast("EWMeanVar", learner).update(value, ts)


METHODS = (Sigma(),)
