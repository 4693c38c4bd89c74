"""``{kind: learned, method: score, value: 0.9}``: the anomaly score above ``value``.

The score of :func:`detectors.default_scorer` on the variant's own window values, counted
only for excursions in the rule's direction (the scorer is two-sided).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from monitor.core.model import Rule, Threshold
from monitor.core.thresholds._learned import Learned, LearnedMemory, Learner
from monitor.core.thresholds.base import Observation, Plot
from monitor.core.timebase import to_s

if TYPE_CHECKING:
    from detectors import AnomalyScorer


class Score(Learned):
    name = "score"

    def learner(self, rule: Rule) -> AnomalyScorer:
        from detectors import default_scorer  # detectors load with the engine, not the checker

        # refractory 0: a persisting anomaly keeps its score, as `for` needs.
        return default_scorer(warmup=max(2, rule.threshold.min_history), refractory=0.0)

    def learner_from_state(self, state: dict[str, object]) -> AnomalyScorer:
        from detectors import AnomalyScorer

        return AnomalyScorer.from_state(state)

    def compare(self, memory: LearnedMemory, th: Threshold, obs: Observation) -> None:
        learner = cast("AnomalyScorer", memory.learner)
        assert obs.value is not None
        score = learner.score_one(obs.value, to_s(obs.ts))
        obs.baseline = learner.m
        obs.stats["score"] = score
        obs.threshold = th.value
        obs.comparator = "score>"
        upward = th.op in (">", ">=")
        obs.active = score > th.value and (
            obs.value > learner.m if upward else obs.value < learner.m
        )

    def plot(self, obs: Observation, th: Threshold) -> Plot:
        return Plot(obs.value, obs.baseline, None, obs.stats.get("score"), obs.threshold)

    def statistic_label(self, th: Threshold) -> str | None:
        return "anomaly score"

    def feed(self, learner: Learner, value: float, ts: float) -> None:
        cast("AnomalyScorer", learner).learn_one(value, ts)


METHODS = (Score(),)
