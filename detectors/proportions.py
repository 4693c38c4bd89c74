"""Rates and proportions (fill, reject, error rate) with intervals that behave at small counts.

The Wald interval ``p ± z √(p(1-p)/n)`` collapses to a point at zero events, which would say "0%
errors, certainly" after three orders. We use the Wilson score interval (Wilson 1927) and the
Jeffreys interval (Beta(½, ½) prior; Brown, Cai & DasGupta 2001, "Interval estimation for a
binomial proportion", Statistical Science 16(2), who recommend both for small n). Both stay inside
[0, 1] and give a non-trivial upper bound at zero successes. Counts may be time-decayed (half-life
in seconds); the intervals then use the effective (decayed) counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist
from typing import Any, Literal, Self

from scipy.stats import beta

from detectors._common import check_positive, check_state, check_unit, decay_factor, header

IntervalMethod = Literal["wilson", "jeffreys"]


def wilson_interval(
    successes: float, trials: float, confidence: float = 0.95
) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when ``trials`` is 0.

    Examples
    --------
    >>> lo, hi = wilson_interval(0, 20)
    >>> lo, round(hi, 4)
    (0.0, 0.1611)
    """
    check_unit("confidence", confidence)
    if trials <= 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = successes / trials
    z2n = z * z / trials
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * math.sqrt(p * (1.0 - p) / trials + z2n / (4.0 * trials)) / (1.0 + z2n)
    # At the boundaries the exact limit is 0 (or 1); rounding would leave 1e-17.
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)
    hi = 1.0 if successes >= trials else min(1.0, centre + half)
    return (lo, hi)


def jeffreys_interval(
    successes: float, trials: float, confidence: float = 0.95
) -> tuple[float, float]:
    """Jeffreys (Beta(½, ½) posterior) equal-tailed interval, with the boundary fixes of
    Brown, Cai & DasGupta (lower = 0 at zero successes, upper = 1 at all successes).

    Examples
    --------
    >>> lo, hi = jeffreys_interval(0, 20)
    >>> lo, round(hi, 4)
    (0.0, 0.1166)
    """
    check_unit("confidence", confidence)
    if trials <= 0:
        return (0.0, 1.0)
    a = (1.0 - confidence) / 2.0
    failures = trials - successes
    lo = 0.0 if successes <= 0 else float(beta.ppf(a, successes + 0.5, failures + 0.5))
    hi = 1.0 if failures <= 0 else float(beta.ppf(1.0 - a, successes + 0.5, failures + 0.5))
    return (lo, hi)


class Proportion:
    """Running proportion of "successes" (e.g. rejected orders) with a confidence interval.

    Parameters
    ----------
    half_life
        Optional seconds after which an event's weight halves (None: cumulative counts).
    min_samples
        Trials before ``ready``.

    Examples
    --------
    >>> from detectors import Proportion
    >>> rejects = Proportion()
    >>> for i in range(50):
    ...     rejects.update(1.0 if i in (7, 31) else 0.0, ts=float(i))
    >>> rejects.get()
    0.04
    >>> [round(b, 3) for b in rejects.interval(method="wilson")]
    [0.011, 0.135]
    """

    def __init__(self, half_life: float | None = None, min_samples: int = 1) -> None:
        check_positive("half_life", half_life, allow_none=True)
        self.half_life = None if half_life is None else float(half_life)
        self.min_samples = int(min_samples)
        self.n = 0
        self.successes = 0.0
        self.trials = 0.0
        self.last_ts: float | None = None

    @property
    def ready(self) -> bool:
        """True once ``min_samples`` trials were seen."""
        return self.n >= self.min_samples

    def update(self, value: float, ts: float = 0.0) -> None:
        """Record one trial: ``value`` 1 for a success, 0 for a failure (fractions allowed)."""
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"value must be in [0, 1], got {value!r}")
        if self.last_ts is not None and ts > self.last_ts:
            f = decay_factor(ts - self.last_ts, self.half_life)
            self.successes *= f
            self.trials *= f
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts
        self.n += 1
        self.successes += value
        self.trials += 1.0

    def get(self) -> float | None:
        """The proportion, or None before warm-up."""
        if not self.ready or self.trials <= 0:
            return None
        return self.successes / self.trials

    def interval(
        self, confidence: float = 0.95, method: IntervalMethod = "wilson"
    ) -> tuple[float, float]:
        """Confidence interval; (0, 1) with no data."""
        if method == "wilson":
            return wilson_interval(self.successes, self.trials, confidence)
        if method == "jeffreys":
            return jeffreys_interval(self.successes, self.trials, confidence)
        raise ValueError(f"method must be 'wilson' or 'jeffreys', got {method!r}")

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            **header(self),
            "half_life": self.half_life,
            "min_samples": self.min_samples,
            "n": self.n,
            "successes": self.successes,
            "trials": self.trials,
            "last_ts": self.last_ts,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state_dict` output."""
        check_state(cls, state)
        obj = cls(half_life=state["half_life"], min_samples=state["min_samples"])
        obj.n = int(state["n"])
        obj.successes = float(state["successes"])
        obj.trials = float(state["trials"])
        obj.last_ts = None if state["last_ts"] is None else float(state["last_ts"])
        return obj
