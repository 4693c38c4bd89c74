"""Time-aware exponentially weighted mean and variance.

Weights decay per second of event time, not per event: an observation ``dt`` seconds old weighs
``2 ** (-dt / half_life)``. Events that share a timestamp each get full weight, and a long gap
forgets more than a short one, which is what irregular order flow needs. The estimate is the
normalised weighted mean ``Σ w_i x_i / Σ w_i`` (not river's ``α x + (1 - α) m`` recursion, which
assumes evenly spaced events and starts biased towards the first value). The variance uses the
weighted form of Welford's update (West 1979, "Updating mean and variance estimates: an improved
method", CACM 22(9)), with exponential forgetting as in Finch 2009, "Incremental calculation of
weighted mean and variance".

river's ``stats.EWMean`` / ``EWVar`` are not wrapped: their decay is per event and their state is
not exposed as plain builtins.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Self

from detectors._common import check_positive, check_state, header

_LN2 = math.log(2.0)


class EWMeanVar:
    """Exponentially weighted mean and variance with a half-life in seconds.

    Parameters
    ----------
    half_life
        Seconds after which an observation's weight has halved.
    min_samples
        Number of observations before ``ready`` is True and ``get`` returns a value.

    Examples
    --------
    >>> from detectors import EWMeanVar
    >>> ew = EWMeanVar(half_life=60.0, min_samples=3)
    >>> for ts, x in [(0.0, 10.0), (1.0, 12.0), (1.0, 11.0)]:
    ...     ew.update(x, ts)
    >>> ew.ready
    True
    >>> round(ew.mean, 3), round(ew.std, 3)
    (11.004, 0.816)

    After a long quiet gap, old data has little weight left:

    >>> ew.update(20.0, 601.0)
    >>> round(ew.mean, 2)
    19.97
    """

    def __init__(self, half_life: float = 300.0, min_samples: int = 10) -> None:
        check_positive("half_life", half_life)
        if min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {min_samples!r}")
        self.half_life = float(half_life)
        self.min_samples = int(min_samples)
        self._lam = _LN2 / self.half_life
        self.n = 0
        self.weight = 0.0  # Σ w_i
        self.mean = 0.0
        self._m2 = 0.0  # Σ w_i (x_i - mean)²
        self.last_ts: float | None = None

    @property
    def ready(self) -> bool:
        """True once ``min_samples`` observations were seen."""
        return self.n >= self.min_samples

    @property
    def var(self) -> float:
        """Weighted (population) variance of the decayed sample."""
        return self._m2 / self.weight if self.weight > 0.0 else 0.0

    @property
    def std(self) -> float:
        """Square root of :attr:`var`."""
        return math.sqrt(self.var)

    def update(self, value: float, ts: float) -> None:
        """Add one observation at event time ``ts`` (an out-of-order ts counts as no gap)."""
        if not (math.isfinite(value) and math.isfinite(ts)):  # bad input is not data: ignore it
            return
        last = self.last_ts
        if last is not None and ts > last:
            decay = math.exp(-self._lam * (ts - last))
            self.weight *= decay
            self._m2 *= decay
        if last is None or ts > last:
            self.last_ts = ts
        self.n += 1
        self.weight += 1.0
        delta = value - self.mean
        self.mean += delta / self.weight
        self._m2 += delta * (value - self.mean)
        # Rounding can push the sum of squares a hair below zero on constant input.
        self._m2 = max(self._m2, 0.0)

    def get(self) -> float | None:
        """Mean, or None before warm-up."""
        return self.mean if self.ready else None

    def zscore(self, value: float) -> float | None:
        """``(value - mean) / std``; None before warm-up or on a constant series."""
        sd = self.std
        if not self.ready or sd <= 0.0:
            return None
        return (value - self.mean) / sd

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            **header(self),
            "half_life": self.half_life,
            "min_samples": self.min_samples,
            "n": self.n,
            "weight": self.weight,
            "mean": self.mean,
            "m2": self._m2,
            "last_ts": self.last_ts,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state_dict` output."""
        check_state(cls, state)
        obj = cls(half_life=state["half_life"], min_samples=state["min_samples"])
        obj.n = int(state["n"])
        obj.weight = float(state["weight"])
        obj.mean = float(state["mean"])
        obj._m2 = float(state["m2"])
        obj.last_ts = None if state["last_ts"] is None else float(state["last_ts"])
        return obj
