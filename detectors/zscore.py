"""The plain reference scorer: an exponentially weighted z-score (what the default must beat)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from detectors._common import check_positive, check_state, header
from detectors._tail import evidence_to_score, neglog10_normal_tail
from detectors.ewstats import EWMeanVar


class EWZScoreScorer:
    """Two-sided z-score against a time-aware EW mean/variance, mapped like the default scorer.

    Parameters
    ----------
    half_life
        Seconds after which an observation's weight halves.
    warmup
        Events before the first non-zero score.
    half_point
        Surprise (``-log10 p``) that maps to 0.5.

    Examples
    --------
    >>> from detectors import EWZScoreScorer
    >>> sc = EWZScoreScorer(half_life=600.0, warmup=3)
    >>> for i, x in enumerate([10.0, 11.0, 9.0, 10.0]):
    ...     sc.learn_one(x, ts=60.0 * i)
    >>> sc.score_one(10.0, ts=240.0) < 0.1 < sc.score_one(20.0, ts=240.0)
    True
    """

    def __init__(self, half_life: float = 6000.0, warmup: int = 30, half_point: float = 6.0):
        check_positive("half_point", half_point)
        self.half_point = float(half_point)
        self.stats = EWMeanVar(half_life=half_life, min_samples=warmup)

    @property
    def ready(self) -> bool:
        """True once ``warmup`` events were learned."""
        return self.stats.ready

    def score_one(self, value: float, ts: float) -> float:
        """Score of ``value``; 0.0 before warm-up or on a constant series."""
        z = self.stats.zscore(value)
        if z is None:
            return 0.0
        # Two-sided tail: P(|Z| > z) = 2 Q(|z|).
        decades = neglog10_normal_tail(abs(z)) - 0.30103
        return evidence_to_score(decades, self.half_point)

    def learn_one(self, value: float, ts: float) -> None:
        """Learn ``value`` into the EW mean and variance."""
        self.stats.update(value, ts)

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {**header(self), "half_point": self.half_point, "stats": self.stats.state_dict()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state_dict` output."""
        check_state(cls, state)
        obj = cls(half_point=state["half_point"])
        obj.stats = EWMeanVar.from_state(state["stats"])
        return obj
